/**
 * Differential fuzzing of the parsers in the data path: fuzzed frames (fuzz.ts) through one
 * extension at a time, its decision compared with a small reference decoder written from the RFCs.
 * The regression tests below each property are the shrunk counterexamples it found.
 *
 *   sflow        learns the collector's MAC only from a well-formed ARP (RFC 826: htype 1, ptype
 *                0x0800, hlen 6, plen 4) whose sender protocol address is the collector
 *   dhcp-server  takes (drops and answers, or drops as malformed) exactly the untagged IPv4 UDP
 *                68→67 datagrams with a valid header (version 4, IHL ≥ 5, not a later fragment)
 */
import test from 'ava';
import fc from 'fast-check';
import { testSwitch } from '../extensions/testing.js';
import { ARBITRARIES, FUZZ_HOSTS, frameHex } from './fuzz.js';
import { hex } from '../test-support/frames.js';

const SEED = Number(process.env.XVS_FUZZ_SEED ?? 20261206);
const ext = (name: string): string => new URL(`../extensions/${name}/index.js`, import.meta.url).href;
const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

// ------------------------------------------------------------ sflow: ARP

const COLLECTOR = [10, 9, 0, 103];
const COLLECTOR_U32 = u32(Uint8Array.from(COLLECTOR), 0);

/** RFC 826: does this frame tell us the collector's MAC (and which)? */
function refArpSender(f: Uint8Array): string | null {
  if (f.length < 42 || u16(f, 12) !== 0x0806) return null;
  if (u16(f, 14) !== 1 || u16(f, 16) !== 0x0800 || f[18] !== 6 || f[19] !== 4) return null;
  if (u32(f, 28) !== COLLECTOR_U32) return null;
  return [...f.subarray(22, 28)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** an ARP-ish frame: fuzzed lengths and types, the collector's address placed where a parser might look */
const arpish = fc.record({
  base: ARBITRARIES.arp,
  spaAt: fc.constantFrom(28, 24, 26, 30, 32, -1),
  lenFields: fc.option(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })), { nil: null }),
}).map(({ base, spaAt, lenFields }) => {
  const f = new Uint8Array(Math.max(base.bytes.length, 64));
  f.set(base.bytes);
  f.set(FUZZ_HOSTS[0], 6);
  if (f.length >= 14) { f[12] = 0x08; f[13] = 0x06; }
  if (lenFields) { f[18] = lenFields[0]; f[19] = lenFields[1]; }
  if (spaAt >= 0) f.set(COLLECTOR, spaAt);
  return f.slice(0, base.bytes.length >= 14 ? Math.max(base.bytes.length, 42) : 64);
});

async function sflowLearns(frame: Uint8Array): Promise<string | null> {
  const sw = await testSwitch({ ports: 2, stages: [{ module: ext('sflow'), config: { agentAddress: '10.9.0.254', collector: { ip: COLLECTOR.join('.') }, seed: 1 } }] });
  try {
    sw.send(0, frame);
    sw.breathe(2);
    const line = sw.logs.find((l) => l.includes('collector next hop is at'));
    return line ? /at ([0-9a-f:]{17})/.exec(line)![1] : null;
  } finally {
    sw.close();
  }
}

test('property: sflow resolves its collector only from a well-formed ARP from the collector', async (t) => {
  await fc.assert(fc.asyncProperty(arpish, async (frame) => {
    const want = refArpSender(frame);
    const got = await sflowLearns(frame);
    if (got !== want) t.log(`frame ${frameHex(frame)}: reference ${want}, sflow ${got}`);
    return got === want;
  }), { seed: SEED, numRuns: 300 });
  t.pass();
});

test('regression: an ARP with a wrong hlen or plen cannot poison the sflow collector MAC', async (t) => {
  // the shrunk counterexample of the property above: hlen 6, plen 0 — no sender protocol address,
  // bytes 28..31 (the collector's address here) belong to the target hardware address
  const plen0 = hex('02005e100001 02005e100001 0806 0001 0800 06 00 0000 02005e100001 0a090067 0000 000000000000 0a090001');
  t.is(refArpSender(plen0), null);
  t.is(await sflowLearns(plen0), null);
  // hlen 0: the sender's protocol address is at 22, bytes 22..27 are not a MAC
  const hlen0 = hex('ffffffffffff 02005e100001 0806 0001 0800 00 04 0001 0a090064 0a090067 000000000000 000000000000 0000000000000000000000000000');
  t.is(refArpSender(hlen0), null);
  t.is(await sflowLearns(hlen0), null);
  // and the well-formed reply is learned
  const ok = hex('ffffffffffff 02005e100003 0806 0001 0800 06 04 0002 02005e100003 0a090067 02005e10000a 0a0900fe 000000000000000000000000000000000000');
  t.is(refArpSender(ok), '02:00:5e:10:00:03');
  t.is(await sflowLearns(ok), '02:00:5e:10:00:03');
});

