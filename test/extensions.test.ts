/**
 * Extensions through the real daemon and CLI on real namespaces: disabled when installed, enable /
 * order / set / disable, the pipeline shown in Hyper-V order, a reorder and reconfigure during a ping
 * flood that loses no frame, crash isolation (a plug-in that throws is taken out and shown as failed;
 * the switch keeps forwarding), synthetic and live traces, configuration restored after a restart.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { distSrc } from '../src/repo-root.js';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { fixtureManifest } from '../src/test-support/trusted-dir.js';
import type { PipelineView, SwitchExtensionState, TraceView } from '../src/switch/manager-api.js';

const P = testPrefix('x');
const SW = `${P}s`;
let d: TestDaemon;
let lab: NetLab;
const dist = distSrc;

test.before(async () => {
  lab = new NetLab(P);
  for (const i of [0, 1, 2]) lab.addHost(i, { subnet: '10.79.0' });
  d = new TestDaemon();
  await d.start();
  const ok = (r: { code: number; err: string }): void => { if (r.code !== 0) throw new Error(r.err); };
  ok(d.xvs('switch', 'create', SW, '--type', 'private'));
  for (const [i, h] of lab.hosts.entries()) ok(d.xvs('port', 'add', SW, `vm${i}`, '--netdev', h.peer));
});

let removeManifest = (): void => {};
test.after.always(async () => {
  removeManifest();
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

const list = (): SwitchExtensionState[] => d.json<SwitchExtensionState[]>('extension', 'list', SW);
const ext = (name: string): SwitchExtensionState => list().find((e) => e.name === name)!;

test.serial('installed extensions are bound disabled; enable, set, order and the pipeline order', (t) => {
  const l = list();
  t.true(l.length >= 3);
  t.true(l.every((e) => !e.enabled || e.name === 'learning'), 'all disabled by default');
  t.like(ext('learning'), { enabled: true, running: true }, 'but the default forwarder');
  const early = d.xvs('extension', 'set', SW, 'firewall', '--config', '{"rules":[{"match":"tcp.nosuchfield=1","action":"deny"}]}');
  t.is(early.code, 1, 'a bad rule is refused while the extension is disabled (checked in a worker)');
  t.regex(early.err, /config\.rules\[0\]\.match/);
  t.is(d.xvs('extension', 'set', SW, 'pcap', '--on-error', 'drop').code, 1, 'a capture never drops');
  t.is(d.xvs('extension', 'enable', SW, 'noop').code, 0);
  t.is(d.xvs('extension', 'set', SW, 'firewall', 'default=allow', '--config', '{"rules":[{"match":"ipv4.dst=10.79.0.99","action":"deny"}]}').code, 0);
  t.is(d.xvs('extension', 'enable', SW, 'firewall').code, 0);
  const bad = d.xvs('extension', 'set', SW, 'firewall', '--config', '{"rules":[{"match":"any","action":"maybe"}]}');
  t.is(bad.code, 1);
  t.regex(bad.err, /config\.rules\[0\]\.action/);
  const twoForwarders = d.xvs('extension', 'enable', SW, 'static');
  t.is(twoForwarders.code, 0, 'static replaces the built-in learning forwarder');
  t.like(ext('learning'), { enabled: false, running: false, replacedBy: 'static' });
  t.is(d.xvs('extension', 'enable', SW, 'learning').code, 1, 'a second forwarding extension is refused');
  t.is(d.xvs('extension', 'disable', SW, 'static').code, 0);
  t.like(ext('learning'), { enabled: true, running: true });

  t.is(d.xvs('extension', 'order', SW, 'firewall', 'noop').code, 0);
  const p = d.json<PipelineView>('pipeline', 'show', SW);
  const at = (name: string): string[] | undefined => p.stages.find((s) => s.stage === name)?.extensions;
  t.deepEqual(at('ingress-filter'), ['firewall', 'noop']);
  t.deepEqual(at('egress-filter'), ['noop', 'firewall']);
  t.deepEqual(at('ingress-forward'), ['learning']);
  t.regex(d.xvs('pipeline', 'show', SW).out, /ingress\s+ingress-filter\s+firewall, noop[\s\S]*egress\s+egress-filter\s+noop, firewall/);
  t.regex(d.xvs('extension', 'describe', 'firewall').out, /\*\*Synopsis\*\*/);
});

