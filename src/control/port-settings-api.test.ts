/**
 * The control API of per-port settings: `port.set` takes every PortSettings key (null: the default), the ACL
 * verbs edit the document like Hyper-V's cmdlets (replace by address and direction, remove by action, direction
 * and address; extended entries keyed by weight and direction), features merge and remove, and each edit is a
 * setPort change in place whose text says what changes.
 */
import test from 'ava';
import { describe, diff } from '../config/desired.js';
import type { SwitchConfig, XvsConfig } from '../config/types.js';
import { addAcl, addExtendedAcl, removeAcl, removeExtendedAcl, removeFeature, setFeature, setPort } from './edits.js';
import { METHODS } from './protocol.js';

const doc = (ports: SwitchConfig['ports']): XvsConfig => ({
  version: 1, switches: [{ name: 'sw0', type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports }],
});
const port = (d: XvsConfig | null) => d!.switches[0].ports[0];

test('port.set takes every setting, validated under params, null for the default; empty lists mean default', (t) => {
  const p = METHODS['port.set'].parse({
    switch: 'sw0', name: 'vm1', dhcpGuard: true, routerGuard: false, macAddressSpoofing: true, stormLimit: 100, maximumBandwidth: 1001,
    maximumBandwidthBurst: 5000, minimumBandwidthWeight: 50, portMirroring: 'destination', staticMacAddress: '52-54-00-00-00-01',
    vlan: { mode: 'access', accessVlanId: 10 }, acls: [], extendedAcls: null, features: { x: { k: 'v' } }, macLimit: null,
  });
  t.deepEqual(p.settings, {
    macLimit: null, macAddressSpoofing: true, dhcpGuard: true, routerGuard: false, stormLimit: 100, maximumBandwidth: 1000,
    maximumBandwidthBurst: 5000, minimumBandwidthWeight: 50, portMirroring: 'destination', staticMacAddress: '52:54:00:00:00:01',
    vlan: { mode: 'access', accessVlanId: 10 }, acls: null, extendedAcls: null, features: { x: { k: 'v' } },
  });
  t.throws(() => METHODS['port.set'].parse({ switch: 'sw0', name: 'vm1', vlan: { mode: 'access', accessVlanId: 5000 } }), {
    message: 'params.vlan.accessVlanId: expected 1..4094, got 5000',
  });
  t.throws(() => METHODS['port.set'].parse({ switch: 'sw0', name: 'vm1' }), { message: /^params: nothing to set: give one of macLimit, macAddressSpoofing/ });
});

test('the ACL verbs parse like the document entries; extended remove needs weight and direction', (t) => {
  t.deepEqual(METHODS['acl.add'].parse({ switch: 'sw0', name: 'vm1', action: 'deny', direction: 'both', remoteIPAddress: 'F001::/64' }),
    { switch: 'sw0', name: 'vm1', acl: { action: 'deny', direction: 'both', remoteIPAddress: 'f001::/64' } });
  t.throws(() => METHODS['acl.add'].parse({ switch: 'sw0', name: 'vm1', action: 'meter', direction: 'both', remoteMacAddress: 'any' }), { message: /^params\.remoteMacAddress: meter entries must be IP-based/ });
  t.throws(() => METHODS['acl.remove'].parse({ switch: 'sw0', name: 'vm1', action: 'deny', direction: 'both' }), { message: /^params: give exactly one address/ });
  t.deepEqual(METHODS['acl.extended.add'].parse({ switch: 'sw0', name: 'vm1', action: 'allow', direction: 'inbound', weight: 10, protocol: 'tcp', localPort: '22' }).acl,
    { action: 'allow', direction: 'inbound', weight: 10, protocol: 'tcp', localPort: '22' });
  t.deepEqual(METHODS['acl.extended.remove'].parse({ switch: 'sw0', name: 'vm1', weight: 10, direction: 'inbound' }), { switch: 'sw0', name: 'vm1', weight: 10, direction: 'inbound' });
  t.throws(() => METHODS['acl.extended.remove'].parse({ switch: 'sw0', name: 'vm1', weight: 10, direction: 'both' }), { message: /^params\.direction: expected one of inbound, outbound/ });
  t.throws(() => METHODS['acl.extended.remove'].parse({ switch: 'sw0', name: 'vm1', direction: 'inbound' }), { message: /^params\.weight: required/ });
  t.deepEqual(METHODS['port.meter'].parse({ switch: 'sw0', name: 'vm1' }), { switch: 'sw0', name: 'vm1', reset: false });
  t.throws(() => METHODS['port.meter'].parse({ switch: 'sw0', name: 'vm1', reset: 'yes' }), { message: /^params\.reset: expected true or false/ });
  t.throws(() => METHODS['port.feature.set'].parse({ switch: 'sw0', name: 'vm1', extension: 'fw', settings: {} }), { message: /^params\.settings: expected at least one/ });
  t.throws(() => METHODS['port.feature.remove'].parse({ switch: 'sw0', name: 'vm1', extension: 'fw', keys: [] }), { message: /^params\.keys: expected a non-empty list/ });
});

