/**
 * A fresh directory that plug-in trust checks accept (extensions/trust.ts): root-owned and not
 * writable by group or others, and so is every directory above it. Not under /tmp, which is
 * world-writable (sticky) and therefore refused, as sshd's StrictModes refuses it. Tried in order:
 * the repository's .lab/ (on CI the clone is root's), /run, /var/lib.
 */
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkAncestors, type TrustProblem } from '../extensions/trust.js';
import { fromRoot } from '../repo-root.js';

export function trustedTempDir(prefix = 'xvs-trust-'): { dir: string; remove: () => void } {
  for (const base of [fromRoot('.lab'), '/run', '/var/lib']) {
    try {
      mkdirSync(base, { recursive: true, mode: 0o755 });
      const problems: TrustProblem[] = [];
      const real = realpathSync(base);
      checkAncestors(real, problems);
      if (problems.length) continue;
      const dir = mkdtempSync(path.join(real, prefix));
      chmodSync(dir, 0o755); // root's, 0755: as a real install directory
      return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
    } catch {
      continue;
    }
  }
  throw new Error('no root-owned directory without group/other write to test plug-in trust in (run as root)');
}

/**
 * A manifest for a compiled test fixture (dist/src/.../fixtures/NAME.js), written beside it so that
 * `main` stays inside the plug-in directory (extensions/trust.ts); the name carries the pid (test
 * files run in parallel). Returns the manifest path to install; `remove` deletes it.
 */
export function fixtureManifest(js: string, manifest: { name: string; kind?: 'capture' | 'filter' | 'forward'; version?: string }): { file: string; remove: () => void } {
  const file = path.join(path.dirname(js), `${manifest.name}.${process.pid}.xvs-extension.json`);
  writeFileSync(file, JSON.stringify({
    name: manifest.name, version: manifest.version ?? '0.0.1', kind: manifest.kind ?? 'filter', main: path.basename(js), xvsApi: 1,
  }), { mode: 0o644 });
  return { file, remove: () => rmSync(file, { force: true }) };
}
