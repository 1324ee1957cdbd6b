/**
 * The HNV policy source of the local desired-state document (the default; hnv/etcd-source.ts is the other).
 * Its snapshot is the document's `hnv` lists as last applied (DesiredState's `setHnv` change calls
 * `applied`); its put/remove are desired-state commits through the one diff-and-apply path (the server
 * passes `commit`: the lock of every switch, validate, diff, apply, persist), so an HNV change made through
 * the API and one made by `config apply` are the same change.
 */
import type { HnvConfig, HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';
import { snapshotOf, withSnapshot } from '../config/hnv.js';
import { paKey, recordKey, routeKey, type HnvObjectKind, type HnvPolicySnapshot, type HnvPolicySource, type HnvSourceStatus } from './model.js';

/** commits a new `hnv` of the document, made by `edit` from the current one (throws: nothing changed) */
export type HnvCommit = (edit: (current: HnvConfig | undefined) => HnvConfig | undefined) => Promise<void>;

export type HnvObject = HnvProviderAddress | HnvLookupRecord | HnvCustomerRoute;

/** the key of an object of a kind (hnv/model.ts) */
export function keyOf(kind: HnvObjectKind, obj: HnvObject): string {
  switch (kind) {
    case 'pa': return paKey(obj as HnvProviderAddress);
    case 'record': return recordKey(obj as HnvLookupRecord);
    case 'route': return routeKey(obj as HnvCustomerRoute);
  }
}

/** the snapshot with `obj` added, or put in place of the object with its key (a record "moves") */
export function upsert(s: HnvPolicySnapshot, kind: HnvObjectKind, obj: HnvObject): { snapshot: HnvPolicySnapshot; index: number } {
  const put = <T extends HnvObject>(list: T[]): { list: T[]; index: number } => {
    const k = keyOf(kind, obj);
    const i = list.findIndex((x) => keyOf(kind, x) === k);
    if (i < 0) return { list: [...list, obj as T], index: list.length };
    return { list: list.map((x, j) => (j === i ? (obj as T) : x)), index: i };
  };
  switch (kind) {
    case 'pa': { const r = put(s.providerAddresses); return { snapshot: { ...s, providerAddresses: r.list }, index: r.index }; }
    case 'record': { const r = put(s.lookupRecords); return { snapshot: { ...s, lookupRecords: r.list }, index: r.index }; }
    case 'route': { const r = put(s.customerRoutes); return { snapshot: { ...s, customerRoutes: r.list }, index: r.index }; }
  }
}

/** the snapshot without the object of this key, or null when there is none */
export function without(s: HnvPolicySnapshot, kind: HnvObjectKind, key: string): HnvPolicySnapshot | null {
  const drop = <T extends HnvObject>(list: T[]): T[] | null => {
    const next = list.filter((x) => keyOf(kind, x) !== key);
    return next.length === list.length ? null : next;
  };
  switch (kind) {
    case 'pa': { const l = drop(s.providerAddresses); return l && { ...s, providerAddresses: l }; }
    case 'record': { const l = drop(s.lookupRecords); return l && { ...s, lookupRecords: l }; }
    case 'route': { const l = drop(s.customerRoutes); return l && { ...s, customerRoutes: l }; }
  }
}

export class LocalHnvSource implements HnvPolicySource {
  readonly kind = 'local' as const;
  private current: HnvPolicySnapshot = snapshotOf(undefined);
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly commit: HnvCommit) {}

  snapshot(): HnvPolicySnapshot {
    return this.current;
  }

  status(): HnvSourceStatus {
    return { source: 'local', connected: true };
  }

  /** the document's `hnv` was applied (a commit, `config apply`, restore, or their undo) */
  applied(h: HnvConfig | undefined): void {
    this.current = structuredClone(snapshotOf(h));
    for (const l of this.listeners) l();
  }

  put(kind: 'pa', obj: HnvProviderAddress): Promise<void>;
  put(kind: 'record', obj: HnvLookupRecord): Promise<void>;
  put(kind: 'route', obj: HnvCustomerRoute): Promise<void>;
  async put(kind: HnvObjectKind, obj: HnvObject): Promise<void> {
    await this.commit((h) => withSnapshot(h, upsert(snapshotOf(h), kind, obj).snapshot));
  }

  async remove(kind: HnvObjectKind, key: string): Promise<boolean> {
    let found = false;
    await this.commit((h) => {
      const next = without(snapshotOf(h), kind, key);
      found = next !== null;
      return next ? withSnapshot(h, next) : h;
    });
    return found;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.listeners.length = 0;
  }
}
