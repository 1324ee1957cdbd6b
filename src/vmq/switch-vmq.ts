/**
 * One switch's queues and workers at run time: which worker reads each rx port (through the queue the
 * port belongs to, model.ts), which CPU each worker is pinned to, the measured load (load.ts), and
 * moving a queue between workers without losing a frame:
 *
 *   1. the old worker, between two breaths, parks the port's rx socket (native parkPort: fd and mmap
 *      ring stay open, the kernel keeps filling the ring) and sends on a new tx-only socket;
 *   2. the new worker takes the parked socket (unparkPort) as the port's rx, replacing its tx-only
 *      socket, and reads the ring from where the old worker stopped.
 *
 * Between 1 and 2 (one request round trip, well under a millisecond) frames wait in the ring; no socket
 * is closed and none is opened in between, so a frame is neither dropped nor received twice (a ring that
 * fills meanwhile counts `ring-full` drops as at any other time). AF_PACKET ports only: the host port's
 * TAP is multi-queue and read by every worker.
 */
import { availableParallelism } from 'node:os';
import type { CounterBlock } from '../core/counters.js';
import { ConfigError } from '../core/errors.js';
import { native } from '../ports/native/index.js';
import type { PortBackend, PortSpec } from '../ports/port.js';
import type { DataPathWorker } from '../workers/worker-handle.js';
import { LoadMeter } from './load.js';
import type { UplinkSteerView } from './uplink-steer.js';
import { DEFAULT_QUEUE, assignQueues, movesBetween, pinProblem, placeNewQueues, queuesOf, type Queue, type VmqPin, type VmqPortInput } from './model.js';

export interface VmqPortRef {
  index: number;
  name: string;
  netdev: string;
  backend: PortBackend;
}

export interface VmqHost {
  name: string;
  /** the switch's current workers (a replaced one is swapped in place) */
  workers(): readonly DataPathWorker[];
  counters: readonly CounterBlock[];
  /** attached ports */
  ports(): VmqPortRef[];
  /** a VM port's VMQ settings from its configuration (absent: weight 0, no pin) */
  settings(name: string): { weight: number; pin?: VmqPin };
  spec(port: VmqPortRef, worker: number, rx: boolean): PortSpec;
  log(m: string): void;
  /** a port every worker reads (the steered uplink, vmq/uplink-steer.ts): queue moves leave its sockets alone */
  rxEverywhere?(index: number): boolean;
  /** after queues moved (under the queue lock): uplink steering follows */
  changed?(): Promise<void>;
}

/** Where the CPU list in force comes from: XVS_CPUS overrides the switch's configuration. */
export type CpusFrom = 'XVS_CPUS' | 'config' | 'none';

export interface VmqQueueView {
  id: string;
  weight: number;
  pin?: VmqPin;
  worker: number;
  cpu: number | null;
  ports: string[];
  /** rx frames per second over the last sample interval */
  pps: number;
  /** percent of one CPU its frames cost (its share of its worker's busy time) */
  busy: number;
}

export interface VmqWorkerView {
  index: number;
  tid: number;
  cpu: number | null;
  /** percent of the last interval the worker spent in breaths that received frames */
  busy: number;
  queues: string[];
}

export interface VmqView {
  switch: string;
  cpus: number[];
  cpusFrom: CpusFrom;
  intervalMs: number;
  workers: VmqWorkerView[];
  queues: VmqQueueView[];
  /** uplink steering: which destination MACs each worker's uplink socket accepts (vmq/uplink-steer.ts) */
  uplink?: UplinkSteerView;
}

export interface VmqMove {
  queue: string;
  from: number;
  to: number;
  ports: string[];
  /** longest time a port's rx ring went unread during the move (release asked → taken), ms */
  handoverMs?: number;
}

/**
 * Automatic rebalancing (OVS's pmd-auto-lb): when some worker has been busy at least `threshold` percent
 * for AUTO_SAMPLES samples in a row while another is below it, the queues are placed again by load if
 * that lowers the busiest worker's load by at least AUTO_IMPROVEMENT; then nothing is tried for AUTO_COOLDOWN_MS.
 */
