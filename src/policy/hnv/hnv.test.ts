import test from 'ava';
import type { HnvCustomerRoute, HnvLookupRecord } from '../../config/types.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import type { PolicyPort, SwitchPolicyInput } from '../../pipeline/port-policies.js';
import { HVF, hnvVsidCounters, PolicyCounters, type HnvVsidCounters } from '../counters.js';
import { ipFrame as wireIpFrame, slotWithVnet } from '../../test-support/hnv-frames.js';
import { HNV_ROUTER_MAC, hnvPolicy } from './index.js';

// ---- frames (allocate freely: tests only) ----

const M = (n: number): string => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const M1 = M(1), M2 = M(2), M3 = M(3), M4 = M(4), M6 = M(6);
const UPA = '02:aa:00:00:00:01';
const UPB = '02:bb:00:00:00:01';
const PA_A = '192.0.2.1';
const PA_B = '192.0.2.2';
const BCAST = 'ff:ff:ff:ff:ff:ff';

const macB = (s: string): number[] => s.split(':').map((x) => parseInt(x, 16));
const ipB = (s: string): number[] => s.split('.').map(Number);
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const macAt = (f: Uint8Array, o: number): string => [...f.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ipAt = (f: Uint8Array, o: number): string => [...f.subarray(o, o + 4)].join('.');

function ipSum(b: Uint8Array, o: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k += 2) s += (b[o + k] << 8) | b[o + k + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function arpFrame(op: number, ethDst: string, sha: string, spa: string, tha: string, tpa: string): Uint8Array {
  const f = new Uint8Array(60);
  f.set(macB(ethDst), 0); f.set(macB(sha), 6); f[12] = 0x08; f[13] = 0x06;
  f.set([0, 1, 8, 0, 6, 4, 0, op], 14);
  f.set(macB(sha), 22); f.set(ipB(spa), 28); f.set(macB(tha), 32); f.set(ipB(tpa), 38);
  return f;
}

function ipFrame(dst: string, src: string, sip: string, dip: string, size = 100, df = false): Uint8Array {
  const f = new Uint8Array(size);
  f.set(macB(dst), 0); f.set(macB(src), 6); f[12] = 0x08; f[13] = 0x00;
  f[14] = 0x45; f[16] = (size - 14) >> 8; f[17] = (size - 14) & 0xff; if (df) f[20] = 0x40; f[22] = 64; f[23] = 17;
  f.set(ipB(sip), 26); f.set(ipB(dip), 30);
  const c = ipSum(f, 14, 20); f[24] = c >> 8; f[25] = c & 0xff;
  f[34] = 0x30; f[35] = 0x39; f[36] = 0x00; f[37] = 0x35; f[38] = (size - 34) >> 8; f[39] = (size - 34) & 0xff;
  for (let k = 42; k < size; k++) f[k] = k & 0xff;
  return f;
}

/** outer Ethernet/IPv4 + VXLAN (UDP 4789) or NVGRE around `inner` */
function tunnel(encap: 'vxlan' | 'nvgre', outerSrc: string, outerDst: string, vsid: number, inner: Uint8Array): Uint8Array {
  const l4 = encap === 'vxlan' ? 16 : 8;
  const f = new Uint8Array(34 + l4 + inner.length);
  f.set(macB(UPA), 0); f.set(macB(UPB), 6); f[12] = 0x08; f[13] = 0x00;
  const ipLen = 20 + l4 + inner.length;
  f[14] = 0x45; f[16] = ipLen >> 8; f[17] = ipLen & 0xff; f[20] = 0x40; f[22] = 64; f[23] = encap === 'vxlan' ? 17 : 47;
  f.set(ipB(outerSrc), 26); f.set(ipB(outerDst), 30);
  const c = ipSum(f, 14, 20); f[24] = c >> 8; f[25] = c & 0xff;
  if (encap === 'vxlan') {
    f.set([0xc0, 0x01, 0x12, 0xb5, (8 + 8 + inner.length) >> 8, (8 + 8 + inner.length) & 0xff, 0, 0], 34);
    f.set([0x08, 0, 0, 0, (vsid >> 16) & 0xff, (vsid >> 8) & 0xff, vsid & 0xff, 0], 42);
  } else {
    f.set([0x20, 0x00, 0x65, 0x58, (vsid >> 16) & 0xff, (vsid >> 8) & 0xff, vsid & 0xff, 0x2a], 34);
  }
  f.set(inner, 34 + l4);
  return f;
}

// ---- the switch under test ----

const records: HnvLookupRecord[] = [
  { ca: '10.1.0.2', vsid: 5001, mac: M1, pa: PA_A, encap: 'vxlan' },
  { ca: '10.1.0.3', vsid: 5001, mac: M2, pa: PA_A, encap: 'vxlan' },
  { ca: '10.2.0.2', vsid: 5002, mac: M3, pa: PA_A, encap: 'vxlan' },
  { ca: '10.1.0.4', vsid: 5001, mac: M4, pa: PA_B, encap: 'vxlan' },
  // tenant blue: the same CA and MAC as red's 10.1.0.2, and a remote host on NVGRE
  { ca: '10.1.0.2', vsid: 6001, mac: M1, pa: PA_A, encap: 'nvgre' },
  { ca: '10.1.0.3', vsid: 6001, mac: M2, pa: PA_A, encap: 'nvgre' },
  { ca: '10.1.0.5', vsid: 6001, mac: M6, pa: PA_B, encap: 'nvgre' },
];
const routes: HnvCustomerRoute[] = [
  { routingDomain: 'red', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' },
  { routingDomain: 'red', vsid: 5002, prefix: '10.2.0.0/24', nextHop: '0.0.0.0' },
  { routingDomain: 'blue', vsid: 6001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' },
];

const hostA: PolicyPort[] = [
  { index: 0, name: 'uplink', kind: 'external', settings: {} },
  { index: 1, name: 'red1', kind: 'vm', settings: { virtualSubnetId: 5001, staticMacAddress: M1 } },
  { index: 2, name: 'red2', kind: 'vm', settings: { virtualSubnetId: 5001 } },
  { index: 3, name: 'red3', kind: 'vm', settings: { virtualSubnetId: 5002, staticMacAddress: M3 } },
  { index: 4, name: 'plain', kind: 'vm', settings: {} },
  { index: 5, name: 'blue1', kind: 'vm', settings: { virtualSubnetId: 6001, staticMacAddress: M1 } },
  { index: 6, name: 'blue2', kind: 'vm', settings: { virtualSubnetId: 6001, staticMacAddress: M2 } },
];

function inputA(extra: HnvLookupRecord[] = [], extraRoutes: HnvCustomerRoute[] = []): SwitchPolicyInput {
  return {
    ports: hostA,
    hnv: {
      uplink: 0, uplinkMac: UPA, uplinkMtu: 1500,
      providerAddresses: [{ switch: 'test', address: PA_A, prefixLength: 24 }],
      lookupRecords: [...records, ...extra], customerRoutes: [...routes, ...extraRoutes],
    },
  };
}

async function switchA(extra: HnvLookupRecord[] = [], extraRoutes: HnvCustomerRoute[] = []): Promise<TestSwitch> {
  const sw = await testSwitch({ ports: 7 });
  sw.dp.policy.install(inputA(extra, extraRoutes));
  // red2 has no static MAC: its first frame (an ARP for red1) teaches HNV its MAC
  sw.send(2, arpFrame(1, BCAST, M2, '10.1.0.3', '00:00:00:00:00:00', '10.1.0.2'));
  sw.breathe();
  sw.clearSent();
  return sw;
}

/** switch B: PA 192.0.2.2, one red VM (10.1.0.4, M4) and one blue VM (10.1.0.5, M6) */
async function switchB(extra: HnvLookupRecord[] = [], extraRoutes: HnvCustomerRoute[] = []): Promise<TestSwitch> {
  const sw = await testSwitch({ ports: 3 });
  sw.dp.policy.install({
    ports: [
      { index: 0, name: 'uplink', kind: 'external', settings: {} },
      { index: 1, name: 'red4', kind: 'vm', settings: { virtualSubnetId: 5001, staticMacAddress: M4 } },
      { index: 2, name: 'blue5', kind: 'vm', settings: { virtualSubnetId: 6001, staticMacAddress: M6 } },
    ],
    hnv: {
      uplink: 0, uplinkMac: UPB, uplinkMtu: 1500,
      providerAddresses: [{ switch: 'test', address: PA_B, prefixLength: 24 }],
      lookupRecords: [...records, ...extra], customerRoutes: [...routes, ...extraRoutes],
    },
  });
  return sw;
}

/** teach switch A the MAC of PA B (an ARP reply on its uplink) */
function resolvePaB(sw: TestSwitch): void {
  sw.send(0, arpFrame(2, UPA, UPB, PA_B, UPA, PA_A));
  sw.breathe();
  sw.clearSent();
}

function counters(sw: TestSwitch, vsid: number): HnvVsidCounters {
  const row = hnvVsidCounters([sw.dp.policyCounters]).find((r) => r.vsid === vsid);
  if (!row) throw new Error(`no counters for VSID ${vsid}`);
  return row;
}

const others = (sw: TestSwitch, except: number[]): number => [0, 1, 2, 3, 4, 5, 6].filter((p) => !except.includes(p)).reduce((n, p) => n + sw.sent(p).length, 0);

// ---- ARP proxy ----

test('ARP proxy: a broadcast request for a CA with a record is answered to the asker only, and counted', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.3'));
  sw.breathe();
  const [a] = sw.sent(1);
  t.truthy(a);
  t.is(a[21], 2, 'an ARP reply');
  t.is(macAt(a, 0), M1);
  t.is(macAt(a, 6), M2);
  t.is(macAt(a, 22), M2, 'sender MAC = the record\'s MAC');
  t.is(ipAt(a, 28), '10.1.0.3');
  t.is(macAt(a, 32), M1);
  t.is(ipAt(a, 38), '10.1.0.2');
  t.is(others(sw, [1]), 0, 'never flooded');
  t.is(counters(sw, 5001).arpProxied, 2, 'this answer and the setup one');
});

test('ARP proxy: the subnet\'s distributed router address is answered with the router MAC', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.1'));
  sw.breathe();
  t.is(sw.sent(1).length, 1);
  t.is(macAt(sw.sent(1)[0], 22), HNV_ROUTER_MAC);
  t.is(ipAt(sw.sent(1)[0], 28), '10.1.0.1');
});

test('ARP proxy: an unknown target is not answered and not flooded (no l2only records)', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.99'));
  sw.breathe();
  t.is(others(sw, []), 0);
  t.is(sw.drops(1, 'hnv-arp-unknown'), 1);
  t.is(counters(sw, 5001).rejected, 1);
});

test('ARP: a request for a CA of another tenant\'s VSID is not answered (VSIDs apart)', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.5'));
  sw.breathe();
  t.is(others(sw, []), 0);
  t.is(sw.drops(1, 'hnv-arp-unknown'), 1);
});

