/**
 * Hyper-V Network Virtualization in the data path (docs/HNV.md, "Data path"): the 2012 R2 model, a
 * distributed layer-3 switch per routing domain. One hook at the miniport stage (after the forwarder:
 * HNV decides every HNV frame's destinations itself):
 *  - from a VM port with a virtualSubnetId: source check, ARP and ND proxy from the lookup records (and
 *    for the distributed router's address), routing among the VSIDs of the port's routing domain,
 *    local delivery or encapsulation toward the record's PA on the uplink, VSID flooding of
 *    broadcast/multicast by local delivery plus unicast replication to the PAs of the VSID;
 *  - from the uplink: ARP for our PAs (answered, learned), tunnel frames (checked, decapsulated,
 *    delivered); anything else is not HNV's but never reaches an HNV VM port;
 *  - from any other port: never reaches an HNV VM port (tenants are reachable only through HNV).
 * Tables are built by configure; per frame nothing is allocated (trace words only while tracing).
 * IPv4 and IPv6 customer addresses; IPv4 provider addresses (the outer header is IPv4).
 */
import { MAX_PORTS_PER_SWITCH, type HnvEncap, type HnvLookupRecord, type HnvProviderAddress } from '../../config/types.js';
import { DST_WORDS, DstMode, type Batch } from '../../core/batch.js';
import { CounterBlock, PF_DROPS } from '../../core/counters.js';
import { DropReason } from '../../core/drop-reasons.js';
import { VNET_HDR_LEN, type FramePool } from '../../core/frame-pool.js';
import type { BreathContext } from '../../core/stage.js';
import type { HnvPolicyInput } from '../../pipeline/port-policies.js';
import type { PolicyHook } from '../../pipeline/policies.js';
import { HNV_VSID_SLOTS, HVF, PolicyCounters } from '../counters.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, SwitchPolicyInput } from '../runtime.js';
import { parseTunnel, stripOuter, TunnelInfo, TunnelParse } from './decap.js';
import { GRE_PROTO_TEB, VXLAN_FLAG_I, VXLAN_PORT } from './encap.js';
import { buildOuterTemplate, encapsulate, flowHashIpv4, OuterWriter, flowSeedIpv4, innerFlowHash, overlayMtu, type OuterTemplate } from './encap.js';
import { ArpInfo, arpReplyInPlace, buildArpRequest, NEIGHBOR_SLOTS, NeighborTable, parseArp } from './neighbors.js';
import { fragmentIpv4 } from './fragment.js';
import { fitGsoToTunnel, isGso, segmentGso, SEGMENT_NO_SLOTS } from './segment.js';
import { HnvPortMacs } from './shared-state.js';
import { ipv4, ipv4Text, ipv6Text, ipv6Words, Key3Map, Key5Map, macBytes, macHi, macLo, macText, maskOf, readIpv4, readWord, writeIpv4 } from './tables.js';
import { toPacketTooBig } from './too-big.js';

/** the distributed router's MAC: source of routed frames and the ARP answer for a subnet's router address */
export const HNV_ROUTER_MAC = '02:48:4e:56:00:01';

const R_NOT_IP = DropReason['hnv-not-ip'];
const R_SPOOF = DropReason['hnv-spoofed-source'];
const R_NO_RECORD = DropReason['hnv-no-record'];
const R_ARP_UNKNOWN = DropReason['hnv-arp-unknown'];
const R_NO_PORT = DropReason['hnv-no-port'];
const R_UNRESOLVED = DropReason['hnv-next-hop-unresolved'];
const R_OVERSIZE = DropReason['hnv-oversize'];
const R_NO_HEADROOM = DropReason['hnv-no-headroom'];
const R_BAD_ENCAP = DropReason['hnv-bad-encapsulation'];
const R_UNKNOWN_VSID = DropReason['hnv-unknown-vsid'];
const R_WRONG_PA = DropReason['hnv-wrong-pa'];
const R_PA_ARP = DropReason['hnv-pa-arp'];
const POOL_EXHAUSTED = DropReason['pool-exhausted'];

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_IPV6 = 0x86dd;
const R_DAD = DropReason['hnv-dad'];
const F_ENCAPSULATED = HVF.encapsulated;
const F_ROUTED = HVF.routed;
const F_DECAPSULATED = HVF.decapsulated;
const F_REJECTED = HVF.rejected;
/** slots segmentation, fragmentation, replication and ARP origination leave free (× batch size) */
const POOL_RESERVE_FACTOR = 1;

/** the whole configured state; replaced as one object by configure */
class Tables {
  uplink = -1;
  uplinkMac: Uint8Array = new Uint8Array(6);
  uplinkMacText = '00:00:00:00:00:00';
  uplinkMtu = 1500;
  /** the uplink sends VXLAN GSO frames whole (HnvPolicyInput.uplinkTunnelGso) */
  uplinkTunnelGso = false;
  localPas = new Uint32Array(0);
  localPaList: HnvProviderAddress[] = [];
  /** per port: its VSID slot, -1 = not an HNV VM port */
  readonly portSlot = new Int32Array(MAX_PORTS_PER_SWITCH).fill(-1);
  readonly portStatic = new Uint8Array(MAX_PORTS_PER_SWITCH);
  readonly portStaticHi = new Int32Array(MAX_PORTS_PER_SWITCH);
  readonly portStaticLo = new Int32Array(MAX_PORTS_PER_SWITCH);
  hnvPorts = new Int32Array(0);
  /** the HNV VM ports as a destination bitset: its non-zero words and their values */
  hnvWordIdx = new Int32Array(0);
  hnvWordBits = new Uint32Array(0);
  // virtual subnets (slot s)
  vsidMap = new Key3Map(0);
  slotVsid = new Uint32Array(0);
  slotDomain = new Int32Array(0);
  slotL2only = new Uint8Array(0);
  slotCounter = new Int32Array(0);
  slotPortsStart = new Int32Array(1);
  slotPorts = new Int32Array(0);
  slotRouterStart = new Int32Array(1);
  slotRouterIps = new Uint32Array(0);
  /** IPv6 router addresses (prefix::1 of each on-link IPv6 prefix), four words each */
  slotRouter6Start = new Int32Array(1);
  slotRouter6 = new Int32Array(0);
  /** per slot: one record per distinct remote PA of the VSID (unicast replication targets) */
  slotReplStart = new Int32Array(1);
  slotRepl = new Int32Array(0);
  // lookup records (r)
  recCa = new Uint32Array(0);
  recVsid = new Uint32Array(0);
  recSlot = new Int32Array(0);
  recMac = new Uint8Array(0);
  recHi = new Int32Array(0);
  recLo = new Int32Array(0);
  recPa = new Uint32Array(0);
  recEncap: HnvEncap[] = [];
  recL2only = new Uint8Array(0);
  recLocal = new Uint8Array(0);
  recNextHop = new Int32Array(0);
  recText: string[] = [];
  recTpl: (OuterTemplate | undefined)[] = [];
  /** the next-hop MAC each cached template was built for */
  recTplMac = new Uint8Array(0);
  /** (vsid, ca, 0) → record, static records only */
  caMap = new Key3Map(0);
  /** (domain, ca, 1) → record: the inner source of a routed tunnel frame */
  domainCaMap = new Key3Map(0);
  /** (vsid, mac hi, mac lo) → record */
  macMap = new Key3Map(0);
  /** IPv6 CAs: (vsid, address words) → record, and (domain, address words) → record */
  ca6Map = new Key5Map(0);
  domainCa6Map = new Key5Map(0);
  // customer routes, grouped by domain, most specific first then lowest metric
  domainStart = new Int32Array(1);
  rtPrefix = new Uint32Array(0);
  rtMask = new Uint32Array(0);
  rtVsid = new Uint32Array(0);
  rtNextHop = new Uint32Array(0);
  // IPv6 customer routes, the same order; four words per prefix, mask and next hop
  domainStart6 = new Int32Array(1);
  rt6Prefix = new Int32Array(0);
  rt6Mask = new Int32Array(0);
  rt6Vsid = new Uint32Array(0);
  rt6NextHop = new Int32Array(0);
  rt6OnLink = new Uint8Array(0);
  // provider next hops (k)
  nhCount = 0;
  nhIp = new Uint32Array(0);
  /** the local PA (index in localPas) each next hop is reached from */
  nhLocalPa = new Int32Array(0);
  domainNames: string[] = [];
}

class HnvHook implements PolicyHook {
  readonly name = 'hnv';
  t = new Tables();
  private readonly env: PolicyEnv;
  private readonly macs: HnvPortMacs;
  readonly neighbors: NeighborTable;
  private readonly info = new TunnelInfo();
  private readonly arp = new ArpInfo();
  /** the MAC of the next hop last looked up */
  private readonly nhMac = new Uint8Array(6);
  private readonly routerMac = macBytes(HNV_ROUTER_MAC, 'router');
  private readonly routerIp = new Uint8Array(4);
  private readonly routerIp6 = new Uint8Array(16);
  private now = 0;
  /**
   * The last IPv4 decision of this batch, reused by the next frame with the same addresses (frames of a
   * flow come in runs; reset every batch, so a policy change or a moved MAC is seen by the next batch).
   * From a VM: the record it went to, encapsulated whole with template fastTpl (fastR -1: none yet).
   */
  private fastR = -1;
  private fastSlot = -1;
  private fastSip = 0;
  private fastDip = 0;
  private fastHi = 0;
  private fastLo = 0;
  private fastMaxLen = 0;
  private fastTpl: OuterTemplate | null = null;
  /** the flow hash's state after fastSip and fastDip (flowSeedIpv4) */
  private fastSeed = 0;
  /** writes the outer headers of encapRun's frames */
  private readonly writer = new OuterWriter();
  /** a DataView of the pool's buffer (big-endian fields in one load each), made when the pool changes */
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private dvOf: SharedArrayBuffer | null = null;
  /** deliver's template when it encapsulated one whole frame (for the decision above) */
  private lastTpl: OuterTemplate | null = null;
  /** From the uplink: the port an IPv4 unicast of (VSID, outer source, encapsulation, inner source, inner destination MAC) went to */
  private decapPort = -1;
  private decapSlot = -1;
  private decapVsid = 0;
  private decapSrc = 0;
  private decapEncap: HnvEncap = 'vxlan';
  private decapSip = 0;
  private decapHi = 0;
  private decapLo = 0;
  /** the decision's outer IPv4 destination (a local PA; decapRun) */
  private decapDst = 0;

