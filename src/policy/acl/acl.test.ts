/**
 * Port ACLs on the real data path (testSwitch): longest prefix match among IP entries (both
 * orders of allow/deny), deny at equal length, IPv4/IPv6 apart and "any" for both, MAC exact over
 * any, MAC and IP tables side by side, ARP judged by its protocol addresses, inbound entries on a
 * flood excluding only the denying port (and dropping when it was the last destination), meter
 * records of the longest meter entry in bytes and packets, the trace note, refusals.
 */
import test from 'ava';
import type { PortAcl } from '../../config/types.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import { buildPacket } from '../../packet/spec.js';
import { PolicyCounters, PPF } from '../counters.js';
import { aclPolicy } from './index.js';

const M = (k: number): string => `02:00:00:00:00:${k.toString(16).padStart(2, '0')}`;
const BCAST = 'ff:ff:ff:ff:ff:ff';

async function aclSwitch(acls: PortAcl[][], ports = 3): Promise<TestSwitch> {
  const sw = await testSwitch({ ports });
  install(sw, acls, ports);
  return sw;
}

function install(sw: TestSwitch, acls: PortAcl[][], ports = 3): void {
  sw.dp.policy.install({
    ports: Array.from({ length: ports }, (_, index) => ({ index, name: `vm${index}`, kind: 'vm' as const, settings: { macAddressSpoofing: true, ...(acls[index] ? { acls: acls[index] } : {}) } })),
  });
}

const ip4 = (src: string, dst: string, dmac = BCAST, smac = M(0)): Uint8Array => buildPacket(`eth(src=${smac},dst=${dmac}),ipv4(src=${src},dst=${dst}),udp(src=1,dst=2)`);
const ip6 = (src: string, dst: string): Uint8Array => buildPacket(`eth(src=${M(0)},dst=${BCAST}),ipv6(src=${src},dst=${dst}),udp(src=1,dst=2)`);

/** send from `from`; the ports that received it */
function receivers(sw: TestSwitch, from: number, f: Uint8Array): number[] {
  sw.clearSent();
  sw.send(from, f);
  sw.breathe();
  return sw.ports.map((_, k) => k).filter((k) => sw.sent(k).length > 0);
}

const out = (action: PortAcl['action'], remoteIPAddress: string): PortAcl => ({ action, direction: 'outbound', remoteIPAddress });

test('longest prefix wins among IP entries: deny /8 with allow /16, and allow /8 with deny /16', async (t) => {
  const sw = await aclSwitch([[out('deny', '10.0.0.0/8'), out('allow', '10.1.0.0/16')]]);
  t.deepEqual(receivers(sw, 0, ip4('192.168.0.1', '10.1.2.3')), [1, 2], 'the /16 allow is longer');
  t.deepEqual(receivers(sw, 0, ip4('192.168.0.1', '10.2.0.1')), [], 'only the /8 deny matches');
  t.deepEqual(receivers(sw, 0, ip4('192.168.0.1', '192.168.0.2')), [1, 2], 'no entry matches: allowed');
  t.is(sw.drops(0, 'port-acl'), 1);
  install(sw, [[out('allow', '10.0.0.0/8'), out('deny', '10.1.0.0/16')]]);
  t.deepEqual(receivers(sw, 0, ip4('192.168.0.1', '10.1.2.3')), []);
  t.deepEqual(receivers(sw, 0, ip4('192.168.0.1', '10.2.0.1')), [1, 2]);
  const tr = sw.trace(ip4('192.168.0.1', '10.1.9.9'), 0);
  t.is(tr.verdict, 'dropped');
  t.regex(JSON.stringify(tr.steps), /port ACL vm0 outbound deny 10\.1\.0\.0\/16/);
  sw.close();
});

