/**
 * VMQ queues and workers (issue 12 items 1, 3, 4) on real namespaces through the real daemon and CLI, a
 * switch with 2 data-path workers and four veth ports a, b, c, d:
 *   - `switch set --cpus` pins each worker thread: /proc/<daemon>/task/<worker tid>/status
 *     Cpus_allowed_list says so, in place, after a daemon restart, and unpinned again with "none";
 *   - `port set --vmq-weight` gives a port its own queue, `vmq pin` puts it on a worker (or the
 *     worker of a CPU), `vmq show` lists queues, workers, CPUs, pps and busy %; bad values name the field;
 *   - a MAC moving between two ports read by worker 1, with frames to it forwarded by worker 0: once
 *     the shared MAC table says where it is, not one frame goes to the port it left;
 *   - a counted stream from a port whose rx socket is moved between the workers again and again
 *     (vmq pin, vmq rebalance) arrives whole: every frame once, no ring-full drop;
 *   - automatic rebalancing (XVS_VMQ_AUTO_LB): two streams whose queues share worker 0 while worker 1
 *     idles are split over the two workers by the daemon itself, and both arrive whole.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../src/repo-root.js';
import { NetLab, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import type { VmqView, RebalanceResult } from '../src/vmq/switch-vmq.js';

const P = testPrefix('vq');
const SW = `${P}s`;
/** the MAC that moves between ports b and c */
const X = '02:aa:00:00:00:01';
let d: TestDaemon;
let lab: NetLab;
const hosts: Record<'a' | 'b' | 'c' | 'd', Host> = {} as Record<'a' | 'b' | 'c' | 'd', Host>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const vmq = (): VmqView => d.json<VmqView>('vmq', 'show', SW);
const queue = (v: VmqView, id: string): VmqView['queues'][number] => {
  const q = v.queues.find((x) => x.id === id);
  if (!q) throw new Error(`no queue ${id} in ${JSON.stringify(v.queues)}`);
  return q;
};

/** Cpus_allowed_list of thread `tid` of process `pid` */
function cpusAllowed(pid: number, tid: number | 'main'): string {
  const file = tid === 'main' ? `/proc/${pid}/status` : `/proc/${pid}/task/${tid}/status`;
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`no Cpus_allowed_list in ${file}`);
  return m[1];
}

interface PortCounters { name: string; rxPackets: number; txPackets: number; txErrors: number; drops: Record<string, number> }

const daemonPid = (): number => d.json<{ pid: number }>('daemon', 'status').pid;

function stream(from: Host, count: number, rate: number, dst: string, src: string): ReturnType<NetLab['spawnIn']> {
  return lab.spawnIn(from, ['node', fromRoot('dist', 'src', 'test-support', 'counted-stream.js'), from.dev, String(count), String(rate), dst, src]);
}

function send(from: Host, count: number, dst: string, src: string): void {
  const out = lab.exec(from, ['node', fromRoot('dist', 'src', 'test-support', 'counted-stream.js'), from.dev, String(count), '20000', dst, src], { timeout: 60_000 });
  if (!out.includes(`sent ${count}`)) throw new Error(`sent: ${out}`);
}

async function exited(p: ReturnType<NetLab['spawnIn']>): Promise<string> {
  let text = '';
  p.stdout?.on('data', (b: Buffer) => { text += b.toString(); });
  p.stderr?.on('data', (b: Buffer) => { text += b.toString(); });
  if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
  return text;
}

/** frames the kernel's per-CPU input backlogs dropped, all CPUs (/proc/net/softnet_stat, 2nd column) */
function softnetDropped(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').reduce((n, l) => n + parseInt(l.split(/\s+/)[1], 16), 0);
}

/** wait until `fn` holds (checked every 100 ms, at most `ms`) */
async function until(fn: () => boolean, ms = 15_000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (fn()) return true;
    await sleep(100);
  }
  return fn();
}

