/**
 * dhcp-server in-process (testSwitch, memory ports): full DORA with built DHCP frames, replies
 * decoded by tshark's dhcp dissector (yiaddr, options, IPv4/UDP checksum status); RFC 2131 §4.1
 * reply addressing; pool exhaustion; static mapping; renew, expiry, release, NAK; traces never
 * answered; ARP for the server address; config errors naming the field; no allocation on the
 * fast path. The real-client test (busybox udhcpc in a namespace) is dhcp-server.udhcpc.test.ts.
 */
import test from 'ava';
import { writeClassicPcap } from '../../test-support/pcap.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testSwitch, type TestSwitch } from '../testing.js';
import { validateExtensionConfig } from '../config.js';
import { buildPacket } from '../../packet/spec.js';
import def, { compileDhcp, DHCP } from './index.js';

const MOD = new URL('./index.js', import.meta.url).href;
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';
const SERVER_MAC = '02:00:00:00:fe:01';

const POOL = {
  network: '10.9.0.0/24', rangeStart: '10.9.0.100', rangeEnd: '10.9.0.199', serverAddress: '10.9.0.1', serverMac: SERVER_MAC,
  router: '10.9.0.254', dns: ['10.9.0.53', '1.1.1.1'], leaseSeconds: 600,
};

const hex = (b: ArrayLike<number>): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const ipBytes = (s: string): number[] => s.split('.').map(Number);

/** a DHCP client message as a frame (broadcast unless dstMac/dstIp given) */
function client(type: number, mac: string, opts: {
  xid?: number; requested?: string; serverId?: string; ciaddr?: string; broadcast?: boolean; dstMac?: string; dstIp?: string; srcIp?: string;
} = {}): Uint8Array {
  const bootp = new Uint8Array(240);
  bootp[0] = 1; bootp[1] = 1; bootp[2] = 6;
  const xid = opts.xid ?? 0x12345678;
  bootp.set([xid >>> 24, (xid >>> 16) & 255, (xid >>> 8) & 255, xid & 255], 4);
  if (opts.broadcast) bootp[10] = 0x80;
  if (opts.ciaddr) bootp.set(ipBytes(opts.ciaddr), 12);
  bootp.set(mac.split(':').map((x) => parseInt(x, 16)), 28);
  bootp.set([0x63, 0x82, 0x53, 0x63], 236);
  const o: number[] = [53, 1, type];
  if (opts.requested) o.push(50, 4, ...ipBytes(opts.requested));
  if (opts.serverId) o.push(54, 4, ...ipBytes(opts.serverId));
  o.push(55, 4, 1, 3, 6, 51, 255);
  const src = opts.srcIp ?? opts.ciaddr ?? '0.0.0.0';
  return buildPacket(`eth(src=${mac},dst=${opts.dstMac ?? 'ff:ff:ff:ff:ff:ff'}),ipv4(src=${src},dst=${opts.dstIp ?? '255.255.255.255'}),`
    + `udp(src=68,dst=67),payload(hex=${hex(bootp)}${hex(o)})`);
}

/** send from a port, run two breaths (answer, then the originated reply), return what port `port` got */
function exchange(sw: TestSwitch, port: number, f: Uint8Array): Uint8Array[] {
  sw.clearSent();
  sw.send(port, f);
  sw.breathe(2);
  return sw.sent(port).slice();
}

// ------------------------------------------------------------ tshark

interface Decoded {
  ethDst: string; ipSrc: string; ipDst: string; ipChecksumStatus: string; udpChecksumStatus: string;
  type: number; yiaddr: string; ciaddr: string; xid: string; flags: string;
  serverId?: string; lease?: number; t1?: number; t2?: number; mask?: string; router?: string; dns: string[]; broadcastAddr?: string;
}

type Json = { [k: string]: Json } | Json[] | string;

