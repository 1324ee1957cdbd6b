/**
 * Tests of the native edge's libpcap backend (xvs_pcap.c) against real devices (run as root):
 *   npx tsc -p . && npx ava dist/src/ports/native/pcap.test.js
 *
 * Devices and namespaces are named `xtp<pid><suffix>` (≤ 15 chars), removed in every outcome; leftovers of
 * earlier runs whose pid is gone are removed at start; nothing else is touched.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { native, VNET_HDR_LEN, type NativeError } from './index.js';
import { udpFrame } from '../../test-support/frames.js';
import { removeStale, run, tryRun, veth } from '../../test-support/native-lab.js';

const P = `xtp${process.pid % 100000}`;
const ETH_TEST = 0x88b5;

removeStale('xtp', process.pid % 100000, (name) => { native.tapDestroy(name); });

/** what xvs does to a pcap port's netdev (ports/offloads.ts): libpcap then sizes its ring frames from the MTU */
function offloadsOff(dev: string, ns?: string): void {
  const k = ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off'];
  if (ns) run('ip', 'netns', 'exec', ns, 'ethtool', ...k);
  else run('ethtool', ...k);
}

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
  alloc(frame: Uint8Array, vnet?: Uint8Array): number {
    const id = this.free[--this.freeTop];
    const o = id * this.slotSize;
    this.bytes.fill(0, o, o + VNET_HDR_LEN);
    if (vnet) this.bytes.set(vnet, o);
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
    return this.bytes.slice(id * this.slotSize, id * this.slotSize + VNET_HDR_LEN);
  }
  pcapRecv(h: number, out: Uint32Array, max = out.length): number {
    const n = native.pcapRecvBatch(h, this.bytes, this.slotSize, this.headroom, this.free, this.freeTop, out, 0, max, this.start, this.len);
    this.freeTop -= n;
    return n;
  }
  pcapSend(h: number, ids: Uint32Array, n: number): number {
    return native.pcapSendBatch(h, this.bytes, this.slotSize, ids, 0, n, this.start, this.len);
  }
  recv(h: number, out: Uint32Array): number {
    const n = native.recvBatch(h, this.bytes, this.slotSize, this.headroom, this.free, this.freeTop, out, 0, out.length, this.start, this.len);
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

/** receive test frames on a handle (pcap or AF_PACKET) until `want` arrived or `ms` passed */
function collect(pool: Pool, h: number, pcap: boolean, want: number, ms = 2000): Map<number, { frame: Uint8Array; vnet: Uint8Array }> {
  const got = new Map<number, { frame: Uint8Array; vnet: Uint8Array }>();
  const out = new Uint32Array(64);
  const fds = new Int32Array([pcap ? native.pcapFd(h) : native.portFd(h)]);
  const end = Date.now() + ms;
  while (got.size < want && Date.now() < end) {
    native.pollIn(fds, 1, 20);
    const n = pcap ? pool.pcapRecv(h, out) : pool.recv(h, out);
    for (let i = 0; i < n; i++) {
      const f = pool.frame(out[i]);
      if (isTest(f)) got.set((f[14] << 8) | f[15], { frame: f, vnet: pool.vnet(out[i]) });
      pool.release(out[i]);
    }
  }
  return got;
}

/** RFC 1071 sum over bytes (big-endian words), not complemented */
function sum16(b: Uint8Array, from: number, to: number, init = 0): number {
  let s = init;
  for (let i = from; i < to; i += 2) s += (b[i] << 8) | (i + 1 < to ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
/** is the IPv4 TCP/UDP checksum of an untagged frame right? */
function l4ChecksumOk(f: Uint8Array): boolean {
  const ihl = (f[14] & 0x0f) * 4;
  const l4 = 14 + ihl;
  const l4len = ((f[16] << 8) | f[17]) - ihl;
  let s = sum16(f, 26, 34);
  s = sum16(new Uint8Array([0, f[23], l4len >> 8, l4len & 0xff]), 0, 4, s);
  return sum16(f, l4, l4 + l4len, s) === 0xffff;
}

test.serial('pcapOpen on a missing interface throws an Error naming it', (t) => {
  const e = t.throws(() => native.pcapOpen(`${P}zz`, { rx: true })) as NativeError;
  t.regex(e.message, new RegExp(`pcapOpen\\(${P}zz\\)`));
  t.is(e.code, 'ENODEV');
  t.throws(() => native.pcapFd(255), { instanceOf: RangeError, message: /unknown pcap port handle/ });
});

test.serial('frames sent on one veth end arrive intact through pcapRecvBatch; pcapSendBatch sends a batch back', (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b);
  offloadsOff(b);
  const pool = new Pool(512, 2048);
  const tx = native.openPort(a, { rx: true, ringFrames: 256, frameSize: 2048, vnetHdr: false });
  const rx = native.pcapOpen(b, { rx: true });
  t.teardown(() => { native.closePort(tx); native.pcapClose(rx); });
  t.true(native.pcapFd(rx) > 2);
  const sent: Uint8Array[] = [];
  const ids = new Uint32Array(100);
  for (let i = 0; i < 100; i++) { sent.push(testFrame(60 + Math.floor((1454 * i) / 99), i)); ids[i] = pool.alloc(sent[i]); }
  // dirty header bytes in the free slots: "zeroed on rx" is observable
  for (let i = 0; i < pool.freeTop; i++) pool.bytes.fill(0xff, pool.free[i] * 2048, pool.free[i] * 2048 + 10);
  t.is(pool.send(tx, ids, 100), 100);
  for (const id of ids) pool.release(id);
  const got = collect(pool, rx, true, 100);
  t.is(got.size, 100);
  for (let i = 0; i < 100; i++) {
    t.deepEqual(got.get(i)?.frame, sent[i], `frame ${i}`);
    t.deepEqual(got.get(i)?.vnet, new Uint8Array(10), 'no offload metadata through libpcap: header zeroed');
  }
  t.is(pool.freeTop, 512, 'every slot came back');
  const st = native.pcapStats(rx);
  t.true(st.kernelPackets >= 100);
  t.is(st.kernelDrops, 0);
  t.is(st.truncated, 0);

  // and back: one pcapSendBatch call, one pcap_inject per frame
  const back = new Uint32Array(50);
  for (let i = 0; i < 50; i++) back[i] = pool.alloc(testFrame(100 + i, 1000 + i));
  t.is(pool.pcapSend(rx, back, 50), 50);
  for (const id of back) pool.release(id);
  const echoed = collect(pool, tx, false, 50);
  t.is(echoed.size, 50);
  t.is(native.pcapStats(rx).sendErrors, 0);
  t.is(collect(pool, rx, true, 1, 300).size, 0, 'the pcap handle does not see what it sent (PCAP_D_IN)');
});

test.serial('a tx-only handle receives nothing, and an rx handle does not see what another handle sends on its netdev', (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b);
  offloadsOff(b);
  const pool = new Pool(256, 2048);
  const rx = native.pcapOpen(b, { rx: true });
  const txOnly = native.pcapOpen(b, { rx: false });
  const peer = native.openPort(a, { rx: true, ringFrames: 64, frameSize: 2048, vnetHdr: false });
  t.teardown(() => { native.pcapClose(rx); native.pcapClose(txOnly); native.closePort(peer); });
  const ids = new Uint32Array(10);
  for (let i = 0; i < 10; i++) ids[i] = pool.alloc(testFrame(80, i));
  t.is(pool.pcapSend(txOnly, ids, 10), 10);
  for (const id of ids) pool.release(id);
  t.is(collect(pool, peer, false, 10).size, 10, 'the peer got them');
  t.is(collect(pool, rx, true, 1, 300).size, 0, 'outgoing frames of another handle are not received');
  t.throws(() => pool.pcapRecv(txOnly, new Uint32Array(4)), { instanceOf: RangeError, message: /without rx/ });
});

test.serial('frames longer than the ring frame (offloads off: MTU-sized) or the slot are counted as truncated and use no slot', (t) => {
  // a TAP: what is written into its queue fd reaches the netdev whatever its MTU (the tun driver does not check)
  const tap = `${P}t`;
  native.tapCreate(tap, false);
  const q = native.openTapPort(tap, { vnetHdr: false, multiQueue: false });
  t.teardown(() => { native.closePort(q); native.tapDestroy(tap); });
  tryRun('sysctl', '-qw', `net.ipv6.conf.${tap}.disable_ipv6=1`);
  run('ip', 'link', 'set', tap, 'up');
  offloadsOff(tap);
  const rx = native.pcapOpen(tap, { rx: true });
  t.teardown(() => native.pcapClose(rx));
  const big = new Pool(8, 4096);
  const ids = new Uint32Array(3);
  ids[0] = big.alloc(testFrame(1000, 0));
  ids[1] = big.alloc(testFrame(3000, 1)); // > MTU + 18: cut by libpcap's ring
  ids[2] = big.alloc(testFrame(1400, 2));
  t.is(big.send(q, ids, 3), 3);
  const small = new Pool(16, 1280, 128); // room 1152: the 1400-byte frame does not fit a slot
  const got = collect(small, rx, true, 2, 800);
  t.deepEqual([...got.keys()], [0]);
  t.is(native.pcapStats(rx).truncated, 2);
  t.is(small.freeTop, 16);
});

test.serial('tx completes what libpcap cannot carry: a NEEDS_CSUM frame gets its checksum, a GSO TCP frame is cut into segments', (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b);
  offloadsOff(b);
  const pool = new Pool(64, 65536 + 512, 256);
  const h = native.pcapOpen(b, { rx: false });
  const peer = native.openPort(a, { rx: true, ringFrames: 64, frameSize: 4096, vnetHdr: false });
  t.teardown(() => { native.pcapClose(h); native.closePort(peer); });
  const src = '02:00:00:00:00:aa', dst = '02:00:00:00:00:bb';
  // UDP with a partial checksum: the field holds the pseudo-header sum, as a vnet-header port hands it over
  const udp = udpFrame(dst, src, 300, 7);
  const ihl = 20, l4 = 14 + ihl, ulen = udp.length - l4;
  udp[l4 + 6] = 0; udp[l4 + 7] = 0;
  const pseudo = sum16(new Uint8Array([...udp.subarray(26, 34), 0, 17, ulen >> 8, ulen & 0xff]), 0, 12);
  udp[l4 + 6] = pseudo >> 8; udp[l4 + 7] = pseudo & 0xff;
  const csumHdr = new Uint8Array(10);
  csumHdr[0] = 1; csumHdr[6] = l4; csumHdr[8] = 6; // NEEDS_CSUM, csum_start = l4, csum_offset = 6
  // a TCP/IPv4 GSO frame: 3000 bytes of payload, gso_size 1000 → 3 segments
  const payload = randomBytes(3000);
  const tcp = new Uint8Array(14 + 20 + 20 + payload.length);
  tcp.set([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00], 0);
  tcp.set([0x45, 0, (tcp.length - 14) >> 8, (tcp.length - 14) & 0xff, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  tcp.set([0x30, 0x39, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x18 | 0x01 | 0x80, 0xff, 0xff, 0, 0, 0, 0], 34); // seq 4096, PSH FIN CWR ACK
  tcp.set(payload, 54);
  const gsoHdr = new Uint8Array(10);
  gsoHdr[0] = 1; gsoHdr[1] = 1; gsoHdr[2] = 54; gsoHdr[4] = 1000 & 0xff; gsoHdr[5] = 1000 >> 8; gsoHdr[6] = 34; gsoHdr[8] = 16;
  const ids = new Uint32Array([pool.alloc(udp, csumHdr), pool.alloc(tcp, gsoHdr)]);
  const before = pool.frame(ids[1]);
  t.is(pool.pcapSend(h, ids, 2), 2);
  t.deepEqual(pool.frame(ids[1]), before, 'the pool slot itself is unchanged (other ports may still send it)');
  // receive on the peer: 1 UDP + 3 TCP segments
  const frames: Uint8Array[] = [];
  const out = new Uint32Array(16);
  const end = Date.now() + 2000;
  const rxPool = new Pool(32, 4096);
  while (frames.length < 4 && Date.now() < end) {
    native.pollIn(new Int32Array([native.portFd(peer)]), 1, 20);
    const n = rxPool.recv(peer, out);
    for (let i = 0; i < n; i++) { const f = rxPool.frame(out[i]); if (f[12] === 8 && f[13] === 0) frames.push(f); rxPool.release(out[i]); }
  }
  t.is(frames.length, 4);
  const u = frames.find((f) => f[23] === 17);
  t.truthy(u);
  t.true(u !== undefined && l4ChecksumOk(u), 'UDP checksum completed');
  const segs = frames.filter((f) => f[23] === 6);
  t.is(segs.length, 3);
  let data = Buffer.alloc(0);
  segs.forEach((s, k) => {
    t.is(s.length, 54 + 1000, `segment ${k} carries gso_size bytes`);
    t.is((s[16] << 8) | s[17], s.length - 14, 'IPv4 total length');
    t.is(sum16(s, 14, 34), 0xffff, 'IPv4 header checksum');
    t.is((s[18] << 8) | s[19], 0x1234 + k, 'IPv4 id + k');
    t.is((s[38] << 24 | s[39] << 16 | s[40] << 8 | s[41]) >>> 0, 4096 + k * 1000, 'TCP sequence');
    const flags = s[47];
    t.is((flags & 0x09) !== 0, k === 2, 'FIN and PSH only on the last segment');
    t.is((flags & 0x80) !== 0, k === 0, 'CWR only on the first');
    t.true(l4ChecksumOk(s), `TCP checksum of segment ${k}`);
    data = Buffer.concat([data, Buffer.from(s.subarray(54))]);
  });
  t.deepEqual(data, payload);
  const st = native.pcapStats(h);
  t.is(st.checksumsCompleted, 1);
  t.is(st.gsoFrames, 1);
  t.is(st.gsoSegments, 3);
});

test.serial('a TCP flow between an AF_PACKET vnet port (offloads on) and a pcap port delivers correct data', async (t) => {
  const na = `${P}na`, nb = `${P}nb`, ha = `${P}ha`, hb = `${P}hb`;
  for (const ns of [na, nb]) {
    t.teardown(() => tryRun('ip', 'netns', 'del', ns));
    run('ip', 'netns', 'add', ns);
    run('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
  veth(t, ha, `${P}xa`); veth(t, hb, `${P}xb`);
  run('ip', 'link', 'set', `${P}xa`, 'netns', na, 'name', 'eth1');
  run('ip', 'link', 'set', `${P}xb`, 'netns', nb, 'name', 'eth1');
  run('ip', '-n', na, 'addr', 'add', '10.231.8.1/24', 'dev', 'eth1');
  run('ip', '-n', nb, 'addr', 'add', '10.231.8.2/24', 'dev', 'eth1');
  run('ip', '-n', na, 'link', 'set', 'eth1', 'up');
  run('ip', '-n', nb, 'link', 'set', 'eth1', 'up');
  // the pcap side: xvs's end without offloads, and the "VM" behind it sends no GSO or partial checksums
  offloadsOff(hb);
  offloadsOff('eth1', nb);
  t.regex(run('ip', 'netns', 'exec', na, 'ethtool', '-k', 'eth1'), /tcp-segmentation-offload: on/);

  const SLOT = 65536 + 512;
  const pool = new Pool(512, SLOT, 256);
  const pa = native.openPort(ha, { rx: true, ringFrames: 128, frameSize: 65536 + 256 + 4096, vnetHdr: true });
  const pb = native.pcapOpen(hb, { rx: true });
  t.teardown(() => { native.closePort(pa); native.pcapClose(pb); });

  const dir = mkdtempSync(path.join(tmpdir(), 'xtp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = randomBytes(8 << 20);
  writeFileSync(path.join(dir, 'in'), data);
  const server = spawn('ip', ['netns', 'exec', nb, 'socat', '-u', 'TCP-LISTEN:5001,reuseaddr', `OPEN:${path.join(dir, 'out')},creat,trunc`], { stdio: 'ignore' });
  t.teardown(() => { if (server.exitCode === null && server.pid) process.kill(server.pid, 'SIGKILL'); });
  const serverDone = new Promise<number | null>((res) => server.on('exit', (c) => res(c)));
  await new Promise((r) => setTimeout(r, 300));
  const client = spawn('ip', ['netns', 'exec', na, 'socat', '-u', `OPEN:${path.join(dir, 'in')}`, 'TCP:10.231.8.2:5001,retry=5'], { stdio: 'ignore' });
  t.teardown(() => { if (client.exitCode === null && client.pid) process.kill(client.pid, 'SIGKILL'); });
  let finished = false;
  const clientDone = new Promise<number | null>((res) => client.on('exit', (c) => res(c)));
  void Promise.all([clientDone, serverDone]).then(() => { finished = true; });
  const timeout = setTimeout(() => { finished = true; }, 60000);

  const out = new Uint32Array(256);
  const fds = new Int32Array([native.portFd(pa), native.pcapFd(pb)]);
  let gsoIn = 0;
  while (!finished) {
    native.pollIn(fds, 2, 1);
    let n = pool.recv(pa, out);
    for (let i = 0; i < n; i++) if (pool.bytes[out[i] * SLOT + 1] !== 0) gsoIn++;
    pool.pcapSend(pb, out, n);
    for (let i = 0; i < n; i++) pool.release(out[i]);
    n = pool.pcapRecv(pb, out);
    pool.send(pa, out, n);
    for (let i = 0; i < n; i++) pool.release(out[i]);
    await new Promise((r) => setImmediate(r));
  }
  clearTimeout(timeout);
  t.is(await clientDone, 0);
  t.is(await serverDone, 0);
  const got = readFileSync(path.join(dir, 'out'));
  t.is(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
  const st = native.pcapStats(pb);
  t.log(`GSO frames in from the AF_PACKET side: ${gsoIn}; pcap side: ${JSON.stringify(st)}`);
  t.true(gsoIn > 0, 'the AF_PACKET side handed over GSO frames');
  t.is(st.gsoFrames, gsoIn, 'each was segmented by the pcap tx path');
  t.true(st.gsoSegments > st.gsoFrames);
});

test.serial('pcap handles work in worker_threads, and a worker that ends without closing them has them closed', async (t) => {
  const a = `${P}a`, b = `${P}b`;
  veth(t, a, b);
  const mod = new URL('./index.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.mod).then(({ native }) => {
      const h = [native.pcapOpen(workerData.dev, { rx: true }), native.pcapOpen(workerData.dev, { rx: false })];
      parentPort.postMessage({ fds: h.map((x) => native.pcapFd(x)), handles: h });
    }).catch((e) => parentPort.postMessage({ error: String(e) }));`;
  const reply = await new Promise<{ fds: number[]; handles: number[]; error?: string }>((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { mod, dev: b } });
    w.once('message', (m: { fds: number[]; handles: number[] }) => { void w.terminate().then(() => resolve(m)); });
    w.once('error', reject);
  });
  t.is(reply.error, undefined);
  t.is(reply.fds.length, 2);
  // the worker's handle table is its own: handle 0 in the main thread is unknown
  t.throws(() => native.pcapFd(reply.handles[0]), { instanceOf: RangeError });
  for (const fd of reply.fds) {
    let link = '';
    try { link = readlinkSync(`/proc/self/fd/${fd}`); } catch { link = ''; }
    t.false(existsSync(`/proc/self/fd/${fd}`) && link.startsWith('socket:') && packetSocketOf(fd), `fd ${fd} closed by the worker's cleanup`);
  }
});

/** is fd a packet socket of this process bound to something (the worker's, if it survived)? */
function packetSocketOf(fd: number): boolean {
  try {
    const ino = /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    return ino !== undefined && readFileSync('/proc/net/packet', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[8] === ino);
  } catch {
    return false;
  }
}
