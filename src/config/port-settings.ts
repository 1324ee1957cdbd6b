/**
 * Validation of a port's settings (config/types.ts PortSettings: Hyper-V's Set-VMNetworkAdapter,
 * Set-VMNetworkAdapterVlan, Add-VMNetworkAdapterAcl, Add-VMNetworkAdapterExtendedAcl,
 * Set-VMSwitchExtensionPortFeature). One validator for every way in: the config file and `config apply`
 * (path `switches[0].ports[1]`), and the control API (`params`), so the rules are written once.
 *
 * Values come back normalized, so what `port show --json` prints applies again as "no changes": MACs
 * lowercase with colons, IPv6 in RFC 5952 form, "any" lowercase, VLAN lists sorted with ranges joined,
 * protocols by name (6 → tcp), maximumBandwidth rounded to a multiple of 8 bits/s (as Hyper-V does), empty
 * ACL lists and feature sets dropped. Errors name the field and the range expected:
 * `switches[0].ports[1].vlan.accessVlanId: expected 1..4094, got 5000`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../core/errors.js';
import { MAX_ACLS_PER_PORT, MAX_EXTENDED_ACLS_PER_PORT } from '../policy/counters.js';
import { describe, expectObject, fieldPath, optionalBoolean, rejectUnknownKeys } from './fields.js';
import { HNV_VSID_RANGE, PORT_MAC_LIMIT_RANGE } from './types.js';
import type { ExtendedAcl, PortAcl, PortSettings, VlanSetting } from './types.js';
import { parseVlanList, formatVlanList, VLAN_ID_MAX, VLAN_ID_MIN } from './vlan-list.js';

/** Ranges of the numeric settings (docs/POLICIES.md and docs/CONTROL.md state them from here). */
export const PORT_SETTING_RANGES = {
  /** broadcast, multicast and unknown-unicast frames per second; 0 = no limit */
  stormLimit: { min: 0, max: 4_294_967_295 },
  /** bits per second; 0 = no limit (rounded to a multiple of 8) */
  maximumBandwidth: { min: 0, max: 1_000_000_000_000 },
  /** bytes (1 GiB at most: policy/bandwidth's bucket) */
  maximumBandwidthBurst: { min: 0, max: 1_073_741_824 },
  /** 0 = no weight */
  minimumBandwidthWeight: { min: 0, max: 100 },
  /** VMQ weight: 0 = the default queue */
  vmqWeight: { min: 0, max: 100 },
  /** a worker index for vmqPin */
  vmqWorker: { min: 0, max: 15 },
  /** a CPU number (vmqPin, switch cpus) */
  cpu: { min: 0, max: 1023 },
  /** trunk native VLAN: 0 = untagged frames belong to no VLAN */
  nativeVlanId: { min: 0, max: VLAN_ID_MAX },
  vlanId: { min: VLAN_ID_MIN, max: VLAN_ID_MAX },
  weight: { min: 1, max: 65_535 },
  idleSessionTimeout: { min: 1, max: 86_400 },
  port: { min: 0, max: 65_535 },
  protocol: { min: 0, max: 255 },
} as const;
export const DEFAULT_IDLE_SESSION_TIMEOUT = 255;

export const PORT_MIRRORING_MODES = ['none', 'source', 'destination'] as const;
export const ACL_ACTIONS = ['allow', 'deny', 'meter'] as const;
export const ACL_DIRECTIONS = ['inbound', 'outbound', 'both'] as const;
export const ACL_ADDRESS_KEYS = ['localIPAddress', 'remoteIPAddress', 'localMacAddress', 'remoteMacAddress'] as const;
export const EXTENDED_ACL_ACTIONS = ['allow', 'deny'] as const;
export const EXTENDED_ACL_DIRECTIONS = ['inbound', 'outbound'] as const;
const PROTOCOL_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 };
const EXTENDED_ACL_KEYS = [
  'action', 'direction', 'weight', 'protocol', 'localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort', 'stateful', 'idleSessionTimeout',
] as const;
const VLAN_KEYS: Record<VlanSetting['mode'], readonly string[]> = {
  untagged: ['mode'],
  access: ['mode', 'accessVlanId'],
  trunk: ['mode', 'allowedVlanIds', 'nativeVlanId'],
  isolated: ['mode', 'primaryVlanId', 'secondaryVlanId'],
  community: ['mode', 'primaryVlanId', 'secondaryVlanId'],
  promiscuous: ['mode', 'primaryVlanId', 'secondaryVlanIds'],
};
export const VLAN_MODES = Object.keys(VLAN_KEYS) as VlanSetting['mode'][];
const FEATURE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const FEATURE_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const FEATURE_VALUE_MAX = 1024;

