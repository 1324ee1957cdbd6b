/**
 * The config file: load (validated, with defaults) and save (validated, atomically).
 *
 * Save follows ARCHITECTURE §7.7: write a temporary file in the same directory, fsync it, rename it over the
 * target, then fsync the directory, so after a crash the file is either the old or the new version, never a mix.
 * Validation runs first: a config that does not validate never reaches the disk.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
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

/** Validates `cfg` and replaces the file at `path` atomically. Creates the directory (mode 0700) if needed. */
export function saveConfig(path: string, cfg: XvsConfig): void {
  const valid = validateConfig(cfg);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    const buf = Buffer.from(serializeConfig(valid), 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
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
