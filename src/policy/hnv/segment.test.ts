/**
 * Software GSO segmentation with the frame layout a vnet-header port delivers (virtio-net header
 * with gso_type/gso_size/hdr_len, NEEDS_CSUM at the TCP/UDP checksum, whose field holds the
 * pseudo-header sum of the whole super-frame): each segment is checked field by field, then its
 * checksum is completed as the kernel would and verified from scratch, and by tshark.
 */
import test from 'ava';
import { FramePool } from '../../core/frame-pool.js';
import { completeChecksum, inetChecksum, ipFrame, pseudo, slotWithVnet, tsharkFields, vnetOf, type IpFrameSpec } from '../../test-support/hnv-frames.js';
import { chainLength, isGso, SEGMENT_NO_SLOTS, SEGMENT_UNSUPPORTED, segmentGso } from './segment.js';

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/** a GSO super-frame as the kernel hands it over: checksum field = folded pseudo-header sum */
function gsoSlot(pool: FramePool, spec: IpFrameSpec, gsoType: number, mss: number): { id: number; frame: Uint8Array; l4: number; hdrLen: number } {
  const frame = ipFrame(spec);
  const l3 = spec.vlan !== undefined ? 18 : 14;
  const l4 = l3 + (spec.v6 ? 40 : 20);
  const tcp = (spec.proto ?? 6) === 6;
  const hdrLen = l4 + (tcp ? 32 : 8);
  const off = tcp ? 16 : 6;
  const p = 0xffff & ~inetChecksum(frame, 0, 0, pseudo(frame, l3, frame.length - l4));
  frame[l4 + off] = p >> 8; frame[l4 + off + 1] = p & 0xff;
  const id = slotWithVnet(pool, frame, { flags: 1, gsoType, hdrLen, gsoSize: mss, csumStart: l4, csumOffset: off });
  return { id, frame, l4, hdrLen };
}

function chain(pool: FramePool, id: number): number[] {
  const out = [id];
  for (let s = pool.next[id]; s >= 0; s = pool.next[s]) out.push(s);
  return out;
}

test('TCPv4 GSO 10000 bytes, MSS 1448: 7 chained segments with IP length/id/checksum, sequence, flags, vnet NEEDS_CSUM; checksums complete and verify', (t) => {
  const pool = new FramePool(16, 70000);
  const { id, frame, hdrLen } = gsoSlot(pool, { payload: 10000, flags: 0x80 | 0x10 | 0x08 | 0x01, seq: 0xfffff000 }, 1, 1448);
  t.true(isGso(pool, id));
  const free = pool.freeTop;
  t.is(segmentGso(pool, id, 1514, 0), 7);
  t.true(pool.chained);
  const ids = chain(pool, id);
  t.is(ids.length, 7);
  t.is(chainLength(pool, id), 7);
  t.is(pool.freeTop, free - 6);
  const payload: number[] = [];
  const completed: Uint8Array[] = [];
  ids.forEach((s, k) => {
    const f = pool.toBytes(s);
    const p = k < 6 ? 1448 : 10000 - 6 * 1448;
    t.is(f.length, hdrLen + p);
    t.is(u16(f, 16), 20 + 32 + p, `segment ${k}: IP total length`);
    t.is(u16(f, 18), 0x1234 + k, 'IP id + k');
    t.is(inetChecksum(f, 14, 20, 0), 0, 'IP header checksum');
    t.is(u32(f, 38), (0xfffff000 + k * 1448) >>> 0, 'sequence (wraps)');
    t.is(f[47], k === 0 ? 0x90 : k === 6 ? 0x19 : 0x10, 'CWR first only, FIN/PSH last only');
    t.deepEqual([...f.subarray(0, 14)], [...frame.subarray(0, 14)]);
    t.deepEqual(vnetOf(pool, s), { flags: 1, gsoType: 0, hdrLen, gsoSize: 0, csumStart: 34, csumOffset: 16 });
    t.is(u16(f, 34 + 16), 0xffff & ~inetChecksum(f, 0, 0, pseudo(f, 14, f.length - 34)), 'field = pseudo-header sum of this segment');
    completeChecksum(f, 34, 16);
    t.is(inetChecksum(f, 34, f.length - 34, pseudo(f, 14, f.length - 34)), 0, 'completed TCP checksum verifies');
    completed.push(f);
    payload.push(...f.subarray(hdrLen));
  });
  t.deepEqual(payload, [...frame.subarray(hdrLen)]);
  const rows = tsharkFields(completed, ['tcp.checksum.status', 'ip.checksum.status', 'tcp.len', 'tcp.seq_raw'], ['-o', 'tcp.analyze_sequence_numbers:FALSE']);
  t.deepEqual(rows.map((r) => r[0]), Array(7).fill('1'), 'tshark: TCP checksums good');
  t.deepEqual(rows.map((r) => r[1]), Array(7).fill('1'));
  t.deepEqual(rows.map((r) => Number(r[3])), ids.map((_, k) => (0xfffff000 + k * 1448) >>> 0));
});

