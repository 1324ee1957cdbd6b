/**
 * Validation of an extension's configuration against its declared ConfigSpec: defaults filled in,
 * unknown keys rejected, every error a ConfigError naming the full path
 * (`extensions.firewall.config.rules[2].action: expected one of allow, deny, got "drop"`).
 */
import { ConfigError } from '../core/errors.js';
import type { ConfigKeySpec, ConfigSpec, ConfigValue, Extension, ExtensionConfig } from './api.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v);
}

type ItemSpec = ConfigKeySpec | { type: 'object'; keys: ConfigSpec };

function validateValue(spec: ItemSpec, v: unknown, path: string): ConfigValue {
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') throw new ConfigError(path, `expected a string, got ${describe(v)}`);
      if ('pattern' in spec && spec.pattern && !spec.pattern.test(v)) throw new ConfigError(path, `${describe(v)} does not match ${spec.pattern}`);
      return v;
    case 'integer': {
      const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new ConfigError(path, `expected an integer, got ${describe(v)}`);
      const min = 'min' in spec ? spec.min : undefined;
      const max = 'max' in spec ? spec.max : undefined;
      if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
        throw new ConfigError(path, `expected ${min ?? '-∞'}..${max ?? '∞'}, got ${n}`);
      }
      return n;
    }
    case 'boolean':
      if (v === 'true' || v === 'yes') return true;
      if (v === 'false' || v === 'no') return false;
      if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false, got ${describe(v)}`);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) {
        throw new ConfigError(path, `expected one of ${spec.values.join(', ')}, got ${describe(v)}`);
      }
      return v;
    case 'list': {
      const arr = typeof v === 'string' ? safeJson(v, path) : v;
      if (!Array.isArray(arr)) throw new ConfigError(path, `expected a list, got ${describe(v)}`);
      return arr.map((x, i) => validateValue(spec.items, x, `${path}[${i}]`));
    }
    case 'object': {
      const obj = typeof v === 'string' ? safeJson(v, path) : v;
      if (!isObject(obj)) throw new ConfigError(path, `expected an object, got ${describe(v)}`);
      return validateKeys(spec.keys, obj, path);
    }
  }
}

function safeJson(s: string, path: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    throw new ConfigError(path, `expected JSON, got ${describe(s)}`);
  }
}

function validateKeys(spec: ConfigSpec, input: Record<string, unknown>, path: string): { [k: string]: ConfigValue } {
  const out: { [k: string]: ConfigValue } = {};
  for (const k of Object.keys(input)) {
    if (!(k in spec)) throw new ConfigError(`${path}.${k}`, `unknown key (known: ${Object.keys(spec).join(', ') || 'none'})`);
  }
  for (const [k, ks] of Object.entries(spec)) {
    const p = `${path}.${k}`;
    if (input[k] === undefined) {
      if ('default' in ks && ks.default !== undefined) out[k] = ks.default as ConfigValue;
      else if (ks.required) throw new ConfigError(p, 'required');
      continue;
    }
    out[k] = validateValue(ks, input[k], p);
  }
  return out;
}

/** Validate `input` against the extension's spec; `path` prefixes every error's field. */
export function validateExtensionConfig(def: Pick<Extension, 'config'>, input: unknown, path: string): ExtensionConfig {
  if (input === undefined || input === null) input = {};
  if (!isObject(input)) throw new ConfigError(path, `expected an object, got ${describe(input)}`);
  return validateKeys(def.config, input, path);
}

/** Render a spec for docs: one row per key (nested keys dotted). */
export function specRows(spec: ConfigSpec, prefix = ''): { key: string; type: string; default: string; doc: string }[] {
  const rows: { key: string; type: string; default: string; doc: string }[] = [];
  for (const [k, s] of Object.entries(spec)) {
    const key = prefix + k;
    let type: string = s.type;
    if (s.type === 'enum') type = s.values.join(' \\| ');
    if (s.type === 'integer' && (s.min !== undefined || s.max !== undefined)) type = `integer ${s.min ?? ''}..${s.max ?? ''}`;
    if (s.type === 'list') type = `list of ${s.items.type}`;
    const def = 'default' in s && s.default !== undefined ? JSON.stringify(s.default) : s.required ? '(required)' : '—';
    rows.push({ key, type, default: def, doc: s.doc });
    if (s.type === 'object') rows.push(...specRows(s.keys, `${key}.`));
    if (s.type === 'list' && s.items.type === 'object') rows.push(...specRows(s.items.keys, `${key}[].`));
  }
  return rows;
}
