/**
 * Guards (Set-VMNetworkAdapter -MacAddressSpoofing / -DhcpGuard / -RouterGuard): what a VM port
 * may send. They judge only frames a VM port (kind 'vm') sends, at 'ingress-policies' — after the
 * capture and filter extensions (a capture extension still sees a rogue DHCP offer) and after the
 * VLAN hook (frames here are untagged; one tag is skipped anyway). Each drop has its own reason.
 *
 *   MAC spoofing off (the default, as in Hyper-V): the source MAC must be the port's own —
 *     staticMacAddress if set, else the first source MAC this worker saw on the port (what the MAC
 *     table learns first). It is kept for the port's life in this worker and forgotten when the
 *     port index is given to another port name or the static MAC changes; a daemon or worker
 *     restart forgets it too (the next frame's source is learned again). A traced batch (a
 *     synthetic `xvs trace`) never teaches it: until a real frame has, a trace passes. An ARP
 *     packet must also carry the port's MAC as its sender hardware address (ARP poisoning
 *     protection). → mac-spoofing
 *   DHCP guard: DHCPv4 server-to-client messages (UDP 67 → 68 that are not BOOTREQUEST: OFFER, ACK,
 *     NAK) and DHCPv6 server messages (UDP 547 → 546 ADVERTISE 2, REPLY 7, RECONFIGURE 10; and
 *     RELAY-REPL 13 from port 547). A guarded VM still gets an address as a client. → dhcp-guard
 *   Router guard: ICMPv4 type 5 (redirect) and 9 (router advertisement), ICMPv6 134 (RA) and 137
 *     (redirect), behind any IPv4 options and IPv6 extension headers. An IPv6 packet whose
 *     extension chain cannot be walked (longer than MAX_IPV6_EXT_HEADERS, or past the packet) is
 *     dropped too (RFC 7113). → router-guard
 *   Non-first fragments carry no L4 header and pass both guards: the first fragment, which holds
 *   the ICMP type or the UDP ports, is the one judged, and without it the datagram never
 *   reassembles (hosts also ignore fragmented ND, RFC 6980).
 */
import { MAX_PORTS_PER_SWITCH, type PortSettings } from '../../config/types.js';
import type { Batch } from '../../core/batch.js';
import { DropReason } from '../../core/drop-reasons.js';
import type { FramePool } from '../../core/frame-pool.js';
import { ETHERTYPE_ARP, ETHERTYPE_VLAN, macHi, macLo, macToString, parseMac } from '../../packet/ethernet.js';
import type { PolicyHook } from '../../pipeline/policies.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, SwitchPolicyInput } from '../runtime.js';
import { L4Header } from './l4.js';

const SPOOF = 1;
const DHCP = 2;
const ROUTER = 4;

const MAC_SPOOFING = DropReason['mac-spoofing'];
const DHCP_GUARD = DropReason['dhcp-guard'];
const ROUTER_GUARD = DropReason['router-guard'];

/** own MAC states */
const OWN_NONE = 0;
const OWN_STATIC = 1;
const OWN_LEARNED = 2;

/** the guard bits a port's settings ask for (VM ports only) */
export function guardFlags(kind: string, s: PortSettings): number {
  if (kind !== 'vm') return 0;
  return (s.macAddressSpoofing === true ? 0 : SPOOF) | (s.dhcpGuard === true ? DHCP : 0) | (s.routerGuard === true ? ROUTER : 0);
}

/** per port index: which guards, and the port's own MAC */
class GuardState {
  readonly flags = new Uint8Array(MAX_PORTS_PER_SWITCH);
  readonly own = new Uint8Array(MAX_PORTS_PER_SWITCH);
  readonly ownHi = new Int32Array(MAX_PORTS_PER_SWITCH);
  readonly ownLo = new Int32Array(MAX_PORTS_PER_SWITCH);
  readonly names: (string | undefined)[] = new Array<string | undefined>(MAX_PORTS_PER_SWITCH).fill(undefined);
  readonly statics: (string | undefined)[] = new Array<string | undefined>(MAX_PORTS_PER_SWITCH).fill(undefined);
  count = 0;

