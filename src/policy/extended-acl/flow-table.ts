/**
 * FlowTable: the flow states of the stateful extended ACL rules of one switch, an open-addressing
 * hash table (linear probing) in a SharedArrayBuffer that every data-path worker of the switch
 * uses at once (a reply may arrive on a port another worker receives). Modelled on
 * forward/mac-table.ts:
 *
 * - Lookups take no lock. Inserts take a spin lock (Atomics.compareExchange) and never move an
 *   entry: the key words are written first and the entry's first word (its "used" mark) last, with
 *   Atomics.store, so a lock-free reader sees a whole entry or none.
 * - Deletions (the expiry sweep, a port removed) take the lock and shift entries back (backward-shift
 *   deletion: no tombstones, probe chains stay short). Each removal bumps a sequence number before
 *   and after (odd while entries shift); a lookup that raced with one (sequence odd, or changed) is
 *   redone, so a live flow is never missed because a neighbour expired. A sweep holds the lock for
 *   its scan (inserts wait) but lookups only wait for single removals.
 * - Refreshing an entry's last-seen time is one store, no lock (redone with the lookup on a race).
 *
 * Why not a seqlock per entry: entries never change in place except their time, so per-entry
 * versions would only guard the rare shift that a table-wide sequence already guards, at the cost
 * of two more loads per probe.
 *
 * Expiry is lazy and swept: a lookup treats an entry idle for more than its timeout as absent (so no
 * state outlives its timeout whatever the sweep's timing), and the switch's first worker sweeps
 * expired entries out once a second (housekeeping), taking the lock only when it found one. Times
 * are whole seconds (the breath's clock): a state idle for T + 1 seconds is gone, one idle for T is
 * not, so a flow lives between T and T + 1 seconds without traffic.
 *
 * A refresh racing with a shift may store its time into the neighbour that moved into the slot: that
 * neighbour lives at most one timeout longer; the refreshed flow is found again by the retry.
 *
 * Entry (E = 12 int32): key words 0..9, last seen (seconds), idle timeout (seconds). The key
 * (flowKey in index.ts) is [used | port << 16 | family << 8 | protocol, ports, address A (4 words),
 * address B (4 words)] with A/B ordered so both directions of a flow give the same key; word 0 is
 * never 0 for a used entry (bit 31).
 */
const H_LOCK = 0;
const H_SEQ = 1;
const H_COUNT = 2;
const H_LIMIT = 3;
const H_CAPACITY = 4;
const HEADER = 16;
/** int32 words of a key */
export const KEY_WORDS = 10;
const E = 12;
const SEEN = 10;
const TIMEOUT = 11;

export const enum InsertResult { created = 0, refreshed = 1, full = 2 }

function pow2AtLeast(n: number): number {
  let c = 64;
  while (c < n) c *= 2;
  return c;
}

/** slots for `limit` entries: a load factor of at most 1/2 */
export function flowTableCapacity(limit: number): number {
  return pow2AtLeast(limit * 2);
}

/** bytes of a table for `limit` entries */
export function flowTableBytes(limit: number): number {
  return (HEADER + flowTableCapacity(limit) * E) * 4;
}

/** a new, empty table's buffer for `limit` entries (the switch makes one; every worker wraps it) */
export function createFlowTableBuffer(limit: number): SharedArrayBuffer {
  const buf = new SharedArrayBuffer(flowTableBytes(limit));
  const t = new Int32Array(buf);
  t[H_LIMIT] = limit;
  t[H_CAPACITY] = flowTableCapacity(limit);
  return buf;
}

/**
 * Hash of the key words a[o .. o+10): independent multiplies (no chain through the ten words, so
 * they overlap in the CPU) summed, then murmur3's finaliser.
 */
