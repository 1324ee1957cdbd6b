/**
 * `xvs trace` through the real daemon and CLI on real namespaces: a live trace prints each frame as
 * it arrives (read from the CLI's stdout while it still runs), says so and exits non-zero when nothing
 * matched within --wait (seconds), and every verdict names the stage and reason that decided it,
 * including a destination whose link is down.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { CLI, TestDaemon } from '../src/test-support/daemon.js';
import type { PortView } from '../src/control/protocol.js';
import type { TraceView } from '../src/switch/manager-api.js';

const P = testPrefix('tl');
const SW = `${P}s`;
const SUBNET = '10.79.1';
let d: TestDaemon;
let lab: NetLab;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** wait (bounded) until `cond` holds; returns whether it did */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (cond()) return true;
    await sleep(100);
  }
  return cond();
}

test.before(async () => {
  lab = new NetLab(P);
  for (const i of [0, 1, 2]) lab.addHost(i, { subnet: SUBNET });
  d = new TestDaemon();
  await d.start();
  const ok = (r: { code: number; err: string }): void => { if (r.code !== 0) throw new Error(r.err); };
  ok(d.xvs('switch', 'create', SW, '--type', 'private'));
  for (const [i, h] of lab.hosts.entries()) ok(d.xvs('port', 'add', SW, `vm${i}`, '--netdev', h.peer));
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

test.serial('a live trace prints a frame as soon as it passes, before the trace ends', async (t) => {
  const [a, b] = lab.hosts;
  const live = spawn('node', [CLI, '--socket', d.sock, 'trace', SW, '--live', '--count', '2', '--wait', '60', '--match', `ipv4.dst=${b.ip},icmp`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (live.exitCode === null && live.pid) process.kill(live.pid, 'SIGKILL'); });
  let stdout = '';
  let stderr = '';
  live.stdout.on('data', (x: Buffer) => { stdout += x.toString(); });
  live.stderr.on('data', (x: Buffer) => { stderr += x.toString(); });
  t.true(await until(() => /tracing/.test(stderr), 10_000), `the trace is armed: ${stderr}`);
  t.true(lab.ping(a, b, 1), 'one echo request to b (the reply does not match)');
  const first = await until(() => /verdict:/.test(stdout), 10_000);
  t.true(first, `the first frame is printed while the trace waits for the second (stdout: ${JSON.stringify(stdout)}, stderr: ${stderr})`);
  t.is(live.exitCode, null, 'and the trace is still running then');
  t.regex(stdout, /frame on vm0: .*icmp/);
  t.regex(stdout, /verdict: forwarded to vm1/);
  lab.ping(a, b, 1);
  const code = await new Promise<number | null>((r) => { if (live.exitCode !== null) r(live.exitCode); else live.once('exit', r); });
  t.is(code, 0);
  t.is(stdout.match(/^frame on /gm)?.length, 2, 'two frames in all');
});

test.serial('nothing matching within --wait seconds: a message and a non-zero exit', async (t) => {
  const started = Date.now();
  const r = d.xvs('trace', SW, '--live', '--wait', '1', '--match', 'ipv4.dst=10.79.1.250');
  t.is(r.code, 1);
  t.regex(r.err, /no matching frame passed within 1 s/);
  t.is(r.out, '');
  t.true(Date.now() - started < 30_000, '--wait is seconds, not milliseconds or minutes');
  const noPort = d.xvs('trace', SW, '--live', '--in', 'nosuch', '--wait', '1');
  t.is(noPort.code, 1);
  t.regex(noPort.err, /no port "nosuch"/);
  const bad = d.xvs('trace', SW, '--live', '--wait', '0');
  t.is(bad.code, 1);
  t.regex(bad.err, /--wait: expected seconds/);
});

test.serial('a firewall drop names the stage and the rule that decided it', (t) => {
  const [a, b, c] = lab.hosts;
  t.is(d.xvs('extension', 'set', SW, 'firewall', '--config', JSON.stringify({ rules: [{ match: `ipv4.dst=${c.ip}`, action: 'deny' }] })).code, 0);
  t.is(d.xvs('extension', 'enable', SW, 'firewall').code, 0);
  t.teardown(() => { d.xvs('extension', 'disable', SW, 'firewall'); });
  const packet = `eth(src=${a.mac},dst=${c.mac}),ipv4(src=${a.ip},dst=${c.ip}),udp(dst=53)`;
  const r = d.xvs('trace', SW, '--in', 'vm0', '--packet', packet);
  t.is(r.code, 0);
  t.regex(r.out, /^verdict: dropped by filter firewall \(ingress\): rule 0 \(extension-drop\)$/m);
  const [json] = d.json<TraceView[]>('trace', SW, '--in', 'vm0', '--packet', packet);
  t.regex(json.summary, /^dropped by filter firewall \(ingress\): rule 0/);
  const ok = d.json<TraceView[]>('trace', SW, '--in', 'vm0', '--packet', packet.replaceAll(c.ip, b.ip).replace(c.mac, b.mac))[0];
  t.regex(ok.summary, /^forwarded to vm1$/);
  const runt = d.xvs('trace', SW, '--in', 'vm0', '--frame', '00'.repeat(10));
  t.regex(runt.out, /^verdict: dropped by stage validate \(ingress\): runt$/m);
});

test.serial('a destination whose link is down is explained', async (t) => {
  const [a, , c] = lab.hosts;
  t.true(lab.ping(a, c, 1), 'the switch learns c on vm2');
  lab.exec(c, ['ip', 'link', 'set', c.dev, 'down']);
  t.teardown(() => { lab.exec(c, ['ip', 'link', 'set', c.dev, 'up'], { allowFail: true }); });
  const down = await until(() => d.json<PortView>('port', 'show', SW, 'vm2').up === false, 10_000);
  t.true(down, 'the daemon sees vm2 down');
  const packet = `eth(src=${a.mac},dst=${c.mac}),ipv4(src=${a.ip},dst=${c.ip}),udp(dst=53)`;
  const r = d.xvs('trace', SW, '--in', 'vm0', '--packet', packet);
  t.regex(r.out, /^verdict: dropped: destination vm2 is link-down/m);
  t.regex(r.out, /link down: vm2/);
});
