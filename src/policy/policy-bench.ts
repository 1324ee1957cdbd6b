/**
 * The port-policy cost bench (issue 10, docs/BENCHMARKS.md "Port policies"): 64-byte UDP frames
 * from memory through the real data path (DataPath on memory ports, no kernel), between two VM
 * ports, with no policy and with the full set on both ports — VLAN access 10, MAC-spoofing
 * protection, DHCP and router guards, 10 port ACL entries and 5 extended ACL entries that the
 * traffic never matches (every frame is checked against all of them) — in alternating rounds of
 * one second, in one run. Prints frames/s of each round, the medians and their ratio.
 *
 *   node dist/src/policy/policy-bench.js [--rounds N] [--seconds S]
 */
import type { PortSettings } from '../config/types.js';
import { testSwitch } from '../extensions/testing.js';
import { udpFrame } from '../test-support/frames.js';
import type { SwitchPolicyInput } from './runtime.js';
import { benchArg } from '../test-support/bench-args.js';

/** the policy set of bench/sw-xvspolicy.sh */
export const FULL_POLICY: PortSettings = {
  vlan: { mode: 'access', accessVlanId: 10 },
  macAddressSpoofing: false, dhcpGuard: true, routerGuard: true,
  acls: [
    { action: 'deny', direction: 'outbound', remoteIPAddress: '203.0.113.0/24' },
    { action: 'deny', direction: 'inbound', remoteIPAddress: '203.0.113.0/24' },
    { action: 'deny', direction: 'both', remoteIPAddress: '198.51.100.0/24' },
    { action: 'deny', direction: 'both', remoteIPAddress: '172.31.0.0/16' },
    { action: 'deny', direction: 'outbound', remoteIPAddress: '10.99.0.0/16' },
    { action: 'deny', direction: 'both', remoteIPAddress: '2001:db8::/32' },
    { action: 'meter', direction: 'both', remoteIPAddress: '0.0.0.0/0' },
    { action: 'meter', direction: 'both', remoteIPAddress: '192.0.2.0/24' },
    { action: 'deny', direction: 'both', remoteMacAddress: '02-00-5e-00-53-01' },
    { action: 'allow', direction: 'both', remoteIPAddress: '198.18.0.0/15' },
  ],
  extendedAcls: [
    { action: 'deny', direction: 'inbound', weight: 100, protocol: 'tcp', localPort: '23' },
    { action: 'deny', direction: 'inbound', weight: 99, protocol: 'tcp', localPort: '3389' },
    { action: 'deny', direction: 'outbound', weight: 98, protocol: 'udp', remotePort: '161' },
    { action: 'deny', direction: 'inbound', weight: 97, protocol: 'udp', localPort: '5353-5354' },
    { action: 'deny', direction: 'outbound', weight: 96, protocol: 'tcp', remotePort: '25' },
  ],
};

/** no policy at all: MAC spoofing on, since its default (off, as in Hyper-V) is a policy */
const NO_POLICY: PortSettings = { macAddressSpoofing: true };

function input(settings: PortSettings): SwitchPolicyInput {
  return { ports: [0, 1].map((index) => ({ index, name: `p${index}`, kind: 'vm' as const, settings })) };
}

async function main(): Promise<void> {
  const rounds = benchArg('rounds', 5);
  const seconds = benchArg('seconds', 1);
  const sw = await testSwitch({ ports: 2 });
  const a = '02:00:00:00:00:0a';
  const b = '02:00:00:00:00:0b';
  // both MACs learned first, so the measured frames are known unicast
  for (const p of sw.ports) p.record = null;
  sw.send(1, udpFrame(a, b));
  sw.send(0, udpFrame(b, a));
  sw.breathe(2);
  const src = sw.ports[0];
  src.inbox.length = 0;
  for (let k = 0; k < 256; k++) src.inbox.push(udpFrame(b, a, 64, k));
  src.repeat = true;
  const results: Record<'none' | 'policies', number[]> = { none: [], policies: [] };
  const measure = (which: 'none' | 'policies'): number => {
    sw.dp.policy.install(input(which === 'none' ? NO_POLICY : FULL_POLICY));
    const out = sw.ports[1];
    const sent0 = out.sentFrames;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < seconds * 1000) {
      for (let k = 0; k < 64; k++) sw.dp.breathe(sw.now);
      t = performance.now();
    }
    return ((out.sentFrames - sent0) * 1000) / (t - t0);
  };
  measure('none'); measure('policies'); // warm-up (JIT)
  for (let r = 0; r < rounds; r++) {
    for (const which of ['none', 'policies'] as const) {
      const pps = measure(which);
      results[which].push(pps);
      process.stdout.write(`round ${r + 1} ${which.padEnd(8)} ${(pps / 1e6).toFixed(2)} Mpps\n`);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const none = median(results.none);
  const pol = median(results.policies);
  // the traffic matches no deny: a policy drop means the bench measured the wrong thing
  const drops = (['port-acl', 'extended-acl', 'vlan-not-allowed', 'mac-spoofing', 'dhcp-guard', 'router-guard'] as const).reduce((n, r) => n + sw.drops(0, r), 0);
  sw.dp.policy.install(input(FULL_POLICY));
  const hooks = sw.dp.policy.installed().map((p) => `${p.stage}:${p.hook.name}`).join(', ');
  process.stdout.write(`policy hooks: ${hooks || '(none: no policy module is registered)'}\n`);
  process.stdout.write(`median: none ${(none / 1e6).toFixed(2)} Mpps, policies ${(pol / 1e6).toFixed(2)} Mpps, ratio ${(pol / none).toFixed(3)} (policy drops: ${drops})\n`);
  sw.close();
  if (drops > 0) process.exitCode = 1;
}

await main();
