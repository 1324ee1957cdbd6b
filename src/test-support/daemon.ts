/**
 * A real `xvs daemon` for integration tests: its own config and socket in a temp dir, the CLI run as a
 * child process exactly as a user runs it, stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');

export class TestDaemon {
  readonly dir: string;
  readonly sock: string;
  readonly conf: string;
  log = '';
  private proc: ChildProcess | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly wrapper: string[];
  /** more `xvs daemon` flags (e.g. `--metrics 127.0.0.1:PORT`), given at every start; may be changed between starts */
  args: string[];

  /** `wrapper`: a command that execs the daemon (e.g. setpriv with a capability bounding set) */
  constructor(env: NodeJS.ProcessEnv = {}, wrapper: string[] = [], args: string[] = []) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'xtd-'));
    this.sock = path.join(this.dir, 'xvs.sock');
    this.conf = path.join(this.dir, 'state', 'config.json');
    this.env = env;
    this.wrapper = wrapper;
    this.args = args;
  }

  /** the daemon's PID (the wrapper execs it, so the same process) */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    this.log = '';
    const argv = [...this.wrapper, 'node', CLI, 'daemon', '--config', this.conf, '--socket', this.sock, ...this.args];
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...this.env } });
    this.proc = p;
    p.stderr!.on('data', (d: Buffer) => { this.log += d.toString(); });
    for (let i = 0; i < 150; i++) {
      if (this.log.includes('daemon ready')) return;
      if (p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`daemon did not start: ${this.log}`);
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null;
  }

  async stop(): Promise<void> {
    const d = this.proc;
    if (!d || d.exitCode !== null || !d.pid) return;
    const exited = new Promise((r) => d.once('exit', r));
    process.kill(d.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (d.exitCode === null) process.kill(d.pid, 'SIGKILL');
    this.proc = undefined;
  }

  /** run the CLI against this daemon */
  xvs(...args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync('node', [CLI, '--socket', this.sock, ...args], { encoding: 'utf8', timeout: 90_000 });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  /** run the CLI with --json and parse the result; throws with the CLI's message on failure */
  json<T>(...args: string[]): T {
    const r = this.xvs(...args, '--json');
    if (r.code !== 0) throw new Error(`xvs ${args.join(' ')}: ${r.err}`);
    return JSON.parse(r.out) as T;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
