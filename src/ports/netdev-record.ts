/**
 * What xvs did to netdevs that must outlive the daemon: the TAPs it created (so it deletes those and only
 * those) and, for every port netdev it isolated from the host stack, the settings it changed (so it can give
 * them back when the port goes). One small JSON file next to the configuration, written atomically (temp file,
 * fsync, rename, fsync of the directory), and written BEFORE the change it records: after a `kill -9` at any
 * point the file names everything xvs may have left behind, and the next start cleans it (`reconcile`).
 *
 *   { "version": 1, "ownedTaps": ["vm1"], "isolated": { "veth3": { "disableIpv6": "0", "addresses": [...], ... } },
 *     "offloads": { "veth4": ["tso", "gso", "gro", "tx"] } }
 *
 * `offloads`: the `ethtool -K` features xvs turned off on a libpcap port's netdev (ports/offloads.ts).
 *
 * Without a path (a DataPathManager in a test) the record lives in memory only.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface SavedAddress {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  broadcast?: string;
}

export interface SavedRoute {
  family: '-4' | '-6';
  dst: string;
  gateway?: string;
  metric?: number;
}

/** A port netdev's settings before xvs isolated it (ports/isolation.ts). */
export interface SavedNetdev {
  /** `net.ipv6.conf.<dev>.disable_ipv6` before ("0" or "1"); absent where the kernel has no IPv6 for it */
  disableIpv6?: string;
  /** addresses xvs removed (IPv4, and IPv6 that is neither link-local nor autoconfigured) */
  addresses: SavedAddress[];
  /** static routes through the netdev, which go with its addresses */
  routes: SavedRoute[];
  /** xvs added the clsact qdisc (and removes it); false: it only added its filter to a qdisc that was there */
  qdiscCreated: boolean;
  /** HNV: the MTU before xvs gave the netdev its VSID's overlay MTU (switch/hnv.ts); put back when the VSID or port goes */
  mtuBeforeHnv?: number;
}

interface RecordDoc {
  version: 1;
  ownedTaps: string[];
  isolated: Record<string, SavedNetdev>;
  /** optional: absent in records written before libpcap ports */
  offloads?: Record<string, string[]>;
}

/** The record that belongs to a configuration file: `/var/lib/xvs/config.json` → `/var/lib/xvs/config.netdevs.json`. */
export function netdevRecordPath(configPath: string): string {
  const base = basename(configPath).replace(/\.json$/, '');
  return join(dirname(configPath), `${base}.netdevs.json`);
}

function writeAtomic(path: string, text: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw e;
  }
  const dfd = openSync(dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

export class NetdevRecord {
  readonly path: string | null;
  private doc: RecordDoc = { version: 1, ownedTaps: [], isolated: {} };

  /** Loads `path` if it exists; a file that cannot be read is kept aside (`.corrupt`) and reported through `log`. */
  constructor(path: string | null, log: (m: string) => void = () => {}) {
    this.path = path;
    if (path === null) return;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      const raw = JSON.parse(text) as Partial<RecordDoc>;
      if (raw.version !== 1 || !Array.isArray(raw.ownedTaps) || typeof raw.isolated !== 'object' || raw.isolated === null) {
        throw new Error('not a version 1 netdev record');
      }
      this.doc = { version: 1, ownedTaps: raw.ownedTaps.filter((x): x is string => typeof x === 'string'), isolated: raw.isolated };
      if (typeof raw.offloads === 'object' && raw.offloads !== null) this.doc.offloads = raw.offloads;
    } catch (e) {
      renameSync(path, `${path}.corrupt`);
      log(`${path}: ${(e as Error).message}; kept as ${path}.corrupt, starting with an empty record`);
    }
  }

  /**
   * Remove temp files of a write that a kill interrupted. Called at start once this daemon is the only one on
   * its configuration (a daemon that is about to be refused must not delete a running one's temp file).
   */
  removeStaleTemp(): string[] {
    if (this.path === null) return [];
    const dir = dirname(this.path);
    const prefix = `.${basename(this.path)}.`;
    const out: string[] = [];
    try {
      for (const f of readdirSync(dir)) {
        if (!f.startsWith(prefix) || !f.endsWith('.tmp')) continue;
        unlinkSync(join(dir, f));
        out.push(f);
      }
    } catch { /* no directory yet */ }
    return out;
  }

  private persist(): void {
    if (this.path !== null) writeAtomic(this.path, `${JSON.stringify(this.doc, null, 2)}\n`);
  }

  ownsTap(name: string): boolean {
    return this.doc.ownedTaps.includes(name);
  }

  /** Record that xvs creates TAP `name`: call BEFORE creating it (the record is on disk when this returns). */
  recordTap(name: string): void {
    if (this.ownsTap(name)) return;
    this.doc.ownedTaps.push(name);
    this.persist();
  }

  forgetTap(name: string): void {
    if (!this.ownsTap(name)) return;
    this.doc.ownedTaps = this.doc.ownedTaps.filter((n) => n !== name);
    this.persist();
  }

  get ownedTaps(): readonly string[] {
    return [...this.doc.ownedTaps];
  }

  saved(dev: string): SavedNetdev | undefined {
    return Object.hasOwn(this.doc.isolated, dev) ? this.doc.isolated[dev] : undefined;
  }

  /** Record the settings of `dev` before xvs changes them (on disk when this returns). */
  saveSettings(dev: string, s: SavedNetdev): void {
    this.doc.isolated[dev] = s;
    this.persist();
  }

  forgetSettings(dev: string): void {
    if (!Object.hasOwn(this.doc.isolated, dev)) return;
    delete this.doc.isolated[dev];
    this.persist();
  }

  /** the offloads xvs turned off on `dev` for a libpcap port, or undefined if it turned none off there */
  offloadsOf(dev: string): readonly string[] | undefined {
    const o = this.doc.offloads;
    return o && Object.hasOwn(o, dev) ? [...o[dev]] : undefined;
  }

  /** record (on disk when this returns) the offloads xvs is about to turn off on `dev` */
  saveOffloads(dev: string, keys: readonly string[]): void {
    this.doc.offloads = { ...this.doc.offloads, [dev]: [...keys] };
    this.persist();
  }

  forgetOffloads(dev: string): void {
    if (!this.doc.offloads || !Object.hasOwn(this.doc.offloads, dev)) return;
    delete this.doc.offloads[dev];
    if (Object.keys(this.doc.offloads).length === 0) delete this.doc.offloads;
    this.persist();
  }

  /** netdevs with offloads xvs turned off */
  get offloaded(): readonly string[] {
    return Object.keys(this.doc.offloads ?? {});
  }

  get isolated(): readonly string[] {
    return Object.keys(this.doc.isolated);
  }
}
