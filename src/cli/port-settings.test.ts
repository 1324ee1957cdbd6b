/** `xvs port vlan`'s options to a VlanSetting: one mode, only its options, each required one named. */
import test from 'ava';
import { vlanFromOptions } from './port-settings.js';

test('each mode with its options becomes its VlanSetting; no mode: show', (t) => {
  t.is(vlanFromOptions({}), null);
  t.deepEqual(vlanFromOptions({ untagged: true }), { mode: 'untagged' });
  t.deepEqual(vlanFromOptions({ access: true, vlanId: '10' }), { mode: 'access', accessVlanId: 10 });
  t.deepEqual(vlanFromOptions({ trunk: true, allowedVlanIds: '1-100,200', nativeVlanId: '10' }), { mode: 'trunk', allowedVlanIds: '1-100,200', nativeVlanId: 10 });
  t.deepEqual(vlanFromOptions({ isolated: true, primaryVlanId: '100', secondaryVlanId: '101' }), { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 101 });
  t.deepEqual(vlanFromOptions({ community: true, primaryVlanId: '100', secondaryVlanId: '102' }), { mode: 'community', primaryVlanId: 100, secondaryVlanId: 102 });
  t.deepEqual(vlanFromOptions({ promiscuous: true, primaryVlanId: '100', secondaryVlanIds: '101-102' }), { mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '101-102' });
  // ranges are the daemon's to check (it names the field): 5000 goes through
  t.deepEqual(vlanFromOptions({ access: true, vlanId: '5000' }), { mode: 'access', accessVlanId: 5000 });
});

test('modes are mutually exclusive; an option of another mode, a missing one, or a word are named', (t) => {
  t.throws(() => vlanFromOptions({ access: true, trunk: true, vlanId: '1' }), { message: /mutually exclusive: give one of --untagged, --access, .* \(got --access, --trunk\)/ });
  t.throws(() => vlanFromOptions({ vlanId: '1' }), { message: '--vlan-id: name the mode too (--untagged, --access, --trunk, --isolated, --community, --promiscuous)' });
  t.throws(() => vlanFromOptions({ access: true, vlanId: '1', secondaryVlanIds: '2' }), { message: '--secondary-vlan-ids goes with --promiscuous, not --access' });
  t.throws(() => vlanFromOptions({ untagged: true, vlanId: '1' }), { message: '--vlan-id goes with --access, not --untagged' });
  t.throws(() => vlanFromOptions({ access: true }), { message: '--access needs --vlan-id' });
  t.throws(() => vlanFromOptions({ promiscuous: true, primaryVlanId: '5' }), { message: '--promiscuous needs --secondary-vlan-ids' });
  t.throws(() => vlanFromOptions({ access: true, vlanId: 'ten' }), { message: '--vlan-id: expected a number, got "ten"' });
});
