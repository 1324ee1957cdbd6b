/**
 * The HNV validator (config/hnv.ts) and the HNV change of the desired-state diff: every object's fields are
 * checked and named (`hnv.lookupRecords[0].vsid: expected 4096..16777214, got 12`), values come back
 * normalised, the rules between objects refuse duplicates and a CA twice in a routing domain, a PA needs an
 * external switch, and an HNV change is one `setHnv` change (no switch or port recreated), undone by its inverse.
 */
import test from 'ava';
import { ConfigError } from '../core/errors.js';
import { describe, diff, inverse } from './desired.js';
import { validateHnv, validateLookupRecord, validateProviderAddress, validateCustomerRoute, validateEtcd } from './hnv.js';
import { validateConfig } from './schema.js';
import { validatePortSettings } from './port-settings.js';
import type { SwitchConfig, XvsConfig } from './types.js';

const ext: SwitchConfig = { name: 'sw0', type: 'external', uplink: 'veth0', allowManagementOs: false, macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [] };
const priv: SwitchConfig = { name: 'sw1', type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [] };
const pa = { switch: 'sw0', address: '192.0.2.10', prefixLength: 24 };
const rec = { ca: '10.1.0.5', vsid: 5001, mac: '02-00-00-00-50-01', pa: '192.0.2.10', encap: 'vxlan' };
const route = { routingDomain: 'tenant-a', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' };

function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return 'accepted';
}

test('each field of a lookup record is checked and named; values are normalised', (t) => {
  const r = (extra: Record<string, unknown>): string => fieldOf(() => validateHnv({ lookupRecords: [{ ...rec, ...extra }] }, 'hnv'));
  t.is(r({ vsid: 12 }), 'hnv.lookupRecords[0].vsid: expected 4096..16777214, got 12');
  t.is(r({ vsid: 16777215 }), 'hnv.lookupRecords[0].vsid: expected 4096..16777214, got 16777215');
  t.is(r({ vsid: 4096.5 }), 'hnv.lookupRecords[0].vsid: expected 4096..16777214, got 4096.5');
  t.regex(r({ ca: '10.1.0.300' }), /^hnv\.lookupRecords\[0\]\.ca: expected an IPv4 or IPv6 address/);
  t.regex(r({ ca: '10.1.0.0/24' }), /^hnv\.lookupRecords\[0\]\.ca: expected an IPv4 or IPv6 address/);
  t.regex(r({ mac: '01:00:5e:00:00:01' }), /^hnv\.lookupRecords\[0\]\.mac: 01:00:5e:00:00:01 is a multicast address/);
  t.regex(r({ mac: 'zz' }), /^hnv\.lookupRecords\[0\]\.mac: expected a MAC address/);
  t.regex(r({ pa: 'fd00::1' }), /^hnv\.lookupRecords\[0\]\.pa: expected an IPv4 address/);
  t.is(r({ encap: 'gre' }), 'hnv.lookupRecords[0].encap: expected one of nvgre, vxlan, got "gre"');
  t.is(r({ type: 'dynamic' }), 'hnv.lookupRecords[0].type: expected one of static, l2only, got "dynamic"');
  t.regex(r({ type: 'l2only' }), /^hnv\.lookupRecords\[0\]\.ca: an l2only record has CA 0\.0\.0\.0 or ::/);
  t.regex(r({ ca: '::' }), /^hnv\.lookupRecords\[0\]\.ca: :: is only the CA of an l2only record/);
  t.is(r({ color: 'red' }).split(' (')[0], 'hnv.lookupRecords[0].color: unknown key');
  t.deepEqual(validateLookupRecord({ ...rec, ca: 'FD00:0:0::5', mac: '02:AB:00:00:50:01', encap: 'NVGRE', type: 'static' }, 'p'),
    { ca: 'fd00::5', vsid: 5001, mac: '02:ab:00:00:50:01', pa: '192.0.2.10', encap: 'nvgre' });
  t.deepEqual(validateLookupRecord({ ...rec, ca: '0.0.0.0', type: 'l2only' }, 'p'), { ca: '0.0.0.0', vsid: 5001, mac: '02:00:00:00:50:01', pa: '192.0.2.10', encap: 'vxlan', type: 'l2only' });
});

