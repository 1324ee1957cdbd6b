/**
 * Bandwidth (Hyper-V's MaximumBandwidth, MaximumBandwidthBurst and MinimumBandwidthWeight), at the
 * miniport edge (Hyper-V's place for QoS; destinations are known there):
 *
 * - Maximum: a token bucket per port over the bytes the VM SENDS (Hyper-V limits the VM's outbound
 *   traffic). Frames beyond it are dropped (reason bandwidth-limit, bytes counted in the port's
 *   bandwidthDroppedBytes): the engine keeps no frame across breaths, so this is a policer.
 * - Minimum weight: the contended egress is the external switch's uplink, whose capacity is the
 *   switch setting `uplinkBandwidth` (a veth or a fast NIC has no capacity we could observe). Every
 *   TICK seconds each worker measures what every port offered toward the uplink and divides its part
 *   of the capacity by weighted max-min fairness (fair-share.ts) among the ACTIVE ports (offered
 *   something in the last ACTIVE_WINDOW): ports with a weight by weight, the ports without one
 *   together as Hyper-V's "default flow" (weight DEFAULT_FLOW_WEIGHT), among them equally. A port's
 *   demand is its recent peak rate (decaying by PEAK_DECAY a tick) times GROWTH (room to grow);
 *   what a port leaves unused is lent to the others, but no active port is held below its
 *   guarantee (its weighted share), so it can take that back at once. Each port's
 *   uplink-bound frames are policed by a bucket at its share. An idle port has no rate, only a bucket
 *   of IDLE_BURST bytes; its first frame makes it active and recomputes the shares at once.
 *
 * Time: one clock read per batch (performance.now(); the breath's `now` is whole seconds).
 */
import { DropReason } from '../../core/drop-reasons.js';
import { DstMode, DST_WORDS, type Batch } from '../../core/batch.js';
import type { FramePool } from '../../core/frame-pool.js';
import { MAX_FRAME } from '../../core/frame-pool.js';
import { MAX_PORTS_PER_SWITCH, type PortSettings } from '../../config/types.js';
import type { PolicyHook } from '../../pipeline/policies.js';
import { PolicyCounters, PPF } from '../counters.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, SwitchPolicyInput } from '../runtime.js';
import { weightedFairShare } from './fair-share.js';
import { PortBuckets } from './token-bucket.js';

/** seconds of tokens the default burst holds (measured: see docs/POLICIES.md "Bandwidth") */
export const DEFAULT_BURST_SECONDS = 0.3;
/** the least depth of a bucket: four of the largest (GSO) frames, so a TCP window of them passes */
export const MIN_BURST_BYTES = 4 * MAX_FRAME;
/** how often the weighted shares are recomputed (seconds) */
export const TICK = 0.1;
/** a port's measured demand is raised by this factor, so a port below its share can grow */
export const GROWTH = 1.5;
/** and to at least this part of the capacity */
export const MIN_DEMAND_FRACTION = 0.02;
/** a port's peak rate decays by this factor per tick without a higher measurement */
export const PEAK_DECAY = 0.95;
/** a port that offered nothing for this long (seconds) is idle: its share goes to the others */
export const ACTIVE_WINDOW = 0.3;
/** the weight of the ports without one, together (Hyper-V's default flow) */
export const DEFAULT_FLOW_WEIGHT = 1;
/** the tokens an idle port holds (its first frame makes it active and gives it its share) */
export const IDLE_BURST = 2 * MAX_FRAME;

/** the bucket depth for a rate (bytes/s) and a configured burst (bytes; 0/absent = default) */
export function bucketDepth(bytesPerSecond: number, burst: number | undefined): number {
  // a configured burst below the largest frame is raised to it: such a frame could never pass
  if (burst !== undefined && burst > 0) return Math.max(burst, MAX_FRAME);
  return Math.max(bytesPerSecond * DEFAULT_BURST_SECONDS, MIN_BURST_BYTES);
}

/** the clock (seconds); tests replace it */
export const bandwidthClock = { now: (): number => performance.now() / 1000 };

const DEFAULT_FLOW = MAX_PORTS_PER_SWITCH;

