/**
 * HNV policy shared between hosts through etcd (issue 11 item 7; docs/HNV.md "Sharing policy through
 * etcd"; key layout in hnv/etcd-layout.ts).
 *
 * Connected: the whole prefix is read (one range get), then watched from the next revision; each watch
 * response (one etcd event batch) is applied to the in-memory snapshot and the listeners are called
 * once for it. Writes go to etcd only; they reach this host's snapshot through the watch like
 * everybody else's.
 *
 * Losing etcd (the watch stream fails, or a non-recoverable watch error such as a compacted revision):
 * the last snapshot stays in force (forwarding goes on), status says disconnected with the error, the
 * log says so once, and a reconnect is tried with backoff (a fresh client each time). When etcd answers
 * again, everything is read again — a full resync, so deletes made while away are noticed — the log
 * says "etcd back", and the listeners are called. Writes while disconnected fail at once (never queued).
 *
 * Start with etcd down: createEtcdSource does not wait for it (one attempt, bounded by the call
 * deadlines): the source starts disconnected with the last-known snapshot from `cacheFile` when given
 * (written after every applied change while connected), else empty, says which, and keeps retrying.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import type { HnvCustomerRoute, HnvEtcdConfig, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';
import { hnvObjectProblems } from '../config/hnv.js';
import {
  normalizePrefix, objectPath, parseEntry, pathOfIdentity, type HnvObject, type HnvObjectValidator,
} from './etcd-layout.js';
import type { HnvObjectKind, HnvPolicySnapshot, HnvPolicySource, HnvSourceStatus } from './model.js';

export { DEFAULT_HNV_ETCD_PREFIX, type HnvObjectValidator } from './etcd-layout.js';

export interface EtcdSourceOptions {
  log: (m: string) => void;
  /** this daemon's host name (--hnv-host): a PA written without host is this host's */
  host: string;
  /** the object validator (default: config/hnv.ts hnvObjectProblems, as the daemon passes it) */
  validate?: HnvObjectValidator;
  /**
   * where the last snapshot received is kept, to start with it while etcd is unreachable (default:
   * $XVS_STATE_DIR/hnv-etcd-cache.json when the daemon set XVS_STATE_DIR; `undefined`: none)
   */
  cacheFile?: string;
  /** reconnect backoff, ms (default 250 doubling to 2000) */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** per-call deadline, ms (default 3000): a write, a connection attempt */
  callTimeoutMs?: number;
  /** deadline of the range get of the whole prefix, once etcd answered (default 60 000) */
  syncTimeoutMs?: number;
}

/** thrown by put/remove while etcd is unreachable */
export class EtcdUnreachableError extends Error {
  constructor(message: string) { super(message); this.name = 'EtcdUnreachableError'; }
}

interface Entry { kind: HnvObjectKind; obj: HnvObject; text: string }

interface CacheFile { prefix: string; revision: string; savedAt: number; kvs: Record<string, string> }

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

function counts(entries: Map<string, Entry>): string {
  let pa = 0; let record = 0; let route = 0;
  for (const e of entries.values()) { if (e.kind === 'pa') pa++; else if (e.kind === 'record') record++; else route++; }
  return `${record} records, ${pa} PAs, ${route} routes`;
}

