/**
 * The desired state, applied by diff: one path for every CLI verb, `xvs config apply`, restore at start and
 * the tests (Snabb's `compute_config_actions` / `apply_config_actions`).
 *
 *   current, desired ──diff──▶ Change[] ──applyDiff──▶ target (the data path)
 *                                  │                      │ first failure: the inverse of every change
 *                                  └──describe──▶ text    ▼ already done, newest first (rollback)
 *
 * `diff` is pure and ordered: ports and switches go first (so a netdev moved from one switch to another is
 * free before it is claimed again), then plugins are installed, switches created, ports added, extension lists
 * set, and plugins uninstalled last (an extension list must stop naming a plug-in before it goes). A switch whose
 * immutable settings (type, uplink, …) differ is deleted and created again; the diff says so. A port whose
 * netdev differs is removed and added again; one whose settings (PortSettings: MAC limit, …) alone differ is
 * changed in place (`setPort`), so a VM keeps its TAP. Every change carries what it replaces, so its inverse needs no
 * other state: rollback is computed from the diff, not written per method.
 */
import { PORT_SETTING_KEYS, type HnvConfig, type DashboardConfig, type MetricsConfig, type ExtendedAcl, type PortAcl, type PortConfig, type PortSettings, type VlanSetting, type SwitchConfig, type SwitchExtensionConfig, type XvsConfig } from './types.js';

export type Change =
  | { kind: 'removePort'; switch: string; port: PortConfig; reason?: string }
  /** `config` is the whole switch as it was (ports and extensions too), so the inverse can rebuild it */
  | { kind: 'deleteSwitch'; config: SwitchConfig; reason?: string }
  | { kind: 'uninstallPlugin'; source: string; allowUntrusted?: true }
  | { kind: 'installPlugin'; source: string; allowUntrusted?: true }
  /** the switch without ports or extensions: those follow as addPort / setExtensions changes */
  | { kind: 'createSwitch'; config: SwitchConfig; reason?: string }
  | { kind: 'addPort'; switch: string; port: PortConfig; reason?: string }
  /** a running port's settings changed in place (`port` names it) */
  | { kind: 'setPort'; switch: string; port: string; before: PortSettings; after: PortSettings }
  | { kind: 'setExtensions'; switch: string; before: SwitchExtensionConfig[]; after: SwitchExtensionConfig[] }
  /** a running switch's worker CPUs changed in place (src/vmq: the workers are re-pinned) */
  | { kind: 'setCpus'; switch: string; before: number[] | undefined; after: number[] | undefined }
  /** the HNV policy objects (or their etcd source) changed: policies are pushed to every switch, nothing is recreated */
  | { kind: 'setHnv'; before: HnvConfig | undefined; after: HnvConfig | undefined }
  /** the metrics endpoint's address changed (src/metrics): the listener moves, nothing else */
  | { kind: 'setMetrics'; before: MetricsConfig | undefined; after: MetricsConfig | undefined }
  /** the dashboard's address changed (src/dashboard): the listener moves, nothing else */
  | { kind: 'setDashboard'; before: DashboardConfig | undefined; after: DashboardConfig | undefined };

/** The settings that the data path cannot change on a running switch: a change recreates the switch. */
export const IMMUTABLE_SWITCH_KEYS = [
  'type', 'uplink', 'uplinkIo', 'allowManagementOs', 'hostPort', 'workers', 'macTableLimit', 'macPortLimit', 'macAgingSeconds',
  'uplinkBandwidth',
] as const;

const ORDER: Record<Change['kind'], number> = {
  removePort: 0, deleteSwitch: 1, installPlugin: 2, createSwitch: 3, setCpus: 4, addPort: 4, setPort: 5, setExtensions: 6, setHnv: 7, uninstallPlugin: 8, setMetrics: 9, setDashboard: 9,
};

/** Deep equality of JSON data (key order ignored). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson(ra[k], rb[k]));
}

/** The immutable settings in which two configurations of one switch differ, as `key: old → new`. */
export function immutableDifferences(a: SwitchConfig, b: SwitchConfig): string[] {
  const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));
  return IMMUTABLE_SWITCH_KEYS.filter((k) => !sameJson(a[k], b[k])).map((k) => `${k} ${show(a[k])} → ${show(b[k])}`);
}

