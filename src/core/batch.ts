/**
 * Batch: the unit of work. A batch holds up to `capacity` frame ids that came from ONE port in one
 * receive call, so everything that depends only on the source port is decided once per batch.
 *
 * Per frame i (0 <= i < count):
 *   ids[i]      the frame's slot in the FramePool
 *   reason[i]   0 while the frame lives; a DropReason code once a stage drops it (first reason wins)
 *   dstMode[i]  what the forwarding stage decided: NONE, UNICAST (dstPort[i]), FLOOD (every port but
 *               the source), or SET (the bitset dstSet[i*dstWords ..])
 *   exclude     a bitset per frame of ports that egress stages removed; applied at fan-out
 * All arrays are allocated once, here; stages only write numbers into them.
 */
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';

export const DstMode = { none: 0, unicast: 1, flood: 2, set: 3 } as const;
export const DST_WORDS = MAX_PORTS_PER_SWITCH >>> 5;

export class Batch {
  readonly capacity: number;
  readonly ids: Uint32Array;
  readonly reason: Uint8Array;
  readonly dstMode: Uint8Array;
  readonly dstPort: Int32Array;
  readonly dstSet: Uint32Array;
  readonly exclude: Uint32Array;
  /** frames in the batch */
  count = 0;
  /** index of the port the batch was received on (-1 for originated/injected frames) */
  inPort = -1;
  /** true once some stage set an exclusion (fan-out skips the bitset test otherwise) */
  hasExclusions = false;
  /** frames dropped so far in this batch */
  dropCount = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.ids = new Uint32Array(capacity);
    this.reason = new Uint8Array(capacity);
    this.dstMode = new Uint8Array(capacity);
    this.dstPort = new Int32Array(capacity);
    this.dstSet = new Uint32Array(capacity * DST_WORDS);
    this.exclude = new Uint32Array(capacity * DST_WORDS);
  }

  /** Start a new batch of `count` frames already in `ids` (filled by a port's receive). */
  reset(count: number, inPort: number): void {
    this.count = count;
    this.inPort = inPort;
    this.dropCount = 0;
    this.reason.fill(0, 0, count);
    this.dstMode.fill(0, 0, count);
    if (this.hasExclusions) {
      this.exclude.fill(0);
      this.hasExclusions = false;
    }
  }

  /** Drop frame i with a reason; the first reason recorded wins. The engine frees and counts it. */
  drop(i: number, reason: number): void {
    if (this.reason[i] === 0) {
      this.reason[i] = reason;
      this.dropCount++;
    }
  }

  /** Remove port p from frame i's destinations (egress filters, policies). */
  excludeDestination(i: number, port: number): void {
    this.exclude[i * DST_WORDS + (port >>> 5)] |= 1 << (port & 31);
    this.hasExclusions = true;
  }

  isExcluded(i: number, port: number): boolean {
    return (this.exclude[i * DST_WORDS + (port >>> 5)] & (1 << (port & 31))) !== 0;
  }

  /** Send frame i to exactly the ports in `ports` (replaces an earlier decision). */
  setDestinations(i: number, ports: ArrayLike<number>): void {
    const base = i * DST_WORDS;
    this.dstSet.fill(0, base, base + DST_WORDS);
    for (let k = 0; k < ports.length; k++) {
      const p = ports[k];
      this.dstSet[base + (p >>> 5)] |= 1 << (p & 31);
    }
    this.dstMode[i] = DstMode.set;
  }
}
