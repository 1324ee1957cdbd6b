/**
 * A port's ACL entries of one direction, compiled into typed arrays at configuration time and
 * searched with a linear scan (at most MAX_ACLS_PER_PORT entries):
 *
 *   ip     allow/deny entries on an IP prefix, sorted by prefix length (longest first), deny before
 *          allow at equal length: the first entry that matches is the longest match.
 *   mac    allow/deny entries on a MAC: exact addresses first, then "any"; deny first at a tie.
 *   meter  meter entries (IP), sorted like `ip`: the longest matching one counts the frame.
 *
 * Local and remote swap with the direction: outbound (the VM sends) local = source, inbound (to the
 * VM) local = destination. An entry on the local address and one on the remote address compete on
 * prefix length alike.
 */
import type { PortAcl } from '../../config/types.js';
import { parseAclMac, parseIpPrefix, type IpPrefix } from './address.js';

export type AclDirection = 'inbound' | 'outbound';
/** verdict cache key: kind, local IP (4 words), remote IP (4), local MAC (hi, lo), remote MAC (hi, lo) */
export const KEY_WORDS = 13;
export const LOCAL = 0;
export const REMOTE = 1;

/** IP entries of one kind (allow/deny, or meter) */
export class IpEntries {
  readonly n: number;
  /** 0 (any: both families), 4 or 6 */
  readonly family: Uint8Array;
  readonly side: Uint8Array;
  readonly deny: Uint8Array;
  /** index of the entry in the port's `acls` list (meter record, trace) */
  readonly entry: Int16Array;
  readonly net: Int32Array;
  readonly mask: Int32Array;

  constructor(list: { prefix: IpPrefix; side: number; deny: boolean; entry: number }[]) {
    list.sort((a, b) => b.prefix.len - a.prefix.len || Number(b.deny) - Number(a.deny) || a.entry - b.entry);
    this.n = list.length;
    this.family = new Uint8Array(list.map((e) => e.prefix.family));
    this.side = new Uint8Array(list.map((e) => e.side));
    this.deny = new Uint8Array(list.map((e) => (e.deny ? 1 : 0)));
    this.entry = new Int16Array(list.map((e) => e.entry));
    this.net = new Int32Array(4 * this.n);
    this.mask = new Int32Array(4 * this.n);
    list.forEach((e, k) => { this.net.set(e.prefix.net, 4 * k); this.mask.set(e.prefix.mask, 4 * k); });
  }

  /** index (in this list) of the first entry that matches, -1 none; family 4 or 6 */
  find(family: number, local: Int32Array, remote: Int32Array): number {
    const net = this.net;
    const mask = this.mask;
    for (let k = 0; k < this.n; k++) {
      const f = this.family[k];
      if (f === 0) return k; // "any": length 0, so nothing after it is longer
      if (f !== family) continue;
      const a = this.side[k] === LOCAL ? local : remote;
      const w = 4 * k;
      if ((a[0] & mask[w]) !== net[w]) continue;
      if (f === 6 && ((a[1] & mask[w + 1]) !== net[w + 1] || (a[2] & mask[w + 2]) !== net[w + 2] || (a[3] & mask[w + 3]) !== net[w + 3])) continue;
      return k;
    }
    return -1;
  }
}

/** MAC entries (allow/deny) */
export class MacEntries {
  readonly n: number;
  readonly any: Uint8Array;
  readonly side: Uint8Array;
  readonly deny: Uint8Array;
  readonly entry: Int16Array;
  readonly hi: Int32Array;
  readonly lo: Int32Array;

  constructor(list: { any: boolean; hi: number; lo: number; side: number; deny: boolean; entry: number }[]) {
    list.sort((a, b) => Number(a.any) - Number(b.any) || Number(b.deny) - Number(a.deny) || a.entry - b.entry);
    this.n = list.length;
    this.any = new Uint8Array(list.map((e) => (e.any ? 1 : 0)));
    this.side = new Uint8Array(list.map((e) => e.side));
    this.deny = new Uint8Array(list.map((e) => (e.deny ? 1 : 0)));
    this.entry = new Int16Array(list.map((e) => e.entry));
    this.hi = new Int32Array(list.map((e) => e.hi));
    this.lo = new Int32Array(list.map((e) => e.lo));
  }

