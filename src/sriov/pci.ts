/**
 * SR-IOV physical and virtual functions as sysfs shows them (kernel Documentation/PCI/pci-iov-howto.rst,
 * Documentation/ABI/testing/sysfs-bus-pci): a PF is a netdev whose device has `sriov_totalvfs`; its VFs are
 * the `virtfn*` links; a VF links back with `physfn`. Reading never changes anything; `setNumVfs` goes through
 * 0 when the count changes, because the kernel answers EBUSY to N ≠ 0 written over M ≠ 0.
 */
import { ConfigError } from '../core/errors.js';
import { errnoOf, linkName, readAttr, type Sysfs } from './sysfs.js';

export const NET = '/sys/class/net';
export const PCI_DEVICES = '/sys/bus/pci/devices';
export const PCI_DRIVERS = '/sys/bus/pci/drivers';
export const DRIVERS_PROBE = '/sys/bus/pci/drivers_probe';
export const IOMMU_GROUPS = '/sys/kernel/iommu_groups';

export interface VfInfo {
  /** index N of `ip link set PF vf N` (the virtfnN link) */
  index: number;
  /** PCI address, 0000:04:00.1 */
  address: string;
  /** the bound driver (ixgbevf, vfio-pci), or null */
  driver: string | null;
  /** driver_override, or null */
  driverOverride: string | null;
  /** the IOMMU group number, or null (no IOMMU: no vfio) */
  iommuGroup: number | null;
  /** the VF's netdev while a network driver holds it */
  netdev: string | null;
  /** that netdev's operstate is up: the host uses the VF */
  netdevUp: boolean;
}

export interface PfInfo {
  netdev: string;
  address: string;
  driver: string | null;
  iommuGroup: number | null;
  totalVfs: number;
  numVfs: number;
  vfs: VfInfo[];
}

export const pciDevice = (address: string): string => `${PCI_DEVICES}/${address}`;

function intAttr(fs: Sysfs, path: string): number | null {
  const v = readAttr(fs, path);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

function groupOf(fs: Sysfs, dev: string): number | null {
  const g = linkName(fs, `${dev}/iommu_group`);
  return g !== undefined && /^\d+$/.test(g) ? Number(g) : null;
}

function listOr(fs: Sysfs, path: string): string[] {
  try {
    return fs.list(path);
  } catch {
    return [];
  }
}

/** The devices of an IOMMU group (PCI addresses). */
export function groupDevices(fs: Sysfs, group: number): string[] {
  return listOr(fs, `${IOMMU_GROUPS}/${group}/devices`).sort();
}

/** The driver_override of a device (null when clear: the kernel shows "(null)"). */
export function driverOverride(fs: Sysfs, address: string): string | null {
  const v = readAttr(fs, `${pciDevice(address)}/driver_override`);
  return v === undefined || v === '' || v === '(null)' ? null : v;
}

export function driverOf(fs: Sysfs, address: string): string | null {
  return linkName(fs, `${pciDevice(address)}/driver`) ?? null;
}

export function readVf(fs: Sysfs, address: string, index: number): VfInfo {
  const dev = pciDevice(address);
  const net = listOr(fs, `${dev}/net`);
  return {
    index, address, driver: driverOf(fs, address), driverOverride: driverOverride(fs, address),
    iommuGroup: groupOf(fs, dev), netdev: net[0] ?? null,
    netdevUp: net[0] !== undefined && readAttr(fs, `${NET}/${net[0]}/operstate`) === 'up',
  };
}

/** The PF behind netdev `netdev`, or null when it is no SR-IOV physical function. */
export function readPf(fs: Sysfs, netdev: string): PfInfo | null {
  const dev = `${NET}/${netdev}/device`;
  const totalVfs = intAttr(fs, `${dev}/sriov_totalvfs`);
  const address = linkName(fs, dev);
  if (totalVfs === null || address === undefined) return null;
  const numVfs = intAttr(fs, `${dev}/sriov_numvfs`) ?? 0;
  const vfs: VfInfo[] = [];
  for (const e of listOr(fs, dev)) {
    const m = /^virtfn(\d+)$/.exec(e);
    if (!m) continue;
    const vfAddress = linkName(fs, `${dev}/${e}`);
    if (vfAddress !== undefined) vfs.push(readVf(fs, vfAddress, Number(m[1])));
  }
  vfs.sort((a, b) => a.index - b.index);
  return { netdev, address, driver: driverOf(fs, address), iommuGroup: groupOf(fs, pciDevice(address)), totalVfs, numVfs, vfs };
}

/** Every SR-IOV PF with a netdev (a VF's own netdev, which has `physfn`, is listed under its PF). */
export function listPfs(fs: Sysfs): PfInfo[] {
  const out: PfInfo[] = [];
  for (const n of listOr(fs, NET).sort()) {
    const pf = readPf(fs, n);
    if (pf) out.push(pf);
  }
  return out;
}

export class SriovError extends ConfigError {
  constructor(field: string, message: string) {
    super(field, message);
    this.name = 'SriovError';
  }
}

/**
 * Makes `pf` have `n` VFs: nothing if it has them; else 0 first when it has some (the kernel's rule), then n.
 * Returns the values written to sriov_numvfs, in order.
 */
export function setNumVfs(fs: Sysfs, pfName: string, n: number, field = 'params.vfs'): string[] {
  const pf = readPf(fs, pfName);
  if (!pf) throw new SriovError('params.pf', `"${pfName}" is not an SR-IOV physical function (no ${NET}/${pfName}/device/sriov_totalvfs under ${fs.root})`);
  if (!Number.isInteger(n) || n < 0 || n > pf.totalVfs) throw new SriovError(field, `expected an integer in 0..${pf.totalVfs} (sriov_totalvfs of ${pfName}), got ${String(n)}`);
  if (pf.numVfs === n) return [];
  const path = `${pciDevice(pf.address)}/sriov_numvfs`;
  const written: string[] = [];
  const write = (v: number): void => {
    try {
      fs.write(path, String(v));
      written.push(String(v));
    } catch (e) {
      throw new SriovError(field, `writing ${v} to ${path} failed: ${errnoOf(e) ?? (e as Error).message}`);
    }
  };
  if (pf.numVfs !== 0 && n !== 0) write(0);
  write(n);
  return written;
}
