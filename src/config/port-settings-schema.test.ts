/**
 * validatePortSettings: every PortSettings key accepted in each of its valid forms (normalized so a shown
 * port applies again as no change), and every bad value refused with the field and the expected range named,
 * the same way in a document (`switches[0].ports[0].…`) and in a request (`params.…`).
 */
import test from 'ava';
import { ConfigError } from '../core/errors.js';
import { MAX_ACLS_PER_PORT, MAX_EXTENDED_ACLS_PER_PORT } from '../policy/counters.js';
import { normalizeIpAddress, validatePortSettings } from './port-settings.js';
import { validateConfig, validatePort } from './schema.js';
import type { PortSettings } from './types.js';

const ok = (s: Record<string, unknown>): PortSettings => validatePortSettings(s, 'p');

/** the error validating `s` at path `params`: its field and message */
function refused(s: Record<string, unknown>): { field: string; message: string } {
  try {
    validatePortSettings(s, 'params');
  } catch (e) {
    if (e instanceof ConfigError) return { field: e.field, message: e.message };
    throw e;
  }
  throw new Error(`accepted: ${JSON.stringify(s)}`);
}

function same(t: { is: (a: unknown, b: unknown) => void; regex: (a: string, r: RegExp) => void }, e: { field: string; message: string }, field: string, re: RegExp): void {
  t.is(e.field, field);
  t.regex(e.message, re);
}

test('every scalar setting is accepted; booleans, ranges, enums, MAC normalized; bandwidth rounded to 8 bits/s', (t) => {
  const all = {
    macLimit: 0, macAddressSpoofing: true, dhcpGuard: false, routerGuard: true, stormLimit: 1000, maximumBandwidth: 100_000_003,
    maximumBandwidthBurst: 65536, minimumBandwidthWeight: 100, portMirroring: 'source', staticMacAddress: '52-54-00-AB-CD-EF',
  };
  t.deepEqual(ok(all), { ...all, maximumBandwidth: 100_000_000, staticMacAddress: '52:54:00:ab:cd:ef' });
  t.deepEqual(ok({ maximumBandwidth: 0, stormLimit: 0, minimumBandwidthWeight: 0, portMirroring: 'none' }), { maximumBandwidth: 0, stormLimit: 0, minimumBandwidthWeight: 0, portMirroring: 'none' });
  t.deepEqual(ok({ maximumBandwidth: 12 }), { maximumBandwidth: 16 }, 'nearest multiple of 8');
  t.deepEqual(ok({}), {});
  t.deepEqual(ok({ name: 'ignored: the caller checks other keys' }), {});
});

test('scalar settings out of range or of the wrong type are refused naming the field and the range', (t) => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ macAddressSpoofing: 'on' }, 'params.macAddressSpoofing', /expected true \(on\) or false \(off\), got "on"/],
    [{ dhcpGuard: 1 }, 'params.dhcpGuard', /expected true \(on\) or false \(off\)/],
    [{ routerGuard: null }, 'params.routerGuard', /expected true/],
    [{ stormLimit: -1 }, 'params.stormLimit', /expected an integer in 0\.\.4294967295, got -1/],
    [{ stormLimit: 1.5 }, 'params.stormLimit', /expected an integer/],
    [{ maximumBandwidth: -8 }, 'params.maximumBandwidth', /expected an integer in 0\.\.1000000000000, got -8/],
    [{ maximumBandwidth: '100M' }, 'params.maximumBandwidth', /expected an integer/],
    [{ maximumBandwidthBurst: 1_073_741_825 }, 'params.maximumBandwidthBurst', /expected an integer in 0\.\.1073741824, got 1073741825/],
    [{ minimumBandwidthWeight: 101 }, 'params.minimumBandwidthWeight', /expected an integer in 0\.\.100, got 101/],
    [{ portMirroring: 'both' }, 'params.portMirroring', /expected one of none, source, destination, got "both"/],
    [{ staticMacAddress: '52:54:00:12:34' }, 'params.staticMacAddress', /expected a MAC address/],
    [{ staticMacAddress: '01:00:5e:00:00:01' }, 'params.staticMacAddress', /is a multicast address/],
    [{ staticMacAddress: '00:00:00:00:00:00' }, 'params.staticMacAddress', /all-zero/],
    [{ macLimit: -1 }, 'params.macLimit', /expected an integer in 0\.\.1048576, got -1/],
  ];
  for (const [s, field, re] of cases) {
    const e = refused(s);
    t.is(e.field, field, JSON.stringify(s));
    t.regex(e.message, re, JSON.stringify(s));
    t.true(e.message.startsWith(`${field}: `));
  }
});

