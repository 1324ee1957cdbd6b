#!/usr/bin/env node
// bench/compare.mjs --shared RAW.csv... --ours RAW.csv... [--order "CONFIGS"] — do bench/run.sh's
// figures agree with ../shared/bench's? (bench/compare-harness.sh runs both and then this.)
//
// For every headline figure (bench/summarize.mjs's HEADLINES) and configuration: each harness's
// median over all its runs, its min..max, its relative spread ((max - min) / median), and ours ÷ shared.
// A figure "agrees" when the two harnesses' min..max ranges overlap (the noise of the day, measured,
// rather than a threshold picked in advance); "median inside" says whether each median also lies inside
// the other harness's range, the stricter reading. The same again for each configuration's ratio
// to the first configuration (the ratios are what docs/BENCHMARKS.md quotes), per run.
// Last, the other users' CPU during the measurements (foreign_cpu) in each harness.
import { HEADLINES, fmt, median, readRows, values } from './summarize.mjs';

const args = process.argv.slice(2);
const files = { shared: [], ours: [] };
let order = null;
let side = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--shared') side = 'shared';
  else if (args[i] === '--ours') side = 'ours';
  else if (args[i] === '--order') order = args[++i].split(/\s+/).filter(Boolean);
  else if (side) files[side].push(args[i]);
  else { process.stderr.write(`unexpected argument ${args[i]}\n`); process.exit(2); }
}
if (!files.shared.length || !files.ours.length) {
  process.stderr.write('usage: compare.mjs --shared RAW.csv... --ours RAW.csv... [--order "CONFIGS"]\n');
  process.exit(2);
}
const rows = { shared: readRows(files.shared), ours: readRows(files.ours) };
const configs = order ?? [...new Set(rows.ours.map((r) => r.config))];
const base = configs[0];
const out = [];
const range = (v) => `${fmt(Math.min(...v))}..${fmt(Math.max(...v))}`;
const spread = (v) => `${(((Math.max(...v) - Math.min(...v)) / median(v)) * 100).toFixed(0)} %`;
const inside = (x, v) => x >= Math.min(...v) && x <= Math.max(...v);
const overlap = (a, b) => Math.max(Math.min(...a), Math.min(...b)) <= Math.min(Math.max(...a), Math.max(...b));
const verdict = (a, b) => (inside(median(a), b) && inside(median(b), a) ? 'yes, median inside' : overlap(a, b) ? 'yes' : 'no');
let agree = 0;
let total = 0;

out.push(`== Absolute figures: ${files.shared.length} run(s) of ../shared/bench, ${files.ours.length} of bench/run.sh`, '');
out.push('| figure | config | shared: median [min..max] (spread, n) | ours: median [min..max] (spread, n) | ours ÷ shared | agree |');
out.push('|---|---|---|---|---:|---|');
for (const [wl, m, label] of HEADLINES) {
  for (const c of configs) {
    const s = values(rows.shared, c, wl, m);
    const o = values(rows.ours, c, wl, m);
    if (!s.length || !o.length) continue;
    const ms = median(s);
    const mo = median(o);
    const ok = verdict(s, o);
    total++; if (ok !== 'no') agree++;
    out.push(`| ${label} | ${c} | ${fmt(ms)} [${range(s)}] (${spread(s)}, ${s.length}) | ${fmt(mo)} [${range(o)}] (${spread(o)}, ${o.length}) | ${(mo / ms).toFixed(2)} | ${ok} |`);
  }
}

// ratio to the first configuration, per run (file) and repetition: one value per (file, rep)
const ratios = (rs, c, wl, m) => {
  const v = [];
  for (const f of new Set(rs.map((r) => r.file))) {
    for (const rep of new Set(rs.filter((r) => r.file === f).map((r) => r.rep))) {
      const sel = rs.filter((r) => r.file === f && r.rep === rep);
      const a = values(sel, c, wl, m);
      const b = values(sel, base, wl, m);
      if (a.length && b.length && b[0] !== 0) v.push(a[0] / b[0]);
    }
  }
  return v;
};
if (configs.length > 1) {
  out.push('', `== Ratios to ${base}, one per repetition (the form docs/BENCHMARKS.md quotes)`, '');
  out.push(`| figure | config ÷ ${base} | shared: median [min..max] | ours: median [min..max] | agree |`);
  out.push('|---|---|---|---|---|');
  for (const [wl, m, label] of HEADLINES) {
    for (const c of configs.slice(1)) {
      const s = ratios(rows.shared, c, wl, m);
      const o = ratios(rows.ours, c, wl, m);
      if (!s.length || !o.length) continue;
      const ok = verdict(s, o);
      out.push(`| ${label} | ${c} | ${median(s).toFixed(2)} [${[...s].sort((x, y) => x - y).map((x) => x.toFixed(2)).join(', ')}] | ${median(o).toFixed(2)} [${[...o].sort((x, y) => x - y).map((x) => x.toFixed(2)).join(', ')}] | ${ok} |`);
    }
  }
}

out.push('', '== Other users of the machine during the measurements (foreign_cpu, %core of 200): median / max');
for (const side of ['shared', 'ours']) {
  const v = rows[side].filter((r) => r.metric === 'foreign_cpu' && Number.isFinite(r.value)).map((r) => r.value);
  const h = rows[side].filter((r) => r.metric === 'host_cpu' && Number.isFinite(r.value)).map((r) => r.value);
  if (v.length) out.push(`   ${side.padEnd(7)} foreign ${fmt(median(v))} / ${fmt(Math.max(...v))}, whole machine ${fmt(median(h))} / ${fmt(Math.max(...h))}  (${v.length} measurements)`);
}
const errs = ['shared', 'ours'].map((sd) => rows[sd].filter((r) => r.metric === 'error').map((r) => `${sd} ${r.config} ${r.workload}: ${r.unit}`)).flat();
if (errs.length) out.push('', '== Errors', ...[...new Set(errs)].map((e) => `   ${e}`));
out.push('', `== ${agree} of ${total} absolute figures agree (min..max ranges overlap)`);
process.stdout.write(`${out.join('\n')}\n`);
