/**
 * The xvs control protocol: newline-delimited JSON over a Unix stream socket.
 *
 *   request   {"id": 1, "method": "switch.create", "params": {"name": "sw0", "type": "private"}}
 *   response  {"id": 1, "ok": true, "result": {...}}
 *             {"id": 1, "ok": false, "error": {"name": "ConfigError", "message": "params.type: ...", "field": "params.type"}}
 *
 * One line per message; a connection may carry many requests, answered in order of completion with the
 * request's `id`. The method table lives here, in one place: to add a method, add its types to `Methods` and
 * its params parser to `METHODS`; the compiler then asks the server for a handler.
 */
import { parseSwitchSet, type SwitchSetParams, type SwitchSetParsed } from './vmq-params.js';
import type { RebalanceResult, VmqView } from '../vmq/switch-vmq.js';
import { ConfigError } from '../core/errors.js';
import type { WorkerHealthEntry } from '../switch/manager-api.js';
import type { ExtendedAcl, HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress, PortAcl, PortConfig, PortIoKind, SwitchConfig, SwitchType, XvsConfig } from '../config/types.js';
import type { PortSettingsChange } from './edits.js';
import {
  parseAcl, parseExtendedAcl, parseExtendedAclRemove, parseFeatureRemove, parseFeatureSet, parsePortMeter, parsePortSet,
  type AclParams, type AclParsed, type AclResult, type ExtendedAclParams, type ExtendedAclParsed, type ExtendedAclRemoveParams,
  type ExtendedAclResult, type FeatureRemoveParams, type FeatureResult, type FeatureSetParams, type PortMeterParams,
} from './port-params.js';
export type {
  AclParams, AclParsed, AclResult, ExtendedAclParams, ExtendedAclParsed, ExtendedAclRemoveParams, ExtendedAclResult,
  FeatureRemoveParams, FeatureResult, FeatureSetParams, PortMeterParams,
} from './port-params.js';
import {
  parseHnvPa, parseHnvPaRemove, parseHnvRecord, parseHnvRecordRemove, parseHnvRoute, parseHnvRouteRemove,
  type HnvAddResult, type HnvPaRemoveParams, type HnvPaRemoveParsed, type HnvRecordRemoveParams, type HnvRecordRemoveParsed,
  type HnvRemoveResult, type HnvRouteRemoveParams, type HnvRouteRemoveParsed,
} from './hnv-params.js';
export type { HnvAddResult, HnvRemoveResult } from './hnv-params.js';
import { parseSriovEnable, type IovStatus, type SriovEnableParams, type SriovEnableResult, type SriovPfView } from '../sriov/params.js';
export type { IovStatus, SriovEnableParams, SriovEnableResult, SriovPfView } from '../sriov/params.js';
import type { HnvPaView, HnvRecordView, HnvShowResult } from '../hnv/control.js';
export type { HnvPaView, HnvRecordView, HnvShowResult } from '../hnv/control.js';
import { FDB_PAGE_DEFAULT, FDB_PAGE_MAX, parseCursor } from '../forward/fdb-pages.js';
import type {
  ExtensionInfo, FdbPage, MeterReport, PipelineView, PortKind, PortStats, SwitchExtensionState, SwitchInfo, SwitchStats, TraceView,
} from '../switch/manager-api.js';
import { buildPacket, parseHexFrame } from '../packet/spec.js';
import { parseMatch } from '../packet/match.js';
import {
  describe,
  expectObject,
  fieldPath,
  rejectUnknownKeys,
  optionalBoolean,
  optionalInt,
  requireIfname,
  validateConfig,
  validatePort,
  validateSwitch,
} from '../config/schema.js';

export const DEFAULT_SOCKET_PATH = '/run/xvs/xvs.sock';
/** A request line longer than this is refused and the connection closed. */
export const MAX_LINE_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------------------------
// Params and results

