/**
 * Per-frame cost of the native edge on a real veth pair (AF_PACKET and the libpcap backend), against the
 * npm `cap` package (libpcap with a JS event per frame).
 *
 *   npx tsc -p . && node dist/src/ports/native/edge-bench.js [--rounds 5]
 *
 * Run as root. Creates veth pair xtn<pid>ba/xtn<pid>bb (IPv6 off) and removes it on exit.
 * Figures are medians over rounds; 64-byte frames of an experimental ethertype (the receiving stack
 * drops them, so a send includes the veth delivery to the peer's stack, as in a switch).
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { native } from './index.js';

const P = `xtn${process.pid}`;
const A = `${P}ba`, B = `${P}bb`;
const FRAME = 64, SLOT = 2048, HEADROOM = 128;
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 5;

function ip(...args: string[]): void { execFileSync('ip', args, { stdio: 'ignore' }); }
function cleanup(): void { try { ip('link', 'del', A); } catch { /* gone */ } }
const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void { Atomics.wait(sleepBuf, 0, 0, ms); }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = (): bigint => process.hrtime.bigint();

// ---- setup -------------------------------------------------------------------------------------
cleanup();
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
ip('link', 'add', A, 'type', 'veth', 'peer', 'name', B);
for (const d of [A, B]) {
  execFileSync('sysctl', ['-qw', `net.ipv6.conf.${d}.disable_ipv6=1`]);
  ip('link', 'set', d, 'up');
}

const SLOTS = 8192;
const pool = new Uint8Array(new SharedArrayBuffer(SLOTS * SLOT));
const start = new Uint32Array(SLOTS), len = new Uint32Array(SLOTS);
const free = new Uint32Array(SLOTS);
for (let i = 0; i < SLOTS; i++) free[i] = i;
const frame = new Uint8Array(FRAME);
frame.set([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x88, 0xb5]);
// slots 0..255 hold the tx frames
const txIds = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  pool.set(frame, i * SLOT + HEADROOM);
  start[i] = HEADROOM; len[i] = FRAME; txIds[i] = i;
}
const RING = 1024; // ring frames of one page each (4 MiB)
const tx = native.openPort(A, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });

function sendAll(total: number, batch: number): number {
  let sent = 0;
  while (sent < total) sent += native.sendBatch(tx, pool, SLOT, txIds, 0, Math.min(batch, total - sent), start, len);
  return sent;
}

const rows: Array<[string, string, number]> = [];

// ---- one trivial N-API call --------------------------------------------------------------------
{
  const N = 2_000_000;
  const r1: number[] = [], r2: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = now();
    let s = 0;
    for (let i = 0; i < N; i++) s += native.portFd(tx);
    r1.push(Number(now() - t0) / N);
    t0 = now();
    for (let i = 0; i < N / 4; i++) s += native.gettid();
    r2.push(Number(now() - t0) / (N / 4));
    if (s === -1) console.log(s);
  }
  rows.push(['N-API call, no syscall: `portFd(h)`', '-', median(r1)]);
  rows.push(['N-API call + trivial syscall: `gettid()`', '-', median(r2)]);
}

// ---- sendBatch ---------------------------------------------------------------------------------
for (const batch of [1, 16, 64, 256]) {
  const N = batch === 1 ? 50_000 : 200_000;
  const res: number[] = [];
  sendAll(2000, batch); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = now();
    const sent = sendAll(N, batch);
    res.push(Number(now() - t0) / sent);
  }
  rows.push(['native `sendBatch` (sendmmsg)', String(batch), median(res)]);
}

// ---- recvBatch: fill the ring, then drain it with batches of `batch` ---------------------------
// "hot": drained right after sendmmsg returned (veth delivers in the sender's softirq, so the frames
// are in the ring and in cache, as in a busy switch); "cold": after 20 ms idle (an idle switch
// woken by poll: ring lines and TLB entries are gone).
{
  const rx = native.openPort(B, { rx: true, ringFrames: RING, frameSize: SLOT, vnetHdr: false });
  const out = new Uint32Array(256);
  const FILL = RING - 64;
  for (const cold of [false, true]) {
    for (const batch of [1, 16, 64, 256]) {
      const res: number[] = [];
      for (let r = 0; r < 4 * ROUNDS + 1; r++) {
        sendAll(FILL, 256);
        if (cold) sleep(20);
        let got = 0;
        const t0 = now();
        while (got < FILL) {
          // slots go straight back to the free list (freeTop stays SLOTS), as a switch recycles them
          const n = native.recvBatch(rx, pool, SLOT, HEADROOM, free, SLOTS, out, 0, batch, start, len);
          if (n === 0) break;
          got += n;
        }
        const dt = Number(now() - t0);
        // restore the tx slots (recv reuses ids from the top of the free list, not 0..255, but be safe)
        for (let i = 0; i < 256; i++) { pool.set(frame, i * SLOT + HEADROOM); start[i] = HEADROOM; len[i] = FRAME; }
        if (r > 0) res.push(dt / got); // round 0 is warm-up (page faults in the ring)
        if (got !== FILL) console.error(`recv batch ${batch}: got ${got}/${FILL}`);
      }
      rows.push([`native \`recvBatch\` (TPACKET_V2 ring copy), ${cold ? 'cold: after 20 ms idle' : 'hot'}`,
        String(batch), median(res)]);
    }
  }
  const st = native.portStats(rx);
  if (st.kernelDrops) console.error(`ring drops: ${st.kernelDrops}`);
  native.closePort(rx);
}

