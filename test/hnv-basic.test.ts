/**
 * HNV between two real hosts (issue 11 items 2, 3, 8): each host a namespace with its own daemon and an
 * external switch on the underlay bridge (test-support/hnv-hosts.ts). One tenant, routing domain
 * "blue": VSID 5001 (10.1.0.0/24: a1 on host 1, a2 on host 2) and VSID 5002 (10.1.1.0/24: b2 on host
 * 2), lookup records over VXLAN; routing domain "green": VSID 5101 (10.3.0.0/24: n1, n2) over NVGRE.
 * Every host holds every PA-independent object (records, routes); each its own PA.
 *
 * What is checked, inside the namespaces (ping, tshark), not by xvs:
 *  - VXLAN and NVGRE: VM↔VM across the hosts; tshark on the underlay decodes the tunnel frames:
 *    outer IPs are the PAs, `vxlan.vni` = VSID, `gre.key` >> 8 = VSID with protocol 0x6558;
 *  - ARP proxy: a broadcast ARP for a CA with a record is answered by the switch with the record's
 *    MAC (the target VM's namespace sees no request, nothing crosses the underlay); an unknown target
 *    gets no answer anywhere, and the switch counts it (hnv-arp-unknown);
 *  - the distributed router: a1 (VSID 5001) reaches b2 (VSID 5002) in the same domain, the frames
 *    carrying the destination's VSID; a VM of another domain is never reached (its namespace sees
 *    nothing) and the drops are counted.
 */
import test from 'ava';
import { testPrefix } from '../src/lab/netlab.js';
import { HnvTopology, sleep, type HnvHost, type HnvVm } from '../src/test-support/hnv-hosts.js';

const P = testPrefix('hb');
let topo: HnvTopology;
let h1: HnvHost;
let h2: HnvHost;
let a1: HnvVm;
let a2: HnvVm;
let b2: HnvVm;
let n1: HnvVm;
let n2: HnvVm;

test.before(async () => {
  topo = new HnvTopology(P);
  [h1, h2] = await Promise.all([topo.addHost(1), topo.addHost(2)]);
  await Promise.all([h1.addPa(), h2.addPa()]);
  [[a1, n1], [a2, b2, n2]] = await Promise.all([
    (async () => [
      await h1.addVm({ name: 'a1', ca: '10.1.0.11', mac: '02:00:00:01:00:11', vsid: 5001, gateway: '10.1.0.1' }),
      await h1.addVm({ name: 'n1', ca: '10.3.0.11', mac: '02:00:00:03:00:11', vsid: 5101, gateway: '10.3.0.1' }),
    ])(),
    (async () => [
      await h2.addVm({ name: 'a2', ca: '10.1.0.12', mac: '02:00:00:01:00:12', vsid: 5001, gateway: '10.1.0.1' }),
      await h2.addVm({ name: 'b2', ca: '10.1.1.12', mac: '02:00:00:01:01:12', vsid: 5002, gateway: '10.1.1.1' }),
      await h2.addVm({ name: 'n2', ca: '10.3.0.12', mac: '02:00:00:03:00:12', vsid: 5101, gateway: '10.3.0.1' }),
    ])(),
  ]);
  await topo.addRecords([[a1, 'vxlan'], [a2, 'vxlan'], [b2, 'vxlan'], [n1, 'nvgre'], [n2, 'nvgre']]);
  await topo.addRoutes([['blue', 5001, '10.1.0.0/24'], ['blue', 5002, '10.1.1.0/24'], ['green', 5101, '10.3.0.0/24']]);
});

test.after.always(async () => {
  await topo?.destroy();
});

/** every port's drops on both hosts (for failure messages) */
async function dropsText(): Promise<string> {
  const parts: string[] = [];
  for (const h of [h1, h2]) for (const p of (await h.stats()).ports) parts.push(`host ${h.index} ${p.name}: ${JSON.stringify(p.drops)}`);
  return parts.join('; ');
}

/** the sum of a port's hnv-… drops */
async function hnvDrops(h: HnvHost, port: string): Promise<number> {
  return Object.entries(await h.drops(port)).filter(([k]) => k.startsWith('hnv-')).reduce((n, [, v]) => n + v, 0);
}

