/**
 * The xvs extension API: the Hyper-V extensible switch model in TypeScript.
 *
 * An extension is one of three kinds (Hyper-V: capturing, filtering, forwarding). Its hooks take a
 * WHOLE BATCH of frames (there is no per-frame callback) through a capability view that makes the
 * kind's rules part of the types, and the pipeline enforces them at run time too:
 *
 *   capture  observe every frame (read-only view: no drop, no write, no destinations), originate new
 *            frames (they enter the ingress path, as if received), keep counters. Never alters or drops.
 *   filter   everything capture may, plus: drop a frame (with a reason), clone a frame and modify the
 *            clone, inject frames (ingress path), and on egress exclude destinations.
 *   forward  everything filter may, plus: choose destinations on ingress (exactly one forwarding
 *            extension runs per switch: the built-in `learning` unless another is enabled).
 *
 * Data path order (docs/REFERENCE.md, "Extensions"; written once in pipeline/stage-list.ts): validate → capture…
 * → filter… → built-in ingress policies → forward (ingress) → miniport edge → forward (egress) →
 * built-in egress policies → filter (reverse) → capture (reverse) → transmit. Within a kind the most
 * recently enabled extension sits nearest the protocol edge (first on ingress, last on egress);
 * `xvs extension order` overrides. Extensions are disabled when installed; enabling, disabling,
 * reordering and reconfiguring take effect between batches.
 *
 * Frames an extension injects or originates enter the ingress path just below it: the stages after
 * it, built-in policies, forwarding; never itself or the extensions above it on that path.
 *
 * Frames are addressed by their index `i` in the batch (0 <= i < view.count). Byte offsets are
 * relative to the start of the Ethernet frame.
 */

import type { PortSettings, VlanSetting } from '../config/types.js';

export type ExtensionKind = 'capture' | 'filter' | 'forward';
export type Direction = 'ingress' | 'egress';
export type OnError = 'bypass' | 'drop';

// ---------------------------------------------------------------- configuration spec

/** One configuration key: a declarative spec, validated before `create`/`reconfigure`. */
export type ConfigKeySpec =
  | { type: 'string'; doc: string; default?: string; required?: boolean; pattern?: RegExp }
  | { type: 'integer'; doc: string; default?: number; required?: boolean; min?: number; max?: number }
  | { type: 'boolean'; doc: string; default?: boolean; required?: boolean }
  | { type: 'enum'; doc: string; values: readonly string[]; default?: string; required?: boolean }
  | { type: 'list'; doc: string; items: ConfigKeySpec | { type: 'object'; keys: ConfigSpec }; default?: unknown[]; required?: boolean }
  | { type: 'object'; doc: string; keys: ConfigSpec; required?: boolean };

export type ConfigSpec = Record<string, ConfigKeySpec>;

/** A validated configuration: plain JSON data. */
export type ConfigValue = string | number | boolean | null | ConfigValue[] | { [key: string]: ConfigValue };
export type ExtensionConfig = { [key: string]: ConfigValue };

// ---------------------------------------------------------------- port policies and port features

/**
 * A port's built-in policies as extensions read them (`view.portPolicy(port)`, `ctx.portPolicy(port)`):
 * frozen, built once per policy change (no allocation per call), Hyper-V's defaults filled in. A
 * forwarding extension may use it to enforce the standard port policies itself (Hyper-V: the
 * forwarding extension or the switch enforces them); the switch's built-in policies run anyway.
 */
export interface PortPolicy {
  readonly name: string;
  readonly kind: 'vm' | 'external' | 'internal';
  /** the VLAN mode and ids (`{ mode: 'untagged' }` by default) */
  readonly vlan: Readonly<VlanSetting>;
  readonly macAddressSpoofing: boolean;
  readonly dhcpGuard: boolean;
  readonly routerGuard: boolean;
  readonly portMirroring: 'none' | 'source' | 'destination';
  /** the VM's own MAC when set */
  readonly staticMacAddress: string | undefined;
  /** broadcast/multicast/unknown-unicast frames per second; 0 = no limit */
  readonly stormLimit: number;
  /** bits per second; 0 = no limit */
  readonly maximumBandwidth: number;
  /** HNV virtual subnet (a later issue): undefined until the switch has one */
  readonly virtualSubnetId: number | undefined;
}

