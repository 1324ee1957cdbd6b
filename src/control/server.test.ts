/**
 * The control-plane contract, on a real socket with a fake data path: validation names the field and changes
 * nothing, the config file changes only on success, a restart restores from the file, bad request lines get
 * error replies, and the socket is private.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, saveConfig } from '../config/store.js';
import type { XvsConfig } from '../config/types.js';
import { callDaemon, DaemonError } from './client.js';
import { ControlServer } from './server.js';
import { LineSplitter } from './protocol.js';
import { FakeManager, startHarness } from './test-harness.js';
import type { FdbEntry } from '../switch/manager-api.js';

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
  await t.throwsAsync(other.listen(), { message: /socket .* is in use by another xvs daemon \(pid \d+/ });
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

// ---------------------------------------------------------------------------------------------------------------
// Connections and limits (docs/CONTROL.md)

function writeConfig(dir: string, doc: unknown): void {
  mkdirSync(join(dir, 'state'), { recursive: true });
  writeFileSync(join(dir, 'state', 'config.json'), JSON.stringify(doc));
}

/** Connects and resolves once connected. */
function connect(socket: string): Promise<ReturnType<typeof createConnection>> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection. */
function untilClosed(c: ReturnType<typeof createConnection>): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => { got += d; });
    c.on('error', () => {});
    c.on('close', () => resolve(got));
  });
}

test.serial('line assembly is linear: a 512 KiB line trickled one byte at a time scans and copies each byte a bounded number of times', (t) => {
  // Count the work of every scanning, measuring and copying primitive while the splitter runs (whatever the
  // implementation uses), instead of timing it.
  let work = 0;
  const S = String.prototype;
  const B = Buffer.prototype;
  const U = Uint8Array.prototype;
  const saved = { split: S.split, indexOf: S.indexOf, includes: S.includes, bIndexOf: B.indexOf, copy: B.copy, set: U.set, toString: B.toString, byteLength: Buffer.byteLength };
  type Fn = (...a: unknown[]) => unknown;
  const wrap = (orig: unknown, cost: (self: { length: number }, a: unknown[]) => number): Fn => function (this: { length: number }, ...a: unknown[]) {
    work += cost(this, a);
    return (orig as Fn).apply(this, a);
  };
  const from = (a: unknown[], i: number): number => (typeof a[i] === 'number' ? (a[i] as number) : 0);
  const splitter = new LineSplitter();
  const n = 512 * 1024;
  let pushed = 0;
  let lines: string[] = [];
  let runaway = false;
  try {
    S.split = wrap(saved.split, (s) => s.length) as typeof S.split;
    S.indexOf = wrap(saved.indexOf, (s, a) => s.length - from(a, 1)) as typeof S.indexOf;
    S.includes = wrap(saved.includes, (s, a) => s.length - from(a, 1)) as typeof S.includes;
    B.indexOf = wrap(saved.bIndexOf, (s, a) => s.length - from(a, 1)) as typeof B.indexOf;
    B.copy = wrap(saved.copy, (s, a) => (typeof a[3] === 'number' ? a[3] : s.length) - from(a, 2)) as typeof B.copy;
    U.set = wrap(saved.set, (_s, a) => (a[0] as { length: number }).length) as typeof U.set;
    B.toString = wrap(saved.toString, (s, a) => (typeof a[2] === 'number' ? a[2] : s.length) - from(a, 1)) as typeof B.toString;
    Buffer.byteLength = wrap(saved.byteLength, (_s, a) => (a[0] as { length: number }).length) as typeof Buffer.byteLength;
    for (; pushed < n; pushed++) {
      lines = splitter.push(pushed === n - 1 ? '\n' : 'x');
      // stop early once the work is clearly not linear (a quadratic splitter would take minutes)
      if (pushed % 1024 === 1023 && work > 8 * pushed + 65_536) {
        runaway = true;
        break;
      }
    }
  } finally {
    Object.assign(S, { split: saved.split, indexOf: saved.indexOf, includes: saved.includes });
    Object.assign(B, { indexOf: saved.bIndexOf, copy: saved.copy, toString: saved.toString });
    U.set = saved.set;
    Buffer.byteLength = saved.byteLength;
  }
  t.false(runaway, `work ${work} after ${pushed} one-byte pushes`);
  t.is(pushed, n);
  t.deepEqual(lines.map((l) => l.length), [n - 1]);
  t.true(work <= 8 * n + 65_536, `work ${work} for ${n} bytes`);
  t.is(splitter.scanned, n);
});

