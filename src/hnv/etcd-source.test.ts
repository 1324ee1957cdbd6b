/**
 * The etcd policy source against a real etcd (etcd-testing.ts: own process on 127.0.0.1, free ports,
 * temp data dir): two sources stand for two hosts on one prefix.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import type { HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';
import { createEtcdSource, EtcdUnreachableError, type EtcdSourceOptions } from './etcd-source.js';
import { freePort, TestEtcd } from './etcd-testing.js';
import { paKey, recordKey, routeKey, type HnvPolicySource } from './model.js';

const PREFIX = '/xvs-test/hnv/';

function rec(ca: string, pa: string, vsid = 5001): HnvLookupRecord {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return { ca, vsid, mac: `02:00:00:00:${hex(vsid % 256)}:${hex(Number(ca.split('.')[3]))}`, pa, encap: 'vxlan' };
}

/** polls until cond() holds (a deadline for failing, not a timing requirement) */
async function until(what: string, cond: () => boolean, ms = 20_000): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return performance.now() - t0;
}

/** the listener call follows the snapshot update (setImmediate): let pending ones run */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

interface Host { src: HnvPolicySource; logs: string[]; changes: number }

async function host(t: ExecutionContext, etcd: TestEtcd, name: string, extra: Partial<EtcdSourceOptions> = {}): Promise<Host> {
  const h: Host = { src: undefined as unknown as HnvPolicySource, logs: [], changes: 0 };
  h.src = await createEtcdSource({ endpoints: [etcd.endpoint], prefix: PREFIX, host: name },
    { log: (m) => h.logs.push(m), host: name, retryMinMs: 100, retryMaxMs: 500, ...extra });
  h.src.onChange(() => { h.changes++; });
  t.teardown(() => h.src.close());
  return h;
}

async function startEtcd(t: ExecutionContext): Promise<TestEtcd> {
  const etcd = await TestEtcd.create();
  t.teardown(() => etcd.remove());
  await etcd.start();
  return etcd;
}

function direct(t: ExecutionContext, endpoint: string): Etcd3 {
  const c = new Etcd3({ hosts: endpoint });
  t.teardown(() => c.close());
  return c;
}

const cas = (h: Host): string[] => h.src.snapshot().lookupRecords.map((r) => `${r.ca}@${r.pa}`).sort();

