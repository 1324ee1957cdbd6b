/**
 * DataPathManager: the daemon's set of switches and installed extensions. It enforces the rules
 * that span switches (a netdev belongs to at most one switch) and turns control-plane requests into
 * Switch operations. Every method checks before it changes anything, and undoes a half-done change
 * on failure.
 */
import type { HnvProviderAddress, PortConfig, PortSettings, SwitchConfig, SwitchExtensionConfig, XvsConfig } from '../config/types.js';
import type { HnvPolicySnapshot } from '../hnv/model.js';
import type { SwitchHnvPolicy } from './hnv.js';
import type { RebalanceResult, VmqView } from '../vmq/switch-vmq.js';
import { ConfigError, NotFoundError } from '../core/errors.js';
import { renderExtensionDoc } from '../extensions/docs.js';
import { ExtensionRegistry, infoOf } from '../extensions/registry.js';
import { UntrustedPluginError, warnLog } from '../extensions/trust.js';
import { FdbPager } from '../forward/fdb-pages.js';
import { normalizeExtensionList } from './extensions.js';
import { reconcile } from '../ports/isolation.js';
import { NetdevRecord } from '../ports/netdev-record.js';
import { DEFAULT_TUNING, Switch, tuningFromEnv, type DataPathTuning } from './switch.js';
import type {
  HnvRuntimeView,
  ExtensionInfo, ExtensionManager, FdbEntry, FdbPage, FdbPageOptions, LiveTraceOptions, MeterReport, PipelineView, SwitchExtensionState, SwitchInfo, SwitchManager, SwitchStats, TraceView, UnknownExtension, WorkerHealthEntry,
} from './manager-api.js';

export class DataPathManager implements SwitchManager, ExtensionManager {

  private readonly switches = new Map<string, Switch>();
  /** `fdb.show` walks in progress, per switch (their snapshots go with the switch) */
  private readonly fdbPagers = new WeakMap<Switch, FdbPager>();
  private readonly log: (m: string) => void;
  private readonly tuning: DataPathTuning;
  readonly registry: ExtensionRegistry;
  /** resolves once the built-in extensions are loaded */
  readonly ready: Promise<void>;
  /** TAPs xvs created, settings of the port netdevs it isolated (persisted next to the config by the daemon) */
  readonly netdevRecord: NetdevRecord;

  /** `netdevRecord`: the file of the NetdevRecord (ports/netdev-record.ts); absent: kept in memory only */
  constructor(opts: { log?: (msg: string) => void; tuning?: Partial<DataPathTuning>; netdevRecord?: string } = {}) {
    this.log = opts.log ?? ((m) => process.stderr.write(`xvs: ${m}\n`));
    this.netdevRecord = new NetdevRecord(opts.netdevRecord ?? null, this.log);
    this.tuning = { ...DEFAULT_TUNING, ...tuningFromEnv(), ...opts.tuning };
    this.registry = new ExtensionRegistry({ loadTimeoutMs: this.tuning.requestTimeoutMs, heapMb: this.tuning.workerHeapMb });
    this.ready = this.registry.loadBuiltins(this.log);
  }

  private get(name: string): Switch {
    const sw = this.switches.get(name);
    if (!sw) throw new NotFoundError('switch', `no such switch "${name}"`);
    return sw;
  }

  /** the switch (if any) that already uses netdev `dev` */
  private owner(dev: string): string | undefined {
    for (const [n, sw] of this.switches) if (sw.netdevs().includes(dev)) return n;
    return undefined;
  }

  /** the effective HNV policy and this daemon's PAs (setHnvPolicy), given to every switch created */
  private hnv: { snapshot: HnvPolicySnapshot; localPas: HnvProviderAddress[] } | null = null;

  private hnvFor(name: string): SwitchHnvPolicy | null {
    if (!this.hnv) return null;
    return { snapshot: this.hnv.snapshot, providerAddresses: this.hnv.localPas.filter((p) => p.switch === name) };
  }

  async setHnvPolicy(snapshot: HnvPolicySnapshot, localPas: HnvProviderAddress[]): Promise<void> {
    this.hnv = { snapshot: structuredClone(snapshot), localPas: structuredClone(localPas) };
    for (const [name, sw] of this.switches) await sw.setHnvPolicy(this.hnvFor(name));
  }

