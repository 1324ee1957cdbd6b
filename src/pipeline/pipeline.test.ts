/**
 * The extension pipeline's rules, in-process on the real DataPath: a capture extension cannot alter
 * or drop a frame; a filter drops, clones, modifies the clone, injects it and excludes destinations
 * on egress; an extension that throws is taken out and its on-error policy applied; the switch
 * keeps forwarding; traces show every stage.
 */
import test from 'ava';
import type { Batch } from '../core/batch.js';
import { CounterBlock, ORIGINATED, PF, PF_DROPS } from '../core/counters.js';
import { DropReason } from '../core/drop-reasons.js';
import { testSwitch } from '../extensions/testing.js';
import { udpFrame } from '../test-support/frames.js';
import type { PolicyHook } from './policies.js';
import { STAGE_LIST } from './stage-list.js';

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
  t.is(sw.counter('rogue-capture', 'attempts'), 30);
  t.is(sw.counter('rogue-capture', 'refused'), 30, 'every attempt was refused (borrowed methods, direction, a matcher of its own, bind)');
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
    'ingress:validate:pass', 'ingress:rogue-capture:pass', 'ingress:dup-filter:pass', 'ingress:ingress-policies:pass',
    'ingress:learning:pass', 'miniport:miniport:pass', 'egress:learning:pass', 'egress:egress-policies:pass',
    'egress:dup-filter:pass', 'egress:rogue-capture:pass', 'egress:transmit:pass',
  ]);
  t.deepEqual([...new Set(tr.steps.map((s) => s.group))], STAGE_LIST.map((d) => d.name), 'every stage of the stage list, in its order');
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

test('a filter cannot exclude destinations on ingress, even by rewriting its view', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: mod('rogue-filter') }] });
  sw.send(0, udpFrame(BC, A));
  sw.breathe();
  t.is(sw.counter('rogue-filter', 'refused'), 2, 'the direction write and the ingress exclusion were refused');
  t.is(sw.sent(1).length, 1);
  t.is(sw.sent(2).length, 1);
  sw.close();
});

test('a forwarder cannot add destinations on egress; what was excluded stays excluded', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: mod('rogue-forward') }] });
  sw.send(0, udpFrame(BC, A));
  sw.breathe();
  t.is(sw.counter('rogue-forward', 'refused'), 2);
  t.is(sw.sent(1).length, 1);
  t.is(sw.sent(2).length, 0, 'port 2 was excluded on egress and not added back');
  sw.close();
});

test('a forwarding extension that throws fails closed; the default forwarder takes over from the next batch', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: mod('rogue-forward'), config: { throwAt: 2 } }] });
  sw.send(0, udpFrame(BC, A)); sw.breathe();
  t.is(sw.sent(1).length, 1);
  t.is(sw.sent(2).length, 0);
  sw.send(0, udpFrame(BC, A), udpFrame(BC, A)); sw.breathe(); // throws on its second batch
  t.is(sw.sent(1).length, 1, 'the failing batch was dropped, not flooded');
  t.is(sw.sent(2).length, 0);
  t.is(sw.drops(0, 'extension-error'), 2);
  t.is(sw.failures.length, 1);
  sw.send(0, udpFrame(BC, A)); sw.breathe();
  t.is(sw.sent(1).length, 2, 'learning forwards the next batch');
  t.is(sw.sent(2).length, 1);
  const tr = sw.trace(udpFrame(BC, A), 0);
  t.is(tr.steps.find((s) => s.group === 'ingress-forward')?.stage, 'learning');
  sw.close();
});

