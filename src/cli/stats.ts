/** `xvs stats SWITCH`: per-port counters, drops by reason, MAC table and worker counters. */
import type { SwitchStats } from '../switch/manager-api.js';
import { call, counts, out, printJson, table, withJson, type Cli } from './common.js';

export function describeStats(s: SwitchStats): string {
  const ports = table(
    ['PORT', 'KIND', 'NETDEV', 'RX-PKTS', 'RX-BYTES', 'TX-PKTS', 'TX-BYTES', 'TX-ERRORS', 'MACS', 'MAC-LIMIT-HITS', 'DROPS'],
    s.ports.map((p) => [
      p.name, p.kind, p.netdev, p.rxPackets, p.rxBytes, p.txPackets, p.txBytes, p.txErrors, `${p.macs}/${p.macLimit}`, p.macLimitHits, counts(p.drops),
    ]),
  );
  const withPolicy = s.ports.filter((p) => Object.keys(p.policy ?? {}).length > 0);
  const policy = withPolicy.length === 0 ? [] : ['', table(['PORT', 'POLICY COUNTERS'], withPolicy.map((p) => [p.name, counts(p.policy)]))];
  const f = s.fdb;
  const fdb =
    `fdb: ${f.entries}/${f.limit} entries, learned ${f.learned}, moves ${f.moves}, ` +
    `limit hits ${f.limitHits}, port limit hits ${f.portLimitHits}, aged ${f.aged}`;
  const workers = table(
    ['WORKER', 'TID', 'CPU', 'BREATHS', 'BATCHES', 'IDLE-POLLS', 'COALESCE-WAITS', 'RESTARTS', 'LAST-CAUSE'],
    s.workers.map((w) => [w.index, w.tid, w.cpu, w.breaths, w.batches, w.idlePolls, w.coalesceWaits, w.restarts ?? 0, w.lastCause ?? '-']),
  );
  return [`switch ${s.name} (${s.type})`, '', ports, ...policy, '', `drops: ${counts(s.drops)}`, fdb, '', workers].join('\n');
}

export function statsCommands(y: Cli): Cli {
  return y.command(
    'stats <switch>',
    "show a switch's counters",
    (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }),
    async (a) => {
      const s = await call(a, 'stats', { switch: a.switch });
      if (a.json) printJson(s);
      else out(describeStats(s));
    },
  );
}
