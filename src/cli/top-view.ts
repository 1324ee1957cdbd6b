/**
 * `xvs top`'s model and screen, without a terminal: two samples of the daemon's counters (the same ones
 * `xvs stats`, `xvs vmq show` and `xvs extension list` print) become rates, sorted and laid out as text
 * that fits the terminal. src/cli/top.ts runs the refresh loop and the keys.
 */
import type { SwitchExtensionState, SwitchStats } from '../switch/manager-api.js';
import type { VmqView } from '../vmq/switch-vmq.js';


/** One read of one switch. */
export interface SwitchSample {
  stats: SwitchStats;
  vmq: VmqView | null;
  extensions: SwitchExtensionState[];
}

export interface TopSample {
  /** ms (monotonic clock) */
  at: number;
  switches: SwitchSample[];
  /** CPU time (seconds, user + system) each worker thread has used, by thread id; absent: not readable */
  cpuSeconds: Map<number, number>;
}

export const SORT_KEYS = ['rx-pps', 'tx-pps', 'rx-bps', 'tx-bps', 'drops', 'name'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
/** the key that selects each sort order while top runs ('s' cycles through them) */
export const SORT_KEY_PRESSES: Record<string, SortKey> = { r: 'rx-pps', t: 'tx-pps', b: 'rx-bps', x: 'tx-bps', d: 'drops', n: 'name' };

export interface PortRate {
  switch: string;
  port: string;
  kind: string;
  rxPps: number;
  rxBps: number;
  txPps: number;
  txBps: number;
  dropsPs: number;
  /** drop reasons with their rates, largest first */
  reasons: [string, number][];
}

export interface WorkerRate {
  switch: string;
  worker: number;
  tid: number;
  cpu: number | null;
  /** percent of one CPU the thread used (from /proc), null: not readable */
  cpuPercent: number | null;
  /** percent of the last VMQ sample the worker spent in breaths that received frames */
  busy: number | null;
  batchesPs: number;
}

export interface ExtensionRate {
  switch: string;
  extension: string;
  state: string;
  framesPs: number;
  dropsPs: number;
  errorsPs: number;
}

export interface TopView {
  ports: PortRate[];
  workers: WorkerRate[];
  extensions: ExtensionRate[];
  seconds: number;
}

const sumValues = (r: Record<string, number>): number => Object.values(r).reduce((n, v) => n + v, 0);

/** Rates between two samples; a port, worker or extension new in `cur` counts from zero. */
export function topRates(prev: TopSample, cur: TopSample): TopView {
  const dt = Math.max((cur.at - prev.at) / 1000, 1e-3);
  const per = (a: number, b: number): number => Math.max(0, b - a) / dt;
  const ports: PortRate[] = [];
  const workers: WorkerRate[] = [];
  const extensions: ExtensionRate[] = [];
  for (const s of cur.switches) {
    const sw = s.stats.name;
    const before = prev.switches.find((x) => x.stats.name === sw);
    for (const p of s.stats.ports) {
      const b = before?.stats.ports.find((x) => x.name === p.name);
      const reasons = Object.entries(p.drops).map(([r, n]): [string, number] => [r, per(b?.drops[r] ?? 0, n)])
        .filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]);
      ports.push({
        switch: sw, port: p.name, kind: p.kind,
        rxPps: per(b?.rxPackets ?? 0, p.rxPackets), rxBps: 8 * per(b?.rxBytes ?? 0, p.rxBytes),
        txPps: per(b?.txPackets ?? 0, p.txPackets), txBps: 8 * per(b?.txBytes ?? 0, p.txBytes),
        dropsPs: per(sumValues(b?.drops ?? {}), sumValues(p.drops)), reasons,
      });
    }
    for (const w of s.stats.workers) {
      const b = before?.stats.workers.find((x) => x.index === w.index);
      const c0 = prev.cpuSeconds.get(w.tid);
      const c1 = cur.cpuSeconds.get(w.tid);
      workers.push({
        switch: sw, worker: w.index, tid: w.tid, cpu: w.cpu,
        cpuPercent: c0 !== undefined && c1 !== undefined ? (100 * Math.max(0, c1 - c0)) / dt : null,
        busy: s.vmq?.workers.find((x) => x.index === w.index)?.busy ?? null,
        batchesPs: per(b?.batches ?? 0, w.batches),
      });
    }
    for (const e of s.extensions) {
      if (!e.enabled && !e.failure) continue;
      const b = before?.extensions.find((x) => x.name === e.name);
      extensions.push({
        switch: sw, extension: e.name, state: e.failure ? 'failed' : e.running ? 'running' : 'enabled',
        framesPs: per(b?.counters.frames ?? 0, e.counters.frames ?? 0), dropsPs: per(b?.counters.drops ?? 0, e.counters.drops ?? 0),
        errorsPs: per(b?.counters.errors ?? 0, e.counters.errors ?? 0),
      });
    }
  }
  return { ports, workers, extensions, seconds: dt };
}

