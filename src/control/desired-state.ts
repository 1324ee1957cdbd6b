/**
 * The one owner of the configuration: the desired-state document, what of it is not running (restore
 * problems), and the one path that changes it. Every CLI verb, `config.apply`, plug-in install/uninstall and
 * restore at start go through `commit(next)`:
 *
 *   validate next (shape, claims; system checks on what is created)
 *     → diff(current, next)                                  config/desired.ts, pure
 *     → applyDiff: one data-path call per change; on the first failure the inverse of what was done
 *     → read back extension lists → persist atomically; if that fails, roll the applied changes back
 *
 * so a failed change changes nothing, and the running switches, this document and the file agree after every
 * request. Restore is the same diff from the empty document, applied leniently: what fails (a vanished netdev)
 * is a problem listed by `daemon.status` and stays in the document.
 */
import { ConfigError } from '../core/errors.js';
import {
  applyDiff, applyLenient, bareSwitch, describeChange, diff, rollback, switchOf, type Change,
} from '../config/desired.js';
import {
  checkPortAgainstSystem, checkSwitchAgainstSystem, portNetdev, validateConfig, type InterfaceExists,
} from '../config/schema.js';
import { serializeConfig } from '../config/store.js';
import type { DashboardConfig, HnvConfig, MetricsConfig, SwitchExtensionConfig, XvsConfig } from '../config/types.js';
import { tapHolders as procTapHolders, type TapHolder } from '../ports/netdev.js';
import type { ExtensionManager, SwitchManager, UnknownExtension } from '../switch/manager-api.js';
import { mergeSwitches } from './edits.js';
import { ALL, SwitchLocks, type LockScope } from './locks.js';
import type { Problem, RestoreProgress } from './protocol.js';

export type { UnknownExtension };

/** What the server needs, beyond ExtensionManager, to keep extension lists in the document. */
export interface ExtensionControl extends ExtensionManager {
  /** the switch's extension list as the data path runs it (every installed extension, in order) */
  extensionConfig(switchName: string): SwitchExtensionConfig[];
  /** make the switch's extension list this one (validated against each extension's spec) */
  applyExtensionConfig(switchName: string, list: SwitchExtensionConfig[]): Promise<void>;
  /**
   * The list as `extensionConfig` would read it back once applied: each config with its spec's defaults,
   * every installed extension not listed appended disabled. Without it, lists are compared as written.
   */
  normalizeExtensions?(list: SwitchExtensionConfig[], field: string, unknown: UnknownExtension): SwitchExtensionConfig[];
}

export interface CommitOptions {
  /** the switches this change may touch (their locks are held); ALL for whole-document changes */
  scope: LockScope;
  /** only compute the diff */
  dryRun?: boolean;
  /** the data path is already at `next` (an extension verb or plug-in install ran first): only persist, or undo */
  preApplied?: boolean;
  /** remove TAP ports even if another process holds them */
  force?: boolean;
  /** field to name for a held TAP (default `params.name`) */
  heldField?: string;
  /** prefix of field paths in system-check errors (e.g. `params.config.`) */
  fieldPrefix?: string;
}

