/**
 * A real etcd for tests: its own process, its own data dir in a temp dir, stopped by PID. By default on
 * 127.0.0.1 with free client and peer ports; or inside a test's network namespace on an address of it
 * (system tests: the daemons reach it from their own namespaces). `kill()` then `start()` again is the
 * same member on the same data dir and ports (etcd "coming back"); `remove()` kills it and deletes the
 * data dir (call it from t.teardown).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** a TCP port free on 127.0.0.1 now (the kernel's choice) */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestEtcdOptions {
  /** run inside this network namespace (ports 2379/2380 unless given: the namespace is the test's own) */
  netns?: string;
  /** the address to serve on (default 127.0.0.1) */
  ip?: string;
}

export class TestEtcd {
  readonly dir: string;
  readonly dataDir: string;
  readonly ip: string;
  readonly netns: string | undefined;
  log = '';
  private proc: ChildProcess | undefined;

  private constructor(readonly clientPort: number, readonly peerPort: number, opts: TestEtcdOptions) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'xvs-etcd-'));
    this.dataDir = path.join(this.dir, 'data');
    this.ip = opts.ip ?? '127.0.0.1';
    this.netns = opts.netns;
  }

  static async create(opts: TestEtcdOptions = {}): Promise<TestEtcd> {
    if (opts.netns !== undefined) return new TestEtcd(2379, 2380, opts);
    const client = await freePort();
    let peer = await freePort();
    while (peer === client) peer = await freePort();
    return new TestEtcd(client, peer, opts);
  }

  get endpoint(): string { return this.url(this.clientPort); }
  get pid(): number | undefined { return this.proc?.pid; }
  get running(): boolean { return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null; }

  url(port: number): string { return `http://${this.ip}:${port}`; }

  /**
   * starts etcd and waits until it serves. `clientPort`: serve clients on another port this time (same
   * member, same data): a change made there is made "while etcd was away" for the clients of `endpoint`.
   */
  async start(clientPort = this.clientPort): Promise<void> {
    if (this.running) return;
    const peer = this.url(this.peerPort);
    const endpoint = this.url(clientPort);
    const args = [
      '--name', 'xvs-test', '--data-dir', this.dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `xvs-test=${peer}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-level', 'warn',
    ];
    const p = this.netns === undefined
      ? spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn('ip', ['netns', 'exec', this.netns, 'etcd', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    p.stderr!.on('data', (d: Buffer) => { this.log += d.toString(); if (this.log.length > 200_000) this.log = this.log.slice(-100_000); });
    for (let i = 0; i < 200; i++) {
      if (!this.running) break;
      if (await this.healthy(endpoint)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd did not become healthy on ${endpoint}: ${this.log.slice(-2000)}`);
  }

  private async healthy(endpoint: string): Promise<boolean> {
    if (this.netns === undefined) {
      try {
        const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
        return r.ok && ((await r.json()) as { health?: string }).health === 'true';
      } catch { return false; }
    }
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', this.netns!, 'etcdctl', '--endpoints', endpoint, '--dial-timeout', '1s', 'endpoint', 'health'],
        { timeout: 5000 }, (err) => resolve(err === null));
    });
  }

  /** etcdctl against this etcd (inside its namespace when it has one): stdout */
  ctl(...args: string[]): Promise<string> { return this.ctlAt(this.clientPort, ...args); }

  /** etcdctl against this etcd serving on another client port (start(port)) */
  ctlAt(port: number, ...args: string[]): Promise<string> {
    const endpoint = this.url(port);
    return new Promise((resolve, reject) => {
      const cb = (err: Error | null, out: string, errOut: string): void => {
        if (err) reject(new Error(`etcdctl ${args.join(' ')}: ${errOut || err.message}`)); else resolve(out);
      };
      if (this.netns === undefined) execFile('etcdctl', ['--endpoints', endpoint, ...args], { timeout: 10_000, encoding: 'utf8' }, cb);
      else execFile('ip', ['netns', 'exec', this.netns, 'etcdctl', '--endpoints', endpoint, ...args], { timeout: 10_000, encoding: 'utf8' }, cb);
    });
  }

  /** SIGKILL (etcd lost without a goodbye) and wait for the exit */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || !this.running || p.pid === undefined) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid, 'SIGKILL');
    await exited;
  }

  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
