/**
 * Engine: one data-path worker's loop body. One breath = for every port this worker receives from,
 * one receive call of up to `batchSize` frames, then the whole batch runs the stage array (compiled
 * from the one stage list, pipeline/stage-list.ts, by pipeline/pipeline.ts), and transmit — the last
 * stage of the list, the engine's own: fan-out to per-port transmit queues, one batched send per
 * port, every frame freed, each drop counted under its reason on the source port (or the
 * ORIGINATED record for frames with no source port).
 *
 * Nothing here allocates per frame: batches, queues and counters exist once per worker.
 * Ports are indexed densely per switch (the index used in destination bitsets and counters).
 */
import { Batch, DST_WORDS, DstMode } from './batch.js';
import { CounterBlock, ORIGINATED, PF, PF_DROPS, SW } from './counters.js';
import { DropReason } from './drop-reasons.js';
import type { FramePool } from './frame-pool.js';
import type { BreathContext, Stage } from './stage.js';
import type { PortIo } from '../ports/port.js';
import { VlanTables, VlanTagEditor } from './vlan.js';

/**
 * Frames injected or originated by extensions, processed at the start of the next breath. `entry`
 * is a key (the injector's slot) that `Engine.entryStage` maps to the stage the frame enters at:
 * the one just below the injector on the ingress path.
 */
export interface InjectSource {
  readonly ids: Uint32Array;
  readonly asPort: Int32Array;
  readonly entry: Int32Array;
  count: number;
}

/** Watches batches stage by stage (packet trace); null on the engine when nobody traces. */
export interface StageObserver {
  /** a batch starts at stage `from` */
  begin(batch: Batch, from: number): void;
  /** stage `index` of the stage array has run over the batch */
  after(index: number, batch: Batch): void;
  /** the batch was fanned out (transmit), before its frames are freed */
  transmitted(batch: Batch): void;
}

const NO_DEST = DropReason['no-destination'];
const PORT_DOWN = DropReason['port-down'];
const TX_ERROR = DropReason['tx-error'];
/** frames policies may originate per breath (Engine.originate) */
export const ORIGINATE_QUEUE = 256;

