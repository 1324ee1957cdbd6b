/**
 * Zero-copy forwarding through the daemon (issue 12 item 7; ports/native/SPEC.md "Zero-copy forwarding"),
 * on real namespaces with veth offloads on:
 * 1. a 32 MiB TCP transfer (GSO frames up to 64 KiB, sent from the rx ring) arrives byte-exact (md5),
 *    and the port counts its zero-copy frames;
 * 2. a filter extension that rewrites the LAST bytes of UDP frames (past the headers the slot holds)
 *    works: its read and its clone make the frame whole first, and the rewritten frames arrive.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { distSrc } from '../src/repo-root.js';
import { NetLab, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';
import { fixtureManifest } from '../src/test-support/trusted-dir.js';
import type { SwitchExtensionState } from '../src/switch/manager-api.js';

const P = testPrefix('zc');
const SW = `${P}s`;
let d: TestDaemon;
let lab: NetLab;
let dir: string;
let removeManifest = (): void => {};

test.before(async () => {
  lab = new NetLab(P);
  for (const i of [0, 1]) lab.addHost(i, { subnet: '10.78.3' });
  d = new TestDaemon({ XVS_ZERO_COPY: '1' });
  await d.start();
  dir = mkdtempSync(path.join(tmpdir(), 'xvs-zc-'));
  const ok = (r: { code: number; err: string }): void => { if (r.code !== 0) throw new Error(r.err); };
  ok(d.xvs('switch', 'create', SW, '--type', 'private'));
  for (const [i, h] of lab.hosts.entries()) ok(d.xvs('port', 'add', SW, `vm${i}`, '--netdev', h.peer));
});

test.after.always(async () => {
  removeManifest();
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface PortStats { name: string; rxZeroCopy?: number; rxZeroCopyWhole?: number; drops: Record<string, number> }
const portStats = (name: string): PortStats => d.json<{ ports: PortStats[] }>('stats', SW).ports.find((p) => p.name === name)!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function exited(p: ChildProcess): Promise<number | null> {
  return new Promise((res) => { if (p.exitCode !== null) res(p.exitCode); else p.once('exit', (c) => res(c)); });
}

test.serial('a 32 MiB TCP transfer with offloads on goes through byte-exact, its GSO frames forwarded zero-copy', async (t) => {
  const [a, b] = lab.hosts;
  t.true(lab.ping(a, b, 2));
  const before = portStats('vm0').rxZeroCopy ?? 0;
  const data = randomBytes(32 << 20);
  writeFileSync(path.join(dir, 'in'), data);
  const server = lab.spawnIn(b, ['socat', '-u', 'TCP-LISTEN:5002,reuseaddr', `OPEN:${path.join(dir, 'out')},creat,trunc`]);
  await sleep(300);
  const client = lab.spawnIn(a, ['socat', '-u', `OPEN:${path.join(dir, 'in')}`, `TCP:${b.ip}:5002,retry=5`]);
  const timer = setTimeout(() => { client.kill(); server.kill(); }, 60_000);
  t.is(await exited(client), 0);
  t.is(await exited(server), 0);
  clearTimeout(timer);
  const got = readFileSync(path.join(dir, 'out'));
  t.is(got.length, data.length);
  t.is(createHash('md5').update(got).digest('hex'), createHash('md5').update(data).digest('hex'));
  await sleep(1200); // the workers fold backend counters about once a second
  const zc = (portStats('vm0').rxZeroCopy ?? 0) - before;
  t.log(`vm0: ${zc} frames zero-copy`);
  t.true(zc > 0, 'the sender\'s frames were forwarded zero-copy');
});

/** tshark on a host's interface, UDP to port 9 only; resolves once it captures */
async function capture(h: Host): Promise<{ file: string; proc: ChildProcess }> {
  const file = path.join(dir, `${h.ns}.pcap`);
  const proc = lab.spawnIn(h, ['tshark', '-q', '-i', h.dev, '-f', 'udp dst port 9', '-F', 'pcap', '-w', file]);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start: ${err}`)), 20_000);
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (/Capturing on/.test(err)) { clearTimeout(timer); resolve(); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tshark exited (${code}): ${err}`)); });
  });
  return { file, proc };
}

function readPcap(file: string): Buffer[] {
  const b = readFileSync(file);
  const out: Buffer[] = [];
  if (b.length < 24) return out;
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  for (let o = 24; o + 16 <= b.length;) {
    const caplen = le ? b.readUInt32LE(o + 8) : b.readUInt32BE(o + 8);
    out.push(b.subarray(o + 16, o + 16 + caplen));
    o += 16 + caplen;
  }
  return out;
}

test.serial('a filter that rewrites the last bytes of frames received zero-copy: the rewritten frames arrive', async (t) => {
  const [a, b] = lab.hosts;
  const manifest = fixtureManifest(path.join(distSrc, 'pipeline', 'fixtures', 'tail-marker.js'), { name: 'tail-marker' });
  removeManifest = manifest.remove;
  t.is(d.xvs('extension', 'install', manifest.file).code, 0);
  t.is(d.xvs('extension', 'enable', SW, 'tail-marker').code, 0);
  t.true(lab.ping(a, b, 1));
  const before = portStats('vm0').rxZeroCopy ?? 0;
  const cap = await capture(b);
  const js = `const s=require('dgram').createSocket('udp4');let k=0;const next=()=>{if(k===5){s.close();return;}` +
    `s.send(Buffer.alloc(1400,0x11),9,'${b.ip}',()=>{k++;setTimeout(next,20);});};next();`;
  lab.exec(a, ['node', '-e', js], { timeout: 30_000 });
  await sleep(1200);
  const done = exited(cap.proc);
  if (cap.proc.pid) process.kill(cap.proc.pid, 'SIGINT');
  await done;
  const frames = readPcap(cap.file);
  t.is(frames.length, 5, 'every datagram arrived once (the originals dropped, the clones delivered)');
  for (const f of frames) {
    t.is(f.length, 14 + 20 + 8 + 1400);
    t.true(f.subarray(42, f.length - 4).every((x) => x === 0x11), 'the payload before the rewritten bytes is intact');
    t.deepEqual([...f.subarray(f.length - 4)], [0xcc, 0xcc, 0xcc, 0xcc], 'the last 4 bytes rewritten');
  }
  const ext = d.json<SwitchExtensionState[]>('extension', 'list', SW).find((e) => e.name === 'tail-marker')!;
  t.is(ext.counters['marked'], 5);
  t.true((portStats('vm0').rxZeroCopy ?? 0) - before >= 5, 'the originals were received zero-copy');
  t.is(d.xvs('extension', 'disable', SW, 'tail-marker').code, 0);
});