test('every VLAN mode is accepted with its own keys; lists are normalized', (t) => {
  t.deepEqual(ok({ vlan: { mode: 'untagged' } }).vlan, { mode: 'untagged' });
  t.deepEqual(ok({ vlan: { mode: 'access', accessVlanId: 4094 } }).vlan, { mode: 'access', accessVlanId: 4094 });
  t.deepEqual(ok({ vlan: { mode: 'trunk', allowedVlanIds: '200,1-100', nativeVlanId: 10 } }).vlan, { mode: 'trunk', allowedVlanIds: '1-100,200', nativeVlanId: 10 });
  t.deepEqual(ok({ vlan: { mode: 'trunk', allowedVlanIds: '5' } }).vlan, { mode: 'trunk', allowedVlanIds: '5', nativeVlanId: 0 }, 'native 0: untagged frames in no VLAN');
  for (const mode of ['isolated', 'community']) {
    t.deepEqual(ok({ vlan: { mode, primaryVlanId: 100, secondaryVlanId: 101 } }).vlan, { mode, primaryVlanId: 100, secondaryVlanId: 101 });
  }
  t.deepEqual(ok({ vlan: { mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '201,200' } }).vlan, { mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '200-201' });
});

test('bad VLAN settings are refused naming the field: ids, lists, PVLAN primary = secondary, keys of another mode', (t) => {
  const cases: [unknown, string, RegExp][] = [
    [{ mode: 'access', accessVlanId: 5000 }, 'params.vlan.accessVlanId', /^params\.vlan\.accessVlanId: expected 1\.\.4094, got 5000$/],
    [{ mode: 'access', accessVlanId: 0 }, 'params.vlan.accessVlanId', /expected 1\.\.4094, got 0/],
    [{ mode: 'access' }, 'params.vlan.accessVlanId', /required \(a VLAN id 1\.\.4094\)/],
    [{ mode: 'trunk', allowedVlanIds: '1-100,5000', nativeVlanId: 1 }, 'params.vlan.allowedVlanIds', /5000 is not a VLAN id/],
    [{ mode: 'trunk', allowedVlanIds: [1, 2] }, 'params.vlan.allowedVlanIds', /expected a VLAN id list such as "1-100,200"/],
    [{ mode: 'trunk', nativeVlanId: 1 }, 'params.vlan.allowedVlanIds', /required/],
    [{ mode: 'trunk', allowedVlanIds: '1', nativeVlanId: 4095 }, 'params.vlan.nativeVlanId', /expected 0\.\.4094, got 4095/],
    [{ mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 100 }, 'params.vlan.secondaryVlanId', /must differ from primaryVlanId \(100\)/],
    [{ mode: 'community', primaryVlanId: 100 }, 'params.vlan.secondaryVlanId', /required/],
    [{ mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '99-101' }, 'params.vlan.secondaryVlanIds', /must not include primaryVlanId \(100\)/],
    [{ mode: 'access', accessVlanId: 10, nativeVlanId: 1 }, 'params.vlan.nativeVlanId', /not a setting of mode access \(it belongs to trunk; access takes mode, accessVlanId\)/],
    [{ mode: 'untagged', accessVlanId: 10 }, 'params.vlan.accessVlanId', /not a setting of mode untagged/],
    [{ mode: 'access', accessVlanId: 10, tag: 1 }, 'params.vlan.tag', /unknown key/],
    [{ mode: 'tagged' }, 'params.vlan.mode', /expected one of untagged, access, trunk, isolated, community, promiscuous, got "tagged"/],
    [{}, 'params.vlan.mode', /required/],
    ['access', 'params.vlan', /expected an object/],
  ];
  for (const [vlan, field, re] of cases) {
    const e = refused({ vlan });
    t.is(e.field, field, JSON.stringify(vlan));
    t.regex(e.message, re, JSON.stringify(vlan));
  }
});

