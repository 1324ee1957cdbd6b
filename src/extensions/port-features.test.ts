import test from 'ava';
import type { PortSettings } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import { fromRoot } from '../repo-root.js';
import { udpFrame } from '../test-support/frames.js';
import { pathToFileURL } from 'node:url';
import type { PortFeatureSpec } from './api.js';
import { validatePortFeatures } from './port-features.js';
import { testSwitch, type TestSwitch } from './testing.js';

const guardUrl = pathToFileURL(fromRoot('examples', 'port-guard', 'index.js')).href;

async function guarded(settings: PortSettings[], refuse = ''): Promise<TestSwitch> {
  const sw = await testSwitch({ ports: settings.length, stages: [{ module: guardUrl, config: { refuse } }] });
  sw.dp.policy.install({ ports: settings.map((s, index) => ({ index, name: `p${index}`, kind: 'vm' as const, settings: s })) });
  return sw;
}
const guardOf = (sw: TestSwitch) => sw.dp.pipeline.all().find((e) => e.name === 'port-guard')!;

test('view.portPolicy: each port\'s VLAN mode and security settings, frozen, Hyper-V defaults filled in', async (t) => {
  const sw = await guarded([
    { vlan: { mode: 'access', accessVlanId: 10 }, dhcpGuard: true },
    {},
    { vlan: { mode: 'trunk', allowedVlanIds: '1-100', nativeVlanId: 5 }, portMirroring: 'source', macAddressSpoofing: true },
  ]);
  t.teardown(() => sw.close());
  const view = guardOf(sw).view;
  const p0 = view.portPolicy(0)!;
  t.deepEqual(p0.vlan, { mode: 'access', accessVlanId: 10 });
  t.true(p0.dhcpGuard);
  t.false(p0.routerGuard);
  t.false(p0.macAddressSpoofing);
  t.is(p0.portMirroring, 'none');
  t.is(p0.virtualSubnetId, undefined);
  t.true(Object.isFrozen(p0) && Object.isFrozen(p0.vlan));
  t.throws(() => { (p0.vlan as { mode: string }).mode = 'untagged'; });
  t.deepEqual(view.portPolicy(1)!.vlan, { mode: 'untagged' });
  t.is(view.portPolicy(2)!.vlan.mode, 'trunk');
  t.is(view.portPolicy(2)!.portMirroring, 'source');
  t.true(view.portPolicy(2)!.macAddressSpoofing);
  t.is(view.portPolicy(3), undefined, 'no such port');
  t.is(view.portPolicy(0), p0, 'the same object until the settings change (no allocation per call)');
  const v0 = guardOf(sw).ctx.policyVersion;
  sw.dp.policy.install({ ports: [{ index: 0, name: 'p0', kind: 'vm', settings: { vlan: { mode: 'access', accessVlanId: 20 } } }] });
  t.deepEqual(view.portPolicy(0)!.vlan, { mode: 'access', accessVlanId: 20 });
  t.is(view.portPolicy(1), undefined, 'a port gone from the input is gone from the view');
  t.true(guardOf(sw).ctx.policyVersion > v0);
});

