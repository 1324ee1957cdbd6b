/** The desired-state diff (pure), its description, and apply with rollback against a recording target. */
import test from 'ava';
import { applyDiff, applyLenient, ApplyError, describe, diff, inverse, type Change } from './desired.js';
import type { SwitchConfig, XvsConfig } from './types.js';

const sw = (name: string, extra: Partial<SwitchConfig> = {}): SwitchConfig => ({
  name, type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [], ...extra,
});
const doc = (...switches: SwitchConfig[]): XvsConfig => ({ version: 1, switches });
const kinds = (cs: Change[]): string[] => cs.map((c) => {
  switch (c.kind) {
    case 'addPort': case 'removePort': return `${c.kind} ${c.switch}/${c.port.name}`;
    case 'createSwitch': case 'deleteSwitch': return `${c.kind} ${c.config.name}`;
    case 'setExtensions': case 'setCpus': return `${c.kind} ${c.switch}`;
    case 'setPort': return `${c.kind} ${c.switch}/${c.port}`;
    case 'setHnv': case 'setMetrics': case 'setDashboard': return c.kind;
    default: return `${c.kind} ${c.source}`;
  }
});

test('equal documents: no changes, and describe says so', (t) => {
  const a = doc(sw('sw0', { ports: [{ name: 'vm1' }, { name: 'vm2', netdev: 'veth0' }] }));
  t.deepEqual(diff(a, structuredClone(a)), []);
  t.is(describe([]), 'no changes');
});

test('port order and key order do not count as changes', (t) => {
  const a = doc(sw('sw0', { ports: [{ name: 'vm1' }, { name: 'vm2', netdev: 'veth0' }] }));
  const b = doc(sw('sw0', { ports: [{ netdev: 'veth0', name: 'vm2' }, { name: 'vm1' }] }));
  t.deepEqual(diff(a, b), []);
});

test('from empty: create switches, then ports, then extensions, in document order', (t) => {
  const b = doc(
    sw('sw0', { ports: [{ name: 'vm1' }], extensions: [{ name: 'firewall', enabled: true }] }),
    sw('sw1', { ports: [{ name: 'vm2', netdev: 'veth0' }] }),
  );
  const cs = diff(doc(), b);
  t.deepEqual(kinds(cs), ['createSwitch sw0', 'createSwitch sw1', 'addPort sw0/vm1', 'addPort sw1/vm2', 'setExtensions sw0']);
  const create = cs[0];
  t.true(create.kind === 'createSwitch' && create.config.ports.length === 0 && create.config.extensions === undefined);
});

test('to empty: delete switches (ports go with them)', (t) => {
  const a = doc(sw('sw0', { ports: [{ name: 'vm1' }] }), sw('sw1'));
  t.deepEqual(kinds(diff(a, doc())), ['deleteSwitch sw0', 'deleteSwitch sw1']);
});

test('allowHostAddresses is part of a port: giving or taking the consent replaces the port, and describe shows it', (t) => {
  const a = doc(sw('sw0', { ports: [{ name: 'vm2', netdev: 'veth0' }] }));
  const b = doc(sw('sw0', { ports: [{ name: 'vm2', netdev: 'veth0', allowHostAddresses: true }] }));
  const cs = diff(a, b);
  t.deepEqual(kinds(cs), ['removePort sw0/vm2', 'addPort sw0/vm2']);
  t.is(describe(cs), '- port sw0/vm2 (netdev veth0) [replaced]\n+ port sw0/vm2 (netdev veth0, host addresses allowed) [replaced]');
  t.deepEqual(kinds(diff(b, a)), ['removePort sw0/vm2', 'addPort sw0/vm2']);
});

test('removals come before additions, so a netdev can move between switches', (t) => {
  const a = doc(sw('sw0', { ports: [{ name: 'p', netdev: 'veth0' }] }), sw('sw1'));
  const b = doc(sw('sw0'), sw('sw1', { ports: [{ name: 'p', netdev: 'veth0' }] }));
  t.deepEqual(kinds(diff(a, b)), ['removePort sw0/p', 'addPort sw1/p']);
});

