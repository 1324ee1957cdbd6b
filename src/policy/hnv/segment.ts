/**
 * Software segmentation of GSO frames (owner: the "hnv-wire" part). A frame from a vnet-header port
 * (QEMU, a veth with TSO) may be one TCP (or UDP) GSO super-frame of up to 64 KiB; the uplink's
 * packet socket cannot carry a GSO frame inside a tunnel, so before encapsulation it is cut into
 * gso_size segments: the first stays in the frame's slot, the rest go to fresh slots chained after
 * it (FramePool.next), each a complete frame (IP length/id, TCP sequence and flags fixed; the TCP/UDP
 * checksum left to the kernel as NEEDS_CSUM with the per-segment pseudo-header sum).
 */
import type { FramePool } from '../../core/frame-pool.js';

/** true when frame `id`'s virtio-net header announces GSO */
export function isGso(pool: FramePool, id: number): boolean {
  return pool.bytes[id * pool.slotSize + 1] !== 0;
}

/**
 * Cut GSO frame `id` into segments of at most `maxFrame` bytes (Ethernet header included) chained
 * after it; returns the number of frames (≥ 1), or -1 when the pool had too few free slots above
 * `reserve` (nothing changed; the caller drops with a reason).
 */
export function segmentGso(pool: FramePool, id: number, maxFrame: number, reserve: number): number {
  throw new Error(`hnv segment: not implemented (${pool.len[id]} ${maxFrame} ${reserve})`);
}
