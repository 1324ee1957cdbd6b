/**
 * Handing a VF's IOMMU group to vfio-pci and giving it back (kernel Documentation/driver-api/vfio.rst: every
 * device of the group must be bound to vfio before QEMU may open it). Per device:
 *
 *   bind:    echo vfio-pci > devices/A/driver_override; echo A > devices/A/driver/unbind (if bound);
 *            echo A > drivers_probe; check devices/A/driver → vfio-pci
 *   release: echo A > devices/A/driver/unbind; echo > devices/A/driver_override (clears it);
 *            echo A > drivers/ORIGINAL/bind (else drivers_probe)
 *
 * driver_override (not new_id) binds exactly this device, not every device with the same vendor:device.
 */
import { DRIVERS_PROBE, PCI_DRIVERS, SriovError, driverOf, pciDevice } from './pci.js';
import { errnoOf, type Sysfs } from './sysfs.js';

export const VFIO_DRIVER = 'vfio-pci';

/** A device this code moved to vfio-pci, and the driver it had (null: none) to give it back to. */
export interface VfioBinding {
  address: string;
  originalDriver: string | null;
}

function write(fs: Sysfs, path: string, value: string, field: string): void {
  try {
    fs.write(path, value);
  } catch (e) {
    throw new SriovError(field, `writing "${value.trim()}" to ${path} failed: ${errnoOf(e) ?? (e as Error).message}`);
  }
}

export function bindToVfio(fs: Sysfs, address: string, field: string): VfioBinding {
  const dev = pciDevice(address);
  const originalDriver = driverOf(fs, address);
  write(fs, `${dev}/driver_override`, VFIO_DRIVER, field);
  if (originalDriver !== null) write(fs, `${dev}/driver/unbind`, address, field);
  write(fs, DRIVERS_PROBE, address, field);
  const now = driverOf(fs, address);
  const binding = { address, originalDriver };
  if (now !== VFIO_DRIVER) {
    releaseFromVfio(fs, [binding]);
    throw new SriovError(field, `${address} did not bind to ${VFIO_DRIVER} (driver now ${now ?? 'none'})`);
  }
  return binding;
}

/**
 * Binds every device of `members` that is not on vfio-pci yet; on a failure the ones already moved go back.
 * Returns what was moved (what `releaseFromVfio` gives back later).
 */
export function bindGroupToVfio(fs: Sysfs, members: readonly string[], field: string): VfioBinding[] {
  const done: VfioBinding[] = [];
  try {
    for (const a of members) {
      if (driverOf(fs, a) === VFIO_DRIVER) continue;
      done.push(bindToVfio(fs, a, field));
    }
  } catch (e) {
    releaseFromVfio(fs, done);
    throw e;
  }
  return done;
}

/** Gives devices back to their original drivers, last bound first. Returns what failed (empty: all went back). */
export function releaseFromVfio(fs: Sysfs, bindings: readonly VfioBinding[]): string[] {
  const errors: string[] = [];
  for (const b of [...bindings].reverse()) {
    const dev = pciDevice(b.address);
    try {
      if (driverOf(fs, b.address) !== null) fs.write(`${dev}/driver/unbind`, b.address);
      fs.write(`${dev}/driver_override`, '\n');
      if (b.originalDriver !== null) {
        try {
          fs.write(`${PCI_DRIVERS}/${b.originalDriver}/bind`, b.address);
        } catch {
          fs.write(DRIVERS_PROBE, b.address);
        }
      }
    } catch (e) {
      errors.push(`${b.address}: ${errnoOf(e) ?? (e as Error).message}`);
    }
  }
  return errors;
}
