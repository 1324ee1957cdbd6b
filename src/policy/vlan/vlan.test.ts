/**
 * The VLAN policy on the real data path (testSwitch, memory ports): access push/pop, trunk allowed and
 * native VLANs, tagged frames refused on untagged/access ports, the private-VLAN send/receive matrix,
 * learning per filtering id (PVLAN shared learning, the same MAC on two VLANs), the static forwarder's
 * VLAN entries, virtio-net header offsets moved with the tag, no hooks while no port has a VLAN, no
 * allocation per frame, `pipeline show` lines, `fdb show` pages with the VLAN.
 */
import test from 'ava';
import type { PortSettings } from '../../config/types.js';
import { FramePool } from '../../core/frame-pool.js';
import { popTag, pushTag } from '../../core/vlan.js';
import { testSwitch, type TestSwitch } from '../../extensions/testing.js';
import { buildPacket } from '../../packet/spec.js';
import { PolicyCounters, PPF } from '../counters.js';
import type { PolicyPortKind } from '../runtime.js';
import { FdbPager } from '../../forward/fdb-pages.js';
import { MacTable } from '../../forward/mac-table.js';
import type { FdbEntry } from '../../switch/manager-api.js';
import { vlanPolicy } from './index.js';
import { validateVlan } from '../../config/port-settings.js';
import { parseVlanList } from '../../config/vlan-list.js';

type Port = [kind: PolicyPortKind, vlan?: PortSettings['vlan']];
const M = (k: number): string => `02:00:00:00:00:${k.toString(16).padStart(2, '0')}`;
const BCAST = 'ff:ff:ff:ff:ff:ff';

function frame(src: string, dst: string, vid?: number): Uint8Array {
  return buildPacket(`eth(src=${src},dst=${dst}),${vid !== undefined ? `vlan(vid=${vid}),` : ''}ipv4(),udp(src=1,dst=2)`);
}

/** the VLAN of a sent frame's tag, or 'untagged' */
function tagOf(f: Uint8Array): number | 'untagged' {
  return f[12] === 0x81 && f[13] === 0 ? ((f[14] << 8) | f[15]) & 0xfff : 'untagged';
}

async function vlanSwitch(ports: Port[]): Promise<TestSwitch> {
  const sw = await testSwitch({ ports: ports.length });
  install(sw, ports);
  return sw;
}

function install(sw: TestSwitch, ports: Port[]): void {
  sw.dp.policy.install({
    ports: ports.map(([kind, vlan], index) => ({ index, name: `p${index}`, kind, settings: vlan !== undefined ? { vlan } : {} })),
  });
}

/** send one frame from `port`; port → tag of what each port received (only ports that received) */
function deliver(sw: TestSwitch, port: number, f: Uint8Array): Record<number, number | 'untagged'> {
  sw.clearSent();
  sw.send(port, f);
  sw.breathe();
  const out: Record<number, number | 'untagged'> = {};
  sw.ports.forEach((_, k) => {
    const s = sw.sent(k);
    if (s.length > 0) out[k] = tagOf(s[0]);
  });
  return out;
}

/** the VLAN policy's hooks (VM ports also have the guards' MAC-spoofing hook by default) */
const vlanHooks = (sw: TestSwitch): unknown[] => sw.dp.policy.installed().filter((p) => p.hook.name === 'vlan');

const excluded = (sw: TestSwitch, p: number): number => sw.dp.policyCounters.v[PolicyCounters.port(p) + PPF.vlanExcluded];

