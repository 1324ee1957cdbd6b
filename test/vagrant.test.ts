/**
 * vagrant/: the two-box HNV set-up, checked without a Vagrant provider (none on this machine, no nested
 * virtualization):
 *  - `vagrant validate --ignore-provider` accepts vagrant/Vagrantfile, and refuses it when the
 *    provisioning script it names is missing (so validate really looks at the provisioner)
 *  - shellcheck passes on vagrant/provision.sh (every severity) and scripts/*.sh (warnings and errors)
 *  - the boxes and the lab run the same per-host entry point: the Vagrantfile's shell provisioner is
 *    provision.sh, provision.sh runs `node dist/src/lab/hnv-host.js --host … --uplink …`, and the lab
 *    (src/lab/hnv.ts) runs HNV_HOST_JS, that same file
 *  - that entry point, as the lab runs it, on two namespace hosts with namespace VMs (the boxes' case:
 *    no QEMU): the reachability matrix is the tenant rule, and its --ping check (what host 1's
 *    provisioning ends with) gets answers across the tunnels; bad arguments are refused with the option named
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromRoot, repoRoot } from '../src/repo-root.js';
import { formatMatrix, startHnvLab, type HnvLab } from '../src/lab/hnv.js';
import { HNV_HOST_JS, pingPeers } from '../src/lab/hnv-host.js';
import { testPrefix } from '../src/lab/netlab.js';

const vagrantDir = fromRoot('vagrant');
const scratch = mkdtempSync(path.join(tmpdir(), 'xvs-vagrant-'));
// no version check over the network, and Vagrant's own state in a scratch directory
const vagrantEnv = { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_HOME: path.join(scratch, 'home') };

test.after.always(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function validate(dir: string): { code: number; out: string } {
  const r = spawnSync('vagrant', ['validate', '--ignore-provider'], { cwd: dir, env: vagrantEnv, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

test('vagrant validate --ignore-provider accepts the Vagrantfile, and refuses it without its provisioning script', (t) => {
  const ok = validate(vagrantDir);
  t.is(ok.code, 0, ok.out);
  t.regex(ok.out, /validated successfully/);
  rmSync(path.join(vagrantDir, '.vagrant'), { recursive: true, force: true });

  const copy = path.join(scratch, 'no-script');
  spawnSync('mkdir', ['-p', copy]);
  copyFileSync(path.join(vagrantDir, 'Vagrantfile'), path.join(copy, 'Vagrantfile'));
  const bad = validate(copy);
  t.not(bad.code, 0, bad.out);
  t.regex(bad.out, /`path` for shell provisioner does not exist.*provision\.sh/);
});

test('shellcheck: vagrant/provision.sh at every severity, scripts/*.sh at warning and above', (t) => {
  const own = spawnSync('shellcheck', [path.join(vagrantDir, 'provision.sh')], { encoding: 'utf8' });
  t.is(own.status, 0, own.stdout);
  const scripts = readdirSync(fromRoot('scripts')).filter((f) => f.endsWith('.sh')).map((f) => fromRoot('scripts', f));
  t.true(scripts.length >= 5, scripts.join(' '));
  const all = spawnSync('shellcheck', ['-S', 'warning', ...scripts], { encoding: 'utf8' });
  t.is(all.status, 0, all.stdout);
});

test('the Vagrant provisioner and the lab run the same per-host entry point (dist/src/lab/hnv-host.js)', (t) => {
  const vagrantfile = readFileSync(path.join(vagrantDir, 'Vagrantfile'), 'utf8');
  const provisioners = [...vagrantfile.matchAll(/\.vm\.provision\s+"shell",\s*path:\s*"([^"]+)",\s*args:\s*\[index\.to_s\]/g)].map((m) => m[1]);
  t.deepEqual(provisioners, ['provision.sh'], 'one shell provisioner, vagrant/provision.sh with the host index');
  t.regex(vagrantfile, /config\.vm\.box = "debian\/bookworm64"/);
  const script = readFileSync(path.join(vagrantDir, 'provision.sh'), 'utf8');
  const calls = script.split('\n').filter((l) => !l.trimStart().startsWith('#') && l.includes('hnv-host.js'));
  t.deepEqual(calls.map((l) => l.trim()), ['node dist/src/lab/hnv-host.js --host "$host" --uplink "$uplink" "${ping_args[@]}"']);
  t.is(HNV_HOST_JS, path.join(repoRoot, 'dist', 'src', 'lab', 'hnv-host.js'));
  t.true(existsSync(HNV_HOST_JS));
  const lab = readFileSync(fromRoot('src', 'lab', 'hnv.ts'), 'utf8');
  t.regex(lab, /const args = \[HNV_HOST_JS, '--host', String\(h\), '--uplink', 'uplink'/);
});

test('hnv-host.js refuses bad arguments, naming the option', (t) => {
  const run = (args: string[]): { code: number; err: string } => {
    const r = spawnSync(process.execPath, [HNV_HOST_JS, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, err: r.stderr };
  };
  const host = run(['--host', '2', '--uplink', 'eth1']);
  t.is(host.code, 1);
  t.regex(host.err, /--host: expected 0 or 1, got 2/);
  const uplink = run(['--host', '0']);
  t.is(uplink.code, 1);
  t.regex(uplink.err, /--uplink: required/);
  const ping = run(['--host', '1', '--uplink', 'eth1', '--ping', 'soon']);
  t.is(ping.code, 1);
  t.regex(ping.err, /--ping: expected seconds/);
});

let lab: HnvLab | undefined;
test.after.always(async () => {
  await lab?.destroy();
});

test.serial('the entry point on two namespace hosts with namespace VMs (the boxes\' set-up): tenant matrix and the --ping check', async (t) => {
  const P = testPrefix('vg');
  const run = path.join(scratch, 'lab');
  lab = await startHnvLab({ prefix: P, run, qemu: false, tcp: false, log: (l) => t.log(l) });
  const shown = formatMatrix(lab.endpoints, lab.matrix, lab.expected);
  t.log(`\n${shown}`);
  t.is(lab.endpoints.length, 4);
  t.deepEqual(lab.matrix, lab.expected, shown);
  t.is(lab.leaks, 0);
  for (const r of lab.rows) t.true(r.ok, `${r.check}: ${r.detail}`);
  t.true(lab.rows.some((r) => r.check.startsWith('HNV tenant reachability')));
  for (const s of lab.shows) t.regex(s, /10\.78\.100\.[12]/);
  const lines: string[] = [];
  t.true(await pingPeers(1, P, 10, (l) => lines.push(l)), lines.join('\n'));
  t.is(lines.filter((l) => l.endsWith(': answered')).length, 2, lines.join('\n'));

  await lab.destroy();
  lab = undefined;
  const left = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(P)) : [];
  t.deepEqual(left, [], 'no namespace left');
});
