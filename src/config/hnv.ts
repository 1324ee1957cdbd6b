/**
 * Validation of the HNV policy objects (config/types.ts HnvConfig; docs/HNV.md "Policy objects, CLI and
 * API"). One validator for every way in: the config file and `config apply` (path `hnv.lookupRecords[0]`),
 * the control API (`params`) and the etcd source. Values come back normalised (MACs lower-case with colons,
 * IPv6 in RFC 5952 form, prefixes without host bits, the default record type left out), so what
 * `hnv show --json` prints applies again as "no changes". Errors name the field:
 * `hnv.lookupRecords[0].vsid: expected 4096..16777214, got 12`.
 *
 * Three layers, as config/schema.ts: the shape of one object (`validateProviderAddress`, …), the rules
 * between objects of one snapshot (`checkHnvSnapshot`: duplicate keys, a CA once per routing domain, a
 * VSID in one routing domain), and the rules against this daemon's switches (`checkPaSwitches`).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../core/errors.js';
import { paKey, recordKey, routeKey, type HnvPolicySnapshot } from '../hnv/model.js';
import { describe, expectObject, fieldPath, rejectUnknownKeys } from './fields.js';
import { normalizeIpAddress, normalizeMac } from './port-settings.js';
import {
  HNV_VSID_RANGE, type HnvConfig, type HnvCustomerRoute, type HnvEncap, type HnvEtcdConfig, type HnvLookupRecord,
  type HnvProviderAddress, type HnvRecordType, type SwitchConfig,
} from './types.js';
import { VLAN_ID_MAX, VLAN_ID_MIN } from './vlan-list.js';

export const HNV_ENCAPS: readonly HnvEncap[] = ['nvgre', 'vxlan'];
export const HNV_RECORD_TYPES: readonly HnvRecordType[] = ['static', 'l2only'];
/** IPv4 PAs only: the data path builds outer IPv4 headers (policy/hnv/encap.ts) */
export const HNV_PA_PREFIX_RANGE = { min: 1, max: 32 } as const;
export const HNV_METRIC_RANGE = { min: 0, max: 4_294_967_295 } as const;
/** a routing domain's name (Hyper-V: a GUID); `|` is the separator of object keys (hnv/model.ts) */
const ROUTING_DOMAIN_RE = /^[A-Za-z0-9{}._:-]{1,128}$/;
const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
export const DEFAULT_ETCD_PREFIX = '/xvs/hnv/';

const PA_KEYS = ['switch', 'address', 'prefixLength', 'vlanId', 'gateway', 'host'] as const;
const RECORD_KEYS = ['ca', 'vsid', 'mac', 'pa', 'encap', 'type'] as const;
const ROUTE_KEYS = ['routingDomain', 'vsid', 'prefix', 'nextHop', 'metric'] as const;
const ETCD_KEYS = ['endpoints', 'prefix', 'host'] as const;
const HNV_KEYS = ['providerAddresses', 'lookupRecords', 'customerRoutes', 'etcd'] as const;

// ---------------------------------------------------------------------------------------------------------------
// Small readers

function intField(obj: Record<string, unknown>, key: string, path: string, r: { min: number; max: number }, required: boolean): number | undefined {
  const v = obj[key];
  const p = fieldPath(path, key);
  if (v === undefined) {
    if (required) throw new ConfigError(p, `required (${r.min}..${r.max})`);
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < r.min || v > r.max) throw new ConfigError(p, `expected ${r.min}..${r.max}, got ${describe(v)}`);
  return v;
}

/** a VSID (HNV_VSID_RANGE): `expected 4096..16777214, got 12` */
export function requireVsid(obj: Record<string, unknown>, key: string, path: string): number {
  return intField(obj, key, path, HNV_VSID_RANGE, true)!;
}