function field(obj: Json, name: string): string | undefined {
  if (typeof obj === 'string') return undefined;
  if (Array.isArray(obj)) {
    for (const x of obj) { const v = field(x, name); if (v !== undefined) return v; }
    return undefined;
  }
  if (name in obj) {
    const v = obj[name];
    return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
  }
  for (const v of Object.values(obj)) { const r = field(v, name); if (r !== undefined) return r; }
  return undefined;
}

function fieldsAll(obj: Json, name: string, out: string[] = []): string[] {
  if (typeof obj === 'string') return out;
  if (Array.isArray(obj)) { for (const x of obj) fieldsAll(x, name, out); return out; }
  for (const [k, v] of Object.entries(obj)) {
    if (k === name && typeof v === 'string') out.push(v);
    else if (k === name && Array.isArray(v) && v.every((x) => typeof x === 'string')) out.push(...(v as string[]));
    else fieldsAll(v, name, out);
  }
  return out;
}

/** decode frames with tshark (pcap written here), checksums verified */
function tshark(frames: Uint8Array[]): Decoded[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'xvs-dhcp-'));
  try {
    const file = path.join(dir, 'replies.pcap');
    writeClassicPcap(file, frames);
    const out = execFileSync('tshark', ['-r', file, '-T', 'json', '--no-duplicate-keys', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return (JSON.parse(out) as { _source: { layers: Json } }[]).map(({ _source: { layers: l } }) => {
      const opt = (n: string): string | undefined => field(l, n);
      const num = (n: string): number | undefined => (opt(n) === undefined ? undefined : Number(opt(n)));
      return {
        ethDst: field(l, 'eth.dst') ?? '', ipSrc: field(l, 'ip.src') ?? '', ipDst: field(l, 'ip.dst') ?? '',
        ipChecksumStatus: field(l, 'ip.checksum.status') ?? '', udpChecksumStatus: field(l, 'udp.checksum.status') ?? '',
        type: Number(field(l, 'dhcp.option.dhcp') ?? 0), yiaddr: field(l, 'dhcp.ip.your') ?? '', ciaddr: field(l, 'dhcp.ip.client') ?? '',
        xid: field(l, 'dhcp.id') ?? '', flags: field(l, 'dhcp.flags') ?? '',
        serverId: opt('dhcp.option.dhcp_server_id'), lease: num('dhcp.option.ip_address_lease_time'),
        t1: num('dhcp.option.renewal_time_value'), t2: num('dhcp.option.rebinding_time_value'),
        mask: opt('dhcp.option.subnet_mask'), router: opt('dhcp.option.router'), broadcastAddr: opt('dhcp.option.broadcast_address'),
        dns: fieldsAll(l, 'dhcp.option.domain_name_server'),
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------ tests

test('DORA: offer and ack decoded by tshark (yiaddr, options, checksums good), broadcast flag honoured', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  const offer = exchange(sw, 0, client(DHCP.DISCOVER, A, { broadcast: true, xid: 0xcafe0001 }));
  t.is(offer.length, 1, 'one OFFER reached the client port');
  t.is(sw.sent(1).length, 1, 'a broadcast reply floods (the other port sees it too)');
  const ack = exchange(sw, 0, client(DHCP.REQUEST, A, { broadcast: true, xid: 0xcafe0001, requested: '10.9.0.100', serverId: '10.9.0.1' }));
  t.is(ack.length, 1);
  const [o, a] = tshark([...offer, ...ack]);
  for (const [d, type] of [[o, DHCP.OFFER], [a, DHCP.ACK]] as const) {
    t.is(d.type, type);
    t.is(d.yiaddr, '10.9.0.100');
    t.is(d.xid, '0xcafe0001');
    t.is(d.ethDst, 'ff:ff:ff:ff:ff:ff');
    t.is(d.ipDst, '255.255.255.255');
    t.is(d.ipSrc, '10.9.0.1');
    t.is(d.serverId, '10.9.0.1');
    t.is(d.mask, '255.255.255.0');
    t.is(d.router, '10.9.0.254');
    t.is(d.broadcastAddr, '10.9.0.255');
    t.deepEqual(d.dns, ['10.9.0.53', '1.1.1.1']);
    t.is(d.lease, 600);
    t.is(d.t1, 300);
    t.is(d.t2, 525);
    t.is(d.ipChecksumStatus, '1', 'IPv4 header checksum good (tshark checksum status 1 = good)');
    t.is(d.udpChecksumStatus, '1', 'UDP checksum good');
  }
  t.true(offer[0].length >= 14 + 20 + 8 + 300, 'BOOTP message padded to 300 bytes');
  for (const [k, v] of Object.entries({ discovers: 1, offers: 1, requests: 1, acks: 1, naks: 0 })) t.is(sw.counter('dhcp-server', k), v, k);
  t.is(sw.drops(0, 'extension-drop'), 2, 'the client messages were dropped (answered)');
  t.is(sw.sent(1).filter((f) => f[23] === 17 && f[37] === 67).length, 0, 'no client DHCP leaked to the other port');
  sw.close();
});

test('without the broadcast flag replies go unicast to yiaddr and the client MAC; renew goes to ciaddr', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  const [o] = tshark(exchange(sw, 0, client(DHCP.DISCOVER, A)));
  t.is(o.ethDst, A);
  t.is(o.ipDst, '10.9.0.100');
  t.is(o.udpChecksumStatus, '1');
  exchange(sw, 0, client(DHCP.REQUEST, A, { requested: '10.9.0.100', serverId: '10.9.0.1' }));
  sw.now += 400; // past T1
  const renew = exchange(sw, 0, client(DHCP.REQUEST, A, { ciaddr: '10.9.0.100', dstMac: SERVER_MAC, dstIp: '10.9.0.1', xid: 7 }));
  const [r] = tshark(renew);
  t.is(r.type, DHCP.ACK);
  t.is(r.ethDst, A);
  t.is(r.ipDst, '10.9.0.100');
  t.is(r.ciaddr, '10.9.0.100');
  t.is(r.yiaddr, '10.9.0.100');
  t.is(r.udpChecksumStatus, '1');
  // the renewed lease now runs to now+600: 500 s later the address is still A's
  sw.now += 500;
  const [ob] = tshark(exchange(sw, 0, client(DHCP.DISCOVER, B, { requested: '10.9.0.100' })));
  t.not(ob.yiaddr, '10.9.0.100', 'a renewed lease is not handed to another client');
  sw.close();
});

test('a REQUEST for an address not offered gets a NAK (broadcast); INIT-REBOOT of the held address is ACKed', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  const [n] = tshark(exchange(sw, 0, client(DHCP.REQUEST, A, { requested: '10.9.0.150', serverId: '10.9.0.1' })));
  t.is(n.type, DHCP.NAK);
  t.is(n.ethDst, 'ff:ff:ff:ff:ff:ff');
  t.is(n.ipDst, '255.255.255.255');
  t.is(n.yiaddr, '0.0.0.0');
  t.is(n.udpChecksumStatus, '1');
  const [n2] = tshark(exchange(sw, 0, client(DHCP.REQUEST, A, { requested: '10.9.0.150' })));
  t.is(n2.type, DHCP.NAK, 'INIT-REBOOT for an address it does not hold');
  exchange(sw, 0, client(DHCP.DISCOVER, A));
  const [a] = tshark(exchange(sw, 0, client(DHCP.REQUEST, A, { requested: '10.9.0.100', serverId: '10.9.0.1' })));
  t.is(a.type, DHCP.ACK);
  const [a2] = tshark(exchange(sw, 0, client(DHCP.REQUEST, A, { requested: '10.9.0.100' })));
  t.is(a2.type, DHCP.ACK, 'INIT-REBOOT for its own lease');
  // B asks for A's address
  const [n3] = tshark(exchange(sw, 0, client(DHCP.REQUEST, B, { requested: '10.9.0.100', serverId: '10.9.0.1' })));
  t.is(n3.type, DHCP.NAK);
  // a REQUEST naming another server: silence, and the offer is withdrawn
  exchange(sw, 0, client(DHCP.DISCOVER, C));
  t.is(exchange(sw, 0, client(DHCP.REQUEST, C, { requested: '10.9.0.101', serverId: '10.9.0.2' })).length, 0);
  t.is(sw.counter('dhcp-server', 'naks'), 3);
  sw.close();
});

test('pool exhaustion: no answer, counted; expiry and release give addresses back', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [{ ...POOL, rangeStart: '10.9.0.100', rangeEnd: '10.9.0.101' }] } }] });
  const dora = (mac: string): string => {
    const [o] = tshark(exchange(sw, 0, client(DHCP.DISCOVER, mac)));
    exchange(sw, 0, client(DHCP.REQUEST, mac, { requested: o.yiaddr, serverId: '10.9.0.1' }));
    return o.yiaddr;
  };
  t.deepEqual([dora(A), dora(B)].sort(), ['10.9.0.100', '10.9.0.101']);
  t.is(exchange(sw, 0, client(DHCP.DISCOVER, C)).length, 0, 'no offer');
  t.is(sw.counter('dhcp-server', 'poolExhausted'), 1);
  t.true(sw.logs.some((l) => /exhausted/.test(l)));
  // A releases: C gets A's address
  const aIp = '10.9.0.100';
  exchange(sw, 0, client(DHCP.RELEASE, A, { ciaddr: aIp, serverId: '10.9.0.1', dstMac: SERVER_MAC, dstIp: '10.9.0.1' }));
  t.is(sw.counter('dhcp-server', 'releases'), 1);
  t.is(tshark(exchange(sw, 0, client(DHCP.DISCOVER, C)))[0].yiaddr, aIp);
  // full again; after B's lease (600 s) expires, A gets B's address
  exchange(sw, 0, client(DHCP.REQUEST, C, { requested: aIp, serverId: '10.9.0.1' }));
  t.is(exchange(sw, 0, client(DHCP.DISCOVER, A)).length, 0);
  sw.now += 601;
  t.is(tshark(exchange(sw, 0, client(DHCP.DISCOVER, A)))[0].yiaddr, '10.9.0.101', 'expired lease reclaimed');
  t.is(sw.counter('dhcp-server', 'poolExhausted'), 2);
  sw.close();
});