export type EmptyParams = Record<string, never>;
export interface SwitchRefParams {
  switch: string;
}
export interface NameParams {
  name: string;
}
import type { PortRefParams, PortSetParsed, Unchanged } from './port-params.js';
export type { PortRefParams, PortSetParsed, Unchanged };
/** `--may-exist`: no error if it already exists with the same settings (an error naming the field if not) */
export interface MayExist { mayExist?: boolean }
/** `--if-exists`: no error if it does not exist */
export interface IfExists { ifExists?: boolean }
export type PortAddParams = PortRefParams & MayExist & {
  netdev?: string; allowHostAddresses?: boolean; queues?: number;
  /** `pcap`: read and write the netdev through libpcap (its offloads turned off); default afpacket */
  io?: PortIoKind;
  /** Hyper-V's IovWeight 0..100: > 0 asks for an SR-IOV VF (docs/QUEUES.md "SR-IOV") */
  iovWeight?: number;
};
/** `port.add`'s result: the port (for an iovWeight port, `iov` says what it got: a VF, or the software path and why) */
export type PortAddResult = PortView & Unchanged;
/** `port.remove`'s result: iovReleased names the VF the port gave back */
export type PortRemoveResult = PortRefParams & Unchanged & { iovReleased?: string };
export type PortRemoveParams = PortRefParams & IfExists & {
  /** remove the port even if a process (QEMU) still holds its TAP; the TAP then lasts until that process closes it */
  force?: boolean;
};
/** `port set`: each setting given is changed in place; null returns it to its default */
export type PortSetParams = PortRefParams & PortSettingsChange;
/** `fdb.show`: one page of the MAC table, in MAC order */
export interface FdbShowParams {
  switch: string;
  /** the previous page's `next` (or a MAC): entries after it; absent: the first page */
  after?: string;
  /** most entries in the page (1..10000, default 5000) */
  limit?: number;
}
export interface FdbShowParsed { switch: string; after?: string; limit: number }
export type SwitchDeleteParams = NameParams & IfExists;
/** What a change verb did: `unchanged` is true when --may-exist / --if-exists found nothing to do. */
export interface ConfigApplyParams {
  /** the whole desired document (as `config.show` returns it or the config file holds it) */
  config: unknown;
  /** compute and return the diff, change nothing */
  dryRun?: boolean;
}
export interface ConfigApplyResult {
  dryRun: boolean;
  /** one line per change (`+ switch sw0 (...)`, `- port sw0/vm1 (TAP)`, `~ extensions of sw0: ...`), in order */
  changes: string[];
  /** `no changes`, or the changes one per line */
  text: string;
}
export interface SwitchCreateParams extends MayExist {
  name: string;
  type: SwitchType;
  uplink?: string;
  /** external: `pcap` reads and writes the uplink through libpcap; default afpacket */
  uplinkIo?: PortIoKind;
  allowManagementOs?: boolean;
  hostPort?: string;
  macAgingSeconds?: number;
  macTableLimit?: number;
  macPortLimit?: number;
  /** external: the uplink capacity (bits/s) the bandwidth weights divide */
  uplinkBandwidth?: number;
  workers?: number;
}

/** A switch as the daemon reports it: the data path's view plus whether it is running at all. */
export interface SwitchView extends SwitchInfo {
  /** false when the switch is configured but could not be started (e.g. its uplink vanished) */
  running: boolean;
}

export interface PortView {
  switch: string;
  name: string;
  kind: PortKind;
  netdev: string;
  /** data-path port index, null when the port is not running */
  index: number | null;
  up: boolean;
  running: boolean;
  /** the port netdev's MTU (a VSID port's: the overlay MTU, docs/HNV.md) */
  mtu?: number;
  /** a libpcap port (`io pcap`) */
  io?: 'pcap';
  /** a libpcap port: the netdev's offloads xvs turned off for it (`ethtool -K` keywords: tso, gso, gro, lro, tx) */
  offloadsOff?: string[];
  /**
   * the port as the configuration document holds it (name, netdev, every setting): put it in a document's
   * `ports` and `config apply` changes nothing
   */
  config?: PortConfig;
  /** a port with iovWeight: what it got, a VF or the software path and why (docs/QUEUES.md "SR-IOV") */
  iov?: IovStatus;
}

export interface PortDetail extends PortView {
  stats: PortStats | null;
}

export interface Problem {
  field: string;
  message: string;
}

/** The start-up restore so far: switches created (or failed), and changes (switches, ports, lists) tried. */
export interface RestoreProgress {
  switches: number;
  switchesDone: number;
  changes: number;
  changesDone: number;
}

export interface DaemonStatus {
  pid: number;
  version: string;
  socket: string;
  configPath: string;
  startedAt: string;
  uptimeSeconds: number;
  switches: number;
  ports: number;
  /** what could not be restored at start-up (the config keeps it) */
  problems: Problem[];
  /** data-path workers the watchdog or a crash restarted, with the last cause */
  workers: WorkerHealthEntry[];
  /** present while the daemon restores its configuration at start */
  restoring?: RestoreProgress;
  /** open control connections (this one included) */
  connections?: number;
  /** where the metrics endpoint serves `GET /metrics` (ADDRESS:PORT); absent: off */
  metrics?: string;
  /** where the read-only dashboard serves its page (ADDRESS:PORT); absent: off */
  dashboard?: string;
}

/**
 * The method table, as types. `params`: what a client sends; `parsed`: what the server's handler receives after
 * `METHODS[m].parse`; `result`: what comes back.
 */
