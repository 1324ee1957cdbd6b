/**
 * QEMU test VMs for the lab and the integration tests.
 *
 * A VM is a Debian cloud kernel + busybox initramfs built by `scripts/vm-image.sh` into `.lab/vm/`.
 * It runs under TCG (no KVM), attaches by name to an existing, UP TAP device, configures eth0 from the
 * kernel command line, runs one baked-in script and prints `XVS-RESULT` / `XVS-STATE` lines on its
 * serial console, which QEMU writes to its stdout. See docs/lab-vm.md.
 *
 * QEMU keeps its default vnet_hdr on the TAP: the guest sends frames with partial checksums and GSO,
 * and the switch under test must handle the virtio-net header.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { repoRoot } from '../repo-root.js';
import { qemuNetArgs } from '../ports/guest-queues.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';

export type VmRun = 'ping' | 'tcp-get' | 'serve' | 'idle' | 'reach' | 'mq';

export interface VmImage {
  /** Directory holding the image (`.lab/vm` at the repo root, or `$XVS_VM_DIR`). */
  readonly dir: string;
  readonly kernel: string;
  readonly initrd: string;
  /** Debian kernel package the image was built from, if recorded. */
  readonly version: string | undefined;
}

export interface VmOptions {
  /** Label for QEMU's `-name` and error messages. */
  readonly name: string;
  /** Existing TAP device, UP (QEMU opens it by name, `script=no`). */
  readonly tap: string;
  /** Network namespace the TAP lives in: QEMU runs there (`ip netns exec NS qemu…`, same PID). */
  readonly netns?: string;
  /** Guest MAC, e.g. `52:54:00:12:34:56`. */
  readonly mac: string;
  /** Guest IPv4 address in CIDR form, e.g. `10.1.0.5/24`. */
  readonly ip: string;
  /** Peer IPv4 address the scripts talk to. */
  readonly peer: string;
  /** Baked-in script to run. */
  readonly run: VmRun;
  /**
   * More kernel command line parameters, passed as `xvs.<key>=<value>`; the scripts see `$XVS_<KEY>`.
   * E.g. `{ count: '5' }` (ping), `{ port: '8080', path: 'data', proto: 'http' }` (tcp-get),
   * `{ size: '1048576' }` (serve), `{ timeout: '60' }` (guest watchdog), `{ mtu: '1400' }`, `{ gw: … }`.
   */
  readonly extra?: Readonly<Record<string, string>>;
  /** Host-side limit: the VM is stopped (SIGTERM, then SIGKILL) when it runs longer. */
  readonly timeoutMs: number;
  /** vCPUs (default 1). */
  readonly cpus?: number;
  /**
   * virtio-net queue pairs (default 1): above 1 the TAP must be multi-queue (an xvs port with `queues`) and
   * QEMU gets the arguments `xvs port add --queues` prints (ports/guest-queues.ts).
   */
  readonly queues?: number;
  /** Guest memory in MiB (default 128). */
  readonly memoryMb?: number;
  /** Image to boot (default `vmImagePaths()`). */
  readonly image?: VmImage;
  /** QEMU binary (default `qemu-system-x86_64` from PATH). */
  readonly qemu?: string;
  /** Called with every complete serial line (without the line end). */
  readonly onLine?: (line: string) => void;
}

export type VmStatus = 'ok' | 'fail';

/** A parsed `XVS-RESULT <name> <ok|fail> key=value ...` line. */
export interface VmResult {
  readonly name: string;
  readonly status: VmStatus;
  readonly ok: boolean;
  readonly fields: Readonly<Record<string, string>>;
  readonly line: string;
}

/** A parsed `XVS-STATE <state> key=value ...` line (boot, modules, net-up, run, ready, done). */
export interface VmState {
  readonly state: string;
  readonly fields: Readonly<Record<string, string>>;
  /** Milliseconds since `startVm` when the host saw the line. */
  readonly atMs: number;
}