function uplinkIndex(input: SwitchPolicyInput): number {
  const up = input.ports.find((p) => p.kind === 'external');
  return up ? up.index : -1;
}

function weightsOn(input: SwitchPolicyInput): boolean {
  return (input.uplinkBandwidth ?? 0) > 0 && uplinkIndex(input) >= 0;
}

const mbit = (bps: number): string => `${+(bps / 1e6).toPrecision(4)} Mbit/s`;

export class BandwidthPolicy implements PolicyModuleInstance, PolicyHook {
  readonly name = 'bandwidth';
  private readonly env: PolicyEnv;
  readonly max = new PortBuckets();
  readonly share = new PortBuckets();
  /** 1: port p has a maximum */
  private readonly limited = new Uint8Array(MAX_PORTS_PER_SWITCH);
  /** 1: port p's uplink-bound frames are policed by its share */
  private readonly shared = new Uint8Array(MAX_PORTS_PER_SWITCH);
  private readonly applies = new Uint8Array(MAX_PORTS_PER_SWITCH);
  private readonly known = new Uint8Array(MAX_PORTS_PER_SWITCH);
  /** configured weight per port; index DEFAULT_FLOW is the default flow */
  private readonly weight = new Float64Array(MAX_PORTS_PER_SWITCH + 1);
  /** bytes offered toward the uplink since the last tick */
  readonly offered = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly demand = new Float64Array(MAX_PORTS_PER_SWITCH + 1);
  /** per port toward the uplink: active (1/0), last offered at, peak rate (bytes/s) */
  private readonly active = new Uint8Array(MAX_PORTS_PER_SWITCH);
  private readonly lastOffered = new Float64Array(MAX_PORTS_PER_SWITCH);
  readonly peak = new Float64Array(MAX_PORTS_PER_SWITCH);
  readonly allocation = new Float64Array(MAX_PORTS_PER_SWITCH + 1);
  /** each port's share toward the uplink now (bytes/s) */
  readonly rate = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly done = new Uint8Array(MAX_PORTS_PER_SWITCH + 1);
  private readonly unitWeight = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly dfDemand = new Float64Array(MAX_PORTS_PER_SWITCH);
  private readonly dfAllocation = new Float64Array(MAX_PORTS_PER_SWITCH);
  /** the ports policed toward the uplink, and how many */
  private readonly sharedPorts = new Int32Array(MAX_PORTS_PER_SWITCH);
  private sharedCount = 0;
  private uplink = -1;
  private uplinkWord = 0;
  private uplinkBit = 0;
  /** this worker's part of the uplink capacity, bytes/s */
  capacity = 0;
  private tickStart = -1;
  private readonly maxNote: string[] = new Array<string>(MAX_PORTS_PER_SWITCH).fill('');
  private readonly shareNote: string[] = new Array<string>(MAX_PORTS_PER_SWITCH).fill('');

  constructor(env: PolicyEnv) {
    this.env = env;
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    const now = bandwidthClock.now();
    const on = weightsOn(input);
    this.uplink = on ? uplinkIndex(input) : -1;
    this.uplinkWord = this.uplink >>> 5;
    this.uplinkBit = 1 << (this.uplink & 31);
    this.capacity = on ? (input.uplinkBandwidth ?? 0) / 8 / Math.max(1, this.env.workerCount) : 0;
    const wasKnown = this.known.slice();
    const wasLimited = this.limited.slice();
    const wasShared = this.shared.slice();
    this.known.fill(0);
    this.limited.fill(0);
    this.shared.fill(0);
    this.applies.fill(0);
    this.weight.fill(0);
    this.sharedCount = 0;
    let any = false;
    for (const p of input.ports) {
      const s: PortSettings = p.settings;
      const i = p.index;
      this.known[i] = 1;
      const fresh = wasKnown[i] === 0;
      const bps = s.maximumBandwidth ?? 0;
      if (bps > 0) {
        this.limited[i] = 1;
        this.max.set(i, bps / 8, bucketDepth(bps / 8, s.maximumBandwidthBurst), now, fresh || wasLimited[i] === 0);
        this.maxNote[i] = `maximum bandwidth ${p.name} ${mbit(bps)}`;
      }
      if (on && i !== this.uplink) {
        this.shared[i] = 1;
        this.sharedPorts[this.sharedCount++] = i;
        this.weight[i] = s.minimumBandwidthWeight ?? 0;
        this.shareNote[i] = this.weight[i] > 0
          ? `bandwidth weight ${p.name} ${this.weight[i]}: share of uplink ${mbit(input.uplinkBandwidth ?? 0)}`
          : `bandwidth ${p.name} default flow: share of uplink ${mbit(input.uplinkBandwidth ?? 0)}`;
        if (fresh || wasShared[i] === 0) {
          this.share.set(i, 0, IDLE_BURST, now, true);
          this.offered[i] = 0;
          this.active[i] = 0;
          this.peak[i] = 0;
        }
      }
      if (this.limited[i] === 1 || this.shared[i] === 1) {
        this.applies[i] = 1;
        any = true;
      }
    }
    this.weight[DEFAULT_FLOW] = DEFAULT_FLOW_WEIGHT;
    if (on) {
      if (this.tickStart < 0) this.tickStart = now;
      this.allocate(now);
    }
    return any ? [{ stage: 'miniport', hook: this }] : [];
  }

