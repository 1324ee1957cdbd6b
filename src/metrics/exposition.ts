/**
 * The Prometheus text exposition format (version 0.0.4): a small typed renderer and a strict parser.
 *
 * Why not prom-client: its registry owns the values (a Counter is incremented by the code that counts),
 * while xvs already counts in shared memory and only reads at scrape time. Its collect() callbacks can
 * set gauges from outside, but counters then need reset()+inc() per scrape and every label set lives on in
 * the registry after its port is gone. A family table plus a renderer of ~60 lines is the whole need.
 *
 * The parser is for tests and `xvs` tooling: it accepts what the renderer writes (and the format's
 * escapes), and refuses anything else with the line number.
 */

export type MetricType = 'counter' | 'gauge';

/** One metric family: its name, type, one-line help, and its label names in order. */
export interface MetricFamily<L extends string = string> {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly L[];
}

/** A sample of a family: label values in the family's label order, and the value. */
export interface Sample {
  readonly labels: readonly string[];
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A family definition, checked: valid names, counters end in `_total`, no reserved `__` labels. */
export function family<const L extends string>(name: string, type: MetricType, help: string, labels: readonly L[]): MetricFamily<L> {
  if (!NAME.test(name)) throw new Error(`metric name "${name}" is not valid`);
  if (type === 'counter' && !name.endsWith('_total')) throw new Error(`counter "${name}" must end in _total`);
  if (type === 'gauge' && name.endsWith('_total')) throw new Error(`gauge "${name}" must not end in _total`);
  for (const l of labels) if (!LABEL.test(l) || l.startsWith('__')) throw new Error(`label "${l}" of "${name}" is not valid`);
  return { name, type, help, labels };
}

/** HELP text: backslash and newline escaped. */
export function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A label value: backslash, double quote and newline escaped. */
export function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The exposition of these families, in order; a family with no samples still has its HELP and TYPE. */
export function renderExposition(families: readonly { family: MetricFamily; samples: readonly Sample[] }[]): string {
  const out: string[] = [];
  for (const { family: f, samples } of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of samples) {
      if (s.labels.length !== f.labels.length) throw new Error(`${f.name}: ${s.labels.length} label values for ${f.labels.length} labels`);
      const labels = f.labels.map((l, i) => `${l}="${escapeLabelValue(s.labels[i])}"`).join(',');
      out.push(`${f.name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}`);
    }
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

// ---------------------------------------------------------------------------------------------------------------
// Parse

export interface ParsedSample {
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}

function unescape(s: string, line: number): string {
  return s.replace(/\\(.)/g, (_m, c: string) => {
    if (c === 'n') return '\n';
    if (c === '\\' || c === '"') return c;
    throw new Error(`line ${line}: bad escape \\${c}`);
  });
}

function parseValue(s: string, line: number): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value "${s}"`);
  return Number(s);
}

/** Families by name. Every sample must follow its family's TYPE line; label sets must not repeat. */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  const out = new Map<string, ParsedFamily>();
  const seen = new Set<string>();
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new Error('the exposition must end with a newline');
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw === '') return;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(raw);
    if (meta) {
      const [, kind, name, rest] = meta;
      const f = out.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      if (kind === 'HELP') f.help = unescape(rest, n);
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`line ${n}: bad type "${rest}"`);
        if (f.samples.length > 0) throw new Error(`line ${n}: TYPE of ${name} after its samples`);
        f.type = rest;
      }
      out.set(name, f);
      return;
    }
    if (raw.startsWith('#')) return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(raw);
    if (!m) throw new Error(`line ${n}: not a sample: ${raw}`);
    const [, name, body, value] = m;
    const labels: Record<string, string> = {};
    if (body !== undefined && body !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let at = 0;
      while (at < body.length) {
        re.lastIndex = at;
        const l = re.exec(body);
        if (!l) throw new Error(`line ${n}: bad labels {${body}}`);
        if (l[1] in labels) throw new Error(`line ${n}: label ${l[1]} twice`);
        labels[l[1]] = unescape(l[2], n);
        at = re.lastIndex;
      }
    }
    const f = out.get(name);
    if (!f) throw new Error(`line ${n}: sample of ${name} without HELP/TYPE`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${n}: ${name} with the same labels twice`);
    seen.add(key);
    f.samples.push({ labels, value: parseValue(value, n) });
  });
  return out;
}

/** The value of the sample of `name` whose labels include `match` (undefined: none). */
export function sampleValue(families: Map<string, ParsedFamily>, name: string, match: Record<string, string>): number | undefined {
  const f = families.get(name);
  const s = f?.samples.find((x) => Object.entries(match).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}
