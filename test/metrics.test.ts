/**
 * `xvs daemon --metrics` for real (issue 13, item 3): a daemon serving metrics on 127.0.0.1, a switch with
 * veth ports to two namespaces, ping through it, two scrapes: the counters of the ports, the workers and
 * the forwarding extension moved between them, and the exposition passes `promtool check metrics`.
 * Then the same from the config document (`metrics.listen` by `xvs config apply`, restored at restart),
 * and bad addresses refused with the flag or field named. Last, HNV: two hosts (namespaces with their
 * own daemons), a VXLAN ping between their VMs moves the per-VSID counters each host exports.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { restoreOntoHeldAddress } from '../src/test-support/opt-in-listener.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { HnvTopology, type HnvHost } from '../src/test-support/hnv-hosts.js';
import { freePort } from '../src/hnv/etcd-testing.js';
import { parseExposition, sampleValue, type ParsedFamily } from '../src/metrics/exposition.js';
import { EXPOSITION_CONTENT_TYPE } from '../src/metrics/endpoint.js';

const P = testPrefix('mt');
const SW = `${P}s`;

async function scrape(port: number): Promise<{ text: string; families: Map<string, ParsedFamily> }> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
  if (r.headers.get('content-type') !== EXPOSITION_CONTENT_TYPE) throw new Error(`content type ${r.headers.get('content-type')}`);
  const text = await r.text();
  return { text, families: parseExposition(text) };
}

function promtool(text: string): { code: number; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

const sum = (f: Map<string, ParsedFamily>, name: string, match: Record<string, string>): number =>
  (f.get(name)?.samples ?? []).filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

test.serial('--metrics: counters move under ping between two scrapes; promtool accepts the exposition', async (t) => {
  const lab = new NetLab(P);
  const port = await freePort();
  const d = new TestDaemon({}, [], ['--metrics', `127.0.0.1:${port}`]);
  t.teardown(async () => {
    if (d.running) d.xvs('switch', 'delete', SW);
    await d.destroy();
    lab.destroy();
  });
  await d.start();
  t.regex(d.log, new RegExp(`metrics: serving http://127\\.0\\.0\\.1:${port}/metrics`));
  const a = lab.addHost(1);
  const b = lab.addHost(2);
  t.is(d.xvs('switch', 'create', SW, '--type', 'private').code, 0);
  t.is(d.xvs('port', 'add', SW, 'a', '--netdev', a.peer).code, 0);
  t.is(d.xvs('port', 'add', SW, 'b', '--netdev', b.peer).code, 0);

  const first = await scrape(port);
  t.is(sampleValue(first.families, 'xvs_switch_info', { switch: SW }), 1);
  t.is(sampleValue(first.families, 'xvs_port_info', { switch: SW, port: 'a', netdev: a.peer }), 1);
  t.is(sampleValue(first.families, 'xvs_port_up', { switch: SW, port: 'b' }), 1);
  t.true(lab.ping(a, b, 5), 'ping through the switch');
  const second = await scrape(port);

  const moved = (name: string, match: Record<string, string>, atLeast: number): void => {
    const before = sum(first.families, name, match);
    const after = sum(second.families, name, match);
    t.true(after - before >= atLeast, `${name}${JSON.stringify(match)}: ${before} → ${after} (expected +${atLeast} or more)`);
  };
  // 5 echo requests from a, 5 replies from b (plus ARP)
  moved('xvs_port_rx_packets_total', { switch: SW, port: 'a' }, 5);
  moved('xvs_port_rx_bytes_total', { switch: SW, port: 'a' }, 5 * 98);
  moved('xvs_port_tx_packets_total', { switch: SW, port: 'b' }, 5);
  moved('xvs_port_tx_bytes_total', { switch: SW, port: 'b' }, 5 * 98);
  moved('xvs_port_rx_packets_total', { switch: SW, port: 'b' }, 5);
  moved('xvs_port_tx_packets_total', { switch: SW, port: 'a' }, 5);
  moved('xvs_worker_batches_total', { switch: SW }, 1);
  moved('xvs_worker_breaths_total', { switch: SW }, 1);
  moved('xvs_extension_frames_total', { switch: SW }, 10);
  moved('xvs_switch_fdb_learned_total', { switch: SW }, 2);
  t.true((second.families.get('xvs_worker_busy_ratio')?.samples.filter((s) => s.labels.switch === SW).length ?? 0) >= 1, 'worker busy ratio exported');
  t.true((second.families.get('xvs_queue_busy_ratio')?.samples.filter((s) => s.labels.switch === SW).length ?? 0) >= 1, 'queue busy ratio exported');
  // the same numbers `xvs stats` reads
  const stats = d.json<{ ports: { name: string; rxPackets: number }[] }>('stats', SW);
  t.true(stats.ports.find((p) => p.name === 'a')!.rxPackets >= sum(second.families, 'xvs_port_rx_packets_total', { switch: SW, port: 'a' }));
  // every drop reason is a series (zero included)
  t.is(sampleValue(second.families, 'xvs_port_drops_total', { switch: SW, port: 'a', reason: 'hnv-no-record' }), 0);

  const check = promtool(second.text);
  t.is(check.code, 0, check.out);

  // the switch deleted: its series are gone from the next scrape
  t.is(d.xvs('switch', 'delete', SW).code, 0);
  const third = await scrape(port);
  t.is(sampleValue(third.families, 'xvs_switch_info', { switch: SW }), undefined);
  t.is(promtool(third.text).code, 0);
});

test.serial('metrics.listen in the config: applied by config apply, restored at restart; bad addresses refused with the field named', async (t) => {
  const d = new TestDaemon();
  t.teardown(() => d.destroy());
  await d.start();
  const port = await freePort();
  const file = path.join(d.dir, 'doc.json');
  writeFileSync(file, JSON.stringify({ version: 1, switches: [], metrics: { listen: `127.0.0.1:${port}` } }));
  const applied = d.xvs('config', 'apply', file);
  t.is(applied.code, 0, applied.err);
  t.regex(applied.out, new RegExp(`~ metrics: off → 127\\.0\\.0\\.1:${port}`));
  t.is(promtool((await scrape(port)).text).code, 0);
  t.deepEqual(d.json<{ metrics?: unknown }>('config', 'show').metrics, { listen: `127.0.0.1:${port}` });
  t.is(d.json<{ metrics?: string }>('daemon', 'status').metrics, `127.0.0.1:${port}`);
  t.regex(d.xvs('daemon', 'status').out, new RegExp(`metrics: +http://127\\.0\\.0\\.1:${port}/metrics`));

  await d.stop();
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/metrics`), undefined, 'stopped with the daemon');
  await d.start();
  t.is((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200, 'restored from the persisted config');

  writeFileSync(file, JSON.stringify({ version: 1, switches: [], metrics: { listen: '127.0.0.1:99999' } }));
  const bad = d.xvs('config', 'apply', file);
  t.not(bad.code, 0);
  t.regex(bad.err, /metrics\.listen: port out of range/);
  t.is((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200, 'a refused change changed nothing');

  writeFileSync(file, JSON.stringify({ version: 1, switches: [] }));
  t.is(d.xvs('config', 'apply', file).code, 0);
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/metrics`), undefined, 'off when the document has none');

  t.regex(d.xvs('daemon', 'status').out, /metrics: +off/);

  // restored onto an address another process holds: the daemon runs, daemon status names the field;
  // another address applied: serving again, the problem resolved
  const held = await restoreOntoHeldAddress(d, file, 'metrics', port, '/metrics');
  t.is(held.whileHeld['metrics'], undefined);
  t.like(held.whileHeld.problems.find((p) => p.field === 'metrics.listen'), { field: 'metrics.listen' });
  t.regex(held.whileHeld.problems.find((p) => p.field === 'metrics.listen')?.message ?? '', /EADDRINUSE/);
  t.is(held.movedStatus, 200);
  t.deepEqual(held.problemsAfterMove, []);

  // the flag: a bad address stops the daemon before it starts, naming --metrics
  const flagged = new TestDaemon({}, [], ['--metrics', 'localhost:9477']);
  t.teardown(() => flagged.destroy());
  const e = await t.throwsAsync(flagged.start());
  t.regex(e?.message ?? '', /--metrics: not an IPv4 address/);
});

test.serial('HNV: per-VSID counters of two hosts move under a VXLAN ping; next hop resolved; promtool accepts', async (t) => {
  // each host's daemon runs in its own namespace: its 127.0.0.1 is the namespace's own loopback
  const topo = new HnvTopology(testPrefix('mh'));
  t.teardown(() => topo.destroy());
  const args = { daemonArgs: ['--metrics', '127.0.0.1:9477'] };
  const [h1, h2] = await Promise.all([topo.addHost(1, args), topo.addHost(2, args)]);
  await Promise.all([h1.addPa(), h2.addPa()]);
  const a1 = await h1.addVm({ name: 'a1', ca: '10.1.0.11', mac: '02:00:00:01:00:11', vsid: 5001, gateway: '10.1.0.1' });
  const a2 = await h2.addVm({ name: 'a2', ca: '10.1.0.12', mac: '02:00:00:01:00:12', vsid: 5001, gateway: '10.1.0.1' });
  await topo.addRecords([[a1, 'vxlan'], [a2, 'vxlan']]);
  await topo.addRoutes([['blue', 5001, '10.1.0.0/24']]);
  /** GET /metrics from inside the host's namespace */
  const scrapeIn = (h: HnvHost): string => h.exec(['node', '-e',
    'fetch("http://127.0.0.1:9477/metrics").then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(e); process.exit(1); })']);
  const vsid = (text: string, field: string): number => sampleValue(parseExposition(text), `xvs_hnv_vsid_${field}_total`, { switch: h1.sw, vsid: '5001' }) ?? -1;

  // the first echo can go while the underlay next hop is being resolved (ARP): warm the path first
  a1.ping(a2.ca, { count: 1 });
  const before = scrapeIn(h1);
  const r = a1.ping(a2.ca, { count: 3 });
  t.regex(r.out, / 3 received/, r.out);
  const after = scrapeIn(h1);
  t.true(vsid(after, 'encapsulated') - vsid(before, 'encapsulated') >= 3, `encapsulated ${vsid(before, 'encapsulated')} → ${vsid(after, 'encapsulated')}`);
  t.true(vsid(after, 'decapsulated') - vsid(before, 'decapsulated') >= 3, `decapsulated ${vsid(before, 'decapsulated')} → ${vsid(after, 'decapsulated')}`);
  t.is(sampleValue(parseExposition(after), 'xvs_hnv_next_hop_resolved', { switch: h1.sw, via: h2.pa }), 1);
  const h2text = scrapeIn(h2);
  t.true((sampleValue(parseExposition(h2text), 'xvs_hnv_vsid_decapsulated_total', { switch: h2.sw, vsid: '5001' }) ?? 0) >= 3);
  const check = promtool(after);
  t.is(check.code, 0, check.out);
});
