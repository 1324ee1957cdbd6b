/**
 * The control-plane contract, on a real socket with a fake data path: validation names the field and changes
 * nothing, the config file changes only on success, a restart restores from the file, bad request lines get
 * error replies, and the socket is private.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, saveConfig } from '../config/store.js';
import type { XvsConfig } from '../config/types.js';
import { callDaemon, DaemonError } from './client.js';
import { ControlServer } from './server.js';
import { FakeManager, startHarness } from './test-harness.js';

/** Sends raw lines and collects `n` reply lines. */
function rawExchange(socket: string, text: string, n: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let buf = '';
    const replies: unknown[] = [];
    c.setEncoding('utf8');
    c.on('connect', () => c.write(text));
    c.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        replies.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
      if (replies.length >= n) {
        c.destroy();
        resolve(replies);
      }
    });
    c.on('error', reject);
    setTimeout(() => reject(new Error(`only ${replies.length} replies`)), 5000).unref();
  });
}

test('create, add, show, list, remove, delete — each success persisted', async (t) => {
  const h = await startHarness();
  const sw = await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'external', uplink: 'veth0', allowManagementOs: true });
  t.is(sw.config.hostPort, 'sw0-host');
  t.true(sw.running);
  t.deepEqual(sw.ports.map((p) => p.kind), ['external', 'internal']);
  t.deepEqual(loadConfig(h.configPath).switches.map((s) => s.name), ['sw0']);

  const p = await callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap0' });
  t.like(p, { switch: 'sw0', name: 'tap0', kind: 'vm', netdev: 'tap0', running: true });
  await callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'vm1', netdev: 'veth1' });
  t.deepEqual(loadConfig(h.configPath).switches[0].ports, [{ name: 'tap0' }, { name: 'vm1', netdev: 'veth1' }]);
  t.is((await callDaemon(h.socket, 'port.list', { switch: 'sw0' })).length, 4);
  const shown = await callDaemon(h.socket, 'port.show', { switch: 'sw0', name: 'vm1' });
  t.is(shown.stats?.rxPackets, 1);
  t.is((await callDaemon(h.socket, 'switch.list', {})).length, 1);
  t.is((await callDaemon(h.socket, 'fdb.show', { switch: 'sw0' })).entries[0].mac, '02:00:00:00:00:01');
  t.is((await callDaemon(h.socket, 'stats', { switch: 'sw0' })).fdb.limit, 8192);

  t.deepEqual(await callDaemon(h.socket, 'port.remove', { switch: 'sw0', name: 'tap0' }), { switch: 'sw0', name: 'tap0' });
  t.deepEqual(loadConfig(h.configPath).switches[0].ports, [{ name: 'vm1', netdev: 'veth1' }]);
  await callDaemon(h.socket, 'switch.delete', { name: 'sw0' });
  t.deepEqual(loadConfig(h.configPath), { version: 1, switches: [] });
  t.is(h.manager.switches.size, 0);
  await h.done();
});

test('validation errors name the field and change nothing', async (t) => {
  const h = await startHarness();
  await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'external', uplink: 'veth0' });
  await callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap0' });
  const before = readFileSync(h.configPath, 'utf8');
  const calls = h.manager.calls.length;

  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    ['bad type', () => callDaemon(h.socket, 'switch.create', { name: 'x', type: 'foo' as 'private' }), 'params.type',
      /^params\.type: expected one of private, internal, external, got "foo"$/],
    ['unknown key', () => callDaemon(h.socket, 'switch.create', { name: 'x', type: 'private', colour: 'red' } as never), 'params.colour', /unknown key/],
    ['ports in create', () => callDaemon(h.socket, 'switch.create', { name: 'x', type: 'private', ports: [] } as never), 'params.ports', /unknown key/],
    ['duplicate switch', () => callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private' }), 'params.name', /already exists/],
    ['uplink taken', () => callDaemon(h.socket, 'switch.create', { name: 'sw1', type: 'external', uplink: 'veth0' }), 'params.uplink',
      /^params\.uplink: "veth0" is already the uplink of switch "sw0"$/],
    ['no such uplink', () => callDaemon(h.socket, 'switch.create', { name: 'sw1', type: 'external', uplink: 'eth7' }), 'params.uplink',
      /no such interface "eth7"/],
    ['host port = TAP', () => callDaemon(h.socket, 'switch.create', { name: 'sw1', type: 'internal', hostPort: 'tap0' }), 'params.hostPort',
      /is already the TAP of port "tap0" on switch "sw0"/],
    ['workers range', () => callDaemon(h.socket, 'switch.create', { name: 'sw1', type: 'private', workers: 64 }), 'params.workers', /1\.\.16/],
    ['no such switch', () => callDaemon(h.socket, 'port.add', { switch: 'nope', name: 'p' }), 'params.switch', /no such switch "nope"/],
    ['duplicate port', () => callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap0' }), 'params.name', /already exists/],
    ['port = uplink', () => callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'p9', netdev: 'veth0' }), 'params.netdev',
      /is already the uplink of switch "sw0"/],
    ['no such netdev', () => callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'p9', netdev: 'foo' }), 'params.netdev',
      /^params\.netdev: no such interface "foo"$/],
    ['bad port name', () => callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'a/b' }), 'params.name', /may only contain/],
    ['no such port', () => callDaemon(h.socket, 'port.remove', { switch: 'sw0', name: 'zz' }), 'params.name', /no such port "zz"/],
    ['missing param', () => callDaemon(h.socket, 'switch.delete', {} as never), 'params.name', /required/],
    ['params to list', () => callDaemon(h.socket, 'switch.list', { all: true } as never), 'params.all', /unknown key/],
  ];
  for (const [what, fn, field, re] of cases) {
    const err = await t.throwsAsync(fn, { instanceOf: DaemonError }, what);
    t.is((err as DaemonError).field, field, what);
    t.regex(err?.message ?? '', re, what);
  }
  t.is(readFileSync(h.configPath, 'utf8'), before);
  t.is(h.manager.calls.length, calls, 'the manager was never called');
  t.deepEqual(h.server.currentConfig, loadConfig(h.configPath));
  await h.done();
});

