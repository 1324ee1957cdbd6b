/**
 * xvs as a service (systemd/xvs.service). systemd is not PID 1 on these machines, so the unit itself
 * cannot be started here; what is tested instead, for real:
 *  - the daemon runs with exactly the unit's CapabilityBoundingSet and NoNewPrivileges (setpriv, the
 *    bounding set read from the unit file) and still creates a TAP, moves the uplink's address to the
 *    host port and forwards; it says READY=1 (sd_notify, to a NOTIFY_SOCKET this test listens on) only
 *    once its socket answers with the configuration restored, and STOPPING=1 on SIGTERM;
 *  - `npm pack` + `npm install -g` gives a working `xvs` (`--version` names the commit), and
 *    `systemd-analyze verify` accepts the unit pointing at it;
 *  - `systemd-analyze security --offline` rates the unit's exposure at most 5.0.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetLab, sh, testPrefix } from '../src/lab/netlab.js';
import { fromRoot } from '../src/repo-root.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('sv');
const UNIT = fromRoot('systemd', 'xvs.service');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** the unit's CapabilityBoundingSet as setpriv's --bounding-set argument: "-all,+net_admin,…" */
function unitBoundingSet(): string {
  const line = readFileSync(UNIT, 'utf8').split('\n').find((l) => l.startsWith('CapabilityBoundingSet='));
  if (!line) throw new Error('the unit has no CapabilityBoundingSet');
  const caps = line.slice('CapabilityBoundingSet='.length).trim().split(/\s+/);
  return ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}

/** capability numbers (linux/capability.h) of the capabilities a unit may keep here */
const CAP_BITS: Record<string, number> = { net_admin: 12, net_raw: 13, ipc_lock: 14, sys_ptrace: 19, sys_admin: 21, sys_nice: 23, sys_resource: 24 };

/** the CapBnd mask /proc shows for that bounding set */
function boundingMask(): bigint {
  return unitBoundingSet().split(',').filter((c) => c.startsWith('+')).reduce((m, c) => {
    const bit = CAP_BITS[c.slice(1)];
    if (bit === undefined) throw new Error(`unknown capability ${c}`);
    return m | (1n << BigInt(bit));
  }, 0n);
}

/** a unix datagram socket (socat) that collects what the daemon sends to NOTIFY_SOCKET */
async function notifyListener(dir: string): Promise<{ path: string; text: () => string; proc: ChildProcess }> {
  const p = path.join(dir, 'notify.sock');
  let text = '';
  const proc = spawn('socat', ['-u', `UNIX-RECV:${p}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => { text += `${d.toString()}\n`; });
  for (let i = 0; i < 50 && !existsSync(p); i++) await sleep(100);
  if (!existsSync(p)) throw new Error('socat did not create the notify socket');
  return { path: p, text: () => text, proc };
}

test.serial('with only the unit\'s capabilities and no new privileges the daemon creates a TAP, moves the uplink address and forwards; READY=1 comes after the restore, STOPPING=1 on SIGTERM', async (t) => {
  const lab = new NetLab(P);
  const dir = mkdtempSync(path.join(tmpdir(), 'xvs-svc-'));
  const listener = await notifyListener(dir);
  const wrapper = ['setpriv', '--no-new-privs', `--bounding-set=${unitBoundingSet()}`, '--'];
  const d = new TestDaemon({ NOTIFY_SOCKET: listener.path }, wrapper);
  const sw = `${P}e`;
  const host = `${P}h`;
  const tap = `${P}t`;
  t.teardown(async () => {
    if (d.running) d.xvs('switch', 'delete', sw);
    await d.destroy();
    if (listener.proc.pid && listener.proc.exitCode === null) process.kill(listener.proc.pid);
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const net = lab.addHost(0, { subnet: '10.77.40' });
  sh('ip', ['addr', 'add', '10.77.40.1/24', 'dev', net.peer]);

  await d.start();
  t.log(`bounding set: ${unitBoundingSet()}`);
  const status = readFileSync(`/proc/${d.pid}/status`, 'utf8');
  t.regex(status, /NoNewPrivs:\s+1/, 'the daemon runs with no_new_privs');
  t.is(BigInt(`0x${/CapBnd:\s+([0-9a-f]+)/.exec(status)?.[1] ?? '0'}`), boundingMask(), 'the bounding set is the unit\'s');
  t.is(BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(status)?.[1] ?? '0'}`), boundingMask(), 'and so are its effective capabilities');
  t.regex(listener.text(), /READY=1/);

  const created = d.xvs('switch', 'create', sw, '--type', 'external', '--uplink', net.peer, '--allow-management-os', '--host-port', host);
  t.is(created.code, 0, created.err + d.log);
  t.regex(sh('ip', ['-o', 'addr', 'show', 'dev', host]), /10\.77\.40\.1\//, 'the address moved to the host port');
  const added = d.xvs('port', 'add', sw, tap);
  t.is(added.code, 0, added.err);
  t.true(existsSync(`/sys/class/net/${tap}/tun_flags`), 'a TAP was created');
  const ping = spawnSync('ping', ['-c', '3', '-i', '0.2', '-W', '2', net.ip], { encoding: 'utf8' });
  t.is(ping.status, 0, `host → network through the switch: ${ping.stdout}${ping.stderr}`);

  // restart: READY=1 only once the switch is back (the socket answers and the config is restored)
  await d.stop();
  t.regex(listener.text(), /STOPPING=1/, 'SIGTERM: STOPPING=1');
  const before = listener.text().length;
  const restarted = d.start();
  let ready = false;
  for (let i = 0; i < 300 && !ready; i++) {
    ready = /READY=1/.test(listener.text().slice(before));
    if (!ready) await sleep(50);
  }
  t.true(ready, `READY=1 after the restart: ${listener.text()}`);
  const list = d.json<{ config: { name: string }; ports: { name: string }[] }[]>('switch', 'list');
  t.deepEqual(list.find((s) => s.config.name === sw)?.ports.map((p) => p.name).sort(), [host, tap, net.peer].sort(), 'at READY=1 the switch and its ports are restored');
  await restarted;
  const sent = listener.text().slice(before);
  t.regex(sent, new RegExp(`MAINPID=${d.pid ?? -1}`), 'MAINPID is the daemon');
  t.regex(sent, /STATUS=1 switch\(es\) running/);
  t.is(spawnSync('ping', ['-c', '3', '-i', '0.2', '-W', '2', net.ip]).status, 0, 'forwarding after the restart');
});

