/**
 * A port's VLAN setting (config/types.ts VlanSetting, Hyper-V's Set-VMNetworkAdapterVlan) checked
 * with the field named, and compiled to the id sets the VLAN policy works with.
 */
import type { VlanSetting } from '../../config/types.js';
import { ConfigError } from '../../core/errors.js';
import { parseVlanList, VLAN_MAX, VLAN_MIN } from './vlan-list.js';

const MODES = ['untagged', 'access', 'trunk', 'isolated', 'community', 'promiscuous'] as const;
const KEYS: Record<VlanSetting['mode'], readonly string[]> = {
  untagged: ['mode'],
  access: ['mode', 'accessVlanId'],
  trunk: ['mode', 'allowedVlanIds', 'nativeVlanId'],
  isolated: ['mode', 'primaryVlanId', 'secondaryVlanId'],
  community: ['mode', 'primaryVlanId', 'secondaryVlanId'],
  promiscuous: ['mode', 'primaryVlanId', 'secondaryVlanIds'],
};

function vlanId(obj: Record<string, unknown>, key: string, path: string, min = VLAN_MIN): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > VLAN_MAX) {
    throw new ConfigError(`${path}.${key}`, `expected ${min}..${VLAN_MAX}, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  return v;
}

function idList(obj: Record<string, unknown>, key: string, path: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new ConfigError(`${path}.${key}`, `expected a VLAN id list like "1-100,200", got ${JSON.stringify(v) ?? 'nothing'}`);
  parseVlanList(v, `${path}.${key}`);
  return v;
}

/** a checked copy of a VLAN setting; errors name `${path}.<key>` (e.g. `vlan.accessVlanId: expected 1..4094, got 5000`) */
export function validateVlanSetting(input: unknown, path = 'vlan'): VlanSetting {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError(path, `expected an object with a mode, got ${JSON.stringify(input)}`);
  const obj = input as Record<string, unknown>;
  const mode = obj.mode;
  if (typeof mode !== 'string' || !(MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`${path}.mode`, `expected one of ${MODES.join(', ')}, got ${JSON.stringify(mode) ?? 'nothing'}`);
  }
  const m = mode as VlanSetting['mode'];
  for (const k of Object.keys(obj)) if (!KEYS[m].includes(k)) throw new ConfigError(`${path}.${k}`, `not a setting of VLAN mode ${m} (${KEYS[m].join(', ')})`);
  switch (m) {
    case 'untagged': return { mode: m };
    case 'access': return { mode: m, accessVlanId: vlanId(obj, 'accessVlanId', path) };
    case 'trunk': return { mode: m, allowedVlanIds: idList(obj, 'allowedVlanIds', path), nativeVlanId: vlanId(obj, 'nativeVlanId', path, 0) };
    case 'isolated':
    case 'community': {
      const primaryVlanId = vlanId(obj, 'primaryVlanId', path);
      const secondaryVlanId = vlanId(obj, 'secondaryVlanId', path);
      if (secondaryVlanId === primaryVlanId) throw new ConfigError(`${path}.secondaryVlanId`, `must differ from primaryVlanId ${primaryVlanId}`);
      return { mode: m, primaryVlanId, secondaryVlanId };
    }
    case 'promiscuous': {
      const primaryVlanId = vlanId(obj, 'primaryVlanId', path);
      const secondaryVlanIds = idList(obj, 'secondaryVlanIds', path);
      if (parseVlanList(secondaryVlanIds).includes(primaryVlanId)) throw new ConfigError(`${path}.secondaryVlanIds`, `must not list primaryVlanId ${primaryVlanId}`);
      return { mode: m, primaryVlanId, secondaryVlanIds };
    }
  }
}

/** `xvs pipeline show` / log wording of a setting */
export function vlanSettingText(v: VlanSetting): string {
  switch (v.mode) {
    case 'untagged': return 'untagged';
    case 'access': return `access ${v.accessVlanId}`;
    case 'trunk': return `trunk ${v.allowedVlanIds} native ${v.nativeVlanId}`;
    case 'isolated':
    case 'community': return `${v.mode} primary ${v.primaryVlanId} secondary ${v.secondaryVlanId}`;
    case 'promiscuous': return `promiscuous primary ${v.primaryVlanId} secondaries ${v.secondaryVlanIds}`;
  }
}
