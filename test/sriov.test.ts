/**
 * SR-IOV end to end through the CLI.
 *
 * 1. The real CLI against a real ControlServer (in this process, so it can be given the sysfs fixture and a
 *    recording command runner; the data path is the control tests' FakeManager): sriov list/enable, port add
 *    --iov-weight (QEMU arguments with failover printed, iovWeight persisted), port remove (the VF goes back to
 *    its driver), and bad input refused with the field named.
 * 2. The real daemon on this machine, which has no SR-IOV (no PCI IOV, no netdevsim): sriov list says so, and
 *    an iovWeight port on a private switch and on an external switch over a veth falls back to a software TAP
 *    port with the reason in the CLI output, the API result and the daemon log.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { startHarness } from '../src/control/test-harness.js';
import type { PortAddResult, SriovPfView } from '../src/control/protocol.js';
import { SysfsFixture } from '../src/sriov/fixture.js';
import { RecordingRunner } from '../src/sriov/runner.js';
import { CLI, TestDaemon } from '../src/test-support/daemon.js';

/** the CLI as a child process, without blocking this process (the server under test runs here) */
function cli(socket: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('node', [CLI, '--socket', socket, ...args], { encoding: 'utf8', timeout: 60_000 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
    });
  });
}

test('fixture host: sriov list/enable, port add --iov-weight prints the vfio and failover QEMU arguments, port remove gives the VF back', async (t) => {
  const fs = new SysfsFixture();
  fs.loadDriver('vfio-pci');
  fs.addPf({ netdev: 'xpf0', address: '0000:03:00.0', totalVfs: 4 });
  const runner = new RecordingRunner();
  const dir = mkdtempSync(join(tmpdir(), 'xvs-sriov-ctl-'));
  let h = await startHarness({ dir, netdevs: ['xpf0'], sriov: { fs, runner } });
  t.teardown(async () => {
    await h.done();
    rmSync(dir, { recursive: true, force: true });
  });
  const x = (...a: string[]) => cli(h.socket, ...a);

  let r = await x('sriov', 'enable', 'xpf0', '--vfs', '2');
  t.is(r.code, 0, r.err);
  t.is(r.out.trim(), 'xpf0 has 2 VFs (sriov_numvfs ← 2)');
  r = await x('sriov', 'enable', 'xpf0', '--vfs', '3');
  t.is(r.out.trim(), 'xpf0 has 3 VFs (sriov_numvfs ← 0, then 3)');
  t.deepEqual(fs.writes.map((w) => `${w.path} ← ${w.value}`), [
    '/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs ← 2',
    '/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs ← 0',
    '/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs ← 3',
  ]);
  fs.writes.length = 0;

  t.is((await x('switch', 'create', 'sw0', '--type', 'external', '--uplink', 'xpf0')).code, 0);
  r = await x('port', 'add', 'sw0', 'vm1', '--iov-weight', '50');
  t.is(r.code, 0, r.err);
  t.regex(r.out, /SR-IOV: VF 0 of xpf0 \(0000:04:00\.0, IOMMU group \d+\) is bound to vfio-pci/);
  t.regex(r.out, /-device virtio-net-pci,netdev=vm1,mac=(02(:[0-9a-f]{2}){5}),id=vm1-net,failover=on -device vfio-pci,host=0000:04:00\.0,id=vm1-vf,failover_pair_id=vm1-net/);
  t.is(fs.driverOf('0000:04:00.0'), 'vfio-pci');
  t.deepEqual(fs.writes.map((w) => w.path), [
    '/sys/bus/pci/devices/0000:04:00.0/driver_override', '/sys/bus/pci/devices/0000:04:00.0/driver/unbind', '/sys/bus/pci/drivers_probe',
  ]);
  t.deepEqual(runner.lines.map((l) => l.replace(/mac \S+/, 'mac M')), [
    'ip link set dev xpf0 vf 0 mac M', 'ip link set dev xpf0 vf 0 vlan 0', 'ip link set dev xpf0 vf 0 spoofchk on',
    'ip link set dev xpf0 vf 0 trust off', 'ip link set dev xpf0 vf 0 max_tx_rate 0',
  ]);
  const saved = JSON.parse(readFileSync(h.configPath, 'utf8')) as { switches: { ports: { name: string; iovWeight?: number }[] }[] };
  t.deepEqual(saved.switches[0].ports, [{ name: 'vm1', iovWeight: 50 }], 'iovWeight persisted in the port config');
  t.true(existsSync(`${h.dir}/state/sriov.json`), 'the assignment is kept beside the config');
  t.regex((await x('port', 'show', 'sw0', 'vm1')).out, /sr-iov:\s+VF 0 of xpf0 \(0000:04:00\.0\) on vfio-pci, MAC 02:/);

  const list = JSON.parse((await x('sriov', 'list', '--json')).out) as SriovPfView[];
  t.deepEqual(list.map((p) => [p.netdev, p.numVfs, p.switch, p.vfs.map((v) => v.assignedTo)]), [['xpf0', 3, 'sw0', ['sw0/vm1', null, null]]]);
  const text = (await x('sriov', 'list')).out;
  t.regex(text, /xpf0\s+0000:03:00\.0\s+ixgbe\s+\d+\s+3\/4\s+sw0/);
  t.regex(text, /xpf0\s+0\s+0000:04:00\.0\s+vfio-pci\s+vfio-pci\s+\d+\s+-\s+sw0\/vm1/);

  // refused while a port holds a VF; bad input names the field
  r = await x('sriov', 'enable', 'xpf0', '--vfs', '1');
  t.is(r.code, 1);
  t.regex(r.err, /params\.vfs: VFs of xpf0 are held by ports sw0\/vm1/);
  t.regex((await x('sriov', 'enable', 'xpf0', '--vfs', '-1')).err, /params\.vfs: expected the number of VFs/);
  t.regex((await x('sriov', 'enable', 'xpf0', '--vfs', 'x')).err, /--vfs: expected a number/);
  t.regex((await x('sriov', 'enable', 'nope0', '--vfs', '1')).err, /params\.pf: "nope0" is not an SR-IOV physical function/);
  t.regex((await x('port', 'add', 'sw0', 'vm2', '--iov-weight', '101')).err, /params\.iovWeight: expected an integer in 0\.\.100, got 101/);
  t.regex((await x('port', 'add', 'sw0', 'vm2', '--iov-weight', '1.5')).err, /params\.iovWeight: expected an integer in 0\.\.100, got 1\.5/);
  t.regex((await x('port', 'add', 'sw0', 'vm2', '--iov-weight', '5', '--netdev', 'xpf0')).err, /params\.iovWeight: a VF's failover standby is the port's own TAP: not with netdev "xpf0"/);

  // a restarted daemon keeps the VF: nothing is bound or set again
  await h.done();
  fs.writes.length = 0;
  runner.commands.length = 0;
  h = await startHarness({ dir, netdevs: ['xpf0'], sriov: { fs, runner } });
  const again = JSON.parse((await x('sriov', 'list', '--json')).out) as SriovPfView[];
  t.deepEqual(again[0].vfs.map((v) => v.assignedTo), ['sw0/vm1', null, null]);
  t.deepEqual(fs.writes, []);
  t.deepEqual(runner.lines, []);

  r = await x('port', 'remove', 'sw0', 'vm1');
  t.is(r.code, 0, r.err);
  t.is(r.out.trim(), 'removed port "vm1" from switch "sw0"; VF 0000:04:00.0 given back to its driver');
  t.is(fs.driverOf('0000:04:00.0'), 'ixgbevf');
  t.deepEqual(fs.writes.map((w) => w.path), [
    '/sys/bus/pci/devices/0000:04:00.0/driver/unbind', '/sys/bus/pci/devices/0000:04:00.0/driver_override', '/sys/bus/pci/drivers/ixgbevf/bind',
  ]);
});

