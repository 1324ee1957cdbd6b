/**
 * What `xvs --version` prints: the package version and the commit the build came from
 * (`dist/build-info.json`, written by scripts/build.sh; "unknown" when built outside a git checkout).
 */
import { readFileSync } from 'node:fs';
import { fromRoot } from '../repo-root.js';

function readJson(file: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export interface VersionInfo { version: string; commit: string }

export function versionInfo(): VersionInfo {
  const version = readJson(fromRoot('package.json'))['version'];
  const commit = readJson(fromRoot('dist', 'build-info.json'))['commit'];
  return { version: typeof version === 'string' ? version : 'unknown', commit: typeof commit === 'string' ? commit : 'unknown' };
}

/** "xvs 0.1.0 (commit 0123456789ab)" */
export function versionLine(): string {
  const v = versionInfo();
  return `xvs ${v.version} (commit ${v.commit})`;
}