  build(input: SwitchPolicyInput): void {
    // parse first: a bad static MAC refuses the whole input and leaves the old state in force
    const next = input.ports.map((p) => {
      const s = p.settings.staticMacAddress;
      const mac = s === undefined ? null : parseMac(s);
      if (s !== undefined && !mac) throw new Error(`${p.name}.staticMacAddress: expected a MAC address, got ${JSON.stringify(s)}`);
      return { p, mac, flags: guardFlags(p.kind, p.settings) };
    });
    const seen = new Uint8Array(MAX_PORTS_PER_SWITCH);
    this.flags.fill(0);
    this.count = 0;
    for (const { p, mac, flags } of next) {
      const i = p.index;
      seen[i] = 1;
      const staticText = mac ? macToString(macHi(mac, 0), macLo(mac, 0)) : undefined;
      if (this.names[i] !== p.name || this.statics[i] !== staticText) {
        // a new port at this index, or its static MAC changed: what it was known by no longer holds
        this.own[i] = OWN_NONE;
        this.names[i] = p.name;
        this.statics[i] = staticText;
      }
      if (mac) {
        this.own[i] = OWN_STATIC;
        this.ownHi[i] = macHi(mac, 0);
        this.ownLo[i] = macLo(mac, 0);
      }
      this.flags[i] = flags;
      if (flags !== 0) this.count++;
    }
    for (let i = 0; i < MAX_PORTS_PER_SWITCH; i++) {
      if (seen[i] === 0 && this.names[i] !== undefined) { this.names[i] = undefined; this.statics[i] = undefined; this.own[i] = OWN_NONE; }
    }
  }
}

class GuardHook implements PolicyHook {
  readonly name = 'guards';
  readonly #state: GuardState;
  readonly #env: PolicyEnv;
  readonly #l4 = new L4Header();

  constructor(state: GuardState, env: PolicyEnv) {
    this.#state = state;
    this.#env = env;
  }

  appliesTo(batch: Batch): boolean {
    const p = batch.inPort;
    return p >= 0 && p < MAX_PORTS_PER_SWITCH && this.#state.flags[p] !== 0;
  }

