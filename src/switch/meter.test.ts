/**
 * `port meter`: the report of a port's meter entries summed over workers, and reset as a baseline kept on the
 * control plane (the workers' counters are never written), bound to the entry it was taken for.
 */
import test from 'ava';
import type { PortAcl } from '../config/types.js';
import { PolicyCounters } from '../policy/counters.js';
import { MeterBaselines } from './meter.js';

const acls: PortAcl[] = [
  { action: 'deny', direction: 'inbound', remoteIPAddress: '10.9.0.0/16' },
  { action: 'meter', direction: 'both', remoteIPAddress: '10.0.0.0/8' },
  { action: 'meter', direction: 'outbound', localIPAddress: 'f001::/64' },
];

/** what the workers would have counted for entry k of port p: [inBytes, inPackets, outBytes, outPackets] */
function count(block: PolicyCounters, p: number, k: number, v: number[]): void {
  const s = PolicyCounters.meter(p, k);
  for (let f = 0; f < 4; f++) block.v[s + f] += v[f];
}

test('per meter entry and in total, summed over workers; reset reports then counts from zero; counters untouched', (t) => {
  const blocks = [new PolicyCounters(), new PolicyCounters()];
  count(blocks[0], 3, 0, [999, 9, 999, 9]);
  count(blocks[0], 3, 1, [1000, 10, 500, 5]);
  count(blocks[1], 3, 1, [100, 1, 50, 1]);
  count(blocks[1], 3, 2, [0, 0, 300, 3]);
  const m = new MeterBaselines();
  const r = m.report('sw0', 'vm1', 3, acls, blocks, false);
  t.deepEqual(r.entries, [
    { index: 1, direction: 'both', remoteAddress: '10.0.0.0/8', inboundBytes: 1100, inboundPackets: 11, outboundBytes: 550, outboundPackets: 6 },
    { index: 2, direction: 'outbound', localAddress: 'f001::/64', inboundBytes: 0, inboundPackets: 0, outboundBytes: 300, outboundPackets: 3 },
  ], 'only meter entries are reported');
  t.deepEqual(r.totals, { inboundBytes: 1100, inboundPackets: 11, outboundBytes: 850, outboundPackets: 9 });
  t.false('reset' in r);

  const before = Float64Array.from(blocks[0].v.subarray(0, PolicyCounters.port(4)));
  const r2 = m.report('sw0', 'vm1', 3, acls, blocks, true);
  t.true(r2.reset);
  t.deepEqual(r2.totals, r.totals, 'the reset report still has the counts');
  t.deepEqual(Float64Array.from(blocks[0].v.subarray(0, PolicyCounters.port(4))), before, 'the shared counters are not written');
  t.true(Date.parse(r2.since) <= Date.now());

  const zero = m.report('sw0', 'vm1', 3, acls, blocks, false);
  t.deepEqual(zero.totals, { inboundBytes: 0, inboundPackets: 0, outboundBytes: 0, outboundPackets: 0 });
  t.true(Date.parse(zero.since) >= Date.parse(r.since), 'since: the reset');
  count(blocks[1], 3, 1, [64, 1, 0, 0]);
  t.is(m.report('sw0', 'vm1', 3, acls, blocks, false).entries[0].inboundBytes, 64);

  // the list changed: entry 1 is now another entry, so its baseline no longer applies
  const changed: PortAcl[] = [acls[0], { action: 'meter', direction: 'inbound', remoteIPAddress: '10.1.0.0/16' }, acls[2]];
  t.is(m.report('sw0', 'vm1', 3, changed, blocks, false).entries[0].inboundBytes, 1164);
  // the workers started the entry's record again (counts below the baseline): read as they are
  blocks.forEach((b) => b.clearPort(3));
  count(blocks[0], 3, 1, [10, 1, 0, 0]);
  t.is(m.report('sw0', 'vm1', 3, acls, blocks, false).entries[0].inboundBytes, 10);
  m.forget('vm1');
  t.is(m.report('sw0', 'vm1', 3, acls, blocks, false).since, r.since, 'a forgotten port counts from the start again');
});