function str(obj: Record<string, unknown>, key: string, path: string, what: string): string {
  const v = obj[key];
  if (v === undefined) throw new ConfigError(fieldPath(path, key), `required (${what})`);
  if (typeof v !== 'string') throw new ConfigError(fieldPath(path, key), `expected ${what}, got ${describe(v)}`);
  return v;
}

/** an IPv4 host address, normalised */
export function ipv4Address(v: unknown, path: string): string {
  if (typeof v !== 'string' || !isIPv4(v)) throw new ConfigError(path, `expected an IPv4 address such as 192.0.2.1, got ${describe(v)}`);
  return v.split('.').map(Number).join('.');
}

/** an IPv4 or IPv6 host address (no prefix), normalised */
export function ipAddress(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.includes('/') || (!isIPv4(v) && !isIPv6(v))) {
    throw new ConfigError(path, `expected an IPv4 or IPv6 address, got ${describe(v)}`);
  }
  return normalizeIpAddress(v, path);
}

function ipv4Number(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** is `addr` (IPv4) in `net`/`len`? */
export function inSubnet(addr: string, net: string, len: number): boolean {
  const size = 2 ** (32 - len);
  return Math.floor(ipv4Number(addr) / size) === Math.floor(ipv4Number(net) / size);
}

/** a unicast MAC, lower-case with colons */
export function unicastMac(v: unknown, path: string): string {
  const mac = typeof v === 'string' ? normalizeMac(v) : null;
  if (mac === null) throw new ConfigError(path, `expected a MAC address such as 02:00:00:00:00:01, got ${describe(v)}`);
  if ((parseInt(mac.slice(0, 2), 16) & 1) !== 0) throw new ConfigError(path, `${mac} is a multicast address (a VM's MAC is unicast)`);
  if (mac === '00:00:00:00:00:00') throw new ConfigError(path, 'the all-zero MAC is not an address');
  return mac;
}

function enumField<T extends string>(obj: Record<string, unknown>, key: string, path: string, values: readonly T[], required: boolean): T | undefined {
  const v = obj[key];
  if (v === undefined) {
    if (required) throw new ConfigError(fieldPath(path, key), `required (one of ${values.join(', ')})`);
    return undefined;
  }
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v.toLowerCase())) {
    throw new ConfigError(fieldPath(path, key), `expected one of ${values.join(', ')}, got ${describe(v)}`);
  }
  return v.toLowerCase() as T;
}

function hostName(v: unknown, path: string): string {
  if (typeof v !== 'string' || !HOST_RE.test(v)) throw new ConfigError(path, `expected a host name (A-Z a-z 0-9 . _ -), got ${describe(v)}`);
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// One object

/** New-NetVirtualizationProviderAddress (IPv4: the data path's outer header is IPv4) */
export function validateProviderAddress(input: unknown, path: string): HnvProviderAddress {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, PA_KEYS, path);
  const sw = str(obj, 'switch', path, 'the name of an external switch');
  if (sw.length === 0) throw new ConfigError(fieldPath(path, 'switch'), 'must not be empty');
  const address = ipv4Address(obj.address === undefined ? undefined : obj.address, fieldPath(path, 'address'));
  if (address === '0.0.0.0' || address.startsWith('127.') || ipv4Number(address) >= ipv4Number('224.0.0.0')) {
    throw new ConfigError(fieldPath(path, 'address'), `${address} is not a unicast host address`);
  }
  const prefixLength = intField(obj, 'prefixLength', path, HNV_PA_PREFIX_RANGE, true)!;
  const out: HnvProviderAddress = { switch: sw, address, prefixLength };
  const vlanId = intField(obj, 'vlanId', path, { min: VLAN_ID_MIN, max: VLAN_ID_MAX }, false);
  if (vlanId !== undefined) out.vlanId = vlanId;
  if (obj.gateway !== undefined) {
    const gp = fieldPath(path, 'gateway');
    const gateway = ipv4Address(obj.gateway, gp);
    if (gateway === address) throw new ConfigError(gp, `${gateway} is the PA itself`);
    if (!inSubnet(gateway, address, prefixLength)) throw new ConfigError(gp, `${gateway} is not in the PA's subnet ${address}/${prefixLength}`);
    out.gateway = gateway;
  }
  if (obj.host !== undefined) out.host = hostName(obj.host, fieldPath(path, 'host'));
  return out;
}

