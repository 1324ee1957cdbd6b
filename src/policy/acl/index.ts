/**
 * Port ACLs with metering (Add-VMNetworkAdapterAcl, Measure-VM): allow/deny/meter on a local or
 * remote IP prefix or MAC, inbound/outbound/both.
 *
 *   outbound (frames the VM sends): at 'ingress-policies', for batches from a port with outbound
 *     entries; local = source. A deny drops the frame (port-acl).
 *   inbound (frames to the VM): at 'egress-policies', per destination port with inbound entries;
 *     local = destination. A deny removes that port from the frame's destinations and counts the
 *     port's aclInboundDenied; if it was the frame's last destination the frame is dropped
 *     (port-acl), so a flood loses only the denying port.
 *
 * Decision: among the IP entries of a direction the longest prefix wins (IPv4 and IPv6 apart; "any"
 * is length 0 of both); among MAC entries an exact address beats "any". Deny wins at equal length.
 * MAC and IP entries are two tables judged side by side: a frame is denied when either table's
 * winner is a deny (an IP allow cannot open what a MAC deny closes, nor the reverse). No match →
 * allowed (no implicit deny, as in Hyper-V). IP entries judge IPv4/IPv6 packets and IPv4 ARP (its
 * sender and target protocol addresses as source and destination), so "deny everything but X"
 * also keeps ARP to X working and stops it elsewhere; other non-IP frames meet only MAC entries.
 *
 * Metering: the longest matching meter entry of the direction (deny-free frames only; IPv4/IPv6
 * packets, not ARP) adds the frame's Ethernet length and one packet to its record
 * PolicyCounters.meter(port, k) — k the entry's index in the port's `acls` list — inbound or
 * outbound; a meter entry never allows or denies. A GSO frame (one large TCP segment the kernel
 * splits later) counts its bytes once, as one packet.
 */
import { MAX_PORTS_PER_SWITCH, type PortAcl } from '../../config/types.js';
import { DST_WORDS, DstMode, type Batch } from '../../core/batch.js';
import { DropReason } from '../../core/drop-reasons.js';
import type { FramePool } from '../../core/frame-pool.js';
import { macHi, macLo } from '../../packet/ethernet.js';
import type { PolicyHook } from '../../pipeline/policies.js';
import { MAX_ACLS_PER_PORT, PolicyCounters, PPF } from '../counters.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, SwitchPolicyInput } from '../runtime.js';
import { FRAME_ARP, FRAME_IPV4, FRAME_NOT_IP, FrameAddresses } from './address.js';
import { AclDirectionTable, checkAcls } from './table.js';

const PORT_ACL = DropReason['port-acl'];

function s32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}
/** meter record fields (counters.ts METER_FIELDS) */
const INBOUND_BYTES = 0;
const OUTBOUND_BYTES = 2;

/** every port's compiled tables (null = nothing in that direction) */
class AclTables {
  readonly outbound: (AclDirectionTable | null)[] = new Array<AclDirectionTable | null>(MAX_PORTS_PER_SWITCH).fill(null);
  readonly inbound: (AclDirectionTable | null)[] = new Array<AclDirectionTable | null>(MAX_PORTS_PER_SWITCH).fill(null);
  /** ports with inbound tables */
  inboundPorts = new Int32Array(0);
  outboundCount = 0;
  /** every port index of the switch (to see whether a flood has destinations left) */
  allPorts = new Int32Array(0);

  build(input: SwitchPolicyInput): void {
    const next = input.ports.map((p) => {
      const acls: readonly PortAcl[] = p.kind === 'vm' ? (p.settings.acls ?? []) : [];
      try {
        if (acls.length > MAX_ACLS_PER_PORT) throw new Error(`acls: at most ${MAX_ACLS_PER_PORT} entries, got ${acls.length}`);
        checkAcls(acls);
        const out = new AclDirectionTable(p.name, 'outbound', acls);
        const inb = new AclDirectionTable(p.name, 'inbound', acls);
        return { index: p.index, out: out.empty ? null : out, inb: inb.empty ? null : inb };
      } catch (e) {
        throw new Error(`${p.name}.${(e as Error).message}`);
      }
    });
    this.outbound.fill(null);
    this.inbound.fill(null);
    for (const n of next) { this.outbound[n.index] = n.out; this.inbound[n.index] = n.inb; }
    this.inboundPorts = Int32Array.from(next.filter((n) => n.inb).map((n) => n.index));
    this.outboundCount = next.filter((n) => n.out).length;
    this.allPorts = Int32Array.from(input.ports.map((p) => p.index));
  }
}

/**
 * The verdict for one frame against one table: -1 allowed (no deny won), else the entry index of
 * the deny; `meterEntry` the meter entry of an allowed frame (-1 none). The table's one-entry cache
 * holds the last verdict with everything it depends on.
 */