// ------------------------------------------------------------ dhcp-server: IPv4/UDP header

/** an untagged IPv4 UDP datagram 68 → 67 with a valid header (what a DHCP server may take) */
function refDhcpClient(f: Uint8Array): boolean {
  if (f.length < 34 || u16(f, 12) !== 0x0800) return false;
  const vihl = f[14];
  const ihl = (vihl & 15) * 4;
  if (vihl >> 4 !== 4 || ihl < 20 || f[23] !== 17 || (u16(f, 20) & 0x1fff) !== 0) return false;
  const l4 = 14 + ihl;
  return f.length >= l4 + 4 && u16(f, l4) === 68 && u16(f, l4 + 2) === 67;
}

/** DHCP-ish frames: the DHCP generator, with the IHL and the ports' position fuzzed */
const dhcpish = fc.record({
  base: ARBITRARIES.dhcp,
  ihl: fc.option(fc.integer({ min: 0, max: 15 }), { nil: null }),
  // ports 68 → 67 where a parser would look for UDP given the IHL, or anywhere
  portsAt: fc.oneof(fc.constant<'ihl' | null>(null), fc.constant<'ihl' | null>('ihl'), fc.integer({ min: 14, max: 80 })),
}).map(({ base, ihl, portsAt }) => {
  const f = base.bytes.slice();
  if (f.length >= 14) { f[12] = 0x08; f[13] = 0x00; }
  if (ihl !== null && f.length > 14) f[14] = 0x40 | ihl;
  const at = portsAt === 'ihl' ? (f.length > 14 ? 14 + (f[14] & 15) * 4 : -1) : portsAt;
  if (at !== null && at >= 14 && f.length >= at + 4) f.set([0, 68, 0, 67], at);
  return f;
});

async function dhcpTakes(sw: Awaited<ReturnType<typeof dhcpSwitch>>, frame: Uint8Array): Promise<boolean> {
  const before = sw.drops(0, 'extension-drop');
  sw.send(0, frame);
  sw.breathe(2);
  return sw.drops(0, 'extension-drop') > before;
}

function dhcpSwitch(): ReturnType<typeof testSwitch> {
  return testSwitch({ ports: 2, stages: [{ module: ext('dhcp-server'), config: { pools: [{ network: '10.9.0.0/24', rangeStart: '10.9.0.100', rangeEnd: '10.9.0.150', serverAddress: '10.9.0.1' }] } }] });
}

test('property: dhcp-server takes exactly the valid IPv4 UDP 68→67 datagrams', async (t) => {
  const sw = await dhcpSwitch();
  t.teardown(() => sw.close());
  await fc.assert(fc.asyncProperty(dhcpish, async (frame) => {
    // frames validation drops never reach it; the reference only speaks of frames that pass validation
    if (frame.length < 14 || frame.length > 1518 || (frame[6] & 1) !== 0 || frame.subarray(6, 12).every((x) => x === 0)) return true;
    const want = refDhcpClient(frame);
    const got = await dhcpTakes(sw, frame);
    if (got !== want) t.log(`frame ${frameHex(frame)}: reference ${want}, dhcp-server ${got}`);
    return got === want;
  }), { seed: SEED, numRuns: 2000 });
  t.deepEqual(sw.failures, []);
});

test('regression: an IPv4 header with IHL < 5 is not taken for DHCP', async (t) => {
  // the shrunk counterexample of the property above: IHL 3, so "UDP" starts at offset 26, inside
  // the IP header — the source address 0.68.0.67 read as ports 68 → 67
  const f = new Uint8Array(303);
  f.set(hex('000000000000 02005e100001 0800 43 00 010f 0001 0000 4011 0000 00440043 0a090001 00440043 00fb 0000 0101'));
  f.set(FUZZ_HOSTS[0], 70);
  f.set([99, 130, 83, 99, 53, 0, 1], 296);
  t.false(refDhcpClient(f));
  const sw = await dhcpSwitch();
  t.teardown(() => sw.close());
  t.false(await dhcpTakes(sw, f));
  t.is(sw.counter('dhcp-server', 'malformed') + sw.counter('dhcp-server', 'discovers'), 0);
  // the same message with IHL 5 is taken (as malformed: its magic cookie is not where BOOTP starts)
  f[14] = 0x45;
  t.true(refDhcpClient(f));
  t.true(await dhcpTakes(sw, f));
});
