/**
 * Steering on the uplink (issue 12 item 2; docs/QUEUES.md "Steering on the uplink") through the real daemon
 * and CLI: an external switch with 2 workers whose uplink is a veth into a namespace standing for the
 * underlay (u), and two VM ports (veths into namespaces a, b) with queues of their own pinned to different
 * workers. Every worker reads the uplink through its own socket and destination-MAC filter:
 *   - frames from the underlay to a VM are received by the worker of that VM's queue (the per-worker rx
 *     counters of the uplink say which), broadcast by the default-queue worker; `vmq show` says which MACs
 *     each worker's socket accepts (text and JSON): a learned MAC, a staticMacAddress;
 *   - a counted stream from the underlay to a VM while its queue is moved between the workers again and
 *     again (vmq pin): the steering follows and not one frame is lost (duplicates, if any, are counted);
 *   - a VM port in access VLAN 10 is steered by MAC@10: tagged frames to it go to its worker, untagged ones not;
 *   - a switch with one worker is not steered (one socket, no filter); a restart restores the steering.
 */
import test from 'ava';
import { fromRoot } from '../src/repo-root.js';
import { NetLab, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import type { VmqView } from '../src/vmq/switch-vmq.js';

const P = testPrefix('us');
const SW = `${P}s`;
const SW1 = `${P}t`;
let d: TestDaemon;
let lab: NetLab;
let u: Host;
let a: Host;
let b: Host;
let u1: Host;
let c: Host;
const BCAST = 'ff:ff:ff:ff:ff:ff';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const vmq = (sw = SW): VmqView => d.json<VmqView>('vmq', 'show', sw);
const queueWorker = (v: VmqView, id: string): number => {
  const q = v.queues.find((x) => x.id === id);
  if (!q) throw new Error(`no queue ${id}`);
  return q.worker;
};
/** the uplink's rx frames per worker */
const uplinkRx = (): number[] => (vmq().uplink?.workers ?? []).map((w) => w.rxPackets);

async function until(fn: () => boolean, ms = 15_000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (fn()) return true;
    await sleep(100);
  }
  return fn();
}

function send(from: Host, count: number, rate: number, dst: string, src: string): void {
  const out = lab.exec(from, ['node', fromRoot('dist', 'src', 'test-support', 'counted-stream.js'), from.dev, String(count), String(rate), dst, src], { timeout: 120_000 });
  if (!out.includes(`sent ${count}`)) throw new Error(`sent: ${out}`);
}

function stream(from: Host, count: number, rate: number, dst: string, src: string): ReturnType<NetLab['spawnIn']> {
  return lab.spawnIn(from, ['node', fromRoot('dist', 'src', 'test-support', 'counted-stream.js'), from.dev, String(count), String(rate), dst, src]);
}

async function exited(p: ReturnType<NetLab['spawnIn']>): Promise<string> {
  let text = '';
  p.stdout?.on('data', (x: Buffer) => { text += x.toString(); });
  p.stderr?.on('data', (x: Buffer) => { text += x.toString(); });
  if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
  return text;
}

/** the default queue's worker and the other one */
let def = 0;
let other = 1;

test.before(async () => {
  lab = new NetLab(P);
  u = lab.addHost(1);
  a = lab.addHost(2);
  b = lab.addHost(3);
  u1 = lab.addHost(4);
  c = lab.addHost(5);
  d = new TestDaemon({ XVS_RING_FRAMES: '1024' });
  await d.start();
  for (const args of [
    ['switch', 'create', SW, '--type', 'external', '--uplink', u.peer, '--workers', '2'],
    ['port', 'add', SW, 'a', '--netdev', a.peer],
    ['port', 'add', SW, 'b', '--netdev', b.peer],
    ['switch', 'create', SW1, '--type', 'external', '--uplink', u1.peer, '--workers', '1'],
  ]) {
    const r = d.xvs(...args);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.err}`);
  }
  def = queueWorker(vmq(), 'default');
  other = 1 - def;
  // a: a queue on the worker that does not read the default queue, its MAC learned; b: a queue on the
  // default-queue worker, with a static MAC
  for (const args of [
    ['port', 'set', SW, 'a', '--vmq-weight', '50'],
    ['vmq', 'pin', SW, 'a', '--worker', String(other)],
    ['port', 'set', SW, 'b', '--vmq-weight', '50', '--static-mac', b.mac],
    ['vmq', 'pin', SW, 'b', '--worker', String(def)],
  ]) {
    const r = d.xvs(...args);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.err}`);
  }
});

