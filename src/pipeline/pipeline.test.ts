/**
 * The extension pipeline's rules, in-process on the real DataPath: a capture extension cannot alter
 * or drop a frame; a filter drops, clones, modifies the clone, injects it and excludes destinations
 * on egress; an extension that throws is taken out and its on-error policy applied; the switch
 * keeps forwarding; traces show every stage.
 */
import test from 'ava';
import { testSwitch } from '../extensions/testing.js';
import { udpFrame } from '../test-support/frames.js';

const mod = (name: string): string => new URL(`./fixtures/${name}.js`, import.meta.url).href;
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const BC = 'ff:ff:ff:ff:ff:ff';

test('a capture extension cannot alter or drop a frame', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: mod('rogue-capture') }] });
  const frames = [udpFrame(BC, A, 64, 1), udpFrame(BC, A, 200, 2), udpFrame(BC, A, 1500, 3)];
  sw.send(0, ...frames.map((f) => f.slice()));
  sw.breathe();
  t.deepEqual(sw.sent(1), frames, 'every frame forwarded, byte for byte');
  t.is(sw.counter('rogue-capture', 'attempts'), 15);
  t.is(sw.counter('rogue-capture', 'refused'), 15, 'every attempt was refused');
  t.deepEqual(sw.failures, [], 'refusals are errors inside the extension, not pipeline failures');
  sw.close();
});

test('a filter drops, clones, modifies the clone, injects it, and excludes a destination on egress', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: mod('dup-filter') }] });
  const f = udpFrame(BC, A, 80, 7);
  sw.send(0, f);
  sw.breathe(2); // breath 1: drop + inject; breath 2: the injected clone runs the pipeline
  t.is(sw.counter('dup-filter', 'cloned'), 1);
  t.is(sw.sent(1).length, 1, 'only the clone reached port 1');
  const out = sw.sent(1)[0];
  t.is(out[42], 0xcc);
  t.is(out[43], 0xcc);
  t.deepEqual(out.slice(0, 42), f.slice(0, 42), 'the clone kept the rest of the frame');
  t.is(sw.sent(2).length, 0, 'port 2 was excluded on egress');
  t.is(sw.drops(0, 'extension-drop'), 1, 'the original is counted as an extension drop');
  sw.close();
});

test('an extension that throws is taken out; on-error drop drops that batch, then forwarding goes on', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: mod('thrower'), config: { after: 1 } }] });
  sw.send(0, udpFrame(BC, A)); sw.breathe();
  t.is(sw.sent(1).length, 1);
  sw.send(0, udpFrame(BC, A)); sw.breathe(); // throws: default on-error for a filter is drop
  t.is(sw.sent(1).length, 1);
  t.is(sw.drops(0, 'extension-error'), 1);
  t.is(sw.failures.length, 1);
  t.regex(sw.failures[0].error, /boom/);
  t.is(sw.counter('thrower', 'errors'), 1);
  sw.send(0, udpFrame(BC, A)); sw.breathe();
  t.is(sw.sent(1).length, 2, 'the switch keeps forwarding without it');
  sw.close();
});

test('on-error bypass lets the failing batch through', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: mod('thrower'), config: { after: 0 }, onError: 'bypass' }] });
  sw.send(0, udpFrame(BC, A)); sw.breathe();
  t.is(sw.sent(1).length, 1);
  t.is(sw.failures.length, 1);
  sw.close();
});

test('a synthetic trace shows every stage and forwards nothing, learns nothing', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: mod('rogue-capture') }, { module: mod('dup-filter') }] });
  sw.send(1, udpFrame(BC, B)); sw.breathe(2); // learn B on port 1 (dup-filter re-injects it as a clone)
  sw.clearSent();
  const toB = udpFrame(B, A, 64);
  toB[37] = 10; // UDP port 10: dup-filter lets it pass
  const tr = sw.trace(toB, 0);
  t.deepEqual(tr.steps.map((s) => `${s.direction}:${s.stage}:${s.verdict}`), [
    'ingress:validate:pass', 'ingress:rogue-capture:pass', 'ingress:dup-filter:pass', 'ingress:learning:pass',
    'egress:dup-filter:pass', // rogue-capture has no egress hook
  ]);
  t.is(tr.verdict, 'forwarded');
  t.deepEqual(tr.destinations, [1]);
  t.is(sw.sent(1).length + sw.sent(2).length, 0, 'nothing was sent');
  t.is(sw.dp.table.count, 1, 'A was not learned by the trace');
  const dropped = sw.trace(udpFrame(B, A, 64), 0); // UDP port 9: dup-filter drops it
  t.is(dropped.verdict, 'dropped');
  t.regex(dropped.reason ?? '', /extension-drop/);
  t.regex(dropped.steps.find((s) => s.stage === 'dup-filter')?.reason ?? '', /replaced by a modified clone/);
  const runt = sw.trace(new Uint8Array(10), 0);
  t.is(runt.reason, 'runt');
  sw.close();
});

test('a reconfigure between batches keeps forwarding: no frame lost', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: mod('thrower'), config: { after: 1_000_000 } }] });
  let sent = 0;
  for (let k = 0; k < 50; k++) {
    for (let i = 0; i < 20; i++) { sw.send(0, udpFrame(BC, A, 64, sent++)); }
    sw.breathe();
    await sw.reconfigure(0, { after: 1_000_000 + k });
  }
  t.is(sw.sent(1).length, sent);
  sw.close();
});