  constructor(env: PolicyEnv, macs: HnvPortMacs, neighbors: NeighborTable) {
    this.env = env;
    this.macs = macs;
    this.neighbors = neighbors;
  }

  appliesTo(_batch: Batch): boolean {
    return true;
  }

  process(batch: Batch, pool: FramePool, ctx: BreathContext): void {
    this.now = ctx.now;
    this.fastR = -1;
    this.decapPort = -1;
    const src = batch.inPort;
    const t = this.t;
    if (src >= 0 && t.portSlot[src] >= 0) this.fromVm(batch, pool, src);
    else if (src >= 0 && src === t.uplink) this.fromUplink(batch, pool);
    else this.excludeHnvPorts(batch, 0, batch.count);
  }

  // ---- helpers ----

  private count(slot: number, field: number): void {
    if (slot < 0 || this.env.trace.synthetic) return;
    this.env.policyCounters.v[PolicyCounters.hnvVsid(this.t.slotCounter[slot]) + field]++;
  }

  /** drop frame i, counted for VSID slot `slot`; true when a trace wants the note (words are built only then) */
  private reject(batch: Batch, i: number, reason: number, slot: number): boolean {
    batch.drop(i, reason);
    this.count(slot, HVF.rejected);
    return this.env.trace.on;
  }

  private excludeHnvPorts(batch: Batch, from: number, to: number): void {
    const idx = this.t.hnvWordIdx;
    if (idx.length === 0) return;
    const bits = this.t.hnvWordBits;
    const ex = batch.exclude;
    for (let i = from; i < to; i++) {
      if (batch.reason[i] !== 0) continue;
      const base = i * DST_WORDS;
      for (let k = 0; k < idx.length; k++) ex[base + idx[k]] |= bits[k];
      batch.hasExclusions = true;
    }
  }

  private unicast(batch: Batch, i: number, port: number): void {
    batch.dstMode[i] = DstMode.unicast;
    batch.dstPort[i] = port;
  }

  /** the port's own MAC (static, else learned) matches hi/lo; learns the first one seen */
  private portMacIs(p: number, hi: number, lo: number, learn: boolean): boolean {
    const t = this.t;
    if (t.portStatic[p] === 1) return t.portStaticHi[p] === hi && t.portStaticLo[p] === lo;
    const w = this.macs.w;
    const b = HnvPortMacs.port(p);
    if (Atomics.load(w, b) === 1) return w[b + 1] === hi && w[b + 2] === lo;
    if (!learn) return false;
    // multicast/broadcast sources are never a port's MAC
    if (((hi >>> 8) & 1) !== 0) return false;
    if (!this.env.trace.synthetic) this.macs.learn(p, hi, lo);
    return true;
  }

  /** the VM port of VSID slot s with MAC hi/lo, or -1 */
  private localPort(s: number, hi: number, lo: number): number {
    const t = this.t;
    for (let k = t.slotPortsStart[s]; k < t.slotPortsStart[s + 1]; k++) {
      const p = t.slotPorts[k];
      if (this.portMacIs(p, hi, lo, false)) return p;
    }
    return -1;
  }

  /** the record that lets source ip/MAC send in VSID slot s, or -1 */
  private sourceRecord(s: number, ip: number, hi: number, lo: number): number {
    const t = this.t;
    const vsid = t.slotVsid[s];
    if (ip !== 0) {
      const r = t.caMap.get(vsid, ip, 0);
      if (r >= 0 && t.recHi[r] === hi && t.recLo[r] === lo) return r;
    }
    if (t.slotL2only[s] === 1) {
      const r = t.macMap.get(vsid, hi, lo);
      if (r >= 0 && t.recL2only[r] === 1) return r;
    }
    return -1;
  }

  /** a router address of VSID slot s equals ip */
  private isRouterIp(s: number, ip: number): boolean {
    const t = this.t;
    for (let k = t.slotRouterStart[s]; k < t.slotRouterStart[s + 1]; k++) if (t.slotRouterIps[k] === ip) return true;
    return false;
  }

  /** the outer header for record r through next hop k (MAC in nhMac), rebuilt when that MAC changed */
  private template(r: number, k: number): OuterTemplate {
    const t = this.t;
    const mac = this.nhMac;
    const cached = t.recTpl[r];
    const mo = r * 6;
    if (cached !== undefined && t.recTplMac[mo] === mac[0] && t.recTplMac[mo + 1] === mac[1] && t.recTplMac[mo + 2] === mac[2] &&
      t.recTplMac[mo + 3] === mac[3] && t.recTplMac[mo + 4] === mac[4] && t.recTplMac[mo + 5] === mac[5]) return cached;
    const pa = t.localPaList[t.nhLocalPa[k]];
    const tpl = buildOuterTemplate({
      encap: t.recEncap[r], srcMac: t.uplinkMacText, dstMac: macText(macHi(mac, 0), macLo(mac, 0)),
      vlanId: pa.vlanId, srcIp: pa.address, dstIp: ipv4Text(t.recPa[r]),
    });
    t.recTpl[r] = tpl;
    t.recTplMac.set(mac, mo);
    return tpl;
  }

  /** next hop k's MAC into nhMac; false when unresolved (an ARP request goes out, throttled) */
  private nextHopReady(k: number): boolean {
    if (this.neighbors.lookup(k, this.now, this.nhMac)) return true;
    if (!this.env.trace.synthetic) this.requestNextHop(k, this.now);
    return false;
  }

  /** originate an ARP request for next hop k on the uplink when the neighbour table says one is due */
  requestNextHop(k: number, now: number): void {
    const t = this.t;
    if (t.uplink < 0 || k >= t.nhCount) return;
    const pool = this.env.pool;
    if (pool.freeTop <= this.env.batchSize * POOL_RESERVE_FACTOR) return;
    if (!this.neighbors.needsRequest(k, now)) return;
    const pa = t.localPaList[t.nhLocalPa[k]];
    const id = buildArpRequest(pool, t.uplinkMac, t.localPas[t.nhLocalPa[k]], t.nhIp[k], pa.vlanId ?? 0);
    if (id >= 0 && !this.env.originate(id, t.uplink)) pool.release(id);
  }

  /** an ARP sender on the uplink: learn it when it is one of our next hops */
  private learnNextHop(ip: number, mac: Uint8Array): void {
    if (!this.env.trace.synthetic) this.neighbors.learn(ip, mac, this.now);
  }

  // ---- from a VM port of a virtual subnet ----

  private fromVm(batch: Batch, pool: FramePool, src: number): void {
    const t = this.t;
    const s = t.portSlot[src];
    const bytes = pool.bytes;
    const fast = !this.env.trace.on;
    for (let i = 0; i < batch.count; i++) {
      if (fast && this.fastR >= 0) {
        i = this.encapRun(batch, pool, i, s, src);
        if (i >= batch.count) break;
      }
      if (batch.reason[i] !== 0) continue;
      const id = batch.ids[i];
      const off = pool.dataOffset(id);
      const len = pool.len[id];
      const hi = macHi(bytes, off + 6);
      const lo = macLo(bytes, off + 6);
      if (!this.portMacIs(src, hi, lo, true)) {
        if (this.reject(batch, i, R_SPOOF, s)) this.env.trace.note(i, `hnv: rejected hnv-spoofed-source (source MAC ${macText(hi, lo)} is not the port's)`);
        continue;
      }
      const type = (bytes[off + 12] << 8) | bytes[off + 13];
      if (type === ETH_ARP && len >= 42) this.vmArp(batch, pool, i, id, off, s, src, hi, lo);
      else if (type === ETH_IPV4 && len >= 34) this.vmIpv4(batch, pool, i, id, off, s, src, hi, lo);
      else if (type === ETH_IPV6 && len >= 54) this.vmIpv6(batch, pool, i, id, off, s, src, hi, lo);
      else if (this.reject(batch, i, R_NOT_IP, s)) this.env.trace.note(i, `hnv: rejected hnv-not-ip (EtherType 0x${type.toString(16).padStart(4, '0')})`);
    }
  }