class EtcdPolicySource implements HnvPolicySource {
  readonly kind = 'etcd' as const;
  private readonly prefix: string;
  private readonly endpoints: string[];
  private readonly validate: HnvObjectValidator;
  /** key after the prefix → object; the snapshot is built from it (sorted by key) when asked */
  private entries = new Map<string, Entry>();
  private built: HnvPolicySnapshot | undefined;
  private client: Etcd3 | undefined;
  private watcher: Watcher | undefined;
  private connected = false;
  private lastSync: number | undefined;
  private lastError: string | undefined;
  private revision = '0';
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private notifyPending = false;
  private cacheTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** the snapshot came from etcd at least once (else it is the cache's or empty) */
  private readFromEtcd = false;
  /** counts connect attempts, so a stale attempt's results are dropped */
  private generation = 0;
  private readonly listeners: (() => void)[] = [];
  /** writes waiting for the watch to reach their revision */
  private readonly waiters = new Set<{ rev: bigint; resolve: () => void; timer: NodeJS.Timeout }>();

  constructor(cfg: HnvEtcdConfig, private readonly opts: EtcdSourceOptions) {
    this.prefix = normalizePrefix(cfg.prefix);
    this.endpoints = [...cfg.endpoints];
    this.validate = opts.validate ?? hnvObjectProblems;
    this.retryDelay = opts.retryMinMs ?? 250;
  }

  snapshot(): HnvPolicySnapshot {
    if (this.built) return this.built;
    const snap: HnvPolicySnapshot = { providerAddresses: [], lookupRecords: [], customerRoutes: [] };
    for (const k of [...this.entries.keys()].sort()) {
      const e = this.entries.get(k)!;
      if (e.kind === 'pa') snap.providerAddresses.push(e.obj as HnvProviderAddress);
      else if (e.kind === 'record') snap.lookupRecords.push(e.obj as HnvLookupRecord);
      else snap.customerRoutes.push(e.obj as HnvCustomerRoute);
    }
    this.built = snap;
    return snap;
  }

  status(): HnvSourceStatus {
    return {
      source: 'etcd', endpoints: [...this.endpoints], prefix: this.prefix, connected: this.connected,
      ...(this.lastSync !== undefined ? { lastSync: this.lastSync } : {}),
      ...(!this.connected && this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  onChange(listener: () => void): void { this.listeners.push(listener); }

  put(kind: 'pa', obj: HnvProviderAddress): Promise<void>;
  put(kind: 'record', obj: HnvLookupRecord): Promise<void>;
  put(kind: 'route', obj: HnvCustomerRoute): Promise<void>;
  async put(kind: HnvObjectKind, obj: HnvObject): Promise<void> {
    const value: HnvObject = kind === 'pa' && (obj as HnvProviderAddress).host === undefined ? { ...obj, host: this.opts.host } : obj;
    const problems = this.validate(kind, value);
    if (problems.length > 0) throw new Error(`${kind}: ${problems.join('; ')}`);
    const what = `${kind} was not written`;
    const client = this.writable(what);
    const key = this.prefix + objectPath(kind, value, this.opts.host);
    const r = await client.put(key).value(JSON.stringify(value)).exec().catch((e: unknown) => { throw this.writeFailed(e, what); });
    await this.seen(r.header.revision);
  }

  async remove(kind: HnvObjectKind, identity: string): Promise<boolean> {
    const p = pathOfIdentity(kind, identity, this.opts.host);
    if (p instanceof Error) throw p;
    const what = `${kind} ${identity} was not removed`;
    const client = this.writable(what);
    const r = await client.delete().key(this.prefix + p).exec().catch((e: unknown) => { throw this.writeFailed(e, what); });
    await this.seen(r.header.revision);
    return Number(r.deleted) > 0;
  }

  private writeFailed(e: unknown, what: string): Error {
    return new EtcdUnreachableError(`etcd write failed (${this.endpoints.join(',')}: ${errorText(e)}): ${what}`);
  }

  /**
   * Read your writes: a write returns once this host's snapshot has it (the watch delivered its
   * revision), so `xvs hnv show` right after `add` shows it. Bounded by the call timeout: a write
   * etcd acknowledged is done even if the watch is slow.
   */
  private seen(revision: string): Promise<void> {
    const rev = BigInt(revision);
    if (BigInt(this.revision) >= rev || !this.connected) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { rev, resolve, timer: setTimeout(() => { this.waiters.delete(w); resolve(); }, this.opts.callTimeoutMs ?? 3000) };
      this.waiters.add(w);
    });
  }

  private releaseWaiters(all: boolean): void {
    const now = BigInt(this.revision);
    for (const w of this.waiters) {
      if (all || w.rev <= now) { clearTimeout(w.timer); this.waiters.delete(w); w.resolve(); }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.cacheTimer) { clearTimeout(this.cacheTimer); this.writeCache(); }
    this.dropConnection();
  }

  /** the client while connected; else the error a write reports */
  private writable(what: string): Etcd3 {
    if (this.closed) throw new EtcdUnreachableError(`etcd source closed: ${what}`);
    if (!this.connected || !this.client) {
      throw new EtcdUnreachableError(`etcd unreachable (${this.endpoints.join(',')}: ${this.lastError ?? 'not connected yet'}): ${what} (writes are not queued; retry when \`xvs hnv show\` says connected)`);
    }
    return this.client;
  }

  /** first attempt; resolves when connected or when the attempt failed (then retried in the background) */
  async start(): Promise<void> {
    const ok = await this.connect();
    if (ok) return;
    // (the prefix may have been read before the watch failed: that is newer than any cache)
    const cached = this.readFromEtcd ? undefined : this.readCache();
    if (cached) {
      this.entries = cached.entries;
      this.built = undefined;
      this.opts.log(`etcd unreachable at start (${this.lastError}): starting with the last-known ${counts(this.entries)} from ${this.opts.cacheFile} (saved ${new Date(cached.savedAt).toISOString()}); retrying`);
      this.notify();
    } else {
      this.opts.log(`etcd unreachable at start (${this.lastError}): starting with no HNV records; retrying`);
    }
    this.scheduleRetry();
  }

  /** one attempt: read the prefix, replace the snapshot, watch from the next revision */
  private async connect(): Promise<boolean> {
    const gen = ++this.generation;
    const timeout = this.opts.callTimeoutMs ?? 3000;
    const client = new Etcd3({
      hosts: this.endpoints,
      // a failed call is tried once on each other endpoint, not 3 times as etcd3 does by default (3 times
      // the deadline before a daemon starting without etcd, or a write, gives up)
      faultHandling: { global: this.endpoints.length > 1 ? retry(handleWhen(isRecoverableError), { maxAttempts: this.endpoints.length - 1 }) : noop },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // notice a peer that went silent (no RST) within ~15 s; etcd's default minimum ping interval is 5 s
      // the whole prefix comes in one range response: 40 000 records are ~5.6 MB, over gRPC's default 4 MiB
      grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000, 'grpc.max_receive_message_length': 1 << 30 },
    });
    let changed = false;
    let watcher: Watcher | undefined;
    try {
      // reachable? (a one-key get, bounded by the call timeout); then the whole prefix, which may be
      // large (100 000 records: ~2 s), under a longer deadline
      await client.get(this.prefix).exec();
      const res = await client.getAll().prefix(this.prefix).options({ deadline: Date.now() + (this.opts.syncTimeoutMs ?? 60_000) }).exec();
      if (gen !== this.generation || this.closed) { client.close(); return false; }
      const entries = new Map<string, Entry>();
      for (const kv of res.kvs) this.applyPut(entries, kv);
      const wasAway = this.lastError !== undefined;
      changed = this.differs(entries);
      this.entries = entries;
      this.readFromEtcd = true;
      this.built = undefined;
      this.revision = res.header.revision;
      const w = client.watch().prefix(this.prefix).startRevision(String(BigInt(this.revision) + 1n)).watcher();
      // current before it is connected: events may come in the same read as the "created" answer
      watcher = w;
      this.watcher = w;
      w.on('data', (r: IWatchResponse) => this.onWatchData(w, r));
      w.on('disconnected', (e: Error) => this.lost(w, e));
      w.on('error', (e: Error) => this.lost(w, e));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`watch not established within ${timeout} ms`)), timeout);
        w.once('connected', () => { clearTimeout(t); resolve(); });
        w.once('disconnected', (e: Error) => { clearTimeout(t); reject(e); });
        w.once('error', (e: Error) => { clearTimeout(t); reject(e); });
      });
      if (gen !== this.generation || this.closed) throw new Error('etcd source closed');
      this.client = client;
      this.connected = true;
      this.lastSync = Date.now();
      this.retryDelay = this.opts.retryMinMs ?? 250;
      if (wasAway) this.opts.log(`etcd back (${this.endpoints.join(',')}): resynced ${counts(entries)} at revision ${this.revision}${changed ? ', changed while away' : ', nothing changed while away'}`);
      else this.opts.log(`etcd: ${counts(entries)} under ${this.prefix} at revision ${this.revision}; watching`);
      this.lastError = undefined;
      this.scheduleCache();
      // a resync always tells the listeners: status changed, and the snapshot may have
      this.notify();
      return true;
    } catch (e) {
      if (watcher) {
        if (this.watcher === watcher) this.watcher = undefined;
        watcher.removeAllListeners();
        watcher.on('error', () => { /* closing */ });
      }
      client.close();
      if (gen === this.generation) this.lastError = errorText(e);
      // read, but not watching: the policy read is in force all the same
      if (changed && !this.closed) this.notify();
      return false;
    }
  }

  private differs(next: Map<string, Entry>): boolean {
    if (next.size !== this.entries.size) return true;
    for (const [k, e] of next) if (this.entries.get(k)?.text !== e.text) return true;
    return false;
  }

  /** a put read from etcd; a bad value is logged with its key and skipped (an older good value stays out too) */
  private applyPut(entries: Map<string, Entry>, kv: IKeyValue): boolean {
    const key = kv.key.toString();
    const rel = key.slice(this.prefix.length);
    const text = kv.value.toString();
    const parsed = parseEntry(rel, text, this.validate);
    if ('skip' in parsed) {
      this.opts.log(`etcd: skipping ${key}: ${parsed.skip}`);
      return entries.delete(rel);
    }
    if (entries.get(rel)?.text === text) return false;
    entries.set(rel, { kind: parsed.kind, obj: parsed.obj, text });
    return true;
  }

  private onWatchData(watcher: Watcher, res: IWatchResponse): void {
    if (watcher !== this.watcher || this.closed) return;
    let changed = false;
    for (const ev of res.events) {
      if (ev.type === 'Put') changed = this.applyPut(this.entries, ev.kv) || changed;
      else changed = this.entries.delete(ev.kv.key.toString().slice(this.prefix.length)) || changed;
    }
    this.revision = res.header.revision;
    this.lastSync = Date.now();
    this.releaseWaiters(false);
    if (changed) {
      this.built = undefined;
      this.scheduleCache();
      this.notify();
    }
  }

  private lost(watcher: Watcher, e: Error): void {
    // while connect() waits for the watch, it handles a failure itself
    if (watcher !== this.watcher || this.closed || !this.connected) return;
    this.lastError = errorText(e);
    this.connected = false;
    this.opts.log(`etcd unreachable (${this.endpoints.join(',')}: ${this.lastError}): keeping ${counts(this.entries)} from revision ${this.revision} (forwarding continues with them); retrying`);
    this.dropConnection();
    this.scheduleRetry();
  }

  private dropConnection(): void {
    this.releaseWaiters(true);
    const w = this.watcher; const c = this.client;
    this.watcher = undefined; this.client = undefined; this.connected = false;
    if (w) { w.removeAllListeners(); w.on('error', () => { /* closing */ }); w.cancel().catch(() => { /* etcd gone */ }); }
    c?.close();
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      void this.connect().then((ok) => { if (!ok) this.scheduleRetry(); });
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, this.opts.retryMaxMs ?? 2000);
  }

  /** one listener call per burst (a watch response, a resync), after the current turn */
  private notify(): void {
    if (this.notifyPending) return;
    this.notifyPending = true;
    setImmediate(() => {
      this.notifyPending = false;
      if (this.closed) return;
      for (const l of this.listeners) {
        try { l(); } catch (e) { this.opts.log(`etcd: change listener failed: ${errorText(e)}`); }
      }
    });
  }

  private scheduleCache(): void {
    if (!this.opts.cacheFile || this.cacheTimer) return;
    this.cacheTimer = setTimeout(() => { this.cacheTimer = undefined; this.writeCache(); }, 200);
  }

  /** written atomically (temp file + rename) */
  private writeCache(): void {
    const file = this.opts.cacheFile;
    if (!file) return;
    const kvs: Record<string, string> = {};
    for (const [k, e] of this.entries) kvs[k] = e.text;
    const doc: CacheFile = { prefix: this.prefix, revision: this.revision, savedAt: Date.now(), kvs };
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, `${JSON.stringify(doc)}\n`, { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.opts.log(`etcd: could not save the last-known snapshot to ${file}: ${errorText(e)}`);
    }
  }

  private readCache(): { entries: Map<string, Entry>; savedAt: number } | undefined {
    const file = this.opts.cacheFile;
    if (!file) return undefined;
    let doc: CacheFile;
    try { doc = JSON.parse(readFileSync(file, 'utf8')) as CacheFile; } catch { return undefined; }
    if (doc.prefix !== this.prefix || typeof doc.kvs !== 'object' || doc.kvs === null) return undefined;
    const entries = new Map<string, Entry>();
    for (const [rel, text] of Object.entries(doc.kvs)) {
      const parsed = parseEntry(rel, String(text), this.validate);
      if ('skip' in parsed) this.opts.log(`etcd: skipping ${this.prefix}${rel} from ${file}: ${parsed.skip}`);
      else entries.set(rel, { kind: parsed.kind, obj: parsed.obj, text: String(text) });
    }
    return { entries, savedAt: doc.savedAt };
  }
}

