/**
 * Extension port features (Hyper-V's Set-VMSwitchExtensionPortFeature): a port's `features` setting
 * maps an extension name to key=value strings. Checked on the control plane against the
 * extension's declared `portFeatures` spec whenever a port is added or its settings change, so a
 * wrong value is refused with its field named (`features.port-guard.blocked: expected true or
 * false, got "maybe"`).
 */
import { ConfigError } from '../core/errors.js';
import type { PortFeatureKeySpec, PortFeatureSpec } from './api.js';

/** how the control plane finds an installed extension's feature spec */
export interface FeatureSpecSource {
  get(name: string): { def: { portFeatures?: PortFeatureSpec } } | undefined;
}

function checkValue(spec: PortFeatureKeySpec, value: string, field: string): void {
  switch (spec.type) {
    case 'boolean':
      if (value !== 'true' && value !== 'false') throw new ConfigError(field, `expected true or false, got ${JSON.stringify(value)}`);
      return;
    case 'integer': {
      const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n)) throw new ConfigError(field, `expected an integer, got ${JSON.stringify(value)}`);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw new ConfigError(field, `expected ${spec.min ?? '…'}..${spec.max ?? '…'}, got ${n}`);
      }
      return;
    }
    case 'enum':
      if (!spec.values.includes(value)) throw new ConfigError(field, `expected one of ${spec.values.join(', ')}, got ${JSON.stringify(value)}`);
      return;
    case 'string':
      if (spec.pattern !== undefined && !new RegExp(spec.pattern.source, spec.pattern.flags).test(value)) {
        throw new ConfigError(field, `${JSON.stringify(value)} does not match ${String(spec.pattern)}`);
      }
  }
}

/** throws a ConfigError naming the first bad extension, key or value of `features` */
export function validatePortFeatures(features: unknown, registry: FeatureSpecSource, field = 'features'): void {
  if (features === undefined) return;
  if (features === null || typeof features !== 'object' || Array.isArray(features)) {
    throw new ConfigError(field, 'expected an object: extension name → { key: value }');
  }
  for (const [ext, keys] of Object.entries(features)) {
    const f = `${field}.${ext}`;
    const reg = registry.get(ext);
    if (!reg) throw new ConfigError(f, `no installed extension "${ext}"`);
    const spec = reg.def.portFeatures ?? {};
    const known = Object.keys(spec);
    if (known.length === 0) throw new ConfigError(f, `extension "${ext}" has no port features`);
    if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) throw new ConfigError(f, 'expected an object: { key: value }');
    for (const [key, value] of Object.entries(keys as Record<string, unknown>)) {
      if (!Object.hasOwn(spec, key)) throw new ConfigError(`${f}.${key}`, `unknown port feature (expected one of ${known.join(', ')})`);
      if (typeof value !== 'string') throw new ConfigError(`${f}.${key}`, `expected a string, got ${JSON.stringify(value)}`);
      checkValue(spec[key], value, `${f}.${key}`);
    }
  }
}

/** checks an extension's own `portFeatures` spec at install (plain data, known types) */
export function checkPortFeatureSpec(spec: unknown, field: string): void {
  if (spec === undefined) return;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new ConfigError(field, 'expected an object: key → spec');
  for (const [key, s] of Object.entries(spec as Record<string, unknown>)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(key)) throw new ConfigError(`${field}.${key}`, 'bad key name (a letter, then letters, digits, _ or -)');
    const t = (s as { type?: unknown } | null)?.type;
    if (t !== 'string' && t !== 'integer' && t !== 'boolean' && t !== 'enum') {
      throw new ConfigError(`${field}.${key}.type`, `expected string, integer, boolean or enum, got ${JSON.stringify(t)}`);
    }
    if (typeof (s as { doc?: unknown }).doc !== 'string') throw new ConfigError(`${field}.${key}.doc`, 'expected a one-line description');
  }
}
