/**
 * capture `pcap`: records the switch's frames into rotating pcapng files that Wireshark and tshark
 * read, one file series per data-path worker.
 *
 * Each file is one pcapng section: a Section Header Block, one Interface Description Block per
 * switch port and direction seen (link type Ethernet, `if_name` = `<port>:in` or `<port>:out`,
 * microsecond timestamps), then one Enhanced Packet Block per recorded frame, pointing at that
 * interface and carrying the direction in `epb_flags` (1 inbound, 2 outbound). Everything is written
 * little-endian.
 *
 * Hot path: frames are copied straight into one preallocated write buffer; block headers are
 * written through a DataView made once over it. The buffer goes to the file with `fs.writeSync` when
 * the next block would not fit, when `flushMs` has passed (checked at the start of a batch: a worker
 * never returns to its event loop while forwarding, so timers and async I/O would never run), at
 * rotation and in `close()`. Opening, rotating and writing an interface block are per-file events
 * and may allocate; recording a frame does not.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';
import { compileMatch, matchFromConfig, type FrameMatcher } from '../../packet/match.js';
import { defineCapture, type CaptureView, type ExtensionConfig, type ExtensionContext, type ExtensionInstance } from '../api.js';

// ---------------------------------------------------------------- pcapng constants

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const LINKTYPE_ETHERNET = 1;
const OPT_END = 0;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;
/** epb_flags bits 0-1 */
const DIR_IN = 1;
const DIR_OUT = 2;
const USERAPPL = 'xvs pcap';
/** SHB: header 24 + shb_userappl (4 + 8) + end 4 + trailer 4 */
const SHB_LEN = 44;
/** EPB without data: header 28 + epb_flags (4 + 4) + end 4 + trailer 4 */
const EPB_FIXED = 44;
const TWO_32 = 4294967296;
/** an IDB: fixed 36 + if_name padded (port names are at most 15 characters; longer ones are cut to 60 bytes) */
const IDB_NAME_MAX = 60;
const IDB_MAX = 36 + IDB_NAME_MAX;

/** the write buffer: many blocks per write, and always more than one largest block (snaplen <= 65535) */
const BUF_SIZE = 1 << 20;
/** bytes of a frame the matcher may look at (Ethernet + one tag + IPv4 with options/IPv6 + L4 ports) */
/** the slot for frames with no source port (originated or injected by an extension as -1) */
const ORIGINATED = MAX_PORTS_PER_SWITCH;
const ORIGINATED_NAME = 'originated';
const SLOTS = MAX_PORTS_PER_SWITCH + 1;

const pad4 = (n: number): number => (n + 3) & ~3;

interface Settings {
  dir: string;
  ports: string[];
  wantIn: boolean;
  wantOut: boolean;
  matcher: FrameMatcher | null;
  snaplen: number;
  rotateBytes: number;
  rotateFiles: number;
  flushMs: number;
}

/**
 * `<state dir>/pcap/<switch>`: the daemon's state directory is its config file's directory, which
 * `xvs daemon` puts in XVS_STATE_DIR (workers inherit it); /var/lib/xvs outside a daemon.
 */
export function defaultPcapDir(switchName: string): string {
  const state = process.env['XVS_STATE_DIR'];
  return join(state !== undefined && state !== '' ? state : '/var/lib/xvs', 'pcap', switchName);
}