test('TCPv6 GSO cut to a smaller maxFrame than MSS (tagged frame): payload length, segments fit', (t) => {
  const pool = new FramePool(32, 70000);
  const { id, frame, hdrLen } = gsoSlot(pool, { payload: 5000, v6: true, vlan: 5 }, 4, 1440);
  const n = segmentGso(pool, id, 1000, 0);
  const per = 1000 - hdrLen;
  t.is(n, Math.ceil(5000 / per));
  const payload: number[] = [];
  for (const s of chain(pool, id)) {
    const f = pool.toBytes(s);
    t.true(f.length <= 1000);
    t.is(u16(f, 18 + 4), f.length - 18 - 40, 'IPv6 payload length');
    t.like(vnetOf(pool, s), { flags: 1, gsoType: 0, csumStart: 58, csumOffset: 16 });
    completeChecksum(f, 58, 16);
    t.is(inetChecksum(f, 58, f.length - 58, pseudo(f, 18, f.length - 58)), 0);
    t.is(pool.vlan[s], pool.vlan[id]);
    payload.push(...f.subarray(hdrLen));
  }
  t.deepEqual(payload, [...frame.subarray(hdrLen)]);
});

test('UDP GSO (USO, gso_type 5) over IPv4: each segment its own datagram with its length and checksum', (t) => {
  const pool = new FramePool(16, 70000);
  const { id, hdrLen } = gsoSlot(pool, { payload: 4000, proto: 17 }, 5, 1200);
  t.is(segmentGso(pool, id, 1514, 0), 4);
  const completed: Uint8Array[] = [];
  chain(pool, id).forEach((s, k) => {
    const f = pool.toBytes(s);
    const p = k < 3 ? 1200 : 400;
    t.is(f.length, hdrLen + p);
    t.is(u16(f, 34 + 4), 8 + p, 'UDP length');
    t.like(vnetOf(pool, s), { flags: 1, gsoType: 0, csumStart: 34, csumOffset: 6 });
    completeChecksum(f, 34, 6);
    completed.push(f);
  });
  const rows = tsharkFields(completed, ['udp.checksum.status', 'udp.length']);
  t.deepEqual(rows.map((r) => r[0]), ['1', '1', '1', '1']);
});

test('a GSO frame that fits one segment loses only its GSO fields; UFO and odd layouts are refused unchanged', (t) => {
  const pool = new FramePool(8, 70000);
  const { id } = gsoSlot(pool, { payload: 1000 }, 1, 1448);
  t.is(segmentGso(pool, id, 1514, 0), 1);
  t.false(pool.chained);
  t.is(pool.next[id], -1);
  t.like(vnetOf(pool, id), { flags: 1, gsoType: 0, gsoSize: 0 });
  const ufo = gsoSlot(pool, { payload: 3000, proto: 17 }, 3, 1400);
  const before = pool.toBytes(ufo.id);
  t.is(segmentGso(pool, ufo.id, 1514, 0), SEGMENT_UNSUPPORTED);
  t.deepEqual(pool.toBytes(ufo.id), before);
  t.is(vnetOf(pool, ufo.id).gsoType, 3);
  const mismatch = gsoSlot(pool, { payload: 3000, proto: 17 }, 1, 1400);
  t.is(segmentGso(pool, mismatch.id, 1514, 0), SEGMENT_UNSUPPORTED, 'TCPv4 GSO type on a UDP packet');
});

test('segmentation respects the reserve and changes nothing when slots are short', (t) => {
  const pool = new FramePool(8, 70000);
  const { id } = gsoSlot(pool, { payload: 8000 }, 1, 1448); // 6 segments: 5 new slots, 7 free
  const before = pool.toBytes(id);
  t.is(segmentGso(pool, id, 1514, 3), SEGMENT_NO_SLOTS);
  t.is(pool.freeTop, 7);
  t.deepEqual(pool.toBytes(id), before);
  t.is(vnetOf(pool, id).gsoType, 1);
  t.is(segmentGso(pool, id, 1514, 2), 6);
  t.is(pool.freeTop, 2);
  pool.releaseChain(id);
  t.is(pool.inUse, 0, 'releaseChain returns the head and every segment');
  t.true(pool.next.every((n) => n === -1));
});
