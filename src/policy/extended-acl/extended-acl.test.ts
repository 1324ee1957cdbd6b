/**
 * Extended port ACLs in-process (testSwitch: the real DataPath on memory ports): weight order and
 * first match; no implicit deny; inbound exclusion vs drop; stateful outbound rules letting replies
 * past an inbound deny-all (TCP, UDP, ICMP echo by identifier, IPv6 with an extension header);
 * expiry after the idle timeout (lazy and swept); a full flow table counted; non-first fragments;
 * ARP and IPv6 neighbour discovery pass; trace words; settings refused naming the field.
 */
import test from 'ava';
import type { ExtendedAcl } from '../../config/types.js';
import { ConfigError } from '../../core/errors.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import { buildPacket } from '../../packet/spec.js';
import { PPF, PolicyCounters } from '../counters.js';
import { FlowTable } from './flow-table.js';
import { extendedAclModule, validateExtendedAcls } from './index.js';

const VM = '02:00:00:00:00:01';
const PEER = '02:00:00:00:00:02';
const OTHER = '02:00:00:00:00:03';
const VM_IP = '10.0.0.1';
const PEER_IP = '10.0.0.2';

/** port 0 = vm0 (with the entries), 1 = peer, [2 = other] */
async function sw(acls: ExtendedAcl[], ports = 2): Promise<TestSwitch> {
  const s = await testSwitch({ ports });
  const names = ['vm0', 'peer', 'other'];
  s.dp.policy.install({
    ports: Array.from({ length: ports }, (_, i) => ({ index: i, name: names[i], kind: 'vm' as const, settings: i === 0 ? { extendedAcls: acls } : {} })),
  });
  return s;
}

const tcp = (src: string, dst: string, sip: string, dip: string, sp: number, dp: number, flags = 'S'): Uint8Array =>
  buildPacket(`eth(src=${src},dst=${dst}),ipv4(src=${sip},dst=${dip}),tcp(src=${sp},dst=${dp},flags=${flags})`);
const udp = (src: string, dst: string, sip: string, dip: string, sp: number, dp: number): Uint8Array =>
  buildPacket(`eth(src=${src},dst=${dst}),ipv4(src=${sip},dst=${dip}),udp(src=${sp},dst=${dp})`);
/** from the VM out to the peer */
const out = (sp: number, dp: number, proto: 'tcp' | 'udp' = 'tcp'): Uint8Array => (proto === 'tcp' ? tcp : udp)(VM, PEER, VM_IP, PEER_IP, sp, dp);
/** from the peer in to the VM */
const inn = (sp: number, dp: number, proto: 'tcp' | 'udp' = 'tcp'): Uint8Array => (proto === 'tcp' ? tcp : udp)(PEER, VM, PEER_IP, VM_IP, sp, dp);

/** send one frame from `port`, return whether `to` got it */
function delivered(s: TestSwitch, port: number, frame: Uint8Array, to: number): boolean {
  s.clearSent();
  s.send(port, frame);
  s.breathe();
  return s.sent(to).length === 1;
}

const pc = (s: TestSwitch, port: number, field: keyof typeof PPF): number => s.dp.policyCounters.v[PolicyCounters.port(port) + PPF[field]];
const flows = (s: TestSwitch): FlowTable => new FlowTable(s.dp.policy.env.shared.flows);

const DENY_IN: ExtendedAcl = { action: 'deny', direction: 'inbound', weight: 1 };

test('larger weight first: a broad allow at a higher weight beats a narrow deny; a narrow deny above a broad allow wins', async (t) => {
  const s = await sw([
    { action: 'allow', direction: 'inbound', weight: 10, remoteIPAddress: '10.0.0.0/8' },
    { action: 'deny', direction: 'inbound', weight: 5, remoteIPAddress: `${PEER_IP}/32`, protocol: 'tcp' },
  ]);
  t.true(delivered(s, 1, inn(1000, 22), 0), 'the weight-10 allow decides');
  t.is(s.drops(1, 'extended-acl'), 0);
  const s2 = await sw([
    { action: 'allow', direction: 'inbound', weight: 5, remoteIPAddress: '10.0.0.0/8' },
    { action: 'deny', direction: 'inbound', weight: 10, remoteIPAddress: PEER_IP, protocol: 'tcp', localPort: '22' },
  ]);
  t.false(delivered(s2, 1, inn(1000, 22), 0), 'the weight-10 deny decides');
  t.is(s2.drops(1, 'extended-acl'), 1, 'the only destination denied: dropped, counted on the source port');
  t.is(pc(s2, 0, 'extendedAclInboundDenied'), 1);
  t.true(delivered(s2, 1, inn(1000, 23), 0), 'another port: the allow');
  t.true(delivered(s2, 1, udp(PEER, VM, PEER_IP, VM_IP, 1000, 22), 0), 'udp: the deny names tcp');
  s.close(); s2.close();
});