test('l2only: an unknown ARP target is flooded to the VSID\'s other local ports and replicated to the l2only PA', async (t) => {
  const sw = await switchA([{ ca: '0.0.0.0', vsid: 5001, mac: M(0x44), pa: PA_B, encap: 'vxlan', type: 'l2only' }]);
  t.teardown(() => sw.close());
  resolvePaB(sw);
  const req = arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.99');
  sw.send(1, req);
  sw.breathe(2); // the replica is originated: it leaves at the next breath
  t.deepEqual(sw.sent(2).map(hexOf), [hexOf(req)], 'red2 gets the request unchanged');
  t.is(sw.sent(3).length + sw.sent(4).length + sw.sent(5).length + sw.sent(6).length, 0, 'no other VSID, no non-HNV port');
  t.is(sw.sent(0).length, 1, 'one unicast replica to PA B');
  const o = sw.sent(0)[0];
  t.is(ipAt(o, 30), PA_B);
  t.is((o[36] << 8) | o[37], 4789);
  t.is((o[46] << 16) | (o[47] << 8) | o[48], 5001);
  t.is(hexOf(o.subarray(50)), hexOf(req));
  t.is(counters(sw, 5001).replicated, 1);
});

test('l2only: a DHCP discover from 0.0.0.0 passes the source check and reaches the VSID only', async (t) => {
  const l2 = { ca: '0.0.0.0', vsid: 5001, mac: M1, pa: PA_A, encap: 'vxlan' as const, type: 'l2only' as const };
  const sw = await switchA([l2]);
  t.teardown(() => sw.close());
  sw.send(1, ipFrame(BCAST, M1, '0.0.0.0', '255.255.255.255'));
  sw.breathe();
  t.is(sw.sent(2).length, 1);
  t.is(others(sw, [2, 0]), 0);
  // without l2only, 0.0.0.0 is a spoofed source
  const plain = await switchA();
  t.teardown(() => plain.close());
  plain.send(1, ipFrame(BCAST, M1, '0.0.0.0', '255.255.255.255'));
  plain.breathe();
  t.is(plain.drops(1, 'hnv-spoofed-source'), 1);
});

