/** Every drop reason is produced somewhere: a reason nothing produces is noise in `xvs stats`. */
import test from 'ava';
import { fromRoot } from '../repo-root.js';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DROP_REASONS } from './drop-reasons.js';

const src = fromRoot('src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) return n === 'fixtures' ? [] : sources(p);
    return n.endsWith('.ts') && !n.endsWith('.test.ts') && n !== 'drop-reasons.ts' && n !== 'testing.ts' ? [p] : [];
  });
}

test('every drop reason has a producer in the source', (t) => {
  const text = sources(src).map((f) => readFileSync(f, 'utf8')).join('\n');
  for (const [name] of DROP_REASONS.slice(1)) {
    t.true(text.includes(`DropReason['${name}']`), `no code produces "${name}"`);
  }
});
