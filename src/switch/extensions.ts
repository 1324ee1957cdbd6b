/**
 * The extensions bound to one switch: order, enabled state, validated configuration, on-error
 * policy and run-time state (failures), turned into pipeline plans for the switch's workers.
 *
 * Configuration is intent; state is what runs: an extension that threw keeps `enabled` but is not
 * `running` until it is enabled again (which gives it a new epoch, so the workers rebuild it).
 * Every change validates first, then sends the new plan to every worker; if a worker cannot apply
 * it (an extension's create() threw) the previous plan is sent back and the change is refused.
 *
 * Order: the binding list is the ingress order within each kind; enabling an extension moves it to
 * the front (Hyper-V: the most recently enabled sits nearest the protocol edge); `order` overrides.
 * The default forwarder (`learning`) is the forwarding stage whenever no other forwarding extension
 * is enabled and running: it shows as enabled and running then, and as replaced otherwise.
 */
import type { SwitchExtensionConfig } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import type { ExtensionConfig, ExtensionKind, OnError } from '../extensions/api.js';
import { validateExtensionConfig } from '../extensions/config.js';
import type { ExtensionRegistry, RegisteredExtension } from '../extensions/registry.js';
import { EXT_BUILTIN_COUNTERS, EXT_STRIDE, MAX_EXTENSION_SLOTS } from '../pipeline/context.js';
import type { PipelinePlan, StagePlan } from '../pipeline/plan.js';
import { STAGE_LIST } from '../pipeline/stage-list.js';
import type { PipelineStageView, PipelineView, SwitchExtensionState, UnknownExtension } from './manager-api.js';

interface Binding {
  name: string;
  enabled: boolean;
  config: ExtensionConfig;
  /** as configured; undefined = the kind's default */
  onError?: OnError;
  slot: number;
  epoch: number;
  failure?: { error: string; at: string; count: number; reason?: string };
}

const defaultOnError = (kind: ExtensionKind): OnError => (kind === 'capture' ? 'bypass' : 'drop');

/** the switch's own forwarder: runs when no other forwarding extension is enabled */
export const DEFAULT_FORWARDER = 'learning';

/** a capture extension never drops, so it cannot be told to drop on error */
function checkOnError(kind: ExtensionKind, onError: OnError | undefined, field: string): void {
  if (kind === 'capture' && onError === 'drop') {
    throw new ConfigError(field, 'a capture extension never drops frames; a capture that throws is bypassed (on-error drop is for filters and forwarders)');
  }
}

/**
 * An extension's configuration as a binding keeps it: validated, with the spec's defaults; a
 * DISABLED extension may stay unconfigured (required keys missing): its raw configuration is kept
 * and checked when it is enabled.
 */
function bindingConfig(reg: RegisteredExtension, enabled: boolean, raw: Record<string, unknown>, field: string): ExtensionConfig {
  try {
    return validateExtensionConfig(reg.def, raw, field);
  } catch (e) {
    if (enabled) throw e;
    return structuredClone(raw) as ExtensionConfig;
  }
}

/**
 * An extension list as `SwitchExtensions.toConfig` reads it back once applied: each configuration as
 * a binding keeps it, every installed extension that is not listed appended, disabled, in registry
 * order. An entry naming an extension that is not installed is refused, dropped or kept as written.
 */
export function normalizeExtensionList(
  registry: Pick<ExtensionRegistry, 'get' | 'list'>, list: SwitchExtensionConfig[], field: string, unknown: UnknownExtension,
): SwitchExtensionConfig[] {
  const out: SwitchExtensionConfig[] = [];
  const entry = (name: string, enabled: boolean, config: ExtensionConfig, onError?: OnError): SwitchExtensionConfig => ({
    name, enabled,
    ...(Object.keys(config).length > 0 ? { config: config as Record<string, unknown> } : {}),
    ...(onError !== undefined ? { onError } : {}),
  });
  list.forEach((e, i) => {
    const reg = registry.get(e.name);
    if (reg) {
      out.push(entry(e.name, e.enabled, bindingConfig(reg, e.enabled, e.config ?? {}, `${field}[${i}].config`), e.onError));
    } else if (unknown === 'keep') {
      out.push(structuredClone(e));
    } else if (unknown === 'error') {
      const installed = registry.list().map((r) => r.name).join(', ');
      throw new ConfigError(`${field}[${i}].name`, `no installed extension "${e.name}" (installed: ${installed})`);
    }
  });
  for (const reg of registry.list()) {
    if (!out.some((e) => e.name === reg.name)) out.push(entry(reg.name, false, bindingConfig(reg, false, {}, field)));
  }
  return out;
}

