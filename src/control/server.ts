/**
 * The daemon's control server: a Unix socket speaking `control/protocol.ts`, routing each method to the
 * `SwitchManager` (the data path) through the one owner of the configuration, `DesiredState`.
 *
 * A mutating verb takes the lock of the switch it touches (`config.apply` and plug-in install/uninstall take
 * every lock), edits a copy of the desired-state document (`control/edits.ts`: errors name the request's
 * field), and commits it: validate → diff → apply (rolled back on the first failure) → persist (rolled back if
 * writing fails). So the running switches, the document and the file agree after every request, and a change
 * to one switch never waits behind a change to another.
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { fromRoot } from '../repo-root.js';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, normalize as normalizePath } from 'node:path';
import { ConfigError, NotFoundError } from '../core/errors.js';
import { describe as describeChanges, describeChange } from '../config/desired.js';
import { checkPortAgainstSystem, checkSwitchAgainstSystem, interfaceExists, portNetdev, type InterfaceExists } from '../config/schema.js';
import { DEFAULT_CONFIG_PATH, emptyConfig, saveConfig } from '../config/store.js';
import { Connection, DEFAULT_LIMITS, RateLimitedLog, refuseConnection, type ConnectionLimits, type ConnectionStats } from './connections.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { BusyError } from './locks.js';
import type { PortConfig, SwitchConfig, XvsConfig } from '../config/types.js';
import type { TapHolder } from '../ports/netdev.js';
import type { SwitchExtensionState, SwitchManager } from '../switch/manager-api.js';
import { DesiredState, type ExtensionControl } from './desired-state.js';
import { TraceSessions } from './trace-sessions.js';
import * as edits from './edits.js';
import type { PortSettingsChange } from './edits.js';
import { ALL, type LockScope } from './locks.js';
import { HnvControl } from '../hnv/control.js';
import type { EtcdSourceFactory } from '../hnv/etcd-factory.js';
import { keyOf, type HnvCommit } from '../hnv/local-source.js';
import type { DashboardConfig, HnvEtcdConfig, MetricsConfig } from '../config/types.js';
import { SriovPorts, type SriovOptions } from '../sriov/ports.js';

export type { ExtensionControl } from './desired-state.js';
import {
  DEFAULT_SOCKET_PATH,
  METHODS,
  errorToWire,
  parseRequestLine,
  type ConfigApplyResult,
  type MethodName,
  type ParsedOf,
  type PortAddResult,
  type PortRemoveResult,
  type PortView,
  type Problem,
  type RequestId,
  type RestoreProgress,
  type Response,
  type ResultOf,
  type SwitchView,
} from './protocol.js';

export interface ControlServerOptions {
  manager: SwitchManager;
  /** the extension half of the data path (the daemon passes the same DataPathManager); absent: extension methods refuse */
  extensions?: ExtensionControl;
  socketPath?: string;
  configPath?: string;
  /** the config loaded at start-up (default: empty); `restore()` applies it */
  config?: XvsConfig;
  log?: (msg: string) => void;
  /** does a netdev exist? (default: /sys/class/net/<name>) */
  exists?: InterfaceExists;
  /** how to persist (default: `saveConfig`); injectable so tests can make it fail */
  save?: (path: string, cfg: XvsConfig) => void;
  /** how long a request waits for a switch's lock before failing with BusyError (default 20 s) */
  lockWaitMs?: number;
  /** who holds a TAP (default: `tapHolders` from /proc); injectable for tests */
  tapHolders?: (name: string) => TapHolder[];
  /** connection cap, idle timeout, backpressure bounds (defaults: `DEFAULT_LIMITS`, docs/CONTROL.md) */
  limits?: Partial<ConnectionLimits>;
  /** the one-daemon lock on config and socket, if the caller took it already; else `listen()` takes it */
  lock?: InstanceLock;
  /** how long a request waits for the start-up restore before failing with BusyError (default: `lockWaitMs`) */
  restoreWaitMs?: number;
  /** HNV: this daemon's name among the hosts (--hnv-host; default hnv.etcd.host, then the host name) */
  hnvHost?: string;
  /** HNV: etcd for this run (--etcd), over the document's hnv.etcd */
  etcd?: HnvEtcdConfig;
  /** HNV: how etcd sources are made (default: hnv/etcd-source.ts) */
  etcdFactory?: EtcdSourceFactory;
  /** the metrics endpoint (metrics/endpoint.ts): the document's `metrics` is applied to it; absent: ignored */
  metrics?: { applyDocument(after: MetricsConfig | undefined): Promise<void>; readonly address: string | null };
  /** the dashboard (dashboard/server.ts): the document's `dashboard` is applied to it; absent: ignored */
  dashboard?: { applyDocument(after: DashboardConfig | undefined): Promise<void>; readonly address: string | null };
  /** SR-IOV: sysfs root, command runner (default: sysfs at $XVS_SYSFS_ROOT or /, real commands; assignments in sriov.json beside the config) */
  sriov?: SriovOptions;
}

