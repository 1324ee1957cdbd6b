/**
 * Every port's built-in policies and extension port features as extensions read them
 * (`view.portPolicy(port)`, `ctx.portPolicy(port)`, `ctx.portFeature(port, key)`): one table per
 * worker, rebuilt by the worker's PolicyRuntime whenever the control plane sends the ports'
 * settings. Entries are frozen objects built once per change, so reading costs a lookup, never an
 * allocation.
 */
import { MAX_PORTS_PER_SWITCH, type HnvCustomerRoute, type HnvLookupRecord, type HnvProviderAddress, type PortSettings } from '../config/types.js';
import type { PortFeatureKeySpec, PortFeatureValue, PortPolicy } from '../extensions/api.js';

export type PolicyPortKind = 'vm' | 'external' | 'internal';

/** one port as the policies see it */
export interface PolicyPort {
  index: number;
  name: string;
  kind: PolicyPortKind;
  /** the port's settings (config/types.ts PortSettings; {} for the uplink and host port) */
  settings: PortSettings;
}

/** every port of the switch with its settings (structured-cloned to each worker) */
export interface SwitchPolicyInput {
  ports: PolicyPort[];
  /** the switch's uplinkBandwidth (bits/s; policy/bandwidth: the capacity the weights divide) */
  uplinkBandwidth?: number;
  /** HNV policy as this switch applies it (policy/hnv); absent: no HNV objects anywhere */
  hnv?: HnvPolicyInput;
}

/**
 * The HNV policy one switch's workers apply (policy/hnv), built by the control plane from the
 * effective policy (local document or etcd) on every change. VM ports join a virtual subnet through
 * their settings' virtualSubnetId.
 */
export interface HnvPolicyInput {
  /** the uplink's port index (-1: the switch has no uplink: only local delivery) */
  uplink: number;
  /** the uplink netdev's MAC: source MAC of encapsulated frames and of ARP/ND answers for PAs */
  uplinkMac: string;
  /** the uplink's MTU (the underlay MTU the overlay MTU is derived from) */
  uplinkMtu: number;
  /** the uplink sends VXLAN GSO frames whole (its tunnel TAP, ports/tunnel-tap.ts): no software segmentation */
  uplinkTunnelGso?: boolean;
  /** this switch's PAs (host already resolved: only this daemon's) */
  providerAddresses: HnvProviderAddress[];
  /** every lookup record of every host (local ones have a pa among providerAddresses) */
  lookupRecords: HnvLookupRecord[];
  customerRoutes: HnvCustomerRoute[];
}


type Features = Readonly<Record<string, Readonly<Record<string, string>>>>;
const NO_FEATURES: Features = Object.freeze({});
const UNTAGGED = Object.freeze({ mode: 'untagged' as const });

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}

/** the extension-facing view of one port's settings, Hyper-V's defaults filled in */
export function portPolicyOf(p: Pick<PolicyPort, 'name' | 'kind' | 'settings'>): PortPolicy {
  const s: PortSettings = p.settings;
  return Object.freeze({
    name: p.name,
    kind: p.kind,
    vlan: s.vlan ? deepFreeze(structuredClone(s.vlan)) : UNTAGGED,
    macAddressSpoofing: s.macAddressSpoofing === true,
    dhcpGuard: s.dhcpGuard === true,
    routerGuard: s.routerGuard === true,
    portMirroring: s.portMirroring ?? 'none',
    staticMacAddress: s.staticMacAddress,
    stormLimit: s.stormLimit ?? 0,
    maximumBandwidth: s.maximumBandwidth ?? 0,
    virtualSubnetId: s.virtualSubnetId,
  });
}

/** a feature value (a string as set) read as its spec's type; the spec's default when unset */
export function featureValue(spec: PortFeatureKeySpec | undefined, raw: string | undefined): PortFeatureValue | undefined {
  if (spec === undefined) return raw;
  if (raw === undefined) return spec.default;
  if (spec.type === 'boolean') return raw === 'true';
  if (spec.type === 'integer') return Number(raw);
  return raw;
}

export class PortPolicyTable {
  /** by port index: the port's policies, undefined where no port is */
  readonly byPort: (PortPolicy | undefined)[] = new Array<PortPolicy | undefined>(MAX_PORTS_PER_SWITCH).fill(undefined);
  /** by port index: extension name → key → value as set */
  readonly features: Features[] = new Array<Features>(MAX_PORTS_PER_SWITCH).fill(NO_FEATURES);
  /** bumped at every update */
  version = 0;
  private readonly settingsJson: string[] = new Array<string>(MAX_PORTS_PER_SWITCH).fill('');

  /** take the ports' settings; a port whose settings did not change keeps its object */
  update(input: SwitchPolicyInput): void {
    const seen = new Uint8Array(MAX_PORTS_PER_SWITCH);
    for (const p of input.ports) {
      if (p.index < 0 || p.index >= MAX_PORTS_PER_SWITCH) continue;
      seen[p.index] = 1;
      const json = JSON.stringify([p.name, p.kind, p.settings]);
      if (this.byPort[p.index] !== undefined && this.settingsJson[p.index] === json) continue;
      this.settingsJson[p.index] = json;
      this.byPort[p.index] = portPolicyOf(p);
      this.features[p.index] = p.settings.features ? deepFreeze(structuredClone(p.settings.features)) : NO_FEATURES;
    }
    for (let i = 0; i < MAX_PORTS_PER_SWITCH; i++) {
      if (seen[i] === 1 || this.byPort[i] === undefined) continue;
      this.byPort[i] = undefined;
      this.features[i] = NO_FEATURES;
      this.settingsJson[i] = '';
    }
    this.version++;
  }

  /** extension `ext`'s raw value of `key` on `port` */
  feature(port: number, ext: string, key: string): string | undefined {
    if (port < 0 || port >= MAX_PORTS_PER_SWITCH) return undefined;
    const all = this.features[port];
    if (!Object.hasOwn(all, ext)) return undefined;
    const f = all[ext];
    return Object.hasOwn(f, key) ? f[key] : undefined;
  }

  policy(port: number): PortPolicy | undefined {
    return port >= 0 && port < MAX_PORTS_PER_SWITCH ? this.byPort[port] : undefined;
  }
}

/** the table of a view or context created without one (no policies known) */
export const EMPTY_PORT_POLICIES = new PortPolicyTable();
