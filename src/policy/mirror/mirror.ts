/**
 * Port mirroring (Hyper-V's `Set-VMNetworkAdapter -PortMirroring None|Source|Destination`): every
 * frame a source port sends or receives is also delivered to every destination-mode port of the
 * same switch, unaltered. Placed at the miniport edge, after forwarding, as Hyper-V adds mirror
 * destinations there whichever forwarding extension decided: a frame whose source port is a mirror
 * source, or whose destinations include one, gets the destination-mode ports added to its
 * destinations. The same frame slot goes to every port (the engine fans one slot out), so the copy
 * is the original, byte for byte. A port never receives a frame it sent itself.
 *
 * Mirror copies are not filtered by the destination port's VLAN or inbound ACLs (monitoring mode):
 * the egress policies that could exclude a port ask `mirrorMarks(env).exempt(i, port)` first
 * (docs/POLICIES.md, "Port mirroring").
 */
import { DST_WORDS, DstMode, type Batch } from '../../core/batch.js';
import type { FramePool } from '../../core/frame-pool.js';
import type { BreathContext } from '../../core/stage.js';
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';
import { PolicyCounters, PPF } from '../counters.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, SwitchPolicyInput } from '../runtime.js';
import type { PolicyHook } from '../../pipeline/policies.js';

/**
 * Which frames of the batch in flight were mirrored, for the egress policies of the same worker.
 * Valid from the miniport stage to the end of the batch; reset at the next batch's miniport stage.
 */
export class MirrorMarks {
  /** 1 for each port whose portMirroring is 'destination' */
  readonly isDestination = new Uint8Array(MAX_PORTS_PER_SWITCH);
  /** per frame of the current batch: 1 when mirror destinations were added to it */
  readonly mirrored: Uint8Array;
  /** true while `mirrored` describes the batch in flight */
  active = false;

  constructor(batchSize: number) {
    this.mirrored = new Uint8Array(batchSize);
  }

  /**
   * true when `port` receives frame i as a mirror copy: an egress policy must then leave that
   * destination alone (no VLAN filtering, no inbound ACL on a monitoring port)
   */
  exempt(i: number, port: number): boolean {
    return this.active && this.mirrored[i] === 1 && this.isDestination[port] === 1;
  }
}

const marksByEnv = new WeakMap<PolicyEnv, MirrorMarks>();

/** the mirror marks of one worker (every policy module of a worker gets the same env) */
export function mirrorMarks(env: PolicyEnv): MirrorMarks {
  let m = marksByEnv.get(env);
  if (m === undefined) {
    m = new MirrorMarks(env.batchSize);
    marksByEnv.set(env, m);
  }
  return m;
}

class MirrorHook implements PolicyHook {
  readonly name = 'port mirroring';
  /** 1 for each mirror source port */
  readonly isSource = new Uint8Array(MAX_PORTS_PER_SWITCH);
  /** the source ports as a destination bitset (a SET destination meets a source: one AND per word) */
  readonly sourceBits = new Uint32Array(DST_WORDS);
  /** the destination-mode ports as a bitset */
  readonly destBits = new Uint32Array(DST_WORDS);
  /** the destination-mode ports */
  dests = new Int32Array(0);
  /** trace word per destination set, e.g. "port mirroring: copy to mon1" */
  word = '';
  private readonly env: PolicyEnv;
  private readonly marks: MirrorMarks;

  constructor(env: PolicyEnv, marks: MirrorMarks) {
    this.env = env;
    this.marks = marks;
  }

  appliesTo(_batch: Batch): boolean {
    // the marks describe this batch from here on (process fills them)
    this.marks.active = true;
    return true;
  }

  process(batch: Batch, _pool: FramePool, _ctx: BreathContext): void {
    const marks = this.marks;
    const mirrored = marks.mirrored;
    const n = batch.count;
    mirrored.fill(0, 0, n);
    const isSource = this.isSource;
    const src = batch.inPort;
    const fromSource = src >= 0 && isSource[src] === 1;
    const attached = this.env.presence.attached;
    for (let i = 0; i < n; i++) {
      if (batch.reason[i] !== 0) continue;
      const mode = batch.dstMode[i];
      if (mode === DstMode.none) continue;
      let hit = fromSource;
      if (!hit) {
        if (mode === DstMode.unicast) hit = isSource[batch.dstPort[i]] === 1;
        else if (mode === DstMode.flood) hit = this.floodReachesSource(src, attached);
        else {
          const base = i * DST_WORDS;
          for (let w = 0; w < DST_WORDS && !hit; w++) hit = (batch.dstSet[base + w] & this.sourceBits[w]) !== 0;
        }
      }
      if (hit) this.addDestinations(batch, i, mode, src, attached);
    }
  }

