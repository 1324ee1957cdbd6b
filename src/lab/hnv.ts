/**
 * The HNV stage of the lab (`npm run lab`, also `npm run lab -- hnv` alone) and of test/lab-hnv.test.ts:
 * two "hosts" sharing an underlay, two tenants with the same Customer Addresses and MACs.
 *
 *   namespace <P>-u: Linux bridge br0, the underlay (the "physical network"), ports h0 and h1
 *   namespace <P>-h0 / <P>-h1: a host. Its own `xvs daemon` (socket and config in <run>/h0, <run>/h1),
 *     external switch "hnv" with uplink "uplink" (a veth into br0) and Provider Address 10.78.100.1 / .2,
 *     VM ports "red" and "blue" (veths to namespace VMs) and "vm" (a TAP with a QEMU VM)
 *   tenant red:  routing domain red,  VSID 5001, NVGRE; tenant blue: routing domain blue, VSID 6001, VXLAN
 *
 *   VM        tenant  host  CA         MAC                what
 *   red-h0    red     h0    10.0.0.11  02:00:0a:00:00:0b  namespace <P>-r0
 *   red-h1    red     h1    10.0.0.12  02:00:0a:00:00:0c  namespace <P>-r1
 *   red-vm    red     h0    10.0.0.21  52:54:00:0a:00:15  QEMU on TAP "vm" of h0
 *   blue-h0   blue    h0    10.0.0.11  02:00:0a:00:00:0b  namespace <P>-b0 (red-h0's CA and MAC)
 *   blue-h1   blue    h1    10.0.0.12  02:00:0a:00:00:0c  namespace <P>-b1 (red-h1's CA and MAC)
 *   blue-vm   blue    h1    10.0.0.22  52:54:00:0a:00:16  QEMU on TAP "vm" of h1
 *
 * Every host knows every lookup record (no etcd here) and one on-link customer route per tenant.
 * Each host's part (its namespace VMs, switch, PA, ports, records, routes) is src/lab/hnv-host.ts, run as
 * `node dist/src/lab/hnv-host.js --host H --netns <P>-hH …`: the same entry point the Vagrant boxes run.
 * The reachability matrix: for each ordered pair, the source pings the target's CA. A cell is ✓ when
 * the ping is answered AND, for a namespace target, the echo requests arrived in that namespace
 * (IcmpInEchos of its /proc/net/snmp): with overlapping CAs, red-h0 pinging 10.0.0.12 is answered by
 * red-h1, which says nothing about blue-h1. Every echo request counted in a namespace of the other
 * tenant than the source's is a leak (expected: none). QEMU VMs ping on request (guest script `reach`:
 * a TCP request from a namespace VM of its own tenant and host). The pairs run in rounds: one source
 * tenant at a time, distinct sources and distinct targets in a round, so a target's counter belongs to
 * its one source of the round and a count in the other tenant's namespaces is a leak.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LAB_CLI } from '../repo-root.js';
import { HNV_HOST_JS, PA, TENANTS, hnvEndpoints, netnsAdd, vmNetns, type HnvEndpoint } from './hnv-host.js';
import { sh, shAsync } from './netlab.js';
import { startVm, vmImagePaths, type VmHandle } from './vm.js';

export { ENDPOINTS, PA, TENANTS, type HnvEndpoint, type Tenant } from './hnv-host.js';

const REQUEST_PORT = 7007;

export interface HnvLabOptions {
  /** name prefix of every namespace ("xvslh" in the lab, testPrefix() in tests) */
  readonly prefix: string;
  /** directory for the daemons' sockets, configs and logs (created) */
  readonly run: string;
  /** boot the QEMU VMs (else their rows and columns are left out) */
  readonly qemu: boolean;
  /** daemons outlive this process (the lab stays up until `down`); default false */
  readonly detach?: boolean;
  /** the iperf3 TCP transfer per tenant; default true */
  readonly tcp?: boolean;
  readonly log?: (line: string) => void;
}

/** matrix[i][j]: endpoint i reaches endpoint j (i === j: null) */
export type ReachMatrix = (boolean | null)[][];

export interface CheckRow { check: string; ok: boolean; detail: string }

interface HostDaemon {
  readonly ns: string;
  readonly dir: string;
  readonly sock: string;
  readonly pid: number;
}

const nsName = (prefix: string, what: string): string => `${prefix}-${what}`;

