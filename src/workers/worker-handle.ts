/**
 * The control plane's handle on one data-path worker thread: spawn, send typed requests (answered
 * with promises, rejected after `requestTimeoutMs` or at once when the worker dies), stop, kill.
 * Requests never block the main thread. A worker that exits without being asked to (heap limit,
 * uncaught error) is reported to `listener.died` once, with its cause; the switch restarts it.
 */
import { MessageChannel, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import type { FrameTrace, WorkerEvent, WorkerInit, WorkerReply, WorkerRequest } from './messages.js';

type OkReply = Extract<WorkerReply, { ok: true }>;
type Pending = { resolve: (r: OkReply) => void; reject: (e: Error) => void };

/** Why a worker is gone: it stalled (the watchdog killed it), ran out of heap, or crashed. */
export type WorkerDeathReason = 'timeout' | 'out-of-memory' | 'crashed';
export interface WorkerDeath { reason: WorkerDeathReason; message: string }

/** Events a switch wants to hear about from its workers. */
export interface WorkerListener {
  extensionFailed?(slot: number, name: string, error: string, worker: number): void;
  traceFrame?(traceId: number, trace: FrameTrace): void;
  traceDone?(traceId: number): void;
  /** the thread ended without `stop()` or `kill()`: out of memory or crashed (called once) */
  died?(cause: WorkerDeath): void;
}

export interface WorkerOptions {
  /** heap limits of the thread (an extension that allocates without bound kills only its worker) */
  resourceLimits?: ResourceLimits;
  /** a request not answered within this time is rejected (the worker is wedged or busy) */
  requestTimeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class DataPathWorker {
  readonly index: number;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly mailbox: Int32Array;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  /** set by stop()/kill(): the exit is expected and not a death */
  private ending: string | undefined;
  /** the cause seen before the exit event ('error' or 'fatal') */
  private cause: WorkerDeath | undefined;
  private readonly switchName: string;
  private readonly requestTimeoutMs: number;
  tid = 0;
  readonly ready: Promise<void>;

  listener: WorkerListener = {};

  constructor(init: Omit<WorkerInit, 'mailbox'>, log: (m: string) => void, opts: WorkerOptions = {}) {
    this.index = init.workerIndex;
    this.switchName = init.switchName;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const mailbox = new SharedArrayBuffer(4);
    this.mailbox = new Int32Array(mailbox);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const full: WorkerInit = { ...init, mailbox };
    this.worker = new Worker(new URL('./worker-main.js', import.meta.url), {
      workerData: { init: full, port: port2 },
      transferList: [port2],
      name: `xvs-${init.switchName}-${init.workerIndex}`,
      ...(opts.resourceLimits ? { resourceLimits: opts.resourceLimits } : {}),
    });
    let readyResolve: () => void = () => {};
    let readyReject: (e: Error) => void = () => {};
    this.ready = new Promise<void>((res, rej) => { readyResolve = res; readyReject = rej; });
    this.ready.catch(() => {}); // a death before `ready` is also reported to listener.died
    this.worker.on('message', (e: WorkerEvent) => {
      if (e.type === 'ready') {
        this.tid = e.tid;
        readyResolve();
      } else if (e.type === 'log') {
        log(e.message);
      } else if (e.type === 'extension-failed') {
        this.listener.extensionFailed?.(e.slot, e.name, e.error, init.workerIndex);
      } else if (e.type === 'trace-frame') {
        this.listener.traceFrame?.(e.traceId, e.trace);
      } else if (e.type === 'trace-done') {
        this.listener.traceDone?.(e.traceId);
      } else {
        log(`worker ${init.switchName}/${init.workerIndex} failed: ${e.error}`);
        this.cause ??= { reason: 'crashed', message: e.error.split('\n')[0] };
        readyReject(new Error(e.error));
        void this.worker.terminate(); // its loop is over: make sure the thread ends (and is restarted)
      }
    });
    this.worker.on('error', (err: Error & { code?: string }) => {
      log(`worker ${init.switchName}/${init.workerIndex} error: ${err.message}`);
      this.cause ??= err.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? { reason: 'out-of-memory', message: err.message }
        : { reason: 'crashed', message: err.message };
      readyReject(err);
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.rejectPending(this.ending ?? 'it exited');
      if (this.ending === undefined) {
        const cause = this.cause ?? { reason: 'crashed', message: `exited with code ${code}` };
        readyReject(new Error(cause.message));
        this.listener.died?.(cause);
      }
    });
    this.port.on('message', (r: WorkerReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r);
      else p.reject(new Error(r.error));
    });
  }

  private what(): string {
    return `switch "${this.switchName}": data-path worker ${this.index}`;
  }

  private rejectPending(why: string): void {
    for (const p of this.pending.values()) p.reject(new Error(`${this.what()} did not answer: ${why}`));
    this.pending.clear();
  }

  /** false once the thread has ended or is being ended */
  get alive(): boolean {
    return !this.exited && this.ending === undefined;
  }

  request(req: DistributiveOmit<WorkerRequest, 'id'>): Promise<OkReply> {
    if (this.exited || this.ending !== undefined) return Promise.reject(new Error(`${this.what()} did not answer: ${this.ending ?? 'it exited'}`));
    const id = this.nextId++;
    const msg = { ...req, id } as WorkerRequest;
    return new Promise<OkReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        reject(new Error(`${this.what()} did not answer within ${this.requestTimeoutMs / 1000} s`));
      }, this.requestTimeoutMs);
      timer.unref();
      this.pending.set(id, {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.port.postMessage(msg);
      Atomics.add(this.mailbox, 0, 1);
      Atomics.notify(this.mailbox, 0);
    });
  }

  /**
   * End the thread now, whatever it runs (Worker.terminate() interrupts JavaScript, even a loop).
   * Pending requests are rejected at once with `why`; `listener.died` is not called.
   */
  async kill(why: string): Promise<void> {
    if (this.exited) return;
    this.ending ??= why;
    this.rejectPending(why);
    await this.worker.terminate();
    this.port.close();
  }

  /** Ask the worker to stop after its current breath and wait for the thread to end. */
  async stop(): Promise<void> {
    if (this.exited || this.ending !== undefined) {
      this.ending ??= 'the switch stopped';
      return;
    }
    const exited = new Promise<void>((res) => this.worker.once('exit', () => res()));
    const stopped = this.request({ type: 'stop' });
    this.ending = 'the switch stopped'; // no other request from here on; the exit is not a death
    try {
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 2000))]);
    } catch { /* already gone */ }
    const timer = setTimeout(() => { void this.worker.terminate(); }, 3000);
    await exited;
    clearTimeout(timer);
    this.port.close();
  }
}
