import test from 'ava';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { canonicalPath, configTarget, loadConfig, removeStaleTemps, saveConfig, serializeConfig } from './store.js';
import type { XvsConfig } from './types.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'xvs-store-'));
}

const good: XvsConfig = {
  version: 1,
  switches: [{ name: 'sw0', type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [{ name: 'tap0' }] }],
};

test('a missing file is an empty config', (t) => {
  const dir = tmp();
  t.deepEqual(loadConfig(join(dir, 'none.json')), { version: 1, switches: [] });
  rmSync(dir, { recursive: true });
});

test('save then load round-trips; the directory is created with mode 0700', (t) => {
  const dir = tmp();
  const file = join(dir, 'state', 'xvs', 'config.json');
  saveConfig(file, good);
  t.is(statSync(join(dir, 'state', 'xvs')).mode & 0o777, 0o700);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.deepEqual(loadConfig(file), good);
  t.is(readFileSync(file, 'utf8'), serializeConfig(good));
  t.deepEqual(readdirSync(join(dir, 'state', 'xvs')), ['config.json']);
  rmSync(dir, { recursive: true });
});

test('load fills defaults', (t) => {
  const dir = tmp();
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ version: 1, switches: [{ name: 'i', type: 'internal' }] }));
  t.is(loadConfig(file).switches[0].hostPort, 'i-host');
  rmSync(dir, { recursive: true });
});

test('malformed JSON and invalid content name the file and the field', (t) => {
  const dir = tmp();
  const file = join(dir, 'c.json');
  writeFileSync(file, '{"version": 1, ');
  const e1 = t.throws(() => loadConfig(file), { instanceOf: ConfigError });
  t.regex(e1?.message ?? '', new RegExp(`^${file}: malformed JSON`));
  writeFileSync(file, JSON.stringify({ version: 1, switches: [{ name: 'a', type: 'foo' }] }));
  const e2 = t.throws(() => loadConfig(file), { instanceOf: ConfigError });
  t.is(e2?.message, `${file}: switches[0].type: expected one of private, internal, external, got "foo"`);
  t.is((e2 as ConfigError).field, 'switches[0].type');
  rmSync(dir, { recursive: true });
});

test('a failed validation leaves the old file byte-identical and no temp file behind', (t) => {
  const dir = tmp();
  const file = join(dir, 'config.json');
  saveConfig(file, good);
  const before = readFileSync(file);
  const bad = { version: 1, switches: [{ ...good.switches[0], workers: 99 }] } as XvsConfig;
  const err = t.throws(() => saveConfig(file, bad), { instanceOf: ConfigError });
  t.is((err as ConfigError).field, 'switches[0].workers');
  t.deepEqual(readFileSync(file), before);
  t.deepEqual(readdirSync(dir), ['config.json']);
  rmSync(dir, { recursive: true });
});

test('a failed write (rename onto a directory) cleans its temp file', (t) => {
  const dir = tmp();
  const file = join(dir, 'config.json');
  mkdirSync(join(file, 'occupied'), { recursive: true });
  t.throws(() => saveConfig(file, good));
  t.deepEqual(readdirSync(dir), ['config.json']);
  t.true(statSync(file).isDirectory());
  rmSync(dir, { recursive: true });
});

test('a symlinked config is written through the link: the link stays, its target is replaced atomically', (t) => {
  const dir = tmp();
  const real = join(dir, 'etc', 'xvs', 'config.json');
  mkdirSync(join(dir, 'etc', 'xvs'), { recursive: true });
  writeFileSync(real, JSON.stringify({ version: 1, switches: [] }));
  mkdirSync(join(dir, 'state'));
  const link = join(dir, 'state', 'config.json');
  symlinkSync('../etc/xvs/config.json', link); // relative, as operators write them
  saveConfig(link, good);
  t.true(lstatSync(link).isSymbolicLink(), 'the link is still a link');
  t.is(readlinkSync(link), '../etc/xvs/config.json');
  t.is(readFileSync(real, 'utf8'), serializeConfig(good));
  t.deepEqual(loadConfig(link), good);
  t.deepEqual(readdirSync(join(dir, 'state')), ['config.json'], 'no temp file next to the link');
  t.deepEqual(readdirSync(join(dir, 'etc', 'xvs')), ['config.json'], 'no temp file next to the target');
  // a chain of links, and a dangling one (the target is created)
  symlinkSync(link, join(dir, 'chain.json'));
  t.is(configTarget(join(dir, 'chain.json')), real);
  symlinkSync(join(dir, 'etc', 'new.json'), join(dir, 'dangling.json'));
  saveConfig(join(dir, 'dangling.json'), good);
  t.true(lstatSync(join(dir, 'dangling.json')).isSymbolicLink());
  t.deepEqual(loadConfig(join(dir, 'etc', 'new.json')), good);
  // the lock key: the same file however it is named
  t.is(canonicalPath(join(dir, 'chain.json')), canonicalPath(real));
  t.is(canonicalPath(join(dir, 'dangling.json')), canonicalPath(join(dir, 'etc', 'new.json')));
  rmSync(dir, { recursive: true });
});

test('stale temp files of an interrupted save are removed; nothing else is', (t) => {
  const dir = tmp();
  const file = join(dir, 'config.json');
  saveConfig(file, good);
  const stale = ['.config.json.4242.0123abcd.tmp', '.config.json.1.ffffffff.tmp'];
  const keep = ['.config.json.tmp', '.config.json.12.XYZ.tmp', '.other.json.4242.0123abcd.tmp', 'config.json.4242.0123abcd.tmp', '.config.json.4242.0123abcd.tmp.bak'];
  for (const f of [...stale, ...keep]) writeFileSync(join(dir, f), 'partial');
  mkdirSync(join(dir, '.config.json.7.aaaaaaaa.tmp')); // a directory of that name is not ours
  t.deepEqual(removeStaleTemps(file).sort(), stale.map((f) => join(dir, f)).sort());
  t.deepEqual(readdirSync(dir).sort(), ['.config.json.7.aaaaaaaa.tmp', 'config.json', ...keep].sort());
  t.deepEqual(loadConfig(file), good);
  // through a symlink: the temp files are next to the target
  const link = join(dir, 'link.json');
  symlinkSync(file, link);
  writeFileSync(join(dir, '.config.json.99.00000000.tmp'), 'partial');
  t.deepEqual(removeStaleTemps(link), [join(dir, '.config.json.99.00000000.tmp')]);
  t.deepEqual(removeStaleTemps(join(dir, 'missing', 'config.json')), []);
  rmSync(dir, { recursive: true });
});
