/**
 * The persisted configuration of xvs: what `xvs switch create` / `xvs port add` change and what a
 * restarted daemon restores. Pure data; validated by `config/schema.ts` (errors name the field, e.g.
 * `switches[0].ports[2].netdev: no such interface "foo"`).
 */

export type SwitchType = 'private' | 'internal' | 'external';

/**
 * Port settings a running port can change (`xvs port set`, applied in place by the `setPort` change of
 * config/desired.ts); every other PortConfig field recreates the port when it changes. Add new ones here.
 */
/**
 * A port's VLAN mode, as Hyper-V's Set-VMNetworkAdapterVlan (modes are mutually exclusive; default untagged).
 * VLAN id lists are Hyper-V's strings: "1-100,200" (ranges and single ids, 1..4094).
 */
export type VlanSetting =
  | { mode: 'untagged' }
  | { mode: 'access'; accessVlanId: number }
  | { mode: 'trunk'; allowedVlanIds: string; nativeVlanId: number }
  | { mode: 'isolated' | 'community'; primaryVlanId: number; secondaryVlanId: number }
  | { mode: 'promiscuous'; primaryVlanId: number; secondaryVlanIds: string };
export type VlanMode = VlanSetting['mode'];

/**
 * A port ACL (Add-VMNetworkAdapterAcl): exactly one of the four addresses. Local = the VM's side
 * (destination inbound, source outbound). IP: host or prefix ("10.0.0.0/8", "f001::/64", "0.0.0.0/0",
 * "any"); MAC: "00-ab-00-11-22-33" or "00:ab:…" or "any". Meter entries must be IP-based.
 */
export interface PortAcl {
  action: 'allow' | 'deny' | 'meter';
  direction: 'inbound' | 'outbound' | 'both';
  localIPAddress?: string;
  remoteIPAddress?: string;
  localMacAddress?: string;
  remoteMacAddress?: string;
}

/**
 * An extended port ACL (Add-VMNetworkAdapterExtendedAcl): larger weight first, first match final; keyed
 * by (weight, direction). Ports: "80", "49152-49182". Protocol: "tcp" | "udp" | "icmp" | "icmpv6" | a number.
 * Stateful rules only allow; their state lets the reply through and expires after idleSessionTimeout seconds.
 */
export interface ExtendedAcl {
  action: 'allow' | 'deny';
  direction: 'inbound' | 'outbound';
  weight: number;
  protocol?: string;
  localIPAddress?: string;
  remoteIPAddress?: string;
  localPort?: string;
  remotePort?: string;
  stateful?: boolean;
  /** seconds (default 255) */
  idleSessionTimeout?: number;
}

/**
 * Port settings a running port can change (`xvs port set`, `xvs port vlan`, `xvs acl`, applied in place by
 * the `setPort` change of config/desired.ts); every other PortConfig field recreates the port when it
 * changes. Names follow Hyper-V's Set-VMNetworkAdapter. Absent = Hyper-V's default. Add new ones here.
 */
export interface PortSettings {
  /**
   * Most MAC addresses learned on this port (0 = none); beyond it source MACs are not learned (their frames
   * are still forwarded) and are counted as the port's macLimitHits. Default: the switch's macPortLimit
   * (forward/mac-limits.ts).
   */
  macLimit?: number;
  /** true: the VM may send from any source MAC; false (default): only from its own (staticMacAddress, or the first learned) */
  macAddressSpoofing?: boolean;
  /** drop DHCP server messages (OFFER, ACK, NAK) the VM sends (default off) */
  dhcpGuard?: boolean;
  /** drop ICMPv4 redirects/router advertisements and ICMPv6 RAs/redirects the VM sends (default off) */
  routerGuard?: boolean;
  /** broadcast, multicast and unknown-unicast frames per second the VM may send; 0/absent = no limit */
  stormLimit?: number;
  /** most bits per second the VM may send; 0/absent = no limit */
  maximumBandwidth?: number;
  /** bytes the VM may send at once above maximumBandwidth (token bucket depth; default: see policy/bandwidth) */
  maximumBandwidthBurst?: number;
  /** relative share (1..100) of a contended egress; 0/absent = none (served from what is left) */
  minimumBandwidthWeight?: number;
  /** source: every frame the port sends or receives is copied to the switch's destination ports */
  portMirroring?: 'none' | 'source' | 'destination';
  /** the VM's own MAC ("52:54:00:12:34:56"); with spoofing off it is the only source MAC allowed */
  staticMacAddress?: string;
  vlan?: VlanSetting;
  acls?: PortAcl[];
  extendedAcls?: ExtendedAcl[];
  /** per-port settings of extensions (Set-VMSwitchExtensionPortFeature): extension name → key → value */
  features?: Record<string, Record<string, string>>;
  /**
   * HNV: the virtual subnet (VSID, HNV_VSID_RANGE) the VM's Customer Addresses live in
   * (Set-VMNetworkAdapter -VirtualSubnetId). Set: the port speaks only through HNV (ARP/ND proxy,
   * routing in the subnet's routing domain, encapsulation toward remote Provider Addresses).
   */
  virtualSubnetId?: number;
  /**
   * VMQ (Hyper-V's VmqWeight, 0..100): 1..100 gives the port a queue of its own, which one data-path
   * worker reads (src/vmq); 0/absent: the port is served by the switch's default queue.
   */
  vmqWeight?: number;
  /** the port's queue is read by this worker, or by the worker pinned to this CPU (`xvs vmq pin`); needs vmqWeight ≥ 1 */
  vmqPin?: { worker: number } | { cpu: number };
}
export const PORT_SETTING_KEYS = [
  'macLimit', 'macAddressSpoofing', 'dhcpGuard', 'routerGuard', 'stormLimit', 'maximumBandwidth', 'maximumBandwidthBurst',
  'minimumBandwidthWeight', 'portMirroring', 'staticMacAddress', 'vlan', 'acls', 'extendedAcls', 'features', 'virtualSubnetId',
  'vmqWeight', 'vmqPin',
] as const satisfies readonly (keyof PortSettings)[];

