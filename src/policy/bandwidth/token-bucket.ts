/**
 * Token buckets, one per port index, in typed arrays sized once. Tokens are bytes; a bucket fills at
 * `rate` bytes per second up to `depth` bytes. A frame of `len` bytes passes when the bucket holds at
 * least `len` tokens and then takes them (policing: what does not fit is dropped, never queued).
 * Time is in seconds from a clock the caller reads once per batch.
 */
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';

export class PortBuckets {
  readonly tokens = new Float64Array(MAX_PORTS_PER_SWITCH);
  /** bytes per second (0 = the bucket never fills: only what it holds may pass) */
  readonly rate = new Float64Array(MAX_PORTS_PER_SWITCH);
  readonly depth = new Float64Array(MAX_PORTS_PER_SWITCH);
  /** when port p's bucket was last filled (seconds) */
  readonly last = new Float64Array(MAX_PORTS_PER_SWITCH);

  /** set port p's rate and depth; a new bucket starts full, a changed one keeps its tokens (at most the new depth) */
  set(p: number, bytesPerSecond: number, depth: number, now: number, fresh: boolean): void {
    this.rate[p] = bytesPerSecond;
    this.depth[p] = depth;
    if (fresh) {
      this.tokens[p] = depth;
      this.last[p] = now;
    } else if (this.tokens[p] > depth) this.tokens[p] = depth;
  }

  /** add the tokens earned since the last fill (called once per batch) */
  fill(p: number, now: number): void {
    const dt = now - this.last[p];
    this.last[p] = now;
    if (dt <= 0) return;
    const t = this.tokens[p] + dt * this.rate[p];
    this.tokens[p] = t < this.depth[p] ? t : this.depth[p];
  }

  /** true (and the tokens taken) when `len` bytes fit now */
  take(p: number, len: number): boolean {
    if (this.tokens[p] < len) return false;
    this.tokens[p] -= len;
    return true;
  }
}
