/**
 * The registry's plug-in sources: an npm package name is resolved (here from the working directory's
 * node_modules) and its package directory gets the same trust checks as a directory plug-in; a
 * relative path is refused (the daemon's working directory is not the caller's).
 */
import test from 'ava';
import { chmodSync, chownSync, cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { fromRoot } from '../repo-root.js';
import { trustedTempDir } from '../test-support/trusted-dir.js';
import { ExtensionRegistry } from './registry.js';
import { UntrustedPluginError } from './trust.js';

test.serial('an npm package plug-in: resolved from node_modules, its directory checked like any plug-in', async (t) => {
  const base = trustedTempDir('registry-');
  const cwd = process.cwd();
  t.teardown(() => { process.chdir(cwd); base.remove(); });
  const pkg = path.join(base.dir, 'node_modules', 'xvs-mac-deny');
  mkdirSync(pkg, { recursive: true, mode: 0o755 });
  chmodSync(path.join(base.dir, 'node_modules'), 0o755);
  for (const f of ['index.js', 'package.json']) cpSync(fromRoot('examples', 'mac-deny', f), path.join(pkg, f)); // package.json has the "xvs" key
  process.chdir(base.dir);

  const reg = new ExtensionRegistry();
  const ok = await reg.install('xvs-mac-deny');
  t.is(ok.name, 'mac-deny');
  t.is(ok.source, 'xvs-mac-deny');
  t.is(ok.trust?.dir, pkg);
  t.is(ok.module, `file://${pkg}/index.js`);
  reg.uninstall('mac-deny');

  chownSync(path.join(pkg, 'index.js'), 65534, 65534);
  const e = await t.throwsAsync(reg.install('xvs-mac-deny'), { instanceOf: UntrustedPluginError });
  t.regex(e!.message, new RegExp(`^source: plug-in "xvs-mac-deny" refused: ${pkg}/index\\.js is owned by uid 65534`));
  const warned: string[] = [];
  t.is((await reg.install('xvs-mac-deny', { allowUntrusted: true, warn: (m) => warned.push(m) })).allowUntrusted, true);
  t.is(warned.length, 1);
});

test('a relative path is refused: the daemon resolves nothing against its own working directory', (t) => {
  for (const s of ['./examples/mac-deny', 'examples/mac-deny', '..', '../x']) {
    const e = t.throws(() => ExtensionRegistry.locate(s), { instanceOf: ConfigError });
    t.regex(e!.message, /^source: ".*" is a relative path: the daemon needs an absolute one/, s);
  }
  t.regex(t.throws(() => ExtensionRegistry.locate('/nonexistent/plug'))!.message, /\/nonexistent\/plug: no such file or directory/);
  t.regex(t.throws(() => ExtensionRegistry.locate('Not A Package!'))!.message, /neither an absolute path nor an npm package name/);
});
