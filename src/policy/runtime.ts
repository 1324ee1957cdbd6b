/**
 * PolicyRuntime: the built-in port policies of one data-path worker. The control plane sends every
 * port's settings (SwitchPolicyInput, on each change); each policy module (modules.ts, in the one
 * order they run within a stage) turns them into hooks at its policy stages of the stage list, and
 * the runtime swaps them into the worker's BuiltinPolicies as a whole — between two batches, so a
 * batch sees the old policies or the new, never half. A module keeps its own state (learned MACs,
 * token buckets, flow states) across changes; a port with no policy costs nothing per frame: each
 * hook's `appliesTo` looks at the batch's port once.
 */
import type { SwitchPolicyInput } from '../pipeline/port-policies.js';
import type { CounterBlock } from '../core/counters.js';
import type { FramePool } from '../core/frame-pool.js';
import type { VlanTables } from '../core/vlan.js';
import type { BuiltinPolicies, PolicyHook, PolicyTraceNotes } from '../pipeline/policies.js';
import type { PortPresence } from '../pipeline/views.js';
import { PortPolicyTable } from '../pipeline/port-policies.js';
import type { PolicyCounters } from './counters.js';
import type { PolicySharedBuffers } from './shared.js';

// the settings every worker gets are defined below the policies (the views read them too)
export type { PolicyPort, PolicyPortKind, SwitchPolicyInput } from '../pipeline/port-policies.js';

export type PolicyStageName = 'ingress-policies' | 'miniport' | 'egress-policies';


/** what a worker gives its policy modules */
export interface PolicyEnv {
  readonly pool: FramePool;
  readonly counters: CounterBlock;
  readonly policyCounters: PolicyCounters;
  readonly shared: PolicySharedBuffers;
  readonly presence: PortPresence;
  readonly batchSize: number;
  readonly workerIndex: number;
  readonly workerCount: number;
  readonly trace: PolicyTraceNotes;
  /** the worker's VLAN state (core/vlan.ts): written by policy/vlan only, read by the engine's transmit and the MAC table */
  readonly vlan: VlanTables;
  log(message: string): void;
  /**
   * Send frame `id` (a slot of `pool` the caller allocated and filled) straight out of `port` at the
   * start of the next breath, without running the pipeline: a policy's own control frames (HNV's ARP
   * for provider next hops). false: the queue is full (the caller releases the slot and counts it).
   */
  originate(id: number, port: number): boolean;
}

/** a hook a module wants at one policy stage */
export interface PolicyPlacement {
  stage: PolicyStageName;
  hook: PolicyHook;
}

/** one module's state in one worker */
export interface PolicyModuleInstance {
  /** the hooks for these settings ([] when no port sets anything this module enforces) */
  configure(input: SwitchPolicyInput): PolicyPlacement[];
  /**
   * Once a second, on the switch's first worker only (housekeeping): e.g. expire shared state. `now`
   * is whole wall-clock seconds. A module that keeps a finer clock of its own must not name any of
   * its methods `tick` (the bandwidth shares once were, and got refilled here every second).
   */
  tick?(now: number): void;
}

/** a built-in policy (modules.ts lists them in order) */
export interface PolicyModule {
  readonly name: string;
  /** the stages it may place hooks at, for docs and `pipeline show` */
  readonly stages: readonly PolicyStageName[];
  /** one line per port that uses it, for `xvs pipeline show` (control plane; pure) */
  summary(input: SwitchPolicyInput): string[];
  create(env: PolicyEnv): PolicyModuleInstance;
}

export class PolicyRuntime {
  readonly env: PolicyEnv;
  private readonly target: BuiltinPolicies;
  private readonly instances: { module: PolicyModule; inst: PolicyModuleInstance }[];
  private placed: PolicyPlacement[] = [];
  input: SwitchPolicyInput = { ports: [] };
  /** every port's policies and extension features as extensions read them (views, contexts) */
  readonly portPolicies = new PortPolicyTable();

  constructor(target: BuiltinPolicies, env: PolicyEnv, modules: readonly PolicyModule[]) {
    this.target = target;
    this.env = env;
    this.instances = modules.map((module) => ({ module, inst: module.create(env) }));
  }

  /** build every module's hooks for `input` and replace the installed ones (all or nothing) */
  install(input: SwitchPolicyInput): void {
    const next: PolicyPlacement[] = [];
    for (const { module, inst } of this.instances) {
      try {
        next.push(...inst.configure(input));
      } catch (e) {
        throw new Error(`policy ${module.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const p of this.placed) this.target.remove(p.stage, p.hook);
    for (const p of next) this.target.add(p.stage, p.hook);
    this.placed = next;
    this.input = input;
    this.portPolicies.update(input);
  }

  /** every module's housekeeping (DataPath.housekeeping calls it on worker 0 only) */
  tick(now: number): void {
    for (const { inst } of this.instances) inst.tick?.(now);
  }

  /** the hooks installed now, in order, with their stage */
  installed(): readonly PolicyPlacement[] {
    return this.placed;
  }
}