// ---- source checks ----

test('source check: a CA of another record, or another MAC, is dropped hnv-spoofed-source', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, ipFrame(M2, M1, '10.1.0.3', '10.1.0.3'));
  sw.send(1, ipFrame(M2, M1, '10.1.0.77', '10.1.0.3'));
  sw.send(2, ipFrame(M1, M(0x22), '10.1.0.3', '10.1.0.2'));
  sw.breathe();
  t.is(sw.drops(1, 'hnv-spoofed-source'), 2);
  t.true(sw.drops(2, 'hnv-spoofed-source') + sw.drops(2, 'mac-spoofing') >= 1);
  t.is(others(sw, []), 0);
});

test('ARP probes and gratuitous ARP are absorbed (hnv-dad), never answered or flooded', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, arpFrame(1, BCAST, M1, '0.0.0.0', '00:00:00:00:00:00', '10.1.0.2'));
  sw.send(1, arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.2'));
  sw.breathe();
  t.is(sw.drops(1, 'hnv-dad'), 2);
  t.is(others(sw, []), 0);
});

test('non-IP, non-ARP frames from a VM of a virtual subnet are dropped hnv-not-ip', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  const f = ipFrame(M2, M1, '10.1.0.2', '10.1.0.3');
  f[12] = 0x88; f[13] = 0xb5;
  sw.send(1, f);
  sw.breathe();
  t.is(sw.drops(1, 'hnv-not-ip'), 1);
  t.is(others(sw, []), 0);
});

// ---- forwarding and routing ----

test('same VSID, local: delivered to the record\'s port only, destination MAC from the record', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.3'));
  sw.breathe();
  t.is(sw.sent(2).length, 1);
  t.is(macAt(sw.sent(2)[0], 0), M2);
  t.is(macAt(sw.sent(2)[0], 6), M1, 'same VSID: source MAC kept');
  t.is(others(sw, [2]), 0);
  t.is(counters(sw, 5001).deliveredLocally, 1);
});

test('routing across VSIDs of one domain: source MAC becomes the router\'s, counted as routed', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.2.0.2'));
  sw.breathe();
  t.is(sw.sent(3).length, 1);
  t.is(macAt(sw.sent(3)[0], 0), M3);
  t.is(macAt(sw.sent(3)[0], 6), HNV_ROUTER_MAC);
  t.is(others(sw, [3]), 0);
  t.is(counters(sw, 5002).routed, 1);
});

test('another routing domain is never reached', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(5, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.2.0.2'));
  sw.breathe();
  t.is(others(sw, []), 0);
  t.is(sw.drops(5, 'hnv-no-record'), 1);
});

test('two tenants with the same CA and MAC on one switch stay apart', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(2, ipFrame(M1, M2, '10.1.0.3', '10.1.0.2', 100));
  sw.send(6, ipFrame(M1, M2, '10.1.0.3', '10.1.0.2', 120));
  sw.breathe();
  t.deepEqual(sw.sent(1).map((f) => f.length), [100], 'red1 gets red2\'s frame only');
  t.deepEqual(sw.sent(5).map((f) => f.length), [120], 'blue1 gets blue2\'s frame only');
  t.is(others(sw, [1, 5]), 0);
});

test('frames from the uplink and from non-HNV ports never reach an HNV VM port', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(0, ipFrame(BCAST, M(0x70), '192.0.2.70', '192.0.2.255'));
  sw.breathe();
  t.is(sw.sent(4).length, 1, 'the non-HNV port gets the flood');
  t.is(sw.sent(1).length + sw.sent(2).length + sw.sent(3).length + sw.sent(5).length + sw.sent(6).length, 0);
  sw.clearSent();
  sw.send(4, ipFrame(BCAST, M(0x71), '192.0.2.71', '192.0.2.255'));
  sw.breathe();
  t.is(sw.sent(0).length, 1);
  t.is(sw.sent(1).length + sw.sent(2).length + sw.sent(3).length + sw.sent(5).length + sw.sent(6).length, 0);
});

// ---- remote: next hop, encapsulation, size ----

