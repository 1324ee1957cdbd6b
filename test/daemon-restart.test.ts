/**
 * Restarts and the one-daemon rule, with real daemon processes: a restart right after `kill -9` succeeds every
 * time (the lock is an abstract socket the kernel frees with the process; a dying holder is waited for), a
 * second daemon on the same config (another socket) or on the same socket (another config) is refused naming
 * the holder, reads right after a start wait for the restore instead of failing with "no such switch", and the
 * temp files of an interrupted save are removed at start, a symlinked config written through its link.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { callDaemon } from '../src/control/client.js';
import { cleanPrefix, testPrefix } from '../src/lab/netlab.js';
import { CLI } from '../src/test-support/daemon.js';

const P = testPrefix('r');

interface Daemon {
  proc: ChildProcess;
  log: () => string;
  /** resolves with true once the log has `what`, false if the process exits first */
  until: (what: string) => Promise<boolean>;
  exited: Promise<number | null>;
}

function startDaemon(conf: string, sock: string): Daemon {
  const proc = spawn('node', [CLI, 'daemon', '--config', conf, '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const waiters: (() => void)[] = [];
  proc.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
    for (const w of waiters) w();
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => {
    for (const w of waiters) w();
    r(code);
  }));
  const until = (what: string): Promise<boolean> => new Promise((resolve) => {
    const check = (): void => {
      if (log.includes(what)) resolve(true);
      else if (proc.exitCode !== null || proc.signalCode !== null) resolve(false);
    };
    waiters.push(check);
    check();
  });
  return { proc, log: () => log, until, exited };
}

async function stopDaemon(d: Daemon): Promise<void> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null || !d.proc.pid) return;
  process.kill(d.proc.pid, 'SIGTERM');
  const t = setTimeout(() => { if (d.proc.pid && d.proc.exitCode === null) process.kill(d.proc.pid, 'SIGKILL'); }, 15_000);
  await d.exited;
  clearTimeout(t);
}

function tempDir(): { dir: string; conf: string; sock: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'xvs-restart-'));
  return { dir, conf: path.join(dir, 'state', 'config.json'), sock: path.join(dir, 'run', 'xvs.sock') };
}

function writeConfig(conf: string, switches: { name: string; ports: string[] }[]): void {
  mkdirSync(path.dirname(conf), { recursive: true });
  writeFileSync(conf, JSON.stringify({ version: 1, switches: switches.map((s) => ({ name: s.name, type: 'private', ports: s.ports.map((p) => ({ name: p })) })) }));
}

const running: Daemon[] = [];
test.before(() => cleanPrefix(P));
test.after.always(async () => {
  for (const d of running) await stopDaemon(d);
  cleanPrefix(P);
});

