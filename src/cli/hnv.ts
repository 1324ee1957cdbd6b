/**
 * `xvs hnv pa|record|route add|remove|list` and `xvs hnv show`: Hyper-V Network Virtualization policy
 * objects (the NetWNV cmdlets: New-NetVirtualizationProviderAddress, -LookupRecord, -CustomerRoute). The
 * CLI only maps options to a request; the daemon validates and names the field (`params.vsid: expected
 * 4096..16777214, got 12`).
 */
import type { Argv } from 'yargs';
import type { HnvCustomerRoute, HnvEncap, HnvLookupRecord, HnvProviderAddress, HnvRecordType } from '../config/types.js';
import type { HnvAddResult, HnvPaView, HnvRecordView, HnvRemoveResult, HnvShowResult } from '../control/protocol.js';
import { call, intOption, out, printJson, table, withJson, type Cli, type GlobalArgs } from './common.js';

function paRows(list: HnvPaView[]): string {
  if (list.length === 0) return 'no provider addresses';
  return table(['SWITCH', 'ADDRESS', 'VLAN', 'GATEWAY', 'HOST', 'LOCAL'],
    list.map((p) => [p.switch, `${p.address}/${p.prefixLength}`, p.vlanId ?? null, p.gateway ?? null, p.host ?? null, p.local]));
}

function recordRows(list: HnvRecordView[]): string {
  if (list.length === 0) return 'no lookup records';
  return table(['VSID', 'CA', 'MAC', 'PA', 'ENCAP', 'TYPE', 'WHERE'],
    list.map((r) => [r.vsid, r.ca, r.mac, r.pa, r.encap, r.type ?? 'static', r.location === 'local' ? 'local'
      : `remote${r.paHost !== undefined || r.paSwitch !== undefined ? ` (${[r.paHost, r.paSwitch].filter((x) => x !== undefined).join('/')})` : ''}`]));
}

function routeRows(list: HnvCustomerRoute[]): string {
  if (list.length === 0) return 'no customer routes';
  return table(['ROUTING-DOMAIN', 'VSID', 'PREFIX', 'NEXT-HOP', 'METRIC'],
    list.map((r) => [r.routingDomain, r.vsid, r.prefix, r.nextHop === '0.0.0.0' || r.nextHop === '::' ? `${r.nextHop} (on-link)` : r.nextHop, r.metric ?? 0]));
}

function showText(s: HnvShowResult): string {
  const src = s.source;
  const state = src.source === 'local' ? 'the local configuration document'
    : `etcd ${src.endpoints?.join(',') ?? ''} prefix ${src.prefix ?? ''}: ${src.connected ? 'connected' : `DISCONNECTED (forwarding with the last records)${src.lastError ? `: ${src.lastError}` : ''}`}`
      + `${src.lastSync !== undefined ? `, last sync ${new Date(src.lastSync).toISOString()}` : ''}`;
  const parts = [
    `source: ${state}`,
    `host:   ${s.host}`,
    '',
    'Provider addresses',
    paRows(s.providerAddresses),
    '',
    'Lookup records',
    recordRows(s.lookupRecords),
    '',
    'Customer routes',
    routeRows(s.customerRoutes),
    '',
    'Virtual subnets',
    s.vsids.length === 0 ? 'none' : table(['VSID', 'ROUTING-DOMAIN', 'RECORDS', 'PORTS', 'MTU', 'COUNTERS'], s.vsids.map((v) => [
      v.vsid, v.routingDomain, v.records, v.ports.join(' ') || null, v.mtu,
      v.counters ? Object.entries(v.counters).filter(([, n]) => n !== 0).map(([k, n]) => `${k}=${n}`).join(' ') || '-' : 'n/a',
    ])),
  ];
  if (s.nextHops !== null) {
    const rows = s.nextHops.flatMap((h) => h.entries.map((e) => [h.switch, e.pa, e.via, e.mac, e.state]));
    parts.push('', 'Next hops', rows.length === 0 ? 'none resolved' : table(['SWITCH', 'PA', 'VIA', 'MAC', 'STATE'], rows));
  }
  return parts.join('\n');
}

function added<T>(a: { json: boolean }, r: HnvAddResult<T>, what: string): void {
  if (a.json) return printJson(r);
  out(`${r.replaced ? 'replaced' : 'added'} ${what}`);
}

function removed(a: { json: boolean }, r: HnvRemoveResult, what: string): void {
  if (a.json) return printJson(r);
  out(r.removed ? `removed ${what}` : `no ${what} (unchanged)`);
}

