/**
 * The switch's MAC table as forwarding extensions see it (`ctx.fdb`): learn a source MAC on a port,
 * look a destination up. One table per switch in shared memory (forward/mac-table.ts), shared by
 * every worker and shown by `xvs fdb show`; aging and the limit are switch settings. MACs are given
 * as their first 16 bits and last 32 bits, as `view.u16(i, off)` and `view.u32(i, off + 2)` read
 * them. Learning results are counted in the switch counters (fdb.learned/moves/limitHits); a MAC
 * refused by its port's limit in that port's macLimitHits (the frame is forwarded all the same).
 *
 * VLANs: the key's 12-bit context is the frame's filtering id (FID): its VLAN, except that a private
 * VLAN's secondaries share their primary's (policy/vlan fills the VLAN → FID map; the identity, and
 * every frame on VLAN 0, while the switch is VLAN-transparent). `vlan` arguments default to 0.
 */
import type { BreathContext } from '../core/stage.js';
import { CounterBlock, PF, SW } from '../core/counters.js';
import type { SwitchMacTable } from '../extensions/api.js';
import { LearnResult, type MacTable } from './mac-table.js';

/** used-entry bit of a key (the VSID context comes with its issue) */
const KEY = 0x80000000;

export class SwitchFdb implements SwitchMacTable {
  readonly #table: MacTable;
  readonly #breath: BreathContext;
  readonly #one = new Int32Array(1);
  readonly #oneLo = new Int32Array(1);
  readonly #oneOut = new Int32Array(1);

  /** VLAN → filtering id (core/vlan.ts VlanTables.fid) */
  readonly #fid: Uint16Array;

  constructor(table: MacTable, breath: BreathContext, fid?: Uint16Array) {
    this.#table = table;
    this.#breath = breath;
    this.#fid = fid ?? identityFid();
  }

  learn(hi16: number, lo32: number, port: number, vlan = 0): void {
    const key = (KEY | (this.#fid[vlan & 0xfff] << 16) | (hi16 & 0xffff)) | 0;
    const r = this.#table.learn(key, lo32 | 0, port, this.#breath.now);
    const v = this.#breath.counters.v;
    if (r === LearnResult.learned) v[SW.fdbLearned]++;
    else if (r === LearnResult.moved) v[SW.fdbMoves]++;
    else if (r === LearnResult.limit) v[SW.fdbLimitHits]++;
    else if (r === LearnResult.portLimit) v[CounterBlock.port(port) + PF.macLimitHits]++;
  }

  lookup(hi16: number, lo32: number, vlan = 0): number {
    this.#one[0] = hi16;
    this.#oneLo[0] = lo32;
    this.#oneVlan[0] = vlan;
    this.lookupBatch(this.#one, this.#oneLo, 1, this.#oneOut, this.#oneVlan);
    return this.#oneOut[0];
  }

  readonly #oneVlan = new Int32Array(1);

  lookupBatch(hi16: Int32Array, lo32: Int32Array, n: number, out: Int32Array, vlan?: Int32Array): void {
    const t = this.#table;
    const fid = this.#fid;
    const m = Math.min(n, hi16.length, lo32.length, out.length, vlan !== undefined ? vlan.length : n);
    // an aging pass shifts entries under a sequence number: redo lookups that raced with one
    for (;;) {
      const seq = t.seq();
      if (vlan === undefined) {
        for (let i = 0; i < m; i++) out[i] = t.lookup((KEY | (fid[0] << 16) | (hi16[i] & 0xffff)) | 0, lo32[i] | 0);
      } else {
        for (let i = 0; i < m; i++) out[i] = t.lookup((KEY | (fid[vlan[i] & 0xfff] << 16) | (hi16[i] & 0xffff)) | 0, lo32[i] | 0);
      }
      if ((seq & 1) === 0 && t.seq() === seq) return;
    }
  }
}

function identityFid(): Uint16Array {
  const f = new Uint16Array(4096);
  for (let v = 0; v < 4096; v++) f[v] = v;
  return f;
}

/** the filtering id in a MAC-table key (the VLAN, or a private VLAN's primary) */
export function keyFid(hi: number): number {
  return (hi >>> 16) & 0xfff;
}
