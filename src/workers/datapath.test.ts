/**
 * The real DataPath — engine, stage list, validation and the learning forwarder (a forwarding
 * extension) with a real MAC table — driven in-process through memory ports: forwarding semantics,
 * drop reasons, and the no-allocation-per-frame property (heap does not grow over millions of frames).
 */
import test from 'ava';
import { CounterBlock, PF, PF_DROPS, SW } from '../core/counters.js';
import { DROP_REASON_COUNT, DropReason } from '../core/drop-reasons.js';
import { MacTable } from '../forward/mac-table.js';
import { EXT_STRIDE, MAX_EXTENSION_SLOTS } from '../pipeline/context.js';
import type { StagePlan } from '../pipeline/plan.js';
import { MemoryPort } from '../ports/memory.js';
import { hex, udpFrame } from '../test-support/frames.js';
import { DataPath } from './datapath.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';
const BCAST = 'ff:ff:ff:ff:ff:ff';

async function rig(nPorts = 3, limit = 1024) {
  const counters = new CounterBlock();
  const table = new MacTable(limit);
  const dp = new DataPath({
    switchName: 't', workerIndex: 0, counters, extCounters: new Float64Array(MAX_EXTENSION_SLOTS * EXT_STRIDE),
    table, poolSlots: 600, slotSize: 2048 + 256, batchSize: 256, log: () => {},
    onExtensionFailed: () => {}, onTraceFrame: () => {}, onTraceDone: () => {},
  });
  const learning: StagePlan = {
    slot: 0, name: 'learning', kind: 'forward', module: new URL('../extensions/learning/index.js', import.meta.url).href,
    config: {}, onError: 'drop', epoch: 1,
  };
  await dp.applyPlan({ generation: 1, captures: [], filters: [], forward: learning, defaultForward: learning });
  const ports: MemoryPort[] = [];
  for (let i = 0; i < nPorts; i++) {
    const io = new MemoryPort();
    io.record = [];
    ports.push(io);
    dp.attach(i, `p${i}`, io, true, 1500);
  }
  const engine = { breathe: (now: number): number => dp.breathe(now) };
  const port = (p: number, f: string): number => counters.v[CounterBlock.port(p) + PF[f as keyof typeof PF]];
  const drops = (p: number, r: keyof typeof DropReason): number => counters.v[CounterBlock.port(p) + PF_DROPS + DropReason[r]];
  return { pool: dp.pool, counters, engine, table, ports, port, drops };
}

test('broadcast floods to every port but the source; learned unicast goes to one port only', async (t) => {
  const r = await rig();
  r.ports[0].inbox.push(udpFrame(BCAST, A));
  r.engine.breathe(1000);
  t.is(r.ports[0].sentFrames, 0);
  t.is(r.ports[1].sentFrames, 1);
  t.is(r.ports[2].sentFrames, 1);
  // B answers A: A is known on port 0, so port 2 (bystander) gets nothing
  r.ports[1].inbox.push(udpFrame(A, B));
  r.engine.breathe(1000);
  t.is(r.ports[0].sentFrames, 1);
  t.is(r.ports[2].sentFrames, 1);
  // and A -> B is unicast to port 1 now
  r.ports[0].inbox.push(udpFrame(B, A, 100, 7));
  r.engine.breathe(1000);
  t.is(r.ports[1].sentFrames, 2);
  t.is(r.ports[2].sentFrames, 1);
  t.deepEqual(r.ports[1].record![1], udpFrame(B, A, 100, 7), 'bytes forwarded unchanged');
  t.is(r.counters.v[SW.fdbLearned], 2);
  t.is(r.pool.inUse, 0, 'every frame was freed');
});

test('unknown unicast floods; a MAC move re-points the entry and is counted', async (t) => {
  const r = await rig();
  r.ports[0].inbox.push(udpFrame(C, A));
  r.engine.breathe(1);
  t.is(r.ports[1].sentFrames + r.ports[2].sentFrames, 2, 'unknown unicast flooded');
  r.ports[2].inbox.push(udpFrame(BCAST, A)); // A moved to port 2
  r.engine.breathe(2);
  t.is(r.counters.v[SW.fdbMoves], 1);
  r.ports[1].inbox.push(udpFrame(A, B));
  r.engine.breathe(3);
  t.is(r.ports[2].record!.at(-1)![11], 0x0b, 'frame to A now goes to port 2');
  t.is(r.ports[0].sentFrames, 1, 'only the first broadcast reached port 0');
});

test('a frame to a MAC learned on its own source port is dropped as same-port', async (t) => {
  const r = await rig();
  r.ports[0].inbox.push(udpFrame(BCAST, A), udpFrame(BCAST, C));
  r.engine.breathe(1);
  r.ports[0].inbox.push(udpFrame(C, A));
  r.engine.breathe(1);
  t.is(r.drops(0, 'same-port'), 1);
});

