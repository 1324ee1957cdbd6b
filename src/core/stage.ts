import type { Batch } from './batch.js';
import type { CounterBlock } from './counters.js';
import type { FramePool } from './frame-pool.js';

/** What a stage may know about the breath it runs in. One object per worker, updated in place. */
export interface BreathContext {
  /** wall-clock seconds, read once per breath */
  now: number;
  /** this worker's counters */
  counters: CounterBlock;
}

/**
 * A step of the fixed pipeline shape, run over a whole batch. The extension platform (capture,
 * filter, forward) and the built-in policies plug in as stages; the core only runs them in order.
 */
export interface Stage {
  readonly name: string;
  process(batch: Batch, pool: FramePool, ctx: BreathContext): void;
}
