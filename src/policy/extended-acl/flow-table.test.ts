/**
 * FlowTable: against a Map model through random inserts, touches, expiry sweeps and port flushes on a
 * small table (collisions, wrap-around, backward shifts); the limit; and several threads at once:
 * two worker threads insert and look up their flows while the main thread sweeps expired ones
 * (shifting entries under them): no live flow is ever missed, none lost or duplicated.
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { createFlowTableBuffer, FlowTable, InsertResult, KEY_WORDS } from './flow-table.js';

function key(port: number, a: number, b = 0): Int32Array {
  const k = new Int32Array(KEY_WORDS);
  k[0] = (0x80000000 | (port << 16) | (4 << 8) | 6) | 0;
  k[1] = a;
  k[2] = b;
  k[6] = a * 7;
  return k;
}

/** a tiny deterministic PRNG (xorshift32) */
function rng(seed: number): () => number {
  let x = seed;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296; };
}

test('random inserts, touches, sweeps and flushes agree with a model', (t) => {
  const table = new FlowTable(createFlowTableBuffer(64)); // 128 slots
  t.is(table.capacity, 128);
  const model = new Map<string, { seen: number; timeout: number; port: number }>();
  const r = rng(12345);
  let now = 100;
  let checks = 0;
  for (let step = 0; step < 20000; step++) {
    const port = Math.floor(r() * 3);
    const a = Math.floor(r() * 90);
    const k = key(port, a);
    const id = `${port}/${a}`;
    const m = model.get(id);
    const live = m !== undefined && now - m.seen <= m.timeout;
    const op = r();
    if (op < 0.4) {
      const timeout = 1 + Math.floor(r() * 5);
      const res = table.insert(k, now, timeout);
      if (m !== undefined) t.is(res, InsertResult.refreshed);
      else if (model.size >= 64) t.is(res, InsertResult.full);
      else t.is(res, InsertResult.created);
      if (res !== InsertResult.full) model.set(id, { seen: now, timeout, port });
    } else if (op < 0.85) {
      if (table.touch(k, now) !== live) t.fail(`touch ${id} at ${now}: expected ${live}`);
      if (live) m.seen = now;
      checks++;
    } else if (op < 0.97) {
      now += 1;
      const removed = table.sweep(now);
      let expected = 0;
      for (const [id2, e] of model) if (now - e.seen > e.timeout) { model.delete(id2); expected++; }
      t.is(removed, expected);
    } else {
      const removed = table.flushPort(port);
      let expected = 0;
      for (const [id2, e] of model) if (e.port === port) { model.delete(id2); expected++; }
      t.is(removed, expected);
    }
    t.is(table.count, model.size);
  }
  t.is(table.entries().length, model.size);
  t.true(checks > 5000);
});

test('the limit: a new flow beyond it is refused, an existing one re-armed', (t) => {
  const table = new FlowTable(createFlowTableBuffer(100));
  table.setLimit(2);
  t.is(table.insert(key(0, 1), 10, 5), InsertResult.created);
  t.is(table.insert(key(0, 2), 10, 5), InsertResult.created);
  t.is(table.insert(key(0, 3), 10, 5), InsertResult.full);
  t.is(table.insert(key(0, 1), 20, 5), InsertResult.refreshed, 'an expired state not swept yet is re-armed');
  t.true(table.touch(key(0, 1), 21));
  t.false(table.touch(key(0, 2), 21), 'expired lazily');
  t.is(table.sweep(21), 1);
  t.is(table.insert(key(0, 3), 21, 5), InsertResult.created);
  t.throws(() => new FlowTable(new SharedArrayBuffer(1024)), { message: /not a flow table buffer/ });
});

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.url).then(({ FlowTable, KEY_WORDS }) => {
  const { buffer, control, w, live, rounds } = workerData;
  const table = new FlowTable(buffer);
  const ctl = new Int32Array(control);
  const k = new Int32Array(KEY_WORDS);
  const mk = (a) => { k.fill(0); k[0] = (0x80000000 | (w << 16) | 0x406) | 0; k[1] = a; k[2] = a * 31; k[6] = a ^ 0x5a5a; };
  let misses = 0, full = 0, junk = 0;
  for (let a = 0; a < live; a++) { mk(a); if (table.insert(k, 1000, 1000000) !== 0) full++; }
  // both threads' live flows are in before any junk (which may fill the table)
  Atomics.add(ctl, 1, 1);
  while (Atomics.load(ctl, 1) < 2) Atomics.wait(ctl, 1, Atomics.load(ctl, 1), 10);
  for (let r = 0; r < rounds; r++) {
    // short-lived junk the sweeper removes under our lookups (shifting our entries)
    for (let a = 0; a < 8; a++) { mk(1000000 + r * 8 + a); if (table.insert(k, 0, 1) === 0) junk++; }
    for (let a = 0; a < live; a++) { mk(a); if (!table.touch(k, 1000)) misses++; }
  }
  Atomics.add(ctl, 0, 1);
  parentPort.postMessage({ misses, full, junk });
});
`;

test('two threads insert and look up while a third sweeps: no live flow missed, lost or duplicated', async (t) => {
  const buffer = createFlowTableBuffer(32); // 64 slots: long probe chains, constant shifting
  const table = new FlowTable(buffer);
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  const url = new URL('./flow-table.js', import.meta.url).href;
  const LIVE = 8;
  const workers = [0, 1].map((w) => new Worker(WORKER, { eval: true, workerData: { url, buffer, control, w, live: LIVE, rounds: 200_000 } }));
  const results = workers.map((wk) => new Promise<{ misses: number; full: number; junk: number }>((resolve, reject) => {
    wk.once('message', resolve);
    wk.once('error', reject);
  }));
  // sweep (removing junk, shifting entries) until both workers are done, with a bound on time
  let sweeps = 0;
  let removed = 0;
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 50));
  while (Atomics.load(ctl, 0) < 2 && Date.now() - started < 60_000) {
    removed += table.sweep(1000);
    sweeps++;
    if (sweeps % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  const res = await Promise.all(results);
  await Promise.all(workers.map((w) => w.terminate()));
  t.log(`sweeps ${sweeps}, junk removed by them ${removed}, results ${JSON.stringify(res)}`);
  for (const r of res) {
    t.is(r.full, 0);
    t.is(r.misses, 0, 'every live flow found by every lookup');
  }
  t.true(removed > 0, 'the sweeps removed junk while the workers looked up');
  table.sweep(5000); // the rest of the junk (a raced refresh may have kept some alive till now)
  const entries = table.entries();
  t.is(entries.length, 2 * LIVE, 'exactly the live flows are left');
  t.is(table.count, 2 * LIVE);
  t.is(new Set(entries.map((e) => e.key.join(','))).size, 2 * LIVE, 'no duplicates');
});