test('static mapping: the MAC always gets its address, nobody else does', async (t) => {
  const sw = await testSwitch({
    ports: 2, stages: [{ module: MOD, config: { pools: [{ ...POOL, rangeStart: '10.9.0.100', rangeEnd: '10.9.0.100' }], static: [{ mac: B, ip: '10.9.0.100' }, { mac: C, ip: '10.9.0.7' }] } }],
  });
  t.is(exchange(sw, 0, client(DHCP.DISCOVER, A)).length, 0, 'the only dynamic address is B\'s static one');
  const [o] = tshark(exchange(sw, 0, client(DHCP.DISCOVER, C)));
  t.is(o.yiaddr, '10.9.0.7', 'static outside the range');
  const [a] = tshark(exchange(sw, 0, client(DHCP.REQUEST, C, { requested: '10.9.0.7', serverId: '10.9.0.1' })));
  t.is(a.type, DHCP.ACK);
  t.is(tshark(exchange(sw, 0, client(DHCP.DISCOVER, B, { requested: '10.9.0.55' })))[0].yiaddr, '10.9.0.100');
  sw.close();
});

test('per-port pools: each port gets its pool, an uncovered port passes DHCP untouched', async (t) => {
  const sw = await testSwitch({
    ports: 3, stages: [{
      module: MOD, config: {
        pools: [
          { ...POOL, ports: ['p0'] },
          { network: '172.16.0.0/16', rangeStart: '172.16.5.1', rangeEnd: '172.16.5.9', serverAddress: '172.16.0.1', ports: ['p1'] },
        ],
      },
    }],
  });
  t.is(tshark(exchange(sw, 0, client(DHCP.DISCOVER, A)))[0].yiaddr, '10.9.0.100');
  const [o1] = tshark(exchange(sw, 1, client(DHCP.DISCOVER, B)));
  t.is(o1.yiaddr, '172.16.5.1');
  t.is(o1.serverId, '172.16.0.1');
  t.is(o1.lease, 3600, 'default leaseSeconds');
  t.is(o1.router, undefined);
  sw.clearSent();
  sw.send(2, client(DHCP.DISCOVER, C));
  sw.breathe(2);
  t.is(sw.sent(0).length, 1, 'p2 is in no pool: its DISCOVER is forwarded as any broadcast');
  t.is(sw.counter('dhcp-server', 'discovers'), 2);
  sw.close();
});

