/**
 * Small typed readers of configuration and request fields: each returns the typed value or throws a
 * ConfigError whose message begins with the field's path (`switches[0].ports[1].vlan.accessVlanId:
 * expected 1..4094, got 5000`). Used by config/schema.ts, config/port-settings.ts and control/.
 */
import { ConfigError } from '../core/errors.js';

/** `a.b`, `a[0]`, or just `b` at the root. */
export function fieldPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** A short rendering of a bad value for an error message (`"foo"`, `5`, `null`, `an array`). */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

export function expectObject(input: unknown, path: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(path, `expected an object, got ${describe(input)}`);
  }
  return input as Record<string, unknown>;
}

export function rejectUnknownKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(fieldPath(path, key), `unknown key (expected one of ${allowed.join(', ')})`);
    }
  }
}

export function requireString(obj: Record<string, unknown>, key: string, path: string): string {
  const v = obj[key];
  if (v === undefined) throw new ConfigError(fieldPath(path, key), 'required');
  if (typeof v !== 'string') throw new ConfigError(fieldPath(path, key), `expected a string, got ${describe(v)}`);
  return v;
}

export function optionalBoolean(obj: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(fieldPath(path, key), `expected true or false, got ${describe(v)}`);
  return v;
}

export function optionalInt(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  range: { min: number; max: number },
): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
    throw new ConfigError(fieldPath(path, key), `expected an integer in ${range.min}..${range.max}, got ${describe(v)}`);
  }
  return v;
}

export function requireEnum<T extends string>(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  values: readonly T[],
): T {
  const v = obj[key];
  if (v === undefined) throw new ConfigError(fieldPath(path, key), `required (one of ${values.join(', ')})`);
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ConfigError(fieldPath(path, key), `expected one of ${values.join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

