/**
 * Frame matchers for the firewall extension and live packet traces. A match is given as an
 * expression (`ipv4.dst=10.0.0.0/24,tcp.dst=80`) or as a JSON object (MatchSpec) that can live in
 * configuration; compileMatch turns it into a FrameMatcher whose matches() reads bytes in place
 * with no allocation.
 *
 * Expression grammar: terms joined by "," (all must hold); `any` (or empty) matches every frame.
 *   eth.type=0x0806|arp|ipv4|ipv6   eth.src=MAC   eth.dst=MAC   vlan.vid=N (also vlan=N)
 *   ip.src=ADDR[/LEN]  ip.dst=…  (ipv4.src/ipv4.dst/ipv6.src/ipv6.dst also pin the family)
 *   ip.proto=N|tcp|udp|icmp|icmpv6  (ipv4.proto, ipv6.nh)
 *   tcp.src=P  tcp.dst=P  udp.src=P  udp.dst=P      P := N | N-M  (also sets the protocol)
 *   l4.src=P  l4.dst=P                              (TCP or UDP)
 *   icmp.type=N (ICMP for IPv4, ICMPv6 for IPv6)     icmpv6.type=N (also sets proto 58)
 *   bare words: arp ipv4 ipv6 tcp udp icmp icmpv6
 *
 * Frame semantics: one optional 802.1Q/802.1ad tag is skipped (vlan matches its VID; ethType
 * matches the inner type or the tag's TPID). IPv4 honours IHL and the total length (an IHL below 5
 * or a total length below the header is no IPv4 packet; bytes past the total length, such as
 * Ethernet padding, are not L4); non-first fragments have no L4 header. IPv6 honours the payload
 * length (0, a jumbogram, means up to the frame's end) and walks the extension header chain
 * (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6; at most
 * MAX_IPV6_EXT_HEADERS of them): `proto`/`ipv6.nh` is the upper-layer protocol after the chain; a
 * chain that is longer, or runs past the packet, has no protocol and no L4 header (it matches no
 * proto, port or ICMP type), and so has a non-first fragment's L4 header. Port matches need TCP or
 * UDP, icmpType needs ICMP (IPv4) or ICMPv6. Short or garbage frames never match an absent field.
 */
import { ConfigError } from '../core/errors.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './addr.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, macHi, macLo, parseMac } from './ethernet.js';

export interface MatchSpec {
  ethType?: number;
  srcMac?: string;
  dstMac?: string;
  vlan?: number;
  /** 'a.b.c.d', 'a.b.c.d/len' or an IPv6 address with optional /len */
  srcIp?: string;
  dstIp?: string;
  proto?: number;
  /** a port or an inclusive range "lo-hi" */
  srcPort?: number | string;
  dstPort?: number | string;
  icmpType?: number;
}

export interface FrameMatcher {
  matches(bytes: Uint8Array, off: number, len: number): boolean;
}

type Key = keyof MatchSpec;
const KEYS: readonly Key[] = ['ethType', 'srcMac', 'dstMac', 'vlan', 'srcIp', 'dstIp', 'proto', 'srcPort', 'dstPort', 'icmpType'];
const ETH_NAMES: Record<string, number> = { arp: ETHERTYPE_ARP, ipv4: ETHERTYPE_IPV4, ipv6: ETHERTYPE_IPV6 };
const PROTO_NAMES: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 };

/** A bad value; the caller turns it into a ConfigError naming the field or term. */
class Bad extends Error {}

