/**
 * Pipeline plans: what the control plane sends a worker when the enabled extensions, their order or
 * their configuration change, and how the worker applies one between batches (Snabb's
 * configuration diff): an unchanged stage keeps its instance and state; a changed configuration
 * goes to `reconfigure` if the extension has one, else the instance is rebuilt; a stage no longer
 * in the plan is closed. A stage that failed stays out until the control plane re-enables it
 * (a new `epoch`).
 */
import { SW, type CounterBlock } from '../core/counters.js';
import type { FramePool } from '../core/frame-pool.js';
import type { Extension, ExtensionConfig, ExtensionInstance, ExtensionKind, OnError } from '../extensions/api.js';
import type { SwitchMacTable } from '../extensions/api.js';
import { DataPathContext, EXT_STRIDE, type InjectQueue, type LostFrameCounter, type PortDirectory } from './context.js';
import { DropReason } from '../core/drop-reasons.js';
import type { FrameOwnership } from './ownership.js';
import type { PortPolicyTable } from './port-policies.js';
import { enforcePluginTrust, UntrustedPluginError, warnLog, type PluginTrust } from '../extensions/trust.js';

const POOL_EXHAUSTED = DropReason['pool-exhausted'];
import type { ActiveExtension, ExtensionPipeline } from './pipeline.js';
import { CaptureBatchView, FilterBatchView, ForwardBatchView, type PortPresence, type ReaderView } from './views.js';

export interface StagePlan {
  /** the extension's counter slot on its switch (stable across reorders) */
  slot: number;
  name: string;
  kind: ExtensionKind;
  /** module URL whose default export is the Extension */
  module: string;
  config: ExtensionConfig;
  onError: OnError;
  /** bumped by enable: a failed stage comes back only with a new epoch */
  epoch: number;
  /** plug-ins: who may write its files is checked before the module is imported (extensions/trust.ts) */
  trust?: PluginTrust;
}

export interface PipelinePlan {
  generation: number;
  /** in ingress order (egress runs them in reverse) */
  captures: StagePlan[];
  filters: StagePlan[];
  /** the forwarder that runs: an enabled forwarding extension, else the default one */
  forward: StagePlan;
  /** the switch's default forwarder (learning): built on every worker, takes over when `forward` fails */
  defaultForward: StagePlan;
}

const moduleCache = new Map<string, Extension>();

/**
 * Import an extension module (cached per thread) and check it is what the plan says. A plug-in's
 * files are checked before each import (a thread imports a module once: a new or restarted worker
 * imports it again, and is checked again): UntrustedPluginError when users other than root can
 * write them, or a warning through `log` when it was installed with --allow-untrusted.
 */
export async function loadExtensionModule(
  url: string, expect: { name: string; kind: ExtensionKind; trust?: PluginTrust }, log: (m: string) => void = () => {},
): Promise<Extension> {
  let def = moduleCache.get(url);
  if (!def) {
    if (expect.trust) enforcePluginTrust(expect.trust, expect.name, '', (m) => warnLog(log, m), 'imported by a data-path worker');
    const mod = (await import(url)) as { default?: Extension };
    if (!mod.default || typeof mod.default.create !== 'function') throw new Error(`${url}: no default-exported extension`);
    def = mod.default;
    moduleCache.set(url, def);
  }
  if (def.name !== expect.name || def.kind !== expect.kind) {
    throw new Error(`${url}: exports ${def.kind} "${def.name}", expected ${expect.kind} "${expect.name}"`);
  }
  return def;
}

interface Live { plan: StagePlan; configJson: string; active: ActiveExtension }

export interface PlanDeps {
  switchName: string;
  workerIndex: number;
  pool: FramePool;
  owner: FrameOwnership;
  ports: PortDirectory;
  presence: PortPresence;
  /** every port's policies and extension features (extensions read them through views and contexts) */
  policies?: PortPolicyTable;
  inject: InjectQueue;
  /** this worker's extension counters: MAX_EXTENSION_SLOTS records of EXT_STRIDE */
  extCounters: Float64Array;
  batchSize: number;
  /** the switch's MAC table, handed to forwarding extensions */
  fdb: SwitchMacTable;
  /** counts frames an extension could not create or inject */
  lost: LostFrameCounter;
  log: (m: string) => void;
  /** the worker's counters: extRunning names the extension whose import/create/reconfigure runs (watchdog) */
  counters?: CounterBlock;
  /** a stage could not be built because its plug-in's files are not trusted: it stays out, the rest of the plan runs */
  onStageFailed?: (stage: StagePlan, error: string) => void;
}

export class PlanApplier {
  private readonly deps: PlanDeps;
  private readonly pipeline: ExtensionPipeline;
  private readonly live = new Map<number, Live>();
  /** slot → epoch at which it failed */
  private readonly failed = new Map<number, number>();

  constructor(deps: PlanDeps, pipeline: ExtensionPipeline) {
    this.deps = deps;
    this.pipeline = pipeline;
  }

  /** take a failed extension out for good (until a new epoch) */
  markFailed(slot: number): void {
    const l = this.live.get(slot);
    if (!l) return;
    this.failed.set(slot, l.plan.epoch);
    this.live.delete(slot);
    try { l.active.instance.close?.(); } catch { /* already failed */ }
  }

