/**
 * Frame matchers: expression and object forms, truth tables over built frames (VLAN tags, IPv4
 * options, IPv6, fragments), garbage safety, error fields, and no allocation on the hot path.
 */
import test from 'ava';
import { ConfigError } from '../core/errors.js';
import { compileMatch, describeMatch, matchFromConfig, parseMatch, validateMatchObject } from './match.js';
import { buildPacket } from './spec.js';

const F = {
  tcp80: buildPacket('eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=10.0.0.1,dst=10.0.0.9),tcp(src=40000,dst=80,flags=S)'),
  tcp80opts: buildPacket('eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=10.0.0.1,dst=10.0.0.9,options=0101010101010101),tcp(src=40000,dst=80)'),
  tcp80vlan: buildPacket('eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),vlan(vid=100),ipv4(src=10.0.0.1,dst=10.0.0.9),tcp(src=40000,dst=80)'),
  udp53: buildPacket('eth(src=02:00:00:00:00:03),ipv4(src=192.168.1.5,dst=10.0.1.1),udp(src=53,dst=1500)'),
  udp53vlan7: buildPacket('eth(src=02:00:00:00:00:03),vlan(vid=7,pcp=2),ipv4(src=192.168.1.5,dst=10.0.1.1),udp(src=53,dst=1500)'),
  arp: buildPacket('arp(op=request,spa=10.0.0.1,tpa=10.0.0.9)'),
  arpvlan: buildPacket('vlan(vid=100),arp()'),
  icmp: buildPacket('ipv4(src=10.0.0.1,dst=10.0.0.9),icmp(type=8)'),
  v6tcp: buildPacket('ipv6(src=fe80::1,dst=2001:db8::9),tcp(src=40000,dst=443)'),
  v6icmp: buildPacket('ipv6(src=fe80::1,dst=ff02::1),icmp(type=135)'),
  // non-first fragment: bytes after the header are not a TCP header
  frag: (() => { const f = buildPacket('ipv4(src=10.0.0.1,dst=10.0.0.9),tcp(src=40000,dst=80)'); f[20] = 0x00; f[21] = 0x10; return f; })(),
};
type Name = keyof typeof F;

/** expression → frames it must match (all others must not) */
const TABLE: [string, Name[]][] = [
  ['any', Object.keys(F) as Name[]],
  ['ipv4.dst=10.0.0.0/24,tcp.dst=80', ['tcp80', 'tcp80opts', 'tcp80vlan']],
  ['tcp.dst=80', ['tcp80', 'tcp80opts', 'tcp80vlan']],
  ['tcp.src=39000-41000', ['tcp80', 'tcp80opts', 'tcp80vlan', 'v6tcp']],
  ['l4.dst=1000-2000', ['udp53', 'udp53vlan7']],
  ['udp.src=53', ['udp53', 'udp53vlan7']],
  ['udp.src=53,vlan.vid=7', ['udp53vlan7']],
  ['vlan.vid=100', ['tcp80vlan', 'arpvlan']],
  ['vlan=0', []],
  ['eth.type=0x0806', ['arp', 'arpvlan']],
  ['arp', ['arp', 'arpvlan']],
  ['eth.type=0x8100', ['tcp80vlan', 'udp53vlan7', 'arpvlan']],
  ['eth.src=02:00:00:00:00:03', ['udp53', 'udp53vlan7']],
  ['eth.dst=02:00:00:00:00:02', ['tcp80', 'tcp80opts', 'tcp80vlan']],
  ['ip.proto=17', ['udp53', 'udp53vlan7']],
  ['ip.proto=6', ['tcp80', 'tcp80opts', 'tcp80vlan', 'v6tcp', 'frag']],
  ['ipv4.proto=6', ['tcp80', 'tcp80opts', 'tcp80vlan', 'frag']],
  ['ip.src=192.168.0.0/16', ['udp53', 'udp53vlan7']],
  ['ip.dst=10.0.0.9', ['tcp80', 'tcp80opts', 'tcp80vlan', 'icmp', 'frag']],
  ['ip.src=0.0.0.0/0', ['tcp80', 'tcp80opts', 'tcp80vlan', 'udp53', 'udp53vlan7', 'icmp', 'frag']],
  ['ipv6', ['v6tcp', 'v6icmp']],
  ['ipv6.src=fe80::/10', ['v6tcp', 'v6icmp']],
  ['ip.dst=2001:db8::/32,tcp.dst=443', ['v6tcp']],
  ['ipv6.dst=ff02::1', ['v6icmp']],
  ['icmp.type=8', ['icmp']],
  ['icmp.type=135', ['v6icmp']],
  ['icmpv6.type=135', ['v6icmp']],
  ['icmp', ['icmp']],
];

