/**
 * DataPath: everything one data-path worker owns — frame pool, engine, validation, the extension
 * pipeline with the built-in learning forwarder, extension plans, ports, traces — independent of
 * how it is driven. `worker-main.ts` drives it from a worker thread with native ports; the
 * extension test harness (`extensions/testing.ts`) drives it in-process with memory ports.
 */
import { Batch, DstMode } from '../core/batch.js';
import { CounterBlock, ORIGINATED, PF, PF_DROPS, SW } from '../core/counters.js';
import { DropReason, dropReasonName } from '../core/drop-reasons.js';
import { Engine, EnginePort } from '../core/engine.js';
import { FramePool } from '../core/frame-pool.js';
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';
import { SwitchFdb } from '../forward/fdb.js';
import { MacTable } from '../forward/mac-table.js';
import { compileMatch, type MatchSpec } from '../packet/match.js';
import { ValidateStage } from '../packet/validate.js';
import { InjectQueue, PortDirectory } from '../pipeline/context.js';
import { FrameOwnership } from '../pipeline/ownership.js';
import { ExtensionPipeline, type ActiveExtension, type TraceStep } from '../pipeline/pipeline.js';
import { PlanApplier, type PipelinePlan } from '../pipeline/plan.js';
import { BuiltinPolicies } from '../pipeline/policies.js';
import { PipelineTracer } from '../pipeline/trace.js';
import { PolicyCounters } from '../policy/counters.js';
import { POLICY_MODULES } from '../policy/modules.js';
import { PolicyRuntime } from '../policy/runtime.js';
import { createPolicyShared, type PolicySharedBuffers } from '../policy/shared.js';
import { CaptureBatchView } from '../pipeline/views.js';
import type { PortIo } from '../ports/port.js';
import type { FrameTrace, PortControlOp, PortVeto } from './messages.js';
import type { ExtensionInstance, PortControlInfo } from '../extensions/api.js';
import type { PortSettings } from '../config/types.js';
import type { ReaderView } from '../pipeline/views.js';

export interface DataPathOptions {
  switchName: string;
  workerIndex: number;
  counters: CounterBlock;
  extCounters: Float64Array;
  table: MacTable;
  poolSlots: number;
  slotSize?: number;
  batchSize: number;
  /** workers of the switch (policies that share a budget between workers divide by it) */
  workerCount?: number;
  /** this worker's policy counters (policy/counters.ts); default: a private block */
  policyCounters?: PolicyCounters;
  /** the switch's shared policy state (policy/shared.ts); default: a private one */
  policyShared?: PolicySharedBuffers;
  log: (m: string) => void;
  onExtensionFailed: (ext: Pick<ActiveExtension, 'slot' | 'name'>, error: string) => void;
  onTraceFrame: (traceId: number, trace: FrameTrace) => void;
  onTraceDone: (traceId: number) => void;
}

export class DataPath {
  readonly pool: FramePool;
  readonly engine: Engine;
  readonly counters: CounterBlock;
  readonly validate: ValidateStage;
  readonly policies: BuiltinPolicies;
  /** the built-in port policies (policy/): hooks in `policies`, rebuilt from every port's settings */
  readonly policy: PolicyRuntime;
  readonly policyCounters: PolicyCounters;
  readonly pipeline: ExtensionPipeline;
  readonly applier: PlanApplier;
  readonly directory = new PortDirectory();
  readonly table: MacTable;
  agingSeconds = 300;
  private readonly opts: DataPathOptions;
  private readonly lastKernelDrops = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly lastTruncated = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly lastTunnelGso = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly lastZeroCopy = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly lastZeroCopyWhole = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly probe: CaptureBatchView;
  private liveTraceId = -1;

