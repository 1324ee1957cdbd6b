/**
 * The real daemon and CLI end to end, as a user drives them: `xvs daemon` in the foreground, the
 * CLI over the Unix socket, TAP and veth ports, a restart that restores every switch and port
 * (TAPs stay, so a QEMU VM would keep its link), bad input rejected with the field named, and
 * internal/external switches with the host's own IP on the host port.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { NetLab, sh, testPrefix } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('d');
let d: TestDaemon;
let lab: NetLab;
const xvs = (...args: string[]) => d.xvs(...args);
const xvsJson = <T>(...args: string[]): T => d.json<T>(...args);

test.before(async () => {
  lab = new NetLab(P);
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  // delete the switches through the daemon so it removes its TAPs and gives addresses back
  if (d?.running) for (const s of ['p', 'i', 'e']) xvs('switch', 'delete', `${P}${s}`);
  await d?.destroy();
  lab?.destroy();
});

test.serial('private switch with a TAP port and veth ports; restart restores everything; TAPs survive', async (t) => {
  const a = lab.addHost(0);
  const b = lab.addHost(1);
  const sw = `${P}p`;
  const tap = `${P}t`;
  t.is(xvs('switch', 'create', sw, '--type', 'private').code, 0);
  t.is(xvs('port', 'add', sw, tap).code, 0, 'TAP port');
  t.true(existsSync(`/sys/class/net/${tap}/tun_flags`), 'a persistent TAP exists for QEMU');
  t.is(xvs('port', 'add', sw, 'a', '--netdev', a.peer).code, 0);
  t.is(xvs('port', 'add', sw, 'b', '--netdev', b.peer).code, 0);

  const bad = xvs('port', 'add', sw, 'c', '--netdev', 'foo0');
  t.is(bad.code, 1);
  t.regex(bad.err, /netdev: no such interface "foo0"/);
  const badType = xvs('switch', 'create', `${P}x`, '--type', 'bogus');
  t.is(badType.code, 1);
  t.regex(badType.err, /type/);

  t.true(lab.ping(a, b));
  const fdb = xvsJson<{ mac: string; port: string }[]>('fdb', 'show', sw);
  t.is(fdb.find((e) => e.mac === a.mac)?.port, 'a');
  const st = xvsJson<{ ports: { name: string; rxPackets: number }[] }>('stats', sw);
  t.true(st.ports.find((p) => p.name === 'a')!.rxPackets >= 3);
  t.regex(xvs('stats', sw).out, /a/);

  const saved = JSON.parse(readFileSync(d.conf, 'utf8')) as { switches: { name: string; ports: unknown[] }[] };
  t.is(saved.switches.find((s) => s.name === sw)?.ports.length, 3);
  t.is(statSync(d.sock).mode & 0o777, 0o600, 'control socket is root-only');

  await d.stop();
  t.true(existsSync(`/sys/class/net/${tap}`), 'the TAP stays while the daemon is down');
  await d.start();
  const list = xvsJson<{ config: { name: string }; ports: { name: string }[] }[]>('switch', 'list');
  const again = list.find((s) => s.config.name === sw);
  t.truthy(again, 'switch restored');
  t.deepEqual(again!.ports.map((p) => p.name).sort(), ['a', 'b', tap].sort());
  t.true(lab.ping(b, a), 'forwarding works after the restart');

  t.is(xvs('port', 'remove', sw, tap).code, 0);
  for (let i = 0; i < 20 && existsSync(`/sys/class/net/${tap}`); i++) await new Promise((r) => setTimeout(r, 100));
  t.false(existsSync(`/sys/class/net/${tap}`), 'removing a TAP port removes the TAP');
  t.is(xvs('switch', 'delete', sw).code, 0);
});

test.serial('internal switch: the host reaches a VM through its host port', async (t) => {
  const a = lab.addHost(2, { subnet: '10.77.2' });
  const sw = `${P}i`;
  const host = `${P}ih`;
  t.is(xvs('switch', 'create', sw, '--type', 'internal', '--host-port', host).code, 0, d.log);
  t.is(xvs('port', 'add', sw, 'a', '--netdev', a.peer).code, 0);
  sh('ip', ['addr', 'add', '10.77.2.1/24', 'dev', host]);
  const r = spawnSync('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-I', host, a.ip], { encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
  const st = xvsJson<{ ports: { name: string; kind: string; rxPackets: number }[] }>('stats', sw);
  t.true(st.ports.find((p) => p.kind === 'internal')!.rxPackets >= 3);
  t.is(xvs('switch', 'delete', sw).code, 0);
  t.false(existsSync(`/sys/class/net/${host}`));
});

test.serial('external switch: an uplink with addresses is refused unless --allow-management-os, which moves them to the host port', async (t) => {
  // the "physical network": a namespace behind a veth whose root end is the uplink
  const net = lab.addHost(3, { subnet: '10.77.3' });
  const uplink = net.peer;
  const sw = `${P}e`;
  const host = `${P}eh`;
  sh('ip', ['addr', 'add', '10.77.3.1/24', 'dev', uplink]);
  const refused = xvs('switch', 'create', sw, '--type', 'external', '--uplink', uplink);
  t.is(refused.code, 1);
  t.regex(refused.err, /uplink: .*has IP addresses.*--allow-management-os/);
  t.is(xvs('switch', 'list', '--json').out.includes(sw), false, 'nothing was created');

  const ok = xvs('switch', 'create', sw, '--type', 'external', '--uplink', uplink, '--allow-management-os', '--host-port', host);
  t.is(ok.code, 0, ok.err + d.log);
  t.notRegex(sh('ip', ['-o', 'addr', 'show', 'dev', uplink]), /10\.77\.3\.1/, 'address left the uplink');
  t.regex(sh('ip', ['-o', 'addr', 'show', 'dev', host]), /10\.77\.3\.1/, 'address is on the host port');
  const r = spawnSync('ping', ['-c', '3', '-i', '0.2', '-W', '2', net.ip], { encoding: 'utf8' });
  t.is(r.status, 0, `host -> network through the switch: ${r.stdout}${r.stderr}`);

  const second = xvs('switch', 'create', `${P}e2`, '--type', 'external', '--uplink', uplink);
  t.is(second.code, 1, 'a NIC belongs to at most one switch');
  t.regex(second.err, /uplink/);

  t.is(xvs('switch', 'delete', sw).code, 0);
  t.regex(sh('ip', ['-o', 'addr', 'show', 'dev', uplink]), /10\.77\.3\.1/, 'address given back to the uplink');
});
