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
import { ConfigError } from '../core/errors.js';
import type { PortConfig, SwitchConfig, SwitchType } from '../config/types.js';
import type { FdbEntry, PortKind, PortStats, SwitchInfo, SwitchStats } from '../switch/manager-api.js';
import {
  describe,
  expectObject,
  fieldPath,
  rejectUnknownKeys,
  requireIfname,
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
export interface PortRefParams {
  switch: string;
  name: string;
}
export type PortAddParams = PortRefParams & { netdev?: string };
export interface SwitchCreateParams {
  name: string;
  type: SwitchType;
  uplink?: string;
  allowManagementOs?: boolean;
  hostPort?: string;
  macAgingSeconds?: number;
  macTableLimit?: number;
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
}

export interface PortDetail extends PortView {
  stats: PortStats | null;
}

export interface Problem {
  field: string;
  message: string;
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
}

/**
 * The method table, as types. `params`: what a client sends; `parsed`: what the server's handler receives after
 * `METHODS[m].parse`; `result`: what comes back.
 */
export interface Methods {
  'switch.create': { params: SwitchCreateParams; parsed: SwitchConfig; result: SwitchView };
  'switch.delete': { params: NameParams; parsed: NameParams; result: NameParams };
  'switch.list': { params: EmptyParams; parsed: EmptyParams; result: SwitchView[] };
  'switch.show': { params: NameParams; parsed: NameParams; result: SwitchView };
  'port.add': { params: PortAddParams; parsed: { switch: string; port: PortConfig }; result: PortView };
  'port.remove': { params: PortRefParams; parsed: PortRefParams; result: PortRefParams };
  'port.list': { params: SwitchRefParams; parsed: SwitchRefParams; result: PortView[] };
  'port.show': { params: PortRefParams; parsed: PortRefParams; result: PortDetail };
  'fdb.show': { params: SwitchRefParams; parsed: SwitchRefParams; result: FdbEntry[] };
  stats: { params: SwitchRefParams; parsed: SwitchRefParams; result: SwitchStats };
  'daemon.status': { params: EmptyParams; parsed: EmptyParams; result: DaemonStatus };
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

function parsePortAdd(input: unknown): { switch: string; port: PortConfig } {
  const obj = paramsObject(input, ['switch', 'name', 'netdev']);
  const sw = requireIfname(obj, 'switch', P);
  const { switch: _omit, ...rest } = obj;
  void _omit;
  return { switch: sw, port: validatePort(rest, P) };
}

export const METHODS: { [M in MethodName]: MethodSpec<ParsedOf<M>> } = {
  'switch.create': {
    summary: 'create a switch (private, internal or external)',
    mutates: true,
    parse: (p) => validateSwitch(p, P, { allowPorts: false }),
  },
  'switch.delete': { summary: 'delete a switch and its ports', mutates: true, parse: parseName },
  'switch.list': { summary: 'list switches', mutates: false, parse: parseEmpty },
  'switch.show': { summary: 'show one switch: config and ports', mutates: false, parse: parseName },
  'port.add': { summary: 'add a VM port (a TAP, or an existing netdev)', mutates: true, parse: parsePortAdd },
  'port.remove': { summary: 'remove a port from a switch', mutates: true, parse: parsePortRef },
  'port.list': { summary: "list a switch's ports", mutates: false, parse: parseSwitchRef },
  'port.show': { summary: 'show one port and its counters', mutates: false, parse: parsePortRef },
  'fdb.show': { summary: "show a switch's learned MAC addresses", mutates: false, parse: parseSwitchRef },
  stats: { summary: "show a switch's counters", mutates: false, parse: parseSwitchRef },
  'daemon.status': { summary: 'show the daemon: pid, uptime, restore problems', mutates: false, parse: parseEmpty },
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

/** Splits a byte stream into lines; refuses a line over `max` bytes. */
export class LineSplitter {
  private buf = '';
  constructor(private readonly max = MAX_LINE_BYTES) {}

  /** The complete lines in `chunk` (empty lines dropped). Throws ProtocolError when a line grows too long. */
  push(chunk: string): string[] {
    this.buf += chunk;
    const parts = this.buf.split('\n');
    this.buf = parts.pop() ?? '';
    if (Buffer.byteLength(this.buf) > this.max) {
      this.buf = '';
      throw new ProtocolError('', `request line longer than ${this.max} bytes`);
    }
    return parts.map((l) => l.trim()).filter((l) => l.length > 0);
  }
}
