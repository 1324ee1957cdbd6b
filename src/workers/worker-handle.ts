/**
 * The control plane's handle on one data-path worker thread: spawn, send typed requests (answered
 * with promises), stop. Requests never block the main thread.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { FrameTrace, WorkerEvent, WorkerInit, WorkerReply, WorkerRequest } from './messages.js';

type OkReply = Extract<WorkerReply, { ok: true }>;
type Pending = { resolve: (r: OkReply) => void; reject: (e: Error) => void };

/** Events a switch wants to hear about from its workers. */
export interface WorkerListener {
  extensionFailed?(slot: number, name: string, error: string, worker: number): void;
  traceFrame?(traceId: number, trace: FrameTrace): void;
  traceDone?(traceId: number): void;
}
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class DataPathWorker {
  readonly index: number;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly mailbox: Int32Array;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  tid = 0;
  readonly ready: Promise<void>;

  listener: WorkerListener = {};

  constructor(init: Omit<WorkerInit, 'mailbox'>, log: (m: string) => void) {
    this.index = init.workerIndex;
    const mailbox = new SharedArrayBuffer(4);
    this.mailbox = new Int32Array(mailbox);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const full: WorkerInit = { ...init, mailbox };
    this.worker = new Worker(new URL('./worker-main.js', import.meta.url), {
      workerData: { init: full, port: port2 },
      transferList: [port2],
      name: `xvs-${init.switchName}-${init.workerIndex}`,
    });
    let readyResolve: () => void = () => {};
    let readyReject: (e: Error) => void = () => {};
    this.ready = new Promise<void>((res, rej) => { readyResolve = res; readyReject = rej; });
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
        readyReject(new Error(e.error));
      }
    });
    this.worker.on('error', (err) => {
      log(`worker ${init.switchName}/${init.workerIndex} error: ${err.message}`);
      readyReject(err);
    });
    this.worker.on('exit', () => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error('data-path worker exited'));
      this.pending.clear();
    });
    this.port.on('message', (r: WorkerReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r);
      else p.reject(new Error(r.error));
    });
  }

  request(req: DistributiveOmit<WorkerRequest, 'id'>): Promise<OkReply> {
    if (this.exited) return Promise.reject(new Error('data-path worker exited'));
    const id = this.nextId++;
    const msg = { ...req, id } as WorkerRequest;
    return new Promise<OkReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage(msg);
      Atomics.add(this.mailbox, 0, 1);
      Atomics.notify(this.mailbox, 0);
    });
  }

  /** Ask the worker to stop after its current breath and wait for the thread to end. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((res) => this.worker.once('exit', () => res()));
    try {
      await Promise.race([this.request({ type: 'stop' }), new Promise((r) => setTimeout(r, 2000))]);
    } catch { /* already gone */ }
    const timer = setTimeout(() => { void this.worker.terminate(); }, 3000);
    await exited;
    clearTimeout(timer);
    this.port.close();
  }
}
