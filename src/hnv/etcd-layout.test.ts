import test from 'ava';
import { hnvObjectProblems } from '../config/hnv.js';
import type { HnvCustomerRoute, HnvLookupRecord, HnvProviderAddress } from '../config/types.js';
import {
  escapeSegment, normalizePrefix, objectPath, parseEntry, pathOfIdentity, unescapeSegment,
} from './etcd-layout.js';
import { paKey, recordKey, routeKey } from './model.js';

const pa: HnvProviderAddress = { switch: 'ext', address: 'fd00::1', prefixLength: 64, host: 'host-a' };
const rec: HnvLookupRecord = { ca: '10.1.0.5', vsid: 5001, mac: '02:00:00:00:00:05', pa: '192.168.50.1', encap: 'nvgre' };
const l2: HnvLookupRecord = { ca: '0.0.0.0', vsid: 5001, mac: '02:00:00:00:00:06', pa: '192.168.50.1', encap: 'nvgre', type: 'l2only' };
const route: HnvCustomerRoute = { routingDomain: 'tenant/a', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' };

test('the key layout: pa/<host>/<switch>/<address>, record/<vsid>/<ca or mac>, route/<rd>/<vsid>/<prefix>, "/" and "%" escaped', (t) => {
  t.is(normalizePrefix(undefined), '/xvs/hnv/');
  t.is(normalizePrefix('/x/y'), '/x/y/');
  t.is(objectPath('pa', pa, 'other'), 'pa/host-a/ext/fd00::1');
  t.is(objectPath('pa', { ...pa, host: undefined }, 'me'), 'pa/me/ext/fd00::1', 'a PA without host is the writer\'s');
  t.is(objectPath('record', rec, ''), 'record/5001/10.1.0.5');
  t.is(objectPath('record', l2, ''), 'record/5001/02:00:00:00:00:06');
  t.is(objectPath('route', route, ''), 'route/tenant%2Fa/5001/10.1.0.0%2F24');
  for (const s of ['a/b', '100%', '%2F', 'x%25/y']) t.is(unescapeSegment(escapeSegment(s)), s);
  t.false(escapeSegment('a/%b').includes('/'));
});

test('an identity (paKey/recordKey/routeKey) names the same key as its object', (t) => {
  t.is(pathOfIdentity('pa', paKey(pa), 'x'), objectPath('pa', pa, 'x'));
  t.is(pathOfIdentity('pa', paKey({ ...pa, host: undefined }), 'me'), 'pa/me/ext/fd00::1');
  t.is(pathOfIdentity('record', recordKey(rec), ''), objectPath('record', rec, ''));
  t.is(pathOfIdentity('record', recordKey(l2), ''), objectPath('record', l2, ''));
  t.is(pathOfIdentity('route', routeKey(route), ''), objectPath('route', route, ''));
  t.is(pathOfIdentity('route', routeKey({ ...route, routingDomain: 'a|b' }), ''), 'route/a|b/5001/10.1.0.0%2F24');
  t.true(pathOfIdentity('record', '5001|10.1.0.5', '') instanceof Error);
  t.true(pathOfIdentity('pa', 'ext', '') instanceof Error);
});

test('values read from etcd: accepted when valid (config/hnv.ts) and under their own key, else the reason with the field named', (t) => {
  const pa4: HnvProviderAddress = { switch: 'ext', address: '192.168.50.1', prefixLength: 24, host: 'host-a' };
  const route4: HnvCustomerRoute = { routingDomain: 'tenant-a', vsid: 5001, prefix: '10.1.0.0/24', nextHop: '0.0.0.0' };
  const v = hnvObjectProblems;
  t.deepEqual(parseEntry('record/5001/10.1.0.5', JSON.stringify(rec), v), { kind: 'record', obj: rec });
  t.deepEqual(parseEntry('record/5001/02:00:00:00:00:06', JSON.stringify(l2), v), { kind: 'record', obj: l2 });
  t.deepEqual(parseEntry('pa/host-a/ext/192.168.50.1', JSON.stringify(pa4), v), { kind: 'pa', obj: pa4 });
  t.deepEqual(parseEntry('route/tenant-a/5001/10.1.0.0%2F24', JSON.stringify(route4), v), { kind: 'route', obj: route4 });
  const skip = (p: string, value: string): string => {
    const r = parseEntry(p, value, v);
    return 'skip' in r ? r.skip : '';
  };
  t.regex(skip('record/5001/10.1.0.5', '{'), /not JSON/);
  t.regex(skip('record/5001/10.1.0.5', '[1]'), /expected an object/);
  t.regex(skip('record/5001/10.1.0.5', JSON.stringify({ ...rec, vsid: 4095 })), /vsid: expected 4096\.\.16777214, got 4095/);
  t.regex(skip('record/5001/10.1.0.5', JSON.stringify({ ...rec, mac: 'x' })), /mac: expected/);
  t.regex(skip('record/5001/10.1.0.5', JSON.stringify({ ...rec, encap: 'gre' })), /encap: expected/);
  t.regex(skip('record/5001/10.1.0.5', JSON.stringify({ ...rec, ca: '10.1.0.6' })), /own key is record\/5001\/10\.1\.0\.6/);
  t.regex(skip('pa/host-a/ext/192.168.50.1', JSON.stringify({ ...pa4, host: undefined })), /host: expected/);
  t.regex(skip('pa/host-b/ext/192.168.50.1', JSON.stringify(pa4)), /own key is pa\/host-a/);
  t.regex(skip('route/tenant-a/5001/10.1.0.0%2F24', JSON.stringify({ ...route4, prefix: '10.1.0.0/33' })), /^prefix: /);
  t.regex(skip('other/x', '{}'), /not a pa\/, record\/ or route\/ key/);
  // the validator passed in decides
  t.deepEqual(parseEntry('record/5001/10.1.0.5', JSON.stringify(rec), () => ['ca: refused by policy']), { skip: 'ca: refused by policy' });
});
