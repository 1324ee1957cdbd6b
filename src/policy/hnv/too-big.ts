/**
 * Path-MTU answers (owner: the "hnv-wire" part): an inner IPv4 packet with DF larger than the overlay
 * MTU becomes, in place, an ICMP "fragmentation needed" (type 3 code 4, next-hop MTU, RFC 1191) and
 * an IPv6 packet an ICMPv6 "packet too big" (type 2, MTU, RFC 4443), addressed back to the sender,
 * with `fromMac`/`fromIp` as the answering router; the caller sends it back out of the port it came
 * in on. The quote is as much of the original IP packet as keeps the answer within 576 bytes (IPv4,
 * RFC 1812 §4.3.2.3) or 1280 bytes (IPv6). The new headers go into the headroom (start moves back 28
 * or 48 bytes; the quoted packet is not copied). The virtio-net header is cleared (no offload).
 * Never answered: ICMP/ICMPv6 errors, later IPv4 fragments, multicast/broadcast/unspecified sources.
 */
import { VNET_HDR_LEN, type FramePool } from '../../core/frame-pool.js';

const V4_QUOTE_MAX = 576 - 20 - 8;
const V6_QUOTE_MAX = 1280 - 40 - 8;

/** convert frame `id` in place; false when it is not an IPv4/IPv6 packet that can be answered */
export function toPacketTooBig(pool: FramePool, id: number, mtu: number, fromMac: Uint8Array, fromIp: Uint8Array): boolean {
  pool.whole(id); // the ICMP error quotes the frame
  const b = pool.bytes;
  const base = id * pool.slotSize;
  const start = pool.start[id];
  const off = base + start;
  const len = pool.len[id];
  if (len < 14 || fromMac.length !== 6) return false;
  let l3 = 14;
  let et = (b[off + 12] << 8) | b[off + 13];
  if (et === 0x8100 && len >= 18) { et = (b[off + 16] << 8) | b[off + 17]; l3 = 18; }
  const ip = off + l3;
  let hdr: number;
  let quote: number;
  if (et === 0x0800) {
    if (fromIp.length !== 4 || len < l3 + 20 || (b[ip] >>> 4) !== 4) return false;
    const ihl = (b[ip] & 0x0f) * 4;
    if (ihl < 20 || len < l3 + ihl) return false;
    if ((((b[ip + 6] & 0x1f) << 8) | b[ip + 7]) !== 0) return false; // not the first fragment
    const s0 = b[ip + 12];
    if (s0 === 0 || s0 >= 224 || (s0 === 127)) return false; // unspecified, multicast/reserved, loopback
    if (b[ip + 9] === 1 && len >= l3 + ihl + 1 && isIcmpError(b[ip + ihl])) return false;
    hdr = 28;
    const tot = (b[ip + 2] << 8) | b[ip + 3];
    quote = Math.min(len - l3, tot >= ihl ? tot : len - l3, V4_QUOTE_MAX);
  } else if (et === 0x86dd) {
    if (fromIp.length !== 16 || len < l3 + 40 || (b[ip] >>> 4) !== 6) return false;
    if (b[ip + 8] === 0xff || isZero(b, ip + 8, 16)) return false; // multicast or unspecified source
    if (b[ip + 6] === 58 && len >= l3 + 41 && b[ip + 40] < 128) return false; // ICMPv6 error
    hdr = 48;
    quote = Math.min(len - l3, 40 + ((b[ip + 4] << 8) | b[ip + 5]), V6_QUOTE_MAX);
  } else {
    return false;
  }
  if (start < VNET_HDR_LEN + hdr) return false;
  // the original Ethernet header and IP addresses are overwritten below: keep what is needed
  const m0 = (b[off + 6] << 8) | b[off + 7];
  const m1 = (b[off + 8] << 24 | b[off + 9] << 16 | b[off + 10] << 8 | b[off + 11]) >>> 0;
  const tci = l3 === 18 ? (b[off + 14] << 8) | b[off + 15] : -1;
  const ns = start - hdr;
  const o = base + ns;
  const nip = o + l3;
  if (et === 0x0800) {
    // quoted source (original source) becomes the destination: read before overwriting
    const src = (b[ip + 12] << 24 | b[ip + 13] << 16 | b[ip + 14] << 8 | b[ip + 15]) >>> 0;
    const total = 28 + quote;
    b[nip] = 0x45; b[nip + 1] = 0xc0; b[nip + 2] = total >>> 8; b[nip + 3] = total & 0xff;
    b[nip + 4] = 0; b[nip + 5] = 0; b[nip + 6] = 0; b[nip + 7] = 0;
    b[nip + 8] = 64; b[nip + 9] = 1; b[nip + 10] = 0; b[nip + 11] = 0;
    for (let k = 0; k < 4; k++) b[nip + 12 + k] = fromIp[k];
    b[nip + 16] = src >>> 24; b[nip + 17] = (src >>> 16) & 0xff; b[nip + 18] = (src >>> 8) & 0xff; b[nip + 19] = src & 0xff;
    put16(b, nip + 10, checksum(b, nip, 20, 0));
    const ic = nip + 20;
    b[ic] = 3; b[ic + 1] = 4; b[ic + 2] = 0; b[ic + 3] = 0; b[ic + 4] = 0; b[ic + 5] = 0;
    put16(b, ic + 6, mtu & 0xffff);
    put16(b, ic + 2, checksum(b, ic, 8 + quote, 0));
  } else {
    // the original source becomes the destination (the quoted packet itself is never overwritten)
    for (let k = 0; k < 16; k++) b[nip + 24 + k] = b[ip + 8 + k];
    const plen = 8 + quote;
    b[nip] = 0x60; b[nip + 1] = 0; b[nip + 2] = 0; b[nip + 3] = 0;
    b[nip + 4] = plen >>> 8; b[nip + 5] = plen & 0xff; b[nip + 6] = 58; b[nip + 7] = 64;
    for (let k = 0; k < 16; k++) b[nip + 8 + k] = fromIp[k];
    const ic = nip + 40;
    b[ic] = 2; b[ic + 1] = 0; b[ic + 2] = 0; b[ic + 3] = 0;
    b[ic + 4] = mtu >>> 24; b[ic + 5] = (mtu >>> 16) & 0xff; b[ic + 6] = (mtu >>> 8) & 0xff; b[ic + 7] = mtu & 0xff;
    let ps = 0;
    for (let k = 8; k < 40; k += 2) ps += (b[nip + k] << 8) | b[nip + k + 1];
    ps += 58 + plen;
    put16(b, ic + 2, checksum(b, ic, plen, ps));
  }
  for (let k = 0; k < 6; k++) b[o + 6 + k] = fromMac[k];
  b[o] = m0 >>> 8; b[o + 1] = m0 & 0xff; b[o + 2] = m1 >>> 24; b[o + 3] = (m1 >>> 16) & 0xff; b[o + 4] = (m1 >>> 8) & 0xff; b[o + 5] = m1 & 0xff;
  if (tci >= 0) { b[o + 12] = 0x81; b[o + 13] = 0x00; put16(b, o + 14, tci); }
  put16(b, o + l3 - 2, et);
  b.fill(0, base, base + VNET_HDR_LEN);
  pool.start[id] = ns;
  pool.len[id] = l3 + hdr + quote;
  return true;
}

function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

function isZero(b: Uint8Array, o: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (b[o + k] !== 0) return false;
  return true;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

/** the Internet checksum of b[o, o+n) plus an unfolded partial sum */
function checksum(b: Uint8Array, o: number, n: number, sum: number): number {
  let s = sum;
  let k = 0;
  for (; k + 1 < n; k += 2) s += (b[o + k] << 8) | b[o + k + 1];
  if (k < n) s += b[o + k] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