test.serial('VXLAN: a1 (host 1) and a2 (host 2) ping each other; on the underlay the frames go PA to PA with VNI = VSID 5001', async (t) => {
  const cap = await topo.captureUnderlay('udp port 4789');
  const r = a1.ping(a2.ca, { count: 3 });
  await cap.stop();
  t.regex(r.out, / 3 received/, `a1 → a2: ${r.out}\ndrops: ${await dropsText()}`);
  // ip.src/ip.dst are "outer,inner"
  const frames = cap.fields('icmp', ['ip.src', 'ip.dst', 'vxlan.vni', 'vxlan.flags', 'icmp.type', 'udp.dstport']);
  t.log(frames.map((f) => f.join(' ')).join('\n'));
  const requests = frames.filter((f) => f[4] === '8');
  const replies = frames.filter((f) => f[4] === '0');
  t.is(requests.length, 3, 'each echo request crossed the underlay once');
  t.is(replies.length, 3, 'each echo reply crossed the underlay once');
  for (const f of requests) t.deepEqual(f, [`${h1.pa},${a1.ca}`, `${h2.pa},${a2.ca}`, '5001', '0x0800', '8', '4789']);
  for (const f of replies) t.deepEqual(f, [`${h2.pa},${a2.ca}`, `${h1.pa},${a1.ca}`, '5001', '0x0800', '0', '4789']);
});

test.serial('NVGRE: n1 (host 1) and n2 (host 2) ping each other; gre.key >> 8 = VSID 5101, protocol 0x6558, key bit only', async (t) => {
  const cap = await topo.captureUnderlay('ip proto 47');
  const r = n1.ping(n2.ca, { count: 3 });
  await cap.stop();
  t.regex(r.out, / 3 received/, `n1 → n2: ${r.out}\ndrops: ${await dropsText()}`);
  const frames = cap.fields('icmp', ['ip.src', 'ip.dst', 'gre.key', 'gre.proto', 'gre.flags_and_version', 'icmp.type']);
  t.log(frames.map((f) => f.join(' ')).join('\n'));
  t.is(frames.filter((f) => f[5] === '8').length, 3);
  t.is(frames.filter((f) => f[5] === '0').length, 3);
  for (const [src, dst, key, proto, flags, type] of frames) {
    const [outerSrc, innerSrc] = src.split(',');
    const [outerDst] = dst.split(',');
    t.is(Number(key) >>> 8, 5101, `VSID in the GRE key ${key}`);
    t.is(proto, '0x6558', 'transparent Ethernet bridging');
    t.is(flags, '0x2000', 'GRE: K bit only, version 0');
    t.deepEqual([outerSrc, outerDst], innerSrc === n1.ca ? [h1.pa, h2.pa] : [h2.pa, h1.pa], `type ${type}: PA to PA`);
  }
});

test.serial('ARP proxy: a broadcast ARP for a CA with a record is answered by the switch; an unknown target gets no answer and is counted', async (t) => {
  a1.flushCaches();
  const [atA1, atA2, under] = await Promise.all([a1.capture(a1.dev, 'arp'), a2.capture(a2.dev, 'arp'), topo.captureUnderlay()]);
  // the kernel's own ARP (ping after the neighbour flush), then two crafted requests: known, unknown ×3
  const req = (tpa: string): string =>
    `eth(src=${a1.mac},dst=ff:ff:ff:ff:ff:ff),arp(op=request,sha=${a1.mac},spa=${a1.ca},tha=00:00:00:00:00:00,tpa=${tpa})`;
  const before = (await h1.drops('a1'))['hnv-arp-unknown'] ?? 0;
  const proxiedBefore = h1.vsidCounters(5001).arpProxied ?? 0;
  const ping = a1.ping(a2.ca, { count: 1 });
  a1.sendFrames(a1.dev, [req(a2.ca)]);
  a1.sendFrames(a1.dev, [req('10.1.0.99')], 3);
  await sleep(500);
  await Promise.all([atA1.stop(), atA2.stop(), under.stop()]);
  t.true(ping.ok, ping.out);

  const replies = atA1.fields('arp.opcode == 2', ['arp.src.proto_ipv4', 'arp.src.hw_mac', 'eth.dst']);
  t.log(`ARP replies at a1: ${JSON.stringify(replies)}`);
  t.deepEqual(replies.filter(([ip]) => ip === a2.ca), [[a2.ca, a2.mac, a1.mac], [a2.ca, a2.mac, a1.mac]],
    'a2\'s CA answered with its record\'s MAC, to the kernel\'s request and to the crafted one');
  t.is(replies.filter(([ip]) => ip === '10.1.0.99').length, 0, 'no answer for a CA without a record');
  // (a unicast request, the kernel's reachability probe, would be forwarded: only broadcasts count here)
  t.is(atA2.count(`arp.opcode == 1 && eth.dst == ff:ff:ff:ff:ff:ff && arp.dst.proto_ipv4 == ${a2.ca}`), 0, 'a2 never saw a broadcast request for its own CA (answered, not flooded)');
  t.is(atA2.count('arp.dst.proto_ipv4 == 10.1.0.99'), 0, 'the unknown target is not flooded to a2');
  t.is(under.count(`arp.dst.proto_ipv4 == ${a2.ca} || arp.dst.proto_ipv4 == 10.1.0.99`), 0, 'no ARP for the CAs crossed the underlay (tunnelled or not)');
  t.is(((await h1.drops('a1'))['hnv-arp-unknown'] ?? 0) - before, 3, 'the 3 requests for the unknown CA counted as hnv-arp-unknown on a1\'s port');
  t.true((h1.vsidCounters(5001).arpProxied ?? 0) - proxiedBefore >= 2, 'xvs hnv show counts the proxied answers in VSID 5001');
});