test('traces are decided but never answered, leased or counted', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  const tr = sw.trace(client(DHCP.DISCOVER, A), 0);
  t.is(tr.verdict, 'dropped');
  t.regex(tr.steps.find((s) => s.stage === 'dhcp-server')?.reason ?? '', /answered by dhcp-server/);
  sw.breathe(2);
  t.is(sw.sent(0).length + sw.sent(1).length, 0, 'no reply');
  t.is(sw.counter('dhcp-server', 'discovers'), 0);
  t.is(tshark(exchange(sw, 0, client(DHCP.DISCOVER, B)))[0].yiaddr, '10.9.0.100', 'the trace took no address');
  sw.close();
});

test('ARP requests for the server address are answered', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  const got = exchange(sw, 0, buildPacket(`eth(src=${A}),arp(op=request,spa=10.9.0.100,tpa=10.9.0.1)`));
  const reply = got.find((f) => f[12] === 8 && f[13] === 6 && f[21] === 2);
  t.truthy(reply);
  t.deepEqual(hex(reply!.slice(0, 12)), hex([...A.split(':').map((x) => parseInt(x, 16)), ...SERVER_MAC.split(':').map((x) => parseInt(x, 16))]));
  t.deepEqual(Array.from(reply!.slice(28, 32)), [10, 9, 0, 1]);
  t.deepEqual(Array.from(reply!.slice(38, 42)), [10, 9, 0, 100]);
  t.is(sw.sent(1).filter((f) => f[21] === 1).length, 1, 'the request itself passes on');
  t.is(exchange(sw, 0, buildPacket(`eth(src=${A}),arp(op=request,spa=10.9.0.100,tpa=10.9.0.2)`)).length, 0, 'other addresses: not answered');
  t.is(sw.counter('dhcp-server', 'arpReplies'), 1);
  sw.close();
});

