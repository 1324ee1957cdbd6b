/**
 * VLANs and private VLANs (Hyper-V's Set-VMNetworkAdapterVlan; NDIS PVLAN send/receive rules).
 *
 * Switch-wide: while no port has a VLAN setting other than untagged the switch is VLAN-transparent
 * (no hooks; tags pass untouched). Once one has, every frame is classified at ingress — its 802.1Q tag
 * popped in place and its VLAN put in pool.vlan — and at egress every destination that does not
 * receive the frame's VLAN is excluded (counted as the port's vlanExcluded; a unicast frame whose one
 * destination is excluded is dropped `vlan-not-allowed`). The engine pushes the tag back per
 * trunk-like destination at transmit (core/vlan.ts, engine flush). The MAC table is keyed by the
 * VLAN's filtering id (core/vlan.ts VlanTables.fid): a private VLAN's secondaries learn into their
 * primary, so an isolated port's frame to a promiscuous port's MAC is a known unicast.
 *
 *   mode         sends untagged frames on   accepts tagged      receives
 *   untagged     0                          —                   0
 *   access V     V                          —                   V
 *   trunk        native (0 = none)          allowed ∪ native    allowed ∪ native (native 0: VLAN 0)
 *   isolated     secondary S                —                   primary P
 *   community    secondary S                —                   P, S
 *   promiscuous  primary P                  —                   P ∪ its secondaries
 *   uplink       0                          1..4094             every VLAN
 * The uplink is the switch's external port (kind 'external') unless it has a trunk or access setting
 * of its own; the host's internal port is a port like a VM's (untagged by default).
 */
import { mirrorMarks, type MirrorMarks } from '../mirror/mirror.js';
import { MAX_PORTS_PER_SWITCH, type VlanSetting } from '../../config/types.js';
import { DstMode, DST_WORDS, type Batch } from '../../core/batch.js';
import { DropReason } from '../../core/drop-reasons.js';
import type { FramePool } from '../../core/frame-pool.js';
import { VlanTagEditor, type VlanTables } from '../../core/vlan.js';
import type { PolicyHook } from '../../pipeline/policies.js';
import { PolicyCounters, PPF } from '../counters.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, PolicyPort, SwitchPolicyInput } from '../runtime.js';
import { vlanText } from '../../config/desired.js';
import { validateVlan } from '../../config/port-settings.js';
import { parseVlanList } from '../../config/vlan-list.js';

export const VlanPortMode = { untagged: 0, access: 1, trunk: 2, isolated: 3, community: 4, promiscuous: 5, uplink: 6 } as const;
const MODE_NAMES = ['untagged', 'access', 'trunk', 'isolated', 'community', 'promiscuous', 'uplink'];
/** 32-bit words of a 4096-bit VLAN set */
const SET_WORDS = 128;
const NOT_ALLOWED = DropReason['vlan-not-allowed'];

/** whether a port has a VLAN setting that makes the switch VLAN-aware */
function vlanAware(p: PolicyPort): boolean {
  return p.settings.vlan !== undefined && p.settings.vlan.mode !== 'untagged';
}

/** the effective setting of a port: the uplink's default is 'uplink' (a trunk of every VLAN) */
function effective(p: PolicyPort): VlanSetting | { mode: 'uplink' } {
  const v = p.settings.vlan;
  if (p.kind === 'external' && (v === undefined || (v.mode !== 'trunk' && v.mode !== 'access'))) return { mode: 'uplink' };
  return v ?? { mode: 'untagged' };
}

/** per port: the compiled VLAN rules, in arrays indexed by port (sized once) */
class VlanRules {
  readonly mode = new Uint8Array(MAX_PORTS_PER_SWITCH);
  /** the VLAN of an untagged frame the port sends */
  readonly untaggedVlan = new Uint16Array(MAX_PORTS_PER_SWITCH);
  /** per port a 4096-bit set: the VLANs it receives (trunk, uplink: also the tagged VLANs it may send) */
  readonly receives = new Uint32Array(MAX_PORTS_PER_SWITCH * SET_WORDS);
  /** the switch's port indices (flood expansion) */
  readonly portList = new Int32Array(MAX_PORTS_PER_SWITCH);
  portCount = 0;
  readonly names: string[] = new Array<string>(MAX_PORTS_PER_SWITCH).fill('');

