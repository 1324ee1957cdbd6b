/**
 * What each CLI verb does to the desired-state document: take the current document, return the next one (or
 * null: nothing to do, for --may-exist / --if-exists), with errors naming the request's field. Pure: the
 * server then commits the result through the one diff-and-apply path (`config/desired.ts`).
 */
import { ConfigError, NotFoundError } from '../core/errors.js';
import { IMMUTABLE_SWITCH_KEYS, sameJson } from '../config/desired.js';
import { checkClaims, checkPortNameInSwitch, configClaims, portClaim, switchClaims } from '../config/schema.js';
import { aclAddress, aclDirections, aclsOverlap } from '../config/port-settings.js';
import {
  MAX_PORTS_PER_SWITCH, PORT_SETTING_KEYS, type ExtendedAcl, type PortAcl, type PortConfig, type PortSettings, type SwitchConfig, type XvsConfig,
} from '../config/types.js';
import { MAX_ACLS_PER_PORT, MAX_EXTENDED_ACLS_PER_PORT } from '../policy/counters.js';

/** What `port set` changes: a value sets the setting, null returns it to its default. */
export type PortSettingsChange = { [K in keyof PortSettings]?: PortSettings[K] | null };

const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));

function replaceSwitch(doc: XvsConfig, sw: SwitchConfig): XvsConfig {
  return { ...doc, switches: doc.switches.map((s) => (s.name === sw.name ? sw : s)) };
}

export function findSwitch(doc: XvsConfig, name: string, field: string): SwitchConfig {
  const sw = doc.switches.find((s) => s.name === name);
  if (!sw) throw new NotFoundError(field, `no such switch "${name}"`);
  return sw;
}

/** `switch create`: a new switch; with mayExist an existing one with the same settings is fine. */
export function addSwitch(doc: XvsConfig, sw: SwitchConfig, mayExist: boolean): XvsConfig | null {
  const old = doc.switches.find((s) => s.name === sw.name);
  if (old) {
    if (!mayExist) throw new ConfigError('params.name', `switch "${sw.name}" already exists`);
    for (const k of IMMUTABLE_SWITCH_KEYS) {
      if (!sameJson(old[k], sw[k])) {
        throw new ConfigError(`params.${k}`, `switch "${sw.name}" exists with ${k} ${show(old[k])}, not ${show(sw[k])}`);
      }
    }
    return null;
  }
  checkClaims([...configClaims(doc), ...switchClaims(sw, 'params')]);
  return { ...doc, switches: [...doc.switches, structuredClone(sw)] };
}

/** `switch delete`; with ifExists a missing switch is fine. */
export function removeSwitch(doc: XvsConfig, name: string, ifExists: boolean): XvsConfig | null {
  if (!doc.switches.some((s) => s.name === name)) {
    if (ifExists) return null;
    throw new NotFoundError('params.name', `no such switch "${name}"`);
  }
  return { ...doc, switches: doc.switches.filter((s) => s.name !== name) };
}

/** `port add`; with mayExist an existing port with the same netdev is fine. */
export function addPort(doc: XvsConfig, switchName: string, port: PortConfig, mayExist: boolean): XvsConfig | null {
  const sw = findSwitch(doc, switchName, 'params.switch');
  const old = sw.ports.find((p) => p.name === port.name);
  if (old && mayExist) {
    if (old.netdev !== port.netdev) {
      throw new ConfigError('params.netdev', `port "${port.name}" exists on switch "${sw.name}" with netdev ${show(old.netdev)}, not ${show(port.netdev)}`);
    }
    if ((old.queues ?? 1) !== (port.queues ?? 1)) {
      throw new ConfigError('params.queues', `port "${port.name}" exists on switch "${sw.name}" with ${old.queues ?? 1} queue(s), not ${port.queues ?? 1}`);
    }
    if ((old.io ?? 'afpacket') !== (port.io ?? 'afpacket')) {
      throw new ConfigError('params.io', `port "${port.name}" exists on switch "${sw.name}" with io ${old.io ?? 'afpacket'}, not ${port.io ?? 'afpacket'}`);
    }
    return null;
  }
  checkPortNameInSwitch(sw, port, 'params.name');
  if (sw.ports.length >= MAX_PORTS_PER_SWITCH) {
    throw new ConfigError('params.name', `switch "${sw.name}" already has ${MAX_PORTS_PER_SWITCH} ports`);
  }
  checkClaims([...configClaims(doc), portClaim(sw.name, port, 'params')]);
  return replaceSwitch(doc, { ...sw, ports: [...sw.ports, structuredClone(port)] });
}

