/**
 * The overlay MTU between two real hosts (issue 11 item 4) on a 1500-byte underlay: VXLAN (VSID 5001,
 * x1 on host 1, x2 on host 2) and NVGRE (VSID 5101, g1, g2).
 *
 *  - `xvs hnv show` gives each VSID its overlay MTU: 1450 (VXLAN), 1458 (NVGRE) (a TAP port gets it as its
 *    MTU, test/hnv-control; a veth port end is left at 1500, see below);
 *  - a 1472-byte DF ping from a VM at 1500 gets an ICMP "fragmentation needed" carrying the overlay MTU
 *    (read by tshark inside the sender's namespace and in ping's output); the sender's kernel then knows
 *    the path MTU (the next one fails locally with "message too long, mtu=1450"); a DF packet of exactly
 *    the overlay MTU passes and crosses the underlay as a full 1514-byte frame (so the MTU is not too
 *    small either); a too-large packet without DF is fragmented by HNV (the router) into inner
 *    fragments that each fit, the outer packet never being a fragment;
 *  - TCP (socat, 4 MB each way, byte-exact) completes through the tunnel with the VMs left at 1500,
 *    offloads on (TSO/GSO: GSO frames whose segments do not fit) and off (full-size frames): path-MTU
 *    discovery must work through the switch; and with offloads on and the VMs at the overlay MTU; no frame on
 *    the underlay exceeds 1514 bytes and none is an IP fragment. The switch's drops on the VM ports
 *    during the transfers are logged (congestion, ring-full, and GSO frames it could not segment,
 *    hnv-no-headroom, are not asserted: TCP recovers from them).
 *
 * VXLAN GSO frames leave the switch whole through the uplink's tunnel TAP where the kernel has UDP-tunnel
 * GSO for TAPs (6.17+; ports/tunnel-tap.ts); the uplink veths here have tx-udp_tnl-segmentation off, as a
 * NIC without tunnel TSO, so the kernel segments them on the uplink and the underlay capture sees what a
 * wire would carry; the test checks that the tunnel TAP was used (the uplink's txTunnelGso moved).
 *
 * Why the switch leaves a veth port end at 1500: the kernel veth drops (rx_dropped of the receiving
 * end) every non-GSO frame longer than the receiving end's MTU + 18 before the switch's packet socket
 * sees it. With the port end at 1450, a VM left at 1500 lost its full-size TCP retransmissions there
 * silently and the offloads-on transfer stalled (seen: 12 RTO timeouts, no drop in xvs). With the
 * port end at 1500 every oversized frame reaches xvs and is answered with "fragmentation needed".
 */
import test from 'ava';
import { testPrefix } from '../src/lab/netlab.js';
import { HnvTopology, tcpTransfer, type HnvHost, type HnvVm } from '../src/test-support/hnv-hosts.js';
import { native } from '../src/ports/native/index.js';

/** this kernel takes UDP-tunnel GSO through a TAP (a throwaway tunnel TAP of our own prefix opens) */
function kernelHasTunnelGso(name: string): boolean {
  const fd = native.tunnelTapOpen(name);
  if (fd < 0) return false;
  native.closeFd(fd);
  return true;
}

const P = testPrefix('hm');
let topo: HnvTopology;
let h1: HnvHost;
let h2: HnvHost;
let x1: HnvVm;
let x2: HnvVm;
let g1: HnvVm;
let g2: HnvVm;
const MB4 = 4 * 1024 * 1024;
const tunnelGso = kernelHasTunnelGso(`${P}tg`);

test.before(async () => {
  topo = new HnvTopology(P);
  [h1, h2] = await Promise.all([topo.addHost(1), topo.addHost(2)]);
  await Promise.all([h1.addPa(), h2.addPa()]);
  [[x1, g1], [x2, g2]] = await Promise.all([
    (async () => [
      await h1.addVm({ name: 'x1', ca: '10.1.0.11', mac: '02:00:00:01:00:11', vsid: 5001, gateway: '10.1.0.1' }),
      await h1.addVm({ name: 'g1', ca: '10.3.0.11', mac: '02:00:00:03:00:11', vsid: 5101, gateway: '10.3.0.1' }),
    ])(),
    (async () => [
      await h2.addVm({ name: 'x2', ca: '10.1.0.12', mac: '02:00:00:01:00:12', vsid: 5001, gateway: '10.1.0.1' }),
      await h2.addVm({ name: 'g2', ca: '10.3.0.12', mac: '02:00:00:03:00:12', vsid: 5101, gateway: '10.3.0.1' }),
    ])(),
  ]);
  await topo.addRecords([[x1, 'vxlan'], [x2, 'vxlan'], [g1, 'nvgre'], [g2, 'nvgre']]);
  await topo.addRoutes([['blue', 5001, '10.1.0.0/24'], ['green', 5101, '10.3.0.0/24']]);
  // the uplinks segment tunnel GSO frames themselves (a NIC without tunnel TSO): the underlay sees wire-size frames
  for (const h of [h1, h2]) h.exec(['ethtool', '-K', h.uplink, 'tx-udp_tnl-segmentation', 'off', 'tx-udp_tnl-csum-segmentation', 'off']);
});

