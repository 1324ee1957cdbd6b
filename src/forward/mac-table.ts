/**
 * MacTable: the switch's forwarding table, an open-addressing hash table (linear probing) in a
 * SharedArrayBuffer, so every data-path worker of a switch and the control plane see one table.
 *
 * Key: (hi, lo) = 0x80000000 | ctx << 16 | MAC bytes 0–1, MAC bytes 2–5. `ctx` (12 bits) is the
 * frame's VLAN filtering id (forward/fdb.ts, policy/vlan: the VLAN, a private VLAN's secondaries →
 * their primary; 0 on a VLAN-transparent switch); bit 31 marks a used entry.
 * Value: port index and the last time (seconds) traffic from the MAC was seen.
 *
 * Concurrency: lookups take no lock. Inserts, moves and deletions (aging, port removal) take a
 * spin lock (Atomics.compareExchange). Inserts never move entries, so a lock-free reader sees an
 * entry or not; deletions shift entries, so they bump a sequence number before and after (odd
 * while deleting) and a reader whose lookups raced with one redoes them (`seq()` before and
 * after). Refreshing an entry's timestamp is a single store, no lock.
 * Deletion uses backward-shift, so there are no tombstones and probe chains stay short.
 *
 * Per-port limits (issue 9): after the header come, for each port index, the number of entries
 * learned on it and its limit. They change only under the lock, with the entry they account for,
 * so every worker sees one count per port. A new MAC is refused (`portLimit`) when its port holds
 * its limit; a MAC moving onto such a port is forgotten (its entry's port becomes -1: lookups
 * miss and frames to it flood instead of going to the port it left; it ages out unless learned
 * again; `fdb show` leaves it out) and refused. Both checks are read once without the lock first,
 * so a flood at the limit costs a probe and two loads per new MAC, not a lock. Every RECOUNT_EVERY-th aging pass recounts the table and every port from the
 * entries (under the lock), so a count left wrong by a worker killed between an insert and its
 * count is right again within a minute; not every pass, since a recount of a million entries costs
 * as much again as the aging scan itself (~20 ms against ~20 ms).
 */
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';

const H_LOCK = 0;
const H_SEQ = 1;
const H_COUNT = 2;
const H_LIMIT = 3;
/** ports with a count and a limit (indices 0 .. PORTS-1) */
const PORTS = MAX_PORTS_PER_SWITCH;
const P_COUNT = 16;
const P_LIMIT = P_COUNT + PORTS;
const HEADER = P_LIMIT + PORTS;
const E = 4; // ints per entry: hi, lo, port, lastSeen
/** aging passes (one a second) between two recounts */
const RECOUNT_EVERY = 60;
/** a port's limit until one is set: none */
export const NO_PORT_LIMIT = 0x7fffffff;

export interface MacTableEntry { hi: number; lo: number; port: number; lastSeen: number }

/** limit: the table is full; portLimit: the port holds its per-port limit (a move onto it removed the entry) */
export const enum LearnResult { refreshed = 0, learned = 1, moved = 2, limit = 3, portLimit = 4 }

/** A copy of the table's entries in typed arrays (control plane: `fdb show` pages over it). */
export interface MacTableSnapshot { n: number; hi: Int32Array; lo: Int32Array; port: Int32Array; lastSeen: Int32Array }

function pow2AtLeast(n: number): number {
  let c = 64;
  while (c < n) c *= 2;
  return c;
}

export class MacTable {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly mask: number;
  private readonly t: Int32Array;
  /** scratch for recount (control plane / housekeeping only) */
  private readonly counts = new Int32Array(PORTS);
  private agePasses = 0;

  /** New table for `limit` entries, or a view on an existing buffer (another thread's table). */
  constructor(limitOrBuffer: number | SharedArrayBuffer) {
    if (typeof limitOrBuffer === 'number') {
      this.capacity = pow2AtLeast(limitOrBuffer * 2);
      this.buffer = new SharedArrayBuffer((HEADER + this.capacity * E) * 4);
      this.t = new Int32Array(this.buffer);
      this.t[H_LIMIT] = limitOrBuffer;
      this.t.fill(NO_PORT_LIMIT, P_LIMIT, P_LIMIT + PORTS);
    } else {
      this.buffer = limitOrBuffer;
      this.t = new Int32Array(this.buffer);
      this.capacity = (this.t.length - HEADER) / E;
    }
    this.mask = this.capacity - 1;
  }

