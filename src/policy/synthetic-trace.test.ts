/**
 * A synthetic trace (`xvs trace --packet`) runs a frame through the real policies but never sends it:
 * it must change no policy state — no flow state that would let replies in, no meter bytes, no
 * tokens, no storm or mirror counts.
 */
import test from 'ava';
import type { PortSettings } from '../config/types.js';
import { testSwitch } from '../extensions/testing.js';
import { udpFrame } from '../test-support/frames.js';
import { POLICY_PORT_STRIDE } from './counters.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';

/** TCP from A (198.18.1.1:12345) to B (198.18.1.2:9), or the reply */
function tcp(reply: boolean): Uint8Array {
  const f = reply ? udpFrame(A, B) : udpFrame(B, A);
  f[23] = 6;
  if (reply) {
    f.set([198, 18, 1, 2], 26); f.set([198, 18, 1, 1], 30);
    f[34] = 0x00; f[35] = 0x09; f[36] = 0x30; f[37] = 0x39;
  }
  f[46] = 0x50; f[47] = 0x02;
  return f;
}

test('a synthetic trace judges a frame against the policies but changes none of their state', async (t) => {
  const sw = await testSwitch({ ports: 2 });
  const vm0: PortSettings = {
    macAddressSpoofing: true, stormLimit: 1000, maximumBandwidth: 8_000_000, portMirroring: 'source',
    acls: [{ action: 'meter', direction: 'both', remoteIPAddress: '0.0.0.0/0' }],
    extendedAcls: [
      { action: 'deny', direction: 'inbound', weight: 1 },
      { action: 'allow', direction: 'outbound', weight: 10, protocol: 'tcp', remotePort: '9', stateful: true },
    ],
  };
  sw.dp.policy.install({ ports: [
    { index: 0, name: 'vm0', kind: 'vm', settings: vm0 },
    { index: 1, name: 'vm1', kind: 'vm', settings: { macAddressSpoofing: true } },
  ] });
  // both MACs known, so the frames below are unicast
  sw.send(1, udpFrame('ff:ff:ff:ff:ff:ff', B));
  sw.breathe();
  const before = Array.from(sw.dp.policyCounters.v.subarray(0, 2 * POLICY_PORT_STRIDE));
  const tr = sw.trace(tcp(false), 0);
  t.is(tr.verdict, 'forwarded', JSON.stringify(tr.steps));
  t.deepEqual(Array.from(sw.dp.policyCounters.v.subarray(0, 2 * POLICY_PORT_STRIDE)), before, 'no policy counter moved');
  sw.clearSent();
  const denied = sw.drops(1, 'extended-acl'); // the broadcast above met vm0's inbound deny-all
  sw.send(1, tcp(true));
  sw.breathe();
  t.is(sw.sent(0).length, 0, 'the trace opened no flow state: the reply is denied');
  t.is(sw.drops(1, 'extended-acl'), denied + 1);
  // the real frame does open it
  sw.send(0, tcp(false));
  sw.breathe();
  sw.send(1, tcp(true));
  sw.breathe();
  t.is(sw.sent(0).length, 1, 'after the real frame the reply passes');
  sw.close();
});