const portKey = (sw: string, port: string): string => `${sw}/${port}`;
const why = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class DesiredState {
  private doc: XvsConfig = { version: 1, switches: [] };
  /** switches and ports in the document that are not running (restore failed); key: switch or switch/port */
  readonly down = new Map<string, Problem>();
  readonly locks: SwitchLocks;

  constructor(private readonly opts: {
    manager: SwitchManager;
    ext: ExtensionControl | undefined;
    configPath: string;
    save: (path: string, cfg: XvsConfig) => void;
    exists: InterfaceExists;
    log: (msg: string) => void;
    lockWaitMs: number;
    tapHolders?: (name: string) => TapHolder[];
    /** applies the document's `hnv` (hnv/control.ts: the local source's policy, or the etcd source it names) */
    hnv?: (after: HnvConfig | undefined) => Promise<void>;
    /** applies the document's `metrics` (metrics/endpoint.ts: the listener moves or stops) */
    metrics?: (after: MetricsConfig | undefined) => Promise<void>;
    /** applies the document's `dashboard` (dashboard/server.ts: the listener moves or stops) */
    dashboard?: (after: DashboardConfig | undefined) => Promise<void>;
    /** runs after every commit that changed something, and after restore (sriov/ports.ts: VFs follow the document; never throws) */
    afterCommit?: (doc: XvsConfig) => Promise<void>;
  }) {
    this.locks = new SwitchLocks(opts.lockWaitMs);
  }

  /** the document as it is now (what the file holds after the last successful change); do not modify */
  get current(): XvsConfig {
    return this.doc;
  }

  isRunning(sw: string, port?: string): boolean {
    return !this.down.has(sw) && (port === undefined || !this.down.has(portKey(sw, port)));
  }

  /** Extension lists as the data path would read them back (see ExtensionControl.normalizeExtensions). */
  normalize(doc: XvsConfig, unknown: UnknownExtension, prefix: string): XvsConfig {
    const n = this.opts.ext?.normalizeExtensions?.bind(this.opts.ext);
    if (!n) return doc;
    return {
      ...doc,
      switches: doc.switches.map((s, i) => ({ ...s, extensions: n(s.extensions ?? [], `${prefix}switches[${i}].extensions`, unknown) })),
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Apply one change to the data path

  /** One change, forward or (undo) backward. `downBefore`: what was not running when the commit began. */
  private applier(downBefore: ReadonlyMap<string, Problem>, lenient: boolean) {
    const { manager } = this.opts;
    return async (c: Change, undo: boolean): Promise<void> => {
      // while undoing, an object that was not running before is put back in the document only
      const wasDown = (sw: string, port?: string): boolean =>
        downBefore.has(sw) || (port !== undefined && downBefore.has(portKey(sw, port)));
      switch (c.kind) {
        case 'createSwitch':
          if (undo && wasDown(c.config.name)) return;
          await manager.createSwitch(bareSwitch(c.config));
          return;
        case 'deleteSwitch': {
          const name = c.config.name;
          if (this.isRunning(name)) await manager.deleteSwitch(name);
          for (const k of [...this.down.keys()]) if (k === name || k.startsWith(`${name}/`)) this.down.delete(k);
          return;
        }
        case 'addPort':
          if (undo && wasDown(c.switch, c.port.name)) return;
          if (!this.isRunning(c.switch)) throw new ConfigError('params.switch', `switch "${c.switch}" is not running (see "xvs daemon status")`);
          await manager.addPort(c.switch, structuredClone(c.port), { undoing: undo });
          return;
        case 'setPort':
          // a port that is not running gets its settings when it is added
          if (this.isRunning(c.switch, c.port)) await manager.setPort(c.switch, c.port, c.after, { undoing: undo });
          return;
        case 'removePort':
          if (this.isRunning(c.switch, c.port.name)) await manager.removePort(c.switch, c.port.name, { undoing: undo });
          this.down.delete(portKey(c.switch, c.port.name));
          return;
        case 'setCpus':
          if (this.isRunning(c.switch)) await manager.setCpus(c.switch, c.after);
          return;
        case 'setExtensions': {
          if (!this.isRunning(c.switch)) return;
          const x = this.exts();
          const list = x.normalizeExtensions
            ? x.normalizeExtensions(c.after, 'extensions', undo || lenient ? 'skip' : 'error')
            : c.after;
          await x.applyExtensionConfig(c.switch, list);
          return;
        }
        case 'setHnv':
          await this.opts.hnv?.(c.after);
          return;
        case 'setMetrics':
          await this.opts.metrics?.(c.after);
          this.problemsOnly.delete('metrics:listen'); // a restore that could not listen is resolved
          return;
        case 'setDashboard':
          await this.opts.dashboard?.(c.after);
          this.problemsOnly.delete('dashboard:listen');
          return;
        case 'installPlugin':
          await this.exts().installExtension(c.source, { allowUntrusted: c.allowUntrusted === true });
          return;
        case 'uninstallPlugin': {
          const x = this.exts();
          const info = x.installedExtensions().find((e) => e.source === c.source);
          if (info) await x.uninstallExtension(info.name);
          return;
        }
      }
    };
  }

  exts(): ExtensionControl {
    if (!this.opts.ext) throw new Error('this daemon has no extension support');
    return this.opts.ext;
  }

  /** the running switches of `doc` get the extension lists the data path runs */
  private readBack(doc: XvsConfig, scope: LockScope): XvsConfig {
    const x = this.opts.ext;
    if (!x) return doc;
    return {
      ...doc,
      switches: doc.switches.map((s) => {
        if ((scope !== ALL && !scope.includes(s.name)) || !this.isRunning(s.name)) return s;
        try {
          return { ...s, extensions: x.extensionConfig(s.name) };
        } catch {
          return s;
        }
      }),
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Commit

  /** Checks before anything is applied: netdevs of what is created exist; TAPs to remove are not held. */
  private preflight(next: XvsConfig, changes: readonly Change[], opts: CommitOptions): void {
    const prefix = opts.fieldPrefix ?? '';
    for (const c of changes) {
      if (c.kind === 'createSwitch') {
        const i = next.switches.findIndex((s) => s.name === c.config.name);
        checkSwitchAgainstSystem(c.config, `${prefix}switches[${i}]`, this.opts.exists);
      } else if (c.kind === 'addPort') {
        const i = next.switches.findIndex((s) => s.name === c.switch);
        const j = next.switches[i]?.ports.findIndex((p) => p.name === c.port.name) ?? -1;
        checkPortAgainstSystem(c.port, `${prefix}switches[${i}].ports[${j}]`, this.opts.exists);
      } else if (c.kind === 'removePort' && c.port.netdev === undefined && !opts.force && this.isRunning(c.switch, c.port.name)) {
        const holders = (this.opts.tapHolders ?? procTapHolders)(portNetdev(c.port));
        if (holders.length > 0) {
          const who = holders.map((h) => `pid ${h.pid} (${h.comm})`).join(', ');
          throw new ConfigError(opts.heldField ?? 'params.name', `TAP "${c.port.name}" is held by ${who}; stop the VM first (or --force)`);
        }
      }
    }
  }

  /**
   * Makes the running state and the file equal `next` (the caller holds the locks of `opts.scope`). Returns
   * the changes (applied, or with dryRun only computed). Throws, having changed nothing, if any step fails.
   */
  async commit(next: XvsConfig, opts: CommitOptions): Promise<Change[]> {
    const scopeNames = opts.scope === ALL ? null : opts.scope;
    const changes = diff(this.doc, next);
    for (const c of changes) {
      const sw = switchOf(c);
      if (scopeNames && (sw === null || !scopeNames.includes(sw))) {
        throw new Error(`internal: change "${describeChange(c)}" outside the locked switches ${scopeNames.join(', ')}`);
      }
    }
    if (!opts.preApplied) this.preflight(next, changes, opts);
    if (opts.dryRun) return changes;

    const downBefore = new Map(this.down);
    const apply = this.applier(downBefore, false);
    const undoAll = async (done: readonly Change[]): Promise<string[]> => {
      const errors = await rollback(apply, done);
      for (const k of [...this.down.keys()]) if (inScope(k)) this.down.delete(k);
      for (const [k, v] of downBefore) if (inScope(k)) this.down.set(k, v);
      return errors;
    };
    const inScope = (key: string): boolean => scopeNames === null || scopeNames.includes(key.split('/')[0]);

    let done: Change[];
    if (opts.preApplied) done = changes;
    else {
      try {
        done = await applyDiff(apply, changes);
      } catch (e) {
        for (const k of [...this.down.keys()]) if (inScope(k)) this.down.delete(k);
        for (const [k, v] of downBefore) if (inScope(k)) this.down.set(k, v);
        throw e instanceof Error && 'cause' in e && e.cause instanceof ConfigError && e.name === 'ApplyError'
          ? withMessage(e.cause, e.message)
          : e;
      }
    }

    // persist: the newest document with this commit's switches (changes to other switches may have landed meanwhile)
    const applied = this.readBack(next, opts.scope);
    const merged = scopeNames === null ? applied : mergeSwitches(this.doc, applied, scopeNames);
    try {
      validateConfig(merged);
      if (serializeConfig(merged) !== serializeConfig(this.doc)) this.opts.save(this.opts.configPath, merged);
    } catch (e) {
      const errors = await undoAll(done);
      if (errors.length > 0) this.opts.log(`undo after failed save also failed: ${errors.join('; ')}`);
      throw new Error(`could not save ${this.opts.configPath}: ${why(e)} (the change was undone)`);
    }
    this.doc = merged;
    if (changes.length > 0) await this.opts.afterCommit?.(merged);
    return changes;
  }

  /**
   * Start-up: the loaded document applied from the empty one, leniently. Returns the problems. The document
   * is kept whole (an object that could not be restored comes back when the daemon restarts with its netdev);
   * nothing is written.
   */
  async restore(loaded: XvsConfig): Promise<Problem[]> {
    const desired = this.normalize(loaded, 'keep', '');
    const changes = diff({ version: 1, switches: [] }, desired);
    const base = this.applier(new Map(), true);
    const pathOf = (c: Change): { key: string; path: string } => {
      if (c.kind === 'setHnv') return { key: 'hnv', path: 'hnv' };
      if (c.kind === 'setMetrics') return { key: 'metrics:listen', path: 'metrics.listen' };
      if (c.kind === 'setDashboard') return { key: 'dashboard:listen', path: 'dashboard.listen' };
      if (c.kind === 'installPlugin' || c.kind === 'uninstallPlugin') {
        return { key: `plugin:${c.source}`, path: `plugins[${(loaded.plugins ?? []).indexOf(c.source)}]` };
      }
      const sw = switchOf(c) ?? '';
      const i = loaded.switches.findIndex((s) => s.name === sw);
      if (c.kind === 'addPort') {
        const j = loaded.switches[i].ports.findIndex((p) => p.name === c.port.name);
        return { key: portKey(sw, c.port.name), path: `switches[${i}].ports[${j}]` };
      }
      if (c.kind === 'setExtensions') return { key: `extensions:${sw}`, path: `switches[${i}].extensions` };
      return { key: sw, path: `switches[${i}]` };
    };
    // progress for daemon.status: switches created (or failed) and changes tried so far
    const creates = changes.map((c, i) => (c.kind === 'createSwitch' ? i : -1)).filter((i) => i >= 0);
    const progress = { switches: loaded.switches.length, switchesDone: 0, changes: changes.length, changesDone: 0 };
    this.restoring = progress;
    const step = (c: Change): void => {
      const i = changes.indexOf(c);
      progress.changesDone = i;
      progress.switchesDone = creates.filter((j) => j < i).length;
    };
    const apply = async (c: Change, undo: boolean): Promise<void> => {
      step(c);
      const { path } = pathOf(c);
      if (c.kind === 'createSwitch') checkSwitchAgainstSystem(c.config, path, this.opts.exists);
      if (c.kind === 'addPort') checkPortAgainstSystem(c.port, path, this.opts.exists);
      await base(c, undo);
    };
    let ok = 0;
    await applyLenient(apply, changes, (c, e) => {
      const { key, path } = pathOf(c);
      const field = e instanceof ConfigError && e.field.startsWith(path) ? e.field : path;
      const message = why(e);
      // a switch's extension list that could not be applied leaves the switch running: a problem, not down
      this.down.set(key, { field, message });
      this.opts.log(`restore: ${message}${message.startsWith(field) ? '' : ` (${field})`}; kept in the config`);
    });
    for (const k of [...this.down.keys()]) if (k.startsWith('extensions:') || k.startsWith('plugin:') || k.startsWith('metrics:') || k.startsWith('dashboard:')) this.problemsOnly.set(k, this.down.get(k)!);
    for (const k of this.problemsOnly.keys()) this.down.delete(k);
    ok = loaded.switches.filter((s) => this.isRunning(s.name)).length;
    this.doc = this.readBack(loaded, ALL);
    await this.opts.afterCommit?.(this.doc);
    this.restoring = null;
    this.opts.log(`restored ${ok} of ${loaded.switches.length} switches (${this.problems.length} problems)`);
    return this.problems;
  }

  /** while `restore` runs: switches created (or failed) and changes tried so far, of all */
  restoring: RestoreProgress | null = null;

  /** restore problems that do not stop anything from running (a plug-in, an extension list) */
  private readonly problemsOnly = new Map<string, Problem>();

  get problems(): Problem[] {
    return [...this.problemsOnly.values(), ...this.down.values()];
  }
}

function withMessage(e: ConfigError, message: string): ConfigError {
  const out = new ConfigError(e.field, '');
  out.name = e.name;
  out.message = message;
  return out;
}
