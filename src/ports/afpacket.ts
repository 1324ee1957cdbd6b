/**
 * AF_PACKET backend: an mmap'd TPACKET_V2 rx ring and sendmmsg tx, both with PACKET_VNET_HDR so
 * GSO frames and partial checksums pass through unchanged (the offload path; see docs/ARCHITECTURE.md
 * for why this is AF_PACKET directly and not libpcap, which cannot enable the vnet header).
 */
import { HEADROOM, type FramePool } from '../core/frame-pool.js';
import { native } from './native/index.js';
import type { PortIo } from './port.js';

export interface AfPacketOptions {
  rx: boolean;
  /** ring frames (each holds one frame of up to 64 KiB, the GSO maximum) */
  ringFrames?: number;
  vnetHdr?: boolean;
}

/** ring slot size: tpacket2_hdr + sockaddr_ll padding + vnet header + a 64 KiB GSO frame, page-rounded */
export const RING_FRAME_SIZE = 17 * 4096;

export class AfPacketPort implements PortIo {
  readonly fd: number;
  private readonly h: number;

  constructor(ifname: string, opts: AfPacketOptions) {
    this.h = native.openPort(ifname, {
      rx: opts.rx,
      ringFrames: opts.rx ? (opts.ringFrames ?? 256) : 0,
      frameSize: RING_FRAME_SIZE,
      vnetHdr: opts.vnetHdr ?? true,
    });
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