test('truth table: expressions over tagged, optioned, v6 and fragmented frames', (t) => {
  for (const [expr, want] of TABLE) {
    const m = compileMatch(parseMatch(expr));
    for (const name of Object.keys(F) as Name[]) {
      const f = F[name];
      t.is(m.matches(f, 0, f.length), want.includes(name), `${expr} on ${name}`);
    }
  }
});

test('matches at an offset inside a larger buffer, honouring len', (t) => {
  const f = F.tcp80vlan;
  const buf = new Uint8Array(300).fill(0xee);
  buf.set(f, 100);
  const m = compileMatch(parseMatch('vlan.vid=100,tcp.dst=80'));
  t.true(m.matches(buf, 100, f.length));
  t.false(m.matches(buf, 100, 14 + 4 + 20 + 3)); // ports cut off
  t.false(m.matches(buf, 99, f.length));
  t.true(m.matches(f, 0, f.length + 1000)); // len past the array end is clamped
});

test('short and garbage frames never throw and never match L4 fields', (t) => {
  const l4 = ['tcp.dst=80', 'udp.src=53', 'icmp.type=8', 'l4.src=0-65535', 'ip.proto=6', 'ipv6.src=::/0'].map((e) => compileMatch(parseMatch(e)));
  const base = [F.tcp80, F.udp53vlan7, F.icmp, F.v6tcp];
  for (const f of base) {
    const tag = f[12] === 0x81 ? 4 : 0;
    const l3end = 14 + tag + (f[12 + tag] === 0x86 ? 40 : 20); // below this nothing IP can match
    for (let n = 0; n < l3end; n++) for (const m of l4) t.false(m.matches(f, 0, n), `len ${n}`);
  }
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const all = TABLE.map(([e]) => compileMatch(parseMatch(e)));
  const g = new Uint8Array(80);
  for (let i = 0; i < 20000; i++) {
    for (let k = 0; k < g.length; k++) g[k] = rnd();
    if (i & 1) { g[12] = 0x08; g[13] = 0; g[14] = 0x4f; } // IPv4 with IHL 15
    const n = rnd() % 81;
    for (const m of all) t.notThrows(() => m.matches(g, 0, n));
  }
  // IHL pointing past the frame: no L4 match
  const bad = F.tcp80.slice(0, 14 + 20 + 4);
  bad[14] = 0x4f;
  t.false(compileMatch(parseMatch('tcp.dst=80')).matches(bad, 0, bad.length));
  t.false(compileMatch(parseMatch('ip.proto=6')).matches(bad, 0, bad.length));
});

test('object form: normalized, same semantics as the expression', (t) => {
  const obj = validateMatchObject({ ethType: 2048, dstIp: '10.0.0.77/24', proto: 'tcp', dstPort: '80-80', srcPort: '1000-65535' }, 'rules[0].match');
  t.deepEqual(obj, { ethType: 0x0800, dstIp: '10.0.0.0/24', proto: 6, dstPort: 80, srcPort: '1000-65535' });
  t.true(compileMatch(obj).matches(F.tcp80, 0, F.tcp80.length));
  t.deepEqual(matchFromConfig('ipv4.dst=10.0.0.0/24,tcp.dst=80', 'x'), { ethType: 0x0800, dstIp: '10.0.0.0/24', proto: 6, dstPort: 80 });
  t.deepEqual(matchFromConfig({ vlan: 100 }, 'x'), { vlan: 100 });
  t.deepEqual(parseMatch('any'), {});
  // describeMatch → parseMatch keeps the meaning
  for (const [expr] of TABLE) {
    const a = compileMatch(parseMatch(expr));
    const b = compileMatch(parseMatch(describeMatch(parseMatch(expr))));
    for (const f of Object.values(F)) t.is(a.matches(f, 0, f.length), b.matches(f, 0, f.length), expr);
  }
});

