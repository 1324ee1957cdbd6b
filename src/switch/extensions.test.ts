/**
 * The control plane's extension bindings (SwitchExtensions) with the real registry of built-in
 * extensions: default order (most recently enabled nearest the protocol edge), the learning
 * forwarder's one identity, what is refused, and `pipeline show` derived from the stage list. The
 * plans go to a recorder instead of workers; the worker-side config check runs the extension's own
 * validate() exactly as a worker does (loadExtensionModule + validate).
 */
import test from 'ava';
import { ExtensionRegistry } from '../extensions/registry.js';
import { loadExtensionModule, type PipelinePlan } from '../pipeline/plan.js';
import { STAGE_LIST } from '../pipeline/stage-list.js';
import { SwitchExtensions } from './extensions.js';

async function bindings() {
  const registry = new ExtensionRegistry();
  await registry.loadBuiltins();
  const plans: PipelinePlan[] = [];
  const x = new SwitchExtensions({
    switchName: 'sw', registry, workers: 1, log: () => {},
    send: async (plan) => { plans.push(plan); },
    validate: async (sp) => { (await loadExtensionModule(sp.module, sp)).validate?.(sp.config); },
  });
  await x.apply([]);
  const last = (): PipelinePlan => plans[plans.length - 1];
  return { x, plans, last };
}

test('within a kind the most recently enabled extension is first on ingress; order overrides and is what persists', async (t) => {
  const { x, last } = await bindings();
  await x.enable('noop');
  await x.enable('firewall');
  t.deepEqual(last().filters.map((s) => s.name), ['firewall', 'noop'], 'enable noop then firewall: ingress firewall, noop');
  const p = x.pipeline();
  t.deepEqual(p.stages.find((s) => s.stage === 'ingress-filter')?.extensions, ['firewall', 'noop']);
  t.deepEqual(p.stages.find((s) => s.stage === 'egress-filter')?.extensions, ['noop', 'firewall']);
  await x.order(['noop', 'firewall']);
  t.deepEqual(last().filters.map((s) => s.name), ['noop', 'firewall']);
  t.deepEqual(x.toConfig().filter((e) => e.enabled && e.name !== 'learning').map((e) => e.name), ['noop', 'firewall'], 'the order persists');
});

test('learning is a real forwarding extension: running when no other forwarder is, replaced when one is, back after', async (t) => {
  const { x, last } = await bindings();
  const learning = (): { enabled: boolean; running: boolean; replacedBy?: string } => x.state([]).find((e) => e.name === 'learning')!;
  t.like(learning(), { enabled: true, running: true });
  t.is(last().forward.name, 'learning');
  t.truthy(last().forward.module.endsWith('/learning/index.js'), 'loaded as a module like any extension');
  await x.enable('static');
  t.is(last().forward.name, 'static');
  t.is(last().defaultForward.name, 'learning', 'kept ready on every worker to take over');
  t.like(learning(), { enabled: false, running: false, replacedBy: 'static' });
  await t.throwsAsync(() => x.enable('learning'), { message: /"static" is enabled .*disable it to go back to learning/ });
  await x.disable('static');
  t.is(last().forward.name, 'learning');
  t.like(learning(), { enabled: true, running: true });
  await t.throwsAsync(() => x.disable('learning'), { message: /default forwarder/ });
  // a failed forwarder: learning forwards again at once
  await x.enable('static');
  const slot = last().forward.slot;
  await x.failed(slot, 'boom');
  t.is(last().forward.name, 'learning');
  t.like(learning(), { enabled: true, running: true });
  t.like(x.state([]).find((e) => e.name === 'static'), { enabled: true, running: false });
});

test('a capture cannot be set to drop on error; a configuration is validated in full whether enabled or not', async (t) => {
  const { x } = await bindings();
  await t.throwsAsync(() => x.set('pcap', { onError: 'drop' }), { message: /onError: a capture extension never drops/ });
  await t.throwsAsync(() => x.apply([{ name: 'pcap', enabled: true, onError: 'drop' }]), { message: /extensions\[0\]\.onError/ });
  await x.set('firewall', { onError: 'bypass' });
  // disabled firewall, bad match expression: refused now, not at the next enable
  await t.throwsAsync(() => x.set('firewall', { config: { rules: [{ match: 'tcp.nosuchfield=1', action: 'deny' }] } }), { message: /config\.rules\[0\]\.match/ });
  t.deepEqual(x.toConfig().find((e) => e.name === 'firewall')?.config?.['rules'], [], 'nothing was saved');
});

test('pipeline show lists every stage of the stage list, in order', async (t) => {
  const { x } = await bindings();
  await x.enable('pcap');
  await x.enable('noop');
  const p = x.pipeline();
  t.deepEqual(p.stages.map((s) => s.stage), STAGE_LIST.map((s) => s.name));
  t.deepEqual(p.stages.find((s) => s.stage === 'ingress-capture')?.extensions, ['pcap']);
  t.deepEqual(p.stages.find((s) => s.stage === 'egress-forward')?.extensions, ['learning']);
  t.is(p.stages.find((s) => s.stage === 'miniport')?.state, 'empty');
});
