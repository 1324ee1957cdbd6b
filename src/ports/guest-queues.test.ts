/**
 * Guest multi-queue, below the daemon: the QEMU arguments (golden strings), the `queues` field of a port
 * (range, TAP ports only, 1 and absent the same; a change recreates the port), and fitting an existing TAP to a port's queues on real
 * TAPs: kept, recreated (xvs made it, nothing holds it) or refused naming the field (not ours, or held by
 * another process, here a child Node holding a queue fd as QEMU would).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import { describe, diff } from '../config/desired.js';
import { validateConfig, validatePort } from '../config/schema.js';
import type { XvsConfig } from '../config/types.js';
import { cleanPrefix, testPrefix } from '../lab/netlab.js';
import { libvirtInterfaceXml, qemuNetArgs, tapQueueAction } from './guest-queues.js';
import { addonPath } from './native/index.js';
import { createPersistentTap, destroyPersistentTap, fitTapQueues, tapIsMultiQueue } from './tap.js';

const P = testPrefix('gu');

test('qemuNetArgs: single queue as before, N queues with queues=N, mq=on and 2N+2 vectors', (t) => {
  t.deepEqual(qemuNetArgs('vm1', 1), [
    '-netdev', 'tap,id=net-vm1,ifname=vm1,script=no,downscript=no,vhost=off',
    '-device', 'virtio-net-pci,netdev=net-vm1',
  ]);
  t.deepEqual(qemuNetArgs('vm1', 2), [
    '-netdev', 'tap,id=net-vm1,ifname=vm1,script=no,downscript=no,queues=2,vhost=off',
    '-device', 'virtio-net-pci,netdev=net-vm1,mq=on,vectors=6',
  ]);
  t.deepEqual(qemuNetArgs('tap7', 16, { id: 'n0', mac: '52:54:00:00:00:07' }), [
    '-netdev', 'tap,id=n0,ifname=tap7,script=no,downscript=no,queues=16,vhost=off',
    '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:07,mq=on,vectors=34',
  ]);
});

test('libvirtInterfaceXml: type ethernet on the TAP, managed no, virtio; the MAC and queues when the port has them', (t) => {
  t.is(libvirtInterfaceXml('vm1', 1), [
    "<interface type='ethernet'>",
    "  <target dev='vm1' managed='no'/>",
    "  <model type='virtio'/>",
    '</interface>',
  ].join('\n'));
  t.is(libvirtInterfaceXml('vm2', 4, { mac: '52:54:00:00:00:02' }), [
    "<interface type='ethernet'>",
    "  <mac address='52:54:00:00:00:02'/>",
    "  <target dev='vm2' managed='no'/>",
    "  <model type='virtio'/>",
    "  <driver queues='4'/>",
    '</interface>',
  ].join('\n'));
});

test('tapQueueAction: keep what fits; recreate only what xvs made and nobody holds', (t) => {
  t.is(tapQueueAction(false, 1, false, true), 'keep');
  t.is(tapQueueAction(true, 4, false, true), 'keep');
  t.is(tapQueueAction(false, 2, true, false), 'recreate');
  t.is(tapQueueAction(true, 1, true, false), 'recreate');
  t.is(tapQueueAction(false, 2, false, false), 'refuse');
  t.is(tapQueueAction(false, 2, true, true), 'refuse');
});

test('port queues: 1..16, only on a TAP port, 1 and absent read back the same', (t) => {
  t.is(validatePort({ name: 'vm1', queues: 4 }, 'params').queues, 4);
  t.false('queues' in validatePort({ name: 'vm1', queues: 1 }, 'params'));
  t.false('queues' in validatePort({ name: 'vm1' }, 'params'));
  for (const bad of [0, 17, 2.5, '2', null]) {
    t.throws(() => validatePort({ name: 'vm1', queues: bad }, 'params'),
      { instanceOf: ConfigError, message: /^params\.queues: expected an integer in 1\.\.16, got / }, String(bad));
  }
  t.throws(() => validatePort({ name: 'vm1', netdev: 'veth0', queues: 2 }, 'switches[0].ports[3]'),
    { instanceOf: ConfigError, message: /^switches\[0\]\.ports\[3\]\.queues: only a TAP port has queues/ });
});

const flags = (tap: string): number => parseInt(readFileSync(`/sys/class/net/${tap}/tun_flags`, 'utf8'), 16);

test.serial('fitTapQueues on real TAPs: kept, recreated, refused when not ours or held', async (t) => {
  cleanPrefix(P);
  const tap = `${P}t`;
  t.teardown(() => {
    try { destroyPersistentTap(tap); } catch { /* held: cleanPrefix deletes it */ }
    cleanPrefix(P);
  });
  createPersistentTap(tap, false);
  t.is(fitTapQueues(tap, 1, true, 'port.queues'), 'keep');
  t.is(fitTapQueues(tap, 2, true, 'port.queues'), 'recreate');
  t.true(tapIsMultiQueue(tap));
  t.truthy(flags(tap) & 0x0800, 'still persistent');
  t.is(fitTapQueues(tap, 8, true, 'port.queues'), 'keep', 'a multi-queue TAP serves any N > 1');
  const e = t.throws(() => fitTapQueues(tap, 1, false, 'switches[0].ports[1].queues'), { instanceOf: ConfigError });
  t.regex(e?.message ?? '', /^switches\[0\]\.ports\[1\]\.queues: TAP "xtgu\d+t" exists multi-queue, but 1 queue\(s\) need a single-queue TAP .*xvs did not create it/);
  t.true(tapIsMultiQueue(tap), 'a refused TAP is left as it was');

  // another process holds a queue (as QEMU does): even xvs's own TAP is not recreated under it
  const holder = spawn(process.execPath, ['-e',
    `const n = require(${JSON.stringify(addonPath)}); n.tapOpen(${JSON.stringify(tap)}, true); console.log('held'); setInterval(() => {}, 1000);`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (holder.pid !== undefined && holder.exitCode === null) process.kill(holder.pid, 'SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => resolve());
    holder.once('exit', (c) => reject(new Error(`holder exited ${String(c)}`)));
  });
  const held = t.throws(() => fitTapQueues(tap, 1, true, 'port.queues'), { instanceOf: ConfigError });
  t.regex(held?.message ?? '', new RegExp(`held by pid ${String(holder.pid)} \\(node\\): stop the VM first`));
  t.true(existsSync(`/sys/class/net/${tap}`));
  t.true(tapIsMultiQueue(tap));
});

test('a change of queues in a document recreates the port (remove, then add), described with its queues', (t) => {
  const doc = (queues: number | undefined): XvsConfig => validateConfig({
    version: 1,
    switches: [{ name: 'sw0', type: 'private', ports: [{ name: 'vm1', ...(queues !== undefined ? { queues } : {}) }] }],
  });
  t.deepEqual(diff(doc(undefined), doc(1)), [], '1 and absent are the same');
  const changes = diff(doc(2), doc(4));
  t.deepEqual(changes.map((c) => c.kind), ['removePort', 'addPort']);
  t.regex(describe(changes), /vm1 \(TAP, 4 queues\)/);
});