export interface VmHandle {
  readonly name: string;
  readonly pid: number;
  /** The QEMU argument vector and the kernel command line used. */
  readonly args: readonly string[];
  readonly cmdline: string;
  /**
   * Resolves with QEMU's exit code when it exits (0 after the guest's `poweroff -f`);
   * 128 + signal number when it was killed by a signal. Never rejects.
   */
  readonly done: Promise<number>;
  /** Serial console output so far (QEMU stdout, `\r` removed). */
  output(): string;
  /** QEMU's own stderr so far. */
  stderr(): string;
  /** Whether the host-side `timeoutMs` fired. */
  timedOut(): boolean;
  /** Resolves with the first match of `re` in the output; rejects after `ms` or when QEMU exits first. */
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** Resolves with the first `XVS-RESULT <name>` line; rejects like `waitFor`. */
  waitResult(name: string, ms: number): Promise<VmResult>;
  /** All `XVS-RESULT` lines so far. */
  results(): VmResult[];
  /** All `XVS-STATE` lines so far. */
  states(): VmState[];
  /** Stops QEMU by its PID: SIGTERM, then SIGKILL after `graceMs` (default 2000). Resolves like `done`. */
  stop(graceMs?: number): Promise<number>;
}

const RUNS: readonly VmRun[] = ['ping', 'tcp-get', 'serve', 'idle', 'reach', 'mq'];
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IPV4 = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:\\.(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}';
const IPV4_RE = new RegExp(`^${IPV4}$`);
const CIDR_RE = new RegExp(`^${IPV4}/(?:3[0-2]|[12]?\\d)$`);
const EXTRA_KEY_RE = /^[a-z0-9][a-z0-9_-]*$/;
const EXTRA_VALUE_RE = /^[^\s"]*$/;
const RESULT_RE = /XVS-RESULT (\S+) (ok|fail)((?: \S+)*)\s*$/;
const STATE_RE = /XVS-STATE (\S+)((?: \S+)*)\s*$/;

/**
 * Where the VM image is. Throws a clear error when it has not been built.
 * @param dir image directory (default `$XVS_VM_DIR`, else `<repo>/.lab/vm`)
 */
export function vmImagePaths(dir?: string): VmImage {
  const d = path.resolve(dir ?? process.env['XVS_VM_DIR'] ?? path.join(repoRoot, '.lab', 'vm'));
  const kernel = path.join(d, 'vmlinuz');
  const initrd = path.join(d, 'initrd.gz');
  const missing = [kernel, initrd].filter((f) => !existsSync(f) || statSync(f).size === 0);
  if (missing.length > 0) {
    throw new Error(
      `xvs VM image missing (${missing.join(', ')}): build it with \`bash scripts/vm-image.sh\` ` +
        `(needs apt-get access to a Debian mirror and the packages busybox-static, cpio)`,
    );
  }
  const versionFile = path.join(d, 'VERSION');
  const version = existsSync(versionFile) ? readFileSync(versionFile, 'utf8').trim() : undefined;
  return { dir: d, kernel, initrd, version };
}

/** Parses `key=value` words (words without `=` get the value `''`). */
function parseFields(rest: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const w of rest.trim().split(/\s+/)) {
    if (w === '') continue;
    const eq = w.indexOf('=');
    if (eq < 0) fields[w] = '';
    else fields[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return fields;
}

/** Parses the `XVS-RESULT` lines of a serial log. */
export function parseResults(output: string): VmResult[] {
  const out: VmResult[] = [];
  for (const line of output.split('\n')) {
    const m = RESULT_RE.exec(line);
    if (m === null) continue;
    const status = m[2] === 'ok' ? 'ok' : 'fail';
    out.push({ name: m[1] ?? '', status, ok: status === 'ok', fields: parseFields(m[3] ?? ''), line: m[0] });
  }
  return out;
}

/** The kernel command line for the options (exported for tests and debugging). */
export function vmCmdline(opts: Pick<VmOptions, 'ip' | 'mac' | 'peer' | 'run' | 'extra'>): string {
  const words = ['console=ttyS0', 'quiet', 'loglevel=3', 'panic=-1', 'rdinit=/init'];
  words.push(`xvs.ip=${opts.ip}`, `xvs.mac=${opts.mac.toLowerCase()}`, `xvs.peer=${opts.peer}`, `xvs.run=${opts.run}`);
  for (const [k, v] of Object.entries(opts.extra ?? {})) {
    if (!EXTRA_KEY_RE.test(k)) throw new Error(`startVm: bad extra key ${JSON.stringify(k)} (want ${EXTRA_KEY_RE})`);
    if (!EXTRA_VALUE_RE.test(v)) throw new Error(`startVm: extra ${k} must not contain spaces or quotes`);
    if (['ip', 'mac', 'peer', 'run'].includes(k)) throw new Error(`startVm: extra ${k} clashes with an option`);
    words.push(`xvs.${k}=${v}`);
  }
  return words.join(' ');
}

function validate(opts: VmOptions): void {
  if (!IFNAME_RE.test(opts.tap)) throw new Error(`startVm: bad TAP name ${JSON.stringify(opts.tap)}`);
  if (!MAC_RE.test(opts.mac)) throw new Error(`startVm: bad MAC ${JSON.stringify(opts.mac)}`);
  if ((parseInt(opts.mac.slice(0, 2), 16) & 1) !== 0) throw new Error(`startVm: MAC ${opts.mac} is multicast`);
  if (!CIDR_RE.test(opts.ip)) throw new Error(`startVm: ip must be IPv4 CIDR, got ${JSON.stringify(opts.ip)}`);
  if (!IPV4_RE.test(opts.peer)) throw new Error(`startVm: peer must be IPv4, got ${JSON.stringify(opts.peer)}`);
  if (!RUNS.includes(opts.run)) throw new Error(`startVm: run must be one of ${RUNS.join(', ')}`);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(opts.name)) throw new Error(`startVm: bad name ${JSON.stringify(opts.name)}`);
  if (!(opts.timeoutMs > 0)) throw new Error('startVm: timeoutMs must be > 0');
  for (const k of ['cpus', 'queues'] as const) {
    const v = opts[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= 16)) throw new Error(`startVm: ${k} must be 1..16, got ${String(v)}`);
  }
  if (opts.netns !== undefined) {
    validateTapIn(opts.netns, opts.tap);
    return;
  }
  const sys = `/sys/class/net/${opts.tap}`;
  if (!existsSync(sys)) {
    throw new Error(`startVm: TAP ${opts.tap} does not exist (create it first: ip tuntap add dev ${opts.tap} mode tap)`);
  }
  if (!existsSync(`${sys}/tun_flags`)) throw new Error(`startVm: ${opts.tap} is not a TUN/TAP device`);
  const flags = parseInt(readFileSync(`${sys}/flags`, 'utf8').trim(), 16);
  if ((flags & 1) === 0) throw new Error(`startVm: TAP ${opts.tap} is down (ip link set ${opts.tap} up)`);
}