test.serial('8 of 8 restarts right after kill -9 succeed', async (t) => {
  const { dir, conf, sock } = tempDir();
  writeConfig(conf, [{ name: `${P}k`, ports: [`${P}k0`, `${P}k1`] }]);
  let d = startDaemon(conf, sock);
  running.push(d);
  t.true(await d.until('daemon ready'), d.log());
  let ok = 0;
  for (let i = 0; i < 8; i++) {
    process.kill(d.proc.pid!, 'SIGKILL');
    d = startDaemon(conf, sock); // at once: the killed one may not be gone yet
    running.push(d);
    if (await d.until('daemon ready')) ok++;
    else t.log(`restart ${i + 1}: ${d.log()}`);
  }
  t.is(ok, 8);
  const shown = await callDaemon(sock, 'switch.show', { name: `${P}k` });
  t.deepEqual(shown.ports.map((p) => p.name), [`${P}k0`, `${P}k1`]);
  await stopDaemon(d);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('a holder that does not answer is waited for while it dies, and named if it stays', async (t) => {
  // A daemon killed with -9 may keep its sockets (they accept, nobody answers) while the kernel tears it down;
  // a stopped one (SIGSTOP) looks the same, for as long as we like.
  const { dir, conf, sock } = tempDir();
  writeConfig(conf, [{ name: `${P}w`, ports: [`${P}w0`] }]);
  const a = startDaemon(conf, sock);
  running.push(a);
  t.true(await a.until('daemon ready'), a.log());
  process.kill(a.proc.pid!, 'SIGSTOP');
  const b = startDaemon(conf, sock);
  running.push(b);
  const waiting = await b.until('does not answer');
  t.true(waiting, `the new daemon waits for the silent holder: ${b.log()}`);
  process.kill(a.proc.pid!, 'SIGKILL'); // now it dies
  t.true(await b.until('daemon ready'), b.log());
  t.is((await callDaemon(sock, 'switch.show', { name: `${P}w` })).ports.length, 1);

  // one that stays silent is named after the wait (5 s)
  process.kill(b.proc.pid!, 'SIGSTOP');
  const c = startDaemon(conf, sock);
  running.push(c);
  t.is(await c.exited, 1);
  t.regex(c.log(), new RegExp(`configuration .* is locked by pid ${b.proc.pid} \\(node, uid \\d+\\), which does not answer as an xvs daemon`));
  process.kill(b.proc.pid!, 'SIGCONT');
  t.deepEqual((await callDaemon(sock, 'switch.list', {})).map((s) => s.config.name), [`${P}w`], 'the holder carries on');
  await stopDaemon(b);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('a second daemon on the same config (another socket) or the same socket (another config) is refused, naming the holder', async (t) => {
  const { dir, conf, sock } = tempDir();
  writeConfig(conf, []);
  const first = startDaemon(conf, sock);
  running.push(first);
  t.true(await first.until('daemon ready'), first.log());
  const pid = first.proc.pid!;

  const sameConf = startDaemon(conf, path.join(dir, 'other.sock'));
  t.is(await sameConf.exited, 1);
  t.regex(sameConf.log(), new RegExp(`configuration .*config\\.json is in use by another xvs daemon \\(pid ${pid}, config .*config\\.json, socket .*xvs\\.sock\\)`));
  t.false(existsSync(path.join(dir, 'other.sock')), 'it never listened');

  // the same file through a symlinked directory is the same config
  symlinkSync(path.join(dir, 'state'), path.join(dir, 'alias'));
  const viaLink = startDaemon(path.join(dir, 'alias', 'config.json'), path.join(dir, 'other.sock'));
  t.is(await viaLink.exited, 1);
  t.regex(viaLink.log(), new RegExp(`in use by another xvs daemon \\(pid ${pid},`));

  const sameSock = startDaemon(path.join(dir, 'other.json'), sock);
  t.is(await sameSock.exited, 1);
  t.regex(sameSock.log(), new RegExp(`socket .*xvs\\.sock is in use by another xvs daemon \\(pid ${pid},`));
  t.deepEqual(await callDaemon(sock, 'switch.list', {}), [], 'the first still answers');
  t.is((await callDaemon(sock, 'daemon.status', {})).pid, pid);
  await stopDaemon(first);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('reads right after a start wait for the restore; daemon.status says restoring meanwhile', async (t) => {
  const { dir, conf, sock } = tempDir();
  const switches = [0, 1, 2, 3].map((i) => ({ name: `${P}s${i}`, ports: [0, 1, 2].map((j) => `${P}s${i}t${j}`) }));
  writeConfig(conf, switches);
  const d = startDaemon(conf, sock);
  running.push(d);
  t.true(await d.until('listening on'), d.log());
  // as soon as the socket is there, before the restore is done
  const [status, shown, ports] = await Promise.all([
    callDaemon(sock, 'daemon.status', {}),
    callDaemon(sock, 'switch.show', { name: `${P}s3` }),
    callDaemon(sock, 'port.list', { switch: `${P}s2` }),
  ]);
  const restoreDone = d.log().includes('daemon ready');
  t.log(`status during the restore: ${JSON.stringify(status.restoring)} (ready logged: ${restoreDone})`);
  if (status.restoring) {
    t.is(status.restoring.switches, 4);
    t.true(status.restoring.switchesDone <= 4);
    t.true(status.restoring.changes >= 16, 'switches, ports (and extension lists)');
  }
  t.true(shown.running);
  t.deepEqual(shown.ports.map((p) => p.name), switches[3].ports);
  t.deepEqual(ports.map((p) => p.name), switches[2].ports);
  t.true(d.log().includes('restored 4 of 4 switches'));
  const after = await callDaemon(sock, 'daemon.status', {});
  t.is(after.restoring, undefined);
  t.is(after.switches, 4);
  t.is(after.ports, 12);
  await stopDaemon(d);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('at start, temp files of an interrupted save are removed; a symlinked config is written through its link', async (t) => {
  const { dir, sock } = tempDir();
  const real = path.join(dir, 'etc', 'config.json');
  writeConfig(real, []);
  const conf = path.join(dir, 'config.json');
  symlinkSync(real, conf);
  const stale = path.join(dir, 'etc', '.config.json.4242.0123abcd.tmp');
  const other = path.join(dir, 'etc', 'notes.tmp');
  writeFileSync(stale, '{"version": 1, "swi');
  writeFileSync(other, 'not ours');
  const d = startDaemon(conf, sock);
  running.push(d);
  t.true(await d.until('daemon ready'), d.log());
  t.false(existsSync(stale), 'the stale temp file is gone');
  t.true(existsSync(other), 'other files stay');
  t.regex(d.log(), /removed .*\.config\.json\.4242\.0123abcd\.tmp, left by an interrupted save/);
  await callDaemon(sock, 'switch.create', { name: `${P}l`, type: 'private' });
  t.true(lstatSync(conf).isSymbolicLink(), 'the config is still a symlink');
  t.regex(readFileSync(real, 'utf8'), new RegExp(`"name": "${P}l"`));
  t.deepEqual(readdirSync(path.join(dir, 'etc')).sort(), ['config.json', 'notes.tmp']);
  await callDaemon(sock, 'switch.delete', { name: `${P}l` });
  await stopDaemon(d);
  rmSync(dir, { recursive: true, force: true });
});
