/**
 * The tutorial's plug-in (examples/mac-deny, plain JavaScript + manifest) installed into a real daemon
 * from its directory, configured, enabled, and dropping frames from a denied MAC between namespaces.
 */
import test from 'ava';
import { fromRoot } from '../src/repo-root.js';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { trustedPluginDir } from '../src/test-support/trusted-dir.js';
import type { SwitchExtensionState, TraceView } from '../src/switch/manager-api.js';

const P = testPrefix('p');
// the checkout itself when only root can write it (as the README's clone as root); a root-owned copy
// when it sits where the trust checks refuse plug-ins (a clone under /tmp)
const example = trustedPluginDir(fromRoot('examples', 'mac-deny'));
let d: TestDaemon;
let lab: NetLab;

test.before(async () => {
  lab = new NetLab(P);
  d = new TestDaemon();
  await d.start();
});
test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', `${P}s`);
  await d?.destroy();
  lab?.destroy();
  example.remove();
});

test.serial('the tutorial plug-in installs from its directory and drops frames from a denied MAC', (t) => {
  const [a, b, c] = [0, 1, 2].map((i) => lab.addHost(i, { subnet: '10.80.0' }));
  const sw = `${P}s`;
  t.is(d.xvs('switch', 'create', sw, '--type', 'private').code, 0);
  for (const [i, h] of [a, b, c].entries()) t.is(d.xvs('port', 'add', sw, `vm${i}`, '--netdev', h.peer).code, 0);
  const inst = d.xvs('extension', 'install', example.dir);
  t.is(inst.code, 0, inst.err);
  t.regex(inst.out, /installed filter mac-deny 1\.0\.0/);
  t.regex(d.xvs('extension', 'describe', 'mac-deny').out, /Drops frames from denied source MACs/);
  const bad = d.xvs('extension', 'set', sw, 'mac-deny', 'macs=5');
  t.is(bad.code, 1);
  t.regex(bad.err, /config\.macs: expected a list/);
  const set = d.xvs('extension', 'set', sw, 'mac-deny', `macs=["${c.mac}"]`);
  t.is(set.code, 0, set.err);
  t.is(d.xvs('extension', 'enable', sw, 'mac-deny').code, 0);
  t.true(lab.ping(a, b, 2), 'a and b still talk');
  t.false(lab.ping(c, a, 2), 'c is denied');
  const st = d.json<SwitchExtensionState[]>('extension', 'list', sw).find((e) => e.name === 'mac-deny')!;
  t.true(st.running);
  t.true(st.counters.denied >= 2, `denied=${st.counters.denied}`);
  const [tr] = d.json<TraceView[]>('trace', sw, '--in', 'vm2', '--packet', `eth(src=${c.mac},dst=ff:ff:ff:ff:ff:ff),arp(op=request,sha=${c.mac},spa=${c.ip},tpa=${a.ip})`);
  t.is(tr.verdict, 'dropped');
  t.regex(tr.steps.find((s) => s.stage === 'mac-deny')?.reason ?? '', /denied source/);
  // reconfigure keeps the instance: an empty list lets c through again
  t.is(d.xvs('extension', 'set', sw, 'mac-deny', 'macs=[]').code, 0);
  const after = d.json<SwitchExtensionState[]>('extension', 'list', sw).find((e) => e.name === 'mac-deny')!;
  t.deepEqual(after.config, { macs: [] });
  const [tr2] = d.json<TraceView[]>('trace', sw, '--in', 'vm2', '--packet', `eth(src=${c.mac},dst=ff:ff:ff:ff:ff:ff),arp(op=request,sha=${c.mac},spa=${c.ip},tpa=${a.ip})`);
  t.is(tr2.verdict, 'forwarded', JSON.stringify(tr2.steps));
  t.true(lab.ping(c, a, 3), 'c is let through after the list was emptied');
  t.is(d.xvs('extension', 'uninstall', 'mac-deny').code, 1, 'an enabled plug-in cannot be uninstalled');
  t.is(d.xvs('extension', 'disable', sw, 'mac-deny').code, 0);
  t.is(d.xvs('extension', 'uninstall', 'mac-deny').code, 0);
});
