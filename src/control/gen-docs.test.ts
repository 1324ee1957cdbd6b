/**
 * docs/CONTROL.md's method reference and ranges are generated from the method table and the validators'
 * constants: the file is current, every method is documented with exactly the params its parser accepts,
 * the ranges stated are the ones the validators enforce, and the hand-written prose states no range.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../repo-root.js';
import { ConfigError } from '../core/errors.js';
import { validateSwitch } from '../config/schema.js';
import { BEGIN, END, ranges, withGeneratedBlock } from './gen-docs.js';
import { METHOD_DOCS, documentedParams } from './method-docs.js';
import { LIMITS, METHODS, type MethodName } from './protocol.js';

const doc = (): string => readFileSync(fromRoot('docs', 'CONTROL.md'), 'utf8');

function errorOf(f: () => unknown): ConfigError | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

test('docs/CONTROL.md has the generated method reference, up to date', (t) => {
  const cur = doc();
  t.is(cur, withGeneratedBlock(cur), 'run: node dist/src/control/gen-docs.js');
  for (const m of Object.keys(METHODS)) t.true(cur.includes(`| \`${m}\` |`), `${m} is listed`);
});

test('every method is documented, with exactly the params its parser accepts', (t) => {
  for (const m of Object.keys(METHODS) as MethodName[]) {
    const d = METHOD_DOCS[m];
    if (!d) { t.fail(`${m}: no entry in METHOD_DOCS (src/control/method-docs.ts)`); continue; }
    const names = documentedParams(d.params).map((p) => p.name);
    const parse = METHODS[m].parse;
    for (const n of names) {
      const e = errorOf(() => parse({ [n]: Symbol('probe') }));
      t.false(e !== undefined && e.field === `params.${n}` && /unknown key/.test(e.message), `${m}: documented param ${n} is accepted`);
    }
    const e = errorOf(() => parse({ zzUnknown: 1 }));
    t.truthy(e, `${m}: an unknown param is refused`);
    const listed = /expected one of ([^)]*)\)/.exec(e?.message ?? '');
    const accepted = listed ? listed[1].split(', ') : [];
    if (!listed) t.regex(e?.message ?? '', /takes no params/, `${m}: ${e?.message}`);
    for (const k of accepted) t.true(names.includes(k), `${m}: param ${k} is accepted but not documented`);
  }
});

test('the ranges the doc states are the ones the validators enforce', (t) => {
  const sw = (extra: Record<string, unknown>): ConfigError | undefined => errorOf(() => validateSwitch({ name: 'sw0', type: 'private', ...extra }, 'params', { allowPorts: true }));
  const rows = ranges();
  const row = (k: string) => rows.find((r) => r.key.includes(k))!;
  for (const key of ['macAgingSeconds', 'macTableLimit', 'macPortLimit', 'workers']) {
    const r = row(`\`${key}\``);
    t.is(sw({ [key]: r.min }), undefined, `${key}=${r.min} accepted`);
    t.is(sw({ [key]: r.max }), undefined, `${key}=${r.max} accepted`);
    t.is(sw({ [key]: r.min - 1 })?.field, `params.${key}`, `${key}=${r.min - 1} refused`);
    t.is(sw({ [key]: r.max + 1 })?.field, `params.${key}`, `${key}=${r.max + 1} refused`);
  }
  const ports = (n: number): ConfigError | undefined => sw({ ports: Array.from({ length: n }, (_, i) => ({ name: `p${i}` })) });
  t.is(ports(row('ports').max), undefined);
  t.is(ports(row('ports').max + 1)?.field, 'params.ports');
  t.is(sw({ name: 'x'.repeat(row('names').max) }), undefined);
  t.is(sw({ name: 'x'.repeat(row('names').max + 1) })?.field, 'params.name');
  const portLimit = row('port `macLimit`');
  const port = (v: number): ConfigError | undefined => sw({ ports: [{ name: 'p0', macLimit: v }] });
  t.is(port(portLimit.min), undefined);
  t.is(port(portLimit.max), undefined);
  t.is(port(portLimit.max + 1)?.field, 'params.ports[0].macLimit');
  const fdb = row('`fdb.show` `limit`');
  const page = (v: number): ConfigError | undefined => errorOf(() => METHODS['fdb.show'].parse({ switch: 'sw0', limit: v }));
  t.is(page(fdb.min), undefined);
  t.is(page(fdb.max), undefined);
  t.is(page(fdb.min - 1)?.field, 'params.limit');
  t.is(page(fdb.max + 1)?.field, 'params.limit');
  const trace = (extra: Record<string, unknown>): ConfigError | undefined => errorOf(() => METHODS['trace.start'].parse({ switch: 'sw0', ...extra }));
  for (const [key, lim] of [['count', LIMITS['trace.count']], ['timeoutMs', LIMITS['trace.timeoutMs']]] as const) {
    t.is(trace({ [key]: lim.min }), undefined);
    t.is(trace({ [key]: lim.max }), undefined);
    t.is(trace({ [key]: lim.min - 1 })?.field, `params.${key}`);
    t.is(trace({ [key]: lim.max + 1 })?.field, `params.${key}`);
  }
});

test('the hand-written prose of docs/CONTROL.md states no numeric range (they live in the generated block)', (t) => {
  const cur = doc();
  const prose = cur.slice(0, cur.indexOf(BEGIN)) + cur.slice(cur.indexOf(END));
  t.deepEqual(prose.match(/\b\d+\s*\.\.\s*\d+\b/g) ?? [], []);
});
