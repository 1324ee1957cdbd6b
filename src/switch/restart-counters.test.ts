/**
 * A worker the watchdog replaces keeps its ports' counters: the replacement re-attaches every port
 * to the same counter block and must not zero it (found by the soak, bench/soak.sh: after each
 * wedge every port's rx/tx packets and drops went back to about 0).
 */
import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetLab, testPrefix } from '../lab/netlab.js';
import { fixtureManifest } from '../test-support/trusted-dir.js';
import { DataPathManager } from './manager.js';

const P = testPrefix('rc');
const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'workers', 'fixtures');
let lab: NetLab;
let m: DataPathManager;

test.before(() => {
  lab = new NetLab(P);
  m = new DataPathManager({ log: () => {}, tuning: { watchdogMs: 500 } });
});
test.after.always(async () => {
  await m?.deleteSwitch(`${P}s`).catch(() => {});
  await m?.shutdown();
  lab?.destroy();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('port counters survive a worker replaced by the watchdog', async (t) => {
  const a = lab.addHost(0, { subnet: '10.88.0' });
  const b = lab.addHost(1, { subnet: '10.88.0' });
  const sw = `${P}s`;
  await m.createSwitch({ name: sw, type: 'private', macAgingSeconds: 300, macTableLimit: 1024, workers: 1, ports: [] });
  await m.addPort(sw, { name: 'a', netdev: a.peer });
  await m.addPort(sw, { name: 'b', netdev: b.peer });
  t.true(lab.ping(a, b, 5), 'forwarding');
  const before = m.stats(sw).ports.find((p) => p.name === 'a')!;
  t.true(before.rxPackets >= 5);

  const manifest = fixtureManifest(path.join(fixtures, 'spinner.js'), { name: 'spinner' });
  t.teardown(manifest.remove);
  await m.installExtension(manifest.file);
  await m.setExtension(sw, 'spinner', { config: { at: 1 } });
  await m.enableExtension(sw, 'spinner');
  lab.ping(a, b, 2); // the first frame wedges the worker
  for (let i = 0; i < 100 && m.stats(sw).workers[0].restarts === 0; i++) await sleep(100);
  t.is(m.stats(sw).workers[0].restarts, 1, 'the worker was replaced');
  for (let i = 0; i < 50 && !lab.ping(a, b, 1); i++) await sleep(100);
  t.true(lab.ping(a, b, 3), 'forwarding again');

  const after = m.stats(sw).ports.find((p) => p.name === 'a')!;
  t.log(`port a rx packets: ${before.rxPackets} before the restart, ${after.rxPackets} after`);
  t.true(after.rxPackets > before.rxPackets, 'rx packets kept and counted on');
  t.true(after.rxBytes > before.rxBytes);
  t.true(after.txPackets >= before.txPackets);
});