test('provider addresses: IPv4, prefix length, VLAN, gateway in the subnet', (t) => {
  const p = (extra: Record<string, unknown>): string => fieldOf(() => validateProviderAddress({ ...pa, ...extra }, 'params'));
  t.regex(p({ address: 'fd00::1' }), /^params\.address: expected an IPv4 address/);
  t.regex(p({ address: '224.0.0.1' }), /^params\.address: 224\.0\.0\.1 is not a unicast host address/);
  t.is(p({ prefixLength: 33 }), 'params.prefixLength: expected 1..32, got 33');
  t.is(p({ prefixLength: undefined }), 'params.prefixLength: required (1..32)');
  t.is(p({ vlanId: 4095 }), 'params.vlanId: expected 1..4094, got 4095');
  t.is(p({ gateway: '198.51.100.1' }), "params.gateway: 198.51.100.1 is not in the PA's subnet 192.0.2.10/24");
  t.is(p({ gateway: '192.0.2.10' }), 'params.gateway: 192.0.2.10 is the PA itself');
  t.deepEqual(validateProviderAddress({ ...pa, vlanId: 20, gateway: '192.0.2.1' }, 'p'), { ...pa, vlanId: 20, gateway: '192.0.2.1' });
});

test('customer routes: prefix without host bits, next hop of its family, metric ≥ 0', (t) => {
  const r = (extra: Record<string, unknown>): string => fieldOf(() => validateCustomerRoute({ ...route, ...extra }, 'params'));
  t.regex(r({ prefix: '10.1.0.5/24' }), /^params\.prefix: "10\.1\.0\.5\/24" has host bits set \(did you mean 10\.1\.0\.0\/24\?\)/);
  t.regex(r({ prefix: '10.1.0.0' }), /^params\.prefix: expected an IPv4 or IPv6 prefix/);
  t.regex(r({ nextHop: '::' }), /^params\.nextHop: :: is not an IPv4 address like the prefix/);
  t.is(r({ metric: -1 }), 'params.metric: expected 0..4294967295, got -1');
  t.regex(r({ routingDomain: '' }), /^params\.routingDomain: expected 1\.\.128/);
  t.regex(r({ routingDomain: 'a|b' }), /^params\.routingDomain: expected 1\.\.128/);
  t.deepEqual(validateCustomerRoute({ ...route, prefix: 'FD00:1:0::/64', nextHop: '::', metric: 5 }, 'p'),
    { routingDomain: 'tenant-a', vsid: 5001, prefix: 'fd00:1::/64', nextHop: '::', metric: 5 });
});

test('etcd endpoints are http(s) URLs; the prefix ends with /', (t) => {
  t.deepEqual(validateEtcd({ endpoints: ['http://127.0.0.1:2379/'], prefix: '/x' }, 'hnv.etcd'), { endpoints: ['http://127.0.0.1:2379'], prefix: '/x/' });
  t.regex(fieldOf(() => validateEtcd({ endpoints: ['127.0.0.1:2379'] }, 'hnv.etcd')), /^hnv\.etcd\.endpoints\[0\]: expected an http/);
  t.regex(fieldOf(() => validateEtcd({ endpoints: ['unix:///x'] }, 'hnv.etcd')), /^hnv\.etcd\.endpoints\[0\]: expected an http or https URL/);
  t.regex(fieldOf(() => validateEtcd({ endpoints: [] }, 'hnv.etcd')), /^hnv\.etcd\.endpoints: expected a non-empty list/);
  t.regex(fieldOf(() => validateEtcd({ endpoints: ['http://h:1'], prefix: 'x' }, 'hnv.etcd')), /^hnv\.etcd\.prefix: expected a key prefix/);
});

