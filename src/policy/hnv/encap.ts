/**
 * HNV encapsulation on the wire (owner: the "hnv-wire" part). NVGRE (RFC 7637: GRE 0x2000 / 0x6558,
 * key = VSID<<8 | FlowID) and VXLAN (RFC 7348: UDP 4789, flags 0x08, VNI = VSID, source port from the
 * inner flow hash in 49152..65535, UDP checksum 0), outer IPv4 only (TTL 64, DF set: a tunnel packet
 * is never fragmented; IPv6 PAs are not supported), optional outer 802.1Q tag (the PA's vlanId).
 * The outer header is built once per (record's PA, next-hop MAC) as a template and copied into the
 * frame's headroom (pool.start moves back, no copy of the inner frame); per frame only the outer
 * lengths, IP id/checksum, the flow-dependent fields (FlowID / UDP source port) and the VSID change.
 * The virtio-net header's csum_start/hdr_len shift by the outer length (core/vlan.ts does the same
 * for a tag) so a NEEDS_CSUM inner frame keeps its checksum offload.
 */
import type { HnvEncap } from '../../config/types.js';
import { VNET_HDR_LEN, type FramePool } from '../../core/frame-pool.js';
import { shiftVnetOffsets } from '../../core/vlan.js';
import { parseIPv4, sum16 } from '../../packet/addr.js';
import { parseMac } from '../../packet/ethernet.js';

export const VXLAN_PORT = 4789;
/** outer bytes without a VLAN tag: Ethernet 14 + IPv4 20 + GRE with key 8 */
export const NVGRE_OVERHEAD = 42;
/** Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 */
export const VXLAN_OVERHEAD = 50;
/** GRE flags/version word of NVGRE: only K (RFC 7637 §3.2) */
export const GRE_FLAGS_NVGRE = 0x2000;
/** GRE protocol type of NVGRE: Transparent Ethernet Bridging */
export const GRE_PROTO_TEB = 0x6558;
/** VXLAN flags byte: only I (VNI valid) */
export const VXLAN_FLAG_I = 0x08;

/**
 * The VM MTU that fits a `underlayMtu` provider network (1458 NVGRE, 1450 VXLAN on 1500): the outer
 * Ethernet header is not part of the underlay MTU, but the inner one is inside it, and both are 14.
 */
export function overlayMtu(encap: HnvEncap, underlayMtu: number): number {
  return underlayMtu - (encap === 'nvgre' ? NVGRE_OVERHEAD : VXLAN_OVERHEAD);
}

export interface OuterHeaderSpec {
  encap: HnvEncap;
  srcMac: string;
  dstMac: string;
  /** outer 802.1Q VLAN (0 / absent: untagged) */
  vlanId?: number;
  srcIp: string;
  dstIp: string;
}

/** an outer header built once: its bytes with zero lengths/checksum/VSID/flow fields */
export interface OuterTemplate {
  readonly encap: HnvEncap;
  readonly bytes: Uint8Array;
  /** offset of the outer IPv4 header in `bytes` (14, or 18 with a tag) */
  readonly ipOffset: number;
  /** offset of the GRE / UDP header in `bytes` */
  readonly l4Offset: number;
  /** unfolded one's-complement sum of the IPv4 header with total length, id and checksum zero */
  readonly ipSum: number;
  /**
   * `bytes` as little-endian 32-bit words starting at byte h, for h = 0..3: the copy into the slot
   * writes the first h bytes one by one so that the rest lands on 4-byte boundaries
   */
  readonly words: readonly Uint32Array[];
}

export class EncapSpecError extends Error {
  override name = 'EncapSpecError';
}

function macOf(s: string, field: string): Uint8Array {
  const m = parseMac(s);
  if (m === null) throw new EncapSpecError(`${field}: expected a MAC address, got ${JSON.stringify(s)}`);
  return m;
}

function ipv4Of(s: string, field: string): Uint8Array {
  const a = parseIPv4(s);
  if (a === null) throw new EncapSpecError(`${field}: expected an IPv4 address (IPv6 provider addresses are not supported), got ${JSON.stringify(s)}`);
  return a;
}

