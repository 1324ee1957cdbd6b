/**
 * The address of the daemon's opt-in HTTP listeners (`--metrics`, `metrics.listen`; `--dashboard`, `dashboard.listen`): parsed and checked without loading the
 * data path, so the config schema and the CLI can use it.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../core/errors.js';
import type { DashboardConfig, MetricsConfig } from '../config/types.js';
import { expectObject, rejectUnknownKeys, requireString } from '../config/fields.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:9477`, `0.0.0.0:9477`, `[::1]:9477`: an IP literal and a port 1..65535; errors name `field`. */
export function parseListenAddress(text: string, field: string): ListenAddress {
  const bad = (why: string): ConfigError => new ConfigError(field, `${why}: expected ADDRESS:PORT such as 127.0.0.1:9477 or [::1]:9477, got "${text}"`);
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) throw bad('not an address and port');
  const host = m[1] ?? m[2];
  if (m[1] !== undefined ? !isIPv6(host) : !isIPv4(host)) throw bad(m[1] !== undefined ? 'not an IPv6 address' : 'not an IPv4 address (IPv6 goes in brackets)');
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) throw bad('port out of range 1..65535');
  return { host, port };
}

export function formatListenAddress(a: ListenAddress): string {
  return isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The config's `metrics` and `dashboard` objects: `{ "listen": "127.0.0.1:9477" }`. */
export function validateListenConfig(input: unknown, path: string): MetricsConfig & DashboardConfig {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, ['listen'], path);
  const listen = requireString(obj, 'listen', path);
  parseListenAddress(listen, `${path}.listen`);
  return { listen };
}
