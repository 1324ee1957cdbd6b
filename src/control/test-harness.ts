/**
 * Test support for the control plane (not a test file itself): a fake `SwitchManager` that only remembers what
 * it was told and can be told to fail, and a harness that runs a real `ControlServer` on a temp socket.
 * The real data path is tested in src/switch; these pin the control-plane contract.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, NotFoundError } from '../core/errors.js';
import { loadConfig } from '../config/store.js';
import type { HnvProviderAddress, PortConfig, PortSettings, SwitchConfig } from '../config/types.js';
import type { HnvPolicySnapshot } from '../hnv/model.js';
import type { FdbEntry, FdbPage, SwitchInfo, SwitchManager, SwitchStats } from '../switch/manager-api.js';
import { ControlServer, type ControlServerOptions } from './server.js';

/** A data path that only remembers what it was told, and can be told to fail. */
export class FakeManager implements SwitchManager {
  readonly switches = new Map<string, SwitchConfig>();
  readonly calls: string[] = [];
  /** the next call of this method throws */
  failNext: string | null = null;
  /** calls starting with this prefix wait until `until` resolves (a wedged switch) */
  gate: { prefix: string; until: Promise<void> } | null = null;

  private async step(what: string): Promise<void> {
    this.calls.push(what);
    if (this.gate && what.startsWith(this.gate.prefix)) await this.gate.until;
    if (this.failNext && what.startsWith(this.failNext)) {
      this.failNext = null;
      throw new Error(`injected failure in ${what}`);
    }
  }
  async createSwitch(cfg: SwitchConfig): Promise<void> {
    await this.step(`createSwitch ${cfg.name}`);
    if (this.switches.has(cfg.name)) throw new ConfigError('name', `switch "${cfg.name}" already exists`);
    this.switches.set(cfg.name, structuredClone(cfg));
  }
  async deleteSwitch(name: string): Promise<void> {
    await this.step(`deleteSwitch ${name}`);
    if (!this.switches.delete(name)) throw new NotFoundError('switch', `no such switch "${name}"`);
  }
  async addPort(sw: string, port: PortConfig): Promise<void> {
    await this.step(`addPort ${sw} ${port.name}`);
    this.get(sw).ports.push(structuredClone(port));
  }
  async removePort(sw: string, name: string): Promise<void> {
    await this.step(`removePort ${sw} ${name}`);
    const s = this.get(sw);
    s.ports = s.ports.filter((p) => p.name !== name);
  }
  private get(name: string): SwitchConfig {
    const s = this.switches.get(name);
    if (!s) throw new NotFoundError('switch', `no such switch "${name}"`);
    return s;
  }
  listSwitches(): SwitchInfo[] {
    return [...this.switches.keys()].map((n) => this.showSwitch(n));
  }
  showSwitch(name: string): SwitchInfo {
    const s = this.get(name);
    const ports: SwitchInfo['ports'] = [];
    if (s.uplink) ports.push({ name: s.uplink, kind: 'external', netdev: s.uplink, index: ports.length, up: true });
    if (s.hostPort) ports.push({ name: s.hostPort, kind: 'internal', netdev: s.hostPort, index: ports.length, up: true });
    for (const p of s.ports) ports.push({ name: p.name, kind: 'vm', netdev: p.netdev ?? p.name, index: ports.length, up: true });
    return { config: structuredClone(s), ports };
  }
  fdb(name: string): FdbEntry[] {
    this.get(name);
    return [{ mac: '02:00:00:00:00:01', port: 'tap0', ageSeconds: 3 }];
  }
  fdbPage(name: string): FdbPage {
    const entries = this.fdb(name);
    return { entries, next: null, total: entries.length };
  }
  async setCpus(sw: string, cpus: number[] | undefined): Promise<void> {
    await this.step(`setCpus ${sw} ${cpus?.join(',') ?? ''}`);
  }

  async setPort(sw: string, port: string, settings: PortSettings): Promise<void> {
    await this.step(`setPort ${sw} ${port}`);
    const p = this.get(sw).ports.find((x) => x.name === port);
    if (!p) throw new NotFoundError('port', `no port "${port}"`);
    if (settings.macLimit === undefined) delete p.macLimit;
    else p.macLimit = settings.macLimit;
  }
  stats(name: string): SwitchStats {
    const info = this.showSwitch(name);
    return {
      name,
      type: info.config.type,
      ports: info.ports.map((p) => ({
        name: p.name, kind: p.kind, netdev: p.netdev, rxPackets: 1, rxBytes: 60, txPackets: 2, txBytes: 120, drops: {}, txErrors: 0, txTunnelGso: 0,
        macs: 0, macLimit: 1024, macLimitHits: 0, policy: {},
      })),
      drops: {},
      fdb: { entries: 1, limit: info.config.macTableLimit, learned: 1, moves: 0, limitHits: 0, aged: 0, portLimitHits: 0 },
      workers: [{ index: 0, tid: 1, cpu: null, breaths: 10, batches: 5, idlePolls: 3, coalesceWaits: 0, restarts: 0 }],
    };
  }
  /** the HNV policies pushed (setHnvPolicy), newest last */
  readonly hnvPushes: { snapshot: HnvPolicySnapshot; localPas: HnvProviderAddress[] }[] = [];
  async setHnvPolicy(snapshot: HnvPolicySnapshot, localPas: HnvProviderAddress[]): Promise<void> {
    await this.step('setHnvPolicy');
    this.hnvPushes.push(structuredClone({ snapshot, localPas }));
  }
  async shutdown(): Promise<void> {
    this.calls.push('shutdown');
  }
}

export interface Harness {
  dir: string;
  socket: string;
  configPath: string;
  manager: FakeManager;
  server: ControlServer;
  /** netdevs that "exist" */
  netdevs: Set<string>;
  done(): Promise<void>;
}

export async function startHarness(
  opts: Partial<ControlServerOptions> & { dir?: string; netdevs?: string[]; restore?: boolean } = {},
): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'xvs-ctl-'));
  const socket = join(dir, 'run', 'xvs.sock');
  const configPath = join(dir, 'state', 'config.json');
  const manager = new FakeManager();
  const netdevs = new Set(opts.netdevs ?? ['veth0', 'veth1', 'veth2']);
  const logs: string[] = [];
  const server = new ControlServer({
    manager,
    socketPath: socket,
    configPath,
    config: loadConfig(configPath),
    exists: (n) => netdevs.has(n),
    log: (m) => logs.push(m),
    ...opts,
  });
  await server.listen();
  if (opts.restore !== false) await server.restore();
  return {
    dir, socket, configPath, manager, server, netdevs,
    async done() {
      await server.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

