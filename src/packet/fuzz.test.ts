/**
 * Frame fuzzing (issue 9 item 17), the CI-sized run: property-based malformed and valid frames
 * (fuzz.ts) through the whole data path with every built-in extension enabled
 * (reliability/fuzz-switch.ts). No exception, no extension fault, and every frame accounted for:
 * received = forwarded + dropped by reason, sent = destinations. The 10-million-frame run is
 * bench/fuzz.sh.
 */
import test from 'ava';
import fc from 'fast-check';
import { ARBITRARIES, FUZZ_KINDS, fuzzFrame, type FuzzFrame } from './fuzz.js';
import { describeFrame, dropsByReason, FuzzBench, received, subtractBooks, unbalanced, type Books } from '../reliability/fuzz-switch.js';

const SEED = Number(process.env.XVS_FUZZ_SEED ?? 20261206);

test('every generator yields frames of its kind, malformed ones included', (t) => {
  for (const kind of FUZZ_KINDS) {
    const xs = fc.sample(ARBITRARIES[kind], { seed: SEED, numRuns: 200 });
    t.true(xs.every((f) => f.kind === kind && f.bytes instanceof Uint8Array && f.bytes.length <= 1800), kind);
    t.true(new Set(xs.map((f) => f.bytes.length)).size > 10, `${kind}: lengths vary`);
  }
});

test('fuzzed frames through the full pipeline: no exception, no fault, every frame accounted for', async (t) => {
  const bench = await FuzzBench.create();
  t.teardown(() => bench.close());
  let frames = 0;
  const kinds = new Map<string, number>();
  fc.assert(
    fc.property(fc.array(fuzzFrame(), { minLength: 1, maxLength: 300, size: 'max' }), (batch: FuzzFrame[]) => {
      const before: Books[] = bench.switches.map((s) => s.books());
      const faults = bench.faults().length;
      bench.run(batch);
      bench.tick();
      const newFaults = bench.faults().slice(faults);
      const problems = bench.switches.flatMap((s, k) => unbalanced(subtractBooks(s.books(), before[k])).map((p) => `${s.name}: ${p}`));
      if (newFaults.length || problems.length) {
        t.log([...newFaults, ...problems, ...batch.slice(0, 5).map(describeFrame)].join('\n'));
        return false;
      }
      frames += batch.length;
      for (const f of batch) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
      return true;
    }),
    { seed: SEED, numRuns: 160 },
  );
  t.true(frames >= 20000, `${frames} frames`);
  t.deepEqual(bench.faults(), []);
  for (const s of bench.switches) {
    const k = s.books();
    t.deepEqual(unbalanced(k), [], s.name);
    const drops = dropsByReason(k);
    t.log(`${s.name}: received ${received(k)}, forwarded ${k.forwarded} (${k.copies} copies), dropped ${JSON.stringify(drops)}`);
    // the malformed frames really reached the checks that name them
    for (const r of ['runt', 'oversize', 'bad-ethertype', 'bad-source-mac', 'extension-drop']) t.true((drops[r] ?? 0) > 0, `${s.name}: ${r}`);
    t.true(k.forwarded > received(k) / 5, `${s.name}: valid frames are forwarded`);
    t.true(k.originated > 0, `${s.name}: extensions originated frames (dhcp replies, sflow datagrams)`);
  }
  for (const kind of FUZZ_KINDS) t.true((kinds.get(kind) ?? 0) > 100, `${kind}: ${kinds.get(kind)}`);
  const dhcp = bench.switches[0].sw;
  t.true(dhcp.counter('dhcp-server', 'malformed') > 0, 'malformed DHCP reached the DHCP parser');
  t.true(dhcp.counter('dhcp-server', 'offers') > 0, 'valid DISCOVERs were answered');
  t.true(dhcp.counter('sflow', 'sampled') > 0);
  t.true(dhcp.counter('pcap', 'captured') > 0);
});