export interface Methods {
  'switch.create': { params: SwitchCreateParams; parsed: { config: SwitchConfig; mayExist: boolean }; result: SwitchView & Unchanged };
  'switch.delete': { params: SwitchDeleteParams; parsed: { name: string; ifExists: boolean }; result: NameParams & Unchanged };
  'switch.list': { params: EmptyParams; parsed: EmptyParams; result: SwitchView[] };
  'switch.show': { params: NameParams; parsed: NameParams; result: SwitchView };
  'port.add': { params: PortAddParams; parsed: { switch: string; port: PortConfig; mayExist: boolean }; result: PortAddResult };
  'port.remove': { params: PortRemoveParams; parsed: { switch: string; name: string; ifExists: boolean; force: boolean }; result: PortRemoveResult };
  'port.list': { params: SwitchRefParams; parsed: SwitchRefParams; result: PortView[] };
  'port.show': { params: PortRefParams; parsed: PortRefParams; result: PortDetail };
  'port.set': { params: PortSetParams; parsed: PortSetParsed; result: PortView & Unchanged };
  'port.meter': { params: PortMeterParams; parsed: Required<PortMeterParams>; result: MeterReport };
  'port.feature.set': { params: FeatureSetParams; parsed: FeatureSetParams; result: FeatureResult };
  'port.feature.remove': { params: FeatureRemoveParams; parsed: FeatureRemoveParams; result: FeatureResult };
  'acl.add': { params: AclParams; parsed: AclParsed; result: AclResult };
  'acl.remove': { params: AclParams; parsed: AclParsed; result: AclResult };
  'acl.list': { params: PortRefParams; parsed: PortRefParams; result: PortAcl[] };
  'acl.extended.add': { params: ExtendedAclParams; parsed: ExtendedAclParsed; result: ExtendedAclResult };
  'acl.extended.remove': { params: ExtendedAclRemoveParams; parsed: ExtendedAclRemoveParams; result: ExtendedAclResult };
  'acl.extended.list': { params: PortRefParams; parsed: PortRefParams; result: ExtendedAcl[] };
  'fdb.show': { params: FdbShowParams; parsed: FdbShowParsed; result: FdbPage };
  stats: { params: SwitchRefParams; parsed: SwitchRefParams; result: SwitchStats };
  'daemon.status': { params: EmptyParams; parsed: EmptyParams; result: DaemonStatus };
  'extension.installed': { params: EmptyParams; parsed: EmptyParams; result: ExtensionInfo[] };
  'extension.describe': { params: NameParams; parsed: NameParams; result: { info: ExtensionInfo; markdown: string } };
  'extension.list': { params: SwitchRefParams; parsed: SwitchRefParams; result: SwitchExtensionState[] };
  'extension.enable': { params: ExtRefParams; parsed: ExtRefParams; result: SwitchExtensionState };
  'extension.disable': { params: ExtRefParams; parsed: ExtRefParams; result: SwitchExtensionState };
  'extension.order': { params: ExtOrderParams; parsed: ExtOrderParams; result: SwitchExtensionState[] };
  'extension.set': { params: ExtSetParams; parsed: ExtSetParams; result: SwitchExtensionState };
  'extension.install': { params: { source: string; allowUntrusted?: boolean }; parsed: InstallParams; result: ExtensionInfo };
  'extension.uninstall': { params: NameParams; parsed: NameParams; result: NameParams };
  'pipeline.show': { params: SwitchRefParams; parsed: SwitchRefParams; result: PipelineView };
  trace: { params: TraceParams; parsed: TraceParsed; result: TraceView[] };
  'trace.start': { params: TraceStartParams; parsed: LiveTraceParsed; result: { session: number } };
  'trace.poll': { params: TracePollParams; parsed: Required<TracePollParams>; result: TracePollResult };
  'trace.stop': { params: { session: number }; parsed: { session: number }; result: { session: number } };
  'config.show': { params: EmptyParams; parsed: EmptyParams; result: XvsConfig };
  'config.apply': { params: ConfigApplyParams; parsed: { config: XvsConfig; dryRun: boolean }; result: ConfigApplyResult };
  'hnv.pa.add': { params: HnvProviderAddress; parsed: HnvProviderAddress; result: HnvAddResult<HnvProviderAddress> };
  'hnv.pa.remove': { params: HnvPaRemoveParams; parsed: HnvPaRemoveParsed; result: HnvRemoveResult };
  'hnv.pa.list': { params: EmptyParams; parsed: EmptyParams; result: HnvPaView[] };
  'hnv.record.add': { params: HnvLookupRecord; parsed: HnvLookupRecord; result: HnvAddResult<HnvLookupRecord> };
  'hnv.record.remove': { params: HnvRecordRemoveParams; parsed: HnvRecordRemoveParsed; result: HnvRemoveResult };
  'hnv.record.list': { params: EmptyParams; parsed: EmptyParams; result: HnvRecordView[] };
  'hnv.route.add': { params: HnvCustomerRoute; parsed: HnvCustomerRoute; result: HnvAddResult<HnvCustomerRoute> };
  'hnv.route.remove': { params: HnvRouteRemoveParams; parsed: HnvRouteRemoveParsed; result: HnvRemoveResult };
  'hnv.route.list': { params: EmptyParams; parsed: EmptyParams; result: HnvCustomerRoute[] };
  'hnv.show': { params: EmptyParams; parsed: EmptyParams; result: HnvShowResult };
  'switch.set': { params: SwitchSetParams; parsed: SwitchSetParsed; result: SwitchView & Unchanged };
  'vmq.show': { params: SwitchRefParams; parsed: SwitchRefParams; result: VmqView };
  'vmq.rebalance': { params: SwitchRefParams; parsed: SwitchRefParams; result: RebalanceResult };
  'sriov.list': { params: EmptyParams; parsed: EmptyParams; result: SriovPfView[] };
  'sriov.enable': { params: SriovEnableParams; parsed: SriovEnableParams; result: SriovEnableResult };
}

