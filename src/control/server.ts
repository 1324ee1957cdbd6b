/**
 * The daemon's control server: a Unix socket speaking `control/protocol.ts`, routing each method to the
 * `SwitchManager` (the data path) and keeping the config file in step with it.
 *
 * Every mutating method runs alone (a queue), in three steps:
 *   1. validate: params (`METHODS[m].parse`), claims against the current config, existence of netdevs;
 *   2. apply: one `SwitchManager` call — if it throws, nothing changed and nothing is saved;
 *   3. persist: `saveConfig` of the new config — if that throws, the manager call is undone.
 * So the running switches, the in-memory config and the file agree after every request.
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ConfigError, NotFoundError } from '../core/errors.js';
import {
  checkClaims,
  checkPortAgainstSystem,
  checkPortNameInSwitch,
  checkSwitchAgainstSystem,
  configClaims,
  interfaceExists,
  portClaim,
  portNetdev,
  switchClaims,
  type InterfaceExists,
} from '../config/schema.js';
import { DEFAULT_CONFIG_PATH, emptyConfig, saveConfig } from '../config/store.js';
import { MAX_PORTS_PER_SWITCH, type PortConfig, type SwitchConfig, type XvsConfig } from '../config/types.js';
import type { ExtensionManager, SwitchExtensionState, SwitchManager } from '../switch/manager-api.js';
import type { SwitchExtensionConfig } from '../config/types.js';

/** What the server needs, beyond ExtensionManager, to persist and undo extension changes. */
export interface ExtensionControl extends ExtensionManager {
  extensionConfig(switchName: string): SwitchExtensionConfig[];
  applyExtensionConfig(switchName: string, list: SwitchExtensionConfig[]): Promise<void>;
}
import {
  DEFAULT_SOCKET_PATH,
  LineSplitter,
  METHODS,
  encodeMessage,
  errorToWire,
  parseRequestLine,
  type MethodName,
  type ParsedOf,
  type PortView,
  type Problem,
  type RequestId,
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
}

type Handlers = { [M in MethodName]: (params: ParsedOf<M>) => Promise<ResultOf<M>> };

function readVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') {
      return pkg.version;
    }
  } catch {
    // not fatal: status says "unknown"
  }
  return 'unknown';
}

const portKey = (sw: string, port: string): string => `${sw}/${port}`;

export class ControlServer {
  readonly socketPath: string;
  readonly configPath: string;
  private readonly manager: SwitchManager;
  private readonly ext: ExtensionControl | undefined;
  private readonly log: (msg: string) => void;
  private readonly exists: InterfaceExists;
  private readonly save: (path: string, cfg: XvsConfig) => void;
  private config: XvsConfig;
  /** switches and ports in the config that are not running (restore failed); key: switch or switch/port */
  private readonly down = new Map<string, Problem>();
  private queue: Promise<unknown> = Promise.resolve();
  private server: Server | null = null;
  private socketIno: number | null = null;
  private readonly conns = new Set<Socket>();
  private readonly startedAt = new Date();
  private readonly version = readVersion();
  private readonly handlers: Handlers;

  constructor(opts: ControlServerOptions) {
    this.manager = opts.manager;
    this.ext = opts.extensions;
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET_PATH;
    this.configPath = opts.configPath ?? DEFAULT_CONFIG_PATH;
    this.config = structuredClone(opts.config ?? emptyConfig());
    this.log = opts.log ?? (() => {});
    this.exists = opts.exists ?? interfaceExists;
    this.save = opts.save ?? saveConfig;
    this.handlers = {
      'switch.create': (p) => this.createSwitch(p),
      'switch.delete': (p) => this.deleteSwitch(p.name),
      'switch.list': async () => this.config.switches.map((sw) => this.switchView(sw)),
      'switch.show': async (p) => this.switchView(this.findSwitch(p.name, 'params.name')),
      'port.add': (p) => this.addPort(p.switch, p.port),
      'port.remove': (p) => this.removePort(p.switch, p.name),
      'port.list': async (p) => this.portViews(this.findSwitch(p.switch, 'params.switch')),
      'port.show': async (p) => {
        const sw = this.findSwitch(p.switch, 'params.switch');
        const view = this.portViews(sw).find((v) => v.name === p.name);
        if (!view) throw new NotFoundError('params.name', `no such port "${p.name}" on switch "${sw.name}"`);
        const stats = view.running ? (this.manager.stats(sw.name).ports.find((s) => s.name === p.name) ?? null) : null;
        return { ...view, stats };
      },
      'fdb.show': async (p) => this.manager.fdb(this.runningSwitch(p.switch).name),
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
      'extension.install': (p) => this.installExtension(p.source),
      'extension.uninstall': (p) => this.uninstallExtension(p.name),
      'pipeline.show': async (p) => this.exts().pipeline(this.runningSwitch(p.switch).name),
      trace: async (p) => {
        const sw = this.runningSwitch(p.switch).name;
        if (p.mode === 'synthetic') return [await this.exts().trace(sw, p.in, p.frame)];
        return this.exts().traceLive(sw, { count: p.count, timeoutMs: p.timeoutMs, ...(p.match ? { match: p.match } : {}), ...(p.in ? { inPort: p.in } : {}) });
      },
      'daemon.status': async () => ({
        pid: process.pid,
        version: this.version,
        socket: this.socketPath,
        configPath: this.configPath,
        startedAt: this.startedAt.toISOString(),
        uptimeSeconds: Math.floor((Date.now() - this.startedAt.getTime()) / 1000),
        switches: this.config.switches.length,
        ports: this.config.switches.reduce((n, sw) => n + sw.ports.length, 0),
        problems: [...this.down.values()],
      }),
    };
  }

