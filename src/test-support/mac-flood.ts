/**
 * A MAC flood for tests: `node mac-flood.js IFACE COUNT [FIRST [RATE]]` sends COUNT 64-byte frames on
 * IFACE, each from its own source MAC (06:xx:xx:xx:xx:xx, locally administered unicast, numbered
 * from FIRST), to a unicast MAC nobody has (so a switch floods them), through the native edge's
 * AF_PACKET socket with sendmmsg batches: ~1 µs a frame on a veth. Run it inside a namespace
 * (`ip netns exec NS node …`) so the flood comes from a "VM". Prints `sent N`. Bounded by COUNT.
 * RATE (frames per second, default 0 = as fast as the socket takes them) paces it, so a switch
 * that floods every frame to several ports takes them all in instead of dropping most at its
 * rx ring (ring-full).
 */
import { native } from '../ports/native/index.js';

const [ifname, countArg, firstArg, rateArg] = process.argv.slice(2);
const count = Number(countArg);
const first = Number(firstArg ?? 0);
const rate = Number(rateArg ?? 0);
if (!ifname || !Number.isInteger(count) || count < 1 || count > 10_000_000 || !Number.isInteger(first) || first < 0 || !(rate >= 0)) {
  process.stderr.write('usage: mac-flood IFACE COUNT [FIRST [RATE]]   (COUNT 1..10000000, RATE frames/s, 0 = unpaced)\n');
  process.exit(2);
}

const SLOT = 128;
const BATCH = 64;
const FRAME = 64;
const pool = new Uint8Array(SLOT * BATCH);
const ids = new Uint32Array(BATCH);
const start = new Uint32Array(BATCH);
const len = new Uint32Array(BATCH);
for (let i = 0; i < BATCH; i++) {
  const b = i * SLOT;
  ids[i] = i; start[i] = 0; len[i] = FRAME;
  pool.set([0x02, 0x00, 0x5e, 0xee, 0xee, 0xee], b); // destination: unknown unicast
  pool[b + 12] = 0x08; pool[b + 13] = 0x00; // IPv4 ethertype, zero payload: a switch does not parse further
}
const h = native.openPort(ifname, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
let sent = 0;
const t0 = performance.now();
const nap = new Int32Array(new SharedArrayBuffer(4));
while (sent < count) {
  if (rate > 0) {
    const due = ((performance.now() - t0) / 1000) * rate;
    if (sent > due) Atomics.wait(nap, 0, 0, ((sent - due) / rate) * 1000);
  }
  const n = Math.min(BATCH, count - sent);
  for (let i = 0; i < n; i++) {
    const m = first + sent + i;
    const b = i * SLOT + 6;
    pool[b] = 0x06; pool[b + 1] = (m / 2 ** 32) & 0xff; pool[b + 2] = (m >>> 24) & 0xff;
    pool[b + 3] = (m >>> 16) & 0xff; pool[b + 4] = (m >>> 8) & 0xff; pool[b + 5] = m & 0xff;
  }
  let done = 0;
  let busy = 0;
  while (done < n) {
    const k = native.sendBatch(h, pool, SLOT, ids, done, n - done, start, len);
    done += k;
    if (k === 0 && ++busy > 1000) break; // the socket stays full: give up on this batch (counted as not sent)
  }
  sent += n;
}
native.closePort(h);
process.stdout.write(`sent ${sent}\n`);
