/**
 * Supervision of data-path workers from the main thread (issue 8).
 *
 * A worker bumps `heartbeat` in its CounterBlock on every loop turn, busy or idle (an idle worker
 * wakes from poll() every `pollTimeoutMs`), and writes `extRunning` = slot + 1 around every call
 * into extension code. The watchdog reads both from shared memory on a timer, without asking the
 * worker: a heartbeat that has not moved for `timeoutMs` means the thread is wedged (an extension
 * in a loop, or our own bug). The owner (switch/switch.ts) then terminates the thread
 * (Worker.terminate() interrupts running JavaScript), blames the extension named by `extRunning`
 * (still readable after termination: the memory is the main thread's too) and starts a new worker.
 *
 * `RestartLog` bounds how fast a worker that keeps dying is restarted, so a broken switch cannot
 * spin the CPU, and keeps what `xvs switch show`, `xvs stats` and `xvs daemon status` report.
 */
import { SW } from '../core/counters.js';
import type { WorkerDeathReason } from './worker-handle.js';

export const DEFAULT_WATCHDOG_MS = 2000;
export const WATCHDOG_INTERVAL_MS = 250;

/** A watched thread whose heartbeat stopped. */
export interface Stall {
  index: number;
  /** how long the heartbeat has not moved */
  silentMs: number;
  /** slot of the extension that was running (from extRunning), or -1 */
  slot: number;
}

interface Entry { v: Float64Array; beat: number; since: number }

export class Watchdog {
  readonly timeoutMs: number;
  private readonly intervalMs: number;
  private readonly onStall: (s: Stall) => void;
  private readonly entries = new Map<number, Entry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: { timeoutMs: number; intervalMs?: number; onStall: (s: Stall) => void }) {
    this.timeoutMs = opts.timeoutMs;
    this.intervalMs = opts.intervalMs ?? Math.min(WATCHDOG_INTERVAL_MS, Math.max(10, opts.timeoutMs / 4));
    this.onStall = opts.onStall;
  }

  /** watch a worker's counter block (SW.heartbeat, SW.extRunning) from now on */
  watch(index: number, counters: Float64Array, now = performance.now()): void {
    this.entries.set(index, { v: counters, beat: counters[SW.heartbeat], since: now });
  }

  unwatch(index: number): void {
    this.entries.delete(index);
  }

  /** the stalled workers (no longer watched: the owner watches the replacement); for the timer and tests */
  check(now = performance.now()): Stall[] {
    const out: Stall[] = [];
    for (const [index, e] of this.entries) {
      const beat = e.v[SW.heartbeat];
      if (beat !== e.beat) {
        e.beat = beat;
        e.since = now;
      } else if (now - e.since >= this.timeoutMs) {
        out.push({ index, silentMs: Math.round(now - e.since), slot: e.v[SW.extRunning] - 1 });
        this.entries.delete(index);
      }
    }
    return out;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { for (const s of this.check()) this.onStall(s); }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.entries.clear();
  }
}

/** What is reported for one worker of a switch. */
export interface WorkerHealth {
  worker: number;
  /** times this worker was replaced since the switch started */
  restarts: number;
  reason?: WorkerDeathReason;
  /** the last cause, as logged */
  lastCause?: string;
  /** extension blamed for the last restart */
  extension?: string;
  /** ISO time of the last restart */
  at?: string;
}

/** Restarts within this window count towards the back-off. */
const BACKOFF_WINDOW_MS = 60_000;
/** This many restarts in the window are immediate; then 1 s, 2 s, 4 s … up to BACKOFF_MAX_MS. */
const FREE_RESTARTS = 3;
const BACKOFF_MAX_MS = 30_000;

export class RestartLog {
  readonly health: WorkerHealth;
  private readonly times: number[] = [];

  constructor(worker: number) {
    this.health = { worker, restarts: 0 };
  }

  /** record a death; returns how long to wait before starting the replacement */
  record(reason: WorkerDeathReason, cause: string, extension: string | undefined, now = Date.now()): number {
    const h = this.health;
    h.restarts++;
    h.reason = reason;
    h.lastCause = cause;
    h.at = new Date(now).toISOString();
    if (extension !== undefined) h.extension = extension;
    else delete h.extension;
    while (this.times.length > 0 && now - this.times[0] > BACKOFF_WINDOW_MS) this.times.shift();
    this.times.push(now);
    const n = this.times.length - FREE_RESTARTS;
    return n <= 0 ? 0 : Math.min(BACKOFF_MAX_MS, 1000 * 2 ** (n - 1));
  }
}