  constructor(o: DataPathOptions) {
    this.opts = o;
    this.counters = o.counters;
    this.table = o.table;
    this.pool = new FramePool(o.poolSlots, o.slotSize);
    this.policies = new BuiltinPolicies(o.batchSize);
    this.engine = new Engine(this.pool, o.counters, o.batchSize, MAX_PORTS_PER_SWITCH);
    this.validate = new ValidateStage(MAX_PORTS_PER_SWITCH);
    const inject = new InjectQueue(this.pool.slots);
    const owner = new FrameOwnership(this.pool.slots);
    this.engine.inject = inject;
    this.pipeline = new ExtensionPipeline(this.engine, this.validate, this.policies, (ext, error) => {
      this.applier.markFailed(ext.slot);
      const msg = error instanceof Error ? error.message : String(error);
      o.log(`extension ${ext.name} failed and was taken out of the pipeline (on-error ${ext.onError}): ${msg}`);
      o.onExtensionFailed(ext, msg);
    });
    this.probe = new CaptureBatchView(this.pool, this.engine, o.batchSize);
    this.policyCounters = o.policyCounters ?? new PolicyCounters();
    this.policy = new PolicyRuntime(this.policies, {
      pool: this.pool, counters: o.counters, policyCounters: this.policyCounters, shared: o.policyShared ?? createPolicyShared(),
      presence: this.engine, batchSize: o.batchSize, workerIndex: o.workerIndex, workerCount: o.workerCount ?? 1,
      trace: this.policies.notes, log: o.log, vlan: this.engine.vlan,
      originate: (id, port) => this.engine.originate(id, port),
    }, POLICY_MODULES);
    const v = o.counters.v;
    this.applier = new PlanApplier({
      switchName: o.switchName, workerIndex: o.workerIndex, pool: this.pool, owner, ports: this.directory,
      presence: this.engine, policies: this.policy.portPolicies, inject, extCounters: o.extCounters, batchSize: o.batchSize, log: o.log, counters: o.counters,
      onStageFailed: (sp, error) => o.onExtensionFailed(sp, error),
      fdb: new SwitchFdb(o.table, this.engine.ctx, this.engine.vlan.fid),
      lost: (reason, asPort) => { v[CounterBlock.port(asPort >= 0 ? asPort : ORIGINATED) + PF_DROPS + reason]++; },
    }, this.pipeline);
  }

