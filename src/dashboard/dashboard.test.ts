/** The dashboard's address (flag and config field), its desired-state change, escaping, reachability and the HTTP endpoint. */
import test from 'ava';
import { request } from 'node:http';
import { freePort } from '../hnv/etcd-testing.js';
import { describeChange, diff, inverse } from '../config/desired.js';
import { validateConfig } from '../config/schema.js';
import type { HnvShowResult } from '../hnv/control.js';
import { escapeHtml } from './escape.js';
import { dashboardScript } from './page.js';
import { DashboardEndpoint, hostAllowed } from './server.js';
import { collectSnapshot, hnvReachability, type DashboardSnapshot, type DashboardSource } from './snapshot.js';

test('escapeHtml: markup characters of user-chosen names become entities; the page embeds this very function', (t) => {
  t.is(escapeHtml('<img src=x onerror="alert(1)">'), '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
  t.is(escapeHtml("a&b 'c' `d`"), 'a&amp;b &#39;c&#39; &#96;d&#96;');
  t.is(escapeHtml('vm-1'), 'vm-1');
  t.is(escapeHtml(42), '42');
  t.is(escapeHtml('&lt;'), '&amp;lt;', 'escaped once more, not decoded');
  const script = dashboardScript();
  t.true(script.includes(escapeHtml.toString()));
  t.notThrows(() => new Function(script), 'the served script parses');
  // the serialized copy behaves as the imported one
  const copy = new Function(`${escapeHtml.toString()}; return escapeHtml;`)() as (v: unknown) => string;
  t.is(copy('<b>"x"</b>'), escapeHtml('<b>"x"</b>'));
});

test('the config\'s dashboard.listen: the metrics address syntax, validated with the field named; absent = off', (t) => {
  t.deepEqual(validateConfig({ version: 1, dashboard: { listen: '127.0.0.1:9478' } }).dashboard, { listen: '127.0.0.1:9478' });
  t.is(validateConfig({ version: 1 }).dashboard, undefined);
  t.throws(() => validateConfig({ version: 1, dashboard: { listen: 'localhost:1' } }), { message: /^dashboard\.listen: not an IPv4 address/ });
  t.throws(() => validateConfig({ version: 1, dashboard: {} }), { message: /^dashboard\.listen: required/ });
  t.throws(() => validateConfig({ version: 1, dashboard: { listen: '127.0.0.1:1', write: true } }), { message: /^dashboard\.write: unknown key/ });
});

test('a changed dashboard address is one setDashboard change, described and inverted', (t) => {
  const a = { version: 1 as const, switches: [] };
  const b = { ...a, dashboard: { listen: '127.0.0.1:9478' } };
  const cs = diff(a, b);
  t.deepEqual(cs, [{ kind: 'setDashboard', before: undefined, after: { listen: '127.0.0.1:9478' } }]);
  t.is(describeChange(cs[0]), '~ dashboard: off → 127.0.0.1:9478');
  t.deepEqual(inverse(cs[0]), [{ kind: 'setDashboard', before: { listen: '127.0.0.1:9478' }, after: undefined }]);
  t.deepEqual(diff(b, structuredClone(b)), []);
});

test('Host header: IP literals and localhost only (a DNS-rebinding name is refused)', (t) => {
  for (const ok of ['127.0.0.1:9478', '127.0.0.1', '[::1]:9478', 'localhost:9478', 'localhost']) t.true(hostAllowed(ok), ok);
  for (const bad of [undefined, '', 'evil.example:9478', 'evil.example', '127.0.0.1.nip.io:80', '[::1']) t.false(hostAllowed(bad), String(bad));
});

const hnvView = (): HnvShowResult => ({
  source: { source: 'local', connected: true }, host: 'h1',
  providerAddresses: [{ switch: 'ext', address: '10.0.0.1', prefixLength: 24, local: true }],
  lookupRecords: [
    { vsid: 5001, ca: '192.168.1.10', mac: '02:00:00:00:00:0a', pa: '10.0.0.1', encap: 'vxlan', location: 'local' },
    { vsid: 5001, ca: '192.168.1.11', mac: '02:00:00:00:00:0b', pa: '10.0.0.2', encap: 'vxlan', location: 'remote' },
    { vsid: 5002, ca: '192.168.2.10', mac: '02:00:00:00:00:0c', pa: '10.0.0.2', encap: 'vxlan', location: 'remote' },
    { vsid: 6001, ca: '192.168.9.10', mac: '02:00:00:00:00:0d', pa: '10.0.0.2', encap: 'nvgre', location: 'remote' },
  ],
  customerRoutes: [],
  vsids: [
    { vsid: 5001, routingDomain: 'rd-a', records: 2, ports: [], mtu: 1450, counters: null },
    { vsid: 5002, routingDomain: 'rd-a', records: 1, ports: [], mtu: 1450, counters: null },
    { vsid: 6001, routingDomain: 'rd-b', records: 1, ports: [], mtu: 1450, counters: null },
  ],
  nextHops: null,
});

test('reachability from the HNV records: same VSID, routed within a routing domain, else isolated', (t) => {
  const r = hnvReachability(hnvView());
  t.deepEqual(r.endpoints.map((x) => x.ca), ['192.168.1.10', '192.168.1.11', '192.168.2.10', '192.168.9.10']);
  t.deepEqual(r.reach, [
    ['self', 'same-vsid', 'routed', 'none'],
    ['same-vsid', 'self', 'routed', 'none'],
    ['routed', 'routed', 'self', 'none'],
    ['none', 'none', 'none', 'self'],
  ]);
  t.is(r.omitted, 0);
});

/** one switch whose port counts up by five per read, as the shared counters do under traffic */
function countingSource(): DashboardSource {
  let rx = 0;
  return {
    listSwitches: () => [{ config: { name: 'sw0', type: 'internal', hostPort: 'sw0-host', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [] }, ports: [{ name: 'p', kind: 'vm', netdev: 'tap-p', index: 1, up: true }] }],
    stats: () => ({
      name: 'sw0', type: 'internal', drops: { 'vlan-mismatch': 3 },
      ports: [{ name: 'p', kind: 'vm', netdev: 'tap-p', rxPackets: (rx += 5), rxBytes: 0, txPackets: 0, txBytes: 0, drops: { 'vlan-mismatch': 3, none: 0 }, txErrors: 0, txTunnelGso: 0, macs: 0, macLimit: 1, macLimitHits: 0, policy: {} }],
      fdb: { entries: 0, limit: 1, learned: 0, moves: 0, limitHits: 0, aged: 0, portLimitHits: 0 }, workers: [],
    }),
    listExtensions: () => [{ name: 'counter', version: '1', description: '', kind: 'capture', source: 'builtin', enabled: true, running: true, onError: 'bypass', config: {}, counters: { frames: 7, drops: 0, errors: 0 } }] as unknown as ReturnType<DashboardSource['listExtensions']>,
    pipeline: () => ({
      switch: 'sw0', generation: 1, failed: [],
      stages: [
        { stage: 'capture', path: 'ingress', kind: 'capture', extensions: ['counter'], state: 'running', doc: 'd' },
        { stage: 'acl', path: 'ingress', kind: 'policy', policies: [], state: 'empty', doc: 'd' },
      ],
    }),
  };
}

function send(port: number, method: string, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('snapshot: ports with counters, non-zero drops, the pipeline in order, extensions, HNV with reachability', (t) => {
  const s = collectSnapshot(countingSource(), hnvView, 1000);
  t.is(s.at, 1000);
  t.is(s.switches[0].hostPort, 'sw0-host');
  t.deepEqual(s.switches[0].ports[0], { name: 'p', kind: 'vm', netdev: 'tap-p', up: true, rxPackets: 5, txPackets: 0, rxBytes: 0, txBytes: 0, drops: { 'vlan-mismatch': 3 } });
  t.deepEqual(s.switches[0].pipeline.map((x) => `${x.stage}:${x.state}`), ['capture:running', 'acl:empty']);
  t.deepEqual(s.switches[0].extensions, [{ name: 'counter', enabled: true, running: true, onError: 'bypass', frames: 7, drops: 0, errors: 0 }]);
  t.is(s.hnv?.lookupRecords.length, 4);
  t.is(s.hnv?.reachability.reach[0][2], 'routed');
  t.is(collectSnapshot(countingSource(), undefined).hnv, null);
});

test('the endpoint: page, script, style and snapshot on GET; read-only; foreign Host refused; moves and stops with the document', async (t) => {
  const logs: string[] = [];
  const ep = new DashboardEndpoint({ source: countingSource(), hnv: hnvView, log: (m) => logs.push(m) });
  t.teardown(() => ep.close());
  t.is(ep.address, null, 'off by default');
  const port = await freePort();
  await ep.applyDocument({ listen: `127.0.0.1:${port}` });
  t.is(ep.address, `127.0.0.1:${port}`);
  const page = await send(port, 'GET', '/');
  t.is(page.status, 200);
  t.regex(String(page.headers['content-type']), /^text\/html/);
  t.regex(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  t.true(page.body.includes('<script src="/app.js"'));
  t.is((await send(port, 'GET', '/app.js')).body, dashboardScript());
  t.regex((await send(port, 'GET', '/app.css')).body, /svg\.topo/);
  const a = JSON.parse((await send(port, 'GET', '/api/snapshot')).body) as DashboardSnapshot;
  const b = JSON.parse((await send(port, 'GET', '/api/snapshot')).body) as DashboardSnapshot;
  t.is(b.switches[0].ports[0].rxPackets - a.switches[0].ports[0].rxPackets, 5, 'read at each request');
  t.is((await send(port, 'GET', '/nope')).status, 404);
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) t.is((await send(port, m, '/api/snapshot')).status, 405, m);
  t.is((await send(port, 'GET', '/api/snapshot', `evil.example:${port}`)).status, 421);

  const port2 = await freePort();
  await ep.applyDocument({ listen: `127.0.0.1:${port2}` });
  t.is((await send(port2, 'GET', '/')).status, 200);
  await t.throwsAsync(send(port, 'GET', '/'));
  await ep.applyDocument(undefined);
  t.is(ep.address, null);
  await t.throwsAsync(send(port2, 'GET', '/'));
  t.true(logs.some((l) => l.includes(`serving http://127.0.0.1:${port2}/`)));
});

test('--dashboard wins over the document for the run', async (t) => {
  const port = await freePort();
  const logs: string[] = [];
  const ep = new DashboardEndpoint({ source: countingSource(), override: { host: '127.0.0.1', port }, log: (m) => logs.push(m) });
  t.teardown(() => ep.close());
  await ep.start();
  await ep.applyDocument({ listen: '127.0.0.1:1' });
  t.is(ep.address, `127.0.0.1:${port}`);
  t.true(logs.some((l) => l.includes('is in force for this run')));
});