  private floodReachesSource(src: number, attached: Uint8Array): boolean {
    const bits = this.sourceBits;
    for (let w = 0; w < DST_WORDS; w++) {
      let b = bits[w];
      while (b !== 0) {
        const p = (w << 5) + (31 - Math.clz32(b & -b));
        b &= b - 1;
        if (p !== src && attached[p] === 1) return true;
      }
    }
    return false;
  }

  private addDestinations(batch: Batch, i: number, mode: number, src: number, attached: Uint8Array): void {
    const base = i * DST_WORDS;
    if (mode === DstMode.unicast) {
      const to = batch.dstPort[i];
      batch.dstSet.fill(0, base, base + DST_WORDS);
      batch.dstSet[base + (to >>> 5)] |= 1 << (to & 31);
      batch.dstMode[i] = DstMode.set;
    }
    const isSet = batch.dstMode[i] === DstMode.set;
    const v = this.env.policyCounters.v;
    const dests = this.dests;
    let copies = 0;
    for (let k = 0; k < dests.length; k++) {
      const d = dests[k];
      if (d === src || attached[d] !== 1) continue;
      const bit = 1 << (d & 31);
      if (isSet) batch.dstSet[base + (d >>> 5)] |= bit;
      // an exclusion made before the miniport edge does not apply to a monitoring copy
      if (batch.hasExclusions) batch.exclude[base + (d >>> 5)] &= ~bit;
      if (!this.env.trace.synthetic) v[PolicyCounters.port(d) + PPF.mirrorCopies]++;
      copies++;
    }
    if (copies > 0) {
      this.marks.mirrored[i] = 1;
      if (this.env.trace.on) this.env.trace.note(i, this.word);
    }
  }
}

class MirrorInstance implements PolicyModuleInstance {
  private readonly hook: MirrorHook;
  private readonly marks: MirrorMarks;

  constructor(env: PolicyEnv) {
    this.marks = mirrorMarks(env);
    this.hook = new MirrorHook(env, this.marks);
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    const h = this.hook;
    const marks = this.marks;
    h.isSource.fill(0);
    h.sourceBits.fill(0);
    h.destBits.fill(0);
    marks.isDestination.fill(0);
    marks.active = false;
    const dests: number[] = [];
    const names: string[] = [];
    let sources = 0;
    for (const p of input.ports) {
      const m = p.settings.portMirroring;
      if (m === 'source') {
        h.isSource[p.index] = 1;
        h.sourceBits[p.index >>> 5] |= 1 << (p.index & 31);
        sources++;
      } else if (m === 'destination') {
        marks.isDestination[p.index] = 1;
        h.destBits[p.index >>> 5] |= 1 << (p.index & 31);
        dests.push(p.index);
        names.push(p.name);
      }
    }
    h.dests = Int32Array.from(dests);
    h.word = `port mirroring: copy to ${names.join(', ')}`;
    // nothing to copy without both ends: no hook, no cost
    if (sources === 0 || dests.length === 0) return [];
    return [{ stage: 'miniport', hook: h }];
  }
}

export const mirrorPolicy: PolicyModule = Object.freeze({
  name: 'mirror',
  stages: Object.freeze(['miniport'] as const),
  summary(input: SwitchPolicyInput): string[] {
    const sources = input.ports.filter((p) => p.settings.portMirroring === 'source').map((p) => p.name);
    const dests = input.ports.filter((p) => p.settings.portMirroring === 'destination').map((p) => p.name);
    const out: string[] = [];
    for (const s of sources) out.push(`${s}: port mirroring source → ${dests.length > 0 ? dests.join(', ') : '(no destination port)'}`);
    for (const d of dests) out.push(`${d}: port mirroring destination${sources.length === 0 ? ' (no source port)' : ''}`);
    return out;
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new MirrorInstance(env);
  },
});
