/**
 * Extended port ACLs with real TCP and UDP between two network namespaces (issue 10 item 5), through
 * the real daemon and CLI (`xvs acl extended add`, `xvs stats --json`). The switch has two
 * data-path workers: the VM's port is received by one and the peer's by the other, so a reply is
 * judged by another worker than the one whose stateful rule made its flow state — the shared flow
 * table at work.
 *
 * The VM port has Microsoft's pattern: deny all inbound at weight 1, and stateful outbound allows
 * for TCP to port 5201 and UDP to port 5301 with an idle timeout of 2 s. The VM's connections out
 * work; connections in from the peer fail (counted as `extended-acl` drops on the peer's port and
 * extendedAclInboundDenied on the VM's); a reply the server sends after 4 s of silence on the old
 * flow is dropped (the state expired), while an immediate reply on the same kind of flow arrives.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { NetLab, shAsync, testPrefix, type Host } from '../src/lab/netlab.js';
import type { PortStats, SwitchStats } from '../src/switch/manager-api.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('ea');
const SW = `${P}s`;
let lab: NetLab;
let d: TestDaemon;
let vm: Host;
let peer: Host;

/** deny all inbound; stateful outbound allows for TCP to 5201 and UDP to 5301 with idle timeout `idle` */
function setAcls(idle: number): void {
  for (const [weight, direction] of [[1, 'inbound'], [10, 'outbound'], [11, 'outbound']]) {
    d.xvs('acl', 'extended', 'remove', SW, 'vm', '--weight', String(weight), '--direction', String(direction));
  }
  const add = (...args: string[]): void => {
    const r = d.xvs('acl', 'extended', 'add', SW, 'vm', ...args);
    if (r.code !== 0) throw new Error(`acl extended add ${args.join(' ')}: ${r.err}`);
  };
  add('--action', 'deny', '--direction', 'inbound', '--weight', '1');
  add('--action', 'allow', '--direction', 'outbound', '--weight', '10', '--protocol', 'tcp', '--remote-port', '5201', '--stateful', '--idle-session-timeout', String(idle));
  add('--action', 'allow', '--direction', 'outbound', '--weight', '11', '--protocol', 'udp', '--remote-port', '5301', '--stateful', '--idle-session-timeout', String(idle));
}

/** a shell script inside a namespace: exit code and stdout */
function run(h: Host, script: string, timeoutMs = 30_000): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', h.ns, 'bash', '-c', script], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: r.stdout ?? '' };
}

/** `run` without blocking, for scripts that wait side by side */
const runAsync = (h: Host, script: string, timeoutMs = 30_000): Promise<{ code: number; out: string }> =>
  shAsync('ip', ['netns', 'exec', h.ns, 'bash', '-c', script], { timeout: timeoutMs });

const stats = (): SwitchStats => d.json<SwitchStats>('stats', SW);
function port(name: string): PortStats {
  const p = stats().ports.find((x) => x.name === name);
  if (!p) throw new Error(`no port ${name}`);
  return p;
}
const drops = (name: string): number => port(name).drops['extended-acl'] ?? 0;
const policy = (name: string, field: string): number => port(name).policy[field] ?? 0;

