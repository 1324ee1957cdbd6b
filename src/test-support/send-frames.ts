/**
 * Send crafted frames for tests: `node send-frames.js IFACE COUNT SPEC...` sends each frame given
 * (a packet spec in packet/spec.ts notation, e.g. `eth(src=…),ipv4(…),udp(src=67,dst=68),payload(hex=…)`,
 * or `hex:0201…` for raw bytes) COUNT times on IFACE, in order, through the native edge's AF_PACKET
 * socket. Run it inside a namespace (`ip netns exec NS node …`) so the frames come from a "VM" —
 * a rogue DHCP server, a router advertisement, a spoofed source. Prints `sent N`.
 */
import { native } from '../ports/native/index.js';
import { buildPacket, parseHexFrame } from '../packet/spec.js';

const [ifname, countArg, ...specs] = process.argv.slice(2);
const count = Number(countArg);
if (!ifname || !Number.isInteger(count) || count < 1 || count > 1_000_000 || specs.length === 0) {
  process.stderr.write('usage: send-frames IFACE COUNT SPEC|hex:BYTES...   (COUNT 1..1000000)\n');
  process.exit(2);
}

const frames = specs.map((s) => (s.startsWith('hex:') ? parseHexFrame(s.slice(4)) : buildPacket(s)));
const SLOT = Math.max(...frames.map((f) => f.length));
const BATCH = 64;
const pool = new Uint8Array(SLOT * BATCH);
const ids = new Uint32Array(BATCH);
const start = new Uint32Array(BATCH);
const len = new Uint32Array(BATCH);
const h = native.openPort(ifname, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
const total = count * frames.length;
let sent = 0;
while (sent < total) {
  const n = Math.min(BATCH, total - sent);
  for (let i = 0; i < n; i++) {
    const f = frames[(sent + i) % frames.length];
    pool.set(f, i * SLOT);
    ids[i] = i; start[i] = 0; len[i] = f.length;
  }
  let done = 0;
  let busy = 0;
  while (done < n) {
    const k = native.sendBatch(h, pool, SLOT, ids, done, n - done, start, len);
    done += k;
    if (k === 0 && ++busy > 1000) break;
  }
  sent += done;
  if (done < n) break;
}
native.closePort(h);
process.stdout.write(`sent ${sent}\n`);