export interface ExtRefParams { switch: string; name: string }
/** source: an absolute path or an npm package name; allowUntrusted: files writable by others than root are allowed (logged) */
export interface InstallParams { source: string; allowUntrusted: boolean }
export interface ExtOrderParams { switch: string; names: string[] }
export interface ExtSetParams { switch: string; name: string; config?: Record<string, unknown>; onError?: 'bypass' | 'drop' }
export interface TraceParams {
  switch: string;
  /** port the synthetic frame enters on (synthetic traces); with live, only frames from this port */
  in?: string;
  /** the frame in hex */
  frame?: string;
  /** the frame as eth(...),ipv4(...),tcp(...) */
  packet?: string;
  /** trace the next `count` real frames instead */
  live?: boolean;
  count?: number;
  /** live: only frames matching this expression, e.g. ipv4.dst=10.0.0.2,tcp.dst=80 */
  match?: string;
  /** live: give up after this many ms (default 10000) */
  timeoutMs?: number;
}
export type LiveTraceParsed = { mode: 'live'; switch: string; in?: string; count: number; match?: string; timeoutMs: number };
export type TraceParsed =
  | { mode: 'synthetic'; switch: string; in: string; frame: Uint8Array }
  | LiveTraceParsed;
/** `trace.start`: a live trace that runs in the daemon while the client polls it (what `xvs trace --live` uses) */
export interface TraceStartParams {
  switch: string;
  /** only frames that came in on this port */
  in?: string;
  /** how many frames to record */
  count?: number;
  /** only frames matching this expression */
  match?: string;
  /** stop after this many ms even if fewer frames came */
  timeoutMs?: number;
}
export interface TracePollParams {
  session: number;
  /** the number of frames already seen (the `next` of the previous poll); 0 at first */
  from?: number;
}
export interface TracePollResult {
  /** the frames recorded since `from`, in order */
  frames: TraceView[];
  /** `from` for the next poll */
  next: number;
  /** the trace has ended (count reached, wait ran out, or stopped); nothing more will come */
  done: boolean;
  /** it ended because the wait ran out before `count` frames came */
  timedOut: boolean;
}

export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = Methods[M]['params'];
export type ParsedOf<M extends MethodName> = Methods[M]['parsed'];
export type ResultOf<M extends MethodName> = Methods[M]['result'];

export interface MethodSpec<P> {
  /** one line for docs and `--help` */
  summary: string;
  /** changes the switch set and so the config file; run one at a time, persisted on success */
  mutates: boolean;
  /** validates `params` (path `params`), throwing ConfigError naming the field */
  parse(params: unknown): P;
}

const P = 'params';

function paramsObject(input: unknown, keys: readonly string[]): Record<string, unknown> {
  const obj = expectObject(input ?? {}, P);
  rejectUnknownKeys(obj, keys, P);
  return obj;
}

function parseEmpty(input: unknown): EmptyParams {
  const obj = expectObject(input ?? {}, P);
  const extra = Object.keys(obj)[0];
  if (extra !== undefined) throw new ConfigError(fieldPath(P, extra), 'unknown key (this method takes no params)');
  return {};
}

function parseName(input: unknown): NameParams {
  return { name: requireIfname(paramsObject(input, ['name']), 'name', P) };
}

function parseSwitchRef(input: unknown): SwitchRefParams {
  return { switch: requireIfname(paramsObject(input, ['switch']), 'switch', P) };
}

function parsePortRef(input: unknown): PortRefParams {
  const obj = paramsObject(input, ['switch', 'name']);
  return { switch: requireIfname(obj, 'switch', P), name: requireIfname(obj, 'name', P) };
}

function parsePortAdd(input: unknown): { switch: string; port: PortConfig; mayExist: boolean } {
  const obj = paramsObject(input, ['switch', 'name', 'netdev', 'allowHostAddresses', 'queues', 'io', 'macLimit', 'mayExist', 'iovWeight']);
  const sw = requireIfname(obj, 'switch', P);
  const mayExist = optionalBoolean(obj, 'mayExist', P) ?? false;
  const { switch: _omit, mayExist: _m, ...rest } = obj;
  void _omit;
  void _m;
  return { switch: sw, port: validatePort(rest, P), mayExist };
}

function parseFdbShow(input: unknown): FdbShowParsed {
  const obj = paramsObject(input, ['switch', 'after', 'limit']);
  const out: FdbShowParsed = {
    switch: requireIfname(obj, 'switch', P),
    limit: optionalInt(obj, 'limit', P, { min: 1, max: FDB_PAGE_MAX }) ?? FDB_PAGE_DEFAULT,
  };
  if (obj.after !== undefined) {
    if (typeof obj.after !== 'string') throw new ConfigError(fieldPath(P, 'after'), `expected the "next" of a previous page, got ${describe(obj.after)}`);
    parseCursor(obj.after, fieldPath(P, 'after'));
    out.after = obj.after;
  }
  return out;
}