/** An aligned table: columns whose flag is true are right-aligned (numbers), the last column is not padded. */
function grid(headers: string[], rows: string[][], right: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells
    .map((c, i) => (right[i] ? c.padStart(widths[i]) : i === cells.length - 1 ? c : c.padEnd(widths[i])))
    .join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function sortPorts(ports: PortRate[], key: SortKey): PortRate[] {
  const by: Record<SortKey, (p: PortRate) => number> = {
    'rx-pps': (p) => p.rxPps, 'tx-pps': (p) => p.txPps, 'rx-bps': (p) => p.rxBps, 'tx-bps': (p) => p.txBps, drops: (p) => p.dropsPs, name: () => 0,
  };
  const name = (a: PortRate, b: PortRate): number => a.switch.localeCompare(b.switch) || a.port.localeCompare(b.port);
  return [...ports].sort((a, b) => by[key](b) - by[key](a) || name(a, b));
}

/** 1234567 → `1.23M`; below 1000 whole numbers (rates under 1 show one decimal) */
export function si(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  if (n > 0 && n < 1) return n.toFixed(1);
  return n.toFixed(0);
}

export interface RenderOptions {
  sort: SortKey;
  /** characters per line (lines are cut); Infinity: not cut */
  columns: number;
  /** lines at most (the port list is cut, saying how many are left out); Infinity: all */
  rows: number;
  /** the first line: what is shown and the keys */
  title: string;
  /** a line under the title (an error reaching the daemon) */
  status?: string;
}

/** The screen: title, ports (sorted), workers, extensions. */
export function renderTop(v: TopView, o: RenderOptions): string {
  const ports = sortPorts(v.ports, o.sort);
  const portRow = (p: PortRate): string[] => [
    p.switch, p.port, p.kind, si(p.rxPps), si(p.rxBps), si(p.txPps), si(p.txBps), si(p.dropsPs),
    p.reasons.length > 0 ? p.reasons.slice(0, 3).map(([r, n]) => `${r} ${si(n)}`).join(', ') : '-',
  ];
  const workers = grid(['SWITCH', 'WORKER', 'TID', 'CPU', 'CPU%', 'BUSY%', 'BATCH/S'],
    v.workers.map((w) => [w.switch, String(w.worker), String(w.tid), w.cpu === null ? '-' : String(w.cpu),
      w.cpuPercent === null ? '-' : w.cpuPercent.toFixed(1), w.busy === null ? '-' : w.busy.toFixed(1), si(w.batchesPs)]),
    [false, true, true, true, true, true, true]);
  const exts = v.extensions.length === 0 ? 'no extension enabled' : grid(['SWITCH', 'EXTENSION', 'STATE', 'FRAMES/S', 'DROPS/S', 'ERRORS/S'],
    v.extensions.map((e) => [e.switch, e.extension, e.state, si(e.framesPs), si(e.dropsPs), si(e.errorsPs)]), [false, false, false, true, true, true]);
  const head = [o.title, ...(o.status ? [o.status] : []), ''];
  const tail = ['', workers, '', exts].join('\n').split('\n');
  // the ports get the lines the rest leaves (at least the header and one port)
  const portHeader = ['SWITCH', 'PORT', 'KIND', 'RX-PPS', 'RX-BIT/S', 'TX-PPS', 'TX-BIT/S', 'DROPS/S', 'DROP REASONS (/s)'];
  const room = Number.isFinite(o.rows) ? Math.max(2, o.rows - head.length - tail.length - 1) : Infinity;
  const shown = ports.length + 1 > room ? ports.slice(0, room - 2) : ports;
  const portLines = ports.length === 0 ? ['no ports'] : grid(portHeader, shown.map(portRow), [false, false, false, true, true, true, true, true, false]).split('\n');
  if (shown.length < ports.length) portLines.push(`… ${ports.length - shown.length} more ports`);
  const lines = [...head, ...portLines, ...tail];
  const cut = Number.isFinite(o.rows) ? lines.slice(0, o.rows) : lines;
  return cut.map((l) => (l.length > o.columns ? l.slice(0, o.columns) : l)).join('\n');
}

/** `--sort`: one of SORT_KEYS; errors name the flag */
export function parseSortKey(s: string): SortKey {
  const k = SORT_KEYS.find((x) => x === s);
  if (!k) throw new Error(`--sort: expected one of ${SORT_KEYS.join(', ')}, got "${s}"`);
  return k;
}
