/**
 * What `xvs daemon --metrics` exports: one typed table of metric families (name, type, help, labels) and
 * the collector that fills it from what the switches already count in shared memory (the same readers as
 * `xvs stats`, `xvs extension list`, `xvs vmq show` and `xvs hnv show`), at scrape time only: nothing is
 * counted per frame for metrics. docs/OPERATIONS.md's metric list is generated from this table.
 */
import { DROP_REASONS } from '../core/drop-reasons.js';
import { HNV_VSID_FIELDS, POLICY_PORT_FIELDS, type HnvVsidField, type PolicyPortField } from '../policy/counters.js';
import { EXT_BUILTIN_COUNTERS } from '../pipeline/context.js';
import type { ExtensionManager, SwitchManager } from '../switch/manager-api.js';
import { family, type MetricFamily, type Sample } from './exposition.js';

/** What the collector reads: the daemon's DataPathManager is one. */
export type MetricsSource = Pick<SwitchManager, 'listSwitches' | 'stats' | 'vmqShow' | 'hnvRuntime'> & Pick<ExtensionManager, 'listExtensions'>;

/** camelCase → snake_case (`bandwidthDroppedBytes` → `bandwidth_dropped_bytes`) */
export function snakeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** help of each policy port counter (policy/counters.ts); typed, so a new field needs its line here */
const POLICY_HELP: Record<PolicyPortField, string> = {
  stormExcess: 'Broadcast, multicast and unknown-unicast frames beyond the port\'s storm limit (also drop reason storm-limit).',
  vlanExcluded: 'Frames not delivered to this port because of its VLAN mode (flood scoping, private VLANs).',
  aclInboundDenied: 'Frames to this port removed by an inbound port ACL.',
  extendedAclInboundDenied: 'Frames to this port removed by an inbound extended ACL.',
  flowsCreated: 'Flow states created by this port\'s stateful extended ACL rules.',
  flowTableFull: 'Stateful rule matches that found the flow-state table full (the frame passed; its replies may not).',
  bandwidthDroppedBytes: 'Bytes dropped by the port\'s maximum bandwidth or its weighted share.',
  mirrorCopies: 'Frames copied to this mirror destination port.',
  egressOther: 'Frames to this port removed by an egress policy that is neither VLAN nor ACL.',
};

/** help of each HNV per-VSID counter (policy/counters.ts HNV_VSID_FIELDS) */
const HNV_HELP: Record<HnvVsidField, string> = {
  encapsulated: 'HNV: frames of the virtual subnet encapsulated toward a remote provider address (replication copies included).',
  decapsulated: 'HNV: frames from the uplink decapsulated and delivered to a VM port of the virtual subnet.',
  arpProxied: 'HNV: broadcast ARP requests answered from the lookup records.',
  ndProxied: 'HNV: IPv6 neighbour solicitations answered.',
  routed: 'HNV: frames routed into the virtual subnet from another of its routing domain.',
  deliveredLocally: 'HNV: frames delivered to a VM port of the virtual subnet on this host without encapsulation.',
  replicated: 'HNV: broadcast/multicast copies sent to remote provider addresses.',
  tooBig: 'HNV: oversize frames answered with ICMP fragmentation needed / packet too big.',
  rejected: 'HNV: frames of the virtual subnet dropped by HNV (the hnv-* drop reasons but hnv-dad).',
};

const EXT_HELP: Record<(typeof EXT_BUILTIN_COUNTERS)[number], string> = {
  batches: 'Batches the extension processed (summed over workers).',
  frames: 'Frames the extension saw.',
  errors: 'Times the extension threw while processing a batch.',
  drops: 'Frames the extension dropped.',
};

const SW = ['switch'] as const;
const PORT = ['switch', 'port'] as const;
const EXT = ['switch', 'extension'] as const;
const WORKER = ['switch', 'worker'] as const;
const QUEUE = ['switch', 'queue'] as const;
const VSID = ['switch', 'vsid'] as const;

