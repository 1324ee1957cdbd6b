/**
 * The plug-in trust check on real files: owner and mode bits of every file, every directory under the
 * plug-in directory and above it, symbolic links followed, `main` kept inside the directory.
 */
import test from 'ava';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { trustedTempDir } from '../test-support/trusted-dir.js';
import { checkPluginTree, enforcePluginTrust, entryProblem, resolveMain, UntrustedPluginError } from './trust.js';

const NOBODY = 65534;

/** a root-owned plug-in tree (0755 dirs, 0644 files) in a trusted temp dir */
function plugin(t: { teardown: (f: () => void) => void }): string {
  const base = trustedTempDir();
  t.teardown(base.remove);
  const dir = path.join(base.dir, 'p');
  mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  chmodSync(path.join(dir, 'node_modules'), 0o755);
  chmodSync(path.join(dir, 'node_modules', 'dep'), 0o755);
  for (const f of ['xvs-extension.json', 'index.js', 'node_modules/dep/index.js', 'data.bin']) writeFileSync(path.join(dir, f), 'x', { mode: 0o644 });
  return dir;
}

test('a root-owned tree, 0755 directories and 0644 files, is trusted', (t) => {
  t.deepEqual(checkPluginTree(plugin(t)), []);
});

test('a file or directory owned by another user is named', (t) => {
  const dir = plugin(t);
  chownSync(path.join(dir, 'node_modules', 'dep', 'index.js'), NOBODY, NOBODY);
  chownSync(dir, NOBODY, NOBODY);
  const p = checkPluginTree(dir);
  t.deepEqual(p.map((x) => x.path).sort(), [dir, path.join(dir, 'node_modules', 'dep', 'index.js')].sort());
  t.true(p.every((x) => x.why === `is owned by uid ${NOBODY}, not root`));
});

test('group- or world-writable files and directories are named, with the mode', (t) => {
  const dir = plugin(t);
  chmodSync(path.join(dir, 'data.bin'), 0o664); // not a .js file: every file counts
  chmodSync(path.join(dir, 'node_modules'), 0o757);
  const p = checkPluginTree(dir).sort((a, b) => a.path.localeCompare(b.path));
  t.deepEqual(p, [
    { path: path.join(dir, 'data.bin'), why: 'is writable by group (mode 0664)' },
    { path: path.join(dir, 'node_modules'), why: 'is writable by others (mode 0757)' },
  ]);
});

test('a parent directory writable by others is refused: /tmp, sticky or not, as StrictModes does', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xvs-trust-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'index.js'), 'x', { mode: 0o644 });
  const p = checkPluginTree(dir);
  t.deepEqual(p, [{ path: '/tmp', why: 'is writable by group and others (mode 1777, sticky bit or not)' }]);
  t.is(entryProblem({ uid: 0, mode: 0o40755, isSymbolicLink: () => false }), null);
});

test('symbolic links: owner checked, target followed outside the tree, broken ones refused', (t) => {
  const dir = plugin(t);
  const outside = mkdtempSync(path.join(tmpdir(), 'xvs-trust-'));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(path.join(outside, 'evil.js'), 'x', { mode: 0o644 });
  symlinkSync(outside, path.join(dir, 'node_modules', 'linked'));
  symlinkSync(path.join(dir, 'index.js'), path.join(dir, 'alias.js')); // inside: fine
  symlinkSync(path.join(dir, 'missing'), path.join(dir, 'broken.js'));
  const p = checkPluginTree(dir);
  t.true(p.some((x) => x.path === '/tmp'), JSON.stringify(p));
  t.true(p.some((x) => x.path === path.join(dir, 'broken.js') && x.why === 'is a broken symbolic link'));
  t.false(p.some((x) => x.path === path.join(dir, 'alias.js')));
});

test('a tree too big to check is refused', (t) => {
  const dir = plugin(t);
  t.deepEqual(checkPluginTree(dir, 3).map((x) => x.why), ['holds more than 3 files and directories: too many to check']);
});

test('main stays inside the plug-in directory: no "..", no absolute path, no symbolic link out', (t) => {
  const dir = plugin(t);
  t.is(resolveMain(dir, 'index.js', 'm: main'), path.join(dir, 'index.js'));
  t.is(resolveMain(dir, './node_modules/dep/index.js', 'm: main'), path.join(dir, 'node_modules', 'dep', 'index.js'));
  const err = (main: string): string => t.throws(() => resolveMain(dir, main, 'm: main'), { instanceOf: ConfigError })!.message;
  t.regex(err('../x.js'), /^m: main: "\.\.\/x\.js" leaves the plug-in directory/);
  t.regex(err('node_modules/../../x.js'), /leaves the plug-in directory/);
  t.regex(err('/etc/passwd'), /^m: main: expected a path relative to the plug-in directory/);
  t.regex(err('nope.js'), /does not exist/);
  symlinkSync('/etc/hostname', path.join(dir, 'out.js'));
  t.regex(err('out.js'), /resolves to \/etc\/hostname, outside the plug-in directory/);
});

test('enforce: refused with every path named, or (allowUntrusted) a warning', (t) => {
  const dir = plugin(t);
  chmodSync(path.join(dir, 'index.js'), 0o666);
  const e = t.throws(() => enforcePluginTrust({ dir, allowUntrusted: false }, 'p', 'source', () => t.fail(), 'install'), { instanceOf: UntrustedPluginError })!;
  t.regex(e.message, new RegExp(`^source: plug-in "p" refused: ${path.join(dir, 'index.js')} is writable by group and others \\(mode 0666\\)`));
  t.regex(e.message, /--allow-untrusted/);
  const warned: string[] = [];
  enforcePluginTrust({ dir, allowUntrusted: true }, 'p', 'source', (m) => warned.push(m), 'install');
  t.is(warned.length, 1);
  t.regex(warned[0], /installed with --allow-untrusted .*index\.js is writable by group and others/);
  chmodSync(path.join(dir, 'index.js'), 0o644);
  enforcePluginTrust({ dir, allowUntrusted: true }, 'p', 'source', (m) => warned.push(m), 'install');
  t.is(warned.length, 2, 'every load of an --allow-untrusted plug-in warns');
  t.regex(warned[1], /installed with --allow-untrusted: a file made writable by others would not be refused \(none is now\)/);
  enforcePluginTrust({ dir, allowUntrusted: false }, 'p', 'source', () => t.fail(), 'install');
});
