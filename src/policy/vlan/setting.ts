/**
 * Wording of a port's VLAN setting (config/types.ts VlanSetting) for `xvs pipeline show` and logs.
 * Settings are checked once, by config/port-settings.ts validateVlan, wherever they come in.
 */
import type { VlanSetting } from '../../config/types.js';

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