class Judge {
  readonly addrs = new FrameAddresses();
  /** the meter entry (index in `acls`) of the last allowed frame, -1 none */
  meterEntry = -1;

  /** localIsSource: outbound (the port's side is the frame's source) */
  judge(t: AclDirectionTable, b: Uint8Array, off: number, len: number, localIsSource: boolean): number {
    // fast path: an untagged IPv4 frame with the cached frame's addresses, compared in place
    if (t.rawValid && len >= 34 && b[off + 12] === 0x08 && b[off + 13] === 0x00 && b[off + 14] >>> 4 === 4
      && s32(b, off + 26) === t.rawSrc && s32(b, off + 30) === t.rawDst
      && (t.mac.n === 0 || (s32(b, off) === t.rawM0 && s32(b, off + 4) === t.rawM1 && s32(b, off + 8) === t.rawM2))) {
      this.meterEntry = t.cachedMeter;
      return t.cachedDeny;
    }
    let lh = 0;
    let ll = 0;
    let rh = 0;
    let rl = 0;
    if (t.mac.n > 0) {
      const s = off + 6;
      lh = localIsSource ? macHi(b, s) : macHi(b, off);
      ll = localIsSource ? macLo(b, s) : macLo(b, off);
      rh = localIsSource ? macHi(b, off) : macHi(b, s);
      rl = localIsSource ? macLo(b, off) : macLo(b, s);
    }
    const a = this.addrs;
    const kind = t.ip.n > 0 || t.meter.n > 0 ? a.read(b, off, len) : FRAME_NOT_IP;
    const local = localIsSource ? a.src : a.dst;
    const remote = localIsSource ? a.dst : a.src;
    const key = t.key;
    if (t.cached && key[0] === kind && key[9] === lh && key[10] === ll && key[11] === rh && key[12] === rl
      && (kind === FRAME_NOT_IP || (key[1] === local[0] && key[5] === remote[0] && key[2] === local[1] && key[3] === local[2] && key[4] === local[3]
        && key[6] === remote[1] && key[7] === remote[2] && key[8] === remote[3]))) {
      this.meterEntry = t.cachedMeter;
      return t.cachedDeny;
    }
    let deny = -1;
    let meter = -1;
    if (t.mac.n > 0) {
      const k = t.mac.find(lh, ll, rh, rl);
      if (k >= 0 && t.mac.deny[k] === 1) deny = t.mac.entry[k];
    }
    if (kind !== FRAME_NOT_IP) {
      const family = kind === FRAME_ARP ? 4 : kind;
      if (deny < 0 && t.ip.n > 0) {
        const k = t.ip.find(family, local, remote);
        if (k >= 0 && t.ip.deny[k] === 1) deny = t.ip.entry[k];
      }
      if (deny < 0 && kind !== FRAME_ARP && t.meter.n > 0) {
        const k = t.meter.find(family, local, remote);
        if (k >= 0) meter = t.meter.entry[k];
      }
    }
    key[0] = kind;
    for (let w = 0; w < 4; w++) { key[1 + w] = kind === FRAME_NOT_IP ? 0 : local[w]; key[5 + w] = kind === FRAME_NOT_IP ? 0 : remote[w]; }
    key[9] = lh; key[10] = ll; key[11] = rh; key[12] = rl;
    t.cached = true;
    t.cachedDeny = deny;
    t.cachedMeter = meter;
    t.rawValid = kind === FRAME_IPV4 && len >= 34 && b[off + 12] === 0x08 && b[off + 13] === 0x00;
    if (t.rawValid) {
      t.rawSrc = s32(b, off + 26);
      t.rawDst = s32(b, off + 30);
      t.rawM0 = s32(b, off);
      t.rawM1 = s32(b, off + 4);
      t.rawM2 = s32(b, off + 8);
    }
    this.meterEntry = meter;
    return deny;
  }
}

class OutboundAcl implements PolicyHook {
  readonly name = 'port-acl';
  readonly #tables: AclTables;
  readonly #env: PolicyEnv;
  readonly #judge = new Judge();

  constructor(tables: AclTables, env: PolicyEnv) {
    this.#tables = tables;
    this.#env = env;
  }

  appliesTo(batch: Batch): boolean {
    const p = batch.inPort;
    return p >= 0 && p < MAX_PORTS_PER_SWITCH && this.#tables.outbound[p] !== null;
  }

  process(batch: Batch, pool: FramePool): void {
    const p = batch.inPort;
    const t = this.#tables.outbound[p]!;
    const judge = this.#judge;
    const b = pool.bytes;
    const ids = batch.ids;
    const pc = this.#env.policyCounters.v;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const id = ids[i];
      const deny = judge.judge(t, b, pool.dataOffset(id), pool.len[id], true);
      if (deny >= 0) {
        batch.drop(i, PORT_ACL);
        if (this.#env.trace.on) this.#env.trace.note(i, t.words[deny]);
      } else if (judge.meterEntry >= 0 && !this.#env.trace.synthetic) {
        const m = PolicyCounters.meter(p, judge.meterEntry) + OUTBOUND_BYTES;
        pc[m] += pool.len[id];
        pc[m + 1]++;
      }
    }
  }
}

