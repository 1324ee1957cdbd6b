/**
 * Extended port ACLs (Add-VMNetworkAdapterExtendedAcl; REFERENCE §1.4, rules 3, 4, 10).
 *
 * Outbound entries judge what a VM port sends, at 'ingress-policies' (local = the source address and
 * port); inbound entries judge what it receives, at 'egress-policies', once per destination port that
 * has entries (local = the destination): a denied frame is not delivered to that port (counted as its
 * extendedAclInboundDenied) and is dropped as `extended-acl` if it had no other destination.
 * Larger weight first, first match final; no match allows (no implicit deny).
 *
 * Stateful allow entries create a flow state (flow-table.ts, shared by the switch's workers) keyed by
 * the port and the normalised 5-tuple, so the reply direction passes even a catch-all deny. Before
 * the entries, a frame with a live state passes and refreshes it. A full table still lets the
 * matching frame through but creates no state (counted as flowTableFull).
 *
 * Only IPv4 and IPv6 are judged: ARP and other EtherTypes pass, and so do IPv6 router and neighbour
 * discovery (ICMPv6 133..136), IPv6's ARP, so a "deny all inbound" leaves the VM reachable at L2.
 */
import type { ExtendedAcl } from '../../config/types.js';
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';
import type { Batch } from '../../core/batch.js';
import { DST_WORDS, DstMode } from '../../core/batch.js';
import { DropReason } from '../../core/drop-reasons.js';
import type { FramePool } from '../../core/frame-pool.js';
import type { BreathContext } from '../../core/stage.js';
import { FiveTuple, s32, TupleKind } from '../../packet/five-tuple.js';
import type { PolicyHook } from '../../pipeline/policies.js';
import { PPF, PolicyCounters } from '../counters.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, SwitchPolicyInput } from '../runtime.js';
import { FlowTable, InsertResult, KEY_WORDS } from './flow-table.js';
import { RuleSet, UNKNOWN_PROTO, validateExtendedAcls } from './rules.js';

export { validateExtendedAcls, DEFAULT_IDLE_SESSION_TIMEOUT } from './rules.js';

const EXTENDED_ACL = DropReason['extended-acl'];

/** every port's compiled entries; built per configure, never changed after (hooks hold one) */
class PortRules {
  readonly inbound: (RuleSet | null)[] = new Array<RuleSet | null>(MAX_PORTS_PER_SWITCH).fill(null);
  readonly outbound: (RuleSet | null)[] = new Array<RuleSet | null>(MAX_PORTS_PER_SWITCH).fill(null);
  /**
   * 1: frames the port receives are looked at (it has inbound entries, or stateful ones whose states
   * inbound traffic refreshes); `sends` the same for frames it sends
   */
  readonly has = new Uint8Array(MAX_PORTS_PER_SWITCH);
  readonly sends = new Uint8Array(MAX_PORTS_PER_SWITCH);
  /** 1: the port has a stateful entry (only then are flow states looked up for it) */
  readonly stateful = new Uint8Array(MAX_PORTS_PER_SWITCH);
  /** the ports with `has`, ascending */
  readonly ports: Int32Array;
  anySends = false;

  constructor(input: SwitchPolicyInput) {
    const with_: number[] = [];
    for (const p of input.ports) {
      const list = p.settings.extendedAcls;
      if (list === undefined || list.length === 0) continue;
      const field = 'extendedAcls';
      const acls: ExtendedAcl[] = validateExtendedAcls(list, field);
      this.inbound[p.index] = new RuleSet(p.name, acls, true, field);
      this.outbound[p.index] = new RuleSet(p.name, acls, false, field);
      const stateful = acls.some((e) => e.stateful === true);
      this.stateful[p.index] = stateful ? 1 : 0;
      this.has[p.index] = stateful || this.inbound[p.index]!.all.length > 0 ? 1 : 0;
      this.sends[p.index] = stateful || this.outbound[p.index]!.all.length > 0 ? 1 : 0;
      if (this.has[p.index] === 1) with_.push(p.index);
      if (this.sends[p.index] === 1) this.anySends = true;
    }
    this.ports = Int32Array.from(with_.sort((a, b) => a - b));
  }
}

