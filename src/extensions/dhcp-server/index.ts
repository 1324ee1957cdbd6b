/**
 * filter `dhcp-server`: a DHCPv4 server inside the switch (Microsoft's VMM DHCPv4 Server Switch
 * Extension: a filter that answers DHCP from IP pools).
 *
 * Ingress hot loop (every frame, no allocation): is it an untagged IPv4 UDP 68→67 datagram (or an
 * ARP request for a pool's serverAddress) from a port some pool covers? Only those frames leave the
 * fast path: the DHCP message is copied into a scratch buffer, parsed, the frame dropped
 * (`answered by dhcp-server`) and a reply built and originated with ctx.allocate/write/inject(−1).
 * Leases live per client MAC in this instance (Maps: slow path only), expire, and are renewed by
 * REQUESTs. Replies carry correct IPv4 header and UDP checksums.
 */
import type { ConfigValue, ExtensionConfig, ExtensionContext, FilterView } from '../api.js';
import { defineFilter } from '../api.js';
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';
import { ConfigError } from '../../core/errors.js';
import { foldChecksum, parseIPv4, pseudoSum, sum16 } from '../../packet/addr.js';
import { parseMac } from '../../packet/ethernet.js';

export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;
/** how long an offered address is held for the client that was offered it */
export const OFFER_HOLD_SECONDS = 60;
/** how long a declined address (in use by someone else) is kept out of the pool */
export const DECLINE_HOLD_SECONDS = 600;
export const MAX_POOL_ADDRESSES = 65536;
const MAGIC = 0x63825363;
/** smallest BOOTP message sent (RFC 1542 §2.1: some clients drop shorter ones) */
const BOOTP_MIN = 300;
const FRAME_MAX = 1514;

export interface CompiledPool {
  index: number;
  ports: string[] | null;
  network: number;
  mask: number;
  prefixLen: number;
  broadcast: number;
  start: number;
  end: number;
  router: number | null;
  dns: number[];
  leaseSeconds: number;
  server: number;
  serverMac: Uint8Array;
  arp: boolean;
  /** addresses never handed out dynamically: server, router, dns, static mappings */
  reserved: Set<number>;
  /** next address to try (round robin) */
  next: number;
}

export interface CompiledDhcp {
  pools: CompiledPool[];
  /** mac (12 hex digits) → static address and its pool */
  statics: Map<string, { ip: number; pool: number }>;
}

const ip32 = (b: Uint8Array): number => ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
export const ipText = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const macKey = (b: Uint8Array, off: number): string => {
  let s = '';
  for (let k = 0; k < 6; k++) s += b[off + k].toString(16).padStart(2, '0');
  return s;
};

function ipv4(v: ConfigValue | undefined, field: string): number {
  const b = typeof v === 'string' ? parseIPv4(v.trim()) : null;
  if (!b) throw new ConfigError(field, `expected an IPv4 address, got ${JSON.stringify(v)}`);
  return ip32(b);
}