  private vmArp(batch: Batch, pool: FramePool, i: number, id: number, off: number, s: number, src: number, hi: number, lo: number): void {
    const t = this.t;
    const bytes = pool.bytes;
    const spa = readIpv4(bytes, off + 28);
    const tpa = readIpv4(bytes, off + 38);
    const ownSender = macHi(bytes, off + 22) === hi && macLo(bytes, off + 22) === lo;
    if (ownSender && t.slotL2only[s] === 0 && (spa === 0 || spa === tpa)) {
      // an ARP probe (address conflict detection) or a gratuitous ARP: the records own the addresses
      batch.drop(i, R_DAD);
      if (this.env.trace.on) this.env.trace.note(i, `hnv: ARP ${spa === 0 ? 'probe' : 'announcement'} for ${ipv4Text(tpa)} absorbed`);
      return;
    }
    if (!ownSender || this.sourceRecord(s, spa, hi, lo) < 0) {
      if (this.reject(batch, i, R_SPOOF, s)) this.env.trace.note(i, `hnv: rejected hnv-spoofed-source (ARP sender ${ipv4Text(spa)} ${macText(macHi(bytes, off + 22), macLo(bytes, off + 22))} has no record in VSID ${t.slotVsid[s]})`);
      return;
    }
    const op = (bytes[off + 20] << 8) | bytes[off + 21];
    const groupDst = (bytes[off] & 1) !== 0;
    if (!groupDst) {
      // unicast ARP (e.g. a refresh) goes to the record with the destination MAC, not answered
      const r = t.macMap.get(t.slotVsid[s], macHi(bytes, off), macLo(bytes, off));
      if (r < 0) {
        if (this.reject(batch, i, R_NO_RECORD, s)) this.env.trace.note(i, `hnv: rejected hnv-no-record (unicast ARP to ${macText(macHi(bytes, off), macLo(bytes, off))}, no record in VSID ${t.slotVsid[s]})`);
        return;
      }
      this.deliver(batch, pool, i, id, r, s, src);
      return;
    }
    if (op === 1) {
      const r = t.caMap.get(t.slotVsid[s], tpa, 0);
      if (r >= 0) {
        this.answerArp(bytes, off, t.recMac, r * 6, tpa);
        this.unicast(batch, i, src);
        this.count(s, HVF.arpProxied);
        if (this.env.trace.on) this.env.trace.note(i, `hnv: ARP proxy answer ${ipv4Text(tpa)} is-at ${macText(t.recHi[r], t.recLo[r])}`);
        return;
      }
      if (this.isRouterIp(s, tpa)) {
        this.answerArp(bytes, off, this.routerMac, 0, tpa);
        this.unicast(batch, i, src);
        this.count(s, HVF.arpProxied);
        if (this.env.trace.on) this.env.trace.note(i, `hnv: ARP proxy answer ${ipv4Text(tpa)} is-at ${HNV_ROUTER_MAC} (distributed router)`);
        return;
      }
    }
    if (t.slotL2only[s] === 1) {
      this.floodVsid(batch, pool, i, id, s, src);
      return;
    }
    if (this.reject(batch, i, R_ARP_UNKNOWN, s)) this.env.trace.note(i, `hnv: rejected hnv-arp-unknown (no record for ${ipv4Text(tpa)} in VSID ${t.slotVsid[s]}, no l2only records)`);
  }

  /** turn the ARP request at `off` into the answer "ip is-at mac[mo..mo+6)" in place */
  private answerArp(bytes: Uint8Array, off: number, mac: Uint8Array, mo: number, ip: number): void {
    bytes.copyWithin(off, off + 6, off + 12);
    for (let k = 0; k < 6; k++) bytes[off + 6 + k] = mac[mo + k];
    bytes[off + 20] = 0; bytes[off + 21] = 2;
    bytes.copyWithin(off + 32, off + 22, off + 32); // target ← sender (MAC and IP)
    for (let k = 0; k < 6; k++) bytes[off + 22 + k] = mac[mo + k];
    writeIpv4(bytes, off + 28, ip);
  }

  private vmIpv4(batch: Batch, pool: FramePool, i: number, id: number, off: number, s: number, src: number, hi: number, lo: number): void {
    const t = this.t;
    const bytes = pool.bytes;
    const sip = readIpv4(bytes, off + 26);
    const dip = readIpv4(bytes, off + 30);
    if (this.fastR >= 0 && sip === this.fastSip && dip === this.fastDip && s === this.fastSlot && hi === this.fastHi && lo === this.fastLo &&
        (bytes[off] & 1) === 0 && pool.len[id] <= this.fastMaxLen && !isGso(pool, id) && !this.env.trace.on) {
      this.encapsulateAgain(batch, pool, i, id, off, s);
      return;
    }
    if (this.sourceRecord(s, sip, hi, lo) < 0) {
      if (this.reject(batch, i, R_SPOOF, s)) this.env.trace.note(i, `hnv: rejected hnv-spoofed-source (${ipv4Text(sip)} from ${macText(hi, lo)}: no record in VSID ${t.slotVsid[s]})`);
      return;
    }
    if ((bytes[off] & 1) !== 0 || dip === 0xffffffff || (dip >>> 28) === 14) {
      this.floodVsid(batch, pool, i, id, s, src);
      return;
    }
    const vsid = t.slotVsid[s];
    let r = -1;
    let routeFound = false;
    const d = t.slotDomain[s];
    for (let k = t.domainStart[d]; k < t.domainStart[d + 1]; k++) {
      if (((dip & t.rtMask[k]) >>> 0) !== t.rtPrefix[k]) continue;
      routeFound = true;
      r = t.caMap.get(t.rtVsid[k], t.rtNextHop[k] === 0 ? dip : t.rtNextHop[k], 0);
      break;
    }
    if (!routeFound) r = t.caMap.get(vsid, dip, 0);
    if (r < 0) {
      if (this.reject(batch, i, R_NO_RECORD, s)) this.env.trace.note(i, `hnv: rejected hnv-no-record (no record for ${ipv4Text(dip)} in routing domain ${t.domainNames[d]})`);
      return;
    }
    this.lastTpl = null;
    this.deliverToRecord(batch, pool, i, id, off, r, s, src, vsid);
    if (this.lastTpl !== null) {
      this.fastR = r; this.fastSlot = s; this.fastSip = sip; this.fastDip = dip; this.fastHi = hi; this.fastLo = lo;
      this.fastTpl = this.lastTpl;
      this.fastMaxLen = overlayMtu(t.recEncap[r], t.uplinkMtu) + 14;
      this.fastSeed = flowSeedIpv4(sip, dip);
    }
  }

  /**
   * Frames i.. of the batch that repeat the last decision (same source MAC, IPv4, same addresses, unicast,
   * within the overlay MTU, not GSO) are encapsulated to record fastR in one tight loop, exactly as
   * encapsulateAgain would; returns the first frame that needs the general path (or batch.count).
   */
  private encapRun(batch: Batch, pool: FramePool, i: number, s: number, src: number): number {
    const t = this.t;
    const r = this.fastR;
    const tpl = this.fastTpl!;
    // addresses compared as signed 32-bit words (readWord): unsigned ones would be compared as doubles
    const hi = this.fastHi, lo = this.fastLo, sip = this.fastSip | 0, dip = this.fastDip | 0, maxLen = this.fastMaxLen, seed = this.fastSeed;
    // the source MAC passed portMacIs for an earlier frame; a port's MAC does not change within a batch
    if (s !== this.fastSlot || !this.portMacIs(src, hi, lo, false)) return i;
    const vsid = t.recVsid[r];
    const writer = this.writer;
    if (!writer.prepare(pool, tpl, vsid)) return i;
    const b = pool.bytes;
    if (pool.buffer !== this.dvOf) { this.dvOf = pool.buffer; this.dv = new DataView(pool.buffer); }
    const dv = this.dv;
    const ids = batch.ids, reason = batch.reason, dstMode = batch.dstMode, dstPort = batch.dstPort;
    const starts = pool.start, lens = pool.len, slotSize = pool.slotSize;
    const routed = vsid !== t.slotVsid[s];
    const mo = r * 6;
    const m0 = t.recMac[mo], m1 = t.recMac[mo + 1], m2 = t.recMac[mo + 2], m3 = t.recMac[mo + 3], m4 = t.recMac[mo + 4], m5 = t.recMac[mo + 5];
    const rm = this.routerMac;
    const uplink = t.uplink;
    let encapsulated = 0, rejected = 0;
    const n = batch.count;
    for (; i < n; i++) {
      if (reason[i] !== 0) continue;
      const id = ids[i];
      const base = id * slotSize;
      const off = base + starts[id];
      const len = lens[id];
      if (len < 34 || len > maxLen || b[base + 1] !== 0 || (b[off] & 1) !== 0 || dv.getUint16(off + 12) !== ETH_IPV4 ||
          dv.getUint16(off + 6) !== hi || dv.getInt32(off + 8) !== lo || dv.getInt32(off + 26) !== sip || dv.getInt32(off + 30) !== dip) break;
      if (routed) {
        b[off + 6] = rm[0]; b[off + 7] = rm[1]; b[off + 8] = rm[2]; b[off + 9] = rm[3]; b[off + 10] = rm[4]; b[off + 11] = rm[5];
      }
      b[off] = m0; b[off + 1] = m1; b[off + 2] = m2; b[off + 3] = m3; b[off + 4] = m4; b[off + 5] = m5;
      if (!writer.write(pool, id, flowHashIpv4(seed, b, off, len))) {
        batch.drop(i, R_NO_HEADROOM);
        rejected++;
        continue;
      }
      encapsulated++;
      dstMode[i] = DstMode.unicast;
      dstPort[i] = uplink;
    }
    if (!this.env.trace.synthetic) {
      const v = this.env.policyCounters.v;
      const c = PolicyCounters.hnvVsid(t.slotCounter[t.recSlot[r]]);
      v[c + F_ENCAPSULATED] += encapsulated;
      v[c + F_REJECTED] += rejected;
      if (routed) v[c + F_ROUTED] += encapsulated + rejected;
    }
    return i;
  }

  /** frame i goes where the batch's last frame with the same addresses went (fastR): encapsulated whole to its PA */
  private encapsulateAgain(batch: Batch, pool: FramePool, i: number, id: number, off: number, s: number): void {
    const t = this.t;
    const r = this.fastR;
    const bytes = pool.bytes;
    if (t.recVsid[r] !== t.slotVsid[s]) {
      for (let k = 0; k < 6; k++) bytes[off + 6 + k] = this.routerMac[k];
      this.count(t.recSlot[r], HVF.routed);
    }
    for (let k = 0; k < 6; k++) bytes[off + k] = t.recMac[r * 6 + k];
    if (!encapsulate(pool, id, this.fastTpl!, t.recVsid[r], innerFlowHash(pool, id) | 0)) {
      this.reject(batch, i, R_NO_HEADROOM, t.recSlot[r]);
      return;
    }
    this.count(t.recSlot[r], HVF.encapsulated);
    this.unicast(batch, i, t.uplink);
  }

