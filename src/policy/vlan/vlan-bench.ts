/**
 * VLAN cost bench: 64-byte UDP frames from memory through the real data path (DataPath on memory
 * ports) from p0 to p1, known unicast, in alternating rounds in one run: VLAN-transparent switch,
 * access → access (classify and egress check), access → trunk (plus a tag pushed and popped at
 * transmit per frame), trunk → access (tagged frames in: the tag popped at ingress). Prints each
 * round's frames/s, the medians and their ratio to transparent.
 *
 *   node dist/src/policy/vlan/vlan-bench.js [--rounds N] [--seconds S]
 */
import type { VlanSetting } from '../../config/types.js';
import { testSwitch } from '../../extensions/testing.js';
import { buildPacket } from '../../packet/spec.js';
import type { SwitchPolicyInput } from '../runtime.js';

function arg(name: string, def: number): number {
  const k = process.argv.indexOf(`--${name}`);
  const v = k < 0 ? def : Number(process.argv[k + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

const ACCESS: VlanSetting = { mode: 'access', accessVlanId: 10 };
const TRUNK: VlanSetting = { mode: 'trunk', allowedVlanIds: '10,20', nativeVlanId: 0 };
const CASES: Record<string, [VlanSetting | undefined, VlanSetting | undefined, boolean]> = {
  transparent: [undefined, undefined, false],
  'access→access': [ACCESS, ACCESS, false],
  'access→trunk': [ACCESS, TRUNK, false],
  'trunk→access': [TRUNK, ACCESS, true],
};

function input(a: VlanSetting | undefined, b: VlanSetting | undefined): SwitchPolicyInput {
  return { ports: [a, b].map((vlan, index) => ({ index, name: `p${index}`, kind: 'vm' as const, settings: vlan ? { vlan } : {} })) };
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 5);
  const seconds = arg('seconds', 1);
  const sw = await testSwitch({ ports: 2 });
  for (const p of sw.ports) p.record = null;
  const a = '02:00:00:00:00:0a';
  const b = '02:00:00:00:00:0b';
  const frames = (tagged: boolean): Uint8Array[] => Array.from({ length: 256 }, (_, k) =>
    buildPacket(`eth(src=${a},dst=${b}),${tagged ? 'vlan(vid=10),' : ''}ipv4(),udp(src=${1000 + k},dst=2),payload(len=${tagged ? 14 : 18})`));
  const results: Record<string, number[]> = {};
  const run = (name: string): number => {
    const [x, y, tagged] = CASES[name];
    sw.dp.policy.install(input(x, y));
    // learn b on p1 in this case's VLAN
    sw.ports[1].inbox.length = 0;
    sw.send(1, buildPacket(`eth(src=${b},dst=${a}),${y?.mode === 'trunk' ? 'vlan(vid=10),' : ''}ipv4(),udp(src=1,dst=2)`));
    sw.breathe();
    const src = sw.ports[0];
    src.inbox.length = 0;
    src.inbox.push(...frames(tagged));
    src.repeat = true;
    const out = sw.ports[1];
    const sent0 = out.sentFrames;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < seconds * 1000) {
      for (let k = 0; k < 64; k++) sw.dp.breathe(sw.now);
      t = performance.now();
    }
    src.repeat = false;
    src.inbox.length = 0;
    return ((out.sentFrames - sent0) * 1000) / (t - t0);
  };
  for (const name of Object.keys(CASES)) { run(name); results[name] = []; } // warm-up (JIT)
  for (let r = 0; r < rounds; r++) {
    for (const name of Object.keys(CASES)) {
      const pps = run(name);
      results[name].push(pps);
      process.stdout.write(`round ${r + 1} ${name.padEnd(14)} ${(pps / 1e6).toFixed(2)} Mpps\n`);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const base = median(results.transparent);
  for (const name of Object.keys(CASES)) {
    const m = median(results[name]);
    process.stdout.write(`median ${name.padEnd(14)} ${(m / 1e6).toFixed(2)} Mpps  ${(m / base).toFixed(3)}×\n`);
  }
  process.stdout.write(`vlan-not-allowed drops: ${sw.drops(0, 'vlan-not-allowed')}, no-destination: ${sw.drops(0, 'no-destination')}\n`);
  sw.close();
}

await main();