test('a port whose netdev changes is removed and added again, marked replaced', (t) => {
  const a = doc(sw('sw0', { ports: [{ name: 'p', netdev: 'veth0' }] }));
  const b = doc(sw('sw0', { ports: [{ name: 'p', netdev: 'veth1' }] }));
  const cs = diff(a, b);
  t.deepEqual(kinds(cs), ['removePort sw0/p', 'addPort sw0/p']);
  t.regex(describe(cs), /^- port sw0\/p \(netdev veth0\) \[replaced\]\n\+ port sw0\/p \(netdev veth1\) \[replaced\]$/);
});

for (const [key, value] of [
  ['workers', 2], ['macAgingSeconds', 60], ['macTableLimit', 16], ['type', 'internal'],
] as const) {
  test(`changing ${key} recreates the switch with its ports and extensions, and says so`, (t) => {
    const ext = [{ name: 'pcap', enabled: true }];
    const a = doc(sw('sw0', { ports: [{ name: 'vm1' }], extensions: ext }));
    const b = doc(sw('sw0', { ports: [{ name: 'vm1' }], extensions: ext, [key]: value, ...(key === 'type' ? { hostPort: 'sw0-host' } : {}) }));
    const cs = diff(a, b);
    t.deepEqual(kinds(cs), ['deleteSwitch sw0', 'createSwitch sw0', 'addPort sw0/vm1', 'setExtensions sw0']);
    t.regex(describe(cs), new RegExp(`recreated: ${key} `));
  });
}

test('an uplink change on an external switch recreates it', (t) => {
  const a = doc(sw('e', { type: 'external', uplink: 'eth1', allowManagementOs: false }));
  const b = doc(sw('e', { type: 'external', uplink: 'eth2', allowManagementOs: false }));
  const cs = diff(a, b);
  t.deepEqual(kinds(cs), ['deleteSwitch e', 'createSwitch e']);
  t.regex(describe(cs), /recreated: uplink "eth1" → "eth2"/);
});

test('extension list changes: one setExtensions with before and after, described per extension', (t) => {
  const a = doc(sw('sw0', { extensions: [{ name: 'pcap', enabled: false }, { name: 'firewall', enabled: false }] }));
  const b = doc(sw('sw0', { extensions: [{ name: 'firewall', enabled: true, config: { rules: [] } }, { name: 'pcap', enabled: false }] }));
  const cs = diff(a, b);
  t.is(cs.length, 1);
  const c = cs[0];
  t.true(c.kind === 'setExtensions' && c.before.length === 2 && c.after[0].name === 'firewall');
  t.is(describe(cs), '~ extensions of sw0: enable firewall; configure firewall; order firewall');
});

test('extension config compared deeply, key order ignored', (t) => {
  const a = doc(sw('sw0', { extensions: [{ name: 'fw', enabled: true, config: { a: 1, b: [1, { c: 2 }] } }] }));
  const b = doc(sw('sw0', { extensions: [{ name: 'fw', enabled: true, config: { b: [1, { c: 2 }], a: 1 } }] }));
  t.deepEqual(diff(a, b), []);
  const c = doc(sw('sw0', { extensions: [{ name: 'fw', enabled: true, config: { b: [1, { c: 3 }], a: 1 } }] }));
  t.is(diff(a, c).length, 1);
});

test('plugins: install before switches are built, uninstall after extension lists are set', (t) => {
  const a: XvsConfig = { ...doc(sw('sw0')), plugins: ['./old'] };
  const b: XvsConfig = { ...doc(sw('sw0', { extensions: [{ name: 'x', enabled: true }] }), sw('sw1')), plugins: ['./new'] };
  t.deepEqual(kinds(diff(a, b)), ['installPlugin ./new', 'createSwitch sw1', 'setExtensions sw0', 'uninstallPlugin ./old']);
});

test('mixed: deletes, recreate and additions are ordered by phase', (t) => {
  const a = doc(sw('a', { ports: [{ name: 'p1' }] }), sw('b', { ports: [{ name: 'p2' }] }), sw('c', { workers: 1 }));
  const b = doc(sw('b', { ports: [{ name: 'p3' }] }), sw('c', { workers: 2 }), sw('d'));
  t.deepEqual(kinds(diff(a, b)), ['removePort b/p2', 'deleteSwitch a', 'deleteSwitch c', 'createSwitch c', 'createSwitch d', 'addPort b/p3']);
});