type Handlers = { [M in MethodName]: (params: ParsedOf<M>) => Promise<ResultOf<M>> };

function readVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') {
      return pkg.version;
    }
  } catch {
    // not fatal: status says "unknown"
  }
  return 'unknown';
}

export class ControlServer {
  readonly socketPath: string;
  readonly configPath: string;
  private readonly manager: SwitchManager;
  private readonly log: (msg: string) => void;
  private readonly exists: InterfaceExists;
  private readonly state: DesiredState;
  /** the document loaded at start-up, applied by `restore()` */
  private readonly loaded: XvsConfig;
  private server: Server | null = null;
  private socketIno: number | null = null;
  private readonly conns = new Map<Socket, Connection>();
  /** connections over the cap, being refused */
  private readonly refused = new Set<Socket>();
  private readonly limits: ConnectionLimits;
  private readonly notes: RateLimitedLog;
  private lock: InstanceLock | null;
  /** resolves when the start-up restore is done; requests other than daemon.status wait for it (bounded) */
  private readonly restored: Promise<void>;
  private markRestored: () => void = () => {};
  private restorePending: boolean;
  private readonly restoreWaitMs: number;
  private readonly startedAt = new Date();
  private readonly version = readVersion();
  private readonly handlers: Handlers;
  private readonly traces = new TraceSessions();
  /** HNV: the policy source in force and the push to the switches (hnv/control.ts) */
  readonly hnv: HnvControl;
  /** SR-IOV VFs of iovWeight ports (sriov/ports.ts), reconciled after every commit */
  readonly sriov: SriovPorts;

