/**
 * Extended port ACL entries (Add-VMNetworkAdapterExtendedAcl): validation of the settings, naming the
 * field, and the compiled form the hooks match frames against without allocating.
 */
import type { ExtendedAcl } from '../../config/types.js';
import { ConfigError } from '../../core/errors.js';
import { parseIPv4, parseIPv6 } from '../../packet/addr.js';
import { s32, TupleKind, type FiveTuple } from '../../packet/five-tuple.js';
import { MAX_EXTENDED_ACLS_PER_PORT } from '../counters.js';

/** seconds a flow state lives without traffic unless the entry says (WMI's IdleSessionTimeout default) */
export const DEFAULT_IDLE_SESSION_TIMEOUT = 255;
/** longest idle timeout accepted: a year (longer is surely a mistake) */
export const MAX_IDLE_SESSION_TIMEOUT = 31_536_000;
const MAX_WEIGHT = 4_294_967_295;
const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };
const KEYS = ['action', 'direction', 'weight', 'protocol', 'localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort', 'stateful', 'idleSessionTimeout'];

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

interface Prefix { family: 0 | 4 | 6; words: Int32Array; text: string }

/** "ANY" (or absent) → no condition; host or prefix, IPv4 or IPv6 */
function parseAddress(v: unknown, field: string): Prefix | null {
  if (v === undefined) return null;
  const s = typeof v === 'string' ? v.trim() : '';
  if (s.toLowerCase() === 'any') return null;
  const slash = s.indexOf('/');
  const a = slash < 0 ? s : s.slice(0, slash);
  const v4 = parseIPv4(a);
  const addr = v4 ?? parseIPv6(a);
  if (!addr || s === '') throw new ConfigError(field, `expected ANY, an IPv4 or IPv6 address or prefix (10.0.0.0/8, fd00::/64), got ${show(v)}`);
  const max = v4 ? 32 : 128;
  const lenText = s.slice(slash + 1);
  const len = slash < 0 ? max : /^\d{1,3}$/.test(lenText) ? Number(lenText) : -1;
  if (len < 0 || len > max) throw new ConfigError(field, `prefix length expected 0..${max}, got ${show(lenText)}`);
  // words 0..3 the network, 4..7 the mask (IPv4: word 0 and 4 only)
  const words = new Int32Array(8);
  for (let w = 0; w < addr.length / 4; w++) {
    const bits = Math.min(32, Math.max(0, len - w * 32));
    const mask = bits === 0 ? 0 : bits === 32 ? -1 : ~(0xffffffff >>> bits);
    words[4 + w] = mask;
    words[w] = ((addr[4 * w] << 24) | (addr[4 * w + 1] << 16) | (addr[4 * w + 2] << 8) | addr[4 * w + 3]) & mask;
  }
  return { family: v4 ? 4 : 6, words, text: slash < 0 ? a : `${a}/${len}` };
}

/** "80", "49152-49182" (or a number) → [lo, hi]; absent or ANY → null */
function parsePorts(v: unknown, field: string): [number, number] | null {
  if (v === undefined) return null;
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  if (s.toLowerCase() === 'any') return null;
  const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(s);
  const lo = m ? Number(m[1]) : -1;
  const hi = m ? Number(m[2] ?? m[1]) : -1;
  if (!m || lo > 65535 || hi > 65535) throw new ConfigError(field, `expected a port 0..65535 or a range like 49152-49182, got ${show(v)}`);
  if (lo > hi) throw new ConfigError(field, `the range is empty: ${lo} > ${hi}`);
  return [lo, hi];
}

/** tcp, udp, icmp, icmpv6, a number 0..255; absent or ANY → -1 */
function parseProtocol(v: unknown, field: string): number {
  if (v === undefined) return -1;
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim().toLowerCase() : '';
  if (s === 'any') return -1;
  if (s in PROTOCOLS) return PROTOCOLS[s];
  if (/^\d{1,3}$/.test(s) && Number(s) <= 255) return Number(s);
  throw new ConfigError(field, `expected tcp, udp, icmp, icmpv6, ANY or a protocol number 0..255, got ${show(v)}`);
}

/** One entry compiled: every condition a number or typed array, NONE (-1) when absent. */
export class CompiledRule {
  readonly allow: boolean;
  readonly inbound: boolean;
  readonly weight: number;
  readonly stateful: boolean;
  readonly timeout: number;
  readonly proto: number;
  /** 0: any; 4 or 6: pinned by an address */
  readonly family: number;
  /** conditions no frame meets (IPv4 and IPv6 addresses together; icmp with IPv6, icmpv6 with IPv4) */
  readonly never: boolean;
  readonly local: Int32Array | null;
  readonly remote: Int32Array | null;
  readonly lpLo: number;
  readonly lpHi: number;
  readonly rpLo: number;
  readonly rpHi: number;
  /** the trace's words: `extended ACL vm1 inbound deny weight 1` */
  readonly label: string;

