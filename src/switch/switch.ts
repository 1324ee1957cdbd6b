/**
 * Switch: one virtual switch as the control plane holds it — its configuration, its ports with
 * their dense indices, its MAC table and counters (shared memory) and its data-path workers.
 *
 * Kinds (Hyper-V): private = VM ports only; internal = VM ports + a host port (a TAP whose netdev
 * carries host IPs, read and written by xvs through its own queue fds); external = VM ports + one
 * uplink (NIC or veth) and, with allowManagementOs, a host port that takes over the uplink's
 * addresses and routes.
 *
 * Every port netdev but the host port is cut off from the host stack while it is a port (ports/isolation.ts),
 * and given back as it was when the port goes; TAPs xvs created are recorded (ports/netdev-record.ts) before
 * they are created and are the only ones it deletes.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { PortConfig, PortSettings, SwitchConfig } from '../config/types.js';
import { PORT_SETTING_KEYS } from '../config/types.js';
import { portSettings } from '../config/desired.js';
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';
import { CounterBlock, PF, SW } from '../core/counters.js';
import { ConfigError, NotFoundError } from '../core/errors.js';
import { MacTable } from '../forward/mac-table.js';
import { portMacLimit } from '../forward/mac-limits.js';
import { fdbEntry } from '../forward/fdb-pages.js';
import { ip, isTap, moveAddresses, netdevExists, netdevMac, netdevMtu, setLinkUp } from '../ports/netdev.js';
import { checkPortNetdev, describeAddresses, hostAddresses, isLoopback, isolate, release } from '../ports/isolation.js';
import { NetdevRecord } from '../ports/netdev-record.js';
import { disableOffloadsForPcap, restoreOffloads } from '../ports/offloads.js';
import { DEFAULT_RING_FRAMES, ZERO_COPY_HDR } from '../ports/afpacket.js';
import type { PortBackend, PortSpec } from '../ports/port.js';
import { TunnelTap } from '../ports/tunnel-tap.js';
import { createPersistentTap, destroyPersistentTap, fitTapQueues } from '../ports/tap.js';
import { tapQueueText } from '../ports/guest-queues.js';
import { DataPathWorker, DEFAULT_REQUEST_TIMEOUT_MS, type WorkerDeath } from '../workers/worker-handle.js';
import { DEFAULT_WATCHDOG_MS, RestartLog, Watchdog, type Stall, type WorkerHealth } from '../workers/watchdog.js';
import type { PipelinePlan } from '../pipeline/plan.js';
import { EXT_STRIDE, MAX_EXTENSION_SLOTS } from '../pipeline/context.js';
import { explainTrace } from '../pipeline/trace.js';
import { POLICY_MODULES } from '../policy/modules.js';
import type { FdbEntry, HnvRuntimeView, LiveTraceOptions, MeterReport, PipelineView, PortKind, SwitchInfo, SwitchStats, TraceView } from './manager-api.js';
import { MeterBaselines } from './meter.js';
import type { ExtensionRegistry } from '../extensions/registry.js';
import type { PortControlInfo } from '../extensions/api.js';
import { SwitchExtensions } from './extensions.js';
import { POLICY_PORT_FIELDS, PolicyCounters } from '../policy/counters.js';
import type { SwitchPolicyInput } from '../policy/runtime.js';
import { createPolicyShared } from '../policy/shared.js';
import { describeFrame } from '../packet/spec.js';
import { parseMatch } from '../packet/match.js';
import type { FrameTrace, PortControlOp } from '../workers/messages.js';
import { validatePortFeatures } from '../extensions/port-features.js';
import { DEFAULT_UNDERLAY_MTU, SwitchHnv, hnvRuntimeView, type SwitchHnvPolicy } from './hnv.js';
import { SwitchVmq, type RebalanceResult, type VmqView } from '../vmq/switch-vmq.js';
import { UplinkSteering } from '../vmq/uplink-steer.js';
import type { SteerKey } from '../vmq/steer-bpf.js';
import { macToString } from '../packet/ethernet.js';

/** Capacity of the MAC table's buffer; the configured limit may be changed up to half of it. */
const MAC_TABLE_CAPACITY_FOR = (limit: number): number => Math.max(limit, 1024);

export interface SwitchPort {
  index: number;
  name: string;
  kind: PortKind;
  netdev: string;
  backend: PortBackend;
  /** xvs created this TAP (NetdevRecord) and removes it with the port; an adopted TAP stays */
  ownsTap: boolean;
  /** a libpcap port: the netdev's offloads that are off because of xvs (`ethtool -K` keywords, ports/offloads.ts) */
  offloadsOff?: string[];
  /** the uplink's tunnel TAP (VXLAN GSO frames leave whole through it), if the kernel supports it */
  tunnelTap?: TunnelTap;
}

export interface DataPathTuning {
  batchSize: number;
  poolSlots: number;
  /** frames in each AF_PACKET rx ring (a slot holds a 64 KiB GSO frame: 68 KiB of memory each) */
  ringFrames: number;
  /** zero-copy forwarding from AF_PACKET rx rings (ports/native/SPEC.md "Zero-copy forwarding"); XVS_ZERO_COPY=1|0 */
  zeroCopy: boolean;
  spinBreaths: number;
  spinYield: boolean;
  pollTimeoutMs: number;
  /** while an rx ring overflows, sleep this long (µs) after a batch that was not full so the next one is larger; 0 = off */
  coalesceUs: number;
  /** nice value of the worker threads */
  nice: number;
  /** pin worker i to cpus[i % cpus.length]; empty = no pinning */
  cpus: number[];
  /** a worker whose heartbeat has not moved this long is terminated and replaced (workers/watchdog.ts) */
  watchdogMs: number;
  /** heap limit of each data-path worker (V8 old generation, MB): an extension that allocates without bound kills only its worker */
  workerHeapMb: number;
  /** a control request a worker has not answered in this time fails */
  requestTimeoutMs: number;
  /** VMQ automatic rebalancing (src/vmq/switch-vmq.ts): a worker this busy (percent) triggers it; 0 = off */
  vmqAutoLb: number;
  /** steer the uplink's frames to the workers of their destination VM queues (vmq/uplink-steer.ts); false: the default-queue worker reads it all */
  uplinkSteer: boolean;
}

/**
 * Frame slots per worker beyond two batches: HNV's software segmentation of GSO frames
 * (policy/hnv/segment.ts) takes one slot per segment, ~45 for a 64 KiB TCP frame. Untouched slots
 * cost address space only (the pool is one lazily backed mapping).
 */
export const SEGMENT_SLOTS = 512;

/** a worker's frame pool for batches of `batch`: two batches, injected frames, and segments */
export function poolSlotsFor(batch: number): number {
  return batch * 2 + 128 + SEGMENT_SLOTS;
}