test('remote record with an unresolved next hop: dropped, an ARP request for the PA leaves the uplink', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4'));
  sw.breathe(2);
  t.is(sw.drops(1, 'hnv-next-hop-unresolved'), 1);
  const arps = sw.sent(0).filter((f) => f[12] === 0x08 && f[13] === 0x06);
  t.is(arps.length, 1);
  t.is(macAt(arps[0], 0), BCAST);
  t.is(ipAt(arps[0], 28), PA_A);
  t.is(ipAt(arps[0], 38), PA_B);
  // a second frame in the same second asks no more
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4'));
  sw.breathe(2);
  t.is(sw.sent(0).length, 1);
});

test('worker 0\'s tick asks again, once a second, for a next hop traffic waits for', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4'));
  sw.breathe(2);
  t.is(sw.sent(0).length, 1);
  sw.tick();
  sw.breathe();
  t.is(sw.sent(0).length, 1, 'not again within the second');
  sw.now += 1;
  sw.tick();
  sw.breathe();
  t.is(sw.sent(0).length, 2);
  t.is(ipAt(sw.sent(0)[1], 38), PA_B);
});

test('hnvVsidCounters sums each VSID over the workers\' blocks, wherever each worker keeps it', (t) => {
  const a = new PolicyCounters();
  const b = new PolicyCounters();
  a.v[PolicyCounters.hnvVsid(0)] = 5001; a.v[PolicyCounters.hnvVsid(0) + HVF.encapsulated] = 3;
  a.v[PolicyCounters.hnvVsid(1)] = 6001; a.v[PolicyCounters.hnvVsid(1) + HVF.rejected] = 1;
  b.v[PolicyCounters.hnvVsid(4)] = 5001; b.v[PolicyCounters.hnvVsid(4) + HVF.encapsulated] = 4;
  const rows = hnvVsidCounters([a, b]);
  t.deepEqual(rows.map((r) => [r.vsid, r.encapsulated, r.rejected]), [[5001, 7, 0], [6001, 0, 1]]);
});

test('ARP on the uplink for our PA is answered back to the uplink; a reply teaches the next hop', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  sw.send(0, arpFrame(1, BCAST, UPB, PA_B, '00:00:00:00:00:00', PA_A));
  sw.breathe();
  t.is(sw.sent(0).length, 1);
  const a = sw.sent(0)[0];
  t.is(a[21], 2);
  t.is(macAt(a, 22), UPA);
  t.is(ipAt(a, 28), PA_A);
  t.is(macAt(a, 0), UPB);
  t.is(others(sw, [0]), 0);
  // the request taught PA B's MAC: traffic to B is encapsulated at once
  sw.clearSent();
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4'));
  sw.breathe();
  t.is(sw.sent(0).length, 1);
  t.is(macAt(sw.sent(0)[0], 0), UPB);
});

test('encapsulation: VXLAN to the record\'s PA with the record\'s VSID and MAC, counted', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  resolvePaB(sw);
  t.is(sw.drops(0, 'hnv-pa-arp'), 1, 'the reply is consumed');
  const f = ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 200);
  sw.send(1, f);
  sw.breathe();
  t.is(sw.sent(0).length, 1);
  const o = sw.sent(0)[0];
  t.is(o.length, 200 + 50);
  t.is(macAt(o, 0), UPB);
  t.is(macAt(o, 6), UPA);
  t.is(ipAt(o, 26), PA_A);
  t.is(ipAt(o, 30), PA_B);
  t.is((o[46] << 16) | (o[47] << 8) | o[48], 5001);
  t.is(macAt(o, 50), M4, 'inner destination = the record\'s MAC');
  t.is(hexOf(o.subarray(56)), hexOf(f.subarray(6)));
  t.is(counters(sw, 5001).encapsulated, 1);
});

test('oversize: DF → ICMP fragmentation needed back to the sender; a frame of exactly the overlay MTU goes', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  resolvePaB(sw);
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 1500, true));
  sw.send(1, ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 1450 + 14, true));
  sw.breathe();
  t.is(sw.sent(1).length, 1);
  const icmp = sw.sent(1)[0];
  t.is(icmp[23], 1, 'ICMP');
  t.is(icmp[34], 3); t.is(icmp[35], 4);
  t.is((icmp[40] << 8) | icmp[41], 1450, 'next-hop MTU = the VXLAN overlay MTU');
  t.is(sw.sent(0).length, 1);
  t.is(sw.sent(0)[0].length, 1450 + 14 + 50);
  t.is(counters(sw, 5001).tooBig, 1);
});

test('oversize IPv4 without DF is fragmented, each fragment encapsulated; B delivers fragments that reassemble to the packet', async (t) => {
  const a = await switchA();
  const b = await switchB();
  t.teardown(() => { a.close(); b.close(); });
  resolvePaB(a);
  const f = ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 1514, false);
  a.send(1, f);
  a.breathe();
  const out = a.sent(0);
  t.is(out.length, 2, '1480 payload bytes at an overlay MTU of 1450: 1424 + 56');
  for (const o of out) t.true(o.length <= 1500 + 14);
  b.send(0, ...out);
  b.breathe();
  const frags = b.sent(1);
  t.is(frags.length, 2);
  const payload: number[] = [];
  for (const [k, g] of frags.entries()) {
    t.is(ipSum(g, 14, 20), 0, 'header checksum');
    const more = (g[20] & 0x20) !== 0;
    t.is(more, k < 1);
    t.is((((g[20] & 0x1f) << 8) | g[21]) * 8, payload.length);
    payload.push(...g.subarray(34, 14 + ((g[16] << 8) | g[17])));
  }
  t.is(hexOf(Uint8Array.from(payload)), hexOf(f.subarray(34)));
  t.is(a.dp.pool.inUse, 0);
  // a synthetic trace says so and takes no slot
  const tr = a.trace(f, 1);
  t.regex(JSON.stringify(tr.steps), /would be fragmented/);
  t.is(a.dp.pool.inUse, 0);
});

