/**
 * Who may change a plug-in's code. A plug-in runs as the daemon's user (root), so its files must be
 * writable by root alone, as sshd's StrictModes demands of `authorized_keys`: every file and
 * directory that can be loaded, and every directory above the plug-in directory up to `/`, must be
 * owned by uid 0 and carry no group or other write bit. Otherwise whoever can write one of them can
 * put code into the daemon at its next load.
 *
 * - What is checked: the plug-in directory and everything under it, recursively (the manifest,
 *   `main`, every module, JSON, WebAssembly or native addon file, `node_modules`), not only the
 *   .js/.mjs/.cjs/.json files: a module can load any file (`readFileSync` + `eval`, a `.node`
 *   addon, a `.wasm`), and "every file" has no exceptions to get wrong. At most
 *   MAX_ENTRIES entries are checked; a bigger tree is refused (install it with its dependencies
 *   bundled).
 * - Sticky world-writable directories (/tmp, /var/tmp) are refused like any other
 *   group/other-writable directory, as StrictModes does: whoever can create entries there can
 *   create the plug-in's path after a reboot or a tmp cleaner removed it.
 * - Symbolic links: a link's own mode means nothing (it is always 0777), its owner is checked; its
 *   target is checked like the tree (the target itself, every directory above it up to `/`, and,
 *   for a directory, everything under it). A broken link is refused.
 * - All paths are real paths (symbolic links resolved), so what is checked is what Node imports.
 * - Not checked: ACLs and capabilities (only owner and mode bits), and bare imports that Node
 *   resolves outside the plug-in directory (a `node_modules` in an ancestor); nobody but root can
 *   create one there, since the ancestors themselves are checked.
 *
 * The check runs at every load: `extension install`, every daemon start (restore), and whenever a
 * data-path worker imports the module (pipeline/plan.ts, a new or restarted worker).
 */
import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

/** entries checked under one plug-in directory before it is refused as too big to check */
export const MAX_ENTRIES = 20_000;

export interface TrustProblem {
  /** the offending file or directory (a real path) */
  path: string;
  why: string;
}

/** The check failed: `problems` names every offending path (the first few go in the message). */
export class UntrustedPluginError extends ConfigError {
  readonly problems: TrustProblem[];
  constructor(field: string, label: string, problems: TrustProblem[]) {
    super(field, `plug-in "${label}" refused: ${describeTrust(problems)}; its files and every directory above them must be owned by root and not writable by group or others (fix the owner/modes, or install it with --allow-untrusted)`);
    this.name = 'UntrustedPluginError';
    this.problems = problems;
  }
}

/** "/a/b is writable by group and others (mode 0775)" …, at most three, then how many more */
export function describeTrust(problems: TrustProblem[]): string {
  const shown = problems.slice(0, 3).map((p) => `${p.path} ${p.why}`).join('; ');
  return problems.length > 3 ? `${shown}; and ${problems.length - 3} more` : shown;
}

/** Why one entry lets someone other than root change it, or null. */
export function entryProblem(st: Pick<Stats, 'uid' | 'mode' | 'isSymbolicLink'>): string | null {
  if (st.uid !== 0) return `is owned by uid ${st.uid}, not root`;
  if (st.isSymbolicLink()) return null; // a link's mode bits are not used
  const w = st.mode & 0o022;
  if (w === 0) return null;
  const who = w === 0o022 ? 'group and others' : w === 0o020 ? 'group' : 'others';
  const sticky = (st.mode & 0o1000) !== 0 ? ', sticky bit or not' : '';
  return `is writable by ${who} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}${sticky})`;
}

/** `dir` (a real path) and every directory above it up to `/`. */
export function checkAncestors(dir: string, problems: TrustProblem[]): void {
  for (let p = dir; ; p = path.dirname(p)) {
    const why = entryProblem(lstatSync(p));
    if (why) problems.push({ path: p, why });
    if (p === path.dirname(p)) return;
  }
}

/**
 * Check a plug-in directory: the directory, every directory above it, everything under it
 * (and whatever symbolic links inside point to). Returns the problems (empty: trusted).
 */
