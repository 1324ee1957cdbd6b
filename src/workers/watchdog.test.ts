/**
 * The watchdog on a real thread: a worker that beats, then wedges in a loop with an extension
 * marked running, is noticed within the timeout and blamed on that extension; Worker.terminate()
 * ends the loop. The restart back-off bounds a worker that keeps dying.
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { CounterBlock, SW } from '../core/counters.js';
import { RestartLog, Watchdog, type Stall } from './watchdog.js';

test('a thread whose heartbeat stops is reported once, with the extension that was running', async (t) => {
  const block = new CounterBlock();
  const w = new Worker(`
    const { workerData } = require('node:worker_threads');
    const v = new Float64Array(workerData);
    const until = Date.now() + 300;
    while (Date.now() < until) { v[${SW.heartbeat}]++; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); }
    v[${SW.extRunning}] = 3;
    for (;;) { /* wedged */ }
  `, { eval: true, workerData: block.buffer });
  const stalls: { s: Stall; at: number }[] = [];
  const t0 = performance.now();
  const dog = new Watchdog({ timeoutMs: 400, intervalMs: 50, onStall: (s) => stalls.push({ s, at: performance.now() - t0 }) });
  dog.watch(0, block.v);
  dog.start();
  try {
    await new Promise((r) => setTimeout(r, 1500));
    t.is(stalls.length, 1, 'reported once');
    t.is(stalls[0].s.slot, 2, 'extRunning = slot + 1');
    t.true(stalls[0].s.silentMs >= 400);
    t.true(stalls[0].at >= 650 && stalls[0].at < 1300, `noticed after ${Math.round(stalls[0].at)} ms (beats for 300, timeout 400)`);
    t.true(block.v[SW.heartbeat] > 10, 'it did beat before');
  } finally {
    dog.stop();
    const code = await w.terminate(); // interrupts the loop
    t.is(typeof code, 'number');
  }
});

test('an idle but beating thread is never reported', (t) => {
  const block = new CounterBlock();
  const dog = new Watchdog({ timeoutMs: 100, onStall: () => {} });
  dog.watch(0, block.v, 0);
  for (let now = 0; now < 1000; now += 50) {
    block.v[SW.heartbeat]++;
    t.deepEqual(dog.check(now), []);
  }
  t.is(dog.check(1100).length, 1, 'silent from 950 to 1100');
  t.deepEqual(dog.check(1200), [], 'no longer watched after a report');
});

test('restart back-off: three immediate restarts, then 1 s, 2 s, 4 s … capped; old restarts age out', (t) => {
  const r = new RestartLog(0);
  const now = 1_000_000;
  const delays = Array.from({ length: 10 }, (_, k) => r.record('crashed', 'x', undefined, now + k));
  t.deepEqual(delays, [0, 0, 0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  t.is(r.health.restarts, 10);
  t.is(r.record('timeout', 'later', 'spinner', now + 120_000), 0, 'a minute later it starts over');
  t.like(r.health, { restarts: 11, reason: 'timeout', lastCause: 'later', extension: 'spinner' });
});