test('a GSO TCP frame from a VM is cut into segments, each encapsulated to the uplink', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  resolvePaB(sw);
  const f = wireIpFrame({ dst: HNV_ROUTER_MAC, src: M1, srcIp: [10, 1, 0, 2], dstIp: [10, 1, 0, 4], proto: 6, payload: 4000 });
  const pool = sw.dp.pool;
  const id = slotWithVnet(pool, f, { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1398, csumStart: 34, csumOffset: 16 });
  pool.inPort[id] = 1;
  const batch = sw.dp.engine.batch;
  batch.ids[0] = id;
  batch.reset(1, 1);
  sw.dp.engine.processBatch(batch);
  const out = sw.sent(0);
  t.is(out.length, 3, '4000 bytes of TCP payload at an MSS of 1398');
  for (const o of out) {
    t.true(o.length <= 1500 + 14, `${o.length}`);
    t.is((o[36] << 8) | o[37], 4789);
    t.is((o[46] << 16) | (o[47] << 8) | o[48], 5001);
    t.is(macAt(o, 50), M4);
  }
  t.is(counters(sw, 5001).encapsulated, 3);
  t.is(pool.inUse, 0, 'every slot of the chain freed');
});

test('with a tunnel TAP on the uplink, a VXLAN GSO frame is encapsulated whole instead of segmented', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  const input = inputA();
  sw.dp.policy.install({ ...input, hnv: { ...input.hnv!, uplinkTunnelGso: true } });
  resolvePaB(sw);
  const f = wireIpFrame({ dst: HNV_ROUTER_MAC, src: M1, srcIp: [10, 1, 0, 2], dstIp: [10, 1, 0, 4], proto: 6, payload: 4000 });
  const pool = sw.dp.pool;
  const id = slotWithVnet(pool, f, { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  pool.inPort[id] = 1;
  const batch = sw.dp.engine.batch;
  batch.ids[0] = id;
  batch.reset(1, 1);
  sw.dp.engine.processBatch(batch);
  const out = sw.sent(0);
  t.is(out.length, 1, 'one frame: the kernel segments it after the tunnel');
  t.is(out[0].length, f.length + 50);
  t.is((out[0][36] << 8) | out[0][37], 4789);
  t.is((out[0][46] << 16) | (out[0][47] << 8) | out[0][48], 5001);
  t.is(counters(sw, 5001).encapsulated, 1);
  t.is(pool.inUse, 0);
});

// ---- decapsulation ----

test('decapsulation: a good tunnel frame is delivered to the VSID\'s port with that MAC; rejections by reason', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  const inner = ipFrame(M1, M4, '10.1.0.4', '10.1.0.2', 120);
  sw.send(0, tunnel('vxlan', PA_B, PA_A, 5001, inner));
  sw.breathe();
  t.deepEqual(sw.sent(1).map(hexOf), [hexOf(inner)]);
  t.is(others(sw, [1]), 0);
  t.is(counters(sw, 5001).decapsulated, 1);
  sw.clearSent();
  sw.send(0,
    tunnel('vxlan', PA_B, PA_A, 7777, inner),
    tunnel('vxlan', '192.0.2.9', PA_A, 5001, inner),
    tunnel('vxlan', PA_B, PA_A, 5001, ipFrame(M1, M4, '10.1.0.77', '10.1.0.2')),
    tunnel('nvgre', PA_B, PA_A, 5001, inner),
    tunnel('vxlan', PA_B, PA_A, 5001, ipFrame(M(0x5e), M4, '10.1.0.4', '10.1.0.2')),
  );
  sw.breathe();
  t.is(others(sw, []), 0);
  t.is(sw.drops(0, 'hnv-unknown-vsid'), 1);
  t.is(sw.drops(0, 'hnv-wrong-pa'), 1);
  t.is(sw.drops(0, 'hnv-no-record'), 1);
  t.is(sw.drops(0, 'hnv-bad-encapsulation'), 1);
  t.is(sw.drops(0, 'hnv-no-port'), 1);
  t.is(counters(sw, 5001).rejected, 4);
});

test('a remote l2only flood arriving encapsulated reaches the VSID\'s local ports and is never replicated again', async (t) => {
  const sw = await switchA([{ ca: '0.0.0.0', vsid: 5001, mac: M(0x44), pa: PA_B, encap: 'vxlan', type: 'l2only' }]);
  t.teardown(() => sw.close());
  resolvePaB(sw);
  const inner = arpFrame(1, BCAST, M(0x44), '10.1.0.50', '00:00:00:00:00:00', '10.1.0.99');
  sw.send(0, tunnel('vxlan', PA_B, PA_A, 5001, inner));
  sw.breathe(2);
  t.deepEqual(sw.sent(1).map(hexOf), [hexOf(inner)]);
  t.deepEqual(sw.sent(2).map(hexOf), [hexOf(inner)]);
  t.is(sw.sent(0).length, 0, 'nothing back to the provider network');
  t.is(others(sw, [1, 2]), 0);
});

test('decapsulation keeps tenants apart: blue\'s NVGRE frame to M1 reaches blue1, never red1', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  const inner = ipFrame(M1, M6, '10.1.0.5', '10.1.0.2', 90);
  sw.send(0, tunnel('nvgre', PA_B, PA_A, 6001, inner));
  sw.breathe();
  t.deepEqual(sw.sent(5).map(hexOf), [hexOf(inner)]);
  t.is(others(sw, [5]), 0);
});

// ---- IPv6 ----

const v6records: HnvLookupRecord[] = [
  { ca: 'fd00:1::2', vsid: 5001, mac: M1, pa: PA_A, encap: 'vxlan' },
  { ca: 'fd00:1::3', vsid: 5001, mac: M2, pa: PA_A, encap: 'vxlan' },
  { ca: 'fd00:2::2', vsid: 5002, mac: M3, pa: PA_A, encap: 'vxlan' },
];
const v6routes: HnvCustomerRoute[] = [
  { routingDomain: 'red', vsid: 5001, prefix: 'fd00:1::/64', nextHop: '::' },
  { routingDomain: 'red', vsid: 5002, prefix: 'fd00:2::/64', nextHop: '::' },
];
const v6 = (last: number, net = 1): number[] => [0xfd, 0, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last];