// ---- the libpcap backend (xvs_pcap.c): pcapSendBatch (pcap_inject per frame), pcapRecvBatch (pcap_dispatch) ----
{
  // offloads off on the rx end, as xvs does for a libpcap port: libpcap then sizes its ring frames from the MTU
  execFileSync('ethtool', ['-K', B, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off'], { stdio: 'ignore' });
  const ptx = native.pcapOpen(A, { rx: false });
  const psend = (total: number, batch: number): number => {
    let sent = 0;
    while (sent < total) sent += native.pcapSendBatch(ptx, pool, SLOT, txIds, 0, Math.min(batch, total - sent), start, len);
    return sent;
  };
  for (const batch of [1, 64, 256]) {
    const N = batch === 1 ? 50_000 : 200_000;
    const res: number[] = [];
    psend(2000, batch);
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = now();
      const sent = psend(N, batch);
      res.push(Number(now() - t0) / sent);
    }
    rows.push(['native `pcapSendBatch` (pcap_inject per frame)', String(batch), median(res)]);
  }
  native.pcapClose(ptx);
  const prx = native.pcapOpen(B, { rx: true });
  const out = new Uint32Array(256);
  const FILL = 900; // the 4 MiB libpcap ring holds ~2000 MTU-sized frames
  for (const cold of [false, true]) {
    for (const batch of [64, 256]) {
      const res: number[] = [];
      for (let r = 0; r < 4 * ROUNDS + 1; r++) {
        sendAll(FILL, 256);
        if (cold) sleep(20);
        let got = 0;
        const t0 = now();
        while (got < FILL) {
          const n = native.pcapRecvBatch(prx, pool, SLOT, HEADROOM, free, SLOTS, out, 0, batch, start, len);
          if (n === 0) break;
          got += n;
        }
        const dt = Number(now() - t0);
        for (let i = 0; i < 256; i++) { pool.set(frame, i * SLOT + HEADROOM); start[i] = HEADROOM; len[i] = FRAME; }
        if (r > 0) res.push(dt / Math.max(got, 1));
        if (got !== FILL) console.error(`pcap recv batch ${batch}: got ${got}/${FILL}`);
      }
      rows.push([`native \`pcapRecvBatch\` (pcap_dispatch into slots), ${cold ? 'cold: after 20 ms idle' : 'hot'}`, String(batch), median(res)]);
    }
  }
  const st = native.pcapStats(prx);
  if (st.kernelDrops) console.error(`pcap ring drops: ${st.kernelDrops}`);
  native.pcapClose(prx);
  execFileSync('ethtool', ['-K', B, 'tso', 'on', 'gso', 'on', 'tx', 'on'], { stdio: 'ignore' });
}

// ---- cap (libpcap, one JS event per frame; main thread only) -----------------------------------
interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  on(ev: 'packet', fn: (nbytes: number, trunc: boolean) => void): void;
  send(buffer: Buffer, nbytes: number): void;
  close(): void;
}
interface CapModule { Cap: new () => CapInstance }
async function benchCap(): Promise<void> {
  let capMod: CapModule;
  try {
    capMod = createRequire(import.meta.url)('cap') as CapModule;
  } catch (e) {
    console.error(`cap not available: ${(e as Error).message}`);
    return;
  }
  const c = new capMod.Cap();
  const buf = Buffer.alloc(65535);
  c.open(B, 'ether proto 0x88b5', 64 << 20, buf);
  let count = 0, want = 0;
  let done: (() => void) | null = null;
  c.on('packet', () => { if (++count === want && done) done(); });
  // cap fixes snaplen at 65535 and libpcap's immediate mode uses TPACKET_V2 frames of that size:
  // a 64 MiB buffer holds ~1000 frames, so each round drains 900 and rounds are repeated.
  const N = 900;
  const res: number[] = [];
  for (let r = 0; r < 10 * ROUNDS + 1; r++) {
    count = 0; want = N;
    sendAll(N, 256);            // the frames wait in libpcap's buffer while this thread is busy (hot)
    const t0 = now();
    const guard = setTimeout(() => { console.error(`cap: got ${count}/${want}`); done?.(); }, 5000);
    await new Promise<void>((resolve) => { done = resolve; if (count >= want) resolve(); });
    clearTimeout(guard);
    if (r > 0) res.push(Number(now() - t0) / N);
  }
  rows.push(['`cap` receive (libpcap, 1 JS event/frame)', '1', median(res)]);
  c.close();

  // cap.send: one pcap_sendpacket per frame, on the tx side
  const ct = new capMod.Cap();
  ct.open(A, 'ether proto 0x1234', 1 << 20, Buffer.alloc(65535));
  const fb = Buffer.from(frame);
  const sres: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const M = 50_000;
    const t0 = now();
    for (let i = 0; i < M; i++) ct.send(fb, FRAME);
    sres.push(Number(now() - t0) / M);
  }
  rows.push(['`cap.send` (pcap_sendpacket per frame)', '1', median(sres)]);
  ct.close();
}

await benchCap();
native.closePort(tx);

console.log(`\n64-byte frames on a veth pair, medians of ${ROUNDS} rounds, node ${process.version}\n`);
console.log('| operation | batch | ns/frame (ns/call for N-API rows) | Mframes/s |');
console.log('|---|---:|---:|---:|');
for (const [op, b, ns] of rows) console.log(`| ${op} | ${b} | ${ns.toFixed(0)} | ${(1000 / ns).toFixed(2)} |`);
cleanup();
process.exit(0);
