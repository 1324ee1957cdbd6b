/**
 * HNV policy objects through the real daemon and CLI (docs/HNV.md "Policy objects, CLI and API"): an
 * external switch on our own veth carries a PA; lookup records and customer routes are added with
 * `xvs hnv …`, `hnv show --json` lists them (local / remote), bad input is refused with the field named and
 * the config file unchanged, a restart restores them, a VSID port's netdev gets the overlay MTU (1450 for
 * VXLAN, 1458 for NVGRE on a 1500 uplink) and gets its MTU back when the VSID goes.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetLab, sh, testPrefix, type Host } from '../src/lab/netlab.js';
import { CLI, TestDaemon } from '../src/test-support/daemon.js';
import type { HnvShowResult, PortDetail } from '../src/control/protocol.js';

const P = testPrefix('hc');
const SW = `${P}s`;
/** the uplink veth (its peer stays in the root namespace, standing for the underlay) */
const UPLINK = `${P}u`;
const UNDERLAY = `${P}w`;
/** a TAP port xvs creates */
const TAP = `${P}t`;
let d: TestDaemon;
let lab: NetLab;
let vm: Host;

const mtuOf = (dev: string): number => Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8').trim());

test.before(async () => {
  lab = new NetLab(P);
  sh('ip', ['link', 'add', UPLINK, 'type', 'veth', 'peer', 'name', UNDERLAY]);
  for (const dev of [UPLINK, UNDERLAY]) {
    sh('sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`], { allowFail: true });
    sh('ip', ['link', 'set', dev, 'up']);
  }
  vm = lab.addHost(1);
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

test.serial('PAs, records and routes through the CLI: listed, refused with the field named, restored after a restart; VSID ports get the overlay MTU', async (t) => {
  const ok = (...args: string[]): string => {
    const r = d.xvs(...args);
    t.is(r.code, 0, `xvs ${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  ok('switch', 'create', SW, '--type', 'external', '--uplink', UPLINK);
  ok('port', 'add', SW, TAP);
  ok('port', 'add', SW, 'vmv', '--netdev', vm.peer);
  t.is(mtuOf(TAP), 1500);

  t.regex(ok('hnv', 'pa', 'add', SW, '--address', '192.0.2.10/24', '--gateway', '192.0.2.1'), /added provider address 192\.0\.2\.10\/24/);
  ok('hnv', 'record', 'add', '--ca', '10.1.0.5', '--vsid', '5001', '--mac', '02-00-00-00-50-01', '--pa', '192.0.2.10', '--encap', 'vxlan');
  ok('hnv', 'record', 'add', '--ca', '10.1.0.6', '--vsid', '5001', '--mac', '02:00:00:00:50:02', '--pa', '192.0.2.20', '--encap', 'vxlan');
  ok('hnv', 'record', 'add', '--ca', '10.2.0.5', '--vsid', '5002', '--mac', '02:00:00:00:60:01', '--pa', '192.0.2.10', '--encap', 'nvgre');
  ok('hnv', 'route', 'add', '--routing-domain', 'tenant-a', '--vsid', '5001', '--prefix', '10.1.0.0/24', '--next-hop', '0.0.0.0');
  ok('hnv', 'route', 'add', '--routing-domain', 'tenant-a', '--vsid', '5002', '--prefix', '10.2.0.0/24', '--next-hop', '0.0.0.0');
  // the same VSID and CA again: a move to another PA, replacing
  t.regex(ok('hnv', 'record', 'add', '--ca', '10.1.0.6', '--vsid', '5001', '--mac', '02:00:00:00:50:02', '--pa', '192.0.2.30', '--encap', 'vxlan'), /^replaced lookup record/);

  ok('port', 'set', SW, TAP, '--virtual-subnet-id', '5001');
  ok('port', 'set', SW, 'vmv', '--virtual-subnet-id', '5002');
  t.is(mtuOf(TAP), 1450, 'a VXLAN VSID on a 1500 uplink: 1450');
  t.is(mtuOf(vm.peer), 1500, 'a veth port end is left as it is (the kernel veth would drop a VM’s full-size frames before the switch sees them); hnv show gives the VSID MTU 1458');
  t.is(d.json<PortDetail>('port', 'show', SW, TAP).mtu, 1450);
  t.regex(ok('port', 'show', SW, TAP), /mtu:\s+1450[\s\S]*virtual-subnet-id:\s+5001/);

  const check = (s: HnvShowResult, when: string): void => {
    t.deepEqual(s.source, { source: 'local', connected: true }, when);
    t.deepEqual(s.providerAddresses.map((p) => [p.switch, p.address, p.prefixLength, p.gateway, p.local]), [[SW, '192.0.2.10', 24, '192.0.2.1', true]], when);
    t.deepEqual(s.lookupRecords.map((r) => [r.vsid, r.ca, r.mac, r.pa, r.encap, r.location]), [
      [5001, '10.1.0.5', '02:00:00:00:50:01', '192.0.2.10', 'vxlan', 'local'],
      [5001, '10.1.0.6', '02:00:00:00:50:02', '192.0.2.30', 'vxlan', 'remote'],
      [5002, '10.2.0.5', '02:00:00:00:60:01', '192.0.2.10', 'nvgre', 'local'],
    ], when);
    t.deepEqual(s.customerRoutes.map((r) => [r.routingDomain, r.vsid, r.prefix, r.nextHop]), [['tenant-a', 5001, '10.1.0.0/24', '0.0.0.0'], ['tenant-a', 5002, '10.2.0.0/24', '0.0.0.0']], when);
    t.deepEqual(s.vsids.map((v) => [v.vsid, v.routingDomain, v.records, v.ports, v.mtu]), [[5001, 'tenant-a', 2, [`${SW}/${TAP}`], 1450], [5002, 'tenant-a', 1, [`${SW}/vmv`], 1458]], when);
  };
  check(d.json<HnvShowResult>('hnv', 'show'), 'before the restart');
  t.regex(ok('hnv', 'show'), /source: the local configuration document[\s\S]*Lookup records[\s\S]*10\.1\.0\.6 .*remote/);

  // bad input: refused, the field named, the file unchanged
  const before = readFileSync(d.conf, 'utf8');
  const bad = (expect: RegExp, ...args: string[]): void => {
    const r = d.xvs(...args);
    t.is(r.code, 1, `xvs ${args.join(' ')} is refused`);
    t.regex(r.err, expect);
  };
  bad(/params\.vsid: expected 4096\.\.16777214, got 12/, 'hnv', 'record', 'add', '--ca', '10.1.0.7', '--vsid', '12', '--mac', '02:00:00:00:50:07', '--pa', '192.0.2.10', '--encap', 'vxlan');
  bad(/params\.encap: expected one of nvgre, vxlan, got "gre"/, 'hnv', 'record', 'add', '--ca', '10.1.0.7', '--vsid', '5001', '--mac', '02:00:00:00:50:07', '--pa', '192.0.2.10', '--encap', 'gre');
  bad(/params\.mac: 01:00:5e:00:00:07 is a multicast address/, 'hnv', 'record', 'add', '--ca', '10.1.0.7', '--vsid', '5001', '--mac', '01:00:5e:00:00:07', '--pa', '192.0.2.10', '--encap', 'vxlan');
  bad(/params\.ca: 10\.1\.0\.5 has a record in routing domain "tenant-a" already/, 'hnv', 'record', 'add', '--ca', '10.1.0.5', '--vsid', '5002', '--mac', '02:00:00:00:60:09', '--pa', '192.0.2.10', '--encap', 'nvgre');
  bad(/params\.gateway: 198\.51\.100\.1 is not in the PA's subnet 192\.0\.2\.11\/24/, 'hnv', 'pa', 'add', SW, '--address', '192.0.2.11/24', '--gateway', '198.51.100.1');
  bad(/params\.prefix: "10\.3\.0\.1\/24" has host bits set/, 'hnv', 'route', 'add', '--routing-domain', 'tenant-a', '--vsid', '5003', '--prefix', '10.3.0.1/24', '--next-hop', '0.0.0.0');
  bad(/params\.virtualSubnetId: expected 4096\.\.16777214, got 7/, 'port', 'set', SW, TAP, '--virtual-subnet-id', '7');
  bad(/params: no lookup record of VSID 5001 with CA 10\.1\.0\.99 \(key 5001\|ca\|10\.1\.0\.99\)/, 'hnv', 'record', 'remove', '--vsid', '5001', '--ca', '10.1.0.99');
  bad(/params\.name: switch ".*" carries HNV provider addresses/, 'switch', 'delete', SW);
  t.is(readFileSync(d.conf, 'utf8'), before, 'the config file is unchanged by refused requests');
  t.regex(ok('hnv', 'record', 'remove', '--vsid', '5001', '--ca', '10.1.0.99', '--if-exists'), /unchanged/);

  // a restart restores the objects and the MTUs
  await d.stop();
  await d.start();
  check(d.json<HnvShowResult>('hnv', 'show'), 'after the restart');
  t.is(mtuOf(TAP), 1450);

  // the VSID goes: the netdevs get their MTU from before back
  ok('port', 'set', SW, TAP, '--virtual-subnet-id', 'default');
  ok('port', 'set', SW, 'vmv', '--virtual-subnet-id', 'default');
  t.is(mtuOf(TAP), 1500);
  t.is(mtuOf(vm.peer), 1500);
  ok('hnv', 'record', 'remove', '--vsid', '5001', '--ca', '10.1.0.6');
  t.deepEqual(d.json<HnvShowResult>('hnv', 'show').lookupRecords.map((r) => r.ca), ['10.1.0.5', '10.2.0.5']);
  ok('hnv', 'pa', 'remove', SW, '--address', '192.0.2.10');
  t.deepEqual(d.json<unknown[]>('hnv', 'pa', 'list'), []);
});

test.serial('the daemon refuses a bad --etcd endpoint or --hnv-host, naming the flag', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xhc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const daemon = (...args: string[]) => spawnSync('node', [CLI, 'daemon', '--config', path.join(dir, 'c.json'), '--socket', path.join(dir, 's.sock'), ...args], { encoding: 'utf8', timeout: 30_000 });
  const e = daemon('--etcd', 'http://127.0.0.1:2379,127.0.0.1:2380');
  t.is(e.status, 1);
  t.regex(e.stderr, /--etcd\[1\]: expected an http\(s\) URL such as http:\/\/127\.0\.0\.1:2379, got "127\.0\.0\.1:2380"/);
  const h = daemon('--hnv-host', 'a b');
  t.is(h.status, 1);
  t.regex(h.stderr, /--hnv-host: expected a host name/);
});
