/**
 * Memory backend: frames queued in memory, for driving the real pipeline in-process (tests, the
 * allocation test, trace). `recv` copies pre-built frames into pool slots, as the native ring
 * copy does; `send` counts and optionally records what would have gone out.
 */
import { HEADROOM, VNET_HDR_LEN, type FramePool } from '../core/frame-pool.js';
import type { BackendStats, PortIo } from './port.js';

export class MemoryPort implements PortIo {
  readonly fd = -1;
  /** frames waiting to be received, cycled through when `repeat` is set */
  readonly inbox: Uint8Array[] = [];
  private next = 0;
  /** when true, the inbox is replayed forever (load generation without allocation) */
  repeat = false;
  sentFrames = 0;
  sentBytes = 0;
  /** when set, copies of sent frames are kept here (tests; allocates) */
  record: Uint8Array[] | null = null;

  recv(pool: FramePool, out: Uint32Array, max: number): number {
    let n = 0;
    while (n < max && pool.freeTop > 0) {
      if (this.next >= this.inbox.length) {
        if (!this.repeat || this.inbox.length === 0) break;
        this.next = 0;
      }
      const f = this.inbox[this.next++];
      const id = pool.free[--pool.freeTop];
      const base = id * pool.slotSize;
      pool.bytes.fill(0, base, base + VNET_HDR_LEN);
      pool.bytes.set(f, base + HEADROOM);
      pool.start[id] = HEADROOM;
      pool.len[id] = f.length;
      out[n++] = id;
    }
    if (!this.repeat && this.next >= this.inbox.length && this.next > 0) {
      this.inbox.length = 0;
      this.next = 0;
    }
    return n;
  }

  send(pool: FramePool, ids: Uint32Array, n: number): number {
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      this.sentBytes += pool.len[id];
      if (this.record) this.record.push(pool.toBytes(id));
    }
    this.sentFrames += n;
    return n;
  }

  stats(): BackendStats {
    return { kernelDrops: 0, truncated: 0, tunnelGso: 0 };
  }

  close(): void {}
}
