/**
 * ExtensionPipeline: turns the one stage list (stage-list.ts) and the enabled extensions into the
 * engine's stage array, and runs every extension hook under guard.
 *
 *   validate → ingress-capture… → ingress-filter… → ingress-policies → ingress-forward → miniport →
 *   egress-forward → egress-policies → …egress-filter → …egress-capture → (transmit: the engine)
 *
 * The array is rebuilt as a whole (`compile`) when the plan changes or an extension fails, and
 * takes effect at the next batch. Exactly one forwarder runs: the planned forwarding extension, or
 * the default one (`learning`, a forwarding extension like any other) — the pipeline has no
 * forwarding code of its own. Every hook call is guarded: an extension that throws is taken out of
 * this worker's pipeline at once, counted, reported, and its on-error policy applied to the batch
 * (capture: always bypass; filter and forward: drop by default — a forwarder fails closed, and the
 * default forwarder takes over from the next batch).
 */
import type { Batch } from '../core/batch.js';
import { SW } from '../core/counters.js';
import { DropReason } from '../core/drop-reasons.js';
import type { Engine } from '../core/engine.js';
import type { FramePool } from '../core/frame-pool.js';
import type { BreathContext, Stage } from '../core/stage.js';
import type { Direction, ExtensionInstance, ExtensionKind, OnError } from '../extensions/api.js';
import { MAX_EXTENSION_SLOTS, type DataPathContext } from './context.js';
import type { BuiltinPolicies } from './policies.js';
import { STAGE_LIST, hookDirection, type StageDef, type StagePath } from './stage-list.js';
import { bindView, clearDropWords, type CaptureBatchView, type FilterBatchView, type ForwardBatchView, type ReaderView } from './views.js';

const EXT_ERROR = DropReason['extension-error'];

export interface ActiveExtension {
  /** the extension's counter slot on this switch (also its injection entry key) */
  slot: number;
  name: string;
  kind: ExtensionKind;
  onError: OnError;
  instance: ExtensionInstance<CaptureBatchView> | ExtensionInstance<FilterBatchView> | ExtensionInstance<ForwardBatchView>;
  view: ReaderView;
  ctx: DataPathContext;
  counters: Float64Array;
  /** set when it threw: its remaining steps in the current batch are skipped */
  failed: boolean;
}

/** One recorded step of a traced frame. */
export interface TraceStep {
  /** the extension's name at an extension stage, else the stage name */
  stage: string;
  /** the stage of the stage list this step belongs to */
  group: string;
  kind: 'builtin' | 'policy' | ExtensionKind;
  direction: StagePath;
  verdict: 'pass' | 'drop';
  reason?: string;
  /** a policy step that excluded destinations without dropping: which entry (e.g. "port ACL vm2 inbound deny 10.0.0.0/8") */
  note?: string;
  /** destination port indices after the step (once forwarding ran) */
  destinations?: number[];
  /** ports chosen as destinations that get nothing because their link is down */
  down?: number[];
}

export type FailureHandler = (ext: ActiveExtension, error: unknown) => void;

/** An extension hook at one place of the stage list. */
class ExtensionStep implements Stage {
  readonly name: string;
  private readonly dir: Direction;
  constructor(readonly def: StageDef, readonly ext: ActiveExtension, private readonly pipeline: ExtensionPipeline) {
    this.name = `${def.name}:${ext.name}`;
    this.dir = hookDirection(def);
  }
  process(batch: Batch, _pool: FramePool, ctx: BreathContext): void {
    this.pipeline.runHook(this.ext, this.dir, batch, ctx);
  }
}

export class ExtensionPipeline {
  captures: ActiveExtension[] = [];
  filters: ActiveExtension[] = [];
  /** the forwarder that runs: the planned one, or the default */
  forward: ActiveExtension | null = null;
  /** the switch's default forwarder (learning): takes over when the planned one fails */
  defaultForward: ActiveExtension | null = null;
  generation = 0;
  /** the compiled stage array (also the engine's) and, per step, its stage-list entry and extension */
  steps: Stage[] = [];
  stepDefs: StageDef[] = [];
  stepExt: (ActiveExtension | null)[] = [];
  /** true while a trace records: drop words are cleared per hook */
  tracing = false;
  private readonly engine: Engine;
  private readonly validate: Stage;
  readonly policies: BuiltinPolicies;
  private readonly onFailure: FailureHandler;

  constructor(engine: Engine, validate: Stage, policies: BuiltinPolicies, onFailure: FailureHandler) {
    this.engine = engine;
    this.validate = validate;
    this.policies = policies;
    this.onFailure = onFailure;
    engine.entryStage = new Int32Array(MAX_EXTENSION_SLOTS);
    this.compile();
  }

