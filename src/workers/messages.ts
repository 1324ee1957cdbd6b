/**
 * Typed messages between the control plane (main thread) and a data-path worker.
 *
 * Control → worker travels on a MessagePort that the worker drains synchronously
 * (receiveMessageOnPort) when the mailbox word in shared memory changes, so a worker never has to
 * return to its event loop: it checks one Int32 per breath and sleeps in poll() when idle.
 * Worker → control replies carry the request id.
 */
import type { PortSpec } from '../ports/port.js';

export interface WorkerInit {
  switchName: string;
  workerIndex: number;
  workerCount: number;
  counters: SharedArrayBuffer;
  macTable: SharedArrayBuffer;
  /** Int32Array[0]: mailbox sequence, bumped after every posted request */
  mailbox: SharedArrayBuffer;
  batchSize: number;
  poolSlots: number;
  macAgingSeconds: number;
  /** CPU to pin this worker to, or null */
  cpu: number | null;
  /** empty breaths (spinning) before sleeping in poll() */
  spinBreaths: number;
  /** sched_yield() on every empty breath while spinning (other threads on this CPU may run) */
  spinYield: boolean;
  pollTimeoutMs: number;
  /** nice value of the worker thread (0 = as the daemon) */
  nice: number;
}

export type WorkerRequest =
  | { id: number; type: 'attach'; port: PortSpec }
  | { id: number; type: 'detach'; index: number }
  | { id: number; type: 'configure'; macAgingSeconds: number }
  | { id: number; type: 'stop' };

export type WorkerReply =
  | { id: number; ok: true }
  | { id: number; ok: false; error: string };

export type WorkerEvent =
  | { type: 'ready'; tid: number }
  | { type: 'log'; message: string }
  | { type: 'fatal'; error: string };
