/**
 * TAP backend: xvs holds a queue fd of a TAP itself. Used for the internal (host) port, whose
 * netdev carries the host's IP addresses: what the host stack sends on the netdev is read here,
 * what the switch writes here the host stack receives. The TAP is multi-queue so that every
 * worker of a switch holds its own queue (the kernel spreads host traffic over the queues by flow).
 *
 * VM ports are TAPs too, but QEMU holds their fds; the switch reaches those through the netdev
 * with the AF_PACKET backend, exactly as the Linux bridge does.
 */
import { HEADROOM, type FramePool } from '../core/frame-pool.js';
import { native } from './native/index.js';
import type { PortIo } from './port.js';

export class TapFdPort implements PortIo {
  readonly fd: number;
  private readonly h: number;

  constructor(name: string, opts: { multiQueue: boolean; vnetHdr?: boolean }) {
    this.h = native.openTapPort(name, { vnetHdr: opts.vnetHdr ?? true, multiQueue: opts.multiQueue });
    this.fd = native.portFd(this.h);
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

  stats(): { kernelDrops: number; truncated: number } {
    const s = native.portStats(this.h);
    return { kernelDrops: s.kernelDrops, truncated: s.truncated };
  }

  close(): void {
    native.closePort(this.h);
  }
}

/** Persistent TAP for a VM port (QEMU attaches by name) or the host port. */
export function createPersistentTap(name: string, multiQueue: boolean): void {
  native.tapCreate(name, multiQueue);
}

export function destroyPersistentTap(name: string): void {
  native.tapDestroy(name);
}