test.serial('two hosts on one prefix: a put on one appears on the other, direct etcd writes on both, removes propagate, bad values are skipped and logged', async (t) => {
  const etcd = await startEtcd(t);
  const a = await host(t, etcd, 'hostA');
  const b = await host(t, etcd, 'hostB');
  for (const h of [a, b]) {
    const st = h.src.status();
    t.is(st.source, 'etcd');
    t.true(st.connected);
    t.deepEqual(st.endpoints, [etcd.endpoint]);
    t.is(st.prefix, PREFIX);
    t.is(st.lastError, undefined);
    t.deepEqual(h.src.snapshot(), { providerAddresses: [], lookupRecords: [], customerRoutes: [] });
  }

  // a PA written without host is the writer's; a record and a route
  const pa: HnvProviderAddress = { switch: 'ext', address: '192.168.50.1', prefixLength: 24 };
  await a.src.put('pa', pa);
  const route: HnvCustomerRoute = { routingDomain: 'tenant-1', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' };
  await a.src.put('route', route);
  await a.src.put('record', rec('10.1.0.1', '192.168.50.1'));
  t.deepEqual(cas(a), ['10.1.0.1@192.168.50.1'], 'a write returns once the writer\'s own snapshot has it');
  await until('B sees A\'s PA, route and record', () => b.src.snapshot().lookupRecords.length === 1 && b.src.snapshot().customerRoutes.length === 1 && b.src.snapshot().providerAddresses.length === 1);
  t.deepEqual(b.src.snapshot().providerAddresses, [{ ...pa, host: 'hostA' }]);
  t.deepEqual(b.src.snapshot().customerRoutes, [route]);
  t.deepEqual(a.src.snapshot(), b.src.snapshot(), 'both hosts hold the same policy');
  t.true(b.changes > 0, 'B\'s listeners were told');

  // the delay from put() on A to B's snapshot holding it, 20 times
  const delays: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = rec(`10.1.0.${100 + i}`, '192.168.50.1');
    const t0 = performance.now();
    await a.src.put('record', r);
    await until(`B sees ${r.ca}`, () => b.src.snapshot().lookupRecords.some((x) => x.ca === r.ca));
    delays.push(performance.now() - t0);
  }
  delays.sort((x, y) => x - y);
  t.log(`put on A → in B's snapshot: median ${delays[10].toFixed(1)} ms, max ${delays[19].toFixed(1)} ms (20 puts)`);

  // one event batch (a transaction of 5 puts) → one listener call
  const client = direct(t, etcd.endpoint);
  await settle();
  const before = b.changes;
  const txn = client.if(`${PREFIX}record/5002/10.2.0.1`, 'Version', '==', 0);
  const puts = [1, 2, 3, 4, 5].map((i) => rec(`10.2.0.${i}`, '192.168.50.2', 5002));
  await txn.then(...puts.map((r) => client.put(`${PREFIX}record/5002/${r.ca}`).value(JSON.stringify(r)))).commit();
  await until('A and B see the direct etcd writes', () => [a, b].every((h) => h.src.snapshot().lookupRecords.filter((r) => r.vsid === 5002).length === 5));
  await settle();
  t.is(b.changes - before, 1, 'a batch of 5 puts is one change');

  // a move: the same record (same identity) to another PA, written straight into etcd
  const moved = { ...rec('10.1.0.1', '192.168.50.2') };
  await client.put(`${PREFIX}record/5001/10.1.0.1`).value(JSON.stringify(moved));
  await until('both see the move', () => [a, b].every((h) => cas(h).includes('10.1.0.1@192.168.50.2') && !cas(h).includes('10.1.0.1@192.168.50.1')));

  // remove from B; it goes from both; a second remove finds nothing
  t.true(await b.src.remove('record', recordKey(moved)));
  t.true(await b.src.remove('route', routeKey(route)));
  t.true(await b.src.remove('pa', paKey({ ...pa, host: 'hostA' })));
  await until('the removes reach A', () => !cas(a).some((c) => c.startsWith('10.1.0.1@')) && a.src.snapshot().customerRoutes.length === 0 && a.src.snapshot().providerAddresses.length === 0);
  t.false(await a.src.remove('record', recordKey(moved)), 'removing a record that is gone says so');

  // bad values: skipped (the others stay), logged with the key; a good one after them still arrives
  const bad: [string, string][] = [
    [`${PREFIX}record/5001/10.1.0.9`, '{"ca":"10.1.0.9","vsid":12,"mac":"02:00:00:00:00:09","pa":"192.168.50.1","encap":"vxlan"}'],
    [`${PREFIX}record/5001/10.1.0.10`, 'not json'],
    [`${PREFIX}record/5001/10.1.0.11`, JSON.stringify(rec('10.1.0.99', '192.168.50.1'))],
    [`${PREFIX}pa/hostA/ext/192.168.50.7`, '{"switch":"ext","address":"192.168.50.7","prefixLength":24}'],
  ];
  for (const [k, v] of bad) await client.put(k).value(v);
  await client.put(`${PREFIX}record/5001/10.1.0.12`).value(JSON.stringify(rec('10.1.0.12', '192.168.50.1')));
  await until('the good record after the bad ones', () => [a, b].every((h) => cas(h).includes('10.1.0.12@192.168.50.1')));
  for (const h of [a, b]) {
    t.false(cas(h).some((c) => /^10\.1\.0\.(9|10|11|99)@/.test(c)), 'no bad record is in the snapshot');
    t.false(h.src.snapshot().providerAddresses.some((p) => p.address === '192.168.50.7'));
    t.true(h.logs.some((l) => l.includes(`${PREFIX}record/5001/10.1.0.9`) && l.includes('vsid: expected 4096..16777214, got 12')), h.logs.join('\n'));
    t.true(h.logs.some((l) => l.includes(`${PREFIX}record/5001/10.1.0.10`) && l.includes('not JSON')));
    t.true(h.logs.some((l) => l.includes(`${PREFIX}record/5001/10.1.0.11`) && l.includes('record/5001/10.1.0.99')), 'a value under another object\'s key');
    t.true(h.logs.some((l) => l.includes(`${PREFIX}pa/hostA/ext/192.168.50.7`) && l.includes('host:')));
    t.true(h.src.status().connected);
  }

  // the control plane's factory form: createEtcdSource(cfg, log), the host from cfg
  const cLogs: string[] = [];
  const c = await createEtcdSource({ endpoints: [etcd.endpoint], prefix: PREFIX, host: 'hostC' }, (m) => cLogs.push(m));
  t.teardown(() => c.close());
  t.true(c.status().connected, cLogs.join('\n'));
  await c.put('pa', { switch: 'ext', address: '192.168.50.3', prefixLength: 24 });
  t.deepEqual(c.snapshot().providerAddresses, [{ switch: 'ext', address: '192.168.50.3', prefixLength: 24, host: 'hostC' }]);
  t.true(await c.remove('pa', paKey({ switch: 'ext', address: '192.168.50.3' })), 'a PA key without host is this host\'s');

  // a bad object is refused by put (the field named), nothing written
  await t.throwsAsync(a.src.put('record', { ...rec('10.1.0.13', '192.168.50.1'), vsid: 7 }), { message: /vsid: expected 4096\.\.16777214, got 7/ });
  t.is((await client.get(`${PREFIX}record/7/10.1.0.13`).string()), null);
});

