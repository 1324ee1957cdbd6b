/**
 * The bandwidth settings as the configuration and the control API take them, checked with the field
 * named (`switches[0].ports[1].minimumBandwidthWeight: expected an integer in 0..100, got 150`).
 * Kept here so config/schema.ts and control/protocol.ts each need one call.
 */
import type { PortSettings } from '../../config/types.js';
import { ConfigError } from '../../core/errors.js';

/** 1 Tbit/s: far above any port, low enough that the float arithmetic stays exact */
export const MAX_BANDWIDTH_BPS = 1_000_000_000_000;
/** 1 GiB */
export const MAX_BURST_BYTES = 1 << 30;

export const BANDWIDTH_SETTING_KEYS = ['maximumBandwidth', 'maximumBandwidthBurst', 'minimumBandwidthWeight'] as const;
const RANGES: Record<(typeof BANDWIDTH_SETTING_KEYS)[number], { min: number; max: number }> = {
  maximumBandwidth: { min: 0, max: MAX_BANDWIDTH_BPS },
  maximumBandwidthBurst: { min: 0, max: MAX_BURST_BYTES },
  minimumBandwidthWeight: { min: 0, max: 100 },
};

function field(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function intIn(v: unknown, path: string, range: { min: number; max: number }): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
    const got = typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : typeof v === 'object' ? typeof v : String(v);
    throw new ConfigError(path, `expected an integer in ${range.min}..${range.max}, got ${got}`);
  }
  return v;
}

/** the bandwidth settings present in `obj` (a port object of the document), validated */
export function validateBandwidthSettings(obj: Record<string, unknown>, path: string): Pick<PortSettings, (typeof BANDWIDTH_SETTING_KEYS)[number]> {
  const out: Pick<PortSettings, (typeof BANDWIDTH_SETTING_KEYS)[number]> = {};
  for (const k of BANDWIDTH_SETTING_KEYS) if (obj[k] !== undefined) out[k] = intIn(obj[k], field(path, k), RANGES[k]);
  return out;
}

/** `port.set`: like validateBandwidthSettings, and null (back to the default) is kept */
export function parseBandwidthChange(obj: Record<string, unknown>, path: string): { [K in (typeof BANDWIDTH_SETTING_KEYS)[number]]?: number | null } {
  const out: { [K in (typeof BANDWIDTH_SETTING_KEYS)[number]]?: number | null } = {};
  for (const k of BANDWIDTH_SETTING_KEYS) {
    if (obj[k] === null) out[k] = null;
    else if (obj[k] !== undefined) out[k] = intIn(obj[k], field(path, k), RANGES[k]);
  }
  return out;
}

/** the switch setting `uplinkBandwidth` (bits/s; 0 or absent: weights inactive) */
export function validateUplinkBandwidth(obj: Record<string, unknown>, path: string): number | undefined {
  const v = obj.uplinkBandwidth;
  if (v === undefined) return undefined;
  return intIn(v, field(path, 'uplinkBandwidth'), { min: 0, max: MAX_BANDWIDTH_BPS });
}