test('acl add replaces the verdict of the same address and direction, narrows a both entry, keeps meters apart; remove by action+direction+address', (t) => {
  const d0 = doc([{ name: 'vm1' }]);
  const d1 = addAcl(d0, 'sw0', 'vm1', { action: 'allow', direction: 'both', remoteIPAddress: '10.0.0.0/8' })!;
  t.is(addAcl(d1, 'sw0', 'vm1', { action: 'allow', direction: 'inbound', remoteIPAddress: '10.0.0.0/8' }), null, 'covered already: no change');
  const d2 = addAcl(d1, 'sw0', 'vm1', { action: 'deny', direction: 'inbound', remoteIPAddress: '10.0.0.0/8' })!;
  t.deepEqual(port(d2).acls, [
    { action: 'allow', direction: 'outbound', remoteIPAddress: '10.0.0.0/8' },
    { action: 'deny', direction: 'inbound', remoteIPAddress: '10.0.0.0/8' },
  ]);
  const d3 = addAcl(d2, 'sw0', 'vm1', { action: 'meter', direction: 'both', remoteIPAddress: '10.0.0.0/8' })!;
  t.is(port(d3).acls!.length, 3, 'a meter entry counts alongside the verdict');
  t.throws(() => removeAcl(d3, 'sw0', 'vm1', { action: 'allow', direction: 'inbound', remoteIPAddress: '10.0.0.0/8' }), {
    message: 'params: port "vm1" of switch "sw0" has no ACL allow inbound remoteIPAddress 10.0.0.0/8',
  });
  const d4 = removeAcl(d3, 'sw0', 'vm1', { action: 'meter', direction: 'inbound', remoteIPAddress: '10.0.0.0/8' });
  t.deepEqual(port(d4).acls![2], { action: 'meter', direction: 'outbound', remoteIPAddress: '10.0.0.0/8' });
  const d5 = removeAcl(removeAcl(removeAcl(d4, 'sw0', 'vm1', port(d4).acls![0]), 'sw0', 'vm1', port(d4).acls![1]), 'sw0', 'vm1', port(d4).acls![2]);
  t.false('acls' in port(d5), 'the last entry gone: the setting is back to its default');
  t.throws(() => addAcl(d0, 'sw0', 'nope', port(d1).acls![0]), { message: 'params.name: no such port "nope" on switch "sw0"' });
  const full = doc([{ name: 'vm1', acls: Array.from({ length: 64 }, (_, i) => ({ action: 'deny' as const, direction: 'inbound' as const, remoteIPAddress: `10.0.${i}.0/24` })) }]);
  t.throws(() => addAcl(full, 'sw0', 'vm1', { action: 'deny', direction: 'inbound', remoteIPAddress: '10.1.0.0/16' }), { message: /^params: port "vm1" has 64 ACL entries already/ });

  t.is(describe(diff(d0, d2)), '~ port sw0/vm1: acls + allow outbound remote 10.0.0.0/8, + deny inbound remote 10.0.0.0/8');
});