  receivesVlan(p: number, vid: number): boolean {
    return ((this.receives[p * SET_WORDS + (vid >>> 5)] >>> (vid & 31)) & 1) === 1;
  }

  private add(p: number, vid: number): void {
    this.receives[p * SET_WORDS + (vid >>> 5)] |= 1 << (vid & 31);
  }

  /** rebuild from `input` (already checked), and the worker's tx tagging and filtering ids */
  build(input: SwitchPolicyInput, vt: VlanTables): void {
    this.mode.fill(VlanPortMode.untagged);
    this.untaggedVlan.fill(0);
    this.receives.fill(0);
    vt.txTagged.fill(0);
    vt.txUntaggedVlan.fill(0);
    vt.resetFid();
    for (let p = 0; p < MAX_PORTS_PER_SWITCH; p++) this.add(p, 0); // a port nobody described: untagged
    this.portCount = 0;
    for (const port of input.ports) {
      const p = port.index;
      if (p < 0 || p >= MAX_PORTS_PER_SWITCH) continue;
      this.portList[this.portCount++] = p;
      this.names[p] = port.name;
      this.receives.fill(0, p * SET_WORDS, (p + 1) * SET_WORDS);
      const v = effective(port);
      this.mode[p] = VlanPortMode[v.mode];
      switch (v.mode) {
        case 'untagged': this.add(p, 0); break;
        case 'access': this.untaggedVlan[p] = v.accessVlanId; this.add(p, v.accessVlanId); break;
        case 'trunk':
          for (const id of parseVlanList(v.allowedVlanIds)) this.add(p, id);
          this.add(p, v.nativeVlanId);
          this.untaggedVlan[p] = v.nativeVlanId;
          vt.txTagged[p] = 1;
          vt.txUntaggedVlan[p] = v.nativeVlanId;
          break;
        case 'isolated': this.untaggedVlan[p] = v.secondaryVlanId; this.add(p, v.primaryVlanId); vt.fid[v.secondaryVlanId] = v.primaryVlanId; break;
        case 'community':
          this.untaggedVlan[p] = v.secondaryVlanId;
          this.add(p, v.primaryVlanId);
          this.add(p, v.secondaryVlanId);
          vt.fid[v.secondaryVlanId] = v.primaryVlanId;
          break;
        case 'promiscuous':
          this.untaggedVlan[p] = v.primaryVlanId;
          this.add(p, v.primaryVlanId);
          for (const s of parseVlanList(v.secondaryVlanIds)) { this.add(p, s); vt.fid[s] = v.primaryVlanId; }
          break;
        case 'uplink':
          this.receives.fill(0xffffffff, p * SET_WORDS, (p + 1) * SET_WORDS);
          vt.txTagged[p] = 1;
          vt.txUntaggedVlan[p] = 0;
          break;
      }
    }
  }
}