export const AUTO_SAMPLES = 3;
export const AUTO_IMPROVEMENT = 0.25;
export const AUTO_COOLDOWN_MS = 10_000;
export interface RebalanceResult { switch: string; moves: VmqMove[]; view: VmqView }

export class SwitchVmq {
  private readonly host: VmqHost;
  /** queue id → worker */
  private assignment = new Map<string, number>();
  private queues: Queue[] = [];
  private readonly meter = new LoadMeter();
  private timer: NodeJS.Timeout | undefined;
  private envCpus: number[];
  private cfgCpus: number[];
  /** automatic rebalancing: busy percent that triggers it, 0 = off (XVS_VMQ_AUTO_LB) */
  private readonly autoThreshold: number;
  private hotSamples = 0;
  private autoAfter = 0;
  /** every change of queues or ports runs alone (queue moves, attach, detach, automatic rebalancing) */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(host: VmqHost, envCpus: number[], cfgCpus: number[] | undefined, autoThreshold = 0) {
    this.host = host;
    this.envCpus = envCpus;
    this.cfgCpus = cfgCpus ?? [];
    this.autoThreshold = autoThreshold;
  }

  /** run `fn` after every change queued before it (a failure does not block the next) */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** sample the load once a second (and rebalance automatically, if on) */
  start(): void {
    this.meter.sample(this.host.counters, Date.now());
    this.timer = setInterval(() => {
      this.meter.sample(this.host.counters, Date.now());
      if (this.autoThreshold > 0) this.autoCheck();
    }, 1000);
    this.timer.unref();
  }

  /** per-worker sums of queue loads under an assignment */
  private workerLoads(a: ReadonlyMap<string, number>, load: ReadonlyMap<string, number>): number[] {
    const sums = this.host.workers().map(() => 0);
    for (const [id, w] of a) if (w < sums.length) sums[w] += load.get(id) ?? 0;
    return sums;
  }