const vsidOption = <T>(c: Argv<T>): Argv<T & { vsid: number }> =>
  c.option('vsid', { type: 'number', demandOption: true, describe: 'virtual subnet id (4096..16777214)' }) as Argv<T & { vsid: number }>;

/** `IP/LEN` → address and prefix length (the daemon checks both) */
export function splitAddress(v: string): { address: string; prefixLength: number } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v.trim());
  if (!m) throw new Error(`--address: expected IP/LEN such as 192.0.2.10/24, got "${v}"`);
  return { address: m[1], prefixLength: Number(m[2]) };
}

function paCommands<T extends GlobalArgs>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'add <switch>',
      "add a provider address on an external switch's uplink (New-NetVirtualizationProviderAddress)",
      (c) => withJson(c)
        .positional('switch', { type: 'string', demandOption: true, describe: 'an external switch' })
        .option('address', { type: 'string', demandOption: true, describe: 'IPv4 address and prefix length, e.g. 192.0.2.10/24' })
        .option('vlan-id', { type: 'number', describe: "the provider network's VLAN on the uplink (1..4094)" })
        .option('gateway', { type: 'string', describe: "next hop toward PAs outside the PA's subnet" })
        .option('host', { type: 'string', describe: 'etcd: the daemon that owns this PA (default: this one)' })
        .example('$0 hnv pa add sw0 --address 192.0.2.10/24', ''),
      async (a) => {
        const p: HnvProviderAddress = { switch: a.switch, ...splitAddress(a.address) };
        const vlanId = intOption('vlan-id', a.vlanId);
        if (vlanId !== undefined) p.vlanId = vlanId;
        if (a.gateway !== undefined) p.gateway = a.gateway;
        if (a.host !== undefined) p.host = a.host;
        const r = await call(a, 'hnv.pa.add', p);
        added(a, r, `provider address ${r.object.address}/${r.object.prefixLength} on switch "${r.object.switch}"`);
      },
    )
    .command(
      'remove <switch>',
      'remove a provider address',
      (c) => withJson(c)
        .positional('switch', { type: 'string', demandOption: true })
        .option('address', { type: 'string', demandOption: true, describe: 'the PA (a /LEN is ignored)' })
        .option('host', { type: 'string', describe: 'etcd: the daemon that owns it (default: this one)' })
        .option('if-exists', { type: 'boolean', default: false, describe: 'no error if there is no such PA' }),
      async (a) => {
        const address = a.address.split('/')[0];
        const r = await call(a, 'hnv.pa.remove', { switch: a.switch, address, ...(a.host !== undefined ? { host: a.host } : {}), ...(a.ifExists ? { ifExists: true } : {}) });
        removed(a, r, `provider address ${address} on switch "${a.switch}"`);
      },
    )
    .command('list', 'list the provider addresses', (c) => withJson(c), async (a) => {
      const l = await call(a, 'hnv.pa.list', {});
      if (a.json) return printJson(l);
      out(paRows(l));
    })
    .demandCommand(1, 'name a pa command: add, remove, list');
}

function recordCommands<T extends GlobalArgs>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'add',
      'add a lookup record: where a CA of a virtual subnet lives (New-NetVirtualizationLookupRecord); the same VSID and CA replaces (a VM moved)',
      (c) => vsidOption(withJson(c))
        .option('ca', { type: 'string', demandOption: true, describe: 'Customer Address (IPv4 or IPv6; 0.0.0.0 or :: with --type l2only)' })
        .option('mac', { type: 'string', demandOption: true, describe: "the CA's MAC" })
        .option('pa', { type: 'string', demandOption: true, describe: "the Provider Address of the VM's host" })
        .option('encap', { type: 'string', demandOption: true, describe: 'nvgre or vxlan' })
        .option('type', { type: 'string', describe: 'static (default) or l2only' })
        .example('$0 hnv record add --ca 10.1.0.5 --vsid 5001 --mac 02:00:00:00:50:01 --pa 192.0.2.10 --encap vxlan', ''),
      async (a) => {
        const r: HnvLookupRecord = { ca: a.ca, vsid: intOption('vsid', a.vsid)!, mac: a.mac, pa: a.pa, encap: a.encap as HnvEncap };
        if (a.type !== undefined) r.type = a.type as HnvRecordType;
        const res = await call(a, 'hnv.record.add', r);
        const o = res.object;
        added(a, res, `lookup record VSID ${o.vsid} CA ${o.ca} MAC ${o.mac} → PA ${o.pa} (${o.encap})`);
      },
    )
    .command(
      'remove',
      'remove a lookup record, named by VSID and CA (or MAC)',
      (c) => vsidOption(withJson(c))
        .option('ca', { type: 'string', describe: 'the CA of the record' })
        .option('mac', { type: 'string', describe: 'or its MAC (l2only records)' })
        .option('if-exists', { type: 'boolean', default: false, describe: 'no error if there is no such record' }),
      async (a) => {
        const r = await call(a, 'hnv.record.remove', {
          vsid: intOption('vsid', a.vsid)!, ...(a.ca !== undefined ? { ca: a.ca } : {}), ...(a.mac !== undefined ? { mac: a.mac } : {}), ...(a.ifExists ? { ifExists: true } : {}),
        });
        removed(a, r, `lookup record of VSID ${a.vsid} with ${a.ca !== undefined ? `CA ${a.ca}` : `MAC ${a.mac ?? ''}`}`);
      },
    )
    .command('list', 'list the lookup records (local or remote)', (c) => withJson(c), async (a) => {
      const l = await call(a, 'hnv.record.list', {});
      if (a.json) return printJson(l);
      out(recordRows(l));
    })
    .demandCommand(1, 'name a record command: add, remove, list');
}

