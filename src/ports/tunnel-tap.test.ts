/**
 * The tunnel TAP on real devices: a VXLAN GSO frame built as HNV builds it (fitGsoToTunnel, then
 * encapsulate with an outer template) is sent by an AF_PACKET port with the tunnel TAP attached and read
 * on the veth's other end by another AF_PACKET port:
 *   - with the veth's tunnel segmentation on, it arrives whole (one frame, TCP GSO header, csum_start in
 *     the inner frame: what the receiving switch decapsulates), counted in portStats().tunnelGso;
 *   - with it off (a NIC without tunnel TSO), the kernel segments it: every segment fits the underlay
 *     MTU, has its own outer IPv4 length/checksum, UDP length and VNI, the inner TCP sequence numbers
 *     follow each other, and once the partial checksums are completed (as the receiver's kernel would)
 *     tshark finds every checksum good and the payload is the original byte for byte;
 *   - a GSO frame that is not VXLAN (plain TCP) still takes the packet socket.
 * Devices are named xt<tag><pid> and removed in every outcome.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { FramePool } from '../core/frame-pool.js';
import { cleanPrefix, testPrefix } from '../lab/netlab.js';
import { buildOuterTemplate, encapsulate, innerFlowHash, overlayMtu } from '../policy/hnv/encap.js';
import { fitGsoToTunnel } from '../policy/hnv/segment.js';
import { completeChecksum, inetChecksum, ipFrame, pseudo, slotWithVnet, tsharkFields, vnetOf } from '../test-support/hnv-frames.js';
import { AfPacketPort } from './afpacket.js';
import { native } from './native/index.js';
import { TunnelTap } from './tunnel-tap.js';

const P = testPrefix('tt');
const run = (...args: string[]): string => execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

cleanPrefix(P);

const SEND = `${P}s`;
const RECV = `${P}r`;
const VSID = 5001;
const PAYLOAD = 20000;
const SEQ = 0x10000000;

function setUp(t: ExecutionContext): { tap: TunnelTap | null; tx: AfPacketPort; rx: AfPacketPort; logs: string[] } {
  t.teardown(() => { try { run('ip', 'link', 'del', SEND); } catch { /* gone */ } });
  run('ip', 'link', 'add', SEND, 'type', 'veth', 'peer', 'name', RECV);
  for (const d of [SEND, RECV]) {
    run('sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
    run('ip', 'link', 'set', d, 'up');
  }
  const logs: string[] = [];
  const tap = TunnelTap.open(SEND, (m) => logs.push(m));
  t.teardown(() => tap?.close());
  const tx = new AfPacketPort(SEND, { rx: false });
  t.teardown(() => tx.close());
  const rx = new AfPacketPort(RECV, { rx: true, ringFrames: 64 });
  t.teardown(() => rx.close());
  return { tap, tx, rx, logs };
}