test.serial('distributed router: VSID 5001 reaches VSID 5002 in the same domain (frames carry the destination VSID); another domain is never reached', async (t) => {
  const cap = await topo.captureUnderlay('udp port 4789 or ip proto 47');
  const across = a1.ping(b2.ca, { count: 3 });
  await cap.stop();
  t.true(across.ok, `a1 (5001) → b2 (5002) through the router 10.1.0.1: ${across.out}`);
  const frames = cap.fields('icmp', ['ip.src', 'vxlan.vni', 'icmp.type', 'eth.dst']);
  t.log(frames.map((f) => f.join(' ')).join('\n'));
  const toB2 = frames.filter((f) => f[2] === '8');
  const fromB2 = frames.filter((f) => f[2] === '0');
  t.is(toB2.length, 3);
  t.is(fromB2.length, 3);
  for (const f of toB2) {
    t.is(f[1], '5002', 'a1 → b2 is carried in b2\'s VSID');
    t.is(f[3].split(',')[1], b2.mac, 'the inner destination MAC is b2\'s (from its record)');
  }
  for (const f of fromB2) t.is(f[1], '5001', 'b2 → a1 is carried in a1\'s VSID');
  const vsids = h1.hnvShow().vsids;
  t.log(`host 1, xvs hnv show vsids: ${JSON.stringify(vsids)}`);
  t.deepEqual(vsids.filter((v) => v.vsid === 5001 || v.vsid === 5002).map((v) => v.routingDomain), ['blue', 'blue'], 'both VSIDs in domain blue');
  t.true((h2.vsidCounters(5002).decapsulated ?? 0) >= 3, 'host 2 counts the frames it decapsulated into VSID 5002');

  // another routing domain: never, in either direction; the target namespaces see nothing
  const [atN2, atA2] = await Promise.all([n2.capture(n2.dev), a2.capture(a2.dev)]);
  const dropsA1 = await hnvDrops(h1, 'a1');
  const dropsN1 = await hnvDrops(h1, 'n1');
  const blueToGreen = a1.ping(n2.ca, { count: 2, wait: 1 });
  const greenToBlue = n1.ping(a2.ca, { count: 2, wait: 1 });
  const greenToBlue2 = n1.ping(b2.ca, { count: 2, wait: 1 });
  await Promise.all([atN2.stop(), atA2.stop()]);
  t.false(blueToGreen.ok, 'a1 (blue) ↛ n2 (green)');
  t.false(greenToBlue.ok, 'n1 (green) ↛ a2 (blue)');
  t.false(greenToBlue2.ok, 'n1 (green) ↛ b2 (blue)');
  t.is(atN2.count(`ip.src == ${a1.ca}`), 0, 'n2 saw nothing from a1');
  t.is(atA2.count(`ip.src == ${n1.ca}`), 0, 'a2 saw nothing from n1');
  t.log(`drops a1: ${JSON.stringify(await h1.drops('a1'))}, n1: ${JSON.stringify(await h1.drops('n1'))}`);
  t.true(await hnvDrops(h1, 'a1') - dropsA1 >= 2, 'a1\'s echo requests to the other domain dropped with an hnv-… reason');
  t.true(await hnvDrops(h1, 'n1') - dropsN1 >= 4, 'n1\'s echo requests to the other domain dropped with an hnv-… reason');
});