class InboundAcl implements PolicyHook {
  readonly name = 'port-acl';
  readonly #tables: AclTables;
  readonly #env: PolicyEnv;
  readonly #judge = new Judge();

  constructor(tables: AclTables, env: PolicyEnv) {
    this.#tables = tables;
    this.#env = env;
  }

  appliesTo(batch: Batch): boolean {
    return batch.count > batch.dropCount;
  }

  process(batch: Batch, pool: FramePool): void {
    const tables = this.#tables;
    const ports = tables.inboundPorts;
    const inbound = tables.inbound;
    const attached = this.#env.presence.attached;
    const inPort = batch.inPort;
    const b = pool.bytes;
    const ids = batch.ids;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const mode = batch.dstMode[i];
      if (mode === DstMode.none) continue;
      const id = ids[i];
      if (mode === DstMode.unicast) {
        const q = batch.dstPort[i];
        if (q >= 0 && q < MAX_PORTS_PER_SWITCH && inbound[q] !== null) this.check(batch, i, q, b, pool.dataOffset(id), pool.len[id], mode);
        continue;
      }
      for (let k = 0; k < ports.length; k++) {
        const q = ports[k];
        if (batch.isExcluded(i, q)) continue;
        if (mode === DstMode.flood ? q === inPort || attached[q] === 0 : (batch.dstSet[i * DST_WORDS + (q >>> 5)] & (1 << (q & 31))) === 0) continue;
        this.check(batch, i, q, b, pool.dataOffset(id), pool.len[id], mode);
        if (batch.reason[i] !== 0) break;
      }
    }
  }

  /** judge frame i for destination q; exclude or drop on deny, meter on allow */
  private check(batch: Batch, i: number, q: number, b: Uint8Array, off: number, len: number, mode: number): void {
    const t = this.#tables.inbound[q]!;
    const judge = this.#judge;
    const deny = judge.judge(t, b, off, len, false);
    const env = this.#env;
    if (deny < 0) {
      if (judge.meterEntry >= 0 && !env.trace.synthetic) {
        const v = env.policyCounters.v;
        const m = PolicyCounters.meter(q, judge.meterEntry) + INBOUND_BYTES;
        v[m] += len;
        v[m + 1]++;
      }
      return;
    }
    env.policyCounters.v[PolicyCounters.port(q) + PPF.aclInboundDenied]++;
    if (env.trace.on) env.trace.note(i, t.words[deny]);
    if (mode === DstMode.unicast) { batch.drop(i, PORT_ACL); return; }
    batch.excludeDestination(i, q);
    if (!this.destinationsLeft(batch, i, mode)) batch.drop(i, PORT_ACL);
  }

  /** does frame i still go somewhere after its exclusions? */
  private destinationsLeft(batch: Batch, i: number, mode: number): boolean {
    const base = i * DST_WORDS;
    if (mode === DstMode.set) {
      for (let w = 0; w < DST_WORDS; w++) if ((batch.dstSet[base + w] & ~batch.exclude[base + w]) !== 0) return true;
      return false;
    }
    const all = this.#tables.allPorts;
    const attached = this.#env.presence.attached;
    for (let k = 0; k < all.length; k++) {
      const p = all[k];
      if (p !== batch.inPort && attached[p] !== 0 && !batch.isExcluded(i, p)) return true;
    }
    return false;
  }
}

class AclPolicy implements PolicyModuleInstance {
  readonly #tables = new AclTables();
  readonly #outbound: PolicyPlacement;
  readonly #inbound: PolicyPlacement;

  constructor(env: PolicyEnv) {
    this.#outbound = { stage: 'ingress-policies', hook: new OutboundAcl(this.#tables, env) };
    this.#inbound = { stage: 'egress-policies', hook: new InboundAcl(this.#tables, env) };
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    this.#tables.build(input);
    const out: PolicyPlacement[] = [];
    if (this.#tables.outboundCount > 0) out.push(this.#outbound);
    if (this.#tables.inboundPorts.length > 0) out.push(this.#inbound);
    return out;
  }
}

export const aclPolicy: PolicyModule = {
  name: 'acl',
  stages: ['ingress-policies', 'egress-policies'],
  summary(input: SwitchPolicyInput): string[] {
    return input.ports
      .filter((p) => p.kind === 'vm' && (p.settings.acls?.length ?? 0) > 0)
      .map((p) => {
        const acls = p.settings.acls!;
        const count = (a: string): number => acls.filter((e) => e.action === a).length;
        return `${p.name}: ${acls.length} port ACL entries (${count('allow')} allow, ${count('deny')} deny, ${count('meter')} meter)`;
      });
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new AclPolicy(env);
  },
};
