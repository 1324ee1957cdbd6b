/**
 * Tests of the native edge against real devices (run as root):
 *   npx tsc -p . && npx ava dist/src/ports/native/native.test.js
 *
 * Every device and namespace is named `xtn<pid><suffix>` (≤ 15 chars) and removed in every outcome.
 * At start, leftovers of earlier runs (`xtn<pid>…` whose pid is no longer alive) are removed; nothing
 * else is touched.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { native, VNET_HDR_LEN } from './index.js';
import type { NativeError } from './index.js';
import { namespacePair, netns, removeStale, run, tcpThroughPump, tryRun, veth } from '../../test-support/native-lab.js';

const P = `xtn${process.pid}`;
const ETH_TEST = 0x88b5; // IEEE local experimental ethertype: our test frames

removeStale('xtn', process.pid, (name) => { native.tapDestroy(name); });

/** a frame pool as the TS side owns it */
class Pool {
  readonly bytes: Uint8Array;
  readonly start: Uint32Array;
  readonly len: Uint32Array;
  readonly free: Uint32Array;
  freeTop: number;
  constructor(readonly slots: number, readonly slotSize: number, readonly headroom = 128) {
    this.bytes = new Uint8Array(new SharedArrayBuffer(slots * slotSize));
    this.start = new Uint32Array(new SharedArrayBuffer(slots * 4));
    this.len = new Uint32Array(new SharedArrayBuffer(slots * 4));
    this.free = new Uint32Array(slots);
    for (let i = 0; i < slots; i++) this.free[i] = slots - 1 - i;
    this.freeTop = slots;
  }
  alloc(frame: Uint8Array): number {
    const id = this.free[--this.freeTop];
    const o = id * this.slotSize;
    this.bytes.fill(0, o, o + VNET_HDR_LEN);
    this.bytes.set(frame, o + this.headroom);
    this.start[id] = this.headroom;
    this.len[id] = frame.length;
    return id;
  }
  release(id: number): void { this.free[this.freeTop++] = id; }
  frame(id: number): Uint8Array {
    const o = id * this.slotSize + this.start[id];
    return this.bytes.slice(o, o + this.len[id]);
  }
  vnet(id: number): Uint8Array {
    const o = id * this.slotSize;
    return this.bytes.slice(o, o + VNET_HDR_LEN);
  }
  recv(h: number, out: Uint32Array, max = out.length): number {
    const n = native.recvBatch(h, this.bytes, this.slotSize, this.headroom, this.free, this.freeTop,
      out, 0, max, this.start, this.len);
    this.freeTop -= n;
    return n;
  }
  send(h: number, ids: Uint32Array, n: number): number {
    return native.sendBatch(h, this.bytes, this.slotSize, ids, 0, n, this.start, this.len);
  }
}

function testFrame(size: number, seq: number): Uint8Array {
  const f = new Uint8Array(randomBytes(size));
  f.set([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa], 0);
  f[12] = ETH_TEST >> 8; f[13] = ETH_TEST & 0xff;
  f[14] = seq >> 8; f[15] = seq & 0xff;
  return f;
}
const isTest = (f: Uint8Array): boolean => f.length >= 16 && f[12] === (ETH_TEST >> 8) && f[13] === (ETH_TEST & 0xff);

/** receive on h until `want` test frames arrived or `ms` passed; returns them by sequence number */
function collect(pool: Pool, h: number, want: number, ms = 2000): Map<number, { frame: Uint8Array; vnet: Uint8Array }> {
  const got = new Map<number, { frame: Uint8Array; vnet: Uint8Array }>();
  const out = new Uint32Array(64);
  const fds = new Int32Array([native.portFd(h)]);
  const end = Date.now() + ms;
  while (got.size < want && Date.now() < end) {
    native.pollIn(fds, 1, 20);
    const n = pool.recv(h, out);
    for (let i = 0; i < n; i++) {
      const f = pool.frame(out[i]);
      if (isTest(f)) got.set((f[14] << 8) | f[15], { frame: f, vnet: pool.vnet(out[i]) });
      pool.release(out[i]);
    }
  }
  return got;
}