/** the matrix the HNV rules give: same tenant ✓, the other tenant ✗ */
export function expectedMatrix(eps: readonly HnvEndpoint[]): ReachMatrix {
  return eps.map((a, i) => eps.map((b, j) => (i === j ? null : a.tenant === b.tenant)));
}

export function formatMatrix(eps: readonly HnvEndpoint[], m: ReachMatrix, want: ReachMatrix): string {
  const w = Math.max(...eps.map((e) => e.name.length)) + 1;
  const lines = [`${'from \\ to'.padEnd(w)} ${eps.map((e) => e.name.padStart(w)).join('')}`];
  eps.forEach((e, i) => {
    const cells = eps.map((_, j) => {
      const v = m[i][j];
      const c = v === null ? '-' : `${v ? '✓' : '✗'}${v !== want[i][j] ? '!' : ''}`;
      return c.padStart(w);
    });
    lines.push(`${e.name.padEnd(w)} ${cells.join('')}`);
  });
  lines.push('(✓ reached, ✗ not reached, ! differs from the tenant rule: same tenant ✓, other tenant ✗)');
  return lines.join('\n');
}

function cli(sock: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('node', [LAB_CLI, '--socket', sock, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** `xvs daemon` inside namespace `ns`, its state in `dir`; the PID is node's (`ip netns exec` execs) */
async function startDaemon(ns: string, dir: string, detach: boolean): Promise<HostDaemon> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sock = path.join(dir, 'xvs.sock');
  const logFile = path.join(dir, 'daemon.log');
  const log = openSync(logFile, 'a');
  const p = spawn('ip', ['netns', 'exec', ns, 'node', LAB_CLI, 'daemon', '--config', path.join(dir, 'config.json'), '--socket', sock],
    { detached: detach, stdio: ['ignore', log, log] });
  if (p.pid === undefined) throw new Error(`cannot start the daemon in ${ns}`);
  if (detach) p.unref();
  writeFileSync(path.join(dir, 'daemon.pid'), String(p.pid));
  const d = { ns, dir, sock, pid: p.pid };
  for (let i = 0; i < 150; i++) {
    if (cli(sock, ['daemon', 'status']).code === 0) return d;
    if (p.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon in ${ns} did not come up: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/** stop the daemon whose PID file is in `dir`, if that PID still runs a daemon on `dir`'s socket */
async function stopDaemon(dir: string): Promise<void> {
  const pidFile = path.join(dir, 'daemon.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  let ours = false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    ours = cmd.includes('daemon') && cmd.includes(path.join(dir, 'xvs.sock'));
  } catch { /* gone */ }
  if (ours) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100; i++) {
      try { process.kill(pid, 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    try { process.kill(pid, 'SIGKILL'); } catch { /* exited */ }
  }
  rmSync(pidFile, { force: true });
}

/** remove what a previous run with this prefix and run directory left: daemons (by PID file), namespaces */
export async function hnvLabDown(prefix: string, run: string): Promise<void> {
  if (!prefix.startsWith('xt') && !prefix.startsWith('xvsl')) throw new Error(`refusing a prefix that is not ours: ${prefix}`);
  for (const h of ['h0', 'h1']) {
    await stopDaemon(path.join(run, h));
    rmSync(path.join(run, h), { recursive: true, force: true }); // its config too: a fresh daemon starts empty
  }
  if (existsSync('/run/netns')) {
    for (const ns of spawnSync('ls', ['/run/netns'], { encoding: 'utf8' }).stdout.split('\n')) {
      if (ns.startsWith(prefix)) sh('ip', ['netns', 'del', ns], { allowFail: true });
    }
  }
}

function icmpInEchos(ns: string): number {
  const snmp = sh('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Icmp:'));
  const names = snmp[0]?.split(/\s+/) ?? [];
  const values = snmp[1]?.split(/\s+/) ?? [];
  const k = names.indexOf('InEchos');
  return k < 0 ? 0 : Number(values[k]);
}

export interface HnvLab {
  readonly endpoints: readonly HnvEndpoint[];
  readonly matrix: ReachMatrix;
  readonly expected: ReachMatrix;
  /** echo requests that arrived in a namespace of the other tenant than the pinging one */
  readonly leaks: number;
  readonly rows: CheckRow[];
  /** `xvs hnv show` of each host, after the matrix */
  readonly shows: string[];
  /** sockets of the two daemons */
  readonly sockets: string[];
  /** stop the QEMU VMs (the lab keeps the rest up) */
  stopVms(): Promise<void>;
  /** stop everything and remove the namespaces */
  destroy(): Promise<void>;
}

/** Build the two hosts and tenants, measure the reachability matrix, return it (the lab stays up). */
export async function startHnvLab(opts: HnvLabOptions): Promise<HnvLab> {
  const { prefix, run } = opts;
  const log = opts.log ?? ((): void => undefined);
  const rows: CheckRow[] = [];
  const row = (check: string, ok: boolean, detail: string): void => {
    rows.push({ check, ok, detail });
    log(`  ${ok ? '✔' : '✘'} ${check}: ${detail}`);
  };
  await hnvLabDown(prefix, run);
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const under = nsName(prefix, 'u');
  const hostNs = [nsName(prefix, 'h0'), nsName(prefix, 'h1')];
  const vmNs = (e: HnvEndpoint): string => vmNetns(prefix, e);
  const endpoints = hnvEndpoints(opts.qemu);
  const daemons: HostDaemon[] = [];
  const vms: VmHandle[] = [];
  const stopVms = async (): Promise<void> => {
    await Promise.all(vms.splice(0).map((v) => v.stop()));
  };
  const destroy = async (): Promise<void> => {
    await stopVms();
    await hnvLabDown(prefix, run);
    rmSync(run, { recursive: true, force: true });
  };
  try {
    // underlay and hosts
    netnsAdd(under);
    sh('ip', ['-n', under, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    sh('ip', ['-n', under, 'link', 'set', 'br0', 'up']);
    for (let h = 0; h < 2; h++) {
      netnsAdd(hostNs[h]);
      sh('ip', ['link', 'add', 'uplink', 'netns', hostNs[h], 'type', 'veth', 'peer', 'name', `h${h}`, 'netns', under]);
      sh('ip', ['-n', under, 'link', 'set', `h${h}`, 'master', 'br0', 'up']);
      sh('ip', ['-n', hostNs[h], 'link', 'set', 'dev', 'uplink', 'up']);
    }
    // a daemon per host, then each host's namespace VMs, switch, PA, ports and records by the entry point
    // the Vagrant boxes run too (vagrant/provision.sh): the same command, with --netns for the lab's hosts
    for (let h = 0; h < 2; h++) daemons.push(await startDaemon(hostNs[h], path.join(run, `h${h}`), opts.detach ?? false));
    for (let h = 0; h < 2; h++) {
      const args = [HNV_HOST_JS, '--host', String(h), '--uplink', 'uplink', '--socket', daemons[h].sock, '--netns', hostNs[h], '--vm-prefix', prefix,
        ...(opts.qemu ? ['--qemu'] : [])];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`hnv-host.js --host ${h}: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`);
      log(`  host h${h}: ${r.stdout.trim().split('\n').length} steps by hnv-host.js (${path.relative(process.cwd(), HNV_HOST_JS) || HNV_HOST_JS})`);
    }
    // QEMU VMs, one per host
    if (opts.qemu) {
      vmImagePaths();
      const t0 = Date.now();
      for (const e of endpoints.filter((x) => x.kind === 'qemu')) {
        vms.push(startVm({
          name: `hnv-${e.name}`, tap: 'vm', netns: hostNs[e.host], mac: e.mac, ip: `${e.ca}/24`, peer: PA[e.host],
          run: 'reach', extra: { mtu: String(TENANTS[e.tenant].mtu), port: String(REQUEST_PORT) }, timeoutMs: 30 * 60_000,
        }));
      }
      await Promise.all(vms.map((v) => v.waitFor(/XVS-STATE ready/, 120_000)));
      row('QEMU VMs booted (TCG) on the hosts\' TAP ports', true, `${vms.length} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }

    // the matrix in rounds: the pairs of one source tenant at a time, in each round distinct sources and
    // distinct targets pinging at once, so an echo counted in a target namespace came from that round's one
    // source for it, and one counted in a namespace of the other tenant is a leak (nobody of that tenant pings)
    const nsEps = endpoints.filter((e) => e.kind === 'netns');
    let leaks = 0;
    let seq = 0;
    const matrix: ReachMatrix = endpoints.map((_, i) => endpoints.map((__, j) => (i === j ? null : false)));
    const exitCode = async (cmd: string, args: string[], timeout: number): Promise<number> => (await shAsync(cmd, args, { timeout })).code;
    const ping = async (src: HnvEndpoint, dst: HnvEndpoint): Promise<boolean> => {
      if (src.kind === 'netns') {
        return (await exitCode('ip', ['netns', 'exec', vmNs(src), 'ping', '-c', '3', '-i', '0.2', '-W', '1', dst.ca], 30_000)) === 0;
      }
      const vm = vms[endpoints.filter((e) => e.kind === 'qemu').indexOf(src)];
      // ask from the namespace VM of the same tenant on the same host
      const via = nsEps.find((e) => e.tenant === src.tenant && e.host === src.host);
      const n = ++seq;
      const got = vm.waitFor(new RegExp(`XVS-RESULT reach (ok|fail) seq=${n} `), 20_000).catch(() => null);
      if (via !== undefined) {
        await exitCode('ip', ['netns', 'exec', vmNs(via), 'sh', '-c', `echo '${n} ${dst.ca}' | timeout 10 busybox nc ${src.ca} ${REQUEST_PORT}`], 20_000);
      }
      return (await got)?.[1] === 'ok';
    };
    for (const tenant of [...new Set(endpoints.map((e) => e.tenant))]) {
      const pending: [number, number][] = [];
      endpoints.forEach((src, i) => {
        if (src.tenant === tenant) endpoints.forEach((_, j) => { if (i !== j) pending.push([i, j]); });
      });
      while (pending.length > 0) {
        const round: [number, number][] = [];
        for (const pair of pending) {
          if (round.every(([i, j]) => i !== pair[0] && j !== pair[1])) round.push(pair);
        }
        for (const pair of round) pending.splice(pending.indexOf(pair), 1);
        const before = nsEps.map((e) => icmpInEchos(vmNs(e)));
        // a second try before a ✗: a busy machine may lose the first echoes (the counters cover both)
        const answered = await Promise.all(round.map(async ([i, j]) =>
          (await ping(endpoints[i], endpoints[j])) || (await ping(endpoints[i], endpoints[j]))));
        const after = nsEps.map((e) => icmpInEchos(vmNs(e)));
        nsEps.forEach((e, k) => { if (e.tenant !== tenant) leaks += after[k] - before[k]; });
        round.forEach(([i, j], r) => {
          const k = nsEps.indexOf(endpoints[j]);
          matrix[i][j] = answered[r] && (k < 0 || after[k] > before[k]);
        });
      }
    }
    const expected = expectedMatrix(endpoints);
    const wrong = matrix.flat().filter((v, n) => v !== expected.flat()[n]).length;
    row('HNV tenant reachability (two hosts, red NVGRE / blue VXLAN, same CAs and MACs)', wrong === 0,
      wrong === 0 ? `${endpoints.length * (endpoints.length - 1)} pairs as the tenant rule says` : `${wrong} pair(s) differ (marked !)`);
    row('echo requests crossing tenants (counted in the VMs\' namespaces)', leaks === 0, String(leaks));

    // TCP across the tunnel, each tenant (namespace VMs, host 0 -> host 1)
    for (const tenant of opts.tcp === false ? [] : ['red', 'blue'] as const) {
      const a = nsEps.find((e) => e.tenant === tenant && e.host === 0);
      const b = nsEps.find((e) => e.tenant === tenant && e.host === 1);
      if (a === undefined || b === undefined) continue;
      const srv = spawn('ip', ['netns', 'exec', vmNs(b), 'timeout', '20', 'iperf3', '-s', '-1', '-p', '5301'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 400));
      const out = spawnSync('ip', ['netns', 'exec', vmNs(a), 'iperf3', '-c', b.ca, '-p', '5301', '-t', '2', '-J', '--connect-timeout', '3000'],
        { encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
      if (srv.pid !== undefined && srv.exitCode === null) { try { process.kill(srv.pid, 'SIGKILL'); } catch { /* gone */ } }
      try {
        const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
        row(`iperf3 TCP ${a.name} -> ${b.name} (${TENANTS[tenant].encap}, 2 s)`, true, `${(j.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gb/s`);
      } catch {
        row(`iperf3 TCP ${a.name} -> ${b.name} (${TENANTS[tenant].encap}, 2 s)`, false, out.slice(0, 200) || 'no report');
      }
    }
    const shows = daemons.map((d) => cli(d.sock, ['hnv', 'show']).out);
    return { endpoints, matrix, expected, leaks, rows, shows, sockets: daemons.map((d) => d.sock), stopVms, destroy };
  } catch (e) {
    if (!opts.detach) await destroy();
    else await stopVms();
    throw e;
  }
}