  /** first match for the frame's local and remote MAC (hi 16 bits, lo 32 bits as int32), -1 none */
  find(localHi: number, localLo: number, remoteHi: number, remoteLo: number): number {
    for (let k = 0; k < this.n; k++) {
      if (this.any[k] === 1) return k;
      const local = this.side[k] === LOCAL;
      if ((local ? localHi : remoteHi) === this.hi[k] && (local ? localLo : remoteLo) === this.lo[k]) return k;
    }
    return -1;
  }
}

/** one direction of one port */
export class AclDirectionTable {
  readonly ip: IpEntries;
  readonly mac: MacEntries;
  readonly meter: IpEntries;
  /** `port ACL vm1 outbound deny 10.0.0.0/8` per entry index (trace) */
  readonly words: string[];
  /**
   * The last verdict and what it was decided on (frame kind, local and remote IP words, local and
   * remote MAC): frames of one batch mostly belong to one or a few flows, so a hit skips the scans.
   */
  readonly key = new Int32Array(KEY_WORDS);
  cached = false;
  cachedDeny = -1;
  cachedMeter = -1;
  /** the cached verdict was for an untagged IPv4 frame with these raw words: IP source, IP destination, MAC bytes 0..11 */
  rawValid = false;
  rawSrc = 0;
  rawDst = 0;
  rawM0 = 0;
  rawM1 = 0;
  rawM2 = 0;

  constructor(portName: string, direction: AclDirection, acls: readonly PortAcl[]) {
    const ip: ConstructorParameters<typeof IpEntries>[0] = [];
    const meter: ConstructorParameters<typeof IpEntries>[0] = [];
    const mac: ConstructorParameters<typeof MacEntries>[0] = [];
    this.words = acls.map((a) => `port ACL ${portName} ${direction} ${a.action} ${entryAddress(a).value}`);
    acls.forEach((a, entry) => {
      if (a.direction !== direction && a.direction !== 'both') return;
      const { key, value } = entryAddress(a);
      const side = key.startsWith('local') ? LOCAL : REMOTE;
      if (key.endsWith('MacAddress')) {
        if (a.action === 'meter') throw new Error(`acls[${entry}].${key}: meter entries must be IP-based (give localIPAddress or remoteIPAddress)`);
        mac.push({ ...parseWith(parseAclMac, value, entry, key), side, deny: a.action === 'deny', entry });
        return;
      }
      const prefix = parseWith(parseIpPrefix, value, entry, key);
      (a.action === 'meter' ? meter : ip).push({ prefix, side, deny: a.action === 'deny', entry });
    });
    this.ip = new IpEntries(ip);
    this.mac = new MacEntries(mac);
    this.meter = new IpEntries(meter);
  }

  get empty(): boolean {
    return this.ip.n === 0 && this.mac.n === 0 && this.meter.n === 0;
  }
}

const ADDRESS_KEYS = ['localIPAddress', 'remoteIPAddress', 'localMacAddress', 'remoteMacAddress'] as const;

/** the one address of an entry */
export function entryAddress(a: PortAcl): { key: (typeof ADDRESS_KEYS)[number]; value: string } {
  const given = ADDRESS_KEYS.filter((k) => a[k] !== undefined);
  if (given.length !== 1) throw new Error(`give exactly one address: ${ADDRESS_KEYS.join(', ')}${given.length ? ` (got ${given.join(', ')})` : ''}`);
  return { key: given[0], value: a[given[0]] as string };
}

function parseWith<T>(parse: (s: string) => T, value: string, entry: number, key: string): T {
  try {
    return parse(value);
  } catch (e) {
    throw new Error(`acls[${entry}].${key}: ${(e as Error).message}`);
  }
}

/** check a port's entries as the data path reads them (the settings schema checks more); throws naming the field */
export function checkAcls(acls: readonly PortAcl[]): void {
  acls.forEach((a, k) => {
    if (a.action !== 'allow' && a.action !== 'deny' && a.action !== 'meter') throw new Error(`acls[${k}].action: expected allow, deny or meter, got ${JSON.stringify(a.action)}`);
    if (a.direction !== 'inbound' && a.direction !== 'outbound' && a.direction !== 'both') throw new Error(`acls[${k}].direction: expected inbound, outbound or both, got ${JSON.stringify(a.direction)}`);
    try {
      entryAddress(a);
    } catch (e) {
      throw new Error(`acls[${k}]: ${(e as Error).message}`);
    }
  });
}
