/**
 * VM ports with `iovWeight` > 0 (Hyper-V's IovWeight): each gets a VF of its external switch's uplink when the
 * uplink is an SR-IOV PF with a free VF, else stays a software port and says why. The port's TAP is always
 * made (by the data path, as for any port); with a VF it is the virtio *standby* of a net_failover pair
 * (kernel Documentation/networking/net_failover.rst): the guest sees the VF and a virtio-net with the same MAC
 * and fails over to the virtio path when the VF goes (migration, release).
 *
 *   reconcile(document)    after every commit and at start: ports that want a VF and have none get one
 *                          (IOMMU group → vfio-pci, VF policy from the port's settings); ports that are gone, or
 *                          no longer want one, or got a setting a VF cannot enforce, give theirs back (the group
 *                          returns to its original drivers, the VF's policy is reset); a changed setting is
 *                          applied to the VF again. Never throws: a failure is the port's status and a log line.
 *
 * Assignments are kept in a small JSON file beside the configuration, so a restarted daemon knows which VF is
 * whose and what driver to give each device back to.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PortConfig, SwitchConfig, XvsConfig } from '../config/types.js';
import { portNetdev } from '../config/schema.js';
import { PCI_DRIVERS, SriovError, groupDevices, listPfs, readPf, setNumVfs, type PfInfo } from './pci.js';
import { ExecRunner, type CommandRunner } from './runner.js';
import { sysfsFromEnv, type Sysfs } from './sysfs.js';
import { VF_RESET, vfBlockers, vfPolicyCommands, vfPolicyOf, type VfPolicy } from './vf-policy.js';
import { VFIO_DRIVER, bindGroupToVfio, releaseFromVfio, type VfioBinding } from './vfio.js';

/** A VF held by a port. */
export interface IovAssignment {
  switch: string;
  port: string;
  pf: string;
  vf: number;
  address: string;
  iommuGroup: number;
  policy: VfPolicy;
  /** the devices moved to vfio-pci (the VF and its group), with their original drivers */
  vfio: VfioBinding[];
}

/** What an iovWeight port got: a VF, or the software path and why. */
export type IovStatus =
  | {
    state: 'vf'; pf: string; vf: number; address: string; iommuGroup: number; mac: string; policy: VfPolicy;
    /** QEMU arguments: the virtio standby on the TAP (failover=on) and the VF (failover_pair_id) */
    qemu: string[]; message: string;
  }
  | { state: 'software'; reason: string; mac: string; qemu: string[]; message: string };

export interface SriovOptions {
  /** default: sysfs at $XVS_SYSFS_ROOT or / */
  fs?: Sysfs;
  /** default: ExecRunner (runs `ip`, `modprobe`) */
  runner?: CommandRunner;
  /** the assignments file; null: not kept (default: none) */
  statePath?: string | null;
  log?: (msg: string) => void;
}

export interface SriovVfView {
  index: number;
  address: string;
  driver: string | null;
  driverOverride: string | null;
  iommuGroup: number | null;
  netdev: string | null;
  netdevUp: boolean;
  /** "switch/port" holding it, or null */
  assignedTo: string | null;
}
export interface SriovPfView extends Omit<PfInfo, 'vfs'> {
  /** the switch whose uplink it is, or null */
  switch: string | null;
  vfs: SriovVfView[];
}

const key = (sw: string, port: string): string => `${sw}/${port}`;
const why = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** QEMU's -netdev/-device arguments for the port: virtio on its TAP, plus the VF as its failover primary. */
export function qemuArgs(port: string, tap: string, mac: string, vfAddress: string | null): string[] {
  const standby = `${port}-net`;
  const virtio = `virtio-net-pci,netdev=${port},mac=${mac},id=${standby}${vfAddress ? ',failover=on' : ''}`;
  const args = ['-netdev', `tap,id=${port},ifname=${tap},script=no,downscript=no`, '-device', virtio];
  if (vfAddress) args.push('-device', `vfio-pci,host=${vfAddress},id=${port}-vf,failover_pair_id=${standby}`);
  return args;
}