test('IP addresses: hosts, prefixes, any; IPv6 in RFC 5952 form; host bits refused with the fix named', (t) => {
  t.is(normalizeIpAddress('10.0.0.1', 'x'), '10.0.0.1');
  t.is(normalizeIpAddress('10.0.0.0/8', 'x'), '10.0.0.0/8');
  t.is(normalizeIpAddress('0.0.0.0/0', 'x'), '0.0.0.0/0');
  t.is(normalizeIpAddress('ANY', 'x'), 'any');
  t.is(normalizeIpAddress('F001:0:0::/64', 'x'), 'f001::/64');
  t.is(normalizeIpAddress('2001:db8:0:0:1:0:0:1', 'x'), '2001:db8::1:0:0:1');
  t.is(normalizeIpAddress('::/0', 'x'), '::/0');
  t.is(normalizeIpAddress('::ffff:10.1.2.3', 'x'), '::ffff:a01:203');
  t.throws(() => normalizeIpAddress('10.0.0.1/8', 'a.b'), { message: 'a.b: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)' });
  t.throws(() => normalizeIpAddress('f001::1/64', 'a.b'), { message: /did you mean f001::\/64\?/ });
  t.throws(() => normalizeIpAddress('10.0.0.0/33', 'a.b'), { message: /prefix length of "10\.0\.0\.0\/33" must be 0\.\.32/ });
  t.throws(() => normalizeIpAddress('10.0.0', 'a.b'), { message: /^a\.b: expected an IPv4 or IPv6 host or prefix/ });
  t.throws(() => normalizeIpAddress(10, 'a.b'), { message: /^a\.b: expected/ });
});

test('port ACLs: every action, direction and address form; normalized; duplicates and limits refused naming the entry', (t) => {
  const acls = [
    { action: 'allow', direction: 'inbound', localIPAddress: '10.0.0.1' },
    { action: 'deny', direction: 'outbound', remoteIPAddress: '10.0.0.0/8' },
    { action: 'meter', direction: 'both', remoteIPAddress: 'f001::/64' },
    { action: 'deny', direction: 'both', localMacAddress: '00-AB-00-11-22-33' },
    { action: 'allow', direction: 'inbound', remoteMacAddress: 'Any' },
    { action: 'meter', direction: 'inbound', remoteIPAddress: '10.0.0.0/8' },
  ];
  const got = ok({ acls }).acls!;
  t.is(got.length, 6);
  t.deepEqual(got[3], { action: 'deny', direction: 'both', localMacAddress: '00:ab:00:11:22:33' });
  t.deepEqual(got[4], { action: 'allow', direction: 'inbound', remoteMacAddress: 'any' });
  t.is(ok({ acls: [] }).acls, undefined, 'an empty list is the default');

  const cases: [unknown, string, RegExp][] = [
    [[{ action: 'permit', direction: 'inbound', localIPAddress: 'any' }], 'params.acls[0].action', /expected one of allow, deny, meter, got "permit"/],
    [[{ action: 'allow', direction: 'in', localIPAddress: 'any' }], 'params.acls[0].direction', /expected one of inbound, outbound, both/],
    [[{ action: 'allow', direction: 'inbound' }], 'params.acls[0]', /give exactly one address/],
    [[{ action: 'allow', direction: 'inbound', localIPAddress: 'any', remoteIPAddress: 'any' }], 'params.acls[0].remoteIPAddress', /give exactly one address: .* \(got localIPAddress, remoteIPAddress\)/],
    [[{ action: 'meter', direction: 'both', remoteMacAddress: 'any' }], 'params.acls[0].remoteMacAddress', /meter entries must be IP-based/],
    [[{ action: 'allow', direction: 'inbound', localMacAddress: '00:ab:00:11:22' }], 'params.acls[0].localMacAddress', /expected a MAC address \(00-ab-00-11-22-33 or 00:ab:00:11:22:33\) or "any"/],
    [[{ action: 'allow', direction: 'inbound', localMacAddress: '00-ab:00-11-22-33' }], 'params.acls[0].localMacAddress', /expected a MAC/],
    [[{ action: 'allow', direction: 'inbound', remoteIPAddress: '300.0.0.1' }], 'params.acls[0].remoteIPAddress', /expected an IPv4 or IPv6/],
    [[{ action: 'allow', direction: 'inbound', localIPAddress: 'any', port: 80 }], 'params.acls[0].port', /unknown key/],
    [[{ action: 'allow', direction: 'both', remoteIPAddress: '10.0.0.0/8' }, { action: 'deny', direction: 'inbound', remoteIPAddress: '10.0.0.0/8' }],
      'params.acls[1]', /duplicates params\.acls\[0\] \(same address and direction; one of allow\/deny per address and direction\)/],
    [[{ action: 'meter', direction: 'both', remoteIPAddress: 'any' }, { action: 'meter', direction: 'outbound', remoteIPAddress: 'ANY' }], 'params.acls[1]', /duplicates params\.acls\[0\]/],
    [Array.from({ length: MAX_ACLS_PER_PORT + 1 }, (_, i) => ({ action: 'deny', direction: 'inbound', remoteIPAddress: `10.0.${i}.0/24` })),
      'params.acls', new RegExp(`at most ${MAX_ACLS_PER_PORT} entries per port, got ${MAX_ACLS_PER_PORT + 1}`)],
    [{ action: 'allow' }, 'params.acls', /expected a list of ACL entries/],
  ];
  for (const [list, field, re] of cases) {
    const e = refused({ acls: list });
    t.is(e.field, field, JSON.stringify(list).slice(0, 120));
    t.regex(e.message, re, JSON.stringify(list).slice(0, 120));
  }
  // allow and meter on the same address and direction count separately (a meter counts what allow lets in)
  t.is(ok({ acls: [{ action: 'allow', direction: 'both', remoteIPAddress: 'any' }, { action: 'meter', direction: 'both', remoteIPAddress: 'any' }] }).acls!.length, 2);
});

