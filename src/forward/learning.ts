/**
 * The built-in learning forwarder: the switch's own forwarding when no forwarding extension is
 * enabled (Hyper-V: "the switch itself computes destinations").
 *
 * Per frame, in batch order: learn the source MAC on the batch's port (new MAC, MAC move, or a
 * timestamp refresh; a full table is counted, never an error), then choose destinations:
 * group (broadcast/multicast) and unknown unicast flood to every port but the source; a known
 * unicast goes to its port, or is dropped as `same-port` when that is the source port. A frame
 * sees the table as it stands after the frames before it in the batch were learned.
 */
import type { Batch } from '../core/batch.js';
import { DstMode } from '../core/batch.js';
import { SW } from '../core/counters.js';
import { DropReason } from '../core/drop-reasons.js';
import type { FramePool } from '../core/frame-pool.js';
import type { BreathContext, Stage } from '../core/stage.js';
import { macLo } from '../packet/ethernet.js';
import { LearnResult, MacTable, macKeyHi } from './mac-table.js';

const SAME_PORT = DropReason['same-port'];

export class LearningForwarder implements Stage {
  readonly name = 'learning';
  readonly table: MacTable;
  /** false while a synthetic trace frame runs: decide, but do not change the table */
  learn = true;

  constructor(table: MacTable) {
    this.table = table;
  }

  process(batch: Batch, pool: FramePool, ctx: BreathContext): void {
    const table = this.table;
    const bytes = pool.bytes;
    const slotSize = pool.slotSize;
    const start = pool.start;
    const inPort = batch.inPort;
    const v = ctx.counters.v;
    const now = ctx.now;
    let lastHi = 0;
    let lastLo = 0;
    if (inPort >= 0 && this.learn) {
      for (let i = 0; i < batch.count; i++) {
        if (batch.reason[i] !== 0) continue;
        const id = batch.ids[i];
        const off = id * slotSize + start[id];
        const hi = macKeyHi(bytes, off + 6, 0);
        const lo = macLo(bytes, off + 6);
        if (hi === lastHi && lo === lastLo) continue; // one learn per run of frames from one source
        lastHi = hi;
        lastLo = lo;
        const r = table.learn(hi, lo, inPort, now);
        if (r === LearnResult.learned) v[SW.fdbLearned]++;
        else if (r === LearnResult.moved) v[SW.fdbMoves]++;
        else if (r === LearnResult.limit) v[SW.fdbLimitHits]++;
      }
    }
    // decide; redo if an aging pass shifted entries while we looked (rare)
    for (;;) {
      const seq = table.seq();
      this.decide(batch, pool);
      if ((seq & 1) === 0 && table.seq() === seq) return;
    }
  }

  private decide(batch: Batch, pool: FramePool): void {
    const table = this.table;
    const bytes = pool.bytes;
    const slotSize = pool.slotSize;
    const start = pool.start;
    const inPort = batch.inPort;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0) continue;
      const id = batch.ids[i];
      const off = id * slotSize + start[id];
      if ((bytes[off] & 1) !== 0) {
        batch.dstMode[i] = DstMode.flood;
        continue;
      }
      const p = table.lookup(macKeyHi(bytes, off, 0), macLo(bytes, off));
      if (p < 0) {
        batch.dstMode[i] = DstMode.flood;
      } else if (p === inPort) {
        batch.drop(i, SAME_PORT);
      } else {
        batch.dstMode[i] = DstMode.unicast;
        batch.dstPort[i] = p;
      }
    }
  }
}
