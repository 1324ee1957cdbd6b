/**
 * The params of the per-port settings methods (`port.set`, `port.meter`, `port.feature.*`, `acl.*`,
 * `acl.extended.*`): their types and parsers, kept beside protocol.ts's method table (which lists them). Every
 * value is checked by the settings validator (config/port-settings.ts) at path `params`, so a request is refused
 * exactly as a document would be: `params.vlan.accessVlanId: expected 1..4094, got 5000`.
 */
import { ConfigError } from '../core/errors.js';
import {
  ACL_ADDRESS_KEYS, EXTENDED_ACL_DIRECTIONS, PORT_SETTING_RANGES, requireFeatureName, validateExtendedAcl, validateFeatureSettings, validatePortAcl,
  validatePortSettings,
} from '../config/port-settings.js';
import { describe, expectObject, fieldPath, optionalBoolean, optionalInt, rejectUnknownKeys, requireIfname } from '../config/schema.js';
import { PORT_SETTING_KEYS, type ExtendedAcl, type PortAcl, type PortSettings } from '../config/types.js';
import type { PortSettingsChange } from './edits.js';

/** a port named by its switch and name */
export interface PortRefParams {
  switch: string;
  name: string;
}
export interface PortSetParsed { switch: string; name: string; settings: PortSettingsChange }
/** a result that may say nothing changed (the request asked for what already was) */
export interface Unchanged { unchanged?: boolean }

/** `acl.add` / `acl.remove`: a port ACL entry (Add-VMNetworkAdapterAcl; exactly one address) */
export type AclParams = PortRefParams & PortAcl;
export interface AclParsed { switch: string; name: string; acl: PortAcl }
export interface AclResult extends Unchanged { switch: string; name: string; acls: PortAcl[] }
/** `acl.extended.add`: an extended ACL entry (Add-VMNetworkAdapterExtendedAcl) */
export type ExtendedAclParams = PortRefParams & ExtendedAcl;
export interface ExtendedAclParsed { switch: string; name: string; acl: ExtendedAcl }
/** `acl.extended.remove`: entries are keyed by weight and direction (Remove-VMNetworkAdapterExtendedAcl) */
export type ExtendedAclRemoveParams = PortRefParams & { weight: number; direction: ExtendedAcl['direction'] };
export interface ExtendedAclResult extends Unchanged { switch: string; name: string; extendedAcls: ExtendedAcl[] }
/** `port.meter`: Measure-VM; reset: report, then count from zero (Reset-VMResourceMetering) */
export type PortMeterParams = PortRefParams & { reset?: boolean };
/** `port.feature.set`: these keys of the extension's per-port settings get these values */
export type FeatureSetParams = PortRefParams & { extension: string; settings: Record<string, string> };
/** `port.feature.remove`: the extension's per-port settings, or only `keys` of them */
export type FeatureRemoveParams = PortRefParams & { extension: string; keys?: string[] };
export interface FeatureResult extends Unchanged { switch: string; name: string; features: NonNullable<PortSettings['features']> }

const P = 'params';

function paramsObject(input: unknown, keys: readonly string[]): Record<string, unknown> {
  const obj = expectObject(input ?? {}, P);
  rejectUnknownKeys(obj, keys, P);
  return obj;
}

/** every PortSettings key: a value sets it (validated as in a document, path `params`), null returns it to its default */
export function parsePortSet(input: unknown): PortSetParsed {
  const obj = paramsObject(input, ['switch', 'name', ...PORT_SETTING_KEYS]);
  const settings: PortSettingsChange = {};
  const w = settings as Record<string, unknown>;
  for (const k of PORT_SETTING_KEYS) {
    if (obj[k] === undefined) continue;
    // an empty ACL list or feature set is the default too
    w[k] = obj[k] === null ? null : (validatePortSettings({ [k]: obj[k] }, P)[k] ?? null);
  }
  if (Object.keys(settings).length === 0) throw new ConfigError(P, `nothing to set: give one of ${PORT_SETTING_KEYS.join(', ')} (a value, or null for the default)`);
  return { switch: requireIfname(obj, 'switch', P), name: requireIfname(obj, 'name', P), settings };
}

function portRefOf(obj: Record<string, unknown>): PortRefParams {
  return { switch: requireIfname(obj, 'switch', P), name: requireIfname(obj, 'name', P) };
}

function withoutRef(obj: Record<string, unknown>): Record<string, unknown> {
  const { switch: _s, name: _n, ...rest } = obj;
  void _s;
  void _n;
  return rest;
}

export function parseAcl(input: unknown): AclParsed {
  const obj = paramsObject(input, ['switch', 'name', 'action', 'direction', ...ACL_ADDRESS_KEYS]);
  return { ...portRefOf(obj), acl: validatePortAcl(withoutRef(obj), P) };
}

export function parseExtendedAcl(input: unknown): ExtendedAclParsed {
  const obj = paramsObject(input, ['switch', 'name', 'action', 'direction', 'weight', 'protocol', 'localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort', 'stateful', 'idleSessionTimeout']);
  return { ...portRefOf(obj), acl: validateExtendedAcl(withoutRef(obj), P) };
}

export function parseExtendedAclRemove(input: unknown): ExtendedAclRemoveParams {
  const obj = paramsObject(input, ['switch', 'name', 'weight', 'direction']);
  const r = PORT_SETTING_RANGES.weight;
  const weight = optionalInt(obj, 'weight', P, r);
  if (weight === undefined) throw new ConfigError(fieldPath(P, 'weight'), `required (an integer in ${r.min}..${r.max})`);
  const d = obj.direction;
  if (typeof d !== 'string' || !(EXTENDED_ACL_DIRECTIONS as readonly string[]).includes(d)) {
    throw new ConfigError(fieldPath(P, 'direction'), `expected one of ${EXTENDED_ACL_DIRECTIONS.join(', ')}, got ${describe(d)}`);
  }
  return { ...portRefOf(obj), weight, direction: d as ExtendedAcl['direction'] };
}

export function parsePortMeter(input: unknown): Required<PortMeterParams> {
  const obj = paramsObject(input, ['switch', 'name', 'reset']);
  return { ...portRefOf(obj), reset: optionalBoolean(obj, 'reset', P) ?? false };
}

export function parseFeatureSet(input: unknown): FeatureSetParams {
  const obj = paramsObject(input, ['switch', 'name', 'extension', 'settings']);
  return {
    ...portRefOf(obj), extension: requireFeatureName(obj.extension, fieldPath(P, 'extension')),
    settings: validateFeatureSettings(obj.settings, fieldPath(P, 'settings')),
  };
}

export function parseFeatureRemove(input: unknown): FeatureRemoveParams {
  const obj = paramsObject(input, ['switch', 'name', 'extension', 'keys']);
  const out: FeatureRemoveParams = { ...portRefOf(obj), extension: requireFeatureName(obj.extension, fieldPath(P, 'extension')) };
  if (obj.keys !== undefined) {
    const keys: unknown = obj.keys;
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k): k is string => typeof k === 'string')) {
      throw new ConfigError(fieldPath(P, 'keys'), `expected a non-empty list of keys, got ${describe(keys)}`);
    }
    out.keys = keys;
  }
  return out;
}