  constructor(port: string, e: ExtendedAcl, field: string) {
    this.allow = e.action === 'allow';
    this.inbound = e.direction === 'inbound';
    this.weight = e.weight;
    this.stateful = e.stateful === true;
    this.timeout = e.idleSessionTimeout ?? DEFAULT_IDLE_SESSION_TIMEOUT;
    this.proto = parseProtocol(e.protocol, `${field}.protocol`);
    const local = parseAddress(e.localIPAddress, `${field}.localIPAddress`);
    const remote = parseAddress(e.remoteIPAddress, `${field}.remoteIPAddress`);
    this.family = local?.family ?? remote?.family ?? 0;
    this.never = (local !== null && remote !== null && local.family !== remote.family) ||
      (this.proto === 1 && this.family === 6) || (this.proto === 58 && this.family === 4);
    this.local = local?.words ?? null;
    this.remote = remote?.words ?? null;
    [this.lpLo, this.lpHi] = parsePorts(e.localPort, `${field}.localPort`) ?? [-1, -1];
    [this.rpLo, this.rpHi] = parsePorts(e.remotePort, `${field}.remotePort`) ?? [-1, -1];
    this.label = `extended ACL ${port} ${e.direction} ${e.action} weight ${e.weight}`;
  }

  /** does the entry apply to the frame (read into f)? Local is the destination inbound, the source outbound. */
  matches(f: FiveTuple): boolean {
    if (this.never) return false;
    if (this.family !== 0 && this.family !== f.family) return false;
    if (this.proto >= 0 && this.proto !== f.proto) return false;
    if (this.local !== null || this.remote !== null) {
      if (f.kind !== TupleKind.ip) return false;
      if (this.local !== null && !inPrefix(f.bytes, this.inbound ? f.dstOff : f.srcOff, this.local, f.family)) return false;
      if (this.remote !== null && !inPrefix(f.bytes, this.inbound ? f.srcOff : f.dstOff, this.remote, f.family)) return false;
    }
    if (this.lpLo >= 0 || this.rpLo >= 0) {
      if (!f.hasPorts) return false; // other protocols, non-first fragments, truncated headers
      const lp = this.inbound ? f.dstPort : f.srcPort;
      const rp = this.inbound ? f.srcPort : f.dstPort;
      if (this.lpLo >= 0 && (lp < this.lpLo || lp > this.lpHi)) return false;
      if (this.rpLo >= 0 && (rp < this.rpLo || rp > this.rpHi)) return false;
    }
    return true;
  }
}

/** the address at b[o..] in the prefix p (words 0..3 network, 4..7 mask) */
function inPrefix(b: Uint8Array, o: number, p: Int32Array, family: number): boolean {
  if ((s32(b, o) & p[4]) !== p[0]) return false;
  return family === 4 || ((s32(b, o + 4) & p[5]) === p[1] && (s32(b, o + 8) & p[6]) === p[2] && (s32(b, o + 12) & p[7]) === p[3]);
}

/**
 * Check a port's `extendedAcls` (the whole list); ConfigErrors name `${field}[k].<key>`. Returns a
 * normalised copy: protocol in lower case, defaults left out. Weights are unique per direction
 * (Remove-VMNetworkAdapterExtendedAcl is keyed by weight and direction).
 */
