/**
 * An in-process switch for testing extensions: the real DataPath (engine, validation, extension
 * pipeline, learning forwarder, plans, traces) on memory ports. Frames go in with `send`, come out
 * in `sent(port)`. Use it in an extension's own test file:
 *
 *   const sw = await testSwitch({ ports: 3, stages: [{ module: new URL('./index.js', import.meta.url).href, config: {…} }] });
 *   sw.send(0, frame); sw.breathe();
 *   t.is(sw.sent(1).length, 1);
 *
 * Integration tests on real namespaces go through the daemon instead (see the extension tests).
 */
import { CounterBlock, PF, PF_DROPS } from '../core/counters.js';
import { DropReason } from '../core/drop-reasons.js';
import { MacTable } from '../forward/mac-table.js';
import { EXT_STRIDE, MAX_EXTENSION_SLOTS } from '../pipeline/context.js';
import { loadExtensionModule, type PipelinePlan, type StagePlan } from '../pipeline/plan.js';
import { MemoryPort } from '../ports/memory.js';
import { DataPath } from '../workers/datapath.js';
import type { FrameTrace } from '../workers/messages.js';
import type { Extension, ExtensionConfig, OnError } from './api.js';
import { validateExtensionConfig } from './config.js';

export interface TestStage { module: string; config?: Record<string, unknown>; onError?: OnError }

export class TestSwitch {
  readonly dp: DataPath;
  readonly ports: MemoryPort[];
  readonly failures: { name: string; error: string }[] = [];
  readonly logs: string[] = [];
  readonly extCounters: Float64Array;
  private plan: PipelinePlan;
  private defs: Extension[];
  now = 1000;

  constructor(dp: DataPath, ports: MemoryPort[], extCounters: Float64Array, plan: PipelinePlan, defs: Extension[]) {
    this.dp = dp;
    this.ports = ports;
    this.extCounters = extCounters;
    this.plan = plan;
    this.defs = defs;
  }

  send(port: number, ...frames: Uint8Array[]): void {
    this.ports[port].inbox.push(...frames);
  }

  /** run `n` breaths (frames queued with send, then anything extensions injected) */
  breathe(n = 1): void {
    for (let i = 0; i < n; i++) this.dp.breathe(this.now);
  }

  sent(port: number): Uint8Array[] {
    return this.ports[port].record ?? [];
  }

  clearSent(): void {
    for (const p of this.ports) if (p.record) p.record.length = 0;
  }

  /** the once-a-second housekeeping of a worker: extension ticks (and aging, backend counters) */
  tick(): void {
    this.dp.housekeeping(this.now);
  }

  /** an extension counter summed as the control plane would (one worker here) */
  counter(extName: string, counter: string): number {
    const k = this.defs.findIndex((d) => d.name === extName);
    if (k < 0) throw new Error(`no stage ${extName}`);
    const builtin = ['batches', 'frames', 'errors', 'drops'].indexOf(counter);
    if (builtin >= 0) return this.extCounters[k * EXT_STRIDE + builtin];
    const c = Object.keys(this.defs[k].counters).indexOf(counter);
    if (c < 0) throw new Error(`${extName} has no counter ${counter}`);
    return this.extCounters[k * EXT_STRIDE + 4 + c];
  }

  portCounter(port: number, field: keyof typeof PF): number {
    return this.dp.counters.v[CounterBlock.port(port) + PF[field]];
  }

  drops(port: number, reason: keyof typeof DropReason): number {
    return this.dp.counters.v[CounterBlock.port(port) + PF_DROPS + DropReason[reason]];
  }

  trace(frame: Uint8Array, inPort: number): FrameTrace {
    return this.dp.traceSynthetic(frame, inPort);
  }

  /** apply a new configuration to stage k (validated), between breaths */
  async reconfigure(k: number, config: Record<string, unknown>): Promise<void> {
    const all = [...this.plan.captures, ...this.plan.filters, this.plan.forward];
    const sp = all.find((s) => s.slot === k)!;
    sp.config = validateExtensionConfig(this.defs[k], config, 'config');
    this.plan = { ...this.plan, generation: this.plan.generation + 1 };
    await this.dp.applyPlan(this.plan);
  }

  close(): void {
    this.dp.close();
  }
}

export async function testSwitch(opts: { ports: number; stages?: TestStage[]; macLimit?: number }): Promise<TestSwitch> {
  const extCounters = new Float64Array(new SharedArrayBuffer(MAX_EXTENSION_SLOTS * EXT_STRIDE * 8));
  // log lines and failures go here until the TestSwitch exists, then straight to its arrays
  let sink: { logs: string[]; failures: { name: string; error: string }[] } = { logs: [], failures: [] };
  const dp = new DataPath({
    switchName: 'test', workerIndex: 0, counters: new CounterBlock(), extCounters,
    table: new MacTable(opts.macLimit ?? 1024), poolSlots: 1024, slotSize: 2048 + 256 + 64, batchSize: 256,
    log: (m) => sink.logs.push(m),
    onExtensionFailed: (ext, error) => sink.failures.push({ name: ext.name, error }),
    onTraceFrame: () => {}, onTraceDone: () => {},
  });
  const ports: MemoryPort[] = [];
  for (let i = 0; i < opts.ports; i++) {
    const p = new MemoryPort();
    p.record = [];
    ports.push(p);
    dp.attach(i, `p${i}`, p, true, 1500);
  }
  // the default forwarder, as a switch has it: the built-in learning extension in the last slot
  const learning: StagePlan = {
    slot: MAX_EXTENSION_SLOTS - 1, name: 'learning', kind: 'forward', module: new URL('./learning/index.js', import.meta.url).href,
    epoch: 1, config: {}, onError: 'drop',
  };
  const plan: PipelinePlan = { generation: 1, captures: [], filters: [], forward: learning, defaultForward: learning };
  const defs: Extension[] = [];
  for (const [slot, st] of (opts.stages ?? []).entries()) {
    const mod = (await import(st.module)) as { default: Extension };
    const def = await loadExtensionModule(st.module, { name: mod.default.name, kind: mod.default.kind });
    defs.push(def);
    const sp: StagePlan = {
      slot, name: def.name, kind: def.kind, module: st.module, epoch: 1,
      config: validateExtensionConfig(def, st.config ?? {}, 'config') as ExtensionConfig,
      onError: st.onError ?? (def.kind === 'capture' ? 'bypass' : 'drop'),
    };
    if (def.kind === 'capture') plan.captures.push(sp);
    else if (def.kind === 'filter') plan.filters.push(sp);
    else plan.forward = sp;
  }
  await dp.applyPlan(plan);
  const sw = new TestSwitch(dp, ports, extCounters, plan, defs);
  sw.failures.push(...sink.failures);
  sw.logs.push(...sink.logs);
  sink = sw;
  return sw;
}
