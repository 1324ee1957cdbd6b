/**
 * One HNV host's set-up: the code both the lab's HNV stage (src/lab/hnv.ts, for each namespace "host")
 * and the Vagrant boxes (vagrant/provision.sh, inside each box) run, as the same command line:
 *
 *   node dist/src/lab/hnv-host.js --host 0|1 --uplink IFACE [--socket SOCK] [--netns HOST_NS]
 *                                 [--vm-prefix xvslh] [--qemu] [--ping SECONDS]
 *
 * On host H (a daemon already listening on SOCK, in namespace HOST_NS or, without --netns, in this one):
 *   1. each namespace VM of H (table ENDPOINTS): namespace <vm-prefix>-<r|b><H>, a veth whose end "eth0"
 *      in it has the VM's MAC, CA/24 and its tenant's MTU, and whose other end (named after the tenant)
 *      is the VM port in the host
 *   2. external switch "hnv" on the uplink, Provider Address PA[H]/24 on it
 *   3. VM ports "red" and "blue" (and, with --qemu, a TAP "vm" for the QEMU VM the caller starts), each
 *      with its tenant's VSID and the VM's MAC as static MAC
 *   4. the lookup records of every VM of both hosts, one on-link customer route per tenant
 * With --ping N it then pings, from each of its namespace VMs, the same tenant's VM on the other host,
 * retrying for up to N seconds (the other host may still be provisioning), and fails if one never answers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LAB_CLI, distSrc } from '../repo-root.js';
import { sh } from './netlab.js';

export type Tenant = 'red' | 'blue';

export interface HnvEndpoint {
  readonly name: string;
  readonly tenant: Tenant;
  /** host index (0, 1) */
  readonly host: number;
  readonly ca: string;
  readonly mac: string;
  readonly kind: 'netns' | 'qemu';
}

export const TENANTS: Readonly<Record<Tenant, { vsid: number; encap: 'nvgre' | 'vxlan'; mtu: number }>> = {
  red: { vsid: 5001, encap: 'nvgre', mtu: 1458 },
  blue: { vsid: 6001, encap: 'vxlan', mtu: 1450 },
};
/** the Provider Addresses of host 0 and host 1 (lab underlay bridge, or the Vagrant private network) */
export const PA = ['10.78.100.1', '10.78.100.2'] as const;
export const PA_LEN = 24;
export const HNV_SWITCH = 'hnv';
/** the namespace prefix of the VMs when none is given (the lab's and the boxes') */
export const DEFAULT_VM_PREFIX = 'xvslh';
/** this module compiled: the entry point the lab and vagrant/provision.sh both run */
export const HNV_HOST_JS = path.join(distSrc, 'lab', 'hnv-host.js');

export const ENDPOINTS: readonly HnvEndpoint[] = [
  { name: 'red-h0', tenant: 'red', host: 0, ca: '10.0.0.11', mac: '02:00:0a:00:00:0b', kind: 'netns' },
  { name: 'red-h1', tenant: 'red', host: 1, ca: '10.0.0.12', mac: '02:00:0a:00:00:0c', kind: 'netns' },
  { name: 'red-vm', tenant: 'red', host: 0, ca: '10.0.0.21', mac: '52:54:00:0a:00:15', kind: 'qemu' },
  { name: 'blue-h0', tenant: 'blue', host: 0, ca: '10.0.0.11', mac: '02:00:0a:00:00:0b', kind: 'netns' },
  { name: 'blue-h1', tenant: 'blue', host: 1, ca: '10.0.0.12', mac: '02:00:0a:00:00:0c', kind: 'netns' },
  { name: 'blue-vm', tenant: 'blue', host: 1, ca: '10.0.0.22', mac: '52:54:00:0a:00:16', kind: 'qemu' },
];

