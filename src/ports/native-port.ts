/**
 * The batch calls shared by every backend whose frames go through the native edge: a handle from
 * `openPort` (AF_PACKET) or `openTapPort` (TAP queue fd) works with the same recv/send/stats/close.
 */
import { HEADROOM, type FramePool } from '../core/frame-pool.js';
import { native } from './native/index.js';
import type { BackendStats, PortIo } from './port.js';

export class NativePort implements PortIo {
  readonly fd: number;
  protected readonly h: number;

  constructor(handle: number) {
    this.h = handle;
    this.fd = native.portFd(handle);
  }

  recv(pool: FramePool, out: Uint32Array, max: number): number {
    const n = native.recvBatch(this.h, pool.bytes, pool.slotSize, HEADROOM, pool.free, pool.freeTop, out, 0, max,
      pool.start, pool.len);
    pool.freeTop -= n;
    return n;
  }

  send(pool: FramePool, ids: Uint32Array, n: number): number {
    return native.sendBatch(this.h, pool.bytes, pool.slotSize, ids, 0, n, pool.start, pool.len);
  }

  stats(): BackendStats {
    const s = native.portStats(this.h);
    return { kernelDrops: s.kernelDrops, truncated: s.truncated, tunnelGso: s.tunnelGso };
  }

  close(): void {
    native.closePort(this.h);
  }
}
