#!/usr/bin/env node
// bench/summarize.mjs RAW.csv [--order "CONFIGS"] [--baselines "CONFIGS"] — the tables of bench/run.sh.
//
// RAW.csv rows: epoch,rep,config,switch,kind,offload,workload,metric,value,unit (bench/run.sh writes
// them, and so does ../shared/bench, whose raw.csv this reads as well). Prints
//   1. a Markdown table, one row per headline figure, one column per configuration: the median over
//      the repetitions and, in parentheses, its ratio to the first baseline (docs/BENCHMARKS.md's form);
//   2. per metric: n, median, min..max and the ratio of medians to every baseline (> 1 = more of the
//      metric: for latencies and losses, lower is better, so > 1 is worse);
//   3. CPU during each workload (medians, %core: 100 = one core), the other users' CPU (foreign_cpu)
//      and every error.
// Read-only. Also a module: bench/compare.mjs imports readRows, median and HEADLINES.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The headline figures, in table order: [workload, metric, label, better]. */
export const HEADLINES = [
  ['tcp', 'gbps', 'TCP Gb/s', 'higher'],
  ['udp64', 'kpps_rx', '64 B UDP kpps', 'higher'],
  ['flood64', 'kpps_rx', '64 B flood kpps', 'higher'],
  ['rr', 'tps', 'UDP RR trans/s', 'higher'],
  ['rr', 'p50_us', 'RR p50 µs', 'lower'],
  ['rr', 'p99_us', 'RR p99 µs', 'lower'],
  ['ping', 'p50_us', 'ping p50 µs', 'lower'],
  ['ping', 'p99_us', 'ping p99 µs', 'lower'],
];
const DETAIL = [
  ...HEADLINES,
  ['tcp', 'retrans', 'TCP retransmissions', 'lower'],
  ['udp64', 'kpps_tx', '64 B UDP sent kpps', 'info'],
  ['udp64', 'loss_pct', '64 B UDP loss %', 'lower'],
  ['flood64', 'kpps_tx', '64 B flood sent kpps', 'info'],
  ['flood64', 'leak_pkts', 'flood frames at the bystander', 'lower'],
  // bench/hnv.sh: frames each xvs daemon forwarded per second of its own CPU time (host 0 sends, host 1 receives)
  ['flood64', 'kpps_per_core_h0', '64 B flood kpps per core, host 0', 'higher'],
  ['flood64', 'kpps_per_core_h1', '64 B flood kpps per core, host 1', 'higher'],
  ['ping', 'loss_pct', 'ping loss %', 'lower'],
];
const WORKLOADS = ['tcp', 'udp64', 'flood64', 'rr', 'ping'];

/**
 * Rows of one or more raw.csv files: { rep, config, workload, metric, value (number|NaN), unit }.
 * @param {string[]} files
 */
export function readRows(files) {
  const rows = [];
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    for (const line of lines.slice(1)) {
      if (!line.trim()) continue;
      const c = line.split(',');
      if (c.length < 10) continue;
      rows.push({
        file: f, rep: c[1], config: c[2], workload: c[6], metric: c[7],
        value: c[7] === 'error' ? NaN : Number(c[8]), unit: c.slice(9).join(','),
      });
    }
  }
  return rows;
}

/** @param {number[]} v */
export function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Values of one (config, workload, metric), in file/repetition order. */
export function values(rows, config, workload, metric) {
  return rows.filter((r) => r.config === config && r.workload === workload && r.metric === metric && Number.isFinite(r.value))
    .map((r) => r.value);
}

/** A figure with three significant digits, or whole numbers from 1000 on (with a thin space). */
export function fmt(x) {
  if (!Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 10000) return Math.round(x).toLocaleString('en').replace(/,/g, ' ');
  if (Math.abs(x) >= 100) return x.toFixed(1).replace(/\.0$/, '');
  return Number(x.toPrecision(3)).toString();
}

function pad(s, n) { return String(s).padEnd(n); }
function lpad(s, n) { return String(s).padStart(n); }

