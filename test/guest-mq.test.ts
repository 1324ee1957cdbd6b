/**
 * Guest multi-queue through the real daemon and CLI (docs/QUEUES.md "Guest multi-queue"):
 *   - `xvs port add SW PORT --queues N` refuses 0, 17 and a netdev port naming `params.queues`, creates a
 *     multi-queue TAP, prints the QEMU arguments, persists `queues`, and a restarted daemon restores it;
 *     `--may-exist` with other queues is refused; a document edited to 1 queue while the daemon was down
 *     gets xvs's TAP recreated single-queue at the start, and `config apply` back to 2 recreates the port;
 *   - QEMU without `queues` cannot attach to that TAP (why 1 queue keeps a single-queue TAP);
 *   - one QEMU VM (TCG, 2 vCPUs, `queues=2 … mq=on,vectors=6`) on the port: the guest sets
 *     `ethtool -L eth0 combined 2`; each vCPU pings a namespace on a veth port (virtio-net's XPS: CPU q
 *     transmits on queue q) and the namespace sends 16 UDP flows to the guest, which the TAP spreads over
 *     its queues by flow hash. The guest's `ethtool -S` counters show both queues received and sent, every
 *     ping of both CPUs was answered and all 16 datagrams arrived: the switch, which reaches the TAP through
 *     AF_PACKET on its netdev, saw and delivered the frames of both queues.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { XvsConfig } from '../src/config/types.js';
import type { PortDetail } from '../src/control/protocol.js';
import { NetLab, sh, testPrefix } from '../src/lab/netlab.js';
import { startVm, vmImagePaths, type VmHandle } from '../src/lab/vm.js';
import { repoRoot } from '../src/repo-root.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('gq');
const SW = `${P}s`;
const TAP = `${P}t`;
const VM_MAC = '52:54:00:67:71:01';
const VM_IP = '10.77.0.60';
const FLOWS = 16;
const hasQemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;

let lab: NetLab;
let d: TestDaemon;
const vms: VmHandle[] = [];

const ok = (...args: string[]): string => {
  const r = d.xvs(...args);
  if (r.code !== 0) throw new Error(`xvs ${args.join(' ')}: ${r.err}`);
  return r.out;
};
interface TunInfo { multi_queue: boolean; numqueues: number; persist: boolean }
const tunInfo = (dev: string): TunInfo =>
  (JSON.parse(sh('ip', ['-d', '-j', 'link', 'show', 'dev', dev])) as { linkinfo: { info_data: TunInfo } }[])[0]!.linkinfo.info_data;

test.before(async () => {
  lab = new NetLab(P);
  lab.addHost(0);
  d = new TestDaemon();
  await d.start();
  ok('switch', 'create', SW, '--type', 'private');
  ok('port', 'add', SW, lab.hosts[0].peer, '--netdev', lab.hosts[0].peer);
});

test.after.always(async () => {
  await Promise.all(vms.map((v) => v.stop(1000)));
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

test.serial('port add --queues: checked naming the field, a multi-queue TAP, the QEMU arguments printed, persisted, restored by a restart', async (t) => {
  for (const [args, msg] of [
    [['--queues', '0'], /params\.queues: expected an integer in 1\.\.16, got 0/],
    [['--queues', '17'], /params\.queues: expected an integer in 1\.\.16, got 17/],
    [['--queues', 'two'], /--queues: expected a number/],
    [['--queues', '2', '--netdev', lab.hosts[0].dev], /params\.queues: only a TAP port has queues/],
  ] as const) {
    const r = d.xvs('port', 'add', SW, TAP, ...args);
    t.not(r.code, 0, args.join(' '));
    t.regex(r.err, msg);
  }
  t.false(spawnSync('ip', ['link', 'show', 'dev', TAP], { stdio: 'ignore' }).status === 0, 'nothing was created');

  const out = ok('port', 'add', SW, TAP, '--queues', '2');
  t.true(out.includes(`QEMU: -netdev tap,id=net-${TAP},ifname=${TAP},script=no,downscript=no,queues=2,vhost=off ` +
    `-device virtio-net-pci,netdev=net-${TAP},mq=on,vectors=6\n`), out);
  t.true(out.includes('in the guest: ethtool -L eth0 combined 2'), out);
  t.like(tunInfo(TAP), { multi_queue: true, persist: true });

  const saved = JSON.parse(readFileSync(d.conf, 'utf8')) as XvsConfig;
  t.deepEqual(saved.switches[0]?.ports.find((p) => p.name === TAP), { name: TAP, queues: 2 });
  t.regex(ok('port', 'show', SW, TAP), /queues:\s+2\n/);
  const again = d.xvs('port', 'add', SW, TAP, '--queues', '3', '--may-exist');
  t.regex(again.err, /params\.queues: port "xtgq\d+t" exists on switch "xtgq\d+s" with 2 queue\(s\), not 3/);
  t.is(d.xvs('port', 'add', SW, TAP, '--queues', '2', '--may-exist').code, 0);

  await d.stop();
  t.like(tunInfo(TAP), { multi_queue: true }, 'the TAP stays while the daemon is down');
  await d.start();
  t.is(d.json<PortDetail>('port', 'show', SW, TAP).config?.queues, 2);
  t.true(d.json<PortDetail>('port', 'show', SW, TAP).running);
  t.like(tunInfo(TAP), { multi_queue: true });

  // the document edited while the daemon was down (queues gone = 1): xvs's own, unheld TAP is recreated
  await d.stop();
  const doc = JSON.parse(readFileSync(d.conf, 'utf8')) as XvsConfig;
  const port = doc.switches[0]!.ports.find((p) => p.name === TAP)!;
  delete port.queues;
  writeFileSync(d.conf, JSON.stringify(doc));
  await d.start();
  t.regex(d.log, /recreated TAP xtgq\d+t single-queue for 1 queue\(s\)/);
  t.like(tunInfo(TAP), { multi_queue: false, persist: true });
  t.true(d.json<PortDetail>('port', 'show', SW, TAP).running);

  // and `config apply` with queues 2 recreates the port (remove, add) on a multi-queue TAP
  port.queues = 2;
  const file = path.join(d.dir, 'queues2.json');
  writeFileSync(file, JSON.stringify(doc));
  t.regex(ok('config', 'apply', file), /applied 2 changes/);
  t.like(tunInfo(TAP), { multi_queue: true, persist: true });
  t.is(d.json<PortDetail>('port', 'show', SW, TAP).config?.queues, 2);
});

if (!hasQemu) {
  test('guest multi-queue VM: skipped, qemu-system-x86_64 is not installed (scripts/setup.sh installs it)', (t) => t.pass());
} else {
  test.serial('a 2-vCPU VM with queues=2, mq=on uses both queues through xvs', async (t) => {
    sh('bash', [path.join(repoRoot, 'scripts', 'vm-image.sh')], { timeout: 600_000 });
    vmImagePaths();
    const common = { tap: TAP, mac: VM_MAC, ip: `${VM_IP}/24`, peer: lab.hosts[0].ip } as const;

    // QEMU asks for IFF_MULTI_QUEUE exactly when queues > 1; the kernel refuses a flag that differs from the TAP's
    const single = startVm({ ...common, name: `${P}-1q`, run: 'idle', timeoutMs: 20_000 });
    vms.push(single);
    t.not(await single.done, 0);
    t.regex(single.stderr(), /could not configure \/dev\/net\/tun \(xtgq\d+t\): Invalid argument/);

    const vm = startVm({
      ...common, name: `${P}-mq`, run: 'mq', cpus: 2, queues: 2,
      extra: { queues: '2', flows: String(FLOWS), wait: '40', timeout: '150' }, timeoutMs: 180_000,
    });
    vms.push(vm);
    t.true(vm.args.includes(`tap,id=n0,ifname=${TAP},script=no,downscript=no,queues=2,vhost=off`), vm.args.join(' '));
    t.true(vm.args.includes(`virtio-net-pci,netdev=n0,mac=${VM_MAC},mq=on,vectors=6`), vm.args.join(' '));
    const channels = await vm.waitResult('channels', 150_000);
    t.true(channels.ok, channels.line);
    t.like(channels.fields, { combined: '2', max: '2', cpus: '2' });
    t.log(channels.line);
    await vm.waitFor(/XVS-STATE ready/, 30_000);
    t.is(tunInfo(TAP).numqueues, 2, 'QEMU holds two queues of the TAP');

    // the namespace resolves the VM (ARP) and sends one datagram per flow, each from its own source port
    lab.exec(lab.hosts[0], ['ping', '-c', '1', '-W', '5', VM_IP]);
    lab.exec(lab.hosts[0], ['sh', '-c',
      `for p in $(seq 41001 ${41000 + FLOWS}); do echo flow | socat -u - UDP4-SENDTO:${VM_IP}:9,sourceport=$p; done`]);

    const q = await vm.waitResult('queues', 60_000);
    t.log(q.line);
    const n = (k: string): number => Number(q.fields[k] ?? NaN);
    for (const queue of [0, 1]) {
      t.true(n(`rx${queue}`) > 0, `queue ${queue} received frames (${q.line})`);
      t.true(n(`tx${queue}`) > 0, `queue ${queue} sent frames (${q.line})`);
      t.is(n(`pong${queue}`), 3, `every ping of CPU ${queue} was answered`);
      t.is(parseInt(q.fields[`xps${queue}`] ?? '', 16), 1 << queue, `CPU ${queue} transmits on queue ${queue}`);
    }
    t.is(n('noports'), FLOWS, 'every flow reached the guest');
    t.true(q.ok, q.line);

    const port = d.json<PortDetail>('port', 'show', SW, TAP);
    t.true((port.stats?.rxPackets ?? 0) >= 6, 'the switch received the pings of both CPUs from the TAP');
    t.true((port.stats?.txPackets ?? 0) >= FLOWS, 'and sent the flows to it');
    t.is(await vm.done, 0);
  });
}
