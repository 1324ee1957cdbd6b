/**
 * Test support (not a test file): an in-process fake sysfs behind the `Sysfs` interface, computed from a small
 * model of PCI devices and drivers, so it is always self-consistent and enforces what the kernel enforces —
 * which plain files under a temp dir cannot:
 *
 *   sriov_numvfs     N > sriov_totalvfs → ERANGE; N ≠ 0 while M ≠ 0 VFs exist (N ≠ M) → EBUSY; 0 removes the VFs
 *                    (their virtfn*, device dirs, netdevs, IOMMU group entries); N creates them, bound to the VF
 *                    driver when sriov_drivers_autoprobe is 1 (their netdevs appear under /sys/class/net)
 *   drivers/D/bind   unknown device or no match (driver_override names another driver) → ENODEV; bound → EBUSY
 *   drivers/D/unbind device not bound to D → ENODEV
 *   drivers_probe    binds an unbound device to driver_override's driver if loaded (else its own), else nothing
 *   driver_override  "" or "\n" clears it; reads "(null)" when clear
 *   read-only files  EACCES on write; missing paths ENOENT
 *
 * Layout as the kernel's (kernel Documentation/ABI/testing/sysfs-bus-pci): /sys/class/net/IF/device → the PCI
 * device; /sys/bus/pci/devices/ADDR/{vendor,device,driver,driver_override,iommu_group,physfn,virtfnN,net,
 * sriov_totalvfs,sriov_numvfs,sriov_drivers_autoprobe}; /sys/bus/pci/drivers/D/{bind,unbind,ADDR};
 * /sys/bus/pci/drivers_probe; /sys/kernel/iommu_groups/N/devices/ADDR. Every write is recorded in `writes`
 * (with its errno, if refused), so tests check the exact files written.
 */
import { basename, posix } from 'node:path';
import type { Sysfs } from './sysfs.js';

interface Device {
  address: string;
  vendor: string;
  device: string;
  /** drivers whose id table matches (vfio-pci matches only through driver_override) */
  matches: string[];
  driver: string | null;
  override: string | null;
  group: number | null;
  /** the netdev name while a network driver is bound */
  netdev: string | null;
  netDriver: string | null;
  pf: PfState | null;
  physfn: string | null;
}

interface PfState {
  totalVfs: number;
  vfs: string[];
  autoprobe: boolean;
  vfDriver: string;
  vfDeviceId: string;
  /** 'own': each VF its own IOMMU group; 'pf': VFs share the PF's group (no ACS); 'none': no IOMMU */
  vfGroups: 'own' | 'pf' | 'none';
  /** the PCI address of VF i */
  vfAddress: (i: number) => string;
  netdev: string;
}

export interface FixturePf {
  /** the PF's netdev (e.g. "xsrpf0") */
  netdev: string;
  /** its PCI address ("0000:03:00.0") */
  address: string;
  driver?: string;
  totalVfs: number;
  vfDriver?: string;
  /** default: each VF in its own IOMMU group */
  vfGroups?: 'own' | 'pf' | 'none';
  /** default bus 03+1 (0000:04:00.0, .1 …) */
  vfAddress?: (i: number) => string;
  /** the PF's own IOMMU group (default a new one) */
  group?: number;
}

export interface FixtureWrite {
  path: string;
  value: string;
  /** the errno the write failed with */
  error?: string;
}