test('between objects: duplicate keys, a CA once per routing domain, a VSID in one domain', (t) => {
  const h = (x: Record<string, unknown>): string => fieldOf(() => validateHnv(x, 'hnv'));
  t.regex(h({ lookupRecords: [rec, { ...rec, mac: '02:00:00:00:50:02' }] }), /^hnv\.lookupRecords\[1\]: the same lookup record as hnv\.lookupRecords\[0\]/);
  t.regex(h({ customerRoutes: [route, { ...route, nextHop: '10.1.0.1' }] }), /^hnv\.customerRoutes\[1\]: the same customer route as hnv\.customerRoutes\[0\]/);
  t.regex(h({ providerAddresses: [pa, pa] }), /^hnv\.providerAddresses\[1\]: the same provider address/);
  // 5001 and 5002 in one routing domain: 10.1.0.5 may have one record there
  const routes = [route, { ...route, vsid: 5002, prefix: '10.2.0.0/24' }];
  t.regex(h({ customerRoutes: routes, lookupRecords: [rec, { ...rec, vsid: 5002 }] }), /^hnv\.lookupRecords\[1\]\.ca: 10\.1\.0\.5 has a record in routing domain "tenant-a" already/);
  // another tenant may use the same CA and MAC
  t.notThrows(() => validateHnv({ customerRoutes: [...routes, { ...route, routingDomain: 'tenant-b', vsid: 6001 }], lookupRecords: [rec, { ...rec, vsid: 6001 }] }, 'hnv'));
  t.regex(h({ customerRoutes: [route, { ...route, routingDomain: 'tenant-b', prefix: '10.9.0.0/24' }] }), /^hnv\.customerRoutes\[1\]\.routingDomain: VSID 5001 is in routing domain "tenant-a" already/);
});

test('the document: hnv validated with its switches (a PA on an external switch), empty lists left out; virtualSubnetId in the port settings', (t) => {
  const cfg = (hnv: unknown): unknown => ({ version: 1, switches: [ext, priv], hnv });
  t.is(fieldOf(() => validateConfig(cfg({ providerAddresses: [{ ...pa, switch: 'nope' }] }))), 'hnv.providerAddresses[0].switch: no such switch "nope"');
  t.regex(fieldOf(() => validateConfig(cfg({ providerAddresses: [{ ...pa, switch: 'sw1' }] }))), /^hnv\.providerAddresses\[0\]\.switch: switch "sw1" is private/);
  t.is(validateConfig(cfg({ providerAddresses: [], lookupRecords: [] })).hnv, undefined);
  const ok = validateConfig(cfg({ providerAddresses: [pa], lookupRecords: [rec], customerRoutes: [route] }));
  t.is(ok.hnv?.lookupRecords?.[0].mac, '02:00:00:00:50:01');
  t.is(fieldOf(() => validatePortSettings({ virtualSubnetId: 12 }, 'params')), 'params.virtualSubnetId: expected 4096..16777214, got 12');
  t.deepEqual(validatePortSettings({ virtualSubnetId: 5001 }, 'params'), { virtualSubnetId: 5001 });
});

test('an HNV change is one setHnv change: no switch or port recreated, its inverse undoes it, described by list', (t) => {
  const base: XvsConfig = { version: 1, switches: [{ ...ext, ports: [{ name: 'vm1', virtualSubnetId: 5001 }] }] };
  const withHnv: XvsConfig = validateConfig({ ...base, hnv: { providerAddresses: [pa], lookupRecords: [rec] } });
  const changes = diff(base, withHnv);
  t.deepEqual(changes.map((c) => c.kind), ['setHnv']);
  t.is(describe(changes), '~ hnv: + 1 provider address(es), + 1 lookup record(s) (policies pushed to every switch)');
  const inv = inverse(changes[0]);
  t.deepEqual(inv, [{ kind: 'setHnv', before: withHnv.hnv, after: undefined }]);
  t.deepEqual(diff(withHnv, withHnv), []);
  // a record moved to another PA: one change, the document's switch untouched
  const moved = validateConfig({ ...base, hnv: { providerAddresses: [pa], lookupRecords: [{ ...rec, pa: '192.0.2.20' }] } });
  t.is(describe(diff(withHnv, moved)), '~ hnv: + 1 lookup record(s), - 1 lookup record(s) (policies pushed to every switch)');
  // with a new switch in the same document, the HNV change comes after the switch is created
  const both = validateConfig({ version: 1, switches: [ext], hnv: { providerAddresses: [pa] } });
  t.deepEqual(diff({ version: 1, switches: [] }, both).map((c) => c.kind), ['createSwitch', 'setHnv']);
  // a VSID on a port is a setPort change in place
  const vsid = diff({ version: 1, switches: [{ ...ext, ports: [{ name: 'vm1' }] }] }, base);
  t.is(describe(vsid), '~ port sw0/vm1: virtual subnet default → 5001');
});
