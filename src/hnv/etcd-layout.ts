/**
 * How HNV policy objects are laid out in etcd (docs/HNV.md "Sharing policy through etcd"): one key per
 * object under a prefix (default "/xvs/hnv/"), its value the object's JSON.
 *
 *   <prefix>pa/<host>/<switch>/<address>               → HnvProviderAddress (host always set)
 *   <prefix>record/<vsid>/<ca>                         → HnvLookupRecord, static (the default type)
 *   <prefix>record/<vsid>/<mac>                        → HnvLookupRecord, l2only (CA 0.0.0.0 or ::)
 *   <prefix>route/<routingDomain>/<vsid>/<prefix>      → HnvCustomerRoute
 *
 * Each path segment escapes '%' as %25 and '/' as %2F (a route's "10.1.0.0/24" is one segment,
 * "10.1.0.0%2F24"); IPv6 colons stay as they are. A value is accepted only when its own key (the key
 * computed from the object) is the key it was read under, so the key is the object's identity exactly
 * as paKey/recordKey/routeKey are, and `remove` by identity finds it.
 */
import { isIP } from 'node:net';
import { HNV_VSID_RANGE, type HnvCustomerRoute, type HnvLookupRecord, type HnvProviderAddress } from '../config/types.js';
import type { HnvObjectKind } from './model.js';

export const DEFAULT_HNV_ETCD_PREFIX = '/xvs/hnv/';

export type HnvObject = HnvProviderAddress | HnvLookupRecord | HnvCustomerRoute;

/** "/xvs/hnv" and "/xvs/hnv/" are the same prefix; every key is prefix + kind + "/" + … */
export function normalizePrefix(prefix: string | undefined): string {
  const p = prefix === undefined || prefix === '' ? DEFAULT_HNV_ETCD_PREFIX : prefix;
  return p.endsWith('/') ? p : `${p}/`;
}

export function escapeSegment(s: string): string {
  return s.replace(/%/g, '%25').replace(/\//g, '%2F');
}

export function unescapeSegment(s: string): string {
  return s.replace(/%2F/gi, '/').replace(/%25/g, '%');
}

/** the key (after the prefix) of a PA; a PA without host belongs to `defaultHost` */
export function paPath(p: Pick<HnvProviderAddress, 'host' | 'switch' | 'address'>, defaultHost: string): string {
  return `pa/${escapeSegment(p.host ?? defaultHost)}/${escapeSegment(p.switch)}/${escapeSegment(p.address)}`;
}

export function recordPath(r: Pick<HnvLookupRecord, 'vsid' | 'ca' | 'mac' | 'type'>): string {
  return `record/${r.vsid}/${escapeSegment(r.type === 'l2only' ? r.mac : r.ca)}`;
}

export function routePath(r: Pick<HnvCustomerRoute, 'routingDomain' | 'vsid' | 'prefix'>): string {
  return `route/${escapeSegment(r.routingDomain)}/${r.vsid}/${escapeSegment(r.prefix)}`;
}

export function objectPath(kind: HnvObjectKind, obj: HnvObject, defaultHost: string): string {
  if (kind === 'pa') return paPath(obj as HnvProviderAddress, defaultHost);
  if (kind === 'record') return recordPath(obj as HnvLookupRecord);
  return routePath(obj as HnvCustomerRoute);
}

/**
 * The key (after the prefix) of the object an identity names (model.ts paKey/recordKey/routeKey), or an
 * error. Identities are split from the right: a PA's host, a route's routing domain may hold '|'.
 */
export function pathOfIdentity(kind: HnvObjectKind, identity: string, defaultHost: string): string | Error {
  const parts = identity.split('|');
  if (kind === 'pa') {
    if (parts.length < 3) return new Error(`PA key "${identity}": expected host|switch|address`);
    const address = parts[parts.length - 1];
    const sw = parts[parts.length - 2];
    const host = parts.slice(0, -2).join('|');
    return paPath({ host: host === '' ? undefined : host, switch: sw, address }, defaultHost);
  }
  if (kind === 'record') {
    if (parts.length !== 3 || (parts[1] !== 'ca' && parts[1] !== 'mac')) return new Error(`record key "${identity}": expected vsid|ca|CA or vsid|mac|MAC`);
    return `record/${parts[0]}/${escapeSegment(parts[2])}`;
  }
  if (parts.length < 3) return new Error(`route key "${identity}": expected routingDomain|vsid|prefix`);
  return `route/${escapeSegment(parts.slice(0, -2).join('|'))}/${parts[parts.length - 2]}/${escapeSegment(parts[parts.length - 1])}`;
}

/** the kind a key (after the prefix) holds, or undefined for a key xvs does not use */
export function kindOfPath(path: string): HnvObjectKind | undefined {
  const kind = path.slice(0, path.indexOf('/'));
  return kind === 'pa' || kind === 'record' || kind === 'route' ? kind : undefined;
}

/**
 * Checks a value read from etcd: problems with the field named (empty: fine). `validate` is the
 * control plane's validator (config/hnv.ts); without it a shape check of the fields this file's keys
 * and the data path rely on.
 */
export type HnvObjectValidator = (kind: HnvObjectKind, value: unknown) => string[];

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function checkVsid(v: unknown, problems: string[]): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < HNV_VSID_RANGE.min || v > HNV_VSID_RANGE.max) {
    problems.push(`vsid: expected ${HNV_VSID_RANGE.min}..${HNV_VSID_RANGE.max}, got ${JSON.stringify(v)}`);
  }
}

