/**
 * The guards on the real data path (testSwitch, memory ports), with frames built byte-exact: MAC
 * spoofing off by default (first learned MAC, static MAC, ARP sender, a reused port index), DHCP
 * guard (v4 OFFER/ACK/NAK and v6 ADVERTISE/REPLY dropped, DISCOVER/REQUEST/SOLICIT pass), router
 * guard (ICMPv4 5/9, ICMPv6 134/137 behind IPv4 options and an IPv6 hop-by-hop header), what only
 * VM ports are judged on, and the trace note.
 */
import test from 'ava';
import type { PortSettings } from '../../config/types.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import { buildPacket } from '../../packet/spec.js';
import type { PolicyPortKind } from '../runtime.js';
import { guardsPolicy } from './index.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';
const BCAST = 'ff:ff:ff:ff:ff:ff';

async function guarded(settings: PortSettings, kind: PolicyPortKind = 'vm'): Promise<TestSwitch> {
  const sw = await testSwitch({ ports: 3 });
  sw.dp.policy.install({
    ports: [
      { index: 0, name: 'vm0', kind, settings },
      { index: 1, name: 'vm1', kind: 'vm', settings: { macAddressSpoofing: true } },
      { index: 2, name: 'up', kind: 'external', settings: {} },
    ],
  });
  return sw;
}

/** send from port 0; true when port 1 received it */
function passes(sw: TestSwitch, f: Uint8Array): boolean {
  sw.clearSent();
  sw.send(0, f);
  sw.breathe();
  return sw.sent(1).length === 1;
}

const hex = (bytes: number[]): string => bytes.map((x) => x.toString(16).padStart(2, '0')).join('');

/** a BOOTP/DHCPv4 message: op, chaddr = A, magic cookie, option 53 (message type), end */
function bootp(op: number, type: number): string {
  const m = new Array<number>(240).fill(0);
  m[0] = op; m[1] = 1; m[2] = 6; m[4] = 0x12; m[5] = 0x34; m[6] = 0x56; m[7] = 0x78;
  [2, 0, 0, 0, 0, 0x0a].forEach((x, k) => { m[28 + k] = x; });
  m.splice(236, 4, 0x63, 0x82, 0x53, 0x63);
  return hex([...m, 53, 1, type, 255]);
}

const dhcp4 = (sport: number, dport: number, op: number, type: number, src = A): Uint8Array =>
  buildPacket(`eth(src=${src},dst=${BCAST}),ipv4(src=10.0.0.1,dst=255.255.255.255),udp(src=${sport},dst=${dport}),payload(hex=${bootp(op, type)})`);
/** DHCPv6: message type, transaction id, no options */
const dhcp6 = (sport: number, dport: number, type: number): Uint8Array =>
  buildPacket(`eth(src=${A},dst=33:33:00:01:00:02),ipv6(src=fe80::a,dst=ff02::1:2),udp(src=${sport},dst=${dport}),payload(hex=${hex([type, 0xab, 0xcd, 0xef])})`);
const icmp4 = (type: number, extra = ''): Uint8Array => buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(src=10.0.0.1,dst=10.0.0.255${extra}),icmp(type=${type})`);
/** ICMPv6 of `type` (RA/redirect bodies zero), with an optional hop-by-hop options header first */
function icmp6(type: number, hopByHop = false): Uint8Array {
  const icmp = [type, 0, 0, 0, ...new Array<number>(12).fill(0)];
  // hop-by-hop: next header 58, length 0 (8 bytes), a PadN option of 4
  const payload = hopByHop ? [58, 0, 1, 4, 0, 0, 0, 0, ...icmp] : icmp;
  return buildPacket(`eth(src=${A},dst=33:33:00:00:00:01),ipv6(src=fe80::a,dst=ff02::1,nh=${hopByHop ? 0 : 58},hlim=255),payload(hex=${hex(payload)})`);
}

test('MAC spoofing off by default: the first source MAC is the port\'s, others are dropped as mac-spoofing', async (t) => {
  const sw = await guarded({});
  t.true(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)), 'the first frame teaches the port its MAC');
  t.false(passes(sw, buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`)), 'another source MAC');
  t.is(sw.drops(0, 'mac-spoofing'), 1);
  t.true(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)), 'its own MAC again');
  // the same settings installed again keep what was learned
  sw.dp.policy.install(sw.dp.policy.input);
  t.false(passes(sw, buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`)));
  const tr = sw.trace(buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`), 0);
  t.is(tr.verdict, 'dropped');
  t.regex(JSON.stringify(tr.steps), /MAC spoofing vm0: source 02:00:00:00:00:0b is not the port's 02:00:00:00:00:0a/);
  sw.close();
});

