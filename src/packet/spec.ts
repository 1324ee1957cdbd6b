/**
 * Packet specs: an ofproto/trace-like text notation for frames, built into bytes (with correct
 * IPv4 header and TCP/UDP/ICMP checksums) and described back from bytes, for tests, traces and logs.
 *
 *   spec    := layer ("," layer)*          e.g. eth(src=02:00:00:00:00:01),ipv4(dst=10.0.0.2),udp(dst=53)
 *   layer   := name "(" [key "=" value ("," key "=" value)*] ")"      value may be "double quoted"
 *   order   := [eth] vlan* [arp | ipv4 [l4] | ipv6 [l4]] [payload]    l4 := tcp | udp | icmp
 *
 *   eth(src,dst,type,pad=yes|no)    type defaults to the next layer's (0x88b5 when none follows)
 *   vlan(vid,pcp,tpid)              tpid 0x8100 (default) or e.g. 0x88a8 for a QinQ outer tag
 *   arp(op=request|reply|N,sha,spa,tha,tpa)
 *   ipv4(src,dst,proto,ttl,tos,id,df=yes|no,options=HEX,csum)
 *   ipv6(src,dst,nh,hlim)
 *   tcp(src,dst,flags=SAFRPUEC,seq,ack,win,csum)   udp(src,dst,csum)   icmp(type,code,id,seq,csum)
 *   payload(hex=HEX | len=N | text=STRING)
 *
 * Numbers are decimal or 0x-hex; csum=N forces a (wrong) checksum value. Frames shorter than 60
 * bytes are zero-padded to 60 unless eth(pad=no). describeFrame prints the same notation and
 * omits values equal to their defaults, so buildPacket(describeFrame(f)) rebuilds f.
 */
import { ConfigError } from '../core/errors.js';
import { foldChecksum, formatIPv4, formatIPv6, formatMac, parseIPv4, parseIPv6, pseudoSum, sum16 } from './addr.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, parseMac, readU16, readU32 } from './ethernet.js';

const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_EXPERIMENTAL = 0x88b5;
const MIN_FRAME = 60;

const KEYS: Record<string, readonly string[]> = {
  eth: ['src', 'dst', 'type', 'pad'],
  vlan: ['vid', 'pcp', 'tpid'],
  arp: ['op', 'sha', 'spa', 'tha', 'tpa'],
  ipv4: ['src', 'dst', 'proto', 'ttl', 'tos', 'id', 'df', 'options', 'csum'],
  ipv6: ['src', 'dst', 'nh', 'hlim'],
  tcp: ['src', 'dst', 'flags', 'seq', 'ack', 'win', 'csum'],
  udp: ['src', 'dst', 'csum'],
  icmp: ['type', 'code', 'id', 'seq', 'csum'],
  payload: ['hex', 'len', 'text'],
};
/** Position in the layer order; a layer must come after those of lower rank (vlan may repeat). */
const RANK: Record<string, number> = { eth: 0, vlan: 1, arp: 2, ipv4: 2, ipv6: 2, tcp: 3, udp: 3, icmp: 3, payload: 4 };
const TCP_FLAGS = 'FSRPAUEC'; // bit i is letter i
const FLAG_ORDER = 'SAFRPUEC';

/** One layer's key=value pairs, with typed getters whose errors name packet.<layer>.<key>. */
class Fields {
  constructor(readonly layer: string, readonly kv: Map<string, string>) {}
  field(key: string): string {
    return `packet.${this.layer}.${key}`;
  }
  has(key: string): boolean {
    return this.kv.has(key);
  }
  num(key: string, def: number, max: number): number {
    const s = this.kv.get(key);
    if (s === undefined) return def;
    const v = /^(0x[0-9a-f]+|\d+)$/i.test(s) ? Number(s) : NaN;
    if (!(v <= max)) throw new ConfigError(this.field(key), `expected 0..${max}, got "${s}"`);
    return v;
  }
  bool(key: string, def: boolean): boolean {
    const s = this.kv.get(key);
    if (s === undefined) return def;
    if (/^(yes|true|1)$/i.test(s)) return true;
    if (/^(no|false|0)$/i.test(s)) return false;
    throw new ConfigError(this.field(key), `expected yes or no, got "${s}"`);
  }
  addr(key: string, def: string, kind: 'MAC' | 'IPv4' | 'IPv6'): Uint8Array {
    const s = this.kv.get(key) ?? def;
    const v = kind === 'MAC' ? parseMac(s) : kind === 'IPv4' ? parseIPv4(s) : parseIPv6(s);
    if (!v) throw new ConfigError(this.field(key), `expected ${kind === 'IPv4' ? 'an' : 'a'} ${kind} address, got "${s}"`);
    return v;
  }
  hex(key: string): Uint8Array {
    return hexBytes(this.kv.get(key) ?? '', this.field(key));
  }
}