test('first match is final; no match allows (no implicit deny); local/remote swap with direction', async (t) => {
  const s = await sw([
    { action: 'allow', direction: 'outbound', weight: 20, protocol: 'udp', localPort: '5000-5009', remotePort: '53' },
    { action: 'deny', direction: 'outbound', weight: 10, protocol: 'udp' },
    { action: 'allow', direction: 'outbound', weight: 5, protocol: 'udp', remotePort: '53' },
  ]);
  t.true(delivered(s, 0, out(5003, 53, 'udp'), 1), 'local = source port on outbound');
  t.false(delivered(s, 0, out(5010, 53, 'udp'), 1), 'the weight-10 deny is final: the weight-5 allow is never reached');
  t.is(s.drops(0, 'extended-acl'), 1, 'outbound: dropped, counted on the VM port');
  t.true(delivered(s, 0, out(5010, 53, 'tcp'), 1), 'tcp matches nothing: allowed');
  t.true(delivered(s, 1, inn(53, 5010, 'udp'), 0), 'no inbound entries: allowed');
  const s2 = await sw([{ action: 'deny', direction: 'inbound', weight: 1, protocol: 'udp', localIPAddress: VM_IP, localPort: '7', remoteIPAddress: PEER_IP, remotePort: '9' }]);
  t.false(delivered(s2, 1, inn(9, 7, 'udp'), 0), 'inbound: local = destination');
  t.true(delivered(s2, 1, inn(7, 9, 'udp'), 0), 'swapped ports do not match');
  const s3 = await sw([{ action: 'deny', direction: 'inbound', weight: 1, localIPAddress: VM_IP, remoteIPAddress: '::/0' },
    { action: 'deny', direction: 'inbound', weight: 2, protocol: 'icmp', remoteIPAddress: '::/0' }]);
  t.true(delivered(s3, 1, inn(9, 7, 'udp'), 0), 'IPv4 local with an IPv6 remote: matches nothing');
  t.true(delivered(s3, 1, buildPacket(`eth(src=${PEER},dst=${VM}),ipv6(src=fd00::2,dst=fd00::1),icmp(type=128,id=1)`), 0), 'icmp names IPv4\'s ICMP, not ICMPv6');
  s.close(); s2.close(); s3.close();
});

test('an inbound deny removes only that destination from a flood; the trace names the entry', async (t) => {
  const s = await sw([DENY_IN], 3);
  s.dp.policy.env.trace.on = true;
  s.clearSent();
  s.send(1, udp(PEER, 'ff:ff:ff:ff:ff:ff', PEER_IP, '10.0.0.255', 1, 2));
  s.breathe();
  t.is(s.sent(0).length, 0, 'not to the VM');
  t.is(s.sent(2).length, 1, 'the other port still gets it');
  t.is(s.drops(1, 'extended-acl'), 0, 'not dropped: it had another destination');
  t.is(pc(s, 0, 'extendedAclInboundDenied'), 1);
  t.is(s.dp.policy.env.trace.words[0], 'extended ACL vm0 inbound deny weight 1');
  s.close();
});

test('ARP and IPv6 neighbour discovery pass a deny-all; other ICMPv6 does not', async (t) => {
  const s = await sw([DENY_IN, { action: 'deny', direction: 'outbound', weight: 1 }]);
  t.true(delivered(s, 1, buildPacket(`eth(src=${PEER},dst=ff:ff:ff:ff:ff:ff),arp(op=request,sha=${PEER},spa=${PEER_IP},tpa=${VM_IP})`), 0));
  t.true(delivered(s, 1, buildPacket(`eth(src=${PEER},dst=${VM}),ipv6(src=fe80::2,dst=fe80::1),icmp(type=135)`), 0), 'neighbour solicitation');
  t.true(delivered(s, 0, buildPacket(`eth(src=${VM},dst=${PEER}),ipv6(src=fe80::1,dst=fe80::2),icmp(type=136)`), 1), 'neighbour advertisement');
  t.false(delivered(s, 1, buildPacket(`eth(src=${PEER},dst=${VM}),ipv6(src=fe80::2,dst=fe80::1),icmp(type=128,id=1)`), 0), 'echo request');
  const before = s.drops(1, 'extended-acl');
  t.false(delivered(s, 1, buildPacket(`eth(src=${PEER},dst=${VM}),vlan(vid=5,tpid=0x88a8),vlan(vid=7),ipv4(src=${PEER_IP},dst=${VM_IP}),udp(src=1,dst=2)`), 0),
    'a double-tagged IPv4 frame is judged');
  t.is(s.drops(1, 'extended-acl'), before + 1);
  s.close();
});

