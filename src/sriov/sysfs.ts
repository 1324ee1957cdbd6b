/**
 * The one interface through which SR-IOV code reads and writes sysfs, and its real implementation over a
 * configurable root (default `/`; `XVS_SYSFS_ROOT` for the daemon). Tests use `fixture.ts`, an in-process fake
 * file system behind this same interface that enforces the kernel's rules (EBUSY on `sriov_numvfs`, bind and
 * unbind, driver_override and drivers_probe), which plain files under a temp dir would not.
 *
 * Paths are absolute sysfs paths (`/sys/bus/pci/devices/0000:03:00.0/sriov_numvfs`); the root is prefixed by
 * the implementation. Errors are Node's errno errors (`err.code === 'EBUSY'`), as `node:fs` throws them.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface Sysfs {
  /** the root the paths are under (`/` on a real host), for messages */
  readonly root: string;
  exists(path: string): boolean;
  /** the file's text (sysfs attributes end in a newline) */
  read(path: string): string;
  /** one write(2) of `value`, as `echo -n value > path` */
  write(path: string, value: string): void;
  /** the raw target of a symlink */
  readlink(path: string): string;
  /** entry names of a directory */
  list(path: string): string[];
}

/** The environment variable that moves the sysfs root (tests, chroots). */
export const SYSFS_ROOT_ENV = 'XVS_SYSFS_ROOT';

export class RealSysfs implements Sysfs {
  constructor(readonly root = '/') {}
  private at(path: string): string {
    return this.root === '/' ? path : join(this.root, path);
  }
  exists(path: string): boolean {
    return existsSync(this.at(path));
  }
  read(path: string): string {
    return readFileSync(this.at(path), 'utf8');
  }
  write(path: string, value: string): void {
    const at = this.at(path);
    // never create: a sysfs attribute that is not there is an error (ENOENT), as the kernel would say
    if (!existsSync(at)) throw Object.assign(new Error(`ENOENT: no such file, ${at}`), { code: 'ENOENT' });
    // sysfs stores act on one write(2): writeFileSync with a short string does one write
    writeFileSync(at, value);
  }
  readlink(path: string): string {
    return readlinkSync(this.at(path));
  }
  list(path: string): string[] {
    return readdirSync(this.at(path));
  }
}

export function sysfsFromEnv(env: NodeJS.ProcessEnv = process.env): Sysfs {
  const root = env[SYSFS_ROOT_ENV];
  return new RealSysfs(root !== undefined && root !== '' ? root : '/');
}

/** The errno code of a thrown error (`EBUSY`), or undefined. */
export function errnoOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

/** The attribute's text without its trailing newline; undefined if it is absent or unreadable. */
export function readAttr(fs: Sysfs, path: string): string | undefined {
  try {
    return fs.read(path).trim();
  } catch {
    return undefined;
  }
}

/** The last component of a symlink's target (a driver name, a PCI address, an IOMMU group number), or undefined. */
export function linkName(fs: Sysfs, path: string): string | undefined {
  try {
    return basename(fs.readlink(path));
  } catch {
    return undefined;
  }
}
