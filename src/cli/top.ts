/**
 * `xvs top [SWITCH]`: a live view of ports (pps, bit/s, drops by reason), workers (CPU, busy %) and
 * extensions, refreshed every --interval seconds, like top(1). Keys: s (next sort order), r t b x d n (a
 * sort order), q or Ctrl-C (quit). When stdout is not a terminal it prints one snapshot (rates over one
 * interval) and exits.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { call, out, type Cli, type GlobalArgs } from './common.js';
import {
  parseSortKey, renderTop, SORT_KEY_PRESSES, SORT_KEYS, topRates, type SortKey, type SwitchSample, type TopSample, type TopView,
} from './top-view.js';

interface TopArgs extends GlobalArgs {
  switch?: string;
  sort: string;
  interval: number;
}

/** clock ticks per second of /proc's utime and stime */
function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

/** user + system CPU seconds of a thread of `pid`, from /proc (undefined: gone or not readable) */
function threadCpuSeconds(pid: number, tid: number, hz: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces and parentheses): state is field 3, utime 14, stime 15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / hz;
  } catch {
    return undefined;
  }
}

async function sample(a: TopArgs, pid: number, hz: number): Promise<TopSample> {
  const names = a.switch !== undefined ? [a.switch] : (await call(a, 'switch.list', {})).filter((s) => s.running).map((s) => s.config.name);
  const switches: SwitchSample[] = [];
  for (const name of names) {
    try {
      const stats = await call(a, 'stats', { switch: name });
      const vmq = await call(a, 'vmq.show', { switch: name }).catch(() => null);
      const extensions = await call(a, 'extension.list', { switch: name });
      switches.push({ stats, vmq, extensions });
    } catch (e) {
      // a switch named on the command line must exist; one deleted while listed is left out
      if (a.switch !== undefined) throw e;
    }
  }
  const cpuSeconds = new Map<number, number>();
  for (const s of switches) {
    for (const w of s.stats.workers) {
      const c = threadCpuSeconds(pid, w.tid, hz);
      if (c !== undefined) cpuSeconds.set(w.tid, c);
    }
  }
  return { at: performance.now(), switches, cpuSeconds };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function title(a: TopArgs, v: TopView, sort: SortKey, interactive: boolean): string {
  const what = a.switch !== undefined ? `switch ${a.switch}` : 'all switches';
  const time = new Date().toISOString().slice(11, 19);
  const keys = interactive ? ' — keys: s r t b x d n sort, q quit' : '';
  return `xvs top — ${what}, ${time} UTC, rates over ${v.seconds.toFixed(1)} s, sort ${sort}${keys}`;
}

async function runTop(a: TopArgs): Promise<void> {
  let sort = parseSortKey(a.sort);
  const interval = Number(a.interval);
  if (!Number.isFinite(interval) || interval < 0.2 || interval > 3600) throw new Error(`--interval: expected seconds 0.2..3600, got ${String(a.interval)}`);
  const hz = clockTicks();
  const { pid } = await call(a, 'daemon.status', {});
  let prev = await sample(a, pid, hz);
  const tty = process.stdout.isTTY === true;

  if (!tty) {
    await sleep(interval * 1000);
    const cur = await sample(a, pid, hz);
    const v = topRates(prev, cur);
    out(renderTop(v, { sort, columns: Infinity, rows: Infinity, title: title(a, v, sort, false) }));
    return;
  }

  const stdout = process.stdout;
  const stdin = process.stdin;
  let view: TopView = { ports: [], workers: [], extensions: [], seconds: 0 };
  let status: string | undefined = 'reading…';
  const draw = (): void => {
    const screen = renderTop(view, { sort, columns: stdout.columns || 80, rows: stdout.rows || 24, title: title(a, view, sort, true), ...(status ? { status } : {}) });
    // home, the screen, clear what is left of each line and below
    stdout.write(`\x1b[H${screen.split('\n').join('\x1b[K\n')}\x1b[K\x1b[J`);
  };

  let done: () => void = () => {};
  const finished = new Promise<void>((r) => { done = r; });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (timer) clearTimeout(timer);
    done();
  };
  const onKey = (buf: Buffer): void => {
    for (const ch of buf.toString('utf8')) {
      if (ch === 'q' || ch === 'Q' || ch === '\x03') return stop();
      const k = SORT_KEY_PRESSES[ch];
      if (k) sort = k;
      else if (ch === 's') sort = SORT_KEYS[(SORT_KEYS.indexOf(sort) + 1) % SORT_KEYS.length];
      else continue;
      draw();
    }
  };
  const onSigint = (): void => stop();
  const onResize = (): void => draw();

  // alternate screen, cursor hidden; keys one by one without echo
  stdout.write('\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J');
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onKey);
  stdin.resume();
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  stdout.on('resize', onResize);
  try {
    draw();
    const tick = async (): Promise<void> => {
      if (stopped) return;
      try {
        const cur = await sample(a, pid, hz);
        view = topRates(prev, cur);
        prev = cur;
        status = undefined;
      } catch (e) {
        status = `daemon: ${e instanceof Error ? e.message : String(e)} (retrying)`;
      }
      if (stopped) return;
      draw();
      timer = setTimeout(() => void tick(), interval * 1000);
    };
    timer = setTimeout(() => void tick(), interval * 1000);
    await finished;
  } finally {
    stdin.off('data', onKey);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    stdout.off('resize', onResize);
    stdout.write('\x1b[?25h\x1b[?1049l');
  }
}

export function topCommands(y: Cli): Cli {
  return y.command(
    'top [switch]',
    'live view of ports (pps, bit/s, drops by reason), workers (CPU, busy %) and extensions; q quits',
    (c) =>
      c
        .positional('switch', { type: 'string', describe: 'only this switch (default: every running switch)' })
        .option('sort', { type: 'string', default: 'rx-pps', choices: [...SORT_KEYS], describe: 'port order; keys while running: s next, r rx-pps, t tx-pps, b rx-bps, x tx-bps, d drops, n name' })
        .option('interval', { type: 'number', default: 1, describe: 'seconds between refreshes (0.2..3600)' })
        .example('xvs top', 'every switch, busiest receiving ports first')
        .example('xvs top sw0 --sort drops', 'the ports of sw0 that drop most first')
        .example('xvs top sw0 | cat', 'one snapshot (stdout not a terminal): rates over one interval'),
    (a) => runTop(a),
  );
}