/**
 * The etcd policy source of this daemon. Resolves after one connection attempt (bounded by
 * callTimeoutMs): connected with the whole prefix read, or disconnected with the cached or an empty
 * snapshot and retrying in the background (logged).
 */
export async function createEtcdSource(
  cfg: HnvEtcdConfig,
  options: Partial<EtcdSourceOptions> & Pick<EtcdSourceOptions, 'log'> | ((m: string) => void),
): Promise<HnvPolicySource> {
  if (cfg.endpoints.length === 0) throw new Error('hnv.etcd.endpoints: expected at least one endpoint (http://127.0.0.1:2379)');
  // (cfg, log) as the control plane's factory calls it, or (cfg, options); the host: options, cfg, this machine
  const given = typeof options === 'function' ? { log: options } : options;
  const opts: EtcdSourceOptions = { ...given, host: given.host ?? cfg.host ?? hostname() };
  // the daemon's state directory (its config file's, set by `xvs daemon`) keeps the last-known snapshot
  const stateDir = process.env['XVS_STATE_DIR'];
  if (!('cacheFile' in given) && stateDir) opts.cacheFile = path.join(stateDir, 'hnv-etcd-cache.json');
  const src = new EtcdPolicySource(cfg, opts);
  await src.start();
  return src;
}
