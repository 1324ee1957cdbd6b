/**
 * The capability views handed to extensions: one object per extension per worker, re-pointed at each
 * batch (no allocation per batch or frame). The kind rules are enforced by what each class HAS:
 * CaptureBatchView has no mutating method at all, FilterBatchView adds drop/clone/exclude,
 * ForwardBatchView adds destinations. Batch and pool live in private (#) fields, so an extension
 * cannot reach the frame bytes except through these methods. Direction rules are checked at run
 * time (destinations only on ingress, exclusions only on egress) against a direction only the
 * pipeline can set; the mutating methods check the view's class brand (a capture view passed to
 * FilterBatchView.prototype.drop.call throws), `matches` takes only matchers compiled by
 * packet/match.ts and never hands the frame pool to extension code, and the prototypes are frozen.
 */
import { Batch, DST_WORDS, DstMode } from '../core/batch.js';
import { DropReason } from '../core/drop-reasons.js';
import type { FramePool } from '../core/frame-pool.js';
import type { CaptureView, Direction, FilterView, ForwardView, OwnedFrame, PortPolicy } from '../extensions/api.js';
import { matchInPlace } from '../packet/match.js';
import type { FrameOwnership } from './ownership.js';
import { EMPTY_PORT_POLICIES, type PortPolicyTable } from './port-policies.js';

const EXT_DROP = DropReason['extension-drop'];
const SAME_PORT = DropReason['same-port'];

/**
 * Which ports exist right now and whose link is down (fan-out floods to attached ports that are up;
 * views never show a port that is down as a destination); maintained by the engine.
 */
export interface PortPresence {
  readonly attached: Uint8Array;
  readonly linkDown: Uint8Array | null;
}

/** module-private access to a view's batch and pool (subclasses here use these; extensions cannot) */
let batchOf: (v: ReaderView) => Batch;
let poolOf: (v: ReaderView) => FramePool;
let dropWordsOf: (v: ReaderView) => (string | undefined)[];
let bindTo: (v: ReaderView, batch: Batch, direction: Direction) => void;

/** pipeline side: point a view at a batch and a direction (not reachable from extension code) */
export function bindView(v: ReaderView, batch: Batch, direction: Direction): void {
  bindTo(v, batch, direction);
}

/** the reason word of the last drop of frame i by this view's extension (trace) */
export function dropWordOf(v: ReaderView, i: number): string | undefined {
  return dropWordsOf(v)[i];
}

/** forget the drop words of the first n frames (a traced frame's word must come from this call) */
export function clearDropWords(v: ReaderView, n: number): void {
  dropWordsOf(v).fill(undefined, 0, n);
}

