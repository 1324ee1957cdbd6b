/**
 * HNV decapsulation (owner: the "hnv-wire" part): recognise an NVGRE or VXLAN frame addressed to one
 * of this switch's PAs, check it (GRE: C=0, K=1, S=0, version 0, protocol 0x6558, reserved bits 6–12
 * ignored; VXLAN: I flag set, other flags ignored; outer IPv4 header sane, not a fragment), report the
 * VSID, FlowID, outer source address and encapsulation, and strip the outer headers in place
 * (pool.start moves forward, vnet offsets shift back).
 */
import type { HnvEncap } from '../../config/types.js';
import type { FramePool } from '../../core/frame-pool.js';

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
  /** outer source IPv4 as an unsigned 32-bit number */
  outerSrc = 0;
  /** outer destination IPv4 (the local PA) */
  outerDst = 0;
  /** bytes from the frame start to the inner Ethernet header */
  outerLen = 0;
}

/**
 * Parse frame `id`; `localPas[0..count)` are this switch's PAs (IPv4 as unsigned 32-bit numbers).
 * On `ok`, `out` holds the tunnel's fields.
 */
export function parseTunnel(pool: FramePool, id: number, localPas: Uint32Array, count: number, out: TunnelInfo): TunnelParseResult {
  void pool; void id; void localPas; void count; void out;
  return TunnelParse.notTunnel;
}

/** strip `outerLen` bytes of outer headers from frame `id` in place */
export function stripOuter(pool: FramePool, id: number, outerLen: number): void {
  throw new Error(`hnv decap: not implemented (${pool.len[id]} ${outerLen})`);
}
