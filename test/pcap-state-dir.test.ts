/**
 * The pcap extension's default directory is under the daemon's state directory (the directory of its
 * config file), not a fixed /var/lib/xvs: a daemon started with --config DIR/state/config.json writes
 * its captures to DIR/state/pcap/<switch>.
 */
import test from 'ava';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('pd');
const SW = `${P}s`;
let d: TestDaemon;
let lab: NetLab;

test.before(async () => {
  lab = new NetLab(P);
  for (const i of [0, 1]) lab.addHost(i, { subnet: '10.79.2' });
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
  rmSync(path.join('/var/lib/xvs/pcap', SW), { recursive: true, force: true }); // only if a build without the fix ran
});

test('pcap without dir= writes under the daemon state directory', async (t) => {
  const ok = (r: { code: number; err: string }): void => { if (r.code !== 0) throw new Error(r.err); };
  ok(d.xvs('switch', 'create', SW, '--type', 'private'));
  for (const [i, h] of lab.hosts.entries()) ok(d.xvs('port', 'add', SW, `vm${i}`, '--netdev', h.peer));
  ok(d.xvs('extension', 'set', SW, 'pcap', 'flushMs=100'));
  ok(d.xvs('extension', 'enable', SW, 'pcap'));
  t.true(lab.ping(lab.hosts[0], lab.hosts[1], 2));
  const dir = path.join(path.dirname(d.conf), 'pcap', SW);
  let files: string[] = [];
  for (let i = 0; i < 50 && files.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.pcapng')) : [];
  }
  t.true(files.length > 0, `pcapng files in ${dir}`);
  t.false(existsSync(path.join('/var/lib/xvs/pcap', SW)), 'nothing under /var/lib/xvs');
  ok(d.xvs('extension', 'disable', SW, 'pcap'));
});
