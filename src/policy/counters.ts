/**
 * Policy counters: what the built-in port policies count besides drop reasons (those go to the
 * worker's CounterBlock under the frame's source port). One block per data-path worker (its only
 * writer), in shared memory, summed by the control plane like CounterBlock. Per port index a record
 * of POLICY_PORT_STRIDE slots: POLICY_PORT_FIELDS, then the meter area: for ACL entry k of the port
 * (its index in the port's `acls` list) inbound bytes, inbound packets, outbound bytes, outbound
 * packets. Resetting (`xvs port meter --reset`) is a baseline the control plane keeps, never a write
 * here.
 */
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';

export const POLICY_PORT_FIELDS = [
  /** storm-limited frames beyond the limit (also counted as drop reason storm-limit) */
  'stormExcess',
  /** frames not delivered to this port because of its VLAN mode (flood scoping, PVLAN) */
  'vlanExcluded',
  /** frames to this port removed by an inbound port ACL */
  'aclInboundDenied',
  /** frames to this port removed by an inbound extended ACL */
  'extendedAclInboundDenied',
  /** flow states created by this port's stateful extended ACL rules */
  'flowsCreated',
  /** a stateful rule matched but the flow-state table was full (the frame passed; its replies may not) */
  'flowTableFull',
  /** bytes dropped by the maximum bandwidth or the weighted share */
  'bandwidthDroppedBytes',
  /** frames copied to this mirror destination port */
  'mirrorCopies',
  /** frames to this port removed by an egress policy that is neither VLAN nor ACL */
  'egressOther',
] as const;
export type PolicyPortField = (typeof POLICY_PORT_FIELDS)[number];
export const PPF = Object.freeze(
  Object.fromEntries(POLICY_PORT_FIELDS.map((n, i) => [n, i])) as { [K in PolicyPortField]: number },
);
/** most port ACL entries a port may have (the schema enforces it; each has a meter record) */
export const MAX_ACLS_PER_PORT = 64;
/** most extended ACL entries a port may have */
export const MAX_EXTENDED_ACLS_PER_PORT = 64;
const METER_BASE = 16;
export const METER_FIELDS = ['inboundBytes', 'inboundPackets', 'outboundBytes', 'outboundPackets'] as const;
export const POLICY_PORT_STRIDE = METER_BASE + MAX_ACLS_PER_PORT * METER_FIELDS.length;
if (POLICY_PORT_FIELDS.length > METER_BASE) throw new Error('POLICY_PORT_FIELDS overflow the meter area');

/**
 * HNV counters per virtual subnet, after the port records: HNV_VSID_SLOTS records of HNV_VSID_STRIDE
 * slots, each [the VSID (0 = free record), HNV_VSID_FIELDS…]. A worker's HNV policy gives a VSID a
 * record when it first appears in the policy and keeps it while the VSID does; the control plane
 * sums records by their VSID over every worker's block (`hnvVsidCounters`).
 */
export const HNV_VSID_FIELDS = [
  /** frames encapsulated toward a remote PA (replication copies included) */
  'encapsulated',
  /** frames from the uplink decapsulated and delivered to a VM port of this VSID */
  'decapsulated',
  /** broadcast ARP requests answered from the lookup records (or for the distributed router) */
  'arpProxied',
  /** multicast neighbour solicitations answered (IPv6; not implemented yet) */
  'ndProxied',
  /** frames routed into this VSID from another VSID of its routing domain */
  'routed',
  /** frames delivered to a VM port of this VSID on this host without encapsulation */
  'deliveredLocally',
  /** broadcast/multicast copies sent to remote PAs (unicast replication) */
  'replicated',
  /** oversize frames answered with ICMP fragmentation needed / packet too big */
  'tooBig',
  /** frames of this VSID HNV dropped (the hnv-* drop reasons but hnv-dad, an absorbed announcement) */
  'rejected',
] as const;
export type HnvVsidField = (typeof HNV_VSID_FIELDS)[number];
export const HVF = Object.freeze(
  Object.fromEntries(HNV_VSID_FIELDS.map((n, i) => [n, i + 1])) as { [K in HnvVsidField]: number },
);
/** most virtual subnets one switch's HNV policy counts (more is refused at configure) */
export const HNV_VSID_SLOTS = 1024;
export const HNV_VSID_STRIDE = 12;
if (HNV_VSID_FIELDS.length + 1 > HNV_VSID_STRIDE) throw new Error('HNV_VSID_FIELDS overflow the record');
const HNV_BASE = MAX_PORTS_PER_SWITCH * POLICY_PORT_STRIDE;
const POLICY_COUNTER_SLOTS = HNV_BASE + HNV_VSID_SLOTS * HNV_VSID_STRIDE;

export type HnvVsidCounters = { vsid: number } & { [K in HnvVsidField]: number };

/** every VSID's HNV counters summed over the workers' blocks (control plane; `xvs hnv show`), by VSID */
export function hnvVsidCounters(blocks: readonly PolicyCounters[]): HnvVsidCounters[] {
  const byVsid = new Map<number, HnvVsidCounters>();
  for (const b of blocks) {
    for (let k = 0; k < HNV_VSID_SLOTS; k++) {
      const base = PolicyCounters.hnvVsid(k);
      const vsid = b.v[base];
      if (vsid === 0) continue;
      let row = byVsid.get(vsid);
      if (row === undefined) {
        row = { vsid, ...Object.fromEntries(HNV_VSID_FIELDS.map((f) => [f, 0])) } as HnvVsidCounters;
        byVsid.set(vsid, row);
      }
      for (const f of HNV_VSID_FIELDS) row[f] += b.v[base + HVF[f]];
    }
  }
  return [...byVsid.values()].sort((a, b) => a.vsid - b.vsid);
}

export class PolicyCounters {
  readonly buffer: SharedArrayBuffer;
  readonly v: Float64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(POLICY_COUNTER_SLOTS * 8);
    this.v = new Float64Array(this.buffer);
  }

  /** index of port p's record */
  static port(p: number): number {
    return p * POLICY_PORT_STRIDE;
  }

  /** index of the first of ACL entry k's METER_FIELDS in port p's record */
  static meter(p: number, k: number): number {
    return p * POLICY_PORT_STRIDE + METER_BASE + k * METER_FIELDS.length;
  }

  /** index of HNV VSID record k ([vsid, HNV_VSID_FIELDS…]) */
  static hnvVsid(k: number): number {
    return HNV_BASE + k * HNV_VSID_STRIDE;
  }

  clearPort(p: number): void {
    const b = PolicyCounters.port(p);
    this.v.fill(0, b, b + POLICY_PORT_STRIDE);
  }

  /** a slot summed over several blocks (control plane) */
  static sum(blocks: readonly PolicyCounters[], slot: number): number {
    let s = 0;
    for (const b of blocks) s += b.v[slot];
    return s;
  }
}