function errno(code: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

const DEV = '/sys/bus/pci/devices';
const DRV = '/sys/bus/pci/drivers';
const NET = '/sys/class/net';
const GROUPS = '/sys/kernel/iommu_groups';

export class SysfsFixture implements Sysfs {
  readonly root = '(sysfs fixture)';
  readonly writes: FixtureWrite[] = [];
  private readonly devices = new Map<string, Device>();
  private readonly drivers = new Set<string>();
  private nextGroup = 10;
  /** netdevs that are administratively up (PFs are; VF netdevs start down) */
  private readonly upNetdevs = new Set<string>();

  /** `ip link set NETDEV up` on the host (a VF netdev the host uses) */
  setUp(netdev: string): void {
    this.upNetdevs.add(netdev);
  }

  loadDriver(name: string): void {
    this.drivers.add(name);
  }

  addPf(o: FixturePf): void {
    const driver = o.driver ?? 'ixgbe';
    const vfDriver = o.vfDriver ?? 'ixgbevf';
    this.drivers.add(driver);
    this.drivers.add(vfDriver);
    const [dom, bus] = o.address.split(':');
    const vfBus = (parseInt(bus, 16) + 1).toString(16).padStart(2, '0');
    const group = o.group ?? this.nextGroup++;
    this.devices.set(o.address, {
      address: o.address, vendor: '0x8086', device: '0x10fb', matches: [driver], driver, override: null, group,
      netdev: o.netdev, netDriver: driver, physfn: null,
      pf: {
        totalVfs: o.totalVfs, vfs: [], autoprobe: true, vfDriver, vfDeviceId: '0x10ed', vfGroups: o.vfGroups ?? 'own',
        vfAddress: o.vfAddress ?? ((i) => `${dom}:${vfBus}:${String(i >> 3).padStart(2, '0')}.${i & 7}`), netdev: o.netdev,
      },
    });
  }

  /** a plain PCI device (another member of an IOMMU group) */
  addDevice(address: string, driver: string | null, group: number): void {
    if (driver) this.drivers.add(driver);
    this.devices.set(address, {
      address, vendor: '0x1b36', device: '0x0001', matches: driver ? [driver] : [], driver, override: null, group,
      netdev: null, netDriver: null, pf: null, physfn: null,
    });
  }

  groupOf(address: string): number | null {
    return this.devices.get(address)?.group ?? null;
  }

  driverOf(address: string): string | null {
    return this.devices.get(address)?.driver ?? null;
  }

  overrideOf(address: string): string | null {
    return this.devices.get(address)?.override ?? null;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Path resolution: symlinks in the middle of a path are followed, like the kernel's VFS

  private device(addr: string, path: string): Device {
    const d = this.devices.get(addr);
    if (!d) throw errno('ENOENT', path);
    return d;
  }

  /** the link target of `path` if it is a symlink, else null */
  private linkAt(path: string): string | null {
    const p = path.split('/').filter(Boolean);
    if (p.length === 5 && path.startsWith(`${NET}/`) && p[4] === 'device') {
      const d = [...this.devices.values()].find((x) => x.netdev === p[3]);
      return d ? `../../../${d.address}` : null;
    }
    if (p.length === 6 && path.startsWith(`${DEV}/`)) {
      const d = this.devices.get(p[4]);
      if (!d) return null;
      if (p[5] === 'driver' && d.driver) return `../../../bus/pci/drivers/${d.driver}`;
      if (p[5] === 'iommu_group' && d.group !== null) return `../../../../kernel/iommu_groups/${d.group}`;
      if (p[5] === 'physfn' && d.physfn) return `../${d.physfn}`;
      const m = /^virtfn(\d+)$/.exec(p[5]);
      if (m && d.pf && Number(m[1]) < d.pf.vfs.length) return `../${d.pf.vfs[Number(m[1])]}`;
      if (p[5] === 'subsystem') return '../../../bus/pci';
    }
    if (p.length === 6 && path.startsWith(`${DRV}/`) && this.drivers.has(p[4])) {
      const d = this.devices.get(p[5]);
      if (d && d.driver === p[4]) return `../../../../devices/${d.address}`;
    }
    if (p.length === 6 && path.startsWith(`${GROUPS}/`) && p[4] === 'devices') {
      const d = this.devices.get(p[5]);
      if (d && String(d.group) === p[3]) return `../../../../bus/pci/devices/${d.address}`;
    }
    return null;
  }

  /** where a link points, as an absolute path in this tree */
  private follow(path: string, target: string): string {
    const t = posix.normalize(posix.join(posix.dirname(path), target));
    // every device lives at /sys/bus/pci/devices/ADDR here (the kernel's /sys/devices/pci… is not modelled)
    const m = /\/(\d{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/.exec(t);
    if (m && !t.startsWith(DRV) && !t.startsWith(GROUPS)) return `${DEV}/${m[1]}`;
    if (t.endsWith('/bus/pci/drivers/' + basename(t))) return `${DRV}/${basename(t)}`;
    if (t.includes('/kernel/iommu_groups/')) return `${GROUPS}/${basename(t)}`;
    if (t.endsWith('/bus/pci')) return '/sys/bus/pci';
    return t;
  }

  /** `path` with every symlink but (unless followLast) the last component followed */
  private resolve(path: string, followLast: boolean): string {
    const parts = posix.normalize(path).split('/').filter(Boolean);
    let cur = '';
    for (let i = 0; i < parts.length; i++) {
      cur = `${cur}/${parts[i]}`;
      if (i === parts.length - 1 && !followLast) break;
      for (let hops = 0; hops < 8; hops++) {
        const t = this.linkAt(cur);
        if (t === null) break;
        cur = this.follow(cur, t);
      }
    }
    return cur || '/';
  }

  // ---------------------------------------------------------------------------------------------------------
  // Sysfs

  exists(path: string): boolean {
    const r = this.resolve(path, true);
    return this.entriesOf(r) !== null || this.fileValue(r) !== undefined || this.writable(r);
  }

  read(path: string): string {
    const r = this.resolve(path, true);
    const v = this.fileValue(r);
    if (v === undefined) throw errno(this.entriesOf(r) !== null ? 'EISDIR' : this.writable(r) ? 'EACCES' : 'ENOENT', path);
    return `${v}\n`;
  }

  readlink(path: string): string {
    const t = this.linkAt(this.resolve(path, false));
    if (t === null) throw errno(this.exists(path) ? 'EINVAL' : 'ENOENT', path);
    return t;
  }

  list(path: string): string[] {
    const e = this.entriesOf(this.resolve(path, true));
    if (e === null) throw errno(this.exists(path) ? 'ENOTDIR' : 'ENOENT', path);
    return e;
  }

  write(path: string, value: string): void {
    const r = this.resolve(path, true);
    const rec: FixtureWrite = { path, value };
    this.writes.push(rec);
    try {
      this.store(r, value);
    } catch (e) {
      rec.error = (e as { code?: string }).code;
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------------------------------

  private entriesOf(r: string): string[] | null {
    const p = r.split('/').filter(Boolean);
    if (r === NET) return [...this.devices.values()].filter((d) => d.netdev).map((d) => d.netdev!).sort();
    if (r === DEV) return [...this.devices.keys()].sort();
    if (r === DRV) return [...this.drivers].sort();
    if (r === GROUPS) return [...new Set([...this.devices.values()].filter((d) => d.group !== null).map((d) => String(d.group)))];
    if (p.length === 4 && r.startsWith(`${NET}/`)) return [...this.devices.values()].some((d) => d.netdev === p[3]) ? ['address', 'device', 'operstate'] : null;
    if (p.length === 5 && r.startsWith(`${DEV}/`)) {
      const d = this.devices.get(p[4]);
      if (!d) return null;
      const e = ['vendor', 'device', 'driver_override', 'subsystem'];
      if (d.driver) e.push('driver');
      if (d.group !== null) e.push('iommu_group');
      if (d.physfn) e.push('physfn');
      if (d.netdev) e.push('net');
      if (d.pf) e.push('sriov_totalvfs', 'sriov_numvfs', 'sriov_drivers_autoprobe', ...d.pf.vfs.map((_, i) => `virtfn${i}`));
      return e;
    }
    if (p.length === 6 && r.startsWith(`${DEV}/`) && p[5] === 'net') {
      const d = this.devices.get(p[4]);
      return d?.netdev ? [d.netdev] : null;
    }
    if (p.length === 5 && r.startsWith(`${DRV}/`) && this.drivers.has(p[4])) {
      return ['bind', 'unbind', 'new_id', ...[...this.devices.values()].filter((d) => d.driver === p[4]).map((d) => d.address)];
    }
    if (p.length === 4 && r.startsWith(`${GROUPS}/`)) return this.groupMembers(p[3]) ? ['devices', 'type'] : null;
    if (p.length === 5 && r.startsWith(`${GROUPS}/`) && p[4] === 'devices') return this.groupMembers(p[3]);
    if (r === '/sys/bus/pci') return ['devices', 'drivers', 'drivers_probe'];
    return null;
  }

  private groupMembers(g: string): string[] | null {
    const m = [...this.devices.values()].filter((d) => String(d.group) === g).map((d) => d.address).sort();
    return m.length > 0 ? m : null;
  }

  private fileValue(r: string): string | undefined {
    const p = r.split('/').filter(Boolean);
    if (p.length === 5 && r.startsWith(`${NET}/`)) {
      const d = [...this.devices.values()].find((x) => x.netdev === p[3]);
      if (d && p[4] === 'operstate') return d.pf || this.upNetdevs.has(p[3]) ? 'up' : 'down';
      if (d && p[4] === 'address') return '02:00:00:00:00:00';
    }
    if (p.length !== 6 || !r.startsWith(`${DEV}/`)) return undefined;
    const d = this.devices.get(p[4]);
    if (!d) return undefined;
    switch (p[5]) {
      case 'vendor': return d.vendor;
      case 'device': return d.device;
      case 'driver_override': return d.override ?? '(null)';
      case 'sriov_totalvfs': return d.pf ? String(d.pf.totalVfs) : undefined;
      case 'sriov_numvfs': return d.pf ? String(d.pf.vfs.length) : undefined;
      case 'sriov_drivers_autoprobe': return d.pf ? (d.pf.autoprobe ? '1' : '0') : undefined;
      default: return undefined;
    }
  }

  private writable(r: string): boolean {
    const p = r.split('/').filter(Boolean);
    if (r === '/sys/bus/pci/drivers_probe') return true;
    return p.length === 6 && r.startsWith(`${DRV}/`) && this.drivers.has(p[4]) && ['bind', 'unbind', 'new_id'].includes(p[5]);
  }

  private store(r: string, raw: string): void {
    const value = raw.replace(/\n$/, '');
    const p = r.split('/').filter(Boolean);
    if (r === '/sys/bus/pci/drivers_probe') return this.probe(this.device(value, r));
    if (p.length === 6 && r.startsWith(`${DRV}/`) && this.drivers.has(p[4])) {
      const drv = p[4];
      if (p[5] === 'bind') {
        const d = this.devices.get(value);
        if (!d) throw errno('ENODEV', r);
        if (d.driver) throw errno('EBUSY', r);
        if (!this.matches(d, drv)) throw errno('ENODEV', r);
        return this.bindTo(d, drv);
      }
      if (p[5] === 'unbind') {
        const d = this.devices.get(value);
        if (!d || d.driver !== drv) throw errno('ENODEV', r);
        d.driver = null;
        d.netdev = null;
        return;
      }
      throw errno('EINVAL', r);
    }
    if (p.length === 6 && r.startsWith(`${DEV}/`)) {
      const d = this.devices.get(p[4]);
      if (!d) throw errno('ENOENT', r);
      if (p[5] === 'driver_override') {
        d.override = value === '' ? null : value;
        return;
      }
      if (d.pf && p[5] === 'sriov_drivers_autoprobe') {
        if (value !== '0' && value !== '1') throw errno('EINVAL', r);
        d.pf.autoprobe = value === '1';
        return;
      }
      if (d.pf && p[5] === 'sriov_numvfs') return this.setNumVfs(d, d.pf, value, r);
      if (this.fileValue(r) !== undefined) throw errno('EACCES', r);
    }
    throw errno('ENOENT', r);
  }

  /** drivers/pci/iov.c sriov_numvfs_store */
  private setNumVfs(d: Device, pf: PfState, value: string, r: string): void {
    if (!/^\d+$/.test(value)) throw errno('EINVAL', r);
    const n = Number(value);
    if (n > pf.totalVfs) throw errno('ERANGE', r);
    if (n === pf.vfs.length) return;
    if (!d.driver) throw errno('ENOENT', r); // no PF driver with sriov_configure
    if (n !== 0 && pf.vfs.length !== 0) throw errno('EBUSY', r);
    if (n === 0) {
      for (const a of pf.vfs) this.devices.delete(a);
      pf.vfs = [];
      return;
    }
    for (let i = 0; i < n; i++) {
      const address = pf.vfAddress(i);
      const vf: Device = {
        address, vendor: d.vendor, device: pf.vfDeviceId, matches: [pf.vfDriver], driver: null, override: null,
        group: pf.vfGroups === 'pf' ? d.group : pf.vfGroups === 'none' ? null : this.nextGroup++, netdev: null, netDriver: pf.vfDriver, pf: null, physfn: d.address,
      };
      this.devices.set(address, vf);
      pf.vfs.push(address);
      if (pf.autoprobe) this.bindTo(vf, pf.vfDriver, `${pf.netdev}v${i}`);
    }
  }

  private matches(d: Device, drv: string): boolean {
    return d.override !== null ? d.override === drv : d.matches.includes(drv);
  }

  private probe(d: Device): void {
    if (d.driver) return;
    const drv = d.override !== null ? d.override : d.matches.find((m) => this.drivers.has(m));
    if (drv !== undefined && this.drivers.has(drv)) this.bindTo(d, drv);
  }

  private bindTo(d: Device, drv: string, netdev?: string): void {
    d.driver = drv;
    if (drv === d.netDriver) {
      const pf = d.physfn ? this.devices.get(d.physfn)?.pf : null;
      d.netdev = netdev ?? (pf ? `${pf.netdev}v${pf.vfs.indexOf(d.address)}` : d.netdev);
    }
  }
}
