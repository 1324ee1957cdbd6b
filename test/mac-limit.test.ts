/**
 * One port cannot fill the MAC table for everyone (issue 9 item 11), on real namespaces through the
 * real daemon and CLI: a "VM" namespace floods 200 000 distinct source MACs (test-support/mac-flood,
 * the native edge's AF_PACKET sendmmsg, inside the namespace); afterwards two other hosts are learned
 * and their unicast is not flooded to a third port. The flooder's frames were still forwarded, and
 * the MACs it could not add are counted per port. `xvs port set --mac-limit` changes the limit in
 * place, is persisted and survives a restart; bad values are refused naming the field.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../src/repo-root.js';
import { NetLab, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('ml');
const SW = `${P}s`;
const FLOOD = 200_000;
let d: TestDaemon;
let lab: NetLab;

interface PortStats { name: string; rxPackets: number; txPackets: number; txErrors: number; macs: number; macLimit: number; macLimitHits: number; drops: Record<string, number> }
interface Stats { ports: PortStats[]; fdb: { entries: number; limit: number; limitHits: number; portLimitHits: number } }

const stats = (): Stats => d.json<Stats>('stats', SW);
const port = (s: Stats, name: string): PortStats => s.ports.find((p) => p.name === name)!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** wait until the switch has taken in everything sent (its rx counters stop moving) */
async function settle(): Promise<Stats> {
  let prev = -1;
  for (let i = 0; i < 100; i++) {
    const s = stats();
    const rx = s.ports.reduce((n, p) => n + p.rxPackets, 0);
    if (rx === prev) return s;
    prev = rx;
    await sleep(300);
  }
  return stats();
}

/** `count` frames from MACs first.. at 50 000 frames/s (a switch flooding each to 3 ports takes them all in) */
function flood(h: Host, count: number, first = 0): string {
  return lab.exec(h, ['node', fromRoot('dist', 'src', 'test-support', 'mac-flood.js'), h.dev, String(count), String(first), '50000'], { timeout: 120_000 });
}

test.before(async () => {
  lab = new NetLab(P);
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

test.serial('a 200k-MAC flood from one port: the other hosts are still learned and their unicast is not flooded', async (t) => {
  const f = lab.addHost(1);
  const a = lab.addHost(2);
  const b = lab.addHost(3);
  const c = lab.addHost(4);
  t.is(d.xvs('switch', 'create', SW, '--type', 'private').code, 0);
  for (const [name, h] of [['f', f], ['a', a], ['b', b], ['c', c]] as const) t.is(d.xvs('port', 'add', SW, name, '--netdev', h.peer).code, 0);
  // the flooder sends from many source MACs: MAC address spoofing on (the default, off, drops all but its first)
  t.is(d.xvs('port', 'set', SW, 'f', '--mac-address-spoofing', 'on').code, 0);

  t.regex(flood(f, FLOOD), new RegExp(`sent ${FLOOD}`));
  const after = await settle();
  t.log(`flood port: rx ${port(after, 'f').rxPackets}, ${JSON.stringify(after.fdb)}`);

  // the hosts talk: learned despite the flood, so their unicast reaches only each other
  t.true(lab.ping(a, b, 1), 'a reaches b');
  await settle();
  const before = port(stats(), 'c').txPackets;
  t.true(lab.ping(a, b, 10, ['-i', '0.05']), 'a reaches b');
  const s = await settle();
  t.is(port(s, 'c').txPackets - before, 0, 'no unicast between a and b was flooded to c');
  const fdb = d.json<{ mac: string; port: string }[]>('fdb', 'show', SW);
  t.is(fdb.find((e) => e.mac === a.mac)?.port, 'a');
  t.is(fdb.find((e) => e.mac === b.mac)?.port, 'b');

  // the flooder holds its limit (default 1024 per VM port) and no more; what it could not add is counted
  const fp = port(s, 'f');
  t.is(fp.macLimit, 1024);
  t.is(fp.macs, 1024);
  t.true(fp.macLimitHits > 0, `mac-limit hits ${fp.macLimitHits}`);
  t.is(s.fdb.limitHits, 0, 'the table itself never filled');
  t.is(s.fdb.portLimitHits, fp.macLimitHits);
  // frames from MACs it could not learn were forwarded all the same (flooded as unknown unicast to c)
  t.true(port(s, 'c').txPackets >= fp.rxPackets - 1000, `c sent ${port(s, 'c').txPackets} of ${fp.rxPackets}`);
  t.regex(d.xvs('stats', SW).out, /MAC-LIMIT-HITS/);
});

test.serial('port set --mac-limit changes the limit in place, is persisted, survives a restart; bad values name the field', async (t) => {
  const f = lab.hosts[1];
  const r = d.xvs('port', 'set', SW, 'f', '--mac-limit', '5000');
  t.is(r.code, 0, r.err);
  t.is(port(stats(), 'f').macLimit, 5000);
  const saved = JSON.parse(readFileSync(d.conf, 'utf8')) as { switches: { name: string; ports: { name: string; macLimit?: number }[] }[] };
  t.is(saved.switches.find((s) => s.name === SW)?.ports.find((p) => p.name === 'f')?.macLimit, 5000);
  t.is(d.xvs('port', 'set', SW, 'f', '--mac-limit', '5000').out, `port "f" of switch "${SW}" already has these settings (unchanged)\n`);

  // the port was not re-created: the entries it had stay and it learns up to the new limit
  const macsBefore = port(stats(), 'f').macs;
  t.true(macsBefore >= 1024 - 10, `kept ${macsBefore} entries`);
  flood(f, 10_000, FLOOD);
  t.is(port(await settle(), 'f').macs, 5000);

  await d.stop();
  await d.start();
  for (let i = 0; i < 50 && d.xvs('stats', SW).code !== 0; i++) await sleep(100);
  t.is(port(stats(), 'f').macLimit, 5000, 'restored');

  const neg = d.xvs('port', 'set', SW, 'f', '--mac-limit', '-1');
  t.is(neg.code, 1);
  t.regex(neg.err, /params\.macLimit: expected an integer in 0\.\.1048576, got -1/);
  const word = d.xvs('port', 'set', SW, 'f', '--mac-limit', 'lots');
  t.is(word.code, 1);
  t.regex(word.err, /--mac-limit: expected a number or "default"/);
  t.regex(d.xvs('port', 'set', SW, 'nope', '--mac-limit', '5').err, /params\.name: no such port "nope"/);
  t.is(d.xvs('port', 'set', SW, 'f', '--mac-limit', 'default').code, 0);
  t.is(port(stats(), 'f').macLimit, 1024);
  const bad = d.xvs('switch', 'create', `${P}x`, '--type', 'private', '--mac-port-limit', '-5');
  t.regex(bad.err, /params\.macPortLimit: expected an integer/);
});