/** a 20000-byte TCP GSO frame (mss 1448) as a VM hands it over, encapsulated in VXLAN as HNV does */
function vxlanGsoFrame(pool: FramePool): { id: number; inner: Uint8Array } {
  const inner = ipFrame({ payload: PAYLOAD, seq: SEQ, srcIp: [10, 1, 0, 11], dstIp: [10, 1, 0, 12] });
  const p = 0xffff & ~inetChecksum(inner, 0, 0, pseudo(inner, 14, inner.length - 34));
  const withPseudo = inner.slice();
  withPseudo[34 + 16] = p >> 8; withPseudo[34 + 17] = p & 0xff;
  const id = slotWithVnet(pool, withPseudo, { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  return { id, inner };
}

function encap(pool: FramePool, id: number, mtu: number): void {
  if (!fitGsoToTunnel(pool, id, mtu + 14)) throw new Error('layout refused');
  const tpl = buildOuterTemplate({ encap: 'vxlan', srcMac: '02:00:00:00:01:01', dstMac: '02:00:00:00:01:02', srcIp: '192.0.2.1', dstIp: '192.0.2.2' });
  if (!encapsulate(pool, id, tpl, VSID, innerFlowHash(pool, id))) throw new Error('no headroom');
}

/** receive until `want` UDP/4789 frames arrived or 2 s passed */
function receive(rx: AfPacketPort, pool: FramePool, want: number): { frame: Uint8Array; vnet: ReturnType<typeof vnetOf> }[] {
  const got: { frame: Uint8Array; vnet: ReturnType<typeof vnetOf> }[] = [];
  const out = new Uint32Array(64);
  const end = Date.now() + 2000;
  while (got.length < want && Date.now() < end) {
    native.pollIn(new Int32Array([rx.fd]), 1, 20);
    const n = rx.recv(pool, out, out.length);
    for (let i = 0; i < n; i++) {
      const f = pool.bytes.slice(pool.dataOffset(out[i]), pool.dataOffset(out[i]) + pool.len[out[i]]);
      if (f.length > 42 && u16(f, 12) === 0x0800 && f[23] === 17 && u16(f, 36) === 4789) got.push({ frame: f, vnet: vnetOf(pool, out[i]) });
      pool.release(out[i]);
    }
  }
  return got;
}

test.serial('a VXLAN GSO frame leaves whole through the tunnel TAP; the kernel segments it correctly where the netdev cannot', (t) => {
  const { tap, tx, rx, logs } = setUp(t);
  if (tap === null) {
    // a kernel before 6.17: the port refuses the TAP and says why; HNV segments in software (segment.test.ts)
    t.regex(logs.join('\n'), /no UDP-tunnel GSO|segmented in software/);
    return;
  }
  t.true(tx.attachTunnelTx(tap.name), 'the port takes a queue of the tunnel TAP');
  const pool = new FramePool(64);
  const rxPool = new FramePool(256);
  const mtu = overlayMtu('vxlan', 1500);

  // 1. whole: one frame on the wire of the veth, as the receiving switch reads it
  const a = vxlanGsoFrame(pool);
  encap(pool, a.id, mtu);
  const sentLen = pool.len[a.id];
  t.is(tx.send(pool, new Uint32Array([a.id]), 1), 1);
  t.is(tx.stats().tunnelGso, 1, 'counted as sent through the tunnel TAP');
  const whole = receive(rx, rxPool, 1);
  t.is(whole.length, 1);
  t.is(whole[0].frame.length, sentLen, 'one frame, not segmented');
  t.is(whole[0].vnet.gsoType, 1, 'read as TCPv4 GSO');
  t.is(whole[0].vnet.csumStart, 50 + 34, 'csum_start at the inner TCP header');
  t.is(whole[0].vnet.gsoSize, mtu - 20 - 32, 'gso_size lowered to the overlay MTU by fitGsoToTunnel');

  // 2. segmented by the kernel on a netdev without tunnel TSO
  run('ethtool', '-K', SEND, 'tx-udp_tnl-segmentation', 'off', 'tx-udp_tnl-csum-segmentation', 'off');
  const b = vxlanGsoFrame(pool);
  encap(pool, b.id, mtu);
  t.is(tx.send(pool, new Uint32Array([b.id]), 1), 1);
  const mss = mtu - 20 - 32;
  const n = Math.ceil(PAYLOAD / mss);
  const segs = receive(rx, rxPool, n);
  t.is(segs.length, n, `${n} segments of ${mss} bytes`);
  const payload: number[] = [];
  const ids = new Set<number>();
  for (const [k, s] of segs.entries()) {
    const f = s.frame;
    t.true(f.length <= 1514, `segment ${k}: ${f.length} bytes fit the 1500 underlay`);
    t.is(u16(f, 16), f.length - 14, 'outer IPv4 length');
    t.is(u16(f, 38), f.length - 34, 'outer UDP length');
    t.is((f[46] << 16) | (f[47] << 8) | f[48], VSID, 'VNI');
    t.is(u16(f, 50 + 16), f.length - 50 - 14, 'inner IPv4 length');
    t.is(u32(f, 50 + 38), (SEQ + k * mss) >>> 0, 'inner TCP sequence');
    ids.add(u16(f, 18));
    if (s.vnet.flags & 1) completeChecksum(f, s.vnet.csumStart, s.vnet.csumOffset);
    payload.push(...f.subarray(50 + 66));
  }
  t.is(ids.size, n, 'each segment has its own outer IP id');
  t.deepEqual(Uint8Array.from(payload), a.inner.subarray(66), 'the payload byte for byte');
  const checks = tsharkFields(segs.map((s) => s.frame), ['vxlan.vni', 'ip.checksum.status', 'tcp.checksum.status']);
  for (const [vni, ...status] of checks) {
    t.is(vni, String(VSID));
    // tshark checks the outer and the inner IPv4 header and the TCP checksum: 1 = good
    t.true(status.join(',').split(',').every((x) => x === '1'), `checksums good: ${status.join(' ')}`);
  }

  // 3. a plain TCP GSO frame (no tunnel) takes the packet socket
  const plain = vxlanGsoFrame(pool);
  t.is(tx.send(pool, new Uint32Array([plain.id]), 1), 1);
  t.is(tx.stats().tunnelGso, 2, 'only the two VXLAN frames went through the tunnel TAP');
});
