/**
 * `xvs trace SWITCH --in PORT --frame HEX|--packet 'eth(...),ipv4(...),tcp(...)'` runs a synthetic frame
 * through the live pipeline without sending it; `xvs trace SWITCH --live --count N [--match EXPR]`
 * records real frames as they pass. Both print every stage with its verdict and drop reason.
 */
import type { TraceView } from '../switch/manager-api.js';
import { call, out, printJson, withJson, type Cli } from './common.js';

function render(t: TraceView): string {
  const lines = [`frame on ${t.inPort}: ${t.packet}`];
  for (const s of t.steps) {
    const dest = s.destinations ? ` → ${s.destinations.length ? s.destinations.join(', ') : '(none)'}` : '';
    lines.push(`  ${s.direction.padEnd(7)} ${`${s.kind}:${s.stage}`.padEnd(26)} ${s.verdict}${s.reason ? ` (${s.reason})` : ''}${dest}`);
  }
  lines.push(t.verdict === 'forwarded'
    ? `verdict: forwarded to ${t.destinations.join(', ')}`
    : `verdict: dropped (${t.reason ?? 'no destination'})`);
  return lines.join('\n');
}

export function traceCommands(y: Cli): Cli {
  return y.command('trace <switch>', 'why was my frame dropped? trace a frame through the pipeline',
    (c) => withJson(c)
      .positional('switch', { type: 'string', demandOption: true })
      .option('in', { type: 'string', describe: 'port the frame enters on (live: only frames from this port)' })
      .option('frame', { type: 'string', describe: 'the frame in hex' })
      .option('packet', { type: 'string', describe: "the frame as eth(src=…,dst=…),ipv4(src=…,dst=…),tcp(dst=80)" })
      .option('live', { type: 'boolean', default: false, describe: 'trace the next real frames instead' })
      .option('count', { type: 'number', default: 1, describe: 'live: how many frames' })
      .option('match', { type: 'string', describe: 'live: only frames matching, e.g. ipv4.dst=10.0.0.2,tcp.dst=80' })
      .option('wait', { type: 'number', default: 10, describe: 'live: give up after this many seconds' })
      .example("xvs trace sw0 --in vm1 --packet 'eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=10.0.0.1,dst=10.0.0.2),tcp(dst=80)'", '')
      .example('xvs trace sw0 --live --count 5 --match ipv4.dst=10.0.0.2', ''),
    async (a) => {
      const live = a.live === true;
      const timeoutMs = Math.round(Number(a.wait) * 1000);
      const traces = await call(a, 'trace', {
        switch: a.switch,
        ...(a.in ? { in: a.in } : {}),
        ...(live
          ? { live: true, count: a.count, timeoutMs, ...(a.match ? { match: a.match } : {}) }
          : { ...(a.frame ? { frame: a.frame } : {}), ...(a.packet ? { packet: a.packet } : {}) }),
      }, );
      if (a.json) return printJson(traces);
      if (traces.length === 0) return out('no matching frame passed within the wait time');
      out(traces.map(render).join('\n\n'));
    });
}
