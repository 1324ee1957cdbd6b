/** The sysfs fixture enforces the kernel's rules (what plain files would not), so the tests built on it mean something. */
import test from 'ava';
import { SysfsFixture } from './fixture.js';

const PF = '0000:03:00.0';
const dev = (a: string): string => `/sys/bus/pci/devices/${a}`;

function fixture(): SysfsFixture {
  const f = new SysfsFixture();
  f.addPf({ netdev: 'xpf0', address: PF, totalVfs: 4 });
  return f;
}

test('sriov_numvfs: N over M (both nonzero) is EBUSY, over total is ERANGE, 0 removes the VFs', (t) => {
  const f = fixture();
  f.write(`/sys/class/net/xpf0/device/sriov_numvfs`, '2');
  t.is(f.read(`${dev(PF)}/sriov_numvfs`), '2\n');
  t.deepEqual(f.list(dev(PF)).filter((e) => e.startsWith('virtfn')), ['virtfn0', 'virtfn1']);
  t.is(f.readlink(`${dev(PF)}/virtfn1`), '../0000:04:00.1');
  t.is(f.readlink(`${dev('0000:04:00.1')}/physfn`), `../${PF}`);
  t.is((t.throws(() => f.write(`${dev(PF)}/sriov_numvfs`, '3')) as NodeJS.ErrnoException).code, 'EBUSY');
  t.is((t.throws(() => f.write(`${dev(PF)}/sriov_numvfs`, '5')) as NodeJS.ErrnoException).code, 'ERANGE');
  f.write(`${dev(PF)}/sriov_numvfs`, '2'); // the same count: accepted, nothing changes
  f.write(`${dev(PF)}/sriov_numvfs`, '0');
  t.false(f.exists(dev('0000:04:00.0')));
  t.false(f.exists(`${dev(PF)}/virtfn0`));
  f.write(`${dev(PF)}/sriov_numvfs`, '3');
  t.is(f.read(`${dev(PF)}/sriov_numvfs`), '3\n');
  t.deepEqual(f.writes.map((w) => [w.value, w.error]), [['2', undefined], ['3', 'EBUSY'], ['5', 'ERANGE'], ['2', undefined], ['0', undefined], ['3', undefined]]);
  t.is((t.throws(() => f.write(`${dev(PF)}/sriov_totalvfs`, '8')) as NodeJS.ErrnoException).code, 'EACCES');
});

test('new VFs bind to the VF driver (netdev appears); driver_override + drivers_probe moves one to vfio-pci', (t) => {
  const f = fixture();
  f.loadDriver('vfio-pci');
  f.write(`${dev(PF)}/sriov_numvfs`, '1');
  const vf = '0000:04:00.0';
  t.is(f.readlink(`${dev(vf)}/driver`), '../../../bus/pci/drivers/ixgbevf');
  t.true(f.list('/sys/class/net').includes('xpf0v0'));
  t.is(f.read(`${dev(vf)}/driver_override`), '(null)\n');
  // vfio-pci does not match the VF without the override
  t.is((t.throws(() => f.write('/sys/bus/pci/drivers/vfio-pci/bind', vf)) as NodeJS.ErrnoException).code, 'EBUSY');
  f.write(`${dev(vf)}/driver/unbind`, vf);
  t.is((t.throws(() => f.write('/sys/bus/pci/drivers/vfio-pci/bind', vf)) as NodeJS.ErrnoException).code, 'ENODEV');
  t.false(f.list('/sys/class/net').includes('xpf0v0'));
  f.write(`${dev(vf)}/driver_override`, 'vfio-pci');
  f.write('/sys/bus/pci/drivers_probe', vf);
  t.is(f.driverOf(vf), 'vfio-pci');
  t.true(f.list('/sys/bus/pci/drivers/vfio-pci').includes(vf));
  // unbind through the wrong driver is ENODEV; the override keeps ixgbevf from taking it
  t.is((t.throws(() => f.write('/sys/bus/pci/drivers/ixgbevf/unbind', vf)) as NodeJS.ErrnoException).code, 'ENODEV');
  f.write(`${dev(vf)}/driver/unbind`, vf);
  t.is((t.throws(() => f.write('/sys/bus/pci/drivers/ixgbevf/bind', vf)) as NodeJS.ErrnoException).code, 'ENODEV');
  f.write(`${dev(vf)}/driver_override`, '\n');
  f.write('/sys/bus/pci/drivers/ixgbevf/bind', vf);
  t.is(f.driverOf(vf), 'ixgbevf');
  t.deepEqual(f.list(`/sys/kernel/iommu_groups/${f.groupOf(vf)}/devices`), [vf]);
});
