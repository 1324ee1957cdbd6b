/**
 * The desired-state path end to end, as a user drives it: `xvs config apply FILE` on a real daemon with a TAP
 * port, a veth port and an extension (idempotent, --dry-run, refused whole, rolled back mid-apply), a restart
 * that restores by the same diff, --may-exist / --if-exists, and `port remove` of a TAP that another process
 * (standing in for QEMU: a child node holding the TAP's tun fd through the native edge) still holds.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { distSrc } from '../src/repo-root.js';
import { NetLab, sh, testPrefix } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('c');
const SW = `${P}s`;
const SW2 = `${P}w`;
const TAP = `${P}t`;
const TAPX = `${P}x`;
const HELD = `${P}h`;
const NATIVE = path.join(distSrc, 'ports', 'native', 'index.js');
let d: TestDaemon;
let lab: NetLab;
let holder: ChildProcess | undefined;
const xvs = (...args: string[]) => d.xvs(...args);

test.before(async () => {
  lab = new NetLab(P);
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  // every step runs whatever the one before did
  try {
    if (holder?.pid !== undefined && holder.exitCode === null && holder.signalCode === null) process.kill(holder.pid, 'SIGKILL');
  } catch { /* already gone */ }
  try {
    if (d?.running) {
      writeFileSync(path.join(d.dir, 'empty.json'), '{"version":1,"switches":[]}');
      xvs('config', 'apply', path.join(d.dir, 'empty.json'), '--json');
    }
    await d?.destroy();
  } finally {
    lab?.destroy();
    for (const t of [TAP, TAPX, HELD]) if (existsSync(`/sys/class/net/${t}`)) sh('ip', ['link', 'del', t], { allowFail: true });
  }
});

