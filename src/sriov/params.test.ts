/**
 * Input checks (iovWeight in a document, sriov.enable params) name the field; the real sysfs reader works over
 * a real directory tree (files and symlinks laid out as the kernel's) under XVS_SYSFS_ROOT; the VF policy
 * mapping from port settings.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/schema.js';
import { parseSriovEnable } from './params.js';
import { listPfs } from './pci.js';
import { SYSFS_ROOT_ENV, sysfsFromEnv } from './sysfs.js';
import { vfBlockers, vfPolicyOf } from './vf-policy.js';

test('iovWeight in a document: 0..100, named; 0 reads back as absent; not with netdev', (t) => {
  const doc = (port: Record<string, unknown>) => ({ version: 1, switches: [{ name: 'sw0', type: 'private', ports: [{ name: 'vm0' }, { name: 'vm1', ...port }] }] });
  t.throws(() => validateConfig(doc({ iovWeight: 101 })), { message: 'switches[0].ports[1].iovWeight: expected an integer in 0..100, got 101' });
  t.throws(() => validateConfig(doc({ iovWeight: 'high' })), { message: /^switches\[0\]\.ports\[1\]\.iovWeight: expected an integer in 0\.\.100, got / });
  t.throws(() => validateConfig(doc({ iovWeight: 3, netdev: 'veth0' })), { message: /^switches\[0\]\.ports\[1\]\.iovWeight: a VF's failover standby is the port's own TAP/ });
  t.deepEqual(validateConfig(doc({ iovWeight: 0 })).switches[0].ports[1], { name: 'vm1' });
  t.is(validateConfig(doc({ iovWeight: 7 })).switches[0].ports[1].iovWeight, 7);
});

test('sriov.enable params: pf an interface name, vfs a count; unknown keys named', (t) => {
  t.deepEqual(parseSriovEnable({ pf: 'eth1', vfs: 4 }), { pf: 'eth1', vfs: 4 });
  t.throws(() => parseSriovEnable({ pf: 'eth1', vfs: -1 }), { message: /^params\.vfs: expected the number of VFs/ });
  t.throws(() => parseSriovEnable({ pf: 'eth1', vfs: 2.5 }), { message: /^params\.vfs: / });
  t.throws(() => parseSriovEnable({ vfs: 2 }), { message: /^params\.pf: / });
  t.throws(() => parseSriovEnable({ pf: 'a/b', vfs: 2 }), { message: /^params\.pf: / });
  t.throws(() => parseSriovEnable({ pf: 'eth1', vfs: 2, numvfs: 3 }), { message: /^params\.numvfs: unknown key/ });
});

test('RealSysfs under XVS_SYSFS_ROOT reads a kernel-shaped tree of real files and symlinks', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'xvs-sysfs-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const at = (p: string): string => join(root, p);
  const pf = '/sys/devices/pci0000:00/0000:00:02.0/0000:03:00.0';
  const vf = '/sys/devices/pci0000:00/0000:00:02.0/0000:04:00.1';
  for (const d of [pf, vf, '/sys/class/net/eth1', '/sys/bus/pci/drivers/ixgbe', '/sys/bus/pci/drivers/vfio-pci', '/sys/kernel/iommu_groups/31/devices']) mkdirSync(at(d), { recursive: true });
  writeFileSync(at(`${pf}/sriov_totalvfs`), '8\n');
  writeFileSync(at(`${pf}/sriov_numvfs`), '1\n');
  writeFileSync(at(`${vf}/driver_override`), 'vfio-pci\n');
  symlinkSync('../../../devices/pci0000:00/0000:00:02.0/0000:03:00.0', at('/sys/class/net/eth1/device'));
  symlinkSync('../0000:04:00.1', at(`${pf}/virtfn0`));
  symlinkSync('../0000:03:00.0', at(`${vf}/physfn`));
  symlinkSync('../../../../bus/pci/drivers/ixgbe', at(`${pf}/driver`));
  symlinkSync('../../../../bus/pci/drivers/vfio-pci', at(`${vf}/driver`));
  symlinkSync('../../../../kernel/iommu_groups/31', at(`${vf}/iommu_group`));
  mkdirSync(at('/sys/bus/pci/devices'), { recursive: true });
  symlinkSync('../../../devices/pci0000:00/0000:00:02.0/0000:03:00.0', at('/sys/bus/pci/devices/0000:03:00.0'));
  symlinkSync('../../../devices/pci0000:00/0000:00:02.0/0000:04:00.1', at('/sys/bus/pci/devices/0000:04:00.1'));
  const fs = sysfsFromEnv({ [SYSFS_ROOT_ENV]: root });
  t.is(fs.root, root);
  t.deepEqual(listPfs(fs), [{
    netdev: 'eth1', address: '0000:03:00.0', driver: 'ixgbe', iommuGroup: null, totalVfs: 8, numVfs: 1,
    vfs: [{ index: 0, address: '0000:04:00.1', driver: 'vfio-pci', driverOverride: 'vfio-pci', iommuGroup: 31, netdev: null, netdevUp: false }],
  }]);
  t.is(sysfsFromEnv({}).root, '/');
});

test('VF policy from port settings; settings a VF cannot enforce are named', (t) => {
  t.deepEqual(vfPolicyOf('sw', { name: 'p', staticMacAddress: '52-54-00-AA-BB-CC', vlan: { mode: 'access', accessVlanId: 7 }, maximumBandwidth: 500_000 }),
    { mac: '52:54:00:aa:bb:cc', vlan: 7, spoofchk: true, trust: false, maxTxRate: 1 });
  t.deepEqual(vfBlockers({ name: 'p', vlan: { mode: 'trunk', allowedVlanIds: '1-10', nativeVlanId: 1 }, portMirroring: 'source', virtualSubnetId: 5001, stormLimit: 100, features: { fw: { a: 'b' } } }),
    ['stormLimit', 'portMirroring source', 'virtualSubnetId (HNV)', 'features of fw', 'vlan mode trunk (a VF takes one access VLAN)']);
  t.deepEqual(vfBlockers({ name: 'p', portMirroring: 'none', macLimit: 3, maximumBandwidth: 1e9 }), []);
});