const P = testPrefix('sv');

/** `info network` of a QEMU started (paused, -S) with these arguments; QEMU is stopped by its pid */
function qemuNetworkInfo(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const q = spawn('qemu-system-x86_64', ['-M', 'q35', '-accel', 'tcg', '-S', '-display', 'none', '-nodefaults', '-monitor', 'stdio', ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    q.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    q.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    const timer = setTimeout(() => { if (q.pid && q.exitCode === null) process.kill(q.pid, 'SIGKILL'); }, 60_000);
    q.on('exit', () => { clearTimeout(timer); resolve(out); });
    q.stdin.end('info network\nquit\n');
  });
}

test('this machine (no SR-IOV): iovWeight ports fall back to software TAP ports, said in the CLI, the API result and the log', async (t) => {
  const lab = new NetLab(P);
  const d = new TestDaemon();
  t.teardown(async () => {
    if (d.running) for (const s of ['p', 'e']) d.xvs('switch', 'delete', `${P}${s}`);
    await d.destroy();
    lab.destroy();
  });
  await d.start();
  const list = d.xvs('sriov', 'list');
  t.is(list.code, 0, list.err);
  t.regex(list.out, /no SR-IOV physical functions \(no \/sys\/class\/net\/\*\/device\/sriov_totalvfs\)/);
  t.deepEqual(d.json<SriovPfView[]>('sriov', 'list'), []);

  t.is(d.xvs('switch', 'create', `${P}p`, '--type', 'private').code, 0);
  const r = d.xvs('port', 'add', `${P}p`, `${P}t1`, '--iov-weight', '40');
  t.is(r.code, 0, r.err);
  t.regex(r.out, new RegExp(`SR-IOV not available: switch "${P}p" is private: a VF comes from an external switch's uplink`));
  t.regex(r.out, /falls back to a software port/);
  t.regex(r.out, new RegExp(`-netdev tap,id=${P}t1,ifname=${P}t1,script=no,downscript=no -device virtio-net-pci,netdev=${P}t1,mac=02`));
  t.true(existsSync(`/sys/class/net/${P}t1/tun_flags`), 'the software TAP port exists');
  t.regex(d.xvs('port', 'show', `${P}p`, `${P}t1`).out, new RegExp(`sr-iov:\\s+software port: switch "${P}p" is private`));
  // QEMU takes the printed arguments as they are: it opens the TAP and makes the virtio NIC with the port's MAC
  const qemuLine = r.out.split('\n').find((l) => l.trim().startsWith('-netdev'))!.trim().split(' ');
  const mac = /mac=([0-9a-f:]{17})/.exec(qemuLine.join(' '))![1];
  const info = await qemuNetworkInfo(qemuLine);
  t.regex(info, new RegExp(`${P}t1-net: index=0,type=nic,model=virtio-net-pci,macaddr=${mac}`), info);
  t.regex(info, new RegExp(`\\\\ ${P}t1: index=0,type=tap,ifname=${P}t1,script=no,downscript=no`), info);

  const host = lab.addHost(0);
  t.is(d.xvs('switch', 'create', `${P}e`, '--type', 'external', '--uplink', host.peer).code, 0);
  const v = d.json<PortAddResult>('port', 'add', `${P}e`, `${P}t2`, '--iov-weight', '100');
  t.is(v.iov?.state, 'software');
  t.regex(v.iov?.state === 'software' ? v.iov.reason : '', new RegExp(`uplink ${host.peer} is not an SR-IOV physical function: no /sys/class/net/${host.peer}/device/sriov_totalvfs`));
  t.true(v.running);
  // the daemon's stderr is read by this process's event loop, which the synchronous CLI calls above blocked
  const logged = async (re: RegExp): Promise<boolean> => {
    for (let i = 0; i < 50 && !re.test(d.log); i++) await new Promise((res) => setTimeout(res, 100));
    return re.test(d.log);
  };
  t.true(await logged(new RegExp(`port "${P}t2" of switch "${P}e": no SR-IOV VF \\(uplink ${host.peer} is not an SR-IOV physical function`)), d.log);
  t.regex(d.log, new RegExp(`port "${P}t1" of switch "${P}p": no SR-IOV VF .*it is a software port \\(TAP ${P}t1\\)`));
  const ports = d.json<{ name: string; config?: { iovWeight?: number } }[]>('port', 'list', `${P}e`);
  t.is(ports.find((p) => p.name === `${P}t2`)?.config?.iovWeight, 100);
  t.regex(d.xvs('port', 'add', `${P}e`, `${P}t3`, '--iov-weight', '-1').err, /params\.iovWeight: expected an integer in 0\.\.100, got -1/);
});