/** New-NetVirtualizationLookupRecord */
export function validateLookupRecord(input: unknown, path: string): HnvLookupRecord {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, RECORD_KEYS, path);
  const type = enumField(obj, 'type', path, HNV_RECORD_TYPES, false) ?? 'static';
  const caPath = fieldPath(path, 'ca');
  if (obj.ca === undefined) throw new ConfigError(caPath, 'required (the Customer Address; 0.0.0.0 or :: for an l2only record)');
  const ca = ipAddress(obj.ca, caPath);
  const unspecified = ca === '0.0.0.0' || ca === '::';
  if (type === 'l2only' && !unspecified) throw new ConfigError(caPath, `an l2only record has CA 0.0.0.0 or ::, got ${describe(obj.ca)}`);
  if (type === 'static' && unspecified) throw new ConfigError(caPath, `${ca} is only the CA of an l2only record (type: l2only)`);
  const vsid = requireVsid(obj, 'vsid', path);
  if (obj.mac === undefined) throw new ConfigError(fieldPath(path, 'mac'), 'required (the CA\'s MAC)');
  const mac = unicastMac(obj.mac, fieldPath(path, 'mac'));
  if (obj.pa === undefined) throw new ConfigError(fieldPath(path, 'pa'), 'required (the Provider Address of the VM\'s host)');
  const pa = ipv4Address(obj.pa, fieldPath(path, 'pa'));
  const encap = enumField(obj, 'encap', path, HNV_ENCAPS, true)!;
  return { ca, vsid, mac, pa, encap, ...(type === 'l2only' ? { type } : {}) };
}

/** New-NetVirtualizationCustomerRoute */
export function validateCustomerRoute(input: unknown, path: string): HnvCustomerRoute {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, ROUTE_KEYS, path);
  const routingDomain = str(obj, 'routingDomain', path, 'a routing domain name or GUID');
  if (!ROUTING_DOMAIN_RE.test(routingDomain)) {
    throw new ConfigError(fieldPath(path, 'routingDomain'), `expected 1..128 of A-Z a-z 0-9 { } . _ : -, got ${describe(routingDomain)}`);
  }
  const vsid = requireVsid(obj, 'vsid', path);
  const pp = fieldPath(path, 'prefix');
  if (obj.prefix === undefined) throw new ConfigError(pp, 'required (an IPv4 or IPv6 prefix such as 10.1.0.0/24)');
  if (typeof obj.prefix !== 'string' || !obj.prefix.includes('/')) throw new ConfigError(pp, `expected an IPv4 or IPv6 prefix such as 10.1.0.0/24, got ${describe(obj.prefix)}`);
  const prefix = normalizeIpAddress(obj.prefix, pp);
  const v4 = prefix.includes('.');
  const np = fieldPath(path, 'nextHop');
  if (obj.nextHop === undefined) throw new ConfigError(np, `required (${v4 ? '0.0.0.0' : '::'} for on-link, or a CA to route through)`);
  const nextHop = ipAddress(obj.nextHop, np);
  if (nextHop.includes('.') !== v4) throw new ConfigError(np, `${nextHop} is not an ${v4 ? 'IPv4' : 'IPv6'} address like the prefix ${prefix}`);
  const out: HnvCustomerRoute = { routingDomain, vsid, prefix, nextHop };
  const metric = intField(obj, 'metric', path, HNV_METRIC_RANGE, false);
  if (metric !== undefined) out.metric = metric;
  return out;
}

