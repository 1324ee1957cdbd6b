/**
 * Validation of the xvs configuration (`config/types.ts`). Every function either returns the typed value with
 * defaults filled, or throws a `ConfigError` whose message begins with the path of the offending field:
 * `switches[1].uplink: "veth0" is already the uplink of switch "sw0"`. Unknown keys are errors.
 *
 * Three layers, so the control server can run each on a single new switch or port (naming `params.…`):
 *   1. shape: `validateConfig` / `validateSwitch` / `validatePort` (types, ranges, defaults, per-switch rules);
 *   2. claims: `switchClaims` / `portClaim` + `checkClaims` (a netdev belongs to at most one switch role);
 *   3. system: `checkAgainstSystem` (do `netdev` and `uplink` exist?) — kept apart so unit tests stay pure.
 */
import type { SwitchExtensionConfig } from './types.js';
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import { PORT_SETTING_RANGES, intIn, validatePortSettings } from './port-settings.js';
import { validateHnv } from './hnv.js';
import { validateListenConfig } from '../metrics/address.js';
import {
  DEFAULT_MAC_AGING_SECONDS,
  PORT_SETTING_KEYS,
  PORT_MAC_LIMIT_RANGE,
  DEFAULT_MAC_TABLE_LIMIT,
  IFNAMSIZ_MAX,
  MAX_PORTS_PER_SWITCH,
  PORT_QUEUES_RANGE,
  PORT_IO_KINDS,
  type PortConfig,
  type PortIoKind,
  type SwitchConfig,
  type SwitchType,
  type XvsConfig,
} from './types.js';

export const SWITCH_TYPES: readonly SwitchType[] = ['private', 'internal', 'external'];
export const MAC_AGING_RANGE = { min: 1, max: 1_000_000 } as const;
export const MAC_TABLE_LIMIT_RANGE = { min: 1, max: 1_048_576 } as const;
export { PORT_MAC_LIMIT_RANGE } from './types.js';
export const WORKERS_RANGE = { min: 1, max: 16 } as const;
export const DEFAULT_WORKERS = 1;
export const HOST_PORT_SUFFIX = '-host';
// Small typed readers (config/fields.ts), shared with the port settings and control/protocol.ts.
export { describe, expectObject, fieldPath, optionalBoolean, optionalInt, rejectUnknownKeys, requireEnum, requireString } from './fields.js';
import { describe, expectObject, fieldPath, optionalBoolean, optionalInt, rejectUnknownKeys, requireEnum, requireString } from './fields.js';

const IFNAME_RE = /^[A-Za-z0-9_.-]+$/;

/** Why `name` is not a valid Linux interface name, or null if it is. */
export function ifnameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > IFNAMSIZ_MAX) return `${describe(name)} is longer than ${IFNAMSIZ_MAX} characters`;
  if (name === '.' || name === '..') return `${describe(name)} is not a valid name`;
  if (!IFNAME_RE.test(name)) return `${describe(name)} may only contain A-Z a-z 0-9 _ . -`;
  return null;
}

/** A required interface-style name (switch, port, netdev, uplink, host port). */
export function requireIfname(obj: Record<string, unknown>, key: string, path: string): string {
  const v = requireString(obj, key, path);
  const problem = ifnameProblem(v);
  if (problem) throw new ConfigError(fieldPath(path, key), problem);
  return v;
}

export function optionalIfname(obj: Record<string, unknown>, key: string, path: string): string | undefined {
  return obj[key] === undefined ? undefined : requireIfname(obj, key, path);
}

// ---------------------------------------------------------------------------------------------------------------
// Shape

/** a port's settings (config/port-settings.ts): the one validator of every PortSettings key */
export { validatePortSettings } from './port-settings.js';

/** bits/s (1 Tbit/s at most, as maximumBandwidth) */
export const UPLINK_BANDWIDTH_RANGE = { min: 0, max: 1_000_000_000_000 };
const PORT_KEYS = ['name', 'netdev', 'allowHostAddresses', 'queues', 'io', ...PORT_SETTING_KEYS, 'iovWeight'] as const;
/** Hyper-V's IovWeight range */
export const IOV_WEIGHT_RANGE = { min: 0, max: 100 } as const;
const SWITCH_KEYS = [
  'name',
  'type',
  'uplink',
  'uplinkIo',
  'allowManagementOs',
  'hostPort',
  'macAgingSeconds',
  'macTableLimit',
  'macPortLimit',
  'uplinkBandwidth',
  'workers',
  'cpus',
  'ports',
  'extensions',
] as const;
const CONFIG_KEYS = ['version', 'switches', 'hnv', 'plugins', 'untrustedPlugins', 'metrics', 'dashboard'] as const;
const EXTENSION_KEYS = ['name', 'enabled', 'config', 'onError'] as const;