test.after.always(async () => {
  if (d?.running) { d.xvs('switch', 'delete', SW); d.xvs('switch', 'delete', SW1); }
  await d?.destroy();
  lab?.destroy();
});

test.serial('frames from the underlay are received by the worker of their VM\'s queue, broadcast by the default-queue worker; vmq show says who accepts what', async (t) => {
  t.is(queueWorker(vmq(), 'default'), def, 'the default queue stayed where it was');
  // before a has sent anything its MAC is unknown: nothing is steered to the other worker
  t.like(vmq().uplink, { port: u.peer, steered: true });
  t.like(vmq().uplink?.workers[other], { accepts: 'none', macs: [] });
  send(a, 1, 1000, u.mac, a.mac); // teaches the switch a's MAC on port a
  t.true(await until(() => vmq().uplink?.workers[other].accepts === 'only'), 'the learned MAC reached the filter');
  let v = vmq();
  t.deepEqual(v.uplink?.workers[other], { worker: other, accepts: 'only', macs: [a.mac], rxPackets: v.uplink?.workers[other].rxPackets });
  t.like(v.uplink?.workers[def], { accepts: 'all-except', macs: [a.mac] });
  const text = d.xvs('vmq', 'show', SW).out;
  t.log(text);
  t.regex(text, /uplink \S+: steered by destination MAC/);
  t.regex(text, new RegExp(`^\\s*${other}\\s+\\d+\\s+only ${a.mac}$`, 'm'));
  t.regex(text, new RegExp(`^\\s*${def}\\s+\\d+\\s+all except ${a.mac}$`, 'm'));

  const N = 2000;
  const aRx = lab.rxPackets(a);
  const bRx = lab.rxPackets(b);
  let rx0 = uplinkRx();
  send(u, N, 5000, a.mac, u.mac);
  t.true(await until(() => lab.rxPackets(a) - aRx >= N), 'a got the stream');
  let rx1 = uplinkRx();
  t.is(rx1[other] - rx0[other], N, `every frame to a was received by worker ${other} (a's queue)`);
  t.true(rx1[def] - rx0[def] < N, `worker ${def} received ${rx1[def] - rx0[def]} frames (strays), not the stream`);
  t.is(lab.rxPackets(a) - aRx, N, 'a got each frame once');

  // b's queue is on the default-queue worker: its frames are that worker's anyway
  rx0 = uplinkRx();
  send(u, N, 5000, b.mac, u.mac);
  t.true(await until(() => lab.rxPackets(b) - bRx >= N), 'b got the stream');
  rx1 = uplinkRx();
  t.is(rx1[def] - rx0[def], N, `frames to b were received by worker ${def}`);
  t.is(rx1[other] - rx0[other], 0, `worker ${other} received none of them`);

  // broadcast: the default-queue worker; flooded to both VMs
  rx0 = uplinkRx();
  const aB = lab.rxPackets(a);
  send(u, 200, 5000, BCAST, u.mac);
  t.true(await until(() => lab.rxPackets(a) - aB >= 200));
  rx1 = uplinkRx();
  t.is(rx1[def] - rx0[def], 200, 'broadcast: the default-queue worker');
  t.is(rx1[other] - rx0[other], 0);

  // and ARP + ping across it (a's IP is in u's subnet)
  const ping = lab.exec(u, ['ping', '-c', '3', '-i', '0.2', '-W', '2', a.ip], { allowFail: true });
  t.regex(ping, /3 received/, ping);

  // b's queue moves to the other worker: its static MAC goes with it
  t.is(d.xvs('vmq', 'pin', SW, 'b', '--worker', String(other)).code, 0);
  v = vmq();
  t.deepEqual(v.uplink?.workers[other].macs, [a.mac, b.mac].sort(), 'b\'s staticMacAddress is steered to its new worker at once');
  t.deepEqual(v.uplink?.workers[def].macs, [a.mac, b.mac].sort());
  rx0 = uplinkRx();
  const bRx2 = lab.rxPackets(b);
  send(u, N, 5000, b.mac, u.mac);
  t.true(await until(() => lab.rxPackets(b) - bRx2 >= N));
  rx1 = uplinkRx();
  t.is(rx1[other] - rx0[other], N, `frames to b now received by worker ${other}`);
  t.is(d.xvs('vmq', 'pin', SW, 'b', '--worker', String(def)).code, 0);
  t.log(d.xvs('vmq', 'show', SW).out);
});

