/**
 * Bandwidth policy: token bucket arithmetic, the weighted fair share (with work conservation), the
 * policy on the real data path (in-process switch, a clock the test drives), and no allocation per
 * frame. The rates on real traffic are checked by test/bandwidth.test.ts with iperf3.
 */
import test from 'ava';
import { MAX_FRAME } from '../../core/frame-pool.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import { udpFrame } from '../../test-support/frames.js';
import { PolicyCounters, PPF } from '../counters.js';
import type { PolicyPort } from '../runtime.js';
import { weightedFairShare } from './fair-share.js';
import { PortBuckets } from './token-bucket.js';
import { bandwidthClock, bandwidthModule, bucketDepth, DEFAULT_BURST_SECONDS, GROWTH, MIN_BURST_BYTES, TICK } from './index.js';
import { validateConfig, validatePort } from '../../config/schema.js';
import { METHODS } from '../../control/protocol.js';

let clock = 100;
bandwidthClock.now = () => clock;

test('token bucket: starts full, takes what fits, refills at its rate up to its depth', (t) => {
  const b = new PortBuckets();
  b.set(3, 1000, 5000, 10, true);
  t.true(b.take(3, 5000));
  t.false(b.take(3, 1));
  b.fill(3, 10.5);
  t.is(b.tokens[3], 500);
  t.false(b.take(3, 501));
  t.true(b.take(3, 500));
  b.fill(3, 100);
  t.is(b.tokens[3], 5000, 'capped at the depth');
  b.fill(3, 99); // a clock that goes back adds nothing
  t.is(b.tokens[3], 5000);
  b.set(3, 2000, 1000, 100, false);
  t.is(b.tokens[3], 1000, 'a smaller depth caps the tokens held');
});

test('bucket depth: the default holds DEFAULT_BURST_SECONDS of the rate, at least four 64 KiB frames; a configured burst is kept unless below one frame', (t) => {
  t.is(bucketDepth(125_000, undefined), MIN_BURST_BYTES);
  t.is(bucketDepth(12_500_000, undefined), 12_500_000 * DEFAULT_BURST_SECONDS);
  t.is(bucketDepth(12_500_000, 1_000_000), 1_000_000);
  t.is(bucketDepth(12_500_000, 1500), MAX_FRAME);
  t.is(bucketDepth(125_000, 0), MIN_BURST_BYTES);
});

function share(weights: number[], demands: number[], capacity: number): number[] {
  const n = weights.length;
  const out = new Float64Array(n);
  weightedFairShare(n, Float64Array.from(weights), Float64Array.from(demands), capacity, out, new Uint8Array(n));
  return [...out].map((x) => Math.round(x * 1000) / 1000);
}

test('fair share: contention by weight; a port wanting less leaves the rest to others; one alone gets everything', (t) => {
  t.deepEqual(share([75, 25], [1e9, 1e9], 200), [150, 50]);
  t.deepEqual(share([75, 25], [20, 1e9], 200), [20, 180], 'work conservation: unused share goes to the other');
  t.deepEqual(share([75, 25], [1e9, 0], 200), [200, 0], 'an idle port takes nothing');
  t.deepEqual(share([75, 25], [30, 40], 200), [127.5, 72.5], 'all satisfied: the rest spread by weight');
  t.deepEqual(share([50, 30, 20], [10, 1e9, 1e9], 100), [10, 54, 36], 'second round divides what is left');
  t.deepEqual(share([0, 10], [1e9, 1e9], 100), [0, 100], 'weight 0 is not an entity here (the default flow is)');
  t.deepEqual(share([1, 1, 1], [0, 0, 0], 100), [0, 0, 0]);
});

test('settings are validated with the field named; uplinkBandwidth only on an external switch', (t) => {
  t.deepEqual(validatePort({ name: 'vm1', maximumBandwidth: 100_000_000, minimumBandwidthWeight: 50 }, 'p'),
    { name: 'vm1', maximumBandwidth: 100_000_000, minimumBandwidthWeight: 50 });
  t.throws(() => validatePort({ name: 'vm1', minimumBandwidthWeight: 150 }, 'switches[0].ports[1]'),
    { message: /^switches\[0\]\.ports\[1\]\.minimumBandwidthWeight: .*0\.\.100/ });
  const c = validateConfig({ version: 1, switches: [{ name: 'sw0', type: 'external', uplink: 'eth9', uplinkBandwidth: 200_000_000,
    ports: [{ name: 'vm1', maximumBandwidth: 100_000_000, maximumBandwidthBurst: 500_000, minimumBandwidthWeight: 75 }] }] });
  t.is(c.switches[0].uplinkBandwidth, 200_000_000);
  t.deepEqual(c.switches[0].ports[0], { name: 'vm1', maximumBandwidth: 100_000_000, maximumBandwidthBurst: 500_000, minimumBandwidthWeight: 75 });
  const set = METHODS['port.set'].parse({ switch: 'sw0', name: 'vm1', maximumBandwidth: null, minimumBandwidthWeight: 50 });
  t.deepEqual(set.settings, { maximumBandwidth: null, minimumBandwidthWeight: 50 });
  t.throws(() => validateConfig({ version: 1, switches: [{ name: 'sw0', type: 'private', uplinkBandwidth: 1000 }] }),
    { message: 'switches[0].uplinkBandwidth: only an external switch has an uplink (this one is private)' });
  t.throws(() => validateConfig({ version: 1, switches: [{ name: 'sw0', type: 'external', uplink: 'eth9', uplinkBandwidth: -1 }] }),
    { message: 'switches[0].uplinkBandwidth: expected an integer in 0..1000000000000, got -1' });
});

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const UP = '02:00:00:00:00:ee';

