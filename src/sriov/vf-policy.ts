/**
 * A port's settings as VF policy, set on the PF by `ip link set dev PF vf N …` (iproute2; the kernel's
 * ndo_set_vf_mac/vlan/spoofchk/trust/rate). Traffic on a VF bypasses the software switch (as in Hyper-V), so
 * only what the NIC enforces can apply:
 *
 *   staticMacAddress (or a MAC derived from switch/port)  → mac
 *   vlan access N / untagged                              → vlan N / vlan 0
 *   macAddressSpoofing off (default) / on                 → spoofchk on, trust off / spoofchk off, trust on
 *   maximumBandwidth (bit/s)                              → max_tx_rate in Mbit/s (rounded down, at least 1; 0 none)
 *
 * A port with a setting only the software switch enforces (ACLs, guards, storm limit, mirroring, bandwidth
 * weight, HNV, extension features, trunk or private VLANs) gets no VF: `vfBlockers` names those settings, and
 * the port stays a software port, so no policy is ever silently bypassed.
 */
import { createHash } from 'node:crypto';
import type { PortConfig } from '../config/types.js';

export interface VfPolicy {
  mac: string;
  /** 0: untagged */
  vlan: number;
  spoofchk: boolean;
  trust: boolean;
  /** Mbit/s, 0: no limit */
  maxTxRate: number;
}

/** The settings of `port` a VF cannot enforce ("acls (2 entries)", "vlan mode trunk"); empty: a VF may serve it. */
export function vfBlockers(port: PortConfig): string[] {
  const out: string[] = [];
  if ((port.acls?.length ?? 0) > 0) out.push(`acls (${port.acls!.length} entries)`);
  if ((port.extendedAcls?.length ?? 0) > 0) out.push(`extendedAcls (${port.extendedAcls!.length} entries)`);
  if (port.dhcpGuard) out.push('dhcpGuard');
  if (port.routerGuard) out.push('routerGuard');
  if ((port.stormLimit ?? 0) > 0) out.push('stormLimit');
  if (port.portMirroring !== undefined && port.portMirroring !== 'none') out.push(`portMirroring ${port.portMirroring}`);
  if ((port.minimumBandwidthWeight ?? 0) > 0) out.push('minimumBandwidthWeight');
  if (port.virtualSubnetId !== undefined) out.push('virtualSubnetId (HNV)');
  if (port.features !== undefined && Object.keys(port.features).length > 0) out.push(`features of ${Object.keys(port.features).join(', ')}`);
  const mode = port.vlan?.mode ?? 'untagged';
  if (mode !== 'untagged' && mode !== 'access') out.push(`vlan mode ${mode} (a VF takes one access VLAN)`);
  return out;
}

/** The port's MAC: its staticMacAddress, else a stable locally administered one from switch and port name. */
export function portMac(switchName: string, port: PortConfig): string {
  if (port.staticMacAddress !== undefined) return port.staticMacAddress.toLowerCase().replace(/-/g, ':');
  const h = createHash('sha256').update(`xvs-iov:${switchName}/${port.name}`).digest();
  const b = [0x02, h[0], h[1], h[2], h[3], h[4]];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function vfPolicyOf(switchName: string, port: PortConfig): VfPolicy {
  const spoofing = port.macAddressSpoofing === true;
  const bw = port.maximumBandwidth ?? 0;
  return {
    mac: portMac(switchName, port),
    vlan: port.vlan?.mode === 'access' ? port.vlan.accessVlanId : 0,
    spoofchk: !spoofing,
    trust: spoofing,
    maxTxRate: bw > 0 ? Math.max(1, Math.floor(bw / 1_000_000)) : 0,
  };
}

const onOff = (b: boolean): string => (b ? 'on' : 'off');

/** One `ip link set` per attribute, so a driver that refuses one (say trust) is named in the error. */
export function vfPolicyCommands(pf: string, vf: number, p: VfPolicy): string[][] {
  const base = ['ip', 'link', 'set', 'dev', pf, 'vf', String(vf)];
  return [
    [...base, 'mac', p.mac],
    [...base, 'vlan', String(p.vlan)],
    [...base, 'spoofchk', onOff(p.spoofchk)],
    [...base, 'trust', onOff(p.trust)],
    [...base, 'max_tx_rate', String(p.maxTxRate)],
  ];
}

/** What a released VF is set back to: no MAC, untagged, spoof checking on, not trusted, no rate limit. */
export const VF_RESET: VfPolicy = { mac: '00:00:00:00:00:00', vlan: 0, spoofchk: true, trust: false, maxTxRate: 0 };
