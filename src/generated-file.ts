/**
 * The command-line tail every generator of a checked-in file shares (docs/CONTROL.md, docs/EXTENSIONS.md,
 * the metric list in docs/OPERATIONS.md, man/xvs.8): run as a script, it writes the file, or with
 * `--check` exits 1 naming the command that regenerates it when the file differs (a test runs the check).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './repo-root.js';

/**
 * When `moduleUrl` (the generator's `import.meta.url`) is the script node was started with: renders
 * `target` from its current text ('' when missing) and writes it, or checks it with `--check`.
 */
export async function generatedFileMain(moduleUrl: string, target: string, render: (current: string) => string | Promise<string>): Promise<void> {
  const script = fileURLToPath(moduleUrl);
  if (process.argv[1] === undefined || path.resolve(process.argv[1]) !== script) return;
  let current = '';
  try { current = readFileSync(target, 'utf8'); } catch { /* missing: not up to date */ }
  const next = await render(current);
  const rel = path.relative(repoRoot, target);
  if (process.argv.includes('--check')) {
    if (current !== next) {
      process.stderr.write(`${rel} is out of date: run node ${path.relative(repoRoot, script)}\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(target, next);
    process.stdout.write(`wrote ${target}\n`);
  }
}