const STATEFUL_TCP: ExtendedAcl[] = [DENY_IN, { action: 'allow', direction: 'outbound', weight: 10, protocol: 'tcp', remotePort: '80', stateful: true, idleSessionTimeout: 2 }];

test('a stateful outbound allow lets the replies in past an inbound deny-all; nothing else gets in', async (t) => {
  const s = await sw(STATEFUL_TCP);
  t.false(delivered(s, 1, inn(80, 40000), 0), 'before the VM spoke: denied');
  t.true(delivered(s, 0, out(40000, 80), 1), 'the VM connects out');
  t.is(pc(s, 0, 'flowsCreated'), 1);
  t.is(flows(s).count, 1);
  t.true(delivered(s, 1, inn(80, 40000, 'tcp'), 0), 'the reply gets in');
  for (let k = 0; k < 3; k++) { t.true(delivered(s, 0, out(40000, 80, 'tcp'), 1)); t.true(delivered(s, 1, inn(80, 40000), 0)); }
  t.is(pc(s, 0, 'flowsCreated'), 1, 'one state for the flow, both directions');
  t.false(delivered(s, 1, inn(80, 40001), 0), 'another client port: no state');
  t.false(delivered(s, 1, inn(80, 40000, 'udp'), 0), 'another protocol: no state');
  t.false(delivered(s, 1, tcp(PEER, VM, '10.0.0.3', VM_IP, 80, 40000), 0), 'another remote address: no state');
  t.false(delivered(s, 1, inn(40000, 22), 0), 'a connection in: denied');
  t.true(delivered(s, 0, out(40000, 443), 1), 'outbound without a state is allowed (no outbound deny)');
  t.is(pc(s, 0, 'flowsCreated'), 1, 'port 443 matched no stateful rule');
  t.is(pc(s, 0, 'extendedAclInboundDenied'), 5);
  s.close();
});

test('a state expires after its idle timeout without traffic; traffic in either direction refreshes it; the sweep removes it', async (t) => {
  const s = await sw(STATEFUL_TCP);
  t.true(delivered(s, 0, out(40000, 80), 1));
  s.now += 1;
  t.true(delivered(s, 1, inn(80, 40000), 0), '1 s: alive');
  s.now += 1;
  t.true(delivered(s, 1, inn(80, 40000), 0), '2 s after the start, 1 s after the reply: inbound traffic refreshed it');
  s.now += 3;
  s.tick();
  t.is(flows(s).count, 0, 'swept by housekeeping');
  t.false(delivered(s, 1, inn(80, 40000), 0), 'an unsolicited packet of the old flow is dropped');
  t.is(s.drops(1, 'extended-acl'), 1);
  // lazily expired even before a sweep
  t.true(delivered(s, 0, out(40000, 80), 1));
  s.now += 2;
  t.true(delivered(s, 1, inn(80, 40000), 0), 'idle for exactly the timeout: alive');
  s.now += 3;
  t.is(flows(s).count, 1, 'not swept yet');
  t.false(delivered(s, 1, inn(80, 40000), 0), 'expired at its timeout whatever the sweep');
  t.true(delivered(s, 0, out(40000, 80), 1), 'the VM speaks again: a new state (re-armed)');
  t.true(delivered(s, 1, inn(80, 40000), 0));
  s.close();
});

test('a full flow table: the matching frame passes, no state is made, counted as flowTableFull', async (t) => {
  const s = await sw(STATEFUL_TCP);
  flows(s).setLimit(2);
  t.true(delivered(s, 0, out(40000, 80), 1));
  t.true(delivered(s, 0, out(40001, 80), 1));
  t.true(delivered(s, 0, out(40002, 80), 1), 'the third flow passes outbound');
  t.is(pc(s, 0, 'flowsCreated'), 2);
  t.is(pc(s, 0, 'flowTableFull'), 1);
  t.true(delivered(s, 1, inn(80, 40001), 0));
  t.false(delivered(s, 1, inn(80, 40002), 0), 'its reply has no state');
  s.now += 5;
  s.tick();
  t.true(delivered(s, 0, out(40002, 80), 1));
  t.true(delivered(s, 1, inn(80, 40002), 0), 'room again after expiry');
  s.close();
});

