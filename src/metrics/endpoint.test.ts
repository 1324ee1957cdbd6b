/** The metrics address (flag and config field), the desired-state change, and the HTTP endpoint on loopback. */
import test from 'ava';
import { get, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { freePort } from '../hnv/etcd-testing.js';
import { describeChange, diff, inverse } from '../config/desired.js';
import { validateConfig } from '../config/schema.js';
import { parseListenAddress, validateListenConfig } from './address.js';
import { EXPOSITION_CONTENT_TYPE, MetricsEndpoint } from './endpoint.js';
import { parseExposition, sampleValue } from './exposition.js';
import type { MetricsSource } from './families.js';

test('listen addresses: IPv4 and bracketed IPv6 literals with a port; a bad one names the field', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:9477', '--metrics'), { host: '127.0.0.1', port: 9477 });
  t.deepEqual(parseListenAddress('0.0.0.0:1', '--metrics'), { host: '0.0.0.0', port: 1 });
  t.deepEqual(parseListenAddress('[::1]:9477', '--metrics'), { host: '::1', port: 9477 });
  for (const bad of ['9477', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '::1:9477', 'localhost:9477', '300.1.1.1:80', '[127.0.0.1]:80', '127.0.0.1:80x']) {
    t.throws(() => parseListenAddress(bad, '--metrics'), { message: /^--metrics: .*expected ADDRESS:PORT/ }, bad);
  }
});

test('the config\'s metrics.listen: validated with the field named; absent = off', (t) => {
  t.deepEqual(validateConfig({ version: 1, metrics: { listen: '127.0.0.1:9477' } }).metrics, { listen: '127.0.0.1:9477' });
  t.is(validateConfig({ version: 1 }).metrics, undefined);
  t.throws(() => validateConfig({ version: 1, metrics: { listen: 'x:1' } }), { message: /^metrics\.listen: not an IPv4 address/ });
  t.throws(() => validateConfig({ version: 1, metrics: {} }), { message: /^metrics\.listen: required/ });
  t.throws(() => validateListenConfig({ listen: '127.0.0.1:1', port: 2 }, 'metrics'), { message: /^metrics\.port: unknown key/ });
});

test('a changed metrics address is one setMetrics change, described and inverted', (t) => {
  const a = { version: 1 as const, switches: [] };
  const b = { ...a, metrics: { listen: '127.0.0.1:9477' } };
  const cs = diff(a, b);
  t.deepEqual(cs, [{ kind: 'setMetrics', before: undefined, after: { listen: '127.0.0.1:9477' } }]);
  t.is(describeChange(cs[0]), '~ metrics: off → 127.0.0.1:9477');
  t.deepEqual(inverse(cs[0]), [{ kind: 'setMetrics', before: { listen: '127.0.0.1:9477' }, after: undefined }]);
  t.deepEqual(diff(b, structuredClone(b)), []);
});

function httpGet(url: string, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** one switch whose port counts up by one per read, as the shared counters do under traffic */
function countingSource(): MetricsSource {
  let rx = 0;
  return {
    listSwitches: () => [{ config: { name: 'sw0', type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [] }, ports: [] }],
    stats: () => ({
      name: 'sw0', type: 'private', drops: {},
      ports: [{ name: 'p', kind: 'vm', netdev: 'tap-p', rxPackets: ++rx, rxBytes: 0, txPackets: 0, txBytes: 0, drops: {}, txErrors: 0, txTunnelGso: 0, macs: 0, macLimit: 1, macLimitHits: 0, policy: {} }],
      fdb: { entries: 0, limit: 1, learned: 0, moves: 0, limitHits: 0, aged: 0, portLimitHits: 0 }, workers: [],
    }),
    listExtensions: () => [],
  };
}

test('the endpoint: GET /metrics reads at each scrape; other paths and methods refused; moves and stops with the document', async (t) => {
  const logs: string[] = [];
  const ep = new MetricsEndpoint({ source: countingSource(), log: (m) => logs.push(m) });
  t.teardown(() => ep.close());
  t.is(ep.address, null, 'off by default');
  const port = await freePort();
  await ep.applyDocument({ listen: `127.0.0.1:${port}` });
  t.is(ep.address, `127.0.0.1:${port}`);
  const url = `http://127.0.0.1:${port}`;
  const r1 = await fetch(`${url}/metrics`);
  t.is(r1.status, 200);
  t.is(r1.headers.get('content-type'), EXPOSITION_CONTENT_TYPE);
  const first = sampleValue(parseExposition(await r1.text()), 'xvs_port_rx_packets_total', { switch: 'sw0', port: 'p' });
  const second = sampleValue(parseExposition(await (await fetch(`${url}/metrics`)).text()), 'xvs_port_rx_packets_total', { switch: 'sw0', port: 'p' });
  t.is(first, 1);
  t.is(second, 2);
  // plain for a client that does not ask for gzip, gzip for one that does (Prometheus); the same exposition
  const plain = await httpGet(`${url}/metrics`, {});
  t.is(plain.headers['content-encoding'], undefined);
  const zipped = await httpGet(`${url}/metrics`, { 'Accept-Encoding': 'gzip' });
  t.is(zipped.headers['content-encoding'], 'gzip');
  const unzipped = gunzipSync(zipped.body).toString('utf8');
  t.is(parseExposition(unzipped).size, parseExposition(plain.body.toString('utf8')).size);
  t.is(sampleValue(parseExposition(unzipped), 'xvs_port_rx_packets_total', { port: 'p' }), 4);
  t.is((await fetch(`${url}/other`)).status, 404);
  t.is((await fetch(`${url}/metrics`, { method: 'POST', body: 'x' })).status, 405);

  // moved: the old port is closed
  const port2 = await freePort();
  await ep.applyDocument({ listen: `127.0.0.1:${port2}` });
  t.is((await fetch(`http://127.0.0.1:${port2}/metrics`)).status, 200);
  await t.throwsAsync(fetch(`${url}/metrics`));
  await ep.applyDocument(undefined);
  t.is(ep.address, null);
  await t.throwsAsync(fetch(`http://127.0.0.1:${port2}/metrics`));
  t.true(logs.some((l) => l.includes(`serving http://127.0.0.1:${port2}/metrics`)));
});

test('an address in use is refused with the field named; --metrics wins over the document', async (t) => {
  const port = await freePort();
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(port, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));
  const ep = new MetricsEndpoint({ source: countingSource() });
  t.teardown(() => ep.close());
  await t.throwsAsync(ep.applyDocument({ listen: `127.0.0.1:${port}` }), { message: new RegExp(`^metrics\\.listen: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`) });
  const flagged = new MetricsEndpoint({ source: countingSource(), override: { host: '127.0.0.1', port } });
  await t.throwsAsync(flagged.start(), { message: /^--metrics: cannot listen/ });

  const port2 = await freePort();
  const logs: string[] = [];
  const ep2 = new MetricsEndpoint({ source: countingSource(), override: { host: '127.0.0.1', port: port2 }, log: (m) => logs.push(m) });
  t.teardown(() => ep2.close());
  await ep2.start();
  await ep2.applyDocument({ listen: `127.0.0.1:${port}` });
  t.is(ep2.address, `127.0.0.1:${port2}`, 'the flag\'s address stays');
  t.true(logs.some((l) => l.includes('--metrics') && l.includes('in force')));
});
