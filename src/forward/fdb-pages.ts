/**
 * `fdb.show` in pages: a table of a million entries is a 70 MB answer, so the control API returns it
 * in pages of at most FDB_PAGE_MAX entries (about 75 bytes each as JSON: under 1 MiB per reply),
 * in MAC order, each with a cursor for the next.
 *
 * A walk reads one snapshot of the table (MacTable.snapshot: typed arrays, sorted once), so the
 * pages fit together: no entry twice, none skipped, as in a database cursor. The cursor is
 * `<snapshot id>/<last MAC>`. The snapshot is only a cache: when it has gone (idle for
 * SNAPSHOT_IDLE_MS, or pushed out by newer walks) the next page is cut from a fresh snapshot
 * after the cursor's MAC, so a slow client still gets every entry that stayed in the table, never
 * an error. At most MAX_SNAPSHOTS walks per switch keep a snapshot (20 bytes per entry with its
 * sort order: 20 MB for a million entries; taking and sorting it costs ~100 ms there).
 *
 * The order is by VLAN (the key's context bits: the filtering id), then MAC. The cursor is
 * `<snapshot id>/<last MAC>` for VLAN 0 and `<snapshot id>/<last MAC>@<VLAN>` otherwise.
 */
import { ConfigError } from '../core/errors.js';
import { macToString, parseMac } from '../packet/ethernet.js';
import type { FdbEntry, FdbPage, FdbPageOptions } from '../switch/manager-api.js';
import type { MacTable, MacTableSnapshot } from './mac-table.js';

export const FDB_PAGE_DEFAULT = 5000;
export const FDB_PAGE_MAX = 10_000;
const SNAPSHOT_IDLE_MS = 30_000;
const MAX_SNAPSHOTS = 4;
/** key bits above the MAC: bit 31 (used) is dropped, the context (VLAN) bits stay */
const CTX_MASK = 0x7fff0000;

interface Sorted {
  snap: MacTableSnapshot;
  /** entry indices in key order */
  order: Uint32Array;
  usedAt: number;
}

/** `<id>/<mac>[@<vlan>]` or a bare MAC, as `after` may be given */
const CURSOR = /^(?:([0-9a-z]{1,12})\/)?((?:[0-9a-f]{2}:){5}[0-9a-f]{2})(?:@(\d{1,4}))?$/i;

/** A cursor's parts, or a ConfigError naming `field`. */
export function parseCursor(s: string, field: string): { id: string | null; hi: number; lo: number } {
  const m = CURSOR.exec(s);
  const b = m ? parseMac(m[2]) : null;
  const vlan = m && m[3] !== undefined ? Number(m[3]) : 0;
  if (!m || !b || vlan > 4095) throw new ConfigError(field, `expected the "next" of a previous page (or a MAC address), got ${JSON.stringify(s).slice(0, 60)}`);
  return { id: m[1] ?? null, hi: (0x80000000 | (vlan << 16) | (b[0] << 8) | b[1]) | 0, lo: ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) | 0 };
}

/** compare two keys (hi, lo): context bits, then the MAC as unsigned */
function cmp(ahi: number, alo: number, bhi: number, blo: number): number {
  const a = (ahi & 0x7fffffff) >>> 0;
  const b = (bhi & 0x7fffffff) >>> 0;
  if (a !== b) return a < b ? -1 : 1;
  const x = alo >>> 0;
  const y = blo >>> 0;
  return x === y ? 0 : x < y ? -1 : 1;
}

/**
 * Entry indices in key order: an LSD radix sort over 16-bit digits (lo low, lo high, MAC bytes 0-1,
 * then the context bits if any entry has some). About 40 ms for a million entries, against ~360 ms
 * for Array.prototype.sort with a comparator.
 */
