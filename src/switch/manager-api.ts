import type { RebalanceResult, VmqView } from '../vmq/switch-vmq.js';
import type { HnvProviderAddress, PortConfig, PortSettings, SwitchConfig } from '../config/types.js';
import type { HnvPolicySnapshot } from '../hnv/model.js';

/** One learned MAC address, as `xvs fdb show` prints it. */
export interface FdbEntry {
  mac: string;
  /**
   * the entry's VLAN (its filtering id: a private VLAN's secondaries show as their primary); absent = 0
   * (untagged, or a VLAN-transparent switch)
   */
  vlan?: number;
  port: string;
  /** seconds since the entry was last refreshed by traffic */
  ageSeconds: number;
}

/** One page of a switch's MAC table, in MAC order (forward/fdb-pages.ts). */
export interface FdbPage {
  entries: FdbEntry[];
  /** give this as `after` to get the next page; null: this was the last one */
  next: string | null;
  /** entries in the table when the walk's snapshot was taken */
  total: number;
}

export interface FdbPageOptions {
  /** `next` of the previous page (or a MAC): entries after it; absent: from the start */
  after?: string;
  /** most entries in the page */
  limit: number;
}

export type PortKind = 'vm' | 'external' | 'internal';

/** Counters of one port (summed over the switch's workers). */
export interface PortStats {
  name: string;
  kind: PortKind;
  netdev: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** frames received on this port and dropped, by drop-reason name (only non-zero reasons) */
  drops: Record<string, number>;
  /** frames the switch could not transmit on this port */
  txErrors: number;
  /** the uplink: VXLAN GSO frames sent whole through its tunnel TAP (ports/tunnel-tap.ts), counted in txPackets too */
  txTunnelGso: number;
  /** frames received zero-copy (their payload sent straight from the rx ring) and, of those, made whole at the end of their batch */
  rxZeroCopy?: number;
  rxZeroCopyWhole?: number;
  /** MAC addresses learned on this port, its MAC limit (forward/mac-limits.ts), and source MACs not learned because of it */
  macs: number;
  macLimit: number;
  macLimitHits: number;
  /** what the built-in port policies counted on this port besides drops (policy/counters.ts POLICY_PORT_FIELDS), non-zero only */
  policy: Record<string, number>;
}

export interface SwitchStats {
  name: string;
  type: string;
  ports: PortStats[];
  /** switch-wide drops by reason name (sum over ports) */
  drops: Record<string, number>;
  /** limitHits: the table was full; portLimitHits: a port held its MAC limit (sum of the ports' macLimitHits) */
  fdb: { entries: number; limit: number; learned: number; moves: number; limitHits: number; aged: number; portLimitHits: number };
  workers: {
    index: number; tid: number; cpu: number | null; breaths: number; batches: number; idlePolls: number; coalesceWaits: number;
    /** times the watchdog replaced this worker (stalled, out of memory, crashed) and the last cause */
    restarts: number; lastCause?: string;
  }[];
}

/** One meter ACL entry's traffic (Measure-VM's NetworkMeteredTrafficReport element), since the last reset. */
export interface MeterEntry {
  /** the entry's index in the port's `acls` list */
  index: number;
  direction: 'inbound' | 'outbound' | 'both';
  /** the entry's address on the VM's side or the far side (one of the two is set; "any" for any) */
  localAddress?: string;
  remoteAddress?: string;
  inboundBytes: number;
  inboundPackets: number;
  outboundBytes: number;
  outboundPackets: number;
}

/** `port.meter`: a port's metered traffic (Measure-VM), per meter ACL entry and in total. */
export interface MeterReport {
  switch: string;
  port: string;
  /** ISO time counting started: the last reset, or when the switch started counting for this port */
  since: string;
  entries: MeterEntry[];
  totals: { inboundBytes: number; inboundPackets: number; outboundBytes: number; outboundPackets: number };
  /** the counts were reported, then set back to zero (Reset-VMResourceMetering) */
  reset?: boolean;
}

/** Supervision of one data-path worker (workers/watchdog.ts). */
export interface WorkerHealthView {
  worker: number;
  restarts: number;
  reason?: 'timeout' | 'out-of-memory' | 'crashed';
  lastCause?: string;
  /** the extension blamed for the last restart */
  extension?: string;
  at?: string;
}