function hexBytes(text: string, field: string): Uint8Array {
  const s = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  const bad = /[^0-9a-f]/i.exec(s);
  if (bad) throw new ConfigError(field, `expected hex digits, got "${bad[0]}"`);
  if (s.length % 2) throw new ConfigError(field, `odd number of hex digits (${s.length})`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Frame bytes from hex text ("02 00 00 …", "02:00:…" or plain); errors name `frame`. */
export function parseHexFrame(hex: string): Uint8Array {
  const out = hexBytes(hex.trim(), 'frame');
  if (out.length === 0) throw new ConfigError('frame', 'no bytes');
  return out;
}

function parseLayers(spec: string): Fields[] {
  const out: Fields[] = [];
  let i = 0;
  const ws = (): void => { while (i < spec.length && /\s/.test(spec[i])) i++; };
  const fail = (what: string): never => {
    throw new ConfigError('packet', `expected ${what} at offset ${i}${i < spec.length ? ` ("${spec.slice(i, i + 10)}")` : ' (end)'}`);
  };
  ws();
  while (i < spec.length) {
    const name = /^[a-z0-9]+/i.exec(spec.slice(i))?.[0] ?? fail('a layer name');
    i += name.length;
    const keys = KEYS[name];
    if (!keys) throw new ConfigError(`packet.${name}`, `unknown layer (expected one of ${Object.keys(KEYS).join(', ')})`);
    ws();
    if (spec[i] !== '(') fail('"("');
    i++;
    const kv = new Map<string, string>();
    ws();
    while (spec[i] !== ')') {
      const key = /^[a-z]+/i.exec(spec.slice(i))?.[0] ?? fail('a key or ")"');
      i += key.length;
      if (!keys.includes(key)) throw new ConfigError(`packet.${name}.${key}`, `unknown key (expected one of ${keys.join(', ')})`);
      if (kv.has(key)) throw new ConfigError(`packet.${name}.${key}`, 'given twice');
      ws();
      if (spec[i] !== '=') fail('"="');
      i++;
      ws();
      let value: string;
      if (spec[i] === '"') {
        const end = spec.indexOf('"', i + 1);
        if (end < 0) fail('a closing quote');
        value = spec.slice(i + 1, end);
        i = end + 1;
      } else {
        const start = i;
        while (i < spec.length && spec[i] !== ',' && spec[i] !== ')') i++;
        value = spec.slice(start, i).trim();
      }
      kv.set(key, value);
      ws();
      if (spec[i] === ',') { i++; ws(); } else if (spec[i] !== ')') fail('"," or ")"');
    }
    i++;
    const prev = out.length ? out[out.length - 1].layer : '';
    const ok = out.length === 0 || RANK[name] > RANK[prev] || (name === 'vlan' && prev === 'vlan');
    if (!ok || (name === 'eth' && out.length) || (RANK[name] === 3 && prev !== 'ipv4' && prev !== 'ipv6')) {
      throw new ConfigError(`packet.${name}`, RANK[name] === 3 ? 'must follow ipv4 or ipv6' : `out of order after ${prev}`);
    }
    out.push(new Fields(name, kv));
    ws();
    if (i < spec.length) { if (spec[i] !== ',') fail('","'); i++; ws(); }
  }
  if (out.length === 0 || out[0].layer !== 'eth') out.unshift(new Fields('eth', new Map()));
  return out;
}

/** Build a frame from a spec (see the module comment). Throws ConfigError naming packet.<layer>.<key>. */
export function buildPacket(spec: string): Uint8Array {
  const layers = parseLayers(spec);
  const find = (...names: string[]): Fields | undefined => layers.find((l) => names.includes(l.layer));
  const eth = layers[0];
  const vlans = layers.filter((l) => l.layer === 'vlan');
  const l3 = find('arp', 'ipv4', 'ipv6');
  const l4 = find('tcp', 'udp', 'icmp');
  const pay = find('payload');

  let data: Uint8Array = new Uint8Array(0);
  if (pay) {
    if (pay.kv.size !== 1) throw new ConfigError('packet.payload', 'give exactly one of hex, len, text');
    if (pay.has('hex')) data = pay.hex('hex');
    else if (pay.has('len')) data = new Uint8Array(pay.num('len', 0, 65535));
    else data = new TextEncoder().encode(pay.kv.get('text'));
  }
  const srcMac = eth.addr('src', '02:00:00:00:00:01', 'MAC');
  const options = l3?.layer === 'ipv4' && l3.has('options') ? l3.hex('options') : new Uint8Array(0);
  if (options.length % 4 || options.length > 40) {
    throw new ConfigError('packet.ipv4.options', `expected a multiple of 4 bytes up to 40, got ${options.length}`);
  }
  const l3len = !l3 ? 0 : l3.layer === 'arp' ? 28 : l3.layer === 'ipv4' ? 20 + options.length : 40;
  const l4len = !l4 ? 0 : l4.layer === 'tcp' ? 20 : 8;
  const l3off = 14 + 4 * vlans.length;
  const l4off = l3off + l3len;
  const natural = l4off + l4len + data.length;
  const f = new Uint8Array(eth.bool('pad', true) ? Math.max(natural, MIN_FRAME) : natural);
  const u16 = (off: number, v: number): void => { f[off] = v >>> 8; f[off + 1] = v & 0xff; };
  const u32 = (off: number, v: number): void => { u16(off, v >>> 16); u16(off + 2, v & 0xffff); };

  f.set(eth.addr('dst', 'ff:ff:ff:ff:ff:ff', 'MAC'), 0);
  f.set(srcMac, 6);
  const l3type = !l3 ? ETHERTYPE_EXPERIMENTAL : l3.layer === 'arp' ? ETHERTYPE_ARP : l3.layer === 'ipv4' ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
  let typeOff = 12;
  for (const v of vlans) {
    u16(typeOff, v.num('tpid', ETHERTYPE_VLAN, 0xffff));
    u16(typeOff + 2, (v.num('pcp', 0, 7) << 13) | v.num('vid', 0, 4095));
    typeOff += 4;
  }
  u16(typeOff, eth.num('type', l3type, 0xffff));
  f.set(data, l4off + l4len);

  const v6 = l3?.layer === 'ipv6';
  const proto = !l4 ? (v6 ? 59 : 0) : l4.layer === 'tcp' ? 6 : l4.layer === 'udp' ? 17 : v6 ? 58 : 1;
  if (l3?.layer === 'arp') {
    const op = l3.kv.get('op');
    u16(l3off, 1); u16(l3off + 2, ETHERTYPE_IPV4); f[l3off + 4] = 6; f[l3off + 5] = 4;
    u16(l3off + 6, op === 'request' || op === undefined ? 1 : op === 'reply' ? 2 : l3.num('op', 1, 0xffff));
    f.set(l3.kv.has('sha') ? l3.addr('sha', '', 'MAC') : srcMac, l3off + 8);
    f.set(l3.addr('spa', '0.0.0.0', 'IPv4'), l3off + 14);
    f.set(l3.addr('tha', '00:00:00:00:00:00', 'MAC'), l3off + 18);
    f.set(l3.addr('tpa', '0.0.0.0', 'IPv4'), l3off + 24);
  } else if (l3?.layer === 'ipv4') {
    f[l3off] = 0x40 | (l3len >> 2);
    f[l3off + 1] = l3.num('tos', 0, 255);
    u16(l3off + 2, natural - l3off);
    if (natural - l3off > 0xffff) throw new ConfigError('packet.ipv4', 'packet longer than 65535 bytes');
    u16(l3off + 4, l3.num('id', 0, 0xffff));
    u16(l3off + 6, l3.bool('df', false) ? 0x4000 : 0);
    f[l3off + 8] = l3.num('ttl', 64, 255);
    f[l3off + 9] = l3.num('proto', proto, 255);
    f.set(l3.addr('src', '10.0.0.1', 'IPv4'), l3off + 12);
    f.set(l3.addr('dst', '10.0.0.2', 'IPv4'), l3off + 16);
    f.set(options, l3off + 20);
    u16(l3off + 10, l3.num('csum', foldChecksum(sum16(f, l3off, l3len, 0)), 0xffff));
  } else if (l3?.layer === 'ipv6') {
    f[l3off] = 0x60;
    u16(l3off + 4, natural - l4off);
    if (natural - l4off > 0xffff) throw new ConfigError('packet.ipv6', 'payload longer than 65535 bytes');
    f[l3off + 6] = l3.num('nh', proto, 255);
    f[l3off + 7] = l3.num('hlim', 64, 255);
    f.set(l3.addr('src', 'fd00::1', 'IPv6'), l3off + 8);
    f.set(l3.addr('dst', 'fd00::2', 'IPv6'), l3off + 24);
  }
  if (!l4 || !l3) return f;
  if (l4.layer === 'tcp') {
    u16(l4off, l4.num('src', 0, 0xffff)); u16(l4off + 2, l4.num('dst', 0, 0xffff));
    u32(l4off + 4, l4.num('seq', 0, 0xffffffff)); u32(l4off + 8, l4.num('ack', 0, 0xffffffff));
    f[l4off + 12] = 5 << 4;
    f[l4off + 13] = tcpFlags(l4);
    u16(l4off + 14, l4.num('win', 65535, 0xffff));
  } else if (l4.layer === 'udp') {
    u16(l4off, l4.num('src', 0, 0xffff)); u16(l4off + 2, l4.num('dst', 0, 0xffff));
    u16(l4off + 4, natural - l4off);
  } else {
    f[l4off] = l4.num('type', v6 ? 128 : 8, 255); f[l4off + 1] = l4.num('code', 0, 255);
    u16(l4off + 4, l4.num('id', 0, 0xffff)); u16(l4off + 6, l4.num('seq', 0, 0xffff));
  }
  const csumOff = l4off + (l4.layer === 'tcp' ? 16 : l4.layer === 'udp' ? 6 : 2);
  let sum = sum16(f, l4off, natural - l4off, 0);
  if (l4.layer !== 'icmp' || v6) sum += pseudoSum(f, l3off + (v6 ? 8 : 12), v6 ? 16 : 4, f[l3off + (v6 ? 6 : 9)], natural - l4off);
  let csum = foldChecksum(sum);
  if (csum === 0 && l4.layer === 'udp') csum = 0xffff;
  u16(csumOff, l4.num('csum', csum, 0xffff));
  return f;
}

function tcpFlags(l4: Fields): number {
  const s = l4.kv.get('flags') ?? '';
  if (/^(0x[0-9a-f]+|\d+)$/i.test(s)) return l4.num('flags', 0, 255);
  let v = 0;
  for (const c of s.toUpperCase()) {
    const bit = TCP_FLAGS.indexOf(c);
    if (bit < 0) throw new ConfigError(l4.field('flags'), `expected letters of ${FLAG_ORDER}, got "${s}"`);
    v |= 1 << bit;
  }
  return v;
}

const hex16 = (v: number): string => `0x${v.toString(16).padStart(4, '0')}`;

/**
 * The spec notation for a frame: eth(...) plus whatever of vlan/arp/ipv4/ipv6/tcp/udp/icmp decodes,
 * then payload. A checksum that does not verify is shown as csum=0x…. Never throws: a runt is
 * `malformed(len=N)`, an undecodable body `payload(...)`.
 */
export function describeFrame(bytes: Uint8Array): string {
  try {
    return describe(bytes);
  } catch {
    return `malformed(len=${bytes.length})`;
  }
}

function describe(b: Uint8Array): string {
  const n = b.length;
  if (n < 14) return `malformed(len=${n})`;
  const out: string[] = [];
  let off = 12;
  let type = readU16(b, off);
  while ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && off + 6 <= n) {
    const tci = readU16(b, off + 2);
    out.push(`vlan(vid=${tci & 0xfff}${tci >>> 13 ? `,pcp=${tci >>> 13}` : ''}${type !== ETHERTYPE_VLAN ? `,tpid=${hex16(type)}` : ''})`);
    off += 4;
    type = readU16(b, off);
  }
  let p = off + 2; // start of the layer after the EtherType
  let end = n; // end of meaningful bytes (the rest is Ethernet padding)
  let known = true;
  if (type === ETHERTYPE_ARP && p + 28 <= n && readU16(b, p) === 1 && readU16(b, p + 2) === ETHERTYPE_IPV4 && b[p + 4] === 6 && b[p + 5] === 4) {
    const op = readU16(b, p + 6);
    out.push(`arp(op=${op === 1 ? 'request' : op === 2 ? 'reply' : op},sha=${formatMac(b, p + 8)},spa=${formatIPv4(b, p + 14)},tha=${formatMac(b, p + 18)},tpa=${formatIPv4(b, p + 24)})`);
    p = end = p + 28;
  } else if (type === ETHERTYPE_IPV4 && p + 20 <= n && b[p] >>> 4 === 4 && (b[p] & 15) >= 5 && p + (b[p] & 15) * 4 <= n) {
    const hl = (b[p] & 15) * 4;
    const tl = readU16(b, p + 2);
    if (tl >= hl && p + tl <= n) end = p + tl;
    const frag = readU16(b, p + 6);
    let s = `ipv4(src=${formatIPv4(b, p + 12)},dst=${formatIPv4(b, p + 16)},proto=${b[p + 9]},ttl=${b[p + 8]}`;
    if (b[p + 1]) s += `,tos=${b[p + 1]}`;
    if (readU16(b, p + 4)) s += `,id=${readU16(b, p + 4)}`;
    if (frag & 0x4000) s += ',df=yes';
    if (hl > 20) s += `,options=${toHex(b, p + 20, p + hl)}`;
    if (foldChecksum(sum16(b, p, hl, 0)) !== 0) s += `,csum=${hex16(readU16(b, p + 10))}`;
    out.push(s + ')');
    const q = p + hl;
    // L4 only when this is the whole datagram (not a fragment) and it is not truncated
    p = (frag & 0x3fff) === 0 && end === p + tl ? l4(b, out, p, q, end, b[p + 9], false) : q;
  } else if (type === ETHERTYPE_IPV6 && p + 40 <= n && b[p] >>> 4 === 6) {
    const pl = readU16(b, p + 4);
    if (p + 40 + pl <= n) end = p + 40 + pl;
    out.push(`ipv6(src=${formatIPv6(b, p + 8)},dst=${formatIPv6(b, p + 24)},nh=${b[p + 6]},hlim=${b[p + 7]})`);
    p = end === p + 40 + pl ? l4(b, out, p, p + 40, end, b[p + 6], true) : p + 40;
  } else {
    known = false;
  }
  let e = `eth(src=${formatMac(b, 6)},dst=${formatMac(b, 0)}`;
  if (!known) e += `,type=${hex16(type)}`;
  if (n < MIN_FRAME) e += ',pad=no';
  out.unshift(e + ')');
  if (end === n && n === MIN_FRAME) while (end > p && b[end - 1] === 0) end--; // padding
  if (end > p) {
    let zero = true;
    for (let i = p; i < end; i++) if (b[i]) { zero = false; break; }
    out.push(zero || end - p > 64 ? `payload(len=${end - p})` : `payload(hex=${toHex(b, p, end)})`);
  }
  return out.join(',');
}

/** Append the L4 layer at q (IP header at ip) if it decodes; returns where the payload starts. */
function l4(b: Uint8Array, out: string[], ip: number, q: number, end: number, proto: number, v6: boolean): number {
  const len = end - q;
  const isIcmp = proto === (v6 ? 58 : 1);
  if (!((proto === 6 && len >= 20 && b[q + 12] >>> 4 >= 5 && (b[q + 12] >>> 4) * 4 <= len) || (proto === 17 && len >= 8) || (isIcmp && len >= 8))) return q;
  let sum = sum16(b, q, len, 0);
  if (!isIcmp || v6) sum += pseudoSum(b, ip + (v6 ? 8 : 12), v6 ? 16 : 4, proto, len);
  const csumOff = q + (proto === 6 ? 16 : proto === 17 ? 6 : 2);
  const bad = foldChecksum(sum) !== 0 && !(proto === 17 && !v6 && readU16(b, csumOff) === 0);
  const csum = bad ? `,csum=${hex16(readU16(b, csumOff))}` : '';
  if (proto === 6) {
    const flags = b[q + 13];
    let s = `tcp(src=${readU16(b, q)},dst=${readU16(b, q + 2)}`;
    if (flags) s += `,flags=${[...FLAG_ORDER].filter((c) => flags & (1 << TCP_FLAGS.indexOf(c))).join('')}`;
    if (readU32(b, q + 4)) s += `,seq=${readU32(b, q + 4)}`;
    if (readU32(b, q + 8)) s += `,ack=${readU32(b, q + 8)}`;
    if (readU16(b, q + 14) !== 65535) s += `,win=${readU16(b, q + 14)}`;
    out.push(s + csum + ')');
    return q + (b[q + 12] >>> 4) * 4;
  }
  if (proto === 17) {
    out.push(`udp(src=${readU16(b, q)},dst=${readU16(b, q + 2)}${csum})`);
    return q + 8;
  }
  let s = `icmp(type=${b[q]},code=${b[q + 1]}`;
  if (readU16(b, q + 4)) s += `,id=${readU16(b, q + 4)}`;
  if (readU16(b, q + 6)) s += `,seq=${readU16(b, q + 6)}`;
  out.push(s + csum + ')');
  return q + 8;
}

function toHex(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += b[i].toString(16).padStart(2, '0');
  return s;
}
