/**
 * Every program a test, the lab, a script or the bench runs is installed by the project's own scripts
 * or is part of Debian's base system (issue 9, item 12: `npm test` failed on a fresh machine because a
 * test ran socat, which setup did not install).
 *
 * Found by reading the sources:
 *  - TypeScript under src/, test/, scripts/, bench/: the first string argument of spawn / spawnSync /
 *    exec* / execFile* and of the local wrappers sh / run / has, the first element of the argument list
 *    of NetLab.exec(host, [...]) and spawnIn(host, [...]), and the program after `'netns', 'exec', NS`.
 *  - shell scripts (*.sh) under scripts/ and bench/: the command name at the start of every line, pipeline
 *    element, `&&`/`||`/`;` list element, `$(...)` and subshell (wrappers such as exec, env, timeout and
 *    `ip netns exec NS` are looked through; shell keywords, builtins and the script's own functions are
 *    not programs). scripts/vm/ is left out: it runs inside the lab VM, on busybox.
 *  - EXTRA: programs named in a way the parser cannot see (a variable).
 *
 * A program is accepted when `type -P` finds it and `dpkg -S` names a package that an `APT_PACKAGES=(...)`
 * array or an `apt-install.sh PKG...` line of scripts/*.sh lists (bench/*.sh lists count for bench/ only),
 * or a package of Priority required or important (Debian's base system), or it is node / npm / npx.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../src/repo-root.js';
import { aptPackages, shFunctions, shUses, tsUses, type Use } from '../src/test-support/programs.js';

/** programs the parser cannot see: named through a variable */
const EXTRA: Use[] = [
  { program: 'qemu-system-x86_64', where: 'src/lab/vm.ts (spawn(qemu, ...): opts.qemu ?? "qemu-system-x86_64")' },
  { program: 'chromium', where: 'test/dashboard.test.ts (playwright-core launches executablePath /usr/bin/chromium)' },
  { program: 'libvirtd', where: 'src/lab/libvirt.ts (the private instance\'s `sh -c` script: exec libvirtd)' },
  { program: 'virtlogd', where: 'src/lab/libvirt.ts (the private instance\'s `sh -c` script: virtlogd --daemon)' },
  { program: 'mount', where: 'src/lab/libvirt.ts (the private instance\'s `sh -c` script: mount --bind)' },
];

function walk(dir: string, ext: RegExp, skip: (rel: string) => boolean): string[] {
  const out: string[] = [];
  let names: string[];
  try { names = readdirSync(path.join(repoRoot, dir)); } catch { return out; }
  for (const n of names) {
    const rel = path.join(dir, n);
    if (skip(rel)) continue;
    const st = statSync(path.join(repoRoot, rel));
    if (st.isDirectory()) out.push(...walk(rel, ext, skip));
    else if (ext.test(n)) out.push(rel);
  }
  return out;
}

function uses(): Use[] {
  // the parser and this test hold examples, not runs
  const self = [path.join('test', 'installed-programs.test.ts'), path.join('src', 'test-support', 'programs.ts')];
  const skip = (rel: string): boolean => self.includes(rel) || rel.includes('node_modules') || rel.startsWith(path.join('bench', 'results')) || rel.startsWith(`${path.join('scripts', 'vm')}${path.sep}`);
  const all: Use[] = [...EXTRA];
  for (const dir of ['src', 'test', 'scripts', 'bench']) {
    for (const rel of walk(dir, /\.ts$/, skip)) if (!rel.endsWith('.d.ts')) all.push(...tsUses(rel, readFileSync(path.join(repoRoot, rel), 'utf8')));
  }
  // a function defined in any script (bench/lib.sh is sourced by the others) is not a program
  const scripts = ['scripts', 'bench'].flatMap((dir) => walk(dir, /\.sh$/, skip)).map((rel) => ({ rel, text: readFileSync(path.join(repoRoot, rel), 'utf8') }));
  const functions = new Set(scripts.flatMap((f) => shFunctions(f.text)));
  for (const f of scripts) all.push(...shUses(f.rel, f.text, functions));
  return all;
}

function installLists(): { all: Set<string>; bench: Set<string> } {
  const all = new Set<string>();
  const bench = new Set<string>();
  for (const [dir, set] of [['scripts', all], ['bench', bench]] as const) {
    for (const rel of walk(dir, /\.sh$/, (r) => r.startsWith(`${path.join('scripts', 'vm')}${path.sep}`) || r.startsWith(path.join('bench', 'results')))) {
      for (const p of aptPackages(readFileSync(path.join(repoRoot, rel), 'utf8'))) set.add(p);
    }
  }
  return { all, bench };
}