test('no port with a VLAN: no hooks, tags pass untouched, pool VLANs stay 0', async (t) => {
  const sw = await vlanSwitch([['vm', { mode: 'untagged' }], ['vm'], ['external']]);
  t.deepEqual(vlanHooks(sw), [], 'no hook at any stage');
  t.false(sw.dp.engine.vlan.aware);
  t.deepEqual(deliver(sw, 0, frame(M(1), BCAST, 42)), { 1: 42, 2: 42 }, 'a tagged frame floods as it is');
  // aware, then transparent again: every pool VLAN is back to 0 (the fdb and extensions rely on it)
  install(sw, [['vm', { mode: 'access', accessVlanId: 5 }], ['vm'], ['external']]);
  t.is(vlanHooks(sw).length, 2);
  deliver(sw, 0, frame(M(1), BCAST));
  install(sw, [['vm'], ['vm'], ['external']]);
  t.deepEqual(vlanHooks(sw), []);
  t.false(sw.dp.engine.vlan.aware);
  t.true(sw.dp.pool.vlan.every((v) => v === 0));
  sw.close();
});

test('access ports pop and push at the edge; the uplink and trunks carry tags; other VLANs are excluded', async (t) => {
  const sw = await vlanSwitch([
    ['vm', { mode: 'access', accessVlanId: 10 }], // p0
    ['vm', { mode: 'access', accessVlanId: 10 }], // p1
    ['vm', { mode: 'access', accessVlanId: 20 }], // p2
    ['vm', { mode: 'trunk', allowedVlanIds: '10,20', nativeVlanId: 0 }], // p3
    ['external'], // p4 uplink
    ['vm'], // p5 untagged
  ]);
  t.deepEqual(deliver(sw, 0, frame(M(0), BCAST)), { 1: 'untagged', 3: 10, 4: 10 }, 'broadcast on access 10');
  t.is(excluded(sw, 2), 1, 'p2 (VLAN 20) excluded once');
  t.is(excluded(sw, 5), 1, 'p5 (untagged) excluded once');
  t.deepEqual(deliver(sw, 4, frame(M(9), BCAST, 20)), { 2: 'untagged', 3: 20 }, 'uplink tag 20: popped for access 20, kept for the trunk');
  t.deepEqual(deliver(sw, 4, frame(M(9), BCAST)), { 3: 'untagged', 5: 'untagged' }, 'uplink untagged = VLAN 0: the untagged port and the trunk with native 0');
  t.deepEqual(deliver(sw, 5, frame(M(5), BCAST)), { 4: 'untagged', 3: 'untagged' }, 'VLAN 0 leaves the uplink untagged; trunk native 0 receives it');
  t.deepEqual(deliver(sw, 4, frame(M(9), BCAST, 30)), {}, 'uplink VLAN 30: nobody on it');
  sw.close();
});

test('trunk: allowed VLANs tagged, native untagged both ways, others refused', async (t) => {
  const sw = await vlanSwitch([
    ['vm', { mode: 'access', accessVlanId: 10 }], // p0
    ['vm', { mode: 'access', accessVlanId: 20 }], // p1
    ['vm', { mode: 'trunk', allowedVlanIds: '10,20-21', nativeVlanId: 10 }], // p2
    ['external'], // p3
  ]);
  t.deepEqual(deliver(sw, 2, frame(M(2), BCAST, 20)), { 1: 'untagged', 3: 20 }, 'tagged 20 from the trunk');
  t.deepEqual(deliver(sw, 2, frame(M(2), BCAST)), { 0: 'untagged', 3: 10 }, 'untagged from the trunk = native 10');
  t.deepEqual(deliver(sw, 0, frame(M(0), BCAST)), { 2: 'untagged', 3: 10 }, 'VLAN 10 reaches the trunk untagged (native)');
  t.deepEqual(deliver(sw, 1, frame(M(1), BCAST)), { 2: 20, 3: 20 }, 'VLAN 20 reaches the trunk tagged');
  t.deepEqual(deliver(sw, 2, frame(M(2), BCAST, 30)), {}, 'tagged 30 is not allowed on the trunk');
  t.is(sw.drops(2, 'vlan-not-allowed'), 1);
  t.deepEqual(deliver(sw, 3, frame(M(9), BCAST, 21)), { 2: 21 }, 'uplink 21 → trunk only');
  sw.close();
});

