/**
 * Entry of a data-path worker thread. It owns a frame pool, a batch, an Engine and the ports the
 * control plane attaches; it runs breaths until told to stop. When a breath finds nothing it spins
 * a few more breaths (latency), then sleeps in poll() on its rx fds with a timeout (an idle switch
 * costs almost no CPU), waking every `pollTimeoutMs` to read the mailbox, age MACs and publish stats.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { CounterBlock, PF_DROPS, SW } from '../core/counters.js';
import { DropReason } from '../core/drop-reasons.js';
import { Engine, EnginePort } from '../core/engine.js';
import { FramePool } from '../core/frame-pool.js';
import { LearningForwarder } from '../forward/learning.js';
import { MacTable } from '../forward/mac-table.js';
import { ValidateStage } from '../packet/validate.js';
import { AfPacketPort } from '../ports/afpacket.js';
import { native } from '../ports/native/index.js';
import type { PortIo, PortSpec } from '../ports/port.js';
import { TapFdPort } from '../ports/tap.js';
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';
import type { WorkerEvent, WorkerInit, WorkerReply, WorkerRequest } from './messages.js';

const { init, port } = workerData as { init: WorkerInit; port: MessagePort };
const events = parentPort;
if (!events) throw new Error('worker-main must run in a worker thread');

function emit(e: WorkerEvent): void {
  events!.postMessage(e);
}

const counters = new CounterBlock(init.counters);
const table = new MacTable(init.macTable);
const mailbox = new Int32Array(init.mailbox);
const pool = new FramePool(init.poolSlots);
const engine = new Engine(pool, counters, init.batchSize, MAX_PORTS_PER_SWITCH);
const validate = new ValidateStage(MAX_PORTS_PER_SWITCH);
const forwarder = new LearningForwarder(table);
engine.stages = [validate, forwarder];
let agingSeconds = init.macAgingSeconds;
let stopping = false;
/** last seen backend counters per port, to turn them into drop-reason deltas */
const lastKernelDrops = new Float64Array(MAX_PORTS_PER_SWITCH);
const lastTruncated = new Float64Array(MAX_PORTS_PER_SWITCH);

if (init.cpu !== null) {
  try {
    native.setAffinity(init.cpu);
    counters.v[SW.cpu] = init.cpu;
  } catch (e) {
    emit({ type: 'log', message: `worker ${init.workerIndex}: cannot pin to CPU ${init.cpu}: ${String(e)}` });
    counters.v[SW.cpu] = -1;
  }
} else {
  counters.v[SW.cpu] = -1;
}
counters.v[SW.tid] = native.gettid();
if (init.nice !== 0) {
  try {
    native.setNice(init.nice);
  } catch (e) {
    emit({ type: 'log', message: `worker ${init.workerIndex}: cannot set nice ${init.nice}: ${String(e)}` });
  }
}

function openIo(spec: PortSpec): PortIo {
  if (spec.backend === 'tapfd') return new TapFdPort(spec.netdev, { multiQueue: true });
  return new AfPacketPort(spec.netdev, { rx: spec.rx });
}

function handle(req: WorkerRequest): WorkerReply {
  try {
    switch (req.type) {
      case 'attach': {
        const s = req.port;
        const old = engine.detach(s.index);
        if (old) old.io.close();
        const io = openIo(s);
        counters.clearPort(s.index);
        lastKernelDrops[s.index] = 0;
        lastTruncated[s.index] = 0;
        validate.mtuByPort[s.index] = s.mtu;
        engine.attach(new EnginePort(s.index, s.name, io, s.rx, init.batchSize));
        return { id: req.id, ok: true };
      }
      case 'detach': {
        const old = engine.detach(req.index);
        if (old) old.io.close();
        return { id: req.id, ok: true };
      }
      case 'configure':
        agingSeconds = req.macAgingSeconds;
        return { id: req.id, ok: true };
      case 'stop':
        stopping = true;
        return { id: req.id, ok: true };
    }
  } catch (e) {
    return { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

function drainMailbox(): void {
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (!m) return;
    port.postMessage(handle(m.message as WorkerRequest));
  }
}

/** once a second: age the MAC table (worker 0 only) and fold backend counters into drop reasons */
function housekeeping(now: number): void {
  if (init.workerIndex === 0) {
    const aged = table.age(now, agingSeconds);
    if (aged > 0) counters.v[SW.fdbAged] += aged;
  }
  for (const p of engine.ports) {
    if (!p) continue;
    const s = p.io.stats();
    const base = CounterBlock.port(p.index) + PF_DROPS;
    counters.v[base + DropReason['ring-full']] += s.kernelDrops - lastKernelDrops[p.index];
    counters.v[base + DropReason['truncated']] += s.truncated - lastTruncated[p.index];
    lastKernelDrops[p.index] = s.kernelDrops;
    lastTruncated[p.index] = s.truncated;
  }
}

function run(): void {
  let seenMail = Atomics.load(mailbox, 0);
  let idle = 0;
  let nextHousekeeping = 0;
  emit({ type: 'ready', tid: counters.v[SW.tid] });
  while (!stopping) {
    const mail = Atomics.load(mailbox, 0);
    if (mail !== seenMail) {
      seenMail = mail;
      drainMailbox();
      if (stopping) break;
    }
    const nowMs = Date.now();
    const now = (nowMs / 1000) | 0;
    const got = engine.breathe(now);
    if (got > 0) {
      idle = 0;
    } else if (++idle <= init.spinBreaths) {
      if (init.spinYield) native.yieldCpu();
    } else {
      counters.v[SW.idlePolls]++;
      if (engine.pollCount > 0) native.pollIn(engine.pollFds, engine.pollCount, init.pollTimeoutMs);
      else Atomics.wait(mailbox, 0, mail, init.pollTimeoutMs);
    }
    if (nowMs >= nextHousekeeping) {
      nextHousekeeping = nowMs + 1000;
      housekeeping(now);
    }
  }
  for (const p of engine.ports) if (p) p.io.close();
}

try {
  run();
} catch (e) {
  emit({ type: 'fatal', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