function main() {
  const args = process.argv.slice(2);
  const files = [];
  let order = null;
  let bases = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--order') order = args[++i].split(/\s+/).filter(Boolean);
    else if (args[i] === '--baselines') bases = args[++i].split(/\s+/).filter(Boolean);
    else files.push(args[i]);
  }
  if (files.length === 0) {
    process.stderr.write('usage: summarize.mjs RAW.csv... [--order "CONFIGS"] [--baselines "CONFIGS"]\n');
    process.exit(2);
  }
  const rows = readRows(files);
  const configs = order ?? [...new Set(rows.map((r) => r.config))];
  bases = (bases ?? ['bridge:on', 'ovs:off']).filter((b) => configs.includes(b));
  const out = [];
  const base0 = bases[0];

  out.push(`== Medians over the repetitions${base0 ? ` (ratio to ${base0} in parentheses)` : ''}`, '');
  out.push(`| workload | ${configs.join(' | ')} |`, `|---|${configs.map(() => '---:').join('|')}|`);
  for (const [wl, m, label] of HEADLINES) {
    const meds = configs.map((c) => median(values(rows, c, wl, m)));
    if (meds.every((x) => !Number.isFinite(x))) continue;
    const b = base0 ? median(values(rows, base0, wl, m)) : NaN;
    const cells = meds.map((x, i) => (!Number.isFinite(x) ? '–'
      : configs[i] === base0 || !Number.isFinite(b) || b === 0 ? fmt(x) : `${fmt(x)} (${(x / b).toFixed(2)})`));
    out.push(`| ${label} | ${cells.join(' | ')} |`);
  }

  out.push('', '== Per metric: n, median, [min..max], ratio of medians to each baseline (> 1 = more of it)');
  for (const [wl, m, label, better] of DETAIL) {
    if (!configs.some((c) => values(rows, c, wl, m).length)) continue;
    const unit = rows.find((r) => r.workload === wl && r.metric === m)?.unit ?? '';
    out.push('', `-- ${wl} ${m}: ${label} (${unit}${better === 'info' ? '' : `, ${better} is better`})`);
    out.push(`   ${pad('config', 14)} ${lpad('n', 2)} ${lpad('median', 10)}  ${pad('min..max', 21)}${bases.map((b) => lpad(`÷${b}`, 13)).join('')}`);
    for (const c of configs) {
      const v = values(rows, c, wl, m);
      if (!v.length) continue;
      const med = median(v);
      const ratios = bases.map((b) => {
        const mb = median(values(rows, b, wl, m));
        return lpad(Number.isFinite(mb) && mb !== 0 ? (med / mb).toFixed(2) : '–', 13);
      }).join('');
      out.push(`   ${pad(c, 14)} ${lpad(v.length, 2)} ${lpad(fmt(med), 10)}  ${pad(`${fmt(Math.min(...v))}..${fmt(Math.max(...v))}`, 21)}${ratios}`);
    }
  }

  const used = WORKLOADS.filter((w) => rows.some((r) => r.workload === w && r.metric === 'host_cpu'));
  out.push('', '== CPU during each workload, medians in %core (100 = one core): switch / whole machine / softirq');
  out.push(`   ${pad('config', 14)}${used.map((w) => pad(w, 16)).join('')}`);
  for (const c of configs) {
    const cell = (w) => ['sw_cpu', 'host_cpu', 'softirq_cpu'].map((k) => {
      const x = median(values(rows, c, w, k));
      return Number.isFinite(x) ? x.toFixed(0) : '–';
    }).join('/');
    out.push(`   ${pad(c, 14)}${used.map((w) => pad(cell(w), 16)).join('')}`);
  }
  out.push('', '== Other users of the machine during the measurements (foreign_cpu, %core): median / max');
  for (const c of configs) {
    const v = rows.filter((r) => r.config === c && r.metric === 'foreign_cpu' && Number.isFinite(r.value)).map((r) => r.value);
    if (v.length) out.push(`   ${pad(c, 14)} ${fmt(median(v))} / ${fmt(Math.max(...v))}  (${v.length} measurements)`);
  }
  const errors = new Map();
  for (const r of rows.filter((x) => x.metric === 'error')) {
    const k = `${r.config} ${r.workload}: ${r.unit}`;
    errors.set(k, (errors.get(k) ?? 0) + 1);
  }
  if (errors.size) {
    out.push('', '== Errors (count × message)');
    for (const [k, n] of errors) out.push(`   ${n}× ${k}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