const RING = { rx: true, ringFrames: 256, frameSize: 2048 };

test.serial('openPort on a missing interface throws an Error naming it and the errno', (t) => {
  const e = t.throws(() => native.openPort(`${P}zz`, { ...RING, vnetHdr: false })) as NativeError;
  t.regex(e.message, new RegExp(`${P}zz`));
  t.regex(e.message, /No such device/);
  t.is(e.code, 'ENODEV');
});

for (const vnetHdr of [false, true]) {
  test.serial(`a frame batch sent on one veth end arrives intact on the other (vnetHdr=${vnetHdr})`, (t) => {
    const a = `${P}a`, b = `${P}b`;
    veth(t, a, b);
    const pool = new Pool(512, 2048);
    const tx = native.openPort(a, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr });
    const rx = native.openPort(b, { ...RING, vnetHdr });
    t.teardown(() => { native.closePort(tx); native.closePort(rx); });
    t.true(native.portFd(rx) > 2);
    // 100 frames, 60..1514 bytes
    const sent: Uint8Array[] = [];
    const ids = new Uint32Array(100);
    for (let i = 0; i < 100; i++) {
      const f = testFrame(60 + Math.floor((1454 * i) / 99), i);
      sent.push(f);
      ids[i] = pool.alloc(f);
    }
    // make the rx slots' header bytes dirty, so "zeroed" is observable
    for (let i = 0; i < pool.freeTop; i++) pool.bytes.fill(0xff, pool.free[i] * 2048, pool.free[i] * 2048 + 10);
    t.is(pool.send(tx, ids, 100), 100);
    for (const id of ids) pool.release(id);
    const got = collect(pool, rx, 100);
    t.is(got.size, 100);
    for (let i = 0; i < 100; i++) {
      const g = got.get(i);
      if (!g) { t.fail(`frame ${i} missing`); continue; }
      t.is(g.frame.length, sent[i].length);
      t.deepEqual(g.frame, sent[i]);
      // plain frame: the kernel's header is all zeros (no GSO, no partial checksum); without
      // vnetHdr the slot's header bytes are zeroed by recvBatch
      t.deepEqual(g.vnet, new Uint8Array(10), 'vnet header zeroed');
    }
    const st = native.portStats(rx);
    t.true(st.kernelPackets >= 100);
    t.is(st.kernelDrops, 0);
    t.is(st.truncated, 0);
    t.is(native.portStats(tx).sendErrors, 0);
  });
}

test.serial('a ring nobody drains overflows: kernelDrops counts what did not fit (the worker\'s overload signal)', (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b);
  const pool = new Pool(512, 2048);
  const tx = native.openPort(a, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
  const rx = native.openPort(b, { rx: true, ringFrames: 64, frameSize: 2048, vnetHdr: false });
  t.teardown(() => { native.closePort(tx); native.closePort(rx); });
  const ids = new Uint32Array(200);
  for (let i = 0; i < 200; i++) ids[i] = pool.alloc(testFrame(60, i));
  t.is(pool.send(tx, ids, 200), 200);
  for (const id of ids) pool.release(id);
  const got = collect(pool, rx, 200, 300);
  const st = native.portStats(rx);
  t.true(got.size <= 64, 'the ring holds at most 64 frames');
  t.true(st.kernelDrops > 0);
  t.is(got.size + st.kernelDrops, 200, 'every frame that did not fit is counted as dropped');
});

test.serial('recv ignores our own outgoing frames (PACKET_IGNORE_OUTGOING)', (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b);
  const pool = new Pool(256, 2048);
  const pa = native.openPort(a, { ...RING, vnetHdr: true });
  const pb = native.openPort(b, { ...RING, vnetHdr: true });
  t.teardown(() => { native.closePort(pa); native.closePort(pb); });
  const ids = new Uint32Array(20);
  for (let i = 0; i < 20; i++) ids[i] = pool.alloc(testFrame(100, i));
  t.is(pool.send(pa, ids, 20), 20);
  for (const id of ids) pool.release(id);
  t.is(collect(pool, pb, 20).size, 20, 'the peer sees them');
  t.is(collect(pool, pa, 1, 300).size, 0, 'the sender does not');
});