/** The HNV data path's state on one switch (`hnv show`); filled by policy/hnv's reader. */
export interface HnvRuntimeView {
  /** outer next hops: a PA (or its gateway) and the MAC resolved for it on the underlay */
  nextHops?: { pa: string; via: string; mac: string | null; state: string }[];
  /** per-VSID counters (frames encapsulated, decapsulated, proxied, dropped by reason, …) */
  vsids?: { vsid: number; counters: Record<string, number> }[];
}

/** What `xvs switch show` prints. */
export interface SwitchInfo {
  config: SwitchConfig;
  /** mtu: the port netdev's MTU now (a VSID port's is the overlay MTU, switch/hnv.ts) */
  ports: {
    name: string; kind: PortKind; netdev: string; index: number; up: boolean; mtu?: number;
    /** a libpcap port (`--io pcap`), and the netdev offloads xvs turned off for it (`ethtool -K` keywords) */
    io?: 'pcap'; offloadsOff?: string[];
  }[];
  /** per data-path worker: restarts and the last cause (absent for a switch that is not running) */
  workers?: WorkerHealthView[];
}

/** One worker's health as `xvs daemon status` lists it (SwitchManager.health). */
export interface WorkerHealthEntry extends WorkerHealthView {
  switch: string;
}

/**
 * The data-path side of the daemon, as the control plane sees it. Implemented by `switch/manager.ts`.
 * Every method validates its input and throws `ConfigError` (with a field path) before changing anything.
 */
export interface SwitchManager {
  createSwitch(cfg: SwitchConfig): Promise<void>;
  deleteSwitch(name: string): Promise<void>;
  /** `undoing`: a rollback of a change already made: extensions' control hooks are not asked (switch.ts) */
  addPort(switchName: string, port: PortConfig, opts?: { undoing?: boolean }): Promise<void>;
  removePort(switchName: string, portName: string, opts?: { undoing?: boolean }): Promise<void>;
  listSwitches(): SwitchInfo[];
  showSwitch(name: string): SwitchInfo;
  /** every entry (in-process callers and small tables; the control API pages with fdbPage) */
  fdb(name: string): FdbEntry[];
  fdbPage(name: string, opts: FdbPageOptions): FdbPage;
  /** change a VM port's settings in place (`port set`) */
  setPort(switchName: string, portName: string, settings: PortSettings, opts?: { undoing?: boolean }): Promise<void>;
  /** a running switch's worker CPUs changed (src/vmq: workers re-pinned in place) */
  setCpus(switchName: string, cpus: number[] | undefined): Promise<void>;
  stats(name: string): SwitchStats;
  /** a port's meter ACL counts since the last reset; `reset`: report, then count from zero again */
  meter?(switchName: string, portName: string, reset: boolean): MeterReport;
  /** restarts and last cause of every data-path worker of every switch (for `daemon status`) */
  health?(): WorkerHealthEntry[];
  /**
   * The effective HNV policy (hnv/control.ts, on every change of the local document or etcd) and this daemon's
   * PAs: each switch gets its own PAs and every record and route, recomputes its VSID ports' MTUs and pushes
   * its policies. Switches created later get it too.
   */
  setHnvPolicy?(snapshot: HnvPolicySnapshot, localPas: HnvProviderAddress[]): Promise<void>;
  /**
   * HOOK for the HNV data path (policy/hnv): what it resolved and counted on this switch, for `hnv show`.
   * Absent (or undefined fields) until the data path exports a reader; `hnv show` then says null.
   */
  hnvRuntime?(switchName: string): HnvRuntimeView;
  /** `vmq show`: queues, workers, CPUs and measured load (src/vmq) */
  vmqShow?(switchName: string): VmqView;
  /** `vmq rebalance`: queues placed again by measured load */
  vmqRebalance?(switchName: string): Promise<RebalanceResult>;
  /** stop every worker; leaves TAPs in place (persistent) so running VMs keep their link. */
  shutdown(): Promise<void>;
}

// ---------------------------------------------------------------- extensions (issue 4)

export interface ExtensionInfo {
  name: string;
  version: string;
  kind: 'capture' | 'filter' | 'forward';
  summary: string;
  /** 'builtin', or the file path / npm package it was installed from */
  source: string;
  /** a plug-in installed with --allow-untrusted: users other than root may be able to change its code */
  allowUntrusted?: true;
}

