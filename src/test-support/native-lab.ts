/**
 * Shell helpers of the native-edge tests (src/ports/native/*.test.ts): commands, veths and namespaces
 * removed at teardown, and the clean-up of what a dead earlier run left. Names are `<tag><id><letter>…`
 * with `id` the process's (the pid, or the pid cut to fit IFNAMSIZ), so a stale name tells whose it was.
 */
import { execFileSync } from 'node:child_process';
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