test('a tagged frame from an untagged or access VM port is dropped vlan-not-allowed; priority tags count as untagged', async (t) => {
  const sw = await vlanSwitch([['vm', { mode: 'access', accessVlanId: 10 }], ['vm'], ['vm', { mode: 'access', accessVlanId: 10 }], ['external']]);
  t.deepEqual(deliver(sw, 0, frame(M(0), BCAST, 10)), {});
  t.is(sw.drops(0, 'vlan-not-allowed'), 1);
  t.deepEqual(deliver(sw, 1, frame(M(1), BCAST, 10)), {});
  t.is(sw.drops(1, 'vlan-not-allowed'), 1);
  t.deepEqual(deliver(sw, 0, frame(M(0), BCAST, 0)), { 2: 'untagged', 3: 10 }, 'priority-tagged (VLAN 0) = untagged: access VLAN 10');
  // the trace names the policy
  const tr = sw.trace(frame(M(1), BCAST, 7), 1);
  t.is(tr.verdict, 'dropped');
  t.regex(JSON.stringify(tr.steps), /VLAN p1 \(untagged\): tagged frame on VLAN 7 not allowed/);
  sw.close();
});

test('private VLAN send/receive matrix (isolated, community, promiscuous, uplink)', async (t) => {
  const P = 100;
  const sw = await vlanSwitch([
    ['vm', { mode: 'promiscuous', primaryVlanId: P, secondaryVlanIds: '101-102' }], // p0
    ['vm', { mode: 'community', primaryVlanId: P, secondaryVlanId: 101 }], // p1
    ['vm', { mode: 'community', primaryVlanId: P, secondaryVlanId: 101 }], // p2
    ['vm', { mode: 'isolated', primaryVlanId: P, secondaryVlanId: 102 }], // p3
    ['vm', { mode: 'isolated', primaryVlanId: P, secondaryVlanId: 102 }], // p4
    ['external'], // p5
  ]);
  const matrix: [string, number, number | undefined, Record<number, number | 'untagged'>][] = [
    ['promiscuous sends on the primary', 0, undefined, { 1: 'untagged', 2: 'untagged', 3: 'untagged', 4: 'untagged', 5: P }],
    ['community sends on its secondary', 1, undefined, { 0: 'untagged', 2: 'untagged', 5: 101 }],
    ['isolated sends on its secondary: only promiscuous and the uplink', 3, undefined, { 0: 'untagged', 5: 102 }],
    ['uplink primary', 5, P, { 0: 'untagged', 1: 'untagged', 2: 'untagged', 3: 'untagged', 4: 'untagged' }],
    ['uplink community secondary', 5, 101, { 0: 'untagged', 1: 'untagged', 2: 'untagged' }],
    ['uplink isolated secondary', 5, 102, { 0: 'untagged' }],
  ];
  for (const [what, from, vid, want] of matrix) t.deepEqual(deliver(sw, from, frame(M(from), BCAST, vid)), want, what);
  sw.close();
});

