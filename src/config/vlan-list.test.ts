/** Hyper-V's VLAN id lists: ranges and ids, 1..4094, sorted and joined again. */
import test from 'ava';
import { ConfigError } from '../core/errors.js';
import { formatVlanList, parseVlanList } from './vlan-list.js';

test('ids and ranges parse, sorted without duplicates; formatting joins ranges back', (t) => {
  t.deepEqual(parseVlanList('200,1-3'), [1, 2, 3, 200]);
  t.deepEqual(parseVlanList(' 5 , 4-6 ,4094'), [4, 5, 6, 4094]);
  t.deepEqual(parseVlanList('200-201'), [200, 201], 'Microsoft\'s "200-201" is two VLANs');
  t.is(parseVlanList('1-4094').length, 4094);
  t.is(formatVlanList([200, 3, 1, 2, 2, 7, 8]), '1-3,7-8,200');
  t.is(formatVlanList(parseVlanList('1-100,200,150-160,101')), '1-101,150-160,200');
  t.is(formatVlanList([]), '');
});

test('bad lists are refused naming the path, the culprit and the range', (t) => {
  const bad = (s: string, re: RegExp): void => {
    const e = t.throws(() => parseVlanList(s, 'vlan.allowedVlanIds'), { instanceOf: ConfigError });
    t.is(e?.field, 'vlan.allowedVlanIds');
    t.regex(e?.message ?? '', re, s);
  };
  bad('1-100,5000', /^vlan\.allowedVlanIds: 5000 is not a VLAN id in "1-100,5000" \(expected VLAN ids 1\.\.4094/);
  bad('0', /0 is not a VLAN id/);
  bad('4095', /4095 is not a VLAN id/);
  bad('', /no VLAN id/);
  bad('10-5', /the range "10-5" is backwards/);
  bad('1,,2', /"" is not an id or a range/);
  bad('a-b', /"a-b" is not an id or a range/);
  bad('1-2-3', /"1-2-3" is not an id or a range/);
});
