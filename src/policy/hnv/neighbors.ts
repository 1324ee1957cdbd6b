/**
 * The provider network's neighbour table (owner: the "hnv-wire" part): next-hop IPv4 → MAC, resolved
 * by ARP on the uplink, shared by all workers of the switch (a SharedArrayBuffer in
 * PolicySharedBuffers), refreshed before it goes stale. Entries are slots the control-plane input
 * numbers (one per distinct next hop); the table never allocates per frame.
 *
 * Concurrency: every slot has a sequence number used as a seqlock. A writer (any worker: the one
 * whose uplink queue received the ARP reply) takes it from even to odd with compareExchange, writes,
 * and stores the next even value; readers retry while it is odd or changed, so no reader ever sees
 * half of a MAC. Times are seconds (any clock, the same for every caller), kept as float64.
 *
 * Life of an entry: unresolved → (reply) resolved; resolved for 60 s → refreshed (a new request,
 * the MAC still used); 300 s without a reply → unresolved again. A request is claimed by
 * `needsRequest`: at most one caller per second per slot across all workers gets true.
 *
 * Also here: the ARP frames HNV sends and answers on the provider network (request for a next hop,
 * reply for one of the switch's PAs, parser).
 */
import { HEADROOM, VNET_HDR_LEN, type FramePool } from '../../core/frame-pool.js';

/** next hops per switch (distinct provider gateways / PAs reached directly) */
export const NEIGHBOR_SLOTS = 1024;
/** an unresolved next hop is asked again after this many seconds */
export const NEIGHBOR_RETRY_S = 1;
/** a resolved entry is refreshed (asked again, still used) after this many seconds */
export const NEIGHBOR_REFRESH_S = 60;
/** a resolved entry no reply confirmed for this many seconds is unresolved */
export const NEIGHBOR_STALE_S = 300;

const HEADER_INTS = 16;
const H_COUNT = 0;
const STRIDE = 8; // int32 per slot: seq, ip, mac hi (16 bits), mac lo, state
const F_SEQ = 0;
const F_IP = 1;
const F_MAC_HI = 2;
const F_MAC_LO = 3;
const F_STATE = 4;
const STATE_EMPTY = 0;
const STATE_UNRESOLVED = 1;
const STATE_RESOLVED = 2;
const INT_BYTES = (HEADER_INTS + NEIGHBOR_SLOTS * STRIDE) * 4;
const NEVER = -1e15;

/** the table's shared memory: int32 header and slots, then float64 [resolvedAt, requestedAt] per slot */
export function createNeighborBuffer(): SharedArrayBuffer {
  const buf = new SharedArrayBuffer(INT_BYTES + NEIGHBOR_SLOTS * 16);
  new Float64Array(buf, INT_BYTES).fill(NEVER);
  return buf;
}