test('extended ACLs: every field; protocol names and numbers; ports only with tcp/udp; stateful only allow; keyed by weight and direction', (t) => {
  const x = ok({ extendedAcls: [
    { action: 'allow', direction: 'inbound', weight: 10, protocol: 'TCP', localPort: '22', remoteIPAddress: '10.0.0.0/8', stateful: true, idleSessionTimeout: 3600 },
    { action: 'allow', direction: 'outbound', weight: 10, protocol: 17, remotePort: '1000-2000', localIPAddress: 'any' },
    { action: 'deny', direction: 'inbound', weight: 1 },
    { action: 'deny', direction: 'inbound', weight: 65535, protocol: '47' },
    { action: 'allow', direction: 'inbound', weight: 2, protocol: 'icmpv6' },
    { action: 'allow', direction: 'outbound', weight: 3, protocol: '1', stateful: false },
  ] }).extendedAcls!;
  t.deepEqual(x[0], { action: 'allow', direction: 'inbound', weight: 10, protocol: 'tcp', remoteIPAddress: '10.0.0.0/8', localPort: '22', stateful: true, idleSessionTimeout: 3600 });
  t.deepEqual(x[1], { action: 'allow', direction: 'outbound', weight: 10, protocol: 'udp', localIPAddress: 'any', remotePort: '1000-2000' });
  t.is(x[3].protocol, '47');
  t.is(x[5].protocol, 'icmp');
  t.false('stateful' in x[5], 'stateful false is the default: not stored');

  const base = { action: 'allow', direction: 'inbound', weight: 5 };
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ ...base, direction: 'both' }, 'params.extendedAcls[0].direction', /extended ACLs have no "both"/],
    [{ ...base, action: 'meter' }, 'params.extendedAcls[0].action', /expected one of allow, deny, got "meter"/],
    [{ ...base, weight: 0 }, 'params.extendedAcls[0].weight', /expected an integer in 1\.\.65535, got 0/],
    [{ ...base, weight: 65536 }, 'params.extendedAcls[0].weight', /expected an integer in 1\.\.65535/],
    [{ action: 'allow', direction: 'inbound' }, 'params.extendedAcls[0].weight', /required/],
    [{ ...base, protocol: 'sctp' }, 'params.extendedAcls[0].protocol', /expected one of icmp, tcp, udp, icmpv6 or an IP protocol number 0\.\.255, got "sctp"/],
    [{ ...base, protocol: 256 }, 'params.extendedAcls[0].protocol', /0\.\.255/],
    [{ ...base, localPort: '80' }, 'params.extendedAcls[0].localPort', /ports only with protocol tcp or udp \(protocol is any\)/],
    [{ ...base, protocol: 'icmp', remotePort: '80' }, 'params.extendedAcls[0].remotePort', /protocol is icmp/],
    [{ ...base, protocol: 'tcp', localPort: '2000-1000' }, 'params.extendedAcls[0].localPort', /expected a port \(0\.\.65535\) or a range such as "49152-49182", got "2000-1000"/],
    [{ ...base, protocol: 'tcp', localPort: '70000' }, 'params.extendedAcls[0].localPort', /expected a port/],
    [{ ...base, action: 'deny', stateful: true }, 'params.extendedAcls[0].stateful', /only allow entries can be stateful/],
    [{ ...base, idleSessionTimeout: 60 }, 'params.extendedAcls[0].idleSessionTimeout', /only with stateful: true/],
    [{ ...base, stateful: true, idleSessionTimeout: 0 }, 'params.extendedAcls[0].idleSessionTimeout', /expected an integer in 1\.\.86400, got 0/],
    [{ ...base, remoteIPAddress: '10.0.0.1/8' }, 'params.extendedAcls[0].remoteIPAddress', /host bits set/],
    [{ ...base, localMacAddress: 'any' }, 'params.extendedAcls[0].localMacAddress', /unknown key/],
  ];
  for (const [e, field, re] of cases) {
    const r = refused({ extendedAcls: [e] });
    t.is(r.field, field, JSON.stringify(e));
    t.regex(r.message, re, JSON.stringify(e));
  }
  same(t, refused({ extendedAcls: [base, { ...base, action: 'deny' }] }), 'params.extendedAcls[1].weight', /params\.extendedAcls\[0\] has weight 5 inbound already/);
  t.is(ok({ extendedAcls: [base, { ...base, direction: 'outbound' }] }).extendedAcls!.length, 2, 'same weight, other direction');
  const many = Array.from({ length: MAX_EXTENDED_ACLS_PER_PORT + 1 }, (_, i) => ({ ...base, weight: i + 1 }));
  same(t, refused({ extendedAcls: many }), 'params.extendedAcls', /at most 64 entries per port/);
});

