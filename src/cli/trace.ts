/**
 * `xvs trace SWITCH --in PORT --frame HEX|--packet 'eth(...),ipv4(...),tcp(...)'` runs a synthetic frame
 * through the live pipeline without sending it; `xvs trace SWITCH --live --count N [--match EXPR]`
 * records real frames as they pass and prints each one as it arrives. Both print every stage with its
 * verdict and drop reason, and a verdict line naming the stage and reason that decided it.
 *
 * Live frames reach the CLI by polling: `trace.start` starts the trace in the daemon, `trace.poll`
 * (every POLL_MS) returns the frames recorded since the last poll. The control protocol answers each
 * request with exactly one line, and polling keeps it so (a streamed reply would be the only
 * multi-line answer, and a client that stops reading would hold the daemon's buffers).
 */
import type { TraceView } from '../switch/manager-api.js';
import { call, out, type Cli } from './common.js';

const POLL_MS = 150;

function render(t: TraceView): string {
  const lines = [`frame on ${t.inPort}: ${t.packet}`];
  for (const s of t.steps) {
    const dest = s.destinations ? ` → ${s.destinations.length ? s.destinations.join(', ') : '(none)'}` : '';
    const down = s.down?.length ? ` (link down: ${s.down.join(', ')})` : '';
    lines.push(`  ${s.direction.padEnd(8)} ${`${s.kind}:${s.stage}`.padEnd(26)} ${s.verdict}${s.reason ? ` (${s.reason})` : ''}${dest}${down}`);
  }
  lines.push(`verdict: ${t.summary}`);
  return lines.join('\n');
}

function seconds(name: string, v: unknown, max: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`--${name}: expected seconds, more than 0 and at most ${max}, got ${String(v)}`);
  return n;
}

export function traceCommands(y: Cli): Cli {
  return y.command('trace <switch>', 'why was my frame dropped? trace a frame through the pipeline',
    (c) => c
      .option('json', { type: 'boolean', default: false, describe: 'print the raw JSON result (live: one JSON object per line, as each frame arrives)' })
      .positional('switch', { type: 'string', demandOption: true })
      .option('in', { type: 'string', describe: 'port the frame enters on (live: only frames from this port)' })
      .option('frame', { type: 'string', describe: 'the frame in hex' })
      .option('packet', { type: 'string', describe: "the frame as eth(src=…,dst=…),ipv4(src=…,dst=…),tcp(dst=80)" })
      .option('live', { type: 'boolean', default: false, describe: 'trace the next real frames instead, printing each as it arrives' })
      .option('count', { type: 'number', default: 1, describe: 'live: stop after this many frames' })
      .option('match', { type: 'string', describe: 'live: only frames matching, e.g. ipv4.dst=10.231.77.12,tcp.dst=80' })
      .option('wait', { type: 'number', default: 10, describe: 'live: give up after this many seconds (exit status 1 if no frame matched)' })
      .example("xvs trace sw0 --in vm1 --packet 'eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=10.231.77.11,dst=10.231.77.12),tcp(dst=80)'", '')
      .example('xvs trace sw0 --live --count 5 --match ipv4.dst=10.231.77.12 --wait 30', ''),
    async (a) => {
      if (a.live !== true) {
        const traces = await call(a, 'trace', {
          switch: a.switch, ...(a.in ? { in: a.in } : {}), ...(a.frame ? { frame: a.frame } : {}), ...(a.packet ? { packet: a.packet } : {}),
        });
        if (a.json) return out(JSON.stringify(traces, null, 2));
        return out(traces.map(render).join('\n\n'));
      }
      const wait = seconds('wait', a.wait, 600);
      const { session } = await call(a, 'trace.start', {
        switch: a.switch, count: a.count, timeoutMs: Math.round(wait * 1000), ...(a.in ? { in: a.in } : {}), ...(a.match ? { match: a.match } : {}),
      });
      process.stderr.write(`xvs: tracing the next ${String(a.count)} frame(s) on ${a.switch} for up to ${wait} s\n`);
      // Ctrl-C ends the trace in the daemon too
      const stop = (): void => {
        void call(a, 'trace.stop', { session }).catch(() => undefined).finally(() => process.exit(130));
      };
      process.once('SIGINT', stop);
      let from = 0;
      let printed = 0;
      for (;;) {
        const r = await call(a, 'trace.poll', { session, from });
        for (const t of r.frames) {
          out(a.json ? JSON.stringify(t) : `${printed > 0 ? '\n' : ''}${render(t)}`);
          printed++;
        }
        from = r.next;
        if (r.done) break;
        await new Promise((res) => setTimeout(res, POLL_MS));
      }
      process.removeListener('SIGINT', stop);
      if (printed === 0) {
        process.stderr.write(`xvs: no matching frame passed within ${wait} s\n`);
        process.exitCode = 1;
      } else if (printed < Number(a.count)) {
        process.stderr.write(`xvs: ${printed} of ${String(a.count)} frames matched within ${wait} s\n`);
      }
    });
}