test('UDP, ICMP echo (by identifier) and IPv6 with an extension header keep state; a non-first fragment has no ports', async (t) => {
  const s = await sw([
    DENY_IN,
    { action: 'allow', direction: 'outbound', weight: 10, protocol: 'udp', remotePort: '53', stateful: true },
    { action: 'allow', direction: 'outbound', weight: 11, protocol: 'icmp', stateful: true },
    { action: 'allow', direction: 'outbound', weight: 12, protocol: 'icmpv6', stateful: true },
    { action: 'allow', direction: 'outbound', weight: 13, protocol: 'tcp', remoteIPAddress: 'fd00::/64', remotePort: '443', stateful: true },
  ]);
  t.true(delivered(s, 0, out(5555, 53, 'udp'), 1));
  t.true(delivered(s, 1, inn(53, 5555, 'udp'), 0), 'udp reply');
  const icmp = (src: string, dst: string, sip: string, dip: string, type: number, id: number): Uint8Array =>
    buildPacket(`eth(src=${src},dst=${dst}),ipv4(src=${sip},dst=${dip}),icmp(type=${type},id=${id},seq=1)`);
  t.true(delivered(s, 0, icmp(VM, PEER, VM_IP, PEER_IP, 8, 77), 1), 'echo request out');
  t.true(delivered(s, 1, icmp(PEER, VM, PEER_IP, VM_IP, 0, 77), 0), 'its echo reply');
  t.false(delivered(s, 1, icmp(PEER, VM, PEER_IP, VM_IP, 0, 78), 0), 'a reply with another identifier');
  const v6 = (src: string, dst: string, sip: string, dip: string, sp: number, dp: number): Uint8Array => {
    // a hop-by-hop options header (8 bytes, PadN) before TCP
    const f = buildPacket(`eth(src=${src},dst=${dst}),ipv6(src=${sip},dst=${dip}),tcp(src=${sp},dst=${dp})`);
    const g = new Uint8Array(f.length + 8);
    g.set(f.subarray(0, 54), 0);
    g.set([6, 0, 1, 4, 0, 0, 0, 0], 54);
    g.set(f.subarray(54), 62);
    g[14 + 6] = 0; // next header: hop-by-hop
    const plen = ((g[18] << 8) | g[19]) + 8;
    g[18] = plen >> 8; g[19] = plen & 255;
    return g;
  };
  t.true(delivered(s, 0, v6(VM, PEER, 'fd00::1', 'fd00::2', 50000, 443), 1), 'IPv6 out');
  t.true(delivered(s, 1, v6(PEER, VM, 'fd00::2', 'fd00::1', 443, 50000), 0), 'IPv6 reply through the hop-by-hop header');
  t.false(delivered(s, 1, v6(PEER, VM, 'fd00::2', 'fd00::1', 443, 50001), 0));
  t.true(delivered(s, 0, buildPacket(`eth(src=${VM},dst=${PEER}),ipv6(src=fd00::1,dst=fd00::2),icmp(type=128,id=9)`), 1));
  t.true(delivered(s, 1, buildPacket(`eth(src=${PEER},dst=${VM}),ipv6(src=fd00::2,dst=fd00::1),icmp(type=129,id=9)`), 0), 'ICMPv6 echo reply');
  // a non-first fragment of the UDP reply: no ports, so no state; the deny-all decides
  const frag = inn(53, 5555, 'udp');
  frag[14 + 6] = 0x00; frag[14 + 7] = 0x10; // offset 16 × 8 bytes
  const before = s.drops(1, 'extended-acl');
  t.false(delivered(s, 1, frag, 0), 'non-first fragment of a stateful flow: judged without ports, denied');
  t.is(s.drops(1, 'extended-acl'), before + 1, 'by the extended ACL');
  t.is(pc(s, 0, 'flowsCreated'), 4);
  s.close();
});