/**
 * One key of an extension's per-port settings (Hyper-V's extension port features, set with
 * `xvs port feature set SW PORT EXTENSION key=value`). Values are given as strings and checked
 * against this spec when set; a key not in the spec is refused with its field named.
 */
export type PortFeatureKeySpec =
  | { type: 'string'; doc: string; default?: string; pattern?: RegExp }
  | { type: 'integer'; doc: string; default?: number; min?: number; max?: number }
  | { type: 'boolean'; doc: string; default?: boolean }
  | { type: 'enum'; doc: string; values: readonly string[]; default?: string };
export type PortFeatureSpec = Record<string, PortFeatureKeySpec>;
export type PortFeatureValue = string | number | boolean;

/** a port as the control hooks see it */
export interface PortControlInfo {
  readonly name: string;
  readonly index: number;
  readonly kind: 'vm' | 'external' | 'internal';
  /** the port's settings (after the change, for portSettingsChange's `port`) */
  readonly settings: Readonly<PortSettings>;
}

/**
 * What a control hook returns: nothing (or undefined) to accept, `{ veto: 'why' }` to refuse. A hook
 * that throws refuses too, with the error's message.
 */
export type ControlVerdict = void | undefined | { veto: string };

// ---------------------------------------------------------------- documentation

/**
 * The doc block every extension carries, in fixed sections (Click's element docs). `docs/EXTENSIONS.md`
 * and `xvs extension describe NAME` are generated from it, together with `config` and `counters`;
 * a test fails when a section is empty.
 */
export interface ExtensionDoc {
  /** how it is named in configuration, with its main keys, e.g. `firewall rules=[…] default=allow` */
  synopsis: string;
  /** one line */
  summary: string;
  /** what it does to frames */
  description: string;
  /** where it runs: 'ingress', 'egress' or 'both', with a sentence if useful */
  path: string;
  /** limits, what happens when they are reached, interactions */
  notes: string;
  /** related extensions, tools, references */
  seeAlso: string;
}

// ---------------------------------------------------------------- views (capabilities)

/** Read access to the frames of a batch. What every kind gets. */
export interface FrameReader {
  readonly direction: Direction;
  /** frames in the batch (dropped ones included; check `dropped(i)`) */
  readonly count: number;
  /** index of the port the batch came from, -1 for originated/injected frames */
  readonly inPort: number;
  /** true if an earlier stage dropped frame i (later stages normally skip it) */
  dropped(i: number): boolean;
  length(i: number): number;
  byte(i: number, off: number): number;
  u16(i: number, off: number): number;
  u32(i: number, off: number): number;
  /**
   * Batch read: the 6-byte MAC at `off` (0: destination, 6: source) of every frame i < count, as its
   * first 16 bits in hi16[i] and its last 32 bits (as int32) in lo32[i]; hi16[i] = -1 where the
   * frame is too short. One call per batch instead of two reads per frame.
   */
  readMacs(off: number, hi16: Int32Array, lo32: Int32Array): void;
  /** copy up to `max` bytes of frame i into dst at dstOff; returns the number copied */
  copy(i: number, dst: Uint8Array, dstOff: number, max: number): number;
  /** the port a frame came from (for injected frames, the port they were injected as) */
  portOf(i: number): number;
  /**
   * The VLAN frame i travels on inside the switch (0 = untagged), once the switch has a VLAN-aware
   * port; the 802.1Q tag is not in the frame's bytes from the built-in ingress policies on (they pop
   * it; transmit pushes the tag each destination port needs). Before them (capture and filter on
   * ingress) the frame is as received, tag included, and this reads 0.
   */
  vlan(i: number): number;
  /** egress only: is `port` among frame i's destinations (after exclusions)? */
  hasDestination(i: number, port: number): boolean;
  /** egress only: write frame i's destinations into out; returns how many */
  destinations(i: number, out: Int32Array): number;
  /**
   * The built-in policies of port `port` (VLAN mode and ids, guards, mirroring, …), read-only; undefined
   * for a port that does not exist. Same object until the port's settings change.
   */
  portPolicy(port: number): PortPolicy | undefined;
  /** does frame i match a compiled matcher (packet/match.ts)? Reads the frame in place, no copy. */
  matches(i: number, matcher: { matches(bytes: Uint8Array, off: number, len: number): boolean }): boolean;
}

