/**
 * `xvs daemon --dashboard` for real (issue 13, item 5): a daemon serving the dashboard on 127.0.0.1, an
 * external switch (uplink a veth, host port, two VM ports in namespaces), the firewall extension enabled
 * with a deny rule, HNV PA, records and routes, ping between the VMs in the background. Headless Chromium
 * (Debian's /usr/bin/chromium, driven by playwright-core) loads the page and the test checks what it
 * rendered against what the CLI says: switch and port names in the drawing, the pipeline stages in
 * order, the extension's state, a drop-reason row, the HNV records and reachability, a rate chart that
 * changes between two reads; the page's escaping function escapes. A screenshot goes to docs/dashboard.png.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { restoreOntoHeldAddress } from '../src/test-support/opt-in-listener.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { freePort } from '../src/hnv/etcd-testing.js';
import type { PipelineView } from '../src/switch/manager-api.js';

const P = testPrefix('db');
const SW = `${P}s`;
const HOST_PORT = `${P}h`;
/** docs/dashboard.png is rewritten only when asked (XVS_SCREENSHOT=1): a test run leaves the checkout as it was */
const SCREENSHOT_FOR_DOCS = process.env['XVS_SCREENSHOT'] === '1';
const SCREENSHOT = SCREENSHOT_FOR_DOCS ? path.resolve(process.cwd(), 'docs', 'dashboard.png') : path.join(os.tmpdir(), `xvs-dashboard-${process.pid}.png`);

