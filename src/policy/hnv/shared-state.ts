/**
 * HNV state every worker of a switch shares (PolicySharedBuffers.hnv, one Int32Array view):
 *  - per port: the MAC a VM port of a virtual subnet was first seen sending from (its own MAC when no
 *    staticMacAddress is set), so a worker delivering to the port knows it whichever worker learned it;
 *  - the provider next hops (remote PAs on-link, or gateways) with the MAC learned by ARP on the uplink.
 *    Slots are numbered by configure from the policy input (sorted distinct next-hop addresses: every
 *    worker numbers them alike); a slot whose address changes is reset.
 * Writers: whichever worker sees the frame (benign races: the last writer wins, every value is whole).
 */
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';

/** per port: [state (0 unknown, 1 learned), mac hi 16 bits, mac lo 32 bits, unused] */
export const PORT_WORDS = 4;
/** most distinct provider next hops per switch */
export const NEXT_HOP_SLOTS = 256;
/** per next hop: [ipv4, state (0 unresolved, 1 resolved), mac hi, mac lo, generation, wanted, last request (s), unused] */
export const NEXT_HOP_WORDS = 8;
const NH_BASE = MAX_PORTS_PER_SWITCH * PORT_WORDS;
export const HNV_SHARED_BYTES = (NH_BASE + NEXT_HOP_SLOTS * NEXT_HOP_WORDS) * 4;

export const NH = { ip: 0, state: 1, hi: 2, lo: 3, gen: 4, wanted: 5, lastRequest: 6 } as const;

export class HnvShared {
  readonly w: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.w = new Int32Array(buffer);
  }

  /** index of port p's words */
  static port(p: number): number {
    return p * PORT_WORDS;
  }

  /** index of next-hop slot k's words */
  static nextHop(k: number): number {
    return NH_BASE + k * NEXT_HOP_WORDS;
  }

  learnPort(p: number, hi: number, lo: number): void {
    const b = HnvShared.port(p);
    this.w[b + 1] = hi;
    this.w[b + 2] = lo | 0;
    Atomics.store(this.w, b, 1);
  }

  forgetPort(p: number): void {
    Atomics.store(this.w, HnvShared.port(p), 0);
  }

  /** next-hop slot k stands for `ip` from now on (reset when it stood for another address) */
  assignNextHop(k: number, ip: number): void {
    const b = HnvShared.nextHop(k);
    if (this.w[b + NH.ip] === (ip | 0)) return;
    this.w[b + NH.state] = 0;
    this.w[b + NH.wanted] = 0;
    this.w[b + NH.lastRequest] = 0;
    this.w[b + NH.gen]++;
    this.w[b + NH.ip] = ip | 0;
  }

  /** the MAC of next hop k learned: a changed MAC bumps the generation (templates are rebuilt) */
  resolveNextHop(k: number, hi: number, lo: number): void {
    const b = HnvShared.nextHop(k);
    const w = this.w;
    if (w[b + NH.state] === 1 && w[b + NH.hi] === hi && w[b + NH.lo] === (lo | 0)) return;
    w[b + NH.hi] = hi;
    w[b + NH.lo] = lo | 0;
    w[b + NH.gen]++;
    w[b + NH.wanted] = 0;
    Atomics.store(w, b + NH.state, 1);
  }
}
