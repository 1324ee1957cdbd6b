/**
 * A one-shot client of the control socket: connect, send one request, wait for its answer, close.
 */
import { createConnection } from 'node:net';
import {
  DEFAULT_SOCKET_PATH,
  LineSplitter,
  encodeMessage,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  type WireError,
} from './protocol.js';

export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The longest reply line the client accepts: 256 MiB. Replies are not bound by the request limit (1 MiB):
 * a large table (`fdb show` of a million entries is about 70 MB of JSON) is one reply line. The daemon is
 * trusted (root-only socket) and the line is assembled linearly, so the bound only keeps a runaway reply from
 * taking the CLI's memory; it stays under V8's longest string (2^29 characters), past which JSON.parse could not
 * read the reply anyway.
 */
export const MAX_REPLY_BYTES = 256 * 1024 * 1024;

/** The daemon answered with an error: `name`, `message` and (for a config error) `field` as it sent them. */
export class DaemonError extends Error {
  readonly field: string | undefined;
  readonly remoteName: string;
  constructor(err: WireError) {
    super(err.message);
    this.name = 'DaemonError';
    this.remoteName = err.name;
    this.field = err.field;
  }
}

/** The daemon could not be reached or did not answer in time. */
export class DaemonUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DaemonUnreachableError';
  }
}

let nextId = 1;

export function callDaemon<M extends MethodName>(
  socketPath: string = DEFAULT_SOCKET_PATH,
  method: M,
  params: ParamsOf<M>,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<ResultOf<M>> {
  const id = nextId++;
  return new Promise<ResultOf<M>>((resolve, reject) => {
    const sock = createConnection(socketPath);
    const splitter = new LineSplitter(MAX_REPLY_BYTES, 'reply');
    let done = false;
    const finish = (err: Error | null, result?: ResultOf<M>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(result as ResultOf<M>);
    };
    const timer = setTimeout(
      () => finish(new DaemonUnreachableError(`no answer from xvs daemon at ${socketPath} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.once('connect', () => sock.write(encodeMessage({ id, method, params })));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK') {
        finish(new DaemonUnreachableError(`cannot reach xvs daemon at ${socketPath}: is "xvs daemon" running?`));
      } else if (code === 'EACCES' || code === 'EPERM') {
        finish(new DaemonUnreachableError(`cannot reach xvs daemon at ${socketPath}: permission denied (run as root)`));
      } else {
        finish(new DaemonUnreachableError(`xvs daemon at ${socketPath}: ${e.message}`));
      }
    });
    sock.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      for (const line of lines) {
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          finish(new Error(`xvs daemon sent a malformed reply: ${line.slice(0, 80)}`));
          return;
        }
        if (typeof msg !== 'object' || msg === null || !('id' in msg) || !('ok' in msg)) continue;
        // id null: the daemon could not read our request, or refused the connection (too many)
        if (msg.id !== id && !(msg.id === null && msg.ok === false)) continue;
        if (msg.ok === true && 'result' in msg) finish(null, msg.result as ResultOf<M>);
        else if ('error' in msg && typeof msg.error === 'object' && msg.error !== null) {
          const e = msg.error as Partial<WireError>;
          finish(
            new DaemonError({
              name: typeof e.name === 'string' ? e.name : 'Error',
              message: typeof e.message === 'string' ? e.message : 'unknown error',
              ...(typeof e.field === 'string' ? { field: e.field } : {}),
            }),
          );
        } else finish(new Error('xvs daemon sent a reply without result or error'));
      }
    });
    sock.on('close', () => finish(new DaemonUnreachableError(`xvs daemon at ${socketPath} closed the connection`)));
  });
}
