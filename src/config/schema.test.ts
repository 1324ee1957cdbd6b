import test from 'ava';
import { ConfigError } from '../core/errors.js';
import { checkAgainstSystem, validateConfig, validatePort, validateSwitch } from './schema.js';
import type { XvsConfig } from './types.js';

/** Asserts that `fn` throws a ConfigError for `field` whose message begins with the field and matches `re`. */
function throwsAt(t: import('ava').ExecutionContext, fn: () => unknown, field: string, re?: RegExp): void {
  const err = t.throws(fn, { instanceOf: ConfigError });
  if (!err) return;
  t.is((err as ConfigError).field, field, err.message);
  t.true(err.message.startsWith(field ? `${field}: ` : ''), err.message);
  if (re) t.regex(err.message, re);
}

const cfg = (switches: unknown[]): unknown => ({ version: 1, switches });

test('defaults are filled and key order is canonical', (t) => {
  const c = validateConfig(cfg([{ name: 'sw0', type: 'internal' }]));
  t.deepEqual(c, {
    version: 1,
    switches: [
      { name: 'sw0', type: 'internal', hostPort: 'sw0-host', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [] },
    ],
  });
  t.deepEqual(Object.keys(c.switches[0]), ['name', 'type', 'hostPort', 'macAgingSeconds', 'macTableLimit', 'workers', 'ports']);
  t.deepEqual(validateConfig({ version: 1 }), { version: 1, switches: [] });
});

test('private has no host port; external has one only with allowManagementOs', (t) => {
  t.is(validateSwitch({ name: 'p', type: 'private' }, 's').hostPort, undefined);
  const ext = validateSwitch({ name: 'e', type: 'external', uplink: 'veth0' }, 's');
  t.is(ext.hostPort, undefined);
  t.is(ext.allowManagementOs, false);
  const mgmt = validateSwitch({ name: 'e', type: 'external', uplink: 'veth0', allowManagementOs: true }, 's');
  t.is(mgmt.hostPort, 'e-host');
  throwsAt(t, () => validateSwitch({ name: 'p', type: 'private', hostPort: 'x' }, 's'), 's.hostPort');
  throwsAt(t, () => validateSwitch({ name: 'e', type: 'external', uplink: 'u', hostPort: 'x' }, 's'), 's.hostPort', /allowManagementOs/);
});

test('type, uplink and allowManagementOs rules', (t) => {
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'foo' }, 'params'), 'params.type', /expected one of private, internal, external, got "foo"/);
  throwsAt(t, () => validateSwitch({ name: 'a' }, 'x'), 'x.type', /required/);
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'external' }, 'x'), 'x.uplink', /required/);
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'internal', uplink: 'eth0' }, 'x'), 'x.uplink', /only an external/);
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'private', allowManagementOs: true }, 'x'), 'x.allowManagementOs');
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'external', uplink: 'u', allowManagementOs: 'yes' }, 'x'), 'x.allowManagementOs');
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'internal', hostPort: 'h', uplink: undefined, colour: 1 }, 'x'), 'x.colour', /unknown key/);
});

test('ranges', (t) => {
  const base = { name: 'a', type: 'private' };
  for (const [key, bad, good] of [
    ['macAgingSeconds', 0, 1],
    ['macAgingSeconds', 1_000_001, 1_000_000],
    ['macTableLimit', 0, 1],
    ['macTableLimit', 1_048_577, 1_048_576],
    ['workers', 0, 1],
    ['workers', 17, 16],
    ['workers', 1.5, 2],
  ] as const) {
    throwsAt(t, () => validateSwitch({ ...base, [key]: bad }, 'x'), `x.${key}`, /expected an integer in/);
    t.is(validateSwitch({ ...base, [key]: good }, 'x')[key], good);
  }
  throwsAt(t, () => validateSwitch({ ...base, workers: '2' }, 'x'), 'x.workers', /got "2"/);
});