test.serial('a counted stream from the underlay while the VM\'s queue moves between the workers again and again: the steering follows, no frame is lost', async (t) => {
  send(a, 1, 1000, u.mac, a.mac); // a's MAC learned (also when this test runs alone)
  t.true(await until(() => d.json<{ mac: string; port: string }[]>('fdb', 'show', SW).some((e) => e.mac === a.mac && e.port === 'a')));
  const N = 60_000;
  const aRx = lab.rxPackets(a);
  const rx0 = uplinkRx();
  const s = stream(u, N, 5000, a.mac, u.mac);
  const done = exited(s);
  const owners: number[] = [];
  /** per step: the worker a's queue was pinned to, and what each worker received in a window with no move in it */
  const during: { worker: number; rx: number[] }[] = [];
  for (let i = 0; s.exitCode === null && i < 24; i++) {
    const target = i % 2 === 0 ? def : other;
    const r = d.xvs('vmq', 'pin', SW, 'a', '--worker', String(target));
    t.is(r.code, 0, r.err);
    const v = vmq();
    owners.push(queueWorker(v, 'a'));
    t.deepEqual(v.uplink?.workers[other].macs, target === def ? [] : [a.mac], 'the filters follow the queue');
    const before = (v.uplink?.workers ?? []).map((w) => w.rxPackets);
    await sleep(400);
    during.push({ worker: target, rx: uplinkRx().map((n, w) => n - before[w]) });
  }
  t.regex(await done, new RegExp(`sent ${N}`));
  const arrived = await until(() => lab.rxPackets(a) - aRx >= N);
  const got = lab.rxPackets(a) - aRx;
  const rx1 = uplinkRx();
  const took = rx1.map((x, w) => x - rx0[w]);
  t.log(`a's queue on worker ${owners.join(' ')}; uplink rx per worker during each step: ${during.map((x) => `[w${x.worker}: ${x.rx.join('/')}]`).join(' ')}`);
  t.log(`sent ${N}, a received ${got} (${got - N} twice), uplink rx by worker ${took.join(' + ')} = ${took[0] + took[1]}`);
  t.true(owners.filter((w, i) => i === 0 || w !== owners[i - 1]).length >= 4, 'the queue moved at least 3 times during the stream');
  t.true(arrived, `a got ${got} of ${N}: none lost`);
  t.true(took[def] > 0 && took[other] > 0, 'both workers received part of the stream');
  // between two moves the queue's worker receives the stream (the other only what its ring held at the move)
  const settled = during.filter((x) => x.rx[x.worker] + x.rx[1 - x.worker] > 100);
  t.true(settled.every((x) => x.rx[x.worker] > x.rx[1 - x.worker]), 'each step: the queue\'s worker received most of the stream');
});

