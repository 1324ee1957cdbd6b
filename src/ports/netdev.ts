/**
 * Control-plane helpers for netdevs: existence, MTU, MAC, addresses and routes, link state. They run
 * `ip` (iproute2) and read sysfs; never on the data path. Every function acts only on the device it
 * is given: the callers make sure it is one xvs was told to use.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function netdevExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function isTap(name: string): boolean {
  return existsSync(`/sys/class/net/${name}/tun_flags`);
}

export function netdevMtu(name: string): number {
  try {
    return parseInt(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8'), 10) || 1500;
  } catch {
    return 1500;
  }
}

export function netdevIndex(name: string): number {
  return parseInt(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'), 10);
}

export function netdevMac(name: string): string {
  return readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function setLinkUp(name: string): void {
  ip('link', 'set', 'dev', name, 'up');
}

export interface IfAddress { family: 'inet' | 'inet6'; local: string; prefixlen: number; scope: string }

interface IpAddrJson { addr_info?: { family: string; local: string; prefixlen: number; scope: string }[] }

/** Global-scope addresses on a netdev (link-local IPv6 is per link and stays). */
export function globalAddresses(name: string): IfAddress[] {
  const j = JSON.parse(ip('-j', 'addr', 'show', 'dev', name)) as IpAddrJson[];
  const out: IfAddress[] = [];
  for (const a of j[0]?.addr_info ?? []) {
    if (a.scope !== 'global') continue;
    if (a.family !== 'inet' && a.family !== 'inet6') continue;
    out.push({ family: a.family, local: a.local, prefixlen: a.prefixlen, scope: a.scope });
  }
  return out;
}

interface IpRouteJson { dst: string; gateway?: string; protocol?: string; metric?: number }

/** Routes through `name` that were added by hand or by a daemon (not the kernel's prefix routes). */
export function staticRoutes(name: string): { family: '-4' | '-6'; dst: string; gateway?: string; metric?: number }[] {
  const out: { family: '-4' | '-6'; dst: string; gateway?: string; metric?: number }[] = [];
  for (const fam of ['-4', '-6'] as const) {
    const j = JSON.parse(ip('-j', fam, 'route', 'show', 'dev', name)) as IpRouteJson[];
    for (const r of j) {
      if (r.protocol === 'kernel') continue;
      if (fam === '-6' && r.dst.startsWith('fe80')) continue;
      out.push({ family: fam, dst: r.dst, gateway: r.gateway, metric: r.metric });
    }
  }
  return out;
}

/**
 * Move global addresses and static routes from one netdev to another (Hyper-V's AllowManagementOS:
 * the host keeps its identity on the switch's host port). Addresses first, then routes (a gateway
 * must be reachable through an address on the new device).
 */
export function moveAddresses(from: string, to: string): { addresses: number; routes: number } {
  const addrs = globalAddresses(from);
  const routes = staticRoutes(from);
  for (const a of addrs) {
    ip('addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', from);
    ip('addr', 'add', `${a.local}/${a.prefixlen}`, 'dev', to);
  }
  for (const r of routes) {
    const args = [r.family, 'route', 'replace', r.dst];
    if (r.gateway) args.push('via', r.gateway);
    args.push('dev', to);
    if (r.metric !== undefined) args.push('metric', String(r.metric));
    try {
      ip(...args);
    } catch { /* a route that cannot move (e.g. gateway now unreachable) is reported by the caller's log */ }
  }
  return { addresses: addrs.length, routes: routes.length };
}

/** A process holding a tun/tap fd. */
export interface TapHolder {
  pid: number;
  /** its command name (`/proc/<pid>/comm`), e.g. `qemu-system-x86` */
  comm: string;
}

/**
 * The processes (other than this one) that hold an fd on TAP `name`, e.g. a QEMU still attached to a VM port.
 * Linux shows `iff:\t<name>` in `/proc/<pid>/fdinfo/<fd>` of an fd of `/dev/net/tun` attached to a TAP. While
 * one is held, removing the TAP only clears its persist flag: the netdev stays until the holder closes it.
 * Processes whose /proc entries vanish or cannot be read are skipped.
 */
export function tapHolders(name: string): TapHolder[] {
  const out: TapHolder[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== '/dev/net/tun') continue;
        const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        if (!info.split('\n').some((l) => l === `iff:\t${name}`)) continue;
        let comm = '?';
        try {
          comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch { /* exited meanwhile */ }
        out.push({ pid: Number(pid), comm });
        break;
      } catch {
        // the fd or the process went away meanwhile
      }
    }
  }
  return out;
}