/** A switch's worker CPUs: distinct CPU numbers 0..1023 (`[0, 1]`); an empty list is none. */
export function validateCpus(input: unknown, path: string): number[] {
  if (!Array.isArray(input)) throw new ConfigError(path, `expected a list of CPU numbers such as [0, 1], got ${describe(input)}`);
  const raw: unknown[] = input;
  const out: number[] = [];
  raw.forEach((c, i) => {
    const n = intIn(c, `${path}[${i}]`, PORT_SETTING_RANGES.cpu);
    if (out.includes(n)) throw new ConfigError(`${path}[${i}]`, `CPU ${n} is listed twice`);
    out.push(n);
  });
  return out;
}

/** The shape of a switch's extension list; each `config` is checked against its extension's spec when applied. */
export function validateSwitchExtensions(input: unknown, path: string): SwitchExtensionConfig[] {
  if (!Array.isArray(input)) throw new ConfigError(path, `expected an array, got ${describe(input)}`);
  const out: SwitchExtensionConfig[] = [];
  const raw: unknown[] = input;
  raw.forEach((e, i) => {
    const p = `${path}[${i}]`;
    const obj = expectObject(e, p);
    rejectUnknownKeys(obj, EXTENSION_KEYS, p);
    if (typeof obj.name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(obj.name)) {
      throw new ConfigError(fieldPath(p, 'name'), `expected an extension name (a-z0-9._-), got ${describe(obj.name)}`);
    }
    if (out.some((x) => x.name === obj.name)) throw new ConfigError(fieldPath(p, 'name'), `"${obj.name}" is listed twice`);
    if (typeof obj.enabled !== 'boolean') throw new ConfigError(fieldPath(p, 'enabled'), `expected true or false, got ${describe(obj.enabled)}`);
    const ext: SwitchExtensionConfig = { name: obj.name, enabled: obj.enabled };
    if (obj.config !== undefined) ext.config = expectObject(obj.config, fieldPath(p, 'config'));
    if (obj.onError !== undefined) {
      if (obj.onError !== 'bypass' && obj.onError !== 'drop') {
        throw new ConfigError(fieldPath(p, 'onError'), `expected one of bypass, drop, got ${describe(obj.onError)}`);
      }
      ext.onError = obj.onError;
    }
    out.push(ext);
  });
  return out;
}

export function validatePort(input: unknown, path: string): PortConfig {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, PORT_KEYS, path);
  const name = requireIfname(obj, 'name', path);
  const netdev = optionalIfname(obj, 'netdev', path);
  // only `true` is kept, so `false` and absent read back (and diff) the same
  const allowHostAddresses = optionalBoolean(obj, 'allowHostAddresses', path);
  const io = optionalIo(obj, 'io', path);
  // 0 reads back (and diffs) as absent
  const iovWeight = optionalInt(obj, 'iovWeight', path, IOV_WEIGHT_RANGE);
  if (iovWeight !== undefined && iovWeight > 0 && netdev !== undefined) {
    throw new ConfigError(fieldPath(path, 'iovWeight'), `a VF's failover standby is the port's own TAP: not with netdev "${netdev}"`);
  }
  // only above 1 is kept, so 1 and absent read back (and diff) the same
  const queues = optionalInt(obj, 'queues', path, PORT_QUEUES_RANGE);
  if (queues !== undefined && queues > 1 && netdev !== undefined) {
    throw new ConfigError(fieldPath(path, 'queues'), `only a TAP port has queues (xvs creates its TAP multi-queue); "${netdev}" keeps its own`);
  }
  return {
    name, ...(netdev !== undefined ? { netdev } : {}), ...(allowHostAddresses === true ? { allowHostAddresses } : {}),
    ...(queues !== undefined && queues > 1 ? { queues } : {}),
    ...(io === 'pcap' ? { io } : {}),
    ...(iovWeight !== undefined && iovWeight > 0 ? { iovWeight } : {}),
    ...validatePortSettings(obj, path),
  };
}

/** A port's I/O backend (`afpacket` | `pcap`); absent = afpacket. */
function optionalIo(obj: Record<string, unknown>, key: string, path: string): PortIoKind | undefined {
  return obj[key] === undefined ? undefined : requireEnum(obj, key, path, PORT_IO_KINDS);
}