function obj(v: ConfigValue): { [k: string]: ConfigValue } {
  return (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as { [k: string]: ConfigValue };
}

/** Check and compile a validated configuration; errors name `${path}.pools[i].<key>` / `${path}.static[i].<key>`. */
export function compileDhcp(config: ExtensionConfig, path = 'config'): CompiledDhcp {
  const list = Array.isArray(config.pools) ? config.pools : [];
  if (list.length === 0) throw new ConfigError(`${path}.pools`, 'at least one pool is required');
  const pools: CompiledPool[] = list.map((item, index) => {
    const p = `${path}.pools[${index}]`;
    const c = obj(item);
    const net = typeof c.network === 'string' ? /^([\d.]+)\/(\d{1,2})$/.exec(c.network.trim()) : null;
    const netAddr = net ? parseIPv4(net[1]) : null;
    const prefixLen = net ? Number(net[2]) : -1;
    if (!net || !netAddr || prefixLen < 1 || prefixLen > 30) throw new ConfigError(`${p}.network`, `expected a.b.c.d/len with len 1..30, got ${JSON.stringify(c.network)}`);
    const mask = (0xffffffff << (32 - prefixLen)) >>> 0;
    const network = (ip32(netAddr) & mask) >>> 0;
    const broadcast = (network | ~mask) >>> 0;
    const inNet = (n: number): boolean => ((n & mask) >>> 0) === network && n !== network && n !== broadcast;
    const host = (key: string, v: ConfigValue | undefined): number => {
      const n = ipv4(v, `${p}.${key}`);
      if (!inNet(n)) throw new ConfigError(`${p}.${key}`, `${ipText(n)} is not a host address of ${ipText(network)}/${prefixLen}`);
      return n;
    };
    const start = host('rangeStart', c.rangeStart);
    const end = host('rangeEnd', c.rangeEnd);
    if (end < start) throw new ConfigError(`${p}.rangeEnd`, `${ipText(end)} is below rangeStart ${ipText(start)}`);
    if (end - start + 1 > MAX_POOL_ADDRESSES) throw new ConfigError(`${p}.rangeEnd`, `at most ${MAX_POOL_ADDRESSES} addresses in a range`);
    const server = host('serverAddress', c.serverAddress);
    const router = c.router === undefined ? null : host('router', c.router);
    const dns = (Array.isArray(c.dns) ? c.dns : []).map((d, k) => ipv4(d, `${p}.dns[${k}]`));
    let serverMac: Uint8Array;
    if (c.serverMac !== undefined) {
      const m = typeof c.serverMac === 'string' ? parseMac(c.serverMac) : null;
      if (!m || (m[0] & 1) !== 0) throw new ConfigError(`${p}.serverMac`, `expected a unicast MAC address, got ${JSON.stringify(c.serverMac)}`);
      serverMac = m;
    } else {
      serverMac = Uint8Array.of(0x02, 0x78, 0x76, (server >>> 16) & 255, (server >>> 8) & 255, server & 255);
    }
    let ports: string[] | null = null;
    if (Array.isArray(c.ports)) {
      ports = c.ports.map((x, k) => {
        if (typeof x !== 'string' || x === '') throw new ConfigError(`${p}.ports[${k}]`, `expected a port name, got ${JSON.stringify(x)}`);
        return x;
      });
      if (ports.length === 0) throw new ConfigError(`${p}.ports`, 'empty list (leave it out for every port)');
    }
    const reserved = new Set<number>([server, ...(router === null ? [] : [router]), ...dns]);
    const leaseSeconds = typeof c.leaseSeconds === 'number' ? c.leaseSeconds : 3600;
    return {
      index, ports, network, mask, prefixLen, broadcast, start, end, router, dns, leaseSeconds, server, serverMac,
      arp: c.arp !== false, reserved, next: start,
    };
  });
  const statics = new Map<string, { ip: number; pool: number }>();
  const usedIps = new Map<number, number>();
  (Array.isArray(config.static) ? config.static : []).forEach((item, k) => {
    const p = `${path}.static[${k}]`;
    const c = obj(item);
    const m = typeof c.mac === 'string' ? parseMac(c.mac) : null;
    if (!m || (m[0] & 1) !== 0) throw new ConfigError(`${p}.mac`, `expected a unicast MAC address, got ${JSON.stringify(c.mac)}`);
    const key = macKey(m, 0);
    if (statics.has(key)) throw new ConfigError(`${p}.mac`, `${c.mac as string} is mapped twice`);
    const ip = ipv4(c.ip, `${p}.ip`);
    const pool = pools.find((q) => ((ip & q.mask) >>> 0) === q.network && ip !== q.network && ip !== q.broadcast);
    if (!pool) throw new ConfigError(`${p}.ip`, `${ipText(ip)} is in no pool's network`);
    if (pool.reserved.has(ip) && !usedIps.has(ip)) throw new ConfigError(`${p}.ip`, `${ipText(ip)} is the pool's server, router or DNS address`);
    const other = usedIps.get(ip);
    if (other !== undefined) throw new ConfigError(`${p}.ip`, `${ipText(ip)} is already given to static[${other}]`);
    usedIps.set(ip, k);
    pool.reserved.add(ip);
    statics.set(key, { ip, pool: pool.index });
  });
  return { pools, statics };
}

interface Lease {
  mac: string;
  ip: number;
  pool: number;
  bound: boolean;
  expires: number;
}

/** one parsed client message (fields of the scratch buffer) */
interface Request {
  type: number;
  xid: number;
  flags: number;
  ciaddr: number;
  giaddr: number;
  chaddr: Uint8Array;
  mac: string;
  requested: number;
  serverId: number;
  srcMac: Uint8Array;
}

class DhcpServer {
  private cfg: CompiledDhcp;
  private readonly ctx: ExtensionContext;
  private readonly leases = new Map<string, Lease>();
  private readonly byIp = new Map<number, Lease>();
  /** address → time until which it stays out of the pool (DECLINE) */
  private readonly declined = new Map<number, number>();
  /** pool index per port index + 1 (0: originated frames, never served) */
  private readonly poolOf = new Int16Array(MAX_PORTS_PER_SWITCH + 1);
  private portsVersion = -1;
  private readonly buf = new Uint8Array(FRAME_MAX);
  private readonly c: Record<'discovers' | 'offers' | 'requests' | 'acks' | 'naks' | 'releases' | 'declines' | 'informs' | 'poolExhausted' | 'malformed' | 'arpReplies', number>;

  constructor(config: ExtensionConfig, ctx: ExtensionContext) {
    this.ctx = ctx;
    this.cfg = compileDhcp(config);
    this.c = {
      discovers: ctx.counterIndex('discovers'), offers: ctx.counterIndex('offers'), requests: ctx.counterIndex('requests'),
      acks: ctx.counterIndex('acks'), naks: ctx.counterIndex('naks'), releases: ctx.counterIndex('releases'),
      declines: ctx.counterIndex('declines'), informs: ctx.counterIndex('informs'), poolExhausted: ctx.counterIndex('poolExhausted'),
      malformed: ctx.counterIndex('malformed'), arpReplies: ctx.counterIndex('arpReplies'),
    };
  }

  /** new pools: leases whose address is no longer in the same pool's range (or is now static for another MAC) are dropped */
  reconfigure(config: ExtensionConfig): void {
    const next = compileDhcp(config);
    for (const [mac, l] of this.leases) {
      const q = next.pools[l.pool];
      const st = next.statics.get(mac);
      const keep = q !== undefined && ((st !== undefined && st.ip === l.ip) || (l.ip >= q.start && l.ip <= q.end && !q.reserved.has(l.ip)));
      if (!keep) this.forget(l);
    }
    this.cfg = next;
    this.portsVersion = -1;
  }

  private count(name: keyof DhcpServer['c']): void {
    this.ctx.counters[this.c[name]]++;
  }

  private resolvePorts(): void {
    const ctx = this.ctx;
    if (ctx.portsVersion === this.portsVersion) return;
    this.portsVersion = ctx.portsVersion;
    this.poolOf.fill(-1);
    for (let port = 0; port < MAX_PORTS_PER_SWITCH; port++) {
      const name = ctx.portName(port);
      if (name === undefined) continue;
      const pool = this.cfg.pools.find((q) => q.ports === null || q.ports.includes(name));
      if (pool) this.poolOf[port + 1] = pool.index;
    }
  }

  ingress(view: FilterView): void {
    this.resolvePorts();
    const poolOf = this.poolOf;
    for (let i = 0; i < view.count; i++) {
      if (view.dropped(i)) continue;
      const pool = poolOf[view.portOf(i) + 1];
      if (pool < 0) continue;
      const type = view.u16(i, 12);
      if (type === 0x0800) {
        const vihl = view.byte(i, 14);
        // IPv4 with a valid header length (IHL ≥ 5: else "UDP" would be read inside the IP header)
        if ((vihl & 0xf0) !== 0x40 || (vihl & 15) < 5 || view.byte(i, 23) !== 17 || (view.u16(i, 20) & 0x1fff) !== 0) continue;
        const l4 = 14 + ((vihl & 15) << 2);
        if (view.u16(i, l4 + 2) !== 67 || view.u16(i, l4) !== 68) continue;
        this.dhcp(view, i, pool, l4 + 8);
      } else if (type === 0x0806) {
        if (view.u16(i, 20) === 1 && this.cfg.pools[pool].arp && view.u32(i, 38) === this.cfg.pools[pool].server) this.arp(view, i, pool);
      }
    }
  }

  // ------------------------------------------------------------ slow path: DHCP messages

  private parse(view: FilterView, i: number, bootp: number): Request | null {
    const b = this.buf;
    const len = view.copy(i, b, 0, b.length);
    const ipEnd = 14 + ((b[16] << 8) | b[17]);
    const end = ipEnd < len ? ipEnd : len;
    if (end < bootp + 240 || b[bootp] !== 1 || b[bootp + 1] !== 1 || b[bootp + 2] !== 6) return null;
    const u32 = (o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
    if (u32(bootp + 236) !== MAGIC) return null;
    const r: Request = {
      type: 0, xid: u32(bootp + 4), flags: (b[bootp + 10] << 8) | b[bootp + 11], ciaddr: u32(bootp + 12), giaddr: u32(bootp + 24),
      chaddr: b.slice(bootp + 28, bootp + 34), mac: macKey(b, bootp + 28), requested: -1, serverId: -1, srcMac: b.slice(6, 12),
    };
    let o = bootp + 240;
    while (o < end) {
      const code = b[o];
      if (code === 255) break;
      if (code === 0) { o++; continue; }
      if (o + 1 >= end) return null;
      const n = b[o + 1];
      if (o + 2 + n > end) return null;
      if (code === 53 && n === 1) r.type = b[o + 2];
      else if (code === 50 && n === 4) r.requested = u32(o + 2);
      else if (code === 54 && n === 4) r.serverId = u32(o + 2);
      o += 2 + n;
    }
    return r.type >= 1 && r.type <= 8 ? r : null;
  }

  private dhcp(view: FilterView, i: number, poolIndex: number, bootp: number): void {
    const r = this.parse(view, i, bootp);
    if (r === null) {
      view.drop(i, 'malformed dhcp');
      if (!this.ctx.tracing) this.count('malformed');
      return;
    }
    view.drop(i, 'answered by dhcp-server');
    if (this.ctx.tracing) return; // decided; never answered, no lease allocated, not counted
    const pool = this.cfg.pools[poolIndex];
    switch (r.type) {
      case DHCP.DISCOVER: return this.discover(r, pool);
      case DHCP.REQUEST: return this.request(r, pool);
      case DHCP.RELEASE: return this.release(r, pool);
      case DHCP.DECLINE: return this.decline(r, pool);
      case DHCP.INFORM: return this.inform(r, pool);
      default: // OFFER/ACK/NAK from a client port: a rogue server, dropped
    }
  }

  private now(): number {
    return this.ctx.now;
  }

  private forget(l: Lease): void {
    this.leases.delete(l.mac);
    if (this.byIp.get(l.ip) === l) this.byIp.delete(l.ip);
  }

  /** is `ip` free for the client `mac` (not leased or held for someone else, not declined, not reserved)? */
  private freeFor(ip: number, mac: string, pool: CompiledPool): boolean {
    if (ip < pool.start || ip > pool.end || pool.reserved.has(ip)) return false;
    const until = this.declined.get(ip);
    if (until !== undefined) {
      if (until > this.now()) return false;
      this.declined.delete(ip);
    }
    const holder = this.byIp.get(ip);
    if (holder === undefined || holder.mac === mac) return true;
    if (holder.expires > this.now()) return false;
    this.forget(holder); // expired: reclaim
    return true;
  }

  /** the address this client should get in this pool, or -1 when the pool is exhausted */
  private choose(r: Request, pool: CompiledPool): number {
    const st = this.cfg.statics.get(r.mac);
    if (st !== undefined && st.pool === pool.index) return st.ip;
    const cur = this.leases.get(r.mac);
    if (cur !== undefined && cur.pool === pool.index && this.freeFor(cur.ip, r.mac, pool)) return cur.ip;
    if (r.requested >= 0 && this.freeFor(r.requested, r.mac, pool)) return r.requested;
    const size = pool.end - pool.start + 1;
    for (let k = 0; k < size; k++) {
      const ip = pool.start + ((pool.next - pool.start + k) % size);
      if (this.freeFor(ip, r.mac, pool)) {
        pool.next = ip === pool.end ? pool.start : ip + 1;
        return ip;
      }
    }
    return -1;
  }

  private hold(r: Request, pool: CompiledPool, ip: number, bound: boolean, seconds: number): void {
    let l = this.leases.get(r.mac);
    if (l !== undefined && (l.ip !== ip || l.pool !== pool.index)) {
      this.forget(l);
      l = undefined;
    }
    const expires = this.now() + seconds;
    if (l === undefined) {
      l = { mac: r.mac, ip, pool: pool.index, bound, expires };
      this.leases.set(r.mac, l);
    } else {
      // an offer never shortens a bound lease
      l.expires = bound || !l.bound ? expires : Math.max(l.expires, expires);
      l.bound = l.bound || bound;
    }
    const prev = this.byIp.get(ip);
    if (prev !== undefined && prev !== l) this.forget(prev);
    this.byIp.set(ip, l);
  }

  private discover(r: Request, pool: CompiledPool): void {
    this.count('discovers');
    const ip = this.choose(r, pool);
    if (ip < 0) {
      this.count('poolExhausted');
      this.ctx.log(`pool ${pool.index} exhausted: no address for ${r.mac}`);
      return;
    }
    this.hold(r, pool, ip, false, OFFER_HOLD_SECONDS);
    this.reply(r, pool, DHCP.OFFER, ip);
  }

  private request(r: Request, pool: CompiledPool): void {
    this.count('requests');
    const lease = this.leases.get(r.mac);
    const st = this.cfg.statics.get(r.mac);
    const mine = (ip: number): boolean =>
      (st !== undefined && st.pool === pool.index && st.ip === ip)
      || (lease !== undefined && lease.pool === pool.index && lease.ip === ip && this.freeFor(ip, r.mac, pool));
    let ip: number;
    if (r.serverId >= 0) {
      // SELECTING: the client answers an offer
      if (r.serverId !== pool.server) {
        if (lease !== undefined && !lease.bound) this.forget(lease); // it chose another server
        return;
      }
      ip = r.requested;
    } else if (r.requested >= 0) {
      ip = r.requested; // INIT-REBOOT
    } else {
      ip = r.ciaddr; // RENEWING / REBINDING
    }
    if (ip > 0 && mine(ip)) {
      this.hold(r, pool, ip, true, pool.leaseSeconds);
      this.reply(r, pool, DHCP.ACK, ip);
      return;
    }
    if (r.serverId < 0 && r.requested < 0 && ((ip & pool.mask) >>> 0) !== pool.network) return; // rebinding to another network: not ours
    if (lease !== undefined && lease.ip === ip) this.forget(lease);
    this.reply(r, pool, DHCP.NAK, 0);
  }

  private release(r: Request, pool: CompiledPool): void {
    this.count('releases');
    const l = this.leases.get(r.mac);
    if (l !== undefined && l.pool === pool.index && l.ip === r.ciaddr && (r.serverId < 0 || r.serverId === pool.server)) this.forget(l);
  }

  private decline(r: Request, pool: CompiledPool): void {
    this.count('declines');
    const l = this.leases.get(r.mac);
    if (l === undefined || l.pool !== pool.index || (r.requested >= 0 && r.requested !== l.ip)) return;
    this.forget(l);
    this.declined.set(l.ip, this.now() + DECLINE_HOLD_SECONDS);
    this.ctx.log(`${ipText(l.ip)} declined by ${r.mac}: kept out of pool ${pool.index} for ${DECLINE_HOLD_SECONDS} s`);
  }

  private inform(r: Request, pool: CompiledPool): void {
    this.count('informs');
    this.reply(r, pool, DHCP.ACK, 0);
  }

  /** build the reply in a new buffer (slow path), with checksums, and originate it */
  private reply(r: Request, pool: CompiledPool, type: number, yiaddr: number): void {
    const opts: number[] = [53, 1, type, 54, 4, ...bytes4(pool.server)];
    const inform = r.type === DHCP.INFORM;
    if (type !== DHCP.NAK) {
      if (!inform) {
        const t = pool.leaseSeconds;
        opts.push(51, 4, ...bytes4(t), 58, 4, ...bytes4(Math.floor(t / 2)), 59, 4, ...bytes4(Math.floor((t * 7) / 8)));
      }
      opts.push(1, 4, ...bytes4(pool.mask), 28, 4, ...bytes4(pool.broadcast));
      if (pool.router !== null) opts.push(3, 4, ...bytes4(pool.router));
      if (pool.dns.length) opts.push(6, 4 * pool.dns.length, ...pool.dns.flatMap(bytes4));
    } else {
      opts.push(56, 18, ...new TextEncoder().encode('address not leased'));
    }
    opts.push(255);
    const bootpLen = Math.max(BOOTP_MIN, 240 + opts.length);
    const udpLen = 8 + bootpLen;
    const ipLen = 20 + udpLen;
    const f = new Uint8Array(14 + ipLen);
    // RFC 2131 §4.1: NAK broadcast; ciaddr set: unicast to it; broadcast bit: broadcast; else unicast to yiaddr / chaddr
    const bcast = type === DHCP.NAK || (r.ciaddr === 0 && (r.flags & 0x8000) !== 0);
    const dstIp = type === DHCP.NAK ? 0xffffffff : r.ciaddr !== 0 ? r.ciaddr : bcast ? 0xffffffff : yiaddr;
    if (bcast) f.fill(0xff, 0, 6);
    else f.set(r.chaddr, 0);
    f.set(pool.serverMac, 6);
    f[12] = 0x08;
    const ip = 14;
    f[ip] = 0x45;
    f[ip + 2] = ipLen >> 8; f[ip + 3] = ipLen & 255;
    f[ip + 8] = 64; f[ip + 9] = 17;
    f.set(bytes4(pool.server), ip + 12);
    f.set(bytes4(dstIp), ip + 16);
    const ipSum = foldChecksum(sum16(f, ip, 20, 0));
    f[ip + 10] = ipSum >> 8; f[ip + 11] = ipSum & 255;
    const udp = ip + 20;
    f[udp + 1] = 67; f[udp + 3] = 68;
    f[udp + 4] = udpLen >> 8; f[udp + 5] = udpLen & 255;
    const bp = udp + 8;
    f[bp] = 2; f[bp + 1] = 1; f[bp + 2] = 6;
    f.set(bytes4(r.xid), bp + 4);
    f[bp + 10] = r.flags >> 8; f[bp + 11] = r.flags & 255;
    if (type !== DHCP.NAK && (inform || type === DHCP.ACK)) f.set(bytes4(r.ciaddr), bp + 12);
    f.set(bytes4(yiaddr), bp + 16);
    f.set(bytes4(r.giaddr), bp + 24);
    f.set(r.chaddr, bp + 28);
    f.set(bytes4(MAGIC), bp + 236);
    f.set(opts, bp + 240);
    let sum = foldChecksum(sum16(f, udp, udpLen, pseudoSum(f, ip + 12, 4, 17, udpLen)));
    if (sum === 0) sum = 0xffff;
    f[udp + 6] = sum >> 8; f[udp + 7] = sum & 255;
    if (this.originate(f)) {
      this.count(type === DHCP.OFFER ? 'offers' : type === DHCP.ACK ? 'acks' : 'naks');
    }
  }

  private originate(f: Uint8Array): boolean {
    const ctx = this.ctx;
    const frame = ctx.allocate(f.length);
    if (frame === -1) {
      ctx.log('frame pool exhausted: reply not sent');
      return false;
    }
    ctx.write(frame, 0, f);
    ctx.inject(frame, -1);
    return true;
  }

  /** answer an ARP request for the pool's serverAddress (clients renew by unicast) */
  private arp(view: FilterView, i: number, poolIndex: number): void {
    if (this.ctx.tracing) return;
    const pool = this.cfg.pools[poolIndex];
    const b = this.buf;
    if (view.copy(i, b, 0, 42) < 42 || b[14] !== 0 || b[15] !== 1 || b[16] !== 8 || b[17] !== 0 || b[18] !== 6 || b[19] !== 4) return;
    const f = new Uint8Array(60);
    f.set(b.subarray(22, 28), 0); // to the sender hardware address
    f.set(pool.serverMac, 6);
    f[12] = 0x08; f[13] = 0x06;
    f.set([0, 1, 8, 0, 6, 4, 0, 2], 14);
    f.set(pool.serverMac, 22);
    f.set(bytes4(pool.server), 28);
    f.set(b.subarray(22, 32), 32); // target = the requester's sha + spa
    if (this.originate(f)) this.count('arpReplies');
  }
}

function bytes4(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

const IP = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const MAC = /^[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$/;

export default defineFilter({
  name: 'dhcp-server',
  version: '1.0.0',
  kind: 'filter',
  doc: {
    synopsis: 'dhcp-server pools=[{network, rangeStart, rangeEnd, serverAddress, router, dns, leaseSeconds, ports, serverMac, arp}…] static=[{mac, ip}…]',
    summary: 'A DHCPv4 server in the switch: answers VM ports\' DHCP from configured address pools.',
    description: 'On ingress, DHCP client messages (untagged IPv4 UDP 68→67) from a port a pool covers are dropped '
      + '(extension-drop `answered by dhcp-server`) and answered by frames the extension originates (injected as from the '
      + 'switch, port -1, then forwarded as any frame): DHCPDISCOVER gets a DHCPOFFER, DHCPREQUEST a DHCPACK or DHCPNAK, '
      + 'DHCPINFORM a DHCPACK with the pool\'s options; DHCPRELEASE and DHCPDECLINE are taken without reply. Addresses come '
      + 'from the pool\'s range (round robin, the client\'s previous or requested address when it is free) or from `static` '
      + 'for known MACs. Leases are kept per client MAC and expire after leaseSeconds; a REQUEST for the client\'s current '
      + 'address renews it; a REQUEST for an address the client does not hold (and was not offered) gets a NAK. Replies '
      + 'follow RFC 2131 §4.1: NAK broadcast; to ciaddr when the client has one; broadcast when the client sets the '
      + 'broadcast flag; otherwise unicast to yiaddr and the client MAC. They carry subnet mask, broadcast address, router, '
      + 'DNS servers, lease time, T1, T2 and server identifier, correct IPv4 and UDP checksums, and are padded to a '
      + '300-byte BOOTP message. ARP requests for a pool\'s serverAddress are answered (unless arp=false) so that clients '
      + 'can renew by unicast; the request itself passes on.',
    path: 'ingress (by source port, before forwarding). It has no egress hook.',
    notes: 'A port is served by the first pool that lists it (pools without `ports` cover every port); DHCP from ports no '
      + 'pool covers, and DHCP with a VLAN tag, passes untouched. Malformed DHCP from a covered port is dropped '
      + '(`malformed dhcp`), as are server messages (OFFER/ACK/NAK) from a covered port (a rogue server). An offer holds its '
      + `address for ${OFFER_HOLD_SECONDS} s; a declined address stays out of the pool for ${DECLINE_HOLD_SECONDS} s. `
      + `At most ${MAX_POOL_ADDRESSES} addresses per range; the server, router and DNS addresses and static mappings are `
      + 'never handed out dynamically. When the range is full, a DISCOVER gets no answer and poolExhausted counts it. '
      + 'Leases live in memory in each worker\'s instance: they survive reconfigure (those no longer in their pool\'s range '
      + 'are dropped) but not a restart or disable (clients then get a NAK on INIT-REBOOT and start over). Every worker '
      + 'would have its own lease table, so it is enabled only on a switch with one worker (the default); enabling it '
      + 'with `--workers 2` is refused. Replies go to the '
      + 'client MAC, which the learning forwarder has not learned yet on a first DISCOVER (the DISCOVER was dropped), so '
      + 'they flood like any unknown unicast. Relays (giaddr) are not supported: giaddr is echoed, the reply goes to the '
      + 'client. Synthetic `xvs trace` frames are decided (dropped) but never answered, counted or leased. The fast path '
      + 'reads a few header bytes per frame and allocates nothing; only DHCP and ARP-for-server frames allocate.',
    seeAlso: 'RFC 2131, RFC 2132; firewall (with default=deny allow `udp.dst=67-68`); Microsoft VMM DHCPv4 Server Switch Extension',
  },
  config: {
    pools: {
      type: 'list', required: true, doc: 'address pools; a port is served by the first pool that covers it',
      items: {
        type: 'object', keys: {
          network: { type: 'string', required: true, doc: 'the subnet, a.b.c.d/len (len 1..30)' },
          rangeStart: { type: 'string', required: true, pattern: IP, doc: 'first address handed out' },
          rangeEnd: { type: 'string', required: true, pattern: IP, doc: 'last address handed out' },
          serverAddress: { type: 'string', required: true, pattern: IP, doc: 'the address replies come from (server identifier), in the network' },
          serverMac: { type: 'string', pattern: MAC, doc: 'source MAC of replies (default 02:78:76 + the last 3 bytes of serverAddress)' },
          router: { type: 'string', pattern: IP, doc: 'default gateway (option 3), in the network' },
          dns: { type: 'list', items: { type: 'string', pattern: IP, doc: 'DNS server' }, doc: 'DNS servers (option 6)' },
          leaseSeconds: { type: 'integer', default: 3600, min: 60, max: 0x7fffffff, doc: 'lease time (option 51); T1 = 1/2, T2 = 7/8 of it' },
          ports: { type: 'list', items: { type: 'string', doc: 'port name' }, doc: 'ports this pool serves (default: every port)' },
          arp: { type: 'boolean', default: true, doc: 'answer ARP requests for serverAddress (set false when it is a real host\'s address)' },
        },
      },
    },
    static: {
      type: 'list', default: [], doc: 'fixed addresses per client MAC (in some pool\'s network; never handed out to others)',
      items: {
        type: 'object', keys: {
          mac: { type: 'string', required: true, pattern: MAC, doc: 'client MAC' },
          ip: { type: 'string', required: true, pattern: IP, doc: 'its address' },
        },
      },
    },
  },
  singleWorker: true,
  counters: {
    discovers: 'DHCPDISCOVER messages received',
    offers: 'DHCPOFFER messages sent',
    requests: 'DHCPREQUEST messages received',
    acks: 'DHCPACK messages sent (REQUEST and INFORM)',
    naks: 'DHCPNAK messages sent',
    releases: 'DHCPRELEASE messages received',
    declines: 'DHCPDECLINE messages received',
    informs: 'DHCPINFORM messages received',
    poolExhausted: 'DISCOVERs not answered because the pool had no free address',
    malformed: 'DHCP client datagrams from served ports that did not parse (dropped)',
    arpReplies: 'ARP replies sent for a serverAddress',
  },
  validate(config) {
    compileDhcp(config);
  },
  create(config, ctx) {
    return new DhcpServer(config, ctx);
  },
});
