/**
 * The provider neighbour table: configuration by slots (resolved MACs of next hops that stay are
 * kept), learning by IP, lookup, the request schedule (retry 1 s, refresh 60 s, stale 300 s), one
 * claim per interval, no torn MAC while another thread (a real worker) keeps writing, and the ARP
 * frames (request built, request turned into the reply in place, parser; tshark reads them).
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { FramePool } from '../../core/frame-pool.js';
import { mac } from '../../test-support/frames.js';
import { tsharkFields, vnetOf } from '../../test-support/hnv-frames.js';
import { createPolicyShared } from '../shared.js';
import { ArpInfo, arpReplyInPlace, buildArpRequest, NeighborTable, NEIGHBOR_SLOTS, parseArp } from './neighbors.js';

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const GW = ip(192, 168, 10, 1);
const PEER = ip(192, 168, 10, 7);
const M1 = Uint8Array.from(mac('02:11:11:11:11:11'));
const M2 = Uint8Array.from(mac('02:22:22:22:22:22'));

test('setSlots, learn, lookup; a next hop that stays keeps its MAC when the slots are renumbered', (t) => {
  const nt = new NeighborTable(createPolicyShared().neighbors);
  nt.setSlots([GW, PEER]);
  t.is(nt.count, 2);
  t.is(nt.slotOf(PEER), 1);
  const out = new Uint8Array(8);
  t.false(nt.lookup(0, 100, out), 'unresolved');
  t.is(nt.learn(GW, M1, 100), 1);
  t.is(nt.learn(ip(10, 9, 9, 9), M2, 100), 0, 'not a next hop');
  t.is(nt.learn(PEER, Uint8Array.from(mac('01:00:5e:00:00:01')), 100), 0, 'group MAC refused');
  t.true(nt.lookup(0, 101, out, 2));
  t.deepEqual([...out.subarray(2)], [...M1]);
  nt.setSlots([PEER, ip(10, 0, 0, 1), GW]);
  t.is(nt.slotOf(GW), 2);
  t.true(nt.lookup(2, 102, out));
  t.deepEqual([...out.subarray(0, 6)], [...M1]);
  t.false(nt.lookup(0, 102, out));
  nt.setSlots([GW]);
  t.is(nt.count, 1);
  t.true(nt.lookup(0, 103, out));
  t.throws(() => nt.setSlots(new Array<number>(NEIGHBOR_SLOTS + 1).fill(1)), { message: /at most 1024, got 1025/ });
});

test('request schedule: unresolved asked once a second (one claim across callers), refresh after 60 s, stale after 300 s', (t) => {
  const buf = createPolicyShared().neighbors;
  const a = new NeighborTable(buf);
  const b = new NeighborTable(buf); // another worker's view of the same memory
  a.setSlots([GW]);
  t.true(a.needsRequest(0, 1000));
  t.false(b.needsRequest(0, 1000.5), 'claimed by the first caller');
  t.true(b.needsRequest(0, 1001));
  b.learn(GW, M2, 1001.2);
  t.false(a.needsRequest(0, 1030));
  t.true(a.needsRequest(0, 1061.2), 'refresh after 60 s');
  t.false(a.needsRequest(0, 1061.5));
  const out = new Uint8Array(6);
  t.true(a.lookup(0, 1300, out), 'still used while refreshing');
  t.false(a.lookup(0, 1302, out), 'stale 300 s after the last reply');
  t.true(a.needsRequest(0, 1302));
  t.false(a.needsRequest(5, 1302), 'unconfigured slot');
});

test('readers on another thread never see a torn MAC while a worker keeps learning', async (t) => {
  const buf = createPolicyShared().neighbors;
  const nt = new NeighborTable(buf);
  nt.setSlots([GW]);
  nt.learn(GW, Uint8Array.of(2, 2, 2, 2, 2, 2), 1);
  const url = new URL('./neighbors.js', import.meta.url).href;
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.url).then(({ NeighborTable }) => {
      const nt = new NeighborTable(workerData.buf);
      const m = new Uint8Array(6);
      const stop = new Int32Array(workerData.stop);
      let n = 0;
      while (Atomics.load(stop, 0) === 0) { const v = 2 + (n++ % 200); m.fill(v); m[0] = v & 0xfe; nt.learn(${GW}, m, 1); }
      parentPort.postMessage(n);
    });`;
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(code, { eval: true, workerData: { url, buf, stop } });
  const done = new Promise<number>((resolve) => w.once('message', resolve));
  const out = new Uint8Array(6);
  let torn = 0;
  const distinct = new Set<number>();
  const until = Date.now() + 300;
  let reads = 0;
  while (Date.now() < until || distinct.size < 3) {
    nt.lookup(0, 1, out);
    reads++;
    if (out[1] !== out[2] || out[1] !== out[3] || out[1] !== out[4] || out[1] !== out[5] || (out[1] & 0xfe) !== out[0]) torn++;
    distinct.add(out[1]);
    if (reads > 50_000_000) break;
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const writes = await done;
  await w.terminate();
  t.log(`${reads} reads, ${writes} writes, ${distinct.size} distinct MACs seen`);
  t.true(distinct.size >= 3, 'the reader saw the writer\'s updates');
  t.is(torn, 0);
});

test('ARP: request built (broadcast, tagged, padded), parsed, answered in place; tshark agrees', (t) => {
  const pool = new FramePool(4, 2048);
  const myMac = Uint8Array.from(mac('02:aa:00:00:00:01'));
  const req = buildArpRequest(pool, myMac, ip(192, 168, 10, 2), GW, 0);
  const tagged = buildArpRequest(pool, myMac, ip(192, 168, 10, 2), GW, 100);
  t.is(pool.len[req], 60);
  t.is(pool.len[tagged], 64);
  const info = new ArpInfo();
  t.true(parseArp(pool, tagged, info));
  t.like(info, { op: 1, senderIp: ip(192, 168, 10, 2), targetIp: GW, vlanId: 100 });
  t.deepEqual([...info.senderMac], [...myMac]);
  const reqBytes = pool.toBytes(req);
  // the gateway answers our request's twin: a request from the gateway for our PA becomes our reply
  const theirs = pool.fromBytes(reqBytes);
  const b = pool.bytes; const o = pool.dataOffset(theirs);
  b.set(M1, o + 6); b.set(M1, o + 22); // gateway MAC as Ethernet source and ARP sender
  b.set([192, 168, 10, 1], o + 28); b.set([192, 168, 10, 2], o + 38);
  b[theirs * pool.slotSize] = 1; // a vnet flag to be cleared
  t.true(arpReplyInPlace(pool, theirs, myMac));
  t.true(parseArp(pool, theirs, info));
  t.like(info, { op: 2, senderIp: ip(192, 168, 10, 2), targetIp: GW, vlanId: 0 });
  t.deepEqual([...info.senderMac], [...myMac]);
  t.deepEqual([...info.targetMac], [...M1]);
  t.is(vnetOf(pool, theirs).flags, 0);
  t.false(arpReplyInPlace(pool, theirs, myMac), 'a reply is not answered');
  const rows = tsharkFields([reqBytes, pool.toBytes(tagged), pool.toBytes(theirs)],
    ['eth.dst', 'arp.opcode', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4', 'arp.dst.hw_mac', 'vlan.id']);
  t.deepEqual(rows, [
    ['ff:ff:ff:ff:ff:ff', '1', '192.168.10.2', '192.168.10.1', '00:00:00:00:00:00', ''],
    ['ff:ff:ff:ff:ff:ff', '1', '192.168.10.2', '192.168.10.1', '00:00:00:00:00:00', '100'],
    ['02:11:11:11:11:11', '2', '192.168.10.2', '192.168.10.1', '02:11:11:11:11:11', ''],
  ]);
  const exhausted = new FramePool(1, 2048);
  exhausted.alloc();
  t.is(buildArpRequest(exhausted, myMac, 1, 2, 0), -1);
});