test('learning per filtering id: PVLAN secondaries share the primary; VLANs keep the same MAC apart', async (t) => {
  const sw = await vlanSwitch([
    ['vm', { mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '102' }], // p0
    ['vm', { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 102 }], // p1
    ['vm', { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 102 }], // p2
    ['vm', { mode: 'access', accessVlanId: 10 }], // p3
    ['vm', { mode: 'access', accessVlanId: 20 }], // p4
    ['vm', { mode: 'access', accessVlanId: 20 }], // p5
  ]);
  deliver(sw, 1, frame(M(1), BCAST)); // p1's MAC learned on VLAN 102 = FID 100
  deliver(sw, 0, frame(M(0), BCAST)); // p0's MAC on VLAN 100
  t.deepEqual(deliver(sw, 0, frame(M(0), M(1))), { 1: 'untagged' }, 'promiscuous → isolated MAC: known unicast');
  t.deepEqual(deliver(sw, 1, frame(M(1), M(0))), { 0: 'untagged' }, 'isolated → promiscuous MAC: known unicast (shared learning)');
  t.deepEqual(deliver(sw, 2, frame(M(2), M(1))), {}, 'isolated → isolated MAC: dropped');
  t.is(sw.drops(2, 'vlan-not-allowed'), 1, 'as vlan-not-allowed');
  t.is(excluded(sw, 1), 1, 'counted as vlanExcluded on the isolated destination');
  // the same MAC on VLANs 10 and 20
  deliver(sw, 3, frame(M(7), BCAST)); // M7 on VLAN 10 at p3
  t.deepEqual(deliver(sw, 4, frame(M(4), M(7))), { 5: 'untagged' }, 'M7 unknown on VLAN 20: flooded within VLAN 20');
  deliver(sw, 5, frame(M(7), BCAST)); // M7 also on VLAN 20, at p5
  t.deepEqual(deliver(sw, 4, frame(M(4), M(7))), { 5: 'untagged' }, 'VLAN 20 entry');
  t.deepEqual(deliver(sw, 3, frame(M(3), M(7))), {}, 'VLAN 10: M7 is p3 itself (same-port)');
  const fids = sw.dp.table.entries().filter((e) => e.lo === 0x00000007).map((e) => (e.hi >>> 16) & 0xfff).sort((a, b) => a - b);
  t.deepEqual(fids, [10, 20], 'two entries for M7, keyed by VLAN');
  const p1 = sw.dp.table.entries().find((e) => e.lo === 1);
  t.is(p1 && (p1.hi >>> 16) & 0xfff, 100, 'an isolated port learns into the primary');
  sw.close();
});

test('static forwarder: VLAN-specific entries first, then the any-VLAN entry', async (t) => {
  const sw = await testSwitch({
    ports: 4,
    stages: [{
      module: new URL('../../extensions/static/index.js', import.meta.url).href,
      config: { entries: [{ mac: M(9), port: 'p1', vlan: 10 }, { mac: M(9), port: 'p2', vlan: 20 }, { mac: M(8), port: 'p3' }] },
    }],
  });
  install(sw, [['external'], ['vm', { mode: 'access', accessVlanId: 10 }], ['vm', { mode: 'access', accessVlanId: 20 }], ['vm', { mode: 'trunk', allowedVlanIds: '10,20', nativeVlanId: 0 }]]);
  t.deepEqual(deliver(sw, 0, frame(M(1), M(9), 10)), { 1: 'untagged' });
  t.deepEqual(deliver(sw, 0, frame(M(1), M(9), 20)), { 2: 'untagged' });
  t.deepEqual(deliver(sw, 0, frame(M(1), M(8), 20)), { 3: 20 }, 'any-VLAN entry, trunk tags it');
  t.deepEqual(deliver(sw, 0, frame(M(1), M(8), 30)), {}, 'any-VLAN entry but the trunk does not carry 30');
  t.is(sw.drops(0, 'vlan-not-allowed'), 1);
  sw.close();
});

test('one slot to several ports: each port gets its own tagging, the slot is restored after each send', async (t) => {
  const sw = await vlanSwitch([
    ['vm', { mode: 'access', accessVlanId: 10 }],
    ['external'],
    ['vm', { mode: 'access', accessVlanId: 10 }],
    ['vm', { mode: 'trunk', allowedVlanIds: '10', nativeVlanId: 0 }],
    ['vm', { mode: 'access', accessVlanId: 10 }],
  ]);
  const f = frame(M(0), BCAST);
  const got = deliver(sw, 0, f);
  t.deepEqual(got, { 1: 10, 2: 'untagged', 3: 10, 4: 'untagged' });
  t.deepEqual([...sw.sent(2)[0]], [...f], 'untagged copy byte for byte');
  t.deepEqual([...sw.sent(4)[0]], [...f], 'after two tagged sends the slot is still the original');
  const tagged = sw.sent(3)[0];
  t.deepEqual([...tagged.subarray(0, 12)], [...f.subarray(0, 12)]);
  t.deepEqual([...tagged.subarray(16)], [...f.subarray(12)], 'tag inserted after the MACs, priority 0');
  t.is(tagged[14] >> 5, 0);
  sw.close();
});

