/**
 * HNV's cost in the real data path, from memory (no kernel): 64-byte UDP frames through DataPath on
 * memory ports, in alternating one-second rounds, in one run:
 *   encap   a VM port (VSID 5001) → a record on the other host: routed, encapsulated (VXLAN or NVGRE),
 *           out the uplink;              plain: the same frames forwarded VM port → uplink by MAC
 *   decap   tunnel frames from the uplink → the VM port of the inner destination;
 *           plain: the inner frames forwarded uplink → VM port by MAC
 * Prints frames per second of the process's CPU time (and of wall time) per round, the medians (CPU time)
 * and HNV ÷ plain per direction (docs/BENCHMARKS.md "HNV").
 *
 *   node dist/src/policy/hnv/hnv-bench.js [--rounds N] [--seconds S] [nvgre] [only=encap|decap]
 *
 * With `--breaths N` each selected case runs exactly N breaths (64 batches each) after the warm-up and
 * prints the frames it forwarded, for instruction counts that no load disturbs: the difference of two
 * `valgrind --tool=callgrind` totals (N1, N2) divided by the difference of the frames is the cost per frame.
 */
import type { HnvEncap, HnvLookupRecord } from '../../config/types.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import type { SwitchPolicyInput } from '../../pipeline/port-policies.js';
import { FramePool } from '../../core/frame-pool.js';
import { udpFrame } from '../../test-support/frames.js';
import { buildOuterTemplate, encapsulate, innerFlowHash } from './encap.js';
import { benchArg } from '../../test-support/bench-args.js';

const ENCAP: HnvEncap = process.argv.includes('nvgre') ? 'nvgre' : 'vxlan';
const VM_A = '02:00:00:00:00:01';
const VM_B = '02:00:00:00:00:04';
const UP_A = '02:aa:00:00:00:01';
const UP_B = '02:bb:00:00:00:01';
const PA_A = '192.0.2.1';
const PA_B = '192.0.2.2';
const records: HnvLookupRecord[] = [
  { ca: '10.1.0.2', vsid: 5001, mac: VM_A, pa: PA_A, encap: ENCAP },
  { ca: '10.1.0.4', vsid: 5001, mac: VM_B, pa: PA_B, encap: ENCAP },
];
const routes = [{ routingDomain: 'red', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' }];

/** host `me` (A or B): port 0 the uplink, port 1 its VM; with or without HNV */
function input(me: 'A' | 'B', hnv: boolean): SwitchPolicyInput {
  const vmMac = me === 'A' ? VM_A : VM_B;
  return {
    ports: [
      { index: 0, name: 'uplink', kind: 'external', settings: {} },
      { index: 1, name: 'vm', kind: 'vm', settings: hnv ? { virtualSubnetId: 5001, staticMacAddress: vmMac } : { macAddressSpoofing: true } },
    ],
    ...(hnv ? {
      hnv: {
        uplink: 0, uplinkMac: me === 'A' ? UP_A : UP_B, uplinkMtu: 1500,
        providerAddresses: [{ switch: 'bench', address: me === 'A' ? PA_A : PA_B, prefixLength: 24 }],
        lookupRecords: records, customerRoutes: routes,
      },
    } : {}),
  };
}

/** 64-byte UDP from 10.1.0.2 to 10.1.0.4 (256 source ports), Ethernet to `dst` */
function innerFrames(dst: string, src: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < 256; k++) {
    const f = udpFrame(dst, src, 64, k);
    f.set([10, 1, 0, 2], 26); f.set([10, 1, 0, 4], 30);
    f[34] = 0x80 | (k >> 8); f[35] = k & 0xff;
    out.push(f);
  }
  return out;
}

/** the inner frames as host A's switch would send them to PA B */
function tunnelFrames(inner: Uint8Array[]): Uint8Array[] {
  const pool = new FramePool(16);
  const tpl = buildOuterTemplate({ encap: ENCAP, srcMac: UP_A, dstMac: UP_B, srcIp: PA_A, dstIp: PA_B });
  return inner.map((f) => {
    const id = pool.fromBytes(f);
    encapsulate(pool, id, tpl, 5001, innerFlowHash(pool, id));
    const t = pool.toBytes(id);
    pool.release(id);
    return t;
  });
}

function arpReply(dst: string, sha: string, spa: string, tpa: string): Uint8Array {
  const mac = (s: string): number[] => s.split(':').map((x) => parseInt(x, 16));
  const ip = (s: string): number[] => s.split('.').map(Number);
  const f = new Uint8Array(60);
  f.set(mac(dst), 0); f.set(mac(sha), 6); f[12] = 0x08; f[13] = 0x06;
  f.set([0, 1, 8, 0, 6, 4, 0, 2], 14);
  f.set(mac(sha), 22); f.set(ip(spa), 28); f.set(mac(dst), 32); f.set(ip(tpa), 38);
  return f;
}

interface Case { sw: TestSwitch; me: 'A' | 'B'; hnv: boolean; inPort: number; outPort: number; frames: Uint8Array[] }

async function prepare(c: Omit<Case, 'sw'>): Promise<Case> {
  const sw = await testSwitch({ ports: 2 });
  for (const p of sw.ports) p.record = null;
  sw.dp.policy.install(input(c.me, c.hnv));
  // what the measured frames need known: the next hop's MAC (HNV), the destination MAC (plain)
  if (c.hnv && c.me === 'A') sw.send(0, arpReply(UP_A, UP_B, PA_B, PA_A));
  if (!c.hnv) sw.send(c.outPort, udpFrame('02:00:00:00:00:99', VM_B, 64));
  sw.breathe(2);
  const src = sw.ports[c.inPort];
  src.inbox.length = 0;
  src.inbox.push(...c.frames);
  src.repeat = true;
  return { ...c, sw };
}

/**
 * frames per second of this process's CPU time (what another process's load on the shared cores takes
 * away is not counted against the case) and per second of wall time, over `seconds` of wall time
 */
function measure(c: Case, seconds: number): { cpu: number; wall: number } {
  const out = c.sw.ports[c.outPort];
  const sent0 = out.sentFrames;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < seconds * 1000) {
    for (let k = 0; k < 64; k++) c.sw.dp.breathe(c.sw.now);
    t = performance.now();
  }
  const used = process.cpuUsage(cpu0);
  const frames = out.sentFrames - sent0;
  return { cpu: (frames * 1e6) / (used.user + used.system), wall: (frames * 1000) / (t - t0) };
}

