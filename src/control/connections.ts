/**
 * Limits on the control socket's connections, so no client can exhaust the daemon (docs/CONTROL.md,
 * "Connections and limits"):
 *
 * - **backpressure**: a connection's requests are read only while fewer than `maxInFlight` of them are being
 *   answered and its unsent reply bytes are under `maxUnsentBytes`; otherwise the socket is paused and resumed
 *   on 'drain'. A client that pipelines requests and never reads its replies stops being read; its requests wait
 *   in the kernel's socket buffer, not in the daemon.
 * - **a cap** on open connections (`maxConnections`): one more is answered with an error and closed.
 * - **an idle timeout** (`idleTimeoutMs`): a connection with nothing in flight that has not completed a request
 *   (or had a reply drained) for that long is closed; a request trickled forever or a client that neither sends
 *   nor reads cannot keep a connection (and its fd) open.
 * - **line assembly** is linear and bounded (`LineSplitter`); an over-long line is answered with an error and
 *   the connection is closed.
 *
 * Refusals and closes are logged, at most one line per `logIntervalMs` per kind (with the count of those not
 * logged), so a flood of connections cannot flood the log.
 */
import type { Socket } from 'node:net';
import { LineSplitter, MAX_LINE_BYTES, encodeMessage, errorToWire, type Response } from './protocol.js';

export interface ConnectionLimits {
  /** open connections at most (default 256) */
  maxConnections: number;
  /** a connection with nothing in flight and no complete request for this long is closed (default 60 s) */
  idleTimeoutMs: number;
  /** requests of one connection answered at once (default 16) */
  maxInFlight: number;
  /** stop reading a connection while more reply bytes than this wait to be sent (default 1 MiB) */
  maxUnsentBytes: number;
  /** a request line over this many bytes closes the connection (default 1 MiB) */
  maxLineBytes: number;
  /** log a kind of refusal at most once per this many ms (default 10 s) */
  logIntervalMs: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxConnections: 256,
  idleTimeoutMs: 60_000,
  maxInFlight: 16,
  maxUnsentBytes: 1 << 20,
  maxLineBytes: MAX_LINE_BYTES,
  logIntervalMs: 10_000,
};

/** A log line per kind at most once per interval; the next one says how many were not logged. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(private readonly log: (msg: string) => void, private readonly intervalMs: number) {}

  note(kind: string, msg: string): void {
    const now = Date.now();
    const s = this.last.get(kind);
    if (s && now - s.at < this.intervalMs) {
      s.suppressed++;
      return;
    }
    const more = s && s.suppressed > 0 ? ` (${s.suppressed} more not logged)` : '';
    this.last.set(kind, { at: now, suppressed: 0 });
    this.log(`${msg}${more}`);
  }
}

/** What a connection counts: for `daemon.status`-style inspection and for tests. */
export interface ConnectionStats {
  /** bytes read from the socket */
  bytesRead: number;
  /** requests started */
  requests: number;
  inFlight: number;
  /** complete lines read but not started yet */
  queued: number;
  /** reading is paused (backpressure) */
  paused: boolean;
}

/**
 * One connection: assembles lines, answers each with `answer` (never more than `maxInFlight` at once), writes the
 * replies, and pauses reading under backpressure.
 */
export class Connection {
  readonly stats: ConnectionStats = { bytesRead: 0, requests: 0, inFlight: 0, queued: 0, paused: false };
  private readonly splitter: LineSplitter;
  private readonly queue: string[] = [];
  private head = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** no more reading: idle, or an over-long line (then `lastWords` is sent after the replies before it) */
  private closing = false;
  private lastWords: Response | null = null;
  private endTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sock: Socket,
    private readonly limits: ConnectionLimits,
    private readonly answer: (line: string) => Promise<Response>,
    private readonly notes: RateLimitedLog,
  ) {
    this.splitter = new LineSplitter(limits.maxLineBytes);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('drain', () => {
      this.touch();
      this.pump();
    });
    sock.on('error', () => {}); // the client went away; 'close' follows
    sock.on('close', () => {
      this.clearIdle();
      if (this.endTimer) clearTimeout(this.endTimer);
    });
    this.touch();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.stats.bytesRead += chunk.length;
    const { lines, error } = this.splitter.feed(chunk);
    for (const l of lines) this.queue.push(l);
    if (lines.length > 0) this.touch();
    if (error) {
      // the requests before the long line are answered, then the error, then the connection is closed
      this.notes.note('long-line', `control: closing a connection: ${error.message}`);
      this.closing = true;
      this.lastWords = { id: null, ok: false, error: errorToWire(error) };
      this.clearIdle();
      this.sock.pause();
    }
    this.pump();
  }

  /** Starts queued requests while the limits allow; pauses or resumes reading accordingly. */
  private pump(): void {
    while (
      this.head < this.queue.length && this.stats.inFlight < this.limits.maxInFlight &&
      this.sock.writableLength <= this.limits.maxUnsentBytes
    ) {
      const line = this.queue[this.head];
      this.queue[this.head++] = '';
      this.start(line);
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    this.stats.queued = this.queue.length - this.head;
    if (this.closing) {
      if (this.lastWords && this.stats.queued === 0 && this.stats.inFlight === 0) {
        this.write(this.lastWords);
        this.lastWords = null;
        this.end();
      }
      return;
    }
    const blocked = this.stats.queued > 0 || this.stats.inFlight >= this.limits.maxInFlight ||
      this.sock.writableLength > this.limits.maxUnsentBytes;
    if (blocked && !this.stats.paused) {
      this.stats.paused = true;
      this.sock.pause();
    } else if (!blocked && this.stats.paused && !this.closing) {
      this.stats.paused = false;
      this.sock.resume();
    }
  }

  private start(line: string): void {
    this.stats.requests++;
    this.stats.inFlight++;
    this.clearIdle();
    void this.answer(line).then((reply) => {
      this.stats.inFlight--;
      this.write(reply);
      this.touch();
      this.pump();
    });
  }

  private write(msg: Response): void {
    if (this.sock.destroyed || !this.sock.writable) return;
    this.sock.write(encodeMessage(msg));
  }

  /** (Re)starts the idle timer, unless a request is being answered. */
  private touch(): void {
    this.clearIdle();
    if (this.stats.inFlight > 0 || this.closing || this.sock.destroyed) return;
    this.idleTimer = setTimeout(() => {
      this.notes.note('idle', `control: closing a connection idle for ${this.limits.idleTimeoutMs} ms`);
      this.closing = true;
      this.sock.destroy();
    }, this.limits.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Half-closes after the last reply; destroys it if the peer does not read that within a second. */
  private end(): void {
    this.clearIdle();
    this.sock.end();
    this.sock.resume(); // read (and drop) what comes, so the peer's close is seen
    this.endTimer = setTimeout(() => this.sock.destroy(), 1000);
  }
}

/** Refuses a connection over the cap: one error line, then closed. */
export function refuseConnection(sock: Socket, message: string): void {
  sock.on('error', () => {});
  sock.end(encodeMessage({ id: null, ok: false, error: { name: 'BusyError', message } }));
  sock.resume(); // read (and drop) what comes, so the peer's close is seen
  const timer = setTimeout(() => sock.destroy(), 1000);
  sock.on('close', () => clearTimeout(timer));
}
