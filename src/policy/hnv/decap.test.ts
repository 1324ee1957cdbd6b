/**
 * HNV decapsulation: what parseTunnel accepts, refuses as a bad header and leaves alone (REFERENCE.md
 * rules 6 and 7: GRE reserved bits 6–12 ignored, K required, C/S refused; VXLAN I flag required,
 * other flags ignored), and stripOuter's in-place removal.
 */
import test from 'ava';
import { FramePool } from '../../core/frame-pool.js';
import { inetChecksum, ipFrame, slotWithVnet, vnetOf } from '../../test-support/hnv-frames.js';
import { TunnelInfo, TunnelParse, parseTunnel, stripOuter, type TunnelParseResult } from './decap.js';
import { buildOuterTemplate, encapsulate, type OuterHeaderSpec } from './encap.js';

const PA = 0xc0a80a02; // 192.168.10.2
const PAS = Uint32Array.of(0x0a000001, PA);
const NV: OuterHeaderSpec = { encap: 'nvgre', srcMac: '02:aa:00:00:00:01', dstMac: '02:bb:00:00:00:02', srcIp: '192.168.10.1', dstIp: '192.168.10.2' };
const VX: OuterHeaderSpec = { ...NV, encap: 'vxlan' };
const INNER = ipFrame({ payload: 80 });

/** an encapsulated frame, then `edit` on its bytes (IP checksum refreshed unless told not to) */
function tunnelFrame(spec: OuterHeaderSpec, edit: (f: Uint8Array) => void = () => {}, fixIpSum = true): Uint8Array {
  const pool = new FramePool(1, 4096);
  const id = pool.fromBytes(INNER);
  encapsulate(pool, id, buildOuterTemplate(spec), 6001, 0x9a);
  const f = pool.toBytes(id);
  edit(f);
  const ip = f[12] === 0x81 ? 18 : 14;
  if (fixIpSum) { f[ip + 10] = 0; f[ip + 11] = 0; const c = inetChecksum(f, ip, 20, 0); f[ip + 10] = c >> 8; f[ip + 11] = c & 0xff; }
  return f;
}

function parse(f: Uint8Array, info = new TunnelInfo(), pas = PAS): TunnelParseResult {
  const pool = new FramePool(1, 4096);
  return parseTunnel(pool, pool.fromBytes(f), pas, pas.length, info);
}

test('NVGRE to a local PA: VSID and FlowID from the key, outer addresses, 42 outer bytes', (t) => {
  const info = new TunnelInfo();
  t.is(parse(tunnelFrame(NV), info), TunnelParse.ok);
  t.like(info, { encap: 'nvgre', vsid: 6001, flowId: 0x9a, outerSrc: 0xc0a80a01, outerDst: PA, outerVlan: 0, outerLen: 42, innerLen: INNER.length });
});

test('VXLAN to a local PA (tagged outer): VNI, 54 outer bytes', (t) => {
  const info = new TunnelInfo();
  t.is(parse(tunnelFrame({ ...VX, vlanId: 30 }), info), TunnelParse.ok);
  t.like(info, { encap: 'vxlan', vsid: 6001, flowId: 0, outerVlan: 30, outerLen: 54, innerLen: INNER.length });
});

test('not HNV\'s: another destination, another UDP port, another IP protocol, IPv6, ARP', (t) => {
  t.is(parse(tunnelFrame(NV), new TunnelInfo(), Uint32Array.of(0x0a000001)), TunnelParse.notTunnel);
  t.is(parse(tunnelFrame(VX, (f) => { f[36] = 0; f[37] = 53; })), TunnelParse.notTunnel);
  t.is(parse(tunnelFrame(NV, (f) => { f[23] = 50; })), TunnelParse.notTunnel);
  t.is(parse(ipFrame({ payload: 80, v6: true })), TunnelParse.notTunnel);
  const arp = new Uint8Array(60); arp[12] = 0x08; arp[13] = 0x06;
  t.is(parse(arp), TunnelParse.notTunnel);
  t.is(parse(tunnelFrame(NV).subarray(0, 30)), TunnelParse.notTunnel, 'too short for IPv4');
});

