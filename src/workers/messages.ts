/**
 * Typed messages between the control plane (main thread) and a data-path worker.
 *
 * Control → worker travels on a MessagePort that the worker drains synchronously
 * (receiveMessageOnPort) when the mailbox word in shared memory changes, so a worker never has to
 * return to its event loop: it checks one Int32 per breath and sleeps in poll() when idle.
 * Worker → control replies carry the request id.
 */
import type { PortSpec } from '../ports/port.js';
import type { PipelinePlan, StagePlan } from '../pipeline/plan.js';
import type { TraceStep } from '../pipeline/pipeline.js';
import type { MatchSpec } from '../packet/match.js';
import type { SwitchPolicyInput } from '../policy/runtime.js';
import type { PolicySharedBuffers } from '../policy/shared.js';
import type { PortControlInfo } from '../extensions/api.js';
import type { PortSettings } from '../config/types.js';

export interface WorkerInit {
  switchName: string;
  workerIndex: number;
  workerCount: number;
  counters: SharedArrayBuffer;
  /** one byte per port index: 1 = link down (written by the control plane) */
  linkDown: SharedArrayBuffer;
  /** per-extension counters (pipeline/context.ts EXT_STRIDE records) */
  extCounters: SharedArrayBuffer;
  macTable: SharedArrayBuffer;
  /** this worker's policy counters (policy/counters.ts) */
  policyCounters: SharedArrayBuffer;
  /** state the switch's policies share between workers (policy/shared.ts) */
  policyShared: PolicySharedBuffers;
  /** Int32Array[0]: mailbox sequence, bumped after every posted request */
  mailbox: SharedArrayBuffer;
  batchSize: number;
  poolSlots: number;
  /** frames per AF_PACKET rx ring */
  ringFrames: number;
  /** zero-copy receive on AF_PACKET ports: header bytes copied into the slot (0 = off; ports/native/SPEC.md) */
  zeroCopyHdr: number;
  macAgingSeconds: number;
  /** CPU to pin this worker to, or null */
  cpu: number | null;
  /** empty breaths (spinning) before sleeping in poll() */
  spinBreaths: number;
  /** sched_yield() on every empty breath while spinning (other threads on this CPU may run) */
  spinYield: boolean;
  pollTimeoutMs: number;
  /** while an rx ring overflows, sleep (µs) after a batch that was not full; 0 = off (see worker-main.ts) */
  coalesceUs: number;
  /** nice value of the worker thread (0 = as the daemon) */
  nice: number;
}

export type WorkerRequest =
  | { id: number; type: 'attach'; port: PortSpec }
  | { id: number; type: 'detach'; index: number }
  | { id: number; type: 'configure'; macAgingSeconds: number }
  | { id: number; type: 'plan'; plan: PipelinePlan }
  /** every port's policy settings (after any change): the worker rebuilds its built-in policies */
  | { id: number; type: 'policies'; input: SwitchPolicyInput }
  /** check a configuration with the extension's own validate() (loaded here, never on the control thread) */
  | { id: number; type: 'validate'; stage: StagePlan }
  /**
   * ask the extensions' control hooks about a port operation before the switch does it (create,
   * delete, settings change: `before` is the settings now, `port.settings` the ones asked for)
   */
  | { id: number; type: 'port-control'; op: PortControlOp; port: PortControlInfo; before?: PortSettings }
  | { id: number; type: 'trace'; frame: Uint8Array; inPort: number }
  | { id: number; type: 'trace-live'; traceId: number; count: number; match: MatchSpec | null; inPort: number }
  | { id: number; type: 'trace-live-stop'; traceId: number }
  | { id: number; type: 'stop' }
  /**
   * VMQ queue moves (src/vmq): `release-rx` parks the port's rx socket (ring untouched) and keeps a
   * tx-only socket; the reply carries the ticket. `adopt-rx` takes a parked socket as the port's rx.
   * `pin` re-pins the worker thread (empty: every CPU).
   */
  | { id: number; type: 'release-rx'; index: number; port: PortSpec }
  | { id: number; type: 'adopt-rx'; port: PortSpec; ticket: number }
  | { id: number; type: 'pin'; cpus: number[] }
  /** uplink steering (vmq/uplink-steer.ts): replace the classic-BPF filter of this worker's rx socket on port `index` */
  | { id: number; type: 'rx-filter'; index: number; program: Uint32Array };


/** The result of running one frame through the pipeline (synthetic or live). */
export interface FrameTrace {
  inPort: number;
  frame: Uint8Array;
  steps: TraceStep[];
  /** final verdict after fan-out */
  verdict: 'forwarded' | 'dropped';
  reason?: string;
  destinations: number[];
  /** pipeline generation that ran it */
  generation: number;
}

export type PortControlOp = 'create' | 'delete' | 'settings';

/** an extension's refusal of a port operation (its control hook returned { veto } or threw) */
export interface PortVeto {
  extension: string;
  message: string;
}

export type WorkerReply =
  | { id: number; ok: true; trace?: FrameTrace; veto?: PortVeto; ticket?: number }
  | { id: number; ok: false; error: string };

export type WorkerEvent =
  | { type: 'ready'; tid: number }
  | { type: 'log'; message: string }
  | { type: 'fatal'; error: string }
  | { type: 'extension-failed'; slot: number; name: string; error: string }
  | { type: 'trace-frame'; traceId: number; trace: FrameTrace }
  | { type: 'trace-done'; traceId: number };