function parsePortRemove(input: unknown): { switch: string; name: string; ifExists: boolean; force: boolean } {
  const obj = paramsObject(input, ['switch', 'name', 'ifExists', 'force']);
  return {
    switch: requireIfname(obj, 'switch', P), name: requireIfname(obj, 'name', P),
    ifExists: optionalBoolean(obj, 'ifExists', P) ?? false, force: optionalBoolean(obj, 'force', P) ?? false,
  };
}

function parseSwitchCreate(input: unknown): { config: SwitchConfig; mayExist: boolean } {
  const obj = expectObject(input ?? {}, P);
  const mayExist = optionalBoolean(obj, 'mayExist', P) ?? false;
  const { mayExist: _m, ...rest } = obj;
  void _m;
  return { config: validateSwitch(rest, P, { allowPorts: false }), mayExist };
}

function parseSwitchDelete(input: unknown): { name: string; ifExists: boolean } {
  const obj = paramsObject(input, ['name', 'ifExists']);
  return { name: requireIfname(obj, 'name', P), ifExists: optionalBoolean(obj, 'ifExists', P) ?? false };
}

/** The document is validated whole (shape and claims), errors naming `params.config.switches[0]....`. */
function parseConfigApply(input: unknown): { config: XvsConfig; dryRun: boolean } {
  const obj = paramsObject(input, ['config', 'dryRun']);
  if (obj.config === undefined) throw new ConfigError(fieldPath(P, 'config'), 'required: the desired configuration document');
  let config: XvsConfig;
  try {
    config = validateConfig(obj.config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const field = e.field ? `${P}.config.${e.field}` : `${P}.config`;
    throw new ConfigError(field, e.message.slice(e.field ? e.field.length + 2 : 0));
  }
  return { config, dryRun: optionalBoolean(obj, 'dryRun', P) ?? false };
}

const EXT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function requireExtName(obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || !EXT_NAME.test(v)) throw new ConfigError(fieldPath(P, key), `expected an extension name, got ${describe(v)}`);
  return v;
}

function parseExtRef(input: unknown): ExtRefParams {
  const obj = paramsObject(input, ['switch', 'name']);
  return { switch: requireIfname(obj, 'switch', P), name: requireExtName(obj, 'name') };
}

function parseExtName(input: unknown): NameParams {
  return { name: requireExtName(paramsObject(input, ['name']), 'name') };
}

function parseExtOrder(input: unknown): ExtOrderParams {
  const obj = paramsObject(input, ['switch', 'names']);
  const names = obj.names;
  if (!Array.isArray(names) || names.length === 0) throw new ConfigError(fieldPath(P, 'names'), `expected a non-empty list of extension names, got ${describe(names)}`);
  const raw: unknown[] = names;
  return {
    switch: requireIfname(obj, 'switch', P),
    names: raw.map((n, i) => {
      if (typeof n !== 'string' || !EXT_NAME.test(n)) throw new ConfigError(`${P}.names[${i}]`, `expected an extension name, got ${describe(n)}`);
      return n;
    }),
  };
}

function parseExtSet(input: unknown): ExtSetParams {
  const obj = paramsObject(input, ['switch', 'name', 'config', 'onError']);
  const out: ExtSetParams = { switch: requireIfname(obj, 'switch', P), name: requireExtName(obj, 'name') };
  if (obj.config !== undefined) out.config = expectObject(obj.config, fieldPath(P, 'config'));
  if (obj.onError !== undefined) {
    if (obj.onError !== 'bypass' && obj.onError !== 'drop') throw new ConfigError(fieldPath(P, 'onError'), `expected one of bypass, drop, got ${describe(obj.onError)}`);
    out.onError = obj.onError;
  }
  if (out.config === undefined && out.onError === undefined) throw new ConfigError(P, 'nothing to set: give config and/or onError');
  return out;
}

function parseInstall(input: unknown): InstallParams {
  const obj = paramsObject(input, ['source', 'allowUntrusted']);
  if (typeof obj.source !== 'string' || obj.source.trim() === '') throw new ConfigError(fieldPath(P, 'source'), `expected a path or npm package name, got ${describe(obj.source)}`);
  return { source: obj.source, allowUntrusted: optionalBoolean(obj, 'allowUntrusted', P) ?? false };
}

/** Ranges the validators enforce (docs/CONTROL.md states them from here). */
export const LIMITS = {
  'trace.count': { min: 1, max: 1000, default: 1 },
  'trace.timeoutMs': { min: 1, max: 600_000, default: 10_000 },
  'trace.sessions': { max: 16 },
} as const;

function intIn(obj: Record<string, unknown>, key: string, r: { min: number; max: number; default: number }): number {
  const v = obj[key] === undefined ? r.default : obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < r.min || v > r.max) throw new ConfigError(fieldPath(P, key), `expected an integer ${r.min}..${r.max}, got ${describe(v)}`);
  return v;
}