export class SriovPorts {
  readonly fs: Sysfs;
  private readonly runner: CommandRunner;
  private readonly statePath: string | null;
  private readonly log: (msg: string) => void;
  private readonly assigned = new Map<string, IovAssignment>();
  private readonly statuses = new Map<string, IovStatus>();
  /** reconciles run one at a time (commits of different switches may finish together) */
  private queue: Promise<void> = Promise.resolve();

  constructor(opts: SriovOptions = {}) {
    this.fs = opts.fs ?? sysfsFromEnv();
    this.runner = opts.runner ?? new ExecRunner();
    this.statePath = opts.statePath ?? null;
    this.log = opts.log ?? (() => {});
    this.load();
  }

  status(sw: string, port: string): IovStatus | undefined {
    return this.statuses.get(key(sw, port));
  }

  assignments(): IovAssignment[] {
    return [...this.assigned.values()].map((a) => structuredClone(a));
  }

  /** Makes the VF assignments match `doc`. Never throws. */
  reconcile(doc: XvsConfig): Promise<void> {
    const run = this.queue.then(() => this.reconcileNow(doc)).catch((e: unknown) => this.log(`sriov: ${why(e)}`));
    this.queue = run;
    return run;
  }

  private async reconcileNow(doc: XvsConfig): Promise<void> {
    const wanted = new Map<string, { sw: SwitchConfig; port: PortConfig }>();
    for (const sw of doc.switches) for (const p of sw.ports) if ((p.iovWeight ?? 0) > 0) wanted.set(key(sw.name, p.name), { sw, port: p });
    if (wanted.size === 0 && this.assigned.size === 0 && this.statuses.size === 0) return;
    let changed = false;
    for (const [k, a] of [...this.assigned]) {
      const w = wanted.get(k);
      if (!w || w.sw.uplink !== a.pf || w.sw.type !== 'external') {
        await this.release(a, w ? `its switch's uplink is no longer ${a.pf}` : 'the port is gone or has iovWeight 0');
        changed = true;
      }
    }
    for (const k of [...this.statuses.keys()]) if (!wanted.has(k)) this.statuses.delete(k);
    for (const [k, { sw, port }] of wanted) {
      const before = this.statuses.get(k)?.message;
      changed = (await this.ensure(doc, sw, port)) || changed;
      const now = this.statuses.get(k)!;
      if (now.message !== before) this.log(now.message);
    }
    if (changed) this.save();
  }

  /** the port gets (or keeps, with its policy up to date) a VF, or the software status; true if assignments changed */
  private async ensure(doc: XvsConfig, sw: SwitchConfig, port: PortConfig): Promise<boolean> {
    const k = key(sw.name, port.name);
    const tap = portNetdev(port);
    const policy = vfPolicyOf(sw.name, port);
    const software = (reason: string): void => {
      this.statuses.set(k, {
        state: 'software', reason, mac: policy.mac, qemu: qemuArgs(port.name, tap, policy.mac, null),
        message: `port "${port.name}" of switch "${sw.name}": no SR-IOV VF (${reason}); it is a software port (TAP ${tap})`,
      });
    };
    const blockers = vfBlockers(port);
    let a = this.assigned.get(k);
    let changed = false;
    if (a && (blockers.length > 0 || !this.stillOurs(a))) {
      if (blockers.length > 0) await this.release(a, `settings a VF cannot enforce: ${blockers.join(', ')}`);
      else this.assigned.delete(k); // the VF is gone (host rebooted, VFs re-created): nothing to give back
      a = undefined;
      changed = true;
    }
    if (a) {
      if (JSON.stringify(a.policy) !== JSON.stringify(policy)) {
        const err = await this.applyPolicy(a.pf, a.vf, policy);
        if (err) {
          await this.release(a, err);
          software(err);
          return true;
        }
        a.policy = policy;
        changed = true;
      }
      this.setVfStatus(a, tap);
      return changed;
    }
    if (sw.type !== 'external' || sw.uplink === undefined) {
      software(`switch "${sw.name}" is ${sw.type}: a VF comes from an external switch's uplink`);
      return changed;
    }
    if (blockers.length > 0) {
      software(`settings a VF cannot enforce: ${blockers.join(', ')}`);
      return changed;
    }
    const got = await this.allocate(doc, sw, port, policy);
    if (typeof got === 'string') software(got);
    else {
      this.assigned.set(k, got);
      this.setVfStatus(got, tap);
      changed = true;
    }
    return changed;
  }