/** what both hooks of one worker share: the frame reader, the key scratch, the table, counters */
class Judge {
  readonly f = new FiveTuple();
  readonly key = new Int32Array(KEY_WORDS);
  /**
   * The last state this worker found or made, and when (the breath's second): a frame of the same
   * flow in the same second passes without a table lookup (its state was refreshed at `lastNow`, so
   * it is live; only a port flush could remove it, and configure() forgets this first).
   */
  readonly lastKey = new Int32Array(KEY_WORDS);
  lastNow = -1;
  readonly table: FlowTable;
  readonly env: PolicyEnv;
  readonly pc: Float64Array;

  constructor(env: PolicyEnv) {
    this.env = env;
    this.table = new FlowTable(env.shared.flows);
    this.pc = env.policyCounters.v;
  }

  /**
   * Put port p's flow key for the frame in `key`; false if the frame cannot have a state (not IP or
   * its header unreadable, a non-first fragment, a TCP/UDP/ICMP header cut short). ICMP echo
   * request and reply are keyed by their identifier (both "ports"); other ICMP types and other
   * protocols by the addresses alone.
   */
  flowKey(p: number): boolean {
    const f = this.f;
    const k = this.key;
    if (f.kind !== TupleKind.ip || f.proto < 0 || f.laterFragment) return false;
    let sp = 0;
    let dp = 0;
    if (f.proto === 6 || f.proto === 17) {
      if (!f.hasPorts) return false;
      sp = f.srcPort;
      dp = f.dstPort;
    } else if ((f.proto === 1 && f.family === 4) || (f.proto === 58 && f.family === 6)) {
      if (!f.hasIcmp) return false;
      const t = f.icmpType;
      if (f.family === 4 ? t === 8 || t === 0 : t === 128 || t === 129) { sp = f.icmpId; dp = f.icmpId; }
    }
    k[0] = (0x80000000 | (p << 16) | (f.family << 8) | f.proto) | 0;
    // order the two ends (address, port) so both directions give one key
    const words = f.family === 4 ? 1 : 4;
    let c = 0;
    for (let w = 0; w < words && c === 0; w++) {
      const s = f.srcWord(w);
      const d = f.dstWord(w);
      c = s === d ? 0 : (s >>> 0) < (d >>> 0) ? -1 : 1;
    }
    if (c === 0) c = sp <= dp ? -1 : 1;
    k[1] = c < 0 ? (sp << 16) | dp : (dp << 16) | sp;
    const a = c < 0 ? f.srcOff : f.dstOff;
    const z = c < 0 ? f.dstOff : f.srcOff;
    const b = f.bytes;
    for (let w = 0; w < 4; w++) {
      k[2 + w] = w < words ? s32(b, a + 4 * w) : 0;
      k[6 + w] = w < words ? s32(b, z + 4 * w) : 0;
    }
    return true;
  }

  private sameAsLast(): boolean {
    const k = this.key;
    const l = this.lastKey;
    return k[0] === l[0] && k[1] === l[1] && k[2] === l[2] && k[6] === l[6] && k[3] === l[3] && k[4] === l[4] &&
      k[5] === l[5] && k[7] === l[7] && k[8] === l[8] && k[9] === l[9];
  }

  private remember(now: number): void {
    this.lastKey.set(this.key);
    this.lastNow = now;
  }

  /** IPv6 router and neighbour discovery (ICMPv6 133..136): never judged */
  discovery(): boolean {
    const f = this.f;
    return f.family === 6 && f.proto === 58 && f.hasIcmp && f.icmpType >= 133 && f.icmpType <= 136;
  }

