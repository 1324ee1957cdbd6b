import test from 'ava';
import { RxCoalescing } from './coalescing.js';

test('no overload: a breath is never followed by a wait, whatever it brought', (t) => {
  const c = new RxCoalescing(0.05, 256);
  t.true(c.checkDue(0));
  c.observe(0, 0);
  t.false(c.isOverloaded);
  for (const got of [1, 9, 255]) t.false(c.shouldWait(got, true));
});

test('while a ring overflows, a partial batch after a busy breath waits; a full batch, a first frame or nothing does not', (t) => {
  const c = new RxCoalescing(0.05, 256);
  c.observe(0, 17);
  t.true(c.isOverloaded);
  t.true(c.shouldWait(9, true), 'partial batch while frames keep coming');
  t.false(c.shouldWait(256, true), 'a full batch: the next one is ready already');
  t.false(c.shouldWait(1, false), 'the first frame after a quiet breath is never held');
  t.false(c.shouldWait(0, true), 'nothing received');
});

test('the overload signal is re-read every checkEveryMs and clears when the rings stop dropping', (t) => {
  const c = new RxCoalescing(0.05, 256, 100);
  c.observe(1000, 5);
  t.false(c.checkDue(1099));
  t.true(c.checkDue(1100));
  c.observe(1100, 0);
  t.false(c.isOverloaded);
  t.false(c.shouldWait(9, true));
});

test('waitMs 0 turns coalescing off: the drop counters are not even read for it', (t) => {
  const c = new RxCoalescing(0, 256);
  t.false(c.checkDue(0));
  t.false(c.checkDue(1e12));
});