/** the namespace of a namespace VM: <prefix>-r0, -b0, -r1, -b1 */
export const vmNetns = (prefix: string, e: HnvEndpoint): string => `${prefix}-${e.tenant[0]}${e.host}`;
/** the VM port of an endpoint on its host: the veth named after the tenant, or the QEMU VM's TAP */
export const vmPort = (e: HnvEndpoint): string => (e.kind === 'netns' ? e.tenant : 'vm');

/** a fresh namespace with loopback up and IPv6 off (no router solicitations in the counters) */
export function netnsAdd(ns: string): void {
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** `ip` in the host's namespace (hostNs) or in this one */
const ipIn = (hostNs: string | undefined, args: string[]): string => sh('ip', hostNs === undefined ? args : ['-n', hostNs, ...args]);

/** a namespace VM: its namespace, and a veth from it into the host (replaces one left by an earlier run) */
export function addNetnsVm(e: HnvEndpoint, vmPrefix: string, hostNs: string | undefined): void {
  const ns = vmNetns(vmPrefix, e);
  if (existsSync(path.join('/run/netns', ns))) sh('ip', ['netns', 'del', ns]);
  netnsAdd(ns);
  sh('ip', ['link', 'add', e.tenant, ...(hostNs === undefined ? [] : ['netns', hostNs]), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', e.mac, 'mtu', String(TENANTS[e.tenant].mtu)]);
  sh('ip', ['-n', ns, 'addr', 'add', `${e.ca}/24`, 'dev', 'eth0']);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  ipIn(hostNs, ['link', 'set', 'dev', e.tenant, 'up']);
}

export interface HnvHostOptions {
  /** 0 or 1 */
  readonly host: number;
  /** the external switch's uplink, in the host's namespace */
  readonly uplink: string;
  /** the host daemon's control socket */
  readonly socket: string;
  /** the host's namespace (the lab); undefined: this namespace (a Vagrant box) */
  readonly hostNs?: string;
  readonly vmPrefix: string;
  /** include the QEMU VMs: a TAP port "vm" on this host, and both QEMU VMs' lookup records */
  readonly qemu: boolean;
  readonly log?: (line: string) => void;
}

/** the VMs both hosts know about */
export const hnvEndpoints = (qemu: boolean): HnvEndpoint[] => ENDPOINTS.filter((e) => qemu || e.kind === 'netns');

/** the xvs CLI commands (arguments after `xvs --socket SOCK`) that configure host `host` */
export function hnvHostCommands(host: number, uplink: string, qemu: boolean): string[][] {
  const eps = hnvEndpoints(qemu);
  const cmds: string[][] = [
    ['switch', 'create', HNV_SWITCH, '--type', 'external', '--uplink', uplink],
    ['hnv', 'pa', 'add', HNV_SWITCH, '--address', `${PA[host]}/${PA_LEN}`],
  ];
  for (const e of eps.filter((x) => x.host === host)) {
    // a netns VM's port is its veth; a QEMU VM's a TAP that xvs creates in the host's namespace
    cmds.push(e.kind === 'netns' ? ['port', 'add', HNV_SWITCH, vmPort(e), '--netdev', vmPort(e)] : ['port', 'add', HNV_SWITCH, vmPort(e)]);
    // the VM's own MAC set on its port, as Hyper-V does (Set-VMNetworkAdapter -StaticMacAddress):
    // both tenants use the same MACs, so the switch must not have to learn which port has one
    cmds.push(['port', 'set', HNV_SWITCH, vmPort(e), '--virtual-subnet-id', String(TENANTS[e.tenant].vsid), '--static-mac', e.mac]);
  }
  for (const e of eps) {
    const t = TENANTS[e.tenant];
    cmds.push(['hnv', 'record', 'add', '--ca', e.ca, '--vsid', String(t.vsid), '--mac', e.mac, '--pa', PA[e.host], '--encap', t.encap]);
  }
  for (const tenant of ['red', 'blue'] as const) {
    cmds.push(['hnv', 'route', 'add', '--routing-domain', tenant, '--vsid', String(TENANTS[tenant].vsid), '--prefix', '10.0.0.0/24', '--next-hop', '0.0.0.0']);
  }
  return cmds;
}

function xvs(socket: string, args: string[]): string {
  const r = spawnSync(process.execPath, [LAB_CLI, '--socket', socket, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`xvs ${args.join(' ')}: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`);
  return r.stdout;
}

/** steps 1-4 of the header on one host */
export function configureHnvHost(o: HnvHostOptions): void {
  const log = o.log ?? ((): void => undefined);
  if (o.host !== 0 && o.host !== 1) throw new Error(`--host: expected 0 or 1, got ${o.host}`);
  for (const e of hnvEndpoints(o.qemu).filter((x) => x.host === o.host && x.kind === 'netns')) {
    addNetnsVm(e, o.vmPrefix, o.hostNs);
    log(`namespace VM ${e.name}: ${vmNetns(o.vmPrefix, e)} ${e.ca} ${e.mac} on port ${vmPort(e)}`);
  }
  for (const c of hnvHostCommands(o.host, o.uplink, o.qemu)) {
    xvs(o.socket, c);
    log(`xvs ${c.join(' ')}`);
  }
}

/** from each namespace VM of `host`, ping its tenant's VM on the other host until it answers or `seconds` pass */
export async function pingPeers(host: number, vmPrefix: string, seconds: number, log: (line: string) => void): Promise<boolean> {
  let ok = true;
  for (const src of ENDPOINTS.filter((e) => e.host === host && e.kind === 'netns')) {
    const dst = ENDPOINTS.find((e) => e.tenant === src.tenant && e.host !== host && e.kind === 'netns');
    if (dst === undefined) continue;
    const until = Date.now() + seconds * 1000;
    let answered = false;
    for (;;) {
      answered = spawnSync('ip', ['netns', 'exec', vmNetns(vmPrefix, src), 'ping', '-c', '3', '-i', '0.2', '-W', '1', dst.ca], { stdio: 'ignore', timeout: 30_000 }).status === 0;
      if (answered || Date.now() >= until) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    log(`ping ${src.name} (${src.ca}) -> ${dst.name} (${dst.ca}) over ${TENANTS[src.tenant].encap}: ${answered ? 'answered' : 'NO ANSWER'}`);
    ok &&= answered;
  }
  return ok;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      uplink: { type: 'string' },
      socket: { type: 'string', default: process.env.XVS_SOCKET ?? '/run/xvs/xvs.sock' },
      netns: { type: 'string' },
      'vm-prefix': { type: 'string', default: DEFAULT_VM_PREFIX },
      qemu: { type: 'boolean', default: false },
      ping: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node dist/src/lab/hnv-host.js --host 0|1 --uplink IFACE [--socket SOCK] [--netns HOST_NS] [--vm-prefix P] [--qemu] [--ping SECONDS]\n');
    return 0;
  }
  if (values.host === undefined || !/^[01]$/.test(values.host)) throw new Error(`--host: expected 0 or 1, got ${values.host ?? 'nothing'}`);
  if (values.uplink === undefined) throw new Error('--uplink: required (the NIC or veth of the underlay)');
  const ping = values.ping === undefined ? undefined : Number(values.ping);
  if (ping !== undefined && !(Number.isInteger(ping) && ping >= 0)) throw new Error(`--ping: expected seconds (an integer >= 0), got ${values.ping}`);
  const host = Number(values.host);
  const log = (l: string): void => { process.stdout.write(`[hnv-host ${host}] ${l}\n`); };
  configureHnvHost({ host, uplink: values.uplink, socket: values.socket, hostNs: values.netns, vmPrefix: values['vm-prefix'], qemu: values.qemu, log });
  if (ping !== undefined && !(await pingPeers(host, values['vm-prefix'], ping, log))) return 1;
  return 0;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`hnv-host: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