test('table limit: new MACs beyond the limit are not learned and are counted', async (t) => {
  const r = await rig(2, 4);
  for (let i = 0; i < 10; i++) r.ports[0].inbox.push(udpFrame(BCAST, `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`));
  r.engine.breathe(1);
  t.is(r.table.count, 4);
  t.is(r.counters.v[SW.fdbLearned], 4);
  t.is(r.counters.v[SW.fdbLimitHits], 6);
  t.is(r.ports[1].sentFrames, 10, 'frames from unlearned MACs are still forwarded');
});

test('aging removes entries older than the aging time; then unicast floods again', async (t) => {
  const r = await rig();
  r.ports[1].inbox.push(udpFrame(BCAST, B));
  r.engine.breathe(100);
  t.is(r.table.count, 1);
  t.is(r.table.age(100 + 299, 300), 0);
  t.is(r.table.age(100 + 300, 300), 1);
  r.ports[0].inbox.push(udpFrame(B, A));
  r.engine.breathe(401);
  t.is(r.ports[2].sentFrames, 2, 'flooded after B aged out (1 = the first broadcast)');
});

test('malformed frames are counted under their reason and never forwarded', async (t) => {
  const r = await rig();
  r.ports[0].inbox.push(
    hex('0200'),                                             // runt
    new Uint8Array(13),                                      // runt
    udpFrame(B, A, 1600),                                    // oversize (MTU 1500, no GSO)
    (() => { const f = udpFrame(B, A); f[12] = 0x05; f[13] = 0xf0; return f; })(), // type 1520
    udpFrame(B, BCAST),                                      // broadcast source
    udpFrame(B, '00:00:00:00:00:00'),                        // zero source
    udpFrame(B, '01:00:5e:00:00:01'),                        // multicast source
  );
  r.engine.breathe(1);
  t.is(r.drops(0, 'runt'), 2);
  t.is(r.drops(0, 'oversize'), 1);
  t.is(r.drops(0, 'bad-ethertype'), 1);
  t.is(r.drops(0, 'bad-source-mac'), 3);
  t.is(r.ports[1].sentFrames + r.ports[2].sentFrames, 0);
  t.is(r.table.count, 0, 'nothing learned from garbage');
  t.is(r.pool.inUse, 0);
});

test('random garbage never throws and every frame is accounted for', async (t) => {
  const r = await rig();
  let seed = 42;
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) | 0; return (seed >>> 8) & 0xff; };
  let sent = 0;
  for (let k = 0; k < 20; k++) {
    for (let i = 0; i < 200; i++) {
      const f = new Uint8Array(rnd() * 8 % 1700);
      for (let j = 0; j < f.length; j++) f[j] = rnd();
      r.ports[0].inbox.push(f);
      sent++;
    }
    t.notThrows(() => r.engine.breathe(k));
  }
  let dropped = 0;
  for (let reason = 1; reason < DROP_REASON_COUNT; reason++) dropped += r.counters.v[CounterBlock.port(0) + PF_DROPS + reason] || 0;
  const forwarded = r.counters.v[CounterBlock.port(0) + PF.rxPackets] - dropped;
  t.is(r.counters.v[CounterBlock.port(0) + PF.rxPackets], sent);
  t.true(forwarded >= 0);
  t.is(r.pool.inUse, 0);
});

test('no allocation per frame: 5 million frames through the pipeline, the heap does not grow', async (t) => {
  const r = await rig();
  for (const p of r.ports) p.record = null;
  // a learned unicast stream, a broadcast and an unknown unicast in the mix, from two ports
  r.ports[0].inbox.push(udpFrame(B, A), udpFrame(BCAST, A), udpFrame(C, A), udpFrame(B, A, 1500));
  r.ports[1].inbox.push(udpFrame(A, B));
  r.ports[0].repeat = true;
  r.ports[1].repeat = true;
  const run = (frames: number): void => {
    const rx0 = r.counters.v[CounterBlock.port(0) + PF.rxPackets] + r.counters.v[CounterBlock.port(1) + PF.rxPackets];
    for (;;) {
      r.engine.breathe(5);
      const rx = r.counters.v[CounterBlock.port(0) + PF.rxPackets] + r.counters.v[CounterBlock.port(1) + PF.rxPackets];
      if (rx - rx0 >= frames) return;
    }
  };
  run(500_000); // warm up: JIT, inline caches
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(5_000_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`heapUsed before ${before} after ${after} (delta ${after - before} bytes over 5M frames), gc exposed: ${gc !== undefined}`);
  // 5M frames with even 8 bytes each allocated would be 40 MB; allow 1 MB of unrelated noise
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  t.is(r.pool.inUse, 0);
});
