/**
 * `npm run lab` — bring up a small xvs lab on this host and report; `npm run lab -- down` removes it.
 *
 *   xvs daemon (own config and socket in .lab/run) ── private switch "lab0"
 *     ├─ vm1..vm3: namespaces xvsln0..2 (10.78.0.10–12) on veths, the "namespace VMs"
 *     └─ xvslvm:   a persistent TAP with a QEMU VM (10.78.0.50; TCG, QEMU's default vnet_hdr)
 *   and private switch "lab1" with VLANs (port policies):
 *     ├─ vlan10a, vlan10b: access VLAN 10      ├─ vlan20a, vlan20b: access VLAN 20
 *     └─ pvlan-iso: isolated (primary 30, secondary 31); pvlan-iso2: isolated (30/31);
 *        pvlan-prom: promiscuous (primary 30, secondaries 31)   (namespaces xvsln3..9, 10.78.1.x)
 *
 * and, as a separate stage (src/lab/hnv.ts; `npm run lab -- hnv` runs it alone), Hyper-V Network
 * Virtualization between two "hosts": namespaces xvslh-h0/xvslh-h1 with a daemon each (sockets in
 * .lab/run/hnv/h0, h1), an external switch on a veth into an underlay bridge, tenants red (NVGRE)
 * and blue (VXLAN) with the same Customer Addresses and MACs, a QEMU VM per host; it prints who
 * reaches whom (the tenants reach themselves across the hosts, never each other).
 *
 * Checks: ping between every pair of namespaces, a short iperf3 TCP run, and with QEMU: ping to the
 * VM, a TCP upload into the VM and a download from it, both md5-verified; on lab1, who reaches whom
 * (printed as a matrix and checked against what the VLAN rules say). Prints a result table, the
 * switch counters and the MAC table. The daemon and namespaces stay up (explore with the CLI:
 * `node dist/src/cli/main.js --socket .lab/run/xvs.sock stats lab0`) until `down`.
 * Every name starts with "xvsl"; stale ones are removed first; only PIDs the lab started are signalled.
 */
import { spawn, spawnSync } from 'node:child_process';
import { LAB_CLI, repoRoot } from '../repo-root.js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanPrefix, NetLab, type Host } from './netlab.js';
import { formatMatrix, hnvLabDown, startHnvLab } from './hnv.js';
import { startVm, vmImagePaths } from './vm.js';

const PREFIX = 'xvsl';
const SWITCH = 'lab0';
const TAP = 'xvslvm';
const VM_IP = '10.78.0.50';
const VM_MAC = '52:54:00:78:76:50';
const root = repoRoot;
const run = path.join(root, '.lab', 'run');
const sock = path.join(run, 'xvs.sock');
const pidFile = path.join(run, 'daemon.pid');
const cli = LAB_CLI;
const HNV_PREFIX = 'xvslh';
const hnvRun = path.join(run, 'hnv');

interface Row { check: string; result: 'ok' | 'FAIL' | 'skipped'; detail: string }
const rows: Row[] = [];
const record = (check: string, ok: boolean | null, detail: string): void => {
  rows.push({ check, result: ok === null ? 'skipped' : ok ? 'ok' : 'FAIL', detail });
  process.stdout.write(`  ${ok === null ? '-' : ok ? '✔' : '✘'} ${check}: ${detail}\n`);
};

