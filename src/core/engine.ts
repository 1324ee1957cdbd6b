/**
 * Engine: one data-path worker's loop body. One breath = for every port this worker receives from,
 * one receive call of up to `batchSize` frames, then the whole batch runs the pipeline stages
 * (validate, … , forwarding), fans out to per-port transmit queues, every queue is flushed with one
 * batched send, and every frame is freed — each drop counted under its reason on the source port.
 *
 * Nothing here allocates per frame: batches, queues and counters exist once per worker.
 * Ports are indexed densely per switch (the index used in destination bitsets and counters).
 */
import { Batch, DST_WORDS, DstMode } from './batch.js';
import { CounterBlock, PF, PF_DROPS, SW } from './counters.js';
import { DropReason } from './drop-reasons.js';
import type { FramePool } from './frame-pool.js';
import type { BreathContext, Stage } from './stage.js';
import type { PortIo } from '../ports/port.js';

/** Frames injected or originated by extensions, processed at the start of the next breath. */
export interface InjectSource {
  readonly ids: Uint32Array;
  readonly asPort: Int32Array;
  count: number;
}

const NO_DEST = DropReason['no-destination'];
const PORT_DOWN = DropReason['port-down'];
const TX_ERROR = DropReason['tx-error'];

export class EnginePort {
  readonly index: number;
  readonly name: string;
  readonly io: PortIo;
  readonly rx: boolean;
  readonly txIds: Uint32Array;
  txCount = 0;

  constructor(index: number, name: string, io: PortIo, rx: boolean, batchSize: number) {
    this.index = index;
    this.name = name;
    this.io = io;
    this.rx = rx;
    this.txIds = new Uint32Array(batchSize);
  }
}

export class Engine {
  readonly pool: FramePool;
  readonly batch: Batch;
  readonly counters: CounterBlock;
  readonly ctx: BreathContext;
  readonly batchSize: number;
  /** by port index; undefined where no port is attached */
  readonly ports: (EnginePort | undefined)[] = [];
  /** the stages every batch runs, in order; replaced as a whole between batches */
  stages: Stage[] = [];
  /** ports this worker receives from, and every attached port (flooding), rebuilt on change */
  private rxPorts: EnginePort[] = [];
  private allPorts: EnginePort[] = [];
  /** fds of rxPorts, for poll() when idle */
  readonly pollFds: Int32Array;
  pollCount = 0;
  /** 1 where a port is attached (flood targets; read by extension views) */
  readonly attached: Uint8Array;
  /**
   * 1 where the port's link is down (a TAP no VM holds yet, a veth whose peer is down), written by
   * the control plane about once a second: floods skip such ports, unicast to one is a
   * `port-down` drop instead of a kernel tx error. Null: every port is treated as up.
   */
  linkDown: Uint8Array | null = null;
  /** frames extensions injected; drained at the start of each breath */
  inject: InjectSource | null = null;
  /** called after a batch was fanned out, before frames are freed (live trace) */
  afterFanOut: ((batch: Batch) => void) | null = null;

  constructor(pool: FramePool, counters: CounterBlock, batchSize: number, maxPorts: number) {
    this.pool = pool;
    this.counters = counters;
    this.batchSize = batchSize;
    this.batch = new Batch(batchSize);
    this.ctx = { now: 0, counters };
    this.pollFds = new Int32Array(maxPorts);
    this.attached = new Uint8Array(maxPorts);
    this.injIds = new Uint32Array(pool.slots);
    this.injPorts = new Int32Array(pool.slots);
  }
  private readonly injIds: Uint32Array;
  private readonly injPorts: Int32Array;

  attach(port: EnginePort): void {
    this.ports[port.index] = port;
    this.rebuild();
  }

  detach(index: number): EnginePort | undefined {
    const p = this.ports[index];
    this.ports[index] = undefined;
    this.rebuild();
    return p;
  }

  private rebuild(): void {
    this.attached.fill(0);
    for (const p of this.ports) if (p) this.attached[p.index] = 1;
    this.allPorts = this.ports.filter((p): p is EnginePort => p !== undefined);
    this.rxPorts = this.allPorts.filter((p) => p.rx);
    this.pollCount = 0;
    for (const p of this.rxPorts) if (p.io.fd >= 0) this.pollFds[this.pollCount++] = p.io.fd;
  }

  /** One breath over every rx port; returns how many frames were received. */
  breathe(now: number): number {
    this.ctx.now = now;
    const v = this.counters.v;
    v[SW.breaths]++;
    let total = 0;
    if (this.inject !== null && this.inject.count > 0) total += this.drainInjected();
    const rxPorts = this.rxPorts;
    for (let k = 0; k < rxPorts.length; k++) {
      const port = rxPorts[k];
      const n = port.io.recv(this.pool, this.batch.ids, this.batchSize);
      if (n === 0) continue;
      total += n;
      this.batch.reset(n, port.index);
      this.countRx(port.index, n);
      this.processBatch(this.batch);
    }
    return total;
  }

