/**
 * The soak (bench/soak.sh; issue 9 item 18; not in CI): a real daemon (its own socket and config in
 * a temp dir) with one switch of veth ports into namespaces, mixed traffic (iperf3 TCP and UDP,
 * ping, small bounded ping floods) while the configuration changes every second: ports added and
 * removed, extensions enabled, disabled, reordered and reconfigured, the forwarder swapped, and a
 * plug-in (installed from a root-owned 0755 directory) that now and then throws or wedges its
 * worker. Every second it samples the daemon's RSS and the switch's counters.
 *
 * At the end it checks: the daemon never died and still answers; worker restarts = the ones the
 * wedging plug-in caused; RSS bounded (start/max/end printed); per-port counters monotonic while a
 * port exists; the switch's drops by reason = the sum over its ports; forwarding still works.
 *
 *   node dist/src/reliability/soak.js [--seconds N] [--no-wedge] [--mem-debug] [--heap-snapshots DIR]
 *     (N ≤ 600, default 600; root)
 *
 * --no-wedge: the plug-in throws but never wedges (no worker restarts, which free a worker's heap and
 * so hide growth); --mem-debug: every thread of the daemon (main, workers) forces a full GC every
 * 10 s and reports its heap used, external and ArrayBuffer bytes; the report adds those and the
 * daemon's RSS split (anon, file, shmem), fds and threads by minute; --heap-snapshots DIR: the
 * daemon's main thread writes a heap snapshot into DIR at t = 60 s and at the end.
 *
 * Names start with testPrefix('k') (stale ones removed first); everything it created (namespaces,
 * veths, processes by PID, the plug-in directory, the temp dir) is removed in every outcome.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { callDaemon } from '../control/client.js';
import type { MethodName, ParamsOf, ResultOf } from '../control/protocol.js';
import { NetLab, testPrefix, type Host } from '../lab/netlab.js';
import { distSrc } from '../repo-root.js';
import type { SwitchStats } from '../switch/manager-api.js';

const MAX_SECONDS = 600;
const CLI = path.join(distSrc, 'cli', 'main.js');

/** a flag without a value (--no-wedge, --mem-debug) */
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

function arg(name: string, def: number): number {
  const k = process.argv.indexOf(`--${name}`);
  if (k < 0) return def;
  const v = Number(process.argv[k + 1]);
  if (!Number.isInteger(v) || v < 10) {
    process.stderr.write(`--${name}: expected an integer >= 10, got ${JSON.stringify(process.argv[k + 1])}\n`);
    process.exit(2);
  }
  return v;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** the failing plug-in: plain JavaScript, throws (mode throw) or spins forever (mode spin) at frame `at` */
const FLAKY_JS = `// soak fixture: fails now and then (src/reliability/soak.ts writes it)
export default {
  name: 'flaky', version: '0.0.1', kind: 'filter',
  doc: { synopsis: 'flaky at=N mode=throw|spin', summary: 'soak fixture', description: 'fails on frame N', path: 'ingress', notes: '-', seeAlso: '-' },
  config: {
    at: { type: 'integer', doc: 'frame number at which it fails', default: 100000, min: 1 },
    mode: { type: 'enum', values: ['throw', 'spin'], default: 'throw', doc: 'throw an error or spin forever' },
  },
  counters: { seen: 'frames seen' },
  create(config, ctx) {
    const seen = ctx.counterIndex('seen');
    let n = 0;
    return {
      ingress(view) {
        n += view.count;
        ctx.counters[seen] += view.count;
        if (n >= config.at) {
          if (config.mode === 'spin') for (;;) { /* wedged: the watchdog replaces the worker */ }
          throw new Error('flaky: planned failure at frame ' + n);
        }
      },
    };
  },
};
`;

interface Sample { t: number; rssKb: number; stats: SwitchStats | null }

/** the daemon's memory split from /proc (kB) and its open fds and threads (leak indicators) */
interface ProcMem {
  rssKb: number; anonKb: number; fileKb: number; shmemKb: number; fds: number; threads: number;
  /** the most resident anonymous mappings (a frame pool is one: poolSlotsFor(batch) slots of 64 KiB), size and resident kB */
  bigAnon: { sizeKb: number; rssKb: number }[];
}

/** anonymous mappings of /proc/PID/smaps, most resident first */
function anonMappings(pid: number): { sizeKb: number; rssKb: number }[] {
  const out: { sizeKb: number; rssKb: number }[] = [];
  let cur: { sizeKb: number; rssKb: number } | null = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      cur = head[1] === '' ? { sizeKb: 0, rssKb: 0 } : null;
      if (cur) out.push(cur);
      continue;
    }
    const m = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (cur && m) { if (m[1] === 'Size') cur.sizeKb = Number(m[2]); else cur.rssKb = Number(m[2]); }
  }
  return out.sort((a, b) => b.rssKb - a.rssKb);
}