/** What capture extensions get: read, plus originate (new frames enter the ingress path). */
export interface CaptureView extends FrameReader {
  readonly kind: 'capture';
}

/** A frame an extension owns (a clone or a new frame) until it injects or releases it. */
export type OwnedFrame = number & { readonly __owned: unique symbol };

export interface FilterView extends FrameReader {
  readonly kind: 'filter' | 'forward';
  /** drop frame i; `reason` is an extension-specific word for the trace (counted as extension-drop). Capture views have no drop. */
  drop(i: number, reason?: string): void;
  /** a copy of frame i that the extension may modify and inject; -1 when the pool is exhausted */
  clone(i: number): OwnedFrame | -1;
  /** egress: remove `port` from frame i's destinations; it cannot be added back by a later stage */
  excludeDestination(i: number, port: number): void;
}

export interface ForwardView extends FilterView {
  readonly kind: 'forward';
  /** ingress: send frame i to exactly these ports (never back to its source port) */
  setDestinations(i: number, ports: ArrayLike<number>): void;
  /** ingress: send frame i to one port; its own source port drops it as `same-port` */
  setDestination(i: number, port: number): void;
  /** ingress: flood frame i to every port but its source */
  flood(i: number): void;
}

/**
 * The switch's MAC table (shared by its workers, shown by `xvs fdb show`, aged by the switch) as a
 * forwarding extension uses it. A MAC is passed as its first 16 bits and its last 32 bits, as
 * `view.u16(i, off)` and `view.u32(i, off + 2)` read them.
 */
export interface SwitchMacTable {
  /**
   * learn (or refresh, or move) a source MAC on a port, on VLAN `vlan` (the frame's `view.vlan(i)`;
   * default 0); a full table is counted, not an error. The table is keyed by the VLAN's filtering id:
   * a private VLAN's secondaries learn into their primary.
   */
  learn(hi16: number, lo32: number, port: number, vlan?: number): void;
  /** the port a MAC was learned on in VLAN `vlan` (default 0), or -1 */
  lookup(hi16: number, lo32: number, vlan?: number): number;
  /** out[i] = lookup(hi16[i], lo32[i], vlan[i] or 0) for i < n, in one consistent read of the table (per batch: cheaper) */
  lookupBatch(hi16: Int32Array, lo32: Int32Array, n: number, out: Int32Array, vlan?: Int32Array): void;
}

