/**
 * `xvs acl add|remove|list` (port ACLs: Add-/Remove-/Get-VMNetworkAdapterAcl) and `xvs acl extended
 * add|remove|list` (Add-/Remove-/Get-VMNetworkAdapterExtendedAcl, keyed by weight and direction).
 */
import type { Argv } from 'yargs';
import type { AclParams, ExtendedAclParams } from '../control/protocol.js';
import type { ExtendedAcl, PortAcl } from '../config/types.js';
import { call, out, printJson, table, withJson, type Cli } from './common.js';

const ADDRESS_OPTIONS = {
  'local-ip-address': { key: 'localIPAddress', describe: "the VM's side: an IPv4/IPv6 host or prefix (10.0.0.0/8, f001::/64) or any" },
  'remote-ip-address': { key: 'remoteIPAddress', describe: 'the far side: an IPv4/IPv6 host or prefix or any' },
  'local-mac-address': { key: 'localMacAddress', describe: "the VM's side: a MAC (00-ab-00-11-22-33 or 00:ab:…) or any" },
  'remote-mac-address': { key: 'remoteMacAddress', describe: 'the far side: a MAC or any' },
} as const;

const portArgs = <T>(c: Argv<T>) => withJson(c).positional('switch', { type: 'string', demandOption: true }).positional('name', { type: 'string', demandOption: true });

function aclOptions<T>(c: Argv<T>) {
  let y = portArgs(c)
    .option('action', { type: 'string', choices: ['allow', 'deny', 'meter'], demandOption: true, describe: 'meter counts the traffic (xvs port meter); it must be IP-based' })
    .option('direction', { type: 'string', choices: ['inbound', 'outbound', 'both'], demandOption: true, describe: 'inbound: to the VM; outbound: from it' });
  for (const [flag, o] of Object.entries(ADDRESS_OPTIONS)) y = y.option(flag, { type: 'string', describe: o.describe });
  return y;
}

function aclParams(a: Record<string, unknown> & { switch: string; name: string; action: string; direction: string }): AclParams {
  const p: Record<string, unknown> = { switch: a.switch, name: a.name, action: a.action, direction: a.direction };
  const given = Object.entries(ADDRESS_OPTIONS).filter(([flag]) => a[flag] !== undefined);
  if (given.length !== 1) throw new Error(`give exactly one address: --${Object.keys(ADDRESS_OPTIONS).join(', --')}`);
  for (const [flag, o] of given) p[o.key] = a[flag];
  return p as unknown as AclParams;
}

function aclTable(list: PortAcl[]): string {
  if (list.length === 0) return 'no ACL entries';
  return table(['#', 'ACTION', 'DIRECTION', 'LOCAL', 'REMOTE'], list.map((e, i) => [
    i, e.action, e.direction, e.localIPAddress ?? e.localMacAddress, e.remoteIPAddress ?? e.remoteMacAddress,
  ]));
}

function extendedTable(list: ExtendedAcl[]): string {
  if (list.length === 0) return 'no extended ACL entries';
  return table(['WEIGHT', 'DIRECTION', 'ACTION', 'PROTOCOL', 'LOCAL', 'LOCAL-PORT', 'REMOTE', 'REMOTE-PORT', 'STATEFUL', 'IDLE-TIMEOUT'], list.map((e) => [
    e.weight, e.direction, e.action, e.protocol ?? 'any', e.localIPAddress ?? 'any', e.localPort ?? 'any', e.remoteIPAddress ?? 'any', e.remotePort ?? 'any',
    e.stateful === true, e.stateful ? `${e.idleSessionTimeout ?? 255} s` : null,
  ]));
}

