/**
 * ExtensionContext as the data path implements it: one per extension per worker. Frames an
 * extension allocates or clones are "owned" (pipeline/ownership.ts): only those can be written,
 * injected or released through the context.
 */
import type { FramePool } from '../core/frame-pool.js';
import { VNET_HDR_LEN } from '../core/frame-pool.js';
import type { ExtensionContext, OwnedFrame, PortFeatureSpec, PortFeatureValue, PortPolicy, SwitchMacTable } from '../extensions/api.js';
import { EMPTY_PORT_POLICIES, featureValue, type PortPolicyTable } from './port-policies.js';
import type { FrameOwnership } from './ownership.js';
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';
import { DropReason } from '../core/drop-reasons.js';

const POOL_EXHAUSTED = DropReason['pool-exhausted'];
const INJECT_QUEUE_FULL = DropReason['inject-queue-full'];

/**
 * The engine's queue of frames injected/originated by extensions, processed at the next breath;
 * `entry` is the injector's slot, which the engine maps to the stage just below the injector.
 */
export class InjectQueue {
  readonly ids: Uint32Array;
  readonly asPort: Int32Array;
  readonly entry: Int32Array;
  count = 0;
  constructor(capacity: number) {
    this.ids = new Uint32Array(capacity);
    this.asPort = new Int32Array(capacity);
    this.entry = new Int32Array(capacity);
  }
  push(id: number, asPort: number, entry: number): boolean {
    if (this.count >= this.ids.length) return false;
    this.ids[this.count] = id;
    this.entry[this.count] = entry;
    this.asPort[this.count++] = asPort;
    return true;
  }
}

/** counts a frame that never made it into a batch (pool exhausted, inject queue full) under a reason */
export type LostFrameCounter = (reason: number, asPort: number) => void;

/** Port names by index, shared by every context of a worker. */
export class PortDirectory {
  readonly names: (string | undefined)[] = [];
  version = 0;
  set(index: number, name: string | undefined): void {
    this.names[index] = name;
    this.version++;
  }
  indexOf(name: string): number {
    return this.names.indexOf(name);
  }
}

/** per-extension counter record: these first, then the extension's own */
export const EXT_BUILTIN_COUNTERS = ['batches', 'frames', 'errors', 'drops'] as const;
export const EXT_STRIDE = 32;
export const MAX_EXTENSION_SLOTS = 64;

export class DataPathContext implements ExtensionContext {
  readonly switchName: string;
  readonly workerIndex: number;
  readonly counters: Float64Array;
  now = 0;
  tracing = false;
  readonly fdb: SwitchMacTable | null;
  readonly maxPorts = MAX_PORTS_PER_SWITCH;
  readonly maxBatch: number;
  get nowMs(): number { return performance.timeOrigin + performance.now(); }
  readonly #pool: FramePool;
  readonly #owner: FrameOwnership;
  readonly #me: number;
  readonly #ports: PortDirectory;
  readonly #inject: InjectQueue;
  readonly #counterNames: string[];
  readonly #log: (m: string) => void;
  readonly #lost: LostFrameCounter;
  readonly #policies: PortPolicyTable;
  readonly #extName: string;
  readonly #featureSpec: PortFeatureSpec;

  constructor(opts: {
    switchName: string; workerIndex: number; pool: FramePool; owner: FrameOwnership; me: number;
    ports: PortDirectory; inject: InjectQueue; counters: Float64Array; counterNames: string[]; log: (m: string) => void;
    lost: LostFrameCounter; fdb: SwitchMacTable | null; maxBatch: number;
    /** the worker's port policies, the extension's name and its port feature spec (ctx.portFeature) */
    policies?: PortPolicyTable; extName?: string; portFeatures?: PortFeatureSpec;
  }) {
    this.#policies = opts.policies ?? EMPTY_PORT_POLICIES;
    this.#extName = opts.extName ?? '';
    this.#featureSpec = opts.portFeatures ?? {};
    this.maxBatch = opts.maxBatch;
    this.fdb = opts.fdb;
    this.switchName = opts.switchName;
    this.workerIndex = opts.workerIndex;
    this.#pool = opts.pool;
    this.#owner = opts.owner;
    this.#me = opts.me;
    this.#ports = opts.ports;
    this.#inject = opts.inject;
    this.counters = opts.counters;
    this.#counterNames = opts.counterNames;
    this.#log = opts.log;
    this.#lost = opts.lost;
  }