test.serial('npm pack + npm install -g gives a working xvs; systemd-analyze verify accepts the unit; exposure ≤ 5.0', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xvs-pkg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: fromRoot(), encoding: 'utf8', timeout: 120_000 });
  t.is(pack.status, 0, pack.stderr);
  const tarball = path.join(dir, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
  const files = (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  t.true(files.includes('dist/src/cli/main.js') && files.includes('binding.gyp') && files.includes('systemd/xvs.service'));
  t.false(files.some((f) => f.endsWith('.test.js')), 'no tests in the package');
  const prefix = path.join(dir, 'prefix');
  const inst = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--allow-scripts=xvs,cap', '--prefer-offline', '--no-audit', '--no-fund', tarball],
    { encoding: 'utf8', timeout: 600_000 });
  t.is(inst.status, 0, inst.stdout + inst.stderr);
  const bin = path.join(prefix, 'bin', 'xvs');
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  t.is(version.status, 0, version.stderr);
  const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { version: string };
  t.regex(version.stdout.trim(), new RegExp(`^xvs ${pkg.version.replace(/\./g, '\\.')} \\(commit [0-9a-f]{12}(\\+modified)?\\)$`));
  // the installed command reaches the native edge (built by the package's install step)
  const sock = path.join(dir, 'none.sock');
  const noDaemon = spawnSync(bin, ['--socket', sock, 'switch', 'list'], { encoding: 'utf8' });
  t.is(noDaemon.status, 1);
  t.regex(noDaemon.stderr, /xvs: /);
  t.true(existsSync(path.join(prefix, 'lib', 'node_modules', 'xvs', 'build', 'Release', 'xvs_native.node')), 'the addon was built on install');

  // the unit as shipped, its ExecStart pointed at this install (verify checks the command exists)
  const unit = readFileSync(UNIT, 'utf8');
  t.regex(unit, /^ExecStart=\/usr\/bin\/xvs daemon /m);
  const copy = path.join(dir, 'xvs.service');
  writeFileSync(copy, unit.replace(/^ExecStart=\/usr\/bin\/xvs /m, `ExecStart=${bin} `));
  const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  t.is(verify.status, 0, verify.stdout + verify.stderr);
  t.notRegex(verify.stderr, /xvs\.service:\d+:/, `no complaint about a line of the unit: ${verify.stderr}`);

  const sec = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8' });
  const m = /Overall exposure level for xvs\.service: (\d+\.\d+)/.exec(sec.stdout);
  t.truthy(m, sec.stdout + sec.stderr);
  t.log(`systemd-analyze security: exposure ${m?.[1] ?? '?'}`);
  t.true(Number(m?.[1]) <= 5.0, `exposure ${m?.[1] ?? '?'} > 5.0`);
  t.regex(unit, /^Type=notify$/m);
});