function ip6Frame(dst: string, src: string, sip: number[], dip: number[], nh: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(54 + payload.length);
  f.set(macB(dst), 0); f.set(macB(src), 6); f[12] = 0x86; f[13] = 0xdd;
  f[14] = 0x60; f[18] = payload.length >> 8; f[19] = payload.length & 0xff; f[20] = nh; f[21] = 255;
  f.set(sip, 22); f.set(dip, 38); f.set(payload, 54);
  return f;
}

function icmp6Sum(f: Uint8Array): number {
  const len = f.length - 54;
  let s = len + 58;
  for (let k = 22; k < 54; k += 2) s += (f[k] << 8) | f[k + 1];
  for (let k = 54; k < f.length; k += 2) s += (f[k] << 8) | (k + 1 < f.length ? f[k + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function nsFrame(src: string, sip: number[], target: number[]): Uint8Array {
  const p = new Uint8Array(32);
  p[0] = 135; p.set(target, 8); p[24] = 1; p[25] = 1; p.set(macB(src), 26);
  const dip = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target[13], target[14], target[15]];
  const f = ip6Frame(`33:33:ff:${[13, 14, 15].map((k) => target[k].toString(16).padStart(2, '0')).join(':')}`, src, sip, dip, 58, p);
  const c = icmp6Sum(f); f[56] = c >> 8; f[57] = c & 0xff;
  return f;
}

test('ND proxy: a multicast solicitation for a CA with a record is answered with an advertisement (valid checksum)', async (t) => {
  const sw = await switchA(v6records, v6routes);
  t.teardown(() => sw.close());
  sw.send(1, nsFrame(M1, v6(2), v6(3)));
  sw.send(1, nsFrame(M1, v6(2), v6(1)));
  sw.send(1, nsFrame(M1, v6(2), v6(0x99)));
  sw.breathe();
  const out = sw.sent(1);
  t.is(out.length, 2);
  const [na, router] = out;
  t.is(na.length, 86);
  t.is(na[54], 136, 'neighbour advertisement');
  t.is(macAt(na, 0), M1);
  t.is(macAt(na, 6), M2);
  t.deepEqual([...na.subarray(22, 38)], v6(3), 'from the target');
  t.deepEqual([...na.subarray(38, 54)], v6(2), 'to the asker');
  t.deepEqual([...na.subarray(62, 78)], v6(3));
  t.is(macAt(na, 80), M2, 'target link-layer address option');
  t.is(na[58] & 0x60, 0x60, 'solicited, override');
  t.is(icmp6Sum(na), 0, 'ICMPv6 checksum verifies');
  t.is(macAt(router, 80), HNV_ROUTER_MAC);
  t.is(router[58] & 0x80, 0x80, 'the router flag for the distributed router');
  t.is(sw.drops(1, 'hnv-arp-unknown'), 1);
  t.is(others(sw, [1]), 0);
  t.is(counters(sw, 5001).ndProxied, 2);
});

test('IPv6: routed across VSIDs of the domain; DAD probes absorbed; spoofed IPv6 source dropped', async (t) => {
  const sw = await switchA(v6records, v6routes);
  t.teardown(() => sw.close());
  const udp = new Uint8Array(16); udp[5] = 16;
  sw.send(1, ip6Frame(HNV_ROUTER_MAC, M1, v6(2), v6(2, 2), 17, udp));
  sw.send(1, nsFrame(M1, new Array<number>(16).fill(0), v6(2)));
  sw.send(1, ip6Frame(HNV_ROUTER_MAC, M1, v6(3), v6(2, 2), 17, udp));
  sw.breathe();
  t.is(sw.sent(3).length, 1);
  t.is(macAt(sw.sent(3)[0], 0), M3);
  t.is(macAt(sw.sent(3)[0], 6), HNV_ROUTER_MAC);
  t.is(sw.drops(1, 'hnv-dad'), 1);
  t.is(sw.drops(1, 'hnv-spoofed-source'), 1);
  t.is(others(sw, [3]), 0);
});

test('IPv6 round trip: A encapsulates to B\'s PA, B checks the inner IPv6 source and delivers', async (t) => {
  const extra: HnvLookupRecord[] = [...v6records, { ca: 'fd00:1::4', vsid: 5001, mac: M4, pa: PA_B, encap: 'vxlan' }];
  const a = await switchA(extra, v6routes);
  const b = await switchB(extra, v6routes);
  t.teardown(() => { a.close(); b.close(); });
  resolvePaB(a);
  const udp = new Uint8Array(40); udp[5] = 40;
  const f = ip6Frame(HNV_ROUTER_MAC, M1, v6(2), v6(4), 17, udp);
  a.send(1, f);
  a.breathe();
  t.is(a.sent(0).length, 1);
  b.send(0, ...a.sent(0));
  b.breathe();
  t.is(b.sent(1).length, 1);
  t.is(macAt(b.sent(1)[0], 0), M4);
  t.is(hexOf(b.sent(1)[0].subarray(6)), hexOf(f.subarray(6)));
});

// ---- trace, summary, placement ----

test('trace notes say what HNV did', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  const steps = (f: Uint8Array, port: number): string => JSON.stringify(sw.trace(f, port).steps);
  t.regex(steps(arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.3'), 1), /hnv: ARP proxy answer 10\.1\.0\.3 is-at 02:00:00:00:00:02/);
  t.regex(steps(tunnel('vxlan', '192.0.2.9', PA_A, 5001, ipFrame(M1, M4, '10.1.0.4', '10.1.0.2')), 0),
    /hnv: rejected hnv-wrong-pa \(outer 192\.0\.2\.9, record PA 192\.0\.2\.2\)/);
  t.regex(steps(ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.2.0.2'), 1), /hnv: vsid 5001 → record 10\.2\.0\.2 02:00:00:00:00:03 PA 192\.0\.2\.1 vxlan \(local/);
  // a synthetic frame changes no state: counters untouched, no ARP request originated
  const before = counters(sw, 5001);
  steps(ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4'), 1);
  sw.breathe();
  t.deepEqual(counters(sw, 5001), before);
  t.is(sw.sent(0).length, 0);
});

test('no VSID on any port and no PA: no hook; summary lines', async (t) => {
  const sw = await testSwitch({ ports: 2 });
  t.teardown(() => sw.close());
  const inst = hnvPolicy.create(sw.dp.policy.env);
  t.deepEqual(inst.configure({ ports: [{ index: 0, name: 'a', kind: 'vm', settings: {} }] }), []);
  t.is(inst.configure(inputA()).length, 1);
  const lines = hnvPolicy.summary(inputA());
  t.true(lines.includes('red1: HNV VSID 5001 (routing domain red), 3 lookup record(s)'), lines.join('\n'));
  t.true(lines.some((l) => l.startsWith('hnv: uplink uplink, PAs 192.0.2.1/24, 7 lookup record(s), 3 customer route(s)')), lines.join('\n'));
  t.throws(() => inst.configure({ ...inputA(), hnv: { ...inputA().hnv!, lookupRecords: [{ ...records[0], mac: 'nope' }] } }), { message: /lookupRecords\[0\]\.mac/ });
});

// ---- two switches ----

test('round trip: what switch A sends on its uplink, switch B decapsulates to the VM (VXLAN and NVGRE)', async (t) => {
  const a = await switchA();
  const b = await switchB();
  t.teardown(() => { a.close(); b.close(); });
  resolvePaB(a);
  const red = ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 300);
  const blue = ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.5', 310);
  a.send(1, red);
  a.send(5, blue);
  a.breathe();
  t.is(a.sent(0).length, 2);
  b.send(0, ...a.sent(0));
  b.breathe();
  t.is(b.sent(1).length, 1);
  t.is(macAt(b.sent(1)[0], 0), M4);
  t.is(hexOf(b.sent(1)[0].subarray(6)), hexOf(red.subarray(6)));
  t.is(b.sent(2).length, 1);
  t.is(macAt(b.sent(2)[0], 0), M6);
  t.is(hexOf(b.sent(2)[0].subarray(6)), hexOf(blue.subarray(6)));
  t.is(counters(b, 5001).decapsulated, 1);
  t.is(counters(b, 6001).decapsulated, 1);
});

// ---- the batch's decision reuse (encapRun, decapRun) judges every frame as the general path does ----

/** a frame's bytes with the outer IPv4 identification and header checksum zeroed (they count frames) */
function withoutIpId(f: Uint8Array): string {
  const c = Uint8Array.from(f);
  if (c.length >= 34 && c[12] === 0x08 && c[13] === 0x00 && (c[23] === 17 || c[23] === 47)) { c[18] = 0; c[19] = 0; c[24] = 0; c[25] = 0; }
  return hexOf(c);
}

const DROP_NAMES = ['hnv-spoofed-source', 'hnv-no-record', 'hnv-bad-encapsulation', 'hnv-unknown-vsid', 'hnv-wrong-pa', 'hnv-no-port',
  'hnv-oversize', 'hnv-not-ip', 'mac-spoofing'] as const;

/**
 * what a switch did: frames out per port (ip ids aside; sorted, as originated copies leave a breath
 * later), drops by reason, the VSIDs' counters
 */
function outcome(sw: TestSwitch, ports: number, vsids: number[]): string {
  const out: Record<string, unknown> = {};
  for (let p = 0; p < ports; p++) out[`sent${p}`] = sw.sent(p).map(withoutIpId).sort();
  for (let p = 0; p < ports; p++) for (const r of DROP_NAMES) { const n = sw.drops(p, r); if (n > 0) out[`drop${p} ${r}`] = n; }
  for (const v of vsids) out[`vsid${v}`] = counters(sw, v);
  return JSON.stringify(out, null, 1);
}

test('decision reuse, VM → tunnel: frames that repeat the last decision among ones that differ in one field each are judged as one by one', async (t) => {
  const good = (size: number, port: number): Uint8Array => { const f = ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', size); f[34] = port >> 8; f[35] = port & 0xff; return f; };
  const tcp = good(90, 7); tcp[23] = 6;
  const frag = good(120, 8); frag[20] = 0x20;
  const frames = [
    good(100, 1), good(64, 2), good(1464, 3), // 1464: exactly the overlay MTU + 14
    ipFrame(HNV_ROUTER_MAC, M2, '10.1.0.2', '10.1.0.4'), good(101, 4), // another source MAC
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.3', '10.1.0.4'), good(102, 5), // another source CA (spoofed)
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.3'), good(103, 6), // another destination (local)
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.2.0.2'), tcp, frag, // routed; other protocol; a fragment
    ipFrame(BCAST, M1, '10.1.0.2', '10.1.0.4'), good(104, 9), // a group destination
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 1600, true), good(105, 10), // too big (DF)
    arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.4'), good(106, 11),
    good(60, 12), good(107, 13), // cut below to 33 bytes: shorter than an IPv4 header
  ];
  frames[frames.length - 2] = frames[frames.length - 2].subarray(0, 33);
  const one = await switchA();
  const all = await switchA();
  t.teardown(() => { one.close(); all.close(); });
  resolvePaB(one);
  resolvePaB(all);
  for (const f of frames) { one.send(1, Uint8Array.from(f)); one.breathe(2); }
  all.send(1, ...frames.map((f) => Uint8Array.from(f)));
  all.breathe(2);
  t.true(all.sent(0).length >= 10, `encapsulated: ${all.sent(0).length}`);
  t.is(outcome(all, 7, [5001, 5002]), outcome(one, 7, [5001, 5002]));
});

test('decision reuse, tunnel → VM: tunnel frames that repeat the last decision among ones that differ in one field each are judged as one by one', async (t) => {
  const inner = (sip = '10.1.0.4', dst = M1, size = 120): Uint8Array => ipFrame(dst, M4, sip, '10.1.0.2', size);
  const good = (size = 120): Uint8Array => tunnel('vxlan', PA_B, PA_A, 5001, inner('10.1.0.4', M1, size));
  const edit = (f: Uint8Array, fn: (f: Uint8Array) => void, fixSum = true): Uint8Array => {
    fn(f);
    if (fixSum) { f[24] = 0; f[25] = 0; const c = ipSum(f, 14, 20); f[24] = c >> 8; f[25] = c & 0xff; }
    return f;
  };
  const frames = [
    good(), good(64), good(1450),
    edit(good(), (f) => { f[25] ^= 1; }, false), good(121), // bad outer checksum
    edit(good(), (f) => { f[20] = 0x20; }), good(122), // a fragment (MF)
    edit(good(), (f) => { f[21] = 8; }), good(123), // a later fragment
    edit(good(), (f) => { f[14] = 0x46; }), good(124), // IHL 6 (no room: bad)
    edit(good(), (f) => { f[16] += 1; }), good(125), // total length beyond the frame
    tunnel('vxlan', PA_B, PA_A, 5002, inner()), good(126), // another VNI
    tunnel('vxlan', '192.0.2.9', PA_A, 5001, inner()), good(127), // another PA
    tunnel('nvgre', PA_B, PA_A, 5001, inner()), good(128), // another encapsulation
    edit(good(), (f) => { f[36] = 0x12; f[37] = 0xb6; }), good(129), // UDP 4790: not a tunnel
    edit(good(), (f) => { f[42] = 0; }), good(130), // VXLAN I flag clear
    edit(good(), (f) => { f[39] -= 1; }), good(131), // UDP length short of the frame: still fine
    edit(good(), (f) => { f[38] = 0; f[39] = 20; }), good(132), // UDP length below VXLAN + Ethernet
    tunnel('vxlan', PA_B, PA_A, 5001, inner('10.1.0.3')), good(133), // another inner source (no record with PA B)
    tunnel('vxlan', PA_B, PA_A, 5001, inner('10.1.0.4', M2)), good(134), // another inner destination (red2)
    tunnel('vxlan', PA_B, PA_A, 5001, arpFrame(2, M1, M4, '10.1.0.4', M1, '10.1.0.2')), good(135), // inner ARP
    edit(good(), (f) => { f[23] = 6; }), good(136), // TCP: not a tunnel
    tunnel('vxlan', PA_B, PA_A, 5001, inner('10.1.0.4', M1, 60)), good(137),
  ];
  const one = await switchA();
  const all = await switchA();
  t.teardown(() => { one.close(); all.close(); });
  for (const f of frames) { one.send(0, Uint8Array.from(f)); one.breathe(2); }
  all.send(0, ...frames.map((f) => Uint8Array.from(f)));
  all.breathe(2);
  t.true(all.sent(1).length >= 18, `decapsulated to red1: ${all.sent(1).length}`);
  t.is(outcome(all, 7, [5001, 5002]), outcome(one, 7, [5001, 5002]));
});

test('no allocation per frame: ARP proxy, local, routed, encapsulated (runs too), decapsulated (runs too) and rejected frames, the heap does not grow', async (t) => {
  const sw = await switchA();
  t.teardown(() => sw.close());
  resolvePaB(sw);
  for (const p of sw.ports) p.record = null;
  sw.ports[1].inbox.push(
    arpFrame(1, BCAST, M1, '10.1.0.2', '00:00:00:00:00:00', '10.1.0.3'),
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.3'),
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.2.0.2'),
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 400),
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 64),
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 200),
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.77', '10.1.0.4'),
    ipFrame(HNV_ROUTER_MAC, M1, '10.1.0.2', '10.1.0.4', 1514, false),
  );
  sw.ports[0].inbox.push(
    tunnel('vxlan', PA_B, PA_A, 5001, ipFrame(M1, M4, '10.1.0.4', '10.1.0.2', 120)),
    tunnel('vxlan', PA_B, PA_A, 5001, ipFrame(M1, M4, '10.1.0.4', '10.1.0.2', 64)),
    tunnel('vxlan', PA_B, PA_A, 5001, ipFrame(M1, M4, '10.1.0.4', '10.1.0.2', 300)),
    tunnel('vxlan', '192.0.2.9', PA_A, 5001, ipFrame(M1, M4, '10.1.0.4', '10.1.0.2', 120)),
    ipFrame(BCAST, M(0x70), '192.0.2.70', '192.0.2.255'),
  );
  for (const k of [0, 1]) sw.ports[k].repeat = true;
  const rx = (): number => sw.portCounter(0, 'rxPackets') + sw.portCounter(1, 'rxPackets');
  const run = (frames: number): void => { const rx0 = rx(); while (rx() - rx0 < frames) sw.breathe(); };
  run(200_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(1_000_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`heap delta ${after - before} bytes over 1M frames (gc exposed: ${gc !== undefined})`);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  const c = counters(sw, 5001);
  t.true(c.arpProxied > 0 && c.encapsulated > 0 && c.decapsulated > 0 && c.deliveredLocally > 0 && c.rejected > 0, JSON.stringify(c));
  t.true(sw.drops(0, 'hnv-wrong-pa') > 0 && sw.drops(1, 'hnv-spoofed-source') > 0);
  t.is(sw.dp.pool.inUse, 0);
});