export const DEFAULT_TUNING: DataPathTuning = {
  batchSize: 256,
  poolSlots: poolSlotsFor(256),
  ringFrames: DEFAULT_RING_FRAMES,
  // off until it measures faster (docs/QUEUES.md "Zero-copy forwarding"): XVS_ZERO_COPY=1 turns it on
  zeroCopy: false,
  spinBreaths: 200,
  spinYield: true,
  pollTimeoutMs: 20,
  coalesceUs: 50,
  nice: 0,
  cpus: [],
  watchdogMs: DEFAULT_WATCHDOG_MS,
  workerHeapMb: 256,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
  vmqAutoLb: 0,
  uplinkSteer: true,
};

/**
 * Data-path tuning from the environment of the daemon (for benchmarking and unusual hosts):
 * XVS_BATCH, XVS_RING_FRAMES, XVS_SPIN_BREATHS, XVS_SPIN_YIELD (0|1), XVS_COALESCE_US, XVS_NICE, XVS_POLL_MS, XVS_CPUS ("0,1"),
 * XVS_WATCHDOG_MS, XVS_WORKER_HEAP_MB, XVS_REQUEST_TIMEOUT_MS, XVS_VMQ_AUTO_LB (percent, 0 = off), XVS_UPLINK_STEER (0|1),
 * XVS_ZERO_COPY (0|1).
 * Bad values are rejected by name.
 */
export function tuningFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<DataPathTuning> {
  const out: Partial<DataPathTuning> = {};
  const int = (name: string, min: number, max: number): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `expected an integer ${min}..${max}, got "${v}"`);
    return n;
  };
  const batch = int('XVS_BATCH', 1, 1024);
  if (batch !== undefined) { out.batchSize = batch; out.poolSlots = poolSlotsFor(batch); }
  const ring = int('XVS_RING_FRAMES', 16, 8192);
  if (ring !== undefined) out.ringFrames = ring;
  const spin = int('XVS_SPIN_BREATHS', 0, 1_000_000);
  if (spin !== undefined) out.spinBreaths = spin;
  const y = int('XVS_SPIN_YIELD', 0, 1);
  if (y !== undefined) out.spinYield = y === 1;
  const coalesce = int('XVS_COALESCE_US', 0, 10_000);
  if (coalesce !== undefined) out.coalesceUs = coalesce;
  const nice = int('XVS_NICE', -20, 19);
  if (nice !== undefined) out.nice = nice;
  const poll = int('XVS_POLL_MS', 1, 1000);
  if (poll !== undefined) out.pollTimeoutMs = poll;
  const watchdog = int('XVS_WATCHDOG_MS', 100, 600_000);
  if (watchdog !== undefined) out.watchdogMs = watchdog;
  const heap = int('XVS_WORKER_HEAP_MB', 16, 65_536);
  if (heap !== undefined) out.workerHeapMb = heap;
  const autoLb = int('XVS_VMQ_AUTO_LB', 0, 100);
  if (autoLb !== undefined) out.vmqAutoLb = autoLb;
  const steer = int('XVS_UPLINK_STEER', 0, 1);
  if (steer !== undefined) out.uplinkSteer = steer === 1;
  const zeroCopy = int('XVS_ZERO_COPY', 0, 1);
  if (zeroCopy !== undefined) out.zeroCopy = zeroCopy === 1;
  const reqTimeout = int('XVS_REQUEST_TIMEOUT_MS', 100, 600_000);
  if (reqTimeout !== undefined) out.requestTimeoutMs = reqTimeout;
  const cpus = env['XVS_CPUS'];
  if (cpus) {
    out.cpus = cpus.split(',').map((c) => {
      const n = Number(c);
      if (!Number.isInteger(n) || n < 0 || n > 1023) throw new ConfigError('XVS_CPUS', `expected CPU numbers like "0,1", got "${cpus}"`);
      return n;
    });
  }
  return out;
}

/** options of a port operation */
export interface PortOpOptions {
  /** undoing a change already made (a failed commit rolling back): the extensions are not asked again */
  undoing?: boolean;
}

/** an extension's control hook refused a port operation (the message names it) */
export class ExtensionVetoError extends ConfigError {
  constructor(message: string) {
    super('', message);
    this.name = 'ExtensionVetoError';
  }
}

export class Switch {
  readonly cfg: SwitchConfig;
  readonly table: MacTable;
  readonly counters: CounterBlock[] = [];
  /** per worker: what the built-in port policies count (policy/counters.ts) */
  readonly policyCounters: PolicyCounters[] = [];
  /** `port meter --reset` baselines (switch/meter.ts) */
  private readonly meterBaselines = new MeterBaselines();
  /** state the policies share between workers (policy/shared.ts) */
  readonly policyShared = createPolicyShared();
  /** link state per port index, shared with the workers (1 = down) */
  readonly linkDown = new Uint8Array(new SharedArrayBuffer(MAX_PORTS_PER_SWITCH));
  private linkTimer: NodeJS.Timeout | undefined;
  /** per worker: extension counter records (pipeline/context.ts) */
  readonly extCounters: Float64Array[] = [];
  readonly workers: DataPathWorker[] = [];
  readonly ports = new Map<string, SwitchPort>();
  readonly extensions: SwitchExtensions;
  private readonly log: (m: string) => void;
  private nextTraceId = 1;
  private readonly liveTraces = new Map<number, { frames: FrameTrace[]; want: number; done: () => void; onFrame?: (v: TraceView) => void }>();
  private readonly tuning: DataPathTuning;
  /** the plan last sent to the workers, what a replacement worker starts with (null until the first is sent) */
  private plan: PipelinePlan | null = null;
  private readonly watchdog: Watchdog;
  private readonly restarts: RestartLog[] = [];
  private stopping = false;
  /** TAPs xvs created and settings of the netdevs it isolated, shared by the switches of a daemon */
  private readonly record: NetdevRecord;
  private readonly registry: ExtensionRegistry;
  /** this switch's share of the HNV policy and its VSID ports' overlay MTUs (switch/hnv.ts) */
  private readonly hnv: SwitchHnv;
  /** queues, their workers and the workers' CPUs (vmq/switch-vmq.ts) */
  readonly vmq: SwitchVmq;
  /** the uplink read by every worker through destination-MAC filters (vmq/uplink-steer.ts) */
  readonly steering: UplinkSteering;