test('GRE (rule 6): reserved bits 6–12 ignored; C, R, S, bits 4–5, version ≠ 0, K clear, protocol ≠ 0x6558 are bad headers', (t) => {
  t.is(parse(tunnelFrame(NV, (f) => { f[34] |= 0x03; f[35] |= 0xf8; })), TunnelParse.ok, 'bits 6–12 set');
  for (const [name, b0, b1] of [['C', 0x80, 0], ['R', 0x40, 0], ['S', 0x10, 0], ['bit 4', 0x08, 0], ['bit 5', 0x04, 0], ['version 1', 0, 0x01]] as const) {
    t.is(parse(tunnelFrame(NV, (f) => { f[34] |= b0; f[35] |= b1; })), TunnelParse.badHeader, name);
  }
  t.is(parse(tunnelFrame(NV, (f) => { f[34] &= ~0x20; })), TunnelParse.badHeader, 'no key');
  t.is(parse(tunnelFrame(NV, (f) => { f[36] = 0x08; f[37] = 0x00; })), TunnelParse.badHeader, 'IP in GRE');
});

test('VXLAN (rule 7): I flag required, the other flag bits and reserved bytes ignored', (t) => {
  t.is(parse(tunnelFrame(VX, (f) => { f[42] = 0xff; f[43] = 0xff; f[49] = 0xff; })), TunnelParse.ok);
  t.is(parse(tunnelFrame(VX, (f) => { f[42] = 0x00; })), TunnelParse.badHeader);
  t.is(parse(tunnelFrame(VX, (f) => { f[42] = 0xf7; })), TunnelParse.badHeader);
  t.is(parse(tunnelFrame(VX, (f) => { f[38] = 0; f[39] = 20; })), TunnelParse.badHeader, 'UDP length shorter than VXLAN + Ethernet');
});

test('outer IPv4 checks: fragments, bad header checksum, bad IHL, total length beyond the frame, inner Ethernet shorter than 14', (t) => {
  t.is(parse(tunnelFrame(NV, (f) => { f[20] |= 0x20; })), TunnelParse.badHeader, 'MF');
  t.is(parse(tunnelFrame(NV, (f) => { f[21] = 1; })), TunnelParse.badHeader, 'offset');
  t.is(parse(tunnelFrame(VX, (f) => { f[21] = 1; })), TunnelParse.notTunnel, 'a later UDP fragment cannot be told from other UDP');
  t.is(parse(tunnelFrame(NV, (f) => { f[24] ^= 0xff; }, false)), TunnelParse.badHeader, 'checksum');
  t.is(parse(tunnelFrame(NV, (f) => { f[14] = 0x44; })), TunnelParse.badHeader, 'IHL 4');
  t.is(parse(tunnelFrame(NV, (f) => { f[16] = 0xff; })), TunnelParse.badHeader, 'total length');
  const short = tunnelFrame(NV, (f) => { f[16] = 0; f[17] = 20 + 8 + 13; });
  t.is(parse(short), TunnelParse.badHeader, '13 bytes of inner frame');
});

test('Ethernet padding after the outer IP packet is not part of the inner frame', (t) => {
  const small = ipFrame({ payload: 0, proto: 17 }).subarray(0, 14 + 20); // a bare IPv4 header inner
  const pool = new FramePool(1, 4096);
  const id = pool.fromBytes(small);
  encapsulate(pool, id, buildOuterTemplate(NV), 6001, 0);
  const padded = new Uint8Array(pool.len[id] + 10);
  padded.set(pool.toBytes(id));
  const info = new TunnelInfo();
  t.is(parse(padded, info), TunnelParse.ok);
  t.is(info.innerLen, small.length);
});

test('stripOuter: start and length move, vnet offsets move back; a csum_start inside the outer headers drops NEEDS_CSUM', (t) => {
  const pool = new FramePool(2, 4096);
  const f = tunnelFrame(VX);
  const id = slotWithVnet(pool, f, { flags: 1, csumStart: 50 + 34, csumOffset: 16, hdrLen: 50 + 66 });
  const start = pool.start[id];
  stripOuter(pool, id, 50);
  t.is(pool.start[id], start + 50);
  t.deepEqual([...pool.toBytes(id)], [...INNER]);
  t.like(vnetOf(pool, id), { flags: 1, csumStart: 34, hdrLen: 66 });
  const id2 = slotWithVnet(pool, f, { flags: 1, csumStart: 34, csumOffset: 6 });
  stripOuter(pool, id2, 50);
  t.is(vnetOf(pool, id2).flags, 0);
});
