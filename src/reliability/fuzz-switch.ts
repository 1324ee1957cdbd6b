/**
 * The fuzz switch: the real data path (extensions/testing.ts testSwitch, memory ports) with every
 * built-in extension enabled, and the accounting that says every frame went somewhere.
 *
 * Two switches run side by side (a switch has one forwarder): `learning` forwards on one, `static`
 * on the other; both have the captures pcap (a match, rotation in a temp dir) and sflow (the one
 * resolving its collector with ARP, the other with a configured MAC), and the filters firewall
 * (rules that read VLAN, IPv4/IPv6 addresses, protocols, ports, ICMP types, both directions),
 * dhcp-server (a pool on every port, one static mapping) and noop.
 *
 * Accounting, per switch, from its counters (core/counters.ts) and an engine observer that sees
 * every batch after fan-out (frames dropped there, no-destination/port-down, are already marked):
 *
 *   received   = Σ ports rxPackets + ORIGINATED rxPackets (frames extensions originated)
 *   dropped    = Σ records Σ reasons except tx-error, minus ORIGINATED pool-exhausted and
 *                inject-queue-full (frames that were never created, so never received)
 *   forwarded  = frames that left fan-out with no drop reason (observer)
 *   copies     = Σ over forwarded frames of their destinations: 1 for unicast; for a flood every
 *                attached, link-up port but the source and the excluded; for a set its attached,
 *                link-up members not excluded (observer)
 *   sent       = Σ ports txPackets + txErrors (tx-error is counted per copy, on the destination)
 *
 *   balance:   received == forwarded + dropped; the counters' drops by reason == the drops the
 *              observer saw by reason; sent == copies == Σ what the memory ports were handed;
 *              Σ ports rxPackets == frames the harness queued; no frame slot leaked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Batch, DST_WORDS, DstMode } from '../core/batch.js';
import { CounterBlock, ORIGINATED, PF, PF_DROPS, SW } from '../core/counters.js';
import { DROP_REASONS, DROP_REASON_COUNT, DropReason } from '../core/drop-reasons.js';
import type { StageObserver } from '../core/engine.js';
import { testSwitch, type TestStage, type TestSwitch } from '../extensions/testing.js';
import { FUZZ_DHCP, FUZZ_HOSTS, frameHex, type FuzzFrame } from '../packet/fuzz.js';
import { macToString } from '../packet/ethernet.js';

export const FUZZ_PORTS = 4;
const ext = (name: string): string => new URL(`../extensions/${name}/index.js`, import.meta.url).href;
const hostMac = (k: number): string => macToString((FUZZ_HOSTS[k][0] << 8) | FUZZ_HOSTS[k][1],
  (FUZZ_HOSTS[k][2] << 24) | (FUZZ_HOSTS[k][3] << 16) | (FUZZ_HOSTS[k][4] << 8) | FUZZ_HOSTS[k][5]);

/** the firewall rules: every field packet/match.ts parses, both directions, port lists */
export const FUZZ_FIREWALL_RULES = [
  { match: 'tcp.dst=22', action: 'allow' },
  { match: 'ipv6,tcp.dst=23', action: 'deny', name: 'telnet6' },
  { match: 'ipv4.src=10.66.0.0/16', action: 'deny', name: 'net66' },
  { match: 'ipv6.src=fe80::1/128,udp', action: 'deny', direction: 'egress', ports: ['p1'] },
  { match: 'icmp.type=8', action: 'allow' },
  { match: 'icmpv6.type=135', action: 'deny', direction: 'both', ports: ['p2'] },
  { match: 'udp.dst=4789', action: 'deny', direction: 'egress', ports: ['p3'], name: 'vxlan-p3' },
  { match: 'vlan.vid=7', action: 'deny', name: 'vlan7' },
  { spec: { proto: '47' }, action: 'deny', direction: 'both', ports: ['p2'], name: 'gre-p2' },
  { match: 'l4.src=1000-1999', action: 'deny', direction: 'egress' },
  { match: 'eth.type=arp,eth.src=02:00:5e:10:00:06', action: 'deny', name: 'arp6' },
];

function stages(forwarder: 'learning' | 'static', pcapDir: string): TestStage[] {
  const out: TestStage[] = [
    { module: ext('pcap'), config: { dir: pcapDir, match: 'udp', snaplen: 200, rotateBytes: 1 << 20, rotateFiles: 2, flushMs: 1000 } },
    {
      module: ext('sflow'), config: {
        agentAddress: '10.9.0.254', sampleRate: 50, pollingSeconds: 1, flushMs: 0, seed: 7,
        // the learning switch resolves its collector with ARP (fuzzed ARP replies reach that parser)
        collector: forwarder === 'learning' ? { ip: '10.9.0.103' } : { ip: '10.9.0.103', mac: hostMac(2) },
      },
    },
    { module: ext('firewall'), config: { rules: FUZZ_FIREWALL_RULES, default: 'allow' } },
    {
      module: ext('dhcp-server'), config: {
        pools: [{ ...FUZZ_DHCP, router: '10.9.0.1', dns: ['10.9.0.2'], leaseSeconds: 120 }],
        static: [{ mac: hostMac(4), ip: '10.9.0.50' }],
      },
    },
    { module: ext('noop') },
  ];
  if (forwarder === 'static') {
    out.push({ module: ext('static'), config: { entries: FUZZ_HOSTS.map((_, k) => ({ mac: hostMac(k), port: `p${k % FUZZ_PORTS}` })), floodUnknown: false } });
  }
  return out;
}