/** a socat server in h, listening before we go on */
async function server(h: Host, proto: 'tcp' | 'udp', listenPort: number, script: string): Promise<void> {
  const addr = proto === 'tcp' ? `TCP-LISTEN:${listenPort},reuseaddr,fork` : `UDP-RECVFROM:${listenPort},fork`;
  // -t 10: a UDP child keeps its socket for the late answer (socat closes 0.5 s after the datagram by default)
  lab.spawnIn(h, ['socat', '-t', '10', addr, `SYSTEM:${script}`]);
  for (let i = 0; i < 100; i++) {
    if (run(h, `ss -H -ln${proto === 'tcp' ? 't' : 'u'} sport = :${listenPort}`).out.trim() !== '') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proto} server on port ${listenPort} in ${h.ns} did not start`);
}

/** replies "reply-<line>", after 4 s when the line is "late" */
const REPLY = `'read l; if [ "$l" = late ]; then sleep 4; fi; echo "reply-$l"'`;

test.before(async () => {
  lab = new NetLab(P);
  vm = lab.addHost(1);
  peer = lab.addHost(2);
  d = new TestDaemon();
  await d.start();
  const ok = (...args: string[]): void => {
    const r = d.xvs(...args);
    if (r.code !== 0) throw new Error(`xvs ${args.join(' ')}: ${r.err}`);
  };
  ok('switch', 'create', SW, '--type', 'private', '--workers', '2');
  ok('port', 'add', SW, 'vm', '--netdev', vm.peer);
  ok('port', 'add', SW, 'peer', '--netdev', peer.peer);
  // a queue of its own for each port, one per worker (without a VMQ weight both would share the default queue)
  ok('port', 'set', SW, 'vm', '--vmq-weight', '50');
  ok('port', 'set', SW, 'peer', '--vmq-weight', '50');
  ok('vmq', 'pin', SW, 'vm', '--worker', '0');
  ok('vmq', 'pin', SW, 'peer', '--worker', '1');
  setAcls(2);
  await server(peer, 'tcp', 5201, REPLY);
  await server(peer, 'udp', 5301, REPLY);
  await server(vm, 'tcp', 5201, REPLY);
  await server(vm, 'udp', 5301, REPLY);
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

test.serial('TCP: the VM connects out; the peer cannot connect in; a reply after 4 s idle on the old flow is dropped', async (t) => {
  const soon = run(vm, `echo soon | timeout 10 socat -t 3 - TCP:${peer.ip}:5201,connect-timeout=5`);
  t.is(soon.out.trim(), 'reply-soon', 'the VM\'s connection out works (its replies pass the inbound deny-all)');
  t.true(policy('vm', 'flowsCreated') >= 1);
  const workers = stats().workers;
  t.is(workers.length, 2);
  t.true(workers.every((w) => w.batches > 0), 'both workers received (the VM\'s port on one, the peer\'s on the other)');

  const denied0 = drops('peer');
  const inbound = run(peer, `echo hi | timeout 10 socat -t 2 - TCP:${vm.ip}:5201,connect-timeout=3`);
  t.not(inbound.code, 0, 'a connection in from the peer fails');
  t.is(inbound.out, '');
  t.true(drops('peer') > denied0, 'its SYNs are counted as extended-acl drops on the peer\'s port');
  t.true(policy('vm', 'extendedAclInboundDenied') > 0);

  // the server answers 4 s after the request; the VM stays silent meanwhile (stdin held open, killed
  // at 7 s before it could send a FIN that would make a new state): the answer meets no state
  const before = drops('peer');
  const late = run(vm, `(echo late; sleep 10) | timeout 7 socat - TCP:${peer.ip}:5201,connect-timeout=5`);
  t.false(late.out.includes('reply-late'), `the late reply was dropped (got ${JSON.stringify(late.out)})`);
  t.true(drops('peer') > before, 'counted as extended-acl drops on the peer\'s port');
});

test.serial('UDP: the VM\'s request gets its reply; the peer cannot send in; a reply after 4 s idle is dropped', async (t) => {
  const soon = run(vm, `echo soon | timeout 10 socat -t 3 - UDP:${peer.ip}:5301,sourceport=40000`);
  t.is(soon.out.trim(), 'reply-soon');

  const before = drops('peer');
  const inbound = run(peer, `echo hi | timeout 10 socat -t 3 - UDP:${vm.ip}:5301,sourceport=40010`);
  t.is(inbound.out, '', 'the VM\'s server never got the datagram');
  t.true(drops('peer') > before, 'counted as an extended-acl drop');

  const before2 = drops('peer');
  const late = run(vm, `(echo late; sleep 10) | timeout 7 socat - UDP:${peer.ip}:5301,sourceport=40001`);
  t.false(late.out.includes('reply-late'), `the late reply was dropped (got ${JSON.stringify(late.out)})`);
  t.is(drops('peer'), before2 + 1, 'exactly the late datagram, counted on the peer\'s port');
  t.notRegex(d.log, /policy extended-acl/, 'no policy errors logged');
});

test.serial('control: with an idle timeout of 30 s the same late replies arrive (what dropped them was the expiry)', async (t) => {
  setAcls(30);
  const list = d.json<{ weight: number; stateful?: boolean; idleSessionTimeout?: number }[]>('acl', 'extended', 'list', SW, 'vm');
  t.deepEqual(list.filter((e) => e.stateful).map((e) => [e.weight, e.idleSessionTimeout]).sort(), [[10, 30], [11, 30]]);
  const before = drops('peer');
  // both at once (each waits out its 7 s): the flows are independent states
  const [tcp, udp] = await Promise.all([
    runAsync(vm, `(echo late; sleep 10) | timeout 7 socat - TCP:${peer.ip}:5201,connect-timeout=5`),
    runAsync(vm, `(echo late; sleep 10) | timeout 7 socat - UDP:${peer.ip}:5301,sourceport=40002`),
  ]);
  t.is(tcp.out.trim(), 'reply-late');
  t.is(udp.out.trim(), 'reply-late');
  t.is(drops('peer'), before, 'nothing dropped');
});
