/**
 * Port mirroring (issue 10 item 8) on real namespaces through the daemon and CLI: VM "a" is a mirror
 * source, "m" a mirror destination, "b" and "c" plain ports. UDP datagrams of distinct sizes go
 * a→b, b→a and b→c; tshark captures (classic pcap, read here) on every namespace's interface show
 * that m received exactly a's traffic in both directions, byte for byte the frames a sent and b
 * received (and the other way round), that b and a received them unaltered, and that b↔c traffic
 * was not mirrored. The switch counts the copies (policy counter mirrorCopies, via the trace too).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { NetLab, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('mr');
const SW = `${P}s`;
const PORT = 5555;
let d: TestDaemon;
let lab: NetLab;
let dir: string;

test.before(async () => {
  lab = new NetLab(P);
  d = new TestDaemon();
  await d.start();
  dir = mkdtempSync(path.join(tmpdir(), 'xvs-mirror-'));
});

test.after.always(async () => {
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** the frames of a classic pcap file (tshark -F pcap) */
function readPcap(file: string): Buffer[] {
  const b = readFileSync(file);
  if (b.length < 24) return [];
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const out: Buffer[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const caplen = u32(o + 8);
    out.push(b.subarray(o + 16, o + 16 + caplen));
    o += 16 + caplen;
  }
  return out;
}

interface Capture { host: Host; file: string; proc: ChildProcess }

/** tshark on a host's interface, UDP to or from PORT only, until stopped; resolves once it captures */
async function capture(h: Host, name: string): Promise<Capture> {
  const file = path.join(dir, `${name}.pcap`);
  const proc = lab.spawnIn(h, ['tshark', '-q', '-i', h.dev, '-f', `udp port ${PORT}`, '-F', 'pcap', '-w', file]);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark on ${h.dev} did not start: ${err}`)), 20_000);
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (/Capturing on/.test(err)) { clearTimeout(timer); resolve(); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tshark on ${h.dev} exited (${code}): ${err}`)); });
  });
  return { host: h, file, proc };
}

/** stop a capture (SIGINT: tshark writes out what it has) and read its frames */
async function finish(c: Capture): Promise<Buffer[]> {
  const exited = new Promise<void>((r) => c.proc.once('exit', () => r()));
  if (c.proc.pid) process.kill(c.proc.pid, 'SIGINT');
  await exited;
  return readPcap(c.file);
}

/** `sizes.length` UDP datagrams from `from` to `to`, source and destination port PORT, payload sizes as given */
function sendUdp(from: Host, to: Host, sizes: number[], tag: number): void {
  const js = `const s=require('dgram').createSocket('udp4');s.bind(${PORT},()=>{let k=0;const sizes=${JSON.stringify(sizes)};` +
    `const next=()=>{if(k===sizes.length){s.close();return;}const b=Buffer.alloc(sizes[k],${tag}+k);s.send(b,${PORT},'${to.ip}',()=>{k++;setTimeout(next,20);});};next();});`;
  lab.exec(from, ['node', '-e', js], { timeout: 30_000 });
}

const hex = (f: Buffer): string => f.toString('hex');
const sorted = (fs: Buffer[]): string[] => fs.map(hex).sort();

test.serial('a mirror destination receives every frame a source port sends and receives, byte for byte; the originals arrive unaltered', async (t) => {
  const a = lab.addHost(1, { offloads: false });
  const b = lab.addHost(2, { offloads: false });
  const c = lab.addHost(3, { offloads: false });
  const m = lab.addHost(4, { offloads: false });
  t.is(d.xvs('switch', 'create', SW, '--type', 'private').code, 0);
  for (const [name, h] of [['a', a], ['b', b], ['c', c], ['m', m]] as const) t.is(d.xvs('port', 'add', SW, name, '--netdev', h.peer).code, 0);
  const src = d.xvs('port', 'set', SW, 'a', '--port-mirroring', 'source');
  t.is(src.code, 0, src.err);
  const dst = d.xvs('port', 'set', SW, 'm', '--port-mirroring', 'destination');
  t.is(dst.code, 0, dst.err);
  const pipeline = d.xvs('pipeline', 'show', SW);
  t.regex(pipeline.out, /a: port mirroring source → m/, pipeline.out);

  // neighbours resolved first: the datagrams are then the only UDP frames
  t.true(lab.ping(a, b, 1));
  t.true(lab.ping(b, c, 1));
  const caps = await Promise.all([capture(a, 'a'), capture(b, 'b'), capture(c, 'c'), capture(m, 'm')]);
  sendUdp(a, b, [100, 300, 1200], 0x10);
  sendUdp(b, a, [200, 700], 0x20);
  sendUdp(b, c, [150, 250], 0x30);
  await sleep(1000);
  const [atA, atB, atC, atM] = await Promise.all(caps.map(finish));
  t.log(`captured a ${atA.length}, b ${atB.length}, c ${atC.length}, m ${atM.length}`);

  const aToB = atA.filter((f) => f.subarray(0, 6).equals(Buffer.from(b.mac.replaceAll(':', ''), 'hex')));
  const bToA = atB.filter((f) => f.subarray(0, 6).equals(Buffer.from(a.mac.replaceAll(':', ''), 'hex')));
  t.is(aToB.length, 3, 'a sent 3 datagrams to b');
  t.is(bToA.length, 2, 'b sent 2 datagrams to a');
  // what a sent is what b received and what a received is what b sent: unaltered by mirroring
  t.deepEqual(sorted(atB.filter((f) => aToB.some((x) => x.equals(f)))), sorted(aToB), 'b received a\'s frames unaltered');
  t.deepEqual(sorted(atA.filter((f) => bToA.some((x) => x.equals(f)))), sorted(bToA), 'a received b\'s frames unaltered');
  // the mirror port got both directions of a's traffic, byte for byte, and nothing else
  t.deepEqual(sorted(atM), sorted([...aToB, ...bToA]), 'm received exactly a\'s sent and received frames');
  t.is(atC.length, 2, 'c received b\'s two datagrams');
  t.false(atM.some((f) => atC.some((x) => x.equals(f))), 'b↔c traffic is not mirrored');

  // counted on the destination
  interface PortStats { name: string; policy?: Record<string, number>; mirrorCopies?: number }
  const stats = d.json<{ ports: PortStats[] }>('stats', SW);
  const mp = stats.ports.find((p) => p.name === 'm')!;
  const copies = mp.policy?.mirrorCopies ?? mp.mirrorCopies;
  t.log(`m: ${JSON.stringify(mp)}`);
  t.true(copies !== undefined && copies >= 5, `mirrorCopies on m: ${copies}`);
});
