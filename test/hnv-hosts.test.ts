/**
 * The HNV two-host fixture itself (src/test-support/hnv-hosts.ts), without HNV policy: each host's
 * daemon runs inside its own namespace with its own socket, its external switch's uplink reaches the
 * underlay bridge (two plain VM ports on different hosts talk through both uplinks and the bridge),
 * two kernel VXLAN VTEPs on the underlay talk to each other, and the crafted NVGRE/VXLAN frames the
 * isolation test sends are what tshark decodes (VNI, GRE key, protocol 0x6558, inner ICMP). The
 * other HNV tests rely on each of these.
 */
import test from 'ava';
import { testPrefix } from '../src/lab/netlab.js';
import { HnvTopology, innerFrame, nvgreFrame, vxlanFrame, type HnvHost, type UnderlayNode } from '../src/test-support/hnv-hosts.js';

const P = testPrefix('hf');
let topo: HnvTopology;
let h1: HnvHost;
let h2: HnvHost;

test.before(async () => {
  topo = new HnvTopology(P);
  [h1, h2] = await Promise.all([topo.addHost(1), topo.addHost(2)]);
});

test.after.always(async () => {
  await topo?.destroy();
});

test.serial('each daemon runs in its host namespace; plain VM ports on two hosts reach each other through the uplinks and the underlay bridge', async (t) => {
  for (const h of [h1, h2]) {
    const netns = h.exec(['ip', 'netns', 'identify', String(h.pid)]).trim();
    t.is(netns, h.ns, `host ${h.index}'s daemon (pid ${h.pid}) runs in ${h.ns}`);
    const sw = h.json<{ config: { uplink: string; type: string } }>('switch', 'show', h.sw);
    t.is(sw.config.uplink, h.uplink);
  }
  const a = await h1.addVm({ name: 'a', ca: '10.99.0.1', mac: '02:99:00:00:00:01', vsid: 5000, noVsid: true });
  const b = await h2.addVm({ name: 'b', ca: '10.99.0.2', mac: '02:99:00:00:00:02', vsid: 5000, noVsid: true });
  const r = a.ping(b.ca, { count: 2 });
  t.true(r.ok, r.out);
  t.true(a.counter(a.dev, 'rx_packets') > 0);
});

test.serial('two kernel VXLAN VTEPs on the underlay reach each other (VNI 5001, dstport 4789); tshark decodes the VNI', async (t) => {
  const v1 = topo.addVtep(1, { vni: 5001, ca: '10.98.0.1', mac: '02:98:00:00:00:01', floodTo: ['192.0.2.102'] });
  const v2 = topo.addVtep(2, { vni: 5001, ca: '10.98.0.2', mac: '02:98:00:00:00:02', floodTo: ['192.0.2.101'] });
  t.is(v1.exec(['cat', '/sys/class/net/vx0/mtu']).trim(), '1450', 'the kernel device takes 50 bytes off the 1500 underlay');
  const cap = await topo.captureUnderlay('udp port 4789');
  const r = v1.ping(v2.opts.ca, { count: 2 });
  await cap.stop();
  t.true(r.ok, r.out);
  const vnis = new Set(cap.fields('vxlan', ['vxlan.vni']).map(([v]) => v));
  t.deepEqual([...vnis], ['5001']);
});

test.serial('crafted NVGRE and VXLAN frames decode in tshark as the fixture means them', async (t) => {
  const x: UnderlayNode = topo.addAttacker();
  const outer = { srcMac: x.mac, dstMac: '02:00:00:00:00:99', srcIp: x.ip, dstIp: h1.pa };
  const inner = innerFrame('eth(src=02:aa:00:00:00:01,dst=02:bb:00:00:00:02),ipv4(src=10.1.0.11,dst=10.1.0.12),icmp(type=8,id=7,seq=1)');
  const cap = await topo.captureUnderlay(`host ${h1.pa}`);
  x.sendFrames(x.dev, [nvgreFrame(outer, 6000, inner, { flowId: 0x2a }), vxlanFrame(outer, 7000, inner)]);
  await cap.stop();
  const gre = cap.fields('gre', ['gre.key', 'gre.proto', 'ip.src', 'icmp.type']);
  t.deepEqual(gre, [['0x0017702a', '0x6558', '192.0.2.66,10.1.0.11', '8']]);
  const vx = cap.fields('vxlan', ['vxlan.vni', 'vxlan.flags', 'icmp.type']);
  t.deepEqual(vx, [['7000', '0x0800', '8']]);
});
