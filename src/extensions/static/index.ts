/**
 * forward `static`: destinations from a MAC table given in configuration only (no learning).
 *
 * The table is an open-addressing hash over typed arrays built in create/reconfigure; the port of
 * each entry is resolved by name and resolved again whenever ctx.portsVersion changes (ports come
 * and go at run time). Per batch: classify every frame (flood, unicast to a port, unknown, missing
 * port, same port), then act. No allocation per frame.
 *
 * VLANs: an entry with `vlan` matches only frames on that VLAN (`view.vlan(i)`); an entry without
 * matches the MAC on any VLAN. The VLAN-specific entry wins. A MAC may appear once per VLAN and once
 * without one. Whether the entry's port receives the frame's VLAN is the VLAN policy's egress check.
 */
import type { ConfigValue, ExtensionConfig, ExtensionContext, ForwardView } from '../api.js';
import { defineForward } from '../api.js';
import { ConfigError } from '../../core/errors.js';
import { parseMac } from '../../packet/ethernet.js';

export const MAX_ENTRIES = 65536;

/** the compiled table: (VLAN key, MAC hi 16 bits, lo 32 bits) → entry index; entry → port name. VLAN key: vlan + 1, 0 = any */
export class StaticTable {
  readonly names: string[];
  readonly macs: string[];
  /** some entry names a VLAN (lookups then try the frame's VLAN first) */
  readonly hasVlanEntries: boolean;
  private readonly mask: number;
  private readonly hi: Int32Array;
  private readonly lo: Uint32Array;
  /** entry index + 1 per bucket, 0 = empty */
  private readonly slot: Int32Array;

  constructor(macs: Uint8Array[], names: string[], texts: string[], vlans: number[] = []) {
    this.names = names;
    this.macs = texts;
    this.hasVlanEntries = vlans.some((v) => v >= 0);
    let cap = 8;
    while (cap < macs.length * 2) cap *= 2;
    this.mask = cap - 1;
    this.hi = new Int32Array(cap);
    this.lo = new Uint32Array(cap);
    this.slot = new Int32Array(cap);
    macs.forEach((m, k) => {
      const hi = (((vlans[k] ?? -1) + 1) << 16) | (m[0] << 8) | m[1];
      const lo = ((m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]) >>> 0;
      let b = StaticTable.hash(hi, lo) & this.mask;
      while (this.slot[b] !== 0) b = (b + 1) & this.mask;
      this.hi[b] = hi;
      this.lo[b] = lo;
      this.slot[b] = k + 1;
    });
  }

  private static hash(hi: number, lo: number): number {
    return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 16;
  }

  /** entry index for a frame on VLAN `vlan`: its VLAN's entry, else the any-VLAN entry, else -1 */
  lookupVlan(hi16: number, lo: number, vlan: number): number {
    if (this.hasVlanEntries) {
      const e = this.lookup(((vlan + 1) << 16) | hi16, lo);
      if (e >= 0) return e;
    }
    return this.lookup(hi16, lo);
  }

  /** entry index, -1 when the MAC is not in the table (hi: VLAN key << 16 | MAC bytes 0–1) */
  lookup(hi: number, lo: number): number {
    let b = StaticTable.hash(hi, lo) & this.mask;
    for (;;) {
      const s = this.slot[b];
      if (s === 0) return -1;
      if (this.hi[b] === hi && this.lo[b] === lo) return s - 1;
      b = (b + 1) & this.mask;
    }
  }
}