/**
 * How the data path reads and writes a port's netdev: `afpacket` (the default: an AF_PACKET socket with an mmap
 * ring and the virtio-net header, offloads end to end) or `pcap` (libpcap: pcap_dispatch / pcap_inject; no
 * virtio-net header, so the netdev's offloads are turned off while it is a port: ports/offloads.ts).
 */
export type PortIoKind = 'afpacket' | 'pcap';
export const PORT_IO_KINDS: readonly PortIoKind[] = ['afpacket', 'pcap'];

export interface PortConfig extends PortSettings {
  /** Port name, unique in the switch; for a TAP port also the TAP device name QEMU attaches to (≤ 15 chars). */
  name: string;
  /** An existing netdev (e.g. a veth end) used as this VM port instead of a TAP xvs creates. */
  netdev?: string;
  /**
   * The operator agrees that this netdev (or an existing TAP adopted by name) carries host IP addresses: xvs
   * removes them while it is a port (a port netdev is cut off from the host stack) and puts them back after.
   * Without it such a netdev is refused. Loopback is refused always.
   */
  allowHostAddresses?: boolean;
  /** `pcap`: the port is read and written through libpcap (absent: AF_PACKET, the default; only `pcap` is stored) */
  io?: 'pcap';
  /**
   * Hyper-V's IovWeight (0..100; 0/absent: none): > 0 asks for an SR-IOV VF of the external switch's uplink,
   * passed through with vfio-pci, the port's TAP being its virtio failover standby; without a free VF the port
   * is a software port (src/sriov/ports.ts, docs/QUEUES.md "SR-IOV").
   */
  iovWeight?: number;
  /**
   * Queue pairs of the VM's virtio-net (PORT_QUEUES_RANGE; absent = 1): above 1 the port's TAP is multi-queue
   * and QEMU attaches with `queues=N … mq=on` (ports/guest-queues.ts, docs/QUEUES.md). TAP ports only.
   */
  queues?: number;
}

export interface SwitchConfig {
  name: string;
  type: SwitchType;
  /** external only: the NIC or veth the switch is bound to (a NIC belongs to at most one switch). */
  uplink?: string;
  /** external only: `pcap` reads and writes the uplink through libpcap (absent: AF_PACKET; only `pcap` is stored) */
  uplinkIo?: 'pcap';
  /** external only: move the uplink's IP addresses and routes to the switch's host port (Hyper-V's AllowManagementOS). */
  allowManagementOs?: boolean;
  /** internal, and external with allowManagementOs: the host TAP port's netdev name (default `<switch>-host`, ≤ 15 chars). */
  hostPort?: string;
  /** MAC aging time in seconds (default 300). */
  macAgingSeconds: number;
  /** Most MAC addresses the switch learns (default 8192); when full, new MACs are not learned and are counted. */
  macTableLimit: number;
  /**
   * MAC limit of each VM and host port that sets none (default: 1024, at most half the table); the uplink's
   * default is the larger of this and half the table (forward/mac-limits.ts).
   */
  macPortLimit?: number;
  /**
   * external only: the uplink's capacity in bits/s, which the ports' minimumBandwidthWeight divide
   * (policy/bandwidth). Absent or 0: weights are inactive.
   */
  uplinkBandwidth?: number;
  /** Data-path worker threads for this switch (default 1); rx ports are spread over them by VMQ queue (src/vmq). */
  workers: number;
  /**
   * CPUs the workers are pinned to: worker i → cpus[i mod n] (`xvs switch set SW --cpus 0,1`); absent: not
   * pinned. The daemon's XVS_CPUS environment variable overrides it. Changed in place (no recreate).
   */
  cpus?: number[];
  ports: PortConfig[];
  /**
   * Extensions bound to this switch, in pipeline order (capture, filter and forward each keep the
   * relative order of this list). Installed extensions not listed are bound disabled, after these.
   */
  extensions?: SwitchExtensionConfig[];
}

