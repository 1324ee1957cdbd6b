/**
 * Entry of a data-path worker thread. It owns a frame pool, a batch, an Engine, the ports the
 * control plane attaches and its own instances of the switch's extensions; it runs breaths until
 * told to stop. When a breath finds nothing it spins a few more breaths (yielding the CPU), then
 * sleeps in poll() on its rx fds with a timeout (an idle switch costs almost no CPU), waking every
 * `pollTimeoutMs` to read the mailbox, age MACs and fold backend counters into drop reasons.
 * While one of its rx rings overflows it coalesces: a breath that did not fill its batch is followed
 * by a short sleep (RxCoalescing, coalescing.ts).
 *
 * Control requests are drained between breaths; a new pipeline plan (which may import extension
 * modules) is the only request that makes the loop await, so plans always apply between batches.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { CounterBlock, SW } from '../core/counters.js';
import { PolicyCounters } from '../policy/counters.js';
import { MacTable } from '../forward/mac-table.js';
import { AfPacketPort } from '../ports/afpacket.js';
import { native } from '../ports/native/index.js';
import type { PortIo, PortSpec } from '../ports/port.js';
import { PcapPort } from '../ports/pcap.js';
import { TapFdPort } from '../ports/tap.js';
import { NativePort } from '../ports/native-port.js';
import { RxCoalescing } from './coalescing.js';
import { DataPath } from './datapath.js';
import { loadExtensionModule } from '../pipeline/plan.js';
import type { WorkerEvent, WorkerInit, WorkerReply, WorkerRequest } from './messages.js';

const { init, port } = workerData as { init: WorkerInit; port: MessagePort };
const events = parentPort;
if (!events) throw new Error('worker-main must run in a worker thread');

function emit(e: WorkerEvent): void {
  events!.postMessage(e);
}
const log = (message: string): void => emit({ type: 'log', message });

const counters = new CounterBlock(init.counters);
const mailbox = new Int32Array(init.mailbox);
const dp = new DataPath({
  switchName: init.switchName, workerIndex: init.workerIndex, counters,
  extCounters: new Float64Array(init.extCounters), table: new MacTable(init.macTable),
  poolSlots: init.poolSlots, batchSize: init.batchSize, log, workerCount: init.workerCount,
  policyCounters: new PolicyCounters(init.policyCounters), policyShared: init.policyShared,
  onExtensionFailed: (ext, error) => emit({ type: 'extension-failed', slot: ext.slot, name: ext.name, error }),
  onTraceFrame: (traceId, trace) => emit({ type: 'trace-frame', traceId, trace }),
  onTraceDone: (traceId) => emit({ type: 'trace-done', traceId }),
});
dp.agingSeconds = init.macAgingSeconds;
dp.engine.linkDown = new Uint8Array(init.linkDown);
let stopping = false;

/** pin this thread to `cpus` (one CPU: SW.cpu names it; empty: every CPU, SW.cpu -1) */
function pin(cpus: number[]): void {
  try {
    native.setAffinityCpus(cpus);
    counters.v[SW.cpu] = cpus.length === 1 ? cpus[0] : -1;
  } catch (e) {
    log(`worker ${init.workerIndex}: cannot pin to CPU ${cpus.join(',')}: ${String(e)}`);
    counters.v[SW.cpu] = -1;
  }
}
if (init.cpu !== null) pin([init.cpu]);
else counters.v[SW.cpu] = -1;
counters.v[SW.tid] = native.gettid();
if (init.nice !== 0) {
  try {
    native.setNice(init.nice);
  } catch (e) {
    log(`worker ${init.workerIndex}: cannot set nice ${init.nice}: ${String(e)}`);
  }
}

function openIo(spec: PortSpec): PortIo {
  if (spec.backend === 'tapfd') return new TapFdPort(spec.netdev, { multiQueue: true });
  if (spec.backend === 'pcap') return new PcapPort(spec.netdev, { rx: spec.rx });
  const port = new AfPacketPort(spec.netdev, { rx: spec.rx, ringFrames: init.ringFrames, hdrCopy: init.zeroCopyHdr });
  if (spec.tunnelTap !== undefined && !port.attachTunnelTx(spec.tunnelTap)) {
    log(`worker ${init.workerIndex}: ${spec.netdev}: no UDP-tunnel GSO through ${spec.tunnelTap}; VXLAN GSO frames will fail to send`);
  }
  return port;
}

/**
 * Uplink steering (vmq/uplink-steer.ts): attach the worker's filter to a freshly opened rx socket; with
 * `drain`, drop what its ring took between bind() and the filter (the default-queue worker received those too).
 */
function filterRx(io: PortIo, program: Uint32Array, drain: boolean): void {
  native.setRxFilter(io.fd, program);
  if (!drain) return;
  const pool = dp.pool;
  const ids = new Uint32Array(init.batchSize);
  for (;;) {
    const n = io.recv(pool, ids, Math.min(ids.length, pool.freeTop));
    for (let i = 0; i < n; i++) pool.release(ids[i]);
    io.rxDone?.(pool);
    if (n === 0 || pool.freeTop === 0) return;
  }
}

// ---------------------------------------------------------------- control requests

