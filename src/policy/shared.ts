/**
 * State the built-in policies share between the workers of one switch, in shared memory, created by
 * the control plane with the switch and handed to every worker (WorkerInit.policyShared): the
 * extended ACLs' flow-state table (policy/extended-acl) — a reply may arrive on another worker's
 * port than the frame that created its state — and HNV's provider neighbour table and VM ports'
 * learned MACs (policy/hnv).
 */
import { createFlowTableBuffer, flowTableBytes } from './extended-acl/flow-table.js';
import { createNeighborBuffer } from './hnv/neighbors.js';
import { HNV_PORTS_BYTES } from './hnv/shared-state.js';

export interface PolicySharedBuffers {
  /** policy/extended-acl/flow-table.ts */
  flows: SharedArrayBuffer;
  /** policy/hnv/neighbors.ts: the provider next hops' MACs (ARP on the uplink) */
  neighbors: SharedArrayBuffer;
  /** policy/hnv/shared-state.ts: the MAC each VM port of a virtual subnet was first seen sending from */
  hnvPorts: SharedArrayBuffer;
}

/**
 * Most flow states per switch (stateful extended ACL rules of all its ports). When the table holds
 * this many, a frame a stateful rule allows still passes but gets no state (policyCounters
 * flowTableFull). 48 bytes a slot, twice as many slots as entries: 6 MiB per switch.
 */
export const FLOW_TABLE_ENTRIES = 65536;
/** the flow table's size: 64-byte header + 2 × FLOW_TABLE_ENTRIES slots of 12 int32 (flow-table.ts) */
export const FLOW_TABLE_BYTES = flowTableBytes(FLOW_TABLE_ENTRIES);

export function createPolicyShared(): PolicySharedBuffers {
  return { flows: createFlowTableBuffer(FLOW_TABLE_ENTRIES), neighbors: createNeighborBuffer(), hnvPorts: new SharedArrayBuffer(HNV_PORTS_BYTES) };
}
