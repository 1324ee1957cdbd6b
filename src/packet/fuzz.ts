/**
 * Frame generators for fuzzing (fast-check arbitraries): malformed and valid frames at every layer
 * the switch or a built-in extension parses. Each generator builds a frame from a structured recipe
 * (so fast-check shrinks toward a small, readable counterexample), then a `mangle` step may cut it
 * anywhere and overwrite a few bytes.
 *
 *   eth     runts, lengths around the MTU, EtherType/length 1501..1535, bad source MACs
 *   vlan    0..4 stacked 802.1Q / 802.1ad (QinQ) / 0x9100 tags, cut inside a tag
 *   ipv4    IHL 0..15, total length shorter/longer than the frame, fragments, garbage options
 *   ipv6    extension header chains (hop-by-hop, routing, fragment, destination, AH, ESP, mobility,
 *           unknown), up to 80 deep and repeated (loops), headers whose length runs past the end
 *   arp     wrong hardware/protocol types and lengths, requests for the DHCP server's address
 *   dhcp    UDP 68→67 BOOTP with bad op/htype/hlen/magic and options that overrun or never end
 *   tcp/udp data offset 0..15, UDP length shorter/longer than the datagram, ICMP/ICMPv6
 *   gre     flag/version bits inconsistent with the optional fields, inner Ethernet (0x6558) or IP
 *   vxlan   UDP 4789 with bad flags/VNI and an inner Ethernet frame (itself fuzzed)
 *   valid   well-formed UDP/TCP/ICMP/ARP/DHCP frames between a few known hosts
 *
 * Tests and the fuzz bench (src/reliability/fuzz.ts) run them through the whole switch.
 */
import fc from 'fast-check';

export type FuzzKind = 'eth' | 'vlan' | 'ipv4' | 'ipv6' | 'arp' | 'dhcp' | 'l4' | 'gre' | 'vxlan' | 'valid';
export const FUZZ_KINDS: readonly FuzzKind[] = ['eth', 'vlan', 'ipv4', 'ipv6', 'arp', 'dhcp', 'l4', 'gre', 'vxlan', 'valid'];

export interface FuzzFrame {
  kind: FuzzKind;
  /** index of the switch port it enters on (0..ports-1, taken modulo the port count) */
  port: number;
  bytes: Uint8Array;
}

/** the known hosts' MACs (unicast, locally administered): learned, in static tables */
export const FUZZ_HOSTS: readonly Uint8Array[] = [1, 2, 3, 4, 5, 6].map((k) => Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x00, k));
/** the DHCP pool and server the fuzz switch configures */
export const FUZZ_DHCP = { network: '10.9.0.0/24', rangeStart: '10.9.0.100', rangeEnd: '10.9.0.150', serverAddress: '10.9.0.1' } as const;
const DHCP_SERVER = [10, 9, 0, 1];
/** largest frame generated (oversize frames up to here; a pool slot holds more) */
export const FUZZ_MAX_FRAME = 1800;

const BCAST = Uint8Array.of(255, 255, 255, 255, 255, 255);

type Bytes = Uint8Array;

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const raw = (max: number, min = 0): fc.Arbitrary<Bytes> => fc.uint8Array({ minLength: min, maxLength: max });
const host = fc.constantFrom(...FUZZ_HOSTS);

const dstMac: fc.Arbitrary<Bytes> = fc.oneof(
  { weight: 6, arbitrary: host },
  { weight: 3, arbitrary: fc.constant(BCAST) },
  { weight: 1, arbitrary: fc.constantFrom(Uint8Array.of(1, 0, 0x5e, 0, 0, 1), Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), Uint8Array.of(1, 0x80, 0xc2, 0, 0, 0)) },
  { weight: 1, arbitrary: raw(6, 6) },
);
const srcMac: fc.Arbitrary<Bytes> = fc.oneof(
  { weight: 12, arbitrary: host },
  { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(6), BCAST, Uint8Array.of(1, 0, 0x5e, 0, 0, 9)) },
  { weight: 1, arbitrary: raw(6, 6) },
);