function parseLive(obj: Record<string, unknown>, sw: string, inPort: string | undefined): LiveTraceParsed {
  const count = intIn(obj, 'count', LIMITS['trace.count']);
  const timeoutMs = intIn(obj, 'timeoutMs', LIMITS['trace.timeoutMs']);
  let match: string | undefined;
  if (obj.match !== undefined) {
    if (typeof obj.match !== 'string') throw new ConfigError(fieldPath(P, 'match'), `expected an expression, got ${describe(obj.match)}`);
    parseMatch(obj.match, fieldPath(P, 'match'));
    match = obj.match;
  }
  return { mode: 'live', switch: sw, ...(inPort ? { in: inPort } : {}), count, ...(match ? { match } : {}), timeoutMs };
}

function parseTraceStart(input: unknown): LiveTraceParsed {
  const obj = paramsObject(input, ['switch', 'in', 'count', 'match', 'timeoutMs']);
  const sw = requireIfname(obj, 'switch', P);
  return parseLive(obj, sw, obj.in === undefined ? undefined : requireIfname(obj, 'in', P));
}

function requireSession(obj: Record<string, unknown>): number {
  const v = obj.session;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ConfigError(fieldPath(P, 'session'), `expected a session number from trace.start, got ${describe(v)}`);
  return v;
}

function parseTracePoll(input: unknown): Required<TracePollParams> {
  const obj = paramsObject(input, ['session', 'from']);
  const from = obj.from === undefined ? 0 : obj.from;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0) throw new ConfigError(fieldPath(P, 'from'), `expected a frame count >= 0, got ${describe(from)}`);
  return { session: requireSession(obj), from };
}

function parseTraceStop(input: unknown): { session: number } {
  return { session: requireSession(paramsObject(input, ['session'])) };
}

function parseTrace(input: unknown): TraceParsed {
  const obj = paramsObject(input, ['switch', 'in', 'frame', 'packet', 'live', 'count', 'match', 'timeoutMs']);
  const sw = requireIfname(obj, 'switch', P);
  const inPort = obj.in === undefined ? undefined : requireIfname(obj, 'in', P);
  if (obj.live === true) {
    if (obj.frame !== undefined || obj.packet !== undefined) throw new ConfigError(fieldPath(P, 'live'), 'a live trace takes no frame or packet');
    return parseLive(obj, sw, inPort);
  }
  if (obj.live !== undefined && obj.live !== false) throw new ConfigError(fieldPath(P, 'live'), `expected true or false, got ${describe(obj.live)}`);
  if (inPort === undefined) throw new ConfigError(fieldPath(P, 'in'), 'required: the port the frame enters on');
  if ((obj.frame === undefined) === (obj.packet === undefined)) throw new ConfigError(fieldPath(P, 'frame'), 'give exactly one of frame (hex) or packet');
  let frame: Uint8Array;
  if (obj.frame !== undefined) {
    if (typeof obj.frame !== 'string') throw new ConfigError(fieldPath(P, 'frame'), `expected hex, got ${describe(obj.frame)}`);
    frame = parseHexFrame(obj.frame);
  } else {
    if (typeof obj.packet !== 'string') throw new ConfigError(fieldPath(P, 'packet'), `expected eth(...),..., got ${describe(obj.packet)}`);
    frame = buildPacket(obj.packet);
  }
  return { mode: 'synthetic', switch: sw, in: inPort, frame };
}

