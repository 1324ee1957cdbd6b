/**
 * The switch's MAC table as forwarding extensions see it (`ctx.fdb`): learn a source MAC on a port,
 * look a destination up. One table per switch in shared memory (forward/mac-table.ts), shared by
 * every worker and shown by `xvs fdb show`; aging and the limit are switch settings. MACs are given
 * as their first 16 bits and last 32 bits, as `view.u16(i, off)` and `view.u32(i, off + 2)` read
 * them. Learning results are counted in the switch counters (fdb.learned/moves/limitHits); a MAC
 * refused by its port's limit in that port's macLimitHits (the frame is forwarded all the same).
 */
import type { BreathContext } from '../core/stage.js';
import { CounterBlock, PF, SW } from '../core/counters.js';
import type { SwitchMacTable } from '../extensions/api.js';
import { LearnResult, type MacTable } from './mac-table.js';

/** key of the untagged, non-virtualized context (VLAN/VSID keys come with their issues) */
const KEY = 0x80000000;

export class SwitchFdb implements SwitchMacTable {
  readonly #table: MacTable;
  readonly #breath: BreathContext;
  readonly #one = new Int32Array(1);
  readonly #oneLo = new Int32Array(1);
  readonly #oneOut = new Int32Array(1);

  constructor(table: MacTable, breath: BreathContext) {
    this.#table = table;
    this.#breath = breath;
  }

  learn(hi16: number, lo32: number, port: number): void {
    const r = this.#table.learn((KEY | (hi16 & 0xffff)) | 0, lo32 | 0, port, this.#breath.now);
    const v = this.#breath.counters.v;
    if (r === LearnResult.learned) v[SW.fdbLearned]++;
    else if (r === LearnResult.moved) v[SW.fdbMoves]++;
    else if (r === LearnResult.limit) v[SW.fdbLimitHits]++;
    else if (r === LearnResult.portLimit) v[CounterBlock.port(port) + PF.macLimitHits]++;
  }

  lookup(hi16: number, lo32: number): number {
    this.#one[0] = hi16;
    this.#oneLo[0] = lo32;
    this.lookupBatch(this.#one, this.#oneLo, 1, this.#oneOut);
    return this.#oneOut[0];
  }

  lookupBatch(hi16: Int32Array, lo32: Int32Array, n: number, out: Int32Array): void {
    const t = this.#table;
    const m = Math.min(n, hi16.length, lo32.length, out.length);
    // an aging pass shifts entries under a sequence number: redo lookups that raced with one
    for (;;) {
      const seq = t.seq();
      for (let i = 0; i < m; i++) out[i] = t.lookup((KEY | (hi16[i] & 0xffff)) | 0, lo32[i] | 0);
      if ((seq & 1) === 0 && t.seq() === seq) return;
    }
  }
}