interface Tag { tpid: number; tci: number }
const tag: fc.Arbitrary<Tag> = fc.record({ tpid: fc.constantFrom(0x8100, 0x88a8, 0x9100, 0x8100), tci: u16 });
const tags: fc.Arbitrary<Tag[]> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Tag[]>([]) },
  { weight: 2, arbitrary: fc.array(tag, { minLength: 1, maxLength: 4 }) },
);

/** cut the frame at some point and overwrite a few bytes (both optional) */
interface Mangle { cut: number | null; flips: { at: number; v: number }[] }
const mangle: fc.Arbitrary<Mangle> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Mangle>({ cut: null, flips: [] }) },
  { weight: 2, arbitrary: fc.record({ cut: fc.option(fc.nat(), { nil: null }), flips: fc.array(fc.record({ at: fc.nat(), v: u8 }), { maxLength: 3 }) }) },
);

function applyMangle(f: Bytes, m: Mangle): Bytes {
  let out = f;
  if (m.cut !== null) out = f.slice(0, m.cut % (f.length + 1));
  else if (m.flips.length) out = f.slice();
  for (const { at, v } of m.flips) if (out.length) out[at % out.length] = v;
  return out;
}

function cat(...parts: (Bytes | number[])[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(Math.min(n, FUZZ_MAX_FRAME));
  let o = 0;
  for (const p of parts) {
    if (o >= out.length) break;
    const take = Math.min(p.length, out.length - o);
    out.set(take === p.length ? p : p.slice(0, take), o);
    o += take;
  }
  return out;
}

const be16 = (n: number): number[] => [(n >>> 8) & 255, n & 255];
const be32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

function ether(dst: Bytes, src: Bytes, tg: Tag[], type: number, payload: Bytes): Bytes {
  const hdr: number[] = [...dst, ...src];
  for (const t of tg) hdr.push(...be16(t.tpid), ...be16(t.tci));
  hdr.push(...be16(type));
  return cat(hdr, payload);
}

// ------------------------------------------------------------------ L4

/** a length field: right, or anything */
const lenMode = fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: u16 });

const udp = (dport: fc.Arbitrary<number>, body: fc.Arbitrary<Bytes>): fc.Arbitrary<Bytes> =>
  fc.record({ sport: u16, dport, len: lenMode, sum: u16, body }).map((u) =>
    cat([...be16(u.sport), ...be16(u.dport), ...be16(u.len < 0 ? 8 + u.body.length : u.len), ...be16(u.sum)], u.body));

const tcp: fc.Arbitrary<Bytes> = fc.record({
  sport: u16, dport: fc.oneof(u16, fc.constantFrom(22, 23, 80, 443)), seq: fc.nat(), doff: fc.oneof({ weight: 2, arbitrary: fc.constant(5) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 15 }) }),
  flags: u8, opts: raw(40), body: raw(64),
}).map((t) => cat([...be16(t.sport), ...be16(t.dport), ...be32(t.seq), 0, 0, 0, 0, (t.doff << 4), t.flags, 0xff, 0xff, 0, 0, 0, 0], t.opts, t.body));

const icmp: fc.Arbitrary<Bytes> = fc.record({ type: fc.oneof(fc.constantFrom(0, 8, 128, 129, 135, 136), u8), code: u8, body: raw(32) })
  .map((c) => cat([c.type, c.code, 0, 0], c.body));

// ------------------------------------------------------------------ tunnels (GRE, VXLAN)

/** an inner Ethernet frame for tunnels: valid or mildly broken, no further tunnels */
const innerEther: fc.Arbitrary<Bytes> = fc.record({
  dst: dstMac, src: srcMac, tg: tags, type: fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x8100, 0x88cc),
  body: raw(80), m: mangle,
}).map((e) => applyMangle(ether(e.dst, e.src, e.tg, e.type, e.body), e.m));