export const METHODS: { [M in MethodName]: MethodSpec<ParsedOf<M>> } = {
  'switch.create': {
    summary: 'create a switch (private, internal or external)',
    mutates: true,
    parse: parseSwitchCreate,
  },
  'switch.delete': { summary: 'delete a switch and its ports', mutates: true, parse: parseSwitchDelete },
  'switch.list': { summary: 'list switches', mutates: false, parse: parseEmpty },
  'switch.show': { summary: 'show one switch: config and ports', mutates: false, parse: parseName },
  'switch.set': { summary: "change a running switch's settings in place: the CPUs its workers are pinned to (XVS_CPUS overrides)", mutates: true, parse: parseSwitchSet },
  'vmq.show': { summary: "VMQ: a switch's queues with their worker, CPU, ports, pps and busy %, and its workers", mutates: false, parse: parseSwitchRef },
  'vmq.rebalance': { summary: 'VMQ: place the queues on the workers again by measured load (rx sockets handed over without losing frames)', mutates: true, parse: parseSwitchRef },
  'port.add': { summary: 'add a VM port (a TAP, or an existing netdev)', mutates: true, parse: parsePortAdd },
  'port.remove': { summary: 'remove a port from a switch', mutates: true, parse: parsePortRemove },
  'port.list': { summary: "list a switch's ports", mutates: false, parse: parseSwitchRef },
  'port.show': { summary: 'show one port and its counters', mutates: false, parse: parsePortRef },
  'port.set': { summary: "change a VM port's settings in place (any PortSettings key: guards, VLAN, ACL lists, bandwidth, mirroring, features; null: the default)", mutates: true, parse: parsePortSet },
  'port.meter': { summary: "a port's metered traffic per meter ACL entry and in total, like Measure-VM (reset: then count from zero)", mutates: false, parse: parsePortMeter },
  'port.feature.set': { summary: "set keys of an extension's per-port settings (Set-VMSwitchExtensionPortFeature)", mutates: true, parse: parseFeatureSet },
  'port.feature.remove': { summary: "remove an extension's per-port settings, or some keys of them", mutates: true, parse: parseFeatureRemove },
  'acl.add': { summary: 'add a port ACL entry (Add-VMNetworkAdapterAcl); replaces the allow/deny (or meter) entry of the same address and direction', mutates: true, parse: parseAcl },
  'acl.remove': { summary: 'remove the port ACL entry with this action, direction and address (Remove-VMNetworkAdapterAcl)', mutates: true, parse: parseAcl },
  'acl.list': { summary: "a port's ACL entries", mutates: false, parse: parsePortRef },
  'acl.extended.add': { summary: 'add an extended port ACL entry (Add-VMNetworkAdapterExtendedAcl), keyed by weight and direction', mutates: true, parse: parseExtendedAcl },
  'acl.extended.remove': { summary: 'remove the extended ACL entry with this weight and direction', mutates: true, parse: parseExtendedAclRemove },
  'acl.extended.list': { summary: "a port's extended ACL entries, larger weight first", mutates: false, parse: parsePortRef },
  'fdb.show': { summary: "one page of a switch's learned MAC addresses, in MAC order (after: the previous page's next)", mutates: false, parse: parseFdbShow },
  stats: { summary: "show a switch's counters", mutates: false, parse: parseSwitchRef },
  'daemon.status': { summary: 'show the daemon: pid, uptime, restore problems', mutates: false, parse: parseEmpty },
  'extension.installed': { summary: 'list installed extensions', mutates: false, parse: parseEmpty },
  'extension.describe': { summary: "show an extension's documentation", mutates: false, parse: parseExtName },
  'extension.list': { summary: "list a switch's extensions in pipeline order, with state and counters", mutates: false, parse: parseSwitchRef },
  'extension.enable': { summary: 'enable an extension on a switch', mutates: true, parse: parseExtRef },
  'extension.disable': { summary: 'disable an extension on a switch', mutates: true, parse: parseExtRef },
  'extension.order': { summary: 'put extensions first, in this order', mutates: true, parse: parseExtOrder },
  'extension.set': { summary: "replace an extension's configuration and/or on-error policy on a switch", mutates: true, parse: parseExtSet },
  'extension.install': { summary: 'install a third-party extension (path or npm package)', mutates: true, parse: parseInstall },
  'extension.uninstall': { summary: 'uninstall a third-party extension', mutates: true, parse: parseExtName },
  'pipeline.show': { summary: "show a switch's running pipeline, ingress and egress", mutates: false, parse: parseSwitchRef },
  trace: { summary: 'trace a synthetic frame (or the next live frames, answered when all came) through the pipeline', mutates: false, parse: parseTrace },
  'trace.start': { summary: 'start a live trace of the next frames; poll it with trace.poll', mutates: false, parse: parseTraceStart },
  'trace.poll': { summary: 'the frames a live trace recorded since `from`, and whether it has ended', mutates: false, parse: parseTracePoll },
  'trace.stop': { summary: 'end a live trace early', mutates: false, parse: parseTraceStop },
  'config.show': { summary: 'the running desired state: the configuration document', mutates: false, parse: parseEmpty },
  'config.apply': { summary: 'make the running state equal a configuration document (by diff; dryRun: only show the diff)', mutates: true, parse: parseConfigApply },
  'hnv.pa.add': { summary: "add an HNV provider address on an external switch's uplink (New-NetVirtualizationProviderAddress); the same switch and address replaces", mutates: true, parse: parseHnvPa },
  'hnv.pa.remove': { summary: 'remove an HNV provider address', mutates: true, parse: parseHnvPaRemove },
  'hnv.pa.list': { summary: 'the HNV provider addresses (local: this daemon\'s)', mutates: false, parse: parseEmpty },
  'hnv.record.add': { summary: 'add an HNV lookup record (New-NetVirtualizationLookupRecord); the same VSID and CA (l2only: MAC) replaces: a VM moved to another PA', mutates: true, parse: parseHnvRecord },
  'hnv.record.remove': { summary: 'remove an HNV lookup record, by VSID and CA or MAC', mutates: true, parse: parseHnvRecordRemove },
  'hnv.record.list': { summary: 'the HNV lookup records, each marked local or remote', mutates: false, parse: parseEmpty },
  'hnv.route.add': { summary: 'add an HNV customer route (New-NetVirtualizationCustomerRoute); the same domain, VSID and prefix replaces', mutates: true, parse: parseHnvRoute },
  'hnv.route.remove': { summary: 'remove an HNV customer route', mutates: true, parse: parseHnvRouteRemove },
  'hnv.route.list': { summary: 'the HNV customer routes', mutates: false, parse: parseEmpty },
  'hnv.show': { summary: 'HNV: the policy source and its state, PAs, records, routes, per-VSID ports, MTU and counters, resolved next hops', mutates: false, parse: parseEmpty },
  'sriov.list': { summary: 'SR-IOV physical functions (netdevs with sriov_totalvfs) and their VFs: PCI address, driver, IOMMU group, the port holding each', mutates: false, parse: parseEmpty },
  'sriov.enable': { summary: "set a PF's VF count (sriov_numvfs; through 0 when it changes, as the kernel requires); refused while ports hold its VFs (host state, not the configuration)", mutates: false, parse: parseSriovEnable },
};