function xvs(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('node', [cli, '--socket', sock, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function must(...args: string[]): string {
  const r = xvs(...args);
  if (r.code !== 0) throw new Error(`xvs ${args.join(' ')}: ${r.err.trim()}`);
  return r.out;
}

/** our daemon's PID, if it still runs that command line */
function daemonPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('daemon') && cmd.includes(sock) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function down(): Promise<void> {
  const pid = daemonPid();
  if (pid) {
    xvs('switch', 'delete', SWITCH); // removes the TAP xvs created
    xvs('switch', 'delete', 'lab1');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50; i++) {
      try { process.kill(pid, 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    try { process.kill(pid, 'SIGKILL'); } catch { /* exited */ }
  }
  await hnvLabDown(HNV_PREFIX, hnvRun);
  cleanPrefix(PREFIX);
  rmSync(run, { recursive: true, force: true });
  console.log('lab removed (namespaces, veths, TAP, daemon)');
}

async function startDaemon(): Promise<void> {
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const log = openSync(path.join(run, 'daemon.log'), 'a');
  const d = spawn('node', [cli, 'daemon', '--config', path.join(run, 'config.json'), '--socket', sock],
    { detached: true, stdio: ['ignore', log, log] });
  d.unref();
  writeFileSync(pidFile, String(d.pid));
  for (let i = 0; i < 100; i++) {
    if (xvs('daemon', 'status').code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon did not come up: ${readFileSync(path.join(run, 'daemon.log'), 'utf8')}`);
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

async function vmChecks(lab: NetLab, h0: Host): Promise<void> {
  const qemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!qemu) {
    record('QEMU VM', null, 'qemu-system-x86_64 not installed');
    return;
  }
  try {
    vmImagePaths();
  } catch (e) {
    record('QEMU VM', false, (e as Error).message);
    return;
  }
  const t0 = Date.now();
  const vm = startVm({ name: 'xvs-lab', tap: TAP, mac: VM_MAC, ip: `${VM_IP}/24`, peer: h0.ip, run: 'serve', extra: { size: '1048576' }, timeoutMs: 120_000 });
  try {
    const file = await vm.waitResult('serve-file', 60_000);
    await vm.waitFor(/XVS-STATE ready/, 20_000);
    record('VM boot (TCG) on TAP port', true, `${((Date.now() - t0) / 1000).toFixed(1)} s to network`);
    record(`ping vm1 -> VM`, lab.ping(h0, { ...h0, ip: VM_IP }, 3), `${h0.ip} -> ${VM_IP}`);
    const got = lab.exec(h0, ['sh', '-c', `timeout 30 busybox wget -q -O - http://${VM_IP}:80/data | md5sum`], { allowFail: true }).split(/\s+/)[0];
    record('TCP download from VM (md5)', got === file.fields['md5'], `${file.fields['bytes']} bytes, md5 ${got === file.fields['md5'] ? 'matches' : `differs (${got})`}`);
    const push = randomBytes(2 * 1024 * 1024);
    const f = path.join(run, 'push.bin');
    writeFileSync(f, push);
    const t1 = Date.now();
    lab.exec(h0, ['sh', '-c', `busybox nc ${VM_IP} 5001 < ${f}`], { allowFail: true, timeout: 60_000 });
    const sink = await vm.waitResult('sink', 30_000).catch(() => undefined);
    const ok = sink?.fields['md5'] === md5(push);
    record('TCP upload into VM (md5)', ok, `${push.length} bytes in ${Date.now() - t1} ms, md5 ${ok ? 'matches' : 'differs'}`);
  } catch (e) {
    record('QEMU VM', false, `${(e as Error).message.split('\n')[0]}`);
  } finally {
    await vm.stop();
    rmSync(path.join(run, 'push.bin'), { force: true });
  }
}

/** lab1: two VLANs and a private VLAN among namespace VMs; prints who reaches whom */
function vlanChecks(lab: NetLab): void {
  const SW1 = 'lab1';
  const ports: { name: string; vlan: string[]; group: string }[] = [
    { name: 'vlan10a', vlan: ['--access', '--vlan-id', '10'], group: 'v10' },
    { name: 'vlan10b', vlan: ['--access', '--vlan-id', '10'], group: 'v10' },
    { name: 'vlan20a', vlan: ['--access', '--vlan-id', '20'], group: 'v20' },
    { name: 'vlan20b', vlan: ['--access', '--vlan-id', '20'], group: 'v20' },
    { name: 'pvlan-iso', vlan: ['--isolated', '--primary-vlan-id', '30', '--secondary-vlan-id', '31'], group: 'iso' },
    { name: 'pvlan-iso2', vlan: ['--isolated', '--primary-vlan-id', '30', '--secondary-vlan-id', '31'], group: 'iso' },
    { name: 'pvlan-prom', vlan: ['--promiscuous', '--primary-vlan-id', '30', '--secondary-vlan-ids', '31'], group: 'prom' },
  ];
  must('switch', 'create', SW1, '--type', 'private');
  const hosts = ports.map((p, k) => {
    const h = lab.addHost(3 + k, { subnet: '10.78.1' });
    must('port', 'add', SW1, p.name, '--netdev', h.peer);
    must('port', 'vlan', SW1, p.name, ...p.vlan);
    return h;
  });
  // VLAN rules: same access VLAN; isolated ↔ promiscuous of the same primary; never isolated ↔ isolated
  const expect = (a: string, b: string): boolean => (a === b && a !== 'iso') || (a === 'iso' && b === 'prom') || (a === 'prom' && b === 'iso');
  const w = Math.max(...ports.map((p) => p.name.length));
  const lines = [`${''.padEnd(w)}  ${ports.map((p) => p.name.padEnd(w)).join(' ')}`];
  let wrong = 0;
  for (let i = 0; i < ports.length; i++) {
    const cells: string[] = [];
    for (let j = 0; j < ports.length; j++) {
      if (i === j) { cells.push('-'.padEnd(w)); continue; }
      const ok = lab.ping(hosts[i], hosts[j], 1, ['-W', '1']);
      const want = expect(ports[i].group, ports[j].group);
      if (ok !== want) wrong++;
      cells.push(`${ok ? 'reaches' : '·'}${ok !== want ? ' (!)' : ''}`.padEnd(w));
    }
    lines.push(`${ports[i].name.padEnd(w)}  ${cells.join(' ')}`);
  }
  console.log(`\n== who reaches whom on ${SW1} (ping; row → column)\n${lines.join('\n')}`);
  record(`VLAN/PVLAN reachability on ${SW1}`, wrong === 0, wrong === 0 ? `${ports.length * (ports.length - 1)} pairs as the VLAN rules say` : `${wrong} pair(s) differ (marked (!))`);
  console.log(`\n== xvs pipeline show ${SW1}`);
  console.log(must('pipeline', 'show', SW1));
}

function qemuUsable(): boolean {
  if (spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status !== 0) return false;
  try {
    vmImagePaths();
    return true;
  } catch {
    return false;
  }
}

/** the HNV stage: two hosts, two tenants, the reachability matrix (src/lab/hnv.ts) */
async function hnvStage(): Promise<void> {
  console.log('\n== HNV: hosts xvslh-h0 and xvslh-h1 (a daemon each) on an underlay bridge; tenant red (VSID 5001, NVGRE)' +
    ' and tenant blue (VSID 6001, VXLAN) with the same CAs and MACs');
  const qemu = qemuUsable();
  if (!qemu) record('HNV QEMU VMs', null, 'qemu-system-x86_64 or the VM image (scripts/vm-image.sh) missing: namespace VMs only');
  try {
    const lab = await startHnvLab({ prefix: HNV_PREFIX, run: hnvRun, qemu, detach: true, log: (l) => process.stdout.write(`${l}\n`) });
    await lab.stopVms();
    for (const r of lab.rows) rows.push({ check: r.check, result: r.ok ? 'ok' : 'FAIL', detail: r.detail });
    console.log(`\n== who reaches whom across the two hosts (ping CA; row → column)\n${formatMatrix(lab.endpoints, lab.matrix, lab.expected)}`);
    console.log(`\n== xvs hnv show (host xvslh-h0)\n${lab.shows[0]}`);
    console.log(`explore: node dist/src/cli/main.js --socket ${lab.sockets[0]} hnv show`);
  } catch (e) {
    record('HNV two-host lab', false, (e as Error).message.split('\n')[0]);
  }
}

async function hnvOnly(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (namespaces, TAPs): sudo npm run lab -- hnv');
  await hnvLabDown(HNV_PREFIX, hnvRun);
  await hnvStage();
  const failed = rows.filter((r) => r.result === 'FAIL').length;
  console.log(`\n${rows.filter((r) => r.result === 'ok').length} ok, ${failed} failed; the HNV hosts stay up (sudo npm run lab -- down removes them)`);
  return failed === 0 ? 0 : 1;
}

async function up(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (namespaces, TAPs): sudo npm run lab');
  await down();
  console.log('\nxvs lab: bringing up switch lab0 with three namespace VMs and one QEMU VM\n');
  const lab = new NetLab(PREFIX);
  const hosts = [0, 1, 2].map((i) => lab.addHost(i, { subnet: '10.78.0' }));
  await startDaemon();
  must('switch', 'create', SWITCH, '--type', 'private');
  hosts.forEach((h, i) => must('port', 'add', SWITCH, `vm${i + 1}`, '--netdev', h.peer));
  must('port', 'add', SWITCH, TAP);

  for (let i = 0; i < hosts.length; i++) {
    for (let j = 0; j < hosts.length; j++) {
      if (i !== j) record(`ping vm${i + 1} -> vm${j + 1}`, lab.ping(hosts[i], hosts[j], 2), `${hosts[i].ip} -> ${hosts[j].ip}`);
    }
  }
  const srv = lab.spawnIn(hosts[1], ['iperf3', '-s', '-1', '-p', '5301']);
  await new Promise((r) => setTimeout(r, 400));
  const out = lab.exec(hosts[0], ['iperf3', '-c', hosts[1].ip, '-p', '5301', '-t', '2', '-J'], { allowFail: true, timeout: 30_000 });
  try {
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    record('iperf3 TCP vm1 -> vm2 (2 s)', true, `${(j.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gb/s`);
  } catch {
    record('iperf3 TCP vm1 -> vm2 (2 s)', false, out.slice(0, 200));
  }
  if (srv.pid && srv.exitCode === null) { try { process.kill(srv.pid, 'SIGKILL'); } catch { /* gone */ } }
  await vmChecks(lab, hosts[0]);
  try {
    vlanChecks(lab);
  } catch (e) {
    record('VLAN/PVLAN lab switch lab1', false, (e as Error).message.split('\n')[0]);
  }
  await hnvStage();

  console.log('\n== results');
  const w = Math.max(...rows.map((r) => r.check.length));
  for (const r of rows) console.log(`${r.check.padEnd(w)}  ${r.result.padEnd(7)}  ${r.detail}`);
  console.log('\n== xvs stats lab0');
  console.log(must('stats', SWITCH));
  console.log('== xvs fdb show lab0');
  console.log(must('fdb', 'show', SWITCH));
  const failed = rows.filter((r) => r.result === 'FAIL').length;
  console.log(`${rows.filter((r) => r.result === 'ok').length} ok, ${failed} failed`);
  console.log(`\nThe lab stays up. Try: node dist/src/cli/main.js --socket ${sock} stats ${SWITCH}`);
  console.log('Remove it with: sudo npm run lab -- down');
  return failed === 0 ? 0 : 1;
}

const cmd = process.argv[2] ?? 'up';
if (cmd === 'down') {
  await down();
} else if (cmd === 'up') {
  process.exitCode = await up();
} else if (cmd === 'hnv') {
  process.exitCode = await hnvOnly();
} else {
  console.error(`usage: npm run lab [-- up|hnv|down] (got "${cmd}")`);
  process.exitCode = 2;
}
