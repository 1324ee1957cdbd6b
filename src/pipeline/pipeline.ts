/**
 * ExtensionPipeline: the fixed shape of the Hyper-V data path, run over one batch at a time.
 *
 *   ingress: capture[0..n] → filter[0..m] → (built-in ingress policies) → forward (extension or
 *            the built-in learning forwarder: the only place destinations are chosen)
 *   egress:  forward → (built-in egress policies) → filter[m..0] → capture[n..0]
 *
 * The stage lists are replaced as a whole between batches (`install`), so a reorder or reconfigure
 * never happens in the middle of a batch. Every hook call is guarded: an extension that throws is
 * taken out of the pipeline on this worker, its error counted and reported, and its on-error
 * policy applied to the batch (bypass: frames go on; drop: the batch's frames are dropped as
 * extension-error). The switch keeps forwarding.
 */
import type { Batch } from '../core/batch.js';
import { DstMode } from '../core/batch.js';
import { DropReason, dropReasonName } from '../core/drop-reasons.js';
import type { FramePool } from '../core/frame-pool.js';
import { SW, type CounterBlock } from '../core/counters.js';
import type { BreathContext, Stage } from '../core/stage.js';
import type { Direction, ExtensionInstance, ExtensionKind, OnError } from '../extensions/api.js';
import type { LearningForwarder } from '../forward/learning.js';
import type { DataPathContext } from './context.js';
import type { CaptureBatchView, FilterBatchView, ForwardBatchView, ReaderView } from './views.js';

const EXT_ERROR = DropReason['extension-error'];

export interface ActiveExtension {
  /** stage id: the extension's counter slot on this switch */
  slot: number;
  name: string;
  kind: ExtensionKind;
  onError: OnError;
  instance: ExtensionInstance<CaptureBatchView> | ExtensionInstance<FilterBatchView> | ExtensionInstance<ForwardBatchView>;
  view: ReaderView;
  ctx: DataPathContext;
  counters: Float64Array;
}

/** One recorded step of a traced frame. */
export interface TraceStep {
  stage: string;
  kind: 'builtin' | ExtensionKind;
  direction: Direction;
  verdict: 'pass' | 'drop';
  reason?: string;
  /** destination port indices after the stage (once forwarding ran) */
  destinations?: number[];
}

/** Which frames of the current batch are traced, and where their steps go. */
export interface TraceRecorder {
  /** 1 for frames whose steps are recorded */
  readonly watch: Uint8Array;
  record(i: number, step: TraceStep): void;
}

export type FailureHandler = (ext: ActiveExtension, error: unknown) => void;

export class ExtensionPipeline implements Stage {
  readonly name = 'pipeline';
  captures: ActiveExtension[] = [];
  filters: ActiveExtension[] = [];
  forward: ActiveExtension | null = null;
  generation = 0;
  trace: TraceRecorder | null = null;
  /** a reader view of the switch's own, used to read destinations for traces */
  probe: ReaderView | null = null;
  private readonly learning: LearningForwarder;
  private readonly onFailure: FailureHandler;
  private readonly scratch = new Int32Array(256);

  constructor(learning: LearningForwarder, onFailure: FailureHandler) {
    this.learning = learning;
    this.onFailure = onFailure;
  }

  install(generation: number, captures: ActiveExtension[], filters: ActiveExtension[], forward: ActiveExtension | null): void {
    this.generation = generation;
    this.captures = captures;
    this.filters = filters;
    this.forward = forward;
  }

  /** every active extension (for close at shutdown / plan changes) */
  all(): ActiveExtension[] {
    return [...this.captures, ...this.filters, ...(this.forward ? [this.forward] : [])];
  }

  process(batch: Batch, pool: FramePool, ctx: BreathContext): void {
    const tracing = this.trace !== null;
    for (let k = 0; k < this.captures.length; k++) this.run(this.captures[k], 'ingress', batch, ctx);
    for (let k = 0; k < this.filters.length; k++) this.run(this.filters[k], 'ingress', batch, ctx);
    if (this.forward !== null) {
      this.run(this.forward, 'ingress', batch, ctx);
    } else {
      this.learning.process(batch, pool, ctx);
      if (tracing) this.recordBuiltin('learning', 'forward', 'ingress', batch);
    }
    if (this.forward !== null) this.run(this.forward, 'egress', batch, ctx);
    for (let k = this.filters.length - 1; k >= 0; k--) this.run(this.filters[k], 'egress', batch, ctx);
    for (let k = this.captures.length - 1; k >= 0; k--) this.run(this.captures[k], 'egress', batch, ctx);
  }

