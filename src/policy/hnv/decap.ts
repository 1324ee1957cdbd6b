/**
 * HNV decapsulation (owner: the "hnv-wire" part): recognise an NVGRE or VXLAN frame addressed to one
 * of this switch's PAs, check it, report the VSID, FlowID, outer addresses and encapsulation, and
 * strip the outer headers in place (pool.start moves forward, vnet offsets shift back).
 *
 * Checks (docs/REFERENCE.md, rules 6 and 7): outer Ethernet, optional 802.1Q, IPv4 (version 4,
 * IHL ≥ 5, total length within the frame, header checksum right, not a fragment) to a local PA.
 * GRE (protocol 47): C, R, S and bits 4–5 clear, K set, version 0; reserved bits 6–12 ignored (a
 * literal RFC 2784 receiver would drop every NVGRE packet); protocol 0x6558; key = VSID<<8 | FlowID.
 * UDP to port 4789: UDP length sane, VXLAN I flag set (other flags ignored on receipt, as RFC 7348
 * says, although Linux drops unknown flags), VNI = VSID. Either way at least a 14-byte inner
 * Ethernet header. GRE or UDP/4789 to a local PA that fails a check is `badHeader`; anything else
 * (other protocols, other UDP ports, other destinations, later fragments of UDP) is `notTunnel`.
 */
import type { HnvEncap } from '../../config/types.js';
import type { FramePool } from '../../core/frame-pool.js';
import { shiftVnetOffsets } from '../../core/vlan.js';
import { GRE_PROTO_TEB, VXLAN_FLAG_I, VXLAN_PORT } from './encap.js';

/** what `parseTunnel` found; `NOT_TUNNEL` frames are not HNV's (the forwarder's decision stands) */
export const TunnelParse = {
  /** not GRE/VXLAN to a local PA */
  notTunnel: 0,
  ok: 1,
  /** GRE or VXLAN to a local PA whose header fails the checks (drop reason hnv-bad-encapsulation) */
  badHeader: 2,
} as const;
export type TunnelParseResult = (typeof TunnelParse)[keyof typeof TunnelParse];

/** the fields of the last parsed tunnel frame (one instance per worker, no allocation per frame) */
export class TunnelInfo {
  encap: HnvEncap = 'vxlan';
  vsid = 0;
  /** NVGRE: the key's low byte; VXLAN: 0 */
  flowId = 0;
  /** outer source IPv4 as an unsigned 32-bit number */
  outerSrc = 0;
  /** outer destination IPv4 (the local PA) */
  outerDst = 0;
  /** outer 802.1Q VLAN id (0: untagged) */
  outerVlan = 0;
  /** bytes from the frame start to the inner Ethernet header */
  outerLen = 0;
  /** the inner frame's length (the outer IP total length bounds it: Ethernet padding excluded) */
  innerLen = 0;
}

const GRE_CHECKED_BITS = 0xfc07; // C R K S, bits 4–5, version
const IPPROTO_GRE = 47;
const IPPROTO_UDP = 17;

/**
 * Parse frame `id`; `localPas[0..count)` are this switch's PAs (IPv4 as unsigned 32-bit numbers).
 * On `ok`, `out` holds the tunnel's fields.
 */