  process(batch: Batch, pool: FramePool): void {
    const st = this.#state;
    const p = batch.inPort;
    const flags = st.flags[p];
    const b = pool.bytes;
    const ids = batch.ids;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const id = ids[i];
      const off = pool.dataOffset(id);
      const len = pool.len[id];
      if ((flags & SPOOF) !== 0 && !this.ownSource(p, b, off, len)) {
        batch.drop(i, MAC_SPOOFING);
        if (this.#env.trace.on) this.#env.trace.note(i, `MAC spoofing ${st.names[p]}: source ${macToString(macHi(b, off + 6), macLo(b, off + 6))} is not the port's ${macToString(st.ownHi[p], st.ownLo[p])}`);
        continue;
      }
      if ((flags & (DHCP | ROUTER)) === 0) continue;
      const verdict = this.judge(flags, b, off, len);
      if (verdict === 0) continue;
      batch.drop(i, verdict);
      if (this.#env.trace.on) this.#env.trace.note(i, `${verdict === DHCP_GUARD ? 'DHCP guard' : 'router guard'} ${st.names[p]}: ${this.what(verdict, b)}`);
    }
  }

  /** the frame's source (and an ARP sender) is the port's own MAC; the first one seen is learned */
  private ownSource(p: number, b: Uint8Array, off: number, len: number): boolean {
    const st = this.#state;
    const hi = macHi(b, off + 6);
    const lo = macLo(b, off + 6);
    if (st.own[p] === OWN_NONE) {
      // a traced batch never teaches the port its MAC: a synthetic trace must change nothing
      if (this.#env.trace.on) return true;
      st.own[p] = OWN_LEARNED;
      st.ownHi[p] = hi;
      st.ownLo[p] = lo;
    } else if (hi !== st.ownHi[p] || lo !== st.ownLo[p]) {
      return false;
    }
    // ARP: the sender hardware address (Ethernet/IPv4 ARP, after one optional tag) must be the port's too
    let t = off + 12;
    let type = (b[t] << 8) | b[t + 1];
    if (type === ETHERTYPE_VLAN && len >= 18) { t += 4; type = (b[t] << 8) | b[t + 1]; }
    if (type !== ETHERTYPE_ARP || t + 2 + 14 > off + len) return true;
    const sha = t + 2 + 8;
    if (b[t + 6] !== 6) return true; // hardware address length: not Ethernet ARP
    return macHi(b, sha) === hi && macLo(b, sha) === lo;
  }

  /** 0 (pass), DHCP_GUARD or ROUTER_GUARD */
  private judge(flags: number, b: Uint8Array, off: number, len: number): number {
    // fast paths, read in place: untagged IPv4 without options and IPv6 whose next header is TCP or
    // UDP — only UDP from port 67/547 and ICMP/ICMPv6 (or an extension chain) need a closer look
    if (b[off + 12] === 0x08 && b[off + 13] === 0x00 && len >= 38 && b[off + 14] === 0x45) {
      const proto = b[off + 23];
      if (proto !== 1 && proto !== 17) return 0;
      if (proto === 17 && ((b[off + 34] << 8) | b[off + 35]) !== 67) return 0;
    } else if (b[off + 12] === 0x86 && b[off + 13] === 0xdd && len >= 58 && b[off + 14] >>> 4 === 6) {
      const nh = b[off + 20];
      if (nh === 6) return 0;
      if (nh === 17 && ((b[off + 54] << 8) | b[off + 55]) !== 547) return 0;
    }
    const h = this.#l4;
    const fam = h.read(b, off, len);
    if (fam === 0) return 0;
    if (h.unwalkable) return (flags & ROUTER) !== 0 ? ROUTER_GUARD : 0;
    const l4 = h.l4;
    if (l4 < 0) return 0;
    const room = h.end - l4;
    if (h.proto === 17 && (flags & DHCP) !== 0 && room >= 8) {
      const sp = (b[l4] << 8) | b[l4 + 1];
      const dp = (b[l4 + 2] << 8) | b[l4 + 3];
      if (fam === 4 && sp === 67 && dp === 68) {
        // server to client: anything but a BOOTREQUEST (op 1) — a client never sends from port 67 to 68
        if (room < 9 || b[l4 + 8] !== 1) return DHCP_GUARD;
      } else if (fam === 6 && sp === 547 && room >= 9) {
        const type = b[l4 + 8];
        if ((dp === 546 && (type === 2 || type === 7 || type === 10)) || type === 13) return DHCP_GUARD;
      }
      return 0;
    }
    if ((flags & ROUTER) !== 0 && room >= 1) {
      const type = b[l4];
      if (fam === 4 && h.proto === 1 && (type === 5 || type === 9)) return ROUTER_GUARD;
      if (fam === 6 && h.proto === 58 && (type === 134 || type === 137)) return ROUTER_GUARD;
    }
    return 0;
  }

  /** trace text of the last judged frame (its L4 header is still in #l4) */
  private what(verdict: number, b: Uint8Array): string {
    const h = this.#l4;
    if (h.unwalkable) return 'IPv6 extension header chain that cannot be walked';
    const type = verdict === DHCP_GUARD ? b[h.l4 + 8] : b[h.l4];
    if (verdict === DHCP_GUARD) return h.family === 4 ? `DHCPv4 server message (op ${type})` : `DHCPv6 server message type ${type}`;
    return `${h.family === 4 ? 'ICMPv4' : 'ICMPv6'} type ${type}`;
  }
}

class GuardsPolicy implements PolicyModuleInstance {
  readonly #state = new GuardState();
  readonly #placements: PolicyPlacement[];

  constructor(env: PolicyEnv) {
    this.#placements = [{ stage: 'ingress-policies', hook: new GuardHook(this.#state, env) }];
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    this.#state.build(input);
    return this.#state.count > 0 ? this.#placements : [];
  }
}

function guardText(kind: string, s: PortSettings): string {
  const f = guardFlags(kind, s);
  const parts: string[] = [];
  if (f & SPOOF) parts.push(`MAC spoofing off (own MAC ${s.staticMacAddress ?? 'first learned'})`);
  if (f & DHCP) parts.push('DHCP guard');
  if (f & ROUTER) parts.push('router guard');
  return parts.join(', ');
}

export const guardsPolicy: PolicyModule = {
  name: 'guards',
  stages: ['ingress-policies'],
  summary(input: SwitchPolicyInput): string[] {
    return input.ports.filter((p) => guardFlags(p.kind, p.settings) !== 0).map((p) => `${p.name}: ${guardText(p.kind, p.settings)}`);
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new GuardsPolicy(env);
  },
};