  counterIndex(name: string): number {
    const k = this.#counterNames.indexOf(name);
    if (k < 0) throw new Error(`no counter "${name}" declared`);
    return k;
  }

  portIndex(name: string): number { return this.#ports.indexOf(name); }
  portName(index: number): string | undefined { return this.#ports.names[index]; }
  get portsVersion(): number { return this.#ports.version; }
  get policyVersion(): number { return this.#policies.version; }
  portPolicy(port: number): PortPolicy | undefined { return this.#policies.policy(port); }
  portFeature(port: number, key: string): PortFeatureValue | undefined {
    const spec = Object.hasOwn(this.#featureSpec, key) ? this.#featureSpec[key] : undefined;
    return featureValue(spec, this.#policies.feature(port, this.#extName, key));
  }
  log(message: string): void { this.#log(message); }

  private mine(frame: number): number {
    if (!this.#owner.owns(frame, this.#me)) throw new Error(`frame ${frame} is not owned by this extension`);
    return frame * this.#pool.slotSize + this.#pool.start[frame];
  }

  allocate(length: number): OwnedFrame | -1 {
    const pool = this.#pool;
    if (length < 0 || length > pool.slotSize - pool.start[0] - 1) throw new RangeError(`allocate(${length}): bad length`);
    const id = pool.alloc();
    if (id < 0) { this.#lost(POOL_EXHAUSTED, -1); return -1; }
    const base = id * pool.slotSize;
    pool.bytes.fill(0, base, base + VNET_HDR_LEN);
    pool.bytes.fill(0, base + pool.start[id], base + pool.start[id] + length);
    pool.len[id] = length;
    this.#owner.claim(id, this.#me);
    return id as OwnedFrame;
  }

  write(frame: OwnedFrame, off: number, src: ArrayLike<number>, srcOff = 0, len = src.length - srcOff): void {
    const o = this.mine(frame);
    if (srcOff < 0 || len < 0 || srcOff + len > src.length) throw new RangeError('write: source range outside src');
    if (off < 0 || off + len > this.#pool.len[frame]) throw new RangeError('write past the end of the frame');
    const b = this.#pool.bytes;
    for (let k = 0; k < len; k++) b[o + off + k] = src[srcOff + k];
  }

  writeByte(frame: OwnedFrame, off: number, value: number): void {
    const o = this.mine(frame);
    if (off < 0 || off >= this.#pool.len[frame]) throw new RangeError('write past the end of the frame');
    this.#pool.bytes[o + off] = value;
  }

  writeU16(frame: OwnedFrame, off: number, value: number): void {
    this.writeByte(frame, off, value >>> 8);
    this.writeByte(frame, off + 1, value);
  }

  writeU32(frame: OwnedFrame, off: number, value: number): void {
    this.writeU16(frame, off, value >>> 16);
    this.writeU16(frame, off + 2, value);
  }

  readOwned(frame: OwnedFrame, off: number): number {
    const o = this.mine(frame);
    return off >= 0 && off < this.#pool.len[frame] ? this.#pool.bytes[o + off] : -1;
  }

  ownedLength(frame: OwnedFrame): number {
    this.mine(frame);
    return this.#pool.len[frame];
  }

  setLength(frame: OwnedFrame, length: number): void {
    this.mine(frame);
    const max = this.#pool.slotSize - this.#pool.start[frame];
    if (length < 0 || length > max) throw new RangeError(`setLength(${length}): 0..${max}`);
    this.#pool.len[frame] = length;
  }

  inject(frame: OwnedFrame, asPort = -1): void {
    this.mine(frame);
    this.#owner.clear(frame);
    if (this.tracing) { this.#pool.release(frame); return; } // never sent while tracing
    const port = Number.isInteger(asPort) && asPort >= 0 && asPort < MAX_PORTS_PER_SWITCH ? asPort : -1;
    // the frame enters the ingress path just below this extension (entry key: its slot)
    if (!this.#inject.push(frame, port, this.#me - 1)) {
      this.#pool.release(frame);
      this.#lost(INJECT_QUEUE_FULL, port);
    }
  }

  release(frame: OwnedFrame): void {
    this.mine(frame);
    this.#owner.clear(frame);
    this.#pool.release(frame);
  }
}
