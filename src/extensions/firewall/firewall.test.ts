/**
 * firewall on the real data path (testSwitch, memory ports): a truth table over a traffic mix with
 * ARP, per-port rules, egress exclusion of one destination, reconfigure keeping counters, config
 * errors naming the field, and no allocation per frame over a few million frames.
 */
import test from 'ava';
import { testSwitch } from '../testing.js';
import { validateExtensionConfig } from '../config.js';
import { buildPacket } from '../../packet/spec.js';
import def, { compileFirewall, MAX_RULES } from './index.js';

const MOD = new URL('./index.js', import.meta.url).href;
const A = '02:00:00:00:00:0a';

/** every frame is broadcast, so an admitted frame from port p reaches every other port */
const mix = {
  arp: buildPacket(`eth(src=${A}),arp(op=request,spa=10.0.0.1,tpa=10.0.0.2)`),
  ssh: buildPacket(`eth(src=${A}),ipv4(src=10.0.0.1,dst=10.0.0.2),tcp(src=40000,dst=22,flags=S)`),
  http: buildPacket(`eth(src=${A}),ipv4(src=10.0.0.1,dst=10.0.0.2),tcp(src=40000,dst=80,flags=S)`),
  dns: buildPacket(`eth(src=${A}),ipv4(src=10.0.0.1,dst=10.0.0.53),udp(src=5353,dst=53)`),
  ping: buildPacket(`eth(src=${A}),ipv4(src=10.0.0.1,dst=10.0.0.2),icmp(type=8)`),
  v6: buildPacket(`eth(src=${A}),ipv6(src=fd00::1,dst=fd00::2),udp(src=1,dst=2)`),
  outsider: buildPacket(`eth(src=${A}),ipv4(src=192.168.9.9,dst=10.0.0.2),tcp(src=40000,dst=22,flags=S)`),
};
type Kind = keyof typeof mix;

const RULES = [
  { match: 'eth.type=arp', action: 'allow', name: 'arp' },
  { match: 'ipv4.src=192.168.0.0/16', action: 'deny', name: 'outsiders' },
  { match: 'tcp.dst=22', action: 'allow', name: 'ssh' },
  { spec: { proto: 'udp', dstPort: '53' }, action: 'allow' },
  { match: 'icmp', action: 'allow', ports: ['p1'], name: 'ping-from-p1' },
];

/** send one frame from `port`, return which other ports got it */
async function deliveredTo(sw: Awaited<ReturnType<typeof testSwitch>>, port: number, f: Uint8Array): Promise<number[]> {
  sw.clearSent();
  sw.send(port, f.slice());
  sw.breathe();
  return sw.ports.map((_, k) => k).filter((k) => sw.sent(k).length > 0);
}

test('truth table: first match wins, default deny, ARP allowed, per-port rule', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: MOD, config: { rules: RULES, default: 'deny' } }] });
  const expect: [Kind, number, number[]][] = [
    ['arp', 0, [1, 2]],
    ['ssh', 0, [1, 2]],
    ['http', 0, []], // default deny
    ['dns', 0, [1, 2]], // rule 3 (spec object)
    ['ping', 0, []], // the icmp rule covers p1 only
    ['ping', 1, [0, 2]],
    ['v6', 0, []],
    ['outsider', 0, []], // rule 1 comes before ssh
  ];
  for (const [kind, from, to] of expect) t.deepEqual(await deliveredTo(sw, from, mix[kind]), to, `${kind} from p${from}`);
  t.is(sw.counter('firewall', 'allowed'), 4);
  t.is(sw.counter('firewall', 'denied'), 4);
  t.deepEqual([0, 1, 2, 3, 4].map((k) => sw.counter('firewall', `rule${k}`)), [1, 1, 1, 1, 1]);
  t.is(sw.drops(0, 'extension-drop'), 4);
  // drop reasons name the rule
  const tr = sw.trace(mix.outsider, 0);
  t.is(tr.verdict, 'dropped');
  t.regex(tr.steps.find((s) => s.stage === 'firewall')?.reason ?? '', /extension-drop: rule outsiders/);
  t.regex(sw.trace(mix.http, 0).steps.find((s) => s.stage === 'firewall')?.reason ?? '', /default deny/);
  t.is(sw.trace(mix.ssh, 0).verdict, 'forwarded');
  t.is(sw.counter('firewall', 'allowed'), 4, 'trace frames are not counted');
  sw.close();
});

