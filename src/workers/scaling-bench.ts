/**
 * Worker scaling from memory (issue 12 item 8, docs/BENCHMARKS.md "Scaling"): four VM ports, 64-byte
 * UDP frames, port k sending to port (k+1) mod 4, through the real DataPath (validation, policies,
 * the learning forwarder with the switch's shared MAC table) on memory ports, no kernel. One worker
 * thread receiving all four ports against two threads receiving two each (every worker transmits on
 * every port, as in a switch); alternating rounds in one run. Prints frames/s per round, the medians
 * and 2 ÷ 1. On a 2-core machine two workers is the ceiling; anything else running takes from it.
 *
 *   node dist/src/workers/scaling-bench.js [--rounds N] [--seconds S]
 */
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { CounterBlock } from '../core/counters.js';
import { EXT_STRIDE, MAX_EXTENSION_SLOTS } from '../pipeline/context.js';
import { MacTable } from '../forward/mac-table.js';
import { MemoryPort } from '../ports/memory.js';
import { udpFrame } from '../test-support/frames.js';
import { DataPath } from './datapath.js';
import type { PipelinePlan, StagePlan } from '../pipeline/plan.js';
import { benchArg } from '../test-support/bench-args.js';

const PORTS = 4;
const mac = (p: number): string => `02:00:00:00:5c:${(p + 1).toString(16).padStart(2, '0')}`;

interface Job { table: SharedArrayBuffer; rxPorts: number[]; seconds: number; index: number }

/** one worker: a DataPath with all four ports, receiving on `rxPorts`; returns the frames it transmitted per second */
async function runWorker(job: Job): Promise<number> {
  const dp = new DataPath({
    switchName: 'bench', workerIndex: job.index, workerCount: 2, counters: new CounterBlock(),
    extCounters: new Float64Array(new SharedArrayBuffer(MAX_EXTENSION_SLOTS * EXT_STRIDE * 8)),
    table: new MacTable(job.table), poolSlots: 1024, batchSize: 256,
    log: () => {}, onExtensionFailed: () => {}, onTraceFrame: () => {}, onTraceDone: () => {},
  });
  const ports: MemoryPort[] = [];
  for (let p = 0; p < PORTS; p++) {
    const port = new MemoryPort();
    port.record = null;
    if (job.rxPorts.includes(p)) {
      for (let k = 0; k < 256; k++) port.inbox.push(udpFrame(mac((p + 1) % PORTS), mac(p), 64, k));
      port.repeat = true;
    }
    ports.push(port);
    dp.attach(p, `vm${p}`, port, job.rxPorts.includes(p), 1500);
  }
  const learning: StagePlan = {
    slot: MAX_EXTENSION_SLOTS - 1, name: 'learning', kind: 'forward',
    module: new URL('../extensions/learning/index.js', import.meta.url).href, epoch: 1, config: {}, onError: 'drop',
  };
  const plan: PipelinePlan = { generation: 1, captures: [], filters: [], forward: learning, defaultForward: learning };
  await dp.applyPlan(plan);
  dp.policy.install({ ports: Array.from({ length: PORTS }, (_, index) => ({ index, name: `vm${index}`, kind: 'vm' as const, settings: { macAddressSpoofing: true } })) });
  const sent = (): number => ports.reduce((n, p) => n + p.sentFrames, 0);
  const breathe = (ms: number): number => {
    const s0 = sent();
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) {
      const now = (Date.now() / 1000) | 0; // seconds, as worker-main passes it
      for (let k = 0; k < 32; k++) dp.breathe(now);
      t = performance.now();
    }
    return ((sent() - s0) * 1000) / (t - t0);
  };
  breathe(300); // warm-up (JIT, learning)
  const pps = breathe(job.seconds * 1000);
  dp.close();
  return pps;
}

function inWorker(job: Job): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    w.once('message', (pps: number) => resolve(pps));
    w.once('error', reject);
  });
}

async function main(): Promise<void> {
  const rounds = benchArg('rounds', 5);
  const seconds = benchArg('seconds', 2);
  // the switch's MAC table, shared by its workers; every port's MAC is known before the rounds
  const table = new MacTable(1024);
  for (let p = 0; p < PORTS; p++) await inWorker({ table: table.buffer, rxPorts: [p], seconds: 0.1, index: 0 });
  const r: { one: number[]; two: number[] } = { one: [], two: [] };
  for (let k = 0; k < rounds; k++) {
    const one = await inWorker({ table: table.buffer, rxPorts: [0, 1, 2, 3], seconds, index: 0 });
    const two = (await Promise.all([
      inWorker({ table: table.buffer, rxPorts: [0, 2], seconds, index: 0 }),
      inWorker({ table: table.buffer, rxPorts: [1, 3], seconds, index: 1 }),
    ])).reduce((a, b) => a + b, 0);
    r.one.push(one); r.two.push(two);
    process.stdout.write(`round ${k + 1}: 1 worker ${(one / 1e6).toFixed(2)} Mpps, 2 workers ${(two / 1e6).toFixed(2)} Mpps (${(two / one).toFixed(2)}×)\n`);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const one = median(r.one);
  const two = median(r.two);
  process.stdout.write(`median: 1 worker ${(one / 1e6).toFixed(2)} Mpps, 2 workers ${(two / 1e6).toFixed(2)} Mpps, ratio ${(two / one).toFixed(2)} (${availableParallelism()} CPUs)\n`);
}

if (isMainThread) await main();
else parentPort!.postMessage(await runWorker(workerData as Job));