  private vmIpv6(batch: Batch, pool: FramePool, i: number, id: number, off: number, s: number, src: number, hi: number, lo: number): void {
    const t = this.t;
    const bytes = pool.bytes;
    const vsid = t.slotVsid[s];
    const a = off + 22;
    const s0 = readWord(bytes, a), s1 = readWord(bytes, a + 4), s2 = readWord(bytes, a + 8), s3 = readWord(bytes, a + 12);
    const ns = bytes[off + 20] === 58 && bytes[off + 54] === 135 && pool.len[id] >= 78;
    if ((s0 | s1 | s2 | s3) === 0) {
      // duplicate address detection: the lookup records own the addresses; absorbed unless l2only
      if (ns && t.slotL2only[s] === 0) {
        batch.drop(i, R_DAD);
        if (this.env.trace.on) this.env.trace.note(i, 'hnv: duplicate address detection probe absorbed');
        return;
      }
    } else {
      let ok: boolean;
      if ((s0 >>> 22) === 0x3fa) ok = t.macMap.get(vsid, hi, lo) >= 0; // link-local: a VM of the VSID by its MAC
      else {
        const r = t.ca6Map.get(vsid, s0, s1, s2, s3);
        ok = r >= 0 && t.recHi[r] === hi && t.recLo[r] === lo;
      }
      if (!ok && t.slotL2only[s] === 1) {
        const r = t.macMap.get(vsid, hi, lo);
        ok = r >= 0 && t.recL2only[r] === 1;
      }
      if (!ok) {
        if (this.reject(batch, i, R_SPOOF, s)) this.env.trace.note(i, `hnv: rejected hnv-spoofed-source (${ipv6Text([s0, s1, s2, s3])} from ${macText(hi, lo)}: no record in VSID ${vsid})`);
        return;
      }
    }
    const group = (bytes[off] & 1) !== 0;
    if (ns && group) {
      const tg = off + 62;
      const t0 = readWord(bytes, tg), t1 = readWord(bytes, tg + 4), t2 = readWord(bytes, tg + 8), t3 = readWord(bytes, tg + 12);
      const r = t.ca6Map.get(vsid, t0, t1, t2, t3);
      if (r >= 0 || this.isRouterIp6(s, t0, t1, t2, t3)) {
        this.answerNd(pool, id, off, r >= 0 ? t.recMac : this.routerMac, r >= 0 ? r * 6 : 0, r < 0);
        this.unicast(batch, i, src);
        this.count(s, HVF.ndProxied);
        if (this.env.trace.on) this.env.trace.note(i, `hnv: ND proxy answer ${ipv6Text([t0, t1, t2, t3])} is-at ${r >= 0 ? macText(t.recHi[r], t.recLo[r]) : HNV_ROUTER_MAC}`);
        return;
      }
      if (t.slotL2only[s] === 1) { this.floodVsid(batch, pool, i, id, s, src); return; }
      if (this.reject(batch, i, R_ARP_UNKNOWN, s)) this.env.trace.note(i, `hnv: rejected hnv-arp-unknown (no record for ${ipv6Text([t0, t1, t2, t3])} in VSID ${vsid}, no l2only records)`);
      return;
    }
    if (group) { this.floodVsid(batch, pool, i, id, s, src); return; }
    if (ns) {
      // unicast NS (neighbour unreachability detection) goes to the VM, not answered
      const r = t.macMap.get(vsid, macHi(bytes, off), macLo(bytes, off));
      if (r < 0) {
        if (this.reject(batch, i, R_NO_RECORD, s)) this.env.trace.note(i, `hnv: rejected hnv-no-record (unicast NS to ${macText(macHi(bytes, off), macLo(bytes, off))})`);
        return;
      }
      this.deliver(batch, pool, i, id, r, s, src);
      return;
    }
    const da = off + 38;
    const d0 = readWord(bytes, da), d1 = readWord(bytes, da + 4), d2 = readWord(bytes, da + 8), d3 = readWord(bytes, da + 12);
    let r = -1;
    let routeFound = false;
    const d = t.slotDomain[s];
    for (let k = t.domainStart6[d]; k < t.domainStart6[d + 1]; k++) {
      const o = k * 4;
      if ((d0 & t.rt6Mask[o]) !== t.rt6Prefix[o] || (d1 & t.rt6Mask[o + 1]) !== t.rt6Prefix[o + 1] ||
        (d2 & t.rt6Mask[o + 2]) !== t.rt6Prefix[o + 2] || (d3 & t.rt6Mask[o + 3]) !== t.rt6Prefix[o + 3]) continue;
      routeFound = true;
      r = t.rt6OnLink[k] === 1
        ? t.ca6Map.get(t.rt6Vsid[k], d0, d1, d2, d3)
        : t.ca6Map.get(t.rt6Vsid[k], t.rt6NextHop[o], t.rt6NextHop[o + 1], t.rt6NextHop[o + 2], t.rt6NextHop[o + 3]);
      break;
    }
    if (!routeFound) r = t.ca6Map.get(vsid, d0, d1, d2, d3);
    if (r < 0) {
      if (this.reject(batch, i, R_NO_RECORD, s)) this.env.trace.note(i, `hnv: rejected hnv-no-record (no record for ${ipv6Text([d0, d1, d2, d3])} in routing domain ${t.domainNames[d]})`);
      return;
    }
    this.deliverToRecord(batch, pool, i, id, off, r, s, src, vsid);
  }

  /**
   * Frame i goes to record r's CA: its destination MAC becomes the record's, a frame routed out of its
   * own VSID gets the distributed router's MAC as source (and counts as routed), then local delivery
   * or encapsulation.
   */
  private deliverToRecord(batch: Batch, pool: FramePool, i: number, id: number, off: number, r: number, s: number, src: number, vsid: number): void {
    const t = this.t;
    const bytes = pool.bytes;
    if (t.recVsid[r] !== vsid) {
      for (let k = 0; k < 6; k++) bytes[off + 6 + k] = this.routerMac[k];
      this.count(t.recSlot[r], HVF.routed);
    }
    for (let k = 0; k < 6; k++) bytes[off + k] = t.recMac[r * 6 + k];
    this.deliver(batch, pool, i, id, r, s, src);
  }

  private isRouterIp6(s: number, w0: number, w1: number, w2: number, w3: number): boolean {
    const t = this.t;
    for (let k = t.slotRouter6Start[s]; k < t.slotRouter6Start[s + 1]; k++) {
      const o = k * 4;
      if (t.slotRouter6[o] === w0 && t.slotRouter6[o + 1] === w1 && t.slotRouter6[o + 2] === w2 && t.slotRouter6[o + 3] === w3) return true;
    }
    return false;
  }

