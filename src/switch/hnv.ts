/**
 * One switch's share of the HNV policy (DataPathManager.setHnvPolicy gives every switch the effective
 * snapshot and this daemon's PAs): the `hnv` part of its SwitchPolicyInput, and the overlay MTU of its
 * VSID ports' netdevs.
 *
 * MTU: a VM port with a virtualSubnetId gets the overlay MTU as its netdev MTU (1458 NVGRE, 1450 VXLAN on
 * a 1500 uplink: the smallest of the encapsulations the VSID's records use, VXLAN if it has none), so the
 * VM's own stack sizes its packets to fit the tunnel. For a TAP that is what the VM sees (virtio-net
 * follows the TAP with QEMU's host_mtu; a TAP does not check the size of what the guest writes, so a
 * guest left at 1500 still reaches the switch and gets "fragmentation needed"). A veth port end is
 * left as it is (see applyMtu): the VM end should use the MTU `xvs hnv show` gives for its VSID
 * (docs/HNV.md). The netdev's MTU from before is restored when the VSID goes (or the port does).
 */
import type { HnvProviderAddress, PortConfig } from '../config/types.js';
import { DEFAULT_UNDERLAY_MTU, vsidMtu, type HnvPolicySnapshot } from '../hnv/model.js';
export { DEFAULT_UNDERLAY_MTU, vsidMtu };
import type { HnvPolicyInput } from '../pipeline/port-policies.js';
import { ip, netdevExists, netdevMac, netdevMtu } from '../ports/netdev.js';
import type { NetdevRecord } from '../ports/netdev-record.js';
import { hnvVsidCounters, type PolicyCounters } from '../policy/counters.js';
import { NeighborTable } from '../policy/hnv/neighbors.js';
import { ipv4, ipv4Text, maskOf } from '../policy/hnv/tables.js';
import type { HnvRuntimeView } from './manager-api.js';

/** what DataPathManager.setHnvPolicy hands each switch */
export interface SwitchHnvPolicy {
  snapshot: HnvPolicySnapshot;
  /** this daemon's PAs on this switch */
  providerAddresses: HnvProviderAddress[];
}


function hasObjects(s: HnvPolicySnapshot | undefined): boolean {
  return s !== undefined && s.providerAddresses.length + s.lookupRecords.length + s.customerRoutes.length > 0;
}

export class SwitchHnv {
  policy: SwitchHnvPolicy | null = null;

  /** `record`: where the MTU from before is kept (NetdevRecord: on disk, so a restart still knows it) */
  constructor(private readonly log: (m: string) => void, private readonly record: NetdevRecord) {}

  /** the `hnv` of the switch's policy input; undefined when there is no HNV object and no VSID port */
  input(uplink: { index: number; netdev: string; tunnelTap?: unknown } | undefined, ports: readonly PortConfig[]): HnvPolicyInput | undefined {
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
      uplinkTunnelGso: uplink?.tunnelTap !== undefined,
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
    // a veth port end is left as it is: the kernel veth drops every non-GSO frame above the receiving
    // end's MTU before the switch sees it, so a VM end left at 1500 would lose its full-size frames
    // silently instead of getting "fragmentation needed"; the VM end must use the VSID's MTU (hnv show)
    const want = pc.netdev === undefined ? this.wantedMtu(pc, underlayMtu) : null;
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

/**
 * The HNV data path's state of one switch for `xvs hnv show`: the provider next hops with the MAC the
 * workers resolved (policy/hnv/neighbors.ts, shared memory) and the per-VSID counters summed over the
 * workers (policy/counters.ts).
 */
export function hnvRuntimeView(neighborBuffer: SharedArrayBuffer, counters: readonly PolicyCounters[], policy: SwitchHnvPolicy | null): HnvRuntimeView {
  const table = new NeighborTable(neighborBuffer);
  const now = (Date.now() / 1000) | 0;
  const mac = new Uint8Array(6);
  const local = policy?.providerAddresses ?? [];
  const remotePas = [...new Set((policy?.snapshot.lookupRecords ?? []).map((r) => r.pa))].filter((pa) => !local.some((p) => p.address === pa));
  const nextHops: NonNullable<HnvRuntimeView['nextHops']> = [];
  for (let k = 0; k < table.count; k++) {
    const via = ipv4Text(table.ipOf(k));
    const resolved = table.lookup(k, now, mac);
    const pas = remotePas.filter((pa) => pa === via || viaGateway(pa, local) === via);
    nextHops.push({
      pa: pas.length > 0 ? pas.join(',') : via, via,
      mac: resolved ? [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':') : null,
      state: resolved ? 'resolved' : 'unresolved',
    });
  }
  const vsids = hnvVsidCounters(counters).map(({ vsid, ...c }) => ({ vsid, counters: c as Record<string, number> }));
  return { nextHops, vsids };
}

/** the gateway a remote PA is reached through: none when it is on-link with one of our PAs */
function viaGateway(pa: string, local: readonly HnvProviderAddress[]): string | undefined {
  const n = ipv4(pa);
  for (const p of local) {
    const mask = maskOf(p.prefixLength);
    if (((n & mask) >>> 0) === ((ipv4(p.address) & mask) >>> 0)) return undefined;
  }
  return local.find((p) => p.gateway !== undefined)?.gateway;
}
