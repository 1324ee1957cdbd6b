/** docs/OPERATIONS.md's metric list is generated from the family table and up to date. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../repo-root.js';
import { METRIC_FAMILIES } from './families.js';
import { withMetricsList } from './gen-docs.js';

test('docs/OPERATIONS.md lists every metric family, generated from families.ts', (t) => {
  const doc = readFileSync(fromRoot('docs', 'OPERATIONS.md'), 'utf8');
  t.is(doc, withMetricsList(doc), 'run: node dist/src/metrics/gen-docs.js');
  for (const f of METRIC_FAMILIES) t.true(doc.includes(`| \`${f.name}\` | ${f.type} |`), f.name);
  t.regex(doc, /^# Operating xvs$/m);
  t.regex(doc, /^## Metrics$/m);
});
