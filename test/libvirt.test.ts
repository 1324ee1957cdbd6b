/**
 * A libvirt domain on an xvs VM port (issue 13 item 2), for real: Debian's libvirtd with the QEMU driver
 * (TCG), in a private instance (src/lab/libvirt.ts), defines and starts the lab image as a domain whose NIC
 * is exactly the `<interface type='ethernet'>` snippet `xvs port add` printed. Through the switch, a
 * namespace on a veth port pings the guest, downloads a file from it and uploads one into it (md5 checked
 * on both sides); the switch learned the guest's MAC on the TAP port; the TAP is held by libvirt's QEMU
 * (so `port remove` is refused) and is still the port after the domain is destroyed (managed='no').
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../src/repo-root.js';
import { libvirtInstalled, startLibvirtVm, startPrivateLibvirtd, type LibvirtVm, type PrivateLibvirtd } from '../src/lab/libvirt.js';
import { NetLab, sh, testPrefix } from '../src/lab/netlab.js';
import { vmImagePaths } from '../src/lab/vm.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('lv');
const SW = `${P}sw`;
const TAP = `${P}t`;
const VM_MAC = '52:54:00:6c:76:01';
const VM_IP = '10.77.0.60';
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

let lab: NetLab | undefined;
let d: TestDaemon | undefined;
let lv: PrivateLibvirtd | undefined;
let vm: LibvirtVm | undefined;
let tmp = '';
let portAddOut = '';

test.before(async () => {
  const inst = libvirtInstalled();
  if (!inst.ok) throw new Error(`libvirt is not installed: ${inst.why}`);
  sh('bash', [path.join(repoRoot, 'scripts', 'vm-image.sh')], { timeout: 600_000 });
  vmImagePaths();
  lab = new NetLab(P);
  lab.addHost(0);
  tmp = mkdtempSync(path.join(tmpdir(), 'xtlv-'));
  d = new TestDaemon();
  await d.start();
  const sw = d.xvs('switch', 'create', SW, '--type', 'private');
  if (sw.code !== 0) throw new Error(sw.err);
  const add = d.xvs('port', 'add', SW, TAP);
  if (add.code !== 0) throw new Error(add.err);
  portAddOut = add.out;
  const peer = d.xvs('port', 'add', SW, lab.hosts[0]!.peer, '--netdev', lab.hosts[0]!.peer);
  if (peer.code !== 0) throw new Error(peer.err);
  lv = await startPrivateLibvirtd(P);
});

test.after.always(async () => {
  vm?.destroy();
  await lv?.stop();
  await d?.destroy();
  lab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** the `<interface>` element `xvs port add` printed (its indented lines after the "libvirt" line) */
function printedInterface(out: string): string {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.startsWith('libvirt (in the domain'));
  if (at < 0) throw new Error(`port add printed no libvirt snippet:\n${out}`);
  const xml: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (!l.startsWith('  ')) break;
    xml.push(l.slice(2));
  }
  return xml.join('\n');
}

test.serial('`xvs port add` prints the libvirt interface for the TAP: type ethernet, managed no, virtio', (t) => {
  t.is(printedInterface(portAddOut), [
    "<interface type='ethernet'>",
    `  <target dev='${TAP}' managed='no'/>`,
    "  <model type='virtio'/>",
    '</interface>',
  ].join('\n'));
  t.regex(portAddOut, new RegExp(`QEMU: -netdev tap,id=net-${TAP},ifname=${TAP},`));
});