/** GRE (RFC 2784/2890): C, K, S bits and version in the first word; the optional fields may be missing */
const gre: fc.Arbitrary<Bytes> = fc.record({
  c: fc.boolean(), k: fc.boolean(), s: fc.boolean(), ver: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }),
  reserved: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1ff }) }),
  proto: fc.constantFrom(0x6558, 0x0800, 0x86dd, 0x880b, 0x0000), omitOptional: fc.boolean(), key: fc.nat(),
  inner: innerEther,
}).map((g) => {
  const w0 = (g.c ? 0x8000 : 0) | (g.k ? 0x2000 : 0) | (g.s ? 0x1000 : 0) | (g.reserved << 3) | g.ver;
  const opt: number[] = [];
  if (!g.omitOptional) {
    if (g.c) opt.push(0, 0, 0, 0);
    if (g.k) opt.push(...be32(g.key));
    if (g.s) opt.push(0, 0, 0, 1);
  }
  return cat([...be16(w0), ...be16(g.proto), ...opt], g.inner);
});

/** VXLAN (RFC 7348) header + inner frame, carried in UDP to 4789 */
const vxlan: fc.Arbitrary<Bytes> = fc.record({
  flags: fc.oneof({ weight: 3, arbitrary: fc.constant(0x08) }, { weight: 1, arbitrary: u8 }), vni: fc.integer({ min: 0, max: 0xffffff }),
  rsv: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: u8 }), inner: innerEther,
}).map((v) => cat([v.flags, 0, 0, 0, ...be32(v.vni << 8 | v.rsv).slice(0, 3), v.rsv], v.inner));

// ------------------------------------------------------------------ DHCP

/** BOOTP + options; options may overrun the datagram, never end, or carry wrong lengths */
const dhcpMessage: fc.Arbitrary<Bytes> = fc.record({
  op: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u8 }),
  htype: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u8 }),
  hlen: fc.oneof({ weight: 5, arbitrary: fc.constant(6) }, { weight: 1, arbitrary: u8 }),
  xid: fc.nat(), flags: fc.constantFrom(0, 0x8000), ciaddr: fc.constantFrom(0, 0x0a090064, 0x0a090001, 0x7f000001),
  chaddr: host, magic: fc.oneof({ weight: 6, arbitrary: fc.constant(0x63825363) }, { weight: 1, arbitrary: fc.nat() }),
  type: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: u8 }),
  typeLen: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u8 }),
  opts: fc.array(fc.record({ code: fc.oneof(fc.constantFrom(0, 50, 54, 55, 61, 12, 255), u8), len: u8, data: raw(16) }), { maxLength: 6 }),
  end: fc.boolean(),
}).map((d) => {
  const fixed = new Uint8Array(240);
  fixed[0] = d.op; fixed[1] = d.htype; fixed[2] = d.hlen;
  fixed.set(be32(d.xid), 4); fixed.set(be16(d.flags), 10); fixed.set(be32(d.ciaddr), 12);
  fixed.set(d.chaddr, 28); fixed.set(be32(d.magic), 236);
  const o: number[] = [53, d.typeLen, d.type];
  // the declared length may claim more than the bytes that follow (overrun)
  for (const x of d.opts) o.push(x.code, x.len, ...x.data);
  if (d.end) o.push(255);
  return cat(fixed, o);
});

// ------------------------------------------------------------------ IPv4 / IPv6

const l4For = (proto: number): fc.Arbitrary<Bytes> =>
  proto === 6 ? tcp : proto === 17 ? udp(fc.oneof(u16, fc.constantFrom(53, 67, 68, 4789, 6343)), raw(64))
    : proto === 1 || proto === 58 ? icmp : proto === 47 ? gre : raw(64);

