import test from 'ava';
import { ConfigError } from '../core/errors.js';
import { diff, inverse } from '../config/desired.js';
import { validateConfig } from '../config/schema.js';
import { parseSwitchSet } from '../control/vmq-params.js';
import type { XvsConfig } from '../config/types.js';

function throwsAt(t: import('ava').ExecutionContext, fn: () => unknown, field: string, re: RegExp): void {
  const err = t.throws(fn, { instanceOf: ConfigError });
  t.is((err as ConfigError).field, field, err?.message);
  t.regex(err?.message ?? '', re);
}

const doc = (sw: Record<string, unknown>, port: Record<string, unknown> = {}): unknown => ({
  version: 1, switches: [{ name: 'sw0', type: 'private', ports: [{ name: 'vm1', ...port }], ...sw }],
});

test('a document: cpus, vmqWeight and vmqPin validated with the field named; weight 0 is the default', (t) => {
  const ok = validateConfig(doc({ cpus: [1, 0], workers: 2 }, { vmqWeight: 30, vmqPin: { cpu: 1 } }));
  t.deepEqual(ok.switches[0].cpus, [1, 0]);
  t.like(ok.switches[0].ports[0], { vmqWeight: 30, vmqPin: { cpu: 1 } });
  t.is(validateConfig(doc({}, { vmqWeight: 0 })).switches[0].ports[0].vmqWeight, undefined);
  t.is(validateConfig(doc({ cpus: [] })).switches[0].cpus, undefined);
  throwsAt(t, () => validateConfig(doc({ cpus: [0, 0] })), 'switches[0].cpus[1]', /CPU 0 is listed twice/);
  throwsAt(t, () => validateConfig(doc({ cpus: '0,1' })), 'switches[0].cpus', /expected a list of CPU numbers/);
  throwsAt(t, () => validateConfig(doc({ cpus: [2000] })), 'switches[0].cpus[0]', /0\.\.1023/);
  throwsAt(t, () => validateConfig(doc({}, { vmqWeight: 101 })), 'switches[0].ports[0].vmqWeight', /0\.\.100, got 101/);
  throwsAt(t, () => validateConfig(doc({}, { vmqPin: { core: 1 } })), 'switches[0].ports[0].vmqPin', /expected \{ "worker": N \} or \{ "cpu": N \}/);
  throwsAt(t, () => validateConfig(doc({}, { vmqPin: { worker: 99 } })), 'switches[0].ports[0].vmqPin.worker', /0\.\.15/);
});

test('switch.set params; a cpus change is applied in place (setCpus), never by recreating the switch', (t) => {
  t.deepEqual(parseSwitchSet({ name: 'sw0', cpus: [0] }), { name: 'sw0', cpus: [0] });
  t.deepEqual(parseSwitchSet({ name: 'sw0', cpus: null }), { name: 'sw0', cpus: undefined });
  throwsAt(t, () => parseSwitchSet({ name: 'sw0' }), 'params', /nothing to set/);
  throwsAt(t, () => parseSwitchSet({ name: 'sw0', cpus: [0, 1023] }), 'params.cpus[1]', /CPU 1023 is not online/);
  const a = validateConfig(doc({})) as XvsConfig;
  const b = validateConfig(doc({ cpus: [0] })) as XvsConfig;
  const changes = diff(a, b);
  t.deepEqual(changes, [{ kind: 'setCpus', switch: 'sw0', before: undefined, after: [0] }]);
  t.deepEqual(inverse(changes[0]), [{ kind: 'setCpus', switch: 'sw0', before: [0], after: undefined }]);
});
