/**
 * Steering on the uplink (issue 12 item 2; docs/QUEUES.md, "Steering on the uplink"). With more than one
 * worker, every worker has its own rx socket (own TPACKET ring) on the external port, each with a
 * classic-BPF filter (steer-bpf.ts): a worker that owns VM queues accepts the destination MACs (+VLAN) of
 * their ports, the default-queue worker accepts everything the others do not (broadcast, multicast,
 * unknown unicast, the host's own MACs, and the MACs of VM ports in the default queue).
 *
 * A VM port's destination MACs: its staticMacAddress if set (VLAN: the port's access VLAN, else untagged),
 * else the MACs the MAC table has learned on it (with their VLAN). Recomputed after every queue change
 * (attach, detach, moves) and once a second (learning, aging).
 *
 * A change never loses a frame: every worker whose filter changes first gets the union of its old and
 * new filter, and only when all have it, the new one (add to the new owner, then remove from the old).
 * A frame that arrives between the two steps may be received by both workers: one duplicate for an
 * instant. Where a frame is received never decides where it goes — every worker forwards to every port —
 * so a stale or missing key costs only the hop through the default-queue worker (as without steering).
 */
import { keyId, sameFilter, steerFilters, steerProgram, unionFilter, ACCEPT_ALL, type SteerFilter, type SteerKey } from './steer-bpf.js';
import type { PortBackend } from '../ports/port.js';
import type { DataPathWorker } from '../workers/worker-handle.js';

export interface UplinkSteerHost {
  name: string;
  workers(): readonly DataPathWorker[];
  /** the uplink port (external), if attached; only an AF_PACKET one is steered */
  uplink(): { index: number; name: string; backend: PortBackend } | null;
  /** the worker reading the default queue */
  defaultWorker(): number;
  /** each worker's VM-queue destination keys (worker → keys) */
  owned(): Map<number, SteerKey[]>;
  /** rx frames of port `index` counted by worker w */
  rxPackets(w: number, index: number): number;
  log(m: string): void;
}

export interface UplinkWorkerView {
  worker: number;
  /** all: no filter needed; none: rejects everything; only: just `macs`; all-except: everything but `macs` */
  accepts: 'all' | 'none' | 'only' | 'all-except';
  /** MAC, or MAC@VLAN for a tagged key */
  macs: string[];
  /** frames this worker received from the uplink (since the port was attached) */
  rxPackets: number;
}

export interface UplinkSteerView {
  port: string;
  /** true: every worker reads the uplink through its own filtered socket; false: the default-queue worker reads it all */
  steered: boolean;
  /** why not, when steered is false */
  reason?: string;
  workers: UplinkWorkerView[];
}

export class UplinkSteering {
  private readonly host: UplinkSteerHost;
  /** XVS_UPLINK_STEER=0 turns it off (the status quo: one socket in the default-queue worker) */
  readonly enabled: boolean;
  /** what each worker's socket has now */
  private filters: SteerFilter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(host: UplinkSteerHost, enabled: boolean) {
    this.host = host;
    this.enabled = enabled;
  }

  /** does every worker read the uplink (through a filter)? */
  active(): boolean {
    return this.enabled && this.host.workers().length > 1 && this.host.uplink()?.backend === 'afpacket';
  }

  /** would an uplink port of this backend be steered (checked before the port is attached) */
  steers(backend: PortBackend): boolean {
    return this.enabled && this.host.workers().length > 1 && backend === 'afpacket';
  }

  /** is port `index` the steered uplink (read by every worker: VMQ moves leave it alone) */
  isSteered(index: number): boolean {
    return this.active() && this.host.uplink()?.index === index;
  }

  /**
   * The filter worker w's uplink socket is opened with, and whether the frames its ring took before the
   * filter was attached are to be dropped (they were received by the default-queue worker too, whose
   * filter still accepts them; the default-queue worker keeps its own).
   */
  openFilter(w: number): { program: Uint32Array; drain: boolean } {
    const f = this.filters[w] ?? (w === this.host.defaultWorker() ? ACCEPT_ALL : { mode: 'only', keys: [] });
    this.filters[w] = f;
    return { program: steerProgram(f), drain: w !== this.host.defaultWorker() };
  }

  /** recompute once a second (learned MACs), through `exclusive` (one queue change at a time) */
  start(exclusive: (fn: () => Promise<void>) => Promise<void>): void {
    this.timer = setInterval(() => {
      void exclusive(() => this.update()).catch((e: unknown) => this.host.log(`switch ${this.host.name}: uplink steering: ${(e as Error).message}`));
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Bring every worker's filter to what the queues and MACs say now (add before remove). Call under the queue lock. */
  async update(): Promise<void> {
    const up = this.host.uplink();
    if (!this.active() || !up) { this.filters = []; return; }
    const workers = this.host.workers();
    const next = steerFilters(workers.length, this.host.defaultWorker(), this.host.owned());
    const now = workers.map((_w, i) => this.filters[i] ?? (i === this.host.defaultWorker() ? ACCEPT_ALL : { mode: 'only', keys: [] }));
    if (next.every((f, i) => sameFilter(f, now[i]))) return;
    const set = (w: number, f: SteerFilter): Promise<unknown> => {
      const worker = workers[w];
      if (!worker.alive) return Promise.resolve();
      return worker.request({ type: 'rx-filter', index: up.index, program: steerProgram(f) }).then(() => { this.filters[w] = f; });
    };
    // 1. every changing worker accepts its old and its new keys: a frame is taken by at least one socket throughout
    const union = next.map((f, i) => unionFilter(now[i], f));
    await Promise.all(union.map((f, i) => (sameFilter(f, now[i]) ? undefined : set(i, f))));
    // 2. then the old keys go
    await Promise.all(next.map((f, i) => (sameFilter(f, this.filters[i] ?? now[i]) ? undefined : set(i, f))));
  }

  view(): UplinkSteerView | undefined {
    const up = this.host.uplink();
    if (!up) return undefined;
    const workers = this.host.workers();
    const def = this.host.defaultWorker();
    if (!this.active()) {
      return {
        port: up.name, steered: false,
        reason: !this.enabled ? 'off (XVS_UPLINK_STEER=0)' : workers.length < 2 ? 'one worker' : 'a libpcap uplink is read by one worker',
        workers: workers.map((_w, i) => ({ worker: i, accepts: i === def ? 'all' : 'none', macs: [], rxPackets: this.host.rxPackets(i, up.index) })),
      };
    }
    return {
      port: up.name, steered: true,
      workers: workers.map((_w, i) => {
        const f = this.filters[i] ?? (i === def ? ACCEPT_ALL : { mode: 'only', keys: [] });
        const accepts = f.mode === 'only' ? (f.keys.length ? 'only' : 'none') : f.keys.length ? 'all-except' : 'all';
        return { worker: i, accepts, macs: f.keys.map(keyId).sort(), rxPackets: this.host.rxPackets(i, up.index) };
      }),
    };
  }
}
