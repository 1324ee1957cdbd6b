/**
 * HNV encapsulation on the wire (owner: the "hnv-wire" part). NVGRE (RFC 7637: GRE 0x2000 / 0x6558,
 * key = VSID<<8 | FlowID) and VXLAN (RFC 7348: UDP 4789, flags 0x08, VNI = VSID, source port from the
 * inner flow hash), outer IPv4 (IPv6 PAs: say if unsupported), optional outer 802.1Q tag (the PA's
 * vlanId). The outer header is built once per (record's PA, next-hop MAC) as a template and copied
 * into the frame's headroom (pool.start moves back, no copy of the inner frame); per frame only the
 * outer lengths, IP id/checksum, the flow-dependent fields (FlowID / UDP source port) and the VSID
 * change. The virtio-net header's csum_start/hdr_len shift by the outer length (core/vlan.ts does the
 * same for a tag) so a NEEDS_CSUM inner frame keeps its checksum offload.
 */
import type { HnvEncap } from '../../config/types.js';
import type { FramePool } from '../../core/frame-pool.js';

export const VXLAN_PORT = 4789;
/** outer bytes without a VLAN tag: Ethernet 14 + IPv4 20 + GRE with key 8 */
export const NVGRE_OVERHEAD = 42;
/** Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 */
export const VXLAN_OVERHEAD = 50;

/** the VM MTU that fits a `underlayMtu` provider network (1458 NVGRE, 1450 VXLAN on 1500) */
export function overlayMtu(encap: HnvEncap, underlayMtu: number): number {
  return underlayMtu - (encap === 'nvgre' ? NVGRE_OVERHEAD : VXLAN_OVERHEAD) + 14;
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
}

export function buildOuterTemplate(spec: OuterHeaderSpec): OuterTemplate {
  throw new Error(`hnv encap: not implemented (${spec.encap})`);
}

/** a hash of the inner frame's flow (addresses, protocol, ports): FlowID and VXLAN source port entropy */
export function innerFlowHash(pool: FramePool, id: number): number {
  return pool.len[id] & 0;
}

/**
 * Prepend `t` to frame `id` for virtual subnet `vsid` in place; false when the slot lacks headroom
 * (the caller drops the frame with a reason).
 */
export function encapsulate(pool: FramePool, id: number, t: OuterTemplate, vsid: number, flowHash: number): boolean {
  throw new Error(`hnv encap: not implemented (${pool.len[id]} ${t.encap} ${vsid} ${flowHash})`);
}
