/** The exposition renderer and parser, the family table, and the collector: render → parse (and promtool). */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { DROP_REASONS } from '../core/drop-reasons.js';
import type { SwitchExtensionState, SwitchInfo, SwitchStats } from '../switch/manager-api.js';
import type { VmqView } from '../vmq/switch-vmq.js';
import { family, parseExposition, renderExposition, sampleValue } from './exposition.js';
import { collectMetrics, METRIC_FAMILIES, snakeCase, type MetricsSource } from './families.js';

test('render → parse: escapes in help and label values, special values, families without samples', (t) => {
  const f = family('x_weird_total', 'counter', 'a \\ backslash\nand a newline', ['name', 'other']);
  const g = family('x_level', 'gauge', 'plain', []);
  const e = family('x_empty', 'gauge', 'no samples', ['a']);
  const text = renderExposition([
    { family: f, samples: [{ labels: ['quote " back \\ nl \n end', ''], value: 3 }, { labels: ['b', 'c'], value: 2 ** 53 }] },
    { family: g, samples: [{ labels: [], value: NaN }] },
    { family: e, samples: [] },
  ]);
  t.true(text.includes('x_weird_total{name="quote \\" back \\\\ nl \\n end",other=""} 3\n'));
  t.true(text.includes('# HELP x_weird_total a \\\\ backslash\\nand a newline\n'));
  const parsed = parseExposition(text);
  t.is(parsed.get('x_weird_total')?.help, 'a \\ backslash\nand a newline');
  t.is(parsed.get('x_weird_total')?.type, 'counter');
  t.deepEqual(parsed.get('x_weird_total')?.samples[0], { labels: { name: 'quote " back \\ nl \n end', other: '' }, value: 3 });
  t.is(sampleValue(parsed, 'x_weird_total', { name: 'b' }), 2 ** 53);
  t.true(Number.isNaN(parsed.get('x_level')?.samples[0].value));
  t.deepEqual(parsed.get('x_empty')?.samples, []);
});

test('the parser refuses what is not the format, naming the line', (t) => {
  t.throws(() => parseExposition('x 1\n'), { message: /line 1: sample of x without HELP/ });
  t.throws(() => parseExposition('# TYPE x gauge\nx{a="1"} one\n'), { message: /line 2: bad value/ });
  t.throws(() => parseExposition('# TYPE x gauge\nx{a="1",a="2"} 1\n'), { message: /label a twice/ });
  t.throws(() => parseExposition('# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'), { message: /same labels twice/ });
  t.throws(() => parseExposition('# TYPE x gauge\nx{a="\\t"} 1\n'), { message: /bad escape/ });
  t.throws(() => parseExposition('# TYPE x gauge\nx 1'), { message: /newline/ });
});

test('family(): Prometheus naming rules', (t) => {
  t.throws(() => family('x_packets', 'counter', 'h', []), { message: /must end in _total/ });
  t.throws(() => family('x_level_total', 'gauge', 'h', []), { message: /must not end in _total/ });
  t.throws(() => family('x-y', 'gauge', 'h', []), { message: /not valid/ });
  t.throws(() => family('x', 'gauge', 'h', ['__name']), { message: /not valid/ });
  t.is(snakeCase('bandwidthDroppedBytes'), 'bandwidth_dropped_bytes');
});

test('the family table: unique names under xvs_, every one with help; counters _total', (t) => {
  const names = METRIC_FAMILIES.map((f) => f.name);
  t.is(new Set(names).size, names.length);
  for (const f of METRIC_FAMILIES) {
    t.regex(f.name, /^xvs_[a-z0-9_]+$/);
    t.true(f.help.length > 10, f.name);
    t.is(f.name.endsWith('_total'), f.type === 'counter', f.name);
  }
  for (const n of ['xvs_port_rx_packets_total', 'xvs_port_tx_bytes_total', 'xvs_port_drops_total', 'xvs_extension_frames_total',
    'xvs_worker_busy_ratio', 'xvs_worker_breaths_total', 'xvs_queue_busy_ratio', 'xvs_hnv_vsid_encapsulated_total']) t.true(names.includes(n), n);
});