export function isMethodName(m: string): m is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, m);
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

export type RequestId = string | number | null;

export interface Request<M extends MethodName = MethodName> {
  id: RequestId;
  method: M;
  params: ParamsOf<M>;
}

export interface WireError {
  name: string;
  message: string;
  field?: string;
}

export type Response =
  | { id: RequestId; ok: true; result: unknown }
  | { id: RequestId; ok: false; error: WireError };

/** Thrown by the server for a request that is not a well-formed protocol message. */
export class ProtocolError extends ConfigError {
  constructor(field: string, message: string) {
    super(field, message);
    this.name = 'ProtocolError';
  }
}

export function errorToWire(e: unknown): WireError {
  if (e instanceof ConfigError) return { name: e.name, message: e.message, field: e.field };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** Parses one request line. Returns the request, or the id (if one could be read) and the error to answer. */
export function parseRequestLine(
  line: string,
): { ok: true; id: RequestId; method: MethodName; params: unknown } | { ok: false; id: RequestId; error: WireError } {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    return { ok: false, id: null, error: { name: 'ProtocolError', message: `malformed JSON: ${(e as Error).message}` } };
  }
  let id: RequestId = null;
  try {
    const obj = expectObject(msg, 'request');
    const rawId = obj.id;
    if (typeof rawId === 'string' || typeof rawId === 'number') id = rawId;
    else if (rawId !== undefined && rawId !== null) {
      throw new ProtocolError('id', `expected a string or number, got ${describe(rawId)}`);
    }
    rejectUnknownKeys(obj, ['id', 'method', 'params'], '');
    const method = obj.method;
    if (typeof method !== 'string') throw new ProtocolError('method', `expected a string, got ${describe(method)}`);
    if (!isMethodName(method)) {
      throw new ProtocolError('method', `unknown method "${method}" (expected one of ${Object.keys(METHODS).join(', ')})`);
    }
    return { ok: true, id, method, params: obj.params };
  } catch (e) {
    return { ok: false, id, error: errorToWire(e) };
  }
}

export function encodeMessage(msg: Response | Request): string {
  return `${JSON.stringify(msg)}\n`;
}

/**
 * Splits a byte stream into lines; refuses a line over `max` bytes.
 *
 * Linear in the input however it is cut: only each new chunk is scanned for '\n', and the bytes of an
 * unfinished line are appended to one buffer that doubles when full (each byte is copied a bounded number of
 * times), so a request trickled one byte at a time costs what it costs in one piece, and an unfinished line
 * holds at most 2 × `max` bytes. Lines are decoded as UTF-8 once complete, so a character cut between chunks
 * survives.
 */
export class LineSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private len = 0;
  /** bytes examined so far (scanned for '\n'); stays equal to the bytes pushed */
  scanned = 0;
  /** @param what names the line in the error: "request line" (server) or "reply" (client) */
  constructor(private readonly max = MAX_LINE_BYTES, private readonly what = 'request line') {}

  /** The complete lines in `chunk` (empty lines dropped). Throws ProtocolError when a line grows too long. */
  push(chunk: string | Uint8Array): string[] {
    const { lines, error } = this.feed(chunk);
    if (error) throw error;
    return lines;
  }

  /**
   * The complete lines in `chunk` (trimmed, empty ones dropped), and the error if a line is over `max` bytes:
   * the lines before it are returned, the rest of the input is discarded (the caller closes the stream).
   */
  feed(chunk: string | Uint8Array): { lines: string[]; error: ProtocolError | null } {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const lines: string[] = [];
    let start = 0;
    while (start <= bytes.length) {
      const nl = bytes.indexOf(10, start);
      const end = nl < 0 ? bytes.length : nl;
      this.scanned += end - start + (nl < 0 ? 0 : 1);
      if (this.len + (end - start) > this.max) {
        this.len = 0;
        this.buf = Buffer.alloc(0);
        return { lines, error: new ProtocolError('', `${this.what} longer than ${this.max} bytes`) };
      }
      if (nl < 0) {
        this.append(bytes, start, end);
        break;
      }
      let line: string;
      if (this.len === 0) line = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
      else {
        this.append(bytes, start, end);
        line = this.buf.toString('utf8', 0, this.len);
        this.len = 0;
        if (this.buf.length > 64 * 1024) this.buf = Buffer.alloc(0); // do not keep a large buffer for short lines
      }
      const t = line.trim();
      if (t.length > 0) lines.push(t);
      start = nl + 1;
    }
    return { lines, error: null };
  }

  /** bytes of an unfinished line held */
  get pending(): number {
    return this.len;
  }

  private append(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    if (this.len + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(256, 2 * this.buf.length, this.len + n));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    this.buf.set(src.subarray(from, to), this.len);
    this.len += n;
  }
}
