/**
 * DataPathManager: the daemon's set of switches. It enforces the rules that span switches (a netdev
 * belongs to at most one switch) and turns control-plane requests into Switch operations. Every
 * method checks before it changes anything, and undoes a half-done change on failure.
 */
import type { PortConfig, SwitchConfig } from '../config/types.js';
import { ConfigError, NotFoundError } from '../core/errors.js';
import { DEFAULT_TUNING, Switch, tuningFromEnv, type DataPathTuning } from './switch.js';
import type { FdbEntry, SwitchInfo, SwitchManager, SwitchStats } from './manager-api.js';

export class DataPathManager implements SwitchManager {
  private readonly switches = new Map<string, Switch>();
  private readonly log: (m: string) => void;
  private readonly tuning: DataPathTuning;

  constructor(opts: { log?: (msg: string) => void; tuning?: Partial<DataPathTuning> } = {}) {
    this.log = opts.log ?? ((m) => process.stderr.write(`xvs: ${m}\n`));
    this.tuning = { ...DEFAULT_TUNING, ...tuningFromEnv(), ...opts.tuning };
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

  async createSwitch(cfg: SwitchConfig): Promise<void> {
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
    const sw = await Switch.start(cfg, this.tuning, this.log);
    this.switches.set(cfg.name, sw);
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

  async deleteSwitch(name: string): Promise<void> {
    const sw = this.get(name);
    this.switches.delete(name);
    await sw.destroy();
  }

  async addPort(switchName: string, port: PortConfig): Promise<void> {
    const sw = this.get(switchName);
    const dev = port.netdev ?? port.name;
    const o = this.owner(dev);
    if (o) throw new ConfigError(port.netdev ? 'netdev' : 'name', `"${dev}" is already used by switch "${o}"`);
    await sw.addPort(port);
  }

  async removePort(switchName: string, portName: string): Promise<void> {
    await this.get(switchName).removePort(portName);
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

  stats(name: string): SwitchStats {
    return this.get(name).stats();
  }

  async shutdown(): Promise<void> {
    const all = [...this.switches.values()];
    this.switches.clear();
    await Promise.all(all.map((s) => s.stop()));
  }
}