  constructor(opts: ControlServerOptions) {
    this.manager = opts.manager;
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET_PATH;
    this.configPath = opts.configPath ?? DEFAULT_CONFIG_PATH;
    this.loaded = structuredClone(opts.config ?? emptyConfig());
    this.log = opts.log ?? (() => {});
    this.exists = opts.exists ?? interfaceExists;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.notes = new RateLimitedLog(this.log, this.limits.logIntervalMs);
    this.lock = opts.lock ?? null;
    // A loaded document with something in it is restored right after listen(); until then requests wait.
    this.restorePending = this.loaded.switches.length > 0 || (this.loaded.plugins ?? []).length > 0;
    this.restored = new Promise((r) => {
      this.markRestored = r;
    });
    if (!this.restorePending) this.markRestored();
    this.restoreWaitMs = opts.restoreWaitMs ?? opts.lockWaitMs ?? 20_000;
    this.sriov = new SriovPorts({ statePath: `${dirname(this.configPath)}/sriov.json`, log: this.log, ...opts.sriov });
    this.state = new DesiredState({
      manager: opts.manager,
      ext: opts.extensions,
      configPath: this.configPath,
      save: opts.save ?? saveConfig,
      exists: this.exists,
      log: this.log,
      lockWaitMs: opts.lockWaitMs ?? 20_000,
      ...(opts.tapHolders ? { tapHolders: opts.tapHolders } : {}),
      hnv: (after) => this.hnv.applyDocument(after),
      ...(opts.metrics ? { metrics: (after: MetricsConfig | undefined) => opts.metrics!.applyDocument(after) } : {}),
      ...(opts.dashboard ? { dashboard: (after: DashboardConfig | undefined) => opts.dashboard!.applyDocument(after) } : {}),
      afterCommit: (doc) => this.sriov.reconcile(doc),
    });
    // the local HNV source writes through the one commit path, holding every switch's lock
    const commitHnv: HnvCommit = (edit) => this.locked(ALL, async () => {
      const { hnv: cur, ...rest } = this.config;
      const hnv = edit(cur);
      await this.state.commit(hnv ? { ...rest, hnv } : rest, { scope: ALL });
    });
    this.hnv = new HnvControl({
      manager: opts.manager, log: this.log, switches: () => this.config.switches, commit: commitHnv,
      ...(opts.hnvHost !== undefined ? { host: opts.hnvHost } : {}),
      ...(opts.etcd ? { etcd: opts.etcd } : {}),
      ...(opts.etcdFactory ? { etcdFactory: opts.etcdFactory } : {}),
    });
    this.handlers = {
      'switch.create': (p) => this.locked([p.config.name], () => this.createSwitch(p.config, p.mayExist)),
      'switch.delete': (p) => this.locked([p.name], () => this.deleteSwitch(p.name, p.ifExists)),
      'switch.list': async () => this.config.switches.map((sw) => this.switchView(sw)),
      'switch.show': async (p) => this.switchView(this.findSwitch(p.name, 'params.name')),
      'switch.set': (p) => this.locked([p.name], () => this.setSwitch(p.name, p.cpus)),
      'vmq.show': async (p) => {
        if (!this.manager.vmqShow) throw new Error('this daemon has no VMQ');
        return this.manager.vmqShow(this.runningSwitch(p.switch).name);
      },
      'vmq.rebalance': (p) => this.locked([p.switch], async () => {
        if (!this.manager.vmqRebalance) throw new Error('this daemon has no VMQ');
        const r = await this.manager.vmqRebalance(this.runningSwitch(p.switch).name);
        this.log(`vmq rebalance of switch "${p.switch}": ${r.moves.length ? r.moves.map((m) => `${m.queue} ${m.from}→${m.to}`).join(', ') : 'nothing moved'}`);
        return r;
      }),
      'port.add': (p) => this.locked([p.switch], () => this.addPort(p.switch, p.port, p.mayExist)),
      'port.remove': (p) => this.locked([p.switch], () => this.removePort(p.switch, p.name, p.ifExists, p.force)),
      'port.list': async (p) => this.portViews(this.findSwitch(p.switch, 'params.switch')),
      'port.show': async (p) => {
        const sw = this.findSwitch(p.switch, 'params.switch');
        const view = this.portViews(sw).find((v) => v.name === p.name);
        if (!view) throw new NotFoundError('params.name', `no such port "${p.name}" on switch "${sw.name}"`);
        const stats = view.running ? (this.manager.stats(sw.name).ports.find((s) => s.name === p.name) ?? null) : null;
        return { ...view, stats };
      },
      'port.set': (p) => this.locked([p.switch], () => this.setPort(p.switch, p.name, p.settings)),
      'port.meter': async (p) => {
        const sw = this.runningSwitch(p.switch);
        this.findPortConfig(sw, p.name);
        if (!this.manager.meter) throw new Error('this daemon has no metering');
        return this.manager.meter(sw.name, p.name, p.reset);
      },
      'port.feature.set': (p) => this.editPort(p.switch, p.name, (doc) => edits.setFeature(doc, p.switch, p.name, p.extension, p.settings), (pc) => ({ features: pc.features ?? {} })),
      'port.feature.remove': (p) => this.editPort(p.switch, p.name, (doc) => edits.removeFeature(doc, p.switch, p.name, p.extension, p.keys), (pc) => ({ features: pc.features ?? {} })),
      'acl.add': (p) => this.editPort(p.switch, p.name, (doc) => edits.addAcl(doc, p.switch, p.name, p.acl), (pc) => ({ acls: pc.acls ?? [] })),
      'acl.remove': (p) => this.editPort(p.switch, p.name, (doc) => edits.removeAcl(doc, p.switch, p.name, p.acl), (pc) => ({ acls: pc.acls ?? [] })),
      'acl.list': async (p) => structuredClone(this.findPortConfig(this.findSwitch(p.switch, 'params.switch'), p.name).acls ?? []),
      'acl.extended.add': (p) => this.editPort(p.switch, p.name, (doc) => edits.addExtendedAcl(doc, p.switch, p.name, p.acl), (pc) => ({ extendedAcls: pc.extendedAcls ?? [] })),
      'acl.extended.remove': (p) => this.editPort(p.switch, p.name, (doc) => edits.removeExtendedAcl(doc, p.switch, p.name, p.weight, p.direction), (pc) => ({ extendedAcls: pc.extendedAcls ?? [] })),
      'acl.extended.list': async (p) => structuredClone(this.findPortConfig(this.findSwitch(p.switch, 'params.switch'), p.name).extendedAcls ?? []),
      'fdb.show': async (p) => this.manager.fdbPage(this.runningSwitch(p.switch).name, { limit: p.limit, ...(p.after !== undefined ? { after: p.after } : {}) }),
      stats: async (p) => this.manager.stats(this.runningSwitch(p.switch).name),
      'extension.installed': async () => this.exts().installedExtensions(),
      'extension.describe': async (p) => this.exts().describeExtension(p.name),
      'extension.list': async (p) => this.exts().listExtensions(this.runningSwitch(p.switch).name),
      'extension.enable': (p) => this.changeExtensions(p.switch, p.name, (x, sw) => x.enableExtension(sw, p.name), 'enabled'),
      'extension.disable': (p) => this.changeExtensions(p.switch, p.name, (x, sw) => x.disableExtension(sw, p.name), 'disabled'),
      'extension.order': async (p) => {
        await this.changeExtensions(p.switch, p.names[0], (x, sw) => x.orderExtensions(sw, p.names), `reordered (${p.names.join(', ')} first)`);
        return this.exts().listExtensions(p.switch);
      },
      'extension.set': (p) => this.changeExtensions(p.switch, p.name, (x, sw) => x.setExtension(sw, p.name, {
        ...(p.config !== undefined ? { config: p.config } : {}), ...(p.onError !== undefined ? { onError: p.onError } : {}),
      }), 'reconfigured'),
      'extension.install': (p) => this.locked(ALL, () => this.installExtension(p.source, p.allowUntrusted)),
      'extension.uninstall': (p) => this.locked(ALL, () => this.uninstallExtension(p.name)),
      'pipeline.show': async (p) => this.exts().pipeline(this.runningSwitch(p.switch).name),
      trace: async (p) => {
        const sw = this.runningSwitch(p.switch).name;
        if (p.mode === 'synthetic') return [await this.exts().trace(sw, p.in, p.frame)];
        return this.exts().traceLive(sw, { count: p.count, timeoutMs: p.timeoutMs, ...(p.match ? { match: p.match } : {}), ...(p.in ? { inPort: p.in } : {}) });
      },
      'trace.start': async (p) => {
        const sw = this.runningSwitch(p.switch).name;
        const opts = { count: p.count, timeoutMs: p.timeoutMs, ...(p.match ? { match: p.match } : {}), ...(p.in ? { inPort: p.in } : {}) };
        return { session: await this.traces.start(p.count, (more) => this.exts().traceLive(sw, { ...opts, ...more })) };
      },
      'trace.poll': async (p) => this.traces.poll(p.session, p.from),
      'trace.stop': async (p) => { this.traces.stop(p.session); return { session: p.session }; },
      'daemon.status': async () => ({
        pid: process.pid,
        version: this.version,
        socket: this.socketPath,
        configPath: this.configPath,
        startedAt: this.startedAt.toISOString(),
        uptimeSeconds: Math.floor((Date.now() - this.startedAt.getTime()) / 1000),
        switches: this.config.switches.length,
        ports: this.config.switches.reduce((n, sw) => n + sw.ports.length, 0),
        problems: this.state.problems,
        // data-path workers that were restarted (stalled, out of heap, crashed), with the cause
        workers: (this.manager.health?.() ?? []).filter((w) => w.restarts > 0),
        ...(this.restorePending ? { restoring: this.restoreProgress() } : {}),
        connections: this.conns.size,
        ...(opts.metrics?.address ? { metrics: opts.metrics.address } : {}),
        ...(opts.dashboard?.address ? { dashboard: opts.dashboard.address } : {}),
      }),
      'config.show': async () => this.currentConfig,
      'config.apply': (p) => this.locked(ALL, () => this.applyConfig(p.config, p.dryRun)),
      'hnv.pa.add': async (p) => ({ object: p, key: this.hnv.paKeyOf(p.switch, p.address, p.host), ...(await this.hnvLogged(this.hnv.put('pa', p), `PA ${p.address}/${p.prefixLength} on ${p.switch}`)) }),
      'hnv.pa.remove': (p) => this.hnvRemove('pa', this.hnv.paKeyOf(p.switch, p.address, p.host), `provider address ${p.address} on switch "${p.switch}"`, p.ifExists),
      'hnv.pa.list': async () => this.hnv.paViews(),
      'hnv.record.add': async (p) => ({ object: p, key: keyOf('record', p), ...(await this.hnvLogged(this.hnv.put('record', p), `record VSID ${p.vsid} CA ${p.ca} MAC ${p.mac} → PA ${p.pa} (${p.encap})`)) }),
      'hnv.record.remove': (p) => this.hnvRemove('record', this.hnv.recordKeyOf(p.vsid, p.ca, p.mac), `lookup record of VSID ${p.vsid} with ${p.ca !== undefined ? `CA ${p.ca}` : `MAC ${p.mac}`}`, p.ifExists),
      'hnv.record.list': async () => this.hnv.recordViews(),
      'hnv.route.add': async (p) => ({ object: p, key: keyOf('route', p), ...(await this.hnvLogged(this.hnv.put('route', p), `route ${p.prefix} via ${p.nextHop} in VSID ${p.vsid} (${p.routingDomain})`)) }),
      'hnv.route.remove': (p) => this.hnvRemove('route', this.hnv.routeKeyOf(p.routingDomain, p.vsid, p.prefix), `customer route ${p.prefix} of VSID ${p.vsid} in routing domain "${p.routingDomain}"`, p.ifExists),
      'hnv.route.list': async () => structuredClone(this.hnv.source.snapshot().customerRoutes),
      'hnv.show': async () => this.hnv.show(),
      'sriov.list': async () => this.sriov.list(this.config),
      'sriov.enable': (p) => this.locked(ALL, async () => {
        const r = this.sriov.enable(p.pf, p.vfs);
        // iovWeight ports on the software path may get a VF now
        await this.sriov.reconcile(this.config);
        return r;
      }),
    };
  }

