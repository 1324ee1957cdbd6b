/**
 * The daemon's HNV control: which policy source is in force (the local desired-state document, or etcd
 * when `hnv.etcd` or the daemon's --etcd names one; the flag wins over the document), the checks an object
 * passes before it is written (against the snapshot and this daemon's switches, errors naming `params.…`),
 * and, on every change of the snapshot, the push to the data path: DataPathManager.setHnvPolicy gives each
 * switch every record and route and this daemon's PAs (switch/hnv.ts builds its `SwitchPolicyInput.hnv`).
 *
 *   API hnv.* ─▶ HnvControl.put/remove ─▶ source.put/remove ─┬─ local: desired-state commit ─▶ setHnv change ─▶ applyDocument ─▶ push
 *                                                            └─ etcd:  etcd write ─▶ watch ─▶ onChange ─▶ push
 */
import { hostname } from 'node:os';
import { ConfigError, NotFoundError } from '../core/errors.js';
import { checkHnvSnapshot, checkPaSwitches, DEFAULT_ETCD_PREFIX, hnvObjectProblems, type SnapshotPaths } from '../config/hnv.js';
import { sameJson } from '../config/desired.js';
import type { HnvConfig, HnvCustomerRoute, HnvEtcdConfig, HnvLookupRecord, HnvProviderAddress, SwitchConfig } from '../config/types.js';
import type { HnvRuntimeView, SwitchManager } from '../switch/manager-api.js';
import { loadEtcdFactory, type EtcdSourceFactory, type ResolvedEtcdConfig } from './etcd-factory.js';
import { LocalHnvSource, keyOf, upsert, type HnvCommit, type HnvObject } from './local-source.js';
import { DEFAULT_UNDERLAY_MTU, paKey, recordKey, routeKey, vsidMtu, type HnvObjectKind, type HnvPolicySnapshot, type HnvPolicySource, type HnvSourceStatus } from './model.js';

/** a PA as `hnv show` lists it: local = one of this daemon's (pushed to its switch) */
export type HnvPaView = HnvProviderAddress & { local: boolean };
/** a record as `hnv show` lists it: where its PA lives (local, remote: whose, when a PA object names it) */
export type HnvRecordView = HnvLookupRecord & { location: 'local' | 'remote'; paHost?: string; paSwitch?: string };

/** per-VSID: its routing domain, records, ports of this daemon, their MTU, and the data path's counters */
export interface HnvVsidView {
  vsid: number;
  routingDomain: string | null;
  records: number;
  /** `switch/port` of this daemon's VM ports in the VSID */
  ports: string[];
  /** the overlay MTU its ports get (switch/hnv.ts) */
  mtu: number | null;
  /** the data path's per-VSID counters (policy/hnv), summed over switches; null until it exports them */
  counters: Record<string, number> | null;
}

export interface HnvShowResult {
  source: HnvSourceStatus;
  /** this daemon's name among the hosts (etcd mode: its PAs are those with this host) */
  host: string;
  providerAddresses: HnvPaView[];
  lookupRecords: HnvRecordView[];
  customerRoutes: HnvCustomerRoute[];
  vsids: HnvVsidView[];
  /** per switch: the outer next hops the data path resolved (null until it exports them) */
  nextHops: { switch: string; entries: NonNullable<HnvRuntimeView['nextHops']> }[] | null;
}

export interface HnvControlOptions {
  manager: SwitchManager;
  log: (msg: string) => void;
  /** the document's switches (PA checks, VSID ports) */
  switches: () => readonly SwitchConfig[];
  /** commits a new document `hnv` (the local source's writes) */
  commit: HnvCommit;
  /** --hnv-host (default: hnv.etcd.host, then the host name) */
  host?: string;
  /** --etcd: etcd for this run, whatever the document says */
  etcd?: HnvEtcdConfig;
  /** how etcd sources are made (default: hnv/etcd-source.ts's createEtcdSource) */
  etcdFactory?: EtcdSourceFactory;
}