/** a worker-side check of a configuration with the extension's own validate() (plug-in code stays off this thread) */
export type ConfigValidator = (stage: StagePlan) => Promise<void>;
export class SwitchExtensions {
  private bindings: Binding[] = [];
  private generation = 0;
  private readonly registry: ExtensionRegistry;
  private readonly switchName: string;
  private readonly send: (plan: PipelinePlan) => Promise<void>;
  private readonly log: (m: string) => void;
  private readonly workers: number;
  private readonly validateIn: ConfigValidator;

  constructor(opts: {
    switchName: string; registry: ExtensionRegistry; workers: number;
    send: (plan: PipelinePlan) => Promise<void>; log: (m: string) => void; validate: ConfigValidator;
  }) {
    this.validateIn = opts.validate;
    this.switchName = opts.switchName;
    this.workers = opts.workers;
    this.registry = opts.registry;
    this.send = opts.send;
    this.log = opts.log;
  }

  /** an extension whose state lives in one instance cannot run on several workers */
  private checkWorkers(reg: RegisteredExtension, field: string): void {
    if (reg.def.singleWorker === true && this.workers > 1) {
      throw new ConfigError(field, `extension "${reg.name}" keeps its state in one instance and runs only on a switch with one worker; switch "${this.switchName}" has ${this.workers}`);
    }
  }

  private freeSlot(taken: Set<number>): number {
    for (let s = 0; s < MAX_EXTENSION_SLOTS; s++) if (!taken.has(s)) return s;
    throw new ConfigError('extensions', `at most ${MAX_EXTENSION_SLOTS} extensions per switch`);
  }

  /** bindings for `list` (validated) followed by every other installed extension, disabled */
  private resolve(list: SwitchExtensionConfig[], field: string): Binding[] {
    const out: Binding[] = [];
    const taken = new Set<number>();
    const reuse = (name: string): Binding | undefined => this.bindings.find((b) => b.name === name);
    list.forEach((e, i) => {
      const reg = this.registry.require(e.name, `${field}[${i}].name`);
      checkOnError(reg.kind, e.onError, `${field}[${i}].onError`);
      const config = bindingConfig(reg, e.enabled, e.config ?? {}, `${field}[${i}].config`);
      if (e.enabled) this.checkWorkers(reg, `${field}[${i}].enabled`);
      const old = reuse(e.name);
      const slot = old?.slot ?? -1;
      out.push({ name: e.name, enabled: e.enabled, config, onError: e.onError, slot, epoch: old?.epoch ?? 1, failure: old?.failure });
      if (slot >= 0) taken.add(slot);
    });
    for (const reg of this.registry.list()) {
      if (out.some((b) => b.name === reg.name)) continue;
      const old = reuse(reg.name);
      if (old) {
        out.push({ ...old });
        taken.add(old.slot);
      } else {
        out.push({ name: reg.name, enabled: false, config: bindingConfig(reg, false, {}, `extensions.${reg.name}.config`), slot: -1, epoch: 1 });
      }
    }
    for (const b of out) if (b.slot < 0) { b.slot = this.freeSlot(taken); taken.add(b.slot); }
    const fwd = out.filter((b) => b.enabled && b.name !== DEFAULT_FORWARDER && this.registry.get(b.name)?.kind === 'forward');
    if (fwd.length > 1) {
      throw new ConfigError(field, `only one forwarding extension may be enabled per switch (enabled: ${fwd.map((b) => b.name).join(', ')})`);
    }
    return out;
  }

  /** the forwarding extension that replaces the default one, if any is enabled (and not failed) */
  private replacingForwarder(bindings: Binding[]): Binding | undefined {
    return bindings.find((b) => b.name !== DEFAULT_FORWARDER && b.enabled && !b.failure && this.registry.get(b.name)?.kind === 'forward');
  }

  private stagePlan(b: Binding): StagePlan {
    const reg = this.registry.get(b.name)!;
    return {
      slot: b.slot, name: b.name, kind: reg.kind, module: reg.module, config: b.config,
      onError: b.onError ?? defaultOnError(reg.kind), epoch: b.epoch, ...(reg.trust ? { trust: reg.trust } : {}),
    };
  }

