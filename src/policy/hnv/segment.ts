/**
 * Software segmentation of GSO frames (owner: the "hnv-wire" part). A frame from a vnet-header port
 * (QEMU, a veth with TSO) may be one TCP (or UDP) GSO super-frame of up to 64 KiB; the uplink's
 * packet socket cannot carry a GSO frame inside a tunnel, so before encapsulation it is cut into
 * gso_size segments: the first stays in the frame's slot (truncated), the rest go to fresh slots
 * chained after it (FramePool.next), each a complete frame: IPv4 total length, id + k and header
 * checksum / IPv6 payload length; TCP sequence + offset, FIN and PSH only on the last segment, CWR
 * only on the first; UDP (USO, VIRTIO_NET_HDR_GSO_UDP_L4) length. The TCP/UDP checksum is left to
 * the kernel: every segment's vnet header says NEEDS_CSUM (gso_type NONE) with csum_start/offset at
 * the L4 checksum, whose field holds the segment's pseudo-header sum (CHECKSUM_PARTIAL).
 * Not supported (SEGMENT_UNSUPPORTED): UFO (VIRTIO_NET_HDR_GSO_UDP, IP fragmentation: Linux guests
 * have not offered it since 4.14), IPv6 extension headers before TCP/UDP, IPv4 options are fine.
 * VXLAN frames on an uplink with a tunnel TAP (ports/tunnel-tap.ts) skip this: fitGsoToTunnel only
 * checks the layout and lowers gso_size to the overlay MTU, and the kernel segments after the tunnel.
 */
import { HEADROOM, type FramePool } from '../../core/frame-pool.js';

/** segmentGso: the pool had too few free slots above `reserve` (nothing changed) */
export const SEGMENT_NO_SLOTS = -1;
/** segmentGso: a GSO type or frame layout this segmenter does not handle (nothing changed) */
export const SEGMENT_UNSUPPORTED = -2;

const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const GSO_UDP_L4 = 5;
const GSO_ECN = 0x80;
const NEEDS_CSUM = 1;

/** true when frame `id`'s virtio-net header announces GSO */
export function isGso(pool: FramePool, id: number): boolean {
  return pool.bytes[id * pool.slotSize + 1] !== 0;
}

/** the layout parseGso found (module scratch: no allocation per frame) */
const layout = { l3: 0, l4: 0, hdrLen: 0, v4: false, tcp: false };

/** parse GSO frame id's headers into `layout`; false for a layout this module does not handle */
function parseGso(b: Uint8Array, base: number, off: number, len: number): boolean {
  const gsoType = b[base + 1] & ~GSO_ECN;
  if (len < 14) return false;
  let l3 = 14;
  let et = (b[off + 12] << 8) | b[off + 13];
  if (et === 0x8100 && len >= 18) { et = (b[off + 16] << 8) | b[off + 17]; l3 = 18; }
  let l4: number;
  let v4: boolean;
  if (gsoType === GSO_TCPV4 || (gsoType === GSO_UDP_L4 && et === 0x0800)) {
    if (et !== 0x0800 || len < l3 + 20 || (b[off + l3] >>> 4) !== 4) return false;
    l4 = l3 + (b[off + l3] & 0x0f) * 4;
    v4 = true;
    if (b[off + l3 + 9] !== (gsoType === GSO_TCPV4 ? 6 : 17)) return false;
  } else if (gsoType === GSO_TCPV6 || gsoType === GSO_UDP_L4) {
    if (et !== 0x86dd || len < l3 + 40 || (b[off + l3] >>> 4) !== 6) return false;
    l4 = l3 + 40;
    v4 = false;
    if (b[off + l3 + 6] !== (gsoType === GSO_TCPV6 ? 6 : 17)) return false;
  } else {
    return false; // VIRTIO_NET_HDR_GSO_UDP (3, UFO) or unknown
  }
  const tcp = gsoType !== GSO_UDP_L4;
  if (len < l4 + (tcp ? 20 : 8)) return false;
  const hdrLen = l4 + (tcp ? (b[off + l4 + 12] >>> 4) * 4 : 8);
  if (hdrLen > len || (tcp && hdrLen < l4 + 20)) return false;
  layout.l3 = l3; layout.l4 = l4; layout.hdrLen = hdrLen; layout.v4 = v4; layout.tcp = tcp;
  return true;
}

/**
 * Make GSO frame `id` fit a tunnel whole: its segments of at most `maxFrame` bytes (gso_size lowered
 * if it was larger), checksum partial at its L4 header, no VLAN tag. True when the frame can be
 * encapsulated without segmentation and sent through a tunnel that segments it (ports/tunnel-tap.ts);
 * false (nothing changed) when it must be segmented here.
 */
export function fitGsoToTunnel(pool: FramePool, id: number, maxFrame: number): boolean {
  const b = pool.bytes;
  const base = id * pool.slotSize;
  const off = base + pool.start[id];
  if ((b[base] & NEEDS_CSUM) === 0 || !parseGso(b, base, off, pool.len[id]) || layout.l3 !== 14) return false;
  const csumStart = b[base + 6] | (b[base + 7] << 8);
  if (csumStart !== layout.l4) return false;
  const mss = b[base + 4] | (b[base + 5] << 8);
  const seg = maxFrame - layout.hdrLen;
  if (seg <= 0) return false;
  if (mss === 0 || mss > seg) { b[base + 4] = seg & 0xff; b[base + 5] = seg >>> 8; }
  return true;
}