test('ctx.portFeature: typed by the spec, default when unset; a blocked port\'s frames are dropped', async (t) => {
  const sw = await guarded([{ features: { 'port-guard': { blocked: 'true' } } }, {}]);
  t.teardown(() => sw.close());
  const ctx = guardOf(sw).ctx;
  t.is(ctx.portFeature(0, 'blocked'), true);
  t.is(ctx.portFeature(1, 'blocked'), false, 'the spec default');
  t.is(ctx.portFeature(0, 'toString'), undefined, 'not a key: nothing from Object.prototype');
  sw.send(0, udpFrame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01'));
  sw.send(1, udpFrame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:02'));
  sw.breathe();
  t.is(sw.sent(1).length, 0);
  t.is(sw.sent(0).length, 1);
  t.is(sw.counter('port-guard', 'blocked'), 1);
  t.is(sw.drops(0, 'extension-drop'), 1);
});

test('control hooks: a veto comes back with the extension\'s name and message; accepting returns null', async (t) => {
  const sw = await guarded([{ features: { 'port-guard': { locked: 'true' } } }, {}], '^bad');
  t.teardown(() => sw.close());
  t.deepEqual(sw.dp.portControl('create', { name: 'bad1', index: 2, kind: 'vm', settings: {} }),
    { extension: 'port-guard', message: 'port name "bad1" matches /^bad/' });
  t.is(sw.dp.portControl('create', { name: 'good1', index: 2, kind: 'vm', settings: {} }), null);
  const locked = { 'port-guard': { locked: 'true' } };
  t.deepEqual(sw.dp.portControl('settings', { name: 'p0', index: 0, kind: 'vm', settings: { macAddressSpoofing: true, features: locked } }, { features: locked }),
    { extension: 'port-guard', message: 'port "p0" is locked: MAC spoofing stays off' });
  t.is(sw.dp.portControl('settings', { name: 'p1', index: 1, kind: 'vm', settings: { macAddressSpoofing: true } }, {}), null);
  t.is(sw.dp.portControl('delete', { name: 'p1', index: 1, kind: 'vm', settings: {} }), null);
  t.is(sw.counter('port-guard', 'vetoes'), 2);
});

test('validatePortFeatures: unknown extension, unknown key and bad value are refused with the field named', (t) => {
  const spec: PortFeatureSpec = {
    blocked: { type: 'boolean', doc: 'x' }, quota: { type: 'integer', doc: 'x', min: 1, max: 10 },
    mode: { type: 'enum', doc: 'x', values: ['a', 'b'] }, tag: { type: 'string', doc: 'x', pattern: /^[a-z]+$/ },
  };
  const reg = { get: (n: string) => (n === 'g' ? { def: { portFeatures: spec } } : n === 'plain' ? { def: {} } : undefined) };
  const msg = (f: unknown): string => t.throws(() => validatePortFeatures(f, reg), { instanceOf: ConfigError })!.message;
  t.notThrows(() => validatePortFeatures({ g: { blocked: 'true', quota: '3', mode: 'b', tag: 'abc' } }, reg));
  t.is(msg({ nope: {} }), 'features.nope: no installed extension "nope"');
  t.is(msg({ plain: { a: '1' } }), 'features.plain: extension "plain" has no port features');
  t.is(msg({ g: { colour: 'red' } }), 'features.g.colour: unknown port feature (expected one of blocked, quota, mode, tag)');
  t.is(msg({ g: { blocked: 'maybe' } }), 'features.g.blocked: expected true or false, got "maybe"');
  t.is(msg({ g: { quota: '11' } }), 'features.g.quota: expected 1..10, got 11');
  t.is(msg({ g: { quota: '1.5' } }), 'features.g.quota: expected an integer, got "1.5"');
  t.is(msg({ g: { mode: 'c' } }), 'features.g.mode: expected one of a, b, got "c"');
  t.is(msg({ g: { tag: 'A1' } }), 'features.g.tag: "A1" does not match /^[a-z]+$/');
});

test('control hooks: an exception is a veto with its message; a promise is refused', async (t) => {
  const sw = await testSwitch({ ports: 1, stages: [{ module: new URL('./fixtures/rough-hooks.js', import.meta.url).href }] });
  t.teardown(() => sw.close());
  t.deepEqual(sw.dp.portControl('create', { name: 'throw1', index: 1, kind: 'vm', settings: {} }),
    { extension: 'rough-hooks', message: 'no ports called throw1' });
  t.deepEqual(sw.dp.portControl('create', { name: 'async1', index: 1, kind: 'vm', settings: {} }),
    { extension: 'rough-hooks', message: 'its control hook returned a promise; control hooks answer synchronously' });
  t.is(sw.dp.portControl('create', { name: 'fine', index: 1, kind: 'vm', settings: {} }), null);
  t.is(sw.failures.length, 0, 'a veto by exception does not take the extension out');
});