  private constructor(cfg: SwitchConfig, tuning: DataPathTuning, log: (m: string) => void, registry: ExtensionRegistry, record: NetdevRecord) {
    this.record = record;
    this.registry = registry;
    this.cfg = { ...cfg, ports: [] };
    delete this.cfg.extensions;
    this.log = log;
    this.hnv = new SwitchHnv((m) => log(`switch ${cfg.name}: ${m}`), record);
    this.tuning = tuning;
    this.extensions = new SwitchExtensions({
      switchName: cfg.name, registry, log, workers: cfg.workers,
      send: async (plan) => {
        this.plan = plan;
        // a worker being replaced gets this.plan when its successor starts
        await Promise.all(this.workers.filter((w) => w.alive).map((w) => w.request({ type: 'plan', plan })));
      },
      validate: async (stage) => {
        const w = this.workers.find((x) => x.alive);
        if (!w) throw new Error(`switch "${this.cfg.name}": no data-path worker is running to check the configuration`);
        try {
          await w.request({ type: 'validate', stage });
        } catch (e) {
          // the worker's ConfigError arrives as its message "field: text"
          const m = /^([\w.[\]-]+): ([\s\S]*)$/.exec((e as Error).message);
          throw m ? new ConfigError(m[1], m[2]) : e;
        }
      },
    });
    // an idle worker beats every pollTimeoutMs: never time out below a few of those
    const timeoutMs = Math.max(tuning.watchdogMs, 2 * tuning.pollTimeoutMs + 100);
    this.watchdog = new Watchdog({ timeoutMs, onStall: (st) => this.onStall(st) });
    this.table = new MacTable(MAC_TABLE_CAPACITY_FOR(cfg.macTableLimit));
    this.table.setLimit(cfg.macTableLimit);
    this.vmq = new SwitchVmq({
      name: cfg.name, workers: () => this.workers, counters: this.counters, ports: () => [...this.ports.values()],
      settings: (name) => {
        const pc = this.cfg.ports.find((p) => p.name === name);
        return { weight: pc?.vmqWeight ?? 0, ...(pc?.vmqPin ? { pin: pc.vmqPin } : {}) };
      },
      spec: (port, w, rx) => {
        const p = this.ports.get(port.name);
        if (!p) throw new Error(`switch "${cfg.name}" has no port "${port.name}"`);
        return { ...this.specFor(p, w, netdevMtu(p.netdev)), rx };
      },
      log,
      rxEverywhere: (index) => this.steering.isSteered(index),
      changed: () => this.resteer(),
    }, tuning.cpus, cfg.cpus, tuning.vmqAutoLb);
    this.steering = new UplinkSteering({
      name: cfg.name, workers: () => this.workers, log,
      uplink: () => {
        const p = this.uplinkPort();
        return p ? { index: p.index, name: p.name, backend: p.backend } : null;
      },
      defaultWorker: () => this.vmq.defaultWorker(),
      owned: () => this.steeredKeys(),
      rxPackets: (w, index) => this.counters[w]?.v[CounterBlock.port(index) + PF.rxPackets] ?? 0,
    }, tuning.uplinkSteer);
  }

  /**
   * Uplink steering: each worker's destination keys — the VM ports with a queue of their own, by the worker
   * that reads it: the port's staticMacAddress (VLAN: its access VLAN, else untagged) or else the MACs
   * learned on it (with their VLAN).
   */
  private steeredKeys(): Map<number, SteerKey[]> {
    const out = new Map<number, SteerKey[]>();
    /** port index → its worker's key list, for the ports whose MACs are learned */
    const learnedOn = new Map<number, SteerKey[]>();
    for (const pc of this.cfg.ports) {
      const port = this.ports.get(pc.name);
      if (!port || port.kind !== 'vm' || (pc.vmqWeight ?? 0) <= 0) continue;
      const w = this.vmq.ownerOf(port.index);
      const keys = out.get(w) ?? [];
      out.set(w, keys);
      if (pc.staticMacAddress) {
        keys.push({ mac: pc.staticMacAddress.toLowerCase().replace(/-/g, ':'), vlan: pc.vlan?.mode === 'access' ? pc.vlan.accessVlanId : 0 });
      } else {
        learnedOn.set(port.index, keys);
      }
    }
    if (learnedOn.size > 0) {
      for (const e of this.table.entries()) learnedOn.get(e.port)?.push({ mac: macToString(e.hi, e.lo), vlan: (e.hi >>> 16) & 0xfff });
    }
    return out;
  }

  /** Start the workers and attach the uplink/host ports; VM ports are added after. */
  static async start(
    cfg: SwitchConfig, tuning: DataPathTuning, log: (m: string) => void, registry: ExtensionRegistry, record = new NetdevRecord(null),
  ): Promise<Switch> {
    const sw = new Switch(cfg, tuning, log, registry, record);
    try {
      for (let w = 0; w < cfg.workers; w++) {
        sw.counters.push(new CounterBlock());
        sw.policyCounters.push(new PolicyCounters());
        sw.extCounters.push(new Float64Array(new SharedArrayBuffer(MAX_EXTENSION_SLOTS * EXT_STRIDE * 8)));
        sw.restarts.push(new RestartLog(w));
        sw.workers.push(sw.spawnWorker(w));
      }
      await Promise.all(sw.workers.map((w) => w.ready));
      sw.workers.forEach((w) => sw.watchdog.watch(w.index, sw.counters[w.index].v));
      sw.watchdog.start();
      sw.vmq.start();
      sw.steering.start((fn) => sw.vmq.exclusive(fn));
      await sw.extensions.apply(cfg.extensions ?? [], 'extensions', true);
      sw.linkTimer = setInterval(() => sw.refreshLinks(), 1000);
      sw.linkTimer.unref();
      if (cfg.type === 'external') await sw.attachUplink();
      if (cfg.type === 'internal' || (cfg.type === 'external' && cfg.allowManagementOs)) await sw.attachHostPort();
      // after the host port took the uplink's addresses (isolating first would drop its IPv6 ones)
      if (cfg.type === 'external' && cfg.uplink) isolate(cfg.uplink, sw.record, 'uplink');
      return sw;
    } catch (e) {
      // undo what was done: addresses back on the uplink, isolation released, TAPs xvs created deleted
      await sw.destroy();
      throw e;
    }
  }

  private freeIndex(): number {
    const used = new Set([...this.ports.values()].map((p) => p.index));
    for (let i = 0; i < MAX_PORTS_PER_SWITCH; i++) if (!used.has(i)) return i;
    throw new ConfigError('ports', `switch "${this.cfg.name}" has the maximum of ${MAX_PORTS_PER_SWITCH} ports`);
  }

  /** a port as worker `w` opens it: rx on the worker of its VMQ queue (vmq/), tx everywhere; TAP fds rx everywhere */
  private specFor(port: SwitchPort, w: number, mtu: number): PortSpec {
    // the steered uplink: every worker reads it through its own destination-MAC filter (vmq/uplink-steer.ts)
    const steered = port.kind === 'external' && this.steering.steers(port.backend);
    return {
      index: port.index, name: port.name, kind: port.kind, netdev: port.netdev, backend: port.backend,
      rx: port.backend === 'tapfd' || steered || w === this.vmq.ownerOf(port.index), mtu,
      ...(port.tunnelTap ? { tunnelTap: port.tunnelTap.name } : {}),
      ...(steered ? { rxFilter: this.steering.openFilter(w) } : {}),
    };
  }

