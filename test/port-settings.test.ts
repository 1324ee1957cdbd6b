/**
 * Issue 10's per-port settings through the real daemon and CLI (a private switch with TAP ports; no traffic):
 * every setting set with `xvs port set` / `port vlan` / `acl` / `acl extended` / `port feature`, read back by
 * `port show --json` exactly as set, applied again by `config apply` as no change, persisted and restored by a
 * restarted daemon; bad values refused with the field named and nothing changed; ACL entries added, listed and
 * removed as Hyper-V's cmdlets do (extended ones keyed by weight and direction); `port meter` reports every meter
 * entry and `--reset` starts a new baseline.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanPrefix, testPrefix } from '../src/lab/netlab.js';
import { fromRoot } from '../src/repo-root.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { trustedPluginDir } from '../src/test-support/trusted-dir.js';
import type { PortConfig, XvsConfig } from '../src/config/types.js';
import type { MeterReport } from '../src/switch/manager-api.js';

const P = testPrefix('ps');
const SW = `${P}s`;
const A = `${P}a`;
const B = `${P}b`;
let d: TestDaemon;
/** examples/port-guard: an extension that declares port features (blocked, locked), so `port feature set` has one to set */
let plugin: { dir: string; remove: () => void };

const show = (port: string): PortConfig => d.json<{ config: PortConfig }>('port', 'show', SW, port).config;
const ok = (...args: string[]): string => {
  const r = d.xvs(...args);
  if (r.code !== 0) throw new Error(`xvs ${args.join(' ')}: ${r.err}`);
  return r.out;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** what every setting was set to (normalized: MAC with colons, lists sorted, bandwidth a multiple of 8) */
const EXPECTED_A: PortConfig = {
  name: A,
  macLimit: 64,
  macAddressSpoofing: true,
  dhcpGuard: true,
  routerGuard: true,
  stormLimit: 1000,
  maximumBandwidth: 100_000_000,
  maximumBandwidthBurst: 65536,
  minimumBandwidthWeight: 30,
  portMirroring: 'source',
  staticMacAddress: '52:54:00:aa:bb:01',
  vlan: { mode: 'trunk', allowedVlanIds: '1-100,200', nativeVlanId: 10 },
  acls: [
    { action: 'deny', direction: 'both', remoteIPAddress: '10.0.0.0/8' },
    { action: 'allow', direction: 'inbound', remoteIPAddress: '10.1.0.0/16' },
    { action: 'meter', direction: 'both', remoteIPAddress: '0.0.0.0/0' },
    { action: 'meter', direction: 'outbound', localIPAddress: 'f001::/64' },
    { action: 'deny', direction: 'outbound', remoteMacAddress: '00:ab:00:11:22:33' },
  ],
  extendedAcls: [
    { action: 'allow', direction: 'inbound', weight: 10, protocol: 'tcp', localPort: '22', stateful: true, idleSessionTimeout: 600 },
    { action: 'allow', direction: 'outbound', weight: 5, protocol: 'udp', remoteIPAddress: '10.0.0.53', remotePort: '53' },
    { action: 'deny', direction: 'inbound', weight: 1 },
  ],
  features: { 'port-guard': { blocked: 'false' } },
};

function setEverything(): void {
  ok('port', 'set', SW, A, '--mac-limit', '64', '--mac-address-spoofing', 'on', '--dhcp-guard', 'on', '--router-guard', 'on',
    '--storm-limit', '1000', '--maximum-bandwidth', '100M', '--maximum-bandwidth-burst', '64Ki', '--minimum-bandwidth-weight', '30',
    '--port-mirroring', 'source', '--static-mac', '52-54-00-AA-BB-01');
  ok('port', 'vlan', SW, A, '--trunk', '--allowed-vlan-ids', '200,1-100', '--native-vlan-id', '10');
  ok('acl', 'add', SW, A, '--action', 'deny', '--direction', 'both', '--remote-ip-address', '10.0.0.0/8');
  ok('acl', 'add', SW, A, '--action', 'allow', '--direction', 'inbound', '--remote-ip-address', '10.1.0.0/16');
  ok('acl', 'add', SW, A, '--action', 'meter', '--direction', 'both', '--remote-ip-address', '0.0.0.0/0');
  ok('acl', 'add', SW, A, '--action', 'meter', '--direction', 'outbound', '--local-ip-address', 'F001:0::/64');
  ok('acl', 'add', SW, A, '--action', 'deny', '--direction', 'outbound', '--remote-mac-address', '00-AB-00-11-22-33');
  ok('acl', 'extended', 'add', SW, A, '--action', 'deny', '--direction', 'inbound', '--weight', '1');
  ok('acl', 'extended', 'add', SW, A, '--action', 'allow', '--direction', 'inbound', '--weight', '10', '--protocol', 'tcp', '--local-port', '22', '--stateful', '--idle-session-timeout', '600');
  ok('acl', 'extended', 'add', SW, A, '--action', 'allow', '--direction', 'outbound', '--weight', '5', '--protocol', '17', '--remote-ip-address', '10.0.0.53', '--remote-port', '53');
  ok('port', 'feature', 'set', SW, A, 'port-guard', 'blocked=false');
  ok('port', 'vlan', SW, B, '--isolated', '--primary-vlan-id', '100', '--secondary-vlan-id', '101');
}

test.before(async () => {
  cleanPrefix(P);
  plugin = trustedPluginDir(fromRoot('examples', 'port-guard'));
  d = new TestDaemon();
  await d.start();
  ok('extension', 'install', plugin.dir);
  ok('switch', 'create', SW, '--type', 'private');
  ok('port', 'add', SW, A);
  ok('port', 'add', SW, B);
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  plugin?.remove();
  cleanPrefix(P);
});

test.serial('every setting set through the CLI reads back from port show --json as set; config apply of it is no change; a restart restores it', async (t) => {
  setEverything();
  t.deepEqual(show(A), EXPECTED_A);
  t.deepEqual(show(B), { name: B, vlan: { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 101 } });
  const list = d.json<{ name: string; config?: PortConfig }[]>('port', 'list', SW);
  t.deepEqual(list.find((p) => p.name === A)?.config, EXPECTED_A, 'port list --json carries the settings too');

  // the shown port goes into a document: applying it changes nothing
  const doc = d.json<XvsConfig>('config', 'show');
  const sw = doc.switches.find((s) => s.name === SW)!;
  sw.ports = sw.ports.map((p) => (p.name === A ? show(A) : p));
  const file = path.join(d.dir, 'doc.json');
  writeFileSync(file, JSON.stringify(doc));
  t.is(ok('config', 'apply', file), 'no changes (already applied)\n');

  // the human forms
  const text = ok('port', 'show', SW, A);
  t.regex(text, /vlan:\s+trunk 1-100,200 native 10/);
  t.regex(text, /dhcp-guard:\s+on/);
  t.regex(text, /maximum-bandwidth:\s+100000000 bits\/s, burst 65536 bytes/);
  t.regex(text, /extended-acls:\s+allow inbound weight 10 tcp local port 22 stateful 600 s; /);
  t.regex(ok('port', 'vlan', SW, B), /vlan isolated primary 100 secondary 101/);
  t.regex(ok('port', 'list', SW), new RegExp(`${B} .* isolated primary 100 secondary 101`));

  // persisted, and restored by a restarted daemon
  const saved = JSON.parse(readFileSync(d.conf, 'utf8')) as XvsConfig;
  t.deepEqual(saved.switches.find((s) => s.name === SW)?.ports.find((p) => p.name === A), EXPECTED_A);
  await d.stop();
  await d.start();
  for (let i = 0; i < 50 && d.xvs('port', 'show', SW, A).code !== 0; i++) await sleep(100);
  t.deepEqual(show(A), EXPECTED_A, 'restored');
  t.true(d.json<{ running: boolean }>('port', 'show', SW, A).running);
  t.is(ok('config', 'apply', file), 'no changes (already applied)\n');
});

test.serial('config apply changes settings in place (~ port), and the dry run says what', (t) => {
  const doc = d.json<XvsConfig>('config', 'show');
  const sw = doc.switches.find((s) => s.name === SW)!;
  const b = sw.ports.find((p) => p.name === B)!;
  b.vlan = { mode: 'access', accessVlanId: 20 };
  b.dhcpGuard = true;
  const file = path.join(d.dir, 'doc2.json');
  writeFileSync(file, JSON.stringify(doc));
  const dry = ok('config', 'apply', '--dry-run', file);
  t.is(dry, `would apply 1 change:\n~ port ${SW}/${B}: dhcp guard default → on, vlan isolated primary 100 secondary 101 → access 20\n`);
  t.regex(ok('config', 'apply', file), new RegExp(`applied 1 change:\n~ port ${SW}/${B}: `));
  t.deepEqual(show(B), { name: B, dhcpGuard: true, vlan: { mode: 'access', accessVlanId: 20 } });
  t.is(d.json<{ index: number }>('port', 'show', SW, B).index !== null, true, 'the port was not re-created (still running)');
  ok('port', 'set', SW, B, '--dhcp-guard', 'default');
  ok('port', 'vlan', SW, B, '--untagged');
  t.deepEqual(show(B), { name: B }, 'default and --untagged clear the settings');
});

test.serial('bad values are refused with the field named; nothing changes', (t) => {
  const before = readFileSync(d.conf, 'utf8');
  const refused = (re: RegExp, ...args: string[]): void => {
    const r = d.xvs(...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.err, re, args.join(' '));
  };
  refused(/params\.vlan\.accessVlanId: expected 1\.\.4094, got 5000/, 'port', 'vlan', SW, A, '--access', '--vlan-id', '5000');
  refused(/params\.vlan\.allowedVlanIds: 4095 is not a VLAN id/, 'port', 'vlan', SW, A, '--trunk', '--allowed-vlan-ids', '1-4095');
  refused(/params\.vlan\.secondaryVlanId: must differ from primaryVlanId \(100\)/, 'port', 'vlan', SW, A, '--community', '--primary-vlan-id', '100', '--secondary-vlan-id', '100');
  refused(/the VLAN modes are mutually exclusive/, 'port', 'vlan', SW, A, '--access', '--trunk', '--vlan-id', '5');
  refused(/--native-vlan-id goes with --trunk, not --access/, 'port', 'vlan', SW, A, '--access', '--vlan-id', '5', '--native-vlan-id', '3');
  refused(/--isolated needs --secondary-vlan-id/, 'port', 'vlan', SW, A, '--isolated', '--primary-vlan-id', '5');
  refused(/params\.stormLimit: expected an integer in 0\.\.4294967295, got -1/, 'port', 'set', SW, A, '--storm-limit', '-1');
  refused(/params\.minimumBandwidthWeight: expected an integer in 0\.\.100, got 101/, 'port', 'set', SW, A, '--minimum-bandwidth-weight', '101');
  refused(/params\.portMirroring: expected one of none, source, destination, got "both"/, 'port', 'set', SW, A, '--port-mirroring', 'both');
  refused(/params\.staticMacAddress: 01:00:5e:00:00:01 is a multicast address/, 'port', 'set', SW, A, '--static-mac', '01:00:5e:00:00:01');
  refused(/--dhcp-guard: expected on, off or default, got "yes"/, 'port', 'set', SW, A, '--dhcp-guard', 'yes');
  refused(/params\.remoteMacAddress: meter entries must be IP-based/, 'acl', 'add', SW, A, '--action', 'meter', '--direction', 'both', '--remote-mac-address', 'any');
  refused(/params\.remoteIPAddress: "10\.0\.0\.1\/8" has host bits set \(did you mean 10\.0\.0\.0\/8\?\)/, 'acl', 'add', SW, A, '--action', 'deny', '--direction', 'both', '--remote-ip-address', '10.0.0.1/8');
  refused(/give exactly one address/, 'acl', 'add', SW, A, '--action', 'deny', '--direction', 'both');
  refused(/params\.weight: expected an integer in 1\.\.65535, got 0/, 'acl', 'extended', 'add', SW, A, '--action', 'deny', '--direction', 'inbound', '--weight', '0');
  refused(/params\.stateful: only allow entries can be stateful/, 'acl', 'extended', 'add', SW, A, '--action', 'deny', '--direction', 'inbound', '--weight', '7', '--stateful');
  refused(/params\.localPort: ports only with protocol tcp or udp/, 'acl', 'extended', 'add', SW, A, '--action', 'allow', '--direction', 'inbound', '--weight', '7', '--protocol', 'icmp', '--local-port', '1');
  refused(/params\.weight: port ".*" has an extended ACL with weight 10 inbound already/, 'acl', 'extended', 'add', SW, A, '--action', 'deny', '--direction', 'inbound', '--weight', '10');
  refused(/params\.name: no such port "nope"/, 'acl', 'add', SW, 'nope', '--action', 'deny', '--direction', 'both', '--remote-ip-address', 'any');

  // a document with a bad setting is refused whole, naming the field under the document's path
  const doc = d.json<XvsConfig>('config', 'show');
  const i = doc.switches.findIndex((s) => s.name === SW);
  const j = doc.switches[i].ports.findIndex((p) => p.name === A);
  doc.switches[i].ports[j].vlan = { mode: 'access', accessVlanId: 5000 };
  const file = path.join(d.dir, 'bad.json');
  writeFileSync(file, JSON.stringify(doc));
  refused(new RegExp(`switches\\[${i}\\]\\.ports\\[${j}\\]\\.vlan\\.accessVlanId: expected 1\\.\\.4094, got 5000`), 'config', 'apply', file);

  t.is(readFileSync(d.conf, 'utf8'), before, 'the config file is unchanged');
  t.deepEqual(show(A), EXPECTED_A, 'the port is unchanged');
});

test.serial('acl add/remove/list as Hyper-V: same address and direction replaced, removed by action+direction+address; extended keyed by weight+direction', (t) => {
  const acls = (): PortConfig['acls'] => d.json<PortConfig['acls']>('acl', 'list', SW, B);
  t.is(ok('acl', 'list', SW, B), 'no ACL entries\n');
  ok('acl', 'add', SW, B, '--action', 'allow', '--direction', 'both', '--remote-ip-address', '192.168.0.0/16');
  t.is(ok('acl', 'add', SW, B, '--action', 'allow', '--direction', 'inbound', '--remote-ip-address', '192.168.0.0/16'), 'the entry is there already (unchanged)\n');
  ok('acl', 'add', SW, B, '--action', 'deny', '--direction', 'outbound', '--remote-ip-address', '192.168.0.0/16');
  t.deepEqual(acls(), [
    { action: 'allow', direction: 'inbound', remoteIPAddress: '192.168.0.0/16' },
    { action: 'deny', direction: 'outbound', remoteIPAddress: '192.168.0.0/16' },
  ], 'the outbound verdict was replaced');
  t.regex(ok('acl', 'list', SW, B), /#\s+ACTION\s+DIRECTION\s+LOCAL\s+REMOTE\n0\s+allow\s+inbound\s+-\s+192\.168\.0\.0\/16\n1\s+deny\s+outbound\s+-\s+192\.168\.0\.0\/16/);
  const miss = d.xvs('acl', 'remove', SW, B, '--action', 'deny', '--direction', 'inbound', '--remote-ip-address', '192.168.0.0/16');
  t.regex(miss.err, /params: port ".*" of switch ".*" has no ACL deny inbound remoteIPAddress 192\.168\.0\.0\/16/);
  ok('acl', 'remove', SW, B, '--action', 'deny', '--direction', 'outbound', '--remote-ip-address', '192.168.0.0/16');
  t.deepEqual(acls(), [{ action: 'allow', direction: 'inbound', remoteIPAddress: '192.168.0.0/16' }]);
  ok('acl', 'remove', SW, B, '--action', 'allow', '--direction', 'both', '--remote-ip-address', '192.168.0.0/16');
  t.deepEqual(acls(), []);
  t.deepEqual(show(B), { name: B }, 'no empty list left behind');

  const ext = (): { weight: number; direction: string; action: string }[] => d.json('acl', 'extended', 'list', SW, B);
  ok('acl', 'extended', 'add', SW, B, '--action', 'deny', '--direction', 'inbound', '--weight', '1');
  ok('acl', 'extended', 'add', SW, B, '--action', 'allow', '--direction', 'outbound', '--weight', '1');
  ok('acl', 'extended', 'add', SW, B, '--action', 'allow', '--direction', 'inbound', '--weight', '100', '--protocol', 'tcp', '--local-port', '80-81');
  t.deepEqual(ext().map((e) => `${e.weight} ${e.direction} ${e.action}`), ['100 inbound allow', '1 inbound deny', '1 outbound allow'], 'larger weight first');
  t.regex(ok('acl', 'extended', 'list', SW, B), /WEIGHT\s+DIRECTION\s+ACTION\s+PROTOCOL\s+LOCAL\s+LOCAL-PORT.*\n\s*100\s+inbound\s+allow\s+tcp\s+any\s+80-81/);
  ok('acl', 'extended', 'remove', SW, B, '--weight', '1', '--direction', 'inbound');
  t.deepEqual(ext().map((e) => `${e.weight} ${e.direction} ${e.action}`), ['100 inbound allow', '1 outbound allow']);
  t.regex(d.xvs('acl', 'extended', 'remove', SW, B, '--weight', '1', '--direction', 'inbound').err, /params\.weight: port ".*" has no extended ACL with weight 1 inbound/);
  ok('acl', 'extended', 'remove', SW, B, '--weight', '1', '--direction', 'outbound');
  ok('acl', 'extended', 'remove', SW, B, '--weight', '100', '--direction', 'inbound');
  t.is(ok('acl', 'extended', 'list', SW, B), 'no extended ACL entries\n');

  ok('port', 'feature', 'set', SW, B, 'port-guard', 'blocked=true', 'locked=false');
  ok('port', 'feature', 'remove', SW, B, 'port-guard', 'blocked');
  t.deepEqual(show(B).features, { 'port-guard': { locked: 'false' } });
  t.regex(d.xvs('port', 'feature', 'remove', SW, B, 'port-guard', 'blocked').err, /params\.keys\[0\]: the "port-guard" feature of port ".*" has no key "blocked"/);
  ok('port', 'feature', 'remove', SW, B, 'port-guard');
  t.deepEqual(show(B), { name: B });
  // what the keys mean is the extension's to say
  t.regex(d.xvs('port', 'feature', 'set', SW, B, 'port-guard', 'blocked=maybe').err, /features\.port-guard\.blocked: expected true or false, got "maybe"/);
  t.regex(d.xvs('port', 'feature', 'set', SW, B, 'no-such-ext', 'a=1').err, /no installed extension "no-such-ext"/);
  t.deepEqual(show(B), { name: B });
});

test.serial('port meter reports every meter entry (Measure-VM) with totals; --reset keeps the report and starts a new baseline', (t) => {
  const r = d.json<MeterReport>('port', 'meter', SW, A);
  t.is(r.switch, SW);
  t.is(r.port, A);
  t.deepEqual(r.entries.map((e) => ({ index: e.index, direction: e.direction, local: e.localAddress, remote: e.remoteAddress })), [
    { index: 2, direction: 'both', local: undefined, remote: '0.0.0.0/0' },
    { index: 3, direction: 'outbound', local: 'f001::/64', remote: undefined },
  ], 'only the meter entries, with their index in the ACL list');
  for (const e of r.entries) for (const k of ['inboundBytes', 'inboundPackets', 'outboundBytes', 'outboundPackets'] as const) t.is(typeof e[k], 'number');
  t.deepEqual(Object.keys(r.totals).sort(), ['inboundBytes', 'inboundPackets', 'outboundBytes', 'outboundPackets']);
  t.is(r.totals.inboundBytes, r.entries.reduce((n, e) => n + e.inboundBytes, 0));
  t.false(Number.isNaN(Date.parse(r.since)));

  const reset = d.json<MeterReport>('port', 'meter', SW, A, '--reset');
  t.true(reset.reset);
  const after = d.json<MeterReport>('port', 'meter', SW, A);
  t.true(Date.parse(after.since) >= Date.parse(reset.since), 'counting since the reset');
  t.deepEqual(after.totals, { inboundBytes: 0, inboundPackets: 0, outboundBytes: 0, outboundPackets: 0 });
  const text = ok('port', 'meter', SW, A);
  t.regex(text, new RegExp(`^port ${SW}/${A}: metered traffic since \\S+\nACL\\s+DIRECTION\\s+LOCAL\\s+REMOTE\\s+IN-BYTES\\s+IN-PACKETS\\s+OUT-BYTES\\s+OUT-PACKETS\n\\s*2\\s+both\\s+-\\s+0\\.0\\.0\\.0/0\\s+0\\s+0\\s+0\\s+0\n`));
  t.regex(text, /\ntotal(\s+-){3}\s+0\s+0\s+0\s+0\n$/);
  t.regex(ok('port', 'meter', SW, B), /no meter ACL entries \(add one: xvs acl add/);
  t.regex(d.xvs('port', 'meter', SW, 'nope').err, /params\.name: no such port "nope"/);
});
