/**
 * Extensions and port policies (issue 10 item 9) through the real daemon and CLI, with the example
 * plug-in examples/port-guard installed from a root-only directory: its portCreate hook vetoes a
 * port by name (the CLI prints the extension's message, exits non-zero, and no port or TAP is
 * created); a port feature set with `xvs port feature set` reaches it (a blocked port's traffic
 * stops, counted by the extension; unblocked, it flows again); a feature key it does not declare is
 * refused with the field named; a locked port's settings change and removal are vetoed and leave
 * the port as it was.
 */
import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fromRoot } from '../src/repo-root.js';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { fixtureManifest, trustedPluginDir } from '../src/test-support/trusted-dir.js';

const P = testPrefix('ep');
const SW = `${P}s`;
let d: TestDaemon;
let lab: NetLab;
let plugin: { dir: string; remove: () => void };
let rough: { file: string; remove: () => void };

interface ExtState { name: string; counters?: Record<string, number> }
interface ConfigDoc { switches: { name: string; ports?: ({ name: string } & Record<string, unknown>)[] }[] }

test.before(async () => {
  lab = new NetLab(P);
  plugin = trustedPluginDir(fromRoot('examples', 'port-guard'));
  rough = fixtureManifest(fromRoot('dist', 'src', 'extensions', 'fixtures', 'rough-hooks.js'), { name: 'rough-hooks' });
  d = new TestDaemon();
  await d.start();
  const inst = d.xvs('extension', 'install', plugin.dir);
  if (inst.code !== 0) throw new Error(`install port-guard: ${inst.err}`);
});

test.after.always(async () => {
  if (d?.running) for (const s of [SW, `${P}h`, `${P}c`]) d.xvs('switch', 'delete', s);
  await d?.destroy();
  lab?.destroy();
  plugin?.remove();
  rough?.remove();
});

const portConfig = (name: string): Record<string, unknown> | undefined =>
  d.json<ConfigDoc>('config', 'show').switches.find((s) => s.name === SW)?.ports?.find((p) => p.name === name);
const guardCounter = (name: string): number =>
  d.json<ExtState[]>('extension', 'list', SW).find((e) => e.name === 'port-guard')?.counters?.[name] ?? 0;

test.serial('port-guard: a vetoed port add, a feature that blocks traffic, a vetoed settings change and removal', async (t) => {
  // describe lists the port features the extension declares
  t.regex(d.xvs('extension', 'describe', 'port-guard').out, /\| `blocked` \| boolean \| `false` \| drop every frame this port sends \|/);
  t.is(d.xvs('switch', 'create', SW, '--type', 'private').code, 0);
  const set = d.xvs('extension', 'set', SW, 'port-guard', `refuse=^${P}bad`);
  t.is(set.code, 0, set.err);
  t.is(d.xvs('extension', 'enable', SW, 'port-guard').code, 0);

  // portCreate vetoes: the CLI prints the message and fails; no port, no TAP
  const refused = d.xvs('port', 'add', SW, `${P}bad1`);
  t.not(refused.code, 0);
  t.regex(refused.err, new RegExp(`port add refused by extension "port-guard": port name "${P}bad1" matches /\\^${P}bad/`));
  t.false(d.json<{ name: string }[]>('port', 'list', SW).some((p) => p.name === `${P}bad1`));
  t.false(existsSync(`/sys/class/net/${P}bad1`), 'no TAP was created');
  t.true(guardCounter('vetoes') >= 1);

  const a = lab.addHost(1);
  const b = lab.addHost(2);
  t.is(d.xvs('port', 'add', SW, 'a', '--netdev', a.peer).code, 0);
  t.is(d.xvs('port', 'add', SW, 'b', '--netdev', b.peer).code, 0);
  t.true(lab.ping(a, b, 2), 'a reaches b');

  // a feature the extension does not declare is refused, naming the field
  const bad = d.xvs('port', 'feature', 'set', SW, 'a', 'port-guard', 'colour=red');
  t.not(bad.code, 0);
  t.regex(bad.err, /features\.port-guard\.colour: unknown port feature \(expected one of blocked, locked\)/);
  const badValue = d.xvs('port', 'feature', 'set', SW, 'a', 'port-guard', 'blocked=maybe');
  t.not(badValue.code, 0);
  t.regex(badValue.err, /features\.port-guard\.blocked: expected true or false, got "maybe"/);

  // blocked=true reaches the extension: a's frames are dropped and counted
  const block = d.xvs('port', 'feature', 'set', SW, 'a', 'port-guard', 'blocked=true');
  t.is(block.code, 0, block.err);
  const before = guardCounter('blocked');
  t.false(lab.ping(a, b, 2), 'a blocked');
  t.true(guardCounter('blocked') - before >= 2, 'the extension counted the blocked frames');
  t.is(d.xvs('port', 'feature', 'set', SW, 'a', 'port-guard', 'blocked=false').code, 0);
  t.true(lab.ping(a, b, 2), 'a unblocked');

  // locked: a settings change is vetoed and the settings stay as they were
  t.is(d.xvs('port', 'feature', 'set', SW, 'a', 'port-guard', 'locked=true').code, 0);
  const spoof = d.xvs('port', 'set', SW, 'a', '--mac-address-spoofing', 'on');
  t.not(spoof.code, 0);
  t.regex(spoof.err, /port settings change refused by extension "port-guard": port "a" is locked: MAC spoofing stays off/);
  const cfg = portConfig('a');
  t.not(cfg?.macAddressSpoofing, true, JSON.stringify(cfg));
  t.deepEqual(cfg?.features, { 'port-guard': { blocked: 'false', locked: 'true' } });
  // … and so is its removal
  const rm = d.xvs('port', 'remove', SW, 'a');
  t.not(rm.code, 0);
  t.regex(rm.err, /port remove refused by extension "port-guard": port "a" is locked/);
  t.true(d.json<{ name: string }[]>('port', 'list', SW).some((p) => p.name === 'a'));
  t.true(lab.ping(a, b, 1), 'the port still forwards');

  // unlocked: both go through
  t.is(d.xvs('port', 'feature', 'set', SW, 'a', 'port-guard', 'locked=false').code, 0);
  const spoofOk = d.xvs('port', 'set', SW, 'a', '--mac-address-spoofing', 'on');
  t.is(spoofOk.code, 0, spoofOk.err);
  t.is(portConfig('a')?.macAddressSpoofing, true);
  t.is(d.xvs('port', 'remove', SW, 'a').code, 0);
});