  /**
   * Turn the multicast neighbour solicitation at `off` into the solicited advertisement "target is-at
   * mac[mo..mo+6)" in place (86 bytes: NA with a target link-layer address option), back to the asker.
   */
  private answerNd(pool: FramePool, id: number, off: number, mac: Uint8Array, mo: number, router: boolean): void {
    const b = pool.bytes;
    b.fill(0, id * pool.slotSize, id * pool.slotSize + VNET_HDR_LEN);
    b.copyWithin(off, off + 6, off + 12);
    for (let k = 0; k < 6; k++) b[off + 6 + k] = mac[mo + k];
    b[off + 14] = 0x60; b[off + 15] = 0; b[off + 16] = 0; b[off + 17] = 0;
    b[off + 18] = 0; b[off + 19] = 32; b[off + 20] = 58; b[off + 21] = 255;
    b.copyWithin(off + 38, off + 22, off + 38); // destination ← the asker
    b.copyWithin(off + 22, off + 62, off + 78); // source ← the target
    const icmp = off + 54;
    b[icmp] = 136; b[icmp + 1] = 0; b[icmp + 2] = 0; b[icmp + 3] = 0;
    b[icmp + 4] = router ? 0xe0 : 0x60; b[icmp + 5] = 0; b[icmp + 6] = 0; b[icmp + 7] = 0;
    b[icmp + 24] = 2; b[icmp + 25] = 1;
    for (let k = 0; k < 6; k++) b[icmp + 26 + k] = mac[mo + k];
    pool.len[id] = 86;
    let sum = 32 + 58;
    for (let k = off + 22; k < off + 54; k += 2) sum += (b[k] << 8) | b[k + 1];
    for (let k = icmp; k < icmp + 32; k += 2) sum += (b[k] << 8) | b[k + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const c = ~sum & 0xffff;
    b[icmp + 2] = c >>> 8; b[icmp + 3] = c & 0xff;
  }

  /** send frame i (destination MAC already the record's) to record r: local port or encapsulated */
  private deliver(batch: Batch, pool: FramePool, i: number, id: number, r: number, s: number, src: number): void {
    const t = this.t;
    const rs = t.recSlot[r];
    if (t.recLocal[r] === 1) {
      const p = this.localPort(rs, t.recHi[r], t.recLo[r]);
      if (p < 0) {
        if (this.reject(batch, i, R_NO_PORT, rs)) this.env.trace.note(i, `hnv: rejected hnv-no-port (record ${t.recText[r]} is local; no port of VSID ${t.recVsid[r]} has its MAC)`);
        return;
      }
      this.unicast(batch, i, p);
      this.count(rs, HVF.deliveredLocally);
      if (this.env.trace.on) this.env.trace.note(i, `hnv: vsid ${t.slotVsid[s]} → record ${t.recText[r]} (local, port ${p})`);
      return;
    }
    const k = t.recNextHop[r];
    if (t.uplink < 0 || k < 0 || !this.nextHopReady(k)) {
      if (this.reject(batch, i, R_UNRESOLVED, rs)) this.env.trace.note(i, `hnv: rejected hnv-next-hop-unresolved (record ${t.recText[r]}, next hop ${k >= 0 ? ipv4Text(t.nhIp[k]) : 'none'})`);
      return;
    }
    const off = pool.dataOffset(id);
    const bytes = pool.bytes;
    const mtu = overlayMtu(t.recEncap[r], t.uplinkMtu);
    if (pool.len[id] > mtu + 14) {
      if (!isGso(pool, id)) {
        const type = (bytes[off + 12] << 8) | bytes[off + 13];
        const df = type === ETH_IPV4 && (bytes[off + 20] & 0x40) !== 0;
        if (df || type === ETH_IPV6) {
          let from = this.routerIp;
          if (type === ETH_IPV4) {
            const ri = t.slotRouterStart[s] < t.slotRouterStart[s + 1] ? t.slotRouterIps[t.slotRouterStart[s]] : readIpv4(bytes, off + 30);
            writeIpv4(this.routerIp, 0, ri);
          } else {
            from = this.routerIp6;
            const k = t.slotRouter6Start[s];
            if (k < t.slotRouter6Start[s + 1]) for (let w = 0; w < 4; w++) writeIpv4(from, w * 4, t.slotRouter6[k * 4 + w] >>> 0);
            else for (let w = 0; w < 16; w++) from[w] = bytes[off + 38 + w];
          }
          if (toPacketTooBig(pool, id, mtu, this.routerMac, from)) {
            this.unicast(batch, i, src);
            this.count(s, HVF.tooBig);
            if (this.env.trace.on) this.env.trace.note(i, `hnv: too big for the overlay MTU ${mtu}: ICMP answer to the sender`);
            return;
          }
        }
        // IPv4 without DF: HNV, the router, fragments (the fragments are chained after the frame)
        if (!df && type === ETH_IPV4 && this.env.trace.synthetic) {
          // a synthetic frame takes no slots (a trace frees only its own): say what would happen
          this.unicast(batch, i, t.uplink);
          if (this.env.trace.on) this.env.trace.note(i, `hnv: vsid ${t.slotVsid[s]} → record ${t.recText[r]} (remote; would be fragmented to the overlay MTU ${mtu} and encapsulated)`);
          return;
        }
        if (df || type !== ETH_IPV4 || fragmentIpv4(pool, id, mtu + 14, this.env.batchSize * POOL_RESERVE_FACTOR) < 0) {
          if (this.reject(batch, i, R_OVERSIZE, rs)) this.env.trace.note(i, `hnv: rejected hnv-oversize (${pool.len[id]} bytes > overlay MTU ${mtu} + 14, not fragmentable)`);
          return;
        }
        if (this.env.trace.on) this.env.trace.note(i, `hnv: fragmented to the overlay MTU ${mtu}`);
      }
    }
    const tpl = this.template(r, k);
    if (isGso(pool, id) && !this.wholeInTunnel(pool, id, r, tpl, mtu)) {
      // a GSO super-frame the uplink cannot send whole: cut into segments chained after it (the engine sends the chain)
      const n = segmentGso(pool, id, mtu + 14, this.env.batchSize * POOL_RESERVE_FACTOR);
      if (n < 0) {
        if (this.reject(batch, i, n === SEGMENT_NO_SLOTS ? R_NO_HEADROOM : R_OVERSIZE, rs)) this.env.trace.note(i, `hnv: rejected ${n === SEGMENT_NO_SLOTS ? 'hnv-no-headroom (no slots to segment' : 'hnv-oversize (GSO layout not segmentable'} a GSO frame of ${pool.len[id]} bytes)`);
        return;
      }
    }
    const whole = pool.next[id] < 0 && !isGso(pool, id);
    for (let c = id; c >= 0; c = pool.next[c]) {
      if (!encapsulate(pool, c, tpl, t.recVsid[r], innerFlowHash(pool, c) | 0)) {
        if (this.reject(batch, i, R_NO_HEADROOM, rs)) this.env.trace.note(i, 'hnv: rejected hnv-no-headroom (no headroom for the outer header)');
        return;
      }
      this.count(rs, HVF.encapsulated);
    }
    this.unicast(batch, i, t.uplink);
    if (whole && !this.env.trace.synthetic) this.lastTpl = tpl;
    if (this.env.trace.on) {
      this.env.trace.note(i, `hnv: vsid ${t.slotVsid[s]} → record ${t.recText[r]} (remote, next hop ${ipv4Text(t.nhIp[k])} ${macText(macHi(this.nhMac, 0), macLo(this.nhMac, 0))})`);
    }
  }

  /**
   * GSO frame id goes into record r's tunnel whole: VXLAN on an uplink with a tunnel TAP, no outer tag,
   * the outer IPv4 length within 65535, a layout the kernel segments (gso_size lowered to the overlay MTU)
   */
  private wholeInTunnel(pool: FramePool, id: number, r: number, tpl: OuterTemplate, mtu: number): boolean {
    return this.t.uplinkTunnelGso && this.t.recEncap[r] === 'vxlan' && tpl.ipOffset === 14 &&
      pool.len[id] + tpl.bytes.length - 14 <= 0xffff && fitGsoToTunnel(pool, id, mtu + 14);
  }

  /**
   * Broadcast/multicast of VSID slot s: to its other local ports, and a copy encapsulated to each
   * distinct remote PA with records in the VSID (unicast replication, originated on the uplink).
   */
  private floodVsid(batch: Batch, pool: FramePool, i: number, id: number, s: number, src: number, replicate = true): void {
    const t = this.t;
    const base = i * DST_WORDS;
    batch.dstSet.fill(0, base, base + DST_WORDS);
    batch.dstMode[i] = DstMode.set;
    let local = 0;
    for (let k = t.slotPortsStart[s]; k < t.slotPortsStart[s + 1]; k++) {
      const p = t.slotPorts[k];
      if (p === src) continue;
      batch.dstSet[base + (p >>> 5)] |= 1 << (p & 31);
      local++;
    }
    let copies = 0;
    // with no local port to deliver to, the original itself goes to the first PA (no copy)
    let own = -1;
    if (t.uplink >= 0 && replicate) {
      for (let k = t.slotReplStart[s]; k < t.slotReplStart[s + 1]; k++) {
        const r = t.slotRepl[k];
        const nh = t.recNextHop[r];
        if (nh < 0 || !this.nextHopReady(nh)) continue;
        if (pool.len[id] > overlayMtu(t.recEncap[r], t.uplinkMtu) + 14) continue;
        if (local === 0 && own < 0) { own = r; continue; }
        if (this.env.trace.synthetic) { copies++; continue; }
        if (this.replicate(pool, id, r, nh, s, src)) copies++;
      }
    }
    if (!this.env.trace.synthetic && local > 0) this.env.policyCounters.v[PolicyCounters.hnvVsid(t.slotCounter[s]) + HVF.deliveredLocally] += local;
    if (own >= 0 && this.nextHopReady(t.recNextHop[own])) {
      if (encapsulate(pool, id, this.template(own, t.recNextHop[own]), t.slotVsid[s], innerFlowHash(pool, id) | 0)) {
        this.unicast(batch, i, t.uplink);
        copies++;
        this.count(s, HVF.replicated);
        this.count(s, HVF.encapsulated);
      }
    }
    if (this.env.trace.on) this.env.trace.note(i, `hnv: vsid ${t.slotVsid[s]} flood to ${local} local port(s), ${copies} PA(s) by unicast replication`);
  }

  /** a copy of frame id encapsulated to record r's PA, originated on the uplink */
  private replicate(pool: FramePool, id: number, r: number, nh: number, s: number, src: number): boolean {
    const t = this.t;
    if (pool.freeTop <= this.env.batchSize * POOL_RESERVE_FACTOR) {
      if (src >= 0) this.env.counters.v[CounterBlock.port(src) + PF_DROPS + POOL_EXHAUSTED]++;
      return false;
    }
    const c = pool.alloc();
    const from = id * pool.slotSize;
    pool.bytes.copyWithin(c * pool.slotSize, from, from + VNET_HDR_LEN);
    const o = pool.dataOffset(id);
    pool.bytes.copyWithin(pool.dataOffset(c), o, o + pool.len[id]);
    pool.len[c] = pool.len[id];
    pool.inPort[c] = src;
    if (!encapsulate(pool, c, this.template(r, nh), t.slotVsid[s], innerFlowHash(pool, c) | 0) || !this.env.originate(c, t.uplink)) {
      pool.release(c);
      return false;
    }
    this.count(s, HVF.replicated);
    this.count(s, HVF.encapsulated);
    return true;
  }

  // ---- from the uplink ----

  private fromUplink(batch: Batch, pool: FramePool): void {
    const t = this.t;
    const bytes = pool.bytes;
    const info = this.info;
    const fast = !this.env.trace.on;
    for (let i = 0; i < batch.count; i++) {
      if (fast && this.decapPort >= 0) {
        i = this.decapRun(batch, pool, i);
        if (i >= batch.count) break;
      }
      if (batch.reason[i] !== 0) continue;
      const id = batch.ids[i];
      const off = pool.dataOffset(id);
      const len = pool.len[id];
      const type = (bytes[off + 12] << 8) | bytes[off + 13];
      const arp = this.arp;
      if ((type === ETH_ARP || type === 0x8100) && len >= 42 && parseArp(pool, id, arp) && this.isLocalPa(arp.targetIp)) {
        this.learnNextHop(arp.senderIp, arp.senderMac);
        if (arp.op === 1 && arpReplyInPlace(pool, id, t.uplinkMac)) {
          this.unicast(batch, i, t.uplink);
          if (this.env.trace.on) this.env.trace.note(i, `hnv: ARP answer for PA ${ipv4Text(arp.targetIp)} is-at ${t.uplinkMacText}`);
        } else {
          batch.drop(i, R_PA_ARP);
          if (this.env.trace.on) this.env.trace.note(i, `hnv: ARP from ${ipv4Text(arp.senderIp)} for PA ${ipv4Text(arp.targetIp)} learned`);
        }
        continue;
      }
      const res = type === ETH_IPV4 ? parseTunnel(pool, id, t.localPas, t.localPas.length, info) : TunnelParse.notTunnel;
      if (res === TunnelParse.notTunnel) {
        this.excludeHnvPorts(batch, i, i + 1);
        continue;
      }
      if (res !== TunnelParse.ok) {
        if (this.reject(batch, i, R_BAD_ENCAP, -1)) this.env.trace.note(i, 'hnv: rejected hnv-bad-encapsulation (bad GRE/VXLAN header)');
        continue;
      }
      this.decap(batch, pool, i, id, off);
    }
  }

  /**
   * Frames i.. of the batch that repeat the last decapsulation (untagged outer IPv4 with a 20-byte header
   * from the same PA to the same local PA, the same encapsulation and VSID, every check of parseTunnel
   * passed; inside IPv4 from the same CA to the same MAC) are stripped and sent to decapPort in one
   * tight loop, exactly as parseTunnel and decap would; returns the first frame that needs the general
   * path (or batch.count).
   */
  private decapRun(batch: Batch, pool: FramePool, i: number): number {
    const b = pool.bytes;
    if (pool.buffer !== this.dvOf) { this.dvOf = pool.buffer; this.dv = new DataView(pool.buffer); }
    const dv = this.dv;
    const ids = batch.ids, reason = batch.reason, dstMode = batch.dstMode, dstPort = batch.dstPort;
    const starts = pool.start, lens = pool.len, slotSize = pool.slotSize;
    const vxlan = this.decapEncap === 'vxlan';
    const proto = vxlan ? 17 : 47;
    const outerLen = vxlan ? 50 : 42;
    // addresses compared as signed 32-bit words (readWord): unsigned ones would be compared as doubles
    const vsid = this.decapVsid, src = this.decapSrc | 0, dst = this.decapDst | 0, sip = this.decapSip | 0, hi = this.decapHi, lo = this.decapLo;
    const port = this.decapPort;
    let decapsulated = 0;
    const n = batch.count;
    for (; i < n; i++) {
      if (reason[i] !== 0) continue;
      const id = ids[i];
      const base = id * slotSize;
      const off = base + starts[id];
      const len = lens[id];
      const ip = off + 14;
      if (len < outerLen + 34 || dv.getUint16(off + 12) !== ETH_IPV4 || b[ip] !== 0x45 || b[ip + 9] !== proto ||
          (dv.getUint16(ip + 6) & 0x3fff) !== 0 || dv.getInt32(ip + 16) !== dst || dv.getInt32(ip + 12) !== src) break;
      const end = 14 + dv.getUint16(ip + 2);
      if (end > len || end < outerLen + 34) break;
      let sum = dv.getUint16(ip) + dv.getUint16(ip + 2) + dv.getUint16(ip + 4) + dv.getUint16(ip + 6) + dv.getUint16(ip + 8) +
        dv.getUint16(ip + 10) + dv.getUint16(ip + 12) + dv.getUint16(ip + 14) + dv.getUint16(ip + 16) + dv.getUint16(ip + 18);
      sum = (sum & 0xffff) + (sum >>> 16);
      sum = (sum & 0xffff) + (sum >>> 16);
      if (sum !== 0xffff) break;
      const l4 = ip + 20;
      if (vxlan) {
        const udpLen = dv.getUint16(l4 + 4);
        if (dv.getUint16(l4 + 2) !== VXLAN_PORT || udpLen < 30 || 34 + udpLen > end ||
            (b[l4 + 8] & VXLAN_FLAG_I) === 0 || (dv.getUint32(l4 + 12) >>> 8) !== vsid) break;
      } else if ((dv.getUint16(l4) & 0xfc07) !== 0x2000 || dv.getUint16(l4 + 2) !== GRE_PROTO_TEB || (dv.getUint32(l4 + 4) >>> 8) !== vsid) break;
      const io = off + outerLen;
      if (dv.getUint16(io + 12) !== ETH_IPV4 || dv.getInt32(io + 26) !== sip || dv.getUint16(io) !== hi || dv.getInt32(io + 2) !== lo) break;
      stripOuter(pool, id, outerLen, end - outerLen);
      dstMode[i] = DstMode.unicast;
      dstPort[i] = port;
      decapsulated++;
    }
    if (!this.env.trace.synthetic) this.env.policyCounters.v[PolicyCounters.hnvVsid(this.t.slotCounter[this.decapSlot]) + F_DECAPSULATED] += decapsulated;
    return i;
  }

  private isLocalPa(ip: number): boolean {
    const pas = this.t.localPas;
    for (let k = 0; k < pas.length; k++) if (pas[k] === ip) return true;
    return false;
  }

  private decap(batch: Batch, pool: FramePool, i: number, id: number, off: number): void {
    const t = this.t;
    const info = this.info;
    const bytes = pool.bytes;
    if (this.decapPort >= 0 && info.vsid === this.decapVsid && info.outerSrc === this.decapSrc && info.encap === this.decapEncap && !this.env.trace.on) {
      const io = off + info.outerLen;
      if (((bytes[io + 12] << 8) | bytes[io + 13]) === ETH_IPV4 && info.innerLen >= 34 && readIpv4(bytes, io + 26) === this.decapSip &&
          macHi(bytes, io) === this.decapHi && macLo(bytes, io) === this.decapLo) {
        stripOuter(pool, id, info.outerLen, info.innerLen);
        this.unicast(batch, i, this.decapPort);
        this.count(this.decapSlot, HVF.decapsulated);
        return;
      }
    }
    const s = t.vsidMap.get(info.vsid, 0, 0);
    if (s < 0 || t.slotPortsStart[s] === t.slotPortsStart[s + 1]) {
      if (this.reject(batch, i, R_UNKNOWN_VSID, s)) this.env.trace.note(i, `hnv: rejected hnv-unknown-vsid (VSID ${info.vsid} has no port here)`);
      return;
    }
    const io = off + info.outerLen;
    const type = (bytes[io + 12] << 8) | bytes[io + 13];
    const sip = type === ETH_IPV4 ? readIpv4(bytes, io + 26) : type === ETH_ARP ? readIpv4(bytes, io + 28) : 0;
    let r = sip !== 0 ? t.caMap.get(info.vsid, sip, 0) : -1;
    // a routed frame's source CA is in another VSID of the same routing domain
    if (r < 0 && sip !== 0) r = t.domainCaMap.get(t.slotDomain[s], sip, 1);
    if (type === ETH_IPV6 && pool.len[id] >= info.outerLen + 54) {
      const a = io + 22;
      const w0 = readWord(bytes, a), w1 = readWord(bytes, a + 4), w2 = readWord(bytes, a + 8), w3 = readWord(bytes, a + 12);
      if ((w0 >>> 22) === 0x3fa) {
        // link-local source (ND, NUD): any record of the VSID with the inner source MAC
        r = t.macMap.get(info.vsid, macHi(bytes, io + 6), macLo(bytes, io + 6));
      } else {
        r = t.ca6Map.get(info.vsid, w0, w1, w2, w3);
        if (r < 0) r = t.domainCa6Map.get(t.slotDomain[s], w0, w1, w2, w3);
      }
    }
    if (r < 0 && t.slotL2only[s] === 1) {
      const m = t.macMap.get(info.vsid, macHi(bytes, io + 6), macLo(bytes, io + 6));
      if (m >= 0 && t.recL2only[m] === 1) r = m;
    }
    if (r < 0) {
      if (this.reject(batch, i, R_NO_RECORD, s)) this.env.trace.note(i, `hnv: rejected hnv-no-record (inner source ${ipv4Text(sip)} ${macText(macHi(bytes, io + 6), macLo(bytes, io + 6))} in VSID ${info.vsid})`);
      return;
    }
    if (t.recPa[r] !== info.outerSrc) {
      if (this.reject(batch, i, R_WRONG_PA, s)) this.env.trace.note(i, `hnv: rejected hnv-wrong-pa (outer ${ipv4Text(info.outerSrc)}, record PA ${ipv4Text(t.recPa[r])})`);
      return;
    }
    if (t.recEncap[r] !== info.encap) {
      if (this.reject(batch, i, R_BAD_ENCAP, s)) this.env.trace.note(i, `hnv: rejected hnv-bad-encapsulation (${info.encap}, record ${t.recText[r]})`);
      return;
    }
    stripOuter(pool, id, info.outerLen, info.innerLen);
    const o = pool.dataOffset(id);
    if ((bytes[o] & 1) !== 0) {
      // a remote host's flood: to this host's ports of the VSID only, never replicated again
      this.floodVsid(batch, pool, i, id, s, -1, false);
      this.count(s, HVF.decapsulated);
      return;
    }
    const p = this.localPort(s, macHi(bytes, o), macLo(bytes, o));
    if (p < 0) {
      if (this.reject(batch, i, R_NO_PORT, s)) this.env.trace.note(i, `hnv: rejected hnv-no-port (no port of VSID ${info.vsid} has ${macText(macHi(bytes, o), macLo(bytes, o))})`);
      return;
    }
    this.unicast(batch, i, p);
    this.count(s, HVF.decapsulated);
    if (type === ETH_IPV4 && sip !== 0 && pool.len[id] >= 34 && !this.env.trace.synthetic) {
      this.decapPort = p; this.decapSlot = s; this.decapVsid = info.vsid; this.decapSrc = info.outerSrc; this.decapEncap = info.encap;
      this.decapSip = sip; this.decapHi = macHi(bytes, o); this.decapLo = macLo(bytes, o);
      this.decapDst = info.outerDst;
    }
    if (this.env.trace.on) this.env.trace.note(i, `hnv: decapsulated ${info.encap} VSID ${info.vsid} from PA ${ipv4Text(info.outerSrc)} → port ${p}`);
  }
}

/** build the tables for `input` (throws naming the field on bad input) */
function buildTables(input: SwitchPolicyInput, counterSlotOf: (vsid: number) => number): Tables {
  const t = new Tables();
  const h: HnvPolicyInput = input.hnv ?? { uplink: -1, uplinkMac: '00:00:00:00:00:00', uplinkMtu: 1500, providerAddresses: [], lookupRecords: [], customerRoutes: [] };
  t.uplink = h.uplink;
  t.uplinkMac = macBytes(h.uplinkMac, 'hnv.uplinkMac');
  t.uplinkMacText = macText(macHi(t.uplinkMac, 0), macLo(t.uplinkMac, 0));
  t.uplinkMtu = h.uplinkMtu;
  t.uplinkTunnelGso = h.uplinkTunnelGso === true;
  const pas: HnvProviderAddress[] = [];
  for (const [k, pa] of h.providerAddresses.entries()) {
    if (ipv4(pa.address) < 0) {
      if (!pa.address.includes(':')) throw new Error(`providerAddresses[${k}].address: expected an IP address, got ${JSON.stringify(pa.address)}`);
      continue; // IPv6 PAs: not supported by this data path yet
    }
    pas.push(pa);
  }
  t.localPaList = pas;
  t.localPas = Uint32Array.from(pas, (p) => ipv4(p.address));

  // virtual subnets: from ports, records and routes
  const vsids = new Set<number>();
  const vmPorts = input.ports.filter((p) => p.kind === 'vm' && p.settings.virtualSubnetId !== undefined);
  for (const p of vmPorts) vsids.add(p.settings.virtualSubnetId!);
  for (const r of h.lookupRecords) vsids.add(r.vsid);
  for (const r of h.customerRoutes) vsids.add(r.vsid);
  const slotList = [...vsids].sort((a, b) => a - b);
  if (slotList.length > HNV_VSID_SLOTS) throw new Error(`hnv: ${slotList.length} virtual subnets, at most ${HNV_VSID_SLOTS} per switch`);
  const slotOf = new Map(slotList.map((v, s) => [v, s]));
  const n = slotList.length;
  t.vsidMap = new Key3Map(n);
  slotList.forEach((v, s) => t.vsidMap.set(v, 0, 0, s));
  t.slotVsid = Uint32Array.from(slotList);
  t.slotCounter = Int32Array.from(slotList, counterSlotOf);

  // routing domains: a VSID with no route is a domain of its own
  const domainOfVsid = new Map<number, string>();
  for (const [k, r] of h.customerRoutes.entries()) {
    const prev = domainOfVsid.get(r.vsid);
    if (prev !== undefined && prev !== r.routingDomain) throw new Error(`customerRoutes[${k}].routingDomain: VSID ${r.vsid} is already in routing domain ${prev}`);
    domainOfVsid.set(r.vsid, r.routingDomain);
  }
  const domainNames: string[] = [];
  const domainIdx = new Map<string, number>();
  t.slotDomain = new Int32Array(n);
  slotList.forEach((v, s) => {
    const name = domainOfVsid.get(v) ?? `(VSID ${v} alone)`;
    let d = domainIdx.get(name);
    if (d === undefined) { d = domainNames.length; domainNames.push(name); domainIdx.set(name, d); }
    t.slotDomain[s] = d;
  });
  t.domainNames = domainNames;

  // routes (IPv4), grouped by domain, longest prefix then lowest metric first
  const routes: { d: number; prefix: number; len: number; vsid: number; nh: number; metric: number }[] = [];
  const routerIps: number[][] = slotList.map(() => []);
  const routes6: { d: number; prefix: number[]; mask: number[]; len: number; vsid: number; nh: number[]; onLink: boolean; metric: number }[] = [];
  const router6: number[][][] = slotList.map(() => []);
  for (const [k, r] of h.customerRoutes.entries()) {
    const m = /^([^/]+)\/(\d+)$/.exec(r.prefix);
    if (!m) throw new Error(`customerRoutes[${k}].prefix: expected address/length, got ${JSON.stringify(r.prefix)}`);
    const addr = ipv4(m[1]);
    const len = Number(m[2]);
    if (addr < 0) {
      const a6 = ipv6Words(m[1]);
      if (!a6) throw new Error(`customerRoutes[${k}].prefix: expected an IPv4 or IPv6 prefix, got ${JSON.stringify(r.prefix)}`);
      if (len > 128) throw new Error(`customerRoutes[${k}].prefix: length ${len} > 128`);
      const nh6 = ipv6Words(r.nextHop);
      if (!nh6) throw new Error(`customerRoutes[${k}].nextHop: expected an IPv6 address, got ${JSON.stringify(r.nextHop)}`);
      const mask6 = [0, 1, 2, 3].map((w) => maskOf(Math.max(0, Math.min(32, len - 32 * w))));
      const prefix6 = a6.map((x, w) => (x & mask6[w]) | 0);
      const onLink = nh6.every((x) => x === 0);
      routes6.push({ d: domainIdx.get(r.routingDomain)!, prefix: prefix6, mask: mask6.map((x) => x | 0), len, vsid: r.vsid, nh: nh6.map((x) => x | 0), onLink, metric: r.metric ?? 0 });
      if (onLink && len <= 126) router6[slotOf.get(r.vsid)!].push([prefix6[0], prefix6[1], prefix6[2], (prefix6[3] + 1) | 0]);
      continue;
    }
    if (len > 32) throw new Error(`customerRoutes[${k}].prefix: length ${len} > 32`);
    const nh = ipv4(r.nextHop);
    if (nh < 0) throw new Error(`customerRoutes[${k}].nextHop: expected an IPv4 address, got ${JSON.stringify(r.nextHop)}`);
    const mask = maskOf(len);
    routes.push({ d: domainIdx.get(r.routingDomain)!, prefix: (addr & mask) >>> 0, len, vsid: r.vsid, nh, metric: r.metric ?? 0 });
    // the distributed router answers for the first host address of each on-link prefix
    if (nh === 0 && len <= 30) routerIps[slotOf.get(r.vsid)!].push((((addr & mask) >>> 0) + 1) >>> 0);
  }
  routes.sort((a, b) => a.d - b.d || b.len - a.len || a.metric - b.metric);
  t.domainStart = new Int32Array(domainNames.length + 1);
  for (const r of routes) t.domainStart[r.d + 1]++;
  for (let d = 0; d < domainNames.length; d++) t.domainStart[d + 1] += t.domainStart[d];
  t.rtPrefix = Uint32Array.from(routes, (r) => r.prefix);
  t.rtMask = Uint32Array.from(routes, (r) => maskOf(r.len));
  t.rtVsid = Uint32Array.from(routes, (r) => r.vsid);
  t.rtNextHop = Uint32Array.from(routes, (r) => r.nh);
  t.slotRouterStart = new Int32Array(n + 1);
  routerIps.forEach((l, s) => { t.slotRouterStart[s + 1] = t.slotRouterStart[s] + l.length; });
  t.slotRouterIps = Uint32Array.from(routerIps.flat());
  routes6.sort((a, b) => a.d - b.d || b.len - a.len || a.metric - b.metric);
  t.domainStart6 = new Int32Array(domainNames.length + 1);
  for (const r of routes6) t.domainStart6[r.d + 1]++;
  for (let d = 0; d < domainNames.length; d++) t.domainStart6[d + 1] += t.domainStart6[d];
  t.rt6Prefix = Int32Array.from(routes6.flatMap((r) => r.prefix));
  t.rt6Mask = Int32Array.from(routes6.flatMap((r) => r.mask));
  t.rt6Vsid = Uint32Array.from(routes6, (r) => r.vsid);
  t.rt6NextHop = Int32Array.from(routes6.flatMap((r) => r.nh));
  t.rt6OnLink = Uint8Array.from(routes6, (r) => (r.onLink ? 1 : 0));
  t.slotRouter6Start = new Int32Array(n + 1);
  router6.forEach((l, s) => { t.slotRouter6Start[s + 1] = t.slotRouter6Start[s] + l.length; });
  t.slotRouter6 = Int32Array.from(router6.flat(2));

  // ports
  const portsOf: number[][] = slotList.map(() => []);
  for (const p of vmPorts) {
    const s = slotOf.get(p.settings.virtualSubnetId!)!;
    t.portSlot[p.index] = s;
    portsOf[s].push(p.index);
    if (p.settings.staticMacAddress !== undefined) {
      const m = macBytes(p.settings.staticMacAddress, `${p.name}.staticMacAddress`);
      t.portStatic[p.index] = 1;
      t.portStaticHi[p.index] = macHi(m, 0);
      t.portStaticLo[p.index] = macLo(m, 0);
    }
  }
  t.hnvPorts = Int32Array.from(vmPorts, (p) => p.index);
  const words = new Uint32Array(DST_WORDS);
  for (const p of vmPorts) words[p.index >>> 5] |= 1 << (p.index & 31);
  const used = [...words.keys()].filter((w) => words[w] !== 0);
  t.hnvWordIdx = Int32Array.from(used);
  t.hnvWordBits = Uint32Array.from(used, (w) => words[w]);
  t.slotPortsStart = new Int32Array(n + 1);
  portsOf.forEach((l, s) => { t.slotPortsStart[s + 1] = t.slotPortsStart[s] + l.length; });
  t.slotPorts = Int32Array.from(portsOf.flat());

  // provider next hops: the PA itself when on-link with one of ours, else our PA's gateway
  const nhIndex = new Map<number, number>();
  const nhList: { ip: number; pa: number }[] = [];
  const nextHopFor = (pa: number): number => {
    let ip = -1;
    let via = -1;
    for (let k = 0; k < pas.length; k++) {
      const mask = maskOf(pas[k].prefixLength);
      if (((pa & mask) >>> 0) === ((t.localPas[k] & mask) >>> 0)) { ip = pa; via = k; break; }
    }
    if (ip < 0) {
      const k = pas.findIndex((p) => p.gateway !== undefined && ipv4(p.gateway) >= 0);
      if (k < 0) return -1;
      ip = ipv4(pas[k].gateway!);
      via = k;
    }
    if (!nhIndex.has(ip)) { nhIndex.set(ip, -1); nhList.push({ ip, pa: via }); }
    return ip;
  };

  // lookup records (IPv4 CAs; l2only records have CA 0.0.0.0)
  const recs: { r: HnvLookupRecord; ca: number; ca6: number[] | null; pa: number; mac: Uint8Array; nhIp: number }[] = [];
  for (const [k, r] of h.lookupRecords.entries()) {
    let ca = ipv4(r.ca);
    const ca6 = ca < 0 ? ipv6Words(r.ca) : null;
    if (ca < 0 && !ca6) throw new Error(`lookupRecords[${k}].ca: expected an IP address, got ${JSON.stringify(r.ca)}`);
    if (ca < 0) ca = 0;
    const pa = ipv4(r.pa);
    if (pa < 0) {
      if (!r.pa.includes(':')) throw new Error(`lookupRecords[${k}].pa: expected an IP address, got ${JSON.stringify(r.pa)}`);
      continue;
    }
    const mac = macBytes(r.mac, `lookupRecords[${k}].mac`);
    const local = t.localPas.includes(pa);
    recs.push({ r, ca, ca6, pa, mac, nhIp: local ? -1 : nextHopFor(pa) });
  }
  nhList.sort((a, b) => a.ip - b.ip);
  if (nhList.length > NEIGHBOR_SLOTS) throw new Error(`hnv: ${nhList.length} provider next hops, at most ${NEIGHBOR_SLOTS}`);
  nhList.forEach((x, k) => nhIndex.set(x.ip, k));
  t.nhCount = nhList.length;
  t.nhIp = Uint32Array.from(nhList, (x) => x.ip);
  t.nhLocalPa = Int32Array.from(nhList, (x) => x.pa);

  const m = recs.length;
  t.recCa = Uint32Array.from(recs, (x) => x.ca);
  t.recVsid = Uint32Array.from(recs, (x) => x.r.vsid);
  t.recSlot = Int32Array.from(recs, (x) => slotOf.get(x.r.vsid)!);
  t.recMac = new Uint8Array(m * 6);
  recs.forEach((x, r) => t.recMac.set(x.mac, r * 6));
  t.recHi = Int32Array.from(recs, (x) => macHi(x.mac, 0));
  t.recLo = Int32Array.from(recs, (x) => macLo(x.mac, 0));
  t.recPa = Uint32Array.from(recs, (x) => x.pa);
  t.recEncap = recs.map((x) => x.r.encap);
  t.recL2only = Uint8Array.from(recs, (x) => (x.r.type === 'l2only' ? 1 : 0));
  t.recLocal = Uint8Array.from(recs, (x) => (t.localPas.includes(x.pa) ? 1 : 0));
  t.recNextHop = Int32Array.from(recs, (x) => (x.nhIp < 0 ? -1 : nhIndex.get(x.nhIp)!));
  t.recText = recs.map((x) => `${x.r.type === 'l2only' ? '(l2only)' : x.r.ca} ${x.r.mac} PA ${x.r.pa} ${x.r.encap}`);
  t.recTpl = new Array<OuterTemplate | undefined>(m).fill(undefined);
  t.recTplMac = new Uint8Array(m * 6);
  t.caMap = new Key3Map(m);
  t.domainCaMap = new Key3Map(m);
  t.macMap = new Key3Map(m);
  t.ca6Map = new Key5Map(m);
  t.domainCa6Map = new Key5Map(m);
  t.slotL2only = new Uint8Array(n);
  const repl: number[][] = slotList.map(() => []);
  const replPas: Set<number>[] = slotList.map(() => new Set());
  recs.forEach((x, r) => {
    const s = t.recSlot[r];
    t.macMap.set(x.r.vsid, t.recHi[r], t.recLo[r], r);
    if (x.r.type === 'l2only') t.slotL2only[s] = 1;
    else if (x.ca6) {
      t.ca6Map.set(x.r.vsid, x.ca6[0], x.ca6[1], x.ca6[2], x.ca6[3], r);
      t.domainCa6Map.set(t.slotDomain[s], x.ca6[0], x.ca6[1], x.ca6[2], x.ca6[3], r);
    } else {
      t.caMap.set(x.r.vsid, x.ca, 0, r);
      t.domainCaMap.set(t.slotDomain[s], x.ca, 1, r);
    }
    if (t.recLocal[r] === 0 && !replPas[s].has(x.pa)) { replPas[s].add(x.pa); repl[s].push(r); }
  });
  t.slotReplStart = new Int32Array(n + 1);
  repl.forEach((l, s) => { t.slotReplStart[s + 1] = t.slotReplStart[s] + l.length; });
  t.slotRepl = Int32Array.from(repl.flat());
  return t;
}

class HnvInstance implements PolicyModuleInstance {
  private readonly env: PolicyEnv;
  private readonly macs: HnvPortMacs;
  private readonly hook: HnvHook;
  /** VSID → its record in this worker's policy counters (kept while the VSID stays in the policy) */
  private readonly counterSlots = new Map<number, number>();
  private readonly portNames: (string | undefined)[] = new Array<string | undefined>(MAX_PORTS_PER_SWITCH).fill(undefined);

