import test from 'ava';
import type { PortSettings } from '../../config/types.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import { udpFrame } from '../../test-support/frames.js';
import { PolicyCounters, PPF } from '../counters.js';
import { mirrorMarks, mirrorPolicy } from './mirror.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';
const BCAST = 'ff:ff:ff:ff:ff:ff';

/** ports p0 (A), p1 (B), p2 (C), p3 (monitor), with these mirroring modes */
async function mirrored(modes: PortSettings['portMirroring'][]): Promise<TestSwitch> {
  const sw = await testSwitch({ ports: 4 });
  sw.dp.policy.install({
    ports: modes.map((m, index) => ({ index, name: `p${index}`, kind: 'vm' as const, settings: m === undefined ? {} : { portMirroring: m } })),
  });
  // every station's MAC is learned: later frames are unicast
  sw.send(0, udpFrame(BCAST, A));
  sw.send(1, udpFrame(BCAST, B));
  sw.send(2, udpFrame(BCAST, C));
  sw.breathe();
  sw.clearSent();
  return sw;
}

const copies = (sw: TestSwitch, port: number): number => sw.dp.policyCounters.v[PolicyCounters.port(port) + PPF.mirrorCopies];
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

test('a frame sent by a source port reaches the destination port too, unaltered, and is counted', async (t) => {
  const sw = await mirrored(['source', undefined, undefined, 'destination']);
  t.teardown(() => sw.close());
  const f = udpFrame(B, A, 200, 7);
  const before = copies(sw, 3);
  sw.send(0, f);
  sw.breathe();
  t.is(sw.sent(1).length, 1);
  t.true(same(sw.sent(1)[0], f));
  t.is(sw.sent(3).length, 1);
  t.true(same(sw.sent(3)[0], f));
  t.is(sw.sent(2).length, 0, 'unicast stays unicast for everyone else');
  t.is(copies(sw, 3) - before, 1);
});

test('a frame received by a source port is mirrored; traffic between other ports is not', async (t) => {
  const sw = await mirrored(['source', undefined, undefined, 'destination']);
  t.teardown(() => sw.close());
  const toA = udpFrame(A, B, 90, 1);
  sw.send(1, toA);
  sw.send(2, udpFrame(B, C, 90, 2));
  sw.breathe();
  t.deepEqual(sw.sent(3).map((f) => Buffer.from(f).toString('hex')), [Buffer.from(toA).toString('hex')]);
  t.is(sw.sent(0).length, 1);
  t.is(sw.sent(1).length, 1, 'B gets C\'s frame');
});

test('a mirror destination never receives its own frame, and floods reach it once', async (t) => {
  const sw = await mirrored(['source', undefined, undefined, 'destination']);
  t.teardown(() => sw.close());
  sw.send(3, udpFrame(A, '02:00:00:00:00:0d'));
  sw.breathe();
  t.is(sw.sent(0).length, 1);
  t.is(sw.sent(3).length, 0);
  sw.clearSent();
  sw.send(0, udpFrame(BCAST, A));
  sw.breathe();
  t.is(sw.sent(3).length, 1);
});

test('no source or no destination: the policy places no hook (costs nothing)', (t) => {
  const input = (modes: PortSettings['portMirroring'][]): { ports: { index: number; name: string; kind: 'vm'; settings: PortSettings }[] } =>
    ({ ports: modes.map((m, index) => ({ index, name: `p${index}`, kind: 'vm' as const, settings: m ? { portMirroring: m } : {} })) });
  const env = { batchSize: 4, presence: { attached: new Uint8Array(8), linkDown: null } } as unknown as Parameters<typeof mirrorPolicy.create>[0];
  const inst = mirrorPolicy.create(env);
  t.deepEqual(inst.configure(input(['source', undefined])), []);
  t.deepEqual(inst.configure(input(['destination', 'none'])), []);
  t.is(inst.configure(input(['source', 'destination'])).length, 1);
  t.deepEqual(mirrorPolicy.summary(input(['source', 'destination'])), ['p0: port mirroring source → p1', 'p1: port mirroring destination']);
});

test('mirror marks: an egress policy can tell a mirror copy from a normal delivery', async (t) => {
  const sw = await mirrored(['source', undefined, undefined, 'destination']);
  t.teardown(() => sw.close());
  const marks = mirrorMarks(sw.dp.policy.env);
  let seen: boolean[] = [];
  // a probe egress policy in the same worker asks the marks, as the VLAN and ACL policies do
  sw.dp.policies.add('egress-policies', {
    name: 'probe', appliesTo: () => true,
    process: (b) => { seen = []; for (let i = 0; i < b.count; i++) seen.push(marks.exempt(i, 3), marks.exempt(i, 1)); },
  });
  sw.send(0, udpFrame(B, A));
  sw.breathe();
  t.deepEqual(seen, [true, false]);
  sw.send(2, udpFrame(B, C));
  sw.breathe();
  t.deepEqual(seen, [false, false]);
});

test('a mirror copy survives an exclusion made before the miniport edge', async (t) => {
  const sw = await mirrored(['source', undefined, undefined, 'destination']);
  t.teardown(() => sw.close());
  sw.dp.policies.add('ingress-policies', {
    name: 'excluder', appliesTo: () => true,
    process: (b) => { for (let i = 0; i < b.count; i++) b.excludeDestination(i, 3); },
  });
  sw.send(0, udpFrame(B, A));
  sw.breathe();
  t.is(sw.sent(3).length, 1);
  t.is(sw.sent(1).length, 1);
});

test('trace names the mirror destinations', async (t) => {
  const sw = await mirrored(['source', undefined, undefined, 'destination']);
  t.teardown(() => sw.close());
  const tr = sw.trace(udpFrame(B, A), 0);
  t.deepEqual([...tr.destinations].sort(), [1, 3]);
  t.true(JSON.stringify(tr.steps).includes('port mirroring: copy to p3'), JSON.stringify(tr.steps));
});