export class EnginePort {
  readonly index: number;
  readonly name: string;
  readonly io: PortIo;
  readonly rx: boolean;
  /** the port's transmit queue of one batch; Engine.attach sizes it to the pool (chained segments) */
  txIds: Uint32Array;
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
  /**
   * the stages every batch runs, in order, transmit excluded (the engine's own, last); replaced as
   * a whole between batches. stages[0] is validation: injected frames run it too, then continue at
   * their entry stage.
   */
  stages: Stage[] = [];
  /**
   * injection entry key (the injector's slot) → stage index where its frames enter; sized and kept
   * by the pipeline that compiles the stages (0 = from the start)
   */
  entryStage = new Int32Array(0);
  /** stage-by-stage observer (packet trace), null normally */
  observer: StageObserver | null = null;
  /** ports this worker receives from, and every attached port (flooding), rebuilt on change */
  private rxPorts: EnginePort[] = [];
  private allPorts: EnginePort[] = [];
  /** fds of rxPorts, for poll() when idle */
  readonly pollFds: Int32Array;
  pollCount = 0;
  /** 1 where a port is attached (flood targets; read by extension views with linkDown) */
  readonly attached: Uint8Array;
  /**
   * 1 where the port's link is down (a TAP no VM holds yet, a veth whose peer is down), written by
   * the control plane about once a second: floods skip such ports, unicast to one is a
   * `port-down` drop instead of a kernel tx error. Null: every port is treated as up.
   */
  linkDown: Uint8Array | null = null;
  /** frames extensions injected; drained at the start of each breath */
  inject: InjectSource | null = null;
  /** VLAN state written by the VLAN policy: tx tagging per port (flush) and the MAC-table filtering ids */
  readonly vlan: VlanTables;
  /** per tx slot of a port's send: 1 where flush pushed a tag to pop after the send */
  private readonly tagPushed: Uint8Array;
  private readonly tags: VlanTagEditor;

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
    this.injEntry = new Int32Array(pool.slots);
    this.vlan = new VlanTables(maxPorts);
    this.tagPushed = new Uint8Array(pool.slots);
    this.tags = new VlanTagEditor(pool);
  }
  /**
   * Queue frame `id` to go out of `port` at the start of the next breath, skipping the stages (a
   * built-in policy's own control frames: PolicyEnv.originate): counted as tx on the port and in
   * SW.originated, then freed. false: the queue (ORIGINATE_QUEUE) is full; the caller keeps the slot.
   */
  originate(id: number, port: number): boolean {
    if (this.origCount >= ORIGINATE_QUEUE || id < 0 || id >= this.pool.slots) return false;
    this.origIds[this.origCount] = id;
    this.origPorts[this.origCount++] = port;
    return true;
  }
  private readonly origIds = new Uint32Array(ORIGINATE_QUEUE);
  private readonly origPorts = new Int32Array(ORIGINATE_QUEUE);
  private origCount = 0;
  private readonly injIds: Uint32Array;
  private readonly injPorts: Int32Array;
  private readonly injEntry: Int32Array;

  attach(port: EnginePort): void {
    // a chain of segments (pool.next) can fill a queue beyond one batch: at most every slot once
    if (port.txIds.length < this.pool.slots) port.txIds = new Uint32Array(this.pool.slots);
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
    if (this.origCount > 0) total += this.drainOriginated();
    if (this.inject !== null && this.inject.count > 0) total += this.drainInjected();
    const rxPorts = this.rxPorts;
    for (let k = 0; k < rxPorts.length; k++) {
      const port = rxPorts[k];
      const io = port.io;
      const n = io.recv(this.pool, this.batch.ids, this.batchSize);
      if (n === 0) continue;
      total += n;
      this.batch.reset(n, port.index);
      this.countRx(port.index, n);
      if (io.rxDone === undefined) {
        this.processBatch(this.batch);
        continue;
      }
      // zero-copy: the ring frames go back after the batch, whatever happens in it
      try {
        this.processBatch(this.batch);
      } finally {
        io.rxDone(this.pool);
      }
    }
    return total;
  }

  /**
   * Run injected/originated frames, one batch per run of the same source port and injector; each
   * enters just below its injector (Hyper-V: an extension's own frames never pass through it or the
   * extensions above it on ingress).
   */
  private drainInjected(): number {
    const q = this.inject!;
    const n = Math.min(q.count, this.injIds.length);
    // copy out first: extensions may inject again while these frames run
    for (let k = 0; k < n; k++) { this.injIds[k] = q.ids[k]; this.injPorts[k] = q.asPort[k]; this.injEntry[k] = q.entry[k]; }
    for (let k = n; k < q.count; k++) { q.ids[k - n] = q.ids[k]; q.asPort[k - n] = q.asPort[k]; q.entry[k - n] = q.entry[k]; }
    q.count -= n;
    const batch = this.batch;
    let k = 0;
    while (k < n) {
      const as = this.injPorts[k];
      const entry = this.injEntry[k];
      let m = 0;
      while (k < n && this.injPorts[k] === as && this.injEntry[k] === entry && m < this.batchSize) batch.ids[m++] = this.injIds[k++];
      batch.reset(m, as);
      this.counters.v[SW.originated] += m;
      if (as < 0) this.countRx(ORIGINATED, m);
      this.processBatch(batch, entry < this.entryStage.length ? this.entryStage[entry] : 0);
    }
    return n;
  }

  /** send the frames policies originated straight to their ports, then free them */
  private drainOriginated(): number {
    const n = this.origCount;
    this.origCount = 0;
    const v = this.counters.v;
    const down = this.linkDown;
    for (let k = 0; k < n; k++) {
      const port = this.ports[this.origPorts[k]];
      if (port === undefined || (down !== null && down[port.index] === 1)) {
        v[CounterBlock.port(ORIGINATED) + PF_DROPS + PORT_DOWN]++;
        continue;
      }
      port.txIds[port.txCount++] = this.origIds[k];
    }
    v[SW.originated] += n;
    this.flush();
    for (let k = 0; k < n; k++) this.pool.release(this.origIds[k]);
    return n;
  }

  /** rx counters of record p (a port, or ORIGINATED) for the first n frames of the batch */
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

  /** Run the stages over a batch (from stage `from`, validation always), then transmit and free every frame. */
  processBatch(batch: Batch, from = 0): void {
    this.runStages(batch, from);
    this.counters.v[SW.batches]++;
    this.fanOut(batch);
    if (this.pool.chained) this.expandChains();
    if (this.observer !== null) this.observer.transmitted(batch);
    this.flush();
    this.free(batch);
  }

  /** the stage array over a batch: stage 0 (validation), then `from` .. the end (no transmit) */
  runStages(batch: Batch, from: number): void {
    const stages = this.stages;
    const obs = this.observer;
    if (obs !== null) obs.begin(batch, from);
    const pool = this.pool;
    const ctx = this.ctx;
    for (let s = 0; s < stages.length; s++) {
      if (s > 0 && s < from) continue;
      stages[s].process(batch, pool, ctx);
      if (obs !== null) obs.after(s, batch);
    }
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

  /**
   * After fan-out of a batch where some frame is a chain (software GSO segments, pool.next): every
   * queue gets each head's segments right after it, in order (in place, from the back).
   */
  private expandChains(): void {
    const next = this.pool.next;
    const all = this.allPorts;
    for (let k = 0; k < all.length; k++) {
      const port = all[k];
      const n = port.txCount;
      if (n === 0) continue;
      const ids = port.txIds;
      let total = 0;
      for (let i = 0; i < n; i++) for (let s = ids[i] as number; s >= 0; s = next[s]) total++;
      if (total === n) continue;
      let w = total;
      for (let i = n - 1; i >= 0; i--) {
        const head = ids[i];
        let c = 0;
        for (let s = head as number; s >= 0; s = next[s]) c++;
        w -= c;
        let s = head as number;
        for (let j = 0; j < c; j++, s = next[s]) ids[w + j] = s;
      }
      port.txCount = total;
    }
  }

  private flush(): void {
    const v = this.counters.v;
    const vlan = this.vlan;
    const all = this.allPorts;
    const len = this.pool.len;
    for (let k = 0; k < all.length; k++) {
      const port = all[k];
      const n = port.txCount;
      if (n === 0) continue;
      port.txCount = 0;
      let sent: number;
      let bytes = 0;
      if (vlan.aware && vlan.txTagged[port.index] === 1) {
        bytes = this.sendTagged(port, n);
        sent = this.taggedSent;
      } else {
        sent = port.io.send(this.pool, port.txIds, n);
        for (let i = 0; i < sent; i++) bytes += len[port.txIds[i]];
      }
      const base = CounterBlock.port(port.index);
      v[base + PF.txPackets] += sent;
      v[base + PF.txBytes] += bytes;
      if (sent < n) {
        v[base + PF.txErrors] += n - sent;
        v[base + PF_DROPS + TX_ERROR] += n - sent;
      }
    }
  }

  private taggedSent = 0;

  /**
   * Send to a trunk-like port: each frame whose VLAN is not the port's untagged one gets its tag pushed
   * in place just before the send and popped right after (a slot may go to several ports, each with its
   * own tagging). Returns the bytes sent (tags included); the frame count in `taggedSent`.
   */
  private sendTagged(port: EnginePort, n: number): number {
    const pool = this.pool;
    const ids = port.txIds;
    const pushed = this.tagPushed;
    const untagged = this.vlan.txUntaggedVlan[port.index];
    const vlanOf = pool.vlan;
    const tags = this.tags;
    for (let i = 0; i < n; i++) {
      const vid = vlanOf[ids[i]];
      pushed[i] = vid !== 0 && vid !== untagged && tags.push(ids[i], vid) ? 1 : 0;
    }
    const sent = port.io.send(pool, ids, n);
    let bytes = 0;
    for (let i = 0; i < sent; i++) bytes += pool.len[ids[i]];
    for (let i = 0; i < n; i++) if (pushed[i] === 1) tags.pop(ids[i]);
    this.taggedSent = sent;
    return bytes;
  }

  private free(batch: Batch): void {
    const v = this.counters.v;
    const pool = this.pool;
    const dropBase = CounterBlock.port(batch.inPort >= 0 ? batch.inPort : ORIGINATED) + PF_DROPS;
    // segments go with their head (a drop counts once, for the head); free slots keep next = -1
    const chained = pool.chained;
    for (let i = 0; i < batch.count; i++) {
      const r = batch.reason[i];
      if (r !== 0) v[dropBase + r]++;
      if (chained) pool.releaseChain(batch.ids[i]);
      else pool.release(batch.ids[i]);
    }
    pool.chained = false;
    batch.count = 0;
  }
}