  private exts(): ExtensionControl {
    if (!this.ext) throw new Error('this daemon has no extension support');
    return this.ext;
  }

  /** run an extension change on a running switch, then persist the switch's extension list (undo on failure) */
  private async changeExtensions(
    switchName: string, name: string, change: (x: ExtensionControl, sw: string) => Promise<void>, what: string,
  ): Promise<SwitchExtensionState> {
    const x = this.exts();
    const sw = this.runningSwitch(switchName);
    const before = x.extensionConfig(sw.name);
    try {
      await change(x, sw.name);
    } catch (e) {
      if (e instanceof ConfigError && !e.field.startsWith('params')) throw new ConfigError(`params.${e.field}`, e.message.slice(e.field.length + 2));
      throw e;
    }
    const after = x.extensionConfig(sw.name);
    const next: XvsConfig = {
      ...this.config,
      switches: this.config.switches.map((s) => (s.name === sw.name ? { ...s, extensions: after } : s)),
    };
    await this.persist(next, () => x.applyExtensionConfig(sw.name, before));
    this.log(`switch "${sw.name}": extension ${name} ${what}`);
    const st = x.listExtensions(sw.name).find((e) => e.name === name);
    if (!st) throw new NotFoundError('params.name', `no extension "${name}"`);
    return st;
  }

  private async installExtension(source: string) {
    const x = this.exts();
    const info = await x.installExtension(source);
    const plugins = [...(this.config.plugins ?? []).filter((p) => p !== source), source];
    await this.persist({ ...this.config, plugins }, () => x.uninstallExtension(info.name));
    return info;
  }

  private async uninstallExtension(name: string): Promise<{ name: string }> {
    const x = this.exts();
    const info = x.installedExtensions().find((e) => e.name === name);
    if (!info) throw new NotFoundError('params.name', `no installed extension "${name}"`);
    await x.uninstallExtension(name);
    const plugins = (this.config.plugins ?? []).filter((p) => p !== info.source);
    const switches = this.config.switches.map((s) => (s.extensions ? { ...s, extensions: s.extensions.filter((e) => e.name !== name) } : s));
    await this.persist({ ...this.config, plugins, switches }, async () => { await x.installExtension(info.source); });
    return { name };
  }

  /** A copy of the config as it is now (what the file holds after the last successful change). */
  get currentConfig(): XvsConfig {
    return structuredClone(this.config);
  }

  /** What could not be restored and is configured but not running. */
  get problems(): Problem[] {
    return [...this.down.values()];
  }

  // -------------------------------------------------------------------------------------------------------------
  // Calls

