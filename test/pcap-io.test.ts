/**
 * The libpcap port backend (issue 12 item 6) with the real daemon and CLI, on real namespaces:
 *
 *   - a VM-side veth added with `--io pcap` on a 2-worker switch (rx in one worker, tx from both): xvs turns its
 *     offloads off and says so, ping and TCP transfers (socat, checked by SHA-256) in both directions to a VM on
 *     an AF_PACKET port whose side keeps TSO on (its GSO frames are cut into segments by the pcap tx path);
 *   - the choice is persisted and restored by a daemon restart; removing the port turns the offloads back on;
 *   - malformed frames (bad EtherType, bad source MAC) injected on a pcap port and oversize frames written into a
 *     pcap TAP port are counted under their reasons, the switch keeps forwarding;
 *   - bad values are refused with the field named; an external switch's uplink through libpcap (`--uplink-io pcap`).
 *
 * The "VM" behind a pcap port sends without offloads (ethtool inside its namespace), as a guest behind a libpcap
 * port must: a veth hands its peer's GSO frames over unchanged whatever the receiving end's features.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetLab, sh, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { FramePool } from '../src/core/frame-pool.js';
import { native } from '../src/ports/native/index.js';
import { udpFrame } from '../src/test-support/frames.js';
import type { PortDetail, SwitchView } from '../src/control/protocol.js';

interface CapInstance { open(dev: string, filter: string, bufSize: number, buf: Buffer): string; send(buf: Buffer, len?: number): void; close(): void }
const require = createRequire(import.meta.url);
const { Cap } = require('cap') as { Cap: new () => CapInstance };

const P = testPrefix('pio');
const SW = `${P}s`;
const EXT = `${P}x`;
let d: TestDaemon;
let lab: NetLab;
let dir: string;

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const features = (dev: string): string => sh('ethtool', ['-k', dev]);
const featureOn = (dev: string, name: string): boolean => new RegExp(`^${name}: on`, 'm').test(features(dev));
const OFFLOADS = ['tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload', 'tx-checksumming'];

/** the namespace side of a pcap port: a guest without offloads */
function guestWithoutOffloads(h: Host): void {
  lab.exec(h, ['ethtool', '-K', h.dev, 'tso', 'off', 'gso', 'off', 'tx', 'off']);
}