const ipv4 = (proto: fc.Arbitrary<number>, l4: (p: number) => fc.Arbitrary<Bytes>): fc.Arbitrary<Bytes> =>
  proto.chain((p) => fc.record({
    ihl: fc.oneof({ weight: 3, arbitrary: fc.constant(5) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    ver: fc.oneof({ weight: 8, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    tot: lenMode, frag: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: u16 }),
    src: fc.constantFrom([10, 9, 0, 100], [10, 66, 1, 2], [0, 0, 0, 0], [198, 18, 0, 1]),
    dst: fc.constantFrom([10, 9, 0, 1], [255, 255, 255, 255], [10, 9, 0, 101], [224, 0, 0, 1]),
    opts: raw(40), body: l4(p),
  }).map((h) => {
    const optLen = Math.max(0, Math.min(h.opts.length, h.ihl * 4 - 20));
    const total = 20 + optLen + h.body.length;
    return cat([(h.ver << 4) | h.ihl, 0, ...be16(h.tot < 0 ? total : h.tot), 0, 1, ...be16(h.frag), 64, p, 0, 0, ...h.src, ...h.dst],
      h.opts.slice(0, optLen), h.body);
  }));

const EXT = [0, 43, 44, 60, 51, 50, 135, 139, 140, 253];
interface ExtHdr { type: number; len: number; body: Bytes }
const extHdr: fc.Arbitrary<ExtHdr> = fc.record({
  type: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...EXT) }, { weight: 1, arbitrary: u8 }),
  len: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: u8 }),
  body: raw(24),
});
const extChain: fc.Arbitrary<ExtHdr[]> = fc.oneof(
  { weight: 4, arbitrary: fc.array(extHdr, { maxLength: 4 }) },
  // long chains and loops: the same header again and again (an attacker's "many headers")
  { weight: 1, arbitrary: fc.tuple(extHdr, fc.integer({ min: 8, max: 80 })).map(([h, n]) => Array.from({ length: n }, () => h)) },
);

const ipv6: fc.Arbitrary<Bytes> = fc.record({
  chain: extChain, last: fc.constantFrom(6, 17, 58, 59, 47, 0, 255), plen: lenMode,
  ver: fc.oneof({ weight: 8, arbitrary: fc.constant(6) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
}).chain((v) => l4For(v.last).map((body) => {
  const ext: number[] = [];
  v.chain.forEach((h, k) => {
    const next = k + 1 < v.chain.length ? v.chain[k + 1].type : v.last;
    if (h.type === 44) ext.push(next, h.len, 0, 0, 0, 0, 0, 1); // fragment: fixed 8 bytes, len is "reserved"
    else {
      // declared (len + 1) * 8 bytes (AH: (len + 2) * 4); we give `body` bytes, which may fall short
      const want = (h.len + 1) * 8 - 2;
      const b = h.body.length >= want ? h.body.slice(0, want) : h.body;
      ext.push(next, h.len, ...b);
    }
  });
  const first = v.chain.length ? v.chain[0].type : v.last;
  const payload = cat(ext, body);
  const src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  return cat([v.ver << 4, 0, 0, 0, ...be16(v.plen < 0 ? payload.length : v.plen), first, 64, ...src, ...dst], payload);
}));

// ------------------------------------------------------------------ ARP

const arp: fc.Arbitrary<Bytes> = fc.record({
  htype: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u16 }),
  ptype: fc.oneof({ weight: 3, arbitrary: fc.constant(0x0800) }, { weight: 1, arbitrary: u16 }),
  hlen: fc.oneof({ weight: 3, arbitrary: fc.constant(6) }, { weight: 1, arbitrary: u8 }),
  plen: fc.oneof({ weight: 3, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: u8 }),
  op: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(1, 2) }, { weight: 1, arbitrary: u16 }),
  sha: host, spa: fc.constantFrom([10, 9, 0, 100], [10, 9, 0, 200], [0, 0, 0, 0]),
  tpa: fc.constantFrom(DHCP_SERVER, [10, 9, 0, 254], [10, 9, 0, 100]), extra: raw(30),
}).map((a) => cat([...be16(a.htype), ...be16(a.ptype), a.hlen, a.plen, ...be16(a.op), ...a.sha, ...a.spa, 0, 0, 0, 0, 0, 0, ...a.tpa], a.extra));

