/**
 * Shell helpers of the native-edge tests (src/ports/native/*.test.ts): commands, veths and namespaces
 * removed at teardown, and the clean-up of what a dead earlier run left. Names are `<tag><id><letter>…`
 * with `id` the process's (the pid, or the pid cut to fit IFNAMSIZ), so a stale name tells whose it was.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';

export function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tryRun(cmd: string, ...args: string[]): void {
  try { run(cmd, ...args); } catch { /* already gone */ }
}

export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * Removes links and namespaces named `<tag><id><letter>…` whose id is not `ownId` and whose process is gone;
 * `onLink` runs for each removed link too (e.g. to destroy a persistent TAP the native edge made).
 */
export function removeStale(tag: string, ownId: number, onLink: (name: string) => void = () => {}): void {
  const re = new RegExp(`^${tag}(\\d+)[a-z]`);
  const stale = (name: string): boolean => {
    const m = re.exec(name);
    return m !== null && Number(m[1]) !== ownId && !pidAlive(Number(m[1]));
  };
  for (const line of run('ip', '-o', 'link', 'show').split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name && stale(name)) { tryRun('ip', 'link', 'del', name); onLink(name); }
  }
  for (const line of run('ip', 'netns', 'list').split('\n')) {
    const name = line.split(' ')[0];
    if (name && stale(name)) tryRun('ip', 'netns', 'del', name);
  }
}

/** a veth pair a<->b in the root namespace, IPv6 off (no stray frames), up; removed at teardown */
export function veth(t: ExecutionContext, a: string, b: string, mtu = 1500): void {
  t.teardown(() => tryRun('ip', 'link', 'del', a));
  run('ip', 'link', 'add', a, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', b, 'mtu', String(mtu));
  for (const d of [a, b]) {
    tryRun('sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
    run('ip', 'link', 'set', d, 'up');
  }
}

/** a namespace with lo up; removed at teardown */
export function netns(t: ExecutionContext, name: string): void {
  t.teardown(() => tryRun('ip', 'netns', 'del', name));
  run('ip', 'netns', 'add', name);
  run('ip', '-n', name, 'link', 'set', 'lo', 'up');
}

/**
 * Two namespaces `<p>na` / `<p>nb`, each with an `eth1` (offloads on, `<subnet>.1` / `.2`) whose root-side veth
 * ends `<p>ha` / `<p>hb` are left for the test to bridge; removed at teardown.
 */
export function namespacePair(t: ExecutionContext, p: string, subnet: string, mtu = 1500): { na: string; nb: string; ha: string; hb: string } {
  const na = `${p}na`, nb = `${p}nb`, ha = `${p}ha`, hb = `${p}hb`;
  netns(t, na); netns(t, nb);
  veth(t, ha, `${p}xa`, mtu); veth(t, hb, `${p}xb`, mtu);
  for (const [x, n, host] of [[`${p}xa`, na, 1], [`${p}xb`, nb, 2]] as const) {
    run('ip', 'link', 'set', x, 'netns', n, 'name', 'eth1');
    run('ip', '-n', n, 'addr', 'add', `${subnet}.${host}/24`, 'dev', 'eth1');
    run('ip', '-n', n, 'link', 'set', 'eth1', 'up');
  }
  return { na, nb, ha, hb };
}

/**
 * `bytes` random bytes from `na` to `nb` (`dstIp`) over TCP with socat, while `pump` moves the frames between
 * the two root-side ends; `pump` is given `finished()`, true once both socats exited (or after 30 s).
 * Then asserts that both socats exited 0 and that the bytes arrived exactly (length and sha256).
 */
export async function tcpThroughPump(t: ExecutionContext, na: string, nb: string, dstIp: string, bytes: number,
  pump: (finished: () => boolean) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'xtnl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sent = randomBytes(bytes);
  writeFileSync(path.join(dir, 'in'), sent);
  const server = spawn('ip', ['netns', 'exec', nb, 'socat', '-u', 'TCP-LISTEN:5001,reuseaddr', `OPEN:${path.join(dir, 'out')},creat,trunc`], { stdio: 'ignore' });
  t.teardown(() => { if (server.exitCode === null) server.kill(); });
  const serverDone = new Promise<number | null>((res) => server.on('exit', (c) => res(c)));
  await new Promise((r) => setTimeout(r, 300));
  const client = spawn('ip', ['netns', 'exec', na, 'socat', '-u', `OPEN:${path.join(dir, 'in')}`, `TCP:${dstIp}:5001,retry=5`], { stdio: 'ignore' });
  t.teardown(() => { if (client.exitCode === null) client.kill(); });
  const clientDone = new Promise<number | null>((res) => client.on('exit', (c) => res(c)));
  let finished = false;
  void Promise.all([clientDone, serverDone]).then(() => { finished = true; });
  const timeout = setTimeout(() => { finished = true; }, 30000);
  await pump(() => finished);
  clearTimeout(timeout);
  t.is(await clientDone, 0);
  t.is(await serverDone, 0);
  const got = readFileSync(path.join(dir, 'out'));
  t.is(got.length, sent.length);
  t.is(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(sent).digest('hex'));
}
