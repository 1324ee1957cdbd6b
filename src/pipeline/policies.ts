/**
 * Built-in policy stages (the `policy` entries of stage-list.ts): ingress ACLs and guards before
 * forwarding, the miniport edge (ACLs, QoS, mirroring, HNV), egress policies after it. They run
 * whichever forwarder is enabled. Each stage holds the policy hooks registered under its name;
 * a hook says once per batch whether it has anything to do (e.g. "does the batch's source port
 * have a policy?"), so a switch with no policies costs one length check per stage and batch.
 */
import type { Batch } from '../core/batch.js';
import type { FramePool } from '../core/frame-pool.js';
import type { BreathContext, Stage } from '../core/stage.js';
import { STAGE_LIST, type StageDef } from './stage-list.js';

export interface PolicyHook {
  readonly name: string;
  /** decided once per batch, before any frame is looked at */
  appliesTo(batch: Batch): boolean;
  process(batch: Batch, pool: FramePool, ctx: BreathContext): void;
}

export class PolicyStage implements Stage {
  readonly name: string;
  readonly def: StageDef;
  readonly hooks: PolicyHook[] = [];

  constructor(def: StageDef) {
    this.def = def;
    this.name = def.name;
  }

  process(batch: Batch, pool: FramePool, ctx: BreathContext): void {
    const h = this.hooks;
    for (let k = 0; k < h.length; k++) if (h[k].appliesTo(batch)) h[k].process(batch, pool, ctx);
  }
}

/**
 * Per-frame words saying which policy entry dropped or excluded a frame ("port ACL vm1 outbound deny
 * 10.0.0.0/8"), for a trace. Hooks write only while `on` (a trace watches the batch), so they cost
 * one boolean test otherwise; the tracer reads and clears them after each policy stage.
 */
export class PolicyTraceNotes {
  on = false;
  /**
   * true while a synthetic frame (`xvs trace --packet`) runs: it is never sent, so policies judge it
   * against their state but change none (no flow state, tokens, meters, storm counts, mirror counts)
   */
  synthetic = false;
  readonly words: (string | undefined)[];
  constructor(capacity: number) { this.words = new Array<string | undefined>(capacity).fill(undefined); }
  /** say why frame i was dropped or a destination excluded (the first note of a stage stays) */
  note(i: number, word: string): void { if (this.words[i] === undefined) this.words[i] = word; }
  clear(n: number): void { this.words.fill(undefined, 0, n); }
}

/** One PolicyStage per `policy` entry of the stage list, by name. */
export class BuiltinPolicies {
  readonly stages = new Map<string, PolicyStage>();
  readonly notes: PolicyTraceNotes;

  constructor(capacity = 256) {
    this.notes = new PolicyTraceNotes(capacity);
    for (const def of STAGE_LIST) if (def.role === 'policy') this.stages.set(def.name, new PolicyStage(def));
  }

  /** register a hook at a policy stage (later issues: ACLs, guards, VLAN, HNV) */
  add(stage: string, hook: PolicyHook): void {
    const s = this.stages.get(stage);
    if (!s) throw new Error(`no policy stage "${stage}" (policy stages: ${[...this.stages.keys()].join(', ')})`);
    s.hooks.push(hook);
  }

  remove(stage: string, hook: PolicyHook): void {
    const s = this.stages.get(stage);
    if (!s) return;
    const k = s.hooks.indexOf(hook);
    if (k >= 0) s.hooks.splice(k, 1);
  }
}