  private async hnvLogged(put: Promise<{ replaced: boolean }>, what: string): Promise<{ replaced: boolean }> {
    const r = await put;
    this.log(`hnv: ${r.replaced ? 'replaced' : 'added'} ${what}`);
    return r;
  }

  private async hnvRemove(kind: 'pa' | 'record' | 'route', key: string, what: string, ifExists: boolean): Promise<{ key: string; removed: boolean }> {
    const r = await this.hnv.remove(kind, key, what, ifExists);
    if (r.removed) this.log(`hnv: removed ${what}`);
    return { key, ...r };
  }

  private get config(): XvsConfig {
    return this.state.current;
  }

  private locked<T>(scope: LockScope, fn: () => Promise<T>): Promise<T> {
    return this.state.locks.run(scope, fn);
  }

  private exts(): ExtensionControl {
    return this.state.exts();
  }

  /**
   * An extension verb: the manager method validates the change against the extension's own spec and applies
   * it; the switch's list is then read back into the document and committed (persisted, or undone).
   */
  private changeExtensions(
    switchName: string, name: string, change: (x: ExtensionControl, sw: string) => Promise<void>, what: string,
  ): Promise<SwitchExtensionState> {
    return this.locked([switchName], async () => {
      const x = this.exts();
      const sw = this.runningSwitch(switchName);
      try {
        await change(x, sw.name);
      } catch (e) {
        if (e instanceof ConfigError && !e.field.startsWith('params')) throw new ConfigError(`params.${e.field}`, e.message.slice(e.field.length + 2));
        throw e;
      }
      const next = { ...this.config, switches: this.config.switches.map((s) => (s.name === sw.name ? { ...s, extensions: x.extensionConfig(sw.name) } : s)) };
      await this.state.commit(next, { scope: [sw.name], preApplied: true });
      this.log(`switch "${sw.name}": extension ${name} ${what}`);
      const st = x.listExtensions(sw.name).find((e) => e.name === name);
      if (!st) throw new NotFoundError('params.name', `no extension "${name}"`);
      return st;
    });
  }

