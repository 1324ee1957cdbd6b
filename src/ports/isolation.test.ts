/**
 * Host isolation on real veths (root only): `isolate` removes addresses, IPv6 and adds the ingress drop, and
 * records what was there first (on disk); `release` gives back exactly that; a second `isolate` (a restart)
 * keeps the first record; `checkPortNetdev` refuses loopback and host addresses; `reconcile` cleans what the
 * configuration no longer uses; a replaced data-path worker finds its ports isolated again; a corrupt record is
 * kept aside.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { cleanPrefix, sh, testPrefix } from '../lab/netlab.js';
import { checkPortNetdev, hostAddresses, isolate, isolationState, reconcile, release, tc } from './isolation.js';
import { NetdevRecord, netdevRecordPath } from './netdev-record.js';
import { createPersistentTap } from './tap.js';
import { DataPathManager } from '../switch/manager.js';
import { udpFrame } from '../test-support/frames.js';
import { fixtureManifest } from '../test-support/trusted-dir.js';
import { fileURLToPath } from 'node:url';

const P = testPrefix('iso');
const A = `${P}a`;
const B = `${P}b`;
const NET = `198.18.${process.pid % 200}`;
let dir: string;

test.before(() => {
  cleanPrefix(P);
  dir = mkdtempSync(join(tmpdir(), 'xt-iso-'));
});
test.after.always(() => {
  cleanPrefix(P);
  rmSync(dir, { recursive: true, force: true });
});

const v6 = (dev: string): string => readFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, 'utf8').trim();

test.serial('isolate, restart, release: settings recorded first, given back exactly', (t) => {
  sh('ip', ['link', 'add', A, 'type', 'veth', 'peer', 'name', B]);
  sh('sysctl', ['-qw', `net.ipv6.conf.${A}.disable_ipv6=0`]);
  sh('ip', ['addr', 'add', `${NET}.1/24`, 'dev', A]);
  sh('ip', ['addr', 'add', 'fd00:78:76::1/64', 'dev', A, 'nodad']);
  sh('ip', ['link', 'set', A, 'up']);
  sh('ip', ['link', 'set', B, 'up']);
  sh('ip', ['route', 'add', `198.19.${process.pid % 200}.0/24`, 'via', `${NET}.2`, 'dev', A]);
  t.deepEqual(hostAddresses(A).map((a) => a.local).sort(), [`${NET}.1`, 'fd00:78:76::1']);

  const file = netdevRecordPath(join(dir, 'config.json'));
  const rec = new NetdevRecord(file);
  const err = t.throws(() => checkPortNetdev(A, 'port.netdev', false, '--allow-host-addresses'), { instanceOf: ConfigError });
  t.regex(err!.message, /^port\.netdev: .*carries host addresses .*--allow-host-addresses/);
  t.notThrows(() => checkPortNetdev(A, 'port.netdev', true, '--allow-host-addresses'));

  isolate(A, rec, 'port.netdev');
  const st = isolationState(A);
  t.true(st.ingressDrop, 'ingress drop filter');
  t.true(st.ipv6Disabled, 'IPv6 off');
  t.deepEqual(st.addresses, [], 'no addresses');
  t.is(sh('ip', ['-6', 'addr', 'show', 'dev', A]).trim(), '', 'not even link-local IPv6');
  const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { isolated: Record<string, { disableIpv6: string; addresses: { local: string }[]; routes: unknown[] }> };
  t.is(onDisk.isolated[A].disableIpv6, '0');
  t.deepEqual(onDisk.isolated[A].addresses.map((a) => a.local).sort(), [`${NET}.1`, 'fd00:78:76::1']);
  t.is(onDisk.isolated[A].routes.length, 1, 'the static route is recorded');

  // a restarted daemon: a fresh record from the file, isolate again (idempotent, keeps the first record)
  const rec2 = new NetdevRecord(file);
  isolate(A, rec2, 'port.netdev');
  t.is(JSON.parse(tc('-j', 'filter', 'show', 'dev', A, 'ingress')).length, 2, 'one filter (tc lists it in two lines)');
  t.is(rec2.saved(A)?.disableIpv6, '0', 'the settings from before the first isolate are kept');

  release(A, rec2, (m) => t.log(m));
  t.is(v6(A), '0');
  t.deepEqual(hostAddresses(A).map((a) => a.local).sort(), [`${NET}.1`, 'fd00:78:76::1']);
  t.regex(sh('ip', ['route', 'show', 'dev', A]), /via/, 'static route back');
  t.false(isolationState(A).ingressDrop);
  t.notRegex(sh('tc', ['qdisc', 'show', 'dev', A]), /clsact/, 'the qdisc xvs added is gone');
  t.deepEqual(new NetdevRecord(file).isolated, [], 'record entry dropped on disk');
  sh('ip', ['link', 'del', A]);
});

test.serial('loopback is refused whatever the consent', (t) => {
  const e = t.throws(() => checkPortNetdev('lo', 'port.netdev', true, '--allow-host-addresses'), { instanceOf: ConfigError });
  t.regex(e!.message, /^port\.netdev: "lo" is a loopback device/);
});

test.serial('an existing clsact qdisc is kept on release; only the filter goes', (t) => {
  sh('ip', ['link', 'add', A, 'type', 'veth', 'peer', 'name', B]);
  sh('tc', ['qdisc', 'add', 'dev', A, 'clsact']);
  const rec = new NetdevRecord(null);
  isolate(A, rec, 'x');
  t.true(isolationState(A).ingressDrop);
  release(A, rec, (m) => t.log(m));
  t.false(isolationState(A).ingressDrop);
  t.regex(sh('tc', ['qdisc', 'show', 'dev', A]), /clsact/);
  sh('ip', ['link', 'del', A]);
});

test.serial('reconcile: owned TAPs not in the configuration are deleted, used and adopted ones stay; isolation released', (t) => {
  const file = join(dir, 'r.netdevs.json');
  const rec = new NetdevRecord(file);
  const orphan = `${P}o`;
  const used = `${P}u`;
  const adopted = `${P}x`;
  for (const n of [orphan, used]) {
    rec.recordTap(n);
    createPersistentTap(n, false);
  }
  sh('ip', ['tuntap', 'add', 'dev', adopted, 'mode', 'tap']);
  sh('ip', ['link', 'add', A, 'type', 'veth', 'peer', 'name', B]);
  isolate(A, rec, 'x');
  rec.recordTap(`${P}gone`); // recorded, then killed before it was created
  // a temp file of an interrupted write
  writeFileSync(join(dir, `.r.netdevs.json.1.abcd.tmp`), '{');

  const rec2 = new NetdevRecord(file);
  const r = reconcile(rec2, { version: 1, switches: [{ name: 's', type: 'private', macAgingSeconds: 300, macTableLimit: 10, workers: 1, ports: [{ name: used }, { name: adopted }] }] }, (m) => t.log(m));
  t.false(existsSync(join(dir, `.r.netdevs.json.1.abcd.tmp`)), 'temp file of an interrupted write removed');
  t.deepEqual(r.tapsDeleted, [orphan]);
  t.deepEqual(r.released, [A]);
  t.false(existsSync(`/sys/class/net/${orphan}`));
  t.true(existsSync(`/sys/class/net/${used}`));
  t.true(existsSync(`/sys/class/net/${adopted}`));
  t.false(isolationState(A).ingressDrop);
  t.deepEqual([...new NetdevRecord(file).ownedTaps], [used]);
  for (const n of [used, adopted, A]) sh('ip', ['link', 'del', n]);
});

test.serial('a corrupt record is kept aside and the daemon starts with an empty one', (t) => {
  const file = join(dir, 'c.netdevs.json');
  writeFileSync(file, '{"version":1,"ownedTaps":');
  const logs: string[] = [];
  const rec = new NetdevRecord(file, (m) => logs.push(m));
  t.deepEqual([...rec.ownedTaps], []);
  t.true(existsSync(`${file}.corrupt`));
  t.regex(logs.join('\n'), /kept as .*\.corrupt/);
});

test.serial('after a data-path worker is replaced, its ports are isolated again', async (t) => {
  // a manifest beside the compiled fixture (plug-in trust: main inside the plug-in directory, no /tmp)
  const spinner = fixtureManifest(join(fileURLToPath(import.meta.url), '..', '..', 'workers', 'fixtures', 'spinner.js'), { name: 'spinner' });
  t.teardown(spinner.remove);
  const m = new DataPathManager({ log: () => {}, tuning: { watchdogMs: 500 } });
  const sw = `${P}w`;
  const tap = `${P}wt`;
  try {
    await m.createSwitch({ name: sw, type: 'private', macAgingSeconds: 300, macTableLimit: 1024, workers: 1, ports: [] });
    await m.addPort(sw, { name: tap });
    t.true(isolationState(tap).ingressDrop);
    // someone takes the filter away; then the worker wedges (the spinner plug-in) and is replaced
    sh('tc', ['qdisc', 'del', 'dev', tap, 'clsact']);
    t.false(isolationState(tap).ingressDrop);
    await m.installExtension(spinner.file);
    await m.setExtension(sw, 'spinner', { config: { at: 1 } });
    await m.enableExtension(sw, 'spinner');
    await t.throwsAsync(m.trace(sw, tap, udpFrame('02:00:00:00:00:02', '02:00:00:00:00:01')));
    for (let i = 0; i < 50 && !isolationState(tap).ingressDrop; i++) await new Promise((r) => setTimeout(r, 100));
    t.true(isolationState(tap).ingressDrop, 're-applied by the replacement');
    t.like(m.showSwitch(sw).workers?.[0], { restarts: 1 });
  } finally {
    await m.deleteSwitch(sw).catch(() => {});
    await m.shutdown();
  }
  t.false(existsSync(`/sys/class/net/${tap}`));
});