test('states belong to their port: another port with the same rules does not get them; a removed port loses them', async (t) => {
  const s = await testSwitch({ ports: 3 });
  const input = (names: string[]) => ({ ports: names.map((n, i) => ({ index: i, name: n, kind: 'vm' as const, settings: i === 1 ? {} : { extendedAcls: STATEFUL_TCP } })) });
  s.dp.policy.install(input(['vm0', 'peer', 'vm2']));
  t.true(delivered(s, 0, out(40000, 80), 1));
  // the same 5-tuple towards vm2 (say it shares the address): vm2 made no state
  t.false(delivered(s, 1, tcp(PEER, OTHER, PEER_IP, VM_IP, 80, 40000), 2));
  t.true(delivered(s, 1, inn(80, 40000), 0));
  s.dp.policy.install(input(['vmX', 'peer', 'vm2']));
  t.is(flows(s).count, 0, 'index 0 is another port now: its states are gone');
  t.false(delivered(s, 1, inn(80, 40000), 0));
  s.close();
});

test('settings are refused naming the field', (t) => {
  const bad = (acls: unknown, msg: RegExp): void => {
    const e = t.throws(() => validateExtendedAcls(acls, 'extendedAcls'), { instanceOf: ConfigError });
    t.regex(e?.message ?? '', msg);
  };
  bad([{ action: 'allow', direction: 'both', weight: 1 }], /^extendedAcls\[0\]\.direction: expected inbound or outbound/);
  bad([{ action: 'permit', direction: 'inbound', weight: 1 }], /^extendedAcls\[0\]\.action: expected allow or deny/);
  bad([{ action: 'deny', direction: 'inbound', weight: 1.5 }], /^extendedAcls\[0\]\.weight: expected an integer/);
  bad([{ action: 'deny', direction: 'inbound', weight: 1 }, { action: 'allow', direction: 'inbound', weight: 1 }], /^extendedAcls\[1\]\.weight: weight 1 inbound is already used by extendedAcls\[0\]/);
  bad([{ action: 'deny', direction: 'inbound', weight: 1, stateful: true }], /^extendedAcls\[0\]\.stateful: stateful entries only allow/);
  bad([{ action: 'allow', direction: 'inbound', weight: 1, localPort: '80' }], /^extendedAcls\[0\]\.localPort: ports need protocol tcp or udp/);
  bad([{ action: 'allow', direction: 'inbound', weight: 1, protocol: 'tcp', remotePort: '90-80' }], /^extendedAcls\[0\]\.remotePort: the range is empty/);
  bad([{ action: 'allow', direction: 'inbound', weight: 1, protocol: 'sctp' }], /^extendedAcls\[0\]\.protocol: expected tcp, udp/);
  bad([{ action: 'allow', direction: 'inbound', weight: 1, remoteIPAddress: '10.0.0.0/33' }], /^extendedAcls\[0\]\.remoteIPAddress: prefix length expected 0\.\.32/);
  bad([{ action: 'allow', direction: 'inbound', weight: 1, idleSessionTimeout: 30 }], /^extendedAcls\[0\]\.idleSessionTimeout: only a stateful entry/);
  bad([{ action: 'allow', direction: 'inbound', weight: 1, stateful: true, idleSessionTimeout: 0 }], /^extendedAcls\[0\]\.idleSessionTimeout: expected seconds/);
  bad([{ action: 'allow', direction: 'inbound', weight: 1, color: 'red' }], /^extendedAcls\[0\]\.color: unknown key/);
  t.deepEqual(validateExtendedAcls([{ action: 'allow', direction: 'inbound', weight: 3, protocol: 'TCP', localPort: 3389, remoteIPAddress: 'ANY' }], 'x'),
    [{ action: 'allow', direction: 'inbound', weight: 3, protocol: 'tcp', localPort: '3389', remoteIPAddress: 'any' }]);
});

test('hooks only where needed: none without entries; inbound-only entries need no ingress hook; stateful ones need both', async (t) => {
  const hooks = async (acls: ExtendedAcl[]): Promise<string[]> => {
    const s = await sw(acls);
    // VM ports also get the default MAC-spoofing guard: count this module's hooks only
    const out = s.dp.policy.installed().filter((p) => p.hook.name === 'extended-acl').map((p) => `${p.stage}:${p.hook.name}`);
    s.close();
    return out;
  };
  t.deepEqual(await hooks([]), []);
  const input = { ports: [
    { index: 0, name: 'vm0', kind: 'vm' as const, settings: { extendedAcls: STATEFUL_TCP } },
    { index: 1, name: 'peer', kind: 'vm' as const, settings: {} },
  ] };
  t.deepEqual(extendedAclModule.summary(input), ['vm0: extended ACLs 1 inbound, 1 outbound, 1 stateful'], 'the pipeline show line');
  t.deepEqual(await hooks([DENY_IN]), ['egress-policies:extended-acl']);
  t.deepEqual(await hooks([{ action: 'deny', direction: 'outbound', weight: 1 }]), ['ingress-policies:extended-acl']);
  t.deepEqual(await hooks([{ action: 'allow', direction: 'inbound', weight: 1, protocol: 'tcp', localPort: '22', stateful: true }]),
    ['ingress-policies:extended-acl', 'egress-policies:extended-acl']);
});

