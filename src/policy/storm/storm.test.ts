/**
 * Storm limit on the real data path (testSwitch): broadcast, multicast and unknown unicast count
 * against the port's frames per second, known unicast does not; the excess of a second is dropped
 * (storm-limit) and counted (stormExcess); the next second starts afresh.
 */
import test from 'ava';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import { buildPacket } from '../../packet/spec.js';
import { PolicyCounters, PPF } from '../counters.js';
import { stormPolicy } from './index.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const frame = (dst: string, src = A): Uint8Array => buildPacket(`eth(src=${src},dst=${dst}),ipv4(),udp(src=1,dst=2)`);

async function limited(limit: number): Promise<TestSwitch> {
  const sw = await testSwitch({ ports: 3 });
  sw.dp.policy.install({
    ports: [0, 1, 2].map((index) => ({ index, name: `vm${index}`, kind: 'vm' as const, settings: { macAddressSpoofing: true, ...(index === 0 ? { stormLimit: limit } : {}) } })),
  });
  return sw;
}

const excess = (sw: TestSwitch): number => sw.dp.policyCounters.v[PolicyCounters.port(0) + PPF.stormExcess];

test('broadcast, multicast and unknown unicast beyond the limit in one second are dropped; the next second starts afresh', async (t) => {
  const sw = await limited(5);
  sw.now = 2000.1;
  for (let k = 0; k < 3; k++) sw.send(0, frame('ff:ff:ff:ff:ff:ff'), frame('01:00:5e:00:00:01'), frame('02:00:00:00:99:99'));
  sw.breathe();
  t.is(sw.sent(1).length, 5, 'five of nine storm frames in second 2000');
  t.is(sw.drops(0, 'storm-limit'), 4);
  t.is(excess(sw), 4);
  sw.now = 2000.9;
  sw.send(0, frame('ff:ff:ff:ff:ff:ff'));
  sw.breathe();
  t.is(sw.sent(1).length, 5, 'still second 2000');
  sw.now = 2001.0;
  sw.clearSent();
  for (let k = 0; k < 7; k++) sw.send(0, frame('ff:ff:ff:ff:ff:ff'));
  sw.breathe();
  t.is(sw.sent(1).length, 5, 'second 2001: five again');
  t.is(sw.drops(0, 'storm-limit'), 4 + 1 + 2);
  t.is(excess(sw), 7);
  t.regex(JSON.stringify(sw.trace(frame('ff:ff:ff:ff:ff:ff'), 0).steps), /storm limit vm0: more than 5 broadcast/);
  sw.close();
});

test('known unicast is not limited; other ports and a limit of 0 are not limited', async (t) => {
  const sw = await limited(2);
  sw.send(1, frame(A, B)); // B learned on port 1
  sw.breathe();
  sw.clearSent();
  for (let k = 0; k < 10; k++) sw.send(0, frame(B));
  sw.breathe();
  t.is(sw.sent(1).length, 10, 'known unicast to B');
  for (let k = 0; k < 10; k++) sw.send(1, frame('ff:ff:ff:ff:ff:ff', B));
  sw.breathe();
  t.is(sw.sent(0).length, 10, 'port 1 has no limit');
  t.is(sw.drops(0, 'storm-limit'), 0);
  sw.dp.policy.install({ ports: [0, 1].map((index) => ({ index, name: `vm${index}`, kind: 'vm' as const, settings: { macAddressSpoofing: true, stormLimit: 0 } })) });
  t.deepEqual(sw.dp.policy.installed().filter((p) => p.hook.name === 'storm-limit'), [], 'no hook');
  t.deepEqual(stormPolicy.summary({ ports: [{ index: 0, name: 'vm0', kind: 'vm', settings: { stormLimit: 100 } }] }), ['vm0: storm limit 100 broadcast/multicast/unknown-unicast frames per second']);
  t.throws(() => sw.dp.policy.install({ ports: [{ index: 0, name: 'vm0', kind: 'vm', settings: { stormLimit: 1.5 } }] }), { message: /vm0\.stormLimit/ });
  sw.close();
});