test('extended ACLs are keyed by weight and direction; kept larger weight first; features merge and remove', (t) => {
  const d0 = doc([{ name: 'vm1' }]);
  const deny = { action: 'deny' as const, direction: 'inbound' as const, weight: 1 };
  const ssh = { action: 'allow' as const, direction: 'inbound' as const, weight: 10, protocol: 'tcp', localPort: '22', stateful: true };
  const d1 = addExtendedAcl(addExtendedAcl(d0, 'sw0', 'vm1', deny)!, 'sw0', 'vm1', ssh)!;
  t.deepEqual(port(d1).extendedAcls, [ssh, deny]);
  t.is(addExtendedAcl(d1, 'sw0', 'vm1', ssh), null);
  t.throws(() => addExtendedAcl(d1, 'sw0', 'vm1', { ...deny, action: 'allow' }), { message: /^params\.weight: port "vm1" has an extended ACL with weight 1 inbound already/ });
  t.truthy(addExtendedAcl(d1, 'sw0', 'vm1', { ...deny, direction: 'outbound' }));
  t.throws(() => removeExtendedAcl(d1, 'sw0', 'vm1', 10, 'outbound'), { message: 'params.weight: port "vm1" of switch "sw0" has no extended ACL with weight 10 outbound' });
  t.deepEqual(port(removeExtendedAcl(d1, 'sw0', 'vm1', 10, 'inbound')).extendedAcls, [deny]);
  t.regex(describe(diff(d0, d1)), /^~ port sw0\/vm1: extended acls \+ allow inbound weight 10 tcp local port 22 stateful, \+ deny inbound weight 1 any protocol$/);

  const f1 = setFeature(d0, 'sw0', 'vm1', 'fw', { a: '1', b: '2' })!;
  const f2 = setFeature(f1, 'sw0', 'vm1', 'fw', { b: '3' })!;
  t.deepEqual(port(f2).features, { fw: { a: '1', b: '3' } });
  t.is(setFeature(f2, 'sw0', 'vm1', 'fw', { b: '3' }), null);
  t.deepEqual(port(removeFeature(f2, 'sw0', 'vm1', 'fw', ['a'])).features, { fw: { b: '3' } });
  t.false('features' in port(removeFeature(f2, 'sw0', 'vm1', 'fw')));
  t.throws(() => removeFeature(f2, 'sw0', 'vm1', 'fw', ['c']), { message: 'params.keys[0]: the "fw" feature of port "vm1" has no key "c"' });
  t.throws(() => removeFeature(d0, 'sw0', 'vm1', 'fw'), { message: /^params\.extension: port "vm1" of switch "sw0" has no feature settings of "fw"/ });
});

test('the diff text names each changed setting in words', (t) => {
  const a = doc([{ name: 'vm1' }]);
  const b = setPort(a, 'sw0', 'vm1', {
    dhcpGuard: true, vlan: { mode: 'trunk', allowedVlanIds: '1-100,200', nativeVlanId: 10 }, maximumBandwidth: 8000, portMirroring: 'source',
  })!;
  t.is(describe(diff(a, b)), '~ port sw0/vm1: dhcp guard default → on, maximum bandwidth default → 8000, port mirroring default → source, vlan untagged (default) → trunk 1-100,200 native 10');
  t.is(describe(diff(b, setPort(b, 'sw0', 'vm1', { vlan: { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 101 } })!)),
    '~ port sw0/vm1: vlan trunk 1-100,200 native 10 → isolated primary 100 secondary 101');
  t.regex(describe(diff(doc([]), b)), /\+ port sw0\/vm1 \(TAP, with dhcp guard, maximum bandwidth, port mirroring, vlan trunk 1-100,200 native 10\)/);
});
