/**
 * The real daemon and CLI end to end, as a user drives them: `xvs daemon` in the foreground, the
 * CLI over the Unix socket, TAP and veth ports, a restart that restores every switch and port
 * (TAPs stay, so a QEMU VM would keep its link), bad input rejected with the field named, and
 * internal/external switches with the host's own IP on the host port.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetLab, sh, testPrefix } from '../lab/netlab.js';

const P = testPrefix('d');
const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
let dir = '';
let sock = '';
let conf = '';
let daemon: ChildProcess | undefined;
let daemonLog = '';
let lab: NetLab;

function xvs(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('node', [cli, '--socket', sock, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
function xvsJson<T>(...args: string[]): T {
  const r = xvs(...args, '--json');
  if (r.code !== 0) throw new Error(`xvs ${args.join(' ')}: ${r.err}`);
  return JSON.parse(r.out) as T;
}

async function startDaemon(): Promise<void> {
  daemonLog = '';
  daemon = spawn('node', [cli, 'daemon', '--config', conf, '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  daemon.stderr!.on('data', (d: Buffer) => { daemonLog += d.toString(); });
  for (let i = 0; i < 100; i++) {
    if (daemonLog.includes('daemon ready')) return;
    if (daemon.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon did not start: ${daemonLog}`);
}

async function stopDaemon(): Promise<void> {
  const d = daemon;
  if (!d || d.exitCode !== null || !d.pid) return;
  const exited = new Promise((r) => d.once('exit', r));
  process.kill(d.pid, 'SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (d.exitCode === null) process.kill(d.pid, 'SIGKILL');
  daemon = undefined;
}

test.before(async () => {
  lab = new NetLab(P);
  dir = mkdtempSync(path.join(tmpdir(), 'xtd-'));
  sock = path.join(dir, 'xvs.sock');
  conf = path.join(dir, 'state', 'config.json');
  await startDaemon();
});

test.after.always(async () => {
  // delete the switches through the daemon so it removes its TAPs and gives addresses back
  if (daemon) for (const s of ['p', 'i', 'e']) xvs('switch', 'delete', `${P}${s}`);
  await stopDaemon();
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
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

  const saved = JSON.parse(readFileSync(conf, 'utf8')) as { switches: { name: string; ports: unknown[] }[] };
  t.is(saved.switches.find((s) => s.name === sw)?.ports.length, 3);
  t.is(statSync(sock).mode & 0o777, 0o600, 'control socket is root-only');

  await stopDaemon();
  t.true(existsSync(`/sys/class/net/${tap}`), 'the TAP stays while the daemon is down');
  await startDaemon();
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
  t.is(xvs('switch', 'create', sw, '--type', 'internal', '--host-port', host).code, 0, daemonLog);
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
  t.is(ok.code, 0, ok.err + daemonLog);
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
