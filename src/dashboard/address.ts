/**
 * The dashboard's address (`--dashboard`, `dashboard.listen`): the metrics endpoint's address syntax
 * (metrics/address.ts), checked without loading the data path so the config schema can use it.
 */
import type { DashboardConfig } from '../config/types.js';
import { expectObject, rejectUnknownKeys, requireString } from '../config/fields.js';
import { parseListenAddress } from '../metrics/address.js';

/** The config's `dashboard` object: `{ "listen": "127.0.0.1:9478" }`. */
export function validateDashboardConfig(input: unknown, path: string): DashboardConfig {
  const obj = expectObject(input, path);
  rejectUnknownKeys(obj, ['listen'], path);
  const listen = requireString(obj, 'listen', path);
  parseListenAddress(listen, `${path}.listen`);
  return { listen };
}
