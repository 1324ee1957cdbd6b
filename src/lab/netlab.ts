/**
 * Real namespaces and veths for integration tests and the lab. Every name starts with the caller's own prefix
 * ("xt…" for tests, "xvsl…" for the lab); stale devices/namespaces of that prefix are removed first, and
 * `destroy()` removes everything in every outcome (call it from t.teardown / test.after.always).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; timeout?: number } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeout ?? 60_000 });
  } catch (e) {
    if (opts.allowFail) return '';
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

/** `sh` without blocking, for commands that wait side by side: the exit code (-1: not started or killed) and stdout */
export function shAsync(cmd: string, args: string[], opts: { timeout?: number } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: opts.timeout ?? 60_000 });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.once('error', () => resolve({ code: -1, out }));
    p.once('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** remove every link and namespace whose name starts with `prefix` (must start with "xt") */
export function cleanPrefix(prefix: string): void {
  if (!prefix.startsWith('xt') && !prefix.startsWith('xvsl')) throw new Error(`refusing to clean a prefix that is not ours: ${prefix}`);
  for (const dev of readdirSync('/sys/class/net')) if (dev.startsWith(prefix)) sh('ip', ['link', 'del', dev], { allowFail: true });
  if (existsSync('/run/netns')) {
    for (const ns of readdirSync('/run/netns')) if (ns.startsWith(prefix)) sh('ip', ['netns', 'del', ns], { allowFail: true });
  }
}

export interface Host {
  ns: string;
  /** device inside the namespace */
  dev: string;
  /** root-namespace end (the switch port netdev) */
  peer: string;
  ip: string;
  mac: string;
}

/** A unique prefix for this process: "xt" + tag (≤ 3 chars) + 3 digits of the pid. */
export function testPrefix(tag: string): string {
  return `xt${tag}${(process.pid % 1000).toString().padStart(3, '0')}`;
}

export class NetLab {
  readonly prefix: string;
  readonly hosts: Host[] = [];
  private readonly procs: ChildProcess[] = [];

  constructor(prefix: string) {
    this.prefix = prefix;
    cleanPrefix(prefix);
  }

  /** namespace `<prefix>n<i>` with veth `<prefix>v<i>` (root side) <-> `<prefix>e<i>` (in the namespace) */
  addHost(i: number, opts: { subnet?: string; offloads?: boolean } = {}): Host {
    const ns = `${this.prefix}n${i}`;
    const peer = `${this.prefix}v${i}`;
    const dev = `${this.prefix}e${i}`;
    const ip = `${opts.subnet ?? '10.77.0'}.${10 + i}`;
    const mac = `02:78:74:00:00:${(0x10 + i).toString(16)}`;
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    sh('ip', ['link', 'add', peer, 'type', 'veth', 'peer', 'name', dev]);
    sh('sysctl', ['-qw', `net.ipv6.conf.${peer}.disable_ipv6=1`], { allowFail: true });
    sh('ip', ['link', 'set', dev, 'netns', ns]);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'address', mac]);
    sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev]);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['link', 'set', peer, 'up']);
    if (opts.offloads === false) {
      sh('ethtool', ['-K', peer, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { allowFail: true });
      sh('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { allowFail: true });
    }
    const h = { ns, dev, peer, ip, mac };
    this.hosts[i] = h;
    return h;
  }

  exec(h: Host, cmd: string[], opts: { allowFail?: boolean; timeout?: number } = {}): string {
    return sh('ip', ['netns', 'exec', h.ns, ...cmd], opts);
  }

  ping(from: Host, to: Host, count = 3, extra: string[] = []): boolean {
    try {
      execFileSync('ip', ['netns', 'exec', from.ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '2', ...extra, to.ip],
        { stdio: 'ignore', timeout: 30_000 });
      return true;
    } catch {
      return false;
    }
  }

  /** a background process inside a namespace, killed by PID in destroy() */
  spawnIn(h: Host, cmd: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', h.ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  /** rx_packets of a host's NIC (inside its namespace) */
  rxPackets(h: Host): number {
    return parseInt(this.exec(h, ['cat', `/sys/class/net/${h.dev}/statistics/rx_packets`]).trim(), 10);
  }

  destroy(): void {
    for (const p of this.procs) if (p.exitCode === null && p.pid) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
    cleanPrefix(this.prefix);
  }
}
