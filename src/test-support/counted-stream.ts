/**
 * A counted stream for tests: `node counted-stream.js IFACE COUNT RATE DST SRC` sends COUNT 64-byte
 * frames DST ← SRC (MACs "02:…"), EtherType 0x88b5 (local experimental: a host stack counts and drops
 * them), payload a 32-bit sequence number, paced at RATE frames/s in bursts of 16, through the native
 * edge's AF_PACKET socket. Run it inside a namespace so the stream comes from a "VM"; the receiver's
 * rx_packets counter (or a capture) tells whether every frame arrived once. Prints `sent N`.
 */
import { native } from '../ports/native/index.js';

const [ifname, countArg, rateArg, dstArg, srcArg] = process.argv.slice(2);
const count = Number(countArg);
const rate = Number(rateArg);
const macOf = (s: string | undefined): number[] | null => {
  const m = s?.split(':').map((x) => parseInt(x, 16));
  return m && m.length === 6 && m.every((x) => x >= 0 && x <= 255) ? m : null;
};
const dst = macOf(dstArg);
const src = macOf(srcArg);
if (!ifname || !Number.isInteger(count) || count < 1 || count > 10_000_000 || !(rate > 0) || !dst || !src) {
  process.stderr.write('usage: counted-stream IFACE COUNT RATE DST-MAC SRC-MAC   (COUNT 1..10000000, RATE frames/s > 0)\n');
  process.exit(2);
}

const SLOT = 128;
const BURST = 16;
const FRAME = 64;
const pool = new Uint8Array(SLOT * BURST);
const ids = new Uint32Array(BURST);
const start = new Uint32Array(BURST);
const len = new Uint32Array(BURST);
for (let i = 0; i < BURST; i++) {
  const b = i * SLOT;
  ids[i] = i; start[i] = 0; len[i] = FRAME;
  pool.set(dst, b);
  pool.set(src, b + 6);
  pool[b + 12] = 0x88; pool[b + 13] = 0xb5;
}
const h = native.openPort(ifname, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
let sent = 0;
const t0 = performance.now();
const nap = new Int32Array(new SharedArrayBuffer(4));
while (sent < count) {
  const due = ((performance.now() - t0) / 1000) * rate;
  if (sent > due) Atomics.wait(nap, 0, 0, ((sent - due) / rate) * 1000);
  const n = Math.min(BURST, count - sent);
  for (let i = 0; i < n; i++) {
    const q = sent + i;
    const b = i * SLOT + 14;
    pool[b] = q >>> 24; pool[b + 1] = (q >>> 16) & 0xff; pool[b + 2] = (q >>> 8) & 0xff; pool[b + 3] = q & 0xff;
  }
  let done = 0;
  let busy = 0;
  while (done < n) {
    const k = native.sendBatch(h, pool, SLOT, ids, done, n - done, start, len);
    done += k;
    if (k === 0) {
      if (++busy > 100_000) { process.stderr.write(`the socket stayed full after ${sent + done} frames\n`); process.exit(1); }
      Atomics.wait(nap, 0, 0, 0.05);
    }
  }
  sent += n;
}
native.closePort(h);
process.stdout.write(`sent ${sent}\n`);
