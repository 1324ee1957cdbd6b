/**
 * THE data path's order, written once (Hyper-V's "packet flow through the extensible switch data
 * path", docs/REFERENCE.md, "Extensions"). Execution (pipeline.ts compiles it into the engine's
 * stage array), `xvs pipeline show` (switch/extensions.ts), synthetic and live `xvs trace`
 * (trace steps carry the stage name) all derive from this list: adding a stage is one edit here
 * (a `policy` stage is run generically by the policy hooks registered under its name).
 *
 * Roles:
 *   builtin   run by the switch itself (validate; transmit = the engine's fan-out and batched sends)
 *   capture   the enabled capture extensions, in ingress order (egress: reversed)
 *   filter    the enabled filter extensions, likewise
 *   forward   the one forwarding extension (the built-in `learning` unless another is enabled)
 *   policy    built-in policies at their Hyper-V places; empty until the issues that fill them
 */
export type StageRole = 'builtin' | 'capture' | 'filter' | 'forward' | 'policy';
export type StagePath = 'ingress' | 'miniport' | 'egress';

export interface StageDef {
  readonly name: string;
  readonly path: StagePath;
  readonly role: StageRole;
  readonly doc: string;
}

export const STAGE_LIST: readonly StageDef[] = Object.freeze([
  { name: 'validate', path: 'ingress', role: 'builtin', doc: 'drop what is not an Ethernet frame the switch can forward (runt, oversize, bad EtherType, bad source MAC)' },
  { name: 'ingress-capture', path: 'ingress', role: 'capture', doc: 'capture extensions, most recently enabled first: observe and originate, never drop or alter' },
  { name: 'ingress-filter', path: 'ingress', role: 'filter', doc: 'filter extensions: drop by source port or content, clone, modify, inject' },
  { name: 'ingress-policies', path: 'ingress', role: 'policy', doc: 'built-in ingress policies: ingress ACLs, DHCP guard, router guard' },
  { name: 'ingress-forward', path: 'ingress', role: 'forward', doc: 'the forwarding extension adds destinations (learning unless another is enabled)' },
  { name: 'miniport', path: 'miniport', role: 'policy', doc: 'miniport edge: ACLs and QoS, mirror destinations, HNV encapsulation/decapsulation' },
  { name: 'egress-forward', path: 'egress', role: 'forward', doc: 'the forwarding extension may exclude destinations' },
  { name: 'egress-policies', path: 'egress', role: 'policy', doc: 'built-in egress policies: trunk/VLAN, monitoring, egress ACLs, QoS' },
  { name: 'egress-filter', path: 'egress', role: 'filter', doc: 'filter extensions in reverse order: may exclude destinations, drop, clone, inject' },
  { name: 'egress-capture', path: 'egress', role: 'capture', doc: 'capture extensions in reverse order: observe frames with their destinations' },
  { name: 'transmit', path: 'egress', role: 'builtin', doc: 'fan-out to every destination port whose link is up, one batched send per port' },
].map((s) => Object.freeze(s as StageDef)));

/** the stage names of one role, in list order */
export function stagesOfRole(role: StageRole): StageDef[] {
  return STAGE_LIST.filter((s) => s.role === role);
}

/** the direction an extension hook runs in at a stage (the miniport edge is neither) */
export function hookDirection(s: StageDef): 'ingress' | 'egress' {
  return s.path === 'egress' ? 'egress' : 'ingress';
}