/** ingress: pop the tag, put the frame's VLAN in pool.vlan, drop what the port may not send */
class VlanIngress implements PolicyHook {
  readonly name = 'vlan';
  readonly #rules: VlanRules;
  readonly #env: PolicyEnv;
  readonly #tags: VlanTagEditor;
  constructor(rules: VlanRules, env: PolicyEnv) { this.#rules = rules; this.#env = env; this.#tags = new VlanTagEditor(env.pool); }

  appliesTo(): boolean { return true; }

  process(batch: Batch, pool: FramePool): void {
    const rules = this.#rules;
    const p = batch.inPort;
    // originated frames (no source port) are classified as the uplink's: their own tag, or VLAN 0
    const mode = p >= 0 ? rules.mode[p] : VlanPortMode.uplink;
    const untagged = p >= 0 ? rules.untaggedVlan[p] : 0;
    const tagsAllowed = mode === VlanPortMode.trunk || mode === VlanPortMode.uplink;
    const vlan = pool.vlan;
    const ids = batch.ids;
    const tags = this.#tags;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const id = ids[i];
      const tci = tags.pop(id);
      const vid = tci & 0xfff;
      // untagged, or priority-tagged (VLAN 0: the frame belongs to the port's untagged VLAN)
      if (tci < 0 || vid === 0) { vlan[id] = untagged; continue; }
      if (tagsAllowed && vid !== 0xfff && (mode === VlanPortMode.uplink || rules.receivesVlan(p, vid))) { vlan[id] = vid; continue; }
      batch.drop(i, NOT_ALLOWED);
      if (this.#env.trace.on) this.#env.trace.note(i, `VLAN ${p >= 0 ? rules.names[p] : 'originated'} (${MODE_NAMES[mode]}): tagged frame on VLAN ${vid} not allowed`);
    }
  }
}

/** egress: remove every destination that does not receive the frame's VLAN */
class VlanEgress implements PolicyHook {
  readonly name = 'vlan';
  readonly #rules: VlanRules;
  readonly #env: PolicyEnv;
  readonly #marks: MirrorMarks;
  constructor(rules: VlanRules, env: PolicyEnv) { this.#rules = rules; this.#env = env; this.#marks = mirrorMarks(env); }

  appliesTo(): boolean { return true; }

  private exclude(batch: Batch, i: number, p: number, vid: number, unicast: boolean): void {
    // a mirror copy reaches a monitoring port whatever its VLAN (policy/mirror)
    if (!unicast && this.#marks.exempt(i, p)) return;
    const env = this.#env;
    env.policyCounters.v[PolicyCounters.port(p) + PPF.vlanExcluded]++;
    if (unicast) batch.drop(i, NOT_ALLOWED);
    else batch.excludeDestination(i, p);
    if (env.trace.on) env.trace.note(i, `VLAN ${this.#rules.names[p]} (${MODE_NAMES[this.#rules.mode[p]]}) does not receive VLAN ${vid}`);
  }

  process(batch: Batch, pool: FramePool): void {
    const rules = this.#rules;
    const vlan = pool.vlan;
    const attached = this.#env.presence.attached;
    const list = rules.portList;
    const inPort = batch.inPort;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const vid = vlan[batch.ids[i]];
      const mode = batch.dstMode[i];
      if (mode === DstMode.unicast) {
        const p = batch.dstPort[i];
        if (p >= 0 && p < MAX_PORTS_PER_SWITCH && !rules.receivesVlan(p, vid)) this.exclude(batch, i, p, vid, true);
      } else if (mode === DstMode.flood) {
        for (let k = 0; k < rules.portCount; k++) {
          const p = list[k];
          if (p === inPort || attached[p] === 0) continue;
          if (!rules.receivesVlan(p, vid)) this.exclude(batch, i, p, vid, false);
        }
      } else if (mode === DstMode.set) {
        const base = i * DST_WORDS;
        for (let w = 0; w < DST_WORDS; w++) {
          let bits = batch.dstSet[base + w];
          while (bits !== 0) {
            const b = 31 - Math.clz32(bits & -bits);
            bits &= bits - 1;
            const p = (w << 5) + b;
            if (!rules.receivesVlan(p, vid)) this.exclude(batch, i, p, vid, false);
          }
        }
      }
    }
  }
}

class VlanPolicy implements PolicyModuleInstance {
  readonly #env: PolicyEnv;
  readonly #rules = new VlanRules();
  readonly #placements: PolicyPlacement[];

  constructor(env: PolicyEnv) {
    this.#env = env;
    this.#placements = [
      { stage: 'ingress-policies', hook: new VlanIngress(this.#rules, env) },
      { stage: 'egress-policies', hook: new VlanEgress(this.#rules, env) },
    ];
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    const vt = this.#env.vlan;
    // check every setting before changing anything (a bad one leaves the old rules in force)
    for (const p of input.ports) if (p.settings.vlan !== undefined) validateVlan(p.settings.vlan, `${p.name}.vlan`);
    if (!input.ports.some(vlanAware)) {
      if (vt.aware) {
        // back to transparent: no frame is in flight between batches; keep the invariant "pool.vlan all 0"
        vt.aware = false;
        vt.txTagged.fill(0);
        vt.resetFid();
        this.#env.pool.vlan.fill(0);
      }
      return [];
    }
    this.#rules.build(input, vt);
    vt.aware = true;
    return this.#placements;
  }
}

export const vlanPolicy: PolicyModule = {
  name: 'vlan',
  stages: ['ingress-policies', 'egress-policies'],
  summary(input: SwitchPolicyInput): string[] {
    if (!input.ports.some(vlanAware)) return [];
    return input.ports.map((p) => {
      const v = effective(p);
      return `${p.name}: ${v.mode === 'uplink' ? 'uplink (trunk of every VLAN, untagged = VLAN 0)' : vlanText(v)}`;
    });
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new VlanPolicy(env);
  },
};
