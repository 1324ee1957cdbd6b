/**
 * What the dashboard page polls (`GET /api/snapshot`, once a second): the switches with their ports and
 * counters, each switch's pipeline and extensions, drops by reason, and the HNV view. Read when asked from
 * the same readers as the metrics collector (metrics/families.ts) and `xvs pipeline show` / `xvs hnv show`:
 * nothing is counted per frame for it. Rates are the browser's work (counter deltas over time).
 */
import type { HnvShowResult } from '../hnv/control.js';
import type { MetricsSource } from '../metrics/families.js';
import type { ExtensionManager, PipelineStageView, PortKind } from '../switch/manager-api.js';

/** What the dashboard reads: the daemon's DataPathManager is one. */
export type DashboardSource = MetricsSource & Pick<ExtensionManager, 'pipeline'>;

export interface DashboardPort {
  name: string;
  kind: PortKind;
  netdev: string;
  up: boolean;
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  /** frames received on the port and dropped, by reason (non-zero only) */
  drops: Record<string, number>;
}

export interface DashboardExtension {
  name: string;
  enabled: boolean;
  running: boolean;
  onError: 'bypass' | 'drop';
  frames: number;
  drops: number;
  errors: number;
  failure?: string;
}

export interface DashboardSwitch {
  name: string;
  type: string;
  uplink?: string;
  hostPort?: string;
  ports: DashboardPort[];
  /** switch-wide drops by reason (non-zero only) */
  drops: Record<string, number>;
  /** the stage list in data-path order, as `xvs pipeline show` prints it */
  pipeline: Pick<PipelineStageView, 'stage' | 'path' | 'kind' | 'extensions' | 'policies' | 'state'>[];
  /** enabled extensions taken out of the pipeline after a failure */
  failed: { name: string; error: string }[];
  extensions: DashboardExtension[];
}

/** `same-vsid`: one virtual subnet (L2); `routed`: different VSIDs of one routing domain; `none`: isolated */
export type Reach = 'self' | 'same-vsid' | 'routed' | 'none';

export interface DashboardReachability {
  /** the customer addresses of the lookup records (at most REACH_MAX), in record order */
  endpoints: { ca: string; vsid: number; location: 'local' | 'remote'; routingDomain: string | null }[];
  /** reach[i][j]: can endpoint i reach endpoint j under the HNV policy */
  reach: Reach[][];
  /** records left out beyond REACH_MAX */
  omitted: number;
}

export interface DashboardHnv {
  host: string;
  source: string;
  providerAddresses: HnvShowResult['providerAddresses'];
  lookupRecords: HnvShowResult['lookupRecords'];
  customerRoutes: HnvShowResult['customerRoutes'];
  vsids: HnvShowResult['vsids'];
  reachability: DashboardReachability;
}

export interface DashboardSnapshot {
  /** ms since the epoch when the counters were read (the browser's rates divide by its deltas) */
  at: number;
  switches: DashboardSwitch[];
  hnv: DashboardHnv | null;
}

export const REACH_MAX = 32;

/**
 * Reachability under the HNV policy, from the records alone: two customer addresses of one VSID share a
 * virtual subnet; of two VSIDs in one routing domain, they are routed. It is what the policy allows, not a
 * probe of the data path.
 */
export function hnvReachability(hnv: Pick<HnvShowResult, 'lookupRecords' | 'vsids'>): DashboardReachability {
  const domainOf = new Map(hnv.vsids.map((v) => [v.vsid, v.routingDomain]));
  const records = hnv.lookupRecords;
  const endpoints = records.slice(0, REACH_MAX).map((r) => ({ ca: r.ca, vsid: r.vsid, location: r.location, routingDomain: domainOf.get(r.vsid) ?? null }));
  const reach = endpoints.map((a, i) => endpoints.map((b, j): Reach => {
    if (i === j) return 'self';
    if (a.vsid === b.vsid) return 'same-vsid';
    if (a.routingDomain !== null && a.routingDomain === b.routingDomain) return 'routed';
    return 'none';
  }));
  return { endpoints, reach, omitted: Math.max(0, records.length - REACH_MAX) };
}

function nonZero(r: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) if (v !== 0 && k !== 'none') out[k] = v;
  return out;
}

/** Every running switch, read once; a switch deleted while it is read is left out of this snapshot. */
export function collectSnapshot(src: DashboardSource, hnv: (() => HnvShowResult | null) | undefined, now = Date.now()): DashboardSnapshot {
  const switches: DashboardSwitch[] = [];
  for (const info of src.listSwitches()) {
    try {
      const st = src.stats(info.config.name);
      const pipe = src.pipeline(info.config.name);
      switches.push({
        name: info.config.name,
        type: st.type,
        ...(info.config.uplink !== undefined ? { uplink: info.config.uplink } : {}),
        ...(info.config.hostPort !== undefined ? { hostPort: info.config.hostPort } : {}),
        ports: st.ports.map((p) => ({
          name: p.name, kind: p.kind, netdev: p.netdev, up: info.ports.find((x) => x.name === p.name)?.up === true,
          rxPackets: p.rxPackets, txPackets: p.txPackets, rxBytes: p.rxBytes, txBytes: p.txBytes, drops: nonZero(p.drops),
        })),
        drops: nonZero(st.drops),
        pipeline: pipe.stages.map((s) => ({
          stage: s.stage, path: s.path, kind: s.kind, state: s.state,
          ...(s.extensions ? { extensions: s.extensions } : {}),
          ...(s.policies ? { policies: s.policies } : {}),
        })),
        failed: pipe.failed,
        extensions: src.listExtensions(info.config.name).map((e) => ({
          name: e.name, enabled: e.enabled, running: e.running, onError: e.onError,
          frames: e.counters['frames'] ?? 0, drops: e.counters['drops'] ?? 0, errors: e.counters['errors'] ?? 0,
          ...(e.failure ? { failure: e.failure.error } : {}),
        })),
      });
    } catch {
      // gone between the list and the read
    }
  }
  const h = hnv?.() ?? null;
  return {
    at: now,
    switches,
    hnv: h && {
      host: h.host,
      source: h.source.source,
      providerAddresses: h.providerAddresses,
      lookupRecords: h.lookupRecords,
      customerRoutes: h.customerRoutes,
      vsids: h.vsids,
      reachability: hnvReachability(h),
    },
  };
}