test('an originated frame enters just below its originator: extensions above it never see it on ingress', async (t) => {
  // ingress order: marker-capture, self-injector → the marker is above the injector
  const above = await testSwitch({ ports: 3, stages: [{ module: mod('marker-capture') }, { module: mod('self-injector') }] });
  above.send(0, udpFrame(BC, A)); above.breathe(2);
  t.is(above.counter('self-injector', 'originated'), 1);
  t.is(above.counter('marker-capture', 'marked'), 0, 'the capture above the originator did not see it');
  t.is(above.counter('self-injector', 'seenIngress'), 0, 'the originator never sees its own frame on ingress');
  t.is(above.counter('self-injector', 'seenEgress'), 1, 'it does on egress');
  t.is(above.sent(1).length + above.sent(2).length, 4, 'the original and the originated frame were flooded');
  above.close();
  // ingress order: self-injector, marker-capture → the marker is below: it sees the frame
  const below = await testSwitch({ ports: 3, stages: [{ module: mod('self-injector') }, { module: mod('marker-capture') }] });
  below.send(0, udpFrame(BC, A)); below.breathe(2);
  t.is(below.counter('marker-capture', 'marked'), 1);
  below.close();
});

test('a frame originated as from port P is never sent back to P; with no source port its drops are counted', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: mod('self-injector'), config: { asPort: 0 } }] });
  sw.send(0, udpFrame(BC, A)); sw.breathe(2);
  t.is(sw.sent(0).length, 0);
  t.is(sw.sent(1).length, 2);
  t.is(sw.sent(2).length, 2);
  sw.close();
  // one port only: an originated broadcast (no source port) goes to that port; an "as from port 0" one has nowhere to go
  const lone = await testSwitch({ ports: 1, stages: [{ module: mod('self-injector'), config: { asPort: 0 } }] });
  lone.send(0, udpFrame(BC, A)); lone.breathe(2);
  t.is(lone.drops(0, 'no-destination'), 2, 'the original and the frame originated as from port 0');
  lone.close();
  const none = await testSwitch({ ports: 1, stages: [{ module: mod('self-injector') }] });
  none.dp.engine.linkDown = new Uint8Array(256).fill(1);
  none.send(0, udpFrame(BC, A)); none.breathe(2);
  const v = none.dp.counters.v;
  t.is(v[CounterBlock.port(ORIGINATED) + PF.rxPackets], 1, 'originated frames are counted on their own record');
  t.is(v[CounterBlock.port(ORIGINATED) + PF_DROPS + DropReason['no-destination']], 1, 'and so are their drops');
  none.close();
});

class CountingPolicy implements PolicyHook {
  readonly name = 'counting';
  asked = 0;
  frames = 0;
  constructor(private readonly active: boolean) {}
  appliesTo(): boolean { this.asked++; return this.active; }
  process(batch: Batch): void { this.frames += batch.count; }
}

test('built-in policy stages run whichever forwarder is enabled, asked once per batch', async (t) => {
  for (const stages of [[], [{ module: mod('rogue-forward') }]]) {
    const sw = await testSwitch({ ports: 3, stages });
    const hooks = ['ingress-policies', 'miniport', 'egress-policies'].map((name) => {
      const h = new CountingPolicy(true);
      sw.dp.policies.add(name, h);
      return h;
    });
    const idle = new CountingPolicy(false);
    sw.dp.policies.add('ingress-policies', idle);
    sw.send(0, udpFrame(BC, A), udpFrame(BC, A), udpFrame(BC, A)); sw.breathe();
    sw.send(1, udpFrame(BC, B)); sw.breathe();
    for (const h of hooks) {
      t.is(h.asked, 2, 'one decision per batch');
      t.is(h.frames, 4);
    }
    t.is(idle.asked, 2);
    t.is(idle.frames, 0, 'a policy that does not apply never sees a frame');
    t.throws(() => sw.dp.policies.add('nowhere', idle), { message: /no policy stage "nowhere"/ });
    sw.close();
  }
});

test('egress stages never see a port whose link is down as a destination', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: mod('rogue-capture') }] });
  const down = new Uint8Array(256);
  down[1] = 1;
  sw.dp.engine.linkDown = down;
  const tr = sw.trace(udpFrame(BC, A, 64, 1), 0);
  for (const s of tr.steps.filter((x) => x.direction === 'egress' && x.destinations)) t.false(s.destinations!.includes(1), s.group);
  t.deepEqual(tr.destinations, [2]);
  sw.close();
});