/** program → absolute path (type -P), or '' */
function locate(programs: string[]): Map<string, string> {
  // the standard PATH of a fresh Debian root shell (not this shell's: pyenv shims and the like)
  const env = { ...process.env, PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  const r = spawnSync('bash', ['-c', 'for n in "$@"; do printf "%s\\t%s\\n" "$n" "$(type -P -- "$n")"; done', '_', ...programs], { encoding: 'utf8', env });
  return new Map(r.stdout.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t') as [string, string]));
}

/** file → packages that own it, for many files in one dpkg -S (tries each path, its real path and its merged-/usr twin) */
function owners(files: string[]): Map<string, string[]> {
  const cands = new Map<string, string[]>();
  for (const f of files) {
    const c = new Set([f]);
    try { c.add(realpathSync(f)); } catch { /* dangling */ }
    for (const x of [...c]) c.add(x.startsWith('/usr/') ? x.slice(4) : `/usr${x}`);
    cands.set(f, [...c]);
  }
  const all = [...new Set([...cands.values()].flat())];
  const r = spawnSync('dpkg', ['-S', ...all], { encoding: 'utf8' });
  const byPath = new Map<string, string[]>();
  for (const line of r.stdout.split('\n')) {
    if (!line.includes(': ') || line.startsWith('diversion')) continue;
    const at = line.indexOf(': ');
    byPath.set(line.slice(at + 2), line.slice(0, at).split(', ').map((p) => p.replace(/:.*/, '')));
  }
  return new Map(files.map((f) => [f, [...new Set((cands.get(f) ?? []).flatMap((c) => byPath.get(c) ?? []))]]));
}

function priorities(pkgs: string[]): Map<string, string> {
  if (pkgs.length === 0) return new Map();
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package}\t${Priority}\n', ...pkgs], { encoding: 'utf8' });
  return new Map(r.stdout.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t') as [string, string]));
}

test('the source parsers find programs where they are run (TypeScript and shell)', (t) => {
  const ts = tsUses('x.ts', [
    "spawn('ip', ['netns', 'exec', nb, 'socat', '-u'])",
    "lab.exec(client, ['busybox', 'udhcpc'])",
    'const m = /x/.exec(line);',
    "execFileSync('true')",
  ].join('\n')).map((u) => u.program);
  t.deepEqual(ts.sort(), ['busybox', 'ip', 'socat', 'true']);
  const sh = shUses('x.sh', [
    'set -euo pipefail',
    'say() { printf "%s" "$*"; }',
    'D=$(cd "$(dirname "$0")/.." && pwd) # comment: not run',
    'for p in a b; do case "$p" in veth) echo x;; esac; done',
    'ip netns exec "$NS" iperf3 -s | tee log && timeout 5 socat - - || say no',
    'cat <<EOF',
    'heredoc line tshark',
    'EOF',
    'X=1 awk "{print}" file',
    'command -v zstd >/dev/null',
  ].join('\n')).map((u) => u.program);
  t.deepEqual(sh.sort(), ['awk', 'cat', 'dirname', 'ip', 'iperf3', 'socat', 'tee']);
  t.deepEqual(aptPackages('APT_PACKAGES=(\n  socat   # x\n  iproute2 ethtool\n)\nbash "$ROOT/scripts/apt-install.sh" iperf3 vde2\n').sort(),
    ['ethtool', 'iperf3', 'iproute2', 'socat', 'vde2']);
});

test('every program run by src/, test/, scripts/ and bench/ is installed by setup (APT_PACKAGES) or in Debian\'s base system', (t) => {
  const found = uses();
  t.true(found.some((u) => u.program === 'socat'), 'socat (native-edge test) is found');
  t.true(found.some((u) => u.program === 'iperf3'), 'iperf3 (lab.exec) is found');
  const lists = installLists();
  t.true(lists.all.has('iproute2'), 'scripts/setup.sh APT_PACKAGES is read');
  const byProgram = new Map<string, Use[]>();
  for (const u of found) byProgram.set(u.program, [...(byProgram.get(u.program) ?? []), u]);
  const where = locate([...byProgram.keys()]);
  const problems: string[] = [];
  const checked: string[] = [];
  const programs = [...byProgram.keys()].filter((p) => !['node', 'npm', 'npx'].includes(p));
  const own = owners(programs.map((p) => where.get(p) ?? '').filter((f) => f !== ''));
  const prio = priorities([...new Set([...own.values()].flat())]);
  for (const program of programs) {
    const us = byProgram.get(program) ?? [];
    const files = us.map((u) => u.where);
    const benchOnly = us.every((u) => u.where.startsWith('bench/'));
    const file = where.get(program) ?? '';
    if (file === '') {
      problems.push(`${program}: not installed (run by ${files.join(', ')}): add its package to APT_PACKAGES in scripts/setup.sh`);
      continue;
    }
    const pkgs = own.get(file) ?? [];
    const ok = pkgs.some((p) => lists.all.has(p) || (benchOnly && lists.bench.has(p)) || ['required', 'important'].includes(prio.get(p) ?? ''));
    if (!ok) {
      const what = pkgs.length ? `package ${pkgs.map((p) => `${p} (priority ${prio.get(p) ?? '?'})`).join(', ')}` : 'no Debian package';
      problems.push(`${program}: ${file} is from ${what}, which scripts/setup.sh's APT_PACKAGES does not install (run by ${files.join(', ')})`);
    }
    checked.push(program);
  }
  t.log(`checked ${checked.length} programs: ${checked.sort().join(' ')}`);
  t.deepEqual(problems, []);
});