test('ARP poisoning: an ARP whose sender hardware address is not the port\'s MAC is dropped', async (t) => {
  const sw = await guarded({});
  t.true(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),arp(op=request,sha=${A},spa=10.0.0.1,tpa=10.0.0.2)`)));
  t.false(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),arp(op=reply,sha=${B},spa=10.0.0.2,tpa=10.0.0.9)`)), 'sender hardware address B');
  t.is(sw.drops(0, 'mac-spoofing'), 1);
  sw.close();
});

test('a static MAC is the only source allowed, even before any frame; spoofing on allows any', async (t) => {
  const sw = await guarded({ staticMacAddress: '02-00-00-00-00-0c' });
  t.false(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)), 'not learned: the static MAC rules');
  t.true(passes(sw, buildPacket(`eth(src=${C},dst=${BCAST}),ipv4(),udp()`)));
  sw.dp.policy.install({ ports: [{ index: 0, name: 'vm0', kind: 'vm', settings: { macAddressSpoofing: true } }, { index: 1, name: 'vm1', kind: 'vm', settings: { macAddressSpoofing: true } }] });
  t.true(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)));
  t.true(passes(sw, buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`)));
  t.is(sw.drops(0, 'mac-spoofing'), 1);
  sw.close();
});

test('a port index given to another port name forgets the learned MAC; a bad static MAC is refused naming the field', async (t) => {
  const sw = await guarded({});
  t.true(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)));
  sw.dp.policy.install({ ports: [{ index: 0, name: 'other', kind: 'vm', settings: {} }, { index: 1, name: 'vm1', kind: 'vm', settings: { macAddressSpoofing: true } }] });
  t.true(passes(sw, buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`)), 'the new port learns B');
  t.false(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)));
  t.throws(() => sw.dp.policy.install({ ports: [{ index: 0, name: 'other', kind: 'vm', settings: { staticMacAddress: 'nope' } }] }), { message: /other\.staticMacAddress: expected a MAC address/ });
  t.false(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)), 'the old rules stay in force');
  sw.close();
});

test('DHCP guard drops DHCPv4 OFFER/ACK/NAK and DHCPv6 ADVERTISE/REPLY/RECONFIGURE; client messages pass', async (t) => {
  const sw = await guarded({ dhcpGuard: true });
  t.true(passes(sw, dhcp4(68, 67, 1, 1)), 'DISCOVER');
  t.true(passes(sw, dhcp4(68, 67, 1, 3)), 'REQUEST');
  t.false(passes(sw, dhcp4(67, 68, 2, 2)), 'OFFER');
  t.false(passes(sw, dhcp4(67, 68, 2, 5)), 'ACK');
  t.false(passes(sw, dhcp4(67, 68, 2, 6)), 'NAK');
  t.true(passes(sw, dhcp6(546, 547, 1)), 'SOLICIT');
  t.true(passes(sw, dhcp6(546, 547, 3)), 'REQUEST (v6)');
  t.false(passes(sw, dhcp6(547, 546, 2)), 'ADVERTISE');
  t.false(passes(sw, dhcp6(547, 546, 7)), 'REPLY');
  t.false(passes(sw, dhcp6(547, 546, 10)), 'RECONFIGURE');
  t.is(sw.drops(0, 'dhcp-guard'), 6);
  t.is(sw.drops(0, 'mac-spoofing'), 0);
  t.regex(JSON.stringify(sw.trace(dhcp4(67, 68, 2, 2), 0).steps), /DHCP guard vm0: DHCPv4 server message \(op 2\)/);
  sw.close();
});