test('malformed DHCP from a served port is dropped and counted', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  const f = client(DHCP.DISCOVER, A);
  f[42 + 236] = 0; // magic cookie broken
  t.is(exchange(sw, 0, f).length, 0);
  t.is(sw.sent(1).length, 0);
  t.is(sw.counter('dhcp-server', 'malformed'), 1);
  sw.close();
});

test('reconfigure keeps leases that still fit and the counters', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  exchange(sw, 0, client(DHCP.DISCOVER, A));
  exchange(sw, 0, client(DHCP.REQUEST, A, { requested: '10.9.0.100', serverId: '10.9.0.1' }));
  await sw.reconfigure(0, { pools: [{ ...POOL, leaseSeconds: 1200 }] });
  const [r] = tshark(exchange(sw, 0, client(DHCP.REQUEST, A, { ciaddr: '10.9.0.100', dstMac: SERVER_MAC, dstIp: '10.9.0.1' })));
  t.is(r.type, DHCP.ACK);
  t.is(r.lease, 1200);
  await sw.reconfigure(0, { pools: [{ ...POOL, rangeStart: '10.9.0.150' }] });
  t.is(tshark(exchange(sw, 0, client(DHCP.REQUEST, A, { ciaddr: '10.9.0.100', dstMac: SERVER_MAC, dstIp: '10.9.0.1' })))[0].type, DHCP.NAK,
    'the lease left the range');
  t.is(sw.counter('dhcp-server', 'requests'), 3);
  sw.close();
});