function vm(index: number, settings: PolicyPort['settings']): PolicyPort {
  return { index, name: `vm${index}`, kind: 'vm', settings };
}

test('maximum bandwidth: the port sends its burst, then its rate; the rest is dropped as bandwidth-limit and counted in bytes', async (t) => {
  const sw = await testSwitch({ ports: 2 });
  t.teardown(() => sw.close());
  clock = 100;
  // 8000 bit/s = 1000 bytes/s, burst 66000 bytes (one largest frame)
  sw.dp.policy.install({ ports: [vm(0, { maximumBandwidth: 8000, maximumBandwidthBurst: 66_000 }), vm(1, {})] });
  const frame = udpFrame(B, A, 1000);
  for (let k = 0; k < 100; k++) sw.send(0, frame);
  sw.breathe();
  t.is(sw.sent(1).length, 66, 'the burst: 66 frames of 1000 bytes');
  t.is(sw.drops(0, 'bandwidth-limit'), 34);
  t.is(sw.dp.policyCounters.v[PolicyCounters.port(0) + PPF.bandwidthDroppedBytes], 34_000);
  clock += 5; // 5 s at 1000 bytes/s
  for (let k = 0; k < 100; k++) sw.send(0, frame);
  sw.breathe();
  t.is(sw.sent(1).length, 71);
  // the other direction is not limited (Hyper-V's maximum is what the VM sends)
  for (let k = 0; k < 100; k++) sw.send(1, udpFrame(A, B, 1000));
  sw.breathe();
  t.is(sw.sent(0).length, 100);
  t.deepEqual(bandwidthModule.summary(sw.dp.policy.input), ['vm0: maximum 0.008 Mbit/s (burst 66000 bytes), excess dropped']);
  // a trace names the policy that dropped the frame
  const tr = sw.trace(frame, 0);
  t.is(tr.verdict, 'dropped');
  t.regex(JSON.stringify(tr.steps), /maximum bandwidth vm0 0\.008 Mbit\/s/);
  // a port without a setting has no hook work: removing the setting removes the hook
  sw.dp.policy.install({ ports: [vm(0, {}), vm(1, {})] });
  t.deepEqual(sw.dp.policy.installed().filter((p) => p.hook.name === 'bandwidth'), []);
});

/** send `perStep` frames of 1000 bytes from ports 0 and 1 to the uplink (port 2) every 10 ms for `seconds` */
function drive(sw: TestSwitch, seconds: number, perStep: [number, number]): [number, number] {
  sw.clearSent();
  const fa = udpFrame(UP, A, 1000);
  const fb = udpFrame(UP, B, 1000);
  for (let s = 0; s < seconds * 100; s++) {
    clock += 0.01;
    for (let k = 0; k < perStep[0]; k++) sw.send(0, fa);
    for (let k = 0; k < perStep[1]; k++) sw.send(1, fb);
    sw.breathe();
    // the worker's once-a-second housekeeping (whole seconds of another clock) leaves the shares alone
    if (s % 100 === 0) {
      sw.now += 1;
      sw.tick();
    }
  }
  let a = 0;
  let b = 0;
  for (const f of sw.sent(2)) if (f[11] === 0x0a) a += f.length; else if (f[11] === 0x0b) b += f.length;
  return [a / seconds, b / seconds];
}