test('names follow interface-name rules', (t) => {
  for (const bad of ['', '.', '..', 'a/b', 'a b', 'sixteen-chars-xx', 'é']) {
    throwsAt(t, () => validatePort({ name: bad }, 'p'), 'p.name');
    throwsAt(t, () => validateSwitch({ name: bad, type: 'private' }, 's'), 's.name');
  }
  t.deepEqual(validatePort({ name: 'fifteen-chars-x', netdev: 'v_e.t-0' }, 'p'), { name: 'fifteen-chars-x', netdev: 'v_e.t-0' });
  throwsAt(t, () => validatePort({ name: 'p', netdev: 5 }, 'p'), 'p.netdev', /expected a string/);
  throwsAt(t, () => validatePort({ name: 'p', mtu: 9000 }, 'p'), 'p.mtu', /unknown key/);
  throwsAt(t, () => validatePort('p', 'q'), 'q', /expected an object/);
});

test('a long switch name needs an explicit host port', (t) => {
  throwsAt(t, () => validateSwitch({ name: 'elevenchars', type: 'internal' }, 'switches[0]'), 'switches[0].hostPort', /set hostPort/);
  t.is(validateSwitch({ name: 'elevenchars', type: 'internal', hostPort: 'h0' }, 's').hostPort, 'h0');
  t.is(validateSwitch({ name: 'tenchars00', type: 'internal' }, 's').hostPort, 'tenchars00-host');
});

test('config-level errors', (t) => {
  throwsAt(t, () => validateConfig({ version: 2, switches: [] }), 'version');
  throwsAt(t, () => validateConfig({ switches: [] }), 'version');
  throwsAt(t, () => validateConfig({ version: 1, extra: true }), 'extra');
  throwsAt(t, () => validateConfig({ version: 1, switches: {} }), 'switches');
  throwsAt(t, () => validateConfig(cfg([{ name: 'a', type: 'private', ports: [{ name: 'p0' }, { name: 'p0' }] }])),
    'switches[0].ports[1].name', /port "p0" already exists on switch "a"/);
  throwsAt(t, () => validateConfig(cfg([{ name: 'a', type: 'private' }, { name: 'a', type: 'internal' }])),
    'switches[1].name', /switch "a" already exists/);
  throwsAt(t, () => validateConfig(cfg([{ name: 'a', type: 'private', ports: [{ name: 'p', netdev: 9 }] }])),
    'switches[0].ports[0].netdev');
});

test('a netdev belongs to one switch role only', (t) => {
  const sw0 = { name: 'sw0', type: 'external', uplink: 'veth0' };
  throwsAt(t, () => validateConfig(cfg([sw0, { name: 'sw1', type: 'external', uplink: 'veth0' }])),
    'switches[1].uplink', /^switches\[1\]\.uplink: "veth0" is already the uplink of switch "sw0"$/);
  throwsAt(t, () => validateConfig(cfg([sw0, { name: 'sw1', type: 'private', ports: [{ name: 'vm1', netdev: 'veth0' }] }])),
    'switches[1].ports[0].netdev', /is already the uplink of switch "sw0"/);
  throwsAt(t, () => validateConfig(cfg([sw0, { name: 'sw1', type: 'private', ports: [{ name: 'veth0' }] }])),
    'switches[1].ports[0].name', /is already the uplink of switch "sw0"/);
  throwsAt(t, () => validateConfig(cfg([{ name: 'in', type: 'internal' }, { name: 'sw1', type: 'private', ports: [{ name: 'in-host' }] }])),
    'switches[1].ports[0].name', /is already the host port of switch "in"/);
  throwsAt(t, () => validateConfig(cfg([
    { name: 'a', type: 'private', ports: [{ name: 'tap0' }] },
    { name: 'b', type: 'private', ports: [{ name: 'tap0' }] },
  ])), 'switches[1].ports[0].name', /is already the TAP of port "tap0" on switch "a"/);
  throwsAt(t, () => validateConfig(cfg([
    { name: 'a', type: 'private', ports: [{ name: 'vm1', netdev: 'veth1' }] },
    { name: 'b', type: 'external', uplink: 'veth1' },
  ])), 'switches[1].uplink', /is already the netdev of port "vm1" on switch "a"/);
  throwsAt(t, () => validateConfig(cfg([{ name: 'a', type: 'private', ports: [{ name: 'x', netdev: 'v' }, { name: 'y', netdev: 'v' }] }])),
    'switches[0].ports[1].netdev');
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'external', uplink: 'h', allowManagementOs: true, hostPort: 'h' }, 's'), 's.hostPort');
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'internal', ports: [{ name: 'a-host', netdev: 'v' }] }, 's'),
    's.ports[0].name', /host port/);
  // The same port label on two switches is fine when neither is a TAP of that name.
  t.notThrows(() => validateConfig(cfg([
    { name: 'a', type: 'private', ports: [{ name: 'vm', netdev: 'v1' }] },
    { name: 'b', type: 'private', ports: [{ name: 'vm', netdev: 'v2' }] },
  ])));
});

