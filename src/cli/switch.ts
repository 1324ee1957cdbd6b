/** `xvs switch create|delete|list|show`. */
import type { PortIoKind, SwitchType } from '../config/types.js';
import { ioText } from './port.js';
import type { SwitchCreateParams, SwitchView } from '../control/protocol.js';
import { call, intOption, keyValues, out, printJson, table, withJson, type Cli } from './common.js';
import { switchSetCommand } from './vmq.js';

export function describeSwitch(v: SwitchView): string {
  const c = v.config;
  const head = keyValues([
    ['name', c.name],
    ['type', c.type],
    ['state', v.running ? 'running' : 'down (see "xvs daemon status")'],
    ['uplink', c.uplink],
    ...(c.uplinkIo === 'pcap' ? [['uplink-io', ioText({ ...(v.ports.find((p) => p.kind === 'external') ?? { netdev: c.uplink ?? '' }), io: 'pcap' })] as [string, string]] : []),
    ['allow-management-os', c.allowManagementOs],
    ['host-port', c.hostPort],
    ['mac-aging', `${c.macAgingSeconds} s`],
    ['mac-limit', c.macTableLimit],
    ['mac-port-limit', c.macPortLimit ?? 'default'],
    ...(c.uplinkBandwidth ? [['uplink-bandwidth', `${c.uplinkBandwidth} bit/s`] as [string, string]] : []),
    ['workers', c.workers],
  ]);
  const ports = table(
    ['PORT', 'KIND', 'NETDEV', 'INDEX', 'UP', 'IO'],
    v.ports.map((p) => [p.name, p.kind, p.netdev, p.index, p.up, p.kind === 'internal' ? 'tap' : (p.io ?? 'afpacket')]),
  );
  // supervision (workers/watchdog.ts): shown once a worker was restarted
  const restarted = (v.workers ?? []).filter((w) => w.restarts > 0);
  const workers = restarted.length === 0 ? '' : `\n\n${table(
    ['WORKER', 'RESTARTS', 'LAST', 'CAUSE'],
    restarted.map((w) => [w.worker, w.restarts, w.at ?? '-', w.lastCause ?? '-']),
  )}`;
  return `${head}\n\n${ports}${workers}`;
}

export function switchCommands(y: Cli): Cli {
  return y.command('switch', 'create, delete, list, show and set switches', (sy) =>
    switchSetCommand(sy)
      .command(
        'create <name>',
        'create a switch',
        (c) =>
          withJson(c)
            .positional('name', { type: 'string', demandOption: true, describe: 'switch name (≤ 15 chars)' })
            .option('type', { type: 'string', demandOption: true, describe: 'private | internal | external' })
            .option('uplink', { type: 'string', describe: 'external: the NIC or veth to bind' })
            .option('uplink-io', {
              type: 'string', choices: ['afpacket', 'pcap'],
              describe: 'external: how the switch reads and writes the uplink: afpacket (default) or pcap (libpcap; the uplink\'s offloads are turned off)',
            })
            .option('allow-management-os', { type: 'boolean', describe: 'external: share the uplink with the host' })
            .option('host-port', { type: 'string', describe: 'host port netdev name (default <name>-host)' })
            .option('mac-aging', { type: 'number', describe: 'MAC aging time in seconds (default 300)' })
            .option('mac-limit', { type: 'number', describe: 'most MAC addresses learned (default 8192)' })
            .option('mac-port-limit', { type: 'number', describe: 'most MACs learned per VM or host port (default 1024, at most half the table)' })
            .option('uplink-bandwidth', { type: 'number', describe: 'external: the uplink capacity in bits/s that the ports\' bandwidth weights divide (default none: weights inactive)' })
            .option('workers', { type: 'number', describe: 'data-path worker threads (default 1)' })
            .option('may-exist', { type: 'boolean', default: false, describe: 'no error if it exists with these settings' }),
        async (a) => {
          const params: SwitchCreateParams = { name: a.name, type: a.type as SwitchType };
          if (a.uplink !== undefined) params.uplink = a.uplink;
          if (a.uplinkIo !== undefined) params.uplinkIo = a.uplinkIo as PortIoKind;
          if (a.allowManagementOs !== undefined) params.allowManagementOs = a.allowManagementOs;
          if (a.hostPort !== undefined) params.hostPort = a.hostPort;
          const aging = intOption('mac-aging', a.macAging);
          if (aging !== undefined) params.macAgingSeconds = aging;
          const limit = intOption('mac-limit', a.macLimit);
          if (limit !== undefined) params.macTableLimit = limit;
          const portLimit = intOption('mac-port-limit', a.macPortLimit);
          if (portLimit !== undefined) params.macPortLimit = portLimit;
          const uplinkBandwidth = intOption('uplink-bandwidth', a.uplinkBandwidth);
          if (uplinkBandwidth !== undefined) params.uplinkBandwidth = uplinkBandwidth;
          const workers = intOption('workers', a.workers);
          if (workers !== undefined) params.workers = workers;
          if (a.mayExist) params.mayExist = true;
          const v = await call(a, 'switch.create', params);
          if (a.json) printJson(v);
          else if (v.unchanged) out(`switch "${v.config.name}" already exists (unchanged)`);
          else {
            const host = v.config.hostPort ? `, host port ${v.config.hostPort}` : '';
            const up = v.config.uplink ? `, uplink ${v.config.uplink}${v.config.uplinkIo === 'pcap' ? ' through libpcap' : ''}` : '';
            out(`created switch "${v.config.name}" (${v.config.type}${up}${host})`);
            const uplink = v.ports.find((p) => p.kind === 'external' && p.io === 'pcap');
            if (uplink) out(`  uplink io ${ioText(uplink)}; they are turned back on when the switch goes`);
          }
        },
      )
      .command(
        'delete <name>',
        'delete a switch and its ports',
        (c) =>
          withJson(c)
            .positional('name', { type: 'string', demandOption: true })
            .option('if-exists', { type: 'boolean', default: false, describe: 'no error if there is no such switch' }),
        async (a) => {
          const r = await call(a, 'switch.delete', { name: a.name, ...(a.ifExists ? { ifExists: true } : {}) });
          if (a.json) printJson(r);
          else out(r.unchanged ? `no switch "${r.name}" (unchanged)` : `deleted switch "${r.name}"`);
        },
      )
      .command(
        'list',
        'list switches',
        (c) => withJson(c),
        async (a) => {
          const list = await call(a, 'switch.list', {});
          if (a.json) return printJson(list);
          out(
            table(
              ['NAME', 'TYPE', 'UPLINK', 'HOST-PORT', 'PORTS', 'WORKERS', 'STATE'],
              list.map((v) => [
                v.config.name,
                v.config.type,
                v.config.uplink,
                v.config.hostPort,
                v.config.ports.length,
                v.config.workers,
                v.running ? 'running' : 'down',
              ]),
            ),
          );
        },
      )
      .command(
        'show <name>',
        'show a switch: config and ports',
        (c) => withJson(c).positional('name', { type: 'string', demandOption: true }),
        async (a) => {
          const v = await call(a, 'switch.show', { name: a.name });
          if (a.json) printJson(v);
          else out(describeSwitch(v));
        },
      )
      .demandCommand(1, 'name a switch command: create, delete, list, show, set'),
  );
}