test('local and remote entries compete on length; deny wins at equal length; direction and local/remote swap', async (t) => {
  const sw = await aclSwitch([[
    { action: 'allow', direction: 'outbound', localIPAddress: '10.0.0.1' },
    { action: 'deny', direction: 'outbound', remoteIPAddress: '10.0.0.2' },
    { action: 'deny', direction: 'outbound', remoteIPAddress: '10.0.0.0/24' },
  ]]);
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.1', '10.0.0.2')), [], '/32 allow (local) vs /32 deny (remote): deny');
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.1', '10.0.0.3')), [1, 2], 'the local /32 allow beats the remote /24 deny');
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.9', '10.0.0.3')), [], 'another source: the /24 deny');
  t.deepEqual(receivers(sw, 1, ip4('10.0.0.2', '10.0.0.1', BCAST, M(1))), [0, 2], 'inbound is not judged by outbound entries');
  sw.close();
});

test('IPv4 and IPv6 entries are apart; "any" is both families; no entry → allowed', async (t) => {
  const sw = await aclSwitch([[out('deny', '0.0.0.0/0'), out('allow', 'fd00::/64')]]);
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.1', '10.0.0.2')), []);
  t.deepEqual(receivers(sw, 0, ip6('fd00::1', 'fd00::2')), [1, 2]);
  t.deepEqual(receivers(sw, 0, ip6('fd00::1', 'fd01::2')), [1, 2], 'no IPv6 deny');
  install(sw, [[out('deny', 'any'), out('allow', 'fd00::/64')]]);
  t.deepEqual(receivers(sw, 0, ip6('fd00::1', 'fd01::2')), [], 'any denies IPv6 too');
  t.deepEqual(receivers(sw, 0, ip6('fd00::1', 'fd00::2')), [1, 2], 'the /64 allow is longer than any');
  t.deepEqual(receivers(sw, 0, buildPacket(`eth(src=${M(0)},dst=${BCAST},type=0x88b5),payload(len=46)`)), [1, 2], 'non-IP frames meet no IP entry');
  sw.close();
});

test('ARP is judged by IP entries on its sender/target addresses; MAC entries: exact beats any; a MAC deny beats an IP allow', async (t) => {
  const sw = await aclSwitch([[out('deny', 'any'), out('allow', '10.0.0.2')]]);
  t.deepEqual(receivers(sw, 0, buildPacket(`eth(src=${M(0)},dst=${BCAST}),arp(op=request,spa=10.0.0.1,tpa=10.0.0.2)`)), [1, 2], 'ARP for the allowed host');
  t.deepEqual(receivers(sw, 0, buildPacket(`eth(src=${M(0)},dst=${BCAST}),arp(op=request,spa=10.0.0.1,tpa=10.0.0.3)`)), [], 'ARP for another host');
  install(sw, [[
    { action: 'deny', direction: 'outbound', remoteMacAddress: 'any' },
    { action: 'allow', direction: 'outbound', remoteMacAddress: '02-00-00-00-00-01' },
    { action: 'allow', direction: 'outbound', remoteIPAddress: '10.0.0.0/8' },
  ]]);
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.1', '10.0.0.2', M(1))), [1, 2], 'to MAC 1 (unknown unicast, flooded): the exact allow');
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.1', '10.0.0.2', M(2))), [], 'to MAC 2: the MAC deny, whatever the IP allow says');
  sw.close();
});

test('inbound: a deny on a flood excludes only that port (aclInboundDenied); unicast or the last destination drops', async (t) => {
  const inDeny: PortAcl = { action: 'deny', direction: 'inbound', remoteIPAddress: '10.0.0.1' };
  const sw = await aclSwitch([[], [], [inDeny]]);
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.1', '10.0.0.255')), [1], 'the broadcast reaches port 1, not port 2');
  t.is(sw.drops(0, 'port-acl'), 0, 'not dropped: it had another destination');
  t.is(sw.dp.policyCounters.v[PolicyCounters.port(2) + PPF.aclInboundDenied], 1);
  const tr = sw.trace(ip4('10.0.0.1', '10.0.0.255'), 0);
  t.deepEqual(tr.destinations, [1]);
  t.regex(JSON.stringify(tr.steps), /port ACL vm2 inbound deny 10\.0\.0\.1/);
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.9', '10.0.0.255')), [1, 2], 'another source');
  // port 2 learns its MAC; unicast to it from the denied address is dropped
  receivers(sw, 2, ip4('10.0.0.3', '10.0.0.9', BCAST, M(2)));
  t.deepEqual(receivers(sw, 0, ip4('10.0.0.1', '10.0.0.3', M(2))), []);
  t.is(sw.drops(0, 'port-acl'), 1);
  t.is(sw.dp.policyCounters.v[PolicyCounters.port(2) + PPF.aclInboundDenied], 3);
  // two ports: the flood's only destination denies it → dropped
  const two = await aclSwitch([[], [inDeny]], 2);
  t.deepEqual(receivers(two, 0, ip4('10.0.0.1', '10.0.0.255')), []);
  t.is(two.drops(0, 'port-acl'), 1);
  sw.close();
  two.close();
});