  private run(ext: ActiveExtension, dir: Direction, batch: Batch, bctx: BreathContext): void {
    const inst = ext.instance as ExtensionInstance<ReaderView>;
    const hook = dir === 'ingress' ? inst.ingress : inst.egress;
    if (hook === undefined) return;
    ext.view.bind(batch, dir);
    ext.ctx.now = bctx.now;
    // a traced frame's drop word must come from this call, not from an earlier batch
    if (this.trace !== null) ext.view.dropWords.fill(undefined, 0, batch.count);
    const c = ext.counters;
    c[0]++;
    c[1] += batch.count;
    const dropsBefore = batch.dropCount;
    const sup = bctx.counters.v;
    sup[SW.extRunning] = ext.slot + 1; // the watchdog blames this extension if the worker stalls or dies now
    try {
      hook.call(inst, ext.view, ext.ctx);
    } catch (e) {
      c[2]++;
      if (ext.onError === 'drop') for (let i = 0; i < batch.count; i++) batch.drop(i, EXT_ERROR);
      this.remove(ext);
      this.onFailure(ext, e);
    } finally {
      sup[SW.extRunning] = 0;
    }
    c[3] += batch.dropCount - dropsBefore;
    if (this.trace !== null) this.recordExt(ext, dir, batch);
  }

  /** the once-a-second tick of every active extension (guarded like the hooks) */
  tick(now: number, counters?: CounterBlock): void {
    for (const ext of this.all()) {
      const inst = ext.instance as ExtensionInstance<ReaderView>;
      if (inst.tick === undefined) continue;
      ext.ctx.now = now;
      if (counters) counters.v[SW.extRunning] = ext.slot + 1;
      try {
        inst.tick(ext.ctx);
      } catch (e) {
        ext.counters[2]++;
        this.remove(ext);
        this.onFailure(ext, e);
      } finally {
        if (counters) counters.v[SW.extRunning] = 0;
      }
    }
  }

  private remove(ext: ActiveExtension): void {
    this.captures = this.captures.filter((e) => e !== ext);
    this.filters = this.filters.filter((e) => e !== ext);
    if (this.forward === ext) this.forward = null;
  }

  private step(i: number, stage: string, kind: TraceStep['kind'], dir: Direction, batch: Batch, word?: string): TraceStep {
    const r = batch.reason[i];
    const s: TraceStep = { stage, kind, direction: dir, verdict: r === 0 ? 'pass' : 'drop' };
    if (r !== 0) s.reason = word ? `${dropReasonName(r)}: ${word}` : dropReasonName(r);
    if (r === 0 && (batch.dstMode[i] !== DstMode.none)) {
      s.destinations = [];
    }
    return s;
  }

  private recordExt(ext: ActiveExtension, dir: Direction, batch: Batch): void {
    const t = this.trace!;
    for (let i = 0; i < batch.count; i++) {
      if (t.watch[i] !== 1) continue;
      const s = this.step(i, ext.name, ext.kind, dir, batch, ext.view.dropWords[i]);
      if (s.destinations) {
        const n = ext.view.destinations(i, this.scratch);
        s.destinations = Array.from(this.scratch.subarray(0, n));
      }
      t.record(i, s);
    }
  }

  /** record a built-in stage (validate, learning) for traced frames; destinations via any view */
  recordBuiltin(stage: string, kind: TraceStep['kind'], dir: Direction, batch: Batch): void {
    const t = this.trace;
    if (t === null) return;
    const view = this.probe;
    for (let i = 0; i < batch.count; i++) {
      if (t.watch[i] !== 1) continue;
      const s = this.step(i, stage, kind, dir, batch);
      if (s.destinations && view) {
        view.bind(batch, 'egress');
        const n = view.destinations(i, this.scratch);
        s.destinations = Array.from(this.scratch.subarray(0, n));
      }
      t.record(i, s);
    }
  }
}
