/**
 * What each CLI verb does to the desired-state document: take the current document, return the next one (or
 * null: nothing to do, for --may-exist / --if-exists), with errors naming the request's field. Pure: the
 * server then commits the result through the one diff-and-apply path (`config/desired.ts`).
 */
import { ConfigError, NotFoundError } from '../core/errors.js';
import { IMMUTABLE_SWITCH_KEYS, sameJson } from '../config/desired.js';
import { checkClaims, checkPortNameInSwitch, configClaims, portClaim, switchClaims } from '../config/schema.js';
import { MAX_PORTS_PER_SWITCH, PORT_SETTING_KEYS, type PortConfig, type PortSettings, type SwitchConfig, type XvsConfig } from '../config/types.js';

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