function routeCommands<T extends GlobalArgs>(y: Argv<T>): Argv<T> {
  const keyOptions = <U>(c: Argv<U>) => vsidOption(c)
    .option('routing-domain', { type: 'string', demandOption: true, describe: "the tenant's routing domain (a name or GUID)" })
    .option('prefix', { type: 'string', demandOption: true, describe: 'the prefix, e.g. 10.1.0.0/24' });
  return y
    .command(
      'add',
      'add a customer route: a prefix of a virtual subnet in a routing domain (New-NetVirtualizationCustomerRoute)',
      (c) => keyOptions(withJson(c))
        .option('next-hop', { type: 'string', demandOption: true, describe: '0.0.0.0 or :: (on-link), or a CA to route through' })
        .option('metric', { type: 'number', describe: 'lower wins (default 0)' })
        .example('$0 hnv route add --routing-domain tenant-a --vsid 5001 --prefix 10.1.0.0/24 --next-hop 0.0.0.0', ''),
      async (a) => {
        const r: HnvCustomerRoute = { routingDomain: a.routingDomain, vsid: intOption('vsid', a.vsid)!, prefix: a.prefix, nextHop: a.nextHop };
        const metric = intOption('metric', a.metric);
        if (metric !== undefined) r.metric = metric;
        const res = await call(a, 'hnv.route.add', r);
        added(a, res, `customer route ${res.object.prefix} via ${res.object.nextHop} in VSID ${res.object.vsid} (routing domain "${res.object.routingDomain}")`);
      },
    )
    .command(
      'remove',
      'remove a customer route',
      (c) => keyOptions(withJson(c)).option('if-exists', { type: 'boolean', default: false, describe: 'no error if there is no such route' }),
      async (a) => {
        const r = await call(a, 'hnv.route.remove', { routingDomain: a.routingDomain, vsid: intOption('vsid', a.vsid)!, prefix: a.prefix, ...(a.ifExists ? { ifExists: true } : {}) });
        removed(a, r, `customer route ${a.prefix} of VSID ${a.vsid}`);
      },
    )
    .command('list', 'list the customer routes', (c) => withJson(c), async (a) => {
      const l = await call(a, 'hnv.route.list', {});
      if (a.json) return printJson(l);
      out(routeRows(l));
    })
    .demandCommand(1, 'name a route command: add, remove, list');
}

export function hnvCommands(y: Cli): Cli {
  return y.command('hnv', 'Hyper-V Network Virtualization: provider addresses, lookup records, customer routes', (hy) => hy
    .command('pa', 'provider addresses (PAs) of external switches', (c) => paCommands(c), () => {})
    .command('record', 'lookup records: CA → PA of a virtual subnet', (c) => recordCommands(c), () => {})
    .command('route', 'customer routes of routing domains', (c) => routeCommands(c), () => {})
    .command('show', 'the policy source (local or etcd) and its state, PAs, records, routes, virtual subnets', (c) => withJson(c), async (a) => {
      const s = await call(a, 'hnv.show', {});
      if (a.json) return printJson(s);
      out(showText(s));
    })
    .demandCommand(1, 'name an hnv command: pa, record, route, show'));
}
