/**
 * One daemon per configuration file and per control socket, enforced by locks a dead process cannot hold.
 *
 * Each lock is a listening Linux *abstract* Unix socket (`\0xvs/config/<hash>`, `\0xvs/socket/<hash>`, the hash
 * of the file's real path): it has no file to go stale, and the kernel frees the name when the holder's last fd
 * closes, however the process ends (kill -9 included). Binding is the test-and-set; a process that finds the
 * name taken connects to it and the holder answers with its pid, config and socket, so the refusal names it.
 *
 * A holder killed with SIGKILL can take a moment to die (the kernel tears down its threads and memory before its
 * fds): its socket is still bound but nobody answers. That holder is waited for, up to `waitMs` (default 5 s),
 * retrying the bind; only a holder still there after that is reported (with its pid, found in /proc).
 *
 * Limits: abstract names are per network namespace (two daemons in different namespaces do not see each
 * other's lock), and any local user can bind a name first; the refusal then names that process and its uid.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { configTarget, canonicalPath } from '../config/store.js';

/** Another process holds the configuration or the socket. */
export class InstanceLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstanceLockError';
  }
}

export interface LockHolder {
  pid: number;
  config: string;
  socket: string;
}

export interface InstanceLock {
  /** the real paths locked */
  readonly config: string;
  readonly socket: string;
  release(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function lockName(kind: 'config' | 'socket', realPath: string): string {
  return `\0xvs/${kind}/${createHash('sha256').update(realPath).digest('hex').slice(0, 40)}`;
}

/** Takes both locks, or throws InstanceLockError naming the holder. */
export async function acquireInstanceLock(opts: {
  configPath: string;
  socketPath: string;
  log?: (msg: string) => void;
  waitMs?: number;
}): Promise<InstanceLock> {
  const config = canonicalPath(configTarget(opts.configPath));
  const socket = canonicalPath(opts.socketPath);
  const me: LockHolder = { pid: process.pid, config, socket };
  const waitMs = opts.waitMs ?? 5000;
  const c = await take('config', config, me, waitMs, opts.log);
  let s: Server;
  try {
    s = await take('socket', socket, me, waitMs, opts.log);
  } catch (e) {
    await close(c);
    throw e;
  }
  return {
    config,
    socket,
    async release() {
      await Promise.all([close(c), close(s)]);
    },
  };
}

function close(server: Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

async function take(kind: 'config' | 'socket', realPath: string, me: LockHolder, waitMs: number, log?: (m: string) => void): Promise<Server> {
  const name = lockName(kind, realPath);
  const deadline = Date.now() + waitMs;
  let waited = false;
  for (;;) {
    const server = await tryBind(name, me);
    if (server) {
      if (waited) log?.(`${kind} lock for ${realPath} taken after its previous holder exited`);
      return server;
    }
    const holder = await askHolder(name);
    const what = kind === 'config' ? `configuration ${realPath}` : `socket ${realPath}`;
    if (holder) {
      throw new InstanceLockError(
        `${what} is in use by another xvs daemon (pid ${holder.pid}, config ${holder.config}, socket ${holder.socket}); stop it first`,
      );
    }
    if (Date.now() >= deadline) {
      const pids = holderPids(name);
      const who = pids.length > 0 ? pids.map((p) => `pid ${p.pid} (${p.comm}, uid ${p.uid})`).join(', ') : 'an unknown process';
      throw new InstanceLockError(`${what} is locked by ${who}, which does not answer as an xvs daemon (waited ${waitMs} ms)`);
    }
    if (!waited) log?.(`${kind} lock for ${realPath} is held by a process that does not answer (exiting?); waiting up to ${waitMs} ms`);
    waited = true;
    await sleep(100);
  }
}

/** Binds the abstract name; null if it is taken. The bound server answers each connection with `me`. */
function tryBind(name: string, me: LockHolder): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer((c) => {
      c.on('error', () => {});
      c.end(`${JSON.stringify(me)}\n`);
      setTimeout(() => c.destroy(), 1000).unref();
    });
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') resolve(null);
      else reject(e);
    });
    server.listen(name, () => {
      server.removeAllListeners('error');
      server.on('error', () => {}); // an accept error must not crash the daemon; the lock stays bound
      server.unref();
      resolve(server);
    });
  });
}

/** What the holder says about itself, or null if it does not answer within a second. */
function askHolder(name: string): Promise<LockHolder | null> {
  return new Promise((resolve) => {
    const c = createConnection(name);
    let buf = '';
    const done = (h: LockHolder | null): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(h);
    };
    const timer = setTimeout(() => done(null), 1000);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      if (buf.length > 8192) return done(null);
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const h: unknown = JSON.parse(buf.slice(0, nl));
        if (typeof h === 'object' && h !== null && 'pid' in h && typeof h.pid === 'number' &&
          'config' in h && typeof h.config === 'string' && 'socket' in h && typeof h.socket === 'string') {
          return done({ pid: h.pid, config: h.config, socket: h.socket });
        }
      } catch {
        // not an xvs daemon
      }
      done(null);
    });
    c.on('error', () => done(null));
    c.on('close', () => done(null));
  });
}

/** The processes holding the listening abstract socket `name` (from /proc/net/unix and /proc/<pid>/fd). */
export function holderPids(name: string): { pid: number; comm: string; uid: number }[] {
  const shown = `@${name.slice(1)}`;
  const inodes = new Set<string>();
  try {
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path
      // libuv binds the whole sun_path: the name is shown padded with NULs, as '@'
      if (f.length >= 8 && f[7].replace(/@+$/, '') === shown) inodes.add(f[6]);
    }
  } catch {
    return [];
  }
  const out: { pid: number; comm: string; uid: number }[] = [];
  if (inodes.size === 0) return out;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${d}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m || !inodes.has(m[1])) continue;
      let comm = '?';
      let uid = -1;
      try {
        comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
        const u = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'));
        if (u) uid = Number(u[1]);
      } catch {
        // exited meanwhile
      }
      out.push({ pid: Number(d), comm, uid });
      break;
    }
  }
  return out;
}