test.serial('one worker: not steered (one socket, no filter); the text says why', async (t) => {
  const v = vmq(SW1);
  t.like(v.uplink, { port: u1.peer, steered: false, reason: 'one worker' });
  t.deepEqual(v.uplink?.workers.map((w) => w.accepts), ['all']);
  t.regex(d.xvs('vmq', 'show', SW1).out, /not steered \(one worker\)/);
});

/** `count` 64-byte frames dst ← src from host h, tagged with `vlan` (0: untagged), EtherType 0x88b5 */
function sendTagged(h: Host, count: number, dst: string, src: string, vlan: number): void {
  const hex = (m: string): string => m.replace(/:/g, '');
  const tag = vlan ? `8100${vlan.toString(16).padStart(4, '0')}` : '';
  const frame = `${hex(dst)}${hex(src)}${tag}88b5`.padEnd(128, '0');
  const out = lab.exec(h, ['node', fromRoot('dist', 'src', 'test-support', 'send-frames.js'), h.dev, String(count), `hex:${frame}`], { timeout: 60_000 });
  if (!out.includes(`sent ${count}`)) throw new Error(`sent: ${out}`);
}

test.serial('a VM port in access VLAN 10: its learned MAC is steered with the VLAN (tagged frames to it go to its worker, untagged ones do not)', async (t) => {
  for (const args of [
    ['port', 'add', SW, 'c', '--netdev', c.peer],
    ['port', 'set', SW, 'c', '--vmq-weight', '50'],
    ['vmq', 'pin', SW, 'c', '--worker', String(other)],
    ['port', 'vlan', SW, 'c', '--access', '--vlan-id', '10'],
  ]) {
    const r = d.xvs(...args);
    t.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
  }
  send(c, 1, 1000, u.mac, c.mac); // learned on c in VLAN 10
  t.true(await until(() => (vmq().uplink?.workers[other].macs ?? []).includes(`${c.mac}@10`)), 'c\'s MAC is steered as MAC@10');
  t.true((vmq().uplink?.workers[def].macs ?? []).includes(`${c.mac}@10`));
  let rx0 = uplinkRx();
  const cRx = lab.rxPackets(c);
  sendTagged(u, 500, c.mac, u.mac, 10);
  t.true(await until(() => lab.rxPackets(c) - cRx >= 500), 'c got the tagged frames (untagged by its access port)');
  let rx1 = uplinkRx();
  t.is(rx1[other] - rx0[other], 500, `tagged VLAN 10 frames to c: worker ${other}`);
  t.is(rx1[def] - rx0[def], 0);
  // the same MAC untagged (VLAN 0) is not c's: the default-queue worker takes it, and c does not get it
  rx0 = uplinkRx();
  sendTagged(u, 200, c.mac, u.mac, 0);
  t.true(await until(() => uplinkRx()[def] - rx0[def] >= 200));
  rx1 = uplinkRx();
  t.is(rx1[other] - rx0[other], 0, 'untagged frames to c\'s MAC are not steered');
  t.is(lab.rxPackets(c) - cRx, 500, 'and do not reach c (another VLAN)');
  t.is(d.xvs('port', 'remove', SW, 'c').code, 0);
  t.true(await until(() => !(vmq().uplink?.workers[other].macs ?? []).includes(`${c.mac}@10`)), 'a removed port\'s MAC is no longer steered');
});

test.serial('after a daemon restart the steering is back (static MAC from the saved configuration)', async (t) => {
  t.is(d.xvs('vmq', 'pin', SW, 'b', '--worker', String(other)).code, 0);
  await d.stop();
  await d.start();
  t.true(await until(() => d.xvs('vmq', 'show', SW).code === 0 && (vmq().uplink?.workers[other].macs ?? []).includes(b.mac)), 'b\'s MAC steered to its worker again');
  const rx0 = uplinkRx();
  const bRx = lab.rxPackets(b);
  send(u, 500, 5000, b.mac, u.mac);
  t.true(await until(() => lab.rxPackets(b) - bRx >= 500));
  const rx1 = uplinkRx();
  t.is(rx1[other] - rx0[other], 500);
});