/**
 * Cut GSO frame `id` into segments of at most `maxFrame` bytes (Ethernet header included) chained
 * after it; returns the number of frames (≥ 1), SEGMENT_NO_SLOTS (-1) when the pool had too few
 * free slots above `reserve`, SEGMENT_UNSUPPORTED (-2) for a layout it does not handle (in both
 * cases nothing changed; the caller drops with a reason). Segments copy the head's inPort and vlan.
 */
export function segmentGso(pool: FramePool, id: number, maxFrame: number, reserve: number): number {
  pool.whole(id); // segments copy the payload
  const b = pool.bytes;
  const base = id * pool.slotSize;
  const off = base + pool.start[id];
  const len = pool.len[id];
  const mss = b[base + 4] | (b[base + 5] << 8);
  if (!parseGso(b, base, off, len)) return SEGMENT_UNSUPPORTED;
  const { l3, l4, hdrLen, v4, tcp } = layout;
  let seg = maxFrame - hdrLen;
  if (mss > 0 && mss < seg) seg = mss;
  if (seg <= 0) return SEGMENT_UNSUPPORTED;
  const data = len - hdrLen;
  const n = data <= seg ? 1 : Math.ceil(data / seg);
  if (n > 1 && pool.freeTop - reserve < n - 1) return SEGMENT_NO_SLOTS;

  // copies first (from the untouched head), then each segment's headers
  const oldNext = pool.next[id];
  let prev = id;
  for (let k = 1; k < n; k++) {
    const s = pool.alloc();
    const sBase = s * pool.slotSize;
    const sOff = sBase + HEADROOM;
    const p = k < n - 1 ? seg : data - k * seg;
    b.copyWithin(sOff, off, off + hdrLen);
    b.copyWithin(sOff + hdrLen, off + hdrLen + k * seg, off + hdrLen + k * seg + p);
    pool.len[s] = hdrLen + p;
    pool.inPort[s] = pool.inPort[id];
    pool.vlan[s] = pool.vlan[id];
    fixSegment(b, sBase, sOff, l3, l4, hdrLen, p, k, n, k * seg, v4, tcp);
    pool.next[prev] = s;
    prev = s;
  }
  pool.next[prev] = oldNext;
  const p0 = n === 1 ? data : seg;
  pool.len[id] = hdrLen + p0;
  fixSegment(b, base, off, l3, l4, hdrLen, p0, 0, n, 0, v4, tcp);
  if (n > 1) pool.chained = true;
  return n;
}

/** headers and vnet header of segment k (of n) carrying `p` payload bytes at payload offset `at` */
function fixSegment(b: Uint8Array, vnet: number, o: number, l3: number, l4: number, hdrLen: number, p: number,
  k: number, n: number, at: number, v4: boolean, tcp: boolean): void {
  const ip = o + l3;
  const l4Len = hdrLen - l4 + p;
  let s: number;
  if (v4) {
    const ihl = (b[ip] & 0x0f) * 4;
    const tot = ihl + l4Len;
    b[ip + 2] = tot >>> 8; b[ip + 3] = tot & 0xff;
    const ipId = (((b[ip + 4] << 8) | b[ip + 5]) + k) & 0xffff;
    b[ip + 4] = ipId >>> 8; b[ip + 5] = ipId & 0xff;
    b[ip + 10] = 0; b[ip + 11] = 0;
    s = 0;
    for (let i = 0; i < ihl; i += 2) s += (b[ip + i] << 8) | b[ip + i + 1];
    const c = ~fold(s) & 0xffff;
    b[ip + 10] = c >>> 8; b[ip + 11] = c & 0xff;
    s = 0;
    for (let i = 12; i < 20; i += 2) s += (b[ip + i] << 8) | b[ip + i + 1];
  } else {
    b[ip + 4] = l4Len >>> 8; b[ip + 5] = l4Len & 0xff;
    s = 0;
    for (let i = 8; i < 40; i += 2) s += (b[ip + i] << 8) | b[ip + i + 1];
  }
  const t = o + l4;
  let csumOffset: number;
  if (tcp) {
    const seq = (((b[t + 4] << 24) | (b[t + 5] << 16) | (b[t + 6] << 8) | b[t + 7]) + at) >>> 0;
    b[t + 4] = seq >>> 24; b[t + 5] = (seq >>> 16) & 0xff; b[t + 6] = (seq >>> 8) & 0xff; b[t + 7] = seq & 0xff;
    if (k < n - 1) b[t + 13] &= ~0x09; // FIN, PSH: last segment only
    if (k > 0) b[t + 13] &= ~0x80; // CWR: first segment only
    s += 6;
    csumOffset = 16;
  } else {
    b[t + 4] = l4Len >>> 8; b[t + 5] = l4Len & 0xff;
    s += 17;
    csumOffset = 6;
  }
  // CHECKSUM_PARTIAL: the field holds the folded, uncomplemented pseudo-header sum
  const ps = fold(s + l4Len);
  b[t + csumOffset] = ps >>> 8; b[t + csumOffset + 1] = ps & 0xff;
  b[vnet] = NEEDS_CSUM;
  b[vnet + 1] = 0;
  b[vnet + 2] = hdrLen & 0xff; b[vnet + 3] = hdrLen >>> 8;
  b[vnet + 4] = 0; b[vnet + 5] = 0;
  b[vnet + 6] = l4 & 0xff; b[vnet + 7] = l4 >>> 8;
  b[vnet + 8] = csumOffset; b[vnet + 9] = 0;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** the length of frame `id`'s chain: 1 + its segments */
export function chainLength(pool: FramePool, id: number): number {
  let n = 1;
  for (let s = pool.next[id]; s >= 0; s = pool.next[s]) n++;
  return n;
}