/** what the observer saw, summed */
export class Tally {
  batches = 0;
  frames = 0;
  forwarded = 0;
  copies = 0;
  readonly drops = new Float64Array(DROP_REASON_COUNT);
}

class AccountingObserver implements StageObserver {
  readonly tally = new Tally();
  constructor(private readonly sw: TestSwitch) {}
  begin(): void {}
  after(): void {}
  transmitted(batch: Batch): void {
    const t = this.tally;
    const engine = this.sw.dp.engine;
    const attached = engine.attached;
    const down = engine.linkDown;
    const up = (p: number): boolean => attached[p] === 1 && (down === null || down[p] === 0);
    t.batches++;
    t.frames += batch.count;
    for (let i = 0; i < batch.count; i++) {
      const r = batch.reason[i];
      if (r !== 0) { t.drops[r]++; continue; }
      t.forwarded++;
      const mode = batch.dstMode[i];
      if (mode === DstMode.unicast) { t.copies++; continue; }
      for (let p = 0; p < DST_WORDS * 32; p++) {
        if (!up(p) || (batch.hasExclusions && batch.isExcluded(i, p))) continue;
        if (mode === DstMode.flood ? p !== batch.inPort : mode === DstMode.set && (batch.dstSet[i * DST_WORDS + (p >>> 5)] & (1 << (p & 31))) !== 0) t.copies++;
      }
    }
  }
}

/** the books of one switch: cumulative totals (subtract two to check a stretch of traffic) */
export interface Books {
  queued: number;
  portRx: number;
  originated: number;
  originatedCounter: number;
  observedFrames: number;
  forwarded: number;
  copies: number;
  sent: number;
  handedToPorts: number;
  /** counters, by reason code (tx-error and never-created frames left out, see above) */
  drops: number[];
  /** seen by the observer, by reason code */
  observedDrops: number[];
  /** frame slots not free right now (a level, not a total) */
  slotsInUse: number;
}

export function subtractBooks(a: Books, b: Books): Books {
  const out = { ...a, drops: a.drops.map((x, r) => x - b.drops[r]), observedDrops: a.observedDrops.map((x, r) => x - b.observedDrops[r]) };
  for (const k of ['queued', 'portRx', 'originated', 'originatedCounter', 'observedFrames', 'forwarded', 'copies', 'sent', 'handedToPorts'] as const) out[k] = a[k] - b[k];
  return out;
}

export const received = (k: Books): number => k.portRx + k.originated;
export const dropped = (k: Books): number => k.drops.reduce((s, x) => s + x, 0);

export function dropsByReason(k: Books): Record<string, number> {
  const out: Record<string, number> = {};
  k.drops.forEach((n, r) => { if (n !== 0) out[DROP_REASONS[r][0]] = n; });
  return out;
}

/** what does not balance (empty: every frame accounted for) */
export function unbalanced(k: Books): string[] {
  const problems: string[] = [];
  for (let r = 1; r < DROP_REASON_COUNT; r++) {
    if (k.drops[r] !== k.observedDrops[r]) problems.push(`${DROP_REASONS[r][0]}: counters ${k.drops[r]}, observed ${k.observedDrops[r]}`);
  }
  const rx = received(k);
  if (k.portRx !== k.queued) problems.push(`ports received ${k.portRx} of ${k.queued} queued frames`);
  if (k.originated !== k.originatedCounter) problems.push(`ORIGINATED rx ${k.originated} != originated ${k.originatedCounter}`);
  if (rx !== k.observedFrames) problems.push(`received ${rx} but the observer saw ${k.observedFrames}`);
  if (rx !== k.forwarded + dropped(k)) problems.push(`received ${rx} != forwarded ${k.forwarded} + dropped ${dropped(k)}`);
  if (k.sent !== k.copies) problems.push(`sent (tx + tx errors) ${k.sent} != destinations ${k.copies}`);
  if (k.handedToPorts !== k.sent) problems.push(`ports were handed ${k.handedToPorts}, counters say ${k.sent}`);
  if (k.slotsInUse !== 0) problems.push(`${k.slotsInUse} frame slots not returned to the pool`);
  return problems;
}

