/**
 * The config file: load (validated, with defaults) and save (validated, atomically).
 *
 * Save follows ARCHITECTURE §7.7: write a temporary file in the same directory, fsync it, rename it over the
 * target, then fsync the directory, so after a crash the file is either the old or the new version, never a mix.
 * Validation runs first: a config that does not validate never reaches the disk.
 *
 * A config path that is a symbolic link is written through the link: the temporary file is written next to the
 * link's final target and renamed onto it, so the link stays a link (an operator who keeps the file elsewhere,
 * e.g. in a managed /etc directory, keeps it there). A temporary file left by a crash during a save
 * (`.<name>.<pid>.<hex>.tmp`) is removed by `removeStaleTemps` at the next start, under the daemon's lock.
 */
import {
  closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync,
  unlinkSync, writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { validateConfig } from './schema.js';
import type { XvsConfig } from './types.js';

export const DEFAULT_CONFIG_PATH = '/var/lib/xvs/config.json';

export function emptyConfig(): XvsConfig {
  return { version: 1, switches: [] };
}

/** A ConfigError whose message names the file too: `/var/lib/xvs/config.json: switches[0].type: …`. */
function inFile(file: string, field: string, message: string): ConfigError {
  const err = new ConfigError(field, message);
  err.message = `${file}: ${err.message}`;
  return err;
}

/** Loads and validates the config file (shape and claims only; the system check is the daemon's job). */
export function loadConfig(path: string = DEFAULT_CONFIG_PATH): XvsConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyConfig();
    throw e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw inFile(path, '', `malformed JSON: ${(e as Error).message}`);
  }
  try {
    return validateConfig(data);
  } catch (e) {
    if (e instanceof ConfigError) throw inFile(path, e.field, e.message.slice(e.field ? e.field.length + 2 : 0));
    throw e;
  }
}

/** The bytes `saveConfig` writes for `cfg` (exported so tests can compare). */
export function serializeConfig(cfg: XvsConfig): string {
  return `${JSON.stringify(cfg, null, 2)}\n`;
}

/**
 * The file a save replaces: `path`, or if it is a symbolic link (a chain of them) the file it finally points
 * to, which need not exist yet. Absolute.
 */
export function configTarget(path: string): string {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let isLink: boolean;
    try {
      isLink = lstatSync(p).isSymbolicLink();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return p;
      throw e;
    }
    if (!isLink) return p;
    p = resolve(dirname(p), readlinkSync(p));
  }
  throw new ConfigError('config', `${path}: too many levels of symbolic links`);
}

/** `path` with every symbolic link in it resolved (dangling ones too: the file itself need not exist). */
export function canonicalPath(path: string, hops = 0): string {
  const p = resolve(path);
  try {
    return realpathSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (hops > 40) throw new ConfigError('config', `${path}: too many levels of symbolic links`);
  let link: string | null = null;
  try {
    if (lstatSync(p).isSymbolicLink()) link = readlinkSync(p);
  } catch {
    // does not exist: resolve its directory
  }
  if (link !== null) return canonicalPath(resolve(dirname(p), link), hops + 1);
  const dir = dirname(p);
  return dir === p ? p : join(canonicalPath(dir, hops + 1), basename(p));
}

/** The temporary files `saveConfig` writes for the file `target`: `.config.json.<pid>.<8 hex>.tmp`. */
function tempPattern(target: string): RegExp {
  const name = basename(target).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${name}\\.\\d+\\.[0-9a-f]{8}\\.tmp$`);
}

/**
 * Removes the temporary files a save interrupted by a crash left next to the config file (only names of
 * `saveConfig`'s own pattern for this file). Call it only while holding the daemon's lock on the config
 * (`control/instance-lock.ts`): then no save is running. Returns the paths removed.
 */
export function removeStaleTemps(path: string): string[] {
  const target = configTarget(path);
  const dir = dirname(target);
  const re = tempPattern(target);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const removed: string[] = [];
  for (const n of names) {
    if (!re.test(n)) continue;
    const f = join(dir, n);
    try {
      if (!lstatSync(f).isFile()) continue;
      unlinkSync(f);
      removed.push(f);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

/**
 * Validates `cfg` and replaces the file at `path` atomically (through a symbolic link: its target is replaced).
 * Creates the directory (mode 0700) if needed.
 */
export function saveConfig(path: string, cfg: XvsConfig): void {
  const valid = validateConfig(cfg);
  const target = configTarget(path);
  const dir = dirname(target);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    const buf = Buffer.from(serializeConfig(valid), 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, target);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw e;
  }
  // The rename is durable only once the directory entry is.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