// ------------------------------------------------------------------ frames by kind

const frameOf = (kind: FuzzKind, type: fc.Arbitrary<number>, payload: fc.Arbitrary<Bytes>): fc.Arbitrary<FuzzFrame> =>
  frameOfTyped(kind, fc.tuple(type, payload));

const frameOfTyped = (kind: FuzzKind, tp: fc.Arbitrary<[number, Bytes]>): fc.Arbitrary<FuzzFrame> =>
  fc.record({ dst: dstMac, src: srcMac, tg: tags, tp, m: mangle, port: fc.nat({ max: 255 }) })
    .map((r) => ({ kind, port: portFor(r.src, r.port), bytes: applyMangle(ether(r.dst, r.src, r.tg, r.tp[0], r.tp[1]), r.m) }));

/** a known host sends from its own port (so forwarding is unicast, not same-port) 9 times in 10 */
function portFor(src: Bytes, r: number): number {
  const k = FUZZ_HOSTS.findIndex((h) => h === src);
  return k >= 0 && r % 10 !== 0 ? k : r;
}

/** IPv4 or IPv6 (fixed header) around protocol p */
const overIp = (p: number): fc.Arbitrary<[number, Bytes]> => fc.oneof(
  ipv4(fc.constant(p), l4For).map((b): [number, Bytes] => [0x0800, b]),
  ipv6Fixed(p === 1 ? 58 : p).map((b): [number, Bytes] => [0x86dd, b]),
);

const ethFrame: fc.Arbitrary<FuzzFrame> = fc.record({
  bytes: fc.oneof(
    raw(13), // runts
    fc.record({ dst: dstMac, src: srcMac, type: fc.oneof(fc.integer({ min: 1500, max: 1536 }), u16), n: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1480, max: FUZZ_MAX_FRAME - 14 })) })
      .map((e) => ether(e.dst, e.src, [], e.type, new Uint8Array(e.n))),
  ),
  port: fc.nat({ max: 255 }),
}).map((r) => ({ kind: 'eth' as const, port: r.port, bytes: r.bytes }));

const ipProto = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 6, 17, 47) }, { weight: 1, arbitrary: u8 });

export const ARBITRARIES: Record<FuzzKind, fc.Arbitrary<FuzzFrame>> = {
  eth: ethFrame,
  vlan: frameOf('vlan', fc.constantFrom(0x8100, 0x88a8, 0x0800, 0x86dd), raw(64))
    .chain((f) => fc.array(tag, { minLength: 1, maxLength: 4 }).map((tg) => {
      // insert tags after the MACs of a frame whose type is itself a tag type, cut anywhere
      const b = f.bytes;
      if (b.length < 12) return f;
      const tagBytes = tg.flatMap((t) => [...be16(t.tpid), ...be16(t.tci)]);
      return { ...f, bytes: cat(b.subarray(0, 12), tagBytes, b.subarray(12)) };
    })),
  ipv4: frameOf('ipv4', fc.constant(0x0800), ipv4(ipProto, l4For)),
  ipv6: frameOf('ipv6', fc.constant(0x86dd), ipv6),
  arp: frameOf('arp', fc.constant(0x0806), arp),
  dhcp: frameOf('dhcp', fc.constant(0x0800), ipv4(fc.constant(17), () => udp(fc.constant(67), dhcpMessage).map((u) => { u[0] = 0; u[1] = 68; return u; }))),
  l4: fc.constantFrom(6, 17, 1).chain((p) => frameOfTyped('l4', overIp(p))),
  gre: frameOfTyped('gre', overIp(47)),
  vxlan: frameOf('vxlan', fc.constant(0x0800), ipv4(fc.constant(17), () => udp(fc.constant(4789), vxlan))),
  valid: fc.record({ a: fc.nat({ max: FUZZ_HOSTS.length - 1 }), b: fc.nat({ max: FUZZ_HOSTS.length }), which: fc.integer({ min: 0, max: 4 }), n: fc.nat({ max: 200 }), seq: fc.nat() })
    .map((v) => ({ kind: 'valid' as const, port: v.a, bytes: validFrame(v.which, FUZZ_HOSTS[v.a], v.b === FUZZ_HOSTS.length ? BCAST : FUZZ_HOSTS[v.b], v.n, v.seq) })),
};