test.serial('an 802.1Q tag stripped by the kernel on rx is put back in the frame', (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b);
  const pool = new Pool(64, 2048);
  const tx = native.openPort(a, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
  const rx = native.openPort(b, { ...RING, vnetHdr: true });
  t.teardown(() => { native.closePort(tx); native.closePort(rx); });
  const f = testFrame(200, 7);
  f.copyWithin(16, 12, 196);                      // make room for the tag after the MACs
  f.set([0x81, 0x00, 0x20, 0x64], 12);            // TPID 0x8100, PCP 1, VID 100
  const ids = new Uint32Array([pool.alloc(f)]);
  t.is(pool.send(tx, ids, 1), 1);
  pool.release(ids[0]);
  const out = new Uint32Array(8);
  const fds = new Int32Array([native.portFd(rx)]);
  let got: Uint8Array | undefined;
  for (let tries = 0; tries < 50 && !got; tries++) {
    native.pollIn(fds, 1, 20);
    const n = pool.recv(rx, out);
    for (let i = 0; i < n; i++) {
      const g = pool.frame(out[i]);
      if (g[12] === 0x81 && g[16] === 0x88 && g[17] === 0xb5) got = g;
      pool.release(out[i]);
    }
  }
  t.deepEqual(got, f);
});

test.serial('truncated and oversize frames are counted, not delivered; send errors are counted', (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b, 9000);
  // ring frames of one page (4096): an 8000-byte frame is cut by the ring
  const pool = new Pool(64, 2048, 128); // room per slot: 1920 bytes
  const tx = native.openPort(a, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
  const rx = native.openPort(b, { rx: true, ringFrames: 64, frameSize: 4096, vnetHdr: false });
  t.teardown(() => { native.closePort(tx); native.closePort(rx); });
  const big = new Pool(8, 16384, 128);
  const ids = new Uint32Array(5);
  ids[0] = big.alloc(testFrame(1000, 0)); // fits
  ids[1] = big.alloc(testFrame(3000, 1)); // fits the ring, not the slot: oversize
  ids[2] = big.alloc(testFrame(8000, 2)); // cut by the ring: truncated
  ids[3] = big.alloc(testFrame(9100, 3)); // > MTU: EMSGSIZE on send, skipped
  ids[4] = big.alloc(testFrame(1500, 4)); // fits, sent after the failed one
  t.is(big.send(tx, ids, 5), 4);
  t.is(native.portStats(tx).sendErrors, 1);
  const got = collect(pool, rx, 2, 1000);
  t.deepEqual([...got.keys()].sort(), [0, 4]);
  t.is(native.portStats(rx).truncated, 2);
  t.is(pool.freeTop, 64, 'truncated frames used no slot');
});

