/**
 * Uplink steering against the status quo (docs/QUEUES.md "Steering on the uplink"), on the wire through the
 * real daemon: an external switch with 2 workers, its uplink a veth into a namespace standing for the
 * underlay (u), two VM ports (veths into namespaces a, b) with queues of their own on different workers
 * (a on the worker that does not read the default queue). Two senders in u flood 64-byte frames, one to
 * a's MAC and one to b's, as fast as they can; the bench counts what a and b received.
 *
 *   steer   XVS_UPLINK_STEER=1: each worker receives the frames for its own queue's VM from the uplink
 *   single  XVS_UPLINK_STEER=0: the default-queue worker receives the whole uplink and forwards to both
 *
 * Rounds alternate (steer, single, steer, …) in one run; prints delivered frames/s per round and the
 * medians. Everything — senders, workers, kernel — shares the machine's CPUs: on 2 cores the senders take
 * much of them; say so with the figures.
 *
 *   node dist/src/vmq/uplink-steer-bench.js [--rounds N] [--frames F] [--rate R]   (as root; R: frames/s per sender)
 */
import { fromRoot } from '../repo-root.js';
import { NetLab, testPrefix, type Host } from '../lab/netlab.js';
import { TestDaemon } from '../test-support/daemon.js';
import { benchArg } from '../test-support/bench-args.js';
import type { VmqView } from './switch-vmq.js';

const rounds = benchArg('rounds', 3);
const frames = benchArg('frames', 400_000);
/** frames/s of each sender (default: as fast as it can) */
const rate = benchArg('rate', 10_000_000);
const P = testPrefix('ub');
const SW = `${P}s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Round { mode: 'steer' | 'single'; pps: number; delivered: number; seconds: number; uplinkRx: number[]; ringFull: number; busy: number[] }

async function round(lab: NetLab, u: Host, a: Host, b: Host, steer: boolean): Promise<Round> {
  const d = new TestDaemon({ XVS_UPLINK_STEER: steer ? '1' : '0', XVS_RING_FRAMES: '1024' });
  await d.start();
  try {
    const xvs = (...args: string[]): void => {
      const r = d.xvs(...args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.err}`);
    };
    xvs('switch', 'create', SW, '--type', 'external', '--uplink', u.peer, '--workers', '2');
    xvs('port', 'add', SW, 'a', '--netdev', a.peer);
    xvs('port', 'add', SW, 'b', '--netdev', b.peer);
    const def = d.json<VmqView>('vmq', 'show', SW).queues.find((q) => q.id === 'default')?.worker ?? 0;
    xvs('port', 'set', SW, 'a', '--vmq-weight', '50', '--static-mac', a.mac);
    xvs('vmq', 'pin', SW, 'a', '--worker', String(1 - def));
    xvs('port', 'set', SW, 'b', '--vmq-weight', '50', '--static-mac', b.mac);
    xvs('vmq', 'pin', SW, 'b', '--worker', String(def));
    // the switch learns where a and b are (a static MAC is not a MAC table entry: unknown unicast would flood)
    for (const h of [a, b]) lab.exec(h, ['node', fromRoot('dist', 'src', 'test-support', 'counted-stream.js'), h.dev, '1', '1000', u.mac, h.mac]);
    for (let i = 0; i < 50 && d.json<{ mac: string }[]>('fdb', 'show', SW).filter((e) => e.mac === a.mac || e.mac === b.mac).length < 2; i++) await sleep(100);
    const rx0 = lab.rxPackets(a) + lab.rxPackets(b);
    const t0 = performance.now();
    const senders = [a, b].map((h) => lab.spawnIn(u, ['node', fromRoot('dist', 'src', 'test-support', 'counted-stream.js'), u.dev, String(frames), String(rate), h.mac, u.mac]));
    // the workers' busy % over a second in the middle of the run (vmq show samples once a second)
    await sleep(Math.min(2500, (frames / rate) * 500 + 1200));
    const busy = d.json<VmqView>('vmq', 'show', SW).workers.map((w) => w.busy);
    await Promise.all(senders.map((s) => (s.exitCode === null ? new Promise((r) => s.once('exit', r)) : undefined)));
    const seconds = (performance.now() - t0) / 1000;
    await sleep(500);
    const delivered = lab.rxPackets(a) + lab.rxPackets(b) - rx0;
    await sleep(1100); // the workers fold ring drops once a second
    const v = d.json<VmqView>('vmq', 'show', SW);
    const stats = d.json<{ ports: { name: string; drops: Record<string, number> }[] }>('stats', SW);
    const ringFull = stats.ports.find((p) => p.name === u.peer)?.drops['ring-full'] ?? 0;
    d.xvs('switch', 'delete', SW);
    return { mode: steer ? 'steer' : 'single', pps: delivered / seconds, delivered, seconds, uplinkRx: (v.uplink?.workers ?? []).map((w) => w.rxPackets), ringFull, busy };
  } finally {
    await d.destroy();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const lab = new NetLab(P);
  try {
    const u = lab.addHost(1);
    const a = lab.addHost(2);
    const b = lab.addHost(3);
    const out: Round[] = [];
    for (let i = 0; i < rounds * 2; i++) {
      const r = await round(lab, u, a, b, i % 2 === 0);
      out.push(r);
      process.stdout.write(`${r.mode.padEnd(6)} ${Math.round(r.pps).toString().padStart(8)} frames/s delivered (${r.delivered} of ${2 * frames} in ${r.seconds.toFixed(2)} s; uplink rx by worker ${r.uplinkRx.join(' / ')}; uplink ring-full ${r.ringFull}; busy % by worker ${r.busy.join(' / ')})\n`);
    }
    const m = (mode: Round['mode']): number => median(out.filter((r) => r.mode === mode).map((r) => r.pps));
    process.stdout.write(`median: steer ${Math.round(m('steer'))}, single ${Math.round(m('single'))} frames/s; steer ÷ single ${(m('steer') / m('single')).toFixed(2)}\n`);
  } finally {
    lab.destroy();
  }
}

main().catch((e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exitCode = 1; });