/** the TAP checks of `validate` for a TAP inside network namespace `ns` (read with `ip -d -j link`) */
function validateTapIn(ns: string, tap: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(ns)) throw new Error(`startVm: bad namespace name ${JSON.stringify(ns)}`);
  const r = spawnSync('ip', ['-n', ns, '-d', '-j', 'link', 'show', 'dev', tap], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`startVm: TAP ${tap} does not exist in namespace ${ns} (${r.stderr.trim()})`);
  const link = (JSON.parse(r.stdout) as { flags?: string[]; linkinfo?: { info_kind?: string } }[])[0];
  if (link?.linkinfo?.info_kind !== 'tun') throw new Error(`startVm: ${tap} in ${ns} is not a TUN/TAP device`);
  if (!(link.flags ?? []).includes('UP')) throw new Error(`startVm: TAP ${tap} in ${ns} is down (ip -n ${ns} link set ${tap} up)`);
}

/** Live QEMU children, killed (by PID) if the Node process exits while they still run. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  });
}

interface Waiter {
  readonly test: () => boolean;
  readonly fail: (why: string) => void;
}

/** Boots a test VM on an existing TAP. Throws synchronously on bad options or a missing image. */
export function startVm(opts: VmOptions): VmHandle {
  validate(opts);
  const image = opts.image ?? vmImagePaths();
  const cmdline = vmCmdline(opts);
  const args = [
    '-name', opts.name,
    '-machine', 'pc',
    '-accel', 'tcg',
    '-m', String(opts.memoryMb ?? 128),
    '-smp', String(opts.cpus ?? 1),
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-no-reboot',
    '-kernel', image.kernel,
    '-initrd', image.initrd,
    '-append', cmdline,
    // vnet_hdr left at QEMU's default (on): the switch must handle the virtio-net header.
    ...qemuNetArgs(opts.tap, opts.queues ?? 1, { id: 'n0', mac: opts.mac.toLowerCase() }),
  ];
  const qemu = opts.qemu ?? 'qemu-system-x86_64';
  const t0 = Date.now();
  // `ip netns exec` execs QEMU in place: the child's PID is QEMU's
  const child = opts.netns === undefined
    ? spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('ip', ['netns', 'exec', opts.netns, qemu, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) {
    // spawn failure (ENOENT...) is reported asynchronously; pid is undefined synchronously then.
    child.on('error', () => undefined);
    throw new Error(`startVm: cannot start ${qemu} (is qemu-system-x86 installed?)`);
  }
  const pid = child.pid;
  live.add(child);
  installExitHook();

  let out = '';
  let err = '';
  let partial = '';
  const states: VmState[] = [];
  let exited = false;
  let timedOut = false;
  const waiters = new Set<Waiter>();

  const tail = (): string => {
    const o = out.split('\n').slice(-15).join('\n');
    return `\n--- ${opts.name} serial (tail) ---\n${o}${err.trim() !== '' ? `\n--- qemu stderr ---\n${err.trim()}` : ''}`;
  };
  const poke = (): void => {
    for (const w of [...waiters]) w.test();
  };

  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const text = chunk.replace(/\r/g, '');
    out += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = STATE_RE.exec(line);
      if (m !== null) states.push({ state: m[1] ?? '', fields: parseFields(m[2] ?? ''), atMs: Date.now() - t0 });
      opts.onLine?.(line);
    }
    poke();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
  });

  const done = new Promise<number>((resolve) => {
    let settled = false;
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      exited = true;
      live.delete(child);
      clearTimeout(timer);
      poke();
      for (const w of [...waiters]) w.fail(`QEMU exited (code ${code}) first`);
      resolve(code);
    };
    child.on('error', (e: Error) => {
      err += `spawn error: ${e.message}\n`;
      finish(127);
    });
    child.on('close', (code, signal) => {
      if (code !== null) finish(code);
      else finish(128 + (signal !== null ? osConstants.signals[signal] : 0));
    });
  });

  const stop = async (graceMs = 2000): Promise<number> => {
    if (!exited && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const t = setTimeout(() => {
        if (!exited) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }, graceMs);
      const code = await done;
      clearTimeout(t);
      return code;
    }
    return done;
  };

  const timer = setTimeout(() => {
    timedOut = true;
    void stop();
  }, opts.timeoutMs);

  const waitFor = (re: RegExp, ms: number): Promise<RegExpMatchArray> => {
    const plain = new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
    return new Promise<RegExpMatchArray>((resolve, reject) => {
      let timeout: NodeJS.Timeout | undefined;
      const w: Waiter = {
        test: () => {
          const m = plain.exec(out);
          if (m === null) return false;
          waiters.delete(w);
          clearTimeout(timeout);
          resolve(m);
          return true;
        },
        fail: (why: string) => {
          waiters.delete(w);
          clearTimeout(timeout);
          reject(new Error(`${opts.name}: waiting for ${String(re)}: ${why}${tail()}`));
        },
      };
      if (w.test()) return;
      if (exited) {
        w.fail('QEMU already exited');
        return;
      }
      waiters.add(w);
      timeout = setTimeout(() => w.fail(`timed out after ${ms} ms`), ms);
    });
  };

  const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  return {
    name: opts.name,
    pid,
    args,
    cmdline,
    done,
    output: () => out,
    stderr: () => err,
    timedOut: () => timedOut,
    waitFor,
    waitResult: async (name: string, ms: number): Promise<VmResult> => {
      const m = await waitFor(new RegExp(`XVS-RESULT ${escapeRe(name)} (?:ok|fail)[^\\n]*\\n`), ms);
      const r = parseResults(m[0])[0];
      if (r === undefined) throw new Error(`${opts.name}: cannot parse ${JSON.stringify(m[0])}`);
      return r;
    },
    results: () => parseResults(out),
    states: () => [...states],
    stop,
  };
}