  constructor(env: PolicyEnv) {
    this.env = env;
    this.macs = new HnvPortMacs(env.shared.hnvPorts);
    this.hook = new HnvHook(env, this.macs, new NeighborTable(env.shared.neighbors));
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    const v = this.env.policyCounters.v;
    const wanted = new Set<number>();
    for (const p of input.ports) if (p.kind === 'vm' && p.settings.virtualSubnetId !== undefined) wanted.add(p.settings.virtualSubnetId);
    for (const r of input.hnv?.lookupRecords ?? []) wanted.add(r.vsid);
    for (const r of input.hnv?.customerRoutes ?? []) wanted.add(r.vsid);
    const pending = new Map<number, number>();
    const counterSlotOf = (vsid: number): number => {
      const have = this.counterSlots.get(vsid) ?? pending.get(vsid);
      if (have !== undefined) return have;
      const used = new Set([...this.counterSlots.values(), ...pending.values()]);
      let k = 0;
      while (used.has(k)) k++;
      pending.set(vsid, k);
      return k;
    };
    // build first: bad input leaves the old tables and counters in force
    const t = buildTables(input, counterSlotOf);
    for (const [vsid, k] of this.counterSlots) {
      if (wanted.has(vsid)) continue;
      this.counterSlots.delete(vsid);
      const b = PolicyCounters.hnvVsid(k);
      v.fill(0, b, b + HVF.rejected + 1);
    }
    for (const [vsid, k] of pending) {
      this.counterSlots.set(vsid, k);
      const b = PolicyCounters.hnvVsid(k);
      v.fill(0, b, b + HVF.rejected + 1);
      v[b] = vsid;
    }
    // a port index given to another port (or no longer in a VSID) forgets its learned MAC
    for (const p of input.ports) {
      if (this.portNames[p.index] !== p.name || t.portSlot[p.index] < 0) this.macs.forget(p.index);
      this.portNames[p.index] = p.name;
    }
    this.hook.neighbors.setSlots(t.nhIp);
    this.hook.t = t;
    if (t.hnvPorts.length === 0 && t.localPas.length === 0) return [];
    return [{ stage: 'miniport', hook: this.hook }];
  }