/** A switch as the manager reports it: two ports, two workers, an extension with its own counter, VMQ and HNV. */
function fixture(): MetricsSource {
  const stats: SwitchStats = {
    name: 'sw "1"', type: 'private', drops: { runt: 2 },
    ports: ['vm1', 'vm\\2'].map((name, i) => ({
      name, kind: 'vm' as const, netdev: `tap${i}`, rxPackets: 10 + i, rxBytes: 1000, txPackets: 7, txBytes: 700,
      drops: (i === 0 ? { runt: 2 } : {}) as Record<string, number>, txErrors: 0, txTunnelGso: 0, macs: 1, macLimit: 1024, macLimitHits: 0,
      policy: (i === 1 ? { stormExcess: 5 } : {}) as Record<string, number>,
    })),
    fdb: { entries: 2, limit: 8192, learned: 2, moves: 0, limitHits: 0, aged: 0, portLimitHits: 0 },
    workers: [0, 1].map((index) => ({ index, tid: 100 + index, cpu: index === 0 ? 1 : null, breaths: 50, batches: 9, idlePolls: 41, coalesceWaits: 0, restarts: 0 })),
  };
  const info: SwitchInfo = {
    config: { name: 'sw "1"', type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 2, ports: [] },
    ports: [{ name: 'vm1', kind: 'vm', netdev: 'tap0', index: 0, up: true }, { name: 'vm\\2', kind: 'vm', netdev: 'tap1', index: 1, up: false }],
  };
  const ext = {
    name: 'sflow', version: '1.0.0', kind: 'capture', summary: 's', source: 'builtin', enabled: true, running: true, onError: 'bypass',
    config: {}, counters: { batches: 3, frames: 30, errors: 0, drops: 0, samples: 4 },
  } satisfies SwitchExtensionState;
  const vmq: VmqView = {
    switch: 'sw "1"', cpus: [], cpusFrom: 'none', intervalMs: 1000,
    workers: [{ index: 0, tid: 100, cpu: 1, busy: 25, queues: ['default'] }, { index: 1, tid: 101, cpu: null, busy: 0, queues: [] }],
    queues: [{ id: 'default', weight: 0, worker: 0, cpu: 1, ports: ['vm1', 'vm\\2'], pps: 120, busy: 12.5 }],
  };
  return {
    listSwitches: () => [info],
    stats: () => structuredClone(stats),
    listExtensions: () => [structuredClone(ext)],
    vmqShow: () => structuredClone(vmq),
    hnvRuntime: () => ({ nextHops: [{ pa: '10.0.0.2', via: '10.0.0.2', mac: null, state: 'unresolved' }], vsids: [{ vsid: 5001, counters: { encapsulated: 8 } }] }),
  };
}

test('collect → render → parse: every family, label sets match the table, values from the counters', (t) => {
  const text = renderExposition(collectMetrics(fixture()));
  const p = parseExposition(text);
  for (const f of METRIC_FAMILIES) {
    const got = p.get(f.name);
    if (!got) { t.fail(`${f.name} missing`); continue; }
    t.is(got.type, f.type);
    for (const s of got.samples) t.deepEqual(Object.keys(s.labels), [...f.labels], f.name);
  }
  const sw = 'sw "1"';
  t.is(sampleValue(p, 'xvs_port_rx_packets_total', { switch: sw, port: 'vm\\2' }), 11);
  t.is(sampleValue(p, 'xvs_port_up', { switch: sw, port: 'vm\\2' }), 0);
  t.is(sampleValue(p, 'xvs_port_drops_total', { switch: sw, port: 'vm1', reason: 'runt' }), 2);
  // every reason is exported, zero included, so rate() works from the first drop
  t.is(p.get('xvs_port_drops_total')?.samples.length, 2 * (DROP_REASONS.length - 1));
  t.is(sampleValue(p, 'xvs_port_policy_storm_excess_total', { port: 'vm\\2' }), 5);
  t.is(sampleValue(p, 'xvs_extension_frames_total', { extension: 'sflow' }), 30);
  t.is(sampleValue(p, 'xvs_extension_own_total', { extension: 'sflow', counter: 'samples' }), 4);
  t.is(p.get('xvs_extension_own_total')?.samples.length, 1, 'the built-in counters are not repeated as own counters');
  t.is(sampleValue(p, 'xvs_worker_busy_ratio', { worker: '0' }), 0.25);
  t.is(sampleValue(p, 'xvs_worker_cpu', { worker: '0' }), 1);
  t.is(sampleValue(p, 'xvs_worker_cpu', { worker: '1' }), undefined, 'an unpinned worker has no CPU series');
  t.is(sampleValue(p, 'xvs_queue_busy_ratio', { queue: 'default' }), 0.125);
  t.is(sampleValue(p, 'xvs_hnv_vsid_encapsulated_total', { vsid: '5001' }), 8);
  t.is(sampleValue(p, 'xvs_hnv_vsid_decapsulated_total', { vsid: '5001' }), 0);
  t.is(sampleValue(p, 'xvs_hnv_next_hop_resolved', { via: '10.0.0.2' }), 0);

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.is(promtool.status, 0, `${promtool.stdout}${promtool.stderr}`);
});

test('a switch that disappears while it is read is left out; the others are exported', (t) => {
  const src = fixture();
  const two: MetricsSource = {
    ...src,
    listSwitches: () => [...src.listSwitches(), { ...src.listSwitches()[0], config: { ...src.listSwitches()[0].config, name: 'gone' } }],
    stats: (name) => { if (name === 'gone') throw new Error('no such switch'); return src.stats(name); },
  };
  const p = parseExposition(renderExposition(collectMetrics(two)));
  t.deepEqual(p.get('xvs_switch_info')?.samples.map((s) => s.labels.switch), ['sw "1"']);
});
