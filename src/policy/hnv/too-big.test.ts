/**
 * Path-MTU answers built in place: ICMPv4 type 3 code 4 with the next-hop MTU and ICMPv6 type 2,
 * addressed back to the sender from the given router address, quoting what RFC 1812 / RFC 4443
 * allow; checked field by field and by tshark (checksums validated).
 */
import test from 'ava';
import { FramePool } from '../../core/frame-pool.js';
import { mac } from '../../test-support/frames.js';
import { inetChecksum, ipFrame, slotWithVnet, tsharkFields, vnetOf } from '../../test-support/hnv-frames.js';
import { toPacketTooBig } from './too-big.js';

const ROUTER_MAC = Uint8Array.from(mac('02:00:5e:00:01:01'));
const V4 = Uint8Array.of(10, 0, 0, 254);
const V6 = Uint8Array.of(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe);
const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];

test('IPv4 DF packet → ICMP fragmentation needed (3/4, MTU), back to the sender, quoting 548 bytes of a big packet', (t) => {
  const pool = new FramePool(2, 4096);
  const orig = ipFrame({ payload: 1400, src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b' });
  const id = slotWithVnet(pool, orig, { flags: 1, csumStart: 34, csumOffset: 16 });
  t.true(toPacketTooBig(pool, id, 1458, ROUTER_MAC, V4));
  const f = pool.toBytes(id);
  t.deepEqual([...f.subarray(0, 12)], [...orig.subarray(6, 12), ...ROUTER_MAC]);
  t.is(u16(f, 12), 0x0800);
  t.is(f.length, 14 + 576, 'RFC 1812: at most 576 bytes of IP');
  t.is(u16(f, 16), 576);
  t.is(f[23], 1);
  t.deepEqual([...f.subarray(26, 34)], [10, 0, 0, 254, 10, 0, 0, 1]);
  t.is(inetChecksum(f, 14, 20, 0), 0);
  t.deepEqual([f[34], f[35], u16(f, 40)], [3, 4, 1458]);
  t.is(inetChecksum(f, 34, f.length - 34, 0), 0, 'ICMP checksum');
  t.deepEqual([...f.subarray(42)], [...orig.subarray(14, 14 + 548)], 'the original IP packet quoted');
  t.deepEqual(vnetOf(pool, id), { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
  const [row] = tsharkFields([f], ['icmp.type', 'icmp.code', 'icmp.mtu', 'icmp.checksum.status', 'ip.dst', 'ip.checksum.status']);
  t.deepEqual(row.slice(0, 4), ['3', '4', '1458', '1']);
  t.is(row[4].split(',')[0], '10.0.0.1');
});

test('IPv6 packet → ICMPv6 packet too big (type 2, MTU), at most 1280 bytes, tagged frames keep their tag', (t) => {
  const pool = new FramePool(2, 4096);
  const orig = ipFrame({ payload: 1500, v6: true, vlan: 33 });
  const id = pool.fromBytes(orig);
  t.true(toPacketTooBig(pool, id, 1450, ROUTER_MAC, V6));
  const f = pool.toBytes(id);
  t.deepEqual([...f.subarray(12, 16)], [0x81, 0, 0, 33]);
  t.is(f.length, 18 + 1280);
  t.is(u16(f, 18 + 4), 1280 - 40);
  t.deepEqual([...f.subarray(18 + 8, 18 + 24)], [...V6]);
  t.deepEqual([...f.subarray(18 + 24, 18 + 40)], [...orig.subarray(18 + 8, 18 + 24)], 'destination = the original source');
  t.deepEqual([...f.subarray(18 + 48)], [...orig.subarray(18, 18 + 1232)]);
  const [row] = tsharkFields([f], ['icmpv6.type', 'icmpv6.mtu', 'icmpv6.checksum.status', 'vlan.id']);
  t.deepEqual(row, ['2', '1450', '1', '33']);
});

test('a small packet is quoted whole; ICMP errors, later fragments, multicast sources, ARP and wrong-size addresses are not answered', (t) => {
  const pool = new FramePool(8, 4096);
  const small = ipFrame({ payload: 30, proto: 17 });
  const id = pool.fromBytes(small);
  t.true(toPacketTooBig(pool, id, 1000, ROUTER_MAC, V4));
  t.is(pool.len[id], 14 + 28 + small.length - 14);
  const no = (f: Uint8Array, ip: Uint8Array = V4): void => {
    const k = pool.fromBytes(f);
    const before = pool.toBytes(k);
    t.false(toPacketTooBig(pool, k, 1000, ROUTER_MAC, ip));
    t.deepEqual(pool.toBytes(k), before);
    pool.release(k);
  };
  const icmpErr = ipFrame({ payload: 40, proto: 1 }); icmpErr[34] = 3;
  no(icmpErr);
  const frag = ipFrame({ payload: 40, proto: 17 }); frag[21] = 10;
  no(frag);
  no(ipFrame({ payload: 40, srcIp: [224, 0, 0, 5] }));
  no(ipFrame({ payload: 40 }), V6);
  no(ipFrame({ payload: 40, v6: true }), V4);
  const arp = new Uint8Array(60); arp[12] = 8; arp[13] = 6;
  no(arp);
});
