/**
 * SriovPorts against the sysfs fixture (kernel rules enforced in-process, fixture.ts) and a recording command
 * runner: the exact sysfs writes and `ip link set … vf …` commands for allocation, policy changes, release and
 * restart, and every fallback to a software port with its reason.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PortConfig, SwitchConfig, XvsConfig } from '../config/types.js';
import { SysfsFixture, type FixturePf } from './fixture.js';
import { setNumVfs } from './pci.js';
import { SriovPorts, qemuArgs } from './ports.js';
import { RecordingRunner } from './runner.js';

const PF = '0000:03:00.0';
const VF0 = '0000:04:00.0';
const dev = (a: string): string => `/sys/bus/pci/devices/${a}`;

function host(pf: Partial<FixturePf> = {}, vfs = 2): SysfsFixture {
  const f = new SysfsFixture();
  f.loadDriver('vfio-pci');
  f.addPf({ netdev: 'xpf0', address: PF, totalVfs: 4, ...pf });
  if (vfs > 0) setNumVfs(f, 'xpf0', vfs);
  f.writes.length = 0;
  return f;
}

function doc(ports: PortConfig[], sw: Partial<SwitchConfig> = {}): XvsConfig {
  return { version: 1, switches: [{ name: 'sw0', type: 'external', uplink: 'xpf0', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports, ...sw }] };
}

function setup(f: SysfsFixture, statePath: string | null = null) {
  const runner = new RecordingRunner();
  const logs: string[] = [];
  const s = new SriovPorts({ fs: f, runner, statePath, log: (m) => logs.push(m) });
  return { s, runner, logs };
}

const VM1: PortConfig = { name: 'vm1', iovWeight: 50, staticMacAddress: '52:54:00:00:00:01' };

test('a VF is allocated: its group bound to vfio-pci through driver_override, policy set by ip link, QEMU args with failover', async (t) => {
  const f = host();
  const { s, runner, logs } = setup(f);
  await s.reconcile(doc([{ ...VM1, vlan: { mode: 'access', accessVlanId: 10 }, maximumBandwidth: 250_500_000 }]));
  t.deepEqual(f.writes.map((w) => `${w.path} ← ${w.value}`), [
    `${dev(VF0)}/driver_override ← vfio-pci`,
    `${dev(VF0)}/driver/unbind ← ${VF0}`,
    `/sys/bus/pci/drivers_probe ← ${VF0}`,
  ]);
  t.is(f.driverOf(VF0), 'vfio-pci');
  t.is(f.driverOf('0000:04:00.1'), 'ixgbevf', 'the other VF is untouched');
  t.deepEqual(runner.lines, [
    'ip link set dev xpf0 vf 0 mac 52:54:00:00:00:01',
    'ip link set dev xpf0 vf 0 vlan 10',
    'ip link set dev xpf0 vf 0 spoofchk on',
    'ip link set dev xpf0 vf 0 trust off',
    'ip link set dev xpf0 vf 0 max_tx_rate 250',
  ]);
  const st = s.status('sw0', 'vm1');
  if (st?.state !== 'vf') return t.fail(`status ${JSON.stringify(st)}`);
  t.is(st.address, VF0);
  t.deepEqual(st.qemu, [
    '-netdev', 'tap,id=vm1,ifname=vm1,script=no,downscript=no',
    '-device', 'virtio-net-pci,netdev=vm1,mac=52:54:00:00:00:01,id=vm1-net,failover=on',
    '-device', `vfio-pci,host=${VF0},id=vm1-vf,failover_pair_id=vm1-net`,
  ]);
  t.true(logs.some((l) => l.includes(`VF 0 of xpf0 (${VF0}`) && l.includes('bound to vfio-pci')), logs.join('\n'));
  t.deepEqual(s.list(doc([VM1])).flatMap((p) => p.vfs.map((v) => [v.address, v.driver, v.assignedTo])), [[VF0, 'vfio-pci', 'sw0/vm1'], ['0000:04:00.1', 'ixgbevf', null]]);
});

test('spoofing allowed: spoofchk off, trust on; no static MAC: a stable derived locally administered MAC', async (t) => {
  const { s, runner } = setup(host());
  await s.reconcile(doc([{ name: 'vm2', iovWeight: 1, macAddressSpoofing: true }]));
  const mac = s.status('sw0', 'vm2')!.mac;
  t.regex(mac, /^02(:[0-9a-f]{2}){5}$/);
  t.deepEqual(runner.lines.slice(2, 5), ['ip link set dev xpf0 vf 0 spoofchk off', 'ip link set dev xpf0 vf 0 trust on', 'ip link set dev xpf0 vf 0 max_tx_rate 0']);
  t.is(runner.lines[0], `ip link set dev xpf0 vf 0 mac ${mac}`);
  const again = setup(host());
  await again.s.reconcile(doc([{ name: 'vm2', iovWeight: 1, macAddressSpoofing: true }]));
  t.is(again.s.status('sw0', 'vm2')!.mac, mac, 'same switch/port, same MAC');
});

test('every device of the IOMMU group goes to vfio-pci, and back to its own driver on release (reset policy too)', async (t) => {
  const f = host({ vfAddress: (i) => `0000:04:00.${i}` });
  const group = f.groupOf(VF0)!;
  f.addDevice('0000:05:00.0', 'snd_hda_intel', group);
  f.loadDriver('vfio-pci');
  const { s, runner } = setup(f);
  await s.reconcile(doc([VM1]));
  t.is(f.driverOf(VF0), 'vfio-pci');
  t.is(f.driverOf('0000:05:00.0'), 'vfio-pci');
  f.writes.length = 0;
  runner.commands.length = 0;
  await s.reconcile(doc([]));
  t.deepEqual(f.writes.map((w) => `${w.path} ← ${JSON.stringify(w.value)}`), [
    `${dev('0000:05:00.0')}/driver/unbind ← "0000:05:00.0"`,
    `${dev('0000:05:00.0')}/driver_override ← "\\n"`,
    '/sys/bus/pci/drivers/snd_hda_intel/bind ← "0000:05:00.0"',
    `${dev(VF0)}/driver/unbind ← "${VF0}"`,
    `${dev(VF0)}/driver_override ← "\\n"`,
    `/sys/bus/pci/drivers/ixgbevf/bind ← "${VF0}"`,
  ]);
  t.is(f.driverOf(VF0), 'ixgbevf');
  t.is(f.driverOf('0000:05:00.0'), 'snd_hda_intel');
  t.is(f.overrideOf(VF0), null);
  t.deepEqual(runner.lines, [
    'ip link set dev xpf0 vf 0 mac 00:00:00:00:00:00', 'ip link set dev xpf0 vf 0 vlan 0', 'ip link set dev xpf0 vf 0 spoofchk on',
    'ip link set dev xpf0 vf 0 trust off', 'ip link set dev xpf0 vf 0 max_tx_rate 0',
  ]);
  t.is(s.status('sw0', 'vm1'), undefined);
});

test('a changed setting is applied to the VF again; a setting a VF cannot enforce gives the VF back', async (t) => {
  const f = host();
  const { s, runner, logs } = setup(f);
  await s.reconcile(doc([VM1]));
  runner.commands.length = 0;
  await s.reconcile(doc([{ ...VM1, vlan: { mode: 'access', accessVlanId: 20 } }]));
  t.true(runner.lines.includes('ip link set dev xpf0 vf 0 vlan 20'), runner.lines.join('\n'));
  t.is(f.driverOf(VF0), 'vfio-pci', 'still passed through');
  await s.reconcile(doc([{ ...VM1, dhcpGuard: true, acls: [{ action: 'deny', direction: 'both', remoteIPAddress: '10.0.0.0/8' }] }]));
  const st = s.status('sw0', 'vm1');
  t.is(st?.state, 'software');
  t.is(f.driverOf(VF0), 'ixgbevf');
  t.true(logs.some((l) => l.includes('released VF 0 of xpf0') && l.includes('acls (1 entries), dhcpGuard')), logs.join('\n'));
  t.regex(st!.message, /no SR-IOV VF \(settings a VF cannot enforce: acls \(1 entries\), dhcpGuard\); it is a software port \(TAP vm1\)/);
});

test('fallbacks name why: private switch, no PF, no VFs, all in use, group shared with the PF, no IOMMU, no vfio-pci', async (t) => {
  const reason = async (f: SysfsFixture, d: XvsConfig, port = 'vm1'): Promise<string> => {
    const { s } = setup(f);
    await s.reconcile(d);
    const st = s.status('sw0', port);
    return st?.state === 'software' ? st.reason : `got ${JSON.stringify(st)}`;
  };
  t.regex(await reason(host(), doc([VM1], { type: 'private', uplink: undefined })), /switch "sw0" is private: a VF comes from an external switch's uplink/);
  t.regex(await reason(host(), doc([VM1], { uplink: 'veth9' })), /uplink veth9 is not an SR-IOV physical function: no \/sys\/class\/net\/veth9\/device\/sriov_totalvfs/);
  t.regex(await reason(host({}, 0), doc([VM1])), /uplink xpf0 has no VFs enabled \(xvs sriov enable xpf0 --vfs N; at most 4\)/);
  const one = host({}, 1);
  const { s } = setup(one);
  await s.reconcile(doc([VM1, { name: 'vm2', iovWeight: 10 }]));
  t.is(s.status('sw0', 'vm1')?.state, 'vf');
  t.regex((s.status('sw0', 'vm2') as { reason: string }).reason, /all 1 VFs of xpf0 are in use/);
  // a VF the host uses (its netdev up, or a switch's port) is never taken
  const busy = host({}, 2);
  busy.setUp('xpf0v0');
  const b = setup(busy);
  await b.s.reconcile(doc([VM1, { name: 'vm3', netdev: 'xpf0v1' }]));
  t.regex((b.s.status('sw0', 'vm1') as { reason: string }).reason, /all 2 VFs of xpf0 are in use/);
  t.deepEqual(busy.writes, []);
  t.is(busy.driverOf(VF0), 'ixgbevf');
  const shared = host({ vfGroups: 'pf' });
  t.regex(await reason(shared, doc([VM1])), /IOMMU group \d+ of VF 0000:04:00.0 also holds the PF 0000:03:00.0 \(xpf0\)/);
  t.is(shared.driverOf(PF), 'ixgbe', 'the uplink keeps its driver');
  t.deepEqual(shared.writes, [], 'nothing written');
  t.regex(await reason(host({ vfGroups: 'none' }), doc([VM1])), /VF 0000:04:00.0 has no IOMMU group: vfio needs the IOMMU on/);
  const noVfio = new SysfsFixture();
  noVfio.addPf({ netdev: 'xpf0', address: PF, totalVfs: 4 });
  setNumVfs(noVfio, 'xpf0', 1);
  const r = setup(noVfio);
  r.runner.commands.length = 0;
  await r.s.reconcile(doc([VM1]));
  t.deepEqual(r.runner.lines, ['modprobe vfio-pci']);
  t.regex((r.s.status('sw0', 'vm1') as { reason: string }).reason, /the vfio-pci driver is not available/);
  // modprobe that loads the driver: the VF is allocated
  const later = new SysfsFixture();
  later.addPf({ netdev: 'xpf0', address: PF, totalVfs: 4 });
  setNumVfs(later, 'xpf0', 1);
  const runner = new RecordingRunner((argv) => {
    if (argv[0] === 'modprobe') later.loadDriver('vfio-pci');
    return { code: 0, stdout: '', stderr: '' };
  });
  const s2 = new SriovPorts({ fs: later, runner });
  await s2.reconcile(doc([VM1]));
  t.is(s2.status('sw0', 'vm1')?.state, 'vf');
  t.is(runner.lines[0], 'modprobe vfio-pci');
});

test('a failing ip command gives the VF back and names the command', async (t) => {
  const f = host();
  let calls = 0;
  const runner = new RecordingRunner((argv) => (argv.includes('trust') && ++calls === 1
    ? { code: 2, stdout: '', stderr: 'RTNETLINK answers: Operation not supported' } : { code: 0, stdout: '', stderr: '' }));
  const s = new SriovPorts({ fs: f, runner });
  await s.reconcile(doc([VM1]));
  const st = s.status('sw0', 'vm1');
  t.is(st?.state, 'software');
  t.regex((st as { reason: string }).reason, /"ip link set dev xpf0 vf 0 trust off" failed: RTNETLINK answers: Operation not supported/);
  t.is(f.driverOf(VF0), 'ixgbevf');
  t.is(f.overrideOf(VF0), null);
});

test('assignments survive a restart (state file); the VF goes back to its original driver after it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-sriov-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const statePath = join(dir, 'sriov.json');
  const f = host();
  const first = setup(f, statePath);
  await first.s.reconcile(doc([VM1]));
  const saved = JSON.parse(readFileSync(statePath, 'utf8')) as { assignments: { address: string; vfio: { address: string; originalDriver: string }[] }[] };
  t.deepEqual(saved.assignments.map((a) => [a.address, a.vfio]), [[VF0, [{ address: VF0, originalDriver: 'ixgbevf' }]]]);
  const second = setup(f, statePath);
  f.writes.length = 0;
  await second.s.reconcile(doc([VM1]));
  t.deepEqual(f.writes, [], 'the kept VF is not bound again');
  t.deepEqual(second.runner.lines, [], 'nor its policy set again');
  t.is(second.s.status('sw0', 'vm1')?.state, 'vf');
  await second.s.reconcile(doc([]));
  t.is(f.driverOf(VF0), 'ixgbevf');
  t.deepEqual((JSON.parse(readFileSync(statePath, 'utf8')) as { assignments: unknown[] }).assignments, []);
});

test('sriov enable goes through 0; refused (field named) while a port holds a VF of the PF', async (t) => {
  const f = host({}, 2);
  const { s } = setup(f);
  t.deepEqual(s.enable('xpf0', 3).written, ['0', '3']);
  t.deepEqual(s.enable('xpf0', 3).written, []);
  t.deepEqual(f.writes.map((w) => w.value), ['0', '3']);
  await s.reconcile(doc([VM1]));
  const e = t.throws(() => s.enable('xpf0', 1));
  t.regex(e!.message, /^params\.vfs: VFs of xpf0 are held by ports sw0\/vm1/);
  t.regex(t.throws(() => s.enable('xpf0', 9))!.message, /^params\.vfs: /);
  t.regex(t.throws(() => s.enable('nope0', 1))!.message, /^params\.pf: "nope0" is not an SR-IOV physical function/);
});

test('qemuArgs without a VF is a plain virtio-net on the TAP', (t) => {
  t.deepEqual(qemuArgs('vm1', 'vm1', '02:00:00:00:00:01', null), [
    '-netdev', 'tap,id=vm1,ifname=vm1,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=vm1,mac=02:00:00:00:00:01,id=vm1-net',
  ]);
});