test('a failed manager call persists nothing', async (t) => {
  const h = await startHarness();
  await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private' });
  const before = readFileSync(h.configPath, 'utf8');
  h.manager.failNext = 'createSwitch';
  await t.throwsAsync(callDaemon(h.socket, 'switch.create', { name: 'sw1', type: 'private' }), { message: /injected failure/ });
  h.manager.failNext = 'addPort';
  await t.throwsAsync(callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap0' }), { message: /injected failure/ });
  h.manager.failNext = 'deleteSwitch';
  await t.throwsAsync(callDaemon(h.socket, 'switch.delete', { name: 'sw0' }), { message: /injected failure/ });
  t.is(readFileSync(h.configPath, 'utf8'), before);
  t.deepEqual(h.server.currentConfig.switches.map((s) => [s.name, s.ports.length]), [['sw0', 0]]);
  await h.done();
});

test('a failed save undoes the manager change', async (t) => {
  let failSave = false;
  const h = await startHarness({
    save: (path: string, cfg: XvsConfig) => {
      if (failSave) throw new Error('disk full');
      saveConfig(path, cfg);
    },
  });
  await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private' });
  await callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap0' });
  const before = readFileSync(h.configPath, 'utf8');
  failSave = true;
  await t.throwsAsync(callDaemon(h.socket, 'switch.create', { name: 'sw1', type: 'private' }), { message: /disk full.*undone/ });
  t.false(h.manager.switches.has('sw1'));
  await t.throwsAsync(callDaemon(h.socket, 'port.add', { switch: 'sw0', name: 'tap1' }), { message: /disk full/ });
  t.deepEqual(h.manager.switches.get('sw0')?.ports, [{ name: 'tap0' }]);
  await t.throwsAsync(callDaemon(h.socket, 'port.remove', { switch: 'sw0', name: 'tap0' }), { message: /disk full/ });
  t.deepEqual(h.manager.switches.get('sw0')?.ports, [{ name: 'tap0' }]);
  await t.throwsAsync(callDaemon(h.socket, 'switch.delete', { name: 'sw0' }), { message: /disk full/ });
  t.deepEqual(h.manager.switches.get('sw0')?.ports, [{ name: 'tap0' }], 'switch and its port re-created');
  t.is(readFileSync(h.configPath, 'utf8'), before);
  t.is(h.server.currentConfig.switches.length, 1);
  await h.done();
});

test('a restarted daemon restores from the file; a vanished netdev is reported and kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-ctl-'));
  const h1 = await startHarness({ dir });
  await callDaemon(h1.socket, 'switch.create', { name: 'ext', type: 'external', uplink: 'veth0' });
  await callDaemon(h1.socket, 'switch.create', { name: 'int', type: 'internal', workers: 2 });
  await callDaemon(h1.socket, 'port.add', { switch: 'int', name: 'tap0' });
  await callDaemon(h1.socket, 'port.add', { switch: 'int', name: 'vm1', netdev: 'veth1' });
  await callDaemon(h1.socket, 'port.add', { switch: 'int', name: 'vm2', netdev: 'veth2' });
  const file = readFileSync(h1.configPath, 'utf8');
  await h1.done();

  // veth1 vanished while the daemon was down
  const h2 = await startHarness({ dir, netdevs: ['veth0', 'veth2'] });
  t.deepEqual([...h2.manager.switches.keys()], ['ext', 'int']);
  t.deepEqual(h2.manager.switches.get('int')?.ports.map((p) => p.name), ['tap0', 'vm2']);
  t.is(h2.manager.switches.get('int')?.workers, 2);
  const status = await callDaemon(h2.socket, 'daemon.status', {});
  t.is(status.switches, 2);
  t.is(status.ports, 3);
  t.deepEqual(status.problems, [{ field: 'switches[1].ports[1].netdev', message: 'switches[1].ports[1].netdev: no such interface "veth1"' }]);
  t.is(readFileSync(h2.configPath, 'utf8'), file, 'config kept');
  const ports = await callDaemon(h2.socket, 'port.list', { switch: 'int' });
  t.like(ports.find((p) => p.name === 'vm1'), { running: false, index: null, netdev: 'veth1' });
  // The vanished port can still be removed (from the config only).
  await callDaemon(h2.socket, 'port.remove', { switch: 'int', name: 'vm1' });
  t.deepEqual((await callDaemon(h2.socket, 'daemon.status', {})).problems, []);
  t.false(h2.manager.calls.includes('removePort int vm1'));
  await h2.done();

  // uplink gone: the switch is down but kept; reads say so, delete works
  const h3 = await startHarness({ dir, netdevs: ['veth2'] });
  t.deepEqual([...h3.manager.switches.keys()], ['int']);
  const ext = await callDaemon(h3.socket, 'switch.show', { name: 'ext' });
  t.false(ext.running);
  await t.throwsAsync(callDaemon(h3.socket, 'stats', { switch: 'ext' }), { message: /not running/ });
  await callDaemon(h3.socket, 'switch.delete', { name: 'ext' });
  t.deepEqual(loadConfig(h3.configPath).switches.map((s) => s.name), ['int']);
  await h3.done();
  rmSync(dir, { recursive: true });
});

