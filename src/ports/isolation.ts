/**
 * Host isolation of port netdevs. A netdev a switch uses as a port (a VM's TAP, a veth port, the external
 * uplink) belongs to the switch, not to the host: whatever a VM sends into it must reach the host only
 * through an internal/external switch's host port, as in Hyper-V. So while it is a port, the netdev has
 *
 *   - no IPv4 addresses and no IPv6 at all (`net.ipv6.conf.<dev>.disable_ipv6=1`: no link-local, no SLAAC);
 *   - a `clsact` qdisc whose ingress filter drops every frame before the host stack sees it. The filter is
 *     classic BPF `ret #TC_ACT_SHOT` run by cls_bpf in direct-action mode (matchall and gact are not built
 *     into every kernel; cls_bpf is). The switch still receives every frame: its AF_PACKET sockets
 *     (ETH_P_ALL) are taps, which `__netif_receive_skb_core` serves before tc ingress. What the switch
 *     transmits on the netdev is egress and is not affected.
 *
 * `isolate` records the previous settings in the NetdevRecord before it changes anything, and re-applies
 * idempotently (daemon restart, worker restart) without overwriting that record; `release` gives them back.
 * The host port (the TAP carrying the host's addresses) is never isolated.
 *
 * `checkPortNetdev` is the admission rule: never a loopback device, and never a netdev that carries host
 * addresses unless the operator says so (`allowHostAddresses` on a port, `allowManagementOs` on an uplink).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../core/errors.js';
import { isLoopbackInterface } from '../config/schema.js';
import { ip, isTap, netdevExists, staticRoutes } from './netdev.js';
import { destroyPersistentTap } from './tap.js';
import { restoreOffloads } from './offloads.js';
import type { XvsConfig } from '../config/types.js';
import type { NetdevRecord, SavedAddress, SavedNetdev } from './netdev-record.js';

/** the tc filter priority xvs uses for its drop filter */
export const ISOLATION_PREF = 1;
/** classic BPF: `ret #2` (TC_ACT_SHOT), for cls_bpf direct-action */
const DROP_BYTECODE = '1,6 0 0 2';