export class FuzzSwitch {
  readonly name: string;
  queued = 0;
  /** exceptions thrown out of the data path (breathe/tick) */
  readonly exceptions: string[] = [];
  private readonly obs: AccountingObserver;

  private constructor(readonly sw: TestSwitch, name: string, private readonly pcapDir: string) {
    this.name = name;
    this.obs = new AccountingObserver(sw);
    sw.dp.engine.observer = this.obs;
  }

  static async create(forwarder: 'learning' | 'static'): Promise<FuzzSwitch> {
    const dir = mkdtempSync(join(tmpdir(), 'xvs-fuzz-pcap-'));
    const sw = await testSwitch({ ports: FUZZ_PORTS, stages: stages(forwarder, dir), macLimit: 4096 });
    for (const p of sw.ports) p.record = null; // count only: recording would allocate per frame
    return new FuzzSwitch(sw, forwarder, dir);
  }

  /** queue frames on their ports and breathe until every port's inbox and the inject queue are empty */
  run(frames: readonly FuzzFrame[]): void {
    const sw = this.sw;
    for (const f of frames) sw.ports[f.port % FUZZ_PORTS].inbox.push(f.bytes);
    this.queued += frames.length;
    const inject = sw.dp.engine.inject;
    for (let guard = 0; guard < 100000; guard++) {
      const pending = sw.ports.some((p) => p.inbox.length > 0) || (inject !== null && inject.count > 0);
      if (!pending) return;
      try {
        sw.breathe();
      } catch (e) {
        this.exceptions.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
        for (const p of sw.ports) p.inbox.length = 0; // the batch is lost: the accounting will say so
        return;
      }
    }
    this.exceptions.push('breathe: queued frames never drained');
  }

  /** one simulated second: extension ticks (sflow polling, pcap flush, dhcp expiry) */
  tick(): void {
    this.sw.now++;
    try {
      this.sw.tick();
    } catch (e) {
      this.exceptions.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    }
    this.run([]); // what the ticks originated (sflow counter samples, ARP) runs now
  }

  /** extension failures the data path reported (an extension threw: faulted, disabled) */
  get failures(): { name: string; error: string }[] {
    return this.sw.failures;
  }

  books(): Books {
    const v = this.sw.dp.counters.v;
    const t = this.obs.tally;
    let portRx = 0;
    let sent = 0;
    const drops = new Array<number>(DROP_REASON_COUNT).fill(0);
    for (const p of [...Array(FUZZ_PORTS).keys(), ORIGINATED]) {
      const b = CounterBlock.port(p);
      if (p !== ORIGINATED) {
        portRx += v[b + PF.rxPackets];
        sent += v[b + PF.txPackets] + v[b + PF.txErrors];
      }
      for (let r = 1; r < DROP_REASON_COUNT; r++) {
        if (r === DropReason['tx-error']) continue;
        if (p === ORIGINATED && (r === DropReason['pool-exhausted'] || r === DropReason['inject-queue-full'])) continue;
        drops[r] += v[b + PF_DROPS + r];
      }
    }
    const pool = this.sw.dp.pool;
    return {
      queued: this.queued, portRx, originated: v[CounterBlock.port(ORIGINATED) + PF.rxPackets], originatedCounter: v[SW.originated],
      observedFrames: t.frames, forwarded: t.forwarded, copies: t.copies, sent, handedToPorts: this.sw.ports.reduce((s, p) => s + p.sentFrames, 0),
      drops, observedDrops: [...t.drops], slotsInUse: pool.slots - pool.freeTop,
    };
  }

  close(): void {
    this.sw.close();
    rmSync(this.pcapDir, { recursive: true, force: true });
  }
}

/** both switches; frames alternate between them by position */
export class FuzzBench {
  private constructor(readonly switches: FuzzSwitch[]) {}

  static async create(): Promise<FuzzBench> {
    return new FuzzBench([await FuzzSwitch.create('learning'), await FuzzSwitch.create('static')]);
  }

  run(frames: readonly FuzzFrame[]): void {
    const [a, b] = this.switches;
    a.run(frames.filter((_, k) => (k & 1) === 0));
    b.run(frames.filter((_, k) => (k & 1) === 1));
  }

  tick(): void {
    for (const s of this.switches) s.tick();
  }

  /** exceptions and extension failures, one line each */
  faults(): string[] {
    return this.switches.flatMap((s) => [
      ...s.exceptions.map((e) => `${s.name}: exception: ${e}`),
      ...s.failures.map((f) => `${s.name}: extension ${f.name} failed: ${f.error}`),
    ]);
  }

  close(): void {
    for (const s of this.switches) s.close();
  }
}

/** a frame as a line for a report */
export function describeFrame(f: FuzzFrame): string {
  return `${f.kind} port ${f.port % FUZZ_PORTS} len ${f.bytes.length}: ${frameHex(f.bytes)}`;
}