test.before(async () => {
  lab = new NetLab(P);
  dir = mkdtempSync(path.join(tmpdir(), 'xtpio-'));
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  if (d?.running) for (const s of [SW, EXT, `${P}q`]) d.xvs('switch', 'delete', s, '--if-exists');
  await d?.destroy();
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** socat from `from` to `to` (port 5201 + k): the bytes that arrive, hashed */
async function transfer(from: Host, to: Host, bytes: number, k: number): Promise<{ sent: string; got: string }> {
  const data = randomBytes(bytes);
  const src = path.join(dir, `in${k}`), dst = path.join(dir, `out${k}`);
  writeFileSync(src, data);
  const server = lab.spawnIn(to, ['socat', '-u', `TCP-LISTEN:${5201 + k},reuseaddr`, `OPEN:${dst},creat,trunc`]);
  const serverDone = new Promise<number | null>((r) => server.on('exit', (c) => r(c)));
  await settle(300);
  const client = lab.spawnIn(from, ['socat', '-u', `OPEN:${src}`, `TCP:${to.ip}:${5201 + k},retry=10`]);
  const clientDone = new Promise<number | null>((r) => client.on('exit', (c) => r(c)));
  const timer = setTimeout(() => { for (const p of [client, server]) if (p.exitCode === null && p.pid) process.kill(p.pid, 'SIGKILL'); }, 60_000);
  await Promise.all([clientDone, serverDone]);
  clearTimeout(timer);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  return { sent: sha(data), got: sha(readFileSync(dst)) };
}

test.serial('a VM-side veth with --io pcap: offloads off and said so, ping and TCP both ways to an AF_PACKET port, persisted, restored on removal', async (t) => {
  const a = lab.addHost(1, { subnet: '10.79.12' });
  const b = lab.addHost(2, { subnet: '10.79.12' });
  guestWithoutOffloads(a);
  const before = OFFLOADS.filter((f) => featureOn(a.peer, f));
  t.true(before.includes('tcp-segmentation-offload'), 'a veth starts with its offloads on');

  t.is(d.xvs('switch', 'create', SW, '--type', 'private', '--workers', '2').code, 0);
  const add = d.xvs('port', 'add', SW, 'vm1', '--netdev', a.peer, '--io', 'pcap');
  t.is(add.code, 0, add.err);
  t.regex(add.out, /libpcap/);
  t.regex(add.out, new RegExp(`turned off ${a.peer}'s .*tcp-segmentation-offload`), 'port add says which offloads it turned off');
  for (const f of OFFLOADS) t.false(featureOn(a.peer, f), `${f} off on ${a.peer}`);
  t.is(d.xvs('port', 'add', SW, 'vm2', '--netdev', b.peer).code, 0);

  const show = d.xvs('port', 'show', SW, 'vm1');
  t.regex(show.out, /io:\s+pcap \(libpcap: no virtio-net header/);
  const detail = d.json<PortDetail>('port', 'show', SW, 'vm1');
  t.is(detail.io, 'pcap');
  t.deepEqual(detail.offloadsOff, ['tso', 'gso', 'gro', 'tx'].filter((k) => detail.offloadsOff?.includes(k)));
  t.true((detail.offloadsOff ?? []).includes('tso'));
  t.is(d.json<PortDetail>('port', 'show', SW, 'vm2').io, undefined, 'the default stays AF_PACKET');
  t.regex(d.xvs('switch', 'show', SW).out, /vm1\s+vm\s+\S+\s+\d+\s+\S+\s+pcap/);

  t.true(lab.ping(a, b), 'ping pcap → AF_PACKET');
  t.true(lab.ping(b, a), 'ping AF_PACKET → pcap');
  const toPcap = await transfer(b, a, 8 << 20, 0);
  t.is(toPcap.got, toPcap.sent, 'TCP from the AF_PACKET side (TSO on: GSO frames) arrives whole through the pcap port');
  const fromPcap = await transfer(a, b, 8 << 20, 1);
  t.is(fromPcap.got, fromPcap.sent, 'TCP from the pcap side arrives whole');
  const st = d.json<{ ports: { name: string; rxPackets: number; txPackets: number; txErrors: number; drops: Record<string, number> }[] }>('stats', SW);
  const vm1 = st.ports.find((p) => p.name === 'vm1')!;
  t.log(JSON.stringify(vm1));
  // a sends without offloads: each of its 8 MiB went as one frame per MSS (1448); b's GSO frames count once each (≤ 64 KiB)
  t.true(vm1.rxPackets >= Math.floor((8 << 20) / 1448), `vm1 received ${vm1.rxPackets} frames`);
  t.true(vm1.txPackets >= (8 << 20) / 65536, `vm1 sent ${vm1.txPackets} frames`);
  t.is(vm1.txErrors, 0);

  // persisted, and a restart opens it through libpcap again
  const conf = JSON.parse(readFileSync(d.conf, 'utf8')) as { switches: { name: string; ports: { name: string; io?: string }[] }[] };
  t.is(conf.switches.find((s) => s.name === SW)?.ports.find((p) => p.name === 'vm1')?.io, 'pcap');
  t.is(conf.switches.find((s) => s.name === SW)?.ports.find((p) => p.name === 'vm2')?.io, undefined);
  await d.stop();
  await d.start();
  t.is(d.json<PortDetail>('port', 'show', SW, 'vm1').io, 'pcap');
  t.deepEqual(d.json<PortDetail>('port', 'show', SW, 'vm1').offloadsOff, detail.offloadsOff, 'the record from before the restart names the same offloads');
  t.true(lab.ping(a, b), 'ping after the restart');

  // removal turns back on exactly what xvs turned off
  t.is(d.xvs('port', 'remove', SW, 'vm1').code, 0);
  t.deepEqual(OFFLOADS.filter((f) => featureOn(a.peer, f)), before);
  const record = JSON.parse(readFileSync(path.join(path.dirname(d.conf), 'config.netdevs.json'), 'utf8')) as { offloads?: Record<string, string[]> };
  t.is(record.offloads?.[a.peer], undefined, 'the record forgot them');
});

test.serial('malformed and oversize frames on pcap ports are counted by reason; forwarding continues', async (t) => {
  const b = lab.addHost(3, { subnet: '10.79.13' });
  const inj = `${P}i`, swEnd = `${P}j`, tap = `${P}t`;
  sh('ip', ['link', 'add', inj, 'type', 'veth', 'peer', 'name', swEnd]);
  t.teardown(() => sh('ip', ['link', 'del', inj], { allowFail: true }));
  for (const dev of [inj, swEnd]) sh('sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
  sh('ip', ['link', 'set', inj, 'up']);
  const sw = `${P}q`;
  t.is(d.xvs('switch', 'create', sw, '--type', 'private').code, 0);
  t.is(d.xvs('port', 'add', sw, 'inj', '--netdev', swEnd, '--io', 'pcap').code, 0);
  t.is(d.xvs('port', 'add', sw, tap, '--io', 'pcap').code, 0, 'a TAP port xvs creates, through libpcap');
  t.is(d.xvs('port', 'add', sw, 'b', '--netdev', b.peer).code, 0);
  sh('sysctl', ['-qw', `net.ipv6.conf.${tap}.disable_ipv6=1`], { allowFail: true });
  const q = native.openTapPort(tap, { vnetHdr: false, multiQueue: false }); // the "VM" holding the TAP
  t.teardown(() => native.closePort(q));
  for (let i = 0; i < 30 && !d.json<SwitchView>('switch', 'show', sw).ports.every((p) => p.up); i++) await settle(100);

  const c = new Cap();
  c.open(inj, '', 1 << 20, Buffer.alloc(65536));
  t.teardown(() => c.close());
  const src = '02:00:00:00:98:01';
  const badType = udpFrame('ff:ff:ff:ff:ff:ff', src); badType[12] = 0x05; badType[13] = 0xf0;
  c.send(Buffer.from(badType));
  c.send(Buffer.from(udpFrame('ff:ff:ff:ff:ff:ff', '01:02:03:04:05:06')));
  c.send(Buffer.from(udpFrame('ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00')));
  for (let i = 0; i < 5; i++) c.send(Buffer.from(udpFrame('ff:ff:ff:ff:ff:ff', src, 80, i)));
  // into the TAP (the tun driver does not check the MTU): 1600 and 9000 bytes, then one that fits
  const pool = new FramePool(8, 16384);
  const ids = new Uint32Array([
    pool.fromBytes(udpFrame('ff:ff:ff:ff:ff:ff', '02:00:00:00:98:02', 1600)),
    pool.fromBytes(udpFrame('ff:ff:ff:ff:ff:ff', '02:00:00:00:98:02', 9000)),
    pool.fromBytes(udpFrame('ff:ff:ff:ff:ff:ff', '02:00:00:00:98:02', 1514)),
  ]);
  t.is(native.sendBatch(q, pool.bytes, pool.slotSize, ids, 0, 3, pool.start, pool.len), 3);

  type Stats = { ports: { name: string; rxPackets: number; txPackets: number; drops: Record<string, number> }[] };
  let st = d.json<Stats>('stats', sw);
  const port = (n: string): Stats['ports'][number] => st.ports.find((p) => p.name === n)!;
  for (let i = 0; i < 40 && (port('inj').rxPackets < 8 || (port(tap).drops['truncated'] ?? 0) < 2 || port('b').txPackets < 6); i++) {
    await settle(100);
    st = d.json<Stats>('stats', sw);
  }
  t.log(JSON.stringify(st.ports.map((p) => [p.name, p.rxPackets, p.txPackets, p.drops])));
  t.is(port('inj').rxPackets, 8);
  t.is(port('inj').drops['bad-ethertype'], 1);
  t.is(port('inj').drops['bad-source-mac'], 2);
  t.is(port(tap).drops['truncated'], 2, 'frames longer than the MTU-sized libpcap ring frames are counted as truncated');
  t.is(port('b').txPackets, 6, 'only the 5 good frames from inj and the 1514-byte one from the TAP went on');
  t.true(d.running, 'the daemon is still running');
  t.is(d.xvs('switch', 'delete', sw).code, 0);
});

test.serial('bad values are refused with the field named; an external switch reads its uplink through libpcap', async (t) => {
  const bad = d.xvs('switch', 'create', `${P}z`, '--type', 'private', '--uplink-io', 'pcap');
  t.not(bad.code, 0);
  t.regex(bad.err, /uplinkIo: only an external switch has an uplink/);
  t.not(d.xvs('port', 'add', SW, 'zz', '--io', 'dpdk').code, 0, 'the CLI knows the choices');
  const doc = JSON.parse(readFileSync(d.conf, 'utf8')) as { switches: { name: string; ports: Record<string, unknown>[] }[] };
  doc.switches.find((s) => s.name === SW)!.ports.push({ name: 'zz', netdev: 'lo', io: 'dpdk' });
  const file = path.join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify(doc));
  const r = d.xvs('config', 'apply', file);
  t.not(r.code, 0);
  t.regex(r.err, /switches\[\d+\]\.ports\[\d+\]\.io: expected one of afpacket, pcap/);

  const up = lab.addHost(4, { subnet: '10.79.14' });
  const vm = lab.addHost(5, { subnet: '10.79.14' });
  guestWithoutOffloads(up);
  const before = OFFLOADS.filter((f) => featureOn(up.peer, f));
  const c = d.xvs('switch', 'create', EXT, '--type', 'external', '--uplink', up.peer, '--uplink-io', 'pcap');
  t.is(c.code, 0, c.err);
  t.regex(c.out, /uplink \S+ through libpcap/);
  t.regex(c.out, /uplink io pcap \(libpcap: no virtio-net header, so xvs turned off/);
  t.false(featureOn(up.peer, 'generic-receive-offload'));
  t.regex(d.xvs('switch', 'show', EXT).out, /uplink-io:\s+pcap/);
  t.is(d.xvs('port', 'add', EXT, 'vm5', '--netdev', vm.peer).code, 0);
  t.true(lab.ping(up, vm), 'ping across the pcap uplink');
  const x = await transfer(vm, up, 4 << 20, 2);
  t.is(x.got, x.sent, 'TCP from a VM with TSO on out through the pcap uplink');
  t.is(d.xvs('switch', 'delete', EXT).code, 0);
  t.deepEqual(OFFLOADS.filter((f) => featureOn(up.peer, f)), before, 'switch delete turned the uplink\'s offloads back on');
});

test.serial('offloads recorded for a libpcap port the configuration does not have (a kill between the two) are turned back on at the next start', async (t) => {
  // what a kill -9 right after disableOffloadsForPcap wrote its record (and before the configuration was saved) leaves
  const h = lab.addHost(6, { subnet: '10.79.16' });
  const before = OFFLOADS.filter((f) => featureOn(h.peer, f));
  t.true(before.includes('tcp-segmentation-offload'));
  sh('ethtool', ['-K', h.peer, 'tso', 'off', 'gso', 'off', 'tx', 'off']);
  const d2 = new TestDaemon();
  t.teardown(() => d2.destroy());
  const recordPath = path.join(path.dirname(d2.conf), 'config.netdevs.json');
  mkdirSync(path.dirname(recordPath), { recursive: true });
  writeFileSync(recordPath, JSON.stringify({ version: 1, ownedTaps: [], isolated: {}, offloads: { [h.peer]: ['tso', 'gso', 'tx'] } }));
  await d2.start();
  t.regex(d2.log, new RegExp(`turned ${h.peer}'s offloads back on`));
  t.deepEqual(OFFLOADS.filter((f) => featureOn(h.peer, f)), before);
  const rec = JSON.parse(readFileSync(recordPath, 'utf8')) as { offloads?: Record<string, string[]> };
  t.is(rec.offloads, undefined, 'and forgot them');
});