/** Check and compile a validated configuration; errors name `${path}.entries[i].<key>`. */
export function compileStatic(config: ExtensionConfig, path = 'config'): StaticTable {
  const list = Array.isArray(config.entries) ? config.entries : [];
  if (list.length > MAX_ENTRIES) throw new ConfigError(`${path}.entries`, `at most ${MAX_ENTRIES} entries, got ${list.length}`);
  const seen = new Map<string, number>();
  const macs: Uint8Array[] = [];
  const names: string[] = [];
  const texts: string[] = [];
  const vlans: number[] = [];
  list.forEach((item, k) => {
    const e = (typeof item === 'object' && item !== null && !Array.isArray(item) ? item : {}) as { [key: string]: ConfigValue };
    const p = `${path}.entries[${k}]`;
    const m = typeof e.mac === 'string' ? parseMac(e.mac) : null;
    if (!m) throw new ConfigError(`${p}.mac`, `expected a MAC address, got ${JSON.stringify(e.mac)}`);
    if ((m[0] & 1) !== 0) throw new ConfigError(`${p}.mac`, `${e.mac as string} is a group (multicast/broadcast) address; those always flood`);
    const text = [...m].map((x) => x.toString(16).padStart(2, '0')).join(':');
    let vlan = -1;
    if (e.vlan !== undefined) {
      if (typeof e.vlan !== 'number' || !Number.isInteger(e.vlan) || e.vlan < 0 || e.vlan > 4094) {
        throw new ConfigError(`${p}.vlan`, `expected 0..4094, got ${JSON.stringify(e.vlan)}`);
      }
      vlan = e.vlan;
    }
    const key = vlan >= 0 ? `${text} vlan ${vlan}` : text;
    const prev = seen.get(key);
    if (prev !== undefined) throw new ConfigError(`${p}.mac`, `${key} is already in entries[${prev}]`);
    seen.set(key, k);
    if (typeof e.port !== 'string' || e.port === '') throw new ConfigError(`${p}.port`, `expected a port name, got ${JSON.stringify(e.port)}`);
    macs.push(m);
    names.push(e.port);
    texts.push(text);
    vlans.push(vlan);
  });
  return new StaticTable(macs, names, texts, vlans);
}

const V_FLOOD = -1;
const V_UNKNOWN = -2;
const V_MISSING = -3;
const V_SAME = -4;
const V_SKIP = -5;

class StaticForward {
  private table: StaticTable;
  private floodUnknown: boolean;
  private readonly ctx: ExtensionContext;
  /** port index per entry, -1 when no port of that name exists */
  private ports: Int32Array;
  private portsVersion = -1;
  private verdict = new Int32Array(256);
  private readonly c: { unicast: number; flooded: number; unknown: number; missing: number; same: number };

  constructor(config: ExtensionConfig, ctx: ExtensionContext) {
    this.ctx = ctx;
    this.table = compileStatic(config);
    this.floodUnknown = config.floodUnknown === true;
    this.ports = new Int32Array(this.table.names.length);
    this.c = {
      unicast: ctx.counterIndex('unicast'), flooded: ctx.counterIndex('flooded'), unknown: ctx.counterIndex('unknownUnicast'),
      missing: ctx.counterIndex('missingPort'), same: ctx.counterIndex('samePort'),
    };
  }

  reconfigure(config: ExtensionConfig): void {
    this.table = compileStatic(config);
    this.floodUnknown = config.floodUnknown === true;
    this.ports = new Int32Array(this.table.names.length);
    this.portsVersion = -1;
  }

  private resolve(): void {
    const ctx = this.ctx;
    if (ctx.portsVersion === this.portsVersion) return;
    this.portsVersion = ctx.portsVersion;
    const names = this.table.names;
    for (let k = 0; k < names.length; k++) this.ports[k] = ctx.portIndex(names[k]);
  }