test('allowHostAddresses: a boolean; only true is kept (so false and absent diff the same)', (t) => {
  t.deepEqual(validatePort({ name: 'p', netdev: 'v', allowHostAddresses: true }, 'p'), { name: 'p', netdev: 'v', allowHostAddresses: true });
  t.deepEqual(validatePort({ name: 'p', allowHostAddresses: false }, 'p'), { name: 'p' });
  throwsAt(t, () => validatePort({ name: 'p', allowHostAddresses: 'yes' }, 'ports[0]'), 'ports[0].allowHostAddresses', /expected true or false/);
});

test('loopback is never a port or an uplink (the real lo)', (t) => {
  throwsAt(t, () => checkAgainstSystem(validateConfig(cfg([{ name: 'sw0', type: 'private', ports: [{ name: 'p', netdev: 'lo', allowHostAddresses: true }] }]))),
    'switches[0].ports[0].netdev', /"lo" is a loopback device/);
  throwsAt(t, () => checkAgainstSystem(validateConfig(cfg([{ name: 'sw0', type: 'private', ports: [{ name: 'lo' }] }]))),
    'switches[0].ports[0].name', /loopback/);
  throwsAt(t, () => checkAgainstSystem(validateConfig(cfg([{ name: 'sw0', type: 'external', uplink: 'lo', allowManagementOs: true }]))),
    'switches[0].uplink', /"lo" is a loopback device and can never be an uplink/);
});

test('at most 256 ports per switch', (t) => {
  const ports = Array.from({ length: 257 }, (_, i) => ({ name: `p${i}` }));
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'private', ports }, 's'), 's.ports', /at most 256/);
  t.is(validateSwitch({ name: 'a', type: 'private', ports: ports.slice(0, 256) }, 's').ports.length, 256);
});

test('switch.create params cannot carry ports', (t) => {
  throwsAt(t, () => validateSwitch({ name: 'a', type: 'private', ports: [] }, 'params', { allowPorts: false }), 'params.ports');
  t.deepEqual(validateSwitch({ name: 'a', type: 'private' }, 'params', { allowPorts: false }).ports, []);
});

test('checkAgainstSystem names the missing netdev or uplink', (t) => {
  const c: XvsConfig = validateConfig(cfg([
    { name: 'a', type: 'private', ports: [{ name: 't0' }, { name: 'v', netdev: 'veth9' }, { name: 'w', netdev: 'foo' }] },
    { name: 'b', type: 'external', uplink: 'eth9' },
  ]));
  const have = new Set(['veth9', 'eth9', 'foo']);
  t.notThrows(() => checkAgainstSystem(c, (n) => have.has(n)));
  have.delete('eth9');
  throwsAt(t, () => checkAgainstSystem(c, (n) => have.has(n)), 'switches[1].uplink', /no such interface "eth9"/);
  throwsAt(t, () => checkAgainstSystem(c, (n) => n !== 'foo'), 'switches[0].ports[2].netdev', /^switches\[0\]\.ports\[2\]\.netdev: no such interface "foo"$/);
  // TAP ports and host ports are created by xvs: never checked.
  t.notThrows(() => checkAgainstSystem(validateConfig(cfg([{ name: 'i', type: 'internal', ports: [{ name: 't' }] }])), () => false));
});

test('untrustedPlugins: entries of plugins (installed with --allow-untrusted), anything else named', (t) => {
  const c = validateConfig({ version: 1, switches: [], plugins: ['/opt/a', '/home/u/b'], untrustedPlugins: ['/home/u/b'] });
  t.deepEqual(c.untrustedPlugins, ['/home/u/b']);
  throwsAt(t, () => validateConfig({ version: 1, switches: [], plugins: ['/opt/a'], untrustedPlugins: ['/home/u/b'] }), 'untrustedPlugins[0]', /expected an entry of "plugins"/);
  throwsAt(t, () => validateConfig({ version: 1, switches: [], untrustedPlugins: 'x' }), 'untrustedPlugins', /expected a list/);
});