test('meter entries count bytes and packets of the longest matching meter entry, per direction, and never deny', async (t) => {
  const acls: PortAcl[] = [
    { action: 'meter', direction: 'both', remoteIPAddress: '10.0.0.0/8' },
    { action: 'meter', direction: 'outbound', remoteIPAddress: '10.1.0.0/16' },
    { action: 'deny', direction: 'outbound', remoteIPAddress: '10.9.0.0/16' },
  ];
  const sw = await aclSwitch([acls]);
  const meter = (k: number): number[] => Array.from(sw.dp.policyCounters.v.subarray(PolicyCounters.meter(0, k), PolicyCounters.meter(0, k) + 4));
  const a = ip4('10.200.0.1', '10.0.0.2');
  const b = buildPacket(`eth(src=${M(0)},dst=${BCAST}),ipv4(src=10.200.0.1,dst=10.1.0.2),udp(src=1,dst=2),payload(len=500)`);
  t.deepEqual(receivers(sw, 0, a), [1, 2]);
  t.deepEqual(receivers(sw, 0, b), [1, 2]);
  t.deepEqual(receivers(sw, 0, b), [1, 2]);
  t.deepEqual(receivers(sw, 0, ip4('10.200.0.1', '10.9.0.1')), [], 'denied: not metered');
  t.deepEqual(receivers(sw, 0, ip4('10.200.0.1', '192.168.0.1')), [1, 2], 'no meter entry');
  t.deepEqual(meter(0), [0, 0, a.length, 1], 'entry 0: outbound only the /8 frame');
  t.deepEqual(meter(1), [0, 0, 2 * b.length, 2], 'entry 1: the longer /16');
  const c = buildPacket(`eth(src=${M(1)},dst=${BCAST}),ipv4(src=10.3.0.1,dst=10.200.0.1),udp(src=1,dst=2),payload(len=100)`);
  t.deepEqual(receivers(sw, 1, c), [0, 2]);
  t.deepEqual(meter(0), [c.length, 1, a.length, 1], 'inbound to port 0');
  sw.close();
});

test('bad entries are refused naming the port and field; summary; no entries → no hooks', async (t) => {
  const sw = await aclSwitch([]);
  t.deepEqual(sw.dp.policy.installed().filter((p) => p.hook.name === 'port-acl'), []);
  t.throws(() => install(sw, [[out('deny', '10.0.0.0/33')]]), { message: /vm0\.acls\[0\]\.remoteIPAddress: expected an IPv4 or IPv6/ });
  t.throws(() => install(sw, [[{ action: 'meter', direction: 'inbound', remoteMacAddress: 'any' }]]), { message: /vm0\.acls\[0\]\.remoteMacAddress: meter entries must be IP-based/ });
  t.throws(() => install(sw, [[{ action: 'deny', direction: 'inbound' }]]), { message: /vm0\.acls\[0\]: give exactly one address/ });
  t.deepEqual(aclPolicy.summary({ ports: [{ index: 0, name: 'vm0', kind: 'vm', settings: { acls: [out('deny', 'any'), out('meter', 'any')] } }] }), ['vm0: 2 port ACL entries (0 allow, 1 deny, 1 meter)']);
  install(sw, [[], [{ action: 'deny', direction: 'inbound', remoteIPAddress: 'any' }]]);
  t.deepEqual(sw.dp.policy.installed().filter((p) => p.hook.name === 'port-acl').map((p) => p.stage), ['egress-policies'], 'inbound only: one hook');
  sw.close();
});