test.serial('etcd lost: status disconnected, snapshot kept, writes refused; etcd back on the same data dir: a full resync catches up with changes made while away', async (t) => {
  const etcd = await startEtcd(t);
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'xvs-etcd-cache-'));
  t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }));
  const a = await host(t, etcd, 'hostA', { cacheFile: path.join(cacheDir, 'a.json') });
  const b = await host(t, etcd, 'hostB');
  await a.src.put('record', rec('10.1.0.1', '192.168.50.1'));
  await a.src.put('record', rec('10.1.0.2', '192.168.50.1'));
  await a.src.put('record', rec('10.1.0.3', '192.168.50.2'));
  await until('B has 3 records', () => cas(b).length === 3);
  await settle();
  const held = b.src.snapshot();
  const changesBefore = b.changes;

  await etcd.kill();
  await until('both say disconnected', () => !a.src.status().connected && !b.src.status().connected);
  for (const h of [a, b]) {
    const st = h.src.status();
    t.false(st.connected);
    t.truthy(st.lastError, 'the error is in the status');
    t.is(cas(h).length, 3, 'the last snapshot is kept');
  }
  t.deepEqual(b.src.snapshot(), held);
  t.is(b.changes, changesBefore, 'losing etcd is not a change of the policy');
  const err = await t.throwsAsync(b.src.put('record', rec('10.1.0.4', '192.168.50.1')), { instanceOf: EtcdUnreachableError });
  t.regex(err?.message ?? '', /etcd unreachable .*not queued/);
  await t.throwsAsync(b.src.remove('record', recordKey(rec('10.1.0.1', '192.168.50.1'))), { instanceOf: EtcdUnreachableError });
  // retries go on (at most 500 ms apart here); the outage is logged once
  await new Promise((r) => setTimeout(r, 1500));
  t.is(b.logs.filter((l) => l.startsWith('etcd unreachable')).length, 1, b.logs.join('\n'));
  t.true(b.logs.some((l) => /^etcd unreachable .*keeping 3 records, 0 PAs, 0 routes/.test(l)));

  // the same member on the same data dir, serving on a port the sources do not use: what is done there
  // is done while they are away (a delete, a move, an add)
  const otherPort = await freePort();
  await etcd.start(otherPort);
  t.is((await etcd.ctlAt(otherPort, 'del', `${PREFIX}record/5001/10.1.0.2`)).trim(), '1');
  await etcd.ctlAt(otherPort, 'put', `${PREFIX}record/5001/10.1.0.3`, JSON.stringify(rec('10.1.0.3', '192.168.50.1')));
  await etcd.ctlAt(otherPort, 'put', `${PREFIX}record/5001/10.1.0.5`, JSON.stringify(rec('10.1.0.5', '192.168.50.2')));
  await etcd.kill();
  t.false(a.src.status().connected, 'still away');
  t.is(cas(b).length, 3);

  await etcd.start();
  const t0 = performance.now();
  const expected = ['10.1.0.1@192.168.50.1', '10.1.0.3@192.168.50.1', '10.1.0.5@192.168.50.2'];
  await until('both caught up', () => [a, b].every((h) => h.src.status().connected && JSON.stringify(cas(h)) === JSON.stringify(expected)));
  t.log(`etcd healthy again → both sources resynced in ${(performance.now() - t0).toFixed(0)} ms (retry backoff 100..500 ms)`);
  for (const h of [a, b]) {
    t.deepEqual(cas(h), expected, 'the delete made while away is noticed');
    t.true(h.logs.some((l) => l.startsWith('etcd back') && l.includes('changed while away')), h.logs.join('\n'));
    t.is(h.src.status().lastError, undefined);
  }
  await until('B was told', () => b.changes > changesBefore);
  // and the watch is live again
  await b.src.put('record', rec('10.1.0.6', '192.168.50.2'));
  await until('A sees a put made after the resync', () => cas(a).includes('10.1.0.6@192.168.50.2'));
});