test('an inbound stateful allow: the connection in makes the state that lets the replies out past an outbound deny-all; they refresh it', async (t) => {
  const s = await sw([DENY_IN, { action: 'deny', direction: 'outbound', weight: 1 },
    { action: 'allow', direction: 'inbound', weight: 10, protocol: 'tcp', localPort: '22', stateful: true, idleSessionTimeout: 3 }]);
  t.false(delivered(s, 0, out(22, 50000), 1), 'no state yet: the outbound deny-all');
  t.true(delivered(s, 1, inn(50000, 22), 0), 'the connection in');
  for (let k = 0; k < 4; k++) {
    s.now += 2;
    t.true(delivered(s, 0, out(22, 50000), 1), 'the VM replies: passes by the state and refreshes it');
  }
  t.is(pc(s, 0, 'flowsCreated'), 1);
  s.now += 4;
  t.false(delivered(s, 0, out(22, 50000), 1), '4 s idle (timeout 3): expired');
  s.close();
});

test('no allocation per frame: judged, denied, stateful and IPv6 frames cause no more garbage collections than no policy', async (t) => {
  const { PerformanceObserver } = await import('node:perf_hooks');
  const acls = [...STATEFUL_TCP, { action: 'deny' as const, direction: 'outbound' as const, weight: 5, protocol: 'udp', remotePort: '9' }];
  const s = await sw(acls);
  const install = (list: ExtendedAcl[]): void => s.dp.policy.install({
    ports: [0, 1].map((i) => ({ index: i, name: ['vm0', 'peer'][i], kind: 'vm' as const, settings: i === 0 ? { extendedAcls: list } : {} })),
  });
  for (const p of s.ports) p.record = null;
  s.ports[0].inbox.push(out(40000, 80), out(40001, 80), out(5000, 9, 'udp'),
    buildPacket(`eth(src=${VM},dst=${PEER}),ipv6(src=fd00::1,dst=fd00::2),tcp(src=40000,dst=80)`));
  s.ports[1].inbox.push(inn(80, 40000), inn(80, 40002), inn(22, 40000, 'udp'),
    buildPacket(`eth(src=${PEER},dst=${VM}),ipv6(src=fd00::2,dst=fd00::1),tcp(src=80,dst=40000)`));
  for (const k of [0, 1]) s.ports[k].repeat = true;
  const rx = (): number => s.portCounter(0, 'rxPackets') + s.portCounter(1, 'rxPackets');
  const run = (frames: number): void => { const rx0 = rx(); while (rx() - rx0 < frames) s.breathe(); };
  /** garbage collections while 2M frames pass (gc entries are delivered asynchronously) */
  const collections = async (): Promise<number> => {
    let n = 0;
    const obs = new PerformanceObserver((list) => { n += list.getEntries().length; });
    obs.observe({ entryTypes: ['gc'] });
    await new Promise((r) => setTimeout(r, 20));
    n = 0;
    run(2_000_000);
    await new Promise((r) => setTimeout(r, 50));
    obs.disconnect();
    return n;
  };
  run(200_000); // JIT warm-up; the flows' states exist
  install([]);
  run(200_000);
  const none = await collections();
  install(acls);
  const withAcls = await collections();
  t.log(`garbage collections during 2M frames: ${none} without policy, ${withAcls} with extended ACLs`);
  t.true(withAcls <= none + 1, `${withAcls} collections with extended ACLs, ${none} without`);
  t.true(s.drops(0, 'extended-acl') > 0 && s.drops(1, 'extended-acl') > 0, 'the mix hit outbound and inbound denies');
  t.true(s.portCounter(0, 'txPackets') > 0 && s.portCounter(1, 'txPackets') > 0, 'and passed frames both ways');
  t.is(s.dp.pool.inUse, 0);
  s.close();
});
