/**
 * Packet specs: golden bytes, tshark as the independent oracle for fields and checksums, the
 * buildPacket → describeFrame round trip, error fields, and describeFrame on garbage.
 */
import test from 'ava';
import { writeClassicPcap } from '../test-support/pcap.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { buildPacket, describeFrame, parseHexFrame } from './spec.js';

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('golden bytes: eth/ipv4/tcp SYN padded to 60', (t) => {
  const f = buildPacket('eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,ttl=64),tcp(src=1234,dst=80,flags=S)');
  t.is(hexOf(f),
    'ffffffffffff0200000000010800' +
    '4500002800000000400666ce0a0000010a000002' +
    '04d2005000000000000000005002ffff96be0000' +
    '000000000000');
});

test('golden bytes: vlan + arp reply, unpadded icmp, unknown ethertype', (t) => {
  t.is(hexOf(buildPacket('eth(),vlan(vid=100,pcp=3),arp(op=reply,spa=10.0.0.1,tpa=10.0.0.2)')),
    'ffffffffffff0200000000018100606408060001080006040002020000000001' +
    '0a0000010000000000000a000002' + '00'.repeat(14));
  t.is(hexOf(buildPacket('eth(pad=no),ipv4(),icmp(id=7,seq=1)')),
    'ffffffffffff02000000000108004500001c00000000400166df0a0000010a0000020800f7f700070001');
  t.is(hexOf(buildPacket('eth(dst=02:00:00:00:00:02,type=0x1234,pad=no),payload(hex=de:ad be ef)')),
    '0200000000020200000000011234deadbeef');
  t.is(buildPacket('ipv4(),udp(),payload(len=100)').length, 14 + 20 + 8 + 100);
});