/** IPv6 with no extension headers and a right payload length around an L4 protocol */
function ipv6Fixed(proto: number): fc.Arbitrary<Bytes> {
  return l4For(proto).map((body) => cat([0x60, 0, 0, 0, ...be16(body.length), proto, 64,
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], body));
}

/** a well-formed frame: 0 UDP, 1 TCP SYN, 2 ICMP echo, 3 ARP request, 4 DHCPDISCOVER */
export function validFrame(which: number, src: Bytes, dst: Bytes, n: number, seq: number): Bytes {
  const ip = (proto: number, l4: Bytes, to: number[]): Bytes => {
    const h = [0x45, 0, ...be16(20 + l4.length), 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 9, 0, 100 + src[5], ...to];
    let s = 0;
    for (let k = 0; k < 20; k += 2) s += (h[k] << 8) | h[k + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    h[10] = (~s >>> 8) & 255; h[11] = ~s & 255;
    return cat(h, l4);
  };
  const peer = [10, 9, 0, 100 + dst[5]];
  const body = new Uint8Array(n);
  for (let k = 0; k < Math.min(4, n); k++) body[k] = (seq >>> (8 * k)) & 255;
  switch (which) {
    case 0: return ether(dst, src, [], 0x0800, ip(17, cat([0x30, 0x39, 0x00, 0x09, ...be16(8 + n), 0, 0], body), peer));
    case 1: return ether(dst, src, [], 0x0800, ip(6, cat([0xc0, 0x01, 0, 22, ...be32(seq), 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]), peer));
    case 2: return ether(dst, src, [], 0x0800, ip(1, cat([8, 0, 0, 0, 0, 1, ...be16(seq & 0xffff)], body), peer));
    case 3: return ether(BCAST, src, [], 0x0806, cat([0, 1, 8, 0, 6, 4, 0, 1, ...src, 10, 9, 0, 100 + src[5], 0, 0, 0, 0, 0, 0, ...(seq & 1 ? DHCP_SERVER : peer)]));
    default: {
      const m = new Uint8Array(240);
      m[0] = 1; m[1] = 1; m[2] = 6; m.set(be32(seq), 4); m.set(src, 28); m.set(be32(0x63825363), 236);
      const dhcp = cat(m, [53, 1, 1, 55, 3, 1, 3, 6, 255]);
      const u = cat([0, 68, 0, 67, ...be16(8 + dhcp.length), 0, 0], dhcp);
      const h = [0x45, 0, ...be16(20 + u.length), 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255];
      return ether(BCAST, src, [], 0x0800, cat(h, u));
    }
  }
}

/** Every kind, malformed ones weighted up; about one frame in five is valid. */
export function fuzzFrame(weights: Partial<Record<FuzzKind, number>> = {}): fc.Arbitrary<FuzzFrame> {
  const w: Record<FuzzKind, number> = { eth: 2, vlan: 2, ipv4: 3, ipv6: 3, arp: 2, dhcp: 3, l4: 2, gre: 2, vxlan: 2, valid: 5, ...weights };
  return fc.oneof(...FUZZ_KINDS.filter((k) => w[k] > 0).map((k) => ({ weight: w[k], arbitrary: ARBITRARIES[k] })));
}

/** a frame as hex (counterexamples, regression tests) */
export function frameHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