  private planFor(bindings: Binding[]): PipelinePlan {
    const dflt = bindings.find((b) => b.name === DEFAULT_FORWARDER);
    if (!dflt || !this.registry.get(DEFAULT_FORWARDER)) throw new Error(`the default forwarder "${DEFAULT_FORWARDER}" is not installed`);
    const defaultForward = this.stagePlan(dflt);
    const fwd = this.replacingForwarder(bindings);
    const plan: PipelinePlan = {
      generation: ++this.generation, captures: [], filters: [],
      forward: fwd ? this.stagePlan(fwd) : defaultForward, defaultForward,
    };
    for (const b of bindings) {
      const reg = this.registry.get(b.name);
      if (!reg || !b.enabled || b.failure) continue;
      if (reg.kind === 'capture') plan.captures.push(this.stagePlan(b));
      else if (reg.kind === 'filter') plan.filters.push(this.stagePlan(b));
    }
    return plan;
  }

  /**
   * Apply a whole extension list (start-up, restore, undo). With `lenient` (restore), entries naming
   * an extension that is not installed are skipped and logged instead of refusing the whole list.
   */
  async apply(list: SwitchExtensionConfig[], field = 'extensions', lenient = false): Promise<void> {
    const usable = lenient
      ? list.filter((e) => {
        if (this.registry.get(e.name)) return true;
        this.log(`switch ${this.switchName}: extension "${e.name}" is configured but not installed; skipped`);
        return false;
      })
      : list;
    const next = this.resolve(usable, field);
    await this.commit(next);
  }

  private async commit(next: Binding[]): Promise<void> {
    const prev = this.bindings;
    try {
      await this.send(this.planFor(next));
      this.bindings = next;
    } catch (e) {
      try { await this.send(this.planFor(prev)); } catch (e2) { this.log(`switch ${this.switchName}: could not restore the previous pipeline: ${String(e2)}`); }
      throw new ConfigError('extensions', `the pipeline change was refused: ${(e as Error).message}`);
    }
  }

  /** The configuration to persist: every binding that differs from "installed, disabled, defaults". */
  toConfig(): SwitchExtensionConfig[] {
    return this.bindings.map((b) => ({
      name: b.name, enabled: b.enabled,
      ...(Object.keys(b.config).length ? { config: structuredClone(b.config) as Record<string, unknown> } : {}),
      ...(b.onError ? { onError: b.onError } : {}),
    }));
  }

  private find(name: string, field = 'name'): Binding {
    this.registry.require(name, field);
    const b = this.bindings.find((x) => x.name === name);
    if (!b) throw new ConfigError(field, `extension "${name}" is not bound to switch "${this.switchName}"`);
    return b;
  }

  private clone(): Binding[] {
    return this.bindings.map((b) => ({ ...b }));
  }

  async enable(name: string): Promise<void> {
    this.find(name);
    const next = this.clone();
    const b = next.find((x) => x.name === name)!;
    const reg = this.registry.get(name)!;
    this.checkWorkers(reg, 'name');
    if (reg.kind === 'forward') {
      const other = next.find((x) => x.enabled && x.name !== name && x.name !== DEFAULT_FORWARDER && this.registry.get(x.name)?.kind === 'forward');
      if (other) {
        const what = name === DEFAULT_FORWARDER ? `disable it to go back to ${DEFAULT_FORWARDER}` : 'disable it first (one forwarding extension per switch)';
        throw new ConfigError('name', `forwarding extension "${other.name}" is enabled on switch "${this.switchName}": ${what}`);
      }
    }
    b.config = validateExtensionConfig(reg.def, b.config, 'config');
    await this.validateIn(this.stagePlan(b));
    if (b.failure) { b.failure = undefined; b.epoch++; }
    b.enabled = true;
    // the most recently enabled extension sits nearest the protocol edge: first in ingress order
    next.splice(next.indexOf(b), 1);
    next.unshift(b);
    await this.commit(next);
  }

  async disable(name: string): Promise<void> {
    this.find(name);
    if (name === DEFAULT_FORWARDER) {
      throw new ConfigError('name', `${DEFAULT_FORWARDER} is the switch's default forwarder and runs whenever no other forwarding extension is enabled; enable another forwarding extension to replace it`);
    }
    const next = this.clone();
    const b = next.find((x) => x.name === name)!;
    b.enabled = false;
    b.failure = undefined;
    await this.commit(next);
  }

  async order(names: string[]): Promise<void> {
    names.forEach((n, i) => this.find(n, `names[${i}]`));
    if (new Set(names).size !== names.length) throw new ConfigError('names', 'a name is listed twice');
    const next = this.clone();
    const first = names.map((n) => next.find((b) => b.name === n)!);
    await this.commit([...first, ...next.filter((b) => !names.includes(b.name))]);
  }

