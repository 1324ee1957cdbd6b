/**
 * The HNV control API on a real ControlServer (control/test-harness.ts): hnv.pa/record/route add, remove, list
 * and hnv.show go through the one commit path (persisted, pushed to the data path, undone when the data path
 * refuses), an add with an existing key replaces (a record "moves"), a missing key is an error naming it, bad
 * input is refused with the field named and the file unchanged, a restart restores and pushes the policy,
 * `config apply` carries `hnv`, and with an etcd source the objects go there (PAs owned by this host).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config/store.js';
import type { HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';
import type { HnvObjectKind, HnvPolicySnapshot, HnvPolicySource, HnvSourceStatus } from '../hnv/model.js';
import { keyOf, upsert, without, type HnvObject } from '../hnv/local-source.js';
import type { ResolvedEtcdConfig } from '../hnv/etcd-factory.js';
import { startHarness, type Harness } from './test-harness.js';

const pa = { switch: 'sw0', address: '192.0.2.10', prefixLength: 24 };
const rec = { ca: '10.1.0.5', vsid: 5001, mac: '02:00:00:00:50:01', pa: '192.0.2.10', encap: 'vxlan' as const };
const route = { routingDomain: 'tenant-a', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' };

async function withSwitches(h: Harness): Promise<void> {
  await h.server.call('switch.create', { name: 'sw0', type: 'external', uplink: 'veth0' });
  await h.server.call('switch.create', { name: 'sw1', type: 'private' });
}

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  return 'accepted';
}

test('adds are persisted and pushed; lists and show read them back, records marked local', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.done());
  await withSwitches(h);
  t.deepEqual(await h.server.call('hnv.pa.add', pa), { object: pa, key: '|sw0|192.0.2.10', replaced: false });
  await h.server.call('hnv.record.add', { ...rec, mac: '02-00-00-00-50-01' });
  await h.server.call('hnv.record.add', { ...rec, ca: '10.1.0.6', mac: '02:00:00:00:50:02', pa: '192.0.2.20', encap: 'nvgre' });
  await h.server.call('hnv.route.add', route);
  await h.server.call('port.add', { switch: 'sw0', name: 'vm1' });
  await h.server.call('port.set', { switch: 'sw0', name: 'vm1', virtualSubnetId: 5001 });

  const doc = loadConfig(h.configPath);
  t.deepEqual(doc.hnv, { providerAddresses: [pa], lookupRecords: [rec, { ...rec, ca: '10.1.0.6', mac: '02:00:00:00:50:02', pa: '192.0.2.20', encap: 'nvgre' }], customerRoutes: [route] });
  t.is(doc.switches[0].ports[0].virtualSubnetId, 5001);
  const last = h.manager.hnvPushes.at(-1)!;
  t.is(last.snapshot.lookupRecords.length, 2);
  t.deepEqual(last.localPas, [pa]);

  t.deepEqual((await h.server.call('hnv.pa.list', {})).map((p) => p.local), [true]);
  t.deepEqual((await h.server.call('hnv.record.list', {})).map((r) => [r.ca, r.location, r.paSwitch]), [['10.1.0.5', 'local', 'sw0'], ['10.1.0.6', 'remote', undefined]]);
  t.deepEqual(await h.server.call('hnv.route.list', {}), [route]);
  const show = await h.server.call('hnv.show', {});
  t.deepEqual(show.source, { source: 'local', connected: true });
  t.deepEqual(show.vsids.map((v) => [v.vsid, v.routingDomain, v.records, v.ports]), [[5001, 'tenant-a', 2, ['sw0/vm1']]]);
  t.is(show.nextHops, null, 'the fake data path exports no next hops');
});

test('an add with an existing key replaces (a record moves to another PA); removes name a missing key unless ifExists', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.done());
  await withSwitches(h);
  await h.server.call('hnv.record.add', rec);
  const moved = await h.server.call('hnv.record.add', { ...rec, pa: '192.0.2.20' });
  t.true(moved.replaced);
  t.deepEqual(loadConfig(h.configPath).hnv?.lookupRecords, [{ ...rec, pa: '192.0.2.20' }]);
  t.is(h.manager.hnvPushes.at(-1)!.snapshot.lookupRecords[0].pa, '192.0.2.20');

  t.deepEqual(await h.server.call('hnv.record.remove', { vsid: 5001, mac: rec.mac }), { key: '5001|ca|10.1.0.5', removed: true });
  t.is(loadConfig(h.configPath).hnv, undefined, 'the last object gone: no hnv in the file');
  t.is(await refused(h.server.call('hnv.record.remove', { vsid: 5001, ca: '10.1.0.5' })), 'params: no lookup record of VSID 5001 with CA 10.1.0.5 (key 5001|ca|10.1.0.5)');
  t.deepEqual(await h.server.call('hnv.record.remove', { vsid: 5001, ca: '10.1.0.5', ifExists: true }), { key: '5001|ca|10.1.0.5', removed: false });
  t.regex(await refused(h.server.call('hnv.pa.remove', { switch: 'sw0', address: '192.0.2.10' })), /^params: no provider address 192\.0\.2\.10 on switch "sw0" \(key \|sw0\|192\.0\.2\.10\)/);
  t.regex(await refused(h.server.call('hnv.route.remove', { routingDomain: 'tenant-a', vsid: 5001, prefix: '10.1.0.0/24' })), /^params: no customer route 10\.1\.0\.0\/24/);
});

test('bad input is refused with the field named and the file unchanged; a refused push is undone', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.done());
  await withSwitches(h);
  await h.server.call('hnv.pa.add', pa);
  await h.server.call('hnv.route.add', route);
  await h.server.call('hnv.route.add', { ...route, vsid: 5002, prefix: '10.2.0.0/24' });
  await h.server.call('hnv.record.add', rec);
  const before = readFileSync(h.configPath, 'utf8');
  t.is(await refused(h.server.call('hnv.record.add', { ...rec, vsid: 12 })), 'params.vsid: expected 4096..16777214, got 12');
  t.regex(await refused(h.server.call('hnv.pa.add', { ...pa, switch: 'sw1' })), /^params\.switch: switch "sw1" is private/);
  t.is(await refused(h.server.call('hnv.pa.add', { ...pa, switch: 'sw9' })), 'params.switch: no such switch "sw9"');
  t.regex(await refused(h.server.call('hnv.record.add', { ...rec, vsid: 5002 })), /^params\.ca: 10\.1\.0\.5 has a record in routing domain "tenant-a" already \(hnv\.lookupRecords\[0\]/);
  t.regex(await refused(h.server.call('hnv.route.add', { ...route, routingDomain: 'tenant-b', prefix: '10.9.0.0/24' })), /^params\.routingDomain: VSID 5001 is in routing domain "tenant-a" already/);
  t.regex(await refused(h.server.call('port.set', { switch: 'sw1', name: 'x', virtualSubnetId: 1 })), /^params\.virtualSubnetId: expected 4096\.\.16777214, got 1/);
  t.regex(await refused(h.server.call('switch.delete', { name: 'sw0' })), /^params\.name: switch "sw0" carries HNV provider addresses \(192\.0\.2\.10\)/);
  h.manager.failNext = 'setHnvPolicy';
  t.regex(await refused(h.server.call('hnv.record.add', { ...rec, ca: '10.1.0.7', mac: '02:00:00:00:50:07' })), /injected failure in setHnvPolicy/);
  t.is(readFileSync(h.configPath, 'utf8'), before, 'the file is as before every refused request');
  t.deepEqual((await h.server.call('hnv.record.list', {})).map((r) => r.ca), ['10.1.0.5']);
  t.deepEqual(h.manager.hnvPushes.at(-1)!.snapshot.lookupRecords.map((r) => r.ca), ['10.1.0.5'], 'the undo pushed the policy from before');
});

test('a restart restores and pushes the policy; config apply carries hnv by diff', async (t) => {
  const h = await startHarness();
  await withSwitches(h);
  await h.server.call('hnv.pa.add', pa);
  await h.server.call('hnv.record.add', rec);
  await h.server.close();
  const h2 = await startHarness({ dir: h.dir });
  t.teardown(() => h2.done());
  t.deepEqual((await h2.server.call('hnv.record.list', {})).map((r) => [r.ca, r.location]), [['10.1.0.5', 'local']]);
  t.deepEqual(h2.manager.hnvPushes.at(-1)!.localPas, [pa]);
  t.true(h2.manager.calls.indexOf('createSwitch sw0') < h2.manager.calls.indexOf('setHnvPolicy'), 'the switch exists before its PA is pushed');

  const cfg = await h2.server.call('config.show', {});
  const next = { ...cfg, hnv: { ...cfg.hnv, customerRoutes: [route] } };
  const dry = await h2.server.call('config.apply', { config: next, dryRun: true });
  t.is(dry.text, '~ hnv: + 1 customer route(s) (policies pushed to every switch)');
  await h2.server.call('config.apply', { config: next });
  t.deepEqual(loadConfig(h2.configPath).hnv?.customerRoutes, [route]);
  t.regex(await refused(h2.server.call('config.apply', { config: { ...cfg, hnv: { lookupRecords: [{ ...rec, vsid: 12 }] } } })), /^params\.config\.hnv\.lookupRecords\[0\]\.vsid: expected 4096\.\.16777214, got 12/);
});

/** an in-memory stand-in for hnv/etcd-source.ts (the other part's), enough to see which source the control uses */
class MemorySource implements HnvPolicySource {
  readonly kind = 'etcd' as const;
  s: HnvPolicySnapshot = { providerAddresses: [], lookupRecords: [], customerRoutes: [] };
  private readonly listeners: (() => void)[] = [];
  closed = false;
  constructor(readonly cfg: ResolvedEtcdConfig) {}
  snapshot(): HnvPolicySnapshot { return this.s; }
  status(): HnvSourceStatus { return { source: 'etcd', connected: true, endpoints: this.cfg.endpoints, prefix: this.cfg.prefix }; }
  put(kind: 'pa', obj: HnvProviderAddress): Promise<void>;
  put(kind: 'record', obj: HnvLookupRecord): Promise<void>;
  put(kind: 'route', obj: HnvCustomerRoute): Promise<void>;
  async put(kind: HnvObjectKind, obj: HnvObject): Promise<void> {
    this.s = upsert(this.s, kind, obj).snapshot;
    for (const l of this.listeners) l();
  }
  async remove(kind: HnvObjectKind, key: string): Promise<boolean> {
    const n = without(this.s, kind, key);
    if (n) this.s = n;
    for (const l of this.listeners) l();
    return n !== null;
  }
  onChange(l: () => void): void { this.listeners.push(l); }
  async close(): Promise<void> { this.closed = true; }
}

