/**
 * Counters in shared memory. Each data-path worker owns one CounterBlock (a Float64Array over a
 * SharedArrayBuffer) and is its only writer; the control plane reads every block without stopping
 * the data path and sums them. Float64 holds integers exactly up to 2^53 and an aligned 8-byte
 * store is not torn on x86-64/arm64, so plain stores suffice.
 *
 * Layout: SWITCH_FIELDS first, then MAX_PORTS_PER_SWITCH port records of PORT_STRIDE slots:
 *   rxPackets rxBytes txPackets txBytes txErrors macLimitHits, then one slot per DropReason (drops of frames
 *   received on that port, or for tx-error/port-down, of frames sent to it), then one more record
 *   of the same layout, ORIGINATED, for frames extensions originated with no source port (and
 *   frames that could not be created: pool exhausted, inject queue full).
 * macLimitHits: source MACs seen on the port that were not learned because the port held its
 * MAC limit (forward/mac-table.ts); the frames themselves were forwarded.
 */
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';
import { DROP_REASONS, DROP_REASON_COUNT } from './drop-reasons.js';

export const SWITCH_FIELDS = [
  'breaths', 'batches', 'idlePolls', 'fdbLearned', 'fdbMoves', 'fdbLimitHits', 'fdbAged', 'tid', 'cpu',
  'poolLow', 'originated', 'coalesceWaits',
  // supervision (read by the control plane's watchdog, workers/watchdog.ts):
  // heartbeat: bumped on every loop turn of the worker, busy or idle, and while it applies a plan;
  // extRunning: slot + 1 of the extension whose code runs right now (hook, tick, create, import), 0 = none
  'heartbeat', 'extRunning',
  // VMQ load (src/vmq/load.ts): microseconds spent in breaths that received frames
  'busyUs',
] as const;
export type SwitchField = (typeof SWITCH_FIELDS)[number];
export const SW = Object.freeze(
  Object.fromEntries(SWITCH_FIELDS.map((n, i) => [n, i])) as { [K in SwitchField]: number },
);
const SWITCH_AREA = 16;

export const PORT_FIELDS = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'txErrors', 'macLimitHits', 'txTunnelGso',
  // zero-copy forwarding (ports/native/SPEC.md): frames received with their tail left in the rx ring, and
  // those of them made whole at the end of their batch (a stage kept or read them past the headers)
  'rxZeroCopy', 'rxZeroCopyWhole'] as const;
export type PortField = (typeof PORT_FIELDS)[number];
export const PF = Object.freeze(
  Object.fromEntries(PORT_FIELDS.map((n, i) => [n, i])) as { [K in PortField]: number },
);
/** offset of the drop-reason counters inside a port record */
export const PF_DROPS = PORT_FIELDS.length;
export const PORT_STRIDE = 48;
if (PF_DROPS + DROP_REASON_COUNT > PORT_STRIDE) throw new Error('PORT_STRIDE too small for the drop reasons');

/** the record after the last port's: frames with no source port */
export const ORIGINATED = MAX_PORTS_PER_SWITCH;
export const COUNTER_SLOTS = SWITCH_AREA + (MAX_PORTS_PER_SWITCH + 1) * PORT_STRIDE;

export class CounterBlock {
  readonly buffer: SharedArrayBuffer;
  readonly v: Float64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(COUNTER_SLOTS * 8);
    this.v = new Float64Array(this.buffer);
  }

  /** index of port p's record (p = ORIGINATED: frames with no source port) */
  static port(p: number): number {
    return SWITCH_AREA + p * PORT_STRIDE;
  }

  /** zero a port's record (a port index is reused after remove/add) */
  clearPort(p: number): void {
    const b = CounterBlock.port(p);
    this.v.fill(0, b, b + PORT_STRIDE);
  }

  /** sum of the same slot over several blocks (control plane) */
  static sum(blocks: readonly CounterBlock[], slot: number): number {
    let s = 0;
    for (const b of blocks) s += b.v[slot];
    return s;
  }

  /** non-zero drop counters of port p summed over blocks, by reason name */
  static portDrops(blocks: readonly CounterBlock[], p: number): Record<string, number> {
    const out: Record<string, number> = {};
    const base = CounterBlock.port(p) + PF_DROPS;
    for (let r = 1; r < DROP_REASON_COUNT; r++) {
      const n = CounterBlock.sum(blocks, base + r);
      if (n !== 0) out[DROP_REASONS[r][0]] = n;
    }
    return out;
  }
}