  appliesTo(batch: Batch): boolean {
    return batch.inPort >= 0 && this.applies[batch.inPort] === 1;
  }

  process(batch: Batch, pool: FramePool, _ctx: unknown): void {
    const p = batch.inPort;
    const now = bandwidthClock.now();
    const limited = this.limited[p] === 1;
    const shared = this.shared[p] === 1;
    if (shared) {
      if (now - this.tickStart >= TICK) this.measureShares(now);
      if (this.active[p] === 0) {
        // an idle port starts sending: it gets its share now, not at the next tick
        this.active[p] = 1;
        this.lastOffered[p] = now;
        this.allocate(now);
      }
    }
    if (limited) this.max.fill(p, now);
    if (shared) this.share.fill(p, now);
    const trace = this.env.trace;
    const real = !trace.synthetic;
    const up = this.uplink;
    const maxTokens = this.max.tokens;
    const shareTokens = this.share.tokens;
    let dropped = 0;
    let offered = 0;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const len = pool.len[batch.ids[i]];
      if (limited && maxTokens[p] < len) {
        batch.drop(i, DropReason['bandwidth-limit']);
        dropped += len;
        if (trace.on) trace.note(i, this.maxNote[p]);
        continue;
      }
      if (shared) {
        const mode = batch.dstMode[i];
        const toUplink = mode === DstMode.unicast ? batch.dstPort[i] === up
          : mode === DstMode.flood ? true
            : mode === DstMode.set ? (batch.dstSet[i * DST_WORDS + this.uplinkWord] & this.uplinkBit) !== 0 : false;
        if (toUplink && !batch.isExcluded(i, up)) {
          offered += len;
          if (shareTokens[p] >= len) { if (real) shareTokens[p] -= len; }
          else {
            if (trace.on) trace.note(i, this.shareNote[p]);
            dropped += len;
            // a frame for the uplink only is dropped; a flood keeps its other destinations
            if (mode === DstMode.unicast) {
              batch.drop(i, DropReason['bandwidth-limit']);
              continue;
            }
            batch.excludeDestination(i, up);
          }
        }
      }
      if (limited && real) maxTokens[p] -= len;
    }
    if (!real) return; // a synthetic trace frame is judged against the buckets, never charged to them
    if (offered > 0) this.offered[p] += offered;
    if (dropped > 0) this.env.policyCounters.v[PolicyCounters.port(p) + PPF.bandwidthDroppedBytes] += dropped;
  }

  /**
   * Measure what every port offered since the last tick, then recompute the shares. (Not the
   * runtime's once-a-second `tick`: that one has whole seconds of wall-clock time, this runs on the
   * per-batch fine clock.)
   */
  measureShares(now: number): void {
    const dt = now - this.tickStart;
    this.tickStart = now;
    if (dt <= 0) return;
    for (let k = 0; k < this.sharedCount; k++) {
      const p = this.sharedPorts[k];
      const rate = this.offered[p] / dt;
      this.offered[p] = 0;
      if (rate > 0) this.lastOffered[p] = now;
      const decayed = this.peak[p] * PEAK_DECAY;
      this.peak[p] = rate > decayed ? rate : decayed;
      if (this.active[p] === 1 && now - this.lastOffered[p] > ACTIVE_WINDOW) {
        this.active[p] = 0;
        this.peak[p] = 0;
      }
    }
    this.allocate(now);
  }

  /**
   * Divide the capacity among the active ports (fair-share.ts) and set their buckets: an active port
   * its share (bucket of the default depth for it), an idle one no rate and a full IDLE_BURST bucket.
   */
  allocate(now: number): void {
    const c = this.capacity;
    const floor = c * MIN_DEMAND_FRACTION;
    let dfDemand = 0;
    let dfActive = 0;
    let activeWeight = 0;
    for (let k = 0; k < this.sharedCount; k++) {
      const p = this.sharedPorts[k];
      const want = this.active[p] === 0 ? 0 : Math.max(this.peak[p] * GROWTH, floor);
      if (this.weight[p] > 0) {
        this.demand[p] = want;
        this.dfDemand[p] = 0;
        if (want > 0) activeWeight += this.weight[p];
      } else {
        this.demand[p] = 0;
        this.dfDemand[p] = want;
        this.unitWeight[p] = 1;
        dfDemand += want;
        if (want > 0) dfActive++;
      }
    }
    this.demand[DEFAULT_FLOW] = dfDemand;
    if (dfActive > 0) activeWeight += DEFAULT_FLOW_WEIGHT;
    // what the ports use is divided by weight, what some leave unused is lent to the others ...
    weightedFairShare(MAX_PORTS_PER_SWITCH + 1, this.weight, this.demand, c, this.allocation, this.done);
    // ... but no active port is held below its guarantee (its weighted share of the capacity), so a
    // port that uses little can take its share back at once (the uplink may be over by what it had
    // lent until the next tick); a policed TCP flow is never pinned below its guarantee
    const dfCap = dfActive > 0 ? Math.max(this.allocation[DEFAULT_FLOW], (c * DEFAULT_FLOW_WEIGHT) / activeWeight) : 0;
    weightedFairShare(MAX_PORTS_PER_SWITCH, this.unitWeight, this.dfDemand, dfCap, this.dfAllocation, this.done);
    for (let k = 0; k < this.sharedCount; k++) {
      const p = this.sharedPorts[k];
      let rate = 0;
      if (this.active[p] === 1) {
        rate = this.weight[p] > 0
          ? Math.max(this.allocation[p], (c * this.weight[p]) / activeWeight)
          : Math.max(this.dfAllocation[p], dfCap / dfActive);
      }
      this.rate[p] = rate;
      this.share.fill(p, now);
      if (rate > 0) this.share.set(p, rate, bucketDepth(rate, undefined), now, false);
      else this.share.set(p, 0, IDLE_BURST, now, true);
    }
    this.unitWeight.fill(0);
  }
}

export const bandwidthModule: PolicyModule = {
  name: 'bandwidth',
  stages: ['miniport'],
  summary(input: SwitchPolicyInput): string[] {
    const on = weightsOn(input);
    const up = uplinkIndex(input);
    const out: string[] = [];
    for (const p of input.ports) {
      const parts: string[] = [];
      const bps = p.settings.maximumBandwidth ?? 0;
      if (bps > 0) {
        const depth = bucketDepth(bps / 8, p.settings.maximumBandwidthBurst);
        parts.push(`maximum ${mbit(bps)} (burst ${Math.round(depth)} bytes), excess dropped`);
      }
      if (on && p.index !== up) {
        const w = p.settings.minimumBandwidthWeight ?? 0;
        parts.push(w > 0 ? `weight ${w} of uplink ${mbit(input.uplinkBandwidth ?? 0)}` : `default flow of uplink ${mbit(input.uplinkBandwidth ?? 0)}`);
      }
      if (parts.length > 0) out.push(`${p.name}: ${parts.join('; ')}`);
    }
    return out;
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new BandwidthPolicy(env);
  },
};