  /**
   * Attach a port to every worker (see specFor). `macLimit`: the port's own MAC limit, if it sets one;
   * `vmq`: its VMQ settings (its queue is placed before the workers open it).
   */
  private attach(port: SwitchPort, macLimit?: number, vmq?: Pick<PortConfig, 'vmqWeight' | 'vmqPin'>): Promise<void> {
    // one queue change at a time (a queue move must not interleave with a port being opened)
    return this.vmq.exclusive(() => this.attachNow(port, macLimit, vmq));
  }

  private async attachNow(port: SwitchPort, macLimit?: number, vmq?: Pick<PortConfig, 'vmqWeight' | 'vmqPin'>): Promise<void> {
    const mtu = netdevMtu(port.netdev);
    this.vmq.placeForAttach({ index: port.index, name: port.name, weight: vmq?.vmqWeight ?? 0, ...(vmq?.vmqPin ? { pin: vmq.vmqPin } : {}) });
    this.table.setPortLimit(port.index, portMacLimit(this.cfg, port.kind, macLimit));
    const done: DataPathWorker[] = [];
    try {
      for (const w of this.workers) {
        await w.request({ type: 'attach', port: this.specFor(port, w.index, mtu) });
        done.push(w);
      }
    } catch (e) {
      for (const w of done) await w.request({ type: 'detach', index: port.index }).catch(() => {});
      this.vmq.forget();
      throw new ConfigError(`ports.${port.name}`, `cannot attach "${port.netdev}": ${(e as Error).message}`);
    }
    this.ports.set(port.name, port);
    this.refreshLinks();
    await this.pushPolicies();
    await this.resteer();
  }

  /** uplink steering follows a queue or port change; a failure is logged (the next second's recomputation tries again) */
  private async resteer(): Promise<void> {
    try {
      await this.steering.update();
    } catch (e) {
      this.log(`switch ${this.cfg.name}: uplink steering: ${(e as Error).message}`);
    }
  }

  /** every port with its policy settings, as the workers' policy runtimes take them */
  policyInput(): SwitchPolicyInput {
    const settings = new Map(this.cfg.ports.map((pc) => [pc.name, portSettings(pc)]));
    return {
      ports: [...this.ports.values()].map((p) => ({ index: p.index, name: p.name, kind: p.kind, settings: settings.get(p.name) ?? {} })),
      ...(this.cfg.uplinkBandwidth ? { uplinkBandwidth: this.cfg.uplinkBandwidth } : {}),
      ...this.hnvPart(),
    };
  }

  private uplinkPort(): SwitchPort | undefined {
    for (const p of this.ports.values()) if (p.kind === 'external') return p;
    return undefined;
  }

  private hnvPart(): { hnv?: NonNullable<SwitchPolicyInput['hnv']> } {
    const hnv = this.hnv.input(this.uplinkPort(), this.cfg.ports);
    return hnv ? { hnv } : {};
  }

  private underlayMtu(): number {
    const up = this.uplinkPort();
    return up ? netdevMtu(up.netdev) : DEFAULT_UNDERLAY_MTU;
  }

  /** the HNV data path's next hops and per-VSID counters (`xvs hnv show`) */
  hnvRuntime(): HnvRuntimeView {
    return hnvRuntimeView(this.policyShared.neighbors, this.policyCounters, this.hnv.policy);
  }

  /** the effective HNV policy changed (DataPathManager.setHnvPolicy): VSID ports' MTUs, then the workers' policies */
  async setHnvPolicy(policy: SwitchHnvPolicy | null): Promise<void> {
    this.hnv.policy = policy;
    const mtu = this.underlayMtu();
    for (const pc of this.cfg.ports) {
      const port = this.ports.get(pc.name);
      if (port) this.hnv.applyMtu(pc, port.netdev, mtu);
    }
    await this.pushPolicies();
  }

  /** send the policy settings to every worker (after any port or setting change) */
  private async pushPolicies(): Promise<void> {
    const input = this.policyInput();
    await Promise.all(this.workers.filter((w) => w.alive).map((w) => w.request({ type: 'policies', input })));
  }

  private async detach(port: SwitchPort): Promise<void> {
    await this.vmq.exclusive(async () => {
      for (const w of this.workers) await w.request({ type: 'detach', index: port.index }).catch(() => {});
      this.ports.delete(port.name);
      this.vmq.forget();
      await this.resteer();
    });
    this.linkDown[port.index] = 0;
    this.table.flushPort(port.index);
    await this.pushPolicies().catch((e: unknown) => this.log(`switch ${this.cfg.name}: policies after removing ${port.name}: ${(e as Error).message}`));
  }

  private async attachUplink(): Promise<void> {
    const uplink = this.cfg.uplink;
    if (!uplink) throw new ConfigError('uplink', 'an external switch needs an uplink');
    if (!netdevExists(uplink)) throw new ConfigError('uplink', `no such interface "${uplink}"`);
    if (isLoopback(uplink)) throw new ConfigError('uplink', `"${uplink}" is a loopback device and can never be an uplink; name a NIC or a veth`);
    const addrs = hostAddresses(uplink);
    if (addrs.length > 0 && !this.cfg.allowManagementOs) {
      throw new ConfigError('uplink', `"${uplink}" has IP addresses (${describeAddresses(addrs)}); ` +
        'pass --allow-management-os to move them to the switch\'s host port');
    }
    // a NIC must hear frames for every MAC behind the switch (veths deliver everything anyway)
    ip('link', 'set', 'dev', uplink, 'promisc', 'on');
    setLinkUp(uplink);
    const backend: PortBackend = this.cfg.uplinkIo === 'pcap' ? 'pcap' : 'afpacket';
    // libpcap reads wire-sized frames only: the uplink's offloads go off before the workers open it
    const offloadsOff = backend === 'pcap' ? disableOffloadsForPcap(uplink, this.record, 'uplinkIo') : undefined;
    // the tunnel TAP serves the AF_PACKET backend's VXLAN GSO frames (a libpcap uplink segments in software)
    const tunnelTap = backend === 'afpacket' ? (TunnelTap.open(uplink, (m) => this.log(`switch ${this.cfg.name}: ${m}`)) ?? undefined) : undefined;
    try {
      await this.attach({ index: this.freeIndex(), name: uplink, kind: 'external', netdev: uplink, backend, ownsTap: false, tunnelTap, ...(offloadsOff ? { offloadsOff } : {}) });
    } catch (e) {
      tunnelTap?.close();
      throw e;
    }
  }

  private hostPortName(): string {
    return this.cfg.hostPort ?? `${this.cfg.name}-host`;
  }