test('tag pop and push move the virtio-net header offsets', (t) => {
  const pool = new FramePool(4, 2048 + 256);
  const f = frame(M(1), M(2), 10);
  const id = pool.fromBytes(f);
  const base = id * pool.slotSize;
  pool.bytes[base] = 1; // NEEDS_CSUM
  pool.bytes[base + 2] = 58; // hdr_len (tagged: 18 + 20 + 20)
  pool.bytes[base + 6] = 38; // csum_start (tagged: 18 + 20)
  t.is(popTag(pool, id), 10);
  t.is(pool.len[id], f.length - 4);
  t.is(pool.bytes[base + 2], 54);
  t.is(pool.bytes[base + 6], 34);
  t.is(popTag(pool, id), -1, 'untagged now');
  t.true(pushTag(pool, id, 10));
  t.deepEqual([...pool.toBytes(id)], [...f]);
  t.is(pool.bytes[base + 2], 58);
  t.is(pool.bytes[base + 6], 38);
  pool.bytes[base] = 0; // no NEEDS_CSUM: csum_start untouched
  pool.bytes[base + 2] = 0; // hdr_len unset: untouched
  popTag(pool, id);
  t.is(pool.bytes[base + 6], 38);
  t.is(pool.bytes[base + 2], 0);
});

test('settings are checked with the field named; VLAN lists parse', (t) => {
  t.throws(() => validateVlan({ mode: 'access', accessVlanId: 5000 }, 'vlan'), { message: 'vlan.accessVlanId: expected 1..4094, got 5000' });
  t.throws(() => validateVlan({ mode: 'trunk', allowedVlanIds: '1-5000', nativeVlanId: 0 }, 'vlan'), { message: /^vlan\.allowedVlanIds: 5000 is not a VLAN id/ });
  t.throws(() => validateVlan({ mode: 'isolated', primaryVlanId: 5, secondaryVlanId: 5 }, 'vlan'), { message: /^vlan\.secondaryVlanId: must differ/ });
  t.throws(() => validateVlan({ mode: 'access', accessVlanId: 5, nativeVlanId: 1 }, 'vlan'), { message: /^vlan\.nativeVlanId: not a setting of mode access/ });
  t.throws(() => validateVlan({ mode: 'tagged' }, 'vlan'), { message: /^vlan\.mode: expected one of untagged, access/ });
  t.deepEqual(parseVlanList('1-3, 7,2'), [1, 2, 3, 7]);
  t.throws(() => parseVlanList('5-3'));
});

test('a bad setting leaves the policies as they were', async (t) => {
  const sw = await vlanSwitch([['vm', { mode: 'access', accessVlanId: 10 }], ['vm', { mode: 'access', accessVlanId: 10 }]]);
  t.throws(() => install(sw, [['vm', { mode: 'access', accessVlanId: 0 }], ['vm']]), { message: /p0\.vlan\.accessVlanId: expected 1\.\.4094, got 0/ });
  t.deepEqual(deliver(sw, 0, frame(M(0), BCAST)), { 1: 'untagged' });
  sw.close();
});