  get count(): number { return Atomics.load(this.t, H_COUNT); }
  get limit(): number { return this.t[H_LIMIT]; }
  /** Change the limit; never above what the capacity allows with a sane load factor. */
  setLimit(limit: number): void { this.t[H_LIMIT] = Math.min(limit, this.capacity >>> 1); }
  seq(): number { return Atomics.load(this.t, H_SEQ); }
  /** entries learned on port p */
  portCount(p: number): number { return validPort(p) ? Atomics.load(this.t, P_COUNT + p) : 0; }
  /** most entries port p may hold (NO_PORT_LIMIT: none) */
  portLimit(p: number): number { return validPort(p) ? this.t[P_LIMIT + p] : NO_PORT_LIMIT; }
  /**
   * Set port p's limit (when the port is attached or reconfigured). Entries above a lowered limit
   * stay and age out; no new MAC is learned on the port until it is below its limit again.
   */
  setPortLimit(p: number, limit: number): void {
    if (!validPort(p)) throw new RangeError(`port index ${p} is not in 0..${PORTS - 1}`);
    Atomics.store(this.t, P_LIMIT + p, Math.max(0, Math.min(limit, NO_PORT_LIMIT)));
  }

  private slot(hi: number, lo: number): number {
    let h = Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi, 0x85ebca77);
    h ^= h >>> 15;
    return h & this.mask;
  }

  /** Port index for the MAC, or -1. No lock; see the class comment for the race rule. */
  lookup(hi: number, lo: number): number {
    const t = this.t;
    let s = this.slot(hi, lo);
    for (;;) {
      const b = HEADER + s * E;
      const k = t[b];
      if (k === 0) return -1;
      if (k === hi && t[b + 1] === lo) return t[b + 2];
      s = (s + 1) & this.mask;
    }
  }

  /**
   * Record that the MAC was seen on `port` at `now`. Fast path: the entry exists on the same port:
   * one timestamp store. Otherwise take the lock and learn or move, unless the table is full.
   */
  learn(hi: number, lo: number, port: number, now: number): LearnResult {
    const t = this.t;
    let s = this.slot(hi, lo);
    for (;;) {
      const b = HEADER + s * E;
      const k = t[b];
      if (k === 0) {
        // a new MAC: refuse it without the lock when a limit is reached (learnLocked checks again)
        if (t[H_COUNT] >= t[H_LIMIT]) return LearnResult.limit;
        if (validPort(port) && t[P_COUNT + port] >= t[P_LIMIT + port]) return LearnResult.portLimit;
        break;
      }
      if (k === hi && t[b + 1] === lo) {
        const p = t[b + 2];
        if (p === port) {
          if (t[b + 3] !== now) t[b + 3] = now;
          return LearnResult.refreshed;
        }
        // forgotten (see the class comment) and its port still full: nothing to do, no lock
        if (p < 0 && validPort(port) && t[P_COUNT + port] >= t[P_LIMIT + port]) return LearnResult.portLimit;
        break;
      }
      s = (s + 1) & this.mask;
    }
    return this.learnLocked(hi, lo, port, now);
  }

  private lock(): void {
    const t = this.t;
    while (Atomics.compareExchange(t, H_LOCK, 0, 1) !== 0) { /* held for a few hundred ns at most */ }
  }

  private unlock(): void {
    Atomics.store(this.t, H_LOCK, 0);
  }

  private learnLocked(hi: number, lo: number, port: number, now: number): LearnResult {
    const t = this.t;
    this.lock();
    try {
      let s = this.slot(hi, lo);
      for (;;) {
        const b = HEADER + s * E;
        const k = t[b];
        if (k === 0) {
          if (t[H_COUNT] >= t[H_LIMIT]) return LearnResult.limit;
          const full = validPort(port) && t[P_COUNT + port] >= t[P_LIMIT + port];
          if (full) return LearnResult.portLimit;
          t[b + 1] = lo;
          t[b + 2] = port;
          t[b + 3] = now;
          Atomics.store(t, b, hi);
          Atomics.add(t, H_COUNT, 1);
          if (validPort(port)) Atomics.add(t, P_COUNT + port, 1);
          return LearnResult.learned;
        }
        if (k === hi && t[b + 1] === lo) {
          const old = t[b + 2];
          if (old === port) {
            t[b + 3] = now;
            return LearnResult.refreshed;
          }
          if (validPort(port) && t[P_COUNT + port] >= t[P_LIMIT + port]) {
            // the MAC left `old` for a port at its limit: forget where it is (port -1: lookups miss,
            // its frames flood) rather than keep sending them to `old`. One store, no entry shifted,
            // so no sequence bump (a worker killed here leaves no odd sequence behind); not
            // refreshed, the entry ages out, unless the MAC is learned again first.
            if (old >= 0) {
              Atomics.store(t, b + 2, -1);
              if (validPort(old)) Atomics.sub(t, P_COUNT + old, 1);
            }
            return LearnResult.portLimit;
          }
          t[b + 2] = port;
          t[b + 3] = now;
          if (validPort(old)) Atomics.sub(t, P_COUNT + old, 1);
          if (validPort(port)) Atomics.add(t, P_COUNT + port, 1);
          return old < 0 ? LearnResult.learned : LearnResult.moved;
        }
        s = (s + 1) & this.mask;
      }
    } finally {
      this.unlock();
    }
  }

  /** Delete entries matching `pred` (backward-shift deletion). Returns how many were removed. */
  private deleteWhere(pred: (port: number, lastSeen: number) => boolean, recount = false): number {
    const t = this.t;
    let removed = 0;
    this.lock();
    Atomics.add(t, H_SEQ, 1);
    try {
      let i = 0;
      while (i < this.capacity) {
        const b = HEADER + i * E;
        if (t[b] !== 0 && pred(t[b + 2], t[b + 3])) {
          const p = t[b + 2];
          this.removeAt(i);
          removed++;
          if (validPort(p)) Atomics.sub(t, P_COUNT + p, 1);
          continue; // slot i now holds a shifted entry (or is empty): look again
        }
        i++;
      }
      Atomics.sub(t, H_COUNT, removed);
      if (recount) this.recount();
    } finally {
      Atomics.add(t, H_SEQ, 1);
      this.unlock();
    }
    return removed;
  }

  /** H_COUNT and every port's count from the entries themselves (under the lock; see RECOUNT_EVERY) */
  private recount(): void {
    const t = this.t;
    const counts = this.counts;
    counts.fill(0);
    let total = 0;
    for (let i = 0; i < this.capacity; i++) {
      const b = HEADER + i * E;
      if (t[b] === 0) continue;
      total++;
      const p = t[b + 2];
      if (validPort(p)) counts[p]++;
    }
    for (let p = 0; p < PORTS; p++) Atomics.store(t, P_COUNT + p, counts[p]);
    Atomics.store(t, H_COUNT, total);
  }

  private removeAt(i: number): void {
    const t = this.t;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const bj = HEADER + j * E;
      if (t[bj] === 0) break;
      const home = this.slot(t[bj], t[bj + 1]);
      // move entry j into the hole unless its home lies cyclically in (hole, j]
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        const bh = HEADER + hole * E;
        t[bh] = t[bj]; t[bh + 1] = t[bj + 1]; t[bh + 2] = t[bj + 2]; t[bh + 3] = t[bj + 3];
        hole = j;
      }
    }
    t[HEADER + hole * E] = 0;
  }

  /** Remove entries not refreshed for `agingSeconds`. */
  age(now: number, agingSeconds: number): number {
    return this.deleteWhere((_p, seen) => now - seen >= agingSeconds, ++this.agePasses % RECOUNT_EVERY === 0);
  }

  /** Remove every entry of a port (port removed or re-used). */
  flushPort(port: number): number {
    return this.deleteWhere((p) => p === port);
  }

  /**
   * Copy of all entries in typed arrays (control plane; retried if an aging pass or flush shifted
   * entries meanwhile). 16 bytes per entry, no object per entry: fit for a million.
   */
  snapshot(): MacTableSnapshot {
    const t = this.t;
    for (;;) {
      const s0 = this.seq();
      const max = Math.min(this.capacity, Math.max(this.count, 0) + 1024);
      let hi: Int32Array = new Int32Array(max);
      let lo: Int32Array = new Int32Array(max);
      let port: Int32Array = new Int32Array(max);
      let lastSeen: Int32Array = new Int32Array(max);
      let n = 0;
      for (let i = 0; i < this.capacity; i++) {
        const b = HEADER + i * E;
        const k = t[b];
        if (k === 0 || t[b + 2] < 0) continue;
        if (n === hi.length) { // inserts raced with the copy: grow
          const grow = (a: Int32Array): Int32Array => { const x = new Int32Array(Math.min(this.capacity, a.length * 2)); x.set(a); return x; };
          hi = grow(hi); lo = grow(lo); port = grow(port); lastSeen = grow(lastSeen);
        }
        hi[n] = k; lo[n] = t[b + 1]; port[n] = t[b + 2]; lastSeen[n] = t[b + 3];
        n++;
      }
      if ((s0 & 1) === 0 && this.seq() === s0) return { n, hi, lo, port, lastSeen };
    }
  }

  /** Snapshot of all entries (control plane; retried if a writer changed the table meanwhile). */
  entries(): MacTableEntry[] {
    for (;;) {
      const s0 = this.seq();
      const out: MacTableEntry[] = [];
      const t = this.t;
      for (let i = 0; i < this.capacity; i++) {
        const b = HEADER + i * E;
        if (t[b] !== 0 && t[b + 2] >= 0) out.push({ hi: t[b], lo: t[b + 1], port: t[b + 2], lastSeen: t[b + 3] });
      }
      if ((s0 & 1) === 0 && this.seq() === s0) return out;
    }
  }
}

function validPort(p: number): boolean {
  return (p >>> 0) < PORTS && p === (p | 0);
}

/** Key words for a MAC at bytes[off..off+6) in context `ctx` (the VLAN filtering id, 0..4095). */
export function macKeyHi(bytes: Uint8Array, off: number, ctx: number): number {
  return (0x80000000 | ((ctx & 0xfff) << 16) | (bytes[off] << 8) | bytes[off + 1]) | 0;
}