/** The fixed families (policy, HNV and extension-builtin counters are generated from their lists below). */
export const M = {
  switchInfo: family('xvs_switch_info', 'gauge', 'Always 1: one series per running switch, with its type.', ['switch', 'type']),
  switchPorts: family('xvs_switch_ports', 'gauge', 'Ports attached to the switch.', SW),
  fdbEntries: family('xvs_switch_fdb_entries', 'gauge', 'MAC addresses in the switch\'s forwarding table.', SW),
  fdbLimit: family('xvs_switch_fdb_limit', 'gauge', 'Most MAC addresses the forwarding table holds.', SW),
  fdbLearned: family('xvs_switch_fdb_learned_total', 'counter', 'MAC addresses learned.', SW),
  fdbMoves: family('xvs_switch_fdb_moves_total', 'counter', 'Learned MAC addresses that moved to another port.', SW),
  fdbLimitHits: family('xvs_switch_fdb_limit_hits_total', 'counter', 'Source MACs not learned because the table was full.', SW),
  fdbAged: family('xvs_switch_fdb_aged_total', 'counter', 'MAC addresses aged out of the table.', SW),

  portInfo: family('xvs_port_info', 'gauge', 'Always 1: one series per port, with its kind (vm, external, internal) and netdev.', ['switch', 'port', 'kind', 'netdev']),
  portUp: family('xvs_port_up', 'gauge', '1 when the port is attached and its link is up, else 0.', PORT),
  rxPackets: family('xvs_port_rx_packets_total', 'counter', 'Frames received from the port.', PORT),
  rxBytes: family('xvs_port_rx_bytes_total', 'counter', 'Bytes received from the port.', PORT),
  txPackets: family('xvs_port_tx_packets_total', 'counter', 'Frames transmitted on the port.', PORT),
  txBytes: family('xvs_port_tx_bytes_total', 'counter', 'Bytes transmitted on the port.', PORT),
  txErrors: family('xvs_port_tx_errors_total', 'counter', 'Frames the switch could not transmit on the port.', PORT),
  txTunnelGso: family('xvs_port_tx_tunnel_gso_total', 'counter', 'Uplink: VXLAN GSO frames sent whole through the tunnel TAP (counted in tx packets too).', PORT),
  rxZeroCopy: family('xvs_port_rx_zero_copy_total', 'counter', 'Frames received zero-copy (XVS_ZERO_COPY=1): headers in the pool slot, the payload sent from the rx ring.', PORT),
  rxZeroCopyWhole: family('xvs_port_rx_zero_copy_whole_total', 'counter', 'Zero-copy frames made whole (payload copied into the slot) because a stage read the payload or kept the frame past its batch.', PORT),
  drops: family('xvs_port_drops_total', 'counter', 'Frames received on the port and dropped, by drop reason (every reason of src/core/drop-reasons.ts, zero included).', ['switch', 'port', 'reason']),
  macs: family('xvs_port_macs', 'gauge', 'MAC addresses learned on the port.', PORT),
  macLimit: family('xvs_port_mac_limit', 'gauge', 'Most MAC addresses the port may have learned.', PORT),
  macLimitHits: family('xvs_port_mac_limit_hits_total', 'counter', 'Source MACs not learned because the port held its MAC limit.', PORT),

  extEnabled: family('xvs_extension_enabled', 'gauge', '1 when the extension is enabled on the switch.', EXT),
  extRunning: family('xvs_extension_running', 'gauge', '1 when the extension runs in the data path (enabled and not failed).', EXT),
  extFailures: family('xvs_extension_failures_total', 'counter', 'Times the extension failed and was taken out of the pipeline.', EXT),
  extOwn: family('xvs_extension_own_total', 'counter', 'The extension\'s own counters, by the name it declared (`xvs extension describe NAME`).', ['switch', 'extension', 'counter']),

  workerBreaths: family('xvs_worker_breaths_total', 'counter', 'Data-path worker loop iterations.', WORKER),
  workerBatches: family('xvs_worker_batches_total', 'counter', 'Batches of received frames the worker processed.', WORKER),
  workerIdlePolls: family('xvs_worker_idle_polls_total', 'counter', 'Breaths that received nothing.', WORKER),
  workerCoalesceWaits: family('xvs_worker_coalesce_waits_total', 'counter', 'Times the worker waited to fill a batch.', WORKER),
  workerRestarts: family('xvs_worker_restarts_total', 'counter', 'Times the watchdog replaced the worker (stalled, out of memory, crashed).', WORKER),
  workerBusy: family('xvs_worker_busy_ratio', 'gauge', 'Share of the last load sample (1 s) the worker spent in breaths that received frames, 0..1.', WORKER),
  workerCpu: family('xvs_worker_cpu', 'gauge', 'The CPU the worker is pinned to (absent: not pinned).', WORKER),
  queueWorker: family('xvs_queue_worker', 'gauge', 'The worker a receive queue (VMQ) is placed on.', QUEUE),
  queueRxRate: family('xvs_queue_rx_packets_per_second', 'gauge', 'Frames per second the queue received over the last load sample.', QUEUE),
  queueBusy: family('xvs_queue_busy_ratio', 'gauge', 'Share of one CPU the queue\'s frames cost over the last load sample, 0..1.', QUEUE),

  hnvNextHopResolved: family('xvs_hnv_next_hop_resolved', 'gauge', 'HNV: 1 when the underlay next hop has a MAC, else 0.', ['switch', 'via']),
} as const;