test('no allocation per frame on a VLAN-aware switch: tagged in, tagged and untagged out, floods and unicast', async (t) => {
  const sw = await vlanSwitch([
    ['vm', { mode: 'trunk', allowedVlanIds: '10,20', nativeVlanId: 0 }],
    ['vm', { mode: 'access', accessVlanId: 10 }],
    ['external'],
    ['vm', { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 102 }],
  ]);
  for (const p of sw.ports) p.record = null;
  sw.ports[0].inbox.push(frame(M(0), M(1), 10), frame(M(0), BCAST, 20), frame(M(0), M(9), 10), frame(M(0), M(1), 30));
  sw.ports[1].inbox.push(frame(M(1), M(0)));
  sw.ports[3].inbox.push(frame(M(3), BCAST));
  for (const k of [0, 1, 3]) sw.ports[k].repeat = true;
  const rx = (): number => [0, 1, 3].reduce((n, k) => n + sw.portCounter(k, 'rxPackets'), 0);
  const run = (frames: number): void => { const rx0 = rx(); while (rx() - rx0 < frames) sw.breathe(); };
  run(300_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(2_000_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`heap delta ${after - before} bytes over 2M frames (gc exposed: ${gc !== undefined})`);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  t.true(sw.portCounter(2, 'txPackets') > 0 && sw.drops(0, 'vlan-not-allowed') > 0, 'the mix reached the uplink and hit the VLAN drop');
  t.is(sw.dp.pool.inUse, 0);
  sw.close();
});

test('pipeline show lines: one per port once the switch is VLAN-aware, none before', (t) => {
  const ports = (vlan?: PortSettings['vlan']) => ({
    ports: [
      { index: 0, name: 'vm1', kind: 'vm' as const, settings: vlan ? { vlan } : {} },
      { index: 1, name: 'eth0', kind: 'external' as const, settings: {} },
    ],
  });
  t.deepEqual(vlanPolicy.summary(ports()), []);
  t.deepEqual(vlanPolicy.summary(ports({ mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '101-102' })), [
    'vm1: promiscuous primary 100 secondaries 101-102', 'eth0: uplink (trunk of every VLAN, untagged = VLAN 0)',
  ]);
});

test('fdb show pages: entries carry their VLAN, ordered by VLAN then MAC; the cursor keeps the VLAN', (t) => {
  const table = new MacTable(64);
  const mac = [0x0200, 0x00000001];
  for (const vlan of [0, 20, 10]) t.is(table.learn((0x80000000 | (vlan << 16) | mac[0]) | 0, mac[1], vlan === 0 ? 0 : 1, 1000), 1);
  const pager = new FdbPager(table);
  const seen: FdbEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = pager.page({ limit: 1, ...(after !== undefined ? { after } : {}) }, (p) => `p${p}`, 1000);
    seen.push(...page.entries);
    if (page.next === null) break;
    after = page.next;
  }
  t.deepEqual(seen.map((e) => [e.vlan, e.mac]), [[undefined, '02:00:00:00:00:01'], [10, '02:00:00:00:00:01'], [20, '02:00:00:00:00:01']]);
  t.regex(after ?? '', /@10$/, 'the cursor after a VLAN 10 entry names the VLAN');
  // a cursor whose snapshot has gone: cut from a fresh one after (VLAN 10, MAC)
  t.deepEqual(pager.page({ limit: 5, after: '02:00:00:00:00:01@10' }, (p) => `p${p}`, 1000).entries.map((e) => e.vlan), [20]);
});

test('tag pop and push on a frame not 4-byte aligned (the byte path) give the same bytes as the word path', (t) => {
  const pool = new FramePool(4, 2048 + 256);
  const f = frame(M(1), M(2), 300);
  for (const shift of [0, 1, 2, 3]) {
    const id = pool.fromBytes(f);
    const base = id * pool.slotSize;
    pool.bytes.copyWithin(base + 256 + shift, base + 256, base + 256 + f.length);
    pool.start[id] = 256 + shift;
    t.is(popTag(pool, id), 300, `shift ${shift}`);
    t.deepEqual([...pool.toBytes(id)], [...f.subarray(0, 12), ...f.subarray(16)], `popped, shift ${shift}`);
    t.true(pushTag(pool, id, 300));
    t.deepEqual([...pool.toBytes(id)], [...f], `pushed back, shift ${shift}`);
    pool.release(id);
  }
});