function procMem(pid: number): ProcMem | null {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? 0);
    return { rssKb: kb('VmRSS'), anonKb: kb('RssAnon'), fileKb: kb('RssFile'), shmemKb: kb('RssShmem'), fds: readdirSync(`/proc/${pid}/fd`).length, threads: kb('Threads'), bigAnon: anonMappings(pid).slice(0, 4) };
  } catch {
    return null;
  }
}

/**
 * --mem-debug: preloaded (`--require`) into the daemon, so into its main thread and every worker
 * (workers inherit execArgv): every 10 s each thread (a worker: at a loop turn) forces a full collection (the daemon runs with
 * --expose-gc) and writes its own isolate's figures to stderr. Heap used after a forced full GC is
 * what a leak of JavaScript objects shows as; external/arrayBuffers what a leak of buffers shows as.
 */
const MEM_PROBE_CJS = `// soak fixture (src/reliability/soak.ts writes it)
const { isMainThread, threadId } = require('node:worker_threads');
const { writeSync } = require('node:fs');
let next = 0;
function sample(now) {
  if (now < next) return;
  next = now + 10000;
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const m = process.memoryUsage();
  writeSync(2, 'memprobe ' + threadId + ' ' + m.heapUsed + ' ' + m.heapTotal + ' ' + m.external + ' ' + m.arrayBuffers + '\\n');
}
if (isMainThread) {
  setInterval(() => sample(Date.now()), 1000).unref();
} else {
  // a data-path worker's loop seldom gives its event loop a turn (timers would not fire), but it
  // reads the clock once per loop turn: sample there, between breaths
  const now = Date.now;
  Date.now = () => { const t = now(); sample(t); return t; };
}
`;

/** one thread's figures after a forced full GC (bytes) */
interface ProbeSample { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }

/** `memprobe` lines of the daemon's stderr, by thread id (0 = the main thread) */
export function parseMemProbe(text: string): Map<number, ProbeSample[]> {
  const out = new Map<number, ProbeSample[]>();
  for (const m of text.matchAll(/^memprobe (\d+) (\d+) (\d+) (\d+) (\d+)$/gm)) {
    const a = out.get(Number(m[1])) ?? [];
    a.push({ heapUsed: Number(m[2]), heapTotal: Number(m[3]), external: Number(m[4]), arrayBuffers: Number(m[5]) });
    out.set(Number(m[1]), a);
  }
  return out;
}