export function tc(...args: string[]): string {
  return execFileSync('tc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** the same test as the configuration's system check (config/schema.ts), repeated where the data path attaches */
export const isLoopback = isLoopbackInterface;

interface AddrInfo {
  family: string; local: string; prefixlen: number; scope?: string; broadcast?: string; dynamic?: boolean;
}

function addrInfo(dev: string): AddrInfo[] {
  const j = JSON.parse(ip('-j', 'addr', 'show', 'dev', dev)) as { addr_info?: AddrInfo[] }[];
  return j[0]?.addr_info ?? [];
}

const linkLocal6 = (a: string): boolean => /^fe[89ab][0-9a-f]:/i.test(a);

/** Addresses that make a netdev part of the host's stack: any IPv4, IPv6 other than link-local. */
export function hostAddresses(dev: string): SavedAddress[] {
  return addrInfo(dev)
    .filter((a) => a.family === 'inet' || (a.family === 'inet6' && !linkLocal6(a.local)))
    .map((a) => ({ family: a.family as 'inet' | 'inet6', local: a.local, prefixlen: a.prefixlen, ...(a.broadcast ? { broadcast: a.broadcast } : {}) }));
}

export function describeAddresses(list: readonly SavedAddress[]): string {
  return list.map((a) => `${a.local}/${a.prefixlen}`).join(', ');
}

/**
 * Refuse loopback always, and a netdev with host addresses unless `consent` (the message names `option`).
 * `field` is the configuration field that named the netdev.
 */
export function checkPortNetdev(dev: string, field: string, consent: boolean, option: string): void {
  if (isLoopback(dev)) {
    throw new ConfigError(field, `"${dev}" is a loopback device and can never be a switch port; use a TAP or a veth`);
  }
  if (consent) return;
  const addrs = hostAddresses(dev);
  if (addrs.length > 0) {
    throw new ConfigError(field, `"${dev}" carries host addresses (${describeAddresses(addrs)}): as a port it is cut off from ` +
      `the host stack and loses them while it is one; pass ${option} to agree, or use a netdev without addresses`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

const sysctlPath = (dev: string): string => `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`;

function readDisableIpv6(dev: string): string | undefined {
  try {
    return readFileSync(sysctlPath(dev), 'utf8').trim();
  } catch {
    return undefined;
  }
}

interface TcFilter { pref?: number; kind?: string; options?: { 'direct-action'?: boolean; bytecode?: { insns?: { code: number; k: number }[] } } }

function ingressFilters(dev: string): TcFilter[] {
  return JSON.parse(tc('-j', 'filter', 'show', 'dev', dev, 'ingress') || '[]') as TcFilter[];
}

function hasClsact(dev: string): boolean {
  const q = JSON.parse(tc('-j', 'qdisc', 'show', 'dev', dev) || '[]') as { kind?: string }[];
  return q.some((x) => x.kind === 'clsact');
}

function hasLegacyIngress(dev: string): boolean {
  const q = JSON.parse(tc('-j', 'qdisc', 'show', 'dev', dev) || '[]') as { kind?: string }[];
  return q.some((x) => x.kind === 'ingress');
}

/** Whether the drop filter is in place (its pref holds a direct-action bpf filter returning TC_ACT_SHOT). */
export function hasIngressDrop(dev: string): boolean {
  return ingressFilters(dev).some((f) => f.pref === ISOLATION_PREF && f.kind === 'bpf' && f.options?.['direct-action'] === true &&
    f.options.bytecode?.insns?.length === 1 && f.options.bytecode.insns[0].code === 6 && f.options.bytecode.insns[0].k === 2);
}

function addIngressDrop(dev: string, field: string): void {
  if (hasIngressDrop(dev)) return;
  if (!hasClsact(dev) && !hasLegacyIngress(dev)) tc('qdisc', 'add', 'dev', dev, 'clsact');
  const parent = hasClsact(dev) ? ['ingress'] : ['parent', 'ffff:'];
  if (ingressFilters(dev).some((f) => f.pref === ISOLATION_PREF)) {
    throw new ConfigError(field, `"${dev}" already has a tc ingress filter at pref ${ISOLATION_PREF}; xvs needs that slot to cut the port off from the host stack: remove it (tc filter del dev ${dev} ingress pref ${ISOLATION_PREF})`);
  }
  tc('filter', 'add', 'dev', dev, ...parent, 'pref', String(ISOLATION_PREF), 'protocol', 'all', 'bpf', 'da', 'bytecode', DROP_BYTECODE);
}

/**
 * Cut `dev` off from the host stack. The first time, its settings are recorded (on disk) before anything
 * changes; afterwards (restart) the record is kept and the isolation re-applied. Throws ConfigError naming
 * `field` if it cannot be done; the caller then calls `release`.
 */
export function isolate(dev: string, record: NetdevRecord, field: string): void {
  if (!record.saved(dev)) {
    const addresses = addrInfo(dev)
      .filter((a) => a.family === 'inet' || (a.family === 'inet6' && !linkLocal6(a.local) && !a.dynamic))
      .map((a) => ({ family: a.family as 'inet' | 'inet6', local: a.local, prefixlen: a.prefixlen, ...(a.broadcast ? { broadcast: a.broadcast } : {}) }));
    const disableIpv6 = readDisableIpv6(dev);
    const saved: SavedNetdev = {
      ...(disableIpv6 !== undefined ? { disableIpv6 } : {}),
      addresses,
      routes: staticRoutes(dev),
      qdiscCreated: !hasClsact(dev) && !hasLegacyIngress(dev),
    };
    record.saveSettings(dev, saved);
  }
  try {
    // the filter first: from here on nothing arriving on dev reaches the host stack
    addIngressDrop(dev, field);
    if (readDisableIpv6(dev) === '0') writeFileSync(sysctlPath(dev), '1');
    if (addrInfo(dev).some((a) => a.family === 'inet')) ip('-4', 'addr', 'flush', 'dev', dev);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const err = e as { stderr?: string; message: string };
    throw new ConfigError(field, `cannot cut "${dev}" off from the host stack: ${(err.stderr ?? err.message).trim()}`);
  }
}

/**
 * Give `dev` back to the host as it was before `isolate`: the drop filter (and the clsact qdisc if xvs added
 * it) removed, IPv6 as it was, the addresses and routes xvs removed added again. Problems are logged, not
 * thrown (a netdev that vanished meanwhile needs nothing). The record entry is dropped.
 */
export function release(dev: string, record: NetdevRecord, log: (m: string) => void): void {
  const saved = record.saved(dev);
  if (!saved) return;
  const step = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      log(`${dev}: could not ${what}: ${(err.stderr ?? err.message).trim()}`);
    }
  };
  if (!netdevExists(dev)) {
    record.forgetSettings(dev);
    return;
  }
  step('remove the ingress drop filter', () => {
    if (saved.qdiscCreated && hasClsact(dev)) tc('qdisc', 'del', 'dev', dev, 'clsact');
    else if (hasIngressDrop(dev)) {
      tc('filter', 'del', 'dev', dev, ...(hasClsact(dev) ? ['ingress'] : ['parent', 'ffff:']), 'pref', String(ISOLATION_PREF));
    }
  });
  if (saved.mtuBeforeHnv !== undefined) step(`restore MTU ${saved.mtuBeforeHnv}`, () => ip('link', 'set', 'dev', dev, 'mtu', String(saved.mtuBeforeHnv)));
  if (saved.disableIpv6 !== undefined && readDisableIpv6(dev) !== saved.disableIpv6) {
    step('restore disable_ipv6', () => writeFileSync(sysctlPath(dev), saved.disableIpv6!));
  }
  for (const a of saved.addresses) {
    step(`add ${a.local}/${a.prefixlen} back`, () => {
      if (addrInfo(dev).some((x) => x.local === a.local)) return;
      ip(a.family === 'inet' ? '-4' : '-6', 'addr', 'add', `${a.local}/${a.prefixlen}`, ...(a.broadcast ? ['broadcast', a.broadcast] : []), 'dev', dev);
    });
  }
  for (const r of saved.routes) {
    step(`restore the route to ${r.dst}`, () => {
      ip(r.family, 'route', 'replace', r.dst, ...(r.gateway ? ['via', r.gateway] : []), 'dev', dev,
        ...(r.metric !== undefined ? ['metric', String(r.metric)] : []));
    });
  }
  record.forgetSettings(dev);
}

/** What a test or `port show` can check: is `dev` cut off from the host stack? */
export function isolationState(dev: string): { ingressDrop: boolean; ipv6Disabled: boolean; addresses: SavedAddress[] } {
  return { ingressDrop: hasIngressDrop(dev), ipv6Disabled: readDisableIpv6(dev) !== '0', addresses: hostAddresses(dev) };
}

/**
 * At daemon start, before the configuration is restored: what the record names but the configuration does not
 * use any more is what an interrupted change (a `kill -9` during `port add`, `switch create`, `port remove`)
 * left behind. TAPs xvs created are deleted; netdevs it isolated get their settings back; temp files of an
 * interrupted write of the record go. Returns what it did.
 */
export function reconcile(record: NetdevRecord, cfg: XvsConfig, log: (m: string) => void): { tapsDeleted: string[]; released: string[] } {
  const used = new Set<string>();
  for (const sw of cfg.switches) {
    if (sw.uplink !== undefined) used.add(sw.uplink);
    if (sw.hostPort !== undefined) used.add(sw.hostPort);
    for (const p of sw.ports) used.add(p.netdev ?? p.name);
  }
  const out = { tapsDeleted: [] as string[], released: [] as string[] };
  for (const f of record.removeStaleTemp()) log(`removed ${f}: a write of the netdev record that was interrupted`);
  for (const tap of record.ownedTaps) {
    if (used.has(tap)) continue;
    if (netdevExists(tap) && isTap(tap)) {
      try {
        destroyPersistentTap(tap);
        out.tapsDeleted.push(tap);
        log(`deleted TAP ${tap}: xvs created it but the configuration does not use it (an interrupted change)`);
      } catch (e) {
        log(`cannot delete TAP ${tap} left by an interrupted change: ${(e as Error).message}`);
        continue;
      }
    }
    record.forgetSettings(tap);
    record.forgetTap(tap);
  }
  // offloads turned off for a libpcap port whose netdev no longer is one (ports/offloads.ts)
  const pcapUsed = new Set(cfg.switches.flatMap((sw) => [
    ...(sw.uplink !== undefined && sw.uplinkIo === 'pcap' ? [sw.uplink] : []),
    ...sw.ports.filter((p) => p.io === 'pcap').map((p) => p.netdev ?? p.name),
  ]));
  for (const dev of record.offloaded) {
    if (pcapUsed.has(dev)) continue;
    restoreOffloads(dev, record, log);
    log(`turned ${dev}'s offloads back on: xvs turned them off for a libpcap port the configuration no longer has`);
  }
  for (const dev of record.isolated) {
    if (used.has(dev)) continue;
    release(dev, record, log);
    out.released.push(dev);
    log(`gave ${dev} back to the host: xvs isolated it but the configuration does not use it (an interrupted change)`);
  }
  return out;
}
