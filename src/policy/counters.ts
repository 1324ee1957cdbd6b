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

export class PolicyCounters {
  readonly buffer: SharedArrayBuffer;
  readonly v: Float64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(MAX_PORTS_PER_SWITCH * POLICY_PORT_STRIDE * 8);
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