  ingress(view: ForwardView): void {
    this.resolve();
    if (view.count > this.verdict.length) this.verdict = new Int32Array(view.count); // once, for a larger batch size
    const verdict = this.verdict;
    const table = this.table;
    const ports = this.ports;
    const n = view.count;
    // classify
    for (let i = 0; i < n; i++) {
      if (view.dropped(i)) { verdict[i] = V_SKIP; continue; }
      const hi = view.u16(i, 0);
      if ((hi & 0x100) !== 0) { verdict[i] = V_FLOOD; continue; } // group bit of the first byte
      const e = table.lookupVlan(hi, view.u32(i, 2), view.vlan(i));
      if (e < 0) { verdict[i] = V_UNKNOWN; continue; }
      const p = ports[e];
      verdict[i] = p < 0 ? V_MISSING : p === view.portOf(i) ? V_SAME : p;
    }
    // act
    const counting = !this.ctx.tracing;
    const cv = this.ctx.counters;
    const c = this.c;
    for (let i = 0; i < n; i++) {
      const v = verdict[i];
      if (v >= 0) {
        view.setDestination(i, v);
        if (counting) cv[c.unicast]++;
      } else if (v === V_FLOOD) {
        view.flood(i);
        if (counting) cv[c.flooded]++;
      } else if (v === V_UNKNOWN) {
        if (counting) cv[c.unknown]++;
        if (this.floodUnknown) {
          view.flood(i);
          if (counting) cv[c.flooded]++;
        } else {
          view.drop(i, 'unknown-unicast');
        }
      } else if (v === V_MISSING) {
        view.drop(i, 'missing-port');
        if (counting) cv[c.missing]++;
      } else if (v === V_SAME) {
        view.drop(i, 'same-port');
        if (counting) cv[c.same]++;
      }
    }
  }
}

export default defineForward({
  name: 'static',
  version: '1.0.0',
  kind: 'forward',
  doc: {
    synopsis: 'static entries=[{mac, port, vlan?}…] floodUnknown=false',
    summary: 'Forwarding from a MAC table given in configuration only: no learning, unknown unicast dropped.',
    description: 'A frame whose destination MAC is in `entries` goes to that entry\'s port (setDestination); broadcast and '
      + 'multicast flood to every port but the source; unknown unicast is dropped (extension-drop `unknown-unicast`) unless '
      + '`floodUnknown` is set, then it floods. A frame whose entry names a port that does not exist (yet) is dropped as '
      + '`missing-port`; a frame whose entry is its own source port is dropped as `same-port`. Nothing is learned: the '
      + 'switch\'s MAC table (`xvs fdb show`) stays empty while this forwarder is enabled.',
    path: 'ingress: it chooses destinations (the forwarding stage; exactly one forwarding extension is enabled per switch).',
    notes: `At most ${MAX_ENTRIES} entries; a MAC may appear once per VLAN (and once without a VLAN) and must be unicast. `
      + 'An entry with `vlan` matches only frames on that VLAN (the switch\'s VLAN policy classifies frames; VLAN 0 = untagged); '
      + 'one without matches the MAC on every VLAN; the VLAN-specific entry wins. The VLAN policy still removes a '
      + 'destination that does not receive the frame\'s VLAN. Port names are resolved when ports '
      + 'are added or removed, so an entry may name a port that appears later; until then its frames count as missingPort. '
      + 'Lookups are a hash over typed arrays built at configuration time (no allocation per frame). Reconfigure keeps the '
      + 'counters. Synthetic `xvs trace` frames are decided but not counted. Frames originated by extensions (source -1) '
      + 'are forwarded the same way.',
    seeAlso: 'learning (the default, learning forwarder); firewall; xvs trace',
  },
  config: {
    entries: {
      type: 'list', default: [], doc: `static MAC table (at most ${MAX_ENTRIES} entries)`,
      items: {
        type: 'object', keys: {
          mac: { type: 'string', required: true, doc: 'unicast MAC address, e.g. 02:00:00:00:00:0a' },
          port: { type: 'string', required: true, doc: 'name of the port the MAC lives behind' },
          vlan: { type: 'integer', min: 0, max: 4094, doc: 'VLAN the entry applies to (0 = untagged); absent: every VLAN' },
        },
      },
    },
    floodUnknown: { type: 'boolean', default: false, doc: 'flood unknown unicast instead of dropping it' },
  },
  counters: {
    unicast: 'frames sent to the one port of their destination MAC',
    flooded: 'frames flooded: broadcast, multicast, and unknown unicast when floodUnknown is set',
    unknownUnicast: 'frames to a unicast MAC not in entries (dropped unless floodUnknown)',
    missingPort: 'frames to a MAC whose entry names a port that does not exist (dropped)',
    samePort: 'frames to a MAC whose entry is their own source port (dropped)',
  },
  validate(config) {
    compileStatic(config);
  },
  create(config, ctx) {
    return new StaticForward(config, ctx);
  },
});