function handle(req: WorkerRequest): WorkerReply | Promise<WorkerReply> {
  try {
    switch (req.type) {
      case 'attach': {
        const s = req.port;
        const io = openIo(s);
        if (s.rxFilter && s.rx) {
          try {
            filterRx(io, s.rxFilter.program, s.rxFilter.drain);
          } catch (e) {
            io.close();
            throw e;
          }
        }
        dp.attach(s.index, s.name, io, s.rx, s.mtu, s.keepCounters === true);
        return { id: req.id, ok: true };
      }
      case 'rx-filter': {
        const p = dp.engine.ports[req.index];
        if (!p || !p.rx) throw new Error(`port #${req.index} is not received by this worker`);
        native.setRxFilter(p.io.fd, req.program);
        return { id: req.id, ok: true };
      }
      case 'detach':
        dp.detach(req.index);
        return { id: req.id, ok: true };
      case 'configure':
        dp.agingSeconds = req.macAgingSeconds;
        return { id: req.id, ok: true };
      case 'policies':
        dp.policy.install(req.input);
        return { id: req.id, ok: true };
      case 'plan':
        return dp.applyPlan(req.plan).then(
          (): WorkerReply => ({ id: req.id, ok: true }),
          (e: unknown): WorkerReply => ({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
        );
      case 'validate': {
        // extension code: the watchdog blames this extension if its import or validate() never returns
        const running = (on: boolean): void => { counters.v[SW.extRunning] = on ? req.stage.slot + 1 : 0; };
        running(true);
        return loadExtensionModule(req.stage.module, req.stage, log).then(
          (def): WorkerReply => { running(true); def.validate?.(req.stage.config); return { id: req.id, ok: true }; },
        ).catch((e: unknown): WorkerReply => ({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }))
          .finally(() => running(false));
      }
      case 'port-control': {
        const veto = dp.portControl(req.op, req.port, req.before);
        return veto === null ? { id: req.id, ok: true } : { id: req.id, ok: true, veto };
      }
      case 'trace':
        return { id: req.id, ok: true, trace: dp.traceSynthetic(req.frame, req.inPort) };
      case 'trace-live':
        dp.armLive(req.traceId, req.count, req.match, req.inPort);
        return { id: req.id, ok: true };
      case 'trace-live-stop':
        dp.disarmLive(req.traceId);
        return { id: req.id, ok: true };
      case 'stop':
        stopping = true;
        return { id: req.id, ok: true };
      case 'release-rx': {
        const p = dp.engine.ports[req.index];
        if (!p || !p.rx || !(p.io instanceof NativePort)) throw new Error(`port #${req.index} is not received by this worker`);
        dp.foldBackendCounters(); // its ring drops so far are this worker's to count
        const tx = openIo({ ...req.port, rx: false }); // with the port's tunnel TAP queue, if it has one
        const ticket = p.io.park();
        // between breaths: no batch holds frames of this port; the tx socket replaces the parked one
        dp.engine.detach(req.index);
        dp.attach(req.index, p.name, tx, false, dp.validate.mtuByPort[req.index], true);
        return { id: req.id, ok: true, ticket };
      }
      case 'adopt-rx': {
        const s = req.port;
        dp.attach(s.index, s.name, NativePort.unpark(req.ticket, init.zeroCopyHdr), true, s.mtu, true);
        return { id: req.id, ok: true };
      }
      case 'pin':
        pin(req.cpus);
        return { id: req.id, ok: true };
    }
  } catch (e) {
    return { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** the watchdog's sign of life (workers/watchdog.ts): one store per loop turn, busy or idle */
const beat = (): void => { counters.v[SW.heartbeat]++; };

async function drainMailbox(): Promise<void> {
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (!m) return;
    const r = handle(m.message as WorkerRequest);
    if (r instanceof Promise) {
      // a plan may await module imports: keep beating while the event loop is free (a module that
      // loops at import blocks this timer too, and the watchdog blames it through extRunning)
      const timer = setInterval(beat, 50);
      try {
        port.postMessage(await r);
      } finally {
        clearInterval(timer);
      }
    } else {
      port.postMessage(r);
    }
  }
}

async function run(): Promise<void> {
  let seenMail = Atomics.load(mailbox, 0);
  let idle = 0;
  let nextHousekeeping = 0;
  const coalescing = new RxCoalescing(init.coalesceUs / 1000, init.batchSize);
  let receivedSinceCheck = 0;
  emit({ type: 'ready', tid: counters.v[SW.tid] });
  while (!stopping) {
    beat();
    const mail = Atomics.load(mailbox, 0);
    if (mail !== seenMail) {
      seenMail = mail;
      await drainMailbox();
      if (stopping) break;
    }
    const nowMs = Date.now();
    const now = (nowMs / 1000) | 0;
    const t0 = performance.now();
    const got = dp.breathe(now);
    if (got > 0) {
      // VMQ load (src/vmq/load.ts): one clock read per breath, none per frame
      counters.v[SW.busyUs] += (performance.now() - t0) * 1000;
      if (coalescing.shouldWait(got, idle === 0)) {
        counters.v[SW.coalesceWaits]++;
        Atomics.wait(mailbox, 0, seenMail, coalescing.waitMs);
      }
      idle = 0;
    } else if (++idle <= init.spinBreaths) {
      if (init.spinYield) native.yieldCpu();
    } else {
      counters.v[SW.idlePolls]++;
      const engine = dp.engine;
      if (engine.pollCount > 0) native.pollIn(engine.pollFds, engine.pollCount, init.pollTimeoutMs);
      else Atomics.wait(mailbox, 0, mail, init.pollTimeoutMs);
    }
    receivedSinceCheck += got;
    if (coalescing.checkDue(nowMs)) {
      // a ring overflows only while frames arrive: an idle worker skips the getsockopt calls
      coalescing.observe(nowMs, receivedSinceCheck > 0 ? dp.foldBackendCounters() : 0);
      receivedSinceCheck = 0;
    }
    if (nowMs >= nextHousekeeping) {
      nextHousekeeping = nowMs + 1000;
      dp.housekeeping(now);
    }
  }
  dp.close();
}

run().catch((e: unknown) => {
  emit({ type: 'fatal', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
});