test.before(async () => {
  lab = new NetLab(P);
  (['a', 'b', 'c', 'd'] as const).forEach((n, i) => { hosts[n] = lab.addHost(i + 1); });
  // rings of 1024 frames: a shared 2-core machine may stall a worker for a while; the moves never need them
  // automatic rebalancing at 1 % busy: a worker that receives a stream at all triggers it (last test)
  d = new TestDaemon({ XVS_RING_FRAMES: '1024', XVS_VMQ_AUTO_LB: '1' });
  await d.start();
  const r = d.xvs('switch', 'create', SW, '--type', 'private', '--workers', '2');
  if (r.code !== 0) throw new Error(r.err);
  for (const n of ['a', 'b', 'c', 'd'] as const) {
    const p = d.xvs('port', 'add', SW, n, '--netdev', hosts[n].peer);
    if (p.code !== 0) throw new Error(p.err);
  }
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

test.serial('switch set --cpus pins every worker thread (Cpus_allowed_list), in place, across a restart, and "none" unpins', async (t) => {
  let pid = daemonPid();
  const all = cpusAllowed(pid, 'main');
  const tids = (): number[] => vmq().workers.map((w) => w.tid);
  const before = tids();
  t.is(before.length, 2);
  for (const tid of before) t.is(cpusAllowed(pid, tid), all, 'not pinned before');

  const r = d.xvs('switch', 'set', SW, '--cpus', '0,1');
  t.is(r.code, 0, r.err);
  t.deepEqual(before.map((tid) => cpusAllowed(pid, tid)), ['0', '1']);
  t.deepEqual(tids(), before, 'the same threads were re-pinned (no restart)');
  t.deepEqual(vmq().workers.map((w) => w.cpu), [0, 1]);
  t.regex(d.xvs('switch', 'set', SW, '--cpus', '0,1').out, /unchanged/);

  t.is(d.xvs('switch', 'set', SW, '--cpus', '1,0').code, 0);
  t.deepEqual(before.map((tid) => cpusAllowed(pid, tid)), ['1', '0']);
  const saved = JSON.parse(readFileSync(d.conf, 'utf8')) as { switches: { name: string; cpus?: number[] }[] };
  t.deepEqual(saved.switches.find((s) => s.name === SW)?.cpus, [1, 0], 'persisted in the switch configuration');

  await d.stop();
  await d.start();
  t.true(await until(() => d.xvs('vmq', 'show', SW).code === 0), 'the switch is back');
  pid = daemonPid();
  const after = tids();
  t.notDeepEqual(after, before, 'new threads');
  t.deepEqual(after.map((tid) => cpusAllowed(pid, tid)), ['1', '0'], 'restored at start');
  t.like(vmq(), { cpus: [1, 0], cpusFrom: 'config' });

  const offline = d.xvs('switch', 'set', SW, '--cpus', '0,1023');
  t.is(offline.code, 1);
  t.regex(offline.err, /params\.cpus\[1\]: CPU 1023 is not online/);
  const twice = d.xvs('switch', 'set', SW, '--cpus', '0,0');
  t.regex(twice.err, /params\.cpus\[1\]: CPU 0 is listed twice/);

  t.is(d.xvs('switch', 'set', SW, '--cpus', 'none').code, 0);
  t.deepEqual(after.map((tid) => cpusAllowed(pid, tid)), [all, all], 'unpinned');
  t.is(d.xvs('switch', 'set', SW, '--cpus', '0,1').code, 0);
  t.deepEqual(after.map((tid) => cpusAllowed(pid, tid)), ['0', '1']);
});

test.serial('vmq weights give ports queues of their own; pins by worker or CPU; vmq show; bad values name the field', async (t) => {
  for (const [n, w] of [['a', '50'], ['b', '20'], ['c', '20']] as const) {
    const r = d.xvs('port', 'set', SW, n, '--vmq-weight', w);
    t.is(r.code, 0, r.err);
  }
  const v = vmq();
  t.deepEqual(v.queues.map((q) => [q.id, q.weight, q.ports]), [['default', 0, ['d']], ['a', 50, ['a']], ['b', 20, ['b']], ['c', 20, ['c']]]);
  // with nothing measured yet, queues are spread by count
  t.deepEqual([0, 1].map((w) => v.queues.filter((q) => q.worker === w).length), [2, 2]);

  const big = d.xvs('port', 'set', SW, 'a', '--vmq-weight', '101');
  t.is(big.code, 1);
  t.regex(big.err, /params\.vmqWeight: expected an integer in 0\.\.100, got 101/);
  const noQueue = d.xvs('vmq', 'pin', SW, 'd', '--worker', '1');
  t.is(noQueue.code, 1);
  t.regex(noQueue.err, /ports\.d\.vmqPin: the port has no queue of its own/);
  const noCpu = d.xvs('vmq', 'pin', SW, 'a', '5');
  t.regex(noCpu.err, /ports\.a\.vmqPin: no worker is pinned to CPU 5 \(worker 0 on CPU 0, worker 1 on CPU 1\)/);
  const noWorker = d.xvs('vmq', 'pin', SW, 'a', '--worker', '2');
  t.regex(noWorker.err, /ports\.a\.vmqPin: the switch has 2 worker\(s\) \(0\.\.1\), not worker 2/);

  t.is(d.xvs('vmq', 'pin', SW, 'a', '--worker', '0').code, 0);
  t.is(d.xvs('vmq', 'pin', SW, 'b', '--worker', '1').code, 0);
  const byCpu = d.xvs('vmq', 'pin', SW, 'c', '1');
  t.is(byCpu.code, 0, byCpu.err);
  const p = vmq();
  t.like(queue(p, 'a'), { worker: 0, cpu: 0, pin: { worker: 0 } });
  t.like(queue(p, 'b'), { worker: 1, cpu: 1 });
  t.like(queue(p, 'c'), { worker: 1, cpu: 1, pin: { cpu: 1 } });
  t.deepEqual(p.workers.find((w) => w.index === 1)?.queues.filter((q) => q !== 'default'), ['b', 'c']);

  const saved = JSON.parse(readFileSync(d.conf, 'utf8')) as { switches: { name: string; ports: { name: string; vmqWeight?: number; vmqPin?: object }[] }[] };
  const ports = saved.switches.find((s) => s.name === SW)?.ports ?? [];
  t.like(ports.find((x) => x.name === 'c'), { vmqWeight: 20, vmqPin: { cpu: 1 } });

  const text = d.xvs('vmq', 'show', SW);
  t.log(text.out);
  t.regex(text.out, /QUEUE\s+WEIGHT\s+PIN\s+WORKER\s+CPU\s+PPS\s+BUSY%\s+PORTS/);
  t.regex(text.out, /^c\s+20\s+cpu 1\s+1\s+1\s/m);
  t.regex(d.xvs('port', 'show', SW, 'c').out, /vmq:\s+weight 20, pinned to cpu 1/);

  // restored at start: the same queues on the same workers
  await d.stop();
  await d.start();
  t.true(await until(() => d.xvs('vmq', 'show', SW).code === 0 && vmq().queues.length === 4), 'the switch is back');
  const r = vmq();
  // pinned queues where they were; unpinned ones (the default queue) are placed again by load and count
  t.deepEqual(r.queues.map((q) => [q.id, q.weight, q.ports]), p.queues.map((q) => [q.id, q.weight, q.ports]));
  t.deepEqual(['a', 'b', 'c'].map((id) => queue(r, id).worker), [0, 1, 1]);
  t.like(queue(r, 'c'), { pin: { cpu: 1 }, cpu: 1 });
});

test.serial('a MAC moving between two ports of worker 1, sent to by worker 0: no frame goes to the port it left once the table has the move', async (t) => {
  const { a, b, c } = hosts;
  const v = vmq();
  t.is(queue(v, 'a').worker, 0);
  t.is(queue(v, 'b').worker, 1);
  t.is(queue(v, 'c').worker, 1, 'b and c (the learning side) on worker 1, a (the forwarding side) on worker 0');
  for (const n of ['b', 'c']) t.is(d.xvs('port', 'set', SW, n, '--mac-address-spoofing', 'on').code, 0);
  send(a, 1, 'ff:ff:ff:ff:ff:ff', a.mac); // a is learned: X's frames to a go nowhere else
  const K = 300;
  const fdbPort = (): string | undefined => d.json<{ mac: string; port: string }[]>('fdb', 'show', SW).find((e) => e.mac === X)?.port;
  for (let round = 0; round < 8; round++) {
    const [to, from] = round % 2 === 0 ? [b, c] : [c, b];
    const toName = round % 2 === 0 ? 'b' : 'c';
    send(to, 1, a.mac, X); // X now speaks from `to`: learned there by worker 1
    t.true(await until(() => fdbPort() === toName), `round ${round}: the table has X on ${toName}`);
    const toBefore = lab.rxPackets(to);
    const fromBefore = lab.rxPackets(from);
    const dBefore = lab.rxPackets(hosts.d);
    send(a, K, X, a.mac); // forwarded by worker 0
    t.true(await until(() => lab.rxPackets(to) - toBefore >= K), `round ${round}: ${toName} got ${lab.rxPackets(to) - toBefore} of ${K}`);
    await sleep(200); // anything still on its way to a stale port would arrive now
    t.is(lab.rxPackets(to) - toBefore, K, `round ${round}: every frame to X reached ${toName}, once`);
    t.is(lab.rxPackets(from) - fromBefore, 0, `round ${round}: none went to the port X left`);
    t.is(lab.rxPackets(hosts.d) - dBefore, 0, `round ${round}: none was flooded`);
  }
});

test.serial('a counted stream from a port moved between workers again and again arrives whole (vmq pin, vmq rebalance)', async (t) => {
  const { a, c } = hosts;
  // on its own too: a has a queue, X sits behind c
  for (const args of [['a', '--vmq-weight', '50'], ['c', '--mac-address-spoofing', 'on']]) t.is(d.xvs('port', 'set', SW, ...args).code, 0);
  send(c, 1, a.mac, X);
  t.true(await until(() => d.json<{ mac: string; port: string }[]>('fdb', 'show', SW).some((e) => e.mac === X && e.port === 'c')));
  const N = 60_000;
  const stats = (): { ports: PortCounters[] } => d.json('stats', SW);
  const rxA = (): number => stats().ports.find((p) => p.name === 'a')?.rxPackets ?? 0;
  const cBefore = lab.rxPackets(c);
  const backlogBefore = softnetDropped();
  const aRxBefore = rxA();
  const vethDropped = (): number => Number(readFileSync(`/sys/class/net/${c.peer}/statistics/tx_dropped`, 'utf8'));
  const vethBefore = vethDropped();
  const cTx = (): number => stats().ports.find((p) => p.name === 'c')?.txPackets ?? 0;
  const cTxBefore = cTx();
  const s = stream(a, N, 5000, X, a.mac);
  const done = exited(s);
  let moves = 0;
  let sawLoad = false;
  const workers: number[] = [];
  for (let i = 0; s.exitCode === null && i < 12; i++) {
    const target = i % 2 === 0 ? 1 : 0;
    const r = i % 4 === 3
      ? d.xvs('vmq', 'unpin', SW, 'a')
      : d.xvs('vmq', 'pin', SW, 'a', '--worker', String(target));
    t.is(r.code, 0, r.err);
    if (i % 4 === 3) {
      const rb = d.json<RebalanceResult>('vmq', 'rebalance', SW);
      moves += rb.moves.length;
    }
    const q = queue(vmq(), 'a');
    if (q.pps > 0) sawLoad = true;
    workers.push(q.worker);
    await sleep(150);
  }
  t.regex(await done, new RegExp(`sent ${N}`));
  const distinct = workers.filter((w, i) => i === 0 || w !== workers[i - 1]).length;
  t.log(`worker of a's queue after each step: ${workers.join(' ')} (${moves} moves by rebalance)`);
  t.log(`rx ring unread during the moves (ms): ${[...d.log.matchAll(/unread for at most ([\d.]+) ms/g)].map((m) => m[1]).join(' ')}`);
  t.true(distinct >= 4, `a's rx socket changed worker ${distinct - 1} times during the stream`);
  t.true(sawLoad, 'vmq show measured the stream (pps > 0) while it ran');
  const arrived = await until(() => lab.rxPackets(c) - cBefore >= N);
  await sleep(1500); // the workers fold their kernel drop counters once a second
  const st = stats().ports.filter((p) => p.name === 'a' || p.name === 'c');
  const dev = (h: Host, what: string): string => lab.exec(h, ['cat', `/sys/class/net/${h.dev}/statistics/${what}`]).trim();
  t.log(`switch: ${JSON.stringify(st)}; a's NIC tx ${dev(a, 'tx_packets')} tx_dropped ${dev(a, 'tx_dropped')}; c's NIC rx ${dev(c, 'rx_packets')} rx_dropped ${dev(c, 'rx_dropped')}`);
  // frames the host's per-CPU input backlog dropped (machine-wide, any sender) never reached a socket: not the switch's
  const backlog = softnetDropped() - backlogBefore;
  const took = rxA() - aRxBefore;
  t.is(cTx() - cTxBefore, took, 'every frame the switch received went out once (none lost, none twice)');
  t.is(lab.rxPackets(c) - cBefore + (vethDropped() - vethBefore), took, 'and reached c, but for what the kernel dropped after the switch (veth tx_dropped)');
  if (backlog === 0) {
    t.true(arrived, `c got ${lab.rxPackets(c) - cBefore} of ${N}`);
    t.is(took, N, 'the switch received every frame sent');
  } else {
    t.true(N - took <= backlog, `the switch received ${took} of ${N}; the host's input backlog dropped ${backlog} frames machine-wide`);
  }
  const drops = stats().ports.find((p) => p.name === 'a')?.drops ?? {};
  t.is(drops['ring-full'] ?? 0, 0, 'no rx ring overflowed');
});

test.serial('automatic rebalancing: two busy queues on worker 0, worker 1 idle: the daemon splits them, and both streams arrive whole', async (t) => {
  const { a, b, c } = hosts;
  const dh = hosts.d;
  for (const args of [['a', '--vmq-weight', '50'], ['b', '--vmq-weight', '20']]) t.is(d.xvs('port', 'set', SW, ...args).code, 0);
  // both on worker 0, then unpinned: they stay there until something moves them
  for (const n of ['a', 'b']) t.is(d.xvs('vmq', 'pin', SW, n, '--worker', '0').code, 0);
  for (const n of ['a', 'b']) t.is(d.xvs('vmq', 'unpin', SW, n).code, 0);
  const v0 = vmq();
  t.deepEqual([queue(v0, 'a').worker, queue(v0, 'b').worker], [0, 0]);
  send(dh, 1, a.mac, dh.mac); // d is learned: b's stream goes to d alone
  send(c, 1, a.mac, X); // X behind c: a's stream goes to c alone
  const N = 75_000;
  const cBefore = lab.rxPackets(c);
  const dBefore = lab.rxPackets(dh);
  const backlogBefore = softnetDropped();
  const sw0 = d.json<{ ports: PortCounters[] }>('stats', SW).ports;
  const swBefore = Object.fromEntries(sw0.map((p) => [p.name, p])) as Record<'a' | 'b' | 'c' | 'd', PortCounters>;
  const vethBefore = new Map([c, dh].map((h) => [h.peer, Number(readFileSync(`/sys/class/net/${h.peer}/statistics/tx_dropped`, 'utf8'))]));
  const autoLines = (): number => (d.log.match(/vmq automatic rebalance \(a worker ≥ 1% busy\): \d+ queue\(s\) moved/g) ?? []).length;
  const autoBefore = autoLines();
  // 5 000 frames/s each (10 000/s on worker 0 together): the 1024-frame rings hold 200 ms, so a worker the
  // shared 2-core machine leaves unscheduled for a while does not overflow; the test polls gently for the same reason
  const sa = exited(stream(a, N, 5000, X, a.mac));
  const sb = exited(stream(b, N, 5000, dh.mac, b.mac));
  let split = false;
  for (let i = 0; i < 30 && !split; i++) {
    await sleep(500);
    const v = vmq();
    split = queue(v, 'a').worker !== queue(v, 'b').worker;
  }
  const v1 = vmq();
  t.log(`after: a on worker ${queue(v1, 'a').worker} (${queue(v1, 'a').pps} pps), b on worker ${queue(v1, 'b').worker}; workers busy ${v1.workers.map((w) => `${w.busy}%`).join(' ')}`);
  t.true(split, 'the two busy queues went to different workers');
  t.true(await until(() => autoLines() > autoBefore, 5000), 'the daemon logged its automatic rebalance');
  t.regex(await sa, new RegExp(`sent ${N}`));
  t.regex(await sb, new RegExp(`sent ${N}`));
  await until(() => lab.rxPackets(c) - cBefore >= N && lab.rxPackets(dh) - dBefore >= N);
  await sleep(1500); // the workers fold their kernel drop counters once a second
  const backlog = softnetDropped() - backlogBefore;
  const got = [lab.rxPackets(c) - cBefore, lab.rxPackets(dh) - dBefore];
  const st = d.json<{ ports: PortCounters[] }>('stats', SW);
  const of = (n: string): PortCounters => st.ports.find((p) => p.name === n)!;
  const vethDropped = [c, dh].map((h) => Number(readFileSync(`/sys/class/net/${h.peer}/statistics/tx_dropped`, 'utf8')) - (vethBefore.get(h.peer) ?? 0));
  t.log(`received ${got.join(', ')} of ${N}; switch rx a ${of('a').rxPackets - swBefore.a.rxPackets}, b ${of('b').rxPackets - swBefore.b.rxPackets}; ` +
    `tx c ${of('c').txPackets - swBefore.c.txPackets}, d ${of('d').txPackets - swBefore.d.txPackets}; drops a ${JSON.stringify(of('a').drops)} b ${JSON.stringify(of('b').drops)}; ` +
    `kernel after the switch (veth tx_dropped) ${vethDropped.join(', ')}; host input backlog ${backlog}; ` +
    `rx ring unread during the last move: ${[...d.log.matchAll(/unread for at most ([\d.]+) ms/g)].slice(-1).map((m) => m[1]).join('')} ms`);
  for (const n of ['a', 'b'] as const) t.is(of(n).drops['ring-full'] ?? 0, 0, `no ring-full drop on ${n}`);
  // what the switch took in went out once, each stream to its one port, nothing lost in the switch
  t.is(of('c').txPackets - swBefore.c.txPackets, of('a').rxPackets - swBefore.a.rxPackets, 'every frame a sent went out to c once');
  t.is(of('d').txPackets - swBefore.d.txPackets, of('b').rxPackets - swBefore.b.rxPackets, 'every frame b sent went out to d once');
  t.is(of('c').txErrors + of('d').txErrors, swBefore.c.txErrors + swBefore.d.txErrors, 'no tx error');
  if (backlog === 0) t.deepEqual([of('a').rxPackets - swBefore.a.rxPackets, of('b').rxPackets - swBefore.b.rxPackets], [N, N], 'the switch took in every frame');
  // the receivers got it all, but for what the kernel dropped between the switch's tx socket and the namespace
  t.deepEqual(got.map((n, i) => n + vethDropped[i]), [of('c').txPackets - swBefore.c.txPackets, of('d').txPackets - swBefore.d.txPackets]);
});