const EXT_BUILTIN = Object.fromEntries(EXT_BUILTIN_COUNTERS.map((n) => [n, family(`xvs_extension_${n}_total`, 'counter', EXT_HELP[n], EXT)])) as Record<(typeof EXT_BUILTIN_COUNTERS)[number], MetricFamily<'switch' | 'extension'>>;
const POLICY = Object.fromEntries(POLICY_PORT_FIELDS.map((n) => [n, family(`xvs_port_policy_${snakeCase(n)}_total`, 'counter', POLICY_HELP[n], PORT)])) as Record<PolicyPortField, MetricFamily<'switch' | 'port'>>;
const HNV = Object.fromEntries(HNV_VSID_FIELDS.map((n) => [n, family(`xvs_hnv_vsid_${snakeCase(n)}_total`, 'counter', HNV_HELP[n], VSID)])) as Record<HnvVsidField, MetricFamily<'switch' | 'vsid'>>;

/** Every family, in exposition order (grouped: switch, port, extension, worker/queue, HNV). */
export const METRIC_FAMILIES: readonly MetricFamily[] = [
  M.switchInfo, M.switchPorts, M.fdbEntries, M.fdbLimit, M.fdbLearned, M.fdbMoves, M.fdbLimitHits, M.fdbAged,
  M.portInfo, M.portUp, M.rxPackets, M.rxBytes, M.txPackets, M.txBytes, M.txErrors, M.txTunnelGso, M.rxZeroCopy, M.rxZeroCopyWhole, M.drops,
  M.macs, M.macLimit, M.macLimitHits, ...POLICY_PORT_FIELDS.map((n) => POLICY[n]),
  M.extEnabled, M.extRunning, M.extFailures, ...EXT_BUILTIN_COUNTERS.map((n) => EXT_BUILTIN[n]), M.extOwn,
  M.workerBreaths, M.workerBatches, M.workerIdlePolls, M.workerCoalesceWaits, M.workerRestarts, M.workerBusy, M.workerCpu,
  M.queueWorker, M.queueRxRate, M.queueBusy,
  M.hnvNextHopResolved, ...HNV_VSID_FIELDS.map((n) => HNV[n]),
];

/** Drop reasons exported (every one but `none`). */
const REASONS = DROP_REASONS.map(([name]) => name).filter((n) => n !== 'none');

/** Samples per family, filled by typed label records (a family's labels are checked at compile time). */
class Samples {
  readonly byFamily = new Map<MetricFamily, Sample[]>(METRIC_FAMILIES.map((f) => [f, []]));
  add<L extends string>(f: MetricFamily<L>, labels: Record<L, string>, value: number): void {
    const list = this.byFamily.get(f);
    if (!list) throw new Error(`${f.name} is not in METRIC_FAMILIES`);
    list.push({ labels: f.labels.map((l) => labels[l]), value });
  }
}

/**
 * Reads every running switch once. A switch deleted while it is read is left out of this scrape (the
 * others are still exported); so is what a manager without VMQ or HNV does not have.
 */
export function collectMetrics(src: MetricsSource): { family: MetricFamily; samples: Sample[] }[] {
  const s = new Samples();
  for (const info of src.listSwitches()) {
    const sw = info.config.name;
    try {
      collectSwitch(src, s, sw, info.ports);
    } catch {
      // gone between the list and the read: not exported this time
    }
  }
  return METRIC_FAMILIES.map((f) => ({ family: f, samples: s.byFamily.get(f) ?? [] }));
}