export function buildOuterTemplate(spec: OuterHeaderSpec): OuterTemplate {
  const vlanId = spec.vlanId ?? 0;
  if (!Number.isInteger(vlanId) || vlanId < 0 || vlanId > 4094) throw new EncapSpecError(`vlanId: expected 0..4094, got ${vlanId}`);
  const dst = macOf(spec.dstMac, 'dstMac');
  const src = macOf(spec.srcMac, 'srcMac');
  const srcIp = ipv4Of(spec.srcIp, 'srcIp');
  const dstIp = ipv4Of(spec.dstIp, 'dstIp');
  const ip = vlanId !== 0 ? 18 : 14;
  const l4 = ip + 20;
  const len = l4 + (spec.encap === 'nvgre' ? 8 : 16);
  const b = new Uint8Array(len);
  b.set(dst, 0);
  b.set(src, 6);
  if (vlanId !== 0) {
    b[12] = 0x81; b[13] = 0x00; b[14] = vlanId >>> 8; b[15] = vlanId & 0xff;
  }
  b[ip - 2] = 0x08; b[ip - 1] = 0x00;
  b[ip] = 0x45;
  b[ip + 6] = 0x40; // DF
  b[ip + 8] = 64; // TTL
  b[ip + 9] = spec.encap === 'nvgre' ? 47 : 17;
  b.set(srcIp, ip + 12);
  b.set(dstIp, ip + 16);
  if (spec.encap === 'nvgre') {
    b[l4] = GRE_FLAGS_NVGRE >>> 8; b[l4 + 1] = 0;
    b[l4 + 2] = GRE_PROTO_TEB >>> 8; b[l4 + 3] = GRE_PROTO_TEB & 0xff;
  } else {
    b[l4 + 2] = VXLAN_PORT >>> 8; b[l4 + 3] = VXLAN_PORT & 0xff;
    b[l4 + 8] = VXLAN_FLAG_I;
  }
  const words: Uint32Array[] = [];
  for (let h = 0; h < 4; h++) {
    const w = new Uint32Array((len - h) >>> 2);
    for (let k = 0; k < w.length; k++) {
      const o = h + 4 * k;
      w[k] = (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
    }
    words.push(w);
  }
  return { encap: spec.encap, bytes: b, ipOffset: ip, l4Offset: l4, ipSum: sum16(b, ip, 20, 0), words };
}

/** 32-bit mixing step (murmur3's) */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function word(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** the flow hash's state after an IPv4 frame's two addresses (the batch's decision reuse keeps it per address pair) */
export function flowSeedIpv4(sip: number, dip: number): number {
  return mix(mix(0x9747b28c, sip | 0), dip | 0);
}

/**
 * innerFlowHash of an untagged IPv4 frame at bytes[off..off+len) (len ≥ 34) whose addresses gave
 * `seed` (flowSeedIpv4): the protocol and the first L4 word, then the finaliser; the same bits as a
 * signed 32-bit int (a small integer to V8: an unsigned one above 2^31 would be boxed per call)
 */
export function flowHashIpv4(seed: number, b: Uint8Array, off: number, len: number): number {
  const o = off + 14;
  const proto = b[o + 9];
  let h = mix(seed, proto);
  if ((proto === 6 || proto === 17 || proto === 132) && ((b[o + 6] & 0x3f) | b[o + 7]) === 0) {
    const l4 = 14 + (b[o] & 0x0f) * 4;
    if (len >= l4 + 4) h = mix(h, word(b, off + l4));
  }
  return finish(h) | 0;
}

/** murmur3's finaliser: every input bit reaches the low byte (the FlowID) and the low 14 bits (the port) */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A hash of the inner frame's flow (addresses, protocol, TCP/UDP/SCTP ports): FlowID and VXLAN
 * source port entropy, the same for every frame of a flow. Non-IP frames hash their MAC addresses.
 * Reads a few words, allocates nothing; unsigned 32-bit.
 */
export function innerFlowHash(pool: FramePool, id: number): number {
  const b = pool.bytes;
  const off = id * pool.slotSize + pool.start[id];
  const len = pool.len[id];
  if (len < 14) return 0;
  let l3 = 14;
  let et = (b[off + 12] << 8) | b[off + 13];
  if (et === 0x8100 && len >= 18) { et = (b[off + 16] << 8) | b[off + 17]; l3 = 18; }
  let h = 0x9747b28c;
  let proto = 0;
  let l4 = -1;
  const o = off + l3;
  if (et === 0x0800 && l3 === 14 && len >= 34) return flowHashIpv4(flowSeedIpv4(word(b, o + 12), word(b, o + 16)), b, off, len) >>> 0;
  if (et === 0x0800 && len >= l3 + 20) {
    h = mix(h, word(b, o + 12));
    h = mix(h, word(b, o + 16));
    proto = b[o + 9];
    // ports only in the first fragment (offset 0, MF clear): later fragments would hash differently
    if (((b[o + 6] & 0x3f) | b[o + 7]) === 0) l4 = l3 + (b[o] & 0x0f) * 4;
  } else if (et === 0x86dd && len >= l3 + 40) {
    for (let k = 8; k < 40; k += 4) h = mix(h, word(b, o + k));
    proto = b[o + 6];
    l4 = l3 + 40;
  } else {
    h = mix(h, word(b, off));
    h = mix(h, word(b, off + 4));
    h = mix(h, word(b, off + 8));
    return (h ^ (h >>> 16)) >>> 0;
  }
  h = mix(h, proto);
  if ((proto === 6 || proto === 17 || proto === 132) && l4 > 0 && len >= l4 + 4) h = mix(h, word(b, off + l4));
  return finish(h);
}

/** the outer IPv4 identification: a per-worker counter (DF is set, so it only has to vary) */
const ipIds = { next: 0 };

/**
 * Prepend `t` to frame `id` for virtual subnet `vsid` in place; false when the slot lacks headroom
 * (the caller drops the frame with a reason). The frame's pool.vlan becomes 0: the outer tag, if
 * any, is in the template, and the engine must not push the inner frame's VLAN on top of it.
 */
export function encapsulate(pool: FramePool, id: number, t: OuterTemplate, vsid: number, flowHash: number): boolean {
  if (pool.buffer !== viewOf) { viewOf = pool.buffer; view = new Uint32Array(viewOf, 0, viewOf.byteLength >>> 2); }
  return encapsulateWith(pool, view, id, t, vsid, flowHash);
}

/** a 32-bit view of the last pool's buffer (a worker has one pool; little-endian host, as core/vlan.ts assumes) */
let viewOf: SharedArrayBuffer | null = null;
let view: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * encapsulate with the caller's 32-bit view of pool.buffer (`new Uint32Array(pool.buffer, 0,
 * pool.buffer.byteLength >>> 2)`, kept per worker): skips the view lookup
 */
export function encapsulateWith(pool: FramePool, words: Uint32Array, id: number, t: OuterTemplate, vsid: number, flowHash: number): boolean {
  const tb = t.bytes;
  const outer = tb.length;
  const start = pool.start[id];
  if (start < VNET_HDR_LEN + outer) return false;
  const b = pool.bytes;
  const base = id * pool.slotSize;
  const ns = start - outer;
  const o = base + ns;
  // ~50 bytes: up to 3 single bytes, then aligned 32-bit words (a byte loop costs ~4× as much)
  const head = (4 - (o & 3)) & 3;
  for (let k = 0; k < head; k++) b[o + k] = tb[k];
  const tw = t.words[head];
  const q = (o + head) >>> 2;
  // every template has at least 9 whole words (42 bytes, 3 of them single): unrolled, then the rest
  words[q] = tw[0]; words[q + 1] = tw[1]; words[q + 2] = tw[2]; words[q + 3] = tw[3]; words[q + 4] = tw[4];
  words[q + 5] = tw[5]; words[q + 6] = tw[6]; words[q + 7] = tw[7]; words[q + 8] = tw[8];
  for (let k = 9; k < tw.length; k++) words[q + k] = tw[k];
  for (let k = head + tw.length * 4; k < outer; k++) b[o + k] = tb[k];
  const total = pool.len[id] + outer;
  const ip = o + t.ipOffset;
  const ipLen = total - t.ipOffset;
  const ipId = ipIds.next;
  ipIds.next = (ipId + 1) & 0xffff;
  b[ip + 2] = ipLen >>> 8; b[ip + 3] = ipLen & 0xff;
  b[ip + 4] = ipId >>> 8; b[ip + 5] = ipId & 0xff;
  let s = t.ipSum + ipLen + ipId;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  b[ip + 10] = c >>> 8; b[ip + 11] = c & 0xff;
  const l4 = o + t.l4Offset;
  if (t.encap === 'nvgre') {
    b[l4 + 4] = (vsid >>> 16) & 0xff; b[l4 + 5] = (vsid >>> 8) & 0xff; b[l4 + 6] = vsid & 0xff;
    b[l4 + 7] = flowHash & 0xff;
  } else {
    const sport = 0xc000 | (flowHash & 0x3fff);
    const udpLen = total - t.l4Offset;
    b[l4] = sport >>> 8; b[l4 + 1] = sport & 0xff;
    b[l4 + 4] = udpLen >>> 8; b[l4 + 5] = udpLen & 0xff;
    b[l4 + 12] = (vsid >>> 16) & 0xff; b[l4 + 13] = (vsid >>> 8) & 0xff; b[l4 + 14] = vsid & 0xff;
  }
  pool.start[id] = ns;
  pool.len[id] = total;
  pool.vlan[id] = 0;
  if (b[base] !== 0 || b[base + 2] !== 0 || b[base + 3] !== 0) shiftVnetOffsets(b, base, outer);
  return true;
}

/**
 * Writes one outer header into frame after frame, for a run of frames that share a template and a
 * VSID (the batch's decision reuse): the template with the VSID in place as big-endian 32-bit words
 * written through a DataView (one store per word at any alignment), then the per-frame fields. The
 * frames come out byte for byte as encapsulateWith makes them. Made once per worker; `prepare` per run.
 */
export class OuterWriter {
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private viewOf: SharedArrayBuffer | null = null;
  /** the template's bytes with the VSID, as big-endian words; the last 2 bytes in `tail` */
  private readonly w = new Int32Array(16);
  private nWords = 0;
  private tail = 0;
  private outer = 0;
  private ipOffset = 0;
  private l4Offset = 0;
  private ipSum = 0;
  private nvgre = false;

  /** false when `t` has a length this writer does not handle (4k + 2 bytes: every template has) */
  prepare(pool: FramePool, t: OuterTemplate, vsid: number): boolean {
    const b = t.bytes;
    if ((b.length & 3) !== 2 || b.length > 66) return false;
    if (pool.buffer !== this.viewOf) { this.viewOf = pool.buffer; this.view = new DataView(pool.buffer); }
    const nvgre = t.encap === 'nvgre';
    const l4 = t.l4Offset;
    const v = (o: number): number => {
      if (nvgre && o >= l4 + 4 && o <= l4 + 6) return (vsid >>> (8 * (l4 + 6 - o))) & 0xff;
      if (!nvgre && o >= l4 + 12 && o <= l4 + 14) return (vsid >>> (8 * (l4 + 14 - o))) & 0xff;
      return b[o];
    };
    this.nWords = b.length >>> 2;
    for (let k = 0; k < this.nWords; k++) this.w[k] = (v(4 * k) << 24) | (v(4 * k + 1) << 16) | (v(4 * k + 2) << 8) | v(4 * k + 3);
    this.tail = (v(b.length - 2) << 8) | v(b.length - 1);
    this.outer = b.length;
    this.ipOffset = t.ipOffset;
    this.l4Offset = l4;
    this.ipSum = t.ipSum;
    this.nvgre = nvgre;
    return true;
  }

  /** encapsulateWith(pool, …, id, t, vsid, flowHash) for the prepared t and vsid */
  write(pool: FramePool, id: number, flowHash: number): boolean {
    const outer = this.outer;
    const start = pool.start[id];
    if (start < VNET_HDR_LEN + outer) return false;
    const dv = this.view;
    const w = this.w;
    const base = id * pool.slotSize;
    const ns = start - outer;
    const o = base + ns;
    const n = this.nWords;
    dv.setInt32(o, w[0]); dv.setInt32(o + 4, w[1]); dv.setInt32(o + 8, w[2]); dv.setInt32(o + 12, w[3]);
    dv.setInt32(o + 16, w[4]); dv.setInt32(o + 20, w[5]); dv.setInt32(o + 24, w[6]); dv.setInt32(o + 28, w[7]);
    dv.setInt32(o + 32, w[8]); dv.setInt32(o + 36, w[9]);
    for (let k = 10; k < n; k++) dv.setInt32(o + 4 * k, w[k]);
    dv.setUint16(o + 4 * n, this.tail);
    const total = pool.len[id] + outer;
    const ip = o + this.ipOffset;
    const ipLen = total - this.ipOffset;
    const ipId = ipIds.next;
    ipIds.next = (ipId + 1) & 0xffff;
    let s = this.ipSum + ipLen + ipId;
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    dv.setUint16(ip + 2, ipLen);
    dv.setUint16(ip + 4, ipId);
    dv.setUint16(ip + 10, ~s & 0xffff);
    const l4 = o + this.l4Offset;
    if (this.nvgre) dv.setUint8(l4 + 7, flowHash & 0xff);
    else {
      dv.setUint16(l4, 0xc000 | (flowHash & 0x3fff));
      dv.setUint16(l4 + 4, total - this.l4Offset);
    }
    pool.start[id] = ns;
    pool.len[id] = total;
    pool.vlan[id] = 0;
    const b = pool.bytes;
    if (b[base] !== 0 || b[base + 2] !== 0 || b[base + 3] !== 0) shiftVnetOffsets(b, base, outer);
    return true;
  }
}