  /**
   * Judge the frame (already read into f) for port p's entries of one direction: true = pass.
   * `stateful` = the port has stateful entries (look up / create states).
   */
  judge(p: number, set: RuleSet | null, stateful: boolean, now: number, i: number): boolean {
    const keyed = stateful && this.flowKey(p);
    if (keyed) {
      if (now === this.lastNow && this.sameAsLast()) return true;
      if (this.table.touch(this.key, now)) { this.remember(now); return true; }
    }
    if (set === null) return true;
    const proto = this.f.proto;
    const rules = set.byProto[proto < 0 ? UNKNOWN_PROTO : proto];
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r];
      if (!rule.matches(this.f)) continue;
      if (!rule.allow) {
        if (this.env.trace.on) this.env.trace.note(i, rule.label);
        return false;
      }
      // a synthetic trace frame is never sent: it opens no state for replies
      if (rule.stateful && keyed && !this.env.trace.synthetic) {
        const res = this.table.insert(this.key, now, rule.timeout);
        if (res === InsertResult.full) this.pc[PolicyCounters.port(p) + PPF.flowTableFull]++;
        else {
          if (res === InsertResult.created) this.pc[PolicyCounters.port(p) + PPF.flowsCreated]++;
          this.remember(now);
        }
      }
      return true;
    }
    return true;
  }
}

/** outbound entries of the batch's source port, at 'ingress-policies' */
class OutboundHook implements PolicyHook {
  readonly name = 'extended-acl';
  private readonly j: Judge;
  private readonly rules: PortRules;

  constructor(j: Judge, rules: PortRules) {
    this.j = j;
    this.rules = rules;
  }

  appliesTo(batch: Batch): boolean {
    return batch.inPort >= 0 && this.rules.sends[batch.inPort] === 1;
  }

  process(batch: Batch, pool: FramePool, ctx: BreathContext): void {
    const p = batch.inPort;
    const j = this.j;
    const rules = this.rules.outbound[p];
    const stateful = this.rules.stateful[p] === 1;
    const now = ctx.now;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const id = batch.ids[i];
      if (j.f.read(pool.bytes, pool.dataOffset(id), pool.len[id]) === TupleKind.notIp || j.discovery()) continue;
      if (!j.judge(p, rules, stateful, now, i)) batch.drop(i, EXTENDED_ACL);
    }
  }
}

/** inbound entries of each destination port that has entries, at 'egress-policies' */
class InboundHook implements PolicyHook {
  readonly name = 'extended-acl';
  private readonly j: Judge;
  private readonly rules: PortRules;

  constructor(j: Judge, rules: PortRules) {
    this.j = j;
    this.rules = rules;
  }

  appliesTo(batch: Batch): boolean {
    return batch.count > 0;
  }

  /** is port d among frame i's destinations (and not excluded yet)? */
  private isDestination(batch: Batch, i: number, d: number): boolean {
    const mode = batch.dstMode[i];
    if (mode === DstMode.unicast) return batch.dstPort[i] === d && !batch.isExcluded(i, d);
    if (mode === DstMode.flood) {
      const pr = this.j.env.presence;
      return d !== batch.inPort && pr.attached[d] === 1 && (pr.linkDown === null || pr.linkDown[d] === 0) && !batch.isExcluded(i, d);
    }
    if (mode === DstMode.set) return (batch.dstSet[i * DST_WORDS + (d >>> 5)] & (1 << (d & 31))) !== 0 && !batch.isExcluded(i, d);
    return false;
  }

  /** does frame i still have a destination the fan-out would send to? (only after an exclusion) */
  private anyDestination(batch: Batch, i: number): boolean {
    const mode = batch.dstMode[i];
    if (mode === DstMode.unicast) return !batch.isExcluded(i, batch.dstPort[i]);
    const pr = this.j.env.presence;
    for (let d = 0; d < pr.attached.length; d++) {
      if (pr.attached[d] === 1 && this.isDestination(batch, i, d)) return true;
    }
    return false;
  }

