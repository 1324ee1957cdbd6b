/**
 * The batch calls shared by every backend whose frames go through the native edge: a handle from
 * `openPort` (AF_PACKET) or `openTapPort` (TAP queue fd) works with the same recv/send/stats/close; a
 * libpcap handle (`pcapOpen`) with the pcap* functions of the same signatures (EdgeCalls).
 */
import { HEADROOM, FramePool } from '../core/frame-pool.js';
import { native, type NativeEdge } from './native/index.js';
import type { BackendStats, PortIo } from './port.js';

/** frames shorter than this are always copied whole (defined once, as ZC_MIN_LEN in xvs_native.c) */
export const ZERO_COPY_MIN_LEN = native.zeroCopyMinLen;

/** The five handle calls a NativePort makes; AF_PACKET and TAP handles use the native edge's own. */
export type EdgeCalls = Pick<NativeEdge, 'portFd' | 'recvBatch' | 'sendBatch' | 'portStats' | 'closePort'>;

// pool.whole(): the one way a frame received zero-copy becomes whole in its slot
FramePool.materializer = (pool, ids, n) => {
  native.materialize(pool.bytes, pool.slotSize, pool.start, pool.len, pool.zc, ids, 0, n);
};

export class NativePort implements PortIo {
  readonly fd: number;
  protected readonly h: number;
  protected readonly edge: EdgeCalls;
  /** zero-copy receive: bytes of each long frame copied into its slot, the rest left in the rx ring (0 = off) */
  protected readonly hdrCopy: number;
  /** the last recv() gave a frame long enough to be received zero-copy: its ring frame may be held */
  private mayHold = false;

  constructor(handle: number, edge: EdgeCalls = native, hdrCopy = 0) {
    this.h = handle;
    this.edge = edge;
    this.hdrCopy = edge === native ? hdrCopy : 0;
    this.fd = edge.portFd(handle);
  }

  recv(pool: FramePool, out: Uint32Array, max: number): number {
    const n = this.hdrCopy === 0
      ? this.edge.recvBatch(this.h, pool.bytes, pool.slotSize, HEADROOM, pool.free, pool.freeTop, out, 0, max, pool.start, pool.len)
      : this.edge.recvBatch(this.h, pool.bytes, pool.slotSize, HEADROOM, pool.free, pool.freeTop, out, 0, max, pool.start, pool.len,
        pool.zc, this.hdrCopy);
    pool.freeTop -= n;
    if (this.hdrCopy !== 0) {
      // only long frames are received zero-copy: a batch of short ones needs no recvDone call
      const len = pool.len;
      for (let i = 0; i < n; i++) if (len[out[i]] >= ZERO_COPY_MIN_LEN) { this.mayHold = true; break; }
    }
    return n;
  }

  /** the batch recv() gave is done: frames still alive are made whole, the ring frames go back to the kernel */
  rxDone(pool: FramePool): void {
    if (!this.mayHold) return;
    this.mayHold = false;
    native.recvDone(this.h, pool.bytes, pool.slotSize, pool.start, pool.len, pool.zc);
  }

  send(pool: FramePool, ids: Uint32Array, n: number): number {
    // the native edge sends a zero-copy frame's tail from the ring; any other backend gets whole frames
    if (this.edge === native) return this.edge.sendBatch(this.h, pool.bytes, pool.slotSize, ids, 0, n, pool.start, pool.len, pool.zc);
    pool.wholeBatch(ids, n);
    return this.edge.sendBatch(this.h, pool.bytes, pool.slotSize, ids, 0, n, pool.start, pool.len);
  }

  stats(): BackendStats {
    const s = this.edge.portStats(this.h);
    return { kernelDrops: s.kernelDrops, truncated: s.truncated, tunnelGso: s.tunnelGso, zeroCopy: s.zeroCopy ?? 0,
      zeroCopyMaterialized: s.zeroCopyMaterialized ?? 0 };
  }

  close(): void {
    this.edge.closePort(this.h);
  }

  /**
   * Hand this port to another thread (a VMQ queue move): its fd and rx ring stay open and go on filling
   * (native parkPort); this object is dead afterwards. The taker calls NativePort.unpark(ticket).
   */
  park(): number {
    return native.parkPort(this.h);
  }

  static unpark(ticket: number, hdrCopy = 0): NativePort {
    return new NativePort(native.unparkPort(ticket), native, hdrCopy);
  }
}