  private async attachHostPort(): Promise<void> {
    const name = this.hostPortName();
    if (netdevExists(name) && !isTap(name)) throw new ConfigError('hostPort', `"${name}" exists and is not a TAP`);
    const fresh = !netdevExists(name);
    if (fresh) this.record.recordTap(name);
    try {
      createPersistentTap(name, true);
    } catch (e) {
      if (fresh) this.record.forgetTap(name);
      throw new ConfigError('hostPort', `cannot create TAP "${name}": ${(e as Error).message}`);
    }
    if (fresh && this.cfg.type === 'external' && this.cfg.uplink) {
      // the host keeps its identity: the host port takes the uplink's MAC, as Hyper-V's host vNIC does
      ip('link', 'set', 'dev', name, 'address', netdevMac(this.cfg.uplink));
    }
    const port: SwitchPort = { index: this.freeIndex(), name, kind: 'internal', netdev: name, backend: 'tapfd', ownsTap: this.record.ownsTap(name) };
    try {
      await this.attach(port);
    } catch (e) {
      this.giveBack(port);
      throw e;
    }
    setLinkUp(name);
    if (this.cfg.type === 'external' && this.cfg.allowManagementOs && this.cfg.uplink) {
      const moved = moveAddresses(this.cfg.uplink, name);
      if (moved.addresses + moved.routes > 0) {
        this.log(`switch ${this.cfg.name}: moved ${moved.addresses} address(es) and ${moved.routes} route(s) from ${this.cfg.uplink} to ${name}`);
      }
    }
  }

  /**
   * Add a VM port: a persistent TAP named after the port (QEMU attaches by name; an existing TAP of that name
   * is adopted and left in place when the port goes), or an existing netdev. Loopback is refused, and so is a
   * netdev with host addresses unless `allowHostAddresses`. The netdev is cut off from the host stack before
   * it comes up.
   */
  async addPort(pc: PortConfig, field = 'port', opts: PortOpOptions = {}): Promise<void> {
    if (this.ports.has(pc.name)) throw new ConfigError(`${field}.name`, `switch "${this.cfg.name}" already has a port "${pc.name}"`);
    validatePortFeatures(pc.features, this.registry, `${field}.features`);
    // the extensions' portCreate hooks may refuse the port: asked before anything is created
    if (opts.undoing !== true) await this.askExtensions('create', { name: pc.name, index: this.freeIndex(), kind: 'vm', settings: portSettings(pc) });
    const consent = '--allow-host-addresses (allowHostAddresses: true in the port\'s configuration)';
    let port: SwitchPort;
    let devField: string;
    if (pc.netdev !== undefined) {
      devField = `${field}.netdev`;
      if (!netdevExists(pc.netdev)) throw new ConfigError(devField, `no such interface "${pc.netdev}"`);
      checkPortNetdev(pc.netdev, devField, pc.allowHostAddresses === true, consent);
      port = { index: this.freeIndex(), name: pc.name, kind: 'vm', netdev: pc.netdev, backend: pc.io === 'pcap' ? 'pcap' : 'afpacket', ownsTap: false };
    } else {
      devField = `${field}.name`;
      const exists = netdevExists(pc.name);
      if (exists && !isTap(pc.name)) {
        throw new ConfigError(devField, `"${pc.name}" exists and is not a TAP; use --netdev to attach an existing netdev`);
      }
      const queues = pc.queues ?? 1;
      if (exists) {
        checkPortNetdev(pc.name, devField, pc.allowHostAddresses === true, consent);
        if (fitTapQueues(pc.name, queues, this.record.ownsTap(pc.name), `${field}.queues`) === 'recreate') {
          this.record.forgetSettings(pc.name);
          this.log(`switch ${this.cfg.name}: recreated TAP ${pc.name} ${tapQueueText(queues > 1)} for ${queues} queue(s)`);
        }
      } else {
        // recorded before it exists: a kill between the two leaves a record the next start cleans (reconcile)
        this.record.recordTap(pc.name);
        try {
          createPersistentTap(pc.name, queues > 1);
        } catch (e) {
          this.record.forgetTap(pc.name);
          throw new ConfigError(devField, `cannot create TAP "${pc.name}": ${(e as Error).message}`);
        }
      }
      port = { index: this.freeIndex(), name: pc.name, kind: 'vm', netdev: pc.name, backend: pc.io === 'pcap' ? 'pcap' : 'afpacket', ownsTap: this.record.ownsTap(pc.name) };
    }
    try {
      isolate(port.netdev, this.record, devField);
      setLinkUp(port.netdev);
      // libpcap carries no virtio-net header: the netdev's offloads go off before the workers open it
      if (port.backend === 'pcap') port.offloadsOff = disableOffloadsForPcap(port.netdev, this.record, `${field}.io`);
      // a VSID port's netdev gets the overlay MTU before the workers read it
      this.hnv.applyMtu(pc, port.netdev, this.underlayMtu());
      this.vmq.check(field, pc.vmqWeight ?? 0, pc.vmqPin);
      await this.attach(port, pc.macLimit, pc);
    } catch (e) {
      this.hnv.restoreMtu(port.netdev);
      this.giveBack(port);
      throw e;
    }
    this.cfg.ports.push({ ...pc });
    if (Object.keys(portSettings(pc)).length === 0) return;
    // attach pushed the policies before the port's settings were in cfg: push them now (refused: the port goes)
    try {
      await this.pushPolicies();
    } catch (e) {
      this.cfg.ports = this.cfg.ports.filter((p) => p.name !== pc.name);
      await this.detach(port);
      this.giveBack(port);
      throw new ConfigError(field, `settings refused: ${(e as Error).message}`);
    }
  }

  /**
   * Change a VM port's settings in place (config/types.ts PortSettings, the whole set: a key left out
   * goes back to its default). The workers rebuild their policies; if one refuses, nothing changes.
   */
  async setPort(name: string, settings: PortSettings, opts: PortOpOptions = {}): Promise<void> {
    const port = this.ports.get(name);
    const pc = this.cfg.ports.find((p) => p.name === name);
    if (!port || port.kind !== 'vm' || !pc) throw new NotFoundError('port', `switch "${this.cfg.name}" has no VM port "${name}"`);
    const before = portSettings(pc);
    // only what changes is checked: features of an extension uninstalled since stay as they were
    const changed = Object.fromEntries(Object.entries(settings.features ?? {})
      .filter(([ext, kv]) => JSON.stringify(kv) !== JSON.stringify(before.features?.[ext])));
    validatePortFeatures(changed, this.registry, `ports.${name}.features`);
    if (opts.undoing !== true) await this.askExtensions('settings', { name, index: port.index, kind: port.kind, settings }, before);
    this.vmq.check(`ports.${name}`, settings.vmqWeight ?? 0, settings.vmqPin);
    const apply = (s: PortSettings): void => {
      for (const k of PORT_SETTING_KEYS) delete pc[k];
      Object.assign(pc, structuredClone(s));
      this.table.setPortLimit(port.index, portMacLimit(this.cfg, port.kind, s.macLimit));
      this.hnv.applyMtu(pc, port.netdev, this.underlayMtu());
    };
    apply(settings);
    try {
      await this.pushPolicies();
    } catch (e) {
      apply(before);
      await this.pushPolicies().catch(() => {});
      throw new ConfigError(`ports.${name}`, (e as Error).message);
    }
    // a weight or pin changed: the port's queue (and its rx socket) follow
    if (before.vmqWeight !== settings.vmqWeight || JSON.stringify(before.vmqPin) !== JSON.stringify(settings.vmqPin)) await this.vmq.settle();
  }