test('errors name the field (object) or the term (expression)', (t) => {
  const obj: [unknown, string, RegExp][] = [
    [{ dstPort: 70000 }, 'rules[2].match.dstPort', /^rules\[2\]\.match\.dstPort: expected 0\.\.65535, got 70000$/],
    [{ srcPort: '2000-1000' }, 'rules[2].match.srcPort', /empty/],
    [{ srcIp: '10.0.0.0/33' }, 'rules[2].match.srcIp', /0\.\.32/],
    [{ srcIp: '10.0.0' }, 'rules[2].match.srcIp', /IPv4 or IPv6/],
    [{ srcMac: 'xx' }, 'rules[2].match.srcMac', /MAC/],
    [{ vlan: 5000 }, 'rules[2].match.vlan', /0\.\.4095/],
    [{ colour: 1 }, 'rules[2].match.colour', /unknown key/],
    [{ proto: 1, dstPort: 3 }, 'rules[2].match.dstPort', /proto 6/],
    [{ ethType: 0x0806, proto: 6 }, 'rules[2].match.proto', /needs IP/],
    [{ srcIp: '10.0.0.1', dstIp: '::1' }, 'rules[2].match.dstIp', /IPv6/],
    [{ icmpType: 3, proto: 6 }, 'rules[2].match.icmpType', /proto/],
    ['nope', 'rules[2].match', /expected an object/],
  ];
  for (const [o, fieldName, msg] of obj) {
    const e = t.throws(() => validateMatchObject(o, 'rules[2].match'), { instanceOf: ConfigError });
    t.is(e?.field, fieldName);
    t.regex(e?.message ?? '', msg);
  }
  const expr: [string, RegExp][] = [
    ['tcp.dst=70000', /^fw\.match: tcp\.dst: expected 0\.\.65535/],
    ['tcp.dst=80,udp.src=53', /udp\.src=53: conflicts with tcp\.dst=80/],
    ['ipv4.src=fe80::1', /ipv4\.src: expected an IPv4 address/],
    ['colour=red', /colour: unknown key/],
    ['frobnicate', /frobnicate: unknown term/],
    ['arp,tcp.dst=1', /tcp\.dst=1: needs IP/],
    ['tcp.dst=1,,', /empty term/],
  ];
  for (const [e, msg] of expr) {
    const err = t.throws(() => parseMatch(e, 'fw.match'), { instanceOf: ConfigError }, e);
    t.is(err?.field, 'fw.match');
    t.regex(err?.message ?? '', msg, e);
  }
});

test('matches() does not allocate: 2 million calls, small heap growth', (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  const m = compileMatch(parseMatch('vlan.vid=100,ipv4.src=10.0.0.0/8,tcp.dst=1-1000'));
  const m6 = compileMatch(parseMatch('ipv6.dst=2001:db8::/32,tcp.dst=443'));
  const frames = [F.tcp80vlan, F.tcp80, F.udp53, F.v6tcp];
  let hits = 0;
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const f = frames[i & 3];
      if (m.matches(f, 0, f.length)) hits++;
      if (m6.matches(f, 0, f.length)) hits++;
    }
  };
  run(100_000); // warm up / optimize
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(2_000_000);
  const grown = process.memoryUsage().heapUsed - before; // no gc in between: garbage would show
  t.is(hits, (100_000 + 2_000_000) / 2);
  t.log(`heap growth over 4M matches(): ${grown} bytes (gc exposed: ${gc !== undefined})`);
  t.true(grown < 1_000_000, `heap grew ${grown} bytes`);
});