export class NeighborTable {
  readonly #i: Int32Array;
  readonly #t: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#i = new Int32Array(buffer, 0, INT_BYTES >>> 2);
    this.#t = new Float64Array(buffer, INT_BYTES, NEIGHBOR_SLOTS * 2);
  }

  /** configured slots (next hops) */
  get count(): number {
    return Atomics.load(this.#i, H_COUNT);
  }

  /** slot k's next-hop IPv4 (unsigned) */
  ipOf(slot: number): number {
    return Atomics.load(this.#i, HEADER_INTS + slot * STRIDE + F_IP) >>> 0;
  }

  /** the slot of next hop `ipv4`, or -1 */
  slotOf(ipv4: number): number {
    const n = this.count;
    const want = ipv4 | 0;
    for (let k = 0; k < n; k++) if (Atomics.load(this.#i, HEADER_INTS + k * STRIDE + F_IP) === want) return k;
    return -1;
  }

  /**
   * Configure: slot k = next hop ips[k] (unsigned IPv4), keeping the resolved MACs of next hops
   * that stay (in whatever slot they move to). Control path; the same list again is a no-op, so
   * every worker may call it with the switch's list.
   */
  setSlots(ips: ArrayLike<number>): void {
    if (ips.length > NEIGHBOR_SLOTS) throw new RangeError(`provider next hops: at most ${NEIGHBOR_SLOTS}, got ${ips.length}`);
    const i = this.#i;
    const old = this.count;
    let same = old === ips.length;
    for (let k = 0; same && k < old; k++) same = this.ipOf(k) === ips[k] >>> 0;
    if (same) return;
    const oldIp = new Uint32Array(old);
    const oldState = new Int32Array(old);
    const oldHi = new Int32Array(old);
    const oldLo = new Int32Array(old);
    const oldAt = new Float64Array(old);
    for (let k = 0; k < old; k++) {
      const p = HEADER_INTS + k * STRIDE;
      for (;;) {
        const s = Atomics.load(i, p + F_SEQ);
        if ((s & 1) !== 0) continue;
        oldIp[k] = i[p + F_IP] >>> 0; oldState[k] = i[p + F_STATE];
        oldHi[k] = i[p + F_MAC_HI]; oldLo[k] = i[p + F_MAC_LO]; oldAt[k] = this.#t[k * 2];
        if (Atomics.load(i, p + F_SEQ) === s) break;
      }
    }
    const n = Math.max(old, ips.length);
    for (let k = 0; k < n; k++) {
      const s = this.#lock(k);
      const p = HEADER_INTS + k * STRIDE;
      let carried = false;
      if (k < ips.length) {
        const ip = ips[k] >>> 0;
        i[p + F_IP] = ip | 0;
        for (let j = 0; j < old; j++) {
          if (oldIp[j] !== ip || oldState[j] !== STATE_RESOLVED) continue;
          i[p + F_MAC_HI] = oldHi[j]; i[p + F_MAC_LO] = oldLo[j]; this.#t[k * 2] = oldAt[j];
          i[p + F_STATE] = STATE_RESOLVED;
          carried = true;
          break;
        }
        if (!carried) i[p + F_STATE] = STATE_UNRESOLVED;
      } else {
        i[p + F_IP] = 0;
        i[p + F_STATE] = STATE_EMPTY;
      }
      if (!carried) { i[p + F_MAC_HI] = 0; i[p + F_MAC_LO] = 0; this.#t[k * 2] = NEVER; this.#t[k * 2 + 1] = NEVER; }
      Atomics.store(i, p + F_SEQ, s + 2);
    }
    Atomics.store(i, H_COUNT, ips.length);
  }

  /**
   * Slot `slot`'s MAC into out[off, off+6): true when resolved and not stale at `now` (seconds).
   * Never a torn MAC: retries while a writer holds the slot.
   */
  lookup(slot: number, now: number, out: Uint8Array, off = 0): boolean {
    const i = this.#i;
    const p = HEADER_INTS + slot * STRIDE;
    let state: number, hi: number, lo: number, at: number;
    for (;;) {
      const s = Atomics.load(i, p + F_SEQ);
      if ((s & 1) !== 0) continue;
      state = i[p + F_STATE]; hi = i[p + F_MAC_HI]; lo = i[p + F_MAC_LO]; at = this.#t[slot * 2];
      if (Atomics.load(i, p + F_SEQ) === s) break;
    }
    if (state !== STATE_RESOLVED || now - at > NEIGHBOR_STALE_S) return false;
    out[off] = (hi >>> 8) & 0xff; out[off + 1] = hi & 0xff;
    out[off + 2] = lo >>> 24; out[off + 3] = (lo >>> 16) & 0xff; out[off + 4] = (lo >>> 8) & 0xff; out[off + 5] = lo & 0xff;
    return true;
  }

  /**
   * An ARP packet said `ipv4` is at mac[off, off+6): update every slot of that next hop. Returns the
   * slots updated (0: not a next hop of ours, or a group/zero MAC).
   */
  learn(ipv4: number, mac: Uint8Array, now: number, off = 0): number {
    if ((mac[off] & 1) !== 0 || (mac[off] | mac[off + 1] | mac[off + 2] | mac[off + 3] | mac[off + 4] | mac[off + 5]) === 0) return 0;
    const i = this.#i;
    const want = ipv4 | 0;
    const hi = (mac[off] << 8) | mac[off + 1];
    const lo = (mac[off + 2] << 24) | (mac[off + 3] << 16) | (mac[off + 4] << 8) | mac[off + 5];
    const n = this.count;
    let updated = 0;
    for (let k = 0; k < n; k++) {
      const p = HEADER_INTS + k * STRIDE;
      if (Atomics.load(i, p + F_IP) !== want) continue;
      const s = this.#lock(k);
      if (i[p + F_IP] === want && i[p + F_STATE] !== STATE_EMPTY) {
        i[p + F_MAC_HI] = hi; i[p + F_MAC_LO] = lo; i[p + F_STATE] = STATE_RESOLVED;
        this.#t[k * 2] = now;
        updated++;
      }
      Atomics.store(i, p + F_SEQ, s + 2);
    }
    return updated;
  }

  /**
   * True when slot `slot` should be asked for now: unresolved (or stale) and not asked within
   * NEIGHBOR_RETRY_S, or resolved for NEIGHBOR_REFRESH_S (refresh). A true answer claims the
   * request (requestedAt = now): the caller must send it.
   */
  needsRequest(slot: number, now: number): boolean {
    if (slot < 0 || slot >= this.count) return false;
    if (!this.#due(slot, now)) return false;
    const i = this.#i;
    const p = HEADER_INTS + slot * STRIDE;
    const s = this.#lock(slot);
    const due = this.#due(slot, now);
    if (due) this.#t[slot * 2 + 1] = now;
    Atomics.store(i, p + F_SEQ, s + 2);
    return due;
  }

  #due(slot: number, now: number): boolean {
    const p = HEADER_INTS + slot * STRIDE;
    const state = this.#i[p + F_STATE];
    if (state === STATE_EMPTY) return false;
    if (now - this.#t[slot * 2 + 1] < NEIGHBOR_RETRY_S) return false;
    return state !== STATE_RESOLVED || now - this.#t[slot * 2] >= NEIGHBOR_REFRESH_S;
  }

  /** take slot k's seqlock (even → odd); returns the even value it held */
  #lock(k: number): number {
    const i = this.#i;
    const p = HEADER_INTS + k * STRIDE + F_SEQ;
    for (;;) {
      const s = Atomics.load(i, p);
      if ((s & 1) === 0 && Atomics.compareExchange(i, p, s, s + 1) === s) return s;
    }
  }
}

/** the fields of an ARP packet (one instance per caller, reused) */
export class ArpInfo {
  /** 1 request, 2 reply */
  op = 0;
  readonly senderMac = new Uint8Array(6);
  /** unsigned IPv4 */
  senderIp = 0;
  readonly targetMac = new Uint8Array(6);
  targetIp = 0;
  /** 802.1Q VLAN id of the frame (0: untagged) */
  vlanId = 0;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}

/** offset of the ARP payload in frame `id` (after an optional 802.1Q tag), or -1 if not Ethernet/IPv4 ARP */
function arpOffset(pool: FramePool, id: number): number {
  const b = pool.bytes;
  const off = id * pool.slotSize + pool.start[id];
  const len = pool.len[id];
  let l3 = 14;
  if (len < 42) return -1;
  let et = (b[off + 12] << 8) | b[off + 13];
  if (et === 0x8100) { et = (b[off + 16] << 8) | b[off + 17]; l3 = 18; }
  if (et !== 0x0806 || len < l3 + 28) return -1;
  const a = off + l3;
  if (b[a] !== 0 || b[a + 1] !== 1 || b[a + 2] !== 0x08 || b[a + 3] !== 0 || b[a + 4] !== 6 || b[a + 5] !== 4) return -1;
  return a;
}

/** parse an Ethernet/IPv4 ARP packet (optionally 802.1Q-tagged) into `out`; false if it is not one */
export function parseArp(pool: FramePool, id: number, out: ArpInfo): boolean {
  const a = arpOffset(pool, id);
  if (a < 0) return false;
  const b = pool.bytes;
  const off = id * pool.slotSize + pool.start[id];
  out.vlanId = a - off === 18 ? ((b[off + 14] & 0x0f) << 8) | b[off + 15] : 0;
  out.op = (b[a + 6] << 8) | b[a + 7];
  for (let k = 0; k < 6; k++) { out.senderMac[k] = b[a + 8 + k]; out.targetMac[k] = b[a + 18 + k]; }
  out.senderIp = u32(b, a + 14);
  out.targetIp = u32(b, a + 24);
  return true;
}

/**
 * A broadcast ARP request "who has targetIp, tell srcIp" from srcMac, tagged with `vlanId` when not
 * 0, padded to the Ethernet minimum, in a fresh slot (zero vnet header, inPort -1). Returns the slot
 * id, or -1 when the pool is exhausted.
 */
export function buildArpRequest(pool: FramePool, srcMac: Uint8Array, srcIp: number, targetIp: number, vlanId: number): number {
  const id = pool.alloc();
  if (id < 0) return -1;
  const b = pool.bytes;
  const base = id * pool.slotSize;
  const o = base + HEADROOM;
  const l3 = vlanId !== 0 ? 18 : 14;
  const len = l3 + 46; // 28 bytes of ARP + padding to the 60-byte minimum (64 tagged)
  b.fill(0, base, base + VNET_HDR_LEN);
  b.fill(0, o, o + len);
  for (let k = 0; k < 6; k++) { b[o + k] = 0xff; b[o + 6 + k] = srcMac[k]; }
  if (vlanId !== 0) { b[o + 12] = 0x81; b[o + 13] = 0x00; b[o + 14] = (vlanId >>> 8) & 0x0f; b[o + 15] = vlanId & 0xff; }
  b[o + l3 - 2] = 0x08; b[o + l3 - 1] = 0x06;
  const a = o + l3;
  b[a + 1] = 1; b[a + 2] = 0x08; b[a + 4] = 6; b[a + 5] = 4; b[a + 7] = 1;
  for (let k = 0; k < 6; k++) b[a + 8 + k] = srcMac[k];
  put32(b, a + 14, srcIp >>> 0);
  put32(b, a + 24, targetIp >>> 0);
  pool.len[id] = len;
  pool.inPort[id] = -1;
  return id;
}

/**
 * Turn ARP request `id` into the reply from `myMac` in place (the caller checked that the target
 * IP is one of its PAs): op 2, sender = (myMac, the asked IP), target = the asker, Ethernet back to
 * the asker from myMac, any tag kept, vnet header cleared. false when `id` is not an ARP request.
 */
export function arpReplyInPlace(pool: FramePool, id: number, myMac: Uint8Array): boolean {
  const a = arpOffset(pool, id);
  if (a < 0) return false;
  const b = pool.bytes;
  if (b[a + 6] !== 0 || b[a + 7] !== 1) return false;
  const off = id * pool.slotSize + pool.start[id];
  const asked = u32(b, a + 24);
  for (let k = 0; k < 6; k++) {
    b[a + 18 + k] = b[a + 8 + k]; // target MAC = asker
    b[off + k] = b[off + 6 + k]; // Ethernet destination = asker's source
    b[off + 6 + k] = myMac[k];
    b[a + 8 + k] = myMac[k];
  }
  for (let k = 0; k < 4; k++) b[a + 24 + k] = b[a + 14 + k];
  put32(b, a + 14, asked);
  b[a + 7] = 2;
  b.fill(0, id * pool.slotSize, id * pool.slotSize + VNET_HDR_LEN);
  return true;
}
