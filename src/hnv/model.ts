/**
 * HNV policy as the control plane holds it (config/types.ts has the objects): the identity of each
 * object (what `add` replaces and `remove` names), and the source the effective policy comes from —
 * the local desired-state document (default) or etcd (hnv/etcd-source.ts). Both sources give the
 * same snapshot; the switches turn it into each one's HnvPolicyInput (pipeline/port-policies.ts).
 */
import type { HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';
import { overlayMtu } from '../policy/hnv/encap.js';

export interface HnvPolicySnapshot {
  providerAddresses: HnvProviderAddress[];
  lookupRecords: HnvLookupRecord[];
  customerRoutes: HnvCustomerRoute[];
}

export const EMPTY_HNV_POLICY: HnvPolicySnapshot = Object.freeze({
  providerAddresses: [], lookupRecords: [], customerRoutes: [],
}) as HnvPolicySnapshot;

export type HnvObjectKind = 'pa' | 'record' | 'route';

/** a PA is one address on one host's switch */
export function paKey(p: Pick<HnvProviderAddress, 'host' | 'switch' | 'address'>): string {
  return `${p.host ?? ''}|${p.switch}|${p.address}`;
}

/** a static record is one CA of a VSID; l2only records (CA 0.0.0.0 / ::) are one MAC of a VSID */
export function recordKey(r: Pick<HnvLookupRecord, 'vsid' | 'ca' | 'mac' | 'type'>): string {
  return r.type === 'l2only' ? `${r.vsid}|mac|${r.mac}` : `${r.vsid}|ca|${r.ca}`;
}

/** a route is one prefix of one VSID in one routing domain */
export function routeKey(r: Pick<HnvCustomerRoute, 'routingDomain' | 'vsid' | 'prefix'>): string {
  return `${r.routingDomain}|${r.vsid}|${r.prefix}`;
}

/** how the source is doing, for `xvs hnv show` and the logs */
export interface HnvSourceStatus {
  source: 'local' | 'etcd';
  /** etcd: the endpoints and prefix in use */
  endpoints?: string[];
  prefix?: string;
  /** etcd: true while the watch is live; false = forwarding with the last records received */
  connected: boolean;
  /** etcd: when the last snapshot or watch event was applied (ms since the epoch) */
  lastSync?: number;
  /** etcd: the last error, while not connected */
  lastError?: string;
}

/**
 * Where the effective HNV policy comes from. The local source is the desired-state document (its
 * writes are desired-state commits); the etcd source reads everything under a prefix, watches it,
 * and writes there (so a record added on one host takes effect on all).
 */
export interface HnvPolicySource {
  readonly kind: 'local' | 'etcd';
  /** the policy in force now (etcd: the last received while disconnected) */
  snapshot(): HnvPolicySnapshot;
  status(): HnvSourceStatus;
  /** add or replace (same key) one object */
  put(kind: 'pa', obj: HnvProviderAddress): Promise<void>;
  put(kind: 'record', obj: HnvLookupRecord): Promise<void>;
  put(kind: 'route', obj: HnvCustomerRoute): Promise<void>;
  /** remove the object with this key (paKey/recordKey/routeKey); false when there was none */
  remove(kind: HnvObjectKind, key: string): Promise<boolean>;
  /** called after every change of the snapshot (from this host or another) */
  onChange(listener: () => void): void;
  close(): Promise<void>;
}
/** the VM MTU of a VSID: the smallest overlay MTU of the encapsulations its records use (VXLAN if none) */
/** the uplink MTU assumed by a switch without an uplink (private, internal: local delivery only) */
export const DEFAULT_UNDERLAY_MTU = 1500;

export function vsidMtu(vsid: number, snapshot: HnvPolicySnapshot, underlayMtu: number): number {
  let mtu = Infinity;
  for (const r of snapshot.lookupRecords) if (r.vsid === vsid) mtu = Math.min(mtu, overlayMtu(r.encap, underlayMtu));
  return mtu === Infinity ? overlayMtu('vxlan', underlayMtu) : mtu;
}