const paramsPaths = (kind: HnvObjectKind, index: number): SnapshotPaths => ({
  pa: (i) => (kind === 'pa' && i === index ? 'params' : `hnv.providerAddresses[${i}]`),
  record: (i) => (kind === 'record' && i === index ? 'params' : `hnv.lookupRecords[${i}]`),
  route: (i) => (kind === 'route' && i === index ? 'params' : `hnv.customerRoutes[${i}]`),
});

export class HnvControl {
  readonly local: LocalHnvSource;
  private etcd: { source: HnvPolicySource; cfg: ResolvedEtcdConfig } | null = null;
  /** the document's `hnv` as last applied */
  private applied: HnvConfig | undefined;
  /** the document's `hnv.etcd` as last applied */
  private docEtcd: HnvEtcdConfig | undefined;
  /** pushes run one after another (etcd events may come while one runs) */
  private pushing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: HnvControlOptions) {
    this.local = new LocalHnvSource(opts.commit);
  }

  /** the source in force */
  get source(): HnvPolicySource {
    return this.etcd?.source ?? this.local;
  }

  /** this daemon's name among the hosts */
  get host(): string {
    return this.opts.host ?? this.opts.etcd?.host ?? this.docEtcd?.host ?? hostname();
  }

  /** is this PA one of this daemon's? Local mode: all are; etcd: those with this host */
  mine(p: HnvProviderAddress): boolean {
    return this.etcd === null || p.host === this.host;
  }

  /** start-up with --etcd: connect before the document is restored (the document's lists are not used) */
  async start(): Promise<void> {
    if (this.opts.etcd) await this.useEtcd(this.opts.etcd);
  }

  /**
   * The document's `hnv` was applied (commit, config apply, restore, or an undo): the local source takes it;
   * an `etcd` that changed switches the source (unless --etcd holds it); the policy is pushed. Throws if the
   * data path refuses it, so the commit is undone.
   */
  async applyDocument(h: HnvConfig | undefined): Promise<void> {
    const before = this.applied;
    if (!this.opts.etcd && !sameJson(h?.etcd, this.docEtcd)) {
      if (h?.etcd) await this.useEtcd(h.etcd);
      else await this.useLocal();
    }
    this.docEtcd = h?.etcd;
    this.applied = h;
    this.local.applied(h);
    try {
      await this.push();
    } catch (e) {
      // the data path refused it: the switches go back to the policy from before (the commit is undone)
      this.applied = before;
      this.local.applied(before);
      await this.push().catch(() => {});
      throw e;
    }
  }

  private resolve(cfg: HnvEtcdConfig): ResolvedEtcdConfig {
    return { endpoints: cfg.endpoints, prefix: cfg.prefix ?? DEFAULT_ETCD_PREFIX, host: this.opts.host ?? cfg.host ?? hostname() };
  }

  private async useEtcd(cfg: HnvEtcdConfig): Promise<void> {
    const resolved = this.resolve(cfg);
    if (this.etcd && sameJson(this.etcd.cfg, resolved)) return;
    const factory = this.opts.etcdFactory ?? (await loadEtcdFactory());
    const source = await factory(resolved, { log: this.opts.log, host: resolved.host, validate: hnvObjectProblems });
    const old = this.etcd;
    this.etcd = { source, cfg: resolved };
    source.onChange(() => {
      if (this.etcd?.source === source) void this.push().catch((e: unknown) => this.opts.log(`hnv: policy from etcd not applied: ${(e as Error).message}`));
    });
    this.opts.log(`hnv: policy from etcd ${resolved.endpoints.join(',')} prefix ${resolved.prefix} as host "${resolved.host}"`);
    if (old) await old.source.close().catch(() => {});
  }

  private async useLocal(): Promise<void> {
    const old = this.etcd;
    this.etcd = null;
    if (old) {
      this.opts.log('hnv: policy from the local document');
      await old.source.close().catch(() => {});
    }
  }

  /** the snapshot in force to every switch (this daemon's PAs to their switches) */
  push(): Promise<void> {
    const run = async (): Promise<void> => {
      const s = this.source.snapshot();
      await this.opts.manager.setHnvPolicy?.(s, s.providerAddresses.filter((p) => this.mine(p)));
    };
    const next = this.pushing.then(run, run);
    this.pushing = next.catch(() => {});
    return next;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes (API)

  /** checks `obj` as the snapshot would hold it, naming `params` for it and `hnv.…[i]` for the others */
  private check(kind: HnvObjectKind, obj: HnvObject): void {
    const { snapshot, index } = upsert(this.source.snapshot(), kind, obj);
    const paths = paramsPaths(kind, index);
    checkHnvSnapshot(snapshot, paths);
    if (kind === 'pa') checkPaSwitches(snapshot.providerAddresses, this.opts.switches(), paths, (p) => p === obj && this.mine(p));
  }

  /** add, or replace the object with the same key (a record "moves" to another PA); `replaced` says which */
  async put(kind: 'pa', obj: HnvProviderAddress): Promise<{ replaced: boolean }>;
  async put(kind: 'record', obj: HnvLookupRecord): Promise<{ replaced: boolean }>;
  async put(kind: 'route', obj: HnvCustomerRoute): Promise<{ replaced: boolean }>;
  async put(kind: HnvObjectKind, input: HnvObject): Promise<{ replaced: boolean }> {
    // etcd: a PA added here is this daemon's unless it names another host
    const obj = kind === 'pa' && this.etcd && (input as HnvProviderAddress).host === undefined ? { ...input, host: this.host } : input;
    this.check(kind, obj);
    const k = keyOf(kind, obj);
    const replaced = this.list(kind).some((x) => keyOf(kind, x) === k);
    const src = this.source;
    if (kind === 'pa') await src.put('pa', obj as HnvProviderAddress);
    else if (kind === 'record') await src.put('record', obj as HnvLookupRecord);
    else await src.put('route', obj as HnvCustomerRoute);
    return { replaced };
  }

  private list(kind: HnvObjectKind): HnvObject[] {
    const s = this.source.snapshot();
    return kind === 'pa' ? s.providerAddresses : kind === 'record' ? s.lookupRecords : s.customerRoutes;
  }

  /** removes the object of this key; a missing one is an error naming the key unless ifExists */
  async remove(kind: HnvObjectKind, key: string, what: string, ifExists: boolean): Promise<{ removed: boolean }> {
    const removed = this.list(kind).some((x) => keyOf(kind, x) === key) && (await this.source.remove(kind, key));
    if (!removed && !ifExists) throw new NotFoundError('params', `no ${what} (key ${key})`);
    return { removed };
  }

  /** the key of the PA `address` on `switch` (this daemon's host in etcd mode, unless `host`) */
  paKeyOf(sw: string, address: string, host?: string): string {
    const owner = host ?? (this.etcd ? this.host : undefined);
    return paKey({ switch: sw, address, ...(owner !== undefined ? { host: owner } : {}) });
  }

  /** a record by CA (static) or by MAC (the l2only record, or the one record of the VSID with that MAC) */
  recordKeyOf(vsid: number, ca: string | undefined, mac: string | undefined): string {
    if (ca !== undefined) return recordKey({ vsid, ca, mac: '', type: ca === '0.0.0.0' || ca === '::' ? 'l2only' : 'static' });
    const m = mac ?? '';
    const l2 = recordKey({ vsid, ca: '0.0.0.0', mac: m, type: 'l2only' });
    const all = this.source.snapshot().lookupRecords.filter((r) => r.vsid === vsid && r.mac === m);
    if (all.length > 1) throw new ConfigError('params.mac', `${all.length} records of VSID ${vsid} have MAC ${m}: name the record by --ca`);
    return all.length === 1 ? recordKey(all[0]) : l2;
  }

  routeKeyOf(routingDomain: string, vsid: number, prefix: string): string {
    return routeKey({ routingDomain, vsid, prefix });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reads

  paViews(): HnvPaView[] {
    return this.source.snapshot().providerAddresses.map((p) => ({ ...structuredClone(p), local: this.mine(p) }));
  }

  recordViews(): HnvRecordView[] {
    const pas = this.source.snapshot().providerAddresses;
    return this.source.snapshot().lookupRecords.map((r) => {
      const owner = pas.find((p) => p.address === r.pa);
      const local = owner !== undefined && this.mine(owner);
      return {
        ...structuredClone(r), location: local ? 'local' : 'remote',
        ...(owner?.host !== undefined ? { paHost: owner.host } : {}), ...(owner ? { paSwitch: owner.switch } : {}),
      };
    });
  }

  show(): HnvShowResult {
    const s = this.source.snapshot();
    const { manager } = this.opts;
    const vsidSet = new Set<number>([...s.lookupRecords.map((r) => r.vsid), ...s.customerRoutes.map((r) => r.vsid)]);
    const ports = new Map<number, string[]>();
    for (const sw of this.opts.switches()) {
      for (const p of sw.ports) {
        if (p.virtualSubnetId === undefined) continue;
        vsidSet.add(p.virtualSubnetId);
        ports.set(p.virtualSubnetId, [...(ports.get(p.virtualSubnetId) ?? []), `${sw.name}/${p.name}`]);
      }
    }
    // the data path's own view (policy/hnv), where it exports one: next hops and per-VSID counters
    const runtime = this.opts.switches().map((sw) => {
      try {
        return { switch: sw.name, view: manager.hnvRuntime?.(sw.name) ?? null };
      } catch {
        return { switch: sw.name, view: null };
      }
    });
    const vsids = [...vsidSet].sort((a, b) => a - b).map((vsid): HnvVsidView => {
      let counters: Record<string, number> | null = null;
      for (const r of runtime) {
        const c = r.view?.vsids?.find((v) => v.vsid === vsid)?.counters;
        if (!c) continue;
        counters ??= {};
        for (const [k, n] of Object.entries(c)) counters[k] = (counters[k] ?? 0) + n;
      }
      // the VM MTU of the VSID on the narrowest uplink among the switches with a port in it
      const mtus = this.opts.switches().filter((sw) => sw.ports.some((p) => p.virtualSubnetId === vsid)).map((sw) => {
        const info = (() => { try { return manager.showSwitch(sw.name); } catch { return null; } })();
        return vsidMtu(vsid, s, info?.ports.find((x) => x.kind === 'external')?.mtu ?? DEFAULT_UNDERLAY_MTU);
      });
      return {
        vsid,
        routingDomain: s.customerRoutes.find((r) => r.vsid === vsid)?.routingDomain ?? null,
        records: s.lookupRecords.filter((r) => r.vsid === vsid).length,
        ports: ports.get(vsid) ?? [],
        mtu: mtus.length > 0 ? Math.min(...mtus) : null,
        counters,
      };
    });
    const hops = runtime.filter((r) => r.view?.nextHops !== undefined).map((r) => ({ switch: r.switch, entries: r.view!.nextHops! }));
    return {
      source: this.source.status(),
      host: this.host,
      providerAddresses: this.paViews(),
      lookupRecords: this.recordViews(),
      customerRoutes: structuredClone(s.customerRoutes),
      vsids,
      nextHops: runtime.some((r) => r.view !== null) ? hops : null,
    };
  }

  async close(): Promise<void> {
    await this.useLocal();
    await this.local.close();
  }
}

/** the snapshot's object count, for logs */
export function countText(s: HnvPolicySnapshot): string {
  return `${s.providerAddresses.length} PAs, ${s.lookupRecords.length} records, ${s.customerRoutes.length} routes`;
}