test('a complete request line over the limit is refused even when it arrives in one piece', (t) => {
  const s = new LineSplitter(1000);
  t.deepEqual(s.push(`{"a":1}\n${'x'.repeat(999)}\n`), ['{"a":1}', 'x'.repeat(999)]);
  const { lines, error } = s.feed(`ok\n${'y'.repeat(1001)}\nnext\n`);
  t.deepEqual(lines, ['ok']);
  t.regex(error?.message ?? '', /request line longer than 1000 bytes/);
  // a multi-byte character cut between two chunks survives
  const u = new LineSplitter();
  const bytes = Buffer.from('"é"\n');
  t.deepEqual(u.push(bytes.subarray(0, 2)), []);
  t.deepEqual(u.push(bytes.subarray(2)), ['"é"']);
});

test('an over-long line gets an error reply and closes the connection; what follows it is not answered', async (t) => {
  const h = await startHarness({ limits: { maxLineBytes: 4096 } });
  const c = await connect(h.socket);
  const got = untilClosed(c);
  c.write(`{"id":1,"method":"switch.list"}\n${'x'.repeat(5000)}\n{"id":2,"method":"switch.list"}\n`);
  const replies = (await got).trim().split('\n').map((l) => JSON.parse(l) as { id: unknown; ok: boolean; error?: { message: string } });
  t.deepEqual(replies.map((r) => r.id), [1, null]);
  t.regex(replies[1].error?.message ?? '', /request line longer than 4096 bytes/);
  t.deepEqual(await callDaemon(h.socket, 'switch.list', {}), [], 'the server still answers others');
  await h.done();
});

test.serial('backpressure: a client that pipelines requests and never reads stops being read; the daemon does not grow', async (t) => {
  const h = await startHarness();
  for (let i = 0; i < 4; i++) {
    await callDaemon(h.socket, 'switch.create', { name: `sw${i}`, type: 'private' });
    for (let j = 0; j < 6; j++) await callDaemon(h.socket, 'port.add', { switch: `sw${i}`, name: `s${i}p${j}` });
  }
  const request = '{"id":1,"method":"config.show"}\n';
  const replyBytes = JSON.stringify({ id: 1, ok: true, result: h.server.currentConfig }).length;
  const total = 16 * 1024 * 1024; // 16 MiB of requests: ~500 000 requests, ~ 20× that in replies
  // The client is another process, so its own buffers do not count. It writes with backpressure and reports
  // how far it got each time a write has not drained for 1 s (it is not being read), and when all is written.
  const client = spawn(process.execPath, ['-e', `
    const c = require('net').createConnection(${JSON.stringify(h.socket)});
    const block = Buffer.from(${JSON.stringify(request)}.repeat(2048));
    let written = 0;
    const report = (done) => { process.stdout.write(JSON.stringify({ written, done }) + '\\n'); };
    c.on('connect', function more() {
      while (written < ${total}) {
        written += block.length;
        if (!c.write(block)) {
          const t = setInterval(() => report(false), 1000);
          c.once('drain', () => { clearInterval(t); more(); });
          return;
        }
      }
      report(true);
    });`]);
  const mem = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.external + m.arrayBuffers; };
  const base = mem();
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, mem()); }, 20);
  const reports: { written: number; done: boolean }[] = [];
  let out = '';
  client.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop() ?? '';
    for (const l of lines) reports.push(JSON.parse(l) as { written: number; done: boolean });
  });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Wait for the client to finish (the daemon read everything) or for the daemon to pause reading and then a
  // stall report from the client (so its count is fresh). Counts, not timings, are asserted.
  let pausedAt = -1;
  for (;;) {
    if (reports.some((r) => r.done)) break;
    const st = h.server.connectionStats();
    if (pausedAt < 0 && st.length === 1 && st[0].paused) pausedAt = reports.length;
    if (pausedAt >= 0 && reports.length > pausedAt) break;
    await sleep(50);
  }
  const report = reports[reports.length - 1];
  peak = Math.max(peak, mem());
  clearInterval(sampler);
  const stats = h.server.connectionStats();
  client.kill('SIGKILL');
  t.log(`reply ${replyBytes} B; client wrote ${(report.written / 2 ** 20).toFixed(2)} MiB of ${total / 2 ** 20}; server read ${stats.map((s) => s.bytesRead).join(', ')} bytes; peak growth ${((peak - base) / 2 ** 20).toFixed(1)} MiB`);
  t.false(report.done, 'the client could not write everything: the daemon stopped reading');
  t.true(report.written < total / 2, `client wrote ${report.written} bytes`);
  t.true(peak - base < 64 * 1024 * 1024, `heap grew ${peak - base} bytes`);
  t.is(stats.length, 1);
  t.true(stats[0].paused, 'reading is paused');
  t.true(stats[0].bytesRead <= report.written);
  t.true(stats[0].bytesRead < 2 * 1024 * 1024, `server read ${stats[0].bytesRead} bytes`);
  t.true(stats[0].inFlight + stats[0].queued <= 16 + 2048, 'requests held: at most one read chunk');
  await new Promise((r) => client.once('exit', r));
  await h.done();
});