test.serial('with veth offloads on, a TCP flow bridged through two vnetHdr ports delivers correct data (GSO passthrough)', async (t) => {
  const { na, nb, ha, hb } = namespacePair(t, P, '10.231.7');
  t.regex(run('ip', 'netns', 'exec', na, 'ethtool', '-k', 'eth1'), /tcp-segmentation-offload: on/);

  const SLOT = 65536 + 512;
  const pool = new Pool(512, SLOT, 256);
  const opts = { rx: true, ringFrames: 128, frameSize: 65536 + 256, vnetHdr: true };
  const pa = native.openPort(ha, opts), pb = native.openPort(hb, opts);
  t.teardown(() => { native.closePort(pa); native.closePort(pb); });

  // the bridge: every frame from one port goes to the other, the virtio header unchanged
  const out = new Uint32Array(256);
  const fds = new Int32Array([native.portFd(pa), native.portFd(pb)]);
  let maxLen = 0, gsoFrames = 0, frames = 0, txFail = 0;
  await tcpThroughPump(t, na, nb, '10.231.7.2', 16 << 20, async (finished) => {
    while (!finished()) {
      native.pollIn(fds, 2, 1);
      for (const [from, to] of [[pa, pb], [pb, pa]]) {
        const n = pool.recv(from, out);
        for (let i = 0; i < n; i++) {
          const id = out[i];
          if (pool.len[id] > maxLen) maxLen = pool.len[id];
          if (pool.bytes[id * SLOT + 1] !== 0) gsoFrames++;
        }
        frames += n;
        txFail += n - pool.send(to, out, n);
        for (let i = 0; i < n; i++) pool.release(out[i]);
      }
      await new Promise((r) => setImmediate(r));
    }
  });
  t.log(`bridged ${frames} frames, ${gsoFrames} GSO, max ${maxLen} bytes, ${txFail} tx failures`);
  t.true(maxLen > 1514, 'GSO frames larger than the MTU crossed the bridge');
  t.true(gsoFrames > 0);
});

test.serial('tapCreate makes a persistent TAP, idempotently; tapDestroy removes it', (t) => {
  const tap = `${P}t`;
  t.teardown(() => { native.tapDestroy(tap); tryRun('ip', 'link', 'del', tap); });
  native.tapCreate(tap, false);
  t.true(existsSync(`/sys/class/net/${tap}`));
  const flags = parseInt(readFileSync(`/sys/class/net/${tap}/tun_flags`, 'utf8'), 16);
  t.truthy(flags & 0x0800, 'IFF_PERSIST');
  t.truthy(flags & 0x0002, 'IFF_TAP');
  t.notThrows(() => native.tapCreate(tap, false));
  // a single-queue TAP takes one fd: while it is held (as QEMU would), tapDestroy cannot attach
  const fd1 = native.tapOpen(tap, false);
  const e = t.throws(() => native.tapDestroy(tap)) as NativeError;
  t.is(e.code, 'EBUSY');
  t.regex(e.message, new RegExp(tap));
  native.closeFd(fd1);
  native.tapDestroy(tap);
  t.false(existsSync(`/sys/class/net/${tap}`));
  t.notThrows(() => native.tapDestroy(tap), 'absent TAP: no-op');
  // multi-queue: a held queue fd keeps the netdev after tapDestroy, until it is closed
  native.tapCreate(tap, true);
  t.truthy(parseInt(readFileSync(`/sys/class/net/${tap}/tun_flags`, 'utf8'), 16) & 0x0100, 'IFF_MULTI_QUEUE');
  t.notThrows(() => native.tapCreate(tap, true));
  t.throws(() => native.tapCreate(tap, false), { message: new RegExp(`tapCreate\\(${tap}\\)`) });
  const fd = native.tapOpen(tap, true);
  native.tapDestroy(tap);
  t.true(existsSync(`/sys/class/net/${tap}`));
  native.closeFd(fd);
  t.false(existsSync(`/sys/class/net/${tap}`));
});