  vmqShow(switchName: string): VmqView {
    return this.get(switchName).vmqView();
  }

  vmqRebalance(switchName: string): Promise<RebalanceResult> {
    return this.get(switchName).vmqRebalance();
  }

  hnvRuntime(switchName: string): HnvRuntimeView {
    return this.get(switchName).hnvRuntime();
  }

  async createSwitch(cfg: SwitchConfig): Promise<void> {
    await this.ready;
    if (this.switches.has(cfg.name)) throw new ConfigError('name', `switch "${cfg.name}" already exists`);
    if (cfg.uplink) {
      const o = this.owner(cfg.uplink);
      if (o) throw new ConfigError('uplink', `"${cfg.uplink}" is already used by switch "${o}"`);
    }
    for (const [i, p] of cfg.ports.entries()) {
      const dev = p.netdev ?? p.name;
      const o = this.owner(dev);
      if (o) throw new ConfigError(`ports[${i}].${p.netdev ? 'netdev' : 'name'}`, `"${dev}" is already used by switch "${o}"`);
    }
    const sw = await Switch.start(cfg, this.tuning, this.log, this.registry, this.netdevRecord);
    this.switches.set(cfg.name, sw);
    if (this.hnv) await sw.setHnvPolicy(this.hnvFor(cfg.name));
    // a port that cannot be attached (its netdev vanished while the daemon was down) does not stop
    // the others: the switch stays with every port that worked, and the first failure is reported
    let firstError: Error | undefined;
    for (const [i, p] of cfg.ports.entries()) {
      try {
        await sw.addPort(p, `ports[${i}]`);
      } catch (e) {
        this.log(`switch ${cfg.name}: ${(e as Error).message}`);
        firstError ??= e as Error;
      }
    }
    if (firstError) throw firstError;
  }

  /**
   * At start, before `cfg` is restored: delete the TAPs xvs created and give back the netdevs it isolated that
   * `cfg` does not use (what a `kill -9` in the middle of a change left).
   */
  reconcileNetdevs(cfg: XvsConfig): void {
    try {
      reconcile(this.netdevRecord, cfg, this.log);
    } catch (e) {
      // the restore goes on; what was not cleaned is tried again at the next start
      this.log(`cleaning netdevs left by an interrupted change: ${(e as Error).message}`);
    }
  }

  async deleteSwitch(name: string): Promise<void> {
    const sw = this.get(name);
    this.switches.delete(name);
    await sw.destroy();
  }

  async addPort(switchName: string, port: PortConfig, opts: { undoing?: boolean } = {}): Promise<void> {
    const sw = this.get(switchName);
    const dev = port.netdev ?? port.name;
    const o = this.owner(dev);
    if (o) throw new ConfigError(port.netdev ? 'netdev' : 'name', `"${dev}" is already used by switch "${o}"`);
    await sw.addPort(port, 'port', opts);
  }

  async removePort(switchName: string, portName: string, opts: { undoing?: boolean } = {}): Promise<void> {
    await this.get(switchName).removePort(portName, opts);
  }

  listSwitches(): SwitchInfo[] {
    return [...this.switches.values()].map((s) => s.info());
  }

  showSwitch(name: string): SwitchInfo {
    return this.get(name).info();
  }

  fdb(name: string): FdbEntry[] {
    return this.get(name).fdb();
  }

  fdbPage(name: string, opts: FdbPageOptions): FdbPage {
    const sw = this.get(name);
    let pager = this.fdbPagers.get(sw);
    if (!pager) {
      pager = new FdbPager(sw.table);
      this.fdbPagers.set(sw, pager);
    }
    const byIndex = new Map([...sw.ports.values()].map((p) => [p.index, p.name]));
    return pager.page(opts, (i) => byIndex.get(i) ?? `#${i}`, (Date.now() / 1000) | 0);
  }

  /** a running switch's worker CPUs (src/vmq) */
  async setCpus(switchName: string, cpus: number[] | undefined): Promise<void> {
    await this.get(switchName).setCpus(cpus);
  }

