/**
 * Measured load of ports and workers, sampled by the control plane from the counters the workers
 * already keep (nothing new per frame): each worker adds the time of every breath that received
 * frames to SW.busyUs, and counts rx frames per port. A port's cost over an interval is its worker's
 * busy time shared out by the port's share of that worker's rx frames (OVS measures cycles per rx
 * queue; this is the same quantity apportioned per batch instead of timed per queue).
 */
import { CounterBlock, PF, SW } from '../core/counters.js';
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';

export interface LoadSample {
  /** wall time the rates cover (ms); 0 before the second sample */
  intervalMs: number;
  /** rx frames per second by port index */
  pps: Float64Array;
  /** busy microseconds per second by port index (its share of its worker's busy time) */
  costUs: Float64Array;
  /** busy fraction 0..1 by worker */
  workerBusy: number[];
}

export class LoadMeter {
  private lastMs = 0;
  private lastRx: Float64Array[] = [];
  private lastBusy: number[] = [];
  current: LoadSample = { intervalMs: 0, pps: new Float64Array(MAX_PORTS_PER_SWITCH), costUs: new Float64Array(MAX_PORTS_PER_SWITCH), workerBusy: [] };

  /** take a sample of every worker's counters at `nowMs`; rates cover the time since the previous one */
  sample(blocks: readonly CounterBlock[], nowMs: number): LoadSample {
    const dt = this.lastMs > 0 ? nowMs - this.lastMs : 0;
    const pps = new Float64Array(MAX_PORTS_PER_SWITCH);
    const costUs = new Float64Array(MAX_PORTS_PER_SWITCH);
    const workerBusy: number[] = [];
    blocks.forEach((b, w) => {
      const v = b.v;
      const rx = new Float64Array(MAX_PORTS_PER_SWITCH);
      for (let p = 0; p < MAX_PORTS_PER_SWITCH; p++) rx[p] = v[CounterBlock.port(p) + PF.rxPackets];
      const busy = v[SW.busyUs];
      const prevRx = this.lastRx[w];
      const prevBusy = this.lastBusy[w];
      if (dt > 0 && prevRx && prevBusy !== undefined) {
        // a replaced worker starts again from its kept counters: a negative step counts as nothing
        const busyUs = Math.max(0, busy - prevBusy);
        let total = 0;
        for (let p = 0; p < MAX_PORTS_PER_SWITCH; p++) total += Math.max(0, rx[p] - prevRx[p]);
        for (let p = 0; p < MAX_PORTS_PER_SWITCH; p++) {
          const d = Math.max(0, rx[p] - prevRx[p]);
          if (d === 0) continue;
          pps[p] += (d * 1000) / dt;
          costUs[p] += total > 0 ? (busyUs * (d / total) * 1000) / dt : 0;
        }
        workerBusy.push(Math.min(1, busyUs / 1000 / dt));
      } else {
        workerBusy.push(0);
      }
      this.lastRx[w] = rx;
      this.lastBusy[w] = busy;
    });
    this.lastMs = nowMs;
    this.current = { intervalMs: dt, pps, costUs, workerBusy };
    return this.current;
  }
}