test('egress: a deny removes only that destination; default is the ingress verdict', async (t) => {
  const sw = await testSwitch({
    ports: 4, stages: [{
      module: MOD, config: {
        rules: [
          { match: 'udp.dst=53', action: 'deny', direction: 'egress', ports: ['p2'], name: 'no-dns-to-p2' },
          { match: 'tcp', action: 'allow', direction: 'egress', ports: ['p3'] },
          { match: 'any', action: 'deny', direction: 'egress', ports: ['p3'], name: 'p3-tcp-only' },
        ],
      },
    }],
  });
  t.deepEqual(await deliveredTo(sw, 0, mix.dns), [1], 'p2 excluded by rule 0, p3 by its closing deny');
  t.deepEqual(await deliveredTo(sw, 0, mix.ssh), [1, 2, 3]);
  t.deepEqual(await deliveredTo(sw, 0, mix.arp), [1, 2], 'not TCP: p3 closed');
  t.deepEqual(await deliveredTo(sw, 3, mix.dns), [0, 1], 'p3 as a source is not covered by egress rules');
  t.is(sw.counter('firewall', 'excluded'), 4);
  t.is(sw.counter('firewall', 'denied'), 0);
  t.is(sw.counter('firewall', 'allowed'), 4);
  t.deepEqual([0, 1, 2].map((k) => sw.counter('firewall', `rule${k}`)), [2, 1, 2]);
  sw.close();
});

test('direction both applies on both paths', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: MOD, config: { rules: [{ match: 'icmp', action: 'deny', direction: 'both', ports: ['p2'] }] } }] });
  t.deepEqual(await deliveredTo(sw, 0, mix.ping), [1], 'egress to p2 excluded');
  t.deepEqual(await deliveredTo(sw, 2, mix.ping), [], 'ingress from p2 dropped');
  t.deepEqual(await deliveredTo(sw, 1, mix.ssh), [0, 2]);
  sw.close();
});

test('per-port rules follow ports that appear later and by name', async (t) => {
  const sw = await testSwitch({ ports: 3, stages: [{ module: MOD, config: { rules: [{ match: 'any', action: 'deny', ports: ['late'] }] } }] });
  t.deepEqual(await deliveredTo(sw, 2, mix.ssh), [0, 1], 'no port named late yet');
  const p2 = sw.ports[2];
  sw.dp.detach(2);
  sw.dp.attach(2, 'late', p2, true, 1500);
  t.deepEqual(await deliveredTo(sw, 2, mix.ssh), [], 'port 2 is now "late"');
  t.deepEqual(await deliveredTo(sw, 0, mix.ssh), [1, 2]);
  sw.close();
});

test('reconfigure applies new rules and keeps the counters', async (t) => {
  const sw = await testSwitch({ ports: 2, stages: [{ module: MOD, config: { rules: [{ match: 'tcp.dst=80', action: 'deny' }] } }] });
  t.deepEqual(await deliveredTo(sw, 0, mix.http), []);
  t.deepEqual(await deliveredTo(sw, 0, mix.ssh), [1]);
  await sw.reconfigure(0, { rules: [{ match: 'tcp.dst=22', action: 'deny' }, { match: 'tcp.dst=80', action: 'deny' }] });
  t.deepEqual(await deliveredTo(sw, 0, mix.http), []);
  t.deepEqual(await deliveredTo(sw, 0, mix.ssh), []);
  t.is(sw.counter('firewall', 'denied'), 3, 'counters survived the reconfigure');
  t.is(sw.counter('firewall', 'allowed'), 1);
  t.is(sw.counter('firewall', 'rule0'), 2);
  t.is(sw.counter('firewall', 'rule1'), 1);
  await sw.reconfigure(0, { default: 'deny', rules: [] });
  t.deepEqual(await deliveredTo(sw, 0, mix.arp), []);
  t.is(sw.counter('firewall', 'denied'), 4);
  sw.close();
});