export class ReaderView {
  static {
    batchOf = (v) => v.#batch;
    poolOf = (v) => v.#pool;
    dropWordsOf = (v) => v.#dropWords;
    bindTo = (v, batch, direction) => { v.#batch = batch; v.#direction = direction; };
  }

  #batch: Batch;
  #pool: FramePool;
  readonly #ports: PortPresence;
  readonly #policies: PortPolicyTable;
  #direction: Direction = 'ingress';
  /** reason word of the last drop per frame (trace); set by FilterBatchView.drop */
  readonly #dropWords: (string | undefined)[];

  constructor(pool: FramePool, ports: PortPresence, capacity: number, policies: PortPolicyTable = EMPTY_PORT_POLICIES) {
    this.#pool = pool;
    this.#ports = ports;
    this.#policies = policies;
    this.#batch = new Batch(1);
    this.#dropWords = new Array<string | undefined>(capacity).fill(undefined);
  }

  get direction(): Direction { return this.#direction; }

  get count(): number { return this.#batch.count; }
  get inPort(): number { return this.#batch.inPort; }
  dropped(i: number): boolean { return this.#batch.reason[i] !== 0; }
  length(i: number): number { return this.#pool.len[this.#batch.ids[i]]; }

  private off(i: number, off: number): number {
    const id = this.#batch.ids[i];
    const pool = this.#pool;
    if (off < 0 || off >= pool.len[id]) return -1;
    if (off >= pool.len[id] - pool.zc[id << 2]) pool.whole(id); // past the headers of a zero-copy frame
    return id * pool.slotSize + pool.start[id] + off;
  }

  /** byte at off, or -1 past the end */
  byte(i: number, off: number): number {
    const o = this.off(i, off);
    return o < 0 ? -1 : this.#pool.bytes[o];
  }

  /** big-endian u16 at off, or -1 past the end */
  u16(i: number, off: number): number {
    const o = this.off(i, off + 1);
    return o < 0 ? -1 : (this.#pool.bytes[o - 1] << 8) | this.#pool.bytes[o];
  }

  /** big-endian u32 at off, or -1 past the end */
  u32(i: number, off: number): number {
    const o = this.off(i, off + 3);
    if (o < 0) return -1;
    const b = this.#pool.bytes;
    return ((b[o - 3] << 24) | (b[o - 2] << 16) | (b[o - 1] << 8) | b[o]) >>> 0;
  }

  readMacs(off: number, hi16: Int32Array, lo32: Int32Array): void {
    const b = this.#batch;
    const pool = this.#pool;
    const bytes = pool.bytes;
    const n = Math.min(b.count, hi16.length, lo32.length);
    for (let i = 0; i < n; i++) {
      const id = b.ids[i];
      if (off < 0 || off + 6 > pool.len[id]) { hi16[i] = -1; lo32[i] = 0; continue; }
      if (off + 6 > pool.resident(id)) pool.whole(id);
      const o = id * pool.slotSize + pool.start[id] + off;
      hi16[i] = (bytes[o] << 8) | bytes[o + 1];
      lo32[i] = (bytes[o + 2] << 24) | (bytes[o + 3] << 16) | (bytes[o + 4] << 8) | bytes[o + 5];
    }
  }

  copy(i: number, dst: Uint8Array, dstOff: number, max: number): number {
    const id = this.#batch.ids[i];
    const n = Math.min(max, this.#pool.len[id], dst.length - dstOff);
    if (n > this.#pool.resident(id)) this.#pool.whole(id);
    const src = id * this.#pool.slotSize + this.#pool.start[id];
    const b = this.#pool.bytes;
    for (let k = 0; k < n; k++) dst[dstOff + k] = b[src + k];
    return n;
  }

  portOf(_i: number): number { return this.#batch.inPort; }

  vlan(i: number): number { return this.#pool.vlan[this.#batch.ids[i]]; }

  portPolicy(port: number): PortPolicy | undefined { return this.#policies.policy(port); }

  matches(i: number, matcher: { matches(bytes: Uint8Array, off: number, len: number): boolean }): boolean {
    const id = this.#batch.ids[i];
    this.#pool.whole(id); // a matcher may read any byte
    // matchInPlace runs packet/match.ts's own code for a matcher compiled there (anything else
    // throws): extension code never receives the pool's buffer
    return matchInPlace(matcher, this.#pool.bytes, id * this.#pool.slotSize + this.#pool.start[id], this.#pool.len[id]);
  }

  hasDestination(i: number, port: number): boolean {
    const b = this.#batch;
    if (b.reason[i] !== 0 || port < 0 || port >= DST_WORDS * 32) return false;
    const down = this.#ports.linkDown;
    if (down !== null && down[port] === 1) return false;
    if (b.hasExclusions && b.isExcluded(i, port)) return false;
    const mode = b.dstMode[i];
    if (mode === DstMode.unicast) return b.dstPort[i] === port;
    if (mode === DstMode.flood) return port !== b.inPort && this.#ports.attached[port] === 1;
    if (mode === DstMode.set) return (b.dstSet[i * DST_WORDS + (port >>> 5)] & (1 << (port & 31))) !== 0;
    return false;
  }

  destinations(i: number, out: Int32Array): number {
    let n = 0;
    const b = this.#batch;
    if (b.reason[i] !== 0) return 0;
    const mode = b.dstMode[i];
    if (mode === DstMode.unicast) {
      if (this.hasDestination(i, b.dstPort[i]) && n < out.length) out[n++] = b.dstPort[i];
      return n;
    }
    if (mode === DstMode.none) return 0;
    const att = this.#ports.attached;
    for (let p = 0; p < att.length && n < out.length; p++) {
      if (att[p] === 1 && this.hasDestination(i, p)) out[n++] = p;
    }
    return n;
  }
}

export class CaptureBatchView extends ReaderView implements CaptureView {
  readonly kind = 'capture' as const;
}

export class FilterBatchView extends ReaderView implements FilterView {
  readonly kind: 'filter' | 'forward' = 'filter';
  readonly #owner: FrameOwnership;
  readonly #me: number;

  readonly #onPoolExhausted: () => void;

  constructor(
    pool: FramePool, ports: PortPresence, capacity: number, owner: FrameOwnership, me: number, onPoolExhausted: () => void,
    policies: PortPolicyTable = EMPTY_PORT_POLICIES,
  ) {
    super(pool, ports, capacity, policies);
    this.#owner = owner;
    this.#me = me;
    this.#onPoolExhausted = onPoolExhausted;
  }

  /** throws unless `v` really is a filter or forward view (a capture view cannot borrow these methods) */
  static #check(v: FilterBatchView): void {
    if (!(#owner in v)) throw new TypeError('not a filter or forward view');
  }

  drop(i: number, reason?: string): void {
    FilterBatchView.#check(this);
    const batch = batchOf(this);
    if (batch.reason[i] !== 0) return;
    batch.drop(i, EXT_DROP);
    dropWordsOf(this)[i] = reason;
  }

  clone(i: number): OwnedFrame | -1 {
    FilterBatchView.#check(this);
    const pool = poolOf(this);
    const src = batchOf(this).ids[i];
    const id = pool.alloc();
    if (id < 0) { this.#onPoolExhausted(); return -1; }
    pool.whole(src); // the copy takes every byte
    const s = src * pool.slotSize;
    const d = id * pool.slotSize;
    pool.bytes.copyWithin(d, s, s + 10); // the virtio-net header travels with the copy
    pool.bytes.copyWithin(d + pool.start[id], s + pool.start[src], s + pool.start[src] + pool.len[src]);
    pool.len[id] = pool.len[src];
    pool.vlan[id] = pool.vlan[src];
    this.#owner.claim(id, this.#me);
    return id as OwnedFrame;
  }

  excludeDestination(i: number, port: number): void {
    FilterBatchView.#check(this);
    if (this.direction !== 'egress') throw new Error('excludeDestination is only allowed on the egress path');
    if (port < 0 || port >= DST_WORDS * 32) return;
    batchOf(this).excludeDestination(i, port);
  }
}

export class ForwardBatchView extends FilterBatchView implements ForwardView {
  override readonly kind = 'forward' as const;
  readonly #forward = true;

  private ingressOnly(): void {
    if (!(#forward in this) || !this.#forward) throw new TypeError('not a forward view');
    if (this.direction !== 'ingress') throw new Error('destinations are set on the ingress path only');
  }

  setDestinations(i: number, ports: ArrayLike<number>): void {
    this.ingressOnly();
    const batch = batchOf(this);
    batch.setDestinations(i, ports);
    // never back out of the port it came from
    const p = batch.inPort;
    if (p >= 0) batch.dstSet[i * DST_WORDS + (p >>> 5)] &= ~(1 << (p & 31));
  }

  setDestination(i: number, port: number): void {
    this.ingressOnly();
    const batch = batchOf(this);
    if (port === batch.inPort) {
      batch.drop(i, SAME_PORT);
      return;
    }
    batch.dstMode[i] = DstMode.unicast;
    batch.dstPort[i] = port;
  }

  flood(i: number): void {
    this.ingressOnly();
    batchOf(this).dstMode[i] = DstMode.flood;
  }
}

// extension code may not replace the methods every view shares
for (const c of [ReaderView, CaptureBatchView, FilterBatchView, ForwardBatchView]) {
  Object.freeze(c.prototype);
  Object.freeze(c);
}
