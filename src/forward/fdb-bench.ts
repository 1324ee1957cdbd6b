/**
 * In-process cost of the learning path per 64-byte frame: `node dist/src/forward/fdb-bench.js`.
 * The real DataPath (validation, learning forwarder, shared MAC table) on memory ports
 * (extensions/testing.ts), one worker, batches of 256, medians of 7 rounds of 2 M frames:
 * - known: 256 learned source MACs → one learned destination (the refresh fast path);
 * - flood: 65 536 new source MACs a port may not add (its MAC limit, or a full table where
 *   the table has no per-port limits) → one learned destination.
 * Time is the process's CPU time (process.cpuUsage), not the wall clock, so other load on the
 * machine does not count (cache and frequency effects still do). Not a test.
 */
import { testSwitch } from '../extensions/testing.js';
import { udpFrame } from '../test-support/frames.js';

const ROUNDS = 7;
const FRAMES = 2_000_000;
const DST = '02:00:00:00:00:02';

function macOf(i: number): string {
  return `06:00:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

async function run(name: string, sources: number, portLimit: number | null): Promise<void> {
  const sw = await testSwitch({ ports: 2, macLimit: 1024 });
  for (const p of sw.ports) p.record = null;
  // learn the destination on port 1
  sw.send(1, udpFrame('ff:ff:ff:ff:ff:ff', DST));
  sw.breathe();
  const table = sw.dp.table as { setPortLimit?: (p: number, n: number) => void };
  if (portLimit !== null && table.setPortLimit) table.setPortLimit(0, portLimit);
  const inbox = sw.ports[0].inbox;
  for (let i = 0; i < sources; i++) inbox.push(udpFrame(DST, macOf(i)));
  sw.ports[0].repeat = true;
  const res: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const before = sw.ports[1].sentFrames;
    const c0 = process.cpuUsage();
    while (sw.ports[1].sentFrames - before < FRAMES) sw.breathe();
    const c = process.cpuUsage(c0);
    const dt = (c.user + c.system) * 1000; // µs → ns
    if (r > 0) res.push(dt / (sw.ports[1].sentFrames - before)); // round 0: warm-up
  }
  res.sort((a, b) => a - b);
  process.stdout.write(`${name.padEnd(58)} ${res[res.length >> 1].toFixed(1)} ns/frame (min ${res[0].toFixed(1)})\n`);
  sw.close();
}

await run('known: 256 learned sources, unicast', 256, null);
await run('flood: 65536 new sources at the port limit (512)', 65536, 512);
await run('flood: 65536 new sources, table full (no port limit)', 65536, null);