  async apply(plan: PipelinePlan): Promise<void> {
    const wanted = [...plan.captures, ...plan.filters, plan.forward];
    if (plan.defaultForward.slot !== plan.forward.slot) wanted.push(plan.defaultForward);
    const keep = new Set<number>();
    const built = new Map<number, ActiveExtension>();
    for (const sp of wanted) {
      if (this.deps.counters) this.deps.counters.v[SW.extRunning] = sp.slot + 1; // reset by DataPath.applyPlan
      const failedAt = this.failed.get(sp.slot);
      if (failedAt !== undefined && failedAt === sp.epoch) continue;
      this.failed.delete(sp.slot);
      const configJson = JSON.stringify(sp.config);
      const cur = this.live.get(sp.slot);
      if (cur && cur.plan.name === sp.name && cur.plan.module === sp.module && cur.plan.epoch === sp.epoch) {
        if (cur.configJson !== configJson) {
          if (cur.active.instance.reconfigure) {
            cur.active.instance.reconfigure(sp.config);
          } else {
            try { cur.active.instance.close?.(); } catch (e) { this.deps.log(`${sp.name}: close: ${String(e)}`); }
            cur.active.instance = await this.instantiate(sp, cur.active.ctx);
          }
        }
        cur.plan = sp;
        cur.configJson = configJson;
        cur.active.onError = sp.kind === 'capture' ? 'bypass' : sp.onError;
        keep.add(sp.slot);
        built.set(sp.slot, cur.active);
        continue;
      }
      if (cur) {
        try { cur.active.instance.close?.(); } catch { /* replaced */ }
        this.live.delete(sp.slot);
      }
      let active: ActiveExtension;
      try {
        active = await this.create(sp);
      } catch (e) {
        if (!(e instanceof UntrustedPluginError) || !this.deps.onStageFailed) throw e;
        this.failed.set(sp.slot, sp.epoch);
        this.deps.log(`extension ${sp.name} left out of the pipeline: ${e.message}`);
        this.deps.onStageFailed(sp, e.message);
        continue;
      }
      this.live.set(sp.slot, { plan: sp, configJson, active });
      keep.add(sp.slot);
      built.set(sp.slot, active);
    }
    for (const [slot, l] of this.live) {
      if (keep.has(slot)) continue;
      try { l.active.instance.close?.(); } catch (e) { this.deps.log(`${l.plan.name}: close: ${String(e)}`); }
      this.live.delete(slot);
    }
    const pick = (list: StagePlan[]): ActiveExtension[] =>
      list.map((sp) => built.get(sp.slot)).filter((a): a is ActiveExtension => a !== undefined);
    this.pipeline.install(plan.generation, pick(plan.captures), pick(plan.filters),
      built.get(plan.forward.slot) ?? null, built.get(plan.defaultForward.slot) ?? null);
  }

  private async instantiate(sp: StagePlan, ctx: DataPathContext): Promise<ActiveExtension['instance']> {
    const def = await loadExtensionModule(sp.module, sp, this.deps.log);
    return def.create(sp.config, ctx) as ActiveExtension['instance'];
  }

  private async create(sp: StagePlan): Promise<ActiveExtension> {
    const d = this.deps;
    const def = await loadExtensionModule(sp.module, sp, d.log);
    const base = sp.slot * EXT_STRIDE;
    d.extCounters.fill(0, base, base + EXT_STRIDE);
    const ctx = new DataPathContext({
      switchName: d.switchName, workerIndex: d.workerIndex, pool: d.pool, owner: d.owner, me: sp.slot + 1,
      ports: d.ports, inject: d.inject, counters: d.extCounters.subarray(base + 4, base + EXT_STRIDE),
      counterNames: Object.keys(def.counters), log: (m) => d.log(`${sp.name}: ${m}`),
      lost: d.lost, fdb: sp.kind === 'forward' ? d.fdb : null, maxBatch: d.batchSize,
      policies: d.policies, extName: sp.name, portFeatures: def.portFeatures,
    });
    const poolExhausted = (): void => d.lost(POOL_EXHAUSTED, -1);
    let view: ReaderView;
    if (sp.kind === 'capture') view = new CaptureBatchView(d.pool, d.presence, d.batchSize, d.policies);
    else if (sp.kind === 'filter') view = new FilterBatchView(d.pool, d.presence, d.batchSize, d.owner, sp.slot + 1, poolExhausted, d.policies);
    else view = new ForwardBatchView(d.pool, d.presence, d.batchSize, d.owner, sp.slot + 1, poolExhausted, d.policies);
    Object.freeze(view); // no property of a view can be replaced or added by extension code
    const instance = def.create(sp.config, ctx) as ExtensionInstance<CaptureBatchView>;
    return {
      slot: sp.slot, name: sp.name, kind: sp.kind, onError: sp.kind === 'capture' ? 'bypass' : sp.onError, instance, view, ctx,
      counters: d.extCounters.subarray(base, base + 4), failed: false,
    };
  }

  closeAll(): void {
    for (const l of this.live.values()) {
      try { l.active.instance.close?.(); } catch { /* shutting down */ }
    }
    this.live.clear();
  }
}
