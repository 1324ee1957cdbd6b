/**
 * State the built-in policies share between the workers of one switch, in shared memory, created by
 * the control plane with the switch and handed to every worker (WorkerInit.policyShared): the
 * extended ACLs' flow-state table (policy/extended-acl) — a reply may arrive on another worker's
 * port than the frame that created its state.
 */
export interface PolicySharedBuffers {
  /** policy/extended-acl/flow-table.ts */
  flows: SharedArrayBuffer;
}

/** bytes per flow-table entry and entries: set by policy/extended-acl (placeholder until it lands) */
export const FLOW_TABLE_BYTES = 64 * 1024;

export function createPolicyShared(): PolicySharedBuffers {
  return { flows: new SharedArrayBuffer(FLOW_TABLE_BYTES) };
}