function extendedCommands(ey: Cli): Cli {
  return ey
    .command(
      'add <switch> <name>',
      'add an extended ACL entry: larger weight first, first match final (Add-VMNetworkAdapterExtendedAcl)',
      (c) => portArgs(c)
        .option('action', { type: 'string', choices: ['allow', 'deny'], demandOption: true })
        .option('direction', { type: 'string', choices: ['inbound', 'outbound'], demandOption: true, describe: 'one direction per entry (there is no both)' })
        .option('weight', { type: 'string', demandOption: true, describe: 'order: larger first (1..65535); with direction, the entry\'s key' })
        .option('protocol', { type: 'string', describe: 'tcp, udp, icmp, icmpv6 or a protocol number (default: any)' })
        .option('local-ip-address', { type: 'string', describe: "the VM's side: host, prefix or any" })
        .option('remote-ip-address', { type: 'string', describe: 'the far side: host, prefix or any' })
        .option('local-port', { type: 'string', describe: 'tcp/udp: a port or range, e.g. 80 or 49152-49182' })
        .option('remote-port', { type: 'string', describe: 'tcp/udp: a port or range' })
        .option('stateful', { type: 'boolean', describe: 'allow entries: let the replies of a matching flow through' })
        .option('idle-session-timeout', { type: 'string', describe: 'stateful: seconds a flow lives without traffic (default 255)' })
        .example('$0 acl extended add sw0 vm1 --action deny --direction inbound --weight 1', 'deny everything inbound...')
        .example('$0 acl extended add sw0 vm1 --action allow --direction inbound --weight 10 --protocol tcp --local-port 22', '...but ssh'),
      async (a) => {
        const p: Record<string, unknown> = { switch: a.switch, name: a.name, action: a.action, direction: a.direction, weight: num(a.weight, 'weight') };
        if (a.protocol !== undefined) p.protocol = a.protocol;
        if (a.localIpAddress !== undefined) p.localIPAddress = a.localIpAddress;
        if (a.remoteIpAddress !== undefined) p.remoteIPAddress = a.remoteIpAddress;
        if (a.localPort !== undefined) p.localPort = a.localPort;
        if (a.remotePort !== undefined) p.remotePort = a.remotePort;
        if (a.stateful !== undefined) p.stateful = a.stateful;
        if (a.idleSessionTimeout !== undefined) p.idleSessionTimeout = num(a.idleSessionTimeout, 'idle-session-timeout');
        const r = await call(a, 'acl.extended.add', p as unknown as ExtendedAclParams);
        if (a.json) return printJson(r);
        out(r.unchanged ? 'the entry is there already (unchanged)' : `added; port "${r.name}" of switch "${r.switch}" has ${r.extendedAcls.length} extended ACL entries`);
      },
    )
    .command(
      'remove <switch> <name>',
      'remove the extended ACL entry with this weight and direction',
      (c) => portArgs(c)
        .option('weight', { type: 'string', demandOption: true })
        .option('direction', { type: 'string', choices: ['inbound', 'outbound'], demandOption: true }),
      async (a) => {
        const r = await call(a, 'acl.extended.remove', { switch: a.switch, name: a.name, weight: num(a.weight, 'weight'), direction: a.direction as ExtendedAcl['direction'] });
        if (a.json) return printJson(r);
        out(`removed; port "${r.name}" of switch "${r.switch}" has ${r.extendedAcls.length} extended ACL entries`);
      },
    )
    .command(
      'list <switch> <name>',
      "a port's extended ACL entries, in evaluation order",
      (c) => portArgs(c),
      async (a) => {
        const list = await call(a, 'acl.extended.list', { switch: a.switch, name: a.name });
        if (a.json) return printJson(list);
        out(extendedTable(list));
      },
    )
    .demandCommand(1, 'name an extended ACL command: add, remove, list');
}

function num(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n)) throw new Error(`--${flag}: expected a whole number, got "${v}"`);
  return n;
}

export function aclCommands(y: Cli): Cli {
  return y.command('acl', "a port's ACLs: allow, deny or meter by address; extended ACLs by protocol and port", (ay) =>
    ay
      .command(
        'add <switch> <name>',
        'add a port ACL entry (Add-VMNetworkAdapterAcl): the longest matching prefix of a direction decides; an entry for the same address and direction is replaced',
        (c) => aclOptions(c)
          .example('$0 acl add sw0 vm1 --action deny --direction both --remote-ip-address 10.0.0.0/8', '')
          .example('$0 acl add sw0 vm1 --action meter --direction both --remote-ip-address 0.0.0.0/0', 'count for xvs port meter'),
        async (a) => {
          const r = await call(a, 'acl.add', aclParams(a as unknown as Parameters<typeof aclParams>[0]));
          if (a.json) return printJson(r);
          out(r.unchanged ? 'the entry is there already (unchanged)' : `added; port "${r.name}" of switch "${r.switch}" has ${r.acls.length} ACL entries`);
        },
      )
      .command(
        'remove <switch> <name>',
        'remove the port ACL entry with this action, direction and address (Remove-VMNetworkAdapterAcl)',
        (c) => aclOptions(c),
        async (a) => {
          const r = await call(a, 'acl.remove', aclParams(a as unknown as Parameters<typeof aclParams>[0]));
          if (a.json) return printJson(r);
          out(`removed; port "${r.name}" of switch "${r.switch}" has ${r.acls.length} ACL entries`);
        },
      )
      .command(
        'list <switch> <name>',
        "a port's ACL entries",
        (c) => portArgs(c),
        async (a) => {
          const list = await call(a, 'acl.list', { switch: a.switch, name: a.name });
          if (a.json) return printJson(list);
          out(aclTable(list));
        },
      )
      .command('extended', 'extended port ACLs: protocol, addresses, ports, weight, stateful', (ey) => extendedCommands(ey as Cli))
      .demandCommand(1, 'name an ACL command: add, remove, list, extended'),
  );
}