  /** `vmq show` */
  vmqView(): VmqView {
    const uplink = this.steering.view();
    return { ...this.vmq.view(), ...(uplink ? { uplink } : {}) };
  }

  /** `vmq rebalance`: queues placed again by measured load, rx sockets handed over without losing frames */
  async vmqRebalance(): Promise<RebalanceResult> {
    const moves = await this.vmq.rebalance();
    return { switch: this.cfg.name, moves, view: this.vmqView() };
  }

  /** `switch set --cpus`: workers re-pinned (XVS_CPUS overrides), queues pinned by CPU follow */
  async setCpus(cpus: number[] | undefined): Promise<void> {
    const online = availableParallelism();
    (cpus ?? []).forEach((c, i) => {
      if (c >= online) throw new ConfigError(`cpus[${i}]`, `CPU ${c} is not online (this machine has CPUs 0..${online - 1})`);
    });
    if (cpus && cpus.length) this.cfg.cpus = [...cpus];
    else delete this.cfg.cpus;
    await this.vmq.setCpus(cpus);
  }

  async removePort(name: string, opts: PortOpOptions = {}): Promise<void> {
    const port = this.ports.get(name);
    if (!port || port.kind !== 'vm') throw new NotFoundError('port', `switch "${this.cfg.name}" has no VM port "${name}"`);
    const pc = this.cfg.ports.find((p) => p.name === name);
    if (opts.undoing !== true) await this.askExtensions('delete', { name, index: port.index, kind: port.kind, settings: pc ? portSettings(pc) : {} });
    await this.detach(port);
    this.hnv.restoreMtu(port.netdev);
    this.giveBack(port);
    this.cfg.ports = this.cfg.ports.filter((p) => p.name !== name);
    this.meterBaselines.forget(name);
  }

  /**
   * Ask the extensions' control hooks (every worker, each in pipeline order) whether a port operation
   * may happen; the first refusal aborts it with the extension's message. A worker that does not
   * answer (a hook that blocks: the watchdog replaces the worker) refuses too.
   */
  private async askExtensions(op: PortControlOp, port: PortControlInfo, before?: PortSettings): Promise<void> {
    const what = op === 'create' ? 'port add' : op === 'delete' ? 'port remove' : 'port settings change';
    const replies = await Promise.all(this.workers.filter((w) => w.alive).map((w) => w.request({ type: 'port-control', op, port, before }).then(
      (r) => r.veto,
      (e: unknown) => ({ extension: '', message: (e as Error).message }),
    )));
    const veto = replies.find((v) => v !== undefined);
    if (veto === undefined) return;
    throw new ExtensionVetoError(veto.extension === ''
      ? `${what} not done: the extensions' control hooks did not answer (${veto.message})`
      : `${what} refused by extension "${veto.extension}": ${veto.message}`);
  }

  /** A port's netdev leaves the switch: a TAP xvs created is deleted, any other netdev gets its settings back. */
  private giveBack(port: SwitchPort): void {
    port.tunnelTap?.close();
    restoreOffloads(port.netdev, this.record, (m) => this.log(`switch ${this.cfg.name}: ${m}`));
    if (!port.ownsTap) {
      release(port.netdev, this.record, (m) => this.log(`switch ${this.cfg.name}: ${m}`));
      return;
    }
    try {
      destroyPersistentTap(port.netdev);
    } catch (e) {
      // stays recorded: the next start tries again if the configuration no longer uses it
      this.log(`cannot remove TAP ${port.netdev}: ${(e as Error).message}`);
      return;
    }
    this.record.forgetSettings(port.netdev);
    this.record.forgetTap(port.netdev);
  }

  /** operstate of every port's netdev → linkDown (read from sysfs; "unknown" counts as up) */
  private refreshLinks(): void {
    for (const p of this.ports.values()) {
      let state = 'unknown';
      try { state = readFileSync(`/sys/class/net/${p.netdev}/operstate`, 'utf8').trim(); } catch { state = 'down'; }
      this.linkDown[p.index] = state === 'down' || state === 'lowerlayerdown' || state === 'notpresent' ? 1 : 0;
    }
  }

  /** Daemon shutdown: stop the workers, leave every TAP (and the host port's addresses) in place. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.watchdog.stop();
    this.vmq.stop();
    this.steering.stop();
    clearInterval(this.linkTimer);
    await Promise.all(this.workers.map((w) => w.stop()));
  }

  // ---------------------------------------------------------------- supervision (workers/watchdog.ts)

  /** a data-path worker thread for index `w`, reporting to this switch */
  private spawnWorker(w: number): DataPathWorker {
    const t = this.tuning;
    const cfg = this.cfg;
    const cpu = this.vmq.cpuOf(w);
    const worker = new DataPathWorker({
      switchName: cfg.name, workerIndex: w, workerCount: cfg.workers, counters: this.counters[w].buffer,
      extCounters: this.extCounters[w].buffer as SharedArrayBuffer, linkDown: this.linkDown.buffer as SharedArrayBuffer,
      macTable: this.table.buffer, policyCounters: this.policyCounters[w].buffer, policyShared: this.policyShared, batchSize: t.batchSize, poolSlots: t.poolSlots, ringFrames: t.ringFrames,
      zeroCopyHdr: t.zeroCopy ? ZERO_COPY_HDR : 0,
      macAgingSeconds: cfg.macAgingSeconds, cpu, spinBreaths: t.spinBreaths, spinYield: t.spinYield, coalesceUs: t.coalesceUs, nice: t.nice,
      pollTimeoutMs: t.pollTimeoutMs,
    }, this.log, { resourceLimits: { maxOldGenerationSizeMb: t.workerHeapMb }, requestTimeoutMs: t.requestTimeoutMs });
    worker.listener = {
      extensionFailed: (slot, _name, error) => { void this.extensions.failed(slot, error); },
      traceFrame: (id, trace) => this.onTraceFrame(id, trace),
      traceDone: () => {},
      died: (cause) => { void this.replaceWorker(worker, cause); },
    };
    return worker;
  }

  private onStall(st: Stall): void {
    const worker = this.workers[st.index];
    if (!worker) return;
    void this.replaceWorker(worker, { reason: 'timeout', message: `no heartbeat for ${st.silentMs} ms` });
  }