  /** plug-ins: installed first (the registry validates them), then the document gets them (and every switch's list) */
  private async installExtension(rawSource: string, allowUntrusted: boolean) {
    const x = this.exts();
    // an absolute path is kept normalised (the CLI sends relative paths resolved against its working directory)
    const source = rawSource.startsWith('/') ? normalizePath(rawSource).replace(/(.)\/+$/, '$1') : rawSource;
    const info = await x.installExtension(source, { allowUntrusted });
    const plugins = [...(this.config.plugins ?? []).filter((p) => p !== source), source];
    const others = (this.config.untrustedPlugins ?? []).filter((p) => p !== source);
    const untrustedPlugins = allowUntrusted ? [...others, source] : others;
    const next: XvsConfig = { ...this.config, plugins };
    if (untrustedPlugins.length) next.untrustedPlugins = untrustedPlugins;
    else delete next.untrustedPlugins;
    await this.state.commit(next, { scope: ALL, preApplied: true });
    return info;
  }

  private async uninstallExtension(name: string): Promise<{ name: string }> {
    const x = this.exts();
    const info = x.installedExtensions().find((e) => e.name === name);
    if (!info) throw new NotFoundError('params.name', `no installed extension "${name}"`);
    await x.uninstallExtension(name);
    const plugins = (this.config.plugins ?? []).filter((p) => p !== info.source);
    const switches = this.config.switches.map((s) => (s.extensions ? { ...s, extensions: s.extensions.filter((e) => e.name !== name) } : s));
    const next: XvsConfig = { ...this.config, plugins, switches };
    const untrustedPlugins = (this.config.untrustedPlugins ?? []).filter((p) => p !== info.source);
    if (untrustedPlugins.length) next.untrustedPlugins = untrustedPlugins;
    else delete next.untrustedPlugins;
    await this.state.commit(next, { scope: ALL, preApplied: true });
    return { name };
  }