export function validateExtendedAcls(input: unknown, field: string): ExtendedAcl[] {
  if (!Array.isArray(input)) throw new ConfigError(field, `expected a list of extended ACL entries, got ${show(input)}`);
  const list: unknown[] = input;
  if (list.length > MAX_EXTENDED_ACLS_PER_PORT) throw new ConfigError(field, `at most ${MAX_EXTENDED_ACLS_PER_PORT} entries, got ${list.length}`);
  const seen = new Map<string, number>();
  return list.map((raw, k) => {
    const f = `${field}[${k}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(f, `expected an object, got ${show(raw)}`);
    const o = raw as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!KEYS.includes(key)) throw new ConfigError(`${f}.${key}`, `unknown key (expected one of ${KEYS.join(', ')})`);
    }
    if (o.action !== 'allow' && o.action !== 'deny') throw new ConfigError(`${f}.action`, `expected allow or deny, got ${show(o.action)}`);
    if (o.direction !== 'inbound' && o.direction !== 'outbound') {
      throw new ConfigError(`${f}.direction`, `expected inbound or outbound (extended ACLs have no "both"), got ${show(o.direction)}`);
    }
    if (typeof o.weight !== 'number' || !Number.isInteger(o.weight) || o.weight < 0 || o.weight > MAX_WEIGHT) {
      throw new ConfigError(`${f}.weight`, `expected an integer 0..${MAX_WEIGHT}, got ${show(o.weight)}`);
    }
    const id = `${o.weight} ${o.direction}`;
    const other = seen.get(id);
    if (other !== undefined) throw new ConfigError(`${f}.weight`, `weight ${o.weight} ${o.direction} is already used by ${field}[${other}]`);
    seen.set(id, k);
    if (o.stateful !== undefined && typeof o.stateful !== 'boolean') throw new ConfigError(`${f}.stateful`, `expected true or false, got ${show(o.stateful)}`);
    if (o.stateful === true && o.action !== 'allow') throw new ConfigError(`${f}.stateful`, 'stateful entries only allow (action must be allow)');
    if (o.idleSessionTimeout !== undefined) {
      const t = o.idleSessionTimeout;
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_IDLE_SESSION_TIMEOUT) {
        throw new ConfigError(`${f}.idleSessionTimeout`, `expected seconds 1..${MAX_IDLE_SESSION_TIMEOUT}, got ${show(t)}`);
      }
      if (o.stateful !== true) throw new ConfigError(`${f}.idleSessionTimeout`, 'only a stateful entry has an idle session timeout');
    }
    for (const key of ['protocol', 'localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort'] as const) {
      const v = o[key];
      if (v !== undefined && typeof v !== 'string' && !(typeof v === 'number' && key !== 'localIPAddress' && key !== 'remoteIPAddress')) {
        throw new ConfigError(`${f}.${key}`, `expected a string, got ${show(v)}`);
      }
    }
    const proto = parseProtocol(o.protocol, `${f}.protocol`);
    const local = parseAddress(o.localIPAddress, `${f}.localIPAddress`);
    const remote = parseAddress(o.remoteIPAddress, `${f}.remoteIPAddress`);
    for (const key of ['localPort', 'remotePort'] as const) {
      if (parsePorts(o[key], `${f}.${key}`) !== null && proto !== 6 && proto !== 17) {
        throw new ConfigError(`${f}.${key}`, `ports need protocol tcp or udp, got ${o.protocol === undefined ? 'no protocol' : show(o.protocol)}`);
      }
    }
    // an IPv4 local with an IPv6 remote address, or icmp (IPv4's) with IPv6 addresses, is accepted
    // (as the settings schema accepts it) but matches no frame (CompiledRule.never)
    const out: ExtendedAcl = { action: o.action, direction: o.direction, weight: o.weight };
    if (o.protocol !== undefined) out.protocol = typeof o.protocol === 'string' ? o.protocol.trim().toLowerCase() : String(o.protocol);
    if (o.localIPAddress !== undefined) out.localIPAddress = local?.text ?? 'any';
    if (o.remoteIPAddress !== undefined) out.remoteIPAddress = remote?.text ?? 'any';
    if (o.localPort !== undefined) out.localPort = String(o.localPort).trim();
    if (o.remotePort !== undefined) out.remotePort = String(o.remotePort).trim();
    if (o.stateful === true) out.stateful = true;
    if (o.idleSessionTimeout !== undefined) out.idleSessionTimeout = o.idleSessionTimeout as number;
    return out;
  });
}

/** index of byProto for a frame whose protocol is unknown (an IPv6 chain not walked, a bad header) */
export const UNKNOWN_PROTO = 256;

/**
 * A port's entries of one direction, compiled and sorted by weight, largest first (first match
 * final; weights are unique per direction, validated, so the order is total), and split by the
 * frame's protocol: byProto[p] holds, in that order, the entries that name protocol p or none, so a
 * frame is only compared with entries that can match its protocol. Protocols no entry names share
 * one list.
 */
export class RuleSet {
  readonly all: CompiledRule[];
  readonly byProto: CompiledRule[][];

  constructor(port: string, list: readonly ExtendedAcl[], inbound: boolean, field: string) {
    const all: CompiledRule[] = [];
    list.forEach((e, k) => { if ((e.direction === 'inbound') === inbound) all.push(new CompiledRule(port, e, `${field}[${k}]`)); });
    all.sort((a, b) => b.weight - a.weight);
    this.all = all;
    const anyProto = all.filter((r) => r.proto < 0);
    this.byProto = new Array<CompiledRule[]>(UNKNOWN_PROTO + 1).fill(anyProto);
    for (const r of all) if (r.proto >= 0) this.byProto[r.proto] = all.filter((x) => x.proto < 0 || x.proto === r.proto);
  }
}