test('malformed request lines get error replies and the server survives', async (t) => {
  const h = await startHarness();
  const replies = await rawExchange(
    h.socket,
    [
      'this is not json',
      '[1,2]',
      '{"id": 7, "method": "no.such"}',
      '{"id": 8}',
      '{"id": {"x":1}, "method": "switch.list"}',
      '{"id": 9, "method": "switch.list", "extra": 1}',
      '{"id": 10, "method": "switch.create", "params": "sw0"}',
      '{"id": 11, "method": "switch.list"}',
    ].join('\n') + '\n',
    8,
  );
  const byId = (id: unknown) => replies.find((r) => (r as { id: unknown }).id === id) as Record<string, unknown> | undefined;
  const errs = replies.filter((r) => (r as { ok: boolean }).ok === false);
  t.is(errs.length, 7);
  t.regex(JSON.stringify(replies[0]), /malformed JSON/);
  t.like(byId(7), { ok: false, error: { name: 'ProtocolError', field: 'method' } });
  t.like(byId(8), { ok: false, error: { field: 'method' } });
  t.like(byId(9), { ok: false, error: { field: 'extra' } });
  t.like(byId(10), { ok: false, error: { field: 'params', name: 'ConfigError' } });
  t.like(byId(11), { ok: true, result: [] });
  // A line longer than the limit closes that connection but not the server.
  const long = await rawExchange(h.socket, 'x'.repeat(1_100_000), 1);
  t.like(long[0], { ok: false });
  t.deepEqual(await callDaemon(h.socket, 'switch.list', {}), []);
  await h.done();
});

test('the socket is mode 0600 in a 0700 directory, and is removed on close', async (t) => {
  const h = await startHarness();
  t.is(statSync(h.socket).mode & 0o777, 0o600);
  t.is(statSync(join(h.dir, 'run')).mode & 0o777, 0o700);
  await h.server.close();
  t.false(existsSync(h.socket));
  rmSync(h.dir, { recursive: true });
});

test('a stale socket is replaced; a live one is not; a non-socket is not touched', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-ctl-'));
  // stale: a socket file nobody listens on (a server that was killed leaves one behind)
  const stale = join(dir, 'run', 'xvs.sock');
  const h1 = await startHarness({ dir });
  const other = new ControlServer({ manager: new FakeManager(), socketPath: h1.socket, configPath: join(dir, 'o.json') });
  await t.throwsAsync(other.listen(), { message: /another xvs daemon is already listening/ });
  t.deepEqual(await callDaemon(h1.socket, 'switch.list', {}), [], 'the first daemon still answers');
  await h1.done();

  // A daemon killed with SIGKILL leaves its socket file behind.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`]);
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.true(lstatSync(stale).isSocket(), 'stale socket left behind');
  const h2 = await startHarness({ dir });
  t.deepEqual(await callDaemon(h2.socket, 'switch.list', {}), []);
  await h2.done();

  writeFileSync(stale, 'not a socket');
  const s3 = new ControlServer({ manager: new FakeManager(), socketPath: stale, configPath: join(dir, 'o.json') });
  await t.throwsAsync(s3.listen(), { message: /not a socket/ });
  t.is(readFileSync(stale, 'utf8'), 'not a socket');
  rmSync(dir, { recursive: true });
});

test('the client explains an absent daemon', async (t) => {
  await t.throwsAsync(callDaemon('/nonexistent/xvs.sock', 'switch.list', {}, 1000), {
    message: 'cannot reach xvs daemon at /nonexistent/xvs.sock: is "xvs daemon" running?',
  });
});

test('mutations run one at a time', async (t) => {
  const h = await startHarness();
  const results = await Promise.allSettled(
    Array.from({ length: 6 }, (_, i) => callDaemon(h.socket, 'switch.create', { name: i % 2 ? 'dup' : `s${i}`, type: 'private' })),
  );
  t.is(results.filter((r) => r.status === 'rejected').length, 2, 'two of the three "dup" creates fail');
  t.is(loadConfig(h.configPath).switches.length, 4);
  await h.done();
});
