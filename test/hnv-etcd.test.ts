/**
 * HNV policy shared between two hosts through etcd (issue 11 item 7), end to end: each "host" is a
 * namespace running its own xvs daemon (own socket and config, `--etcd`, `--hnv-host`), with an
 * external switch whose uplink is a veth into an underlay namespace (a Linux bridge, the provider
 * network 192.168.50.0/24) and VM namespaces on VM ports of VSID 5001. etcd runs in the underlay
 * namespace on a management bridge (10.99.0.254) the hosts reach through a second veth, so the
 * policy's own traffic never crosses the switches.
 *
 *        vm1 (10.1.0.11)  X (10.1.0.13) before the move             vm2 (10.1.0.12)  X after the move
 *             |               |                                           |               |
 *        [host A: daemon, switch, PA 192.168.50.1]                   [host B: daemon, switch, PA 192.168.50.2]
 *             | uplink                  mgmt |                 | mgmt               uplink |
 *             +------------- underlay: bridge (PA network) + bridge (etcd, 10.99.0.254) ---+
 *
 * Records are added on host A's CLI and take effect on B (the pings cross the underlay encapsulated);
 * X "migrates" from A to B (its record moved to B's PA with B's CLI) and the time until vm1's pings
 * reach X on B is measured; a record removed stops traffic; etcd killed: pings go on, `xvs hnv show
 * --json` says disconnected, writes fail; etcd back (after changes made while the daemons were away):
 * both catch up; X migrates back to A by a direct etcd write (measured too).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestEtcd } from '../src/hnv/etcd-testing.js';
import { cleanPrefix, sh, testPrefix } from '../src/lab/netlab.js';
import { CLI } from '../src/test-support/daemon.js';

const P = testPrefix('he');
const UNDERLAY = `${P}u`;
const ETCD_IP = '10.99.0.254';
const VSID = 5001;
const ENCAP = 'vxlan';
const PREFIX = '/xvs/hnv/';

interface Vm { ns: string; dev: string; ip: string; mac: string }

/** one host: a namespace with its own daemon */
class HostDaemon {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'xvs-hnv-etcd-'));
  readonly sock = path.join(this.dir, 'xvs.sock');
  readonly conf = path.join(this.dir, 'state', 'config.json');
  log = '';
  private proc: ChildProcess | undefined;

  constructor(readonly name: string, readonly ns: string, readonly sw: string, readonly pa: string) {}

  async start(etcdEndpoint: string): Promise<void> {
    this.log = '';
    const p = spawn('ip', ['netns', 'exec', this.ns, 'node', CLI, 'daemon', '--config', this.conf, '--socket', this.sock,
      '--etcd', etcdEndpoint, '--hnv-host', this.name], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    p.stderr!.on('data', (d: Buffer) => { this.log += d.toString(); });
    for (let i = 0; i < 300; i++) {
      if (this.log.includes('daemon ready')) return;
      if (p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`daemon ${this.name} did not start: ${this.log}`);
  }

  xvs(...args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync('node', [CLI, '--socket', this.sock, ...args], { encoding: 'utf8', timeout: 90_000 });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  ok(t: ExecutionContext, ...args: string[]): string {
    const r = this.xvs(...args);
    if (r.code !== 0) t.fail(`${this.name}: xvs ${args.join(' ')}: ${r.err}${r.out}`);
    return r.out;
  }

  json<T>(...args: string[]): T {
    const r = this.xvs(...args, '--json');
    if (r.code !== 0) throw new Error(`${this.name}: xvs ${args.join(' ')}: ${r.err}`);
    return JSON.parse(r.out) as T;
  }

  async stop(): Promise<void> {
    const d = this.proc;
    if (!d || d.exitCode !== null || !d.pid) return;
    const exited = new Promise((r) => d.once('exit', r));
    process.kill(d.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (d.exitCode === null) process.kill(d.pid, 'SIGKILL');
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface ShowJson {
  source: { source: string; connected: boolean; lastError?: string; endpoints?: string[]; prefix?: string };
  host: string;
  lookupRecords: { ca: string; vsid: number; pa: string }[];
}

/** a VM namespace with its veth, the other end `port` in the host's namespace (a switch port netdev) */
function addVm(hostNs: string, port: string, vmNs: string, dev: string, ip: string, mac: string, up = true): Vm {
  sh('ip', ['netns', 'add', vmNs]);
  sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  sh('ip', ['-n', hostNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', vmNs]);
  sh('ip', ['-n', vmNs, 'link', 'set', dev, 'address', mac]);
  sh('ip', ['-n', vmNs, 'addr', 'add', `${ip}/24`, 'dev', dev]);
  sh('ip', ['-n', vmNs, 'link', 'set', 'lo', 'up']);
  if (up) sh('ip', ['-n', vmNs, 'link', 'set', dev, 'up']);
  sh('ip', ['-n', hostNs, 'link', 'set', port, 'up']);
  return { ns: vmNs, dev, ip, mac };
}

function ping(from: Vm, ip: string, count = 3): boolean {
  return spawnSync('ip', ['netns', 'exec', from.ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', ip], { timeout: 30_000 }).status === 0;
}

/** polls until ok() (a deadline for failing, not a timing requirement); ms taken */
async function until(what: string, ok: () => boolean, ms = 30_000): Promise<number> {
  const t0 = performance.now();
  while (!ok()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t0;
}

/** the exit of a child, or now if it has exited already */
function exitOf(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

/** tshark in `vm`'s namespace for `seconds`: epoch ms of the ICMP echo requests to `ip` it receives */
async function echoRequestsAt(vm: Vm, ip: string, seconds: number): Promise<{ done: Promise<number[]> }> {
  const p = spawn('ip', ['netns', 'exec', vm.ns, 'tshark', '-i', vm.dev, '-l', '-n', '-a', `duration:${seconds}`, '-f', `icmp and dst host ${ip}`,
    '-Y', 'icmp.type == 8', '-T', 'fields', '-e', 'frame.time_epoch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  for (let i = 0; i < 100 && !err.includes('Capturing on') && p.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  if (!err.includes('Capturing on')) throw new Error(`tshark did not start in ${vm.ns}: ${err}`);
  return { done: exitOf(p).then(() => out.split('\n').filter((l) => l.trim() !== '').map((l) => Number(l) * 1000)) };
}

/** tshark on the underlay's PA bridge while `during` runs: ICMP frames inside VXLAN, and ICMP frames in the clear */
async function onTheUnderlay(bridge: string, during: () => void): Promise<{ tunnelled: number; clear: number }> {
  const p = spawn('ip', ['netns', 'exec', UNDERLAY, 'tshark', '-i', bridge, '-l', '-n', '-a', 'duration:6', '-Y', 'icmp',
    '-T', 'fields', '-e', 'vxlan.vni', '-e', 'gre.key'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  for (let i = 0; i < 100 && !err.includes('Capturing on') && p.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  if (!err.includes('Capturing on')) throw new Error(`tshark did not start on ${bridge}: ${err}`);
  during();
  await exitOf(p);
  const lines = out.split('\n').filter((l) => l !== '');
  const tunnelled = lines.filter((l) => l.replace(/\t/g, '') !== '').length;
  return { tunnelled, clear: lines.length - tunnelled };
}

test.serial('HNV policy through etcd between two hosts: added on A works on B, a VM migrates, a removed record stops traffic, etcd lost and back', async (t) => {
  cleanPrefix(P);
  const etcd = await TestEtcd.create({ netns: UNDERLAY, ip: ETCD_IP });
  const hosts: HostDaemon[] = [];
  let pinger: ChildProcess | undefined;
  t.teardown(async () => {
    if (pinger?.pid && pinger.exitCode === null && pinger.signalCode === null) process.kill(pinger.pid, 'SIGKILL');
    for (const h of hosts) { if (t.passed === false) t.log(`${h.name} log:\n${h.log.slice(-4000)}`); await h.destroy(); }
    await etcd.remove();
    cleanPrefix(P);
  });

  // the underlay: a bridge for the PA network, one for management (etcd)
  sh('ip', ['netns', 'add', UNDERLAY]);
  sh('ip', ['netns', 'exec', UNDERLAY, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  for (const br of [`${P}pa`, `${P}mg`]) {
    sh('ip', ['-n', UNDERLAY, 'link', 'add', br, 'type', 'bridge']);
    sh('ip', ['-n', UNDERLAY, 'link', 'set', br, 'up']);
  }
  sh('ip', ['-n', UNDERLAY, 'addr', 'add', `${ETCD_IP}/24`, 'dev', `${P}mg`]);
  sh('ip', ['-n', UNDERLAY, 'link', 'set', 'lo', 'up']);
  await etcd.start();

  const macOf = (n: number): string => `02:00:00:00:50:${n.toString(16).padStart(2, '0')}`;
  const vms: Vm[] = [];
  for (const i of [1, 2]) {
    const ns = `${P}h${i}`;
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // management: host ↔ the etcd bridge
    sh('ip', ['-n', ns, 'link', 'add', `${P}m${i}`, 'type', 'veth', 'peer', 'name', `${P}n${i}`, 'netns', UNDERLAY]);
    sh('ip', ['-n', ns, 'addr', 'add', `10.99.0.${i}/24`, 'dev', `${P}m${i}`]);
    sh('ip', ['-n', ns, 'link', 'set', `${P}m${i}`, 'up']);
    // uplink: the switch's external port ↔ the PA bridge
    sh('ip', ['-n', ns, 'link', 'add', `${P}a${i}`, 'type', 'veth', 'peer', 'name', `${P}b${i}`, 'netns', UNDERLAY]);
    sh('ip', ['-n', ns, 'link', 'set', `${P}a${i}`, 'up']);
    for (const [dev, br] of [[`${P}n${i}`, `${P}mg`], [`${P}b${i}`, `${P}pa`]]) {
      sh('ip', ['-n', UNDERLAY, 'link', 'set', dev, 'master', br]);
      sh('ip', ['-n', UNDERLAY, 'link', 'set', dev, 'up']);
    }
    // a VM of VSID 5001 on each host, and X's two places: on A (up, where it starts) and on B (down until it moves)
    // (10.1.0.1, the subnet's first address, is the distributed router's)
    vms.push(addVm(ns, `${P}p${i}`, `${P}v${i}`, `${P}q${i}`, `10.1.0.${10 + i}`, macOf(10 + i)));
    vms.push(addVm(ns, `${P}x${i}`, `${P}w${i}`, `${P}y${i}`, '10.1.0.13', macOf(13), i === 1));
    const h = new HostDaemon(`host${i === 1 ? 'A' : 'B'}`, ns, `${P}s${i}`, `192.168.50.${i}`);
    hosts.push(h);
    await h.start(etcd.endpoint);
    const doc = {
      version: 1,
      switches: [{
        name: h.sw, type: 'external', uplink: `${P}a${i}`, ports: [
          // static MACs: a local record is delivered to the port with its MAC, known before the VM sends
          { name: 'vm', netdev: `${P}p${i}`, virtualSubnetId: VSID, staticMacAddress: macOf(10 + i) },
          { name: 'x', netdev: `${P}x${i}`, virtualSubnetId: VSID, staticMacAddress: macOf(13) },
        ],
      }],
    };
    const file = path.join(h.dir, 'switch.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
    h.ok(t, 'config', 'apply', file);
  }
  const [a, b] = hosts;
  const [vm1, xOnA, vm2, xOnB] = vms;

  // each host adds its own PA (etcd: pa/<host>/<switch>/<address>); everything else is added on A
  for (const h of hosts) h.ok(t, 'hnv', 'pa', 'add', h.sw, '--address', `${h.pa}/24`);
  const show = (h: HostDaemon): ShowJson => h.json<ShowJson>('hnv', 'show');
  for (const h of hosts) {
    const s = show(h);
    t.is(s.source.source, 'etcd', `${h.name}: the policy source is etcd`);
    t.true(s.source.connected, `${h.name}: connected`);
    t.is(s.host, h.name);
  }
  a.ok(t, 'hnv', 'route', 'add', '--routing-domain', 'tenant-1', '--vsid', String(VSID), '--prefix', '10.1.0.0/24', '--next-hop', '0.0.0.0');
  const record = (h: HostDaemon, vm: { ip: string; mac: string }, pa: string): void => {
    h.ok(t, 'hnv', 'record', 'add', '--ca', vm.ip, '--vsid', String(VSID), '--mac', vm.mac, '--pa', pa, '--encap', ENCAP);
  };
  record(a, vm1, a.pa);
  record(a, xOnA, a.pa);
  const tAdd = performance.now();
  record(a, vm2, b.pa);
  const seenOnB = await until('B lists the record added on A', () => show(b).lookupRecords.some((r) => r.ca === vm2.ip));
  t.log(`record added on A (CLI returned) → listed by B's CLI: ${seenOnB.toFixed(0)} ms (${(performance.now() - tAdd).toFixed(0)} ms from the add command's start; each CLI call starts a node process)`);
  // the etcd keys as documented
  const keys = (await etcd.ctl('get', '--prefix', '--keys-only', PREFIX)).split('\n').filter((l) => l !== '').sort();
  t.deepEqual(keys, [
    `${PREFIX}pa/hostA/${a.sw}/192.168.50.1`, `${PREFIX}pa/hostB/${b.sw}/192.168.50.2`,
    `${PREFIX}record/${VSID}/10.1.0.11`, `${PREFIX}record/${VSID}/10.1.0.12`, `${PREFIX}record/${VSID}/10.1.0.13`,
    `${PREFIX}route/tenant-1/${VSID}/10.1.0.0%2F24`,
  ]);

  const traffic = await until('vm2 (host B) reaches vm1 (host A) through the tunnel', () => ping(vm2, vm1.ip, 1), 60_000);
  t.log(`first ping vm2 → vm1 answered ${traffic.toFixed(0)} ms after B listed the record`);
  const wire = await onTheUnderlay(`${P}pa`, () => {
    t.true(ping(vm1, vm2.ip), 'vm1 → vm2 (A → B)');
    t.true(ping(vm2, vm1.ip), 'vm2 → vm1 (B → A)');
  });
  t.true(wire.tunnelled > 0, `the pings cross the underlay encapsulated (${ENCAP})`);
  t.is(wire.clear, 0, 'no customer frame crosses the underlay in the clear');
  t.true(ping(vm1, xOnA.ip), 'vm1 → X while X is on host A');

  /**
   * X moves `from` → `to`: it starts at `to`, its record is moved by `write`, its old place stops. vm1
   * pings X every 10 ms meanwhile; tshark at `to` times the first echo request that arrives there.
   */
  const migrate = async (what: string, from: Vm, to: Vm, write: () => void | Promise<void>): Promise<void> => {
    pinger = spawn('ip', ['netns', 'exec', vm1.ns, 'ping', '-i', '0.01', '-W', '1', '-w', '20', to.ip], { stdio: 'ignore' });
    sh('ip', ['-n', to.ns, 'link', 'set', to.dev, 'up']);
    const capture = await echoRequestsAt(to, to.ip, 6);
    const start = Date.now();
    await write();
    const returned = Date.now();
    sh('ip', ['-n', from.ns, 'link', 'set', from.dev, 'down']);
    const arrivals = (await capture.done).filter((ms) => ms >= start);
    if (pinger.pid && pinger.exitCode === null) process.kill(pinger.pid, 'SIGKILL');
    t.true(arrivals.length > 0, `${what}: vm1's pings reach X at its new place`);
    if (arrivals.length > 0) {
      t.log(`migration, ${what}: first of vm1's echo requests (10 ms apart) at X's new place ${(arrivals[0] - start).toFixed(0)} ms after the write started, ${(arrivals[0] - returned).toFixed(0)} ms after it returned; ${arrivals.length} requests there`);
    }
  };
  const xRecord = (pa: string): string => JSON.stringify({ ca: xOnA.ip, vsid: VSID, mac: xOnA.mac, pa, encap: ENCAP });

  // X migrates to B: its record moves to B's PA, written with B's CLI
  await migrate('A → B, `xvs hnv record add` on B (a node process starting)', xOnA, xOnB, () => record(b, xOnB, b.pa));
  t.true(ping(vm1, xOnB.ip), 'vm1 → X on host B');

  // a removed record stops traffic (removed on A, X lives on B)
  a.ok(t, 'hnv', 'record', 'remove', '--vsid', String(VSID), '--ca', xOnB.ip);
  await until('the remove reaches both', () => hosts.every((h) => !show(h).lookupRecords.some((r) => r.ca === xOnB.ip)));
  t.false(ping(vm1, xOnB.ip), 'vm1 ↛ X once its record is gone');
  t.true(ping(vm1, vm2.ip), 'vm1 → vm2 still');

  // etcd lost: forwarding goes on with the last records; show says so; writes fail
  await etcd.kill();
  await until('both daemons say disconnected', () => hosts.every((h) => !show(h).source.connected));
  for (const h of hosts) {
    const s = show(h);
    t.false(s.source.connected);
    t.truthy(s.source.lastError, `${h.name}: the error is shown`);
    t.true(s.lookupRecords.some((r) => r.ca === vm2.ip), `${h.name}: records kept`);
  }
  await until('both daemons log it', () => hosts.every((h) => /etcd unreachable .*keeping \d+ records/.test(h.log)));
  t.true(ping(vm1, vm2.ip), 'vm1 → vm2 with etcd down');
  t.true(ping(vm2, vm1.ip), 'vm2 → vm1 with etcd down');
  const refused = a.xvs('hnv', 'record', 'add', '--ca', '10.1.0.9', '--vsid', String(VSID), '--mac', macOf(9), '--pa', a.pa, '--encap', ENCAP);
  t.not(refused.code, 0, 'a write with etcd down fails');
  t.regex(refused.err, /etcd unreachable/);

  // while the daemons are away, the same etcd (same data) on another port: vm2's record goes, X comes back on B
  await etcd.start(2479);
  await etcd.ctlAt(2479, 'del', `${PREFIX}record/${VSID}/${vm2.ip}`);
  await etcd.ctlAt(2479, 'put', `${PREFIX}record/${VSID}/${xOnB.ip}`, xRecord(b.pa));
  await etcd.kill();
  t.true(ping(vm1, vm2.ip), 'still the old records while away');

  await etcd.start();
  const caughtUp = await until('both caught up', () => hosts.every((h) => {
    const s = show(h);
    return s.source.connected && !s.lookupRecords.some((r) => r.ca === vm2.ip) && s.lookupRecords.some((r) => r.ca === xOnB.ip);
  }));
  t.log(`etcd back → both daemons' show resynced: ${caughtUp.toFixed(0)} ms`);
  await until('both daemons log it', () => hosts.every((h) => /etcd back .*changed while away/.test(h.log)));
  t.false(ping(vm1, vm2.ip), 'vm2\'s record deleted while away: traffic stops');
  t.true(ping(vm1, xOnB.ip), 'X\'s record added while away: traffic flows');

  // X migrates back to A, its record written straight into etcd
  await migrate('B → A, etcdctl put', xOnB, xOnA, () => etcd.ctl('put', `${PREFIX}record/${VSID}/${xOnA.ip}`, xRecord(a.pa)).then(() => {}));
  t.true(ping(vm1, xOnA.ip), 'vm1 → X on host A');
});
