/**
 * capture `sflow`: an sFlow v5 agent inside the switch (InMon's Hyper-V capture extension, in
 * TypeScript).
 *
 * Synopsis: sflow agentAddress=IPv4 collector={ip,port,mac,gateway} sampleRate=400 pollingSeconds=20
 *
 * It samples 1 in `sampleRate` frames per source port on ingress (random skip counts, mean
 * sampleRate), counts every frame per port on ingress and egress (generic interface counters), and
 * sends flow samples and counter samples in sFlow v5 datagrams to a collector. The worker never
 * returns to its event loop while it forwards, so the extension owns no socket and no timer: it
 * ORIGINATES each datagram as an Ethernet/IPv4/UDP frame into the switch's ingress path
 * (ctx.allocate + ctx.write + ctx.inject), as a Hyper-V capture extension does, and the switch
 * forwards it to the collector like any frame. Timers (flush, counter polling, ARP retries) are
 * checked at each batch. Without `collector.mac`, it resolves the collector's MAC with ARP: it
 * originates a request and watches the ingress frames for the answer, holding datagrams (bounded)
 * until then.
 *
 * Hot path: per frame, a few typed-array updates and a skip-count decrement; a sampled frame is
 * written into a preallocated datagram buffer through a DataView created once. Nothing is allocated
 * per frame or per datagram.
 */
import type { CaptureView, ExtensionConfig, ExtensionContext, ExtensionInstance } from '../api.js';
import { defineCapture } from '../api.js';