export function validateEtcd(input: unknown, path: string): HnvEtcdConfig {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, ETCD_KEYS, path);
  const ep = fieldPath(path, 'endpoints');
  const list: unknown = obj.endpoints;
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError(ep, `expected a non-empty list of http(s) URLs, got ${describe(list)}`);
  const endpoints = (list as unknown[]).map((u, i) => etcdEndpoint(u, `${ep}[${i}]`));
  const out: HnvEtcdConfig = { endpoints };
  if (obj.prefix !== undefined) {
    const p = obj.prefix;
    if (typeof p !== 'string' || !p.startsWith('/') || p.length > 256) throw new ConfigError(fieldPath(path, 'prefix'), `expected a key prefix starting with "/", got ${describe(p)}`);
    out.prefix = p.endsWith('/') ? p : `${p}/`;
  }
  if (obj.host !== undefined) out.host = hostName(obj.host, fieldPath(path, 'host'));
  return out;
}

/** one etcd endpoint: an http(s) URL without path, query or credentials */
export function etcdEndpoint(v: unknown, path: string): string {
  let u: URL;
  try {
    if (typeof v !== 'string') throw new Error();
    u = new URL(v);
  } catch {
    throw new ConfigError(path, `expected an http(s) URL such as http://127.0.0.1:2379, got ${describe(v)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(path, `expected an http or https URL, got ${describe(v)}`);
  if (u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw new ConfigError(path, `expected scheme://host:port only, got ${describe(v)}`);
  }
  return `${u.protocol}//${u.host}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Between objects

/** where each object of a snapshot is named in errors */
export interface SnapshotPaths {
  pa(i: number): string;
  record(i: number): string;
  route(i: number): string;
}

export const documentPaths = (path: string): SnapshotPaths => ({
  pa: (i) => `${fieldPath(path, 'providerAddresses')}[${i}]`,
  record: (i) => `${fieldPath(path, 'lookupRecords')}[${i}]`,
  route: (i) => `${fieldPath(path, 'customerRoutes')}[${i}]`,
});

/**
 * The rules between objects: no two with one key (hnv/model.ts), a VSID in one routing domain, a CA at most
 * once per routing domain (VSIDs without routes are their own domain). The later object is named.
 */
export function checkHnvSnapshot(s: HnvPolicySnapshot, paths: SnapshotPaths): void {
  const seen = (keys: string[], name: (i: number) => string, what: string): void => {
    const first = new Map<string, number>();
    keys.forEach((k, i) => {
      const j = first.get(k);
      if (j !== undefined) throw new ConfigError(name(i), `the same ${what} as ${name(j)} (${k.replaceAll('|', ' ').trim()})`);
      first.set(k, i);
    });
  };
  seen(s.providerAddresses.map(paKey), paths.pa, 'provider address');
  seen(s.lookupRecords.map(recordKey), paths.record, 'lookup record');
  seen(s.customerRoutes.map(routeKey), paths.route, 'customer route');
  const domainOf = new Map<number, string>();
  s.customerRoutes.forEach((r, i) => {
    const d = domainOf.get(r.vsid);
    if (d !== undefined && d !== r.routingDomain) {
      throw new ConfigError(fieldPath(paths.route(i), 'routingDomain'), `VSID ${r.vsid} is in routing domain "${d}" already (a VSID belongs to one routing domain)`);
    }
    domainOf.set(r.vsid, r.routingDomain);
  });
  const caAt = new Map<string, number>();
  s.lookupRecords.forEach((r, i) => {
    if (r.type === 'l2only') return;
    const domain = domainOf.get(r.vsid) ?? `vsid ${r.vsid}`;
    const k = `${domain}|${r.ca}`;
    const j = caAt.get(k);
    if (j !== undefined) {
      throw new ConfigError(fieldPath(paths.record(i), 'ca'), `${r.ca} has a record in routing domain "${domain}" already (${paths.record(j)}, VSID ${s.lookupRecords[j].vsid}): a CA is unique in its routing domain`);
    }
    caAt.set(k, i);
  });
}

/** the problems of one object (empty: valid), for the etcd source: what it reads is checked as a document would be */
export function hnvObjectProblems(kind: 'pa' | 'record' | 'route', value: unknown): string[] {
  try {
    if (kind === 'pa') validateProviderAddress(value, '');
    else if (kind === 'record') validateLookupRecord(value, '');
    else validateCustomerRoute(value, '');
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [e.message];
    throw e;
  }
}

/** a PA's switch is an external switch of this daemon (`mine`: the PAs this daemon owns) */
export function checkPaSwitches(pas: readonly HnvProviderAddress[], switches: readonly SwitchConfig[], paths: SnapshotPaths, mine: (p: HnvProviderAddress) => boolean = () => true): void {
  pas.forEach((p, i) => {
    if (!mine(p)) return;
    const sw = switches.find((s) => s.name === p.switch);
    const f = fieldPath(paths.pa(i), 'switch');
    if (!sw) throw new ConfigError(f, `no such switch "${p.switch}"`);
    if (sw.type !== 'external') throw new ConfigError(f, `switch "${p.switch}" is ${sw.type}: a PA lives on an external switch's uplink`);
  });
}

