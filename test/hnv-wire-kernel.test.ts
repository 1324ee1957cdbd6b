/**
 * HNV wire formats against the Linux kernel's own VXLAN (this kernel has no gretap, so NVGRE is
 * checked by tshark in src/policy/hnv/encap.test.ts only). A namespace holds a kernel vxlan device
 * (VNI 5001, remote = our PA) over a veth whose other end this test opens as the switch's uplink
 * would (AF_PACKET with the virtio-net header, the real native edge):
 *   - the kernel's VXLAN frames parse as `ok` with parseTunnel (VNI, outer source) and strip to the
 *     inner frame the namespace sent (an ICMP echo request);
 *   - a frame we encapsulate (an inner echo request to the vxlan device's address) is accepted by the
 *     kernel, which answers: the answer comes back VXLAN-encapsulated, parses, and is the echo reply.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { FramePool } from '../src/core/frame-pool.js';
import { NetLab, testPrefix, type Host } from '../src/lab/netlab.js';
import { TunnelInfo, TunnelParse, parseTunnel, stripOuter } from '../src/policy/hnv/decap.js';
import { buildOuterTemplate, encapsulate } from '../src/policy/hnv/encap.js';
import { AfPacketPort } from '../src/ports/afpacket.js';
import { mac } from '../src/test-support/frames.js';
import { inetChecksum } from '../src/test-support/hnv-frames.js';

const P = testPrefix('hw');
const OUR_PA = '10.77.0.1';
const OUR_PA_U32 = 0x0a4d0001;
const VNI = 5001;
const VX_MAC = '02:00:00:00:77:02';
const CA_MAC = '02:00:00:00:77:01';
let lab: NetLab;
let host: Host;
let uplink: AfPacketPort;
const pool = new FramePool(512, 70000);
const ids = new Uint32Array(256);

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.before(() => {
  lab = new NetLab(P);
  host = lab.addHost(0);
  const uplinkMac = readFileSync(`/sys/class/net/${host.peer}/address`, 'utf8').trim();
  lab.exec(host, ['ip', 'neigh', 'add', OUR_PA, 'lladdr', uplinkMac, 'dev', host.dev, 'nud', 'permanent']);
  lab.exec(host, ['ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', String(VNI), 'local', host.ip, 'remote', OUR_PA, 'dstport', '4789', 'dev', host.dev]);
  lab.exec(host, ['ip', 'link', 'set', 'vx0', 'address', VX_MAC]);
  lab.exec(host, ['ip', 'addr', 'add', '192.168.77.2/24', 'dev', 'vx0']);
  lab.exec(host, ['ip', 'link', 'set', 'vx0', 'up']);
  lab.exec(host, ['ip', 'neigh', 'add', '192.168.77.1', 'lladdr', CA_MAC, 'dev', 'vx0', 'nud', 'permanent']);
  uplink = new AfPacketPort(host.peer, { rx: true });
});

test.after.always(() => {
  uplink?.close();
  lab?.destroy();
});

/** receive on the uplink until a VXLAN frame to our PA whose inner frame passes `want`; the inner bytes */
async function receiveTunnel(want: (inner: Uint8Array) => boolean, info: TunnelInfo): Promise<Uint8Array | null> {
  const pas = Uint32Array.of(OUR_PA_U32);
  for (let round = 0; round < 100; round++) {
    const n = uplink.recv(pool, ids, ids.length);
    let found: Uint8Array | null = null;
    for (let k = 0; k < n; k++) {
      const id = ids[k];
      if (found === null && parseTunnel(pool, id, pas, 1, info) === TunnelParse.ok) {
        stripOuter(pool, id, info.outerLen, info.innerLen);
        const inner = pool.toBytes(id);
        if (want(inner)) found = inner;
      }
      pool.release(id);
    }
    if (found !== null) return found;
    await settle(50);
  }
  return null;
}

const isIcmp = (f: Uint8Array, type: number): boolean => f[12] === 0x08 && f[13] === 0 && f[23] === 1 && f[34] === type;

test.serial('the kernel\'s VXLAN frames parse: VNI, outer source, the inner echo request', async (t) => {
  lab.exec(host, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '192.168.77.1'], { allowFail: true });
  const info = new TunnelInfo();
  const inner = await receiveTunnel((f) => isIcmp(f, 8), info);
  t.not(inner, null, 'a VXLAN-encapsulated echo request reached the uplink');
  t.is(info.encap, 'vxlan');
  t.is(info.vsid, VNI);
  t.is(info.outerSrc, 0x0a4d000a);
  t.deepEqual([...inner!.subarray(0, 12)], [...mac(CA_MAC), ...mac(VX_MAC)]);
  t.deepEqual([...inner!.subarray(26, 34)], [192, 168, 77, 2, 192, 168, 77, 1]);
});

test.serial('the kernel accepts our VXLAN frame and answers through the tunnel', async (t) => {
  // inner: CA 192.168.77.1 (CA_MAC) → 192.168.77.2 (vx0), ICMP echo request id 0x4242
  const f = new Uint8Array(14 + 20 + 8 + 32);
  f.set(mac(VX_MAC), 0); f.set(mac(CA_MAC), 6); f[12] = 0x08;
  f[14] = 0x45; f[16] = 0; f[17] = 60; f[18] = 0x11; f[22] = 64; f[23] = 1;
  f.set([192, 168, 77, 1, 192, 168, 77, 2], 26);
  let c = inetChecksum(f, 14, 20, 0); f[24] = c >> 8; f[25] = c & 0xff;
  f[34] = 8; f[38] = 0x42; f[39] = 0x42; f[41] = 1;
  for (let k = 0; k < 32; k++) f[42 + k] = k;
  c = inetChecksum(f, 34, 40, 0); f[36] = c >> 8; f[37] = c & 0xff;
  const rx0 = Number(lab.exec(host, ['cat', '/sys/class/net/vx0/statistics/rx_packets']).trim());
  const uplinkMac = readFileSync(`/sys/class/net/${host.peer}/address`, 'utf8').trim();
  const tpl = buildOuterTemplate({ encap: 'vxlan', srcMac: uplinkMac, dstMac: host.mac, srcIp: OUR_PA, dstIp: host.ip });
  const id = pool.fromBytes(f);
  t.true(encapsulate(pool, id, tpl, VNI, 0x1234));
  ids[0] = id;
  t.is(uplink.send(pool, ids, 1), 1);
  pool.release(id);
  const info = new TunnelInfo();
  const reply = await receiveTunnel((g) => isIcmp(g, 0) && g[38] === 0x42 && g[39] === 0x42, info);
  t.not(reply, null, 'the echo reply came back through the tunnel');
  t.is(info.vsid, VNI);
  t.deepEqual([...reply!.subarray(0, 12)], [...mac(CA_MAC), ...mac(VX_MAC)]);
  t.deepEqual([...reply!.subarray(42)], [...f.subarray(42)], 'the echo payload');
  const rx1 = Number(lab.exec(host, ['cat', '/sys/class/net/vx0/statistics/rx_packets']).trim());
  t.true(rx1 > rx0, 'vx0 counted our frame');
});
