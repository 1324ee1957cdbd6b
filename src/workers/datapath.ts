/**
 * DataPath: everything one data-path worker owns — frame pool, engine, validation, the extension
 * pipeline with the built-in learning forwarder, extension plans, ports, traces — independent of
 * how it is driven. `worker-main.ts` drives it from a worker thread with native ports; the
 * extension test harness (`extensions/testing.ts`) drives it in-process with memory ports.
 */
import { Batch, DstMode } from '../core/batch.js';
import { CounterBlock, PF_DROPS, SW } from '../core/counters.js';
import { DropReason, dropReasonName } from '../core/drop-reasons.js';
import { Engine, EnginePort } from '../core/engine.js';
import { FramePool } from '../core/frame-pool.js';
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';
import { LearningForwarder } from '../forward/learning.js';
import { MacTable } from '../forward/mac-table.js';
import { compileMatch, type FrameMatcher, type MatchSpec } from '../packet/match.js';
import { ValidateStage } from '../packet/validate.js';
import { InjectQueue, PortDirectory } from '../pipeline/context.js';
import { FrameOwnership } from '../pipeline/ownership.js';
import { ExtensionPipeline, type ActiveExtension, type TraceStep } from '../pipeline/pipeline.js';
import { PlanApplier, type PipelinePlan } from '../pipeline/plan.js';
import { CaptureBatchView } from '../pipeline/views.js';
import type { PortIo } from '../ports/port.js';
import type { FrameTrace } from './messages.js';

export interface DataPathOptions {
  switchName: string;
  workerIndex: number;
  counters: CounterBlock;
  extCounters: Float64Array;
  table: MacTable;
  poolSlots: number;
  slotSize?: number;
  batchSize: number;
  log: (m: string) => void;
  onExtensionFailed: (ext: ActiveExtension, error: string) => void;
  onTraceFrame: (traceId: number, trace: FrameTrace) => void;
  onTraceDone: (traceId: number) => void;
}

interface LiveTrace { traceId: number; left: number; matcher: FrameMatcher | null; inPort: number; steps: TraceStep[][] }

export class DataPath {
  readonly pool: FramePool;
  readonly engine: Engine;
  readonly counters: CounterBlock;
  readonly validate: ValidateStage;
  readonly forwarder: LearningForwarder;
  readonly pipeline: ExtensionPipeline;
  readonly applier: PlanApplier;
  readonly directory = new PortDirectory();
  readonly table: MacTable;
  agingSeconds = 300;
  private readonly opts: DataPathOptions;
  private readonly lastKernelDrops = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly lastTruncated = new Float64Array(MAX_PORTS_PER_SWITCH);
  private live: LiveTrace | null = null;
  private readonly liveWatch: Uint8Array;

  constructor(o: DataPathOptions) {
    this.opts = o;
    this.counters = o.counters;
    this.table = o.table;
    this.pool = new FramePool(o.poolSlots, o.slotSize);
    this.engine = new Engine(this.pool, o.counters, o.batchSize, MAX_PORTS_PER_SWITCH);
    this.validate = new ValidateStage(MAX_PORTS_PER_SWITCH);
    this.forwarder = new LearningForwarder(o.table);
    const inject = new InjectQueue(this.pool.slots);
    const owner = new FrameOwnership(this.pool.slots);
    this.engine.inject = inject;
    this.pipeline = new ExtensionPipeline(this.forwarder, (ext, error) => {
      this.applier.markFailed(ext.slot);
      const msg = error instanceof Error ? error.message : String(error);
      o.log(`extension ${ext.name} failed and was taken out of the pipeline (on-error ${ext.onError}): ${msg}`);
      o.onExtensionFailed(ext, msg);
    });
    this.pipeline.probe = new CaptureBatchView(this.pool, this.engine, o.batchSize);
    this.applier = new PlanApplier({
      switchName: o.switchName, workerIndex: o.workerIndex, pool: this.pool, owner, ports: this.directory,
      presence: this.engine, inject, extCounters: o.extCounters, batchSize: o.batchSize, log: o.log, counters: o.counters,
    }, this.pipeline);
    this.engine.stages = [this.validate, this.pipeline];
    this.liveWatch = new Uint8Array(o.batchSize);
  }

  attach(index: number, name: string, io: PortIo, rx: boolean, mtu: number): void {
    const old = this.engine.detach(index);
    if (old) old.io.close();
    this.counters.clearPort(index);
    this.lastKernelDrops[index] = 0;
    this.lastTruncated[index] = 0;
    this.validate.mtuByPort[index] = mtu;
    this.engine.attach(new EnginePort(index, name, io, rx, this.opts.batchSize));
    this.directory.set(index, name);
  }

  detach(index: number): void {
    const old = this.engine.detach(index);
    if (old) old.io.close();
    this.directory.set(index, undefined);
  }

  applyPlan(plan: PipelinePlan): Promise<void> {
    // the applier marks each extension it imports/creates as running (extRunning); clear it however it ends
    return this.applier.apply(plan).finally(() => { this.counters.v[SW.extRunning] = 0; });
  }

  /** one breath; returns frames received (and injected) */
  breathe(now: number): number {
    return this.engine.breathe(now);
  }

