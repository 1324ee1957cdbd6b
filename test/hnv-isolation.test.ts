/**
 * Tenant isolation under attack (issue 11 item 5). Two tenants with identical CA subnets AND MACs on the
 * same two hosts: tenant A (routing domain "tenant-a", VSID 5001, VXLAN) and tenant B ("tenant-b",
 * VSID 6001, NVGRE), each with 10.1.0.11 / 02:00:00:00:00:11 on host 1 and 10.1.0.12 /
 * 02:00:00:00:00:12 on host 2.
 *
 * Attacks, each frame carrying the marker "XATK" (in the payload, or in the padding after an ARP):
 *  - from tenant A's VM on host 1: spoofed source MAC, spoofed source CA (unknown, and another VM's),
 *    forged ARP replies (gratuitous broadcast and unicast, claiming another VM's CA and the router's),
 *    broadcasts and multicast, a frame to its own MAC (= tenant B's VM on the same host), non-IP and
 *    802.1Q-tagged frames;
 *  - from the attacker namespace on the underlay (its own PA, 192.0.2.66), to both hosts' PAs: NVGRE
 *    and VXLAN frames with tenant B's VSID and tenant B's inner addresses (wrong PA, wrong
 *    encapsulation), an inner source with no record, an unknown VSID, and malformed headers (GRE
 *    checksum bit, version 1, no key, protocol 0x0800, VXLAN without the I flag, a truncated VXLAN
 *    header, outer IP fragments, an inner 802.1Q tag).
 * Counted by tshark inside tenant B's VM namespaces: nothing at all arrives while the attacks run (B's
 * VMs are silent; a control ping at the end shows the captures were live). Every rejection is counted
 * by xvs by reason (xvs stats: the attacking port's or the uplink's drops), and the test checks the
 * reason of each attack. A control shows the crafted tunnel frames are well-formed: the same frame
 * from the right PA (spoofed; the underlay is trusted, as in Hyper-V) and tenant A's VSID is delivered
 * to tenant A's VM.
 */
import test from 'ava';
import { testPrefix } from '../src/lab/netlab.js';
import { HnvTopology, innerFrame, nvgreFrame, sleep, vxlanFrame, type Capture, type HnvHost, type HnvVm, type OuterSpec, type UnderlayNode } from '../src/test-support/hnv-hosts.js';

const P = testPrefix('hx');
const VSID_A = 5001;
const VSID_B = 6001;
const MAC1 = '02:00:00:00:00:11';
const MAC2 = '02:00:00:00:00:12';
const CA1 = '10.1.0.11';
const CA2 = '10.1.0.12';
const MARK = 'XATK';
/** each attack frame is sent this many times */
const N = 5;
let topo: HnvTopology;
let h1: HnvHost;
let h2: HnvHost;
let ta1: HnvVm;
let ta2: HnvVm;
let tb1: HnvVm;
let tb2: HnvVm;
let x: UnderlayNode;

test.before(async () => {
  topo = new HnvTopology(P);
  [h1, h2] = await Promise.all([topo.addHost(1), topo.addHost(2)]);
  await Promise.all([h1.addPa(), h2.addPa()]);
  [[ta1, tb1], [ta2, tb2]] = await Promise.all([
    (async () => [
      await h1.addVm({ name: 'ta1', ca: CA1, mac: MAC1, vsid: VSID_A, gateway: '10.1.0.1' }),
      await h1.addVm({ name: 'tb1', ca: CA1, mac: MAC1, vsid: VSID_B, gateway: '10.1.0.1' }),
    ])(),
    (async () => [
      await h2.addVm({ name: 'ta2', ca: CA2, mac: MAC2, vsid: VSID_A, gateway: '10.1.0.1' }),
      await h2.addVm({ name: 'tb2', ca: CA2, mac: MAC2, vsid: VSID_B, gateway: '10.1.0.1' }),
    ])(),
  ]);
  await topo.addRecords([[ta1, 'vxlan'], [ta2, 'vxlan'], [tb1, 'nvgre'], [tb2, 'nvgre']]);
  await topo.addRoutes([['tenant-a', VSID_A, '10.1.0.0/24'], ['tenant-b', VSID_B, '10.1.0.0/24']]);
  x = topo.addAttacker();
});

test.after.always(async () => {
  await topo?.destroy();
});

/** frames in `cap` before `until` (epoch seconds), and after */
function split(cap: Capture, until: number): { before: string[][]; after: number } {
  const all = cap.fields('', ['frame.time_epoch', 'eth.src', 'eth.dst', '_ws.col.Protocol', '_ws.col.Info']);
  return { before: all.filter(([t]) => Number(t) < until), after: all.filter(([t]) => Number(t) >= until).length };
}