test.serial('a reorder and a reconfigure during a ping flood lose no frame', async (t) => {
  const [a, b] = lab.hosts;
  t.true(lab.ping(a, b, 1));
  const flood = spawn('ip', ['netns', 'exec', a.ns, 'ping', '-f', '-c', '3000', '-W', '2', b.ip], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  flood.stdout!.on('data', (x: Buffer) => { out += x.toString(); });
  const done = new Promise<number>((r) => flood.once('exit', (c) => r(c ?? -1)));
  let changes = 0;
  for (let k = 0; k < 6; k++) {
    d.xvs('extension', 'order', SW, k % 2 ? 'firewall' : 'noop');
    d.xvs('extension', 'set', SW, 'firewall', '--config', `{"rules":[{"match":"ipv4.dst=10.79.0.${100 + k}","action":"deny"}]}`);
    changes += 2;
  }
  const code = await done;
  t.log(out.trim().split('\n').slice(-2).join(' | '));
  t.is(code, 0, out);
  t.regex(out, /3000 packets transmitted, 3000 received, 0% packet loss/);
  t.true(changes >= 12);
  t.true(d.json<PipelineView>('pipeline', 'show', SW).generation > 12);
});

test.serial('trace: synthetic frames (packet and hex) and live frames show every stage', async (t) => {
  const [a, b] = lab.hosts;
  lab.ping(b, a, 1);
  const packet = `eth(src=${a.mac},dst=${b.mac}),ipv4(src=${a.ip},dst=${b.ip}),tcp(src=1234,dst=80,flags=S)`;
  const [tr] = d.json<TraceView[]>('trace', SW, '--in', 'vm0', '--packet', packet);
  t.is(tr.verdict, 'forwarded');
  t.deepEqual(tr.destinations, ['vm1']);
  t.deepEqual(tr.steps.map((s) => `${s.group}:${s.stage}`), [
    'validate:validate', 'ingress-filter:firewall', 'ingress-filter:noop', 'ingress-policies:ingress-policies',
    'ingress-forward:learning', 'miniport:miniport', 'egress-forward:learning', 'egress-policies:egress-policies',
    'egress-filter:noop', 'egress-filter:firewall', 'transmit:transmit']);
  const denied = d.json<TraceView[]>('trace', SW, '--in', 'vm0', '--packet', packet.replace(b.ip, '10.79.0.105'))[0];
  t.is(denied.verdict, 'dropped');
  t.regex(denied.reason ?? '', /extension-drop/);
  t.regex(denied.steps.find((s) => s.stage === 'firewall')?.reason ?? '', /extension-drop/);
  const text = d.xvs('trace', SW, '--in', 'vm0', '--frame', '00'.repeat(10));
  t.regex(text.out, /validate.*drop \(runt\)/);
  const bad = d.xvs('trace', SW, '--in', 'vm0', '--packet', 'eth(src=zz)');
  t.is(bad.code, 1);
  t.regex(bad.err, /packet\.eth\.src/);

  const live = spawn('node', [path.join(dist, 'cli', 'main.js'), '--socket', d.sock, 'trace', SW, '--live', '--count', '2', '--match', `ipv4.dst=${b.ip}`, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let liveOut = '';
  let liveErr = '';
  live.stdout!.on('data', (x: Buffer) => { liveOut += x.toString(); });
  live.stderr!.on('data', (x: Buffer) => { liveErr += x.toString(); });
  for (let i = 0; i < 100 && !liveErr.includes('tracing'); i++) await new Promise((r) => setTimeout(r, 100)); // armed
  lab.ping(a, b, 3);
  await new Promise((r) => live.once('exit', r));
  const frames = liveOut.trim().split('\n').map((l) => JSON.parse(l) as TraceView); // one object per line, as each frame arrives
  t.is(frames.length, 2);
  t.regex(frames[0].packet, /icmp/);
  t.is(frames[0].inPort, 'vm0');
  t.deepEqual(frames[0].destinations, ['vm1']);
});

test.serial('crash isolation: a plug-in that throws is taken out, shown as failed; the switch keeps forwarding', async (t) => {
  const [a, b] = lab.hosts;
  // a manifest beside the fixture: main stays inside the plug-in directory (extensions/trust.ts)
  // (kept until the end: the restart test restores it)
  const manifest = fixtureManifest(path.join(dist, 'pipeline', 'fixtures', 'thrower.js'), { name: 'thrower' });
  removeManifest = manifest.remove;
  t.is(d.xvs('extension', 'install', manifest.file).code, 0);
  t.is(d.xvs('extension', 'set', SW, 'thrower', 'after=2', '--on-error', 'bypass').code, 0);
  t.is(d.xvs('extension', 'enable', SW, 'thrower').code, 0);
  t.true(lab.ping(a, b, 5), 'ping works while and after the extension throws');
  const th = ext('thrower');
  t.truthy(th.failure, 'the failure is shown');
  t.regex(th.failure!.error, /boom/);
  t.false(th.running);
  t.true(th.counters.errors >= 1);
  t.regex(d.xvs('extension', 'list', SW).out, /thrower.*FAILED.*boom/);
  await new Promise((r) => setTimeout(r, 300)); // let the daemon's stderr reach us (spawnSync blocked the loop)
  t.regex(d.log, /thrower.*boom/, 'and logged');
  t.true(lab.ping(b, a, 2));
  t.is(d.xvs('extension', 'disable', SW, 'thrower').code, 0);
});

test.serial('extension configuration and plug-ins survive a daemon restart', async (t) => {
  const before = list().map((e) => ({ name: e.name, enabled: e.enabled, config: e.config, onError: e.onError }));
  await d.stop();
  await d.start();
  const after = list().map((e) => ({ name: e.name, enabled: e.enabled, config: e.config, onError: e.onError }));
  t.deepEqual(after, before);
  t.truthy(after.find((e) => e.name === 'thrower'), 'the plug-in was installed again');
  t.true(lab.ping(lab.hosts[0], lab.hosts[1], 2));
  execFileSync('true');
});