  /** worker 0, once a second: ask again for next hops that traffic waits for */
  tick(now: number): void {
    const t = this.hook.t;
    for (let k = 0; k < t.nhCount; k++) this.hook.requestNextHop(k, now);
  }
}

export const hnvPolicy: PolicyModule = Object.freeze({
  name: 'hnv',
  stages: Object.freeze(['miniport'] as const),
  summary(input: SwitchPolicyInput): string[] {
    const out: string[] = [];
    const h = input.hnv;
    const domainOf = new Map<number, string>();
    for (const r of h?.customerRoutes ?? []) domainOf.set(r.vsid, r.routingDomain);
    for (const p of input.ports) {
      const v = p.settings.virtualSubnetId;
      if (p.kind !== 'vm' || v === undefined) continue;
      const recs = (h?.lookupRecords ?? []).filter((r) => r.vsid === v).length;
      out.push(`${p.name}: HNV VSID ${v}${domainOf.has(v) ? ` (routing domain ${domainOf.get(v)})` : ''}, ${recs} lookup record(s)`);
    }
    if (h && (h.providerAddresses.length > 0 || out.length > 0)) {
      const up = input.ports.find((p) => p.index === h.uplink)?.name ?? 'none';
      out.push(`hnv: uplink ${up}, PAs ${h.providerAddresses.map((p) => `${p.address}/${p.prefixLength}`).join(', ') || 'none'}, ` +
        `${h.lookupRecords.length} lookup record(s), ${h.customerRoutes.length} customer route(s)`);
    }
    return out;
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new HnvInstance(env);
  },
});