test('a connection over the cap is answered with an error and closed; refusals are logged once per interval', async (t) => {
  const logs: string[] = [];
  const h = await startHarness({ limits: { maxConnections: 3 }, log: (m) => logs.push(m) });
  const open = await Promise.all([connect(h.socket), connect(h.socket), connect(h.socket)]);
  await callDaemon(h.socket, 'switch.list', {}).then(() => t.fail('a fourth connection was served'), (e: Error) => {
    t.regex(e.message, /too many connections to the xvs daemon \(3 open\)/);
  });
  for (let i = 0; i < 20; i++) await t.throwsAsync(callDaemon(h.socket, 'switch.list', {}), { message: /too many connections/ });
  const refusals = logs.filter((l) => /refusing a connection: 3 connections open/.test(l));
  t.is(refusals.length, 1, 'one log line for 21 refusals');
  const closed = untilClosed(open[0]);
  open[0].end();
  t.is(await closed, '');
  while (h.server.connectionStats().length > 2) await new Promise((r) => setTimeout(r, 10)); // the server saw it close
  t.deepEqual(await callDaemon(h.socket, 'switch.list', {}), [], 'served again once one closed');
  for (const c of open) c.destroy();
  await h.done();
});

test('an idle connection is closed: a partial request, or no request at all; one in flight is not', async (t) => {
  const logs: string[] = [];
  const h = await startHarness({ limits: { idleTimeoutMs: 200 }, log: (m) => logs.push(m) });
  // watch for the close from the start: under load the 200 ms may pass before the next line runs
  const silent = createConnection(h.socket);
  const silentClosed = untilClosed(silent);
  const partial = createConnection(h.socket);
  const partialClosed = untilClosed(partial);
  partial.write('{"id":1,"method":"swi');
  t.is(await silentClosed, '');
  t.is(await partialClosed, '');
  t.true(logs.some((l) => /closing a connection idle for 200 ms/.test(l)));
  // a request that takes longer than the idle timeout is answered
  let open: () => void = () => {};
  h.manager.gate = { prefix: 'createSwitch', until: new Promise<void>((r) => { open = r; }) };
  const slow = callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private' });
  await new Promise((r) => setTimeout(r, 500));
  open();
  t.like(await slow, { running: true });
  await h.done();
});

