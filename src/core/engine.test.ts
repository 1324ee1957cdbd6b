/**
 * Engine pieces HNV relies on, driven with memory ports: frame chains (software GSO segments,
 * FramePool.next) fan out to every destination in order, are counted per segment, tagged per
 * segment on a trunk and freed with their head; and Engine.originate (a policy's own frames go
 * straight to a port at the next breath, counted as tx and SW.originated, then freed).
 */
import test from 'ava';
import { DstMode, type Batch } from './batch.js';
import { CounterBlock, ORIGINATED, PF, PF_DROPS, SW } from './counters.js';
import { DropReason } from './drop-reasons.js';
import { Engine, EnginePort, ORIGINATE_QUEUE } from './engine.js';
import { FramePool } from './frame-pool.js';
import type { Stage } from './stage.js';
import { MemoryPort } from '../ports/memory.js';
import { segmentGso } from '../policy/hnv/segment.js';
import { ipFrame } from '../test-support/hnv-frames.js';

function rig(stage: Stage, slots = 64) {
  const pool = new FramePool(slots, 70000);
  const counters = new CounterBlock();
  const engine = new Engine(pool, counters, 32, 8);
  const io = [new MemoryPort(), new MemoryPort(), new MemoryPort()];
  io.forEach((p, k) => { p.record = []; engine.attach(new EnginePort(k, `p${k}`, p, k === 0, 32)); });
  engine.stages = [{ name: 'validation', process: () => {} }, stage];
  return { pool, counters, engine, io };
}

/** a stage that turns every frame into a TCPv4 GSO frame (MSS 1000) on VLAN 10, segments it, floods it */
function segmenter(drop = false): Stage {
  return {
    name: 'segment',
    process(batch: Batch, pool: FramePool): void {
      for (let i = 0; i < batch.count; i++) {
        const id = batch.ids[i];
        const b = pool.bytes;
        const base = id * pool.slotSize;
        b[base] = 1; b[base + 1] = 1; b[base + 2] = 66; b[base + 4] = 1000 & 0xff; b[base + 5] = 1000 >> 8;
        b[base + 6] = 34; b[base + 8] = 16;
        pool.vlan[id] = 10;
        segmentGso(pool, id, 1514, 0);
        batch.dstMode[i] = DstMode.flood;
        if (drop) batch.drop(i, DropReason['port-down']);
      }
    },
  };
}

test('a chain goes to every destination in order, each segment counted, tagged per segment on a trunk, all freed', (t) => {
  const { pool, counters, engine, io } = rig(segmenter());
  engine.vlan.aware = true;
  engine.vlan.txTagged[2] = 1;
  io[0].inbox.push(ipFrame({ payload: 3500, seq: 1 }), ipFrame({ payload: 100, seq: 9 }));
  engine.breathe(0);
  const seqs = (fs: Uint8Array[], l3: number): number[] => fs.map((f) => ((f[l3 + 24] << 24) | (f[l3 + 25] << 16) | (f[l3 + 26] << 8) | f[l3 + 27]) >>> 0);
  t.deepEqual(io[1].record!.map((f) => f.length), [1066, 1066, 1066, 566, 166]);
  t.deepEqual(seqs(io[1].record!, 14), [1, 1001, 2001, 3001, 9]);
  t.deepEqual(io[2].record!.map((f) => f.length), [1070, 1070, 1070, 570, 170], 'each segment tagged on the trunk');
  t.true(io[2].record!.every((f) => f[12] === 0x81 && f[15] === 10));
  t.deepEqual(seqs(io[2].record!, 18), [1, 1001, 2001, 3001, 9]);
  const v = counters.v;
  t.is(v[CounterBlock.port(1) + PF.txPackets], 5);
  t.is(v[CounterBlock.port(2) + PF.txPackets], 5);
  t.is(v[CounterBlock.port(1) + PF.txBytes], 1066 * 3 + 566 + 166);
  t.is(pool.inUse, 0, 'heads and segments freed');
  t.false(pool.chained);
  t.true(pool.next.every((n) => n === -1));
});

test('a dropped chain frees every segment and counts one drop', (t) => {
  const { pool, counters, engine, io } = rig(segmenter(true));
  io[0].inbox.push(ipFrame({ payload: 3500 }));
  engine.breathe(0);
  t.is(io[1].record!.length, 0);
  t.is(counters.v[CounterBlock.port(0) + PF_DROPS + DropReason['port-down']], 1);
  t.is(pool.inUse, 0);
  t.true(pool.next.every((n) => n === -1));
});

test('originate: out of the port at the next breath without the stages, counted, freed; full queue refused; missing port dropped', (t) => {
  let staged = 0;
  const { pool, counters, engine, io } = rig({ name: 'count', process: (b) => { staged += b.count; } });
  const frame = ipFrame({ payload: 20, proto: 17 });
  const id = pool.fromBytes(frame);
  t.true(engine.originate(id, 1));
  t.is(io[1].record!.length, 0, 'not before the breath');
  engine.breathe(0);
  t.deepEqual(io[1].record!.map((f) => [...f]), [[...frame]]);
  t.is(staged, 0, 'no stage ran');
  const v = counters.v;
  t.is(v[SW.originated], 1);
  t.is(v[CounterBlock.port(1) + PF.txPackets], 1);
  t.is(v[CounterBlock.port(1) + PF.txBytes], frame.length);
  t.is(pool.inUse, 0);

  const gone = pool.fromBytes(frame);
  t.true(engine.originate(gone, 7));
  engine.breathe(1);
  t.is(v[CounterBlock.port(ORIGINATED) + PF_DROPS + DropReason['port-down']], 1);
  t.is(pool.inUse, 0);

  const big = new FramePool(ORIGINATE_QUEUE + 1, 256);
  const e2 = new Engine(big, new CounterBlock(), 8, 4);
  for (let k = 0; k < ORIGINATE_QUEUE; k++) t.true(e2.originate(k, 0));
  t.false(e2.originate(ORIGINATE_QUEUE, 0), 'queue full');
});

test('chains allocate nothing per frame: 100k GSO frames segmented, fanned out and freed, the heap stays flat', (t) => {
  const { pool, engine, io } = rig(segmenter(), 256); // 32 frames of 4 segments per breath
  for (const p of io) p.record = null;
  io[0].inbox.push(ipFrame({ payload: 3500, seq: 1 }));
  io[0].repeat = true;
  const run = (n: number): void => { for (let k = 0; k < n; k += 32) engine.breathe(0); };
  run(20_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(100_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`heap delta ${after - before} bytes over 100k GSO frames (400k segments), gc exposed: ${gc !== undefined}`);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  t.true(io[1].sentFrames >= 4 * 100_000);
  t.is(pool.inUse, 0);
});