/** Services every extension instance gets at creation (one per worker). */
export interface ExtensionContext {
  readonly switchName: string;
  readonly workerIndex: number;
  /** the extension's own counters, by the names it declared (shared memory; summed over workers) */
  readonly counters: Float64Array;
  /** index of each declared counter name in `counters` */
  counterIndex(name: string): number;
  /** port index by name, -1 if none (ports change at run time: look up per batch, or cache with portsVersion) */
  portIndex(name: string): number;
  portName(index: number): string | undefined;
  /** bumped whenever ports are added or removed */
  readonly portsVersion: number;
  /** the built-in policies of a port (as `view.portPolicy`), undefined for no such port */
  portPolicy(port: number): PortPolicy | undefined;
  /**
   * This extension's per-port setting `key` on `port` (`xvs port feature set`), typed by the
   * extension's `portFeatures` spec: the value set, else the spec's default, else undefined. Cheap
   * (no allocation); still, read it per batch (the batch's `inPort`), not per frame.
   */
  portFeature(port: number, key: string): PortFeatureValue | undefined;
  /** bumped whenever any port's settings or features change (cache per-port decisions with it) */
  readonly policyVersion: number;
  /** seconds, wall clock, of the current breath */
  readonly now: number;
  /** milliseconds (fractional), wall clock, read when the hook was called: for timestamps */
  readonly nowMs: number;
  /** port indices are 0 .. maxPorts-1 (size per-port arrays with it) */
  readonly maxPorts: number;
  /** a batch holds at most this many frames (size per-frame arrays with it) */
  readonly maxBatch: number;
  /**
   * true while a synthetic frame from `xvs trace` runs through the pipeline: decide as usual, but do
   * not record it, answer it or count it as traffic (it is never sent).
   */
  readonly tracing: boolean;
  /** the switch's MAC table: forwarding extensions only (null for capture and filter) */
  readonly fdb: SwitchMacTable | null;
  /** write a line to the daemon log */
  log(message: string): void;
  /** a new frame of `length` bytes (zeroed) owned by the extension; -1 when the pool is exhausted (counted: pool-exhausted) */
  allocate(length: number): OwnedFrame | -1;
  /** write src[srcOff .. srcOff+len) (default: all of src) into an owned frame at off */
  write(frame: OwnedFrame, off: number, src: ArrayLike<number>, srcOff?: number, len?: number): void;
  writeByte(frame: OwnedFrame, off: number, value: number): void;
  writeU16(frame: OwnedFrame, off: number, value: number): void;
  writeU32(frame: OwnedFrame, off: number, value: number): void;
  /** read bytes of an owned frame */
  readOwned(frame: OwnedFrame, off: number): number;
  ownedLength(frame: OwnedFrame): number;
  setLength(frame: OwnedFrame, length: number): void;
  /**
   * Send an owned frame into the switch's ingress path, as if received on `asPort` (default: -1 =
   * originated by the switch: no source port, so no port's policies apply and it is never learned).
   * It is processed at the start of the next breath: validated, then it enters just below this
   * extension (the stages after it, built-in policies, forwarding). A frame "from" port P is never
   * sent back to P. The extension no longer owns it; if the inject queue is full it is dropped and
   * counted (inject-queue-full).
   */
  inject(frame: OwnedFrame, asPort?: number): void;
  /** give an owned frame back without sending it */
  release(frame: OwnedFrame): void;
}

// ---------------------------------------------------------------- the extension itself

export interface ExtensionInstance<V> {
  /** whole-batch hook on the ingress path */
  ingress?(view: V, ctx: ExtensionContext): void;
  /** whole-batch hook on the egress path (destinations known) */
  egress?(view: V, ctx: ExtensionContext): void;
  /**
   * Called about once a second by the worker, with traffic or without (an idle switch has no
   * batches): flush buffers, send timed reports, expire state. Same rules as the hooks; a throw
   * takes the extension out like a throw in a hook.
   */
  tick?(ctx: ExtensionContext): void;
  /**
   * Control hooks (Hyper-V's OID_SWITCH_PORT_CREATE, OID_SWITCH_PORT_DELETE and
   * OID_SWITCH_PORT_PROPERTY_ADD/UPDATE): asked before a VM port is added, removed, or has its
   * settings (port policies, extension port features) changed. Return nothing to accept;
   * return `{ veto: 'why' }` or throw to refuse — the operation is not done and the CLI prints
   * `port add refused by extension "NAME": why`. Every worker's instance is asked, in pipeline
   * order; the first refusal wins, so an instance may be asked about an operation that another
   * refuses: decide here, keep state from what the port policies (`ctx.portPolicy`, `policyVersion`)
   * show afterwards. A hook must answer promptly: one that blocks is stopped by the worker watchdog
   * and the operation is refused.
   */
  portCreate?(port: PortControlInfo, ctx: ExtensionContext): ControlVerdict;
  portDelete?(port: PortControlInfo, ctx: ExtensionContext): ControlVerdict;
  /** `before`/`after`: the port's whole settings (a key left out is at its default) */
  portSettingsChange?(port: PortControlInfo, before: Readonly<PortSettings>, after: Readonly<PortSettings>, ctx: ExtensionContext): ControlVerdict;
  /** apply a new validated configuration keeping state; if absent the instance is rebuilt */
  reconfigure?(config: ExtensionConfig): void;
  /** release files/sockets; called when disabled, removed, reconfigured by rebuild, or at shutdown */
  close?(): void;
}