  /**
   * A worker stalled or died: end it, blame the extension that was running (failed, reason =
   * timeout | out-of-memory | crashed: the next plan leaves it out), and start a replacement with
   * the current plan, the switch's settings and every port the old one had. A worker that keeps
   * dying is restarted with back-off (RestartLog). A replacement that dies is replaced the same way.
   */
  private async replaceWorker(old: DataPathWorker, cause: WorkerDeath): Promise<void> {
    const i = old.index;
    if (this.stopping || this.workers[i] !== old) return; // already being replaced
    this.watchdog.unwatch(i);
    // the thread is wedged or dead: extRunning no longer changes (and stays readable after termination)
    const v = this.counters[i].v;
    const slot = v[SW.extRunning] - 1;
    // ends the thread; pending requests are rejected now, and the bookkeeping below is done
    // synchronously, before their callers run (they see the failure and the restart)
    const killed = old.kill(`restarted after ${cause.reason} (${cause.message})`);
    const ext = slot >= 0 ? this.extensions.nameOf(slot) : undefined;
    const what = cause.reason === 'timeout' ? `stopped breathing (${cause.message})`
      : cause.reason === 'out-of-memory' ? `ran out of heap (limit ${this.tuning.workerHeapMb} MB)` : `crashed (${cause.message})`;
    const msg = `${cause.reason}: data-path worker ${i} ${what}${ext ? ` while extension "${ext}" ran` : ''}`;
    const log = this.restarts[i];
    let delay = log.record(cause.reason, msg, ext);
    this.log(`switch ${this.cfg.name}: ${msg}; restarting it${ext ? ` without "${ext}"` : ''}${delay ? ` in ${delay} ms` : ''} (restart ${log.health.restarts})`);
    // takes the extension out of this.plan and of the other workers' pipelines
    const failed = ext !== undefined ? this.extensions.failed(slot, msg, cause.reason) : undefined;
    await killed;
    v[SW.extRunning] = 0;
    await failed;
    for (;;) {
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (this.stopping) return;
      const w = this.spawnWorker(i);
      try {
        await w.ready;
      } catch (e) {
        await w.kill('it failed to start');
        delay = log.record('crashed', `crashed: data-path worker ${i} failed to start: ${(e as Error).message}`, undefined);
        this.log(`switch ${this.cfg.name}: ${log.health.lastCause}; retrying in ${delay} ms`);
        delay = Math.max(delay, 1000);
        continue;
      }
      if (this.stopping) { await w.kill('the switch stopped'); return; }
      // one synchronous step: from here on every plan change also goes to w, after this plan
      this.workers[i] = w;
      const ports = [...this.ports.values()];
      const first = [
        ...(this.plan ? [w.request({ type: 'plan', plan: this.plan })] : []),
        w.request({ type: 'configure', macAgingSeconds: this.cfg.macAgingSeconds }),
        w.request({ type: 'policies', input: this.policyInput() }),
      ];
      this.watchdog.watch(i, v);
      // a death from here on is handled by its own replaceWorker call (w is the current worker)
      try {
        await Promise.all(first);
      } catch (e) {
        if (w.alive) this.log(`switch ${this.cfg.name}: restarted worker ${i}: ${(e as Error).message}`);
      }
      let attached = 0;
      for (const p of ports) {
        if (!w.alive) return;
        try {
          await w.request({ type: 'attach', port: { ...this.specFor(p, i, netdevMtu(p.netdev)), keepCounters: true } });
          attached++;
        } catch (e) {
          this.log(`switch ${this.cfg.name}: restarted worker ${i}: cannot attach ${p.name}: ${(e as Error).message}`);
        }
      }
      // the netdevs keep their isolation across a worker's death; make sure nobody took it away meanwhile
      for (const p of ports) {
        if (p.kind === 'internal') continue;
        try {
          isolate(p.netdev, this.record, p.name);
        } catch (e) {
          this.log(`switch ${this.cfg.name}: restarted worker ${i}: ${(e as Error).message}`);
        }
      }
      this.log(`switch ${this.cfg.name}: data-path worker ${i} restarted with ${attached} of ${ports.length} port(s)`);
      return;
    }
  }

  /** restarts and last cause of every worker */
  health(): WorkerHealth[] {
    return this.restarts.map((r) => ({ ...r.health }));
  }

  /** `switch delete`: stop, give the uplink its settings and addresses back, remove the TAPs xvs created. */
  async destroy(): Promise<void> {
    await this.stop();
    // IPv6 back on the uplink before its addresses come back from the host port
    if (this.cfg.type === 'external' && this.cfg.uplink) {
      release(this.cfg.uplink, this.record, (m) => this.log(`switch ${this.cfg.name}: ${m}`));
      restoreOffloads(this.cfg.uplink, this.record, (m) => this.log(`switch ${this.cfg.name}: ${m}`));
    }
    const host = [...this.ports.values()].find((p) => p.kind === 'internal');
    if (host && this.cfg.type === 'external' && this.cfg.allowManagementOs && this.cfg.uplink && netdevExists(host.netdev)) {
      try {
        moveAddresses(host.netdev, this.cfg.uplink);
      } catch (e) {
        this.log(`switch ${this.cfg.name}: could not move addresses back to ${this.cfg.uplink}: ${(e as Error).message}`);
      }
    }
    if (this.cfg.type === 'external' && this.cfg.uplink && this.ports.has(this.cfg.uplink) && netdevExists(this.cfg.uplink)) {
      try { ip('link', 'set', 'dev', this.cfg.uplink, 'promisc', 'off'); } catch { /* gone meanwhile */ }
    }
    for (const p of this.ports.values()) this.giveBack(p);
    this.ports.clear();
  }

  info(): SwitchInfo {
    return {
      config: { ...this.cfg, ports: this.cfg.ports.map((p) => ({ ...p })), extensions: this.extensions.toConfig() },
      ports: [...this.ports.values()].sort((a, b) => a.index - b.index).map((p) => ({
        name: p.name, kind: p.kind, netdev: p.netdev, index: p.index,
        up: netdevExists(p.netdev) && this.linkDown[p.index] === 0,
        mtu: netdevMtu(p.netdev),
        ...(p.backend === 'pcap' ? { io: 'pcap' as const, offloadsOff: [...(p.offloadsOff ?? [])] } : {}),
      })),
      workers: this.health(),
    };
  }

  fdb(): FdbEntry[] {
    const now = (Date.now() / 1000) | 0;
    const byIndex = new Map([...this.ports.values()].map((p) => [p.index, p.name]));
    return this.table.entries()
      .map((e) => fdbEntry(e.hi, e.lo, byIndex.get(e.port) ?? `#${e.port}`, Math.max(0, now - e.lastSeen)))
      .sort((a, b) => (a.vlan ?? 0) - (b.vlan ?? 0) || a.mac.localeCompare(b.mac));
  }

