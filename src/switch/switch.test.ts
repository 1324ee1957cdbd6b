/**
 * The switch on real namespaces and veths (kernel offloads left on: GSO frames and partial
 * checksums travel with their virtio-net header): ping, iperf3 TCP, learned unicast kept from a
 * bystander, broadcast to all, MAC move, aging, table limit. The kernel stacks in the namespaces
 * are the oracles.
 */
import test from 'ava';
import { DataPathManager } from './manager.js';
import { NetLab, testPrefix, sh } from '../lab/netlab.js';
import type { SwitchConfig } from '../config/types.js';

const P = testPrefix('s');
let lab: NetLab;
let mgr: DataPathManager;
const logs: string[] = [];

function cfg(name: string, extra: Partial<SwitchConfig> = {}): SwitchConfig {
  return { name, type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [], ...extra };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.before(() => {
  lab = new NetLab(P);
  mgr = new DataPathManager({ log: (m) => logs.push(m) });
});

test.after.always(async () => {
  await mgr?.shutdown();
  lab?.destroy();
});

test.serial('ping and iperf3 TCP through the switch; bystander gets no learned unicast; broadcast reaches all', async (t) => {
  const [a, b, c] = [0, 1, 2].map((i) => lab.addHost(i));
  await mgr.createSwitch(cfg(`${P}sw`));
  for (const h of [a, b, c]) await mgr.addPort(`${P}sw`, { name: h.peer, netdev: h.peer });
  t.true(lab.ping(a, b), 'a pings b');
  t.true(lab.ping(c, a, 1), 'c announces itself');
  const fdb = mgr.fdb(`${P}sw`);
  t.deepEqual(fdb.map((e) => e.mac).sort(), [a.mac, b.mac, c.mac].sort());
  t.is(fdb.find((e) => e.mac === b.mac)?.port, b.peer);

  const byPort = (name: string) => mgr.stats(`${P}sw`).ports.find((p) => p.name === name)!;
  const bystanderTx0 = byPort(c.peer).txPackets;
  const bystanderRx0 = lab.rxPackets(c);
  const server = lab.spawnIn(b, ['iperf3', '-s', '-1', '-p', '5201']);
  await sleep(500);
  const out = lab.exec(a, ['iperf3', '-c', b.ip, '-p', '5201', '-t', '2', '-J'], { timeout: 30_000 });
  const res = JSON.parse(out) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
  t.log(`iperf3 through xvs (offloads on): ${(res.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gb/s`);
  t.true(res.end.sum_received.bytes > 1_000_000, 'TCP moved data');
  await new Promise((r) => server.once('exit', r));
  // the TCP flow is learned unicast: the bystander's port transmitted nothing of it
  const bystanderTx = byPort(c.peer).txPackets - bystanderTx0;
  const bystanderRx = lab.rxPackets(c) - bystanderRx0;
  t.log(`bystander: port tx ${bystanderTx}, NIC rx ${bystanderRx}`);
  t.true(bystanderTx <= 4, `bystander port sent ${bystanderTx} frames during the TCP run`);
  t.true(byPort(b.peer).txPackets > 1000);

  // broadcast: an ARP request for an unused address reaches both other hosts
  const rxB = lab.rxPackets(b);
  const rxC = lab.rxPackets(c);
  lab.exec(a, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.77.0.99'], { allowFail: true });
  await sleep(200);
  t.true(lab.rxPackets(b) - rxB >= 2, 'broadcast ARP reached b');
  t.true(lab.rxPackets(c) - rxC >= 2, 'broadcast ARP reached c');
  const st = mgr.stats(`${P}sw`);
  t.is(st.drops['tx-error'] ?? 0, 0);
  await mgr.deleteSwitch(`${P}sw`);
});

test.serial('MAC move: the same MAC on another port re-points the table and is counted', async (t) => {
  const [a, b, c] = [0, 1, 2].map((i) => lab.hosts[i]);
  await mgr.createSwitch(cfg(`${P}mv`));
  // whatever fails, the hosts get their addresses back and the switch goes (the next tests reuse the netdevs)
  t.teardown(async () => {
    lab.exec(c, ['ip', 'addr', 'del', `${b.ip}/24`, 'dev', c.dev], { allowFail: true });
    lab.exec(c, ['ip', 'link', 'set', c.dev, 'address', c.mac]);
    lab.exec(b, ['ip', 'link', 'set', b.dev, 'up']);
    await mgr.deleteSwitch(`${P}mv`).catch(() => {});
  });
  // c's port takes b's MAC after c's own (any stray frame from c, an IPv6 report or an ARP probe,
  // teaches its port c's MAC first): a port that does so has MAC address spoofing allowed, as a
  // Hyper-V port would need to; with the default (off) the moved MAC is a mac-spoofing drop
  for (const h of [a, b, c]) await mgr.addPort(`${P}mv`, { name: h.peer, netdev: h.peer, macAddressSpoofing: h === c });
  t.true(lab.ping(b, a, 3));
  t.is(mgr.fdb(`${P}mv`).find((e) => e.mac === b.mac)?.port, b.peer);
  // b's MAC and IP move to c (a VM migrated)
  lab.exec(b, ['ip', 'link', 'set', b.dev, 'down']);
  lab.exec(c, ['ip', 'link', 'set', c.dev, 'address', b.mac]);
  lab.exec(c, ['ip', 'addr', 'add', `${b.ip}/24`, 'dev', c.dev]);
  const moved = lab.ping(c, a, 3, ['-I', b.ip]);
  if (!moved) t.log('after the move:', JSON.stringify({ fdb: mgr.fdb(`${P}mv`), drops: mgr.stats(`${P}mv`).drops }));
  t.true(moved);
  t.is(mgr.fdb(`${P}mv`).find((e) => e.mac === b.mac)?.port, c.peer);
  t.true(mgr.stats(`${P}mv`).fdb.moves >= 1);
  // a reaches b's address at its new port
  t.true(lab.ping(a, b, 3));
});

test.serial('aging removes idle MACs; the table limit stops learning and is counted', async (t) => {
  const [a, b, c] = [0, 1, 2].map((i) => lab.hosts[i]);
  await mgr.createSwitch(cfg(`${P}ag`, { macAgingSeconds: 2, macTableLimit: 2 }));
  for (const h of [a, b, c]) await mgr.addPort(`${P}ag`, { name: h.peer, netdev: h.peer });
  t.true(lab.ping(a, b, 1));
  lab.ping(c, a, 1);
  const st = mgr.stats(`${P}ag`);
  t.is(st.fdb.entries, 2, 'only two MACs learned');
  t.true(st.fdb.limitHits >= 1, 'the third MAC was counted as a limit hit');
  t.true(lab.ping(c, a, 1), 'a MAC that was not learned is still forwarded (flooded)');
  for (let i = 0; i < 50 && mgr.fdb(`${P}ag`).length > 0; i++) await sleep(100);
  t.is(mgr.fdb(`${P}ag`).length, 0, 'entries aged out after 2 s');
  t.true(mgr.stats(`${P}ag`).fdb.aged >= 2);
  await mgr.deleteSwitch(`${P}ag`);
});

test.serial('two workers: rx ports split over threads, TCP still flows', async (t) => {
  const [a, b, c] = [0, 1, 2].map((i) => lab.hosts[i]);
  await mgr.createSwitch(cfg(`${P}w2`, { workers: 2 }));
  // a VMQ weight gives each port a queue of its own, spread over the workers (ports without one share the default queue)
  for (const h of [a, b, c]) await mgr.addPort(`${P}w2`, { name: h.peer, netdev: h.peer, vmqWeight: 1 });
  t.true(lab.ping(a, b, 2));
  const server = lab.spawnIn(b, ['iperf3', '-s', '-1', '-p', '5202']);
  await sleep(500);
  const out = lab.exec(a, ['iperf3', '-c', b.ip, '-p', '5202', '-t', '1', '-J'], { timeout: 30_000 });
  t.true((JSON.parse(out) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes > 1_000_000);
  await new Promise((r) => server.once('exit', r));
  const st = mgr.stats(`${P}w2`);
  t.is(st.workers.length, 2);
  t.true(st.workers.every((w) => w.batches > 0), 'both workers processed batches');
  t.not(st.workers[0].tid, st.workers[1].tid);
  // an extension whose state must live in one instance (dhcp-server's leases) is refused on 2 workers
  await mgr.setExtension(`${P}w2`, 'dhcp-server', {
    config: { pools: [{ network: '10.79.0.0/24', rangeStart: '10.79.0.100', rangeEnd: '10.79.0.120', serverAddress: '10.79.0.1' }] },
  });
  await t.throwsAsync(mgr.enableExtension(`${P}w2`, 'dhcp-server'), { message: /^name: extension "dhcp-server" keeps its state in one instance and runs only on a switch with one worker; switch "\S+" has 2$/ });
  t.false(mgr.listExtensions(`${P}w2`).find((e) => e.name === 'dhcp-server')!.enabled, 'nothing changed');
  await mgr.deleteSwitch(`${P}w2`);
  await t.throwsAsync(
    mgr.createSwitch(cfg(`${P}w3`, { workers: 2, extensions: [{ name: 'dhcp-server', enabled: true, config: { pools: [] } }] })),
    { message: /^extensions\[0\]\.enabled: extension "dhcp-server" keeps its state in one instance/ },
  );
  t.false(mgr.listSwitches().some((s) => s.config.name === `${P}w3`), 'the refused switch was not created');
  t.is(sh('ip', ['-o', 'link', 'show', a.peer]).includes(a.peer), true, 'attached netdevs are left in place');
});

test.serial('ports whose link is down: floods skip them, unicast to them is a port-down drop (no kernel tx errors)', async (t) => {
  const [a, b] = [0, 1].map((i) => lab.hosts[i]);
  const sw = `${P}ld`;
  const tap = `${P}tp`;
  await mgr.createSwitch(cfg(sw));
  for (const h of [a, b]) await mgr.addPort(sw, { name: h.peer, netdev: h.peer });
  await mgr.addPort(sw, { name: tap }); // a TAP no VM holds: NO-CARRIER
  t.false(mgr.showSwitch(sw).ports.find((p) => p.name === tap)!.up);
  t.true(lab.ping(a, b, 2));
  lab.exec(a, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.77.0.99'], { allowFail: true }); // broadcast ARPs
  const tp = mgr.stats(sw).ports.find((p) => p.name === tap)!;
  t.is(tp.txPackets, 0, 'nothing flooded to the down TAP');
  t.is(tp.txErrors, 0);
  // b goes down: a's frames to b's learned MAC are port-down drops on a's port
  lab.exec(b, ['ip', 'link', 'set', b.dev, 'down']);
  await new Promise((r) => setTimeout(r, 1500)); // the control plane reads link state once a second
  lab.ping(a, b, 2);
  const st = mgr.stats(sw);
  t.true((st.ports.find((p) => p.name === a.peer)!.drops['port-down'] ?? 0) >= 1, JSON.stringify(st.drops));
  t.is(st.drops['tx-error'] ?? 0, 0);
  lab.exec(b, ['ip', 'link', 'set', b.dev, 'up']);
  await mgr.deleteSwitch(sw);
});
