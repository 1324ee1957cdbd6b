/**
 * CLI conventions: every command's help has examples, `xvs help CMD` is `xvs CMD --help`, bash
 * completion works in a real bash, a mistyped command gets "did you mean", and the man page is
 * generated from the same help (up to date, rendered by man without warnings).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXAMPLES } from '../src/cli/examples.js';
import { helpPages, MAN_PAGE, packageVersion, renderManPage, type HelpPage } from '../src/cli/gen-man.js';
import { CLI } from '../src/test-support/daemon.js';

let pages: HelpPage[] = [];
test.before(() => { pages = helpPages(); });

const xvs = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('every command that runs something has examples in its help; every example names a command', (t) => {
  const runnable = pages.filter((p) => p.leaf || p.command.join(' ') === 'daemon');
  t.true(runnable.length > 40, `${runnable.length} commands`);
  const without = runnable.filter((p) => !/\nExamples:\n {2}xvs /.test(p.text)).map((p) => p.command.join(' '));
  t.deepEqual(without, [], 'commands whose help has no example');
  const names = new Set(pages.map((p) => p.command.join(' ')));
  t.deepEqual(Object.keys(EXAMPLES).filter((k) => !names.has(k) && k !== 'help'), [], 'EXAMPLES keys that are not commands');
  // each example starts with its own command
  for (const [key, list] of Object.entries(EXAMPLES)) for (const [line] of list) t.true(line.startsWith(`$0 ${key}`), `${key}: ${line}`);
});

test('every time flag of every command is in seconds', (t) => {
  for (const p of pages) {
    t.notRegex(p.text, /--[\w-]*-ms\b/, `xvs ${p.command.join(' ')}: a flag in milliseconds`);
    t.notRegex(p.text, /milli ?seconds?/i, `xvs ${p.command.join(' ')}: a flag in milliseconds`);
  }
  const page = (cmd: string): string => pages.find((p) => p.command.join(' ') === cmd)?.text ?? '';
  t.regex(page(''), /--timeout\s+seconds/);
  t.regex(page('trace'), /--wait\s+live: give up after this many seconds/);
  t.regex(page('daemon'), /--watchdog\s+seconds/);
});

test('xvs help CMD prints CMD --help; a mistyped command gets "did you mean"', (t) => {
  t.is(xvs('help', 'port', 'set').stdout, xvs('port', 'set', '--help').stdout);
  t.regex(xvs('help', 'port', 'set').stdout, /Examples:/);
  t.is(xvs('help').stdout, xvs('--help').stdout);
  const typo = xvs('prot', 'list');
  t.is(typo.status, 1);
  t.regex(typo.stderr, /^xvs: Did you mean port\?/);
  const sub = xvs('switch', 'crate', 'sw0');
  t.is(sub.status, 1);
  t.regex(sub.stderr, /Did you mean create\?/);
});

test('bash completion: the script from xvs completion bash completes commands and subcommands in a real bash', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xvs-compl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // `xvs` on the PATH, as an installed one would be
  writeFileSync(path.join(dir, 'xvs'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(path.join(dir, 'xvs'), 0o755);
  const script = xvs('completion', 'bash');
  t.is(script.status, 0);
  writeFileSync(path.join(dir, 'xvs.bash'), script.stdout);
  const complete = (...words: string[]): string[] => {
    const cmd = `source ${dir}/xvs.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _xvs_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}` } });
    return r.stdout.split('\n').filter(Boolean);
  };
  t.deepEqual(complete('xvs', 'po'), ['port']);
  t.deepEqual(complete('xvs', 'port', 's').sort(), ['set', 'show']);
  t.true(complete('xvs', '').includes('switch'));
  t.true(complete('xvs', 'switch', 'create', 'sw0', '--ty').includes('--type'));
  t.is(xvs('completion', 'zsh').status, 1, 'only bash');
});

test('the man page is generated from the help, up to date, and man renders it without warnings', (t) => {
  t.is(readFileSync(MAN_PAGE, 'utf8'), renderManPage(pages, packageVersion()), 'man/xvs.8 is not up to date: node dist/src/cli/gen-man.js');
  const r = spawnSync('man', ['--warnings', '-l', MAN_PAGE], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' } });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr.trim(), '', 'groff warnings');
  for (const s of ['xvs port add', 'xvs hnv record add', 'xvs vmq pin', 'Examples:', 'GLOBAL OPTIONS']) t.true(r.stdout.includes(s), s);
  const pkg = JSON.parse(readFileSync(path.join(path.dirname(MAN_PAGE), '..', 'package.json'), 'utf8')) as { man?: string[] };
  t.deepEqual(pkg.man, ['man/xvs.8'], 'npm install -g installs it');
});
