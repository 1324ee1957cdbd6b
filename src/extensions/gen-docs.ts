/**
 * Generates docs/EXTENSIONS.md from the built-in extensions' doc blocks, config specs and counters:
 *   node dist/src/extensions/gen-docs.js            write docs/EXTENSIONS.md
 *   node dist/src/extensions/gen-docs.js --check    exit 1 if the file is not up to date
 * The hand-written guide (the API, kinds, the plug-in tutorial) is docs/extensions-guide.md and is
 * included at the top.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fromRoot } from '../repo-root.js';
import { fileURLToPath } from 'node:url';
import { renderExtensionDoc } from './docs.js';
import { BUILTIN_EXTENSIONS, ExtensionRegistry, missingDocSections } from './registry.js';
import { STAGE_LIST } from '../pipeline/stage-list.js';

export async function generateExtensionsMarkdown(): Promise<string> {
  const reg = new ExtensionRegistry();
  await reg.loadBuiltins();
  const guide = readFileSync(fromRoot('docs', 'extensions-guide.md'), 'utf8');
  const parts = [guide.trimEnd(), '', '## The stage list (generated from src/pipeline/stage-list.ts)', ''];
  parts.push('| # | stage | path | runs | what |', '|---|---|---|---|---|');
  STAGE_LIST.forEach((s, k) => parts.push(`| ${k + 1} | \`${s.name}\` | ${s.path} | ${s.role} | ${s.doc} |`));
  parts.push('', '## Built-in extensions (generated from their doc blocks)', '');
  parts.push('| name | kind | summary |', '|---|---|---|');
  const list = BUILTIN_EXTENSIONS.map((n) => reg.get(n)).filter((e) => e !== undefined);
  for (const e of list) parts.push(`| \`${e.name}\` | ${e.kind} | ${e.summary} |`);
  parts.push('');
  for (const e of list) {
    const missing = missingDocSections(e.def);
    if (missing.length) throw new Error(`${e.name}: missing doc sections ${missing.join(', ')}`);
    parts.push(renderExtensionDoc(e.def));
  }
  return `${parts.join('\n').trimEnd()}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = fromRoot('docs', 'EXTENSIONS.md');
  const md = await generateExtensionsMarkdown();
  if (process.argv.includes('--check')) {
    let cur = '';
    try { cur = readFileSync(target, 'utf8'); } catch { /* missing */ }
    if (cur !== md) {
      console.error('docs/EXTENSIONS.md is out of date: run node dist/src/extensions/gen-docs.js');
      process.exit(1);
    }
  } else {
    writeFileSync(target, md);
    console.log(`wrote ${target}`);
  }
}