/** An extension as bound to one switch (every installed extension is bound to every switch). */
export interface SwitchExtensionState extends ExtensionInfo {
  enabled: boolean;
  /** enabled and running in the data path (false after a failure, until enabled again) */
  running: boolean;
  onError: 'bypass' | 'drop';
  config: Record<string, unknown>;
  /**
   * the last failure: the extension threw (reason absent or 'error'), or its worker stalled
   * ('timeout'), ran out of heap ('out-of-memory') or crashed while it ran; it was taken out of the pipeline
   */
  failure?: { error: string; at: string; count: number; reason?: string };
  /** the default forwarder only: the forwarding extension that replaces it */
  replacedBy?: string;
  /** built-in counters (batches, frames, errors, drops) and the extension's own, summed over workers */
  counters: Record<string, number>;
}

/** One entry of the stage list (pipeline/stage-list.ts) as it runs on a switch. */
export interface PipelineStageView {
  stage: string;
  path: 'ingress' | 'miniport' | 'egress';
  kind: 'builtin' | 'capture' | 'filter' | 'forward' | 'policy';
  /** extension stages: the extensions that run there, in running order (egress: reversed) */
  extensions?: string[];
  /** policy stages: the built-in policies in force there, in running order, each with one line per port that uses it */
  policies?: { policy: string; ports: string[] }[];
  /** a policy stage with no policy in force is empty (it costs one length check per batch) */
  state: 'running' | 'empty';
  doc: string;
}

export interface PipelineView {
  switch: string;
  generation: number;
  /** every stage of the stage list, in data-path order */
  stages: PipelineStageView[];
  /** enabled extensions taken out of the pipeline after a failure */
  failed: { name: string; error: string }[];
}

export interface TraceView {
  switch: string;
  inPort: string;
  frame: string;
  /** decoded frame, e.g. eth(...),ipv4(...),tcp(...) */
  packet: string;
  /** `down`: ports the step chose as destinations that get nothing because their link is down */
  steps: { stage: string; group: string; kind: string; direction: string; verdict: string; reason?: string; note?: string; destinations?: string[]; down?: string[] }[];
  verdict: 'forwarded' | 'dropped';
  reason?: string;
  destinations: string[];
  /** the verdict in words, naming the stage and reason that decided it (`dropped by filter firewall (ingress): rule 0 (extension-drop)`) */
  summary: string;
  generation: number;
}

/** A live trace: the next `count` real frames (matching, from a port), each handed to onFrame as it leaves the switch. */
export interface LiveTraceOptions {
  count: number;
  match?: string;
  inPort?: string;
  timeoutMs: number;
  /** called once per traced frame, as it arrives */
  onFrame?: (view: TraceView) => void;
  /** ends the trace early */
  signal?: AbortSignal;
  /** called once every worker records matching frames (frames from then on are traced) */
  onArmed?: () => void;
}

/** What to do with an extension list entry naming an extension that is not installed. */
export type UnknownExtension = 'error' | 'keep' | 'skip';

export interface ExtensionManager {
  installedExtensions(): ExtensionInfo[];
  describeExtension(name: string): { info: ExtensionInfo; markdown: string };
  listExtensions(switchName: string): SwitchExtensionState[];
  enableExtension(switchName: string, name: string): Promise<void>;
  disableExtension(switchName: string, name: string): Promise<void>;
  /** put these extensions first, in this order; the others keep their relative order after them */
  orderExtensions(switchName: string, names: string[]): Promise<void>;
  /** replace the configuration (validated against the extension's spec) and/or the on-error policy */
  setExtension(switchName: string, name: string, change: { config?: Record<string, unknown>; onError?: 'bypass' | 'drop' }): Promise<void>;
  pipeline(switchName: string): PipelineView;
  trace(switchName: string, inPort: string, frame: Uint8Array): Promise<TraceView>;
  traceLive(switchName: string, opts: LiveTraceOptions): Promise<TraceView[]>;
  installExtension(source: string, opts?: { allowUntrusted?: boolean }): Promise<ExtensionInfo>;
  uninstallExtension(name: string): Promise<void>;
}