test('minimum weight: under contention for the uplink the shares follow the weights; alone a port gets the whole capacity', async (t) => {
  const sw = await testSwitch({ ports: 3 });
  t.teardown(() => sw.close());
  clock = 1000;
  sw.now = 1_700_000_000; // the switch's whole-second wall clock, far from the policy's fine clock
  // uplink capacity 8 Mbit/s = 1 MB/s; each VM offers 2 MB/s (20 frames of 1000 bytes per 10 ms)
  sw.dp.policy.install({
    uplinkBandwidth: 8_000_000,
    ports: [vm(0, { minimumBandwidthWeight: 75 }), vm(1, { minimumBandwidthWeight: 25 }), { index: 2, name: 'eth', kind: 'external', settings: {} }],
  });
  sw.send(2, udpFrame('ff:ff:ff:ff:ff:ff', UP, 60)); // the forwarder learns the uplink's MAC
  sw.breathe();
  drive(sw, 1, [20, 20]); // settle
  const [a, b] = drive(sw, 3, [20, 20]);
  t.log(`contended: vm0 ${a} B/s, vm1 ${b} B/s`);
  t.true(Math.abs(a - 750_000) < 750_000 * 0.05, `vm0 ${a}`);
  t.true(Math.abs(b - 250_000) < 250_000 * 0.05, `vm1 ${b}`);
  t.true(sw.drops(0, 'bandwidth-limit') > 0 && sw.drops(1, 'bandwidth-limit') > 0);
  t.true(sw.dp.policyCounters.v[PolicyCounters.port(1) + PPF.bandwidthDroppedBytes] > 0);
  // vm1 alone (vm0 idle): it grows to the whole capacity
  drive(sw, 2, [0, 20]);
  const [, alone] = drive(sw, 2, [0, 20]);
  t.log(`alone: vm1 ${alone} B/s`);
  t.true(Math.abs(alone - 1_000_000) < 1_000_000 * 0.05, `vm1 alone ${alone}`);
  // vm0 wants only 100 kB/s: it gets it; vm1 gets the rest (work conservation) but for vm0's room
  // to grow (GROWTH × its demand), more than its own weighted share of 250 kB/s
  drive(sw, 2, [1, 20]);
  const [small, rest] = drive(sw, 2, [1, 20]);
  t.log(`vm0 at 100 kB/s: vm0 ${small} B/s, vm1 ${rest} B/s`);
  t.is(small, 100_000);
  const expected = 1_000_000 - 100_000 * GROWTH;
  t.true(Math.abs(rest - expected) < expected * 0.05, `vm1 ${rest}`);
  t.deepEqual(bandwidthModule.summary(sw.dp.policy.input), ['vm0: weight 75 of uplink 8 Mbit/s', 'vm1: weight 25 of uplink 8 Mbit/s']);
  t.true(TICK <= 0.1);
});

test('ports without a weight share the default flow; the uplink stays within its capacity', async (t) => {
  const sw = await testSwitch({ ports: 3 });
  t.teardown(() => sw.close());
  clock = 2000;
  sw.now = 1_700_000_000;
  sw.dp.policy.install({ uplinkBandwidth: 8_000_000, ports: [vm(0, {}), vm(1, {}), { index: 2, name: 'eth', kind: 'external', settings: {} }] });
  sw.send(2, udpFrame('ff:ff:ff:ff:ff:ff', UP, 60));
  sw.breathe();
  drive(sw, 1, [20, 20]);
  const [a, b] = drive(sw, 3, [20, 20]);
  t.log(`default flow: vm0 ${a} B/s, vm1 ${b} B/s`);
  t.true(Math.abs(a - 500_000) < 500_000 * 0.05 && Math.abs(b - 500_000) < 500_000 * 0.05, `${a} ${b}`);
});

test('no allocation per frame: a limited, weighted port under load', async (t) => {
  const sw = await testSwitch({ ports: 3 });
  t.teardown(() => sw.close());
  sw.dp.policy.install({
    uplinkBandwidth: 8_000_000,
    ports: [vm(0, { maximumBandwidth: 4_000_000, minimumBandwidthWeight: 75 }), vm(1, { minimumBandwidthWeight: 25 }), { index: 2, name: 'eth', kind: 'external', settings: {} }],
  });
  sw.send(2, udpFrame('ff:ff:ff:ff:ff:ff', UP, 60));
  sw.breathe();
  for (const p of sw.ports) p.record = null;
  sw.ports[0].inbox.push(udpFrame(UP, A, 1000), udpFrame(B, A, 1000));
  sw.ports[1].inbox.push(udpFrame(UP, B, 1000));
  sw.ports[0].repeat = true;
  sw.ports[1].repeat = true;
  const run = (breaths: number): void => {
    for (let k = 0; k < breaths; k++) {
      clock += 0.001;
      sw.breathe();
    }
  };
  run(2000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(20_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const frames = sw.portCounter(0, 'rxPackets') + sw.portCounter(1, 'rxPackets');
  t.log(`${frames} frames; heap delta ${after - before} bytes, gc exposed: ${gc !== undefined}`);
  t.true(frames > 1_000_000);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  t.true(sw.drops(0, 'bandwidth-limit') > 0);
});
