/**
 * One switch's share of the HNV policy (DataPathManager.setHnvPolicy gives every switch the effective
 * snapshot and this daemon's PAs): the `hnv` part of its SwitchPolicyInput, and the overlay MTU of its
 * VSID ports' netdevs.
 *
 * MTU: a VM port with a virtualSubnetId gets the overlay MTU as its netdev MTU (1458 NVGRE, 1450 VXLAN on
 * a 1500 uplink: the smallest of the encapsulations the VSID's records use, VXLAN if it has none), so the
 * VM's own stack sizes its packets to fit the tunnel. For a TAP that is what the VM sees (virtio-net
 * follows the TAP with QEMU's host_mtu); for a veth xvs sets the port end only and the VM end must match
 * (docs/HNV.md). The netdev's MTU from before is restored when the VSID goes (or the port does).
 */
import type { HnvProviderAddress, PortConfig } from '../config/types.js';
import type { HnvPolicySnapshot } from '../hnv/model.js';
import type { HnvPolicyInput } from '../pipeline/port-policies.js';
import { overlayMtu } from '../policy/hnv/encap.js';
import { ip, netdevExists, netdevMac, netdevMtu } from '../ports/netdev.js';
import type { NetdevRecord } from '../ports/netdev-record.js';

/** what DataPathManager.setHnvPolicy hands each switch */
export interface SwitchHnvPolicy {
  snapshot: HnvPolicySnapshot;
  /** this daemon's PAs on this switch */
  providerAddresses: HnvProviderAddress[];
}

/** the uplink MTU assumed by a switch without an uplink (private, internal: local delivery only) */
export const DEFAULT_UNDERLAY_MTU = 1500;

/** the VM MTU of a VSID: the smallest overlay MTU of the encapsulations its records use (VXLAN if none) */
export function vsidMtu(vsid: number, snapshot: HnvPolicySnapshot, underlayMtu: number): number {
  let mtu = Infinity;
  for (const r of snapshot.lookupRecords) if (r.vsid === vsid) mtu = Math.min(mtu, overlayMtu(r.encap, underlayMtu));
  return mtu === Infinity ? overlayMtu('vxlan', underlayMtu) : mtu;
}

function hasObjects(s: HnvPolicySnapshot | undefined): boolean {
  return s !== undefined && s.providerAddresses.length + s.lookupRecords.length + s.customerRoutes.length > 0;
}

export class SwitchHnv {
  policy: SwitchHnvPolicy | null = null;

  /** `record`: where the MTU from before is kept (NetdevRecord: on disk, so a restart still knows it) */
  constructor(private readonly log: (m: string) => void, private readonly record: NetdevRecord) {}

  /** the `hnv` of the switch's policy input; undefined when there is no HNV object and no VSID port */
  input(uplink: { index: number; netdev: string } | undefined, ports: readonly PortConfig[]): HnvPolicyInput | undefined {
    const s = this.policy?.snapshot;
    if (!hasObjects(s) && !ports.some((p) => p.virtualSubnetId !== undefined)) return undefined;
    let uplinkMac = '00:00:00:00:00:00';
    try {
      if (uplink) uplinkMac = netdevMac(uplink.netdev);
    } catch {
      // the uplink vanished: the link check reports it; encapsulated frames go nowhere anyway
    }
    return {
      uplink: uplink?.index ?? -1,
      uplinkMac,
      uplinkMtu: uplink ? netdevMtu(uplink.netdev) : DEFAULT_UNDERLAY_MTU,
      providerAddresses: structuredClone(this.policy?.providerAddresses ?? []),
      lookupRecords: structuredClone(s?.lookupRecords ?? []),
      customerRoutes: structuredClone(s?.customerRoutes ?? []),
    };
  }

  /** the MTU a VSID port's netdev should have, or null (no VSID) */
  wantedMtu(pc: PortConfig, underlayMtu: number): number | null {
    if (pc.virtualSubnetId === undefined) return null;
    return vsidMtu(pc.virtualSubnetId, this.policy?.snapshot ?? { providerAddresses: [], lookupRecords: [], customerRoutes: [] }, underlayMtu);
  }

  /** give `netdev` the overlay MTU (VSID set) or its MTU from before (VSID gone); errors are logged, not thrown */
  applyMtu(pc: PortConfig, netdev: string, underlayMtu: number): void {
    if (!netdevExists(netdev)) return;
    const want = this.wantedMtu(pc, underlayMtu);
    if (want === null) {
      this.restoreMtu(netdev);
      return;
    }
    const cur = netdevMtu(netdev);
    const saved = this.record.saved(netdev);
    // the MTU from before is kept once, with the netdev's other settings from before it became a port
    if (saved && saved.mtuBeforeHnv === undefined) this.record.saveSettings(netdev, { ...saved, mtuBeforeHnv: cur });
    if (cur !== want) this.setMtu(netdev, want, `overlay MTU of VSID ${pc.virtualSubnetId}`);
  }

  /** the port goes or leaves its VSID: its netdev gets its MTU from before back */
  restoreMtu(netdev: string): void {
    const saved = this.record.saved(netdev);
    if (saved?.mtuBeforeHnv === undefined) return;
    const { mtuBeforeHnv: before, ...rest } = saved;
    if (netdevExists(netdev) && netdevMtu(netdev) !== before) this.setMtu(netdev, before, 'its MTU before it joined a VSID');
    this.record.saveSettings(netdev, rest);
  }

  private setMtu(netdev: string, mtu: number, why: string): void {
    try {
      ip('link', 'set', 'dev', netdev, 'mtu', String(mtu));
      this.log(`${netdev}: MTU ${mtu} (${why})`);
    } catch (e) {
      this.log(`${netdev}: cannot set MTU ${mtu} (${why}): ${(e as Error).message.trim()}`);
    }
  }
}