  process(batch: Batch, pool: FramePool, ctx: BreathContext): void {
    const j = this.j;
    const r = this.rules;
    const ports = r.ports;
    const now = ctx.now;
    const pc = j.pc;
    const has = r.has;
    for (let i = 0; i < batch.count; i++) {
      const mode = batch.dstMode[i];
      if (batch.reason[i] !== 0 || mode === DstMode.none) continue;
      if (mode === DstMode.unicast) {
        // the common case: one destination, judged alone (and dropped when denied: it was the only one)
        const d = batch.dstPort[i];
        if (has[d] !== 1 || (batch.hasExclusions && batch.isExcluded(i, d))) continue;
        const id = batch.ids[i];
        if (j.f.read(pool.bytes, pool.dataOffset(id), pool.len[id]) === TupleKind.notIp || j.discovery()) continue;
        if (j.judge(d, r.inbound[d], r.stateful[d] === 1, now, i)) continue;
        batch.excludeDestination(i, d);
        pc[PolicyCounters.port(d) + PPF.extendedAclInboundDenied]++;
        batch.drop(i, EXTENDED_ACL);
        continue;
      }
      let read = false;
      let excluded = false;
      for (let k = 0; k < ports.length; k++) {
        const d = ports[k];
        if (!this.isDestination(batch, i, d)) continue;
        if (!read) {
          const id = batch.ids[i];
          if (j.f.read(pool.bytes, pool.dataOffset(id), pool.len[id]) === TupleKind.notIp || j.discovery()) break;
          read = true;
        }
        if (j.judge(d, r.inbound[d], r.stateful[d] === 1, now, i)) continue;
        batch.excludeDestination(i, d);
        pc[PolicyCounters.port(d) + PPF.extendedAclInboundDenied]++;
        excluded = true;
      }
      if (excluded && !this.anyDestination(batch, i)) batch.drop(i, EXTENDED_ACL);
    }
  }
}

class ExtendedAclInstance implements PolicyModuleInstance {
  private readonly j: Judge;
  /** port name per index at the last configure (a changed or removed port's states are flushed) */
  private names: (string | undefined)[] = [];

  constructor(env: PolicyEnv) {
    this.j = new Judge(env);
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    const rules = new PortRules(input);
    const names: (string | undefined)[] = [];
    for (const p of input.ports) names[p.index] = p.name;
    // one worker flushes: a port's states must not carry over to the next port given its index
    if (this.j.env.workerIndex === 0) {
      this.names.forEach((n, idx) => { if (n !== undefined && names[idx] !== n) this.j.table.flushPort(idx); });
    }
    this.names = names;
    this.j.lastNow = -1; // a flushed port's state must not be remembered
    const out: PolicyPlacement[] = [];
    if (rules.anySends) out.push({ stage: 'ingress-policies', hook: new OutboundHook(this.j, rules) });
    if (rules.ports.length > 0) out.push({ stage: 'egress-policies', hook: new InboundHook(this.j, rules) });
    return out;
  }

  /** once a second on the switch's first worker: expired flow states out */
  tick(now: number): void {
    this.j.table.sweep(now);
  }
}

export const extendedAclModule: PolicyModule = {
  name: 'extended-acl',
  stages: ['ingress-policies', 'egress-policies'],
  summary(input: SwitchPolicyInput): string[] {
    const out: string[] = [];
    for (const p of input.ports) {
      const list = p.settings.extendedAcls;
      if (!list || list.length === 0) continue;
      const n = (dir: string): number => list.filter((e) => e.direction === dir).length;
      const st = list.filter((e) => e.stateful === true).length;
      out.push(`${p.name}: extended ACLs ${n('inbound')} inbound, ${n('outbound')} outbound${st ? `, ${st} stateful` : ''}`);
    }
    return out;
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new ExtendedAclInstance(env);
  },
};
