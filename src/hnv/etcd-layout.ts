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
import type { HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';
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
 * Checks a value read from etcd: problems with the field named (empty: fine). The control plane's
 * validator, config/hnv.ts hnvObjectProblems (the same checks as `xvs hnv … add` and the document).
 */
export type HnvObjectValidator = (kind: HnvObjectKind, value: unknown) => string[];

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