test('the verdict cache: frames of one batch that differ only in a MAC, an address, or their EtherType each get their own verdict', async (t) => {
  const sw = await aclSwitch([[
    { action: 'deny', direction: 'outbound', remoteMacAddress: M(9) },
    { action: 'deny', direction: 'outbound', remoteIPAddress: '10.0.0.9' },
    { action: 'meter', direction: 'outbound', remoteIPAddress: 'any' },
  ]]);
  const ok = ip4('10.0.0.1', '10.0.0.2', M(1));
  const badMac = ip4('10.0.0.1', '10.0.0.2', M(9));
  const badIp = ip4('10.0.0.1', '10.0.0.9', M(1));
  const arp = buildPacket(`eth(src=${M(0)},dst=${BCAST}),arp(op=request,spa=10.0.0.1,tpa=10.0.0.9)`);
  const tagged = buildPacket(`eth(src=${M(0)},dst=${M(1)}),vlan(vid=5),ipv4(src=10.0.0.1,dst=10.0.0.9),udp(src=1,dst=2)`);
  sw.clearSent();
  sw.send(0, ok, ok, badMac, ok, badIp, ok, arp, ok, tagged, ok);
  sw.breathe();
  t.is(sw.sent(1).length, 6, 'the six frames to 10.0.0.2 and an allowed MAC');
  t.is(sw.drops(0, 'port-acl'), 4, 'MAC 9, and 10.0.0.9 as IPv4, ARP and tagged IPv4');
  const m = PolicyCounters.meter(0, 2);
  t.deepEqual(Array.from(sw.dp.policyCounters.v.subarray(m + 2, m + 4)), [6 * ok.length, 6], 'only the allowed IP frames metered');
  sw.close();
});

test('no allocation per frame: 2 million frames through the guards, the storm limit and the port ACLs, the heap does not grow', async (t) => {
  const sw = await testSwitch({ ports: 2 });
  const acls: PortAcl[] = [
    out('deny', '10.0.0.9'), out('allow', '10.0.0.0/8'), out('meter', 'any'),
    { action: 'deny', direction: 'inbound', remoteIPAddress: '192.0.2.0/24' }, { action: 'meter', direction: 'inbound', remoteIPAddress: 'any' },
    { action: 'deny', direction: 'both', remoteMacAddress: M(9) },
  ];
  sw.dp.policy.install({ ports: [0, 1].map((index) => ({ index, name: `vm${index}`, kind: 'vm' as const, settings: { dhcpGuard: true, routerGuard: true, stormLimit: 1000, acls } })) });
  for (const p of sw.ports) p.record = null;
  sw.send(1, ip4('10.0.0.2', '10.0.0.1', M(0), M(1)));
  sw.breathe();
  sw.ports[0].inbox.push(
    ip4('10.0.0.1', '10.0.0.2', M(1)), ip4('10.0.0.1', '10.0.0.9', M(1)), ip4('10.0.0.1', '10.0.0.3', BCAST),
    ip6('fd00::1', 'fd00::2'), buildPacket(`eth(src=${M(0)},dst=${BCAST}),arp(op=request,spa=10.0.0.1,tpa=10.0.0.2)`),
    buildPacket(`eth(src=${M(0)},dst=${BCAST}),ipv4(src=10.0.0.1,dst=255.255.255.255),udp(src=67,dst=68),payload(len=240)`),
    buildPacket(`eth(src=${M(0)},dst=${M(1)}),ipv4(src=10.0.0.1,dst=10.0.0.2),icmp(type=5)`),
  );
  sw.ports[0].repeat = true;
  const run = (frames: number): void => {
    const rx0 = sw.portCounter(0, 'rxPackets');
    while (sw.portCounter(0, 'rxPackets') - rx0 < frames) { sw.now += 0.001; sw.breathe(); }
  };
  run(200_000); // warm up: JIT, inline caches
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(2_000_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`heapUsed delta ${after - before} bytes over 2M frames, gc exposed: ${gc !== undefined}`);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  t.true(sw.drops(0, 'port-acl') > 0 && sw.drops(0, 'dhcp-guard') > 0 && sw.drops(0, 'router-guard') > 0 && sw.drops(0, 'storm-limit') > 0, 'every policy was at work');
  sw.close();
});