/** tenant B's VMs (both hosts) captured while `attack` runs; then a control ping tb1 → tb2 */
async function watchTenantB(attack: () => Promise<void>): Promise<{ leaked: string[][]; control: boolean; liveAt: number[] }> {
  const [c1, c2] = await Promise.all([tb1.capture(tb1.dev), tb2.capture(tb2.dev)]);
  await attack();
  await sleep(300);
  const controlAt = Date.now() / 1000;
  const control = tb1.ping(tb2.ca, { count: 1 }).ok;
  await Promise.all([c1.stop(), c2.stop()]);
  const s1 = split(c1, controlAt);
  const s2 = split(c2, controlAt);
  return { leaked: [...s1.before, ...s2.before], control, liveAt: [s1.after, s2.after] };
}

/** drops by reason on port `port` of `h`, as deltas over `during` */
async function dropDelta(h: HnvHost, port: string, during: () => void): Promise<Record<string, number>> {
  const before = await h.drops(port);
  during();
  await sleep(200);
  const after = await h.drops(port);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

test.serial('baseline: identical CAs and MACs; each tenant reaches its own VM on the other host and the other tenant sees nothing', async (t) => {
  const atTb2 = await tb2.capture(tb2.dev);
  const a = ta1.ping(CA2, { count: 3 });
  await atTb2.stop();
  t.true(a.ok, `tenant A 10.1.0.11 → 10.1.0.12: ${a.out}\n${h1.log.slice(-1500)}`);
  t.is(atTb2.count(''), 0, 'tenant B\'s 10.1.0.12 saw nothing of tenant A\'s traffic to "its" address');
  const atTa2 = await ta2.capture(ta2.dev);
  const b = tb1.ping(CA2, { count: 3 });
  await atTa2.stop();
  t.true(b.ok, `tenant B 10.1.0.11 → 10.1.0.12: ${b.out}`);
  t.is(atTa2.count(''), 0, 'tenant A\'s 10.1.0.12 saw nothing of tenant B\'s traffic');
});

interface Attack { name: string; frame: string; reasons: string[] }

const udp = (src: string, srcMac: string, dst: string, dstMac: string, what: string): string =>
  `eth(src=${srcMac},dst=${dstMac}),ipv4(src=${src},dst=${dst}),udp(src=4444,dst=9),payload(text=${MARK}-${what})`;

/** what tenant A's VM on host 1 sends, and the drop reasons that may count it on its port ([] = legitimate within tenant A) */
const vmAttacks: Attack[] = [
  { name: 'spoofed source MAC', frame: udp(CA1, '02:00:00:00:00:99', CA2, MAC2, 'smac'), reasons: ['mac-spoofing', 'hnv-spoofed-source'] },
  { name: 'spoofed source CA (no record)', frame: udp('10.1.0.99', MAC1, CA2, MAC2, 'sca'), reasons: ['hnv-spoofed-source'] },
  { name: 'spoofed source CA (the other VM\'s)', frame: udp(CA2, MAC1, CA2, MAC2, 'sca2'), reasons: ['hnv-spoofed-source'] },
  { name: 'forged gratuitous ARP reply claiming 10.1.0.12', frame: `eth(src=${MAC1},dst=ff:ff:ff:ff:ff:ff),arp(op=reply,sha=${MAC1},spa=${CA2},tha=ff:ff:ff:ff:ff:ff,tpa=${CA2}),payload(text=${MARK}-garp)`, reasons: ['hnv-spoofed-source', 'hnv-dad'] },
  { name: 'forged unicast ARP reply claiming the router', frame: `eth(src=${MAC1},dst=${MAC2}),arp(op=reply,sha=${MAC1},spa=10.1.0.1,tha=${MAC2},tpa=${CA2}),payload(text=${MARK}-rarp)`, reasons: ['hnv-spoofed-source'] },
  { name: 'non-IP broadcast (0x88b5)', frame: `eth(src=${MAC1},dst=ff:ff:ff:ff:ff:ff,type=0x88b5),payload(text=${MARK}-nonip)`, reasons: ['hnv-not-ip'] },
  { name: '802.1Q-tagged frame', frame: `eth(src=${MAC1},dst=${MAC2}),vlan(vid=100),ipv4(src=${CA1},dst=${CA2}),udp(src=4444,dst=9),payload(text=${MARK}-tag)`, reasons: ['hnv-not-ip', 'vlan-not-allowed'] },
  { name: 'to its own MAC and CA (tenant B\'s VM on this host has both)', frame: udp(CA1, MAC1, CA1, MAC1, 'self'), reasons: ['same-port', 'hnv-no-port', 'hnv-no-record', 'no-destination'] },
  { name: 'UDP broadcast 255.255.255.255', frame: udp(CA1, MAC1, '255.255.255.255', 'ff:ff:ff:ff:ff:ff', 'bc'), reasons: [] },
  { name: 'UDP subnet broadcast 10.1.0.255', frame: udp(CA1, MAC1, '10.1.0.255', 'ff:ff:ff:ff:ff:ff', 'sbc'), reasons: [] },
  { name: 'IPv4 multicast 224.0.0.1', frame: udp(CA1, MAC1, '224.0.0.1', '01:00:5e:00:00:01', 'mc'), reasons: [] },
];

test.serial('attacks from a tenant-A VM: nothing reaches tenant B; every rejection counted by reason on the attacker\'s port', async (t) => {
  const rows: string[] = [];
  const seen: Record<string, Record<string, number>> = {};
  const atTa2 = await ta2.capture(ta2.dev);
  const { leaked, control, liveAt } = await watchTenantB(async () => {
    for (const a of vmAttacks) {
      seen[a.name] = await dropDelta(h1, 'ta1', () => { ta1.sendFrames(ta1.dev, [a.frame], N); });
      rows.push(`${a.name.padEnd(60)} ${JSON.stringify(seen[a.name])}`);
    }
  });
  await atTa2.stop();
  t.log(`drops on ta1's port per attack (${N} frames each):\n${rows.join('\n')}`);
  // the broadcasts and the multicast are tenant A's own: replicated to tenant A's VM on host 2 (so B's silence is isolation, not loss)
  for (const what of ['bc', 'sbc', 'mc']) t.is(atTa2.count(`udp.dstport == 9 && !icmp && frame contains "${MARK}-${what}"`), N, `tenant A's VM on host 2 received the ${what} frames`);
  t.is(atTa2.count(`frame contains "${MARK}-smac" || frame contains "${MARK}-sca" || frame contains "${MARK}-garp" || frame contains "${MARK}-rarp" || frame contains "${MARK}-nonip" || frame contains "${MARK}-tag"`), 0, 'none of the rejected frames reached tenant A\'s other VM either');
  t.deepEqual(leaked, [], 'tenant B\'s VMs received nothing during the attacks');
  t.true(control, 'control: tenant B\'s own ping works');
  t.true(liveAt[1] > 0, 'control: tb2\'s capture saw the control ping (captures were live)');
  for (const a of vmAttacks) {
    const counted = a.reasons.reduce((n, r) => n + (seen[a.name][r] ?? 0), 0);
    if (a.reasons.length > 0) t.is(counted, N, `${a.name}: ${N} drops with reason ${a.reasons.join(' or ')} (got ${JSON.stringify(seen[a.name])})`);
  }
});

test.serial('attacks from the underlay (tenant B\'s VSID, wrong PA, malformed): nothing reaches tenant B; every rejection counted by reason on the uplink', async (t) => {
  const innerB = innerFrame(`${udp(CA1, MAC1, CA2, MAC2, 'tun')}`);
  const innerB1 = innerFrame(`${udp(CA2, MAC2, CA1, MAC1, 'tun1')}`);
  const innerUnknown = innerFrame(`${udp('10.1.0.77', '02:00:00:00:00:77', CA2, MAC2, 'unk')}`);
  const innerTagged = innerFrame(`eth(src=${MAC1},dst=${MAC2}),vlan(vid=100),ipv4(src=${CA1},dst=${CA2}),udp(src=4444,dst=9),payload(text=${MARK}-itag)`);
  const innerBcast = innerFrame(`${udp(CA1, MAC1, '255.255.255.255', 'ff:ff:ff:ff:ff:ff', 'ibc')}`);
  const attacks = (h: HnvHost, inner: Uint8Array): { name: string; frame: Uint8Array; reasons: string[] }[] => {
    const o: OuterSpec = { srcMac: x.mac, dstMac: h.uplinkMac(), srcIp: x.ip, dstIp: h.pa };
    return [
      { name: 'NVGRE, tenant B\'s VSID and addresses, wrong PA', frame: nvgreFrame(o, VSID_B, inner), reasons: ['hnv-wrong-pa'] },
      { name: 'NVGRE, tenant B\'s VSID, broadcast inner, wrong PA', frame: nvgreFrame(o, VSID_B, innerBcast), reasons: ['hnv-wrong-pa'] },
      { name: 'VXLAN, tenant B\'s VSID (B uses NVGRE), wrong PA', frame: vxlanFrame(o, VSID_B, inner), reasons: ['hnv-wrong-pa', 'hnv-bad-encapsulation'] },
      { name: 'NVGRE, tenant B\'s VSID, inner source without a record', frame: nvgreFrame(o, VSID_B, innerUnknown), reasons: ['hnv-no-record', 'hnv-wrong-pa'] },
      { name: 'VXLAN, unknown VSID 7777', frame: vxlanFrame(o, 7777, inner), reasons: ['hnv-unknown-vsid'] },
      { name: 'GRE with the checksum bit (0xa000)', frame: nvgreFrame(o, VSID_B, inner, { flags: 0xa000 }), reasons: ['hnv-bad-encapsulation'] },
      { name: 'GRE version 1', frame: nvgreFrame(o, VSID_B, inner, { flags: 0x2001 }), reasons: ['hnv-bad-encapsulation'] },
      { name: 'GRE without a key', frame: nvgreFrame(o, VSID_B, inner, { flags: 0x0000, noKey: true }), reasons: ['hnv-bad-encapsulation'] },
      { name: 'GRE protocol 0x0800', frame: nvgreFrame(o, VSID_B, inner, { protocol: 0x0800 }), reasons: ['hnv-bad-encapsulation'] },
      { name: 'VXLAN without the I flag', frame: vxlanFrame(o, VSID_B, inner, { flags: 0 }), reasons: ['hnv-bad-encapsulation'] },
      { name: 'VXLAN header truncated (4 bytes)', frame: vxlanFrame(o, VSID_B, inner, { truncate: 4 }), reasons: ['hnv-bad-encapsulation'] },
      { name: 'NVGRE in an outer IP fragment (MF)', frame: nvgreFrame(o, VSID_B, inner, { fragment: true }), reasons: ['hnv-bad-encapsulation'] },
      // a tagged inner frame has no IPv4 source to look up: counted as hnv-no-record by the data path
      { name: 'NVGRE with an 802.1Q-tagged inner frame', frame: nvgreFrame(o, VSID_B, innerTagged), reasons: ['hnv-bad-encapsulation', 'hnv-no-record'] },
    ];
  };
  const rows: string[] = [];
  const problems: string[] = [];
  const rejectedBefore = [h1.vsidCounters(VSID_B).rejected ?? 0, h2.vsidCounters(VSID_B).rejected ?? 0];
  const { leaked, control, liveAt } = await watchTenantB(async () => {
    for (const [h, inner] of [[h2, innerB], [h1, innerB1]] as const) {
      for (const a of attacks(h, inner)) {
        const d = await dropDelta(h, h.uplink, () => { x.sendFrames(x.dev, [a.frame], N); });
        const counted = a.reasons.reduce((n, r) => n + (d[r] ?? 0), 0);
        rows.push(`host ${h.index}: ${a.name.padEnd(56)} ${JSON.stringify(d)}`);
        if (counted !== N) problems.push(`host ${h.index}: ${a.name}: expected ${N} × ${a.reasons.join(' or ')}, got ${JSON.stringify(d)}`);
      }
    }
  });
  t.log(`drops on the uplink per attack (${N} frames each):\n${rows.join('\n')}`);
  t.deepEqual(leaked, [], 'tenant B\'s VMs received nothing during the attacks');
  t.true(control, 'control: tenant B\'s own ping works');
  t.true(liveAt[1] > 0, 'control: tb2\'s capture saw the control ping');
  t.deepEqual(problems, [], 'every crafted frame rejected with its reason');
  // per VSID (xvs hnv show): at least the three wrong-PA attacks naming tenant B's VSID, on each host
  const rejected = [(h1.vsidCounters(VSID_B).rejected ?? 0) - rejectedBefore[0], (h2.vsidCounters(VSID_B).rejected ?? 0) - rejectedBefore[1]];
  t.log(`xvs hnv show: VSID ${VSID_B} rejected +${rejected[0]} on host 1, +${rejected[1]} on host 2`);
  for (const r of rejected) t.true(r >= 3 * N, `VSID ${VSID_B} counts its rejections (+${r})`);
});

test.serial('control: the same crafted VXLAN frame from the right PA with tenant A\'s VSID is delivered to tenant A\'s VM only', async (t) => {
  const o: OuterSpec = { srcMac: x.mac, dstMac: h2.uplinkMac(), srcIp: h1.pa, dstIp: h2.pa };
  const frame = vxlanFrame(o, VSID_A, innerFrame(udp(CA1, MAC1, CA2, MAC2, 'ctl')));
  const [atTa2, atTb2] = await Promise.all([ta2.capture(ta2.dev), tb2.capture(tb2.dev)]);
  x.sendFrames(x.dev, [frame], N);
  await Promise.all([atTa2.stop(), atTb2.stop()]);
  // (the VM answers each with an ICMP port unreachable that quotes the frame: count only what came in)
  t.is(atTa2.count(`udp.dstport == 9 && !icmp && frame contains "${MARK}-ctl"`), N, 'tenant A\'s VM received every well-formed frame');
  t.is(atTb2.count(''), 0, 'tenant B\'s VM with the same CA and MAC received none');
});