test('inverse of every change kind undoes it', (t) => {
  const full = sw('sw0', { ports: [{ name: 'vm1' }], extensions: [{ name: 'pcap', enabled: true }] });
  t.deepEqual(kinds(inverse({ kind: 'deleteSwitch', config: full })), ['createSwitch sw0', 'addPort sw0/vm1', 'setExtensions sw0']);
  t.deepEqual(kinds(inverse({ kind: 'createSwitch', config: sw('sw0') })), ['deleteSwitch sw0']);
  t.deepEqual(kinds(inverse({ kind: 'addPort', switch: 's', port: { name: 'p' } })), ['removePort s/p']);
  t.deepEqual(kinds(inverse({ kind: 'removePort', switch: 's', port: { name: 'p' } })), ['addPort s/p']);
  t.deepEqual(kinds(inverse({ kind: 'installPlugin', source: 'x' })), ['uninstallPlugin x']);
  const inv = inverse({ kind: 'setExtensions', switch: 's', before: [], after: [{ name: 'a', enabled: true }] })[0];
  t.true(inv.kind === 'setExtensions' && inv.after.length === 0 && inv.before.length === 1);
});

/** A target that records applied changes and can fail on the n-th forward change. */
function recorder(failAt = -1) {
  const log: string[] = [];
  let n = 0;
  const apply = async (c: Change, undo: boolean): Promise<void> => {
    if (!undo && n++ === failAt) throw new Error('boom');
    log.push(`${undo ? 'undo ' : ''}${kinds([c])[0]}`);
  };
  return { log, apply };
}

test('applyDiff applies in order; on failure it undoes what was done, newest first, and names the change', async (t) => {
  const cs = diff(doc(sw('old')), doc(sw('a', { ports: [{ name: 'p1' }, { name: 'p2' }] })));
  const r = recorder(3); // deleteSwitch old, createSwitch a, addPort p1, addPort p2 (fails)
  const err = await t.throwsAsync(applyDiff(r.apply, cs), { instanceOf: ApplyError });
  t.regex(err!.message, /^boom \(while applying "\+ port a\/p2 \(TAP\)"; nothing was changed\)$/);
  t.deepEqual(r.log, [
    'deleteSwitch old', 'createSwitch a', 'addPort a/p1',
    'undo removePort a/p1', 'undo deleteSwitch a', 'undo createSwitch old',
  ]);
});

test('applyDiff returns the applied changes when all succeed', async (t) => {
  const cs = diff(doc(), doc(sw('a')));
  const r = recorder();
  t.deepEqual(await applyDiff(r.apply, cs), cs);
  t.deepEqual(r.log, ['createSwitch a']);
});

test('applyLenient skips the ports of a switch that failed and goes on with the others', async (t) => {
  const cs = diff(doc(), doc(sw('a', { ports: [{ name: 'p1' }] }), sw('b', { ports: [{ name: 'p2' }] })));
  const r = recorder(0);
  const failed: string[] = [];
  const done = await applyLenient(r.apply, cs, (c) => failed.push(kinds([c])[0]));
  t.deepEqual(failed, ['createSwitch a']);
  t.deepEqual(kinds(done), ['createSwitch b', 'addPort b/p2']);
});

test('plugins: an entry of untrustedPlugins is installed (and re-installed by an undo) with allowUntrusted', (t) => {
  const a: XvsConfig = doc();
  const b: XvsConfig = { ...doc(), plugins: ['/opt/a', '/home/u/b'], untrustedPlugins: ['/home/u/b'] };
  const changes = diff(a, b);
  t.deepEqual(changes, [{ kind: 'installPlugin', source: '/opt/a' }, { kind: 'installPlugin', source: '/home/u/b', allowUntrusted: true }]);
  const back = diff(b, a);
  t.deepEqual(back.map((c) => inverse(c)).flat(), changes);
});
