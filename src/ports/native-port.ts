/**
 * The batch calls shared by every backend whose frames go through the native edge: a handle from
 * `openPort` (AF_PACKET) or `openTapPort` (TAP queue fd) works with the same recv/send/stats/close; a
 * libpcap handle (`pcapOpen`) with the pcap* functions of the same signatures (EdgeCalls).
 */
import { HEADROOM, type FramePool } from '../core/frame-pool.js';
import { native, type NativeEdge } from './native/index.js';
import type { BackendStats, PortIo } from './port.js';

/** The five handle calls a NativePort makes; AF_PACKET and TAP handles use the native edge's own. */
export type EdgeCalls = Pick<NativeEdge, 'portFd' | 'recvBatch' | 'sendBatch' | 'portStats' | 'closePort'>;

export class NativePort implements PortIo {
  readonly fd: number;
  protected readonly h: number;
  protected readonly edge: EdgeCalls;

  constructor(handle: number, edge: EdgeCalls = native) {
    this.h = handle;
    this.edge = edge;
    this.fd = edge.portFd(handle);
  }

  recv(pool: FramePool, out: Uint32Array, max: number): number {
    const n = this.edge.recvBatch(this.h, pool.bytes, pool.slotSize, HEADROOM, pool.free, pool.freeTop, out, 0, max,
      pool.start, pool.len);
    pool.freeTop -= n;
    return n;
  }

  send(pool: FramePool, ids: Uint32Array, n: number): number {
    return this.edge.sendBatch(this.h, pool.bytes, pool.slotSize, ids, 0, n, pool.start, pool.len);
  }

  stats(): BackendStats {
    const s = this.edge.portStats(this.h);
    return { kernelDrops: s.kernelDrops, truncated: s.truncated, tunnelGso: s.tunnelGso };
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

  static unpark(ticket: number): NativePort {
    return new NativePort(native.unparkPort(ticket));
  }
}
