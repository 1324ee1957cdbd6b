/**
 * What every command group shares: the global options, the call to the daemon, and plain-text output
 * (aligned tables, key/value blocks). The CLI holds no logic of its own: it maps options to a request and
 * prints the result.
 */
import type { Argv } from 'yargs';
import { callDaemon } from '../control/client.js';
import { DEFAULT_SOCKET_PATH, type MethodName, type ParamsOf, type ResultOf } from '../control/protocol.js';

export interface GlobalArgs {
  socket: string;
  timeout: number;
}

export type Cli = Argv<GlobalArgs>;

export function globalOptions(y: Argv): Cli {
  return y
    .option('socket', {
      type: 'string',
      default: process.env.XVS_SOCKET ?? DEFAULT_SOCKET_PATH,
      defaultDescription: `$XVS_SOCKET or ${DEFAULT_SOCKET_PATH}`,
      describe: 'control socket of the daemon',
      global: true,
    })
    .option('timeout', {
      type: 'number',
      default: 30,
      describe: 'seconds to wait for the daemon to answer',
      global: true,
    });
}

/** Adds `--json` to a read command. */
export function withJson<T>(y: Argv<T>): Argv<T & { json: boolean }> {
  return y.option('json', { type: 'boolean', default: false, describe: 'print the raw JSON result' });
}

export function call<M extends MethodName>(argv: GlobalArgs, method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
  const t = Number(argv.timeout);
  if (!Number.isFinite(t) || t <= 0) throw new Error(`--timeout: expected seconds (more than 0), got ${String(argv.timeout)}`);
  return callDaemon(argv.socket, method, params, Math.round(t * 1000));
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

export type Cell = string | number | boolean | null | undefined;

function cell(c: Cell): string {
  if (c === null || c === undefined || c === '') return '-';
  if (typeof c === 'boolean') return c ? 'yes' : 'no';
  return String(c);
}

/** An aligned table; numeric columns are right-aligned. */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map(cell));
  const numeric = headers.map((_, i) => {
    const present = rows.map((r) => r[i]).filter((c) => c !== null && c !== undefined);
    return present.length > 0 && present.every((c) => typeof c === 'number');
  });
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n');
}

/** `key:   value` lines, values aligned. */
export function keyValues(pairs: [string, Cell][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w)}  ${cell(v)}`).join('\n');
}

/** `{a: 1, b: 2}` → `a=1 b=2`, or `-`. */
export function counts(rec: Record<string, number>): string {
  const parts = Object.entries(rec)
    .filter(([, n]) => n !== 0)
    .map(([k, n]) => `${k}=${n}`);
  return parts.length > 0 ? parts.join(' ') : '-';
}

/** Parses a numeric option; yargs turns "abc" into NaN, which is sent as null — say what is wrong instead. */
export function intOption(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (Number.isNaN(v)) throw new Error(`--${name}: expected a number`);
  return v;
}