test('with hnv.etcd the objects go to the etcd source (PAs of this host), not the file; --etcd holds it over the document', async (t) => {
  const made: MemorySource[] = [];
  const h = await startHarness({ hnvHost: 'host-a', etcdFactory: (cfg) => { const s = new MemorySource(cfg); made.push(s); return s; } });
  t.teardown(() => h.done());
  await withSwitches(h);
  const cfg = await h.server.call('config.show', {});
  await h.server.call('config.apply', { config: { ...cfg, hnv: { etcd: { endpoints: ['http://127.0.0.1:2379'] } } } });
  t.is(made.length, 1);
  t.deepEqual(made[0].cfg, { endpoints: ['http://127.0.0.1:2379'], prefix: '/xvs/hnv/', host: 'host-a' });
  const r = await h.server.call('hnv.pa.add', pa);
  t.deepEqual(r.object, pa);
  t.deepEqual(made[0].s.providerAddresses, [{ ...pa, host: 'host-a' }]);
  await made[0].put('pa', { ...pa, address: '192.0.2.20', host: 'host-b' });
  await h.server.call('hnv.record.add', rec);
  t.deepEqual(loadConfig(h.configPath).hnv, { etcd: { endpoints: ['http://127.0.0.1:2379'] } }, 'objects are in etcd, not the file');
  const show = await h.server.call('hnv.show', {});
  t.is(show.source.source, 'etcd');
  t.is(show.host, 'host-a');
  t.deepEqual(show.providerAddresses.map((p) => [p.address, p.local]), [['192.0.2.10', true], ['192.0.2.20', false]]);
  t.deepEqual(h.manager.hnvPushes.at(-1)!.localPas, [{ ...pa, host: 'host-a' }], 'only this host\'s PAs go to its switches');
  t.deepEqual(await h.server.call('hnv.pa.remove', { switch: 'sw0', address: '192.0.2.10' }), { key: keyOf('pa', { ...pa, host: 'host-a' }), removed: true });
  await h.server.call('config.apply', { config: { ...cfg } });
  t.true(made[0].closed, 'etcd gone from the document: back to the local source');
  t.is((await h.server.call('hnv.show', {})).source.source, 'local');
});
