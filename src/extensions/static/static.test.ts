/**
 * forward `static` on the real data path (testSwitch): forwarding truth table (known unicast,
 * broadcast, multicast, unknown unicast dropped or flooded, same port, missing port), a port that
 * appears later, reconfigure, config errors naming the field.
 */
import test from 'ava';
import { testSwitch, type TestSwitch } from '../testing.js';
import { validateExtensionConfig } from '../config.js';
import { buildPacket } from '../../packet/spec.js';
import def, { compileStatic } from './index.js';

const MOD = new URL('./index.js', import.meta.url).href;
const M = (k: number): string => `02:00:00:00:00:${k.toString(16).padStart(2, '0')}`;
const to = (dst: string, src = M(0xee)): Uint8Array => buildPacket(`eth(src=${src},dst=${dst}),ipv4(),udp(src=1,dst=2)`);

async function deliveredTo(sw: TestSwitch, port: number, f: Uint8Array): Promise<number[]> {
  sw.clearSent();
  sw.send(port, f.slice());
  sw.breathe();
  return sw.ports.map((_, k) => k).filter((k) => sw.sent(k).length > 0);
}

const ENTRIES = [
  { mac: M(1), port: 'p1' },
  { mac: M(2), port: 'p2' },
  { mac: '02-00-00-00-00-03', port: 'p3' }, // p3 does not exist yet
  { mac: M(0), port: 'p0' },
];

test('forwarding truth table', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: MOD, config: { entries: ENTRIES } }] });
  const cases: [string, number, Uint8Array, number[]][] = [
    ['known unicast to p1', 0, to(M(1)), [1]],
    ['known unicast to p2', 1, to(M(2)), [2]],
    ['known unicast to p0 from p2', 2, to(M(0)), [0]],
    ['broadcast', 0, to('ff:ff:ff:ff:ff:ff'), [1, 2]],
    ['IPv4 multicast', 1, to('01:00:5e:00:00:01'), [0, 2]],
    ['IPv6 multicast', 2, to('33:33:00:00:00:01'), [0, 1]],
    ['unknown unicast dropped', 0, to(M(9)), []],
    ['same port dropped', 1, to(M(1)), []],
    ['missing port dropped', 0, to(M(3)), []],
  ];
  for (const [what, from, f, want] of cases) t.deepEqual(await deliveredTo(sw, from, f), want, what);
  t.is(sw.counter('static', 'unicast'), 3);
  t.is(sw.counter('static', 'flooded'), 3);
  t.is(sw.counter('static', 'unknownUnicast'), 1);
  t.is(sw.counter('static', 'samePort'), 1);
  t.is(sw.counter('static', 'missingPort'), 1);
  t.is(sw.drops(0, 'extension-drop'), 2);
  t.is(sw.dp.table.count, 0, 'nothing learned');
  const tr = sw.trace(to(M(9)), 0);
  t.is(tr.verdict, 'dropped');
  t.regex(tr.steps.find((s) => s.stage === 'static')?.reason ?? '', /unknown-unicast/);
  t.deepEqual(sw.trace(to(M(2)), 0).destinations, [2]);
  t.is(sw.counter('static', 'unknownUnicast'), 1, 'traces are not counted');
  sw.close();
});

test('floodUnknown floods unknown unicast', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: MOD, config: { entries: ENTRIES, floodUnknown: true } }] });
  t.deepEqual(await deliveredTo(sw, 0, to(M(9))), [1, 2]);
  t.deepEqual(await deliveredTo(sw, 0, to(M(1))), [1]);
  t.is(sw.counter('static', 'unknownUnicast'), 1);
  t.is(sw.counter('static', 'flooded'), 1);
  sw.close();
});

test('a port that appears later (and one that goes away) is resolved by name', async (t) => {
  const sw = await testSwitch({ ports: 4, stages: [{ module: MOD, config: { entries: ENTRIES } }] });
  // port index 3 exists but is named p3 only by testSwitch's naming: detach it first
  const io = sw.ports[3];
  sw.dp.detach(3);
  t.deepEqual(await deliveredTo(sw, 0, to(M(3))), [], 'no p3: missing port');
  t.is(sw.counter('static', 'missingPort'), 1);
  sw.dp.attach(3, 'p3', io, true, 1500);
  t.deepEqual(await deliveredTo(sw, 0, to(M(3))), [3], 'p3 appeared');
  sw.dp.detach(1);
  t.deepEqual(await deliveredTo(sw, 0, to(M(1))), [], 'p1 went away');
  t.is(sw.counter('static', 'missingPort'), 2);
  sw.dp.attach(1, 'p1', sw.ports[1], true, 1500);
  t.deepEqual(await deliveredTo(sw, 0, to(M(1))), [1]);
  sw.close();
});

test('reconfigure replaces the table and keeps counters', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: MOD, config: { entries: ENTRIES } }] });
  t.deepEqual(await deliveredTo(sw, 0, to(M(1))), [1]);
  await sw.reconfigure(0, { entries: [{ mac: M(1), port: 'p2' }] });
  t.deepEqual(await deliveredTo(sw, 0, to(M(1))), [2], 'moved to p2');
  t.deepEqual(await deliveredTo(sw, 0, to(M(2))), [], 'M2 no longer known');
  t.is(sw.counter('static', 'unicast'), 2);
  t.is(sw.counter('static', 'unknownUnicast'), 1);
  sw.close();
});

test('a large table: every entry found', async (t) => {
  const entries = Array.from({ length: 5000 }, (_, k) => ({ mac: `02:aa:00:00:${(k >> 8).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`, port: `p${k % 7}` }));
  const table = compileStatic(validateExtensionConfig(def, { entries }, 'config'));
  let ok = 0;
  for (const [k, e] of entries.entries()) {
    const b = e.mac.split(':').map((x) => parseInt(x, 16));
    if (table.lookup((b[0] << 8) | b[1], ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0) === k) ok++;
  }
  t.is(ok, entries.length);
  t.is(table.lookup(0x02aa, 0xffffffff), -1);
});

test('configuration errors name the field', async (t) => {
  const v = (input: Record<string, unknown>): unknown => compileStatic(validateExtensionConfig(def, input, 'config'));
  t.throws(() => v({ entries: [{ mac: M(1), port: 'p1' }, { mac: 'zz', port: 'p2' }] }), { message: /^config\.entries\[1\]\.mac: expected a MAC address/ });
  t.throws(() => v({ entries: [{ mac: M(1) }] }), { message: 'config.entries[0].port: required' });
  t.throws(() => v({ entries: [{ mac: M(1), port: 'p1' }, { mac: M(1).toUpperCase(), port: 'p2' }] }), { message: /^config\.entries\[1\]\.mac: 02:00:00:00:00:01 is already in entries\[0\]/ });
  t.throws(() => v({ entries: [{ mac: '01:00:5e:00:00:01', port: 'p1' }] }), { message: /^config\.entries\[0\]\.mac: .* group/ });
  t.throws(() => v({ entries: [{ mac: M(1), port: '' }] }), { message: /^config\.entries\[0\]\.port: expected a port name/ });
  t.throws(() => v({ floodUnknown: 'perhaps' }), { message: /^config\.floodUnknown: expected true or false/ });
  t.throws(() => v({ entries: {} }), { message: /^config\.entries: expected a list/ });
  await t.throwsAsync(testSwitch({ ports: 2, stages: [{ module: MOD, config: { entries: [{ mac: 'nope', port: 'p1' }] } }] }), { message: /^config\.entries\[0\]\.mac/ });
  for (const [k, s] of Object.entries(def.doc)) t.true(s.trim().length > 0, `doc.${k}`);
});