/** The netdev a port uses: its `netdev`, or for a TAP port the TAP named after the port. */
export function portNetdev(port: PortConfig): string {
  return port.netdev ?? port.name;
}

/** Whether a switch of this configuration has a host port (internal, or external sharing the NIC with the host). */
export function hasHostPort(type: SwitchType, allowManagementOs: boolean | undefined): boolean {
  return type === 'internal' || (type === 'external' && allowManagementOs === true);
}

export interface ValidateSwitchOptions {
  /** false: `ports` is an unknown key and the result has `ports: []` (a `switch.create` request). Default true. */
  allowPorts?: boolean;
}

export function validateSwitch(input: unknown, path: string, opts: ValidateSwitchOptions = {}): SwitchConfig {
  const allowPorts = opts.allowPorts ?? true;
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, allowPorts ? SWITCH_KEYS : SWITCH_KEYS.filter((k) => k !== 'ports'), path);
  const name = requireIfname(obj, 'name', path);
  const type = requireEnum(obj, 'type', path, SWITCH_TYPES);

  const uplink = optionalIfname(obj, 'uplink', path);
  if (type === 'external' && uplink === undefined) {
    throw new ConfigError(fieldPath(path, 'uplink'), 'required for an external switch (the NIC or veth to bind)');
  }
  if (type !== 'external' && uplink !== undefined) {
    throw new ConfigError(fieldPath(path, 'uplink'), `only an external switch has an uplink (this one is ${type})`);
  }

  const uplinkIo = optionalIo(obj, 'uplinkIo', path);
  if (type !== 'external' && uplinkIo !== undefined) {
    throw new ConfigError(fieldPath(path, 'uplinkIo'), `only an external switch has an uplink (this one is ${type})`);
  }

  const allowManagementOs = optionalBoolean(obj, 'allowManagementOs', path);
  if (type !== 'external' && allowManagementOs !== undefined) {
    throw new ConfigError(fieldPath(path, 'allowManagementOs'), `only valid on an external switch (this one is ${type})`);
  }

  let hostPort = optionalIfname(obj, 'hostPort', path);
  if (type === 'private' && hostPort !== undefined) {
    throw new ConfigError(fieldPath(path, 'hostPort'), 'a private switch has no host port');
  }
  if (type === 'external' && allowManagementOs !== true && hostPort !== undefined) {
    throw new ConfigError(
      fieldPath(path, 'hostPort'),
      'an external switch has a host port only with allowManagementOs: true',
    );
  }
  if (hasHostPort(type, allowManagementOs) && hostPort === undefined) {
    const dflt = `${name}${HOST_PORT_SUFFIX}`;
    if (dflt.length > IFNAMSIZ_MAX) {
      throw new ConfigError(
        fieldPath(path, 'hostPort'),
        `the default host port name "${dflt}" is longer than ${IFNAMSIZ_MAX} characters; set hostPort`,
      );
    }
    hostPort = dflt;
  }
  if (uplink !== undefined && uplink === hostPort) {
    throw new ConfigError(fieldPath(path, 'hostPort'), `"${hostPort}" is already the uplink of switch "${name}"`);
  }

  const macAgingSeconds = optionalInt(obj, 'macAgingSeconds', path, MAC_AGING_RANGE) ?? DEFAULT_MAC_AGING_SECONDS;
  const macTableLimit = optionalInt(obj, 'macTableLimit', path, MAC_TABLE_LIMIT_RANGE) ?? DEFAULT_MAC_TABLE_LIMIT;
  const macPortLimit = optionalInt(obj, 'macPortLimit', path, PORT_MAC_LIMIT_RANGE);
  const workers = optionalInt(obj, 'workers', path, WORKERS_RANGE) ?? DEFAULT_WORKERS;
  const cpus = obj.cpus === undefined ? undefined : validateCpus(obj.cpus, fieldPath(path, 'cpus'));
  // the capacity the ports' minimumBandwidthWeight divide (policy/bandwidth); 0 or absent: weights inactive
  const uplinkBandwidth = optionalInt(obj, 'uplinkBandwidth', path, UPLINK_BANDWIDTH_RANGE);
  if (uplinkBandwidth !== undefined && type !== 'external') {
    throw new ConfigError(fieldPath(path, 'uplinkBandwidth'), `only an external switch has an uplink (this one is ${type})`);
  }

  const ports: PortConfig[] = [];
  if (allowPorts && obj.ports !== undefined) {
    const portsPath = fieldPath(path, 'ports');
    if (!Array.isArray(obj.ports)) throw new ConfigError(portsPath, `expected an array, got ${describe(obj.ports)}`);
    if (obj.ports.length > MAX_PORTS_PER_SWITCH) {
      throw new ConfigError(portsPath, `at most ${MAX_PORTS_PER_SWITCH} ports per switch, got ${obj.ports.length}`);
    }
    const raw: unknown[] = obj.ports;
    raw.forEach((p, i) => ports.push(validatePort(p, `${portsPath}[${i}]`)));
  }

  // Canonical key order, so a saved file reads the same every time.
  const out: SwitchConfig = {
    name,
    type,
    ...(uplink !== undefined ? { uplink } : {}),
    ...(uplinkIo === 'pcap' ? { uplinkIo } : {}),
    ...(type === 'external' ? { allowManagementOs: allowManagementOs ?? false } : {}),
    ...(hostPort !== undefined ? { hostPort } : {}),
    macAgingSeconds,
    macTableLimit,
    ...(macPortLimit !== undefined ? { macPortLimit } : {}),
    ...(uplinkBandwidth ? { uplinkBandwidth } : {}),
    workers,
    ...(cpus && cpus.length ? { cpus } : {}),
    ports,
    ...(obj.extensions !== undefined ? { extensions: validateSwitchExtensions(obj.extensions, fieldPath(path, 'extensions')) } : {}),
  };

  ports.forEach((p, i) => checkPortNameInSwitch(out, p, `${fieldPath(path, 'ports')}[${i}].name`, i));
  return out;
}