function checkIp(field: string, v: unknown, problems: string[]): void {
  if (typeof v !== 'string' || isIP(v) === 0) problems.push(`${field}: expected an IPv4 or IPv6 address, got ${JSON.stringify(v)}`);
}

// TODO(lead): replace by hnv-control's validator from src/config/hnv.ts once it lands (pass it as
// createEtcdSource's opts.validate); this check covers the fields the keys and the data path rely on.
export const shapeCheck: HnvObjectValidator = (kind, value) => {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`expected a JSON object, got ${JSON.stringify(value)}`];
  const o = value as Record<string, unknown>;
  if (kind === 'pa') {
    if (typeof o.switch !== 'string' || o.switch === '') problems.push(`switch: expected a switch name, got ${JSON.stringify(o.switch)}`);
    checkIp('address', o.address, problems);
    const max = isIP(String(o.address)) === 6 ? 128 : 32;
    if (typeof o.prefixLength !== 'number' || !Number.isInteger(o.prefixLength) || o.prefixLength < 0 || o.prefixLength > max) {
      problems.push(`prefixLength: expected 0..${max}, got ${JSON.stringify(o.prefixLength)}`);
    }
    if (o.vlanId !== undefined && (typeof o.vlanId !== 'number' || !Number.isInteger(o.vlanId) || o.vlanId < 1 || o.vlanId > 4094)) {
      problems.push(`vlanId: expected 1..4094, got ${JSON.stringify(o.vlanId)}`);
    }
    if (o.gateway !== undefined) checkIp('gateway', o.gateway, problems);
  } else if (kind === 'record') {
    checkIp('ca', o.ca, problems);
    checkVsid(o.vsid, problems);
    if (typeof o.mac !== 'string' || !MAC.test(o.mac)) problems.push(`mac: expected 02:00:00:00:00:01 form, got ${JSON.stringify(o.mac)}`);
    checkIp('pa', o.pa, problems);
    if (o.encap !== 'nvgre' && o.encap !== 'vxlan') problems.push(`encap: expected nvgre or vxlan, got ${JSON.stringify(o.encap)}`);
    if (o.type !== undefined && o.type !== 'static' && o.type !== 'l2only') problems.push(`type: expected static or l2only, got ${JSON.stringify(o.type)}`);
  } else {
    if (typeof o.routingDomain !== 'string' || o.routingDomain === '') problems.push(`routingDomain: expected a non-empty name, got ${JSON.stringify(o.routingDomain)}`);
    checkVsid(o.vsid, problems);
    const [net, len, extra] = typeof o.prefix === 'string' ? o.prefix.split('/') : [];
    const family = net === undefined ? 0 : isIP(net);
    const bits = Number(len);
    if (family === 0 || extra !== undefined || len === undefined || !/^\d+$/.test(len) || bits > (family === 6 ? 128 : 32)) {
      problems.push(`prefix: expected ADDRESS/LENGTH, got ${JSON.stringify(o.prefix)}`);
    }
    checkIp('nextHop', o.nextHop, problems);
    if (o.metric !== undefined && (typeof o.metric !== 'number' || !Number.isInteger(o.metric) || o.metric < 0)) {
      problems.push(`metric: expected a non-negative integer, got ${JSON.stringify(o.metric)}`);
    }
  }
  return problems;
};

/**
 * A key/value read from etcd → the object, or why it is skipped (the caller logs it with the key).
 * `path` is the key after the prefix.
 */
export function parseEntry(path: string, text: string, validate: HnvObjectValidator):
  { kind: HnvObjectKind; obj: HnvObject } | { skip: string } {
  const kind = kindOfPath(path);
  if (kind === undefined) return { skip: 'not a pa/, record/ or route/ key' };
  let value: unknown;
  try { value = JSON.parse(text); } catch (e) { return { skip: `not JSON (${(e as Error).message})` }; }
  const problems = validate(kind, value);
  if (problems.length > 0) return { skip: problems.join('; ') };
  const obj = value as HnvObject;
  // in etcd every PA names its host (the control plane's validator allows none in a local document)
  if (kind === 'pa' && (typeof (obj as HnvProviderAddress).host !== 'string' || (obj as HnvProviderAddress).host === '')) {
    return { skip: `host: expected the name of the daemon whose switch has this PA, got ${JSON.stringify((obj as HnvProviderAddress).host)}` };
  }
  const expected = objectPath(kind, obj, '');
  if (expected !== path) return { skip: `the value's own key is ${expected}, not ${path} (the key names the object)` };
  return { kind, obj };
}
