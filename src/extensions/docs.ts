/**
 * Extension documentation generated from each extension's doc block, config spec and counters:
 * `xvs extension describe NAME` and docs/EXTENSIONS.md (`node dist/src/extensions/gen-docs.js`).
 */
import type { ExtensionMeta } from './api.js';
import { specRows } from './config.js';

export function renderExtensionDoc(def: ExtensionMeta): string {
  const d = def.doc;
  const lines: string[] = [];
  lines.push(`### ${def.kind} \`${def.name}\` ${def.version}`, '', d.summary, '');
  lines.push('**Synopsis**', '', '```', d.synopsis, '```', '');
  lines.push('**Description**', '', d.description, '');
  lines.push('**Path**', '', d.path, '');
  lines.push('**Config**', '');
  const rows = specRows(def.config);
  if (rows.length === 0) lines.push('No keys.', '');
  else {
    lines.push('| key | type | default | meaning |', '|---|---|---|---|');
    for (const r of rows) lines.push(`| \`${r.key}\` | ${r.type} | ${r.default} | ${r.doc.replace(/\|/g, '\\|')} |`);
    lines.push('');
  }
  lines.push('**Counters**', '');
  lines.push('Every extension: `batches`, `frames` (frames its hooks saw), `errors` (times it threw), `drops` (frames it dropped).');
  const c = Object.entries(def.counters);
  if (c.length) {
    lines.push('', '| counter | meaning |', '|---|---|');
    for (const [k, v] of c) lines.push(`| \`${k}\` | ${v} |`);
  }
  const features = Object.entries(def.portFeatures ?? {});
  if (features.length) {
    lines.push('', '**Port features** (`xvs port feature set SWITCH PORT ' + def.name + ' key=value`)', '', '| key | type | default | meaning |', '|---|---|---|---|');
    for (const [k, f] of features) {
      const type = f.type === 'enum' ? f.values.join(' \\| ') : f.type;
      lines.push(`| \`${k}\` | ${type} | ${f.default === undefined ? '' : `\`${String(f.default)}\``} | ${f.doc.replace(/\|/g, '\\|')} |`);
    }
  }
  const notes = def.singleWorker ? `${d.notes} Runs only on switches with one data-path worker.` : d.notes;
  lines.push('', '**Notes**', '', notes, '', '**See also**', '', d.seeAlso, '');
  return lines.join('\n');
}
