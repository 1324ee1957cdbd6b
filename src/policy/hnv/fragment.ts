/**
 * IPv4 fragmentation of an inner frame too large for the overlay MTU and without DF (the VM sent a
 * packet a router may fragment; HNV is that router). The first fragment stays in the frame's slot,
 * the others go to fresh slots chained after it (FramePool.next, as GSO segments: the engine sends
 * and frees the chain). A partial checksum the virtio-net header announces (NEEDS_CSUM) is completed
 * first: once cut, the kernel could no longer complete it. Options are copied into every fragment.
 */
import { HEADROOM, VNET_HDR_LEN, type FramePool } from '../../core/frame-pool.js';

function headerChecksum(b: Uint8Array, o: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k += 2) s += (b[o + k] << 8) | b[o + k + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** complete a NEEDS_CSUM frame's checksum in software and clear the flag */
function completePartialChecksum(pool: FramePool, id: number): void {
  pool.whole(id);
  const b = pool.bytes;
  const base = id * pool.slotSize;
  if ((b[base] & 1) === 0) return;
  const off = base + pool.start[id];
  const cs = b[base + 6] | (b[base + 7] << 8);
  const co = b[base + 8] | (b[base + 9] << 8);
  const len = pool.len[id];
  if (cs + co + 2 <= len) {
    let s = 0;
    for (let k = cs; k + 1 < len; k += 2) s += (b[off + k] << 8) | b[off + k + 1];
    if (((len - cs) & 1) !== 0) s += b[off + len - 1] << 8;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    let c = ~s & 0xffff;
    if (c === 0 && b[off + 23] === 17) c = 0xffff; // UDP: 0 means "no checksum"
    b[off + cs + co] = c >>> 8;
    b[off + cs + co + 1] = c & 0xff;
  }
  b[base] &= ~1;
}

/**
 * Cut the untagged IPv4 frame `id` (DF clear) into fragments of at most `maxFrame` bytes (Ethernet
 * header included); returns the number of frames, or -1 when it cannot be fragmented (DF set, not
 * IPv4, a header too long for maxFrame) or the pool has too few free slots above `reserve` (nothing
 * changed then, but a partial checksum may have been completed).
 */
export function fragmentIpv4(pool: FramePool, id: number, maxFrame: number, reserve: number): number {
  pool.whole(id); // fragments copy the payload (and a partial checksum is completed over it)
  const b = pool.bytes;
  const off = pool.dataOffset(id);
  if (pool.len[id] < 34 || b[off + 12] !== 0x08 || b[off + 13] !== 0x00 || (b[off + 14] >>> 4) !== 4) return -1;
  const ihl = (b[off + 14] & 0x0f) * 4;
  const flags = b[off + 20];
  if ((flags & 0x40) !== 0 || ihl < 20) return -1;
  const total = Math.min((b[off + 16] << 8) | b[off + 17], pool.len[id] - 14);
  const chunk = ((maxFrame - 14 - ihl) >>> 3) << 3;
  if (chunk < 8 || total <= ihl) return -1;
  const payload = total - ihl;
  const n = Math.ceil(payload / chunk);
  if (n <= 1) return 1;
  if (pool.freeTop - (n - 1) < reserve) return -1;
  completePartialChecksum(pool, id);
  const baseOffset = ((flags & 0x1f) << 8) | b[off + 21]; // in 8-byte units
  const moreAfter = (flags & 0x20) !== 0;
  let prev = id;
  for (let k = 1; k < n; k++) {
    const f = pool.alloc();
    const fb = f * pool.slotSize;
    b.fill(0, fb, fb + VNET_HDR_LEN);
    const fo = fb + HEADROOM;
    const len = Math.min(chunk, payload - k * chunk);
    b.copyWithin(fo, off, off + 14 + ihl);
    b.copyWithin(fo + 14 + ihl, off + 14 + ihl + k * chunk, off + 14 + ihl + k * chunk + len);
    const tot = ihl + len;
    b[fo + 16] = tot >>> 8; b[fo + 17] = tot & 0xff;
    const fragOff = baseOffset + ((k * chunk) >>> 3);
    b[fo + 20] = (flags & 0x80) | (k < n - 1 || moreAfter ? 0x20 : 0) | ((fragOff >>> 8) & 0x1f);
    b[fo + 21] = fragOff & 0xff;
    b[fo + 24] = 0; b[fo + 25] = 0;
    const c = headerChecksum(b, fo + 14, ihl);
    b[fo + 24] = c >>> 8; b[fo + 25] = c & 0xff;
    pool.len[f] = 14 + tot;
    pool.inPort[f] = pool.inPort[id];
    pool.vlan[f] = pool.vlan[id];
    pool.next[prev] = f;
    prev = f;
  }
  // the first fragment, in place
  const tot = ihl + chunk;
  b[off + 16] = tot >>> 8; b[off + 17] = tot & 0xff;
  b[off + 20] = (flags & 0xe0) | 0x20 | ((baseOffset >>> 8) & 0x1f);
  b[off + 24] = 0; b[off + 25] = 0;
  const c = headerChecksum(b, off + 14, ihl);
  b[off + 24] = c >>> 8; b[off + 25] = c & 0xff;
  pool.len[id] = 14 + tot;
  pool.chained = true;
  return n;
}
