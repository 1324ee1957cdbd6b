/**
 * The daemon's logger: one line per message with a level, to stderr.
 *
 * - On a terminal or in a file: `2026-12-06T10:14:36.123Z warn  switch sw0: …` (ISO time, level).
 * - Under systemd (JOURNAL_STREAM is set): `<4>switch sw0: …` — the sd-daemon priority prefix, no
 *   time (journald adds it), so `journalctl -p warning -u xvs` filters by level.
 * - `--log-format json`: `{"time":…,"level":"warn","msg":…}` per line.
 *
 * A Logger is also a plain `(message) => void` at level info, so the many `log` callbacks that
 * modules take stay as they are; code that knows a message is a problem calls `log.warn`/`log.error`.
 */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json', 'journal'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface Logger {
  (message: string): void;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  readonly level: LogLevel;
}

/** A `log` callback as modules take it; a Logger is one. */
export type LogFn = (message: string) => void;

/** syslog priorities (sd-daemon(3)) */
const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface LoggerOptions {
  level?: LogLevel;
  /** default: 'journal' when JOURNAL_STREAM is set, else 'text' */
  format?: LogFormat;
  write?: (line: string) => void;
  now?: () => Date;
}

export function parseLogLevel(v: unknown, field = 'log-level'): LogLevel {
  if (typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new Error(`${field}: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(v)}`);
}

export function parseLogFormat(v: unknown, field = 'log-format'): LogFormat {
  if (typeof v === 'string' && (LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  throw new Error(`${field}: expected one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(v)}`);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const format = opts.format ?? (process.env['JOURNAL_STREAM'] ? 'journal' : 'text');
  const write = opts.write ?? ((line: string) => { process.stderr.write(line); });
  const now = opts.now ?? (() => new Date());
  const max = RANK[level];
  const emit = (lv: LogLevel, message: string): void => {
    if (RANK[lv] > max) return;
    // one message is one line: a newline inside would forge a second entry
    const msg = message.replace(/[\r\n]+/g, ' ⏎ ');
    if (format === 'journal') write(`<${PRIORITY[lv]}>${msg}\n`);
    else if (format === 'json') write(`${JSON.stringify({ time: now().toISOString(), level: lv, msg })}\n`);
    else write(`${now().toISOString()} ${lv.padEnd(5)} ${msg}\n`);
  };
  const log = ((m: string) => emit('info', m)) as Logger;
  Object.defineProperties(log, {
    error: { value: (m: string) => emit('error', m) },
    warn: { value: (m: string) => emit('warn', m) },
    info: { value: (m: string) => emit('info', m) },
    debug: { value: (m: string) => emit('debug', m) },
    level: { value: level },
  });
  return log;
}