export function parseTunnel(pool: FramePool, id: number, localPas: Uint32Array, count: number, out: TunnelInfo): TunnelParseResult {
  const len = pool.len[id];
  if (len < 34) return TunnelParse.notTunnel;
  const b = pool.bytes;
  const off = id * pool.slotSize + pool.start[id];
  let l3 = 14;
  let vlan = 0;
  let et = (b[off + 12] << 8) | b[off + 13];
  if (et === 0x8100) {
    vlan = ((b[off + 14] & 0x0f) << 8) | b[off + 15];
    et = (b[off + 16] << 8) | b[off + 17];
    l3 = 18;
    if (len < 38) return TunnelParse.notTunnel;
  }
  if (et !== 0x0800) return TunnelParse.notTunnel;
  const ip = off + l3;
  const proto = b[ip + 9];
  if (proto !== IPPROTO_GRE && proto !== IPPROTO_UDP) return TunnelParse.notTunnel;
  if ((b[ip] >>> 4) !== 4) return TunnelParse.notTunnel;
  const dst = ((b[ip + 16] << 24) | (b[ip + 17] << 16) | (b[ip + 18] << 8) | b[ip + 19]) >>> 0;
  let local = false;
  for (let k = 0; k < count; k++) if (localPas[k] === dst) { local = true; break; }
  if (!local) return TunnelParse.notTunnel;
  const ihl = (b[ip] & 0x0f) * 4;
  const totLen = (b[ip + 2] << 8) | b[ip + 3];
  const fragOff = ((b[ip + 6] & 0x1f) << 8) | b[ip + 7];
  const mf = (b[ip + 6] & 0x20) !== 0;
  const ipSane = ihl >= 20 && totLen >= ihl && l3 + totLen <= len;
  const l4 = l3 + ihl;
  if (proto === IPPROTO_UDP) {
    // only a UDP header we can read decides that this is VXLAN
    if (!ipSane || fragOff !== 0 || l4 + 8 > l3 + totLen) return TunnelParse.notTunnel;
    if (((b[off + l4 + 2] << 8) | b[off + l4 + 3]) !== VXLAN_PORT) return TunnelParse.notTunnel;
  }
  if (!ipSane || fragOff !== 0 || mf || !ipChecksumOk(b, ip, ihl)) return TunnelParse.badHeader;
  const end = l3 + totLen;
  let outerLen: number;
  if (proto === IPPROTO_GRE) {
    outerLen = l4 + 8;
    if (outerLen + 14 > end) return TunnelParse.badHeader;
    const g = off + l4;
    const flags = (b[g] << 8) | b[g + 1];
    if ((flags & GRE_CHECKED_BITS) !== 0x2000) return TunnelParse.badHeader;
    if (((b[g + 2] << 8) | b[g + 3]) !== GRE_PROTO_TEB) return TunnelParse.badHeader;
    out.encap = 'nvgre';
    out.vsid = (b[g + 4] << 16) | (b[g + 5] << 8) | b[g + 6];
    out.flowId = b[g + 7];
  } else {
    outerLen = l4 + 16;
    if (outerLen + 14 > end) return TunnelParse.badHeader;
    const u = off + l4;
    const udpLen = (b[u + 4] << 8) | b[u + 5];
    if (udpLen < 16 + 14 || l4 + udpLen > end) return TunnelParse.badHeader;
    if ((b[u + 8] & VXLAN_FLAG_I) === 0) return TunnelParse.badHeader;
    out.encap = 'vxlan';
    out.vsid = (b[u + 12] << 16) | (b[u + 13] << 8) | b[u + 14];
    out.flowId = 0;
  }
  out.outerSrc = ((b[ip + 12] << 24) | (b[ip + 13] << 16) | (b[ip + 14] << 8) | b[ip + 15]) >>> 0;
  out.outerDst = dst;
  out.outerVlan = vlan;
  out.outerLen = outerLen;
  out.innerLen = end - outerLen;
  return TunnelParse.ok;
}

function ipChecksumOk(b: Uint8Array, o: number, ihl: number): boolean {
  let s = 0;
  for (let k = 0; k < ihl; k += 2) s += (b[o + k] << 8) | b[o + k + 1];
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/**
 * Strip `outerLen` bytes of outer headers from frame `id` in place; the inner frame is `innerLen`
 * bytes (TunnelInfo.innerLen: without the outer frame's Ethernet padding; default: the rest). A
 * NEEDS_CSUM whose csum_start pointed into the outer headers loses the flag (the outer checksum
 * was the partial one, so the inner frame is complete).
 */
export function stripOuter(pool: FramePool, id: number, outerLen: number, innerLen = pool.len[id] - outerLen): void {
  const b = pool.bytes;
  const base = id * pool.slotSize;
  pool.start[id] += outerLen;
  pool.len[id] = innerLen;
  if (b[base] === 0 && b[base + 2] === 0 && b[base + 3] === 0) return;
  if ((b[base] & 1) !== 0 && (b[base + 6] | (b[base + 7] << 8)) < outerLen) b[base] &= ~1;
  const hl = b[base + 2] | (b[base + 3] << 8);
  if (hl !== 0 && hl <= outerLen) { b[base + 2] = 0; b[base + 3] = 0; }
  shiftVnetOffsets(b, base, -outerLen);
}
