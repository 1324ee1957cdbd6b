/**
 * MacTable: the switch's forwarding table, an open-addressing hash table (linear probing) in a
 * SharedArrayBuffer, so every data-path worker of a switch and the control plane see one table.
 *
 * Key: (hi, lo) = 0x80000000 | ctx << 16 | MAC bytes 0–1, MAC bytes 2–5. `ctx` is reserved for the
 * VLAN (12 bits) so later issues keep tenants/VLANs apart by key; bit 31 marks a used entry.
 * Value: port index and the last time (seconds) traffic from the MAC was seen.
 *
 * Concurrency: lookups take no lock. Inserts, moves and deletions (aging, port removal) take a
 * spin lock (Atomics.compareExchange). Inserts never move entries, so a lock-free reader sees an
 * entry or not; deletions shift entries, so they bump a sequence number before and after (odd
 * while deleting) and a reader whose lookups raced with one redoes them (`seq()` before and
 * after). Refreshing an entry's timestamp is a single store, no lock.
 * Deletion uses backward-shift, so there are no tombstones and probe chains stay short.
 */
const H_LOCK = 0;
const H_SEQ = 1;
const H_COUNT = 2;
const H_LIMIT = 3;
const HEADER = 16;
const E = 4; // ints per entry: hi, lo, port, lastSeen

export interface MacTableEntry { hi: number; lo: number; port: number; lastSeen: number }

export const enum LearnResult { refreshed = 0, learned = 1, moved = 2, limit = 3 }

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

  /** New table for `limit` entries, or a view on an existing buffer (another thread's table). */
  constructor(limitOrBuffer: number | SharedArrayBuffer) {
    if (typeof limitOrBuffer === 'number') {
      this.capacity = pow2AtLeast(limitOrBuffer * 2);
      this.buffer = new SharedArrayBuffer((HEADER + this.capacity * E) * 4);
      this.t = new Int32Array(this.buffer);
      this.t[H_LIMIT] = limitOrBuffer;
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
      if (k === 0) break;
      if (k === hi && t[b + 1] === lo) {
        if (t[b + 2] === port) {
          if (t[b + 3] !== now) t[b + 3] = now;
          return LearnResult.refreshed;
        }
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
          t[b + 1] = lo;
          t[b + 2] = port;
          t[b + 3] = now;
          Atomics.store(t, b, hi);
          Atomics.add(t, H_COUNT, 1);
          return LearnResult.learned;
        }
        if (k === hi && t[b + 1] === lo) {
          const moved = t[b + 2] !== port;
          t[b + 2] = port;
          t[b + 3] = now;
          return moved ? LearnResult.moved : LearnResult.refreshed;
        }
        s = (s + 1) & this.mask;
      }
    } finally {
      this.unlock();
    }
  }

  /** Delete entries matching `pred` (backward-shift deletion). Returns how many were removed. */
  private deleteWhere(pred: (port: number, lastSeen: number) => boolean): number {
    const t = this.t;
    let removed = 0;
    this.lock();
    Atomics.add(t, H_SEQ, 1);
    try {
      let i = 0;
      while (i < this.capacity) {
        const b = HEADER + i * E;
        if (t[b] !== 0 && pred(t[b + 2], t[b + 3])) {
          this.removeAt(i);
          removed++;
          continue; // slot i now holds a shifted entry (or is empty): look again
        }
        i++;
      }
      Atomics.sub(t, H_COUNT, removed);
    } finally {
      Atomics.add(t, H_SEQ, 1);
      this.unlock();
    }
    return removed;
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
    return this.deleteWhere((_p, seen) => now - seen >= agingSeconds);
  }

  /** Remove every entry of a port (port removed or re-used). */
  flushPort(port: number): number {
    return this.deleteWhere((p) => p === port);
  }

  /** Snapshot of all entries (control plane; retried if a writer changed the table meanwhile). */
  entries(): MacTableEntry[] {
    for (;;) {
      const s0 = this.seq();
      const out: MacTableEntry[] = [];
      const t = this.t;
      for (let i = 0; i < this.capacity; i++) {
        const b = HEADER + i * E;
        if (t[b] !== 0) out.push({ hi: t[b], lo: t[b + 1], port: t[b + 2], lastSeen: t[b + 3] });
      }
      if ((s0 & 1) === 0 && this.seq() === s0) return out;
    }
  }
}

/** Key words for a MAC at bytes[off..off+6) in context `ctx` (VLAN; 0 for now). */
export function macKeyHi(bytes: Uint8Array, off: number, ctx: number): number {
  return (0x80000000 | (ctx << 16) | (bytes[off] << 8) | bytes[off + 1]) | 0;
}
