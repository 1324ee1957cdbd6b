/**
 * A real etcd for tests: its own process on 127.0.0.1 (free client and peer ports), its own data dir in
 * a temp dir, stopped by PID. `kill()` then `start()` again is the same member on the same data dir and
 * ports (etcd "coming back"); `remove()` kills it and deletes the data dir (call it from t.teardown).
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

export class TestEtcd {
  readonly dir: string;
  readonly dataDir: string;
  log = '';
  private proc: ChildProcess | undefined;

  private constructor(readonly clientPort: number, readonly peerPort: number) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'xvs-etcd-'));
    this.dataDir = path.join(this.dir, 'data');
  }

  static async create(): Promise<TestEtcd> {
    const client = await freePort();
    let peer = await freePort();
    while (peer === client) peer = await freePort();
    return new TestEtcd(client, peer);
  }

  get endpoint(): string { return `http://127.0.0.1:${this.clientPort}`; }
  get pid(): number | undefined { return this.proc?.pid; }
  get running(): boolean { return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null; }

  /**
   * starts etcd and waits until /health says true. `clientPort`: serve clients on another port this
   * time (same member, same data): a change made there is made "while etcd was away" for the clients
   * of `endpoint`.
   */
  async start(clientPort = this.clientPort): Promise<void> {
    if (this.running) return;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const endpoint = `http://127.0.0.1:${clientPort}`;
    const p = spawn('etcd', [
      '--name', 'xvs-test', '--data-dir', this.dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `xvs-test=${peer}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-level', 'warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    p.stderr!.on('data', (d: Buffer) => { this.log += d.toString(); if (this.log.length > 200_000) this.log = this.log.slice(-100_000); });
    for (let i = 0; i < 200; i++) {
      if (!this.running) break;
      try {
        const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
        if (r.ok && ((await r.json()) as { health?: string }).health === 'true') return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd did not become healthy on ${endpoint}: ${this.log.slice(-2000)}`);
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