function settings(config: ExtensionConfig, ctx: ExtensionContext): Settings {
  const direction = config['direction'] as string;
  const match = config['match'];
  return {
    dir: typeof config['dir'] === 'string' && config['dir'] !== '' ? config['dir'] : defaultPcapDir(ctx.switchName),
    ports: Array.isArray(config['ports']) ? (config['ports'] as string[]) : [],
    wantIn: direction !== 'out',
    wantOut: direction !== 'in',
    matcher: typeof match === 'string' ? compileMatch(matchFromConfig(match, 'config.match')) : null,
    snaplen: config['snaplen'] as number,
    rotateBytes: config['rotateBytes'] as number,
    rotateFiles: config['rotateFiles'] as number,
    flushMs: config['flushMs'] as number,
  };
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One worker's pcapng writer: buffer, current file, interface table, retention list. */
class PcapCapture implements ExtensionInstance<CaptureView> {
  private readonly s: Settings;
  private readonly ctx: ExtensionContext;
  private readonly buf = new Uint8Array(BUF_SIZE);
  private readonly dv = new DataView(this.buf.buffer);
  private readonly dsts = new Int32Array(MAX_PORTS_PER_SWITCH);
  private readonly encoder = new TextEncoder();
  /** bytes buffered for the current file */
  private pos = 0;
  private fd = -1;
  /** bytes of the current file already written */
  private fileBytes = 0;
  private filePackets = 0;
  private seq = 0;
  /** this worker's files, oldest first (the current one last) */
  private readonly files: string[] = [];
  private readonly prefix: string;
  private stopped = false;
  private logged = false;
  private lastFlushMs = 0;
  private tsHi = 0;
  private tsLo = 0;
  /** interface id per slot*2 + (dir-1) in the current file, -1 when it has no IDB yet */
  private readonly ifOf = new Int32Array(SLOTS * 2).fill(-1);
  private readonly ifKey = new Int32Array(SLOTS * 2);
  private readonly ifPortName: string[] = [];
  private ifCount = 0;
  /** 1 for port slots recorded (`ports`), refreshed when the switch's ports change */
  private readonly selected = new Uint8Array(SLOTS);
  private readonly selectedList = new Int32Array(SLOTS);
  private selectedCount = 0;
  private portsVersion = -1;
  private readonly cCaptured: number;
  private readonly cBytes: number;
  private readonly cRotated: number;
  private readonly cErrors: number;
  private readonly cTruncated: number;
  readonly ingress?: (view: CaptureView, ctx: ExtensionContext) => void;
  readonly egress?: (view: CaptureView, ctx: ExtensionContext) => void;

  constructor(s: Settings, ctx: ExtensionContext) {
    this.s = s;
    this.ctx = ctx;
    this.cCaptured = ctx.counterIndex('captured');
    this.cBytes = ctx.counterIndex('bytes');
    this.cRotated = ctx.counterIndex('filesRotated');
    this.cErrors = ctx.counterIndex('writeErrors');
    this.cTruncated = ctx.counterIndex('truncated');
    this.prefix = `${ctx.switchName}-${ctx.workerIndex}-`;
    if (s.wantIn) this.ingress = this.recordIngress;
    if (s.wantOut) this.egress = this.recordEgress;
    this.lastFlushMs = performance.now();
    try {
      mkdirSync(s.dir, { recursive: true });
      const re = new RegExp(`^${escapeRe(this.prefix)}(\\d+)\\.pcapng$`);
      const old = readdirSync(s.dir)
        .map((f) => ({ f, m: re.exec(f) }))
        .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
        .map((x) => ({ f: x.f, n: Number(x.m[1]) }))
        .sort((a, b) => a.n - b.n);
      for (const o of old) this.files.push(join(s.dir, o.f));
      this.seq = old.length ? old[old.length - 1].n + 1 : 0;
    } catch (e) {
      this.fail(`cannot use directory ${s.dir}`, e);
    }
  }

  // ---------------------------------------------------------------- hooks (hot path)

  private recordIngress(view: CaptureView, ctx: ExtensionContext): void {
    if (this.stopped || ctx.tracing) return;
    this.begin(ctx);
    const sel = this.selected;
    const m = this.s.matcher;
    for (let i = 0; i < view.count; i++) {
      if (view.dropped(i)) continue;
      const p = view.portOf(i);
      const slot = p < 0 || p >= MAX_PORTS_PER_SWITCH ? ORIGINATED : p;
      if (sel[slot] === 0) continue;
      if (m !== null && !this.matches(view, i, m)) continue;
      this.record(view, i, slot, DIR_IN);
      if (this.stopped) return;
    }
  }

  private recordEgress(view: CaptureView, ctx: ExtensionContext): void {
    if (this.stopped || ctx.tracing) return;
    this.begin(ctx);
    const m = this.s.matcher;
    const all = this.s.ports.length === 0;
    const list = this.selectedList;
    const dsts = this.dsts;
    for (let i = 0; i < view.count; i++) {
      if (view.dropped(i)) continue;
      let matched = m === null;
      if (all) {
        const n = view.destinations(i, dsts);
        for (let k = 0; k < n; k++) {
          if (!matched && !(matched = this.matches(view, i, m!))) break;
          this.record(view, i, dsts[k], DIR_OUT);
          if (this.stopped) return;
        }
      } else {
        for (let k = 0; k < this.selectedCount; k++) {
          const p = list[k];
          if (p === ORIGINATED || !view.hasDestination(i, p)) continue;
          if (!matched && !(matched = this.matches(view, i, m!))) break;
          this.record(view, i, p, DIR_OUT);
          if (this.stopped) return;
        }
      }
    }
  }

  /** per batch: clock, time-based flush, port table */
  private begin(ctx: ExtensionContext): void {
    const ms = performance.now();
    const us = Math.round((performance.timeOrigin + ms) * 1000);
    this.tsHi = Math.floor(us / TWO_32);
    this.tsLo = us - this.tsHi * TWO_32;
    if (ctx.portsVersion !== this.portsVersion) this.refreshPorts(ctx);
    if (this.pos > 0 && ms - this.lastFlushMs >= this.s.flushMs) this.flush();
    else if (this.pos === 0) this.lastFlushMs = ms;
  }

  private matches(view: CaptureView, i: number, m: FrameMatcher): boolean {
    return view.matches(i, m);
  }

  /** once a second, traffic or not: write out what waited longer than flushMs */
  tick(ctx: ExtensionContext): void {
    if (this.stopped || this.pos === 0) return;
    this.begin(ctx);
  }

  /** append one EPB for frame i as seen on port slot `slot` in direction `dir` */
  private record(view: CaptureView, i: number, slot: number, dir: number): void {
    const len = view.length(i);
    const cap = len < this.s.snaplen ? len : this.s.snaplen;
    const size = EPB_FIXED + pad4(cap);
    const key = slot * 2 + dir - 1;
    if (this.fd >= 0 && this.filePackets > 0
      && this.fileBytes + this.pos + size + (this.ifOf[key] < 0 ? IDB_MAX : 0) > this.s.rotateBytes) this.rotate();
    if (this.fd < 0 && !this.open()) return;
    let id = this.ifOf[key];
    if (id < 0) {
      id = this.addInterface(slot, dir, key);
      if (id < 0) return;
    }
    if (this.pos + size > BUF_SIZE && !this.flush()) return;
    const dv = this.dv;
    let o = this.pos;
    dv.setUint32(o, BLOCK_EPB, true);
    dv.setUint32(o + 4, size, true);
    dv.setUint32(o + 8, id, true);
    dv.setUint32(o + 12, this.tsHi, true);
    dv.setUint32(o + 16, this.tsLo, true);
    dv.setUint32(o + 20, cap, true);
    dv.setUint32(o + 24, len, true);
    o += 28;
    view.copy(i, this.buf, o, cap);
    for (let k = cap; k < pad4(cap); k++) this.buf[o + k] = 0;
    o += pad4(cap);
    dv.setUint16(o, EPB_FLAGS, true);
    dv.setUint16(o + 2, 4, true);
    dv.setUint32(o + 4, dir, true);
    dv.setUint32(o + 8, OPT_END, true);
    dv.setUint32(o + 12, size, true);
    this.pos = o + 16;
    this.filePackets++;
    const c = this.ctx.counters;
    c[this.cCaptured]++;
    c[this.cBytes] += cap;
    if (cap < len) c[this.cTruncated]++;
  }

  // ---------------------------------------------------------------- per-file events (cold)

  /** which slots to record; interfaces whose port now has another name get a new IDB */
  private refreshPorts(ctx: ExtensionContext): void {
    this.portsVersion = ctx.portsVersion;
    const names = this.s.ports;
    this.selectedCount = 0;
    if (names.length === 0) {
      this.selected.fill(1);
    } else {
      this.selected.fill(0);
      for (const name of names) {
        const p = name === ORIGINATED_NAME ? ORIGINATED : ctx.portIndex(name);
        if (p < 0 || this.selected[p] === 1) continue;
        this.selected[p] = 1;
        this.selectedList[this.selectedCount++] = p;
      }
    }
    for (let k = 0; k < this.ifCount; k++) {
      const key = this.ifKey[k];
      if (this.ifOf[key] === k && this.portName(key >> 1) !== this.ifPortName[k]) this.ifOf[key] = -1;
    }
  }

  private portName(slot: number): string {
    return slot === ORIGINATED ? ORIGINATED_NAME : this.ctx.portName(slot) ?? `port${slot}`;
  }

  /** write an IDB for (slot, dir) into the buffer; returns its interface id, -1 on a write error */
  private addInterface(slot: number, dir: number, key: number): number {
    const port = this.portName(slot);
    const full = this.encoder.encode(`${port}:${dir === DIR_IN ? 'in' : 'out'}`);
    const name = full.length > IDB_NAME_MAX ? full.subarray(0, IDB_NAME_MAX) : full;
    const size = 36 + pad4(name.length);
    if (this.pos + size > BUF_SIZE && !this.flush()) return -1;
    const dv = this.dv;
    let o = this.pos;
    dv.setUint32(o, BLOCK_IDB, true);
    dv.setUint32(o + 4, size, true);
    dv.setUint16(o + 8, LINKTYPE_ETHERNET, true);
    dv.setUint16(o + 10, 0, true);
    dv.setUint32(o + 12, this.s.snaplen, true);
    o += 16;
    dv.setUint16(o, IF_NAME, true);
    dv.setUint16(o + 2, name.length, true);
    this.buf.set(name, o + 4);
    this.buf.fill(0, o + 4 + name.length, o + 4 + pad4(name.length));
    o += 4 + pad4(name.length);
    dv.setUint16(o, IF_TSRESOL, true);
    dv.setUint16(o + 2, 1, true);
    dv.setUint32(o + 4, 6, true); // 10^-6 s, then 3 bytes of padding (zero)
    dv.setUint32(o + 8, OPT_END, true);
    dv.setUint32(o + 12, size, true);
    this.pos = o + 16;
    const id = this.ifCount++;
    this.ifOf[key] = id;
    this.ifKey[id] = key;
    this.ifPortName[id] = port;
    return id;
  }

  /** open the next file of the series, drop the oldest beyond rotateFiles, buffer the SHB */
  private open(): boolean {
    if (this.stopped) return false;
    const file = join(this.s.dir, `${this.prefix}${String(this.seq++).padStart(6, '0')}.pcapng`);
    try {
      this.fd = openSync(file, 'w', 0o640);
    } catch (e) {
      this.fail(`cannot open ${file}`, e);
      return false;
    }
    this.files.push(file);
    while (this.files.length > this.s.rotateFiles) {
      const old = this.files.shift()!;
      try {
        unlinkSync(old);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.note(`cannot delete ${old}`, e);
      }
    }
    this.fileBytes = 0;
    this.filePackets = 0;
    this.ifOf.fill(-1);
    this.ifCount = 0;
    this.ifPortName.length = 0;
    const dv = this.dv;
    const o = this.pos; // 0: the previous file was flushed
    dv.setUint32(o, BLOCK_SHB, true);
    dv.setUint32(o + 4, SHB_LEN, true);
    dv.setUint32(o + 8, BYTE_ORDER_MAGIC, true);
    dv.setUint16(o + 12, 1, true);
    dv.setUint16(o + 14, 0, true);
    dv.setInt32(o + 16, -1, true); // section length unknown (-1 as 64 bits)
    dv.setInt32(o + 20, -1, true);
    dv.setUint16(o + 24, SHB_USERAPPL, true);
    dv.setUint16(o + 26, USERAPPL.length, true);
    for (let k = 0; k < 8; k++) this.buf[o + 28 + k] = USERAPPL.charCodeAt(k);
    dv.setUint32(o + 36, OPT_END, true);
    dv.setUint32(o + 40, SHB_LEN, true);
    this.pos = o + SHB_LEN;
    return true;
  }

  private rotate(): void {
    if (!this.flush()) return;
    this.closeFile();
    this.ctx.counters[this.cRotated]++;
  }

  /** write the buffer to the current file; false (and capturing stopped) on an error */
  private flush(): boolean {
    this.lastFlushMs = performance.now();
    if (this.pos === 0) return true;
    if (this.fd < 0) { this.pos = 0; return !this.stopped; }
    try {
      let done = 0;
      while (done < this.pos) done += writeSync(this.fd, this.buf, done, this.pos - done);
    } catch (e) {
      try { ftruncateSync(this.fd, this.fileBytes); } catch { /* keep the error we have */ } // no partial block at the end
      this.fail('write failed', e);
      return false;
    }
    this.fileBytes += this.pos;
    this.pos = 0;
    return true;
  }

  private closeFile(): void {
    if (this.fd < 0) return;
    try { closeSync(this.fd); } catch (e) { this.note('close failed', e); }
    this.fd = -1;
  }

  /** count and log (once) a problem that does not stop capturing */
  private note(what: string, e: unknown): void {
    this.ctx.counters[this.cErrors]++;
    if (this.logged) return;
    this.logged = true;
    this.ctx.log(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }

  /** a write error: counted, logged once, the file closed and capturing stopped on this worker */
  private fail(what: string, e: unknown): void {
    this.note(`${what}; capture stopped on worker ${this.ctx.workerIndex}`, e);
    this.stopped = true;
    this.pos = 0;
    this.closeFile();
  }

  close(): void {
    this.flush();
    this.closeFile();
  }
}

export default defineCapture({
  name: 'pcap',
  version: '1.0.0',
  kind: 'capture',
  doc: {
    synopsis: 'pcap [dir=PATH] [ports=[NAME,…]] [direction=in|out|both] [match=EXPR] [snaplen=N] [rotateBytes=N] [rotateFiles=N] [flushMs=N]',
    summary: 'Records frames into rotating pcapng files (Wireshark/tshark), per port and direction.',
    description: 'Writes every recorded frame as a pcapng Enhanced Packet Block with a microsecond timestamp, its port as the '
      + 'interface (one Interface Description Block per port and direction, named `<port>:in` or `<port>:out`, link type '
      + 'Ethernet) and the direction in epb_flags (inbound/outbound). On ingress a frame is recorded once, as received on its '
      + 'source port ("in"); on egress once per destination port ("out"), after the filters had their say, so a flood '
      + 'appears once per port it leaves on and a frame a filter dropped or excluded is not recorded "out". `ports` limits '
      + 'both to the named ports, `direction` to one path, `match` to frames matching a filter expression, `snaplen` cuts '
      + 'long frames (the original length is kept). Frames are never altered, dropped or delayed. Each data-path worker '
      + 'writes its own series `<dir>/<switch>-<worker>-<seq>.pcapng` (seq 000000, 000001, …, continuing after existing files).',
    path: 'both: ingress for "in" (capture stages run first), egress for "out" (they run last, destinations known). '
      + 'direction=in or out installs only that hook.',
    notes: 'Frames are copied into a 1 MiB buffer per worker, written with a synchronous write when it is nearly full, '
      + 'when flushMs has passed (checked per batch and on the worker\'s once-a-second tick, so an idle switch '
      + 'writes its tail too), at rotation and when the extension is disabled, reconfigured or the switch stops. A file is rotated '
      + 'before it would exceed rotateBytes (filesRotated); at most rotateFiles files are kept per worker, the oldest '
      + 'deleted, including files left by an earlier run. A write error (disk full, directory gone) counts writeErrors, is '
      + 'logged once, closes the file and stops this worker\'s capture until the extension is reconfigured or re-enabled; '
      + 'frames still in the buffer then are lost. Frames dropped before the capture stage (validation: runt, too big) are '
      + 'not recorded. Frames an extension originates with no port are recorded "in" on the interface `originated` (name '
      + 'it in `ports` to select it). Synthetic `xvs trace` frames are never recorded; live-traced frames are real and are. '
      + 'Files are readable while being written up to the last flush. Every matching frame costs a copy of up to snaplen '
      + 'bytes; with match set, the first 128 bytes are copied once more to test it.',
    seeAlso: 'tshark -r FILE, wireshark, mergecap (to merge the workers\' files); xvs trace; packet match expressions '
      + '(src/packet/match.ts); pcapng: draft-ietf-opsawg-pcapng',
  },
  config: {
    dir: { type: 'string', doc: 'directory for the files, created if missing (default <state dir>/pcap/<switch>: the directory of the daemon\'s config file, /var/lib/xvs/pcap/<switch> by default)' },
    ports: { type: 'list', doc: 'names of the ports to record (absent or empty: every port); `originated` selects frames with no port', items: { type: 'string', doc: 'a port name', pattern: /^\S+$/ } },
    direction: { type: 'enum', doc: 'in: frames as received on their port; out: frames as sent per destination port; both', values: ['in', 'out', 'both'], default: 'both' },
    match: { type: 'string', doc: 'record only frames matching this filter expression, e.g. `tcp.dst=80,ipv4.src=10.0.0.0/8` (absent: every frame)' },
    snaplen: { type: 'integer', doc: 'bytes recorded per frame at most (longer frames are cut, counted as truncated)', default: 65535, min: 14, max: 65535 },
    rotateBytes: { type: 'integer', doc: 'start a new file before this size would be exceeded', default: 64 * 1024 * 1024, min: 4096, max: 2 ** 40 },
    rotateFiles: { type: 'integer', doc: 'files kept per worker (the oldest are deleted)', default: 10, min: 1, max: 100000 },
    flushMs: { type: 'integer', doc: 'write buffered frames at least this often (checked per batch and once a second; 0: every batch)', default: 1000, min: 0, max: 3_600_000 },
  },
  counters: {
    captured: 'frames recorded (a frame recorded on egress once per destination port counts once per port)',
    bytes: 'frame bytes recorded (after snaplen)',
    filesRotated: 'files closed because they reached rotateBytes',
    writeErrors: 'failed opens, writes, closes or deletions (the first is logged; a failed open or write stops the capture)',
    truncated: 'frames cut to snaplen',
  },
  create(config, ctx) {
    return new PcapCapture(settings(config, ctx), ctx);
  },
});
