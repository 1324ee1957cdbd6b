/**
 * A fresh directory that plug-in trust checks accept (extensions/trust.ts): root-owned and not
 * writable by group or others, and so is every directory above it. Not under /tmp, which is
 * world-writable (sticky) and therefore refused, as sshd's StrictModes refuses it. Tried in order:
 * the repository's .lab/ (on CI the clone is root's), /run, /var/lib.
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { checkAncestors, checkPluginTree, type TrustProblem } from '../extensions/trust.js';
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
 * A plug-in for a compiled test fixture (dist/src/.../fixtures/NAME.js): a trusted directory (above)
 * holding the manifest and an index.js that re-exports the fixture. The checkout may sit under a
 * directory the trust checks refuse (a clone in /tmp), and the fixture imports the extension API
 * by a relative path, so it is not copied. Returns the manifest path to install; `remove` deletes
 * the directory.
 */
export function fixtureManifest(js: string, manifest: { name: string; kind?: 'capture' | 'filter' | 'forward'; version?: string }): { file: string; remove: () => void } {
  const { dir, remove } = trustedTempDir(`xvs-fixture-${manifest.name}-`);
  writeFileSync(path.join(dir, 'index.js'), `export { default } from ${JSON.stringify(pathToFileURL(js).href)};\n`, { mode: 0o644 });
  const file = path.join(dir, 'xvs-extension.json');
  writeFileSync(file, JSON.stringify({
    name: manifest.name, version: manifest.version ?? '0.0.1', kind: manifest.kind ?? 'filter', main: 'index.js', xvsApi: 1,
  }), { mode: 0o644 });
  return { file, remove };
}

/** A plug-in directory to install that passes the trust checks: `src` itself when it does (a
 *  root-owned checkout), else a root-owned copy of it (a clone under /tmp). */
export function trustedPluginDir(src: string): { dir: string; copied: boolean; remove: () => void } {
  if (checkPluginTree(src).length === 0) return { dir: src, copied: false, remove: () => {} };
  const t = trustedTempDir('xvs-plugin-');
  const dir = path.join(t.dir, path.basename(src));
  cpSync(src, dir, { recursive: true });
  for (const f of readdirSync(dir)) chmodSync(path.join(dir, f), 0o644);
  chmodSync(dir, 0o755);
  return { dir, copied: true, remove: t.remove };
}