  /** once a second: aging (worker 0) and backend counters → drop reasons */
  housekeeping(now: number): void {
    this.pipeline.tick(now, this.counters);
    if (this.opts.workerIndex === 0) {
      const aged = this.table.age(now, this.agingSeconds);
      if (aged > 0) this.counters.v[SW.fdbAged] += aged;
    }
    this.foldBackendCounters();
  }

  /**
   * Fold the backends' kernel counters (rx ring overflows, truncated frames) into drop reasons;
   * returns how many frames the rx rings dropped since the last fold (the worker's overload signal).
   */
  foldBackendCounters(): number {
    const v = this.counters.v;
    let ringDrops = 0;
    for (const p of this.engine.ports) {
      if (!p) continue;
      const s = p.io.stats();
      const base = CounterBlock.port(p.index) + PF_DROPS;
      const dropped = s.kernelDrops - this.lastKernelDrops[p.index];
      ringDrops += dropped;
      v[base + DropReason['ring-full']] += dropped;
      v[base + DropReason['truncated']] += s.truncated - this.lastTruncated[p.index];
      this.lastKernelDrops[p.index] = s.kernelDrops;
      this.lastTruncated[p.index] = s.truncated;
    }
    return ringDrops;
  }

  /** run one synthetic frame through validate + pipeline without learning, sending or counting it */
  traceSynthetic(frame: Uint8Array, inPort: number): FrameTrace {
    const pool = this.pool;
    const id = pool.fromBytes(frame, inPort);
    if (id < 0) throw new Error('no free frame slot for the trace');
    const batch = new Batch(1);
    batch.ids[0] = id;
    batch.reset(1, inPort);
    const steps: TraceStep[] = [];
    const pipeline = this.pipeline;
    pipeline.trace = { watch: new Uint8Array(1).fill(1), record: (_i, s) => steps.push(s) };
    this.forwarder.learn = false;
    const ctxs = pipeline.all().map((e) => e.ctx);
    for (const c of ctxs) c.tracing = true;
    try {
      this.validate.process(batch, pool);
      pipeline.recordBuiltin('validate', 'builtin', 'ingress', batch);
      if (batch.reason[0] === 0) pipeline.process(batch, pool, this.engine.ctx);
      return this.finishTrace(batch, 0, inPort, frame, steps);
    } finally {
      for (const c of ctxs) c.tracing = false;
      this.forwarder.learn = true;
      pipeline.trace = null;
      pool.release(id);
    }
  }

  private finishTrace(batch: Batch, i: number, inPort: number, frame: Uint8Array, steps: TraceStep[]): FrameTrace {
    const out = new Int32Array(MAX_PORTS_PER_SWITCH);
    const view = this.pipeline.probe!;
    view.bind(batch, 'egress');
    const n = view.destinations(i, out);
    const r = batch.reason[i];
    const dropped = r !== 0 || n === 0;
    const t: FrameTrace = {
      inPort, frame, steps, generation: this.pipeline.generation,
      verdict: dropped ? 'dropped' : 'forwarded', destinations: Array.from(out.subarray(0, n)),
    };
    if (r !== 0) t.reason = dropReasonName(r);
    else if (n === 0) t.reason = batch.dstMode[i] === DstMode.none ? 'no-destination' : 'no-destination (all excluded)';
    return t;
  }

  /** live trace: record the steps of the next `count` real frames that match (and came in on inPort, if >= 0) */
  armLive(traceId: number, count: number, match: MatchSpec | null, inPort: number): void {
    const l: LiveTrace = { traceId, left: count, matcher: match ? compileMatch(match) : null, inPort, steps: [] };
    this.live = l;
    const watch = this.liveWatch;
    const pool = this.pool;
    this.pipeline.trace = { watch, record: (i, s) => { this.live?.steps[i]?.push(s); } };
    this.validate.afterValidate = (batch) => {
      const cur = this.live;
      if (!cur) return;
      watch.fill(0);
      let armed = 0;
      for (let i = 0; i < batch.count && armed < cur.left; i++) {
        if (cur.inPort >= 0 && batch.inPort !== cur.inPort) continue;
        const id = batch.ids[i];
        if (cur.matcher && !cur.matcher.matches(pool.bytes, pool.dataOffset(id), pool.len[id])) continue;
        watch[i] = 1;
        cur.steps[i] = [];
        armed++;
      }
      if (armed > 0) this.pipeline.recordBuiltin('validate', 'builtin', 'ingress', batch);
    };
    this.engine.afterFanOut = (batch) => {
      const cur = this.live;
      if (!cur) return;
      for (let i = 0; i < batch.count; i++) {
        if (watch[i] !== 1) continue;
        watch[i] = 0;
        const t = this.finishTrace(batch, i, batch.inPort, pool.toBytes(batch.ids[i]), cur.steps[i] ?? []);
        this.opts.onTraceFrame(cur.traceId, t);
        if (--cur.left === 0) {
          this.disarmLive(cur.traceId);
          this.opts.onTraceDone(cur.traceId);
          return;
        }
      }
    };
  }

  disarmLive(traceId: number): void {
    if (!this.live || this.live.traceId !== traceId) return;
    this.live = null;
    this.pipeline.trace = null;
    this.validate.afterValidate = null;
    this.engine.afterFanOut = null;
  }

  close(): void {
    this.applier.closeAll();
    for (const p of this.engine.ports) if (p) p.io.close();
  }
}