test('features: extension name → key → string; empty sets dropped or refused, names checked', (t) => {
  t.deepEqual(ok({ features: { pcap: { snaplen: '96' }, firewall: { profile: 'web' } } }).features, { firewall: { profile: 'web' }, pcap: { snaplen: '96' } });
  t.is(ok({ features: {} }).features, undefined);
  same(t, refused({ features: { pcap: {} } }), 'params.features.pcap', /at least one key=value/);
  same(t, refused({ features: { pcap: { snaplen: 96 } } }), 'params.features.pcap.snaplen', /expected a string/);
  same(t, refused({ features: { 'Bad Name': { a: 'b' } } }), 'params.features.Bad Name', /expected an extension name/);
  same(t, refused({ features: { pcap: { 'a b': 'x' } } }), 'params.features.pcap.a b', /a feature key is/);
});

test('in a document: settings are validated under the port path; unknown keys refused; normalized values apply again as equal', (t) => {
  const doc = (port: Record<string, unknown>) => ({ version: 1, switches: [{ name: 'sw0', type: 'private', ports: [{ name: 'vm0' }, { name: 'vm1', ...port }] }] });
  t.throws(() => validateConfig(doc({ vlan: { mode: 'access', accessVlanId: 5000 } })), {
    instanceOf: ConfigError, message: 'switches[0].ports[1].vlan.accessVlanId: expected 1..4094, got 5000',
  });
  t.throws(() => validateConfig(doc({ acls: [{ action: 'allow', direction: 'inbound', localIPAddress: '1.2.3' }] })), { message: /^switches\[0\]\.ports\[1\]\.acls\[0\]\.localIPAddress: / });
  t.throws(() => validateConfig(doc({ vlanId: 5 })), { message: /^switches\[0\]\.ports\[1\]\.vlanId: unknown key \(expected one of name, netdev, allowHostAddresses, queues, io, macLimit, macAddressSpoofing, /});
  const port = validatePort({ name: 'vm1', staticMacAddress: '52-54-00-00-00-01', vlan: { mode: 'trunk', allowedVlanIds: '3,1-2' }, acls: [{ action: 'deny', direction: 'both', remoteIPAddress: 'F001::/64' }] }, 'p');
  t.deepEqual(validatePort(port, 'p'), port, 'normalizing twice changes nothing');
  t.deepEqual(port, {
    name: 'vm1', staticMacAddress: '52:54:00:00:00:01', vlan: { mode: 'trunk', allowedVlanIds: '1-3', nativeVlanId: 0 },
    acls: [{ action: 'deny', direction: 'both', remoteIPAddress: 'f001::/64' }],
  });
});
