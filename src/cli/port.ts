/** `xvs port add|remove|set|list|show`. */
import type { PortAddParams, PortSetParams } from '../control/protocol.js';
import { call, counts, keyValues, out, printJson, table, withJson, type Cli } from './common.js';

/**
 * `port set` options: one entry per PortSettings key (config/types.ts). `parse` turns the option's text into
 * the request's value (null: back to the default) or throws naming the option.
 */
const PORT_SET_OPTIONS = {
  macLimit: {
    flag: 'mac-limit',
    describe: 'most MAC addresses learned on the port (0..1048576; "default": the switch\'s port default)',
    parse: (v: string): number | null => {
      if (v === 'default') return null;
      const n = Number(v);
      if (v.trim() === '' || !Number.isInteger(n)) throw new Error(`--mac-limit: expected a number or "default", got "${v}"`);
      return n;
    },
  },
} as const;

export function portCommands(y: Cli): Cli {
  return y.command('port', 'add, remove, list and show ports', (py) =>
    py
      .command(
        'add <switch> <name>',
        'add a VM port: a TAP named <name> (created, or an existing one adopted), or an existing netdev (--netdev)',
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true, describe: 'port name (and TAP name)' })
            .option('netdev', { type: 'string', describe: 'use this existing netdev (e.g. a veth end)' })
            .option('allow-host-addresses', {
              type: 'boolean', default: false,
              describe: 'accept a netdev (or existing TAP) that carries host IP addresses: they are removed while it is a port and put back after',
            })
            .option('may-exist', { type: 'boolean', default: false, describe: 'no error if the port exists with this netdev' }),
        async (a) => {
          const params: PortAddParams = { switch: a.switch, name: a.name };
          if (a.netdev !== undefined) params.netdev = a.netdev;
          if (a.allowHostAddresses) params.allowHostAddresses = true;
          if (a.mayExist) params.mayExist = true;
          const v = await call(a, 'port.add', params);
          if (a.json) printJson(v);
          else if (v.unchanged) out(`port "${v.name}" (${v.netdev}) already on switch "${v.switch}" (unchanged)`);
          else out(`added port "${v.name}" (${v.netdev}) to switch "${v.switch}"`);
        },
      )
      .command(
        'remove <switch> <name>',
        'remove a port (refused while a VM still holds its TAP, unless --force)',
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true })
            .option('if-exists', { type: 'boolean', default: false, describe: 'no error if there is no such port' })
            .option('force', { type: 'boolean', default: false, describe: 'remove even if a process (QEMU) holds the TAP; it lasts until that process closes it' }),
        async (a) => {
          const r = await call(a, 'port.remove', {
            switch: a.switch, name: a.name, ...(a.ifExists ? { ifExists: true } : {}), ...(a.force ? { force: true } : {}),
          });
          if (a.json) printJson(r);
          else out(r.unchanged ? `no port "${r.name}" on switch "${r.switch}" (unchanged)` : `removed port "${r.name}" from switch "${r.switch}"`);
        },
      )
      .command(
        'set <switch> <name>',
        "change a VM port's settings in place (the VM keeps its link)",
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true })
            .option(PORT_SET_OPTIONS.macLimit.flag, { type: 'string', describe: PORT_SET_OPTIONS.macLimit.describe }),
        async (a) => {
          const params: PortSetParams = { switch: a.switch, name: a.name };
          if (a.macLimit !== undefined) params.macLimit = PORT_SET_OPTIONS.macLimit.parse(a.macLimit);
          if (Object.keys(params).length === 2) throw new Error(`name a setting: --${Object.values(PORT_SET_OPTIONS).map((o) => o.flag).join(', --')}`);
          const v = await call(a, 'port.set', params);
          if (a.json) printJson(v);
          else out(v.unchanged ? `port "${v.name}" of switch "${v.switch}" already has these settings (unchanged)` : `set port "${v.name}" of switch "${v.switch}"`);
        },
      )
      .command(
        'list <switch>',
        "list a switch's ports",
        (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }),
        async (a) => {
          const list = await call(a, 'port.list', { switch: a.switch });
          if (a.json) return printJson(list);
          out(
            table(
              ['NAME', 'KIND', 'NETDEV', 'INDEX', 'UP', 'STATE'],
              list.map((p) => [p.name, p.kind, p.netdev, p.index, p.up, p.running ? 'running' : 'down']),
            ),
          );
        },
      )
      .command(
        'show <switch> <name>',
        'show a port and its counters',
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true }),
        async (a) => {
          const p = await call(a, 'port.show', { switch: a.switch, name: a.name });
          if (a.json) return printJson(p);
          const s = p.stats;
          out(
            keyValues([
              ['switch', p.switch],
              ['name', p.name],
              ['kind', p.kind],
              ['netdev', p.netdev],
              ['index', p.index],
              ['up', p.up],
              ['state', p.running ? 'running' : 'down (see "xvs daemon status")'],
              ['rx', s ? `${s.rxPackets} packets, ${s.rxBytes} bytes` : null],
              ['tx', s ? `${s.txPackets} packets, ${s.txBytes} bytes` : null],
              ['tx-errors', s ? s.txErrors : null],
              ['drops', s ? counts(s.drops) : null],
              ['macs', s ? `${s.macs} learned, limit ${s.macLimit}, ${s.macLimitHits} not learned (limit hits)` : null],
            ]),
          );
        },
      )
      .demandCommand(1, 'name a port command: add, remove, set, list, show'),
  );
}