export interface SwitchExtensionConfig {
  name: string;
  enabled: boolean;
  /** validated against the extension's own spec when applied */
  config?: Record<string, unknown>;
  /** what happens to a batch when the extension throws (default: bypass for capture, drop otherwise) */
  onError?: 'bypass' | 'drop';
}

/**
 * Hyper-V Network Virtualization (HNV) policy objects, named after the NetWNV cmdlets
 * (docs/REFERENCE.md §1.6; docs/HNV.md). Customer Addresses (CA) of VMs live in virtual subnets (VSID);
 * hosts carry them between Provider Addresses (PA).
 */
/** New-NetVirtualizationProviderAddress: an address of an external switch's uplink in the provider network */
export interface HnvProviderAddress {
  /** the external switch whose uplink carries this PA */
  switch: string;
  /** IPv4 or IPv6 address */
  address: string;
  prefixLength: number;
  /** the PA network's VLAN on the uplink (outer 802.1Q tag); absent: untagged */
  vlanId?: number;
  /** next hop toward PAs outside address/prefixLength (Hyper-V's provider route); absent: on-link only */
  gateway?: string;
  /** etcd mode: the daemon (its --hnv-host, default the host name) whose switch owns this PA */
  host?: string;
}

export type HnvEncap = 'nvgre' | 'vxlan';
export type HnvRecordType = 'static' | 'l2only';

/** New-NetVirtualizationLookupRecord: where a CA of a virtual subnet lives */
export interface HnvLookupRecord {
  /** Customer Address (IPv4 or IPv6); 0.0.0.0 or :: for an l2only record */
  ca: string;
  vsid: number;
  /** the CA's MAC ("02:00:00:00:00:01") */
  mac: string;
  /** the Provider Address of the host the VM runs on */
  pa: string;
  encap: HnvEncap;
  /** default static */
  type?: HnvRecordType;
}

/** New-NetVirtualizationCustomerRoute: a prefix of a virtual subnet, routed within a routing domain */
export interface HnvCustomerRoute {
  /** the routing domain (a tenant's virtual network; Hyper-V uses a GUID, any non-empty name here) */
  routingDomain: string;
  vsid: number;
  /** "10.1.0.0/24", "fd00:1::/64" */
  prefix: string;
  /** "0.0.0.0" or "::" = on-link (the prefix's CAs are in this VSID); else a CA in the VSID to route through */
  nextHop: string;
  /** lower wins (default 0) */
  metric?: number;
}

/** where HNV policy lives: this document (default) or an etcd cluster shared by every host */
export interface HnvEtcdConfig {
  /** "http://127.0.0.1:2379", … */
  endpoints: string[];
  /** key prefix (default "/xvs/hnv/") */
  prefix?: string;
  /** this daemon's name among the hosts (default: the host name): its PAs are those with this host */
  host?: string;
}

export interface HnvConfig {
  providerAddresses?: HnvProviderAddress[];
  lookupRecords?: HnvLookupRecord[];
  customerRoutes?: HnvCustomerRoute[];
  /** set: PAs, records and routes are read from and written to etcd instead of the lists above */
  etcd?: HnvEtcdConfig;
}

/** VSIDs Hyper-V accepts in lookup records (0..4095 and 0xFFFFFF are reserved) */
export const HNV_VSID_RANGE = { min: 4096, max: 16777214 } as const;

export interface XvsConfig {
  version: 1;
  switches: SwitchConfig[];
  /** Hyper-V Network Virtualization policy (absent: none) */
  hnv?: HnvConfig;
  /** third-party extensions: a directory or manifest path, or an npm package name */
  plugins?: string[];
  /**
   * entries of `plugins` installed with --allow-untrusted: their files may be writable by users
   * other than root (refused otherwise, extensions/trust.ts); each load logs a warning
   */
  untrustedPlugins?: string[];
  /** Prometheus metrics endpoint (src/metrics; absent: off); `xvs daemon --metrics` overrides it for a run */
  metrics?: MetricsConfig;
  /** read-only web dashboard (src/dashboard; absent: off); `xvs daemon --dashboard` overrides it for a run */
  dashboard?: DashboardConfig;
}

/** `dashboard.listen`: ADDRESS:PORT to serve the dashboard page and its JSON on, e.g. "127.0.0.1:9478" */
export interface DashboardConfig {
  listen: string;
}

/** `metrics.listen`: ADDRESS:PORT to serve `GET /metrics` on, e.g. "127.0.0.1:9477" or "[::1]:9477" */
export interface MetricsConfig {
  listen: string;
}

export const DEFAULT_MAC_AGING_SECONDS = 300;
export const DEFAULT_MAC_TABLE_LIMIT = 8192;
export const MAX_PORTS_PER_SWITCH = 256;
/** a port's MAC limit (0: learn nothing on it) and the switch's default for ports */
export const PORT_MAC_LIMIT_RANGE = { min: 0, max: 1_048_576 } as const;
export const IFNAMSIZ_MAX = 15;
/** a VM port's virtio-net queue pairs (`xvs port add --queues`; QEMU allows more, 16 is plenty here) */
export const PORT_QUEUES_RANGE = { min: 1, max: 16 } as const;
