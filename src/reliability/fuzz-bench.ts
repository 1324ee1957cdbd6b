/**
 * The fuzz bench (bench/fuzz.sh): N frames (default 10 million) through the fuzz switches
 * (fuzz-switch.ts: every built-in extension, learning and static forwarders), printing frames/s,
 * exceptions, extension faults and the accounting. Exit 0 only when there was no exception or
 * fault and every frame is accounted for.
 *
 *   node dist/src/reliability/fuzz-bench.js [--frames N] [--seed S] [--fresh F] [--chunk C]
 *
 * Frames come in chunks of C (default 4096; one simulated second each, then the extensions' tick).
 * A fraction F (default 0.1) of each chunk is drawn fresh from the fast-check generators
 * (packet/fuzz.ts); the rest are cheap mutations of those (cut at a random length, 1–3 bytes
 * overwritten, another port), so the run is bounded by the switch, not by the generator. --fresh 1
 * draws every frame from fast-check. The first problem found is printed with the frame's hex.
 */
import fc from 'fast-check';
import { FUZZ_KINDS, fuzzFrame, type FuzzFrame } from '../packet/fuzz.js';
import { describeFrame, dropped, dropsByReason, FuzzBench, received, subtractBooks, unbalanced } from './fuzz-switch.js';

function arg(name: string, def: number): number {
  const k = process.argv.indexOf(`--${name}`);
  if (k < 0) return def;
  const v = Number(process.argv[k + 1]);
  if (!Number.isFinite(v) || v < 0) {
    process.stderr.write(`--${name}: expected a non-negative number, got ${JSON.stringify(process.argv[k + 1])}\n`);
    process.exit(2);
  }
  return v;
}

/** xorshift32: the mutation stream (deterministic from the seed) */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

function mutate(f: FuzzFrame, r: () => number): FuzzFrame {
  const cut = r() % 4 === 0 ? r() % (f.bytes.length + 1) : f.bytes.length;
  const b = f.bytes.slice(0, cut);
  const flips = r() % 4;
  for (let k = 0; k < flips && b.length; k++) b[r() % b.length] = r() & 255;
  return { kind: f.kind, port: r() % 8 === 0 ? r() & 255 : f.port, bytes: b };
}

async function main(): Promise<void> {
  const total = arg('frames', 10_000_000);
  const seed = arg('seed', 1);
  const fresh = Math.min(1, arg('fresh', 0.1));
  const chunk = Math.max(1, arg('chunk', 4096));
  const bench = await FuzzBench.create();
  const arb = fuzzFrame();
  const r = rng(seed * 2654435761);
  const kinds = new Map<string, number>();
  const t0 = performance.now();
  let genMs = 0;
  let done = 0;
  let freshFrames = 0;
  let nextReport = t0 + 10_000;
  let problem: string[] = [];
  for (let c = 0; done < total && problem.length === 0; c++) {
    const n = Math.min(chunk, total - done);
    const g0 = performance.now();
    const nFresh = Math.max(1, Math.round(n * fresh));
    const base = fc.sample(arb, { seed: seed * 1_000_003 + c, numRuns: nFresh });
    const frames: FuzzFrame[] = base.slice();
    while (frames.length < n) frames.push(mutate(base[r() % base.length], r));
    genMs += performance.now() - g0;
    freshFrames += nFresh;
    for (const f of frames) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
    const before = bench.switches.map((s) => s.books());
    const faults = bench.faults().length;
    bench.run(frames);
    bench.tick();
    done += n;
    const bad = [...bench.faults().slice(faults), ...bench.switches.flatMap((s, k) => unbalanced(subtractBooks(s.books(), before[k])).map((p) => `${s.name}: ${p}`))];
    if (bad.length) problem = [...bad, `in chunk ${c} (seed ${seed}); its first frames:`, ...frames.slice(0, 8).map(describeFrame)];
    const now = performance.now();
    if (now >= nextReport) {
      nextReport = now + 10_000;
      process.stdout.write(`  ${done} frames, ${Math.round(done / ((now - t0) / 1000))} frames/s\n`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const out: string[] = [];
  out.push(`frames: ${done} (${freshFrames} drawn by fast-check, the rest mutations of those), seed ${seed}`);
  out.push(`by kind: ${FUZZ_KINDS.map((k) => `${k} ${kinds.get(k) ?? 0}`).join(', ')}`);
  out.push(`time: ${secs.toFixed(1)} s, ${Math.round(done / secs)} frames/s overall; switch alone ${Math.round(done / (secs - genMs / 1000))} frames/s (generation ${(genMs / 1000).toFixed(1)} s)`);
  const faults = bench.faults();
  out.push(`exceptions and extension faults: ${faults.length}`);
  for (const f of faults.slice(0, 5)) out.push(`  ${f}`);
  for (const s of bench.switches) {
    const k = s.books();
    const p = unbalanced(k);
    out.push(`${s.name}: received ${received(k)} (${k.portRx} on ports, ${k.originated} originated) = forwarded ${k.forwarded} + dropped ${dropped(k)}; ` +
      `${k.copies} destinations = ${k.sent} sent; ${p.length ? `UNBALANCED: ${p.join('; ')}` : 'balanced'}`);
    out.push(`  drops: ${JSON.stringify(dropsByReason(k))}`);
  }
  if (problem.length) out.push('FIRST PROBLEM:', ...problem.map((l) => `  ${l}`));
  const ok = faults.length === 0 && problem.length === 0 && bench.switches.every((s) => unbalanced(s.books()).length === 0);
  out.push(ok ? 'RESULT: ok' : 'RESULT: FAILED');
  process.stdout.write(out.join('\n') + '\n');
  bench.close();
  process.exitCode = ok ? 0 : 1;
}

await main();