test('configuration errors name the field', async (t) => {
  const v = (input: Record<string, unknown>): unknown => compileDhcp(validateExtensionConfig(def, input, 'config'));
  t.throws(() => v({}), { message: 'config.pools: required' });
  t.throws(() => v({ pools: [POOL, { ...POOL, network: '10.9.0.0' }] }), { message: /^config\.pools\[1\]\.network: expected a\.b\.c\.d\/len/ });
  t.throws(() => v({ pools: [{ ...POOL, rangeEnd: '10.9.1.5' }] }), { message: /^config\.pools\[0\]\.rangeEnd: 10\.9\.1\.5 is not a host address of 10\.9\.0\.0\/24/ });
  t.throws(() => v({ pools: [{ ...POOL, rangeStart: '10.9.0.200' }] }), { message: /^config\.pools\[0\]\.rangeEnd: .* below rangeStart/ });
  t.throws(() => v({ pools: [{ ...POOL, serverAddress: 'ten' }] }), { message: /^config\.pools\[0\]\.serverAddress: "ten" does not match/ });
  t.throws(() => v({ pools: [{ ...POOL, dns: ['10.9.0.300'] }] }), { message: /^config\.pools\[0\]\.dns\[0\]: expected an IPv4 address/ });
  t.throws(() => v({ pools: [{ ...POOL, leaseSeconds: 5 }] }), { message: /^config\.pools\[0\]\.leaseSeconds: expected 60\.\./ });
  t.throws(() => v({ pools: [{ ...POOL, serverMac: '01:00:00:00:00:01' }] }), { message: /^config\.pools\[0\]\.serverMac: expected a unicast MAC/ });
  t.throws(() => v({ pools: [POOL], static: [{ mac: A, ip: '192.168.1.1' }] }), { message: /^config\.static\[0\]\.ip: 192\.168\.1\.1 is in no pool/ });
  t.throws(() => v({ pools: [POOL], static: [{ mac: A, ip: '10.9.0.5' }, { mac: B, ip: '10.9.0.5' }] }), { message: /^config\.static\[1\]\.ip: .* already given to static\[0\]/ });
  t.throws(() => v({ pools: [POOL], static: [{ mac: A, ip: '10.9.0.1' }] }), { message: /^config\.static\[0\]\.ip: .* server, router or DNS/ });
  t.throws(() => v({ pools: [{ ...POOL, colour: 'blue' }] }), { message: /^config\.pools\[0\]\.colour: unknown key/ });
  await t.throwsAsync(testSwitch({ ports: 1, stages: [{ module: MOD, config: { pools: [{ ...POOL, router: '8.8.8.8' }] } }] }), { message: /^config\.pools\[0\]\.router: / });
  for (const [k, s] of Object.entries(def.doc)) t.true(s.trim().length > 0, `doc.${k}`);
});

test('no allocation on the fast path: non-DHCP traffic through a served port', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { pools: [POOL] } }] });
  for (const p of sw.ports) p.record = null;
  sw.ports[0].inbox.push(
    buildPacket(`eth(src=${A},dst=${B}),ipv4(),udp(src=1000,dst=53)`),
    buildPacket(`eth(src=${A}),arp(op=request,spa=10.9.0.100,tpa=10.9.0.77)`),
    buildPacket(`eth(src=${A},dst=${B}),ipv4(),tcp(src=1,dst=67)`),
    buildPacket(`eth(src=${A},dst=${B}),ipv6(),udp(src=68,dst=67)`),
  );
  sw.ports[0].repeat = true;
  const run = (frames: number): void => {
    const rx0 = sw.portCounter(0, 'rxPackets');
    while (sw.portCounter(0, 'rxPackets') - rx0 < frames) sw.breathe(5);
  };
  run(200_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(2_000_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`heap delta ${after - before} bytes over 2M frames`);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  sw.close();
});