/** exactly `breaths` × 64 calls of breathe; the frames that left */
function measureFixed(c: Case, breaths: number): number {
  const out = c.sw.ports[c.outPort];
  const sent0 = out.sentFrames;
  for (let b = 0; b < breaths; b++) for (let k = 0; k < 64; k++) c.sw.dp.breathe(c.sw.now);
  return out.sentFrames - sent0;
}

async function main(): Promise<void> {
  const rounds = benchArg('rounds', 5);
  const seconds = benchArg('seconds', 1);
  const toB = innerFrames(VM_B, VM_A);
  const cases: Record<string, Case> = {
    'encap plain': await prepare({ me: 'A', hnv: false, inPort: 1, outPort: 0, frames: toB }),
    'encap hnv': await prepare({ me: 'A', hnv: true, inPort: 1, outPort: 0, frames: innerFrames(VM_B, VM_A) }),
    'decap plain': await prepare({ me: 'B', hnv: false, inPort: 0, outPort: 1, frames: toB }),
    'decap hnv': await prepare({ me: 'B', hnv: true, inPort: 0, outPort: 1, frames: tunnelFrames(toB) }),
  };
  const only = process.argv.find((a) => a.startsWith('only='))?.slice(5);
  if (only !== undefined) for (const k of Object.keys(cases)) if (!k.startsWith(only)) delete cases[k];
  const results: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const breaths = process.argv.includes('--breaths') ? benchArg('breaths', 1) : 0;
  if (breaths > 0) {
    // the same warm-up work whatever N is, so that two N's totals differ by the measured breaths only
    for (const c of Object.values(cases)) measureFixed(c, 100);
    for (const [name, c] of Object.entries(cases)) process.stdout.write(`${name}: ${measureFixed(c, breaths)} frames in ${breaths} breaths\n`);
    for (const c of Object.values(cases)) c.sw.close();
    return;
  }
  for (const c of Object.values(cases)) measure(c, 0.3); // warm-up (JIT)
  for (let r = 0; r < rounds; r++) {
    for (const [name, c] of Object.entries(cases)) {
      const pps = measure(c, seconds);
      results[name].push(pps.cpu);
      process.stdout.write(`round ${r + 1} ${name.padEnd(12)} ${(pps.cpu / 1e6).toFixed(2)} Mpps per CPU second (${(pps.wall / 1e6).toFixed(2)} per wall second)\n`);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  let bad = false;
  for (const [name, c] of Object.entries(cases)) {
    if (m[name] === 0) {
      process.stdout.write(`${name}: nothing arrived on port ${c.outPort}\n`);
      bad = true;
    }
  }
  process.stdout.write(`median (${ENCAP}): encap ${(m['encap hnv'] / 1e6).toFixed(2)} vs plain ${(m['encap plain'] / 1e6).toFixed(2)} Mpps, ratio ${(m['encap hnv'] / m['encap plain']).toFixed(3)}; `
    + `decap ${(m['decap hnv'] / 1e6).toFixed(2)} vs plain ${(m['decap plain'] / 1e6).toFixed(2)} Mpps, ratio ${(m['decap hnv'] / m['decap plain']).toFixed(3)}\n`);
  for (const c of Object.values(cases)) c.sw.close();
  if (bad) process.exitCode = 1;
}

await main();