test.serial('a daemon starting while etcd is down does not wait for it: empty, or its last-known snapshot from the cache file; connected when etcd comes', async (t) => {
  const etcd = await startEtcd(t);
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'xvs-etcd-cache-'));
  t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }));
  const cacheFile = path.join(cacheDir, 'hnv-etcd.json');
  const first = await host(t, etcd, 'hostA', { cacheFile });
  await first.src.put('record', rec('10.1.0.1', '192.168.50.1'));
  await first.src.put('pa', { switch: 'ext', address: '192.168.50.1', prefixLength: 24 });
  await until('put seen', () => cas(first).length === 1 && first.src.snapshot().providerAddresses.length === 1);
  await first.src.close();
  await etcd.kill();

  const t0 = performance.now();
  const cached = await host(t, etcd, 'hostA', { cacheFile, callTimeoutMs: 1000 });
  const empty = await host(t, etcd, 'hostB', { callTimeoutMs: 1000 });
  t.log(`createEtcdSource with etcd down returned after ${(performance.now() - t0).toFixed(0)} ms for two sources (call timeout 1000 ms)`);
  t.false(cached.src.status().connected);
  t.false(empty.src.status().connected);
  t.deepEqual(cas(cached), ['10.1.0.1@192.168.50.1'], 'starts with the last-known records');
  t.deepEqual(cached.src.snapshot().providerAddresses, [{ switch: 'ext', address: '192.168.50.1', prefixLength: 24, host: 'hostA' }]);
  t.true(cached.logs.some((l) => l.startsWith('etcd unreachable at start') && l.includes('last-known 1 records, 1 PAs, 0 routes')), cached.logs.join('\n'));
  t.deepEqual(cas(empty), []);
  t.true(empty.logs.some((l) => l.startsWith('etcd unreachable at start') && l.includes('no HNV records')), empty.logs.join('\n'));

  await etcd.start();
  await until('both connected with the record', () => [cached, empty].every((h) => h.src.status().connected && cas(h).length === 1));
  t.true(empty.changes > 0);
});

test.serial('an endpoint that accepts but never answers (a hung etcd): the start gives up after one call timeout, disconnected, and writes are refused', async (t) => {
  const accepted: Socket[] = [];
  const srv = createServer((s) => accepted.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of accepted) s.destroy(); srv.close(); });
  const port = (srv.address() as AddressInfo).port;
  const logs: string[] = [];
  const t0 = performance.now();
  const src = await createEtcdSource({ endpoints: [`http://127.0.0.1:${port}`] }, { log: (m) => logs.push(m), host: 'h', callTimeoutMs: 500, retryMinMs: 60_000 });
  t.teardown(() => src.close());
  t.log(`returned after ${(performance.now() - t0).toFixed(0)} ms (call timeout 500 ms)`);
  t.true(accepted.length > 0, 'the client did connect');
  t.false(src.status().connected);
  t.regex(src.status().lastError ?? '', /DEADLINE_EXCEEDED|Deadline/);
  t.true(logs.some((l) => l.startsWith('etcd unreachable at start')), logs.join('\n'));
  await t.throwsAsync(src.put('route', { routingDomain: 'rd', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' }), { instanceOf: EtcdUnreachableError });
});
