/** Docs are generated from code: every extension has every doc section, and docs/EXTENSIONS.md is current. */
import test from 'ava';
import { fromRoot } from '../repo-root.js';
import { readFileSync } from 'node:fs';
import { generateExtensionsMarkdown } from './gen-docs.js';
import { BUILTIN_EXTENSIONS, ExtensionRegistry, missingDocSections } from './registry.js';
import type { Extension } from './api.js';

test('every built-in extension has every doc section, a version and documented config keys', async (t) => {
  const reg = new ExtensionRegistry();
  await reg.loadBuiltins((m) => t.log(m));
  for (const name of BUILTIN_EXTENSIONS) {
    const e = reg.get(name);
    if (!e) { t.fail(`${name} is not built`); continue; }
    t.deepEqual(missingDocSections(e.def), [], `${name}: doc sections`);
    t.regex(e.def.version, /^\d+\.\d+\.\d+/);
    for (const [k, s] of Object.entries(e.def.config)) t.true(s.doc.length > 3, `${name}.${k} has a doc string`);
    for (const [k, d] of Object.entries(e.def.counters)) t.true(d.length > 3, `${name} counter ${k} is documented`);
  }
});

test('a missing doc section is detected, and the registry refuses such an extension', (t) => {
  const def = { name: 'x', version: '1.0.0', kind: 'filter', config: {}, counters: {}, create: () => ({}),
    doc: { synopsis: 'x', summary: 'x', description: '', path: 'ingress', notes: 'n', seeAlso: 's' } } as unknown as Extension;
  t.deepEqual(missingDocSections(def), ['description']);
});

test('docs/EXTENSIONS.md is generated from the doc blocks and is up to date', async (t) => {
  const md = await generateExtensionsMarkdown();
  const cur = readFileSync(fromRoot('docs', 'EXTENSIONS.md'), 'utf8');
  t.is(cur, md, 'run: node dist/src/extensions/gen-docs.js');
  for (const name of BUILTIN_EXTENSIONS) t.true(md.includes(`\`${name}\``), name);
});

test('the tutorial prints the example plug-in exactly as it is tested, and it is under 60 lines', (t) => {
  const guide = readFileSync(fromRoot('docs', 'extensions-guide.md'), 'utf8');
  const code = readFileSync(fromRoot('examples', 'mac-deny', 'index.js'), 'utf8');
  t.true(guide.includes(code));
  t.true(code.split('\n').length < 60);
});

test('the guide is the one source of its text: EXTENSIONS.md links to it and repeats none of its paragraphs', async (t) => {
  const guide = readFileSync(fromRoot('docs', 'extensions-guide.md'), 'utf8');
  const md = await generateExtensionsMarkdown();
  const paragraphs = (s: string): string[] => s.split(/\n\s*\n/).map((p) => p.trim()).filter((p) => p.length > 40);
  const ref = new Set(paragraphs(md));
  t.deepEqual(paragraphs(guide).filter((p) => ref.has(p) || md.includes(p)), [], 'paragraphs of the guide repeated in EXTENSIONS.md');
  for (const h of [...guide.matchAll(/^## (.+)$/gm)].map((m) => m[1].trim())) t.true(md.includes(`[${h}](extensions-guide.md#`), `EXTENSIONS.md links to "${h}"`);
});