interface DefinitionBase<K extends ExtensionKind, V> {
  readonly name: string;
  readonly version: string;
  readonly kind: K;
  readonly doc: ExtensionDoc;
  readonly config: ConfigSpec;
  /** counter names with a one-line meaning each */
  readonly counters: Readonly<Record<string, string>>;
  /**
   * Per-port settings this extension accepts (`xvs port feature set SW PORT NAME key=value`,
   * Hyper-V's Set-VMSwitchExtensionPortFeature), read with `ctx.portFeature(port, key)` and seen
   * in `portSettingsChange`. Absent: the extension has none (setting one is refused).
   */
  readonly portFeatures?: PortFeatureSpec;
  /**
   * True when its state must live in one instance (a lease table): every data-path worker runs its
   * own instance, so enabling it on a switch with more than one worker is refused.
   */
  readonly singleWorker?: boolean;
  /**
   * On-error behaviour: bypass for capture (always: a capture never drops), drop for filters and
   * forwarders (a forwarder fails closed) — a filter's or forwarder's may be set per switch.
   */
  /**
   * Checks beyond the declarative spec (match expressions, MAC lists, address pools); throws a
   * ConfigError naming the key under `config` (e.g. `config.rules[2].match`). Run in a data-path
   * worker whenever the configuration is set, enabled or not, so a bad configuration is refused
   * when it is given, not at the next enable.
   */
  validate?(config: ExtensionConfig): void;
  create(config: ExtensionConfig, ctx: ExtensionContext): ExtensionInstance<V>;
}

export type CaptureExtension = DefinitionBase<'capture', CaptureView>;
export type FilterExtension = DefinitionBase<'filter', FilterView>;
export type ForwardExtension = DefinitionBase<'forward', ForwardView>;
export type Extension = CaptureExtension | FilterExtension | ForwardExtension;

/**
 * What the control plane knows of an extension: its definition without code. A plug-in's module
 * is never run on the control plane's thread: this is read in a short-lived worker
 * (extensions/probe-worker.ts) and structured-cloned back (RegExp patterns included).
 */
export interface ExtensionMeta {
  readonly name: string;
  readonly version: string;
  readonly kind: ExtensionKind;
  readonly doc: ExtensionDoc;
  readonly config: ConfigSpec;
  readonly counters: Readonly<Record<string, string>>;
  readonly singleWorker?: boolean;
  readonly portFeatures?: PortFeatureSpec;
}

/** Identity helpers that give extension authors type checking and inference. */
export function defineCapture(e: CaptureExtension): CaptureExtension { return e; }
export function defineFilter(e: FilterExtension): FilterExtension { return e; }
export function defineForward(e: ForwardExtension): ForwardExtension { return e; }

/**
 * The manifest of a third-party extension: `xvs-extension.json` next to a module file, or the `xvs`
 * key of an npm package's package.json. `main` is relative to the manifest.
 */
export interface ExtensionManifest {
  name: string;
  version: string;
  kind: ExtensionKind;
  /** module whose default export is the Extension */
  main: string;
  /** the extension API version it was written for */
  xvsApi: 1;
}

export const EXTENSION_API_VERSION = 1;
