/**
 * Live trace sessions: `trace.start` runs a live trace in the daemon and returns a session number;
 * `trace.poll` returns the frames recorded since the client's cursor and whether the trace has ended;
 * `trace.stop` ends it early. This keeps the protocol's one reply per request line while the CLI
 * prints each frame as it arrives (it polls every 150 ms). A session holds at most `count` frames
 * (1000), at most LIMITS['trace.sessions'] run at once, and an ended session is forgotten after its
 * last poll or KEEP_MS, whichever comes first.
 */
import { ConfigError, NotFoundError } from '../core/errors.js';
import type { LiveTraceOptions, TraceView } from '../switch/manager-api.js';
import { LIMITS, type TracePollResult } from './protocol.js';

/** how long an ended session waits for its last poll */
const KEEP_MS = 30_000;

interface Session {
  frames: TraceView[];
  count: number;
  done: boolean;
  error?: Error;
  abort: AbortController;
  forget?: NodeJS.Timeout;
}

export class TraceSessions {
  private readonly sessions = new Map<number, Session>();
  private nextId = 1;

  constructor(private readonly max: number = LIMITS['trace.sessions'].max) {}

  /**
   * Start `run` (the manager's traceLive) with a frame callback; resolves with the session number once
   * the workers record (so a frame sent after the answer is traced), or rejects with run's error.
   */
  async start(count: number, run: (opts: Pick<LiveTraceOptions, 'onFrame' | 'signal' | 'onArmed'>) => Promise<TraceView[]>): Promise<number> {
    let running = 0;
    for (const s of this.sessions.values()) if (!s.done) running++;
    if (running >= this.max) throw new ConfigError('params', `${this.max} live traces are running already: stop one (trace.stop) or wait`);
    const id = this.nextId++;
    const s: Session = { frames: [], count, done: false, abort: new AbortController() };
    this.sessions.set(id, s);
    const end = (): void => {
      s.done = true;
      s.forget = setTimeout(() => this.sessions.delete(id), KEEP_MS);
      s.forget.unref();
    };
    let armed: () => void = () => {};
    const ready = new Promise<void>((resolve) => { armed = resolve; });
    const ran = run({ onFrame: (v) => { if (s.frames.length < s.count) s.frames.push(v); }, signal: s.abort.signal, onArmed: () => armed() })
      .then(end, (e: unknown) => { s.error = e instanceof Error ? e : new Error(String(e)); end(); });
    await Promise.race([ready, ran]);
    if (s.error && s.frames.length === 0) {
      this.forget(id, s);
      throw s.error;
    }
    return id;
  }

  poll(id: number, from: number): TracePollResult {
    const s = this.get(id);
    if (s.error) {
      this.forget(id, s);
      throw s.error;
    }
    const frames = s.frames.slice(from);
    const next = Math.max(from, s.frames.length);
    if (s.done && next >= s.frames.length) this.forget(id, s);
    return { frames, next, done: s.done, timedOut: s.done && !s.abort.signal.aborted && s.frames.length < s.count };
  }

  stop(id: number): void {
    this.get(id).abort.abort();
  }

  /** end every session (daemon shutdown) */
  close(): void {
    for (const [id, s] of this.sessions) {
      s.abort.abort();
      this.forget(id, s);
    }
  }

  private get(id: number): Session {
    const s = this.sessions.get(id);
    if (!s) throw new NotFoundError('params.session', `no live trace session ${id} (it ended and was read, or never existed)`);
    return s;
  }

  private forget(id: number, s: Session): void {
    clearTimeout(s.forget);
    this.sessions.delete(id);
  }
}