export function checkPluginTree(dir: string, maxEntries = MAX_ENTRIES): TrustProblem[] {
  const problems: TrustProblem[] = [];
  const root = realpathSync(dir);
  checkAncestors(root, problems);
  const visited = new Set<string>([root]);
  const dirs = [root];
  let entries = 0;
  while (dirs.length > 0) {
    const d = dirs.pop()!;
    for (const name of readdirSync(d)) {
      if (++entries > maxEntries) {
        problems.push({ path: root, why: `holds more than ${maxEntries} files and directories: too many to check` });
        return problems;
      }
      const p = path.join(d, name);
      let st: Stats;
      try {
        st = lstatSync(p);
      } catch (e) {
        // removed since readdir: only someone who can write `d` (checked) could put it back
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const why = entryProblem(st);
      if (why) problems.push({ path: p, why });
      if (st.isDirectory()) {
        visited.add(p);
        dirs.push(p);
      } else if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = realpathSync(p);
        } catch {
          problems.push({ path: p, why: 'is a broken symbolic link' });
          continue;
        }
        if (visited.has(target) || isInside(root, target)) continue; // checked as part of the tree
        checkAncestors(target, problems);
        if (lstatSync(target).isDirectory()) {
          visited.add(target);
          dirs.push(target);
        }
      }
    }
  }
  return problems;
}

/** true when `p` is `dir` or below it (both real, normalised paths) */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * A manifest's `main` as a real path inside the plug-in directory: relative, without `..`, and
 * (after resolving symbolic links) still inside `dir`. Errors name the manifest's field.
 */
export function resolveMain(dir: string, main: string, field: string): string {
  if (main === '' || path.isAbsolute(main)) throw new ConfigError(field, `expected a path relative to the plug-in directory, got "${main}"`);
  if (main.split(/[\\/]+/).includes('..')) throw new ConfigError(field, `"${main}" leaves the plug-in directory (no ".." allowed)`);
  const root = realpathSync(dir);
  let real: string;
  try {
    real = realpathSync(path.join(root, main));
  } catch {
    throw new ConfigError(field, `"${main}" does not exist in ${root}`);
  }
  if (!isInside(root, real) || real === root) throw new ConfigError(field, `"${main}" resolves to ${real}, outside the plug-in directory ${root}`);
  return real;
}

/** How a plug-in is checked at each load: its directory, and whether the operator allowed untrusted files. */
export interface PluginTrust {
  /** the plug-in directory (real path) */
  dir: string;
  /** installed with --allow-untrusted: problems are logged as a warning, not refused */
  allowUntrusted: boolean;
}

/**
 * The check at a load: throws UntrustedPluginError, or (allowUntrusted) calls `warn`, with the
 * problems if there are any. `what` says which load it is (for the log).
 */
export function enforcePluginTrust(trust: PluginTrust, label: string, field: string, warn: (m: string) => void, what: string): void {
  let problems: TrustProblem[];
  try {
    problems = checkPluginTree(trust.dir);
  } catch (e) {
    problems = [{ path: trust.dir, why: `cannot be checked: ${(e as Error).message}` }];
  }
  if (problems.length > 0 && !trust.allowUntrusted) throw new UntrustedPluginError(field, label, problems);
  if (!trust.allowUntrusted) return;
  // every load of an --allow-untrusted plug-in says so, whether or not something is writable right now
  warn(problems.length > 0
    ? `plug-in "${label}" (${what}) was installed with --allow-untrusted and users other than root can change its code: ${describeTrust(problems)}`
    : `plug-in "${label}" (${what}) was installed with --allow-untrusted: a file made writable by others would not be refused (none is now)`);
}

/** a warning through a `log` callback: Logger.warn when it is a Logger, else a "warning:" line */
export function warnLog(log: (m: string) => void, m: string): void {
  const w = (log as { warn?: unknown }).warn;
  if (typeof w === 'function') (w as (m: string) => void).call(log, m);
  else log(`warning: ${m}`);
}