  private setVfStatus(a: IovAssignment, tap: string): void {
    this.statuses.set(key(a.switch, a.port), {
      state: 'vf', pf: a.pf, vf: a.vf, address: a.address, iommuGroup: a.iommuGroup, mac: a.policy.mac, policy: a.policy,
      qemu: qemuArgs(a.port, tap, a.policy.mac, a.address),
      message: `port "${a.port}" of switch "${a.switch}": VF ${a.vf} of ${a.pf} (${a.address}, IOMMU group ${a.iommuGroup}) bound to ${VFIO_DRIVER}, MAC ${a.policy.mac}; TAP ${tap} is its virtio standby`,
    });
  }

  /** the recorded VF still exists, still under this PF, still on vfio-pci */
  private stillOurs(a: IovAssignment): boolean {
    const pf = readPf(this.fs, a.pf);
    const vf = pf?.vfs.find((v) => v.index === a.vf);
    return vf !== undefined && vf.address === a.address && vf.driver === VFIO_DRIVER;
  }

  /** a free VF of the switch's uplink bound to vfio-pci with its policy, or why not */
  private async allocate(doc: XvsConfig, sw: SwitchConfig, port: PortConfig, policy: VfPolicy): Promise<IovAssignment | string> {
    const uplink = sw.uplink!;
    const pf = readPf(this.fs, uplink);
    if (!pf) {
      return `uplink ${uplink} is not an SR-IOV physical function: no /sys/class/net/${uplink}/device/sriov_totalvfs` +
        `${this.fs.root === '/' ? '' : ` under ${this.fs.root}`} (no SR-IOV NIC, or SR-IOV off in firmware)`;
    }
    if (pf.numVfs === 0) return `uplink ${uplink} has no VFs enabled (xvs sriov enable ${uplink} --vfs N; at most ${pf.totalVfs})`;
    const taken = new Set([...this.assigned.values()].map((x) => x.address));
    // a VF whose netdev is up, or is some switch's port or uplink, is the host's: never taken
    const used = new Set(doc.switches.flatMap((s) => [s.uplink, ...s.ports.map((p) => p.netdev)]));
    const vf = pf.vfs.find((v) => !taken.has(v.address) && v.driver !== VFIO_DRIVER && v.driverOverride === null
      && !v.netdevUp && !(v.netdev !== null && used.has(v.netdev)));
    if (!vf) return `all ${pf.vfs.length} VFs of ${uplink} are in use (held by ports, on vfio-pci, overridden, or their netdev up or a port)`;
    if (vf.iommuGroup === null) return `VF ${vf.address} has no IOMMU group: vfio needs the IOMMU on (intel_iommu=on or amd_iommu=on)`;
    const members = groupDevices(this.fs, vf.iommuGroup);
    if (members.includes(pf.address)) {
      return `IOMMU group ${vf.iommuGroup} of VF ${vf.address} also holds the PF ${pf.address} (${uplink}): without ACS isolation passing it through would take the uplink`;
    }
    if (!this.fs.exists(`${PCI_DRIVERS}/${VFIO_DRIVER}`)) {
      const r = await this.runner.run(['modprobe', VFIO_DRIVER]);
      if (!this.fs.exists(`${PCI_DRIVERS}/${VFIO_DRIVER}`)) return `the ${VFIO_DRIVER} driver is not available (modprobe ${VFIO_DRIVER}: ${r.stderr.trim() || `exit ${r.code}`})`;
    }
    let vfio: VfioBinding[];
    try {
      vfio = bindGroupToVfio(this.fs, members, 'iovWeight');
    } catch (e) {
      return `binding IOMMU group ${vf.iommuGroup} to ${VFIO_DRIVER} failed: ${e instanceof SriovError ? e.message.replace(/^[^:]*: /, '') : why(e)}`;
    }
    const a: IovAssignment = { switch: sw.name, port: port.name, pf: uplink, vf: vf.index, address: vf.address, iommuGroup: vf.iommuGroup, policy, vfio };
    const err = await this.applyPolicy(uplink, vf.index, policy);
    if (err) {
      await this.release(a, err);
      return err;
    }
    return a;
  }