// ---------------------------------------------------------------------------------------------------------------
// Small readers

export function intIn(v: unknown, path: string, r: { min: number; max: number }, what = 'an integer in '): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < r.min || v > r.max) {
    throw new ConfigError(path, `expected ${what}${r.min}..${r.max}, got ${describe(v)}`);
  }
  return v;
}

/** a VLAN id: the message reads `expected 1..4094, got 5000` */
function vlanId(v: unknown, path: string, r: { min: number; max: number } = PORT_SETTING_RANGES.vlanId): number {
  if (v === undefined) throw new ConfigError(path, `required (a VLAN id ${r.min}..${r.max})`);
  return intIn(v, path, r, '');
}

function enumOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (v === undefined) throw new ConfigError(path, `required (one of ${values.join(', ')})`);
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ConfigError(path, `expected one of ${values.join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

function vlanListText(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new ConfigError(path, `expected a VLAN id list such as "1-100,200", got ${describe(v)}`);
  return formatVlanList(parseVlanList(v, path));
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses

/** "00-ab-00-11-22-33", "00:AB:00:11:22:33" → "00:ab:00:11:22:33"; null if not a MAC */
export function normalizeMac(s: string): string | null {
  const m = /^([0-9a-f]{2})([-:])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i.exec(s);
  if (!m) return null;
  return [m[1], m[3], m[4], m[5], m[6], m[7]].join(':').toLowerCase();
}

/** the 16 bytes of an IPv6 address (isIPv6 already said yes) */
function ipv6Bytes(s: string): number[] {
  let text = s;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail.push(...v4[1].split('.').map(Number));
    text = `${text.slice(0, -v4[1].length)}0:0`;
  }
  const [head, rest] = text.split('::');
  const groups = (x: string | undefined): number[] => (x ? x.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** RFC 5952 text of 16 bytes: lowercase, leading zeros dropped, the longest run (≥ 2) of zero groups as "::" */
function ipv6Text(b: readonly number[]): string {
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (x: number[]): string => x.map((v) => v.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/**
 * An IP host or prefix ("10.0.0.1", "10.0.0.0/8", "f001::/64", "0.0.0.0/0") or "any", normalized; a prefix
 * must have no host bits set. Throws naming `path`.
 */
export function normalizeIpAddress(v: unknown, path: string): string {
  const expected = 'an IPv4 or IPv6 host or prefix (10.0.0.1, 10.0.0.0/8, f001::/64) or "any"';
  if (typeof v !== 'string') throw new ConfigError(path, `expected ${expected}, got ${describe(v)}`);
  if (v.toLowerCase() === 'any') return 'any';
  const [addr, len, extra] = v.split('/');
  const v4 = isIPv4(addr);
  if (extra !== undefined || (!v4 && !isIPv6(addr))) throw new ConfigError(path, `expected ${expected}, got ${describe(v)}`);
  const bits = v4 ? 32 : 128;
  const bytes = v4 ? addr.split('.').map(Number) : ipv6Bytes(addr);
  const text = v4 ? bytes.join('.') : ipv6Text(bytes);
  if (len === undefined) return text;
  if (!/^\d{1,3}$/.test(len) || Number(len) > bits) throw new ConfigError(path, `the prefix length of ${describe(v)} must be 0..${bits}`);
  const n = Number(len);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, n - 8 * i));
    if ((bytes[i] & (0xff >> keep)) !== 0) {
      const masked = bytes.map((x, k) => x & (0xff << (8 - Math.max(0, Math.min(8, n - 8 * k)))) & 0xff);
      throw new ConfigError(path, `${describe(v)} has host bits set (did you mean ${v4 ? masked.join('.') : ipv6Text(masked)}/${n}?)`);
    }
  }
  return `${text}/${n}`;
}

/** A MAC of an ACL ("00-ab-00-11-22-33", "00:ab:…") or "any", normalized. */
export function normalizeAclMac(v: unknown, path: string): string {
  if (typeof v === 'string' && v.toLowerCase() === 'any') return 'any';
  const mac = typeof v === 'string' ? normalizeMac(v) : null;
  if (mac === null) throw new ConfigError(path, `expected a MAC address (00-ab-00-11-22-33 or 00:ab:00:11:22:33) or "any", got ${describe(v)}`);
  return mac;
}

// ---------------------------------------------------------------------------------------------------------------
// VLAN

export function validateVlan(input: unknown, path: string): VlanSetting {
  const obj = expectObject(input, path);
  const mode = enumOf(obj.mode, fieldPath(path, 'mode'), VLAN_MODES);
  for (const key of Object.keys(obj)) {
    if (!VLAN_KEYS[mode].includes(key)) {
      const owner = VLAN_MODES.find((m) => VLAN_KEYS[m].includes(key));
      throw new ConfigError(fieldPath(path, key), owner
        ? `not a setting of mode ${mode} (it belongs to ${VLAN_MODES.filter((m) => VLAN_KEYS[m].includes(key)).join('/')}; ${mode} takes ${VLAN_KEYS[mode].join(', ')})`
        : `unknown key (mode ${mode} takes ${VLAN_KEYS[mode].join(', ')})`);
    }
  }
  const f = (k: string): string => fieldPath(path, k);
  switch (mode) {
    case 'untagged': return { mode };
    case 'access': return { mode, accessVlanId: vlanId(obj.accessVlanId, f('accessVlanId')) };
    case 'trunk': {
      if (obj.allowedVlanIds === undefined) throw new ConfigError(f('allowedVlanIds'), 'required (e.g. "1-100,200")');
      const allowedVlanIds = vlanListText(obj.allowedVlanIds, f('allowedVlanIds'));
      const nativeVlanId = obj.nativeVlanId === undefined ? 0 : vlanId(obj.nativeVlanId, f('nativeVlanId'), PORT_SETTING_RANGES.nativeVlanId);
      return { mode, allowedVlanIds, nativeVlanId };
    }
    case 'isolated':
    case 'community': {
      const primaryVlanId = vlanId(obj.primaryVlanId, f('primaryVlanId'));
      const secondaryVlanId = vlanId(obj.secondaryVlanId, f('secondaryVlanId'));
      if (secondaryVlanId === primaryVlanId) throw new ConfigError(f('secondaryVlanId'), `must differ from primaryVlanId (${primaryVlanId})`);
      return { mode, primaryVlanId, secondaryVlanId };
    }
    case 'promiscuous': {
      const primaryVlanId = vlanId(obj.primaryVlanId, f('primaryVlanId'));
      if (obj.secondaryVlanIds === undefined) throw new ConfigError(f('secondaryVlanIds'), 'required (e.g. "200-201")');
      const secondaryVlanIds = vlanListText(obj.secondaryVlanIds, f('secondaryVlanIds'));
      if (parseVlanList(secondaryVlanIds).includes(primaryVlanId)) {
        throw new ConfigError(f('secondaryVlanIds'), `must not include primaryVlanId (${primaryVlanId})`);
      }
      return { mode, primaryVlanId, secondaryVlanIds };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Port ACLs

/** the one address of a port ACL: which field and its value */
export function aclAddress(a: PortAcl): { key: (typeof ACL_ADDRESS_KEYS)[number]; value: string } {
  for (const key of ACL_ADDRESS_KEYS) if (a[key] !== undefined) return { key, value: a[key] };
  throw new Error('internal: a port ACL without an address');
}

/** One port ACL entry. */
export function validatePortAcl(input: unknown, path: string): PortAcl {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, ['action', 'direction', ...ACL_ADDRESS_KEYS], path);
  const action = enumOf(obj.action, fieldPath(path, 'action'), ACL_ACTIONS);
  const direction = enumOf(obj.direction, fieldPath(path, 'direction'), ACL_DIRECTIONS);
  const given = ACL_ADDRESS_KEYS.filter((k) => obj[k] !== undefined);
  if (given.length !== 1) {
    throw new ConfigError(given.length === 0 ? path : fieldPath(path, given[1]), `give exactly one address: ${ACL_ADDRESS_KEYS.join(', ')}${given.length ? ` (got ${given.join(', ')})` : ''}`);
  }
  const key = given[0];
  const p = fieldPath(path, key);
  if (action === 'meter' && (key === 'localMacAddress' || key === 'remoteMacAddress')) {
    throw new ConfigError(p, 'meter entries must be IP-based (give localIPAddress or remoteIPAddress)');
  }
  const value = key === 'localIPAddress' || key === 'remoteIPAddress' ? normalizeIpAddress(obj[key], p) : normalizeAclMac(obj[key], p);
  return { action, direction, [key]: value };
}

/** directions an entry covers */
export const aclDirections = (d: PortAcl['direction']): ('inbound' | 'outbound')[] => (d === 'both' ? ['inbound', 'outbound'] : [d]);

/**
 * Two entries conflict when they are of the same class (meter, or allow/deny), name the same address and share
 * a direction: Hyper-V keeps one entry per (direction, address) for allow/deny (adding replaces), and meter
 * entries count alongside them.
 */
export function aclsOverlap(a: PortAcl, b: PortAcl): boolean {
  const cls = (x: PortAcl): string => (x.action === 'meter' ? 'meter' : 'filter');
  const aa = aclAddress(a);
  const ba = aclAddress(b);
  return cls(a) === cls(b) && aa.key === ba.key && aa.value === ba.value && aclDirections(a.direction).some((d) => aclDirections(b.direction).includes(d));
}

export function validatePortAcls(input: unknown, path: string): PortAcl[] {
  if (!Array.isArray(input)) throw new ConfigError(path, `expected a list of ACL entries, got ${describe(input)}`);
  const raw: unknown[] = input;
  if (raw.length > MAX_ACLS_PER_PORT) throw new ConfigError(path, `at most ${MAX_ACLS_PER_PORT} entries per port, got ${raw.length}`);
  const out: PortAcl[] = [];
  raw.forEach((e, i) => {
    const acl = validatePortAcl(e, `${path}[${i}]`);
    const j = out.findIndex((o) => aclsOverlap(o, acl));
    if (j >= 0) throw new ConfigError(`${path}[${i}]`, `duplicates ${path}[${j}] (same address and direction${acl.action === 'meter' ? '' : '; one of allow/deny per address and direction'})`);
    out.push(acl);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Extended ACLs

function portRange(v: unknown, path: string): string {
  const m = typeof v === 'string' ? /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v.trim()) : typeof v === 'number' ? /^(\d{1,5})$/.exec(String(v)) : null;
  const r = PORT_SETTING_RANGES.port;
  const lo = m ? Number(m[1]) : NaN;
  const hi = m && m[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo > r.max || hi > r.max || hi < lo) {
    throw new ConfigError(path, `expected a port (${r.min}..${r.max}) or a range such as "49152-49182", got ${describe(v)}`);
  }
  return hi === lo ? String(lo) : `${lo}-${hi}`;
}

/** "tcp" | "udp" | "icmp" | "icmpv6" | "0".."255" (a number naming a known protocol becomes its name) */
function protocolOf(v: unknown, path: string): string {
  const names = Object.keys(PROTOCOL_NUMBERS);
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim().toLowerCase() : '';
  if (names.includes(text)) return text;
  const r = PORT_SETTING_RANGES.protocol;
  if (/^\d{1,3}$/.test(text) && Number(text) <= r.max) {
    const n = Number(text);
    return names.find((k) => PROTOCOL_NUMBERS[k] === n) ?? String(n);
  }
  throw new ConfigError(path, `expected one of ${names.join(', ')} or an IP protocol number ${r.min}..${r.max}, got ${describe(v)}`);
}

/** One extended ACL entry. */
export function validateExtendedAcl(input: unknown, path: string): ExtendedAcl {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, EXTENDED_ACL_KEYS, path);
  const f = (k: string): string => fieldPath(path, k);
  const action = enumOf(obj.action, f('action'), EXTENDED_ACL_ACTIONS);
  if (obj.direction === 'both') throw new ConfigError(f('direction'), 'expected one of inbound, outbound (extended ACLs have no "both": add one entry per direction)');
  const direction = enumOf(obj.direction, f('direction'), EXTENDED_ACL_DIRECTIONS);
  if (obj.weight === undefined) throw new ConfigError(f('weight'), `required (an integer in ${PORT_SETTING_RANGES.weight.min}..${PORT_SETTING_RANGES.weight.max}; larger first)`);
  const out: ExtendedAcl = { action, direction, weight: intIn(obj.weight, f('weight'), PORT_SETTING_RANGES.weight) };
  if (obj.protocol !== undefined) out.protocol = protocolOf(obj.protocol, f('protocol'));
  if (obj.localIPAddress !== undefined) out.localIPAddress = normalizeIpAddress(obj.localIPAddress, f('localIPAddress'));
  if (obj.remoteIPAddress !== undefined) out.remoteIPAddress = normalizeIpAddress(obj.remoteIPAddress, f('remoteIPAddress'));
  for (const k of ['localPort', 'remotePort'] as const) {
    if (obj[k] === undefined) continue;
    if (out.protocol !== 'tcp' && out.protocol !== 'udp') {
      throw new ConfigError(f(k), `ports only with protocol tcp or udp (protocol is ${out.protocol ?? 'any'})`);
    }
    out[k] = portRange(obj[k], f(k));
  }
  const stateful = optionalBoolean(obj, 'stateful', path);
  if (stateful === true) {
    if (action !== 'allow') throw new ConfigError(f('stateful'), 'only allow entries can be stateful (state lets the reply through)');
    out.stateful = true;
  }
  if (obj.idleSessionTimeout !== undefined) {
    if (stateful !== true) throw new ConfigError(f('idleSessionTimeout'), 'only with stateful: true');
    out.idleSessionTimeout = intIn(obj.idleSessionTimeout, f('idleSessionTimeout'), PORT_SETTING_RANGES.idleSessionTimeout);
  }
  return out;
}

export function validateExtendedAcls(input: unknown, path: string): ExtendedAcl[] {
  if (!Array.isArray(input)) throw new ConfigError(path, `expected a list of extended ACL entries, got ${describe(input)}`);
  const raw: unknown[] = input;
  if (raw.length > MAX_EXTENDED_ACLS_PER_PORT) throw new ConfigError(path, `at most ${MAX_EXTENDED_ACLS_PER_PORT} entries per port, got ${raw.length}`);
  const out: ExtendedAcl[] = [];
  raw.forEach((e, i) => {
    const acl = validateExtendedAcl(e, `${path}[${i}]`);
    const j = out.findIndex((o) => o.weight === acl.weight && o.direction === acl.direction);
    if (j >= 0) throw new ConfigError(`${path}[${i}].weight`, `${path}[${j}] has weight ${acl.weight} ${acl.direction} already (entries are keyed by weight and direction)`);
    out.push(acl);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Features (Set-VMSwitchExtensionPortFeature): extension name → key → value. What the keys mean is checked by the
// extension when the port is added or changed (its port-feature check / control hooks), not here.

export function validateFeatureSettings(input: unknown, path: string): Record<string, string> {
  const obj = expectObject(input, path);
  const keys = Object.keys(obj);
  if (keys.length === 0) throw new ConfigError(path, 'expected at least one key=value (remove the feature instead)');
  const out: Record<string, string> = {};
  for (const k of keys) {
    if (!FEATURE_KEY.test(k)) throw new ConfigError(fieldPath(path, k), 'a feature key is 1..64 of A-Z a-z 0-9 _ . -');
    const v = obj[k];
    if (typeof v !== 'string' || v.length > FEATURE_VALUE_MAX) throw new ConfigError(fieldPath(path, k), `expected a string of at most ${FEATURE_VALUE_MAX} characters, got ${describe(v)}`);
    out[k] = v;
  }
  return out;
}

export function requireFeatureName(v: unknown, path: string): string {
  if (typeof v !== 'string' || !FEATURE_NAME.test(v)) throw new ConfigError(path, `expected an extension name (a-z0-9._-), got ${describe(v)}`);
  return v;
}

function validateFeatures(input: unknown, path: string): Record<string, Record<string, string>> {
  const obj = expectObject(input, path);
  const out: Record<string, Record<string, string>> = {};
  for (const name of Object.keys(obj).sort()) {
    requireFeatureName(name, fieldPath(path, name));
    out[name] = validateFeatureSettings(obj[name], fieldPath(path, name));
  }
  return out;
}

/** `{ worker: N }` or `{ cpu: N }` (src/vmq/model.ts VmqPin) */
export function validateVmqPin(v: unknown, path: string): { worker: number } | { cpu: number } {
  const obj = expectObject(v, path);
  const keys = Object.keys(obj);
  if (keys.length !== 1 || (keys[0] !== 'worker' && keys[0] !== 'cpu')) {
    throw new ConfigError(path, `expected { "worker": N } or { "cpu": N }, got ${describe(v)}`);
  }
  if (keys[0] === 'worker') return { worker: intIn(obj.worker, fieldPath(path, 'worker'), PORT_SETTING_RANGES.vmqWorker) };
  return { cpu: intIn(obj.cpu, fieldPath(path, 'cpu'), PORT_SETTING_RANGES.cpu) };
}

// ---------------------------------------------------------------------------------------------------------------
// The whole set

function onOff(obj: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(fieldPath(path, key), `expected true (on) or false (off), got ${describe(v)}`);
  return v;
}

function intSetting(obj: Record<string, unknown>, key: keyof typeof PORT_SETTING_RANGES, path: string): number | undefined {
  return obj[key] === undefined ? undefined : intIn(obj[key], fieldPath(path, key), PORT_SETTING_RANGES[key]);
}

/**
 * The PortSettings keys of `obj`, validated and normalized (other keys are the caller's: validatePort refuses
 * unknown ones). `path` is the port's: `switches[0].ports[1]`, or `params` for a request.
 */
export function validatePortSettings(obj: Record<string, unknown>, path: string): PortSettings {
  const out: PortSettings = {};
  const p = (k: string): string => fieldPath(path, k);
  if (obj.macLimit !== undefined) out.macLimit = intIn(obj.macLimit, p('macLimit'), PORT_MAC_LIMIT_RANGE);
  for (const k of ['macAddressSpoofing', 'dhcpGuard', 'routerGuard'] as const) {
    const v = onOff(obj, k, path);
    if (v !== undefined) out[k] = v;
  }
  for (const k of ['stormLimit', 'maximumBandwidthBurst', 'minimumBandwidthWeight'] as const) {
    const v = intSetting(obj, k, path);
    if (v !== undefined) out[k] = v;
  }
  const bw = intSetting(obj, 'maximumBandwidth', path);
  if (bw !== undefined) out.maximumBandwidth = Math.round(bw / 8) * 8;
  if (obj.portMirroring !== undefined) out.portMirroring = enumOf(obj.portMirroring, p('portMirroring'), PORT_MIRRORING_MODES);
  if (obj.staticMacAddress !== undefined) {
    const v = obj.staticMacAddress;
    const mac = typeof v === 'string' ? normalizeMac(v) : null;
    if (mac === null) throw new ConfigError(p('staticMacAddress'), `expected a MAC address such as 52:54:00:12:34:56, got ${describe(v)}`);
    if ((parseInt(mac.slice(0, 2), 16) & 1) !== 0) throw new ConfigError(p('staticMacAddress'), `${mac} is a multicast address (a VM's own MAC is unicast)`);
    if (mac === '00:00:00:00:00:00') throw new ConfigError(p('staticMacAddress'), 'the all-zero MAC is not an address');
    out.staticMacAddress = mac;
  }
  if (obj.vlan !== undefined) out.vlan = validateVlan(obj.vlan, p('vlan'));
  if (obj.acls !== undefined) {
    const acls = validatePortAcls(obj.acls, p('acls'));
    if (acls.length > 0) out.acls = acls;
  }
  if (obj.extendedAcls !== undefined) {
    const x = validateExtendedAcls(obj.extendedAcls, p('extendedAcls'));
    if (x.length > 0) out.extendedAcls = x;
  }
  if (obj.features !== undefined) {
    const feats = validateFeatures(obj.features, p('features'));
    if (Object.keys(feats).length > 0) out.features = feats;
  }
  // HNV (Set-VMNetworkAdapter -VirtualSubnetId): the lookup-record range, `expected 4096..16777214, got 12`
  if (obj.virtualSubnetId !== undefined) out.virtualSubnetId = intIn(obj.virtualSubnetId, p('virtualSubnetId'), HNV_VSID_RANGE, '');
  const vmqWeight = intSetting(obj, 'vmqWeight', path);
  if (vmqWeight !== undefined && vmqWeight > 0) out.vmqWeight = vmqWeight;
  if (obj.vmqPin !== undefined) out.vmqPin = validateVmqPin(obj.vmqPin, p('vmqPin'));
  return out;
}
