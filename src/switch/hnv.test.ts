/**
 * A switch's share of the HNV policy (switch/hnv.ts): no `hnv` input without HNV objects or VSID ports (a
 * switch without HNV costs nothing), this switch's PAs with every record and route, the uplink's index (-1
 * without one), and the VSID MTU: the smallest overlay MTU of the VSID's encapsulations, VXLAN if none.
 */
import test from 'ava';
import { NetdevRecord } from '../ports/netdev-record.js';
import { SwitchHnv, vsidMtu } from './hnv.js';
import type { HnvPolicySnapshot } from '../hnv/model.js';

const rec = (vsid: number, encap: 'nvgre' | 'vxlan', ca: string) => ({ ca, vsid, mac: '02:00:00:00:00:01', pa: '192.0.2.10', encap });
const snapshot: HnvPolicySnapshot = {
  providerAddresses: [{ switch: 'sw0', address: '192.0.2.10', prefixLength: 24 }, { switch: 'sw1', address: '192.0.2.11', prefixLength: 24 }],
  lookupRecords: [rec(5001, 'vxlan', '10.1.0.5'), rec(5002, 'nvgre', '10.2.0.5'), rec(5003, 'nvgre', '10.3.0.5'), rec(5003, 'vxlan', '10.3.0.6')],
  customerRoutes: [{ routingDomain: 'a', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' }],
};

test('the VSID MTU: the smallest of its encapsulations over the underlay, VXLAN when it has no record', (t) => {
  t.is(vsidMtu(5001, snapshot, 1500), 1450);
  t.is(vsidMtu(5002, snapshot, 1500), 1458);
  t.is(vsidMtu(5003, snapshot, 1500), 1450, 'NVGRE and VXLAN records: the smaller');
  t.is(vsidMtu(6000, snapshot, 1500), 1450, 'no record: VXLAN');
  t.is(vsidMtu(5002, snapshot, 9000), 8958);
});

test('the policy input: none without HNV; this switch\'s PAs, every record and route, uplink -1 without one', (t) => {
  const h = new SwitchHnv(() => {}, new NetdevRecord(null));
  t.is(h.input(undefined, [{ name: 'vm1' }]), undefined, 'no objects, no VSID port: no hnv input');
  const vsidOnly = h.input(undefined, [{ name: 'vm1', virtualSubnetId: 5001 }]);
  t.deepEqual(vsidOnly, { uplink: -1, uplinkMac: '00:00:00:00:00:00', uplinkMtu: 1500, uplinkTunnelGso: false, providerAddresses: [], lookupRecords: [], customerRoutes: [] });
  h.policy = { snapshot, providerAddresses: [snapshot.providerAddresses[0]] };
  const input = h.input(undefined, [{ name: 'vm1' }])!;
  t.deepEqual(input.providerAddresses, [snapshot.providerAddresses[0]]);
  t.is(input.lookupRecords.length, 4);
  t.deepEqual(input.customerRoutes, snapshot.customerRoutes);
  t.not(input.lookupRecords, snapshot.lookupRecords, 'a copy: the workers get their own');
  t.is(h.wantedMtu({ name: 'vm1', virtualSubnetId: 5002 }, 1500), 1458);
  t.is(h.wantedMtu({ name: 'vm1' }, 1500), null);
});