  async setPort(switchName: string, portName: string, settings: PortSettings, opts: { undoing?: boolean } = {}): Promise<void> {
    await this.get(switchName).setPort(portName, settings, opts);
  }

  meter(switchName: string, portName: string, reset: boolean): MeterReport {
    return this.get(switchName).meter(portName, reset);
  }

  stats(name: string): SwitchStats {
    return this.get(name).stats();
  }

  health(): WorkerHealthEntry[] {
    return [...this.switches.entries()].flatMap(([name, sw]) => sw.health().map((h) => ({ switch: name, ...h })));
  }

  async shutdown(): Promise<void> {
    const all = [...this.switches.values()];
    this.switches.clear();
    await Promise.all(all.map((s) => s.stop()));
  }

  // ---------------------------------------------------------------- extensions

  installedExtensions(): ExtensionInfo[] {
    return this.registry.list().map(infoOf);
  }

  describeExtension(name: string): { info: ExtensionInfo; markdown: string } {
    const r = this.registry.require(name, 'name');
    return { info: infoOf(r), markdown: renderExtensionDoc(r.def) };
  }

  listExtensions(switchName: string): SwitchExtensionState[] {
    const sw = this.get(switchName);
    return sw.extensions.state(sw.extCounters);
  }

  enableExtension(switchName: string, name: string): Promise<void> {
    return this.get(switchName).extensions.enable(name);
  }

  disableExtension(switchName: string, name: string): Promise<void> {
    return this.get(switchName).extensions.disable(name);
  }

  orderExtensions(switchName: string, names: string[]): Promise<void> {
    return this.get(switchName).extensions.order(names);
  }

  setExtension(switchName: string, name: string, change: { config?: Record<string, unknown>; onError?: 'bypass' | 'drop' }): Promise<void> {
    return this.get(switchName).extensions.set(name, change);
  }

  /** an extension list as `extensionConfig` would read it back once applied (the desired-state document compares in this form) */
  normalizeExtensions(list: SwitchExtensionConfig[], field: string, unknown: UnknownExtension): SwitchExtensionConfig[] {
    return normalizeExtensionList(this.registry, list, field, unknown);
  }

  /** the switch's extension list as it should be persisted */
  extensionConfig(switchName: string): SwitchExtensionConfig[] {
    return this.get(switchName).extensions.toConfig();
  }

  /** apply a whole extension list (restore, undo) */
  applyExtensionConfig(switchName: string, list: SwitchExtensionConfig[]): Promise<void> {
    return this.get(switchName).extensions.apply(list);
  }

  pipeline(switchName: string): PipelineView {
    return this.get(switchName).pipeline();
  }

  trace(switchName: string, inPort: string, frame: Uint8Array): Promise<TraceView> {
    return this.get(switchName).trace(inPort, frame);
  }

  traceLive(switchName: string, opts: LiveTraceOptions): Promise<TraceView[]> {
    return this.get(switchName).traceLive(opts);
  }

  async installExtension(source: string, opts: { allowUntrusted?: boolean } = {}): Promise<ExtensionInfo> {
    await this.ready;
    let r;
    try {
      r = await this.registry.install(source, { allowUntrusted: opts.allowUntrusted === true, warn: (m) => warnLog(this.log, m) });
    } catch (e) {
      if (e instanceof UntrustedPluginError) warnLog(this.log, e.message); // refused as a problem, not a typo
      throw e;
    }
    for (const sw of this.switches.values()) await sw.extensions.registryChanged();
    this.log(`installed extension ${r.kind} "${r.name}" ${r.version} from ${source}${r.allowUntrusted ? ' (--allow-untrusted)' : ''}`);
    return infoOf(r);
  }

  async uninstallExtension(name: string): Promise<void> {
    for (const [n, sw] of this.switches) {
      const st = sw.extensions.state(sw.extCounters).find((e) => e.name === name);
      if (st?.enabled) throw new ConfigError('name', `"${name}" is enabled on switch "${n}": disable it first`);
    }
    this.registry.uninstall(name);
    for (const sw of this.switches.values()) await sw.extensions.registryChanged();
  }
}
