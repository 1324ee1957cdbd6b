/**
 * Hyper-V VLAN id lists ("1-100,200"): ranges and single ids, 1..4094. Interim copy inside the VLAN
 * policy until the shared parser (config/vlan-list.ts, by the settings work) lands; then this file
 * goes and the imports point there.
 */
import { ConfigError } from '../../core/errors.js';

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;

/** the VLAN ids of `text`, ascending, each once; a ConfigError naming `field` when malformed */
export function parseVlanList(text: string, field = 'vlan'): number[] {
  if (typeof text !== 'string' || text.trim() === '') throw new ConfigError(field, `expected a VLAN id list like "1-100,200", got ${JSON.stringify(text)}`);
  const seen = new Uint8Array(VLAN_MAX + 1);
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new ConfigError(field, `expected a VLAN id or range like 1-100, got ${JSON.stringify(part)}`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    for (const v of [lo, hi]) if (v < VLAN_MIN || v > VLAN_MAX) throw new ConfigError(field, `expected VLAN ids in ${VLAN_MIN}..${VLAN_MAX}, got ${v}`);
    if (hi < lo) throw new ConfigError(field, `range ${part} runs backwards`);
    for (let v = lo; v <= hi; v++) seen[v] = 1;
  }
  const out: number[] = [];
  for (let v = VLAN_MIN; v <= VLAN_MAX; v++) if (seen[v] === 1) out.push(v);
  return out;
}