  /** issues the VF policy commands; returns the failure, or null */
  private async applyPolicy(pf: string, vf: number, policy: VfPolicy): Promise<string | null> {
    for (const argv of vfPolicyCommands(pf, vf, policy)) {
      const r = await this.runner.run(argv);
      if (r.code !== 0) return `"${argv.join(' ')}" failed: ${r.stderr.trim() || `exit ${r.code}`}`;
    }
    return null;
  }

  private async release(a: IovAssignment, reason: string): Promise<void> {
    this.assigned.delete(key(a.switch, a.port));
    const errors = releaseFromVfio(this.fs, a.vfio);
    const reset = readPf(this.fs, a.pf) ? await this.applyPolicy(a.pf, a.vf, VF_RESET) : null;
    const back = a.vfio.map((b) => `${b.address} → ${b.originalDriver ?? 'no driver'}`).join(', ');
    this.log(`port "${a.port}" of switch "${a.switch}": released VF ${a.vf} of ${a.pf} (${a.address}; ${reason})` +
      `${back ? `; ${back}` : ''}${errors.length ? `; not given back: ${errors.join('; ')}` : ''}${reset ? `; reset: ${reset}` : ''}`);
  }

  // -------------------------------------------------------------------------------------------------------------
  // sriov.list / sriov.enable

  list(doc: XvsConfig): SriovPfView[] {
    const holder = new Map([...this.assigned.values()].map((a) => [a.address, key(a.switch, a.port)]));
    return listPfs(this.fs).map((pf) => ({
      ...pf,
      switch: doc.switches.find((s) => s.type === 'external' && s.uplink === pf.netdev)?.name ?? null,
      vfs: pf.vfs.map((v) => ({ ...v, assignedTo: holder.get(v.address) ?? null })),
    }));
  }

  /** sets the PF's VF count (through 0); refused while a port holds one of its VFs */
  enable(pf: string, vfs: number): { pf: string; numVfs: number; written: string[] } {
    const held = [...this.assigned.values()].filter((a) => a.pf === pf);
    const cur = readPf(this.fs, pf);
    if (held.length > 0 && cur && cur.numVfs !== vfs) {
      throw new SriovError('params.vfs', `VFs of ${pf} are held by ports ${held.map((a) => key(a.switch, a.port)).join(', ')}: changing the count destroys every VF; remove those ports (or give them iovWeight 0) first`);
    }
    const written = setNumVfs(this.fs, pf, vfs);
    this.log(`sriov: ${pf} has ${vfs} VFs${written.length ? ` (sriov_numvfs ← ${written.join(', then ')})` : ' (unchanged)'}`);
    return { pf, numVfs: vfs, written };
  }

  // -------------------------------------------------------------------------------------------------------------
  // The assignments file

  private load(): void {
    if (!this.statePath) return;
    let text: string;
    try {
      text = readFileSync(this.statePath, 'utf8');
    } catch {
      return;
    }
    try {
      const doc = JSON.parse(text) as { assignments?: IovAssignment[] };
      for (const a of doc.assignments ?? []) this.assigned.set(key(a.switch, a.port), a);
    } catch (e) {
      this.log(`sriov: ignoring ${this.statePath}: ${why(e)}`);
    }
  }

  private save(): void {
    if (!this.statePath) return;
    try {
      mkdirSync(dirname(this.statePath), { recursive: true });
      const tmp = `${this.statePath}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ version: 1, assignments: [...this.assigned.values()] }, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, this.statePath);
    } catch (e) {
      this.log(`sriov: could not save ${this.statePath}: ${why(e)}`);
    }
  }
}

