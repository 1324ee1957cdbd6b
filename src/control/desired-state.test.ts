/**
 * The one configuration path on a real control socket (fake data path): `config.apply` by diff (idempotent,
 * dry run, refused whole with the field named, rolled back on a failure mid-apply), `config.show`, restore
 * through the same diff, --may-exist / --if-exists, a held TAP, and per-switch serialization.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/store.js';
import type { XvsConfig } from '../config/types.js';
import { callDaemon, DaemonError } from './client.js';
import { startHarness } from './test-harness.js';

const DOC = {
  version: 1,
  switches: [
    { name: 'sw0', type: 'private', ports: [{ name: 'tap0' }, { name: 'vm1', netdev: 'veth1' }] },
    { name: 'ext', type: 'external', uplink: 'veth0', workers: 2 },
  ],
};

test('config.apply builds from a document; the same document again changes nothing; config.show returns it', async (t) => {
  const h = await startHarness();
  const r = await callDaemon(h.socket, 'config.apply', { config: DOC });
  t.deepEqual(r.changes, [
    '+ switch sw0 (private, workers 1, mac aging 300 s, mac limit 8192)',
    '+ switch ext (external, uplink veth0, workers 2, mac aging 300 s, mac limit 8192)',
    '+ port sw0/tap0 (TAP)',
    '+ port sw0/vm1 (netdev veth1)',
  ]);
  t.deepEqual([...h.manager.switches.keys()], ['sw0', 'ext']);
  t.deepEqual(h.manager.switches.get('sw0')?.ports, [{ name: 'tap0' }, { name: 'vm1', netdev: 'veth1' }]);
  const file = readFileSync(h.configPath, 'utf8');
  const calls = h.manager.calls.length;

  const again = await callDaemon(h.socket, 'config.apply', { config: DOC });
  t.deepEqual(again.changes, []);
  t.is(again.text, 'no changes');
  t.is(h.manager.calls.length, calls, 'no data-path call');
  t.is(readFileSync(h.configPath, 'utf8'), file, 'file untouched');

  const shown = await callDaemon(h.socket, 'config.show', {});
  t.deepEqual(shown, loadConfig(h.configPath));
  t.deepEqual((await callDaemon(h.socket, 'config.apply', { config: shown })).changes, [], 'show → apply is a no-op');
  await h.done();
});

test('config.apply --dry-run returns the diff and changes nothing', async (t) => {
  const h = await startHarness();
  await callDaemon(h.socket, 'config.apply', { config: DOC });
  const file = readFileSync(h.configPath, 'utf8');
  const calls = h.manager.calls.length;
  const next = structuredClone(DOC);
  next.switches[0].ports = [{ name: 'vm1', netdev: 'veth2' }];
  next.switches[1].workers = 1;
  const r = await callDaemon(h.socket, 'config.apply', { config: next, dryRun: true });
  t.true(r.dryRun);
  t.deepEqual(r.changes, [
    '- port sw0/tap0 (TAP)',
    '- port sw0/vm1 (netdev veth1) [replaced]',
    '- switch ext (external, uplink veth0, workers 2, mac aging 300 s, mac limit 8192; 0 ports) [recreated: workers 2 → 1]',
    '+ switch ext (external, uplink veth0, workers 1, mac aging 300 s, mac limit 8192) [recreated: workers 2 → 1]',
    '+ port sw0/vm1 (netdev veth2) [replaced]',
  ]);
  t.is(h.manager.calls.length, calls);
  t.is(readFileSync(h.configPath, 'utf8'), file);
  // and for real
  await callDaemon(h.socket, 'config.apply', { config: next });
  t.is(h.manager.switches.get('ext')?.workers, 1);
  t.deepEqual(h.manager.switches.get('sw0')?.ports, [{ name: 'vm1', netdev: 'veth2' }]);
  await h.done();
});

test('a document with an error is refused whole, the field named, nothing changed', async (t) => {
  const h = await startHarness();
  await callDaemon(h.socket, 'config.apply', { config: DOC });
  const file = readFileSync(h.configPath, 'utf8');
  const calls = h.manager.calls.length;
  const bad = (edit: (d: typeof DOC & { switches: Record<string, unknown>[] }) => void): unknown => {
    const d = structuredClone(DOC) as typeof DOC & { switches: Record<string, unknown>[] };
    d.switches.push({ name: 'new', type: 'private', ports: [{ name: 'tapn' }] });
    edit(d);
    return d;
  };
  const cases: [unknown, string, RegExp][] = [
    [bad((d) => { d.switches[2].type = 'bogus'; }), 'params.config.switches[2].type', /expected one of private, internal, external/],
    [bad((d) => { d.switches[2].colour = 'red'; }), 'params.config.switches[2].colour', /unknown key/],
    [bad((d) => { d.switches[2].ports = [{ name: 'x', netdev: 'nosuch0' }]; }), 'params.config.switches[2].ports[0].netdev', /no such interface "nosuch0"/],
    [bad((d) => { d.switches[2].ports = [{ name: 'x', netdev: 'veth1' }]; }), 'params.config.switches[2].ports[0].netdev', /"veth1" is already the netdev of port "vm1"/],
    [bad((d) => { d.switches[1].uplink = 'gone0'; }), 'params.config.switches[1].uplink', /no such interface "gone0"/],
    [{ version: 2, switches: [] }, 'params.config.version', /expected 1/],
  ];
  for (const [doc, field, re] of cases) {
    const err = await t.throwsAsync(callDaemon(h.socket, 'config.apply', { config: doc }), { instanceOf: DaemonError });
    t.is((err as DaemonError).field, field);
    t.regex(err!.message, re);
  }
  t.is(h.manager.calls.length, calls, 'the data path was never called');
  t.is(readFileSync(h.configPath, 'utf8'), file);
  t.deepEqual([...h.manager.switches.keys()], ['sw0', 'ext']);
  await h.done();
});

test('a failure mid-apply (the second of two new ports) rolls back everything done', async (t) => {
  const h = await startHarness();
  await callDaemon(h.socket, 'switch.create', { name: 'old', type: 'private' });
  const file = readFileSync(h.configPath, 'utf8');
  const before = structuredClone([...h.manager.switches.entries()]);
  h.manager.failNext = 'addPort sw0 vm1';
  const err = await t.throwsAsync(callDaemon(h.socket, 'config.apply', { config: DOC }), { instanceOf: DaemonError });
  t.regex(err!.message, /injected failure in addPort sw0 vm1 \(while applying "\+ port sw0\/vm1 \(netdev veth1\)"; nothing was changed\)/);
  t.deepEqual([...h.manager.switches.entries()], before, 'data path as before');
  const i = h.manager.calls.indexOf('addPort sw0 vm1');
  t.deepEqual(h.manager.calls.slice(i - 4), [
    'deleteSwitch old', 'createSwitch sw0', 'createSwitch ext', 'addPort sw0 tap0', 'addPort sw0 vm1',
    'removePort sw0 tap0', 'deleteSwitch ext', 'deleteSwitch sw0', 'createSwitch old',
  ]);
  t.true(h.manager.calls.includes('createSwitch old'), 'the deleted switch was created again');
  t.is(readFileSync(h.configPath, 'utf8'), file);
  t.deepEqual(h.server.currentConfig, loadConfig(h.configPath));
  await h.done();
});

test('restart: restore goes through the same diff; applying the file again changes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-ctl-'));
  const h1 = await startHarness({ dir });
  await callDaemon(h1.socket, 'config.apply', { config: DOC });
  await h1.done();
  const h2 = await startHarness({ dir });
  t.deepEqual(h2.manager.calls, ['createSwitch sw0', 'createSwitch ext', 'addPort sw0 tap0', 'addPort sw0 vm1']);
  t.deepEqual((await callDaemon(h2.socket, 'config.apply', { config: DOC })).changes, []);
  await h2.done();
  rmSync(dir, { recursive: true });
});

test('--may-exist and --if-exists', async (t) => {
  const h = await startHarness();
  await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private', workers: 2 });
  await callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'vm1', netdev: 'veth1' });
  const file = readFileSync(h.configPath, 'utf8');
  const calls = h.manager.calls.length;

  t.like(await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private', workers: 2, mayExist: true }), { unchanged: true, running: true });
  const e1 = await t.throwsAsync(callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private', mayExist: true }), { instanceOf: DaemonError });
  t.is((e1 as DaemonError).field, 'params.workers');
  t.regex(e1!.message, /exists with workers 2, not 1/);
  const e2 = await t.throwsAsync(callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private', workers: 2 }), { instanceOf: DaemonError });
  t.is((e2 as DaemonError).field, 'params.name');

  t.like(await callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'vm1', netdev: 'veth1', mayExist: true }), { unchanged: true, name: 'vm1' });
  const e3 = await t.throwsAsync(callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'vm1', netdev: 'veth2', mayExist: true }), { instanceOf: DaemonError });
  t.is((e3 as DaemonError).field, 'params.netdev');
  t.regex(e3!.message, /exists on switch "sw0" with netdev "veth1", not "veth2"/);

  t.deepEqual(await callDaemon(h.socket, 'port.remove', { switch: 'sw0', name: 'nope', ifExists: true }), { switch: 'sw0', name: 'nope', unchanged: true });
  t.like(await callDaemon(h.socket, 'port.remove', { switch: 'nosw', name: 'nope', ifExists: true }), { unchanged: true });
  t.deepEqual(await callDaemon(h.socket, 'switch.delete', { name: 'nosw', ifExists: true }), { name: 'nosw', unchanged: true });
  await t.throwsAsync(callDaemon(h.socket, 'switch.delete', { name: 'nosw' }), { message: /no such switch/ });
  t.is(h.manager.calls.length, calls);
  t.is(readFileSync(h.configPath, 'utf8'), file);
  await h.done();
});

test('port remove of a TAP that another process holds is refused, the port still listed; --force removes it', async (t) => {
  const holders = new Map<string, { pid: number; comm: string }[]>([['tap0', [{ pid: 4242, comm: 'qemu-system-x86' }]]]);
  const h = await startHarness({ tapHolders: (n) => holders.get(n) ?? [] });
  await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private' });
  await callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap0' });
  const file = readFileSync(h.configPath, 'utf8');
  const err = await t.throwsAsync(callDaemon(h.socket, 'port.remove', { switch: 'sw0', name: 'tap0' }), { instanceOf: DaemonError });
  t.is(err!.message, 'params.name: TAP "tap0" is held by pid 4242 (qemu-system-x86); stop the VM first (or --force)');
  t.is(readFileSync(h.configPath, 'utf8'), file);
  t.false(h.manager.calls.includes('removePort sw0 tap0'));
  t.true((await callDaemon(h.socket, 'port.list', { switch: 'sw0' })).some((p) => p.name === 'tap0' && p.running));
  // config.apply cannot remove it either
  await t.throwsAsync(callDaemon(h.socket, 'config.apply', { config: { version: 1, switches: [{ name: 'sw0', type: 'private' }] } }), { message: /held by pid 4242/ });
  await callDaemon(h.socket, 'port.remove', { switch: 'sw0', name: 'tap0', force: true });
  t.deepEqual(h.manager.switches.get('sw0')?.ports, []);
  await h.done();
});

test('per switch: a change hanging on sw0 does not delay a change on sw1; a second sw0 change fails as busy', async (t) => {
  const h = await startHarness({ lockWaitMs: 400 });
  await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private' });
  await callDaemon(h.socket, 'switch.create', { name: 'sw1', type: 'private' });
  let release = (): void => {};
  h.manager.gate = { prefix: 'addPort sw0', until: new Promise<void>((r) => { release = r; }) };

  const hanging = callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap0' });
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await callDaemon(h.socket, 'port.add', { switch: 'sw1', name: 'tap1' });
  t.true(Date.now() - t0 < 300, 'sw1 did not wait for sw0');
  t.deepEqual(loadConfig(h.configPath).switches.find((s) => s.name === 'sw1')?.ports, [{ name: 'tap1' }]);

  const busy = await t.throwsAsync(callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap2' }), { instanceOf: DaemonError });
  t.is((busy as DaemonError).remoteName, 'BusyError');
  t.regex(busy!.message, /switch "sw0": an earlier change has not finished/);
  const busyAll = await t.throwsAsync(callDaemon(h.socket, 'config.apply', { config: { version: 1, switches: [] } }), { instanceOf: DaemonError });
  t.is((busyAll as DaemonError).remoteName, 'BusyError', 'config.apply takes every lock');

  release();
  await hanging;
  const saved: XvsConfig = loadConfig(h.configPath);
  t.deepEqual(saved.switches.map((s) => [s.name, s.ports.map((p) => p.name)]), [['sw0', ['tap0']], ['sw1', ['tap1']]], 'both changes landed');
  t.false(h.manager.calls.includes('addPort sw0 tap2'), 'the request that gave up never ran');
  await h.done();
});