function writeDoc(name: string, doc: unknown): string {
  const file = path.join(d.dir, name);
  writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

const portNames = (sw: string): string[] => d.json<{ name: string }[]>('port', 'list', sw).map((p) => p.name).sort();

test.serial('config apply: builds from a file, idempotent, dry run, refused whole, rolled back mid-apply, restored after a restart', async (t) => {
  const a = lab.addHost(0);
  const b = lab.addHost(1);
  interface Doc { version: 1; switches: { name: string; type: string; workers?: number; ports?: { name: string; netdev?: string }[]; extensions?: unknown[] }[] }
  const doc: Doc = {
    version: 1,
    switches: [
      {
        name: SW, type: 'private',
        ports: [{ name: TAP }, { name: 'a', netdev: a.peer }],
        extensions: [{ name: 'firewall', enabled: true, config: { rules: [{ match: 'tcp.dst=23', action: 'deny' }] } }],
      },
      { name: SW2, type: 'private', workers: 2 },
    ],
  };
  const file = writeDoc('desired.json', doc);

  const dry = xvs('config', 'apply', file, '--dry-run');
  t.is(dry.code, 0, dry.err);
  t.regex(dry.out, /^would apply 6 changes:\n\+ switch /);
  t.regex(dry.out, new RegExp(`\\+ port ${SW}/${TAP} \\(TAP\\)`));
  t.regex(dry.out, new RegExp(`~ extensions of ${SW}: enable firewall`));
  t.false(existsSync(`/sys/class/net/${TAP}`), 'dry run created nothing');
  t.deepEqual(d.json<unknown[]>('switch', 'list'), []);

  const applied = xvs('config', 'apply', file);
  t.is(applied.code, 0, applied.err + d.log);
  t.regex(applied.out, /^applied 6 changes:/);
  t.true(existsSync(`/sys/class/net/${TAP}/tun_flags`));
  t.deepEqual(portNames(SW), ['a', TAP].sort());
  const ext = d.json<{ name: string; enabled: boolean; running: boolean }[]>('extension', 'list', SW);
  t.like(ext.find((e) => e.name === 'firewall'), { enabled: true, running: true });
  const saved = readFileSync(d.conf, 'utf8');

  const again = xvs('config', 'apply', file);
  t.is(again.code, 0, again.err);
  t.is(again.out, 'no changes (already applied)\n');
  t.is(readFileSync(d.conf, 'utf8'), saved, 'file untouched');

  // what config show prints applies as a no-op too
  const shown = xvs('config', 'show');
  t.is(shown.code, 0);
  t.is(xvs('config', 'apply', writeDoc('shown.json', JSON.parse(shown.out))).out, 'no changes (already applied)\n');

  // an error anywhere: refused whole, named as in the file, nothing changed
  const bad = structuredClone(doc);
  bad.switches[0].ports!.push({ name: 'c', netdev: 'nosuch0' });
  bad.switches[1].workers = 1;
  const badFile = writeDoc('bad.json', bad);
  const refused = xvs('config', 'apply', badFile);
  t.is(refused.code, 1);
  t.is(refused.err, `xvs: ${badFile}: switches[0].ports[2].netdev: no such interface "nosuch0"\n`);
  t.is(readFileSync(d.conf, 'utf8'), saved);
  t.is(d.json<{ config: { workers: number } }>('switch', 'show', SW2).config.workers, 2, 'not recreated');

  // a failure in the data path mid-apply: the first new TAP is made, the second (an existing veth) refused
  const mid = structuredClone(doc);
  mid.switches[0].ports!.push({ name: TAPX }, { name: b.peer });
  const failed = xvs('config', 'apply', writeDoc('mid.json', mid));
  t.is(failed.code, 1);
  t.regex(failed.err, /exists and is not a TAP.*while applying "\+ port .*nothing was changed/);
  t.false(existsSync(`/sys/class/net/${TAPX}`), 'the TAP made before the failure was removed again');
  t.deepEqual(portNames(SW), ['a', TAP].sort());
  t.is(readFileSync(d.conf, 'utf8'), saved);

  // restart: restored through the same diff; the file again is a no-op; traffic flows
  await d.stop();
  await d.start();
  t.deepEqual(portNames(SW), ['a', TAP].sort());
  t.is(xvs('config', 'apply', file).out, 'no changes (already applied)\n', d.log);
  t.like(d.json<{ name: string; running: boolean }[]>('extension', 'list', SW).find((e) => e.name === 'firewall'), { running: true });
});

test.serial('--may-exist and --if-exists', (t) => {
  t.is(xvs('switch', 'create', SW, '--type', 'private', '--may-exist').out, `switch "${SW}" already exists (unchanged)\n`);
  const differs = xvs('switch', 'create', SW, '--type', 'private', '--workers', '2', '--may-exist');
  t.is(differs.code, 1);
  t.regex(differs.err, /params\.workers: switch .* exists with workers 1, not 2/);
  t.is(xvs('port', 'add', SW, TAP, '--may-exist').code, 0);
  t.is(xvs('port', 'remove', SW, 'nope', '--if-exists').code, 0);
  t.is(xvs('port', 'remove', SW, 'nope').code, 1);
  t.is(xvs('switch', 'delete', `${P}none`, '--if-exists').code, 0);
  t.is(xvs('switch', 'delete', `${P}none`).code, 1);
});

test.serial('port remove of a TAP held by another process: refused, still listed and running; removed once released', async (t) => {
  t.is(xvs('port', 'add', SW, HELD).code, 0);
  holder = spawn(process.execPath, ['--input-type=module', '-e',
    `const { native } = await import(${JSON.stringify(NATIVE)}); native.tapOpen(${JSON.stringify(HELD)}, false); console.log('ready'); setInterval(() => {}, 1000);`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder!.stdout!.on('data', (s: Buffer) => { if (s.toString().includes('ready')) resolve(); });
    holder!.once('exit', () => reject(new Error('holder exited')));
  });
  const saved = readFileSync(d.conf, 'utf8');
  const r = xvs('port', 'remove', SW, HELD);
  t.is(r.code, 1);
  t.is(r.err, `xvs: params.name: TAP "${HELD}" is held by pid ${holder.pid} (node); stop the VM first (or --force)\n`);
  t.true(d.json<{ name: string; running: boolean }[]>('port', 'list', SW).some((p) => p.name === HELD && p.running));
  t.is(readFileSync(d.conf, 'utf8'), saved);
  t.true(existsSync(`/sys/class/net/${HELD}/tun_flags`));

  const exited = new Promise((res) => holder!.once('exit', res));
  process.kill(holder.pid!, 'SIGTERM');
  await exited;
  t.is(xvs('port', 'remove', SW, HELD).code, 0);
  for (let i = 0; i < 20 && existsSync(`/sys/class/net/${HELD}`); i++) await new Promise((res) => setTimeout(res, 100));
  t.false(existsSync(`/sys/class/net/${HELD}`), 'fully removed');
  t.false(portNames(SW).includes(HELD));
});