  private autoCheck(): void {
    const busy = this.meter.current.workerBusy.map((b) => b * 100);
    const over = busy.some((b) => b >= this.autoThreshold);
    const room = busy.some((b) => b < this.autoThreshold);
    this.hotSamples = over && room ? this.hotSamples + 1 : 0;
    if (this.hotSamples < AUTO_SAMPLES || Date.now() < this.autoAfter) return;
    this.hotSamples = 0;
    this.autoAfter = Date.now() + AUTO_COOLDOWN_MS;
    void this.exclusive(async () => {
      const queues = queuesOf(this.inputs());
      const load = this.loads();
      const next = assignQueues(queues, load, this.workerCpus());
      const before = Math.max(...this.workerLoads(this.assignment, load));
      const after = Math.max(...this.workerLoads(next, load));
      if (!(after <= before * (1 - AUTO_IMPROVEMENT))) return;
      const moves = await this.apply(queues, next);
      this.host.log(`switch ${this.host.name}: vmq automatic rebalance (a worker ≥ ${this.autoThreshold}% busy): ${moves.length} queue(s) moved, busiest worker's load ${Math.round(before)} → ${Math.round(after)}`);
    }).catch((e: unknown) => this.host.log(`switch ${this.host.name}: vmq automatic rebalance failed: ${(e as Error).message}`));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get cpus(): number[] {
    return this.envCpus.length ? this.envCpus : this.cfgCpus;
  }

  get cpusFrom(): CpusFrom {
    return this.envCpus.length ? 'XVS_CPUS' : this.cfgCpus.length ? 'config' : 'none';
  }

  /** the CPU worker w is pinned to, or null (worker i → cpus[i mod n], as XVS_CPUS always did) */
  cpuOf(w: number): number | null {
    const c = this.cpus;
    return c.length ? c[w % c.length] % availableParallelism() : null;
  }

  private workerCpus(): (number | null)[] {
    return this.host.workers().map((_w, i) => this.cpuOf(i));
  }

  /** every port's VMQ input; `extra`: a port about to be attached */
  private inputs(extra?: VmqPortInput): VmqPortInput[] {
    const out: VmqPortInput[] = this.host.ports().filter((p) => p.index !== extra?.index).map((p) => ({ index: p.index, name: p.name, ...this.host.settings(p.name) }));
    if (extra) out.push(extra);
    return out;
  }

  /** the worker that reads port `index` (0 until the port has a queue) */
  ownerOf(index: number): number {
    const q = this.queues.find((x) => x.ports.includes(index));
    return this.assignment.get(q?.id ?? DEFAULT_QUEUE) ?? 0;
  }

  /** the worker that reads the default queue */
  defaultWorker(): number {
    return this.assignment.get(DEFAULT_QUEUE) ?? 0;
  }

  /** measured cost of each queue (busy µs/s; pps where no busy time was measured) */
  private loads(): Map<string, number> {
    const s = this.meter.current;
    const out = new Map<string, number>();
    for (const q of this.queues) {
      let cost = 0;
      let pps = 0;
      for (const p of q.ports) { cost += s.costUs[p]; pps += s.pps[p]; }
      out.set(q.id, cost > 0 ? cost : pps / 1e6);
    }
    return out;
  }

  /** Check a port's VMQ settings against the switch (field: the setting's path). */
  check(field: string, weight: number, pin: VmqPin | undefined): void {
    if (!pin) return;
    if (weight <= 0) throw new ConfigError(`${field}.vmqPin`, 'the port has no queue of its own (vmqWeight 0 shares the default queue): give it a vmqWeight 1..100 first');
    const problem = pinProblem(pin, this.workerCpus());
    if (problem) throw new ConfigError(`${field}.vmqPin`, problem);
  }

  /** Place the queue of a port about to be attached (others stay where they are). */
  placeForAttach(extra: VmqPortInput): void {
    const queues = queuesOf(this.inputs(extra));
    this.assignment = placeNewQueues(queues, this.assignment, this.loads(), this.workerCpus());
    this.queues = queues;
  }

  /** A port was detached: forget it. */
  forget(): void {
    const queues = queuesOf(this.inputs());
    this.assignment = placeNewQueues(queues, this.assignment, this.loads(), this.workerCpus());
    this.queues = queues;
  }

  /** Port settings or CPUs changed: queues follow (pins first), moving rx ports as needed. */
  settle(): Promise<VmqMove[]> {
    return this.exclusive(() => this.settleNow());
  }

  private settleNow(): Promise<VmqMove[]> {
    const queues = queuesOf(this.inputs());
    return this.apply(queues, placeNewQueues(queues, this.assignment, this.loads(), this.workerCpus()));
  }

  /** `vmq rebalance`: every unpinned queue placed again by measured load. */
  rebalance(): Promise<VmqMove[]> {
    return this.exclusive(() => {
      const queues = queuesOf(this.inputs());
      return this.apply(queues, assignQueues(queues, this.loads(), this.workerCpus()));
    });
  }

  /** new CPUs from the configuration (`switch set --cpus`): workers re-pinned unless XVS_CPUS overrides */
  setCpus(cpus: number[] | undefined): Promise<VmqMove[]> {
    return this.exclusive(() => this.setCpusNow(cpus));
  }

  private async setCpusNow(cpus: number[] | undefined): Promise<VmqMove[]> {
    this.cfgCpus = cpus ?? [];
    if (this.envCpus.length) {
      this.host.log(`switch ${this.host.name}: XVS_CPUS=${this.envCpus.join(',')} overrides the configured CPUs (${this.cfgCpus.join(',') || 'none'})`);
    } else {
      await Promise.all(this.host.workers().map((w, i) => {
        const c = this.cpuOf(i);
        // a worker being replaced is pinned by its successor's start
        return w.alive ? w.request({ type: 'pin', cpus: c === null ? [] : [c] }) : undefined;
      }));
    }
    return this.settleNow();
  }

  /** move the rx side of every port whose worker changes from the current assignment to `next` */
  private async apply(queues: Queue[], next: Map<string, number>): Promise<VmqMove[]> {
    const ownerIn = (qs: Queue[], a: Map<string, number>, index: number): number => {
      const q = qs.find((x) => x.ports.includes(index));
      return a.get(q?.id ?? DEFAULT_QUEUE) ?? 0;
    };
    const beforeQueues = this.queues;
    const before = this.assignment;
    const byIndex = new Map(this.host.ports().map((p) => [p.index, p]));
    const moved = new Map<string, VmqMove>();
    for (const [id, from, to] of movesBetween(before, next)) moved.set(id, { queue: id, from, to, ports: [] });
    // ports change queue too (a weight set or cleared): compare per port
    for (const p of byIndex.values()) {
      if (p.backend === 'tapfd' || this.host.rxEverywhere?.(p.index) === true) continue;
      const from = ownerIn(beforeQueues, before, p.index);
      const to = ownerIn(queues, next, p.index);
      if (from === to) continue;
      const t0 = performance.now();
      if (p.backend === 'pcap') await this.reopenRx(p, from, to);
      else await this.moveRx(p, from, to);
      const q = queues.find((x) => x.ports.includes(p.index))?.id ?? DEFAULT_QUEUE;
      const m = moved.get(q) ?? { queue: q, from, to, ports: [] };
      m.ports.push(p.name);
      m.handoverMs = Math.max(m.handoverMs ?? 0, Math.round((performance.now() - t0) * 10) / 10);
      moved.set(q, m);
    }
    this.queues = queues;
    this.assignment = next;
    await this.host.changed?.();
    const out = [...moved.values()].filter((m) => m.ports.length > 0);
    for (const m of out) this.host.log(`switch ${this.host.name}: vmq queue "${m.queue}" (${m.ports.join(', ')}) moved from worker ${m.from} to worker ${m.to} (rx ring unread for at most ${m.handoverMs} ms)`);
    return out;
  }

  /** hand port p's rx socket from worker `from` to worker `to` (see the top of this file) */
  private async moveRx(p: VmqPortRef, from: number, to: number): Promise<void> {
    const workers = this.host.workers();
    const src = workers[from];
    const dst = workers[to];
    const r = await src.request({ type: 'release-rx', index: p.index, port: this.host.spec(p, from, false) });
    const ticket = r.ticket;
    if (ticket === undefined) throw new Error(`worker ${from} gave no ticket for ${p.name}`);
    try {
      await dst.request({ type: 'adopt-rx', port: this.host.spec(p, to, true), ticket });
    } catch (e) {
      // the taker failed: close the parked socket, give the port a fresh rx socket back on its old worker
      native.dropParked(ticket);
      await src.request({ type: 'attach', port: { ...this.host.spec(p, from, true), keepCounters: true } });
      throw new Error(`switch "${this.host.name}": moving ${p.name} to worker ${to} failed (it stays on worker ${from}): ${(e as Error).message}`);
    }
  }

  /**
   * A libpcap port (`--io pcap`) is not handed over: its ring belongs to libpcap. The old worker's handle
   * becomes tx-only first, then the new worker opens an rx handle, so no frame is read twice; frames
   * that arrive in between are not received (the only move that can lose frames).
   */
  private async reopenRx(p: VmqPortRef, from: number, to: number): Promise<void> {
    const workers = this.host.workers();
    await workers[from].request({ type: 'attach', port: { ...this.host.spec(p, from, false), keepCounters: true } });
    await workers[to].request({ type: 'attach', port: { ...this.host.spec(p, to, true), keepCounters: true } });
  }

  view(): VmqView {
    const s = this.meter.current;
    const names = new Map(this.host.ports().map((p) => [p.index, p.name]));
    const workers = this.host.workers();
    const queues: VmqQueueView[] = this.queues.map((q) => {
      const w = this.assignment.get(q.id) ?? 0;
      let pps = 0;
      let cost = 0;
      for (const p of q.ports) { pps += s.pps[p]; cost += s.costUs[p]; }
      return {
        id: q.id, weight: q.weight, ...(q.pin ? { pin: q.pin } : {}), worker: w, cpu: this.cpuOf(w),
        ports: q.ports.map((i) => names.get(i) ?? `#${i}`), pps: Math.round(pps), busy: Math.round(cost / 100) / 100,
      };
    });
    return {
      switch: this.host.name, cpus: this.cpus, cpusFrom: this.cpusFrom, intervalMs: s.intervalMs,
      workers: workers.map((w, i) => ({
        index: i, tid: w.tid, cpu: this.cpuOf(i), busy: Math.round((s.workerBusy[i] ?? 0) * 10000) / 100,
        queues: queues.filter((q) => q.worker === i).map((q) => q.id),
      })),
      queues,
    };
  }
}