function sortSnapshot(snap: MacTableSnapshot): Uint32Array {
  const { n, hi, lo } = snap;
  let a = new Uint32Array(n);
  let b = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  const count = new Uint32Array(65537);
  let ctx = false;
  for (let i = 0; i < n && !ctx; i++) if ((hi[i] & CTX_MASK) !== 0) ctx = true;
  for (let pass = 0; pass < (ctx ? 4 : 3); pass++) {
    const digit = (i: number): number =>
      pass === 0 ? lo[i] & 0xffff : pass === 1 ? lo[i] >>> 16 : pass === 2 ? hi[i] & 0xffff : (hi[i] >>> 16) & 0x7fff;
    count.fill(0);
    for (let k = 0; k < n; k++) count[digit(a[k]) + 1]++;
    for (let d = 0; d < 65536; d++) count[d + 1] += count[d];
    for (let k = 0; k < n; k++) {
      const i = a[k];
      b[count[digit(i)]++] = i;
    }
    const t = a; a = b; b = t;
  }
  return a;
}

/** an entry as `fdb show` gives it: `vlan` only when not 0 */
export function fdbEntry(hi: number, lo: number, port: string, ageSeconds: number): FdbEntry {
  const vlan = (hi >>> 16) & 0xfff;
  return vlan !== 0 ? { mac: macToString(hi, lo), vlan, port, ageSeconds } : { mac: macToString(hi, lo), port, ageSeconds };
}

/** The page walks of one switch's table. */
export class FdbPager {
  readonly #table: MacTable;
  readonly #walks = new Map<string, Sorted>();
  #nextId = 1;

  constructor(table: MacTable) {
    this.#table = table;
  }

  /** snapshots held now (tests) */
  get held(): number {
    return this.#walks.size;
  }

  /**
   * One page: `opts.limit` entries after `opts.after` (a previous page's `next`, or a MAC; absent: from
   * the first). `portName` names port indices; `now` (seconds) gives the ages.
   */
  page(opts: FdbPageOptions, portName: (index: number) => string, now: number, nowMs = Date.now()): FdbPage {
    const limit = Math.max(1, Math.min(opts.limit, FDB_PAGE_MAX));
    this.#expire(nowMs);
    let id: string;
    let start = 0;
    let w: Sorted | undefined;
    if (opts.after === undefined) {
      ({ id, w } = this.#take(nowMs));
    } else {
      const c = parseCursor(opts.after, 'after');
      w = c.id !== null ? this.#walks.get(c.id) : undefined;
      if (w) id = c.id!;
      else ({ id, w } = this.#take(nowMs));
      start = upperBound(w, c.hi, c.lo);
    }
    w.usedAt = nowMs;
    const { snap, order } = w;
    const end = Math.min(start + limit, snap.n);
    const entries: FdbEntry[] = [];
    for (let k = start; k < end; k++) {
      const i = order[k];
      entries.push(fdbEntry(snap.hi[i], snap.lo[i], portName(snap.port[i]), Math.max(0, now - snap.lastSeen[i])));
    }
    const last = entries[end - 1 - start];
    const next = end < snap.n ? `${id}/${last.mac}${last.vlan !== undefined ? `@${last.vlan}` : ''}` : null;
    if (next === null) this.#walks.delete(id); // walk done: free its snapshot
    return { entries, next, total: snap.n };
  }

  #take(nowMs: number): { id: string; w: Sorted } {
    const snap = this.#table.snapshot();
    const w: Sorted = { snap, order: sortSnapshot(snap), usedAt: nowMs };
    const id = (this.#nextId++).toString(36);
    this.#walks.set(id, w);
    while (this.#walks.size > MAX_SNAPSHOTS) {
      const oldest = [...this.#walks.entries()].sort((a, b) => a[1].usedAt - b[1].usedAt)[0][0];
      this.#walks.delete(oldest);
    }
    return { id, w };
  }

  #expire(nowMs: number): void {
    for (const [id, w] of this.#walks) if (nowMs - w.usedAt > SNAPSHOT_IDLE_MS) this.#walks.delete(id);
  }
}

/** first position in key order whose key is greater than (hi, lo) */
function upperBound(w: Sorted, hi: number, lo: number): number {
  const { snap, order } = w;
  let a = 0;
  let b = snap.n;
  while (a < b) {
    const m = (a + b) >>> 1;
    const i = order[m];
    if (cmp(snap.hi[i], snap.lo[i], hi, lo) <= 0) a = m + 1;
    else b = m;
  }
  return a;
}
