import test from 'ava';
import { DEFAULT_QUEUE, assignQueues, movesBetween, pinProblem, placeNewQueues, queuesOf } from './model.js';

const ports = [
  { index: 0, name: 'uplink', weight: 0 },
  { index: 1, name: 'a', weight: 50 },
  { index: 2, name: 'b', weight: 0 },
  { index: 3, name: 'c', weight: 100, pin: { cpu: 1 } },
  { index: 4, name: 'd', weight: 10 },
];

test('weighted ports get a queue each; the rest share the default queue', (t) => {
  const q = queuesOf(ports);
  t.deepEqual(q.map((x) => [x.id, x.ports, x.weight]), [[DEFAULT_QUEUE, [0, 2], 0], ['a', [1], 50], ['c', [3], 100], ['d', [4], 10]]);
  t.deepEqual(q.find((x) => x.id === 'c')?.pin, { cpu: 1 });
});

test('cycles assignment: busiest queue first, each to the least loaded worker; pins first', (t) => {
  const q = queuesOf(ports);
  // workers 0 and 1 on CPUs 0 and 1: c is pinned to worker 1 (CPU 1) with 300 of load
  const load = new Map([[DEFAULT_QUEUE, 500], ['a', 400], ['c', 300], ['d', 100]]);
  const a = assignQueues(q, load, [0, 1]);
  // default (500) → worker 0 (0 vs 300); a (400) → worker 1 (500 vs 300); d (100) → worker 0 (500 vs 700)
  t.deepEqual(Object.fromEntries(a), { c: 1, default: 0, a: 1, d: 0 });
  // no load measured: spread evenly by count
  const even = assignQueues(q, new Map(), [null, null]);
  t.deepEqual([...even.values()].filter((w) => w === 0).length, 2);
  // a pin no worker answers to is placed by load, and explained
  t.regex(pinProblem({ cpu: 7 }, [0, 1]) ?? '', /no worker is pinned to CPU 7 \(worker 0 on CPU 0, worker 1 on CPU 1\)/);
  t.regex(pinProblem({ worker: 2 }, [null, null]) ?? '', /2 worker\(s\) \(0\.\.1\), not worker 2/);
  t.is(pinProblem({ worker: 1 }, [null, null]), null);
});

test('a new queue goes to the least loaded worker without moving the others; moves are listed', (t) => {
  const before = new Map([[DEFAULT_QUEUE, 0], ['a', 0]]);
  const q = queuesOf([...ports.slice(0, 2), { index: 5, name: 'e', weight: 1 }]);
  const load = new Map([[DEFAULT_QUEUE, 900], ['a', 10]]);
  const after = placeNewQueues(q, before, load, [null, null]);
  t.deepEqual(Object.fromEntries(after), { default: 0, a: 0, e: 1 });
  t.deepEqual(movesBetween(before, assignQueues(q, load, [null, null])), [['a', 0, 1]]);
});