function collectSwitch(src: MetricsSource, s: Samples, sw: string, portInfo: readonly { name: string; up: boolean }[]): void {
  const st = src.stats(sw);
  s.add(M.switchInfo, { switch: sw, type: st.type }, 1);
  s.add(M.switchPorts, { switch: sw }, st.ports.length);
  s.add(M.fdbEntries, { switch: sw }, st.fdb.entries);
  s.add(M.fdbLimit, { switch: sw }, st.fdb.limit);
  s.add(M.fdbLearned, { switch: sw }, st.fdb.learned);
  s.add(M.fdbMoves, { switch: sw }, st.fdb.moves);
  s.add(M.fdbLimitHits, { switch: sw }, st.fdb.limitHits);
  s.add(M.fdbAged, { switch: sw }, st.fdb.aged);

  for (const p of st.ports) {
    const l = { switch: sw, port: p.name };
    s.add(M.portInfo, { ...l, kind: p.kind, netdev: p.netdev }, 1);
    s.add(M.portUp, l, portInfo.find((x) => x.name === p.name)?.up === true ? 1 : 0);
    s.add(M.rxPackets, l, p.rxPackets);
    s.add(M.rxBytes, l, p.rxBytes);
    s.add(M.txPackets, l, p.txPackets);
    s.add(M.txBytes, l, p.txBytes);
    s.add(M.txErrors, l, p.txErrors);
    s.add(M.txTunnelGso, l, p.txTunnelGso);
    s.add(M.rxZeroCopy, l, p.rxZeroCopy ?? 0);
    s.add(M.rxZeroCopyWhole, l, p.rxZeroCopyWhole ?? 0);
    for (const r of REASONS) s.add(M.drops, { ...l, reason: r }, p.drops[r] ?? 0);
    s.add(M.macs, l, p.macs);
    s.add(M.macLimit, l, p.macLimit);
    s.add(M.macLimitHits, l, p.macLimitHits);
    for (const f of POLICY_PORT_FIELDS) s.add(POLICY[f], l, p.policy[f] ?? 0);
  }

  for (const e of src.listExtensions(sw)) {
    const l = { switch: sw, extension: e.name };
    s.add(M.extEnabled, l, e.enabled ? 1 : 0);
    s.add(M.extRunning, l, e.running ? 1 : 0);
    s.add(M.extFailures, l, e.failure?.count ?? 0);
    for (const n of EXT_BUILTIN_COUNTERS) s.add(EXT_BUILTIN[n], l, e.counters[n] ?? 0);
    for (const [n, v] of Object.entries(e.counters)) {
      if (!(EXT_BUILTIN_COUNTERS as readonly string[]).includes(n)) s.add(M.extOwn, { ...l, counter: n }, v);
    }
  }

  const vmq = src.vmqShow?.(sw);
  for (const w of st.workers) {
    const l = { switch: sw, worker: String(w.index) };
    s.add(M.workerBreaths, l, w.breaths);
    s.add(M.workerBatches, l, w.batches);
    s.add(M.workerIdlePolls, l, w.idlePolls);
    s.add(M.workerCoalesceWaits, l, w.coalesceWaits);
    s.add(M.workerRestarts, l, w.restarts);
    const busy = vmq?.workers.find((x) => x.index === w.index)?.busy;
    if (busy !== undefined) s.add(M.workerBusy, l, busy / 100);
    if (w.cpu !== null) s.add(M.workerCpu, l, w.cpu);
  }
  for (const q of vmq?.queues ?? []) {
    const l = { switch: sw, queue: q.id };
    s.add(M.queueWorker, l, q.worker);
    s.add(M.queueRxRate, l, q.pps);
    s.add(M.queueBusy, l, q.busy / 100);
  }

  const hnv = src.hnvRuntime?.(sw);
  for (const h of hnv?.nextHops ?? []) s.add(M.hnvNextHopResolved, { switch: sw, via: h.via }, h.state === 'resolved' ? 1 : 0);
  for (const v of hnv?.vsids ?? []) {
    for (const f of HNV_VSID_FIELDS) s.add(HNV[f], { switch: sw, vsid: String(v.vsid) }, v.counters[f] ?? 0);
  }
}