  async set(name: string, change: { config?: Record<string, unknown>; onError?: OnError }): Promise<void> {
    this.find(name);
    const reg = this.registry.get(name)!;
    const next = this.clone();
    const b = next.find((x) => x.name === name)!;
    if (change.onError !== undefined) {
      checkOnError(reg.kind, change.onError, 'onError');
      b.onError = change.onError;
    }
    if (change.config !== undefined) {
      // checked in full whether the extension is enabled or not: a bad configuration is refused now
      b.config = validateExtensionConfig(reg.def, change.config, 'config');
      await this.validateIn(this.stagePlan(b));
    }
    await this.commit(next);
  }

  /** the extension bound in a counter slot (enabled or not: a disabled one's validate() runs too) */
  nameOf(slot: number): string | undefined {
    return this.bindings.find((b) => b.slot === slot)?.name;
  }

  /** a worker reported that an extension threw (or the watchdog blamed it: `reason`): take it out on every worker of the switch */
  async failed(slot: number, error: string, reason?: string): Promise<void> {
    const b = this.bindings.find((x) => x.slot === slot);
    if (!b) return;
    const at = new Date().toISOString();
    b.failure = { error, at, count: (b.failure?.count ?? 0) + 1, ...(reason ? { reason } : {}) };
    this.log(`switch ${this.switchName}: extension ${b.name} failed and is disabled on this switch until enabled again: ${error}`);
    await this.send(this.planFor(this.bindings)).catch((e: unknown) => this.log(`switch ${this.switchName}: ${String(e)}`));
  }

  /** the registry changed (plug-in installed or removed): bind new ones disabled, drop removed ones */
  async registryChanged(): Promise<void> {
    const list = this.toConfig().filter((e) => this.registry.get(e.name));
    await this.apply(list);
  }

  state(extCounters: Float64Array[]): SwitchExtensionState[] {
    const replacing = this.replacingForwarder(this.bindings);
    return this.bindings.map((b) => {
      const reg = this.registry.get(b.name)!;
      const counters: Record<string, number> = {};
      const base = b.slot * EXT_STRIDE;
      EXT_BUILTIN_COUNTERS.forEach((n, k) => { counters[n] = extCounters.reduce((s, c) => s + c[base + k], 0); });
      Object.keys(reg.def.counters).forEach((n, k) => { counters[n] = extCounters.reduce((s, c) => s + c[base + 4 + k], 0); });
      const onError = b.onError ?? defaultOnError(reg.kind);
      const isDefault = b.name === DEFAULT_FORWARDER;
      const enabled = isDefault ? replacing === undefined : b.enabled;
      const running = enabled && !b.failure;
      return {
        name: b.name, version: reg.version, kind: reg.kind, summary: reg.summary, source: reg.source,
        ...(reg.trust?.allowUntrusted ? { allowUntrusted: true as const } : {}), enabled, running, onError, ...(isDefault && replacing ? { replacedBy: replacing.name } : {}), config: structuredClone(b.config) as Record<string, unknown>,
        ...(b.failure ? { failure: { ...b.failure } } : {}), counters,
      };
    });
  }

  /** the running data path, stage by stage, from the one stage list */
  pipeline(): PipelineView {
    const running = this.bindings.filter((b) => b.enabled && !b.failure);
    const of = (kind: ExtensionKind): Binding[] => running.filter((b) => b.name !== DEFAULT_FORWARDER && this.registry.get(b.name)?.kind === kind);
    const fwd = this.replacingForwarder(this.bindings)?.name ?? DEFAULT_FORWARDER;
    const stages: PipelineStageView[] = STAGE_LIST.map((def) => {
      let members: string[] = [];
      if (def.role === 'capture' || def.role === 'filter') members = of(def.role).map((b) => b.name);
      else if (def.role === 'forward') members = [fwd];
      if (def.path === 'egress') members.reverse();
      return {
        stage: def.name, path: def.path, kind: def.role, doc: def.doc,
        ...(def.role === 'builtin' || def.role === 'policy' ? {} : { extensions: members }),
        state: def.role === 'policy' ? 'empty' : 'running',
      };
    });
    const failed = this.bindings.filter((b) => b.enabled && b.failure).map((b) => ({ name: b.name, error: b.failure!.error }));
    return { switch: this.switchName, generation: this.generation, stages, failed };
  }
}