  /** attach a port; its counters start at zero unless `keepCounters` (a replacement worker re-attaching it) */
  attach(index: number, name: string, io: PortIo, rx: boolean, mtu: number, keepCounters = false): void {
    const old = this.engine.detach(index);
    if (old) old.io.close();
    if (!keepCounters) { this.counters.clearPort(index); this.policyCounters.clearPort(index); }
    // a port handed over from another worker (vmq) brings the kernel counts it had: fold only what comes after
    const s = io.stats();
    this.lastKernelDrops[index] = s.kernelDrops;
    this.lastTruncated[index] = s.truncated;
    this.lastTunnelGso[index] = 0;
    this.lastZeroCopy[index] = s.zeroCopy ?? 0;
    this.lastZeroCopyWhole[index] = s.zeroCopyMaterialized ?? 0;
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

  /**
   * Ask every running extension's control hook (pipeline order) about a port operation; the first
   * refusal — `{ veto }` returned or an exception — is the answer, null when all accept. The watchdog
   * names the extension whose hook runs (extRunning), as for data-path hooks.
   */
  portControl(op: PortControlOp, port: PortControlInfo, before?: PortSettings): PortVeto | null {
    const info = deepFreeze(structuredClone(port));
    const was = before === undefined ? undefined : deepFreeze(structuredClone(before));
    const v = this.counters.v;
    for (const ext of this.pipeline.all()) {
      if (ext.failed) continue;
      const inst = ext.instance as ExtensionInstance<ReaderView>;
      let verdict: unknown;
      v[SW.extRunning] = ext.slot + 1;
      try {
        if (op === 'create') verdict = inst.portCreate?.(info, ext.ctx);
        else if (op === 'delete') verdict = inst.portDelete?.(info, ext.ctx);
        else verdict = inst.portSettingsChange?.(info, was ?? {}, info.settings, ext.ctx);
      } catch (e) {
        return { extension: ext.name, message: e instanceof Error ? e.message : String(e) };
      } finally {
        v[SW.extRunning] = 0;
      }
      if (verdict === undefined || verdict === null || typeof verdict !== 'object') continue;
      if (typeof (verdict as { then?: unknown }).then === 'function') {
        return { extension: ext.name, message: 'its control hook returned a promise; control hooks answer synchronously' };
      }
      const veto = (verdict as { veto?: unknown }).veto;
      if (veto !== undefined) return { extension: ext.name, message: typeof veto === 'string' && veto !== '' ? veto : 'refused' };
    }
    return null;
  }

  /** one breath; returns frames received (and injected) */
  breathe(now: number): number {
    return this.engine.breathe(now);
  }

  /** once a second: aging (worker 0) and backend counters → drop reasons */
  housekeeping(now: number): void {
    this.pipeline.tick(now, this.counters.v);
    if (this.opts.workerIndex === 0) {
      const aged = this.table.age(now, this.agingSeconds);
      if (aged > 0) this.counters.v[SW.fdbAged] += aged;
      this.policy.tick(now);
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
      v[CounterBlock.port(p.index) + PF.txTunnelGso] += s.tunnelGso - this.lastTunnelGso[p.index];
      this.lastKernelDrops[p.index] = s.kernelDrops;
      this.lastTruncated[p.index] = s.truncated;
      this.lastTunnelGso[p.index] = s.tunnelGso;
      if (s.zeroCopy !== undefined) {
        v[CounterBlock.port(p.index) + PF.rxZeroCopy] += s.zeroCopy - this.lastZeroCopy[p.index];
        v[CounterBlock.port(p.index) + PF.rxZeroCopyWhole] += (s.zeroCopyMaterialized ?? 0) - this.lastZeroCopyWhole[p.index];
        this.lastZeroCopy[p.index] = s.zeroCopy;
        this.lastZeroCopyWhole[p.index] = s.zeroCopyMaterialized ?? 0;
      }
    }
    return ringDrops;
  }

  /** run one synthetic frame through every stage but transmit, without learning, sending or counting it */
  traceSynthetic(frame: Uint8Array, inPort: number): FrameTrace {
    const pool = this.pool;
    const id = pool.fromBytes(frame, inPort);
    if (id < 0) throw new Error('no free frame slot for the trace');
    const batch = new Batch(1);
    batch.ids[0] = id;
    batch.reset(1, inPort);
    let result: FrameTrace | null = null;
    const tracer = new PipelineTracer(1, this.pipeline, this.probe, {
      select: (_b, watch) => { watch[0] = 1; },
      finished: () => {},
    });
    const ctxs = this.pipeline.all().map((e) => e.ctx);
    const live = this.engine.observer;
    for (const c of ctxs) c.tracing = true;
    this.engine.observer = tracer;
    this.policies.notes.synthetic = true;
    try {
      this.engine.runStages(batch, 0);
      result = this.finishTrace(batch, 0, inPort, frame, tracer.recordTransmit(batch, 0), tracer.destinations(batch, 0));
    } finally {
      this.engine.observer = live;
      this.pipeline.tracing = false;
      this.policies.notes.on = false; // policies stop writing trace notes (and learning resumes) after the trace
      this.policies.notes.synthetic = false;
      for (const c of ctxs) c.tracing = false;
      pool.releaseChain(id); // with any segments a policy cut it into
      pool.chained = false;
    }
    return result;
  }

  private finishTrace(batch: Batch, i: number, inPort: number, frame: Uint8Array, steps: TraceStep[], destinations: number[]): FrameTrace {
    const r = batch.reason[i];
    const dropped = r !== 0 || destinations.length === 0;
    const t: FrameTrace = {
      inPort, frame, steps, generation: this.pipeline.generation,
      verdict: dropped ? 'dropped' : 'forwarded', destinations: dropped ? [] : destinations,
    };
    if (r !== 0) t.reason = dropReasonName(r);
    else if (destinations.length === 0) t.reason = batch.dstMode[i] === DstMode.none ? 'no-destination' : 'no-destination (all excluded or down)';
    return t;
  }

  /** live trace: record the steps of the next `count` real frames that match (and came in on inPort, if >= 0) */
  armLive(traceId: number, count: number, match: MatchSpec | null, inPort: number): void {
    const matcher = match ? compileMatch(match) : null;
    const pool = this.pool;
    let left = count;
    this.liveTraceId = traceId;
    const tracer: PipelineTracer = new PipelineTracer(this.opts.batchSize, this.pipeline, this.probe, {
      select: (batch, watch) => {
        let armed = 0;
        for (let i = 0; i < batch.count && armed < left; i++) {
          if (inPort >= 0 && batch.inPort !== inPort) continue;
          const id = batch.ids[i];
          if (matcher) pool.whole(id);
          if (matcher && !matcher.matches(pool.bytes, pool.dataOffset(id), pool.len[id])) continue;
          watch[i] = 1;
          armed++;
        }
      },
      finished: (batch, i, steps) => {
        if (left <= 0) return;
        const t = this.finishTrace(batch, i, batch.inPort, pool.toBytes(batch.ids[i]), steps, tracer.destinations(batch, i));
        this.opts.onTraceFrame(traceId, t);
        if (--left === 0) {
          this.disarmLive(traceId);
          this.opts.onTraceDone(traceId);
        }
      },
    });
    this.engine.observer = tracer;
  }

  disarmLive(traceId: number): void {
    if (this.liveTraceId !== traceId) return;
    this.liveTraceId = -1;
    this.engine.observer = null;
    this.pipeline.tracing = false;
  }

  close(): void {
    this.applier.closeAll();
    for (const p of this.engine.ports) if (p) p.io.close();
  }
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}
