/**
 * Supervision through the real DataPathManager and real worker threads (a TAP port, no traffic):
 * a plug-in that spins in its hook is blamed with reason `timeout` and its worker replaced within
 * the watchdog's bound; the request that hit the wedged worker fails promptly with a clear error; a
 * worker that does not answer fails its request after the request timeout; a plug-in that loops at
 * import is refused by the probe worker while the main thread keeps running.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testPrefix } from '../lab/netlab.js';
import { udpFrame } from '../test-support/frames.js';
import { fixtureManifest } from '../test-support/trusted-dir.js';
import { DataPathManager } from './manager.js';
import type { SwitchConfig } from '../config/types.js';

const P = testPrefix('v');
const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'workers', 'fixtures');
const dir = mkdtempSync(path.join(tmpdir(), 'xsup-'));
const managers: DataPathManager[] = [];
const logs: string[] = [];

const manifests: (() => void)[] = [];
/** a manifest beside the fixture (main stays inside the plug-in directory: extensions/trust.ts) */
function plugin(name: string): string {
  const m = fixtureManifest(path.join(fixtures, `${name}.js`), { name });
  manifests.push(m.remove);
  return m.file;
}

function cfg(name: string): SwitchConfig {
  return { name, type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [] };
}

test.after.always(async () => {
  for (const m of managers) {
    for (const s of m.listSwitches()) await m.deleteSwitch(s.config.name).catch(() => {});
    await m.shutdown();
  }
  rmSync(dir, { recursive: true, force: true });
  for (const remove of manifests) remove();
});

/** retry an operation that fails while a worker is being replaced */
async function retry<T>(f: () => Promise<T>, ms: number): Promise<T> {
  const until = performance.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (performance.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const frame = udpFrame('02:00:00:00:00:02', '02:00:00:00:00:01');

test.serial('a hook that spins forever: worker replaced within the bound, extension FAILED (timeout), the switch works again', async (t) => {
  const m = new DataPathManager({ log: (s) => logs.push(s), tuning: { watchdogMs: 500 } });
  managers.push(m);
  const sw = `${P}a`;
  await m.createSwitch(cfg(sw));
  await m.addPort(sw, { name: `${P}t0` });
  await m.installExtension(plugin('spinner'));
  await m.setExtension(sw, 'spinner', { config: { at: 1 } });
  await m.enableExtension(sw, 'spinner');
  const t0 = performance.now();
  const err = await t.throwsAsync(m.trace(sw, `${P}t0`, frame));
  const ms = performance.now() - t0;
  t.log(`wedged trace failed after ${Math.round(ms)} ms: ${err?.message}`);
  t.regex(err?.message ?? '', new RegExp(`switch "${sw}": data-path worker 0 did not answer: restarted after timeout`));
  t.true(ms < 2000, 'within the watchdog bound (500 ms) plus a check interval, not the request timeout');
  const st = m.listExtensions(sw).find((e) => e.name === 'spinner')!;
  t.false(st.running);
  t.is(st.failure?.reason, 'timeout');
  t.regex(st.failure?.error ?? '', /timeout: data-path worker 0 stopped breathing .* while extension "spinner" ran/);
  // the replacement has the port and the plan without the spinner
  const tr = await retry(() => m.trace(sw, `${P}t0`, frame), 3000);
  t.log(`replacement answered ${Math.round(performance.now() - t0)} ms after the wedged request`);
  t.false(tr.steps.some((s) => s.stage === 'spinner'));
  t.like(m.showSwitch(sw).workers?.[0], { worker: 0, restarts: 1, reason: 'timeout', extension: 'spinner' });
  t.like(m.health()[0], { switch: sw, worker: 0, restarts: 1 });
  t.is(m.stats(sw).workers[0].restarts, 1);
  t.true(logs.some((l) => /spinner/.test(l) && /restarting it without "spinner"/.test(l)), logs.join('\n'));
});

test.serial('a request a worker does not answer fails after the request timeout, naming switch and worker', async (t) => {
  // watchdog far away: only the request timeout can end the wait
  const m = new DataPathManager({ log: (s) => logs.push(s), tuning: { watchdogMs: 60_000, requestTimeoutMs: 400 } });
  managers.push(m);
  const sw = `${P}b`;
  await m.createSwitch(cfg(sw));
  await m.addPort(sw, { name: `${P}t1` });
  await m.installExtension(plugin('spinner'));
  await m.setExtension(sw, 'spinner', { config: { at: 1 } });
  await m.enableExtension(sw, 'spinner');
  const t0 = performance.now();
  const err = await t.throwsAsync(m.trace(sw, `${P}t1`, frame));
  t.is(err?.message, `switch "${sw}": data-path worker 0 did not answer within 0.4 s`);
  t.true(performance.now() - t0 < 1500);
});

test.serial('a plug-in that loops at import is refused by name; the main thread never stops', async (t) => {
  const m = new DataPathManager({ log: (s) => logs.push(s), tuning: { requestTimeoutMs: 1000 } });
  managers.push(m);
  await m.ready;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 50);
  const t0 = performance.now();
  const err = await t.throwsAsync(m.installExtension(plugin('import-loop')));
  clearInterval(timer);
  const ms = performance.now() - t0;
  t.regex(err?.message ?? '', /plug-in "import-loop": did not finish loading within 1 s/);
  t.true(ms < 3000);
  t.true(ticks >= (ms / 50) * 0.5, `the main thread kept running: ${ticks} ticks in ${Math.round(ms)} ms`);
  t.falsy(m.registry.get('import-loop'));
});

test.serial('a validate() that never returns is blamed like a hook: the set fails, the extension is FAILED (timeout)', async (t) => {
  const m = new DataPathManager({ log: (s) => logs.push(s), tuning: { watchdogMs: 500 } });
  managers.push(m);
  const sw = `${P}v`;
  await m.createSwitch(cfg(sw));
  await m.installExtension(plugin('spinner'));
  const err = await t.throwsAsync(m.setExtension(sw, 'spinner', { config: { spinInValidate: true } }));
  t.regex(err?.message ?? '', /did not answer: restarted after timeout/);
  const st = m.listExtensions(sw).find((e) => e.name === 'spinner')!;
  t.is(st.failure?.reason, 'timeout');
  t.regex(st.failure?.error ?? '', /while extension "spinner" ran/);
  t.deepEqual(st.config, { at: 100, spinInValidate: false }, 'the configuration was not changed');
  await retry(() => m.setExtension(sw, 'spinner', { config: { at: 5 } }), 3000);
  t.is(m.listExtensions(sw).find((e) => e.name === 'spinner')!.config['at'], 5, 'the replacement worker checks configurations again');
});