  install(generation: number, captures: ActiveExtension[], filters: ActiveExtension[], forward: ActiveExtension | null, defaultForward: ActiveExtension | null): void {
    this.generation = generation;
    this.captures = captures;
    this.filters = filters;
    this.defaultForward = defaultForward;
    this.forward = forward ?? defaultForward;
    this.compile();
  }

  /** every active extension (for ticks, tracing flags, close) */
  all(): ActiveExtension[] {
    const out = [...this.captures, ...this.filters];
    if (this.forward) out.push(this.forward);
    if (this.defaultForward && this.defaultForward !== this.forward) out.push(this.defaultForward);
    return out;
  }

  /** Build the engine's stage array from the stage list, and where injected frames enter. */
  private compile(): void {
    const steps: Stage[] = [];
    const defs: StageDef[] = [];
    const exts: (ActiveExtension | null)[] = [];
    const entry = this.engine.entryStage;
    entry.fill(0); // an extension no longer in the pipeline: its frames run every stage
    const add = (stage: Stage, def: StageDef, ext: ActiveExtension | null): void => {
      steps.push(stage);
      defs.push(def);
      exts.push(ext);
    };
    for (const def of STAGE_LIST) {
      if (def.role === 'builtin') {
        if (def.name === 'validate') add(this.validate, def, null);
        else if (def.name !== 'transmit') throw new Error(`stage list: no built-in stage "${def.name}"`);
        continue; // transmit is the engine's own, after the array
      }
      if (def.role === 'policy') {
        const p = this.policies.stages.get(def.name);
        if (!p) throw new Error(`stage list: no policy stage "${def.name}"`);
        add(p, def, null);
        continue;
      }
      let list: ActiveExtension[];
      if (def.role === 'capture') list = this.captures;
      else if (def.role === 'filter') list = this.filters;
      else list = this.forward ? [this.forward] : [];
      const ordered = def.path === 'egress' ? [...list].reverse() : list;
      for (const ext of ordered) {
        add(new ExtensionStep(def, ext, this), def, ext);
        // a frame an extension injects enters just below its ingress step
        if (def.path === 'ingress') entry[ext.slot] = steps.length;
      }
    }
    this.steps = steps;
    this.stepDefs = defs;
    this.stepExt = exts;
    this.engine.stages = steps;
  }

  runHook(ext: ActiveExtension, dir: Direction, batch: Batch, bctx: BreathContext): void {
    if (ext.failed) return;
    const inst = ext.instance as ExtensionInstance<ReaderView>;
    const hook = dir === 'ingress' ? inst.ingress : inst.egress;
    if (hook === undefined) return;
    bindView(ext.view, batch, dir);
    ext.ctx.now = bctx.now;
    // a traced frame's drop word must come from this call, not from an earlier batch
    if (this.tracing) clearDropWords(ext.view, batch.count);
    const c = ext.counters;
    c[0]++;
    c[1] += batch.count;
    const dropsBefore = batch.dropCount;
    const v = bctx.counters.v;
    v[SW.extRunning] = ext.slot + 1;
    try {
      hook.call(inst, ext.view, ext.ctx);
    } catch (e) {
      c[2]++;
      // a capture never drops; a filter or forwarder with on-error drop fails closed
      if (ext.kind !== 'capture' && ext.onError === 'drop') for (let i = 0; i < batch.count; i++) batch.drop(i, EXT_ERROR);
      this.fail(ext, e);
    } finally {
      v[SW.extRunning] = 0;
    }
    c[3] += batch.dropCount - dropsBefore;
  }

  /** the once-a-second tick of every active extension (guarded like the hooks) */
  tick(now: number, counters: Float64Array): void {
    for (const ext of this.all()) {
      const inst = ext.instance as ExtensionInstance<ReaderView>;
      if (inst.tick === undefined || ext.failed) continue;
      ext.ctx.now = now;
      counters[SW.extRunning] = ext.slot + 1;
      try {
        inst.tick(ext.ctx);
      } catch (e) {
        ext.counters[2]++;
        this.fail(ext, e);
      } finally {
        counters[SW.extRunning] = 0;
      }
    }
  }

  /** take an extension out of this worker's pipeline now; the default forwarder replaces a failed forwarder */
  private fail(ext: ActiveExtension, error: unknown): void {
    ext.failed = true;
    this.captures = this.captures.filter((e) => e !== ext);
    this.filters = this.filters.filter((e) => e !== ext);
    if (this.forward === ext) this.forward = ext === this.defaultForward ? null : this.defaultForward;
    if (this.defaultForward === ext) this.defaultForward = null;
    this.compile();
    this.onFailure(ext, error);
  }
}