test('configuration errors name the field', async (t) => {
  const v = (rules: unknown[], extra: Record<string, unknown> = {}): unknown => compileFirewall(validateExtensionConfig(def, { rules, ...extra }, 'config'));
  const ok = { match: 'any', action: 'allow' };
  t.throws(() => v([ok, ok, { match: 'any', action: 'drop' }]), { message: 'config.rules[2].action: expected one of allow, deny, got "drop"' });
  t.throws(() => v([ok, { action: 'deny' }]), { message: /^config\.rules\[1\]\.match: give exactly one of match/ });
  t.throws(() => v([{ match: 'tcp.dst=99999', action: 'deny' }]), { message: /^config\.rules\[0\]\.match: tcp\.dst: expected 0\.\.65535/ });
  t.throws(() => v([{ match: 'arp,tcp', action: 'deny' }]), { message: /^config\.rules\[0\]\.match: / });
  t.throws(() => v([{ spec: { dstIp: '10.0.0.0/33' }, action: 'deny' }]), { message: /^config\.rules\[0\]\.spec\.dstIp: prefix length/ });
  t.throws(() => v([ok, { ...ok, direction: 'sideways' }]), { message: /^config\.rules\[1\]\.direction: expected one of ingress, egress, both/ });
  t.throws(() => v([{ ...ok, ports: [] }]), { message: /^config\.rules\[0\]\.ports: empty list/ });
  t.throws(() => v([{ ...ok, name: 'x' }, { ...ok, name: 'x' }]), { message: /^config\.rules\[1\]\.name: "x" names an earlier rule/ });
  t.throws(() => v([{ ...ok, colour: 'red' }]), { message: /^config\.rules\[0\]\.colour: unknown key/ });
  t.throws(() => v([], { default: 'maybe' }), { message: /^config\.default: expected one of allow, deny/ });
  t.throws(() => v(Array.from({ length: MAX_RULES + 1 }, () => ok)), { message: new RegExp(`^config\\.rules: at most ${MAX_RULES} rules`) });
  t.notThrows(() => v(Array.from({ length: MAX_RULES }, () => ok)));
  await t.throwsAsync(testSwitch({ ports: 2, stages: [{ module: MOD, config: { rules: [ok, { match: 'ip.dst=nowhere', action: 'deny' }] } }] }),
    { message: /^config\.rules\[1\]\.match: ip\.dst: / });
  t.is(Object.keys(def.counters).length, 28, 'the counters fill the 28 slots exactly');
  for (const [k, s] of Object.entries(def.doc)) t.true(s.trim().length > 0, `doc.${k}`);
});

test('no allocation per frame: millions of frames through ingress and egress rules, the heap does not grow', async (t) => {
  const sw = await testSwitch({
    ports: 3, stages: [{
      module: MOD, config: {
        default: 'deny',
        rules: [...RULES, { match: 'udp.dst=53', action: 'deny', direction: 'egress', ports: ['p2'] }, { match: 'any', action: 'allow', direction: 'egress' }],
      },
    }],
  });
  for (const p of sw.ports) p.record = null;
  sw.ports[0].inbox.push(...Object.values(mix));
  sw.ports[1].inbox.push(mix.ping, mix.ssh, mix.http);
  sw.ports[0].repeat = true;
  sw.ports[1].repeat = true;
  const rx = (): number => sw.portCounter(0, 'rxPackets') + sw.portCounter(1, 'rxPackets');
  const run = (frames: number): void => {
    const rx0 = rx();
    while (rx() - rx0 < frames) sw.breathe(5);
  };
  run(300_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const t0 = Date.now();
  run(3_000_000);
  const ms = Date.now() - t0;
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`3M frames in ${ms} ms (${(3e6 / ms / 1000).toFixed(2)} Mpps); heap delta ${after - before} bytes, gc exposed: ${gc !== undefined}`);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  t.true(sw.counter('firewall', 'denied') > 0 && sw.counter('firewall', 'excluded') > 0);
  sw.close();
});