/** port indices the switch can have (config/types.ts MAX_PORTS_PER_SWITCH) */
const MAX_PORTS = 256;
/** sFlow payload budget: a datagram is sent before it would exceed this */
const MAX_DATAGRAM = 1400;
const ETH_LEN = 14;
const IP_LEN = 20;
const UDP_LEN = 8;
const L2L3L4 = ETH_LEN + IP_LEN + UDP_LEN; // 42: where the sFlow datagram starts
const SFLOW_HDR = 28; // version, address type, IPv4, sub-agent, sequence, uptime, sample count
const MAX_FRAME = L2L3L4 + MAX_DATAGRAM;
/** full datagrams held while the collector's MAC is unknown; beyond that samples are dropped */
const HOLD = 8;
const ARP_RETRY_SECONDS = 1;
const COUNTER_SAMPLE_LEN = 8 + 12 + 8 + 88;
const EXT_SWITCH_LEN = 8 + 16;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function ipv4ToU32(s: string): number {
  const p = s.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function macBytes(s: string): Uint8Array {
  return Uint8Array.from(s.split(':'), (x) => parseInt(x, 16));
}

function num(c: ExtensionConfig, k: string): number {
  const v = c[k];
  return typeof v === 'number' ? v : 0;
}

function str(c: { [k: string]: unknown }, k: string): string | undefined {
  const v = c[k];
  return typeof v === 'string' ? v : undefined;
}

/** ones'-complement sum of b[off..off+len) as 16-bit big-endian words, added to sum (unfolded) */
function sum16(b: Uint8Array, off: number, len: number, sum: number): number {
  let s = sum;
  const end = off + (len & ~1);
  for (let k = off; k < end; k += 2) s += (b[k] << 8) | b[k + 1];
  if (len & 1) s += b[off + len - 1] << 8;
  return s;
}

function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

class SflowAgent implements ExtensionInstance<CaptureView> {
  private readonly ctx: ExtensionContext;
  // configuration, computed once
  private readonly rate: number;
  private readonly headerBytes: number;
  private readonly flushSeconds: number;
  private readonly pollSeconds: number;
  private readonly agentIp: number;
  private readonly collectorIp: number;
  private readonly collectorPort: number;
  private readonly arpTarget: number;
  private readonly agentMac: Uint8Array;
  private readonly collectorMac = new Uint8Array(6);
  private readonly watchArp: boolean;
  private resolved: boolean;
  // counters (indices into ctx.counters)
  private readonly cSampled: number;
  private readonly cDatagrams: number;
  private readonly cCounterSamples: number;
  private readonly cDropsUnresolved: number;
  private readonly cArpRequests: number;
  private readonly cSendFailures: number;
  // sampling state, per source port
  private rng: number;
  private readonly skip = new Int32Array(MAX_PORTS);
  private readonly samplePool = new Float64Array(MAX_PORTS);
  private readonly flowSeq = new Float64Array(MAX_PORTS);
  private readonly ctrSeq = new Float64Array(MAX_PORTS);
  // interface counters, per port
  private readonly inOctets = new Float64Array(MAX_PORTS);
  private readonly inUcast = new Float64Array(MAX_PORTS);
  private readonly inMcast = new Float64Array(MAX_PORTS);
  private readonly inBcast = new Float64Array(MAX_PORTS);
  private readonly inDiscards = new Float64Array(MAX_PORTS);
  private readonly inErrors = new Float64Array(MAX_PORTS);
  private readonly outOctets = new Float64Array(MAX_PORTS);
  private readonly outUcast = new Float64Array(MAX_PORTS);
  private readonly outMcast = new Float64Array(MAX_PORTS);
  private readonly outBcast = new Float64Array(MAX_PORTS);
  private readonly dsts = new Int32Array(MAX_PORTS);
  private ingressDrops = 0;
  // datagram buffers: `cur` is being filled; full ones wait in `held` while unresolved
  private readonly bufs: Uint8Array[] = [];
  private readonly dvs: DataView[] = [];
  private readonly lens = new Int32Array(HOLD + 1);
  private readonly counts = new Int32Array(HOLD + 1);
  private readonly held = new Int32Array(HOLD);
  private heldHead = 0;
  private heldCount = 0;
  private readonly free = new Int32Array(HOLD);
  private freeCount = 0;
  private cur = 0;
  private curStart = 0;
  private readonly arpFrame = new Uint8Array(60);
  // time and sequence
  private started = -1;
  private nextPoll = 0;
  private nextArp = 0;
  private datagramSeq = 0;
  private ipId = 0;

  constructor(config: ExtensionConfig, ctx: ExtensionContext) {
    this.ctx = ctx;
    this.rate = num(config, 'sampleRate');
    this.headerBytes = num(config, 'headerBytes');
    this.flushSeconds = num(config, 'flushMs') / 1000;
    this.pollSeconds = num(config, 'pollingSeconds');
    const agent = str(config, 'agentAddress') ?? '0.0.0.0';
    this.agentIp = ipv4ToU32(agent);
    const collector = config.collector as { [k: string]: unknown };
    this.collectorIp = ipv4ToU32(str(collector, 'ip') ?? '0.0.0.0');
    this.collectorPort = typeof collector.port === 'number' ? collector.port : 6343;
    const gw = str(collector, 'gateway');
    this.arpTarget = gw !== undefined ? ipv4ToU32(gw) : this.collectorIp;
    const a = this.agentIp;
    this.agentMac = macBytes(str(config, 'agentMac') ?? `02:53:${[a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].map((x) => x.toString(16).padStart(2, '0')).join(':')}`);
    const cmac = str(collector, 'mac');
    if (cmac !== undefined) this.collectorMac.set(macBytes(cmac));
    this.watchArp = cmac === undefined;
    this.resolved = cmac !== undefined;
    const seed = num(config, 'seed');
    this.rng = (seed !== 0 ? seed : (Math.random() * 0xffffffff) ^ (ctx.workerIndex * 0x9e3779b9)) >>> 0 || 1;
    for (let p = 0; p < MAX_PORTS; p++) this.skip[p] = this.nextSkip();

    this.cSampled = ctx.counterIndex('sampled');
    this.cDatagrams = ctx.counterIndex('datagrams');
    this.cCounterSamples = ctx.counterIndex('counterSamples');
    this.cDropsUnresolved = ctx.counterIndex('dropsUnresolved');
    this.cArpRequests = ctx.counterIndex('arpRequests');
    this.cSendFailures = ctx.counterIndex('sendFailures');

    for (let k = 0; k <= HOLD; k++) {
      const b = new Uint8Array(MAX_FRAME);
      this.bufs.push(b);
      this.dvs.push(new DataView(b.buffer));
      this.initTemplate(k);
    }
    for (let k = 1; k <= HOLD; k++) this.free[this.freeCount++] = k;

    // ARP request template: who has arpTarget? tell agentAddress
    const f = this.arpFrame;
    f.fill(0xff, 0, 6);
    f.set(this.agentMac, 6);
    f[12] = 0x08; f[13] = 0x06;
    f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0; f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1;
    f.set(this.agentMac, 22);
    const dv = new DataView(f.buffer);
    dv.setUint32(28, this.agentIp);
    dv.setUint32(38, this.arpTarget);
  }

  /** the parts of a datagram frame that never change: MACs' source, IPv4/UDP constants, sFlow header */
  private initTemplate(k: number): void {
    const b = this.bufs[k];
    const dv = this.dvs[k];
    b.set(this.agentMac, 6);
    b[12] = 0x08; b[13] = 0x00;
    b[14] = 0x45; b[15] = 0; b[20] = 0x40; b[21] = 0; b[22] = 64; b[23] = 17; // DF, TTL 64, UDP
    dv.setUint32(26, this.agentIp);
    dv.setUint32(30, this.collectorIp);
    dv.setUint16(34, this.collectorPort); // source port: the sFlow port too
    dv.setUint16(36, this.collectorPort);
    const o = L2L3L4;
    dv.setUint32(o, 5);
    dv.setUint32(o + 4, 1);
    dv.setUint32(o + 8, this.agentIp);
    dv.setUint32(o + 12, this.ctx.workerIndex);
    this.lens[k] = L2L3L4 + SFLOW_HDR;
    this.counts[k] = 0;
  }

  /** skip count: uniform in 1..2*rate-1 (mean rate), xorshift32 */
  private nextSkip(): number {
    if (this.rate <= 1) return 1;
    let x = this.rng;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.rng = x >>> 0;
    return 1 + (this.rng % (2 * this.rate - 1));
  }

  ingress(view: CaptureView, ctx: ExtensionContext): void {
    if (ctx.tracing) return;
    this.timers(ctx.now);
    const p = view.inPort;
    const n = view.count;
    if (p < 0 || p >= MAX_PORTS) { this.ingressDrops = 0; return; } // originated/injected by the switch: not port traffic
    if (this.watchArp) this.watchArpReplies(view);
    let drops = 0;
    const skip = this.skip;
    for (let i = 0; i < n; i++) {
      if (view.dropped(i)) { drops++; continue; }
      const len = view.length(i);
      this.inOctets[p] += len;
      const b0 = view.byte(i, 0);
      if ((b0 & 1) === 0) this.inUcast[p]++;
      else if (view.u32(i, 0) === 0xffffffff && view.u16(i, 4) === 0xffff) this.inBcast[p]++;
      else this.inMcast[p]++;
      this.samplePool[p]++;
      if (--skip[p] === 0) {
        skip[p] = this.nextSkip();
        this.flowSample(view, i, p, len);
      }
    }
    this.inErrors[p] += drops;
    this.ingressDrops = drops;
  }

  egress(view: CaptureView, ctx: ExtensionContext): void {
    if (ctx.tracing) return;
    const p = view.inPort;
    const n = view.count;
    const dsts = this.dsts;
    let drops = 0;
    for (let i = 0; i < n; i++) {
      if (view.dropped(i)) { drops++; continue; }
      const m = view.destinations(i, dsts);
      if (m === 0) continue;
      const len = view.length(i);
      const b0 = view.byte(i, 0);
      const cls = (b0 & 1) === 0 ? 0 : view.u32(i, 0) === 0xffffffff && view.u16(i, 4) === 0xffff ? 2 : 1;
      const cnt = cls === 0 ? this.outUcast : cls === 2 ? this.outBcast : this.outMcast;
      for (let k = 0; k < m; k++) {
        const d = dsts[k];
        this.outOctets[d] += len;
        cnt[d]++;
      }
    }
    if (p >= 0 && p < MAX_PORTS && drops > this.ingressDrops) this.inDiscards[p] += drops - this.ingressDrops;
    this.ingressDrops = 0;
  }

  close(): void {
    this.heldCount = 0;
    this.counts[this.cur] = 0;
  }

  // ------------------------------------------------------------ timers (per batch, and once a second)

  /** the worker's once-a-second tick: flush, counter polls and ARP retries also on an idle switch */
  tick(ctx: ExtensionContext): void {
    this.timers(ctx.now);
  }

  private timers(now: number): void {
    if (this.started < 0) {
      this.started = now;
      this.nextPoll = now + this.pollSeconds;
      this.nextArp = now;
    }
    if (!this.resolved && now >= this.nextArp) {
      this.nextArp = now + ARP_RETRY_SECONDS;
      this.sendArp();
    }
    if (this.pollSeconds > 0 && now >= this.nextPoll) {
      this.nextPoll = now + this.pollSeconds;
      this.pollCounters();
    }
    if (this.counts[this.cur] > 0 && now - this.curStart >= this.flushSeconds) this.closeDatagram();
  }

  private sendArp(): void {
    const ctx = this.ctx;
    const f = ctx.allocate(60);
    if (f === -1) { ctx.counters[this.cSendFailures]++; return; }
    ctx.write(f, 0, this.arpFrame);
    ctx.inject(f);
    ctx.counters[this.cArpRequests]++;
  }

  /** an ARP frame (request or reply) from the target tells us its MAC */
  private watchArpReplies(view: CaptureView): void {
    const n = view.count;
    for (let i = 0; i < n; i++) {
      if (view.u16(i, 12) !== 0x0806 || view.dropped(i)) continue;
      // Ethernet/IPv4 ARP only (htype 1, ptype 0x0800, hlen 6, plen 4): with other lengths the
      // addresses are elsewhere and bytes 22..31 are not the sender's MAC and IPv4 address
      if (view.u16(i, 14) !== 1 || view.u16(i, 16) !== 0x0800 || view.u16(i, 18) !== 0x0604 || view.u32(i, 28) !== this.arpTarget) continue;
      const m = this.collectorMac;
      let changed = false;
      for (let k = 0; k < 6; k++) {
        const v = view.byte(i, 22 + k);
        if (m[k] !== v) { m[k] = v; changed = true; }
      }
      const was = this.resolved;
      this.resolved = true;
      if (!was || changed) this.ctx.log(`sflow: collector next hop is at ${Array.from(m, (x) => x.toString(16).padStart(2, '0')).join(':')}`);
      if (!was) this.sendHeld();
    }
  }

  // ------------------------------------------------------------ samples

  /** make room for `bytes` in the current datagram (sending or holding it when full); returns the write offset */
  private room(bytes: number, now: number): number {
    if (this.lens[this.cur] + bytes > MAX_FRAME) this.closeDatagram();
    if (this.counts[this.cur] === 0) this.curStart = now;
    return this.lens[this.cur];
  }

  private flowSample(view: CaptureView, i: number, p: number, len: number): void {
    const hb = len < this.headerBytes ? len : this.headerBytes;
    const padded = (hb + 3) & ~3;
    const hdrRecord = 8 + 16 + padded;
    const body = 32 + hdrRecord + EXT_SWITCH_LEN;
    const o = this.room(8 + body, this.ctx.now);
    const k = this.cur;
    const dv = this.dvs[k];
    const ifIndex = p + 1;
    dv.setUint32(o, 1); // enterprise 0, flow_sample
    dv.setUint32(o + 4, body);
    dv.setUint32(o + 8, ++this.flowSeq[p]);
    dv.setUint32(o + 12, ifIndex); // source id: type 0 (ifIndex)
    dv.setUint32(o + 16, this.rate);
    dv.setUint32(o + 20, this.samplePool[p]);
    dv.setUint32(o + 24, 0); // drops: the agent never skips a sample it was due to take
    dv.setUint32(o + 28, ifIndex); // input
    dv.setUint32(o + 32, 0); // output: unknown (sampled on ingress)
    dv.setUint32(o + 36, 2); // records
    let r = o + 40;
    dv.setUint32(r, 1); // sampled_header
    dv.setUint32(r + 4, 16 + padded);
    dv.setUint32(r + 8, 1); // header protocol: Ethernet
    dv.setUint32(r + 12, len);
    dv.setUint32(r + 16, 0); // stripped
    dv.setUint32(r + 20, hb);
    const b = this.bufs[k];
    view.copy(i, b, r + 24, hb);
    for (let z = r + 24 + hb; z < r + 24 + padded; z++) b[z] = 0;
    r += hdrRecord;
    let vlan = 0;
    let prio = 0;
    if (view.u16(i, 12) === 0x8100) {
      const tci = view.u16(i, 14);
      vlan = tci & 0xfff;
      prio = tci >>> 13;
    }
    dv.setUint32(r, 1001); // extended_switch
    dv.setUint32(r + 4, 16);
    dv.setUint32(r + 8, vlan);
    dv.setUint32(r + 12, prio);
    dv.setUint32(r + 16, vlan);
    dv.setUint32(r + 20, prio);
    this.lens[k] = o + 8 + body;
    this.counts[k]++;
    this.ctx.counters[this.cSampled]++;
  }

  private pollCounters(): void {
    const ctx = this.ctx;
    let any = false;
    for (let p = 0; p < MAX_PORTS; p++) {
      if (ctx.portName(p) === undefined) continue;
      this.counterSample(p);
      any = true;
    }
    if (any) this.closeDatagram(); // counters are periodic: send them now
  }

  private counterSample(p: number): void {
    const o = this.room(COUNTER_SAMPLE_LEN, this.ctx.now);
    const k = this.cur;
    const dv = this.dvs[k];
    const ifIndex = p + 1;
    dv.setUint32(o, 2); // enterprise 0, counters_sample
    dv.setUint32(o + 4, COUNTER_SAMPLE_LEN - 8);
    dv.setUint32(o + 8, ++this.ctrSeq[p]);
    dv.setUint32(o + 12, ifIndex);
    dv.setUint32(o + 16, 1);
    const r = o + 20;
    dv.setUint32(r, 1); // generic interface counters
    dv.setUint32(r + 4, 88);
    dv.setUint32(r + 8, ifIndex);
    dv.setUint32(r + 12, 6); // ethernetCsmacd
    dv.setUint32(r + 16, 0); // ifSpeed (hyper): unknown
    dv.setUint32(r + 20, 0);
    dv.setUint32(r + 24, 1); // full duplex
    dv.setUint32(r + 28, 3); // admin up, oper up
    this.hyper(dv, r + 32, this.inOctets[p]);
    dv.setUint32(r + 40, this.inUcast[p]);
    dv.setUint32(r + 44, this.inMcast[p]);
    dv.setUint32(r + 48, this.inBcast[p]);
    dv.setUint32(r + 52, this.inDiscards[p]);
    dv.setUint32(r + 56, this.inErrors[p]);
    dv.setUint32(r + 60, 0); // unknown protos
    this.hyper(dv, r + 64, this.outOctets[p]);
    dv.setUint32(r + 72, this.outUcast[p]);
    dv.setUint32(r + 76, this.outMcast[p]);
    dv.setUint32(r + 80, this.outBcast[p]);
    dv.setUint32(r + 84, 0); // out discards
    dv.setUint32(r + 88, 0); // out errors
    dv.setUint32(r + 92, 0); // promiscuous: no
    this.lens[k] = o + COUNTER_SAMPLE_LEN;
    this.counts[k]++;
    this.ctx.counters[this.cCounterSamples]++;
  }

  private hyper(dv: DataView, off: number, v: number): void {
    dv.setUint32(off, Math.floor(v / 4294967296));
    dv.setUint32(off + 4, v % 4294967296);
  }

  // ------------------------------------------------------------ datagrams

  /** the current datagram is complete: send it, or hold it while the collector is unresolved */
  private closeDatagram(): void {
    const k = this.cur;
    if (this.counts[k] === 0) return;
    if (this.resolved) {
      this.send(k);
      this.initTemplate(k);
      return;
    }
    if (this.freeCount > 0) {
      this.held[(this.heldHead + this.heldCount) % HOLD] = k;
      this.heldCount++;
      this.cur = this.free[--this.freeCount];
      return;
    }
    this.ctx.counters[this.cDropsUnresolved] += this.counts[k];
    this.initTemplate(k);
  }

  private sendHeld(): void {
    while (this.heldCount > 0) {
      const k = this.held[this.heldHead];
      this.heldHead = (this.heldHead + 1) % HOLD;
      this.heldCount--;
      this.send(k);
      this.initTemplate(k);
      this.free[this.freeCount++] = k;
    }
  }

  private send(k: number): void {
    const ctx = this.ctx;
    const b = this.bufs[k];
    const dv = this.dvs[k];
    const len = this.lens[k];
    b.set(this.collectorMac, 0);
    // sFlow header: sequence, uptime, sample count
    dv.setUint32(L2L3L4 + 16, ++this.datagramSeq);
    dv.setUint32(L2L3L4 + 20, Math.round((ctx.now - (this.started < 0 ? ctx.now : this.started)) * 1000));
    dv.setUint32(L2L3L4 + 24, this.counts[k]);
    // IPv4: total length, id, checksum
    dv.setUint16(16, len - ETH_LEN);
    this.ipId = (this.ipId + 1) & 0xffff;
    dv.setUint16(18, this.ipId);
    dv.setUint16(24, 0);
    dv.setUint16(24, fold(sum16(b, ETH_LEN, IP_LEN, 0)));
    // UDP: length, checksum (pseudo header + segment)
    const udpLen = len - ETH_LEN - IP_LEN;
    dv.setUint16(38, udpLen);
    dv.setUint16(40, 0);
    let s = sum16(b, 26, 8, 17 + udpLen);
    s = sum16(b, ETH_LEN + IP_LEN, udpLen, s);
    const c = fold(s);
    dv.setUint16(40, c === 0 ? 0xffff : c);
    const f = ctx.allocate(MAX_FRAME);
    if (f === -1) {
      ctx.counters[this.cSendFailures]++;
      return;
    }
    ctx.write(f, 0, b);
    ctx.setLength(f, len);
    ctx.inject(f);
    ctx.counters[this.cDatagrams]++;
  }
}

export default defineCapture({
  name: 'sflow',
  version: '1.0.0',
  kind: 'capture',
  doc: {
    synopsis: 'sflow agentAddress=10.0.0.1 collector={"ip":"10.0.0.9","port":6343,"mac":"02:…"} [sampleRate=400] '
      + '[headerBytes=128] [pollingSeconds=20] [flushMs=1000] [agentMac=…]',
    summary: 'sFlow v5 agent: samples 1-in-N frames per port and polls interface counters, sent to a collector (monitoring).',
    description: 'On ingress it samples 1 in sampleRate frames of each source port (random skip counts with that mean, so '
      + 'sampling is not periodic) and records a flow sample: a sampled_header record (Ethernet, the first headerBytes bytes '
      + 'of the frame) and an extended_switch record (the 802.1Q VLAN and priority if the frame is tagged, else 0); '
      + 'sample_pool, drops and input are per source port (ifIndex = port index + 1), output is 0 (unknown: ingress sampling). '
      + 'It counts every frame per port on ingress (octets, unicast, multicast, broadcast, frames already dropped as '
      + 'errors, frames dropped later in the pipeline as discards) and on egress (octets, unicast, multicast, broadcast per '
      + 'destination port) and every pollingSeconds sends one generic interface counters sample per port. Samples go into '
      + 'an sFlow v5 datagram (agent address agentAddress, sub-agent id = worker index) that is sent when the next sample '
      + 'would make it exceed 1400 bytes, after flushMs, or right after a counter poll. The datagram is ORIGINATED as an '
      + 'Ethernet/IPv4/UDP frame (agentMac → collector MAC, agentAddress → collector.ip, UDP port collector.port both '
      + 'ways) into the ingress path, and the switch forwards it like any frame. Frames are never altered or dropped.',
    path: 'both: sampling and inbound counters on ingress (frames originated by the switch itself, including its own '
      + 'datagrams, are not sampled), outbound counters on egress.',
    notes: 'No timers run on a worker: flush, counter polling and ARP retries are checked per batch and on the worker\'s '
      + 'once-a-second tick, so counters are also reported for an idle switch. Without collector.mac the agent ARPs '
      + 'for collector.ip (or collector.gateway when the collector is not on the switch\'s segment) from agentAddress/agentMac, '
      + 'every second until an ARP frame from that address arrives on any port; meanwhile it holds up to 8 full datagrams '
      + 'and counts the samples it drops beyond that in dropsUnresolved (it never sends to the broadcast MAC). A later ARP '
      + 'frame from the target updates the MAC. Every worker is a sub-agent with its own sequence numbers and sampling; '
      + 'counters are per worker, so a collector sums the sub-agents. Set `seed` only for tests (it makes sampling '
      + 'deterministic). A reconfiguration rebuilds the instance: sequence numbers and counters restart (collectors treat '
      + 'it as an agent restart). Synthetic trace frames (`xvs trace`) are neither sampled nor counted.',
    seeAlso: 'sFlow v5 https://sflow.org/sflow_version_5.txt; collectors: pmacct sfacctd, tshark (sflow dissector, UDP 6343), '
      + 'nfdump sfcapd; docs/REFERENCE.md, "Extensions" (capture extensions originate on ingress) and "sFlow"',
  },
  config: {
    agentAddress: { type: 'string', required: true, pattern: IPV4, doc: 'IPv4 address of the agent (datagram agent address and source IP)' },
    agentMac: { type: 'string', pattern: MAC, doc: 'source MAC of originated frames (default 02:53 + the agent address bytes)' },
    collector: {
      type: 'object', required: true, doc: 'where datagrams go',
      keys: {
        ip: { type: 'string', required: true, pattern: IPV4, doc: 'collector IPv4 address' },
        port: { type: 'integer', default: 6343, min: 1, max: 65535, doc: 'collector UDP port (also the source port)' },
        mac: { type: 'string', pattern: MAC, doc: 'MAC to send to (collector or router); resolved with ARP when absent' },
        gateway: { type: 'string', pattern: IPV4, doc: 'router to ARP for when the collector is off-segment (default: collector.ip)' },
      },
    },
    sampleRate: { type: 'integer', default: 400, min: 1, max: 1 << 24, doc: 'sample 1 in N frames per source port (mean)' },
    headerBytes: { type: 'integer', default: 128, min: 14, max: 256, doc: 'bytes of each sampled frame that are exported' },
    pollingSeconds: { type: 'integer', default: 20, min: 0, max: 3600, doc: 'counter sample interval per port (0 = no counter samples)' },
    flushMs: { type: 'integer', default: 1000, min: 0, max: 60000, doc: 'longest a sample waits in a datagram that is not full' },
    seed: { type: 'integer', default: 0, min: 0, max: 0xffffffff, doc: 'random seed for the skip counts (0 = random; set for tests)' },
  },
  counters: {
    sampled: 'flow samples taken',
    datagrams: 'sFlow datagrams originated',
    counterSamples: 'interface counter samples taken',
    dropsUnresolved: 'samples dropped because the collector MAC was unknown and the hold queue was full',
    arpRequests: 'ARP requests originated for the collector (or gateway)',
    sendFailures: 'datagrams or ARP requests not sent because the frame pool was exhausted',
  },
  create(config, ctx) {
    return new SflowAgent(config, ctx);
  },
});