  stats(): SwitchStats {
    const blocks = this.counters;
    const sum = (slot: number): number => CounterBlock.sum(blocks, slot);
    const drops: Record<string, number> = {};
    const ports = [...this.ports.values()].sort((a, b) => a.index - b.index).map((p) => {
      const b = CounterBlock.port(p.index);
      const pd = CounterBlock.portDrops(blocks, p.index);
      for (const [k, n] of Object.entries(pd)) drops[k] = (drops[k] ?? 0) + n;
      return {
        name: p.name, kind: p.kind, netdev: p.netdev,
        rxPackets: sum(b + PF.rxPackets), rxBytes: sum(b + PF.rxBytes),
        txPackets: sum(b + PF.txPackets), txBytes: sum(b + PF.txBytes),
        drops: pd, txErrors: sum(b + PF.txErrors), txTunnelGso: sum(b + PF.txTunnelGso),
        rxZeroCopy: sum(b + PF.rxZeroCopy), rxZeroCopyWhole: sum(b + PF.rxZeroCopyWhole),
        macs: this.table.portCount(p.index), macLimit: this.table.portLimit(p.index), macLimitHits: sum(b + PF.macLimitHits),
        policy: this.policyCountersOf(p.index),
      };
    });
    return {
      name: this.cfg.name, type: this.cfg.type, ports, drops,
      fdb: {
        entries: this.table.count, limit: this.table.limit, learned: sum(SW.fdbLearned), moves: sum(SW.fdbMoves),
        limitHits: sum(SW.fdbLimitHits), aged: sum(SW.fdbAged), portLimitHits: ports.reduce((n, p) => n + p.macLimitHits, 0),
      },
      workers: blocks.map((b, i) => ({
        index: i, tid: b.v[SW.tid], cpu: b.v[SW.cpu] >= 0 ? b.v[SW.cpu] : null,
        breaths: b.v[SW.breaths], batches: b.v[SW.batches], idlePolls: b.v[SW.idlePolls],
        coalesceWaits: b.v[SW.coalesceWaits], restarts: this.restarts[i]?.health.restarts ?? 0,
        ...(this.restarts[i]?.health.lastCause ? { lastCause: this.restarts[i].health.lastCause } : {}),
      })),
    };
  }

  /** `port meter`: the port's meter ACL entries' counts since the last reset (switch/meter.ts) */
  meter(name: string, reset: boolean): MeterReport {
    const port = this.ports.get(name);
    const pc = this.cfg.ports.find((p) => p.name === name);
    if (!port || !pc) throw new NotFoundError('port', `switch "${this.cfg.name}" has no VM port "${name}"`);
    return this.meterBaselines.report(this.cfg.name, name, port.index, pc.acls ?? [], this.policyCounters, reset);
  }

  /** port p's non-zero policy counters summed over workers, by field name */
  private policyCountersOf(p: number): Record<string, number> {
    const out: Record<string, number> = {};
    const base = PolicyCounters.port(p);
    POLICY_PORT_FIELDS.forEach((f, k) => {
      const n = PolicyCounters.sum(this.policyCounters, base + k);
      if (n !== 0) out[f] = n;
    });
    return out;
  }

  private portByName(name: string, field: string): SwitchPort {
    const p = this.ports.get(name) ?? [...this.ports.values()].find((x) => x.netdev === name);
    if (!p) throw new NotFoundError(field, `switch "${this.cfg.name}" has no port "${name}"`);
    return p;
  }

  /** the running data path (extensions.pipeline) with the built-in policies in force at each policy stage */
  pipeline(): PipelineView {
    const view = this.extensions.pipeline();
    const input = this.policyInput();
    for (const s of view.stages) {
      if (s.kind !== 'policy') continue;
      const policies = POLICY_MODULES.filter((m) => (m.stages as readonly string[]).includes(s.stage))
        .map((m) => ({ policy: m.name, ports: m.summary(input) })).filter((p) => p.ports.length > 0);
      s.policies = policies;
      s.state = policies.length > 0 ? 'running' : 'empty';
    }
    return view;
  }

  private traceView(t: FrameTrace, inPort: string): TraceView {
    const byIndex = new Map([...this.ports.values()].map((p) => [p.index, p.name]));
    const name = (i: number): string => byIndex.get(i) ?? `#${i}`;
    const view: Omit<TraceView, 'summary'> = {
      switch: this.cfg.name, inPort, frame: Buffer.from(t.frame).toString('hex'), packet: describeFrame(t.frame),
      steps: t.steps.map((s) => ({
        stage: s.stage, group: s.group, kind: s.kind, direction: s.direction, verdict: s.verdict,
        ...(s.reason ? { reason: s.reason } : {}),
        ...(s.note ? { note: s.note } : {}),
        ...(s.destinations ? { destinations: s.destinations.map(name) } : {}),
        ...(s.down ? { down: s.down.map(name) } : {}),
      })),
      verdict: t.verdict, ...(t.reason ? { reason: t.reason } : {}),
      destinations: t.destinations.map(name), generation: t.generation,
    };
    return { ...view, summary: explainTrace(view) };
  }

  /** Run a synthetic frame through the live pipeline of the worker that owns the port; nothing is sent or learned. */
  async trace(inPort: string, frame: Uint8Array): Promise<TraceView> {
    const port = this.portByName(inPort, 'in');
    const worker = this.workers[port.backend === 'tapfd' ? 0 : this.vmq.ownerOf(port.index)];
    const r = await worker.request({ type: 'trace', frame, inPort: port.index });
    if (!r.trace) throw new Error('the worker returned no trace');
    return this.traceView(r.trace, port.name);
  }

  private onTraceFrame(id: number, t: FrameTrace): void {
    const lt = this.liveTraces.get(id);
    if (!lt) return;
    if (lt.frames.length >= lt.want) return;
    lt.frames.push(t);
    if (lt.onFrame) lt.onFrame(this.traceView(t, this.portName(t.inPort)));
    if (lt.frames.length >= lt.want) lt.done();
  }

  /** Record the next `count` real frames (matching, from a port) as they go through the pipeline. */
  async traceLive(opts: LiveTraceOptions): Promise<TraceView[]> {
    const match = opts.match ? parseMatch(opts.match, 'match') : null;
    const inPort = opts.inPort ? this.portByName(opts.inPort, 'in').index : -1;
    const traceId = this.nextTraceId++;
    const frames: FrameTrace[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<void>((resolve) => {
      this.liveTraces.set(traceId, { frames, want: opts.count, done: resolve, ...(opts.onFrame ? { onFrame: opts.onFrame } : {}) });
      timer = setTimeout(resolve, opts.timeoutMs);
      opts.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    try {
      await Promise.all(this.workers.map((w) => w.request({ type: 'trace-live', traceId, count: opts.count, match, inPort })));
      opts.onArmed?.();
      await finished;
    } finally {
      clearTimeout(timer);
      this.liveTraces.delete(traceId);
      await Promise.all(this.workers.map((w) => w.request({ type: 'trace-live-stop', traceId }).catch(() => undefined)));
    }
    return frames.slice(0, opts.count).map((t) => this.traceView(t, this.portName(t.inPort)));
  }

  private portName(index: number): string {
    for (const p of this.ports.values()) if (p.index === index) return p.name;
    return `#${index}`;
  }

  /** netdevs this switch uses (for the one-switch-per-NIC rule) */
  netdevs(): string[] {
    const out = [...this.ports.values()].map((p) => p.netdev);
    if (this.cfg.uplink) out.push(this.cfg.uplink);
    return out;
  }
}
