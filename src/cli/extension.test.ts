/** What `xvs extension install SOURCE` sends the daemon: paths resolved against the caller's working directory. */
import test from 'ava';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installSource } from './extension.js';

test('relative paths are resolved against the working directory and normalised; package names are kept', (t) => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'xvs-cli-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  mkdirSync(path.join(cwd, 'mac-deny'));
  t.is(installSource('./examples/mac-deny', cwd), path.join(cwd, 'examples', 'mac-deny'));
  t.is(installSource('examples/mac-deny/', cwd), path.join(cwd, 'examples', 'mac-deny'));
  t.is(installSource('../x/./y', cwd), path.join(path.dirname(cwd), 'x', 'y'));
  t.is(installSource('.', cwd), cwd);
  t.is(installSource('/opt//p/../q/', cwd), '/opt/q');
  t.is(installSource('mac-deny', cwd), path.join(cwd, 'mac-deny'), 'a directory of that name here wins, as before');
  t.is(installSource('xvs-mac-deny', cwd), 'xvs-mac-deny', 'an npm package name');
  t.is(installSource('@acme/xvs-thing', cwd), '@acme/xvs-thing', 'a scoped npm package name');
});
