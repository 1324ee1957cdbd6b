/**
 * THE built-in port policies, in the order they run within each policy stage (Hyper-V's order:
 * ingress — VLAN classification, then ingress ACLs and guards; miniport edge — storm limit, QoS,
 * HNV routing and encapsulation/decapsulation, then mirror destinations (so a mirror copy survives HNV's choice of destinations); egress — trunk/VLAN, egress ACLs). Adding a policy is one entry here.
 */
import { aclPolicy } from './acl/index.js';
import { bandwidthModule } from './bandwidth/index.js';
import { extendedAclModule } from './extended-acl/index.js';
import { guardsPolicy } from './guards/index.js';
import { hnvPolicy } from './hnv/index.js';
import { mirrorPolicy } from './mirror/mirror.js';
import type { PolicyModule } from './runtime.js';
import { stormPolicy } from './storm/index.js';
import { vlanPolicy } from './vlan/index.js';

export const POLICY_MODULES: readonly PolicyModule[] = Object.freeze([
  vlanPolicy,
  guardsPolicy,
  stormPolicy,
  aclPolicy,
  extendedAclModule,
  bandwidthModule,
  hnvPolicy,
  mirrorPolicy,
]);