test.serial('a control hook that never returns does not wedge the control plane: the operation is refused, the switch goes on', async (t) => {
  const SH = `${P}h`;
  const inst = d.xvs('extension', 'install', rough.file);
  t.is(inst.code, 0, inst.err);
  t.is(d.xvs('switch', 'create', SH, '--type', 'private').code, 0);
  t.is(d.xvs('extension', 'enable', SH, 'rough-hooks').code, 0);
  const thrown = d.xvs('port', 'add', SH, `${P}throw`);
  t.not(thrown.code, 0);
  t.regex(thrown.err, new RegExp(`port add refused by extension "rough-hooks": no ports called ${P}throw`));

  const hung = d.xvs('port', 'add', SH, `${P}hang`);
  t.not(hung.code, 0);
  t.regex(hung.err, /port add not done: the extensions' control hooks did not answer/);
  t.false(existsSync(`/sys/class/net/${P}hang`), 'no TAP was created');
  // the watchdog blamed the extension and replaced the worker: the daemon answers, the switch takes ports
  const ext = d.json<(ExtState & { running: boolean; failure?: { reason?: string } })[]>('extension', 'list', SH).find((e) => e.name === 'rough-hooks');
  t.false(ext?.running, JSON.stringify(ext));
  const ok = d.xvs('port', 'add', SH, `${P}ok`);
  t.is(ok.code, 0, ok.err);
  t.true(d.json<{ name: string }[]>('port', 'list', SH).some((p) => p.name === `${P}ok`));
});

test.serial('config apply: a port the extension refuses fails the apply with its message, and a locked port added before it is undone without asking', async (t) => {
  const SC = `${P}c`;
  const c = lab.addHost(3);
  t.is(d.xvs('switch', 'create', SC, '--type', 'private').code, 0);
  t.is(d.xvs('extension', 'set', SC, 'port-guard', `refuse=^${P}bad`).code, 0);
  t.is(d.xvs('extension', 'enable', SC, 'port-guard').code, 0);
  const doc = d.json<ConfigDoc>('config', 'show');
  const sw = doc.switches.find((s) => s.name === SC)!;
  // c is locked: were its removal asked about while undoing, port-guard would refuse it
  sw.ports = [{ name: 'c', netdev: c.peer, features: { 'port-guard': { locked: 'true' } } }, { name: `${P}bad2` }];
  const file = path.join(d.dir, 'doc.json');
  writeFileSync(file, JSON.stringify(doc));
  const r = d.xvs('config', 'apply', file);
  t.not(r.code, 0);
  t.regex(r.err, new RegExp(`port add refused by extension "port-guard": port name "${P}bad2" matches`));
  t.deepEqual(d.json<{ name: string }[]>('port', 'list', SC).map((p) => p.name), [], 'port c was added, then undone');
  t.false(existsSync(`/sys/class/net/${P}bad2`));
});