/** Classic pcap (LINKTYPE_ETHERNET) decoded by tshark; returns each frame's layers. */
function tshark(frames: Uint8Array[]): Record<string, Record<string, unknown>>[] {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-spec-'));
  try {
    const file = join(dir, 'frames.pcap');
    writeClassicPcap(file, frames);
    const r = spawnSync('tshark', ['-r', file, '-T', 'json', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { _source: { layers: Record<string, Record<string, unknown>> } }[]).map((p) => p._source.layers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const hasTshark = spawnSync('tshark', ['-v']).status === 0;

/** spec, then the fields tshark must report ('layer.field': value) */
const ORACLE: [string, Record<string, string>][] = [
  ['ipv4(src=10.0.0.1,dst=10.0.0.2,ttl=7,tos=16,id=4660,df=yes),tcp(src=1234,dst=80,flags=SA,seq=100,ack=200,win=1024),payload(text=hello)',
    { 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'ip.ttl': '7', 'ip.id': '0x1234', 'ip.flags.df': '1', 'ip.checksum.status': '1',
      'tcp.srcport': '1234', 'tcp.dstport': '80', 'tcp.flags.syn': '1', 'tcp.flags.ack': '1', 'tcp.seq_raw': '100', 'tcp.ack_raw': '200',
      'tcp.window_size_value': '1024', 'tcp.len': '5', 'tcp.checksum.status': '1' }],
  ['eth(src=02:aa:00:00:00:01,dst=02:bb:00:00:00:02),vlan(vid=42,pcp=5),ipv4(src=192.168.1.1,dst=192.168.1.2),udp(src=4000,dst=5000),payload(len=33)',
    { 'eth.src': '02:aa:00:00:00:01', 'eth.dst': '02:bb:00:00:00:02', 'vlan.id': '42', 'vlan.priority': '5', 'ip.checksum.status': '1',
      'udp.srcport': '4000', 'udp.dstport': '5000', 'udp.length': '41', 'udp.checksum.status': '1' }],
  ['ipv4(src=10.1.1.1,dst=10.2.2.2,options=94040000),udp(src=4001,dst=5001),payload(hex=0102030405)',
    { 'ip.hdr_len': '24', 'ip.checksum.status': '1', 'udp.checksum.status': '1' }],
  ['ipv4(),icmp(type=8,id=7,seq=9),payload(text=ping!)',
    { 'icmp.type': '8', 'icmp.ident': '7', 'icmp.seq': '9', 'icmp.checksum.status': '1' }],
  ['vlan(vid=10,tpid=0x88a8),vlan(vid=20),ipv6(src=fe80::1,dst=2001:db8::2,hlim=9),icmp(type=128,id=1,seq=2),payload(len=7)',
    { 'ipv6.src': 'fe80::1', 'ipv6.dst': '2001:db8::2', 'ipv6.hlim': '9', 'icmpv6.type': '128', 'icmpv6.checksum.status': '1' }],
  ['ipv6(src=2001:db8::1,dst=2001:db8::2),tcp(src=5555,dst=443,flags=PA),payload(len=11)',
    { 'tcp.srcport': '5555', 'tcp.dstport': '443', 'tcp.flags.push': '1', 'tcp.checksum.status': '1' }],
  ['ipv6(),udp(src=4002,dst=5002),payload(text=x)', { 'ipv6.nxt': '17', 'udp.checksum.status': '1' }],
  ['arp(op=request,sha=02:00:00:00:00:05,spa=10.0.0.5,tpa=10.0.0.6)',
    { 'arp.opcode': '1', 'arp.src.hw_mac': '02:00:00:00:00:05', 'arp.src.proto_ipv4': '10.0.0.5', 'arp.dst.proto_ipv4': '10.0.0.6' }],
  ['ipv4(),udp(src=4003,dst=5003,csum=0x1234),payload(len=4)', { 'udp.checksum.status': '0', 'ip.checksum.status': '1' }],
];

/** Find a field anywhere under the layers (tshark nests some, e.g. tcp.flags_tree). */
function field(o: unknown, name: string): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  for (const [k, v] of Object.entries(o)) {
    if (k === name) return v;
    const inner = field(v, name);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

(hasTshark ? test : test.skip)('tshark decodes built frames with the requested fields and good checksums', (t) => {
  const decoded = tshark(ORACLE.map(([s]) => buildPacket(s)));
  t.is(decoded.length, ORACLE.length);
  ORACLE.forEach(([spec, want], i) => {
    t.falsy(field(decoded[i], '_ws.malformed'), spec);
    for (const [k, v] of Object.entries(want)) t.is(field(decoded[i], k), v, `${spec}: ${k}`);
  });
});

const CANONICAL = [
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,ttl=64),tcp(src=1234,dst=80,flags=S)',
  'eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),vlan(vid=100,pcp=3),arp(op=reply,sha=02:00:00:00:00:01,spa=10.0.0.1,tha=02:00:00:00:00:02,tpa=10.0.0.2)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),vlan(vid=10,tpid=0x88a8),vlan(vid=20),ipv6(src=fe80::1,dst=ff02::1,nh=58,hlim=255),icmp(type=128,code=0,id=3),payload(hex=68692c207468657265)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,ttl=64,tos=4,id=9,df=yes,options=01010101),udp(src=53,dst=5353),payload(len=100)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff,pad=no),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,ttl=64),icmp(type=8,code=0,id=7,seq=1)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,ttl=64),tcp(src=1,dst=2,flags=SAFRPU,seq=4294967295,ack=7,win=0,csum=0xbeef)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,ttl=64,csum=0x0001),udp(src=1,dst=2)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff,type=0x1234),payload(hex=deadbeef)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=47,ttl=64),payload(hex=0000080000)',
  'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv6(src=::,dst=::1,nh=59,hlim=64)',
];

test('round trip: describeFrame(buildPacket(s)) is s for canonical specs, and rebuilds the same bytes', (t) => {
  for (const s of CANONICAL) {
    const f = buildPacket(s);
    t.is(describeFrame(f), s);
    t.deepEqual(buildPacket(describeFrame(f)), f, s);
  }
  // abbreviated specs come back in full
  t.is(describeFrame(buildPacket('ipv4(),udp(dst=53)')),
    'eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,ttl=64),udp(src=0,dst=53)');
});

test('errors name the layer and key', (t) => {
  const cases: [string, string, RegExp][] = [
    ['eth(),ipv4(src=10.0.0),tcp()', 'packet.ipv4.src', /expected an IPv4 address, got "10.0.0"/],
    ['eth(src=nope)', 'packet.eth.src', /MAC/],
    ['ipv6(dst=1::2::3)', 'packet.ipv6.dst', /IPv6/],
    ['bogus(x=1)', 'packet.bogus', /unknown layer/],
    ['ipv4(color=red)', 'packet.ipv4.color', /unknown key/],
    ['ipv4(ttl=1,ttl=2)', 'packet.ipv4.ttl', /twice/],
    ['ipv4(ttl=256)', 'packet.ipv4.ttl', /0\.\.255/],
    ['ipv4(),tcp(dst=70000)', 'packet.tcp.dst', /0\.\.65535, got "70000"/],
    ['ipv4(),tcp(flags=SX)', 'packet.tcp.flags', /letters/],
    ['ipv4(df=maybe)', 'packet.ipv4.df', /yes or no/],
    ['ipv4(options=010101)', 'packet.ipv4.options', /multiple of 4/],
    ['vlan(vid=4096)', 'packet.vlan.vid', /0\.\.4095/],
    ['tcp()', 'packet.tcp', /must follow ipv4 or ipv6/],
    ['ipv4(),arp()', 'packet.arp', /out of order/],
    ['payload(hex=zz)', 'packet.payload.hex', /hex/],
    ['payload(len=1,text=a)', 'packet.payload', /exactly one/],
    ['ipv4(', 'packet', /offset/],
    ['ipv4() udp()', 'packet', /offset/],
  ];
  for (const [spec, fieldName, msg] of cases) {
    const e = t.throws(() => buildPacket(spec), { instanceOf: ConfigError }, spec);
    t.is(e?.field, fieldName, spec);
    t.regex(e?.message ?? '', msg, spec);
  }
});

test('parseHexFrame accepts spaces and colons; errors name frame', (t) => {
  t.deepEqual(parseHexFrame('ff:ff 00\n01'), Uint8Array.from([255, 255, 0, 1]));
  for (const bad of ['abc', 'zz', '']) {
    const e = t.throws(() => parseHexFrame(bad), { instanceOf: ConfigError });
    t.is(e?.field, 'frame');
  }
});

test('describeFrame never throws on garbage', (t) => {
  t.is(describeFrame(new Uint8Array(5)), 'malformed(len=5)');
  t.is(describeFrame(parseHexFrame('020000000002 020000000001 0800 45')), 'eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02,type=0x0800,pad=no),payload(hex=45)');
  // a truncated VLAN tag
  t.regex(describeFrame(parseHexFrame('020000000002 020000000001 8100 00')), /^eth\(.*type=0x8100.*\),payload\(len=1\)$/);
  // IPv4 whose total length overruns the frame: no L4 decoded
  const f = buildPacket('ipv4(),tcp(src=1,dst=2)');
  f[16] = 0x10;
  t.notRegex(describeFrame(f), /tcp\(/);
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const bases = CANONICAL.map(buildPacket);
  for (let i = 0; i < 5000; i++) {
    const base = bases[i % bases.length];
    const g = base.slice(0, rnd() % (base.length + 1));
    for (let k = rnd() % 4; k > 0 && g.length; k--) g[rnd() % g.length] = rnd();
    const d = describeFrame(g);
    t.true(typeof d === 'string' && d.length > 0);
    if (g.length >= 14) t.notThrows(() => buildPacket(d), d); // describes in parseable notation
  }
});
