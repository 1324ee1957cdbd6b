/**
 * FramePool: every frame in xvs is a slot index into one SharedArrayBuffer, never an object.
 *
 * Slot layout (shared with the native edge, see ports/native/SPEC.md):
 *   [0, 10)              the virtio-net header of the frame (offload metadata kept end to end)
 *   [10, HEADROOM)       headroom for encapsulation (HNV pushes outer headers here without a copy)
 *   [start, start+len)   the Ethernet frame
 *
 * Metadata is struct-of-arrays, one typed array per field, indexed by slot id. Frees are pushes on a
 * per-worker free stack: each worker owns its own pool, so a frame is always freed by the worker
 * that allocated it ("frees go home" trivially). The buffer is shared so that frame ids can later
 * cross workers (VMQ) without copying bytes.
 *
 * Zero-copy (ports/native/SPEC.md "Zero-copy forwarding"): a frame received from an AF_PACKET ring may
 * have only its first bytes in the slot; its last `zc[4*id]` bytes are then still in the ring frame,
 * which stays the switch's until the end of the batch. Headers (`resident(id)` bytes, at least 128) are
 * always in the slot. Code that reads or writes beyond them calls `whole(id)` first; a frame still alive
 * when its batch ends is made whole by the native edge (so queues and holders never see a reference).
 */
export const VNET_HDR_LEN = 10;
export const HEADROOM = 256;
/** A GSO frame from a vnet-header port may be up to 64 KiB. */
export const MAX_FRAME = 65536 + 64;
export const DEFAULT_SLOT_SIZE = HEADROOM + MAX_FRAME;

export class FramePool {
  readonly slots: number;
  readonly slotSize: number;
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly start: Uint32Array;
  readonly len: Uint32Array;
  readonly inPort: Int32Array;
  /**
   * The VLAN a frame travels on inside the switch (0 = untagged), set by the ingress VLAN policy
   * (policy/vlan) once the switch has a VLAN-aware port; the 802.1Q tag itself is popped there and
   * pushed again per destination port at transmit. Meaningless while no port has a VLAN setting.
   */
  readonly vlan: Uint16Array;
  /**
   * The next frame of a chain (-1: none): software GSO segmentation (policy/hnv/segment.ts) turns one
   * frame into a head and its segments in fresh slots; the engine sends and frees a chain as a whole.
   */
  readonly next: Int32Array;
  /** true while some frame of the current batch has a chain (the engine's one test per batch) */
  chained = false;
  readonly free: Uint32Array;
  freeTop: number;
  /**
   * per slot, 4 words the native edge reads and writes: [4*id] = bytes of the frame's tail still in an rx
   * ring frame (0: the whole frame is in the slot), then which ring and where. Free slots hold 0.
   */
  readonly zc: Uint32Array;
  /** copies the ring tail of frames ids[0..n) into their slots; set by the native edge when it loads (ports/native-port.ts) */
  static materializer: ((pool: FramePool, ids: Uint32Array, n: number) => void) | null = null;
  readonly #one = new Uint32Array(1);

  constructor(slots: number, slotSize = DEFAULT_SLOT_SIZE) {
    this.slots = slots;
    this.slotSize = slotSize;
    this.buffer = new SharedArrayBuffer(slots * slotSize);
    this.bytes = new Uint8Array(this.buffer);
    this.start = new Uint32Array(new SharedArrayBuffer(slots * 4));
    this.len = new Uint32Array(new SharedArrayBuffer(slots * 4));
    this.inPort = new Int32Array(new SharedArrayBuffer(slots * 4));
    this.vlan = new Uint16Array(new SharedArrayBuffer(slots * 2));
    this.next = new Int32Array(new SharedArrayBuffer(slots * 4)).fill(-1);
    this.zc = new Uint32Array(new SharedArrayBuffer(slots * 16));
    this.free = new Uint32Array(slots);
    for (let i = 0; i < slots; i++) this.free[i] = slots - 1 - i;
    this.freeTop = slots;
  }

  /** Pop a free slot, or -1 when the pool is exhausted (the caller counts `pool-exhausted`). */
  alloc(): number {
    if (this.freeTop === 0) return -1;
    const id = this.free[--this.freeTop];
    this.start[id] = HEADROOM;
    this.len[id] = 0;
    this.vlan[id] = 0;
    this.next[id] = -1;
    return id;
  }

  /** Return a slot. Counting the reason is the caller's job (Batch.drop / the engine's tx path). */
  release(id: number): void {
    this.zc[id << 2] = 0;
    this.free[this.freeTop++] = id;
  }

  /** how many of frame `id`'s first bytes are in its slot (all of them unless it was received zero-copy) */
  resident(id: number): number {
    return this.len[id] - this.zc[id << 2];
  }

  /**
   * THE rule of zero-copy: before reading or writing frame `id` beyond its first `resident(id)` bytes
   * (payload, checksums over it, copies of the whole frame), call this. No-op for a frame already whole.
   */
  whole(id: number): void {
    if (this.zc[id << 2] === 0) return;
    const m = FramePool.materializer;
    if (m === null) throw new Error(`frame ${id} references an rx ring but no native edge is loaded`);
    this.#one[0] = id;
    m(this, this.#one, 1);
  }

  /** whole() for ids[0..n), one native call when any needs it */
  wholeBatch(ids: Uint32Array, n: number): void {
    const zc = this.zc;
    for (let i = 0; i < n; i++) {
      if (zc[ids[i] << 2] !== 0) {
        const m = FramePool.materializer;
        if (m === null) throw new Error(`frame ${ids[i]} references an rx ring but no native edge is loaded`);
        m(this, ids, n);
        return;
      }
    }
  }

  /** Return frame `id` and the segments chained after it (next = -1 on each again). */
  releaseChain(id: number): void {
    let s = id;
    while (s >= 0) {
      const after = this.next[s];
      this.next[s] = -1;
      this.zc[s << 2] = 0;
      this.free[this.freeTop++] = s;
      s = after;
    }
  }

  /** Offset of the first byte of frame `id` in `bytes`. */
  dataOffset(id: number): number {
    return id * this.slotSize + this.start[id];
  }

  /** Copy `frame` into a fresh slot with a zero virtio-net header; returns the id or -1. Not for the hot path. */
  fromBytes(frame: Uint8Array, inPort = -1): number {
    const id = this.alloc();
    if (id < 0) return -1;
    const base = id * this.slotSize;
    this.bytes.fill(0, base, base + VNET_HDR_LEN);
    this.bytes.set(frame, base + HEADROOM);
    this.len[id] = frame.length;
    this.inPort[id] = inPort;
    return id;
  }

  /** A copy of frame `id`'s bytes (tests, trace). Not for the hot path. */
  toBytes(id: number): Uint8Array {
    this.whole(id);
    const off = this.dataOffset(id);
    return this.bytes.slice(off, off + this.len[id]);
  }

  get inUse(): number {
    return this.slots - this.freeTop;
  }
}