test.after.always(async () => {
  await topo?.destroy();
});

const cases = [
  { encap: 'VXLAN', mtu: 1450, from: (): HnvVm => x1, to: (): HnvVm => x2 },
  { encap: 'NVGRE', mtu: 1458, from: (): HnvVm => g1, to: (): HnvVm => g2 },
];

test.serial('the VSIDs have the overlay MTU (1450 VXLAN, 1458 NVGRE); veth port ends and the VMs are left at 1500', (t) => {
  for (const [h, vm] of [[h1, x1], [h2, x2], [h1, g1], [h2, g2]] as const) t.is(h.portMtu(vm), 1500, 'a veth port end is not lowered');
  for (const vm of [x1, x2, g1, g2]) t.is(vm.mtu(), 1500);
  const shown = new Map(h1.hnvShow().vsids.map((v) => [v.vsid, v.mtu]));
  t.is(shown.get(5001), 1450, 'xvs hnv show: VSID 5001 MTU');
  t.is(shown.get(5101), 1458, 'xvs hnv show: VSID 5101 MTU');
});

for (const c of cases) {
  test.serial(`${c.encap}: a 1472-byte DF ping → ICMP frag-needed (mtu ${c.mtu}), learned by the sender; exactly ${c.mtu} passes as a 1514-byte outer frame; no DF → inner fragments`, async (t) => {
    const [a, b] = [c.from(), c.to()];
    a.flushCaches();
    t.true(a.ping(b.ca, { count: 1 }).ok, 'reachable at all');
    const tooBigBefore = h1.vsidCounters(a.vsid).tooBig ?? 0;
    const icmp = await a.capture(a.dev, 'icmp');
    const probe = a.ping(b.ca, { count: 1, size: 1472, df: true });
    await icmp.stop();
    t.false(probe.ok, `1500 bytes with DF do not pass: ${probe.out}`);
    t.regex(probe.out, new RegExp(`mtu = ${c.mtu}`), 'ping reports the frag-needed MTU');
    const fragNeeded = icmp.fields('icmp.type == 3 && icmp.code == 4', ['icmp.mtu', 'ip.dst']);
    t.log(`frag-needed at the sender: ${JSON.stringify(fragNeeded)}`);
    t.true(fragNeeded.length >= 1, 'the sender received an ICMP fragmentation-needed');
    for (const [mtu, dst] of fragNeeded) {
      t.is(mtu, String(c.mtu));
      t.is(dst.split(',')[0], a.ca, 'addressed to the sender');
    }
    t.is((h1.vsidCounters(a.vsid).tooBig ?? 0) - tooBigBefore, fragNeeded.length, 'xvs hnv show counts each answer (tooBig)');
    t.regex(a.exec(['ip', 'route', 'get', b.ca]), new RegExp(`mtu ${c.mtu}`), 'the sender\'s kernel caches the path MTU');
    const again = a.ping(b.ca, { count: 1, size: 1472, df: true });
    t.false(again.ok);
    t.regex(again.out, new RegExp(`message too long, mtu=${c.mtu}`), 'the next 1472-byte DF ping fails locally with the learned MTU');

    // exactly the overlay MTU: passes, and fills a 1500-byte underlay exactly
    const under = await topo.captureUnderlay('udp port 4789 or ip proto 47', 128);
    const fits = a.ping(b.ca, { count: 2, size: c.mtu - 28, df: true });
    await under.stop();
    t.true(fits.ok, `${c.mtu} bytes with DF pass: ${fits.out}`);
    const lens = under.fields('icmp', ['frame.len']).map(([l]) => Number(l));
    t.deepEqual(lens, [1514, 1514, 1514, 1514], 'two requests and two replies, each a full 1514-byte frame on the underlay');

    // too large without DF: fragmented by the router (HNV) to the overlay MTU, never the outer packet
    a.flushCaches();
    const frag = await topo.captureUnderlay('udp port 4789 or ip proto 47', 128);
    const noDf = a.run(['ping', '-n', '-c', '1', '-W', '2', '-M', 'dont', '-s', String(c.mtu + 2 - 28), b.ca]);
    await frag.stop();
    t.is(noDf.code, 0, `${c.mtu + 2} bytes without DF pass, fragmented: ${noDf.out}`);
    const pieces = frag.fields('ip.src', ['ip.flags.mf', 'ip.frag_offset', 'frame.len']);
    t.log(`without DF, on the underlay (outer,inner MF / offset / frame length): ${JSON.stringify(pieces)}`);
    t.true(pieces.length >= 2, 'the request crossed the underlay in (at least) two inner fragments');
    for (const [mf, off, len] of pieces) {
      t.is(mf.split(',')[0], '0', 'the outer packet is never a fragment');
      t.is(off.split(',')[0], '0', 'the outer packet is never a fragment');
      t.true(Number(len) <= 1514, 'each piece fits the underlay');
    }
    t.true(pieces.some(([mf]) => mf.split(',')[1] === '1'), 'inner fragments (MF set on all but the last)');
  });
}