/** A port's settings (the PortSettings keys it sets). */
export function portSettings(p: PortConfig): PortSettings {
  const out: PortSettings = {};
  const o = out as Record<string, unknown>;
  for (const k of PORT_SETTING_KEYS) if (p[k] !== undefined) o[k] = structuredClone(p[k]);
  return out;
}

/** The port without its settings: what cannot change while the port runs. */
function portIdentity(p: PortConfig): PortConfig {
  const out: PortConfig = { ...p };
  for (const k of PORT_SETTING_KEYS) delete out[k];
  return out;
}

/** A switch without ports and extensions: what `createSwitch` changes carry. */
export function bareSwitch(sw: SwitchConfig): SwitchConfig {
  const { extensions: _e, ...rest } = structuredClone(sw);
  void _e;
  return { ...rest, ports: [] };
}

function buildSwitch(sw: SwitchConfig, out: Change[], reason?: string): void {
  out.push({ kind: 'createSwitch', config: bareSwitch(sw), ...(reason ? { reason } : {}) });
  for (const p of sw.ports) out.push({ kind: 'addPort', switch: sw.name, port: structuredClone(p) });
  const ext = sw.extensions ?? [];
  if (ext.length > 0) out.push({ kind: 'setExtensions', switch: sw.name, before: [], after: structuredClone(ext) });
}

/** The ordered changes that turn `current` into `desired`. Pure; both documents must be valid. */
export function diff(current: XvsConfig, desired: XvsConfig): Change[] {
  const out: Change[] = [];
  const cur = new Map(current.switches.map((s) => [s.name, s]));
  const want = new Map(desired.switches.map((s) => [s.name, s]));

  for (const old of current.switches) {
    const next = want.get(old.name);
    if (!next) {
      out.push({ kind: 'deleteSwitch', config: structuredClone(old) });
      continue;
    }
    const why = immutableDifferences(old, next);
    if (why.length > 0) {
      const reason = `recreated: ${why.join(', ')}`;
      out.push({ kind: 'deleteSwitch', config: structuredClone(old), reason });
      buildSwitch(next, out, reason);
      continue;
    }
    // same port with other settings only: changed in place; another netdev: replaced
    const sameIdentity = (p: PortConfig, q: PortConfig | undefined): q is PortConfig => q !== undefined && sameJson(portIdentity(p), portIdentity(q));
    for (const p of old.ports) {
      const q = next.ports.find((x) => x.name === p.name);
      if (sameIdentity(p, q)) continue;
      out.push({ kind: 'removePort', switch: old.name, port: structuredClone(p), ...(q ? { reason: 'replaced' } : {}) });
    }
    for (const q of next.ports) {
      const p = old.ports.find((x) => x.name === q.name);
      if (p && sameIdentity(p, q)) {
        const before = portSettings(p);
        const after = portSettings(q);
        if (!sameJson(before, after)) out.push({ kind: 'setPort', switch: old.name, port: q.name, before, after });
        continue;
      }
      out.push({ kind: 'addPort', switch: old.name, port: structuredClone(q), ...(p ? { reason: 'replaced' } : {}) });
    }
    if (!sameJson(old.cpus ?? [], next.cpus ?? [])) out.push({ kind: 'setCpus', switch: old.name, before: old.cpus, after: next.cpus });
    const before = old.extensions ?? [];
    const after = next.extensions ?? [];
    if (!sameJson(before, after)) out.push({ kind: 'setExtensions', switch: old.name, before: structuredClone(before), after: structuredClone(after) });
  }
  for (const sw of desired.switches) if (!cur.has(sw.name)) buildSwitch(sw, out);

  const had = current.plugins ?? [];
  const wanted = desired.plugins ?? [];
  const untrusted = (doc: XvsConfig, s: string): { allowUntrusted?: true } => (doc.untrustedPlugins?.includes(s) ? { allowUntrusted: true } : {});
  for (const s of wanted) if (!had.includes(s)) out.push({ kind: 'installPlugin', source: s, ...untrusted(desired, s) });
  for (const s of had) if (!wanted.includes(s)) out.push({ kind: 'uninstallPlugin', source: s, ...untrusted(current, s) });

  // HNV after the switches and ports it names exist (a PA's switch), before plug-ins go
  if (!sameJson(current.hnv ?? {}, desired.hnv ?? {})) {
    out.push({ kind: 'setHnv', before: structuredClone(current.hnv), after: structuredClone(desired.hnv) });
  }

  if (!sameJson(current.metrics ?? {}, desired.metrics ?? {})) {
    out.push({ kind: 'setMetrics', before: structuredClone(current.metrics), after: structuredClone(desired.metrics) });
  }
  if (!sameJson(current.dashboard ?? {}, desired.dashboard ?? {})) {
    out.push({ kind: 'setDashboard', before: structuredClone(current.dashboard), after: structuredClone(desired.dashboard) });
  }

  // stable sort by phase: within a phase the document order is kept
  return out.map((c, i) => ({ c, i })).sort((a, b) => ORDER[a.c.kind] - ORDER[b.c.kind] || a.i - b.i).map((x) => x.c);
}