test.serial('openTapPort exchanges frames with the TAP netdev: ping from a namespace is answered by JS', async (t) => {
  const tap = `${P}p`, ns = `${P}n`;
  netns(t, ns);
  const h = native.openTapPort(tap, { vnetHdr: true, multiQueue: false });
  let closed = false;
  t.teardown(() => { if (!closed) native.closePort(h); });
  run('ip', 'link', 'set', tap, 'netns', ns);
  run('ip', '-n', ns, 'addr', 'add', '10.231.8.1/24', 'dev', tap);
  run('ip', '-n', ns, 'link', 'set', tap, 'up');
  run('ip', '-n', ns, 'neigh', 'add', '10.231.8.2', 'lladdr', '02:00:00:00:08:02', 'dev', tap, 'nud', 'permanent');

  const pool = new Pool(64, 4096, 128);
  const ping = spawn('ip', ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.231.8.2'], { stdio: 'ignore' });
  t.teardown(() => { if (ping.exitCode === null) ping.kill(); });
  let done = false;
  const pingDone = new Promise<number | null>((res) => ping.on('exit', (c) => { done = true; res(c); }));
  const out = new Uint32Array(16), reply = new Uint32Array(16);
  const fds = new Int32Array([native.portFd(h)]);
  let requests = 0;
  while (!done) {
    native.pollIn(fds, 1, 5);
    const n = pool.recv(h, out);
    let m = 0;
    for (let i = 0; i < n; i++) {
      const id = out[i], o = id * pool.slotSize + pool.start[id], b = pool.bytes;
      // IPv4 ICMP echo request to 10.231.8.2: turn it into the reply in place
      if (pool.len[id] >= 42 && b[o + 12] === 0x08 && b[o + 13] === 0 && b[o + 23] === 1 && b[o + 34] === 8) {
        requests++;
        b.copyWithin(o, o + 6, o + 12);                      // dst <- request's src
        b.set([0x02, 0, 0, 0, 0x08, 0x02], o + 6);           // src <- our MAC
        const src = b.slice(o + 26, o + 30);
        b.copyWithin(o + 26, o + 30, o + 34); b.set(src, o + 30);
        b[o + 34] = 0;                                       // echo reply
        let cs = ((b[o + 36] << 8) | b[o + 37]) + 0x0800;    // incremental checksum (type 8 -> 0)
        cs = (cs & 0xffff) + (cs >> 16);
        b[o + 36] = cs >> 8; b[o + 37] = cs & 0xff;
        pool.bytes.fill(0, id * pool.slotSize, id * pool.slotSize + VNET_HDR_LEN);
        reply[m++] = id;
      } else pool.release(id);
    }
    if (m) t.is(pool.send(h, reply, m), m);
    for (let i = 0; i < m; i++) pool.release(reply[i]);
    await new Promise((r) => setImmediate(r));
  }
  t.is(await pingDone, 0, 'ping got its replies');
  t.true(requests >= 3);
  t.true(native.portStats(h).kernelPackets >= 3);
  native.closePort(h); closed = true;
  t.throws(() => native.portFd(h), { instanceOf: RangeError });
});

test.serial('the addon loads in 2 worker_threads at once; setAffinity pins each worker', async (t) => {
  const cpus = Number(run('nproc').trim());
  const mod = new URL('./index.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const fs = require('node:fs');
    import(workerData.mod).then(({ native }) => {
      native.setAffinity(workerData.cpu);
      const tid = native.gettid();
      const status = fs.readFileSync('/proc/self/task/' + tid + '/status', 'utf8');
      const cpus = /Cpus_allowed_list:\\s*(\\S+)/.exec(status)[1];
      let err = '';
      try { native.openPort(workerData.bad, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false }); }
      catch (e) { err = e.message; }
      parentPort.postMessage({ tid, cpus, err, pid: process.pid });
    }).catch((e) => parentPort.postMessage({ error: String(e) }));`;
  interface Reply { tid: number; cpus: string; err: string; pid: number; error?: string }
  const results = await Promise.all([0, 1].map((i) => new Promise<Reply>((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { mod, cpu: i % cpus, bad: `${P}w${i}` } });
    w.once('message', (m: Reply) => { void w.terminate(); resolve(m); });
    w.once('error', reject);
  })));
  for (const [i, r] of results.entries()) {
    t.is(r.error, undefined);
    t.is(r.cpus, String(i % cpus));
    t.regex(r.err, new RegExp(`${P}w${i}.*No such device`));
    t.not(r.tid, native.gettid());
    t.is(r.pid, process.pid);
  }
  t.not(results[0].tid, results[1].tid);
  // the main thread keeps its own affinity
  const main = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/self/task/${native.gettid()}/status`, 'utf8'));
  t.not(main?.[1], undefined);
});