async function launch(): Promise<{ ctx: BrowserContext; profile: string }> {
  // a new, empty profile each run; nothing reaches out (no sync, updates, QUIC, background requests)
  const profile = mkdtempSync(path.join(os.tmpdir(), 'xvs-dashboard-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  return { ctx, profile };
}

/** the page counts its polls on <body data-polls> (a function, not a string: the page's CSP forbids eval) */
const pollsAtLeast = (page: Page, n: number): Promise<unknown> => page.waitForFunction(
  (min) => Number((globalThis as unknown as { document: { body: { getAttribute(a: string): string | null } } }).document.body.getAttribute('data-polls')) >= min,
  n, { timeout: 30_000 });

const attrs = (page: Page, selector: string, attr: string): Promise<string[]> =>
  page.$$eval(selector, (els, a) => els.map((el) => el.getAttribute(a) ?? ''), attr);

test.serial('--dashboard: the page shows the switch, its pipeline, live port rates, drops and HNV; a chart updates', async (t) => {
  const lab = new NetLab(P);
  const port = await freePort();
  const d = new TestDaemon({}, [], ['--dashboard', `127.0.0.1:${port}`]);
  let ctx: BrowserContext | undefined;
  let profile: string | undefined;
  t.teardown(async () => {
    await ctx?.close().catch(() => {});
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (d.running) d.xvs('switch', 'delete', SW);
    await d.destroy();
    lab.destroy();
  });
  await d.start();
  t.regex(d.log, new RegExp(`dashboard: serving http://127\\.0\\.0\\.1:${port}/`));
  const a = lab.addHost(1);
  const b = lab.addHost(2);
  const net = lab.addHost(9, { subnet: '10.78.0' }); // the uplink's far end: "the network"
  const ok = (...args: string[]): string => {
    const r = d.xvs(...args);
    if (r.code !== 0) throw new Error(`xvs ${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  ok('switch', 'create', SW, '--type', 'external', '--uplink', net.peer, '--allow-management-os', '--host-port', HOST_PORT);
  ok('port', 'add', SW, 'vm-a', '--netdev', a.peer);
  ok('port', 'add', SW, 'vm-b', '--netdev', b.peer);
  ok('extension', 'set', SW, 'firewall', 'default=allow', '--config', '{"rules":[{"match":"ipv4.dst=10.77.0.99","action":"deny"}]}');
  ok('extension', 'enable', SW, 'firewall');
  ok('hnv', 'pa', 'add', SW, '--address', '192.0.2.10/24');
  ok('hnv', 'record', 'add', '--ca', '10.1.0.5', '--vsid', '5001', '--mac', '02:00:00:00:50:01', '--pa', '192.0.2.10', '--encap', 'vxlan');
  ok('hnv', 'record', 'add', '--ca', '10.1.0.6', '--vsid', '5001', '--mac', '02:00:00:00:50:02', '--pa', '192.0.2.20', '--encap', 'vxlan');
  ok('hnv', 'record', 'add', '--ca', '10.2.0.5', '--vsid', '5002', '--mac', '02:00:00:00:60:01', '--pa', '192.0.2.20', '--encap', 'vxlan');
  ok('hnv', 'record', 'add', '--ca', '10.9.0.5', '--vsid', '6001', '--mac', '02:00:00:00:70:01', '--pa', '192.0.2.20', '--encap', 'nvgre');
  ok('hnv', 'route', 'add', '--routing-domain', 'tenant-a', '--vsid', '5001', '--prefix', '10.1.0.0/24', '--next-hop', '0.0.0.0');
  ok('hnv', 'route', 'add', '--routing-domain', 'tenant-a', '--vsid', '5002', '--prefix', '10.2.0.0/24', '--next-hop', '0.0.0.0');

  // frames the firewall denies (a static neighbour, so they are IPv4 to 10.77.0.99): drops by reason
  lab.exec(a, ['ip', 'neigh', 'replace', '10.77.0.99', 'lladdr', '02:00:00:00:00:99', 'dev', a.dev]);
  lab.ping(a, { ...b, ip: '10.77.0.99' }, 3, ['-W', '1']);
  // traffic while the page polls: bounded (150 × 0.2 s), killed by PID at the end
  lab.spawnIn(a, ['ping', '-q', '-i', '0.2', '-c', '150', b.ip]);
  t.true(lab.ping(a, b, 2), 'ping through the switch');

  const ports = d.json<{ ports: { name: string; kind: string }[] }>('switch', 'show', SW).ports;
  const pipe = d.json<PipelineView>('pipeline', 'show', SW);

  ({ ctx, profile } = await launch());
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const foreign: string[] = [];
  page.on('request', (r) => { if (!r.url().startsWith(`http://127.0.0.1:${port}/`)) foreign.push(r.url()); });
  const res = await page.goto(`http://127.0.0.1:${port}/`);
  t.is(res?.status(), 200);
  await pollsAtLeast(page, 3);

  // the switch and its ports, drawn: VM ports, the uplink and the host port
  t.deepEqual(await attrs(page, 'section.switch', 'data-switch'), [SW]);
  t.regex(await page.textContent(`section.switch h2`) ?? '', new RegExp(`${SW}\\s+external`));
  t.deepEqual((await attrs(page, 'svg.topo g.port-node', 'data-port')).sort(), ports.map((p) => p.name).sort());
  t.deepEqual((await attrs(page, 'svg.topo g.port-node', 'data-kind')).sort(), ['external', 'internal', 'vm', 'vm']);
  t.true(await page.isVisible('svg.topo text >> text=vm-a'));

  // the pipeline in data-path order, as `xvs pipeline show` has it; the firewall runs in its stage
  t.deepEqual(await attrs(page, 'ol.pipeline li.stage', 'data-stage'), pipe.stages.map((s) => s.stage));
  const fwStage = pipe.stages.find((s) => s.extensions?.includes('firewall'));
  t.truthy(fwStage, 'firewall is in a stage');
  t.is(await page.getAttribute(`li.stage[data-stage="${fwStage!.stage}"] .chip.ext[data-extension="firewall"]`, 'class'), 'chip ext running');
  t.regex(await page.textContent('table.extensions tr[data-extension="firewall"]') ?? '', /firewall\s*running/);

  // drops by reason: the denied frames
  t.true((await attrs(page, 'table.drops tr', 'data-reason')).includes('extension-drop'));

  // HNV: records, routes' routing domain, reachability (5001 ↔ 5002 routed in tenant-a; 6001 isolated)
  const hnv = await page.textContent('#hnv') ?? '';
  for (const s of ['10.1.0.5', '10.1.0.6', '10.2.0.5', '10.9.0.5', '192.0.2.10', 'tenant-a']) t.true(hnv.includes(s), s);
  t.deepEqual(await attrs(page, 'table.reach tr:nth-child(2) td.reach', 'class'), ['reach self', 'reach same-vsid', 'reach routed', 'reach none']);

  // a chart moves: vm-a's receive line and rate change between two reads a few polls apart
  const chart = '.chart[data-port="vm-a"]';
  const before = await page.getAttribute(`${chart} path.rx`, 'd');
  const polls = Number(await page.getAttribute('body', 'data-polls'));
  await pollsAtLeast(page, polls + 2);
  const after = await page.getAttribute(`${chart} path.rx`, 'd');
  t.not(after, before, 'the rx path changed');
  const rate = Number.parseFloat(await page.textContent(`${chart} .rx-v`) ?? '0');
  t.true(rate > 0, `vm-a in: ${rate} pps under ping`);

  // the page's own escaping function (the one every name goes through)
  t.is(await page.evaluate(() => (globalThis as unknown as { escapeHtml(v: string): string }).escapeHtml('<b class="x">&</b>')), '&lt;b class=&quot;x&quot;&gt;&amp;&lt;/b&gt;');
  // the picture for docs/OPERATIONS.md with a quarter of the chart window filled; a test run takes one at once
  if (SCREENSHOT_FOR_DOCS) await pollsAtLeast(page, 15);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  const png = readFileSync(SCREENSHOT);
  if (!SCREENSHOT_FOR_DOCS) rmSync(SCREENSHOT, { force: true });
  t.is(png.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG screenshot of the page');
  t.deepEqual(errors, [], 'no script errors, nothing the CSP blocked, no failed requests');
  t.deepEqual(foreign, [], 'nothing loaded from elsewhere');
  // read-only: a change method is refused
  t.is((await page.evaluate(async (u) => (await fetch(u, { method: 'POST', body: '{}' })).status, `http://127.0.0.1:${port}/api/snapshot`)), 405);
});

test.serial('dashboard.listen in the config: applied by config apply, in daemon status, restored at restart, off when removed; a bad address names the field; an address in use is a problem', async (t) => {
  const d = new TestDaemon();
  t.teardown(() => d.destroy());
  await d.start();
  const port = await freePort();
  const file = path.join(d.dir, 'doc.json');
  writeFileSync(file, JSON.stringify({ version: 1, switches: [], dashboard: { listen: `127.0.0.1:${port}` } }));
  const applied = d.xvs('config', 'apply', file);
  t.is(applied.code, 0, applied.err);
  t.regex(applied.out, new RegExp(`~ dashboard: off → 127\\.0\\.0\\.1:${port}`));
  const page = await fetch(`http://127.0.0.1:${port}/`);
  t.is(page.status, 200);
  t.regex(await page.text(), /<title>xvs dashboard<\/title>/);
  t.deepEqual((await (await fetch(`http://127.0.0.1:${port}/api/snapshot`)).json() as { switches: unknown[] }).switches, []);
  t.is(d.json<{ dashboard?: string }>('daemon', 'status').dashboard, `127.0.0.1:${port}`);
  t.regex(d.xvs('daemon', 'status').out, new RegExp(`dashboard: +http://127\\.0\\.0\\.1:${port}/`));

  await d.stop();
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/`), undefined, 'stopped with the daemon');
  await d.start();
  t.is((await fetch(`http://127.0.0.1:${port}/`)).status, 200, 'restored from the persisted config');

  writeFileSync(file, JSON.stringify({ version: 1, switches: [], dashboard: { listen: 'localhost:8080' } }));
  const bad = d.xvs('config', 'apply', file);
  t.not(bad.code, 0);
  t.regex(bad.err, /dashboard\.listen: not an IPv4 address/);

  writeFileSync(file, JSON.stringify({ version: 1, switches: [] }));
  t.is(d.xvs('config', 'apply', file).code, 0);
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/`), undefined, 'off when the document has none');
  t.regex(d.xvs('daemon', 'status').out, /dashboard: +off/);

  // restored onto an address another process holds: the daemon runs, daemon status names the field;
  // another address applied: serving again, the problem resolved
  const held = await restoreOntoHeldAddress(d, file, 'dashboard', port, '/');
  t.is(held.whileHeld['dashboard'], undefined);
  t.regex(held.whileHeld.problems.find((p) => p.field === 'dashboard.listen')?.message ?? '', /EADDRINUSE/);
  t.is(held.movedStatus, 200);
  t.deepEqual(held.problemsAfterMove, []);
});

test.serial('--dashboard with a bad address: the daemon refuses to start, naming the flag', async (t) => {
  const d = new TestDaemon({}, [], ['--dashboard', '127.0.0.1:0']);
  t.teardown(() => d.destroy());
  await t.throwsAsync(d.start());
  t.regex(d.log, /--dashboard: port out of range/);
});
