/** Live trace sessions: frames by cursor, the end and its cause, early stop, the session limit, forgetting. */
import test from 'ava';
import type { LiveTraceOptions, TraceView } from '../switch/manager-api.js';
import { TraceSessions } from './trace-sessions.js';

const view = (n: number): TraceView => ({
  switch: 'sw0', inPort: 'vm1', frame: '', packet: `#${n}`, steps: [], verdict: 'forwarded', destinations: ['vm2'], generation: 1, summary: 'forwarded to vm2',
});

/** a fake live trace the test drives: push frames, end it (as the wait running out) */
function driven(): { run: (o: Pick<LiveTraceOptions, 'onFrame' | 'signal' | 'onArmed'>) => Promise<TraceView[]>; push: (n: number) => void; end: () => void } {
  let onFrame: ((v: TraceView) => void) | undefined;
  let finish: () => void = () => {};
  return {
    run: (o) => new Promise((resolve) => {
      onFrame = o.onFrame;
      finish = () => resolve([]);
      o.signal?.addEventListener('abort', () => resolve([]));
      o.onArmed?.();
    }),
    push: (n) => onFrame?.(view(n)),
    end: () => finish(),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('poll returns the frames after the cursor as they come, then done; a count-limited trace is not timed out', async (t) => {
  const s = new TraceSessions();
  const d = driven();
  const id = await s.start(2, d.run);
  t.deepEqual(s.poll(id, 0), { frames: [], next: 0, done: false, timedOut: false });
  d.push(1);
  const a = s.poll(id, 0);
  t.deepEqual(a.frames.map((f) => f.packet), ['#1']);
  t.is(a.next, 1);
  t.false(a.done);
  d.push(2);
  d.end();
  await tick();
  const b = s.poll(id, a.next);
  t.deepEqual(b.frames.map((f) => f.packet), ['#2']);
  t.true(b.done);
  t.false(b.timedOut);
  t.throws(() => s.poll(id, b.next), { message: /no live trace session/ }, 'read to the end: forgotten');
});

test('a trace that ends short of its count timed out; stop ends it early and is not a timeout', async (t) => {
  const s = new TraceSessions();
  const d = driven();
  const id = await s.start(5, d.run);
  d.push(1);
  d.end();
  await tick();
  t.like(s.poll(id, 0), { done: true, timedOut: true, next: 1 });
  const e = driven();
  const id2 = await s.start(5, e.run);
  s.stop(id2);
  await tick();
  t.like(s.poll(id2, 0), { done: true, timedOut: false, next: 0 });
});

test('at most max traces run at once; an ended one frees its place', async (t) => {
  const s = new TraceSessions(2);
  const runs = [driven(), driven(), driven()];
  await s.start(1, runs[0].run);
  await s.start(1, runs[1].run);
  await t.throwsAsync(() => s.start(1, runs[2].run), { message: /2 live traces are running already/ });
  runs[0].end();
  await tick();
  await t.notThrowsAsync(() => s.start(1, runs[2].run));
  s.close();
});

test('a trace that fails before it records (no such port) fails the start and leaves no session', async (t) => {
  const s = new TraceSessions(1);
  await t.throwsAsync(() => s.start(1, () => Promise.reject(new Error('switch "sw0" has no port "nope"'))), { message: /no port "nope"/ });
  const d = driven();
  await t.notThrowsAsync(() => s.start(1, d.run), 'its place is free');
  s.close();
});