function hashKey(a: Int32Array, o: number): number {
  let h = (Math.imul(a[o], 0x9e3779b1) + Math.imul(a[o + 1], 0x85ebca77) + Math.imul(a[o + 2], 0xc2b2ae3d) +
    Math.imul(a[o + 3], 0x27d4eb2f) + Math.imul(a[o + 4], 0x165667b1) + Math.imul(a[o + 5], 0xd3a2646c | 1) +
    Math.imul(a[o + 6], 0xfd7046c5) + Math.imul(a[o + 7], 0xb55a4f09) + Math.imul(a[o + 8], 0x7feb352d) +
    Math.imul(a[o + 9], 0x846ca68b)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export interface FlowEntry { key: number[]; lastSeen: number; timeout: number }

export class FlowTable {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly mask: number;
  private readonly t: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.t = new Int32Array(buffer);
    this.capacity = this.t[H_CAPACITY];
    if (this.capacity < 64 || (this.capacity & (this.capacity - 1)) !== 0 || HEADER + this.capacity * E > this.t.length) {
      throw new Error(`not a flow table buffer (${buffer.byteLength} bytes, capacity ${this.capacity})`);
    }
    this.mask = this.capacity - 1;
  }

  get count(): number { return Atomics.load(this.t, H_COUNT); }
  get limit(): number { return this.t[H_LIMIT]; }
  /** most entries (never above half the slots); tests lower it to fill the table */
  setLimit(limit: number): void { Atomics.store(this.t, H_LIMIT, Math.max(0, Math.min(limit, this.capacity >>> 1))); }
  seq(): number { return Atomics.load(this.t, H_SEQ); }

  private slot(k: Int32Array): number {
    return hashKey(k, 0) & this.mask;
  }

  private slotAt(b: number): number {
    return hashKey(this.t, b) & this.mask;
  }

  /** base index of the entry with key k, or -1 (no lock: the caller checks the sequence) */
  private find(k: Int32Array): number {
    const t = this.t;
    let s = this.slot(k);
    for (let n = 0; n < this.capacity; n++) {
      const b = HEADER + s * E;
      const w0 = Atomics.load(t, b);
      if (w0 === 0) return -1;
      if (w0 === k[0] && t[b + 1] === k[1] && t[b + 2] === k[2] && t[b + 3] === k[3] && t[b + 4] === k[4] && t[b + 5] === k[5] &&
        t[b + 6] === k[6] && t[b + 7] === k[7] && t[b + 8] === k[8] && t[b + 9] === k[9]) return b;
      s = (s + 1) & this.mask;
    }
    return -1;
  }

  /**
   * Is there a live state for key k at `now`? If so it is refreshed (traffic in either direction
   * keeps a flow alive). No lock; redone if a deletion shifted entries meanwhile.
   */
  touch(k: Int32Array, now: number): boolean {
    const t = this.t;
    for (;;) {
      const s0 = Atomics.load(t, H_SEQ);
      if ((s0 & 1) !== 0) continue; // a deletion is shifting entries: wait for it
      const b = this.find(k);
      let live = false;
      if (b >= 0) {
        live = now - t[b + SEEN] <= t[b + TIMEOUT];
        if (live && t[b + SEEN] !== now) t[b + SEEN] = now;
      }
      if (Atomics.load(t, H_SEQ) === s0) return live;
    }
  }

  /**
   * Create (or re-arm) the state for key k, idle timeout `timeout` seconds. `full`: the table holds
   * its limit of entries; nothing was stored.
   */
  insert(k: Int32Array, now: number, timeout: number): InsertResult {
    const t = this.t;
    // without the lock first: a flood of new flows at the limit costs a probe, not a lock each
    if (this.find(k) < 0 && Atomics.load(t, H_COUNT) >= t[H_LIMIT]) return InsertResult.full;
    this.lock();
    try {
      let s = this.slot(k);
      for (;;) {
        const b = HEADER + s * E;
        const w0 = t[b];
        if (w0 === 0) {
          if (t[H_COUNT] >= t[H_LIMIT]) return InsertResult.full;
          for (let i = 1; i < KEY_WORDS; i++) t[b + i] = k[i];
          t[b + SEEN] = now;
          t[b + TIMEOUT] = timeout;
          Atomics.store(t, b, k[0]);
          Atomics.add(t, H_COUNT, 1);
          return InsertResult.created;
        }
        if (w0 === k[0] && t[b + 1] === k[1] && t[b + 2] === k[2] && t[b + 3] === k[3] && t[b + 4] === k[4] && t[b + 5] === k[5] &&
          t[b + 6] === k[6] && t[b + 7] === k[7] && t[b + 8] === k[8] && t[b + 9] === k[9]) {
          // a state the sweep has not removed yet (maybe expired): re-arm it with this rule's timeout
          t[b + TIMEOUT] = timeout;
          t[b + SEEN] = now;
          return InsertResult.refreshed;
        }
        s = (s + 1) & this.mask;
      }
    } finally {
      this.unlock();
    }
  }

  private lock(): void {
    while (Atomics.compareExchange(this.t, H_LOCK, 0, 1) !== 0) { /* held for a few hundred ns (an insert) or one sweep */ }
  }

  private unlock(): void {
    Atomics.store(this.t, H_LOCK, 0);
  }

  /** remove port's entries (port >= 0) or those expired at `now`, under the lock, with backward shift */
  private deleteWhere(now: number, port: number): number {
    const t = this.t;
    let removed = 0;
    this.lock();
    try {
      let i = 0;
      while (i < this.capacity) {
        const b = HEADER + i * E;
        const w0 = t[b];
        if (w0 !== 0 && (port >= 0 ? ((w0 >>> 16) & 0x7fff) === port : now - t[b + SEEN] > t[b + TIMEOUT])) {
          // the sequence is odd only while entries shift: lookups wait (or retry) for one removal,
          // not for the whole scan
          Atomics.add(t, H_SEQ, 1);
          this.removeAt(i);
          Atomics.add(t, H_SEQ, 1);
          Atomics.sub(t, H_COUNT, 1);
          removed++;
          continue; // slot i now holds a shifted entry (or is empty): look again
        }
        i++;
      }
      // an entry shifted across the end of the table into slot 0.. was looked at already, or will
      // be at the next sweep; either way nothing live is removed
    } finally {
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
      const home = this.slotAt(bj);
      // move entry j into the hole unless its home lies cyclically in (hole, j]
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        const bh = HEADER + hole * E;
        for (let w = 0; w < E; w++) t[bh + w] = t[bj + w];
        hole = j;
      }
    }
    t[HEADER + hole * E] = 0;
  }

  /**
   * Remove the states idle for their timeout (the first worker's housekeeping, once a second).
   * Looks without the lock first and takes it only when something expired.
   */
  sweep(now: number): number {
    const t = this.t;
    if (Atomics.load(t, H_COUNT) === 0) return 0;
    let any = false;
    for (let i = 0; i < this.capacity && !any; i++) {
      const b = HEADER + i * E;
      if (t[b] !== 0 && now - t[b + SEEN] > t[b + TIMEOUT]) any = true;
    }
    return any ? this.deleteWhere(now, -1) : 0;
  }

  /** remove every state of a port (removed, or its index given to another port) */
  flushPort(port: number): number {
    if (Atomics.load(this.t, H_COUNT) === 0) return 0;
    return this.deleteWhere(0, port);
  }

  /** the entries (tests, diagnostics; retried if a deletion raced) */
  entries(): FlowEntry[] {
    const t = this.t;
    for (;;) {
      const s0 = this.seq();
      const out: FlowEntry[] = [];
      for (let i = 0; i < this.capacity; i++) {
        const b = HEADER + i * E;
        if (t[b] !== 0) out.push({ key: Array.from(t.subarray(b, b + KEY_WORDS)), lastSeen: t[b + SEEN], timeout: t[b + TIMEOUT] });
      }
      if ((s0 & 1) === 0 && this.seq() === s0) return out;
    }
  }
}