  /** `config.apply`: the whole document, by diff. Idempotent: the same document again changes nothing. */
  private async applyConfig(desired: XvsConfig, dryRun: boolean): Promise<ConfigApplyResult> {
    const newPlugins = (desired.plugins ?? []).some((p) => !(this.config.plugins ?? []).includes(p));
    const next = this.state.normalize(desired, newPlugins ? 'keep' : 'error', 'params.config.');
    const changes = await this.state.commit(next, { scope: ALL, dryRun, fieldPrefix: 'params.config.', heldField: 'params.config' });
    if (!dryRun && changes.length > 0) this.log(`config applied: ${changes.map(describeChange).join('; ')}`);
    return { dryRun, changes: changes.map(describeChange), text: describeChanges(changes) };
  }

  /** A copy of the config as it is now (what the file holds after the last successful change). */
  get currentConfig(): XvsConfig {
    return structuredClone(this.config);
  }

  /** What could not be restored and is configured but not running. */
  get problems(): Problem[] {
    return this.state.problems;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Calls

  /**
   * Runs one method as a request would (params validated first). Used by the socket and by tests. While the
   * start-up restore runs, every method but `daemon.status` waits for it (at most `restoreWaitMs`), so a read
   * right after a start sees the restored switches, not an empty document.
   */
  async call<M extends MethodName>(method: M, params: unknown): Promise<ResultOf<M>> {
    const parsed: ParsedOf<M> = METHODS[method].parse(params);
    if (this.restorePending && method !== 'daemon.status') await this.waitRestored();
    return this.handlers[method](parsed);
  }

  private restoreProgress(): RestoreProgress {
    return this.state.restoring ? { ...this.state.restoring } : { switches: this.loaded.switches.length, switchesDone: 0, changes: 0, changesDone: 0 };
  }

  private async waitRestored(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), this.restoreWaitMs);
    });
    const ok = await Promise.race([this.restored.then(() => true), timeout]);
    clearTimeout(timer);
    if (!ok) {
      const p = this.restoreProgress();
      throw new BusyError(
        `the daemon is still restoring its configuration (${p.switchesDone} of ${p.switches} switches) after ${Math.round(this.restoreWaitMs / 1000)} s; ` +
        'try again later (see "xvs daemon status")',
      );
    }
  }

  /** Per open connection: bytes read, requests, in flight, queued, paused (for tests and diagnostics). */
  connectionStats(): ConnectionStats[] {
    return [...this.conns.values()].map((c) => ({ ...c.stats }));
  }

  private findSwitch(name: string, field: string): SwitchConfig {
    return edits.findSwitch(this.config, name, field);
  }

  private findPortConfig(sw: SwitchConfig, name: string): PortConfig {
    const pc = sw.ports.find((p) => p.name === name);
    if (!pc) throw new NotFoundError('params.name', `no such port "${name}" on switch "${sw.name}"`);
    return pc;
  }

  /**
   * A verb that edits one port's settings (acl, feature): the edit makes the next document (null: nothing to
   * do), committed like `port set` (a setPort change: applied in place, persisted, undone on failure).
   */
  private editPort<R extends object>(
    switchName: string, portName: string, edit: (doc: XvsConfig) => XvsConfig | null, result: (pc: PortConfig) => R,
  ): Promise<R & { switch: string; name: string; unchanged?: boolean }> {
    return this.locked([switchName], async () => {
      const next = edit(this.config);
      const read = () => ({ switch: switchName, name: portName, ...result(structuredClone(this.findPortConfig(this.findSwitch(switchName, 'params.switch'), portName))) });
      if (!next) return { ...read(), unchanged: true };
      const changes = await this.state.commit(next, { scope: [switchName] });
      this.log(changes.map(describeChange).join('; '));
      return read();
    });
  }

  private runningSwitch(name: string): SwitchConfig {
    const sw = this.findSwitch(name, 'params.switch');
    if (!this.state.isRunning(sw.name)) {
      throw new ConfigError('params.switch', `switch "${name}" is not running (see "xvs daemon status")`);
    }
    return sw;
  }

  private switchView(sw: SwitchConfig): SwitchView {
    if (!this.state.isRunning(sw.name)) return { config: structuredClone(sw), ports: [], running: false };
    const info = this.manager.showSwitch(sw.name);
    return { config: structuredClone(sw), ports: info.ports, ...(info.workers ? { workers: info.workers } : {}), running: true };
  }

  private portViews(sw: SwitchConfig): PortView[] {
    const views: PortView[] = [];
    if (this.state.isRunning(sw.name)) {
      for (const p of this.manager.showSwitch(sw.name).ports) {
        const pc = sw.ports.find((x) => x.name === p.name);
        views.push({ switch: sw.name, ...p, running: true, ...(pc && p.kind === 'vm' ? { config: structuredClone(pc) } : {}) });
      }
    }
    for (const p of sw.ports) {
      if (views.some((v) => v.name === p.name)) continue;
      views.push({ switch: sw.name, name: p.name, kind: 'vm', netdev: portNetdev(p), index: null, up: false, running: false, config: structuredClone(p) });
    }
    for (const v of views) {
      const iov = v.kind === 'vm' ? this.sriov.status(sw.name, v.name) : undefined;
      if (iov) v.iov = structuredClone(iov);
    }
    return views;
  }

  private async createSwitch(sw: SwitchConfig, mayExist: boolean): Promise<SwitchView & { unchanged?: boolean }> {
    const next = edits.addSwitch(this.config, sw, mayExist);
    if (!next) return { ...this.switchView(this.findSwitch(sw.name, 'params.name')), unchanged: true };
    checkSwitchAgainstSystem(sw, 'params', this.exists);
    await this.state.commit(next, { scope: [sw.name] });
    this.log(`created switch "${sw.name}" (${sw.type})`);
    return this.switchView(this.findSwitch(sw.name, 'params.name'));
  }

  private async deleteSwitch(name: string, ifExists: boolean): Promise<{ name: string; unchanged?: boolean }> {
    // this daemon's PAs on it (the document's, or etcd's with this host) would name a switch that is gone
    const pas = this.hnv.source.snapshot().providerAddresses.filter((p) => p.switch === name && this.hnv.mine(p));
    if (pas.length > 0) {
      throw new ConfigError('params.name', `switch "${name}" carries HNV provider addresses (${pas.map((p) => p.address).join(', ')}): remove them first (xvs hnv pa remove ${name} --address …)`);
    }
    const next = edits.removeSwitch(this.config, name, ifExists);
    if (!next) return { name, unchanged: true };
    await this.state.commit(next, { scope: [name] });
    this.log(`deleted switch "${name}"`);
    return { name };
  }

  private async addPort(switchName: string, port: PortConfig, mayExist: boolean): Promise<PortAddResult> {
    const next = edits.addPort(this.config, switchName, port, mayExist);
    const sw = this.runningSwitch(switchName);
    const view = (): PortAddResult => this.portViews(this.findSwitch(sw.name, 'params.switch')).find((x) => x.name === port.name)
      ?? { switch: sw.name, name: port.name, kind: 'vm', netdev: portNetdev(port), index: null, up: false, running: true };
    if (!next) return { ...view(), unchanged: true };
    checkPortAgainstSystem(port, 'params', this.exists);
    await this.state.commit(next, { scope: [sw.name] });
    this.log(`added port "${port.name}" to switch "${sw.name}"${port.netdev ? ` (netdev ${port.netdev})` : ''}`);
    return view();
  }

  private async setPort(switchName: string, portName: string, settings: PortSettingsChange): Promise<PortView & { unchanged?: boolean }> {
    const next = edits.setPort(this.config, switchName, portName, settings);
    const view = (): PortView => {
      const v = this.portViews(this.findSwitch(switchName, 'params.switch')).find((x) => x.name === portName);
      if (!v) throw new NotFoundError('params.name', `no such port "${portName}" on switch "${switchName}"`);
      return v;
    };
    if (!next) return { ...view(), unchanged: true };
    await this.state.commit(next, { scope: [switchName] });
    this.log(`set port "${portName}" of switch "${switchName}": ${JSON.stringify(settings)}`);
    return view();
  }

  /** `switch set`: the settings a running switch changes in place (cpus), committed like every change */
  private async setSwitch(name: string, cpus: number[] | undefined): Promise<SwitchView & { unchanged?: boolean }> {
    const sw = this.findSwitch(name, 'params.name');
    if (JSON.stringify(sw.cpus ?? []) === JSON.stringify(cpus ?? [])) return { ...this.switchView(sw), unchanged: true };
    const { cpus: _old, ...rest } = sw;
    void _old;
    const next = { ...this.config, switches: this.config.switches.map((s) => (s.name === name ? { ...rest, ...(cpus ? { cpus } : {}) } : s)) };
    await this.state.commit(next, { scope: [name] });
    this.log(`set switch "${name}": cpus ${cpus?.join(',') ?? '(none)'}`);
    return this.switchView(this.findSwitch(name, 'params.name'));
  }

  private async removePort(switchName: string, portName: string, ifExists: boolean, force: boolean): Promise<PortRemoveResult> {
    const next = edits.removePort(this.config, switchName, portName, ifExists);
    if (!next) return { switch: switchName, name: portName, unchanged: true };
    const iov = this.sriov.status(switchName, portName);
    await this.state.commit(next, { scope: [switchName], force, heldField: 'params.name' });
    this.log(`removed port "${portName}" from switch "${switchName}"${force ? ' (forced)' : ''}`);
    return { switch: switchName, name: portName, ...(iov?.state === 'vf' ? { iovReleased: iov.address } : {}) };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Start-up

  /**
   * Applies the loaded document from the empty one, through the same diff as every change, leniently: what
   * fails (a vanished uplink or netdev, a manager error) is logged and listed in `daemon.status`; the rest is
   * restored and the config is kept as is.
   */
  async restore(): Promise<Problem[]> {
    this.restorePending = true;
    try {
      // --etcd: the etcd source first (the document's lists are then not used)
      await this.hnv.start().catch((e: unknown) => this.log(`hnv: etcd: ${(e as Error).message}`));
      return await this.locked(ALL, () => this.state.restore(this.loaded));
    } finally {
      this.restorePending = false;
      this.markRestored();
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Socket

  /**
   * Takes the one-daemon lock on config and socket (`instance-lock.ts`) unless given one, then binds the socket
   * (mode 0600, directory 0700), replacing a stale socket file.
   */
  async listen(): Promise<void> {
    if (this.server) throw new Error('control server already listening');
    this.lock ??= await acquireInstanceLock({ configPath: this.configPath, socketPath: this.socketPath, log: this.log });
    try {
      await this.bind();
    } catch (e) {
      await this.lock.release();
      this.lock = null;
      throw e;
    }
  }

  private async bind(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    await this.clearStaleSocket();
    const server = createServer((conn) => this.accept(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Bind with a tight umask so the socket is never, even briefly, connectable by others.
      let oldMask: number | null = null;
      try {
        oldMask = process.umask(0o177);
      } catch {
        // worker threads cannot change the umask; the chmod below still applies
      }
      try {
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        if (oldMask !== null) process.umask(oldMask);
      }
    });
    chmodSync(this.socketPath, 0o600);
    this.socketIno = statSync(this.socketPath).ino;
    // accept can fail (EMFILE when the process is out of fds): log it, never crash
    server.on('error', (e) => this.notes.note('accept', `control: ${e.message}`));
    this.server = server;
    this.log(`listening on ${this.socketPath}`);
  }

  private async clearStaleSocket(): Promise<void> {
    let isSocket: boolean;
    try {
      isSocket = lstatSync(this.socketPath).isSocket();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if (!isSocket) throw new Error(`${this.socketPath} exists and is not a socket; not removing it`);
    // We hold the lock on this socket path, so no xvs daemon owns the file. A daemon killed a moment ago may
    // still accept on it while the kernel tears it down: wait for that (bounded) before giving up.
    for (let i = 0; i < 50 && (await this.socketAnswers()); i++) await new Promise((r) => setTimeout(r, 100));
    if (await this.socketAnswers()) throw new Error(`another process is listening on ${this.socketPath} (not an xvs daemon holding its lock); not removing it`);
    this.log(`removing stale socket ${this.socketPath}`);
    unlinkSync(this.socketPath);
  }

  private socketAnswers(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const probe = createConnection(this.socketPath);
      const timer = setTimeout(() => {
        probe.destroy();
        resolve(true); // connected-but-silent or hung: treat as alive, do not steal its socket
      }, 1000);
      probe.once('connect', () => {
        clearTimeout(timer);
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  }

  private accept(conn: Socket): void {
    if (this.conns.size >= this.limits.maxConnections) {
      this.notes.note('cap', `control: refusing a connection: ${this.limits.maxConnections} connections open (the limit)`);
      refuseConnection(conn, `too many connections to the xvs daemon (${this.limits.maxConnections} open); try again later`);
      this.refused.add(conn);
      conn.on('close', () => this.refused.delete(conn));
      return;
    }
    this.conns.set(conn, new Connection(conn, this.limits, (line) => this.answer(line), this.notes));
    conn.on('close', () => this.conns.delete(conn));
  }

  /** The reply to one request line; never throws. */
  private async answer(line: string): Promise<Response> {
    const req = parseRequestLine(line);
    if (!req.ok) return { id: req.id, ok: false, error: req.error };
    const id: RequestId = req.id;
    try {
      const result = await this.call(req.method, req.params);
      return { id, ok: true, result };
    } catch (e) {
      if (!(e instanceof ConfigError)) this.log(`${req.method} failed: ${e instanceof Error ? e.message : String(e)}`);
      return { id, ok: false, error: errorToWire(e) };
    }
  }

  /** Stops listening, drops connections, removes the socket file (if it is still ours). */
  async close(): Promise<void> {
    this.traces.close();
    await this.hnv.close().catch(() => {});
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of [...this.conns.keys(), ...this.refused]) c.destroy();
    await closed;
    try {
      if (statSync(this.socketPath).ino === this.socketIno) unlinkSync(this.socketPath);
    } catch {
      // already gone
    }
    await this.lock?.release();
    this.lock = null;
  }
}