class Soak {
  readonly prefix = testPrefix('k');
  readonly sw = `${this.prefix}s`;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'xvs-soak-'));
  readonly sock = path.join(this.dir, 'xvs.sock');
  readonly conf = path.join(this.dir, 'state', 'config.json');
  /** root-owned 0755, as plug-ins must be installed from */
  readonly pluginDir = mkdtempSync('/var/lib/xvs-soak-');
  lab = new NetLab(this.prefix);
  daemon: ChildProcess | undefined;
  daemonLog = '';
  daemonExit: string | null = null;
  readonly procs: ChildProcess[] = [];
  readonly samples: Sample[] = [];
  /** --no-wedge: the plug-in only throws (no worker restarts, which free a worker's heap and hide growth) */
  readonly wedge = !flag('no-wedge');
  /** --mem-debug: every thread of the daemon reports its heap after a forced full GC; RSS split (anon/file/shmem), fds and threads sampled */
  readonly memDebug = flag('mem-debug');
  /** --heap-snapshots DIR: the daemon's main thread writes a heap snapshot into DIR at t = 60 s and at the end (SIGUSR2) */
  readonly snapshotDir = ((k) => (k > 0 ? path.resolve(process.argv[k + 1] ?? '.') : null))(process.argv.indexOf('--heap-snapshots'));
  probeLines = '';
  readonly procSamples: { t: number; m: ProcMem }[] = [];
  readonly problems: string[] = [];
  readonly changes = new Map<string, { ok: number; failed: number }>();
  readonly changeErrors: string[] = [];
  /** port name → how many times it was (re)added; counters of a re-added port start over */
  readonly portEpoch = new Map<string, number>();
  /** flaky failures seen (by failure.at) and those that cost a worker restart */
  readonly flakyFailures = new Map<string, string>();
  pingSent = 0;
  pingReceived = 0;
  floods = 0;
  iperfRuns = { tcp: 0, udp: 0 };
  stopping = false;

  get hosts(): Host[] { return this.lab.hosts; }

  async call<M extends MethodName>(method: M, params: ParamsOf<M>, timeoutMs = 20_000): Promise<ResultOf<M>> {
    return callDaemon(this.sock, method, params, timeoutMs);
  }

  /** a configuration change; failures are counted (and the first few kept), not fatal */
  async change<M extends MethodName>(label: string, method: M, params: ParamsOf<M>): Promise<boolean> {
    const c = this.changes.get(label) ?? { ok: 0, failed: 0 };
    this.changes.set(label, c);
    try {
      await this.call(method, params);
      c.ok++;
      return true;
    } catch (e) {
      c.failed++;
      if (this.changeErrors.length < 20) this.changeErrors.push(`${label}: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  async startDaemon(): Promise<void> {
    const probe = path.join(this.dir, 'memprobe.cjs');
    if (this.memDebug) writeFileSync(probe, MEM_PROBE_CJS);
    const snap = this.snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${this.snapshotDir}`] : [];
    const p = spawn('node', [...(this.memDebug ? ['--expose-gc', '--require', probe] : []), ...snap, CLI, 'daemon', '--config', this.conf, '--socket', this.sock],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    this.daemon = p;
    let partial = '';
    if (this.memDebug) {
      p.stderr!.on('data', (d: Buffer) => { // keep the probe's lines apart (the log is trimmed)
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) if (l.startsWith('memprobe ') && this.probeLines.length < 8_000_000) this.probeLines += `${l}\n`;
      });
    }
    p.stderr!.on('data', (d: Buffer) => {
      this.daemonLog += d.toString();
      if (this.daemonLog.length > 4_000_000) this.daemonLog = this.daemonLog.slice(-2_000_000);
    });
    p.once('exit', (code, sig) => { this.daemonExit = `exit code ${code} signal ${sig}`; });
    for (let i = 0; i < 150 && !this.daemonLog.includes('daemon ready'); i++) {
      if (p.exitCode !== null) break;
      await sleep(100);
    }
    if (!this.daemonLog.includes('daemon ready')) throw new Error(`daemon did not start: ${this.daemonLog}`);
  }

  rssKb(): number {
    const pid = this.daemon?.pid;
    if (!pid || this.daemonExit) return 0;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** a process in a namespace, restarted whenever it exits, until the soak stops */
  loop(h: () => Host, cmd: () => string[], onExit: (out: string) => void): void {
    const run = (): void => {
      if (this.stopping) return;
      const p = this.lab.spawnIn(h(), cmd());
      this.procs.push(p);
      let out = '';
      p.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 100_000) out = out.slice(-50_000); });
      p.once('exit', () => {
        onExit(out);
        if (!this.stopping) setTimeout(run, 500);
      });
    };
    run();
  }

  async setup(): Promise<void> {
    // the plug-in, from a root-owned directory nobody else can write
    chmodSync(this.pluginDir, 0o755);
    writeFileSync(path.join(this.pluginDir, 'index.mjs'), FLAKY_JS, { mode: 0o644 });
    writeFileSync(path.join(this.pluginDir, 'xvs-extension.json'),
      JSON.stringify({ name: 'flaky', version: '0.0.1', kind: 'filter', main: 'index.mjs', xvsApi: 1 }), { mode: 0o644 });
    for (let i = 0; i < 6; i++) this.lab.addHost(i, { subnet: '10.86.0' });
    await this.startDaemon();
    await this.call('switch.create', { name: this.sw, type: 'private' });
    for (let i = 0; i < 6; i++) await this.addPort(i);
    await this.call('extension.install', { source: path.join(this.pluginDir, 'xvs-extension.json') });
    const h = this.hosts;
    await this.call('extension.set', { switch: this.sw, name: 'pcap', config: { dir: path.join(this.dir, 'pcap'), match: 'icmp', snaplen: 128, rotateBytes: 1 << 20, rotateFiles: 2 } });
    await this.call('extension.set', { switch: this.sw, name: 'sflow', config: { agentAddress: '10.86.0.250', collector: { ip: h[3].ip, mac: h[3].mac }, sampleRate: 1024, pollingSeconds: 5 } });
    await this.call('extension.set', { switch: this.sw, name: 'firewall', config: this.firewallConfig(0) });
    await this.call('extension.set', { switch: this.sw, name: 'dhcp-server', config: { pools: [{ network: '10.87.0.0/24', rangeStart: '10.87.0.100', rangeEnd: '10.87.0.150', serverAddress: '10.87.0.1' }] } });
    for (const e of ['pcap', 'sflow', 'firewall', 'dhcp-server', 'noop']) await this.call('extension.enable', { switch: this.sw, name: e });
    // traffic: TCP 0→1, UDP 2→3, ping 0→2; floods are started by the schedule
    this.loop(() => h[1], () => ['iperf3', '-s', '-1', '-p', '5201'], () => {});
    this.loop(() => h[3], () => ['iperf3', '-s', '-1', '-p', '5202'], () => {});
    await sleep(500);
    this.loop(() => h[0], () => ['iperf3', '-c', h[1].ip, '-p', '5201', '-t', '20', '-b', '200M', '--connect-timeout', '2000'], () => { this.iperfRuns.tcp++; });
    this.loop(() => h[2], () => ['iperf3', '-c', h[3].ip, '-p', '5202', '-u', '-t', '20', '-b', '20M', '-l', '1200'], () => { this.iperfRuns.udp++; });
    this.loop(() => h[0], () => ['ping', '-c', '50', '-i', '0.2', '-W', '1', h[2].ip], (out) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      if (m) { this.pingSent += Number(m[1]); this.pingReceived += Number(m[2]); }
    });
  }

  async addPort(i: number): Promise<boolean> {
    const name = `vm${i}`;
    const ok = await this.change(`port add ${name}`, 'port.add', { switch: this.sw, name, netdev: this.hosts[i].peer });
    if (ok) this.portEpoch.set(name, (this.portEpoch.get(name) ?? 0) + 1);
    return ok;
  }

  firewallConfig(k: number): Record<string, unknown> {
    const sets = [
      [{ match: 'tcp.dst=9', action: 'deny', name: 'discard' }],
      [{ match: 'udp.dst=9', action: 'deny' }, { match: 'icmp', action: 'allow' }, { match: 'ipv6', action: 'deny', name: 'no-v6' }],
      [{ match: `ipv4.src=${this.hosts[5].ip}/32,tcp`, action: 'deny', direction: 'egress', ports: ['vm1'] }],
      [],
    ];
    return { rules: sets[k % sets.length], default: 'allow' };
  }

  /** one configuration change per second, round robin over these */
  async step(t: number): Promise<void> {
    const sw = this.sw;
    const r = (n: number): number => Math.floor(Math.random() * n);
    switch (t % 10) {
      case 0:
      case 5: { // a churned port: vm4 on even tens, vm5 on odd
        const i = t % 20 < 10 ? 4 : 5;
        const name = `vm${i}`;
        const ports = await this.call('port.list', { switch: sw }).catch(() => []);
        if (ports.some((p) => p.name === name)) await this.change('port remove', 'port.remove', { switch: sw, name });
        else await this.addPort(i);
        break;
      }
      case 1: {
        const names = ['firewall', 'dhcp-server', 'noop', 'flaky', 'pcap', 'sflow'].sort(() => Math.random() - 0.5);
        await this.change('extension order', 'extension.order', { switch: sw, names });
        break;
      }
      case 2: await this.change('firewall set', 'extension.set', { switch: sw, name: 'firewall', config: this.firewallConfig(t) }); break;
      case 3: await this.change('sflow set', 'extension.set', {
        switch: sw, name: 'sflow',
        config: { agentAddress: '10.86.0.250', collector: { ip: this.hosts[3].ip, mac: this.hosts[3].mac }, sampleRate: 256 << r(5), pollingSeconds: 1 + r(10) },
      }); break;
      case 4: {
        const on = (await this.call('extension.list', { switch: sw }).catch(() => [])).find((e) => e.name === 'noop')?.enabled ?? false;
        await this.change(on ? 'noop disable' : 'noop enable', on ? 'extension.disable' : 'extension.enable', { switch: sw, name: 'noop' });
        break;
      }
      case 6: await this.change('pcap set', 'extension.set', {
        switch: sw, name: 'pcap',
        config: { dir: path.join(this.dir, 'pcap'), match: ['icmp', 'udp.dst=6343', 'arp'][r(3)], snaplen: 64 + r(1000), rotateBytes: 1 << 20, rotateFiles: 2 },
      }); break;
      case 7: await this.change('dhcp-server set', 'extension.set', {
        switch: sw, name: 'dhcp-server',
        config: { pools: [{ network: '10.87.0.0/24', rangeStart: '10.87.0.100', rangeEnd: `10.87.0.${120 + r(100)}`, serverAddress: '10.87.0.1', leaseSeconds: 60 + r(3600) }] },
      }); break;
      case 8: { // the failing plug-in: armed again every 10 s, wedging its worker one time in three
        const mode = this.wedge && Math.floor(t / 10) % 3 === 2 ? 'spin' : 'throw';
        await this.change(`flaky set (${mode})`, 'extension.set', { switch: sw, name: 'flaky', config: { at: 500 + r(20_000), mode } });
        await this.change('flaky enable', 'extension.enable', { switch: sw, name: 'flaky' });
        break;
      }
      case 9: { // the forwarder: static for 10 s every 30 s, then the learning forwarder again
        if (t % 30 === 9) {
          const entries = this.hosts.map((h, i) => ({ mac: h.mac, port: `vm${i}` }));
          await this.change('static set', 'extension.set', { switch: sw, name: 'static', config: { entries, floodUnknown: true } });
          await this.change('static enable', 'extension.enable', { switch: sw, name: 'static' });
        } else if (t % 30 === 19) {
          await this.change('static disable', 'extension.disable', { switch: sw, name: 'static' });
        } else { // the firewall's on-error policy
          await this.change('firewall on-error', 'extension.set', { switch: sw, name: 'firewall', onError: t % 20 === 9 ? 'bypass' : 'drop' });
        }
        break;
      }
    }
    if (t % 10 === 3) { // a small flood, bounded: 500 frames of 1000 bytes at 2 ms from a random host to another
      const a = this.hosts[r(6)];
      const b = this.hosts[r(6)];
      if (a !== b) {
        this.floods++;
        const p = this.lab.spawnIn(a, ['ping', '-c', '500', '-i', '0.002', '-s', '1000', '-W', '1', '-q', b.ip]);
        this.procs.push(p);
      }
    }
  }

  async sample(t: number): Promise<void> {
    let stats: SwitchStats | null = null;
    try {
      stats = await this.call('stats', { switch: this.sw }, 10_000);
    } catch (e) {
      this.problems.push(`t=${t}: stats failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.samples.push({ t, rssKb: this.rssKb(), stats });
    if (this.memDebug && this.daemon?.pid && t % 10 === 0) {
      const m = procMem(this.daemon.pid);
      if (m) this.procSamples.push({ t, m });
    }
    try {
      const flaky = (await this.call('extension.list', { switch: this.sw }, 10_000)).find((e) => e.name === 'flaky');
      if (flaky?.failure && !this.flakyFailures.has(flaky.failure.at)) this.flakyFailures.set(flaky.failure.at, flaky.failure.reason ?? 'error');
    } catch { /* counted through stats */ }
    this.checkCounters();
  }

  private readonly lastPort = new Map<string, { epoch: number; p: SwitchStats['ports'][number] }>();

  /** per-port counters never go back while a port exists; switch drops = Σ port drops */
  checkCounters(): void {
    const s = this.samples[this.samples.length - 1];
    if (!s.stats) return;
    const sumDrops: Record<string, number> = {};
    for (const p of s.stats.ports) {
      for (const [k, n] of Object.entries(p.drops)) sumDrops[k] = (sumDrops[k] ?? 0) + n;
      const epoch = this.portEpoch.get(p.name) ?? 0;
      const prev = this.lastPort.get(p.name);
      if (prev && prev.epoch === epoch) {
        for (const f of ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'txErrors'] as const) {
          if (p[f] < prev.p[f]) this.problems.push(`t=${s.t}: ${p.name}.${f} went back from ${prev.p[f]} to ${p[f]}`);
        }
        for (const [k, n] of Object.entries(prev.p.drops)) {
          if ((p.drops[k] ?? 0) < n) this.problems.push(`t=${s.t}: ${p.name} drops ${k} went back from ${n} to ${p.drops[k] ?? 0}`);
        }
      }
      this.lastPort.set(p.name, { epoch, p });
    }
    const keys = new Set([...Object.keys(sumDrops), ...Object.keys(s.stats.drops)]);
    for (const k of keys) {
      if ((sumDrops[k] ?? 0) !== (s.stats.drops[k] ?? 0)) this.problems.push(`t=${s.t}: drops ${k}: switch ${s.stats.drops[k] ?? 0} != Σ ports ${sumDrops[k] ?? 0}`);
    }
  }

  async run(seconds: number): Promise<boolean> {
    await this.setup();
    const t0 = Date.now();
    await this.sample(0);
    for (let t = 1; t <= seconds; t++) {
      await this.step(t);
      const wait = t0 + t * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      await this.sample(t);
      if (this.snapshotDir && (t === 60 || t === seconds) && this.daemon?.pid && !this.daemonExit) {
        process.kill(this.daemon.pid, 'SIGUSR2');
        await sleep(3000); // written synchronously by the daemon's main thread
      }
      if (this.daemonExit) { this.problems.push(`t=${t}: the daemon died: ${this.daemonExit}`); break; }
      if (t % 60 === 0) process.stdout.write(`  t=${t}s rss ${(this.samples[this.samples.length - 1].rssKb / 1024).toFixed(0)} MB, changes ${[...this.changes.values()].reduce((a, c) => a + c.ok, 0)}, problems ${this.problems.length}\n`);
    }
    this.stopping = true;
    return this.report(seconds);
  }

  async report(seconds: number): Promise<boolean> {
    const out: string[] = [];
    // forwarding still works, the daemon still answers
    const h = this.hosts;
    const finalPing = this.lab.ping(h[0], h[1], 3);
    let restarts = -1;
    let statusOk = false;
    try {
      const st = await this.call('daemon.status', {});
      statusOk = st.pid === this.daemon?.pid;
      const stats = await this.call('stats', { switch: this.sw });
      restarts = stats.workers.reduce((s, w) => s + w.restarts, 0);
    } catch (e) {
      this.problems.push(`final status: ${e instanceof Error ? e.message : String(e)}`);
    }
    const rss = this.samples.map((s) => s.rssKb).filter((x) => x > 0);
    const mb = (kb: number): string => (kb / 1024).toFixed(0);
    const afterWarmup = rss.slice(Math.min(30, rss.length - 1));
    const failures = [...this.flakyFailures.values()];
    const wedges = failures.filter((r) => r !== 'error').length;
    const last = this.samples.at(-1)?.stats;
    const changesOk = [...this.changes.values()].reduce((a, c) => a + c.ok, 0);
    const changesFailed = [...this.changes.values()].reduce((a, c) => a + c.failed, 0);
    out.push(`soak: ${seconds} s, prefix ${this.prefix}, daemon pid ${this.daemon?.pid}`);
    out.push(`daemon: ${this.daemonExit ? `DIED (${this.daemonExit})` : 'alive'}; daemon.status answers with its pid: ${statusOk}; forwarding at the end: ${finalPing}`);
    out.push(`RSS MB: start ${mb(rss[0] ?? 0)}, after 30 s ${mb(afterWarmup[0] ?? 0)}, max ${mb(Math.max(...rss))}, end ${mb(rss.at(-1) ?? 0)} (${rss.length} samples)`);
    const at = (s: number): string => mb(rss[Math.min(s, rss.length - 1)] ?? 0);
    const half = Math.floor(rss.length / 2);
    const slope = rss.length > 60 ? ((rss[rss.length - 1] - rss[half]) / 1024) / ((rss.length - 1 - half) / 60) : 0;
    out.push(`RSS MB by minute: ${Array.from({ length: Math.floor((rss.length - 1) / 60) + 1 }, (_, k) => at(k * 60)).join(' ')}; second half ${slope.toFixed(1)} MB/min`);
    if (this.memDebug) out.push(...this.memReport());
    out.push(`configuration changes: ${changesOk} applied, ${changesFailed} refused or failed`);
    for (const [k, c] of [...this.changes.entries()].sort()) out.push(`  ${k}: ${c.ok}${c.failed ? ` (+${c.failed} failed)` : ''}`);
    for (const e of this.changeErrors.slice(0, 8)) out.push(`  error: ${e}`);
    out.push(`flaky plug-in failures: ${failures.length} (${failures.length - wedges} threw, ${wedges} wedged its worker); worker restarts: ${restarts}`);
    out.push(`traffic: iperf3 runs tcp ${this.iperfRuns.tcp} udp ${this.iperfRuns.udp}; ping ${this.pingReceived}/${this.pingSent} answered; ${this.floods} floods of 500`);
    if (last) {
      const rx = last.ports.reduce((s, p) => s + p.rxPackets, 0);
      const tx = last.ports.reduce((s, p) => s + p.txPackets, 0);
      out.push(`counters at the end (ports now present): rx ${rx}, tx ${tx}, drops ${JSON.stringify(last.drops)}`);
    }
    // the verdict
    if (this.daemonExit) this.problems.push('the daemon died');
    if (!statusOk) this.problems.push('daemon.status did not answer with the daemon pid');
    if (!finalPing) this.problems.push('no forwarding at the end');
    if (!this.wedge && wedges > 0) this.problems.push(`--no-wedge, yet ${wedges} wedges`);
    if (restarts !== wedges) this.problems.push(`worker restarts ${restarts} != wedges caused by the flaky plug-in ${wedges}`);
    const base = afterWarmup[0] ?? 0;
    if (base > 0 && Math.max(...afterWarmup) > base * 2 + 100 * 1024) this.problems.push(`RSS grew from ${mb(base)} MB to ${mb(Math.max(...afterWarmup))} MB`);
    out.push(`problems: ${this.problems.length}`);
    for (const p of this.problems.slice(0, 20)) out.push(`  ${p}`);
    const ok = this.problems.length === 0;
    out.push(ok ? 'RESULT: ok' : 'RESULT: FAILED');
    if (!ok) out.push('daemon log tail:', ...this.daemonLog.split('\n').slice(-30).map((l) => `  ${l}`));
    process.stdout.write(out.join('\n') + '\n');
    return ok;
  }

  /** --mem-debug: RSS split by minute, and each isolate's heap after full collections */
  memReport(): string[] {
    const out: string[] = [];
    const mb = (kb: number): string => (kb / 1024).toFixed(1);
    const byMin = this.procSamples.filter((s) => s.t % 60 === 0 || s === this.procSamples.at(-1));
    out.push('memory (MB) by minute: t rss anon file shmem | fds threads | most resident anonymous mappings: resident/size');
    for (const { t, m } of byMin) {
      const big = m.bigAnon.map((a) => `${mb(a.rssKb)}/${mb(a.sizeKb)}`).join(' ');
      out.push(`  t=${t}s ${mb(m.rssKb)} ${mb(m.anonKb)} ${mb(m.fileKb)} ${mb(m.shmemKb)} | ${m.fds} ${m.threads} | ${big}`);
    }
    const threads = parseMemProbe(this.probeLines);
    out.push(`per thread after a forced full GC every 10 s (MB; thread 0 = main): heapUsed / heapTotal / external / arrayBuffers at t≈10 s, 60 s, 120 s, … and the end`);
    for (const [id, a] of threads) {
      const pick = a.filter((_, k) => k === 0 || (k + 1) % 6 === 0 || k === a.length - 1);
      const f = (x: ProbeSample): string => `${(x.heapUsed / 2 ** 20).toFixed(2)}/${(x.heapTotal / 2 ** 20).toFixed(1)}/${(x.external / 2 ** 20).toFixed(1)}/${(x.arrayBuffers / 2 ** 20).toFixed(1)}`;
      out.push(`  thread ${id} (${a.length} samples): ${pick.map(f).join('  ')}`);
    }
    return out;
  }

  async cleanup(): Promise<void> {
    this.stopping = true;
    for (const p of this.procs) if (p.exitCode === null && p.pid) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
    const d = this.daemon;
    if (d?.pid && d.exitCode === null) {
      try { await this.call('switch.delete', { name: this.sw }, 10_000); } catch { /* stopping anyway */ }
      const exited = new Promise((r) => d.once('exit', r));
      process.kill(d.pid, 'SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (d.exitCode === null) process.kill(d.pid, 'SIGKILL');
    }
    this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
    if (existsSync(this.pluginDir)) rmSync(this.pluginDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('soak: run as root (namespaces, veths)\n');
    process.exit(2);
  }
  const seconds = Math.min(MAX_SECONDS, arg('seconds', MAX_SECONDS));
  const soak = new Soak();
  let cleaned = false;
  const clean = async (): Promise<void> => { if (!cleaned) { cleaned = true; await soak.cleanup(); } };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => { void clean().finally(() => process.exit(130)); });
  }
  // hard bound: whatever happens, stop 2 minutes after the planned end
  const bound = setTimeout(() => { process.stderr.write('soak: over time, stopping\n'); void clean().finally(() => process.exit(1)); }, (seconds + 120) * 1000);
  let ok = false;
  try {
    ok = await soak.run(seconds);
  } catch (e) {
    process.stderr.write(`soak: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  } finally {
    await clean();
    clearTimeout(bound);
  }
  process.exitCode = ok ? 0 : 1;
}

await main();