/**
 * the transfers: the VMs left at 1500 with offloads on (GSO frames whose segments do not fit) and off
 * (full-size frames): path-MTU discovery through the switch's ICMP either way; and offloads on with the
 * VMs at the overlay MTU (GSO frames whose segments fit: the segmentation path alone)
 */
const transfers = (mtu: number): { offloads: boolean; vmMtu: number; what: string }[] => [
  { offloads: true, vmMtu: 1500, what: 'offloads on (GSO frames), VMs at 1500: path-MTU discovery' },
  { offloads: false, vmMtu: 1500, what: 'offloads off, VMs at 1500: path-MTU discovery' },
  { offloads: true, vmMtu: mtu, what: `offloads on (GSO frames), VMs at ${mtu}` },
];

for (const c of cases) {
  for (const v of transfers(c.mtu)) {
    test.serial(`${c.encap}: TCP 4 MB each way through the tunnel, ${v.what}`, async (t) => {
      const [a, b] = [c.from(), c.to()];
      for (const vm of [a, b]) {
        vm.setOffloads(v.offloads);
        vm.exec(['ip', 'link', 'set', vm.dev, 'mtu', String(v.vmMtu)]);
        vm.flushCaches();
      }
      t.teardown(() => { for (const vm of [a, b]) { vm.setOffloads(true); vm.exec(['ip', 'link', 'set', vm.dev, 'mtu', '1500']); } });
      const dropsBefore = [await a.host.drops(a.name), await b.host.drops(b.name)];
      const tunnelGsoBefore = await a.host.uplinkTunnelGso();
      const [under, atSender] = await Promise.all([topo.captureUnderlay('udp port 4789 or ip proto 47', 128), a.capture(a.dev, 'icmp')]);
      const there = await tcpTransfer(b, a, b.ca, MB4, 20_000);
      // a stalled first transfer says enough: the second would only wait out its timeout as well
      const back = there.intact ? await tcpTransfer(a, b, a.ca, MB4, 20_000) : { intact: false, received: 0, error: 'not run: the first direction failed' };
      await Promise.all([under.stop(), atSender.stop()]);
      const dropped = (before: Record<string, number>, after: Record<string, number>): Record<string, number> =>
        Object.fromEntries(Object.entries(after).filter(([k, n]) => n > (before[k] ?? 0)).map(([k, n]) => [k, n - (before[k] ?? 0)]));
      const switchDrops = [dropped(dropsBefore[0], await a.host.drops(a.name)), dropped(dropsBefore[1], await b.host.drops(b.name))];
      // on failure: the switch's drops on both VM ports and what the kernel veths dropped before the switch saw it
      const why = `drops during the transfers ${a.name}: ${JSON.stringify(switchDrops[0])}, ${b.name}: ${JSON.stringify(switchDrops[1])}; ` +
        `veth rx_dropped at the port ends: ${a.host.counter(a.netdev, 'rx_dropped')}, ${b.host.counter(b.netdev, 'rx_dropped')}; ` +
        `frag-needed at ${a.name}: ${atSender.count('icmp.type == 3 && icmp.code == 4')}; ` +
        `TCP at ${a.name} / ${b.name}: ${[a, b].map((vm) => vm.run(['nstat', '-az', 'TcpInCsumErrors', 'TcpRetransSegs', 'TcpExtTCPTimeouts']).out.replace(/\s+/g, ' ').replace('#kernel', '')).join(' / ')}`;
      t.true(there.intact, `${a.name} → ${b.name}: received ${there.received} of ${MB4} ${there.error}; ${why}`);
      t.true(back.intact, `${b.name} → ${a.name}: received ${back.received} of ${MB4} ${back.error}; ${why}`);
      const lens = under.fields('tcp', ['frame.len']).map(([l]) => Number(l));
      t.true(lens.length > (there.intact ? 2 : 1) * MB4 / 1500, `the transfer crossed the underlay (${lens.length} TCP frames)`);
      t.true(Math.max(...lens) <= 1514, `no underlay frame above 1514 bytes (largest ${Math.max(...lens)})`);
      t.is(under.count('ip.flags.mf == 1 || ip.frag_offset > 0'), 0, 'no IP fragments on the underlay');
      const fragNeeded = atSender.fields('icmp.type == 3 && icmp.code == 4', ['icmp.mtu']);
      t.log(`${c.encap}, ${v.what}: ${lens.length} tunnel TCP frames, largest ${Math.max(...lens)}; ` +
        `frag-needed at the sender: ${fragNeeded.length} (mtu ${[...new Set(fragNeeded.map(([m]) => m))].join(',')}); ${why}`);
      for (const [m] of fragNeeded) t.is(m, String(c.mtu));
      if (c.encap === 'VXLAN' && v.offloads && tunnelGso) {
        t.true(await a.host.uplinkTunnelGso() > tunnelGsoBefore, 'GSO frames left whole through the tunnel TAP');
      }
    });
  }
}