  /** run injected/originated frames through the pipeline, one batch per run of the same source port */
  private drainInjected(): number {
    const q = this.inject!;
    const n = Math.min(q.count, this.injIds.length);
    // copy out first: extensions may inject again while these frames run
    for (let k = 0; k < n; k++) { this.injIds[k] = q.ids[k]; this.injPorts[k] = q.asPort[k]; }
    for (let k = n; k < q.count; k++) { q.ids[k - n] = q.ids[k]; q.asPort[k - n] = q.asPort[k]; }
    q.count -= n;
    const batch = this.batch;
    let k = 0;
    while (k < n) {
      const as = this.injPorts[k];
      let m = 0;
      while (k < n && this.injPorts[k] === as && m < this.batchSize) batch.ids[m++] = this.injIds[k++];
      batch.reset(m, as);
      this.counters.v[SW.originated] += m;
      this.processBatch(batch);
    }
    return n;
  }

  private countRx(p: number, n: number): void {
    const v = this.counters.v;
    const base = CounterBlock.port(p);
    const ids = this.batch.ids;
    const len = this.pool.len;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += len[ids[i]];
    v[base + PF.rxPackets] += n;
    v[base + PF.rxBytes] += bytes;
  }

  /** Run the stages over a batch, fan out, transmit and free every frame. */
  processBatch(batch: Batch): void {
    const stages = this.stages;
    for (let s = 0; s < stages.length; s++) stages[s].process(batch, this.pool, this.ctx);
    this.counters.v[SW.batches]++;
    this.fanOut(batch);
    if (this.afterFanOut !== null) this.afterFanOut(batch);
    this.flush();
    this.free(batch);
  }

  private fanOut(batch: Batch): void {
    const ports = this.ports;
    const all = this.allPorts;
    const inPort = batch.inPort;
    const checkExcl = batch.hasExclusions;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const id = batch.ids[i];
      const mode = batch.dstMode[i];
      let pushed = 0;
      const down = this.linkDown;
      if (mode === DstMode.unicast) {
        const port = ports[batch.dstPort[i]];
        if (port === undefined || (down !== null && down[port.index] === 1)) {
          batch.drop(i, PORT_DOWN);
          continue;
        }
        if (!checkExcl || !batch.isExcluded(i, port.index)) {
          port.txIds[port.txCount++] = id;
          pushed = 1;
        }
      } else if (mode === DstMode.flood) {
        for (let k = 0; k < all.length; k++) {
          const port = all[k];
          if (port.index === inPort) continue;
          if (down !== null && down[port.index] === 1) continue;
          if (checkExcl && batch.isExcluded(i, port.index)) continue;
          port.txIds[port.txCount++] = id;
          pushed++;
        }
      } else if (mode === DstMode.set) {
        const base = i * DST_WORDS;
        for (let w = 0; w < DST_WORDS; w++) {
          let bits = batch.dstSet[base + w];
          if (checkExcl) bits &= ~batch.exclude[base + w];
          while (bits !== 0) {
            const b = 31 - Math.clz32(bits & -bits);
            bits &= bits - 1;
            const port = ports[(w << 5) + b];
            if (port === undefined || (down !== null && down[port.index] === 1)) continue;
            port.txIds[port.txCount++] = id;
            pushed++;
          }
        }
      }
      if (pushed === 0) batch.drop(i, NO_DEST);
    }
  }

  private flush(): void {
    const v = this.counters.v;
    const all = this.allPorts;
    const len = this.pool.len;
    for (let k = 0; k < all.length; k++) {
      const port = all[k];
      const n = port.txCount;
      if (n === 0) continue;
      port.txCount = 0;
      const sent = port.io.send(this.pool, port.txIds, n);
      let bytes = 0;
      for (let i = 0; i < sent; i++) bytes += len[port.txIds[i]];
      const base = CounterBlock.port(port.index);
      v[base + PF.txPackets] += sent;
      v[base + PF.txBytes] += bytes;
      if (sent < n) {
        v[base + PF.txErrors] += n - sent;
        v[base + PF_DROPS + TX_ERROR] += n - sent;
      }
    }
  }

  private free(batch: Batch): void {
    const v = this.counters.v;
    const pool = this.pool;
    const dropBase = (batch.inPort >= 0 ? CounterBlock.port(batch.inPort) : -1) + PF_DROPS;
    for (let i = 0; i < batch.count; i++) {
      const r = batch.reason[i];
      if (r !== 0 && batch.inPort >= 0) v[dropBase + r]++;
      pool.release(batch.ids[i]);
    }
    batch.count = 0;
  }
}
