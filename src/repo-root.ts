/** The repository (package) root, found once from this module's own location: it runs as
 *  `dist/src/repo-root.js` and every path into docs/, examples/, build/ or dist/ is built from it,
 *  so moving the output layout changes one place. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'src'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`xvs: cannot find the package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const repoRoot = findRoot();
/** The compiled sources: `dist/src`. */
export const distSrc = path.join(repoRoot, 'dist', 'src');
export const fromRoot = (...parts: string[]): string => path.join(repoRoot, ...parts);
/** the CLI as the lab and scripts run it (a test checks that it exists after a build) */
export const LAB_CLI = path.join(distSrc, 'cli', 'main.js');