function int(v: unknown, max: number, names?: Record<string, number>): number {
  if (typeof v === 'string' && names && v.toLowerCase() in names) return names[v.toLowerCase()];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > max) {
    const alt = names ? ` or one of ${Object.keys(names).join(', ')}` : '';
    throw new Bad(`expected 0..${max}${alt}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function mac(v: unknown): string {
  const b = typeof v === 'string' ? parseMac(v) : null;
  if (!b) throw new Bad(`expected a MAC address, got ${JSON.stringify(v)}`);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Parse "addr[/len]" into family, address bytes, prefix length. */
function prefix(v: unknown): { family: 4 | 6; addr: Uint8Array; len: number } {
  const s = typeof v === 'string' ? v.trim() : '';
  const slash = s.indexOf('/');
  const a = slash < 0 ? s : s.slice(0, slash);
  const v4 = parseIPv4(a);
  const addr = v4 ?? parseIPv6(a);
  if (!addr) throw new Bad(`expected an IPv4 or IPv6 address with optional /len, got ${JSON.stringify(v)}`);
  const max = v4 ? 32 : 128;
  const len = slash < 0 ? max : /^\d{1,3}$/.test(s.slice(slash + 1)) ? Number(s.slice(slash + 1)) : -1;
  if (len < 0 || len > max) throw new Bad(`prefix length expected 0..${max}, got ${JSON.stringify(s.slice(slash + 1))}`);
  for (let i = 0; i < addr.length; i++) addr[i] &= i * 8 >= len ? 0 : i * 8 + 8 <= len ? 0xff : (0xff00 >> (len - i * 8)) & 0xff;
  return { family: v4 ? 4 : 6, addr, len };
}

function ipText(v: unknown): string {
  const p = prefix(v);
  const text = p.family === 4 ? formatIPv4(p.addr, 0) : formatIPv6(p.addr, 0);
  return `${text}/${p.len}`;
}

/** Ports: a number or "lo-hi"; returns [lo, hi]. */
function portRange(v: unknown): [number, number] {
  const m = typeof v === 'string' ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(v) : null;
  if (!m) {
    const p = int(v, 65535);
    return [p, p];
  }
  const lo = int(m[1], 65535);
  const hi = int(m[2], 65535);
  if (lo > hi) throw new Bad(`range is empty: ${lo} > ${hi}`);
  return [lo, hi];
}

function normalize(key: Key, v: unknown): number | string {
  switch (key) {
    case 'ethType': return int(v, 0xffff, ETH_NAMES);
    case 'srcMac': case 'dstMac': return mac(v);
    case 'vlan': return int(v, 4095);
    case 'srcIp': case 'dstIp': return ipText(v);
    case 'proto': return int(v, 255, PROTO_NAMES);
    case 'srcPort': case 'dstPort': {
      const [lo, hi] = portRange(v);
      return lo === hi ? lo : `${lo}-${hi}`;
    }
    case 'icmpType': return int(v, 255);
  }
}

const family = (ip: string | undefined): number => (ip === undefined ? 0 : ip.includes(':') ? 6 : 4);

/** Cross-field checks on a normalized spec; `fail` builds the ConfigError blaming key k. */
function checkConsistent(m: MatchSpec, error: (k: Key, msg: string) => ConfigError): MatchSpec {
  const fail = (k: Key, msg: string): never => { throw error(k, msg); };
  const fam = family(m.srcIp) || family(m.dstIp);
  if (m.srcIp !== undefined && m.dstIp !== undefined && family(m.srcIp) !== family(m.dstIp)) fail('dstIp', `IPv${family(m.dstIp)} address with an IPv${family(m.srcIp)} srcIp`);
  if (m.ethType !== undefined && m.ethType !== ETHERTYPE_VLAN && m.ethType !== 0x88a8) {
    const ipType = m.ethType === ETHERTYPE_IPV4 ? 4 : m.ethType === ETHERTYPE_IPV6 ? 6 : 0;
    for (const k of ['srcIp', 'dstIp', 'proto', 'srcPort', 'dstPort', 'icmpType'] as const) {
      if (m[k] === undefined) continue;
      if (!ipType) fail(k, `needs IP, but ethType is 0x${m.ethType.toString(16).padStart(4, '0')}`);
      if ((k === 'srcIp' || k === 'dstIp') && family(m[k]) !== ipType) fail(k, `IPv${family(m[k])} address, but ethType is IPv${ipType}`);
    }
  }
  for (const k of ['srcPort', 'dstPort'] as const) {
    if (m[k] !== undefined && m.proto !== undefined && m.proto !== 6 && m.proto !== 17) fail(k, `ports need proto 6 (tcp) or 17 (udp), got proto ${m.proto}`);
  }
  if (m.icmpType !== undefined) {
    if (m.srcPort !== undefined || m.dstPort !== undefined) fail('icmpType', 'cannot be combined with ports');
    const want = fam === 4 ? [1] : fam === 6 ? [58] : [1, 58];
    if (m.proto !== undefined && !want.includes(m.proto)) fail('icmpType', `needs proto ${want.join(' or ')}, got proto ${m.proto}`);
  }
  return m;
}

/** Check a configuration object; ConfigErrors name `${field}.<key>`. Returns a normalized copy. */
export function validateMatchObject(obj: unknown, field: string): MatchSpec {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ConfigError(field, `expected an object, got ${JSON.stringify(obj)}`);
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new ConfigError(`${field}.${k}`, `unknown key (expected one of ${KEYS.join(', ')})`);
    if (v === undefined) continue;
    try {
      out[k] = normalize(k as Key, v);
    } catch (e) {
      if (e instanceof Bad) throw new ConfigError(`${field}.${k}`, e.message);
      throw e;
    }
  }
  return checkConsistent(out as MatchSpec, (k, msg) => new ConfigError(`${field}.${k}`, msg));
}

/** A configuration value that is either an expression string or a MatchSpec object. */
export function matchFromConfig(v: unknown, field: string): MatchSpec {
  return typeof v === 'string' ? parseMatch(v, field) : validateMatchObject(v, field);
}

/** term key -> [spec key, implied settings] */
const TERMS: Record<string, [Key, MatchSpec?, (4 | 6)?]> = {
  'eth.type': ['ethType'], 'eth.src': ['srcMac'], 'eth.dst': ['dstMac'], 'vlan.vid': ['vlan'], vlan: ['vlan'],
  'ip.src': ['srcIp'], 'ip.dst': ['dstIp'], 'ip.proto': ['proto'],
  'ipv4.src': ['srcIp', { ethType: ETHERTYPE_IPV4 }, 4], 'ipv4.dst': ['dstIp', { ethType: ETHERTYPE_IPV4 }, 4],
  'ipv4.proto': ['proto', { ethType: ETHERTYPE_IPV4 }],
  'ipv6.src': ['srcIp', { ethType: ETHERTYPE_IPV6 }, 6], 'ipv6.dst': ['dstIp', { ethType: ETHERTYPE_IPV6 }, 6],
  'ipv6.nh': ['proto', { ethType: ETHERTYPE_IPV6 }], 'ipv6.proto': ['proto', { ethType: ETHERTYPE_IPV6 }],
  'tcp.src': ['srcPort', { proto: 6 }], 'tcp.dst': ['dstPort', { proto: 6 }],
  'udp.src': ['srcPort', { proto: 17 }], 'udp.dst': ['dstPort', { proto: 17 }],
  'l4.src': ['srcPort'], 'l4.dst': ['dstPort'], // TCP or UDP
  'icmp.type': ['icmpType'], 'icmpv6.type': ['icmpType', { proto: 58 }], // icmp: ICMPv4 or ICMPv6 by IP version
};
const WORDS: Record<string, MatchSpec> = {
  arp: { ethType: ETHERTYPE_ARP }, ipv4: { ethType: ETHERTYPE_IPV4 }, ipv6: { ethType: ETHERTYPE_IPV6 },
  tcp: { proto: 6 }, udp: { proto: 17 }, icmp: { proto: 1 }, icmpv6: { proto: 58 },
};

/** Parse a match expression (see the module comment). ConfigErrors read `${field}: <term>: …`. */
export function parseMatch(expr: string, field = 'match'): MatchSpec {
  const out: Record<string, number | string> = {};
  const from: Partial<Record<Key, string>> = {};
  const set = (k: Key, v: number | string, term: string): void => {
    if (out[k] !== undefined && out[k] !== v) throw new ConfigError(field, `${term}: conflicts with ${from[k]}`);
    out[k] = v;
    from[k] ??= term;
  };
  const terms = expr.split(',').map((t) => t.trim());
  if (terms.length === 1 && (terms[0] === '' || terms[0] === 'any')) return {};
  for (const term of terms) {
    if (term === '') throw new ConfigError(field, `empty term in ${JSON.stringify(expr)}`);
    const eq = term.indexOf('=');
    if (eq < 0) {
      const implied = WORDS[term.toLowerCase()];
      if (!implied) throw new ConfigError(field, `${term}: unknown term (expected key=value, any, or one of ${Object.keys(WORDS).join(', ')})`);
      for (const [k, v] of Object.entries(implied)) set(k as Key, v as number, term);
      continue;
    }
    const name = term.slice(0, eq).trim().toLowerCase();
    const t = TERMS[name];
    if (!t) throw new ConfigError(field, `${name}: unknown key (expected one of ${Object.keys(TERMS).join(', ')})`);
    const [k, implied, fam] = t;
    let v: number | string;
    try {
      v = normalize(k, term.slice(eq + 1).trim());
      if (fam && family(v as string) !== fam) throw new Bad(`expected an IPv${fam} address, got ${JSON.stringify(term.slice(eq + 1).trim())}`);
    } catch (e) {
      if (e instanceof Bad) throw new ConfigError(field, `${name}: ${e.message}`);
      throw e;
    }
    for (const [ik, iv] of Object.entries(implied ?? {})) set(ik as Key, iv as number, term);
    set(k, v, term);
  }
  return checkConsistent(out as MatchSpec, (k, msg) => new ConfigError(field, `${from[k] ?? k}: ${msg}`));
}

/** The expression for a spec (for logs); parseMatch(describeMatch(m)) matches the same frames. */
export function describeMatch(spec: MatchSpec): string {
  const m = validateMatchObject(spec, 'match');
  const l4 = m.proto === 6 ? 'tcp' : m.proto === 17 ? 'udp' : '';
  const parts: string[] = [];
  if (m.ethType !== undefined) parts.push(`eth.type=0x${m.ethType.toString(16).padStart(4, '0')}`);
  if (m.srcMac) parts.push(`eth.src=${m.srcMac}`);
  if (m.dstMac) parts.push(`eth.dst=${m.dstMac}`);
  if (m.vlan !== undefined) parts.push(`vlan.vid=${m.vlan}`);
  if (m.srcIp) parts.push(`ip.src=${m.srcIp}`);
  if (m.dstIp) parts.push(`ip.dst=${m.dstIp}`);
  if (m.proto !== undefined) parts.push(`ip.proto=${m.proto}`);
  if (m.srcPort !== undefined) parts.push(`${l4 || 'l4'}.src=${m.srcPort}`);
  if (m.dstPort !== undefined) parts.push(`${l4 || 'l4'}.dst=${m.dstPort}`);
  if (m.icmpType !== undefined) parts.push(`icmp.type=${m.icmpType}`);
  return parts.length ? parts.join(',') : 'any';
}

const NONE = -1;
/** IPv6 extension headers walked before the upper-layer protocol is given up as unknown */
export const MAX_IPV6_EXT_HEADERS = 16;

/** Signed 32-bit big-endian read (compares against masks kept as int32). */
function s32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** [net0..3, mask0..3] as int32 words (IPv4 uses word 0 only). */
function words(ip: string | undefined): Int32Array {
  const w = new Int32Array(8);
  if (ip === undefined) return w;
  const p = prefix(ip);
  for (let i = 0; i < p.addr.length / 4; i++) {
    w[i] = s32(p.addr, i * 4);
    const bits = Math.min(32, Math.max(0, p.len - i * 32));
    w[4 + i] = bits === 0 ? 0 : bits === 32 ? -1 : ~(0xffffffff >>> bits);
  }
  return w;
}

/** The compiled form: every field a number (NONE = unconstrained), one method, no closures. */
class CompiledMatcher implements FrameMatcher {
  readonly #compiled = true;
  /** true only for objects this module built (a brand check that Object.create cannot fake) */
  static real(m: unknown): m is CompiledMatcher {
    return typeof m === 'object' && m !== null && #compiled in m;
  }

  readonly any: boolean;
  readonly ethType: number;
  readonly dstHi: number;
  readonly dstLo: number;
  readonly srcHi: number;
  readonly srcLo: number;
  readonly vlan: number;
  readonly family: number;
  readonly src: Int32Array;
  readonly dst: Int32Array;
  readonly hasSrc: boolean;
  readonly hasDst: boolean;
  readonly needIp: boolean;
  readonly proto: number;
  readonly spLo: number;
  readonly spHi: number;
  readonly dpLo: number;
  readonly dpHi: number;
  readonly icmpType: number;

  constructor(m: MatchSpec) {
    this.any = Object.keys(m).length === 0;
    this.ethType = m.ethType ?? NONE;
    const d = m.dstMac ? parseMac(m.dstMac) : null;
    const s = m.srcMac ? parseMac(m.srcMac) : null;
    this.dstHi = d ? macHi(d, 0) : NONE;
    this.dstLo = d ? macLo(d, 0) : 0;
    this.srcHi = s ? macHi(s, 0) : NONE;
    this.srcLo = s ? macLo(s, 0) : 0;
    this.vlan = m.vlan ?? NONE;
    this.family = family(m.srcIp) || family(m.dstIp);
    this.src = words(m.srcIp);
    this.dst = words(m.dstIp);
    this.hasSrc = m.srcIp !== undefined;
    this.hasDst = m.dstIp !== undefined;
    this.proto = m.proto ?? NONE;
    [this.spLo, this.spHi] = m.srcPort === undefined ? [NONE, NONE] : portRange(m.srcPort);
    [this.dpLo, this.dpHi] = m.dstPort === undefined ? [NONE, NONE] : portRange(m.dstPort);
    this.icmpType = m.icmpType ?? NONE;
    this.needIp = this.family !== 0 || this.proto !== NONE || this.spLo !== NONE || this.dpLo !== NONE || this.icmpType !== NONE;
    Object.freeze(this);
  }

  matches(b: Uint8Array, off: number, len: number): boolean {
    return runMatch(this, b, off, len);
  }
}
Object.freeze(CompiledMatcher.prototype);

function runMatch(m: CompiledMatcher, b: Uint8Array, off: number, len: number): boolean {
  if (m.any) return true;
  const end = off + len <= b.length ? off + len : b.length;
  if (off < 0 || end - off < 14) return false;
  if (m.dstHi !== NONE && (((b[off] << 8) | b[off + 1]) !== m.dstHi || s32(b, off + 2) !== m.dstLo)) return false;
  if (m.srcHi !== NONE && (((b[off + 6] << 8) | b[off + 7]) !== m.srcHi || s32(b, off + 8) !== m.srcLo)) return false;
  let p = off + 12;
  const outer = (b[p] << 8) | b[p + 1];
  let type = outer;
  let vid = NONE;
  if (outer === ETHERTYPE_VLAN || outer === 0x88a8) {
    if (end - p < 6) return false;
    vid = ((b[p + 2] << 8) | b[p + 3]) & 0xfff;
    p += 4;
    type = (b[p] << 8) | b[p + 1];
  }
  if (m.vlan !== NONE && vid !== m.vlan) return false;
  if (m.ethType !== NONE && type !== m.ethType && outer !== m.ethType) return false;
  if (!m.needIp) return true;
  p += 2;
  let proto: number;
  let l4 = NONE;
  let icmp: number;
  let ipEnd: number;
  if (type === ETHERTYPE_IPV4) {
    if (m.family === 6 || end - p < 20 || b[p] >>> 4 !== 4) return false;
    const hl = (b[p] & 15) << 2;
    const total = (b[p + 2] << 8) | b[p + 3];
    if (hl < 20 || end - p < hl || total < hl) return false;
    if (m.hasSrc && (s32(b, p + 12) & m.src[4]) !== m.src[0]) return false;
    if (m.hasDst && (s32(b, p + 16) & m.dst[4]) !== m.dst[0]) return false;
    ipEnd = p + total < end ? p + total : end;
    proto = b[p + 9];
    if ((((b[p + 6] << 8) | b[p + 7]) & 0x1fff) === 0) l4 = p + hl; // not a non-first fragment
    icmp = 1;
  } else if (type === ETHERTYPE_IPV6) {
    if (m.family === 4 || end - p < 40 || b[p] >>> 4 !== 6) return false;
    if (m.hasSrc && !v6in(b, p + 8, m.src)) return false;
    if (m.hasDst && !v6in(b, p + 24, m.dst)) return false;
    const plen = (b[p + 4] << 8) | b[p + 5];
    ipEnd = plen === 0 || p + 40 + plen > end ? end : p + 40 + plen;
    proto = b[p + 6];
    l4 = p + 40;
    // the extension header chain, bounded: the upper-layer protocol, or unknown (NONE)
    for (let hops = 0; proto === 0 || proto === 43 || proto === 60 || proto === 44 || proto === 51 || proto === 135 || proto === 139 || proto === 140; hops++) {
      if (hops === MAX_IPV6_EXT_HEADERS || ipEnd - l4 < 8) { proto = NONE; l4 = NONE; break; }
      const next = b[l4];
      if (proto === 44) {
        if ((((b[l4 + 2] << 8) | b[l4 + 3]) & 0xfff8) !== 0) { proto = next; l4 = NONE; break; } // a non-first fragment
        l4 += 8;
      } else {
        l4 += proto === 51 ? (b[l4 + 1] + 2) << 2 : (b[l4 + 1] + 1) << 3;
      }
      proto = next;
      if (l4 > ipEnd) { proto = NONE; l4 = NONE; break; }
    }
    icmp = 58;
  } else {
    return false;
  }
  if (m.proto !== NONE && proto !== m.proto) return false;
  if (m.icmpType !== NONE) return proto === icmp && l4 !== NONE && ipEnd - l4 >= 4 && b[l4] === m.icmpType;
  if (m.spLo === NONE && m.dpLo === NONE) return true;
  if ((proto !== 6 && proto !== 17) || l4 === NONE || ipEnd - l4 < 4) return false;
  const sp = (b[l4] << 8) | b[l4 + 1];
  const dp = (b[l4 + 2] << 8) | b[l4 + 3];
  if (m.spLo !== NONE && (sp < m.spLo || sp > m.spHi)) return false;
  return m.dpLo === NONE || (dp >= m.dpLo && dp <= m.dpHi);
}

function v6in(b: Uint8Array, o: number, w: Int32Array): boolean {
  return (s32(b, o) & w[4]) === w[0] && (s32(b, o + 4) & w[5]) === w[1] && (s32(b, o + 8) & w[6]) === w[2] && (s32(b, o + 12) & w[7]) === w[3];
}

/**
 * Match a frame in place with a matcher compiled here, running this module's own code: an object
 * that merely looks like a matcher (an extension's) is refused, so frame bytes handed over by the
 * extension views never reach extension code.
 */
export function matchInPlace(m: unknown, b: Uint8Array, off: number, len: number): boolean {
  if (!CompiledMatcher.real(m)) throw new TypeError('matches(): pass a matcher from compileMatch() or parseMatch(), not an object of your own');
  return runMatch(m, b, off, len);
}

/** Compile a spec (validated here too) into a matcher for the hot path. */
export function compileMatch(spec: MatchSpec): FrameMatcher {
  return new CompiledMatcher(validateMatchObject(spec, 'match'));
}