test('the client reads replies far larger than the request limit', async (t) => {
  class BigFdb extends FakeManager {
    override fdb(name: string): FdbEntry[] {
      super.fdb(name);
      return Array.from({ length: 60_000 }, (_, i) => ({
        mac: `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        port: 'tap0', ageSeconds: i % 300,
      }));
    }
  }
  const h = await startHarness({ manager: new BigFdb() });
  await callDaemon(h.socket, 'switch.create', { name: 'sw0', type: 'private' });
  // (the fake returns the whole table as one page: one reply line over 2 MiB)
  const fdb = (await callDaemon(h.socket, 'fdb.show', { switch: 'sw0' })).entries;
  t.is(fdb.length, 60_000);
  t.true(JSON.stringify(fdb).length > 2 * 1024 * 1024, 'the reply is over 2 MiB');
  t.is(fdb[59_999].mac, '02:00:00:00:ea:5f');
  await h.done();
});

test('requests wait for the start-up restore; daemon.status says restoring with progress meanwhile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-ctl-'));
  writeConfig(dir, { version: 1, switches: ['a', 'b', 'c'].map((n) => ({ name: n, type: 'private', ports: [{ name: `${n}1` }, { name: `${n}2` }] })) });
  const h = await startHarness({ dir, restore: false });
  let open: () => void = () => {};
  h.manager.gate = { prefix: 'createSwitch c', until: new Promise<void>((r) => { open = r; }) };
  const before = await callDaemon(h.socket, 'daemon.status', {});
  t.deepEqual(before.restoring, { switches: 3, switchesDone: 0, changes: 0, changesDone: 0 }, 'not started yet');
  const restored = h.server.restore();
  const show = callDaemon(h.socket, 'switch.show', { name: 'c' });
  const ports = callDaemon(h.socket, 'port.list', { switch: 'a' });
  await new Promise((r) => setTimeout(r, 100));
  const during = await callDaemon(h.socket, 'daemon.status', {});
  t.deepEqual(during.restoring, { switches: 3, switchesDone: 2, changes: 9, changesDone: 2 });
  open();
  t.like(await show, { running: true, config: { name: 'c' } });
  t.deepEqual((await ports).map((p) => p.name), ['a1', 'a2']);
  t.deepEqual(await restored, []);
  const after = await callDaemon(h.socket, 'daemon.status', {});
  t.is(after.restoring, undefined);
  t.is(after.switches, 3);
  await h.done();
  rmSync(dir, { recursive: true });
});

test('a restore that does not finish in time: reads fail with BusyError naming the progress, not "no such switch"', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-ctl-'));
  writeConfig(dir, { version: 1, switches: [{ name: 'a', type: 'private', ports: [] }] });
  const h = await startHarness({ dir, restore: false, restoreWaitMs: 200 });
  let open: () => void = () => {};
  h.manager.gate = { prefix: 'createSwitch a', until: new Promise<void>((r) => { open = r; }) };
  const restored = h.server.restore();
  const err = await t.throwsAsync(callDaemon(h.socket, 'switch.show', { name: 'a' }), { instanceOf: DaemonError });
  t.is(err?.remoteName, 'BusyError');
  t.regex(err?.message ?? '', /still restoring its configuration \(0 of 1 switches\)/);
  open();
  await restored;
  t.like(await callDaemon(h.socket, 'switch.show', { name: 'a' }), { running: true });
  await h.done();
  rmSync(dir, { recursive: true });
});

test('one daemon per config file and per socket: a second is refused naming the holder', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-ctl-'));
  const h = await startHarness({ dir });
  // same config, another socket
  const s1 = new ControlServer({ manager: new FakeManager(), socketPath: join(dir, 'other.sock'), configPath: h.configPath });
  await t.throwsAsync(s1.listen(), { message: new RegExp(`configuration .*config\\.json is in use by another xvs daemon \\(pid ${process.pid}, config .*config\\.json, socket .*xvs\\.sock\\)`) });
  t.false(existsSync(join(dir, 'other.sock')));
  // the same config reached through a symlink
  symlinkSync(join(dir, 'state'), join(dir, 'link'));
  const s2 = new ControlServer({ manager: new FakeManager(), socketPath: join(dir, 'other.sock'), configPath: join(dir, 'link', 'config.json') });
  await t.throwsAsync(s2.listen(), { message: /configuration .* is in use by another xvs daemon/ });
  // same socket, another config
  const s3 = new ControlServer({ manager: new FakeManager(), socketPath: h.socket, configPath: join(dir, 'other.json') });
  await t.throwsAsync(s3.listen(), { message: /socket .*xvs\.sock is in use by another xvs daemon \(pid \d+/ });
  t.deepEqual(await callDaemon(h.socket, 'switch.list', {}), [], 'the first still answers');
  await h.done();
  // released on close: the same config can be taken again
  const h2 = await startHarness({ dir });
  t.deepEqual(await callDaemon(h2.socket, 'switch.list', {}), []);
  await h2.done();
  rmSync(dir, { recursive: true });
});
