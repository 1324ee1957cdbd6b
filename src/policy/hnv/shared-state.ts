/**
 * VM ports' learned MACs, shared by every worker of a switch (PolicySharedBuffers.hnvPorts): the MAC
 * a VM port of a virtual subnet was first seen sending from (its own MAC when no staticMacAddress is
 * set), so a worker delivering to the port knows it whichever worker learned it. Per port
 * [state (0 unknown, 1 learned), mac hi 16 bits, mac lo 32 bits, unused]; the MAC words are written
 * before the state is published (Atomics.store), so a reader that sees state 1 sees the whole MAC.
 * The provider next hops are policy/hnv/neighbors.ts.
 */
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';

const PORT_WORDS = 4;
export const HNV_PORTS_BYTES = MAX_PORTS_PER_SWITCH * PORT_WORDS * 4;

export class HnvPortMacs {
  readonly w: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.w = new Int32Array(buffer);
  }

  /** index of port p's words */
  static port(p: number): number {
    return p * PORT_WORDS;
  }

  learn(p: number, hi: number, lo: number): void {
    const b = HnvPortMacs.port(p);
    this.w[b + 1] = hi;
    this.w[b + 2] = lo | 0;
    Atomics.store(this.w, b, 1);
  }

  forget(p: number): void {
    Atomics.store(this.w, HnvPortMacs.port(p), 0);
  }
}
