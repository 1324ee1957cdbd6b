/**
 * The params of the HNV methods (`hnv.pa.*`, `hnv.record.*`, `hnv.route.*`, `hnv.show`): their types and
 * parsers, kept beside protocol.ts's method table (which lists them). Objects are checked by the one HNV
 * validator (config/hnv.ts) at path `params`: `params.vsid: expected 4096..16777214, got 12`.
 */
import { ConfigError } from '../core/errors.js';
import {
  ipAddress, ipv4Address, requireVsid, unicastMac, validateCustomerRoute, validateLookupRecord, validateProviderAddress,
} from '../config/hnv.js';
import { normalizeIpAddress } from '../config/port-settings.js';
import { describe, expectObject, fieldPath, optionalBoolean, rejectUnknownKeys } from '../config/fields.js';
import type { HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';

const P = 'params';

/** what an add did: `replaced` = an object with the same key was there (a record "moved") */
export interface HnvAddResult<T> { object: T; key: string; replaced: boolean }
/** what a remove did: `removed` false only with ifExists */
export interface HnvRemoveResult { key: string; removed: boolean }

export type HnvPaRemoveParams = { switch: string; address: string; host?: string; ifExists?: boolean };
export type HnvRecordRemoveParams = { vsid: number; ca?: string; mac?: string; ifExists?: boolean };
export type HnvRouteRemoveParams = { routingDomain: string; vsid: number; prefix: string; ifExists?: boolean };
export interface HnvPaRemoveParsed { switch: string; address: string; host?: string; ifExists: boolean }
export interface HnvRecordRemoveParsed { vsid: number; ca?: string; mac?: string; ifExists: boolean }
export interface HnvRouteRemoveParsed { routingDomain: string; vsid: number; prefix: string; ifExists: boolean }

function paramsObject(input: unknown, keys: readonly string[]): Record<string, unknown> {
  const obj = expectObject(input ?? {}, P);
  rejectUnknownKeys(obj, keys, P);
  return obj;
}

export function parseHnvPa(input: unknown): HnvProviderAddress {
  paramsObject(input, ['switch', 'address', 'prefixLength', 'vlanId', 'gateway', 'host']);
  return validateProviderAddress(input, P);
}

export function parseHnvRecord(input: unknown): HnvLookupRecord {
  paramsObject(input, ['ca', 'vsid', 'mac', 'pa', 'encap', 'type']);
  return validateLookupRecord(input, P);
}

export function parseHnvRoute(input: unknown): HnvCustomerRoute {
  paramsObject(input, ['routingDomain', 'vsid', 'prefix', 'nextHop', 'metric']);
  return validateCustomerRoute(input, P);
}

export function parseHnvPaRemove(input: unknown): HnvPaRemoveParsed {
  const obj = paramsObject(input, ['switch', 'address', 'host', 'ifExists']);
  if (typeof obj.switch !== 'string' || obj.switch === '') throw new ConfigError(fieldPath(P, 'switch'), `required (the PA's switch), got ${describe(obj.switch)}`);
  const out: HnvPaRemoveParsed = { switch: obj.switch, address: ipv4Address(obj.address, fieldPath(P, 'address')), ifExists: optionalBoolean(obj, 'ifExists', P) ?? false };
  if (obj.host !== undefined) {
    if (typeof obj.host !== 'string' || obj.host === '') throw new ConfigError(fieldPath(P, 'host'), `expected a host name, got ${describe(obj.host)}`);
    out.host = obj.host;
  }
  return out;
}

export function parseHnvRecordRemove(input: unknown): HnvRecordRemoveParsed {
  const obj = paramsObject(input, ['vsid', 'ca', 'mac', 'ifExists']);
  const vsid = requireVsid(obj, 'vsid', P);
  if ((obj.ca === undefined) === (obj.mac === undefined)) throw new ConfigError(fieldPath(P, 'ca'), 'give exactly one of ca or mac (the record\'s Customer Address, or its MAC)');
  const out: HnvRecordRemoveParsed = { vsid, ifExists: optionalBoolean(obj, 'ifExists', P) ?? false };
  if (obj.ca !== undefined) out.ca = ipAddress(obj.ca, fieldPath(P, 'ca'));
  if (obj.mac !== undefined) out.mac = unicastMac(obj.mac, fieldPath(P, 'mac'));
  return out;
}

export function parseHnvRouteRemove(input: unknown): HnvRouteRemoveParsed {
  const obj = paramsObject(input, ['routingDomain', 'vsid', 'prefix', 'ifExists']);
  if (typeof obj.routingDomain !== 'string' || obj.routingDomain === '') throw new ConfigError(fieldPath(P, 'routingDomain'), `required (the routing domain), got ${describe(obj.routingDomain)}`);
  const vsid = requireVsid(obj, 'vsid', P);
  const pp = fieldPath(P, 'prefix');
  if (typeof obj.prefix !== 'string' || !obj.prefix.includes('/')) throw new ConfigError(pp, `expected a prefix such as 10.1.0.0/24, got ${describe(obj.prefix)}`);
  return { routingDomain: obj.routingDomain, vsid, prefix: normalizeIpAddress(obj.prefix, pp), ifExists: optionalBoolean(obj, 'ifExists', P) ?? false };
}