/** `port set`: change settings of a port in place; null when they already have these values. */
export function setPort(doc: XvsConfig, switchName: string, portName: string, change: PortSettingsChange): XvsConfig | null {
  const sw = findSwitch(doc, switchName, 'params.switch');
  const old = sw.ports.find((p) => p.name === portName);
  if (!old) throw new NotFoundError('params.name', `no such port "${portName}" on switch "${sw.name}"`);
  const port: PortConfig = { ...old };
  const w = port as unknown as Record<string, unknown>;
  for (const k of PORT_SETTING_KEYS) {
    const v = change[k];
    if (v === null) delete port[k];
    else if (v !== undefined) w[k] = structuredClone(v);
  }
  if (sameJson(port, old)) return null;
  return replaceSwitch(doc, { ...sw, ports: sw.ports.map((p) => (p.name === portName ? port : p)) });
}

function findPort(doc: XvsConfig, switchName: string, portName: string): PortConfig {
  const sw = findSwitch(doc, switchName, 'params.switch');
  const port = sw.ports.find((p) => p.name === portName);
  if (!port) throw new NotFoundError('params.name', `no such port "${portName}" on switch "${sw.name}"`);
  return port;
}

/** `allow inbound remoteIPAddress 10.0.0.0/8` */
export function aclText(a: PortAcl): string {
  const { key, value } = aclAddress(a);
  return `${a.action} ${a.direction} ${key} ${value}`;
}

/**
 * `acl add` (Add-VMNetworkAdapterAcl): the entry is appended; an allow/deny entry for the same address and
 * direction is replaced (a meter entry likewise replaces a meter entry), so each (direction, address) has one
 * verdict. An entry covering both directions loses only the direction the new one takes. Null: already there.
 */
export function addAcl(doc: XvsConfig, switchName: string, portName: string, acl: PortAcl): XvsConfig | null {
  const old = findPort(doc, switchName, portName).acls ?? [];
  const covers = (e: PortAcl): boolean => e.action === acl.action && aclsOverlap(e, acl) && aclDirections(acl.direction).every((d) => aclDirections(e.direction).includes(d));
  if (old.some(covers)) return null;
  const next = subtract(old, acl, (e) => aclsOverlap(e, acl));
  next.push(structuredClone(acl));
  if (next.length > MAX_ACLS_PER_PORT) throw new ConfigError('params', `port "${portName}" has ${MAX_ACLS_PER_PORT} ACL entries already (the most a port may have)`);
  return setPort(doc, switchName, portName, { acls: next });
}

/** entries matching `hit` lose the directions of `acl`; an entry left with none goes */
function subtract(list: readonly PortAcl[], acl: PortAcl, hit: (e: PortAcl) => boolean): PortAcl[] {
  const out: PortAcl[] = [];
  for (const e of list) {
    if (!hit(e)) { out.push(e); continue; }
    const left = aclDirections(e.direction).filter((d) => !aclDirections(acl.direction).includes(d));
    if (left.length === 1) out.push({ ...e, direction: left[0] });
  }
  return out;
}

/** `acl remove` (Remove-VMNetworkAdapterAcl): the entries with this action and address lose this direction. */
export function removeAcl(doc: XvsConfig, switchName: string, portName: string, acl: PortAcl): XvsConfig {
  const old = findPort(doc, switchName, portName).acls ?? [];
  const hit = (e: PortAcl): boolean => e.action === acl.action && aclsOverlap(e, acl);
  if (!old.some(hit)) throw new NotFoundError('params', `port "${portName}" of switch "${switchName}" has no ACL ${aclText(acl)}`);
  const next = subtract(old, acl, hit);
  return setPort(doc, switchName, portName, { acls: next.length > 0 ? next : null }) ?? doc;
}

