/**
 * Port settings changed in place (`port set`, issue 9 item 11): validated with the field named, a
 * `setPort` change in the diff (not remove + add, which would re-create a VM's TAP), its inverse, its
 * text, and the `port set` edit of the document.
 */
import test from 'ava';
import { ConfigError } from '../core/errors.js';
import { setPort } from '../control/edits.js';
import { parseRequestLine, METHODS } from '../control/protocol.js';
import { describe, diff, inverse } from './desired.js';
import { validateConfig, validatePort } from './schema.js';
import type { SwitchConfig, XvsConfig } from './types.js';

const sw = (ports: SwitchConfig['ports'], extra: Partial<SwitchConfig> = {}): SwitchConfig => ({
  name: 'sw0', type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports, ...extra,
});
const doc = (...s: SwitchConfig[]): XvsConfig => ({ version: 1, switches: s });

test('macLimit and macPortLimit are validated, naming the field', (t) => {
  t.deepEqual(validatePort({ name: 'vm1', macLimit: 64 }, 'p'), { name: 'vm1', macLimit: 64 });
  t.throws(() => validatePort({ name: 'vm1', macLimit: -1 }, 'switches[0].ports[0]'),
    { instanceOf: ConfigError, message: 'switches[0].ports[0].macLimit: expected an integer in 0..1048576, got -1' });
  t.throws(() => validatePort({ name: 'vm1', macLimit: 'many' }, 'p'), { message: /^p\.macLimit: expected an integer/ });
  const c = validateConfig({ version: 1, switches: [{ name: 'sw0', type: 'private', macPortLimit: 16, ports: [{ name: 'vm1', macLimit: 0 }] }] });
  t.is(c.switches[0].macPortLimit, 16);
  t.is(c.switches[0].ports[0].macLimit, 0);
  t.throws(() => validateConfig({ version: 1, switches: [{ name: 'sw0', type: 'private', macPortLimit: 2_000_000 }] }),
    { message: /^switches\[0\]\.macPortLimit: expected an integer in 0\.\.1048576/ });
});

test('a changed macLimit is a setPort change in place; its inverse restores it; the text says what changes', (t) => {
  const a = doc(sw([{ name: 'vm1' }, { name: 'vm2', netdev: 'veth0', macLimit: 5 }]));
  const b = doc(sw([{ name: 'vm1', macLimit: 64 }, { name: 'vm2', netdev: 'veth0' }]));
  const ch = diff(a, b);
  t.deepEqual(ch, [
    { kind: 'setPort', switch: 'sw0', port: 'vm1', before: {}, after: { macLimit: 64 } },
    { kind: 'setPort', switch: 'sw0', port: 'vm2', before: { macLimit: 5 }, after: {} },
  ]);
  t.is(describe(ch), '~ port sw0/vm1: mac limit default → 64\n~ port sw0/vm2: mac limit 5 → default');
  t.deepEqual(inverse(ch[0]), [{ kind: 'setPort', switch: 'sw0', port: 'vm1', before: { macLimit: 64 }, after: {} }]);
  // another netdev still replaces the port, with its settings
  const c = doc(sw([{ name: 'vm1', netdev: 'veth9', macLimit: 64 }, { name: 'vm2', netdev: 'veth0' }]));
  t.deepEqual(diff(b, c).map((x) => x.kind), ['removePort', 'addPort']);
  t.deepEqual(diff(b, b), []);
  // the switch-wide default is an immutable setting: the switch is re-created
  t.regex(describe(diff(a, doc(sw(a.switches[0].ports, { macPortLimit: 8 })))), /recreated: macPortLimit \(none\) → 8/);
});

test('port set edits the document; the same value again is no change; a missing port is named', (t) => {
  const a = doc(sw([{ name: 'vm1' }]));
  const b = setPort(a, 'sw0', 'vm1', { macLimit: 64 })!;
  t.deepEqual(b.switches[0].ports, [{ name: 'vm1', macLimit: 64 }]);
  t.is(setPort(b, 'sw0', 'vm1', { macLimit: 64 }), null);
  t.deepEqual(setPort(b, 'sw0', 'vm1', { macLimit: null })!.switches[0].ports, [{ name: 'vm1' }]);
  t.throws(() => setPort(a, 'sw0', 'vm9', { macLimit: 1 }), { message: 'params.name: no such port "vm9" on switch "sw0"' });
});

test('port.set and fdb.show params are checked, naming the field', (t) => {
  const line = (m: string, params: unknown): string => JSON.stringify({ id: 1, method: m, params });
  const r = parseRequestLine(line('port.set', { switch: 'sw0', name: 'vm1', macLimit: 8 }));
  t.true(r.ok);
  t.deepEqual(METHODS['port.set'].parse({ switch: 'sw0', name: 'vm1', macLimit: null }), { switch: 'sw0', name: 'vm1', settings: { macLimit: null } });
  t.throws(() => METHODS['port.set'].parse({ switch: 'sw0', name: 'vm1' }), { message: /^params: nothing to set/ });
  t.throws(() => METHODS['port.set'].parse({ switch: 'sw0', name: 'vm1', macLimit: 1.5 }), { message: /^params\.macLimit: expected an integer/ });
  t.throws(() => METHODS['port.set'].parse({ switch: 'sw0', name: 'vm1', mtu: 9000 }), { message: /^params\.mtu: unknown key/ });
  t.deepEqual(METHODS['fdb.show'].parse({ switch: 'sw0' }), { switch: 'sw0', limit: 5000 });
  t.throws(() => METHODS['fdb.show'].parse({ switch: 'sw0', limit: 20_000 }), { message: /^params\.limit: expected an integer in 1\.\.10000/ });
  t.throws(() => METHODS['fdb.show'].parse({ switch: 'sw0', after: 'x/y' }), { message: /^params\.after: expected the "next"/ });
});
