/**
 * The native hand-over a VMQ queue move rests on (native parkPort/unparkPort), on a real veth pair:
 * a thread reads part of an rx ring, parks the socket, frames keep arriving, another thread takes it
 * and reads on from the slot where the first stopped: every frame once, in order.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { testPrefix, cleanPrefix } from '../lab/netlab.js';
import { native } from '../ports/native/index.js';

const P = testPrefix('vp');
const ETH_TEST = 0x88b5;

function frames(from: number, n: number): { pool: Uint8Array; ids: Uint32Array; start: Uint32Array; len: Uint32Array } {
  const slot = 128;
  const pool = new Uint8Array(slot * n);
  const ids = new Uint32Array(n);
  const start = new Uint32Array(n);
  const len = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    pool.set([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, ETH_TEST >> 8, ETH_TEST & 0xff, (from + i) >> 8, (from + i) & 0xff], i * slot);
    ids[i] = i; start[i] = 0; len[i] = 60;
  }
  return { pool, ids, start, len };
}

function send(h: number, from: number, n: number): number {
  const f = frames(from, n);
  return native.sendBatch(h, f.pool, 128, f.ids, 0, n, f.start, f.len);
}

/** receive up to `max` frames on handle h (this thread), returning their sequence numbers */
function recvSeqs(h: number, max: number): number[] {
  const slot = 2048;
  const pool = new Uint8Array(new SharedArrayBuffer(slot * 256));
  const free = new Uint32Array(256).map((_, i) => 255 - i);
  const start = new Uint32Array(256);
  const len = new Uint32Array(256);
  const out = new Uint32Array(256);
  const n = native.recvBatch(h, pool, slot, 128, free, 256, out, 0, max, start, len);
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const o = out[i] * slot + start[out[i]];
    if (pool[o + 12] === ETH_TEST >> 8 && pool[o + 13] === (ETH_TEST & 0xff)) seqs.push((pool[o + 14] << 8) | pool[o + 15]);
  }
  return seqs;
}

test.before(() => cleanPrefix(P));
test.after.always(() => cleanPrefix(P));

test('a parked rx socket goes on in another thread where the first stopped: every frame once, in order', async (t) => {
  const a = `${P}a`;
  const b = `${P}b`;
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  for (const d of [a, b]) {
    execFileSync('sysctl', ['-qw', `net.ipv6.conf.${d}.disable_ipv6=1`]);
    execFileSync('ip', ['link', 'set', d, 'up']);
  }
  const tx = native.openPort(a, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
  t.teardown(() => native.closePort(tx));
  const rx = native.openPort(b, { rx: true, ringFrames: 256, frameSize: 2048, vnetHdr: false });
  t.is(send(tx, 0, 50), 50);
  const first = recvSeqs(rx, 20);
  t.deepEqual(first, Array.from({ length: 20 }, (_, i) => i), 'this thread read 0..19');

  const ticket = native.parkPort(rx);
  t.throws(() => native.portFd(rx), { message: /unknown port handle/ }, 'the handle left this thread');
  t.is(send(tx, 50, 50), 50, 'frames keep arriving while it is parked');

  const mod = new URL('../ports/native/index.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.mod).then(({ native }) => {
      const h = native.unparkPort(workerData.ticket);
      const slot = 2048, pool = new Uint8Array(new SharedArrayBuffer(slot * 256));
      const free = new Uint32Array(256).map((_, i) => 255 - i), start = new Uint32Array(256), len = new Uint32Array(256), out = new Uint32Array(256);
      const n = native.recvBatch(h, pool, slot, 128, free, 256, out, 0, 256, start, len);
      const seqs = [];
      for (let i = 0; i < n; i++) { const o = out[i] * slot + start[out[i]]; if (pool[o + 12] === 0x88 && pool[o + 13] === 0xb5) seqs.push((pool[o + 14] << 8) | pool[o + 15]); }
      const stats = native.portStats(h);
      native.closePort(h);
      parentPort.postMessage({ seqs, drops: stats.kernelDrops });
    }).catch((e) => parentPort.postMessage({ error: String(e) }));`;
  const r = await new Promise<{ seqs?: number[]; drops?: number; error?: string }>((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { mod, ticket } });
    w.once('message', (m: { seqs?: number[]; error?: string }) => { void w.terminate(); resolve(m); });
    w.once('error', reject);
  });
  t.is(r.error, undefined);
  t.deepEqual(r.seqs, Array.from({ length: 80 }, (_, i) => 20 + i), 'the other thread read 20..99: none lost, none twice');
  t.is(r.drops, 0);
  t.false(native.dropParked(ticket), 'the ticket was used');
  t.throws(() => native.unparkPort(ticket), { message: /no port is parked/ });
});