/**
 * A port's name must be new in its switch and must not shadow the switch's uplink or host port (which the data
 * path lists as ports of the switch too). `upTo`: only ports before this index count (default: all).
 */
export function checkPortNameInSwitch(sw: SwitchConfig, port: PortConfig, path: string, upTo = sw.ports.length): void {
  for (let i = 0; i < upTo; i++) {
    if (sw.ports[i].name === port.name) {
      throw new ConfigError(path, `port "${port.name}" already exists on switch "${sw.name}"`);
    }
  }
  if (port.name === sw.uplink) throw new ConfigError(path, `"${port.name}" is already the uplink of switch "${sw.name}"`);
  if (port.name === sw.hostPort) {
    throw new ConfigError(path, `"${port.name}" is already the host port of switch "${sw.name}"`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Claims: every netdev a switch uses (uplink, host port, each port's netdev or TAP) belongs to one role only.

export interface NetdevClaim {
  netdev: string;
  /** e.g. `the uplink of switch "sw0"` */
  role: string;
  /** field path to name when this claim is the second one */
  path: string;
}

export function portClaim(switchName: string, port: PortConfig, portPath: string): NetdevClaim {
  return {
    netdev: portNetdev(port),
    role: port.netdev === undefined
      ? `the TAP of port "${port.name}" on switch "${switchName}"`
      : `the netdev of port "${port.name}" on switch "${switchName}"`,
    path: fieldPath(portPath, port.netdev === undefined ? 'name' : 'netdev'),
  };
}

export function switchClaims(sw: SwitchConfig, path: string): NetdevClaim[] {
  const claims: NetdevClaim[] = [];
  if (sw.uplink !== undefined) {
    claims.push({ netdev: sw.uplink, role: `the uplink of switch "${sw.name}"`, path: fieldPath(path, 'uplink') });
  }
  if (sw.hostPort !== undefined) {
    claims.push({ netdev: sw.hostPort, role: `the host port of switch "${sw.name}"`, path: fieldPath(path, 'hostPort') });
  }
  sw.ports.forEach((p, i) => claims.push(portClaim(sw.name, p, `${fieldPath(path, 'ports')}[${i}]`)));
  return claims;
}

/** Throws naming the later of the first two claims on one netdev. */
export function checkClaims(claims: readonly NetdevClaim[]): void {
  const owner = new Map<string, NetdevClaim>();
  for (const c of claims) {
    const first = owner.get(c.netdev);
    if (first) throw new ConfigError(c.path, `"${c.netdev}" is already ${first.role}`);
    owner.set(c.netdev, c);
  }
}

export function configClaims(cfg: XvsConfig): NetdevClaim[] {
  return cfg.switches.flatMap((sw, i) => switchClaims(sw, `switches[${i}]`));
}

// ---------------------------------------------------------------------------------------------------------------

export function validateConfig(input: unknown): XvsConfig {
  const obj = expectObject(input, '');
  rejectUnknownKeys(obj, CONFIG_KEYS, '');
  if (obj.version !== 1) throw new ConfigError('version', `expected 1, got ${describe(obj.version)}`);
  const switches: SwitchConfig[] = [];
  if (obj.switches !== undefined) {
    if (!Array.isArray(obj.switches)) {
      throw new ConfigError('switches', `expected an array, got ${describe(obj.switches)}`);
    }
    const raw: unknown[] = obj.switches;
    raw.forEach((s, i) => {
      const sw = validateSwitch(s, `switches[${i}]`);
      const dup = switches.find((o) => o.name === sw.name);
      if (dup) throw new ConfigError(`switches[${i}].name`, `switch "${sw.name}" already exists`);
      switches.push(sw);
    });
  }
  const cfg: XvsConfig = { version: 1, switches };
  if (obj.hnv !== undefined) {
    // HNV policy objects (config/hnv.ts); empty lists are left out, so an empty `hnv` reads back as none
    const hnv = validateHnv(obj.hnv, 'hnv', switches);
    if (Object.keys(hnv).length > 0) cfg.hnv = hnv;
  }
  if (obj.plugins !== undefined) {
    if (!Array.isArray(obj.plugins) || !obj.plugins.every((x): x is string => typeof x === 'string' && x.length > 0)) {
      throw new ConfigError('plugins', `expected a list of paths or package names, got ${describe(obj.plugins)}`);
    }
    cfg.plugins = obj.plugins;
  }
  if (obj.untrustedPlugins !== undefined) {
    const list: unknown = obj.untrustedPlugins;
    if (!Array.isArray(list)) throw new ConfigError('untrustedPlugins', `expected a list of entries of "plugins", got ${describe(list)}`);
    list.forEach((x: unknown, i) => {
      if (typeof x !== 'string' || !(cfg.plugins ?? []).includes(x)) {
        throw new ConfigError(`untrustedPlugins[${i}]`, `expected an entry of "plugins" (a plug-in installed with --allow-untrusted), got ${describe(x)}`);
      }
    });
    if ((list as string[]).length > 0) cfg.untrustedPlugins = list as string[];
  }
  if (obj.metrics !== undefined) cfg.metrics = validateListenConfig(obj.metrics, 'metrics');
  if (obj.dashboard !== undefined) cfg.dashboard = validateListenConfig(obj.dashboard, 'dashboard');
  checkClaims(configClaims(cfg));
  return cfg;
}

// ---------------------------------------------------------------------------------------------------------------
// System

export type InterfaceExists = (name: string) => boolean;

export const interfaceExists: InterfaceExists = (name) => existsSync(`/sys/class/net/${name}`);

/** IFF_LOOPBACK in the netdev's flags (`lo`, or any other loopback): never a port or an uplink. */
export function isLoopbackInterface(name: string): boolean {
  try {
    return (parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'), 16) & 0x8) !== 0;
  } catch {
    return false;
  }
}

export function checkSwitchAgainstSystem(sw: SwitchConfig, path: string, exists: InterfaceExists = interfaceExists): void {
  if (sw.uplink !== undefined && !exists(sw.uplink)) {
    throw new ConfigError(fieldPath(path, 'uplink'), `no such interface "${sw.uplink}"`);
  }
  if (sw.uplink !== undefined && isLoopbackInterface(sw.uplink)) {
    throw new ConfigError(fieldPath(path, 'uplink'), `"${sw.uplink}" is a loopback device and can never be an uplink; name a NIC or a veth`);
  }
}

export function checkPortAgainstSystem(port: PortConfig, path: string, exists: InterfaceExists = interfaceExists): void {
  if (port.netdev !== undefined && !exists(port.netdev)) {
    throw new ConfigError(fieldPath(path, 'netdev'), `no such interface "${port.netdev}"`);
  }
  const dev = portNetdev(port);
  if (isLoopbackInterface(dev)) {
    throw new ConfigError(fieldPath(path, port.netdev !== undefined ? 'netdev' : 'name'),
      `"${dev}" is a loopback device and can never be a switch port; use a TAP or a veth`);
  }
}

/** Every `uplink` and port `netdev` must exist now (TAPs and host ports are created by xvs, so are not checked). */
export function checkAgainstSystem(cfg: XvsConfig, exists: InterfaceExists = interfaceExists): void {
  cfg.switches.forEach((sw, i) => {
    checkSwitchAgainstSystem(sw, `switches[${i}]`, exists);
    sw.ports.forEach((p, j) => checkPortAgainstSystem(p, `switches[${i}].ports[${j}]`, exists));
  });
}