test.serial('a libvirt domain on the port: ping, a download from the guest and an upload into it through xvs (md5 both ways)', async (t) => {
  const h = lab!.hosts[0]!;
  vm = startLibvirtVm(lv!, {
    name: `${P}-dom`, interfaceXml: printedInterface(portAddOut), mac: VM_MAC, ip: `${VM_IP}/24`, peer: h.ip, run: 'serve',
    extra: { size: String(1024 * 1024 + Math.floor(Math.random() * 512 * 1024)), 'http-port': '8080' }, define: true,
  });
  t.regex(lv!.virsh('list', '--all', '--persistent', '--name'), new RegExp(`^${P}-dom$`, 'm'), 'the domain is defined');
  t.true(vm.running(), 'libvirt lists the domain as running');
  const served = await vm.waitResult('serve-file', 90_000);
  await vm.waitFor(/XVS-STATE ready/, 30_000);
  // the domain's QEMU (started by libvirtd, the TAP opened by libvirtd and passed to it) is what holds the port's TAP
  const args = lv!.virsh('dumpxml', `${P}-dom`);
  t.regex(args, new RegExp(`<target dev='${TAP}' managed='no'/>`), 'the live domain uses the TAP xvs made');

  t.true(lab!.ping(h, { ...h, ip: VM_IP }, 3), 'the namespace pings the libvirt guest through xvs');

  // download from the guest (the guest sends TSO/partial-checksum frames through the virtio-net header)
  const got = path.join(tmp, 'got');
  lab!.exec(h, ['busybox', 'wget', '-q', '-O', got, `http://${VM_IP}:8080/data`], { timeout: 60_000 });
  const gotBytes = readFileSync(got);
  t.is(String(gotBytes.length), served.fields['bytes']);
  t.is(md5(gotBytes), served.fields['md5'], 'downloaded file matches the guest\'s md5');

  // upload into the guest (GSO frames from the veth reach it whole or segmented as the TAP needs)
  const push = randomBytes(1024 * 1024 + Math.floor(Math.random() * 256 * 1024));
  const f = path.join(tmp, 'push');
  writeFileSync(f, push);
  lab!.exec(h, ['sh', '-c', `busybox nc ${VM_IP} 5001 < ${f}`], { timeout: 60_000 });
  const sink = await vm.waitResult('sink', 60_000);
  t.is(sink.fields['bytes'], String(push.length));
  t.is(sink.fields['md5'], md5(push), 'the guest\'s md5 of the upload matches');

  // the switch learned the guest's MAC on the TAP port and counted its frames there
  const fdb = d!.json<Array<{ mac: string; port: string }>>('fdb', 'show', SW);
  t.is(fdb.find((e) => e.mac === VM_MAC)?.port, TAP, 'the guest MAC was learned on the TAP port');
  // (GSO frames: a megabyte is ~100 frames of up to 64 KiB each, so count bytes, not frames)
  const stats = d!.json<{ ports: Array<{ name: string; rxBytes: number; txBytes: number }> }>('stats', SW);
  const tapStats = stats.ports.find((p) => p.name === TAP);
  t.true((tapStats?.rxBytes ?? 0) > gotBytes.length, `the download went in at the TAP port: ${JSON.stringify(tapStats)}`);
  t.true((tapStats?.txBytes ?? 0) > push.length, `the upload went out at the TAP port: ${JSON.stringify(tapStats)}`);

  // libvirt's QEMU holds the TAP: the port cannot be pulled from under the running guest
  const rm = d!.xvs('port', 'remove', SW, TAP);
  t.not(rm.code, 0);
  t.regex(rm.err, /qemu|hold|held/i, rm.err);
});

test.serial('destroying the domain leaves the TAP to xvs (managed=no): still the port, and reusable by the next domain', async (t) => {
  t.truthy(vm, 'the previous test started the domain');
  vm!.destroy();
  for (let i = 0; i < 50 && vm!.running(); i++) await new Promise((r) => setTimeout(r, 100));
  t.false(vm!.running());
  t.true(existsSync(`/sys/class/net/${TAP}`), 'libvirt did not delete the TAP');
  const ports = d!.json<Array<{ name: string }>>('port', 'list', SW);
  t.true(ports.some((p) => p.name === TAP));
  // a second (transient) domain on the same port pings through the switch (libvirt reopened the TAP xvs keeps)
  const h = lab!.hosts[0]!;
  vm = startLibvirtVm(lv!, {
    name: `${P}-dom2`, interfaceXml: printedInterface(portAddOut), mac: VM_MAC, ip: `${VM_IP}/24`, peer: h.ip, run: 'ping', extra: { count: '3' },
  });
  const r = await vm.waitResult('ping', 90_000);
  t.is(r.status, 'ok', r.line);
  t.is(r.fields['received'], '3');
});