/** `acl extended add` (Add-VMNetworkAdapterExtendedAcl): keyed by (weight, direction); null when the same entry is there. */
export function addExtendedAcl(doc: XvsConfig, switchName: string, portName: string, acl: ExtendedAcl): XvsConfig | null {
  const old = findPort(doc, switchName, portName).extendedAcls ?? [];
  const same = old.find((e) => e.weight === acl.weight && e.direction === acl.direction);
  if (same) {
    if (sameJson(same, acl)) return null;
    throw new ConfigError('params.weight', `port "${portName}" has an extended ACL with weight ${acl.weight} ${acl.direction} already (entries are keyed by weight and direction: remove it first)`);
  }
  if (old.length >= MAX_EXTENDED_ACLS_PER_PORT) throw new ConfigError('params', `port "${portName}" has ${MAX_EXTENDED_ACLS_PER_PORT} extended ACL entries already (the most a port may have)`);
  // kept in evaluation order: larger weight first
  const next = [...old, structuredClone(acl)].sort((a, b) => b.weight - a.weight || a.direction.localeCompare(b.direction));
  return setPort(doc, switchName, portName, { extendedAcls: next });
}

/** `acl extended remove` (Remove-VMNetworkAdapterExtendedAcl -Weight -Direction). */
export function removeExtendedAcl(doc: XvsConfig, switchName: string, portName: string, weight: number, direction: ExtendedAcl['direction']): XvsConfig {
  const old = findPort(doc, switchName, portName).extendedAcls ?? [];
  if (!old.some((e) => e.weight === weight && e.direction === direction)) {
    throw new NotFoundError('params.weight', `port "${portName}" of switch "${switchName}" has no extended ACL with weight ${weight} ${direction}`);
  }
  const next = old.filter((e) => !(e.weight === weight && e.direction === direction));
  return setPort(doc, switchName, portName, { extendedAcls: next.length > 0 ? next : null }) ?? doc;
}

/** `port feature set` (Set-VMSwitchExtensionPortFeature): these keys of the extension's feature get these values. */
export function setFeature(doc: XvsConfig, switchName: string, portName: string, extension: string, settings: Record<string, string>): XvsConfig | null {
  const old = findPort(doc, switchName, portName).features ?? {};
  const features = { ...structuredClone(old), [extension]: { ...old[extension], ...settings } };
  return setPort(doc, switchName, portName, { features });
}

/** `port feature remove`: the extension's whole feature, or only `keys` of it. */
export function removeFeature(doc: XvsConfig, switchName: string, portName: string, extension: string, keys?: string[]): XvsConfig {
  const old = findPort(doc, switchName, portName).features ?? {};
  const cur = old[extension];
  if (!cur) throw new NotFoundError('params.extension', `port "${portName}" of switch "${switchName}" has no feature settings of "${extension}"`);
  const features = structuredClone(old);
  if (keys === undefined) delete features[extension];
  else {
    keys.forEach((k, i) => {
      if (!(k in cur)) throw new NotFoundError(`params.keys[${i}]`, `the "${extension}" feature of port "${portName}" has no key "${k}"`);
      delete features[extension][k];
    });
    if (Object.keys(features[extension]).length === 0) delete features[extension];
  }
  return setPort(doc, switchName, portName, { features: Object.keys(features).length > 0 ? features : null }) ?? doc;
}

/** `port remove`; with ifExists a missing port (or switch) is fine. */
export function removePort(doc: XvsConfig, switchName: string, portName: string, ifExists: boolean): XvsConfig | null {
  const sw = doc.switches.find((s) => s.name === switchName);
  if (!sw) {
    if (ifExists) return null;
    throw new NotFoundError('params.switch', `no such switch "${switchName}"`);
  }
  if (!sw.ports.some((p) => p.name === portName)) {
    if (ifExists) return null;
    throw new NotFoundError('params.name', `no such port "${portName}" on switch "${sw.name}"`);
  }
  return replaceSwitch(doc, { ...sw, ports: sw.ports.filter((p) => p.name !== portName) });
}

/**
 * A per-switch commit merged into the newest document: the switches named in `names` are taken from `next`
 * (added, replaced or removed), every other switch and the plug-in list from `base`. So two changes to
 * different switches that run at the same time both land.
 */
export function mergeSwitches(base: XvsConfig, next: XvsConfig, names: readonly string[]): XvsConfig {
  const pick = (n: string): SwitchConfig | undefined => next.switches.find((s) => s.name === n);
  const out: SwitchConfig[] = [];
  for (const s of base.switches) {
    if (!names.includes(s.name)) out.push(s);
    else {
      const n = pick(s.name);
      if (n) out.push(n);
    }
  }
  for (const s of next.switches) if (names.includes(s.name) && !out.includes(s)) out.push(s);
  return { ...base, switches: out };
}