test('DHCP guard off (the default): a VM\'s OFFER goes through', async (t) => {
  const sw = await guarded({});
  t.true(passes(sw, dhcp4(67, 68, 2, 2)));
  t.true(passes(sw, dhcp6(547, 546, 7)));
  sw.close();
});

test('router guard drops ICMPv4 redirect/RA and ICMPv6 RA/redirect, also behind IPv4 options and a hop-by-hop header', async (t) => {
  const sw = await guarded({ routerGuard: true });
  t.false(passes(sw, icmp4(5)), 'ICMPv4 redirect');
  t.false(passes(sw, icmp4(9)), 'ICMPv4 router advertisement');
  t.false(passes(sw, icmp4(9, ',options=94040000')), 'ICMPv4 RA behind a router-alert option (IHL 6)');
  t.true(passes(sw, icmp4(8)), 'echo request');
  t.true(passes(sw, icmp4(10)), 'router solicitation');
  t.false(passes(sw, icmp6(134)), 'ICMPv6 RA');
  t.false(passes(sw, icmp6(137)), 'ICMPv6 redirect');
  t.false(passes(sw, icmp6(134, true)), 'RA behind a hop-by-hop header');
  t.true(passes(sw, icmp6(133)), 'router solicitation');
  t.true(passes(sw, icmp6(135, true)), 'neighbour solicitation behind hop-by-hop');
  t.is(sw.drops(0, 'router-guard'), 6);
  t.regex(JSON.stringify(sw.trace(icmp6(134, true), 0).steps), /router guard vm0: ICMPv6 type 134/);
  sw.close();
});

test('router guard: a non-first IPv4 fragment is not judged; an IPv6 chain that runs past the packet is dropped', async (t) => {
  const sw = await guarded({ routerGuard: true });
  const frag = icmp4(5);
  frag[20] = 0x00; frag[21] = 0x10; // fragment offset 16 (128 bytes): bytes 34.. are data, not an ICMP header
  t.true(passes(sw, frag), 'a later fragment has no ICMP header to judge');
  // hop-by-hop header claiming 16 bytes where the packet has 8
  const cut = buildPacket(`eth(src=${A},dst=33:33:00:00:00:01),ipv6(src=fe80::a,dst=ff02::1,nh=0),payload(hex=3a01010400000000)`);
  t.false(passes(sw, cut));
  t.is(sw.drops(0, 'router-guard'), 1);
  sw.close();
});

test('guards judge only VM ports; without guards on any port no hook is placed', async (t) => {
  const sw = await guarded({ dhcpGuard: true, routerGuard: true }, 'external');
  t.true(passes(sw, dhcp4(67, 68, 2, 2)), 'the uplink carries a real DHCP server');
  t.true(passes(sw, icmp6(134)));
  t.true(passes(sw, buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`)), 'any source MAC on the uplink');
  sw.dp.policy.install({ ports: [0, 1].map((index) => ({ index, name: `vm${index}`, kind: 'vm' as const, settings: { macAddressSpoofing: true } })) });
  t.deepEqual(sw.dp.policy.installed().filter((p) => p.hook.name === 'guards'), []);
  t.deepEqual(guardsPolicy.summary(sw.dp.policy.input), []);
  t.deepEqual(guardsPolicy.summary({ ports: [{ index: 0, name: 'vm0', kind: 'vm', settings: { dhcpGuard: true } }] }), ['vm0: MAC spoofing off (own MAC first learned), DHCP guard']);
  sw.close();
});

test('a synthetic trace never teaches a port its MAC, and leaves trace notes off', async (t) => {
  const sw = await guarded({});
  t.is(sw.trace(buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`), 0).verdict, 'forwarded', 'nothing learned yet: the trace passes');
  t.false(sw.dp.policies.notes.on);
  t.true(passes(sw, buildPacket(`eth(src=${A},dst=${BCAST}),ipv4(),udp()`)), 'A is the first real source');
  t.false(passes(sw, buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`)));
  t.is(sw.trace(buildPacket(`eth(src=${B},dst=${BCAST}),ipv4(),udp()`), 0).verdict, 'dropped');
  sw.close();
});