function list<T>(obj: Record<string, unknown>, key: string, path: string, one: (x: unknown, p: string) => T): T[] | undefined {
  const v: unknown = obj[key];
  if (v === undefined) return undefined;
  const p = fieldPath(path, key);
  if (!Array.isArray(v)) throw new ConfigError(p, `expected an array, got ${describe(v)}`);
  return (v as unknown[]).map((x, i) => one(x, `${p}[${i}]`));
}

/**
 * The document's `hnv` (path `hnv`): every object, the rules between them and, given the document's
 * switches, each PA's switch (skipped with etcd: the lists are not used then). Empty lists are left out.
 */
export function validateHnv(input: unknown, path: string, switches?: readonly SwitchConfig[]): HnvConfig {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, HNV_KEYS, path);
  const providerAddresses = list(obj, 'providerAddresses', path, validateProviderAddress) ?? [];
  const lookupRecords = list(obj, 'lookupRecords', path, validateLookupRecord) ?? [];
  const customerRoutes = list(obj, 'customerRoutes', path, validateCustomerRoute) ?? [];
  const paths = documentPaths(path);
  checkHnvSnapshot({ providerAddresses, lookupRecords, customerRoutes }, paths);
  const out: HnvConfig = {};
  if (providerAddresses.length) out.providerAddresses = providerAddresses;
  if (lookupRecords.length) out.lookupRecords = lookupRecords;
  if (customerRoutes.length) out.customerRoutes = customerRoutes;
  if (obj.etcd !== undefined) out.etcd = validateEtcd(obj.etcd, fieldPath(path, 'etcd'));
  if (switches && !out.etcd) checkPaSwitches(providerAddresses, switches, paths);
  return out;
}

/** the three lists of a document's `hnv` */
export function snapshotOf(h: HnvConfig | undefined): HnvPolicySnapshot {
  return { providerAddresses: h?.providerAddresses ?? [], lookupRecords: h?.lookupRecords ?? [], customerRoutes: h?.customerRoutes ?? [] };
}

/** a document's `hnv` with these lists (empty ones left out; etcd kept) */
export function withSnapshot(h: HnvConfig | undefined, s: HnvPolicySnapshot): HnvConfig | undefined {
  const out: HnvConfig = {};
  if (s.providerAddresses.length) out.providerAddresses = s.providerAddresses;
  if (s.lookupRecords.length) out.lookupRecords = s.lookupRecords;
  if (s.customerRoutes.length) out.customerRoutes = s.customerRoutes;
  if (h?.etcd) out.etcd = h.etcd;
  return Object.keys(out).length > 0 ? out : undefined;
}