  /** Runs one method as a request would (params validated first). Used by the socket and by tests. */
  async call<M extends MethodName>(method: M, params: unknown): Promise<ResultOf<M>> {
    const spec = METHODS[method];
    const parsed: ParsedOf<M> = spec.parse(params);
    const handler = this.handlers[method];
    return spec.mutates ? this.serialize(() => handler(parsed)) : handler(parsed);
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private findSwitch(name: string, field: string): SwitchConfig {
    const sw = this.config.switches.find((s) => s.name === name);
    if (!sw) throw new NotFoundError(field, `no such switch "${name}"`);
    return sw;
  }

  private runningSwitch(name: string): SwitchConfig {
    const sw = this.findSwitch(name, 'params.switch');
    if (this.down.has(sw.name)) {
      throw new ConfigError('params.switch', `switch "${name}" is not running (see "xvs daemon status")`);
    }
    return sw;
  }

  private switchView(sw: SwitchConfig): SwitchView {
    if (this.down.has(sw.name)) return { config: structuredClone(sw), ports: [], running: false };
    const info = this.manager.showSwitch(sw.name);
    return { config: structuredClone(sw), ports: info.ports, running: true };
  }

  private portViews(sw: SwitchConfig): PortView[] {
    const views: PortView[] = [];
    if (!this.down.has(sw.name)) {
      for (const p of this.manager.showSwitch(sw.name).ports) views.push({ switch: sw.name, ...p, running: true });
    }
    for (const p of sw.ports) {
      if (views.some((v) => v.name === p.name)) continue;
      views.push({ switch: sw.name, name: p.name, kind: 'vm', netdev: portNetdev(p), index: null, up: false, running: false });
    }
    return views;
  }

  /** Saves `next`; on failure undoes the manager change and reports both. */
  private async persist(next: XvsConfig, undo: () => Promise<void>): Promise<void> {
    try {
      this.save(this.configPath, next);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      try {
        await undo();
      } catch (u) {
        this.log(`undo after failed save also failed: ${u instanceof Error ? u.message : String(u)}`);
      }
      throw new Error(`could not save ${this.configPath}: ${why} (the change was undone)`);
    }
    this.config = next;
  }

  private async createSwitch(sw: SwitchConfig): Promise<SwitchView> {
    if (this.config.switches.some((s) => s.name === sw.name)) {
      throw new ConfigError('params.name', `switch "${sw.name}" already exists`);
    }
    checkClaims([...configClaims(this.config), ...switchClaims(sw, 'params')]);
    checkSwitchAgainstSystem(sw, 'params', this.exists);
    await this.manager.createSwitch(structuredClone(sw));
    const next: XvsConfig = { ...this.config, version: 1, switches: [...this.config.switches, sw] };
    await this.persist(next, () => this.manager.deleteSwitch(sw.name));
    this.log(`created switch "${sw.name}" (${sw.type})`);
    return this.switchView(sw);
  }

  private async deleteSwitch(name: string): Promise<{ name: string }> {
    const sw = this.findSwitch(name, 'params.name');
    const running = !this.down.has(name);
    if (running) await this.manager.deleteSwitch(name);
    const next: XvsConfig = { ...this.config, version: 1, switches: this.config.switches.filter((s) => s !== sw) };
    await this.persist(next, async () => {
      if (!running) return;
      await this.manager.createSwitch({ ...structuredClone(sw), ports: [] });
      for (const p of sw.ports) {
        if (!this.down.has(portKey(name, p.name))) await this.manager.addPort(name, structuredClone(p));
      }
    });
    for (const key of [...this.down.keys()]) if (key === name || key.startsWith(`${name}/`)) this.down.delete(key);
    this.log(`deleted switch "${name}"`);
    return { name };
  }

  private async addPort(switchName: string, port: PortConfig): Promise<PortView> {
    const sw = this.runningSwitch(switchName);
    checkPortNameInSwitch(sw, port, 'params.name');
    if (sw.ports.length >= MAX_PORTS_PER_SWITCH) {
      throw new ConfigError('params.name', `switch "${sw.name}" already has ${MAX_PORTS_PER_SWITCH} ports`);
    }
    checkClaims([...configClaims(this.config), portClaim(sw.name, port, 'params')]);
    checkPortAgainstSystem(port, 'params', this.exists);
    await this.manager.addPort(sw.name, structuredClone(port));
    const next: XvsConfig = {
      ...this.config,
      version: 1,
      switches: this.config.switches.map((s) => (s === sw ? { ...s, ports: [...s.ports, port] } : s)),
    };
    await this.persist(next, () => this.manager.removePort(sw.name, port.name));
    this.log(`added port "${port.name}" to switch "${sw.name}"${port.netdev ? ` (netdev ${port.netdev})` : ''}`);
    const updated = this.findSwitch(sw.name, 'params.switch');
    const view = this.portViews(updated).find((v) => v.name === port.name);
    return view ?? { switch: sw.name, name: port.name, kind: 'vm', netdev: portNetdev(port), index: null, up: false, running: true };
  }

  private async removePort(switchName: string, portName: string): Promise<{ switch: string; name: string }> {
    const sw = this.findSwitch(switchName, 'params.switch');
    const port = sw.ports.find((p) => p.name === portName);
    if (!port) throw new NotFoundError('params.name', `no such port "${portName}" on switch "${sw.name}"`);
    const key = portKey(sw.name, port.name);
    const running = !this.down.has(sw.name) && !this.down.has(key);
    if (running) await this.manager.removePort(sw.name, port.name);
    const next: XvsConfig = {
      ...this.config,
      version: 1,
      switches: this.config.switches.map((s) => (s === sw ? { ...s, ports: s.ports.filter((p) => p !== port) } : s)),
    };
    await this.persist(next, async () => {
      if (running) await this.manager.addPort(sw.name, structuredClone(port));
    });
    this.down.delete(key);
    this.log(`removed port "${port.name}" from switch "${sw.name}"`);
    return { switch: sw.name, name: port.name };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Start-up

  /**
   * Creates every configured switch and port through the manager. What fails (a vanished uplink or netdev, a
   * manager error) is logged and listed in `daemon.status`; the rest is restored and the config is kept as is.
   */
  restore(): Promise<Problem[]> {
    return this.serialize(async () => {
      const note = (key: string, path: string, e: unknown): void => {
        const field = e instanceof ConfigError && e.field.startsWith(path) ? e.field : path;
        const message = e instanceof Error ? e.message : String(e);
        this.down.set(key, { field, message });
        this.log(`restore: ${message}${message.startsWith(field) ? '' : ` (${field})`}; kept in the config`);
      };
      for (const [k, source] of (this.config.plugins ?? []).entries()) {
        try {
          await this.exts().installExtension(source);
        } catch (e) {
          note(`plugin:${source}`, `plugins[${k}]`, e);
        }
      }
      let ok = 0;
      for (const [i, sw] of this.config.switches.entries()) {
        const path = `switches[${i}]`;
        try {
          checkSwitchAgainstSystem(sw, path, this.exists);
          await this.manager.createSwitch({ ...structuredClone(sw), ports: [] });
          ok++;
        } catch (e) {
          note(sw.name, path, e);
          continue;
        }
        for (const [j, p] of sw.ports.entries()) {
          const portPath = `${path}.ports[${j}]`;
          try {
            checkPortAgainstSystem(p, portPath, this.exists);
            await this.manager.addPort(sw.name, structuredClone(p));
          } catch (e) {
            note(portKey(sw.name, p.name), portPath, e);
          }
        }
      }
      this.log(`restored ${ok} of ${this.config.switches.length} switches (${this.down.size} problems)`);
      return this.problems;
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Socket

  /** Binds the socket (mode 0600, directory 0700). Refuses if another daemon answers on it. */
  async listen(): Promise<void> {
    if (this.server) throw new Error('control server already listening');
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
    const answers = await new Promise<boolean>((resolve) => {
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
    if (answers) throw new Error(`another xvs daemon is already listening on ${this.socketPath}`);
    this.log(`removing stale socket ${this.socketPath}`);
    unlinkSync(this.socketPath);
  }

  private accept(conn: Socket): void {
    this.conns.add(conn);
    conn.setEncoding('utf8');
    const splitter = new LineSplitter();
    conn.on('data', (chunk: string) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (e) {
        this.reply(conn, { id: null, ok: false, error: errorToWire(e) });
        conn.end();
        return;
      }
      for (const line of lines) void this.answer(conn, line);
    });
    conn.on('error', () => {}); // the client went away; nothing to do
    conn.on('close', () => this.conns.delete(conn));
  }

  private async answer(conn: Socket, line: string): Promise<void> {
    const req = parseRequestLine(line);
    if (!req.ok) {
      this.reply(conn, { id: req.id, ok: false, error: req.error });
      return;
    }
    const id: RequestId = req.id;
    try {
      const result = await this.call(req.method, req.params);
      this.reply(conn, { id, ok: true, result });
    } catch (e) {
      if (!(e instanceof ConfigError)) this.log(`${req.method} failed: ${e instanceof Error ? e.message : String(e)}`);
      this.reply(conn, { id, ok: false, error: errorToWire(e) });
    }
  }

  private reply(conn: Socket, msg: Parameters<typeof encodeMessage>[0]): void {
    if (conn.destroyed || !conn.writable) return;
    conn.write(encodeMessage(msg));
  }

  /** Stops listening, drops connections, removes the socket file (if it is still ours). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.conns) c.destroy();
    await closed;
    try {
      if (statSync(this.socketPath).ino === this.socketIno) unlinkSync(this.socketPath);
    } catch {
      // already gone
    }
  }
}