/** The changes that undo `c` (applied newest first by `applyDiff`). */
export function inverse(c: Change): Change[] {
  switch (c.kind) {
    case 'removePort': return [{ kind: 'addPort', switch: c.switch, port: c.port }];
    case 'addPort': return [{ kind: 'removePort', switch: c.switch, port: c.port }];
    case 'setPort': return [{ kind: 'setPort', switch: c.switch, port: c.port, before: c.after, after: c.before }];
    case 'createSwitch': return [{ kind: 'deleteSwitch', config: c.config }];
    case 'deleteSwitch': {
      const out: Change[] = [];
      buildSwitch(c.config, out);
      return out;
    }
    case 'setExtensions': return [{ kind: 'setExtensions', switch: c.switch, before: c.after, after: c.before }];
    case 'setCpus': return [{ kind: 'setCpus', switch: c.switch, before: c.after, after: c.before }];
    case 'setHnv': return [{ kind: 'setHnv', before: c.after, after: c.before }];
    case 'setMetrics': return [{ kind: 'setMetrics', before: c.after, after: c.before }];
    case 'setDashboard': return [{ kind: 'setDashboard', before: c.after, after: c.before }];
    case 'installPlugin': return [{ ...c, kind: 'uninstallPlugin' }];
    case 'uninstallPlugin': return [{ ...c, kind: 'installPlugin' }];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Describe

function portText(p: PortConfig): string {
  const consent = (p.allowHostAddresses === true ? ', host addresses allowed' : '') + (p.io === 'pcap' ? ', libpcap' : '');
  const limit = `${p.queues !== undefined ? `, ${p.queues} queues` : ''}${p.macLimit !== undefined ? `, mac limit ${p.macLimit}` : ''}`;
  const others = PORT_SETTING_KEYS.filter((k) => k !== 'macLimit' && p[k] !== undefined).map((k) => (k === 'vlan' ? `vlan ${vlanText(p.vlan)}` : SETTING_LABELS[k]));
  const more = others.length > 0 ? `, with ${others.join(', ')}` : '';
  return p.netdev === undefined ? `${p.name} (TAP${consent}${limit}${more})` : `${p.name} (netdev ${p.netdev}${consent}${limit}${more})`;
}

const SETTING_LABELS: Record<keyof PortSettings, string> = {
  macLimit: 'mac limit', macAddressSpoofing: 'mac address spoofing', dhcpGuard: 'dhcp guard', routerGuard: 'router guard',
  stormLimit: 'storm limit', maximumBandwidth: 'maximum bandwidth', maximumBandwidthBurst: 'maximum bandwidth burst',
  minimumBandwidthWeight: 'minimum bandwidth weight', portMirroring: 'port mirroring', staticMacAddress: 'static mac',
  vlan: 'vlan', acls: 'acls', extendedAcls: 'extended acls', features: 'features', virtualSubnetId: 'virtual subnet',
  vmqWeight: 'vmq weight', vmqPin: 'vmq pin',
};

/** `access 10`, `trunk 1-100,200 native 10`, `isolated primary 100 secondary 101`, … */
export function vlanText(v: VlanSetting | undefined): string {
  if (v === undefined) return 'untagged (default)';
  switch (v.mode) {
    case 'untagged': return 'untagged';
    case 'access': return `access ${v.accessVlanId}`;
    case 'trunk': return `trunk ${v.allowedVlanIds} native ${v.nativeVlanId}`;
    case 'isolated':
    case 'community': return `${v.mode} primary ${v.primaryVlanId} secondary ${v.secondaryVlanId}`;
    case 'promiscuous': return `promiscuous primary ${v.primaryVlanId} secondaries ${v.secondaryVlanIds}`;
  }
}

/** `allow inbound remote 10.0.0.0/8` */
export function portAclText(a: PortAcl): string {
  const where = a.localIPAddress ?? a.localMacAddress;
  return `${a.action} ${a.direction} ${where !== undefined ? `local ${where}` : `remote ${a.remoteIPAddress ?? a.remoteMacAddress ?? '?'}`}`;
}

/** `allow inbound weight 10 tcp remote 10.0.0.0/8 local port 22 stateful 255 s` */
export function extendedAclText(a: ExtendedAcl): string {
  const parts = [a.action, a.direction, `weight ${a.weight}`, a.protocol ?? 'any protocol'];
  if (a.localIPAddress !== undefined) parts.push(`local ${a.localIPAddress}`);
  if (a.remoteIPAddress !== undefined) parts.push(`remote ${a.remoteIPAddress}`);
  if (a.localPort !== undefined) parts.push(`local port ${a.localPort}`);
  if (a.remotePort !== undefined) parts.push(`remote port ${a.remotePort}`);
  if (a.stateful) parts.push(`stateful${a.idleSessionTimeout !== undefined ? ` ${a.idleSessionTimeout} s` : ''}`);
  return parts.join(' ');
}

/** entries added (+) and removed (-) between two lists */
function listText<T>(label: string, before: T[] | undefined, after: T[] | undefined, text: (x: T) => string): string {
  const b = (before ?? []).map(text);
  const a = (after ?? []).map(text);
  const parts = [...a.filter((x) => !b.includes(x)).map((x) => `+ ${x}`), ...b.filter((x) => !a.includes(x)).map((x) => `- ${x}`)];
  return `${label} ${parts.length > 0 ? parts.join(', ') : 'reordered'}`;
}

/** `mac limit 1024 → 64`, `vlan untagged (default) → access 10`, `acls + deny inbound remote 10.0.0.0/8` for each setting that differs */
function settingsText(before: PortSettings, after: PortSettings): string {
  const show = (v: unknown): string => (v === undefined ? 'default' : typeof v === 'boolean' ? (v ? 'on' : 'off') : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return PORT_SETTING_KEYS.filter((k) => !sameJson(before[k], after[k])).map((k) => {
    const label = SETTING_LABELS[k];
    if (k === 'vlan') return `${label} ${vlanText(before.vlan)} → ${vlanText(after.vlan)}`;
    if (k === 'acls') return listText(label, before.acls, after.acls, portAclText);
    if (k === 'extendedAcls') return listText(label, before.extendedAcls, after.extendedAcls, extendedAclText);
    return `${label} ${show(before[k])} → ${show(after[k])}`;
  }).join(', ');
}

function switchText(s: SwitchConfig): string {
  const parts: string[] = [s.type];
  if (s.uplink !== undefined) parts.push(`uplink ${s.uplink}${s.uplinkIo === 'pcap' ? ' (libpcap)' : ''}`);
  if (s.hostPort !== undefined) parts.push(`host port ${s.hostPort}`);
  parts.push(`workers ${s.workers}`, `mac aging ${s.macAgingSeconds} s`, `mac limit ${s.macTableLimit}`);
  if (s.macPortLimit !== undefined) parts.push(`port mac limit ${s.macPortLimit}`);
  if (s.uplinkBandwidth !== undefined) parts.push(`uplink bandwidth ${s.uplinkBandwidth} bit/s`);
  return parts.join(', ');
}

/** What changes in an extension list, e.g. `enable firewall; configure firewall; order pcap, firewall`. */
export function describeExtensions(before: SwitchExtensionConfig[], after: SwitchExtensionConfig[]): string {
  if (before.length === 0) {
    const on = after.filter((e) => e.enabled).map((e) => `${e.name}${e.onError ? ` (on-error ${e.onError})` : ''}`);
    return on.length > 0 ? `enable ${on.join(', ')} (in this order; others disabled)` : 'all disabled';
  }
  const parts: string[] = [];
  for (const e of after) {
    const b = before.find((x) => x.name === e.name);
    if (!b) {
      if (e.enabled || e.config !== undefined || e.onError !== undefined) parts.push(`${e.enabled ? 'enable' : 'bind'} ${e.name}${e.config ? ' (configured)' : ''}`);
      continue;
    }
    if (b.enabled !== e.enabled) parts.push(`${e.enabled ? 'enable' : 'disable'} ${e.name}`);
    if (!sameJson(b.config ?? {}, e.config ?? {})) parts.push(`configure ${e.name}`);
    if (b.onError !== e.onError) parts.push(`on-error ${e.name} ${e.onError ?? 'default'}`);
  }
  for (const b of before) if (!after.some((e) => e.name === b.name)) parts.push(`unbind ${b.name}`);
  const order = (l: SwitchExtensionConfig[]): string[] => l.filter((e) => before.some((x) => x.name === e.name) && after.some((x) => x.name === e.name)).map((e) => e.name);
  if (!sameJson(order(before), order(after))) parts.push(`order ${after.filter((e) => e.enabled).map((e) => e.name).join(', ') || '(none enabled)'}`);
  return parts.length > 0 ? parts.join('; ') : 'rebind (same settings)';
}

/** One line per change, as `--dry-run` prints it: `+ switch sw0 (private, …)`, `- port sw0/vm1 (TAP)`, `~ …`. */
export function describeChange(c: Change): string {
  const why = 'reason' in c && c.reason ? ` [${c.reason}]` : '';
  switch (c.kind) {
    case 'removePort': return `- port ${c.switch}/${portText(c.port)}${why}`;
    case 'addPort': return `+ port ${c.switch}/${portText(c.port)}${why}`;
    case 'setPort': return `~ port ${c.switch}/${c.port}: ${settingsText(c.before, c.after)}`;
    case 'deleteSwitch': return `- switch ${c.config.name} (${switchText(c.config)}; ${c.config.ports.length} ports)${why}`;
    case 'createSwitch': return `+ switch ${c.config.name} (${switchText(c.config)})${why}`;
    case 'setCpus': return `~ switch ${c.switch}: cpus ${c.before?.join(',') || '(none)'} → ${c.after?.join(',') || '(none)'}`;
    case 'setExtensions': return `~ extensions of ${c.switch}: ${describeExtensions(c.before, c.after)}`;
    case 'installPlugin': return `+ plugin ${c.source}${c.allowUntrusted ? ' (untrusted allowed)' : ''}`;
    case 'uninstallPlugin': return `- plugin ${c.source}`;
    case 'setHnv': return `~ hnv: ${hnvText(c.before, c.after)} (policies pushed to every switch)`;
    case 'setMetrics': return `~ metrics: ${c.before?.listen ?? 'off'} → ${c.after?.listen ?? 'off'}`;
    case 'setDashboard': return `~ dashboard: ${c.before?.listen ?? 'off'} → ${c.after?.listen ?? 'off'}`;
  }
}

/** `+ 2 records, - 1 route, etcd http://…` : what an HNV change adds and removes, by list */
function hnvText(before: HnvConfig | undefined, after: HnvConfig | undefined): string {
  const parts: string[] = [];
  const count = (label: string, b: unknown[] | undefined, a: unknown[] | undefined): void => {
    const bb = (b ?? []).map((x) => JSON.stringify(x));
    const aa = (a ?? []).map((x) => JSON.stringify(x));
    const added = aa.filter((x) => !bb.includes(x)).length;
    const removed = bb.filter((x) => !aa.includes(x)).length;
    if (added) parts.push(`+ ${added} ${label}`);
    if (removed) parts.push(`- ${removed} ${label}`);
  };
  count('provider address(es)', before?.providerAddresses, after?.providerAddresses);
  count('lookup record(s)', before?.lookupRecords, after?.lookupRecords);
  count('customer route(s)', before?.customerRoutes, after?.customerRoutes);
  if (!sameJson(before?.etcd, after?.etcd)) parts.push(after?.etcd ? `etcd ${after.etcd.endpoints.join(',')}` : 'etcd off (the local document)');
  return parts.length > 0 ? parts.join(', ') : 'reordered';
}

/** The diff as text, or `no changes`. */
export function describe(changes: readonly Change[]): string {
  return changes.length === 0 ? 'no changes' : changes.map(describeChange).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Apply

/** What applies one change to the data path; `undo` is true while rolling back. */
export type ApplyChange = (c: Change, undo: boolean) => Promise<void>;

/** A change failed; every change before it was undone (`rollbackErrors` lists undo steps that failed too). */
export class ApplyError extends Error {
  readonly change: Change;
  readonly cause: unknown;
  readonly rollbackErrors: string[];
  constructor(change: Change, cause: unknown, rollbackErrors: string[]) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const rb = rollbackErrors.length > 0 ? `; rollback incomplete: ${rollbackErrors.join('; ')}` : '';
    super(`${why} (while applying "${describeChange(change)}"; nothing was changed${rb})`);
    this.name = 'ApplyError';
    this.change = change;
    this.cause = cause;
    this.rollbackErrors = rollbackErrors;
  }
}

/** Undoes `done` (newest first); returns the messages of undo steps that failed (rollback goes on past them). */
export async function rollback(apply: ApplyChange, done: readonly Change[]): Promise<string[]> {
  const errors: string[] = [];
  for (const c of [...done].reverse()) {
    for (const u of inverse(c)) {
      try {
        await apply(u, true);
      } catch (e) {
        errors.push(`${describeChange(u)}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  return errors;
}

/**
 * Applies `changes` in order. On the first failure, undoes what was done and throws `ApplyError` (whose
 * `cause` is the original error, e.g. a ConfigError naming the field). Returns the changes applied.
 */
export async function applyDiff(apply: ApplyChange, changes: readonly Change[]): Promise<Change[]> {
  const done: Change[] = [];
  for (const c of changes) {
    try {
      await apply(c, false);
    } catch (e) {
      throw new ApplyError(c, e, await rollback(apply, done));
    }
    done.push(c);
  }
  return done;
}

/** Names of switches a change touches (for locks and for merging a per-switch commit into the document). */
export function switchOf(c: Change): string | null {
  switch (c.kind) {
    case 'deleteSwitch':
    case 'createSwitch': return c.config.name;
    case 'installPlugin':
    case 'uninstallPlugin':
    case 'setHnv':
    case 'setMetrics':
    case 'setDashboard': return null;
    default: return c.switch;
  }
}

/**
 * Restore at start-up: like `applyDiff` but nothing is rolled back. A change that fails is passed to `failed`
 * (which records the problem; the object stays in the document) and the changes that depend on it (the ports
 * and extensions of a switch that could not be created) are skipped. Returns the changes applied.
 */
export async function applyLenient(
  apply: ApplyChange, changes: readonly Change[], failed: (c: Change, e: unknown) => void,
): Promise<Change[]> {
  const done: Change[] = [];
  const brokenSwitches = new Set<string>();
  for (const c of changes) {
    const sw = switchOf(c);
    if (sw !== null && c.kind !== 'createSwitch' && brokenSwitches.has(sw)) continue;
    try {
      await apply(c, false);
      done.push(c);
    } catch (e) {
      if (c.kind === 'createSwitch') brokenSwitches.add(c.config.name);
      failed(c, e);
    }
  }
  return done;
}
