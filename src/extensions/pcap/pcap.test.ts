/**
 * pcap on the real data path (testSwitch), decoded by a third-party reader: every file is read back
 * with `tshark -r FILE -T json -x` and compared frame by frame with what went through the switch:
 * bytes, lengths, interface names, directions, timestamps; rotation, retention, match, ports,
 * direction, snaplen, traces, write errors and configuration errors.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../../core/errors.js';
import { buildPacket } from '../../packet/spec.js';
import { udpFrame } from '../../test-support/frames.js';
import { validateExtensionConfig } from '../config.js';
import { testSwitch, type TestSwitch } from '../testing.js';
import pcap from './index.js';

const MODULE = new URL('./index.js', import.meta.url).href;
const A = '02:00:00:00:00:0a';
const BC = 'ff:ff:ff:ff:ff:ff';

/** a temp directory removed in every outcome */
function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-pcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function pcapSwitch(t: ExecutionContext, ports: number, config: Record<string, unknown>): Promise<TestSwitch> {
  const sw = await testSwitch({ ports, stages: [{ module: MODULE, config }] });
  t.teardown(() => sw.close()); // closing twice is harmless; tests close first to flush
  return sw;
}

interface Rec { hex: string; len: number; capLen: number; iface: string; dir: number; us: number }

/** a value inside tshark's JSON, by key path (tshark 4.0 field names) */
function at(v: unknown, ...path: (string | number)[]): unknown {
  for (const k of path) v = (v as Record<string | number, unknown> | undefined)?.[k];
  return v;
}

/** tshark's view of a file (throws if tshark cannot read it) */
function readPcap(file: string): Rec[] {
  let out: string;
  try {
    out = execFileSync('tshark', ['-r', file, '-T', 'json', '-x'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? e).split('\n').filter((l) => !/Running as user/.test(l)).join(' ');
    throw new Error(`tshark cannot read ${file}: ${stderr.trim()}`);
  }
  const pkts = out.trim() === '' ? [] : (JSON.parse(out) as unknown[]);
  return pkts.map((p) => {
    const l = at(p, '_source', 'layers');
    const f = at(l, 'frame');
    const [sec, frac] = String(at(f, 'frame.time_epoch')).split('.');
    return {
      hex: String(at(l, 'frame_raw', 0)),
      len: Number(at(f, 'frame.len')),
      capLen: Number(at(f, 'frame.cap_len')),
      iface: String(at(f, 'frame.interface_id_tree', 'frame.interface_name')),
      dir: Number(at(f, 'frame.packet_flags_tree', 'frame.packet_flags_direction')),
      us: Number(sec) * 1e6 + Number(frac.slice(0, 6)),
    };
  });
}

function files(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.pcapng')).sort().map((f) => join(dir, f));
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const IN = 1;
const OUT = 2;

/** let the clock move on so batches get distinct timestamps */
function tick(): void {
  const t0 = performance.now();
  while (performance.now() - t0 < 0.05) { /* spin 50 µs */ }
}

/** varied frames: ARP, ICMP, TCP, UDP, VLAN-tagged, 42..1514 bytes, all distinct */
function variedFrames(): Uint8Array[] {
  return [
    buildPacket('eth(src=02:00:00:00:00:01,pad=no),arp(op=request,spa=10.0.0.1,tpa=10.0.0.2)'), // 42
    buildPacket('eth(src=02:00:00:00:00:02,dst=02:00:00:00:00:01),arp(op=reply,spa=10.0.0.2,tpa=10.0.0.1)'), // 60
    buildPacket('eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=10.0.0.1,dst=10.0.0.2),icmp(type=8,id=7,seq=1),payload(len=56)'),
    buildPacket('eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=10.0.0.1,dst=10.0.0.2),tcp(src=40000,dst=80,flags=S)'),
    buildPacket('eth(src=02:00:00:00:00:02,dst=02:00:00:00:00:01),ipv4(src=10.0.0.2,dst=10.0.0.1),tcp(src=80,dst=40000,flags=SA),payload(len=333)'),
    buildPacket('eth(src=02:00:00:00:00:03),ipv4(src=10.0.0.3,dst=10.0.0.255),udp(src=5353,dst=5353),payload(text="hello")'),
    buildPacket('eth(src=02:00:00:00:00:03,dst=02:00:00:00:00:09),vlan(vid=100,pcp=3),ipv4(src=10.0.1.3,dst=10.0.1.9),udp(src=1000,dst=2000),payload(len=700)'),
    buildPacket('eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=10.0.0.1,dst=10.0.0.2),tcp(src=40000,dst=80,flags=A),payload(len=1460)'), // 1514
    udpFrame(BC, A, 1514, 99),
  ];
}

test('every frame is recorded in and out, byte for byte, as tshark decodes it', async (t) => {
  const dir = tempDir(t);
  const sw = await pcapSwitch(t, 3, { dir });
  const frames = variedFrames();
  const expected: { hex: string; iface: string; dir: number }[] = [];
  const breathe = (port: number, batch: Uint8Array[]): void => {
    sw.send(port, ...batch.map((f) => f.slice()));
    sw.breathe();
    for (const f of batch) expected.push({ hex: hexOf(f), iface: `p${port}:in`, dir: IN });
    for (const f of batch) {
      for (let p = 0; p < 3; p++) {
        if (sw.sent(p).some((s) => hexOf(s) === hexOf(f))) expected.push({ hex: hexOf(f), iface: `p${p}:out`, dir: OUT });
      }
    }
    sw.clearSent();
    tick();
  };
  // one frame per breath from rotating ports, then the whole set again as one batch from port 2
  frames.forEach((f, k) => breathe(k % 3, [f]));
  breathe(2, frames.map((f) => { const c = f.slice(); c[c.length - 1] ^= 0xff; return c; }));
  const before = Date.now() * 1000;
  sw.close();

  const fs = files(dir);
  t.deepEqual(fs.map((f) => f.slice(dir.length + 1)), ['test-0-000000.pcapng']);
  const got = readPcap(fs[0]);
  t.is(got.length, expected.length, 'one record per frame in, one per frame and destination out');
  t.true(expected.some((e) => e.dir === OUT && e.iface === 'p1:out') && expected.some((e) => e.iface === 'p0:out'));
  for (const [k, e] of expected.entries()) {
    const g = got[k];
    t.is(g.hex, e.hex, `frame ${k}: bytes`);
    t.is(g.len, e.hex.length / 2, `frame ${k}: length`);
    t.is(g.capLen, g.len, `frame ${k}: not cut`);
    t.is(g.iface, e.iface, `frame ${k}: interface`);
    t.is(g.dir, e.dir, `frame ${k}: direction`);
  }
  for (let k = 1; k < got.length; k++) t.true(got[k].us >= got[k - 1].us, `timestamp ${k} does not go back`);
  const distinct = new Set(got.map((g) => g.us)).size;
  t.true(distinct >= frames.length, `timestamps move on between batches (${distinct} distinct)`);
  t.true(Math.abs(got[0].us - before) < 60e6, 'timestamps are wall-clock microseconds');
  t.is(sw.counter('pcap', 'captured'), expected.length);
  t.is(sw.counter('pcap', 'bytes'), expected.reduce((n, e) => n + e.hex.length / 2, 0));
  t.is(sw.counter('pcap', 'truncated'), 0);
  t.is(sw.counter('pcap', 'writeErrors'), 0);
  t.deepEqual(sw.logs, []);
  t.deepEqual(sw.failures, []);
});

test('snaplen cuts long frames and keeps the original length', async (t) => {
  const dir = tempDir(t);
  const sw = await pcapSwitch(t, 2, { dir, snaplen: 100, direction: 'in' });
  const long = udpFrame(BC, A, 1514, 1);
  const short = udpFrame(BC, A, 64, 2);
  sw.send(0, long, short);
  sw.breathe();
  sw.close();
  const got = readPcap(files(dir)[0]);
  t.is(got.length, 2);
  t.is(got[0].len, 1514);
  t.is(got[0].capLen, 100);
  t.is(got[0].hex, hexOf(long.subarray(0, 100)));
  t.is(got[1].capLen, 64);
  t.is(got[1].hex, hexOf(short));
  t.is(sw.counter('pcap', 'truncated'), 1);
  t.is(sw.counter('pcap', 'bytes'), 164);
  t.is(sw.sent(1).length, 2, 'frames forwarded whole');
  t.is(sw.sent(1)[0].length, 1514);
});

test('rotation: several files, each readable, at most rotateFiles kept, a later run continues the series', async (t) => {
  const dir = tempDir(t);
  const config = { dir, direction: 'in', rotateBytes: 4096, rotateFiles: 3, flushMs: 0 };
  const sw = await pcapSwitch(t, 2, config);
  const sent: string[] = [];
  for (let k = 0; k < 40; k++) {
    const f = udpFrame(BC, A, 1000, k);
    sent.push(hexOf(f));
    sw.send(0, f);
    sw.breathe();
  }
  sw.close();
  // per file: SHB 44 + IDB 56 + 3 EPBs of 44 + 1000 = 3232 bytes; a 4th frame would pass 4096
  t.is(sw.counter('pcap', 'filesRotated'), 13, '40 frames at 3 per file: 14 files');
  const fs = files(dir);
  t.deepEqual(fs.map((f) => f.slice(dir.length + 1)), ['test-0-000011.pcapng', 'test-0-000012.pcapng', 'test-0-000013.pcapng']);
  const perFile = fs.map(readPcap);
  t.deepEqual(perFile.map((r) => r.length), [3, 3, 1]);
  for (const f of fs) t.true(statSync(f).size <= 4096, `${f} within rotateBytes`);
  for (const recs of perFile) for (const r of recs) t.is(r.iface, 'p0:in', 'every file has its own interface block');
  t.deepEqual(perFile.flat().map((r) => r.hex), sent.slice(33), 'the newest frames, in order');

  const again = await pcapSwitch(t, 2, config);
  again.send(0, udpFrame(BC, A, 1000, 1000));
  again.breathe();
  again.close();
  t.deepEqual(files(dir).map((f) => f.slice(dir.length + 1)),
    ['test-0-000012.pcapng', 'test-0-000013.pcapng', 'test-0-000014.pcapng'], 'continues after the existing files, oldest deleted');
  t.is(readPcap(files(dir)[2])[0].hex, hexOf(udpFrame(BC, A, 1000, 1000)));
});

test('match: only matching frames are written, on both paths', async (t) => {
  const dir = tempDir(t);
  const sw = await pcapSwitch(t, 3, { dir, match: 'tcp.dst=80' });
  const frames = variedFrames();
  const expected: string[] = [];
  for (const [k, f] of frames.entries()) {
    sw.send(k % 3, f.slice());
    sw.breathe();
    const tcp80 = f[12] === 0x08 && f[13] === 0x00 && f[23] === 6 && f[36] === 0 && f[37] === 80;
    if (tcp80) expected.push(`p${k % 3}:in ${hexOf(f)}`);
    for (let p = 0; p < 3; p++) if (tcp80 && sw.sent(p).length === 1) expected.push(`p${p}:out ${hexOf(f)}`);
    sw.clearSent();
  }
  sw.close();
  t.is(expected.filter((e) => e.includes(':in')).length, 2, 'two TCP frames to port 80');
  t.true(expected.some((e) => e.includes(':out')));
  const got = readPcap(files(dir)[0]);
  t.deepEqual(got.map((g) => `${g.iface} ${g.hex}`), expected);
  t.is(sw.counter('pcap', 'captured'), expected.length);
});

test('match sees through a VLAN tag', async (t) => {
  const dir = tempDir(t);
  const sw = await pcapSwitch(t, 2, { dir, match: 'udp.dst=2000', direction: 'in' });
  const frames = variedFrames();
  sw.send(0, ...frames.map((f) => f.slice()));
  sw.breathe();
  sw.close();
  const got = readPcap(files(dir)[0]);
  t.deepEqual(got.map((g) => g.hex), [hexOf(frames[6])]);
});

test('ports and direction: out on one port only; in on the ports named', async (t) => {
  const dir = tempDir(t);
  const out = await pcapSwitch(t, 3, { dir: join(dir, 'out'), ports: ['p1'], direction: 'out' });
  const frames = [udpFrame(BC, A, 64, 1), udpFrame(BC, '02:00:00:00:00:0b', 80, 2), udpFrame(BC, '02:00:00:00:00:0c', 90, 3)];
  out.send(0, frames[0]); out.breathe();
  out.send(1, frames[1]); out.breathe(); // floods to p0 and p2: nothing out on p1
  out.send(2, frames[2]); out.breathe();
  out.close();
  let got = readPcap(files(join(dir, 'out'))[0]);
  t.deepEqual(got.map((g) => `${g.iface} ${g.dir} ${g.hex}`), [`p1:out ${OUT} ${hexOf(frames[0])}`, `p1:out ${OUT} ${hexOf(frames[2])}`]);

  const inn = await pcapSwitch(t, 3, { dir: join(dir, 'in'), ports: ['p0', 'p2', 'nosuchport'], direction: 'in' });
  for (const [k, f] of frames.entries()) { inn.send(k, f); inn.breathe(); }
  inn.close();
  got = readPcap(files(join(dir, 'in'))[0]);
  t.deepEqual(got.map((g) => `${g.iface} ${g.dir} ${g.hex}`), [`p0:in ${IN} ${hexOf(frames[0])}`, `p2:in ${IN} ${hexOf(frames[2])}`]);
});

test('a synthetic trace frame is not recorded; a real one is', async (t) => {
  const dir = tempDir(t);
  const sw = await pcapSwitch(t, 2, { dir, flushMs: 0 });
  const traced = udpFrame(BC, A, 64, 7);
  const tr = sw.trace(traced, 0);
  t.true(tr.steps.some((s) => s.stage === 'pcap'), 'the trace ran through pcap');
  sw.breathe();
  t.deepEqual(files(dir), [], 'no file: nothing recorded');
  const real = udpFrame(BC, A, 64, 8);
  sw.send(0, real);
  sw.breathe();
  sw.close();
  const got = readPcap(files(dir)[0]);
  t.deepEqual(got.map((g) => g.hex), [hexOf(real), hexOf(real)]);
  t.is(sw.counter('pcap', 'captured'), 2);
});

test('the data path does not write per frame: data waits for flushMs, a batch or close', async (t) => {
  const dir = tempDir(t);
  const sw = await pcapSwitch(t, 2, { dir, direction: 'in', flushMs: 200 });
  sw.send(0, udpFrame(BC, A, 64, 1));
  sw.breathe();
  const [file] = files(dir);
  t.is(statSync(file).size, 0, 'buffered, not yet written');
  const t0 = performance.now();
  while (performance.now() - t0 < 210) { /* the worker never sleeps either */ }
  sw.breathe(); // an empty breath runs no hook
  t.is(statSync(file).size, 0);
  sw.send(0, udpFrame(BC, A, 64, 2));
  sw.breathe(); // flushMs passed: the buffer (frame 1) is written before frame 2 is added
  t.is(readPcap(file).length, 1, 'readable while being written');
  sw.close();
  t.is(readPcap(file).length, 2);
});

test('a directory that cannot be used is counted and nothing reaches the pipeline', async (t) => {
  const dir = tempDir(t);
  const notADir = join(dir, 'file');
  writeFileSync(notADir, 'x');
  const sw = await pcapSwitch(t, 2, { dir: join(notADir, 'pcap') });
  for (let k = 0; k < 3; k++) { sw.send(0, udpFrame(BC, A, 64, k)); sw.breathe(); }
  t.is(sw.sent(1).length, 3, 'forwarding unaffected');
  t.is(sw.counter('pcap', 'writeErrors'), 1, 'counted once, at create');
  t.is(sw.counter('pcap', 'captured'), 0);
  t.deepEqual(sw.failures, []);
  // (the log line is written during create, which testSwitch does not collect yet)
  sw.close();
});

test('a file that cannot be opened is counted, logged once, and stops the capture', async (t) => {
  const dir = join(tempDir(t), 'pcap');
  const sw = await pcapSwitch(t, 2, { dir });
  rmSync(dir, { recursive: true });
  for (let k = 0; k < 3; k++) { sw.send(0, udpFrame(BC, A, 64, k)); sw.breathe(); }
  t.is(sw.sent(1).length, 3, 'forwarding unaffected');
  t.is(sw.counter('pcap', 'writeErrors'), 1);
  t.is(sw.counter('pcap', 'captured'), 0);
  t.is(sw.logs.length, 1);
  t.regex(sw.logs[0], /^pcap: cannot open .*test-0-000000\.pcapng; capture stopped on worker 0: ENOENT/);
  t.deepEqual(sw.failures, []);
  sw.close();
});

test('disk full mid-capture: counted, logged once, the file closed, forwarding goes on', async (t) => {
  const dir = tempDir(t);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'xvs-pcap-test', dir], { stdio: 'ignore' });
  } catch {
    t.log('cannot mount a tmpfs here: skipped');
    t.pass();
    return;
  }
  t.teardown(() => execFileSync('umount', [dir]));
  const sw = await pcapSwitch(t, 2, { dir, direction: 'in', rotateFiles: 1, flushMs: 0 });
  for (let k = 0; k < 100; k++) { sw.send(0, udpFrame(BC, A, 1514, k)); sw.breathe(); }
  t.is(sw.sent(1).length, 100);
  t.is(sw.counter('pcap', 'writeErrors'), 1);
  t.is(sw.logs.length, 1);
  t.regex(sw.logs[0], /write failed; capture stopped on worker 0: ENOSPC/);
  const captured = sw.counter('pcap', 'captured');
  t.true(captured > 30 && captured < 50, `stopped after about 64 KiB (${captured})`);
  t.deepEqual(sw.failures, []);
  sw.close();
  t.true(readPcap(files(dir)[0]).length > 30, 'what was written is readable');
});

test('configuration errors name the field', async (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ snaplen: 5 }, /^config\.snaplen: expected 14\.\.65535, got 5$/],
    [{ direction: 'sideways' }, /^config\.direction: expected one of in, out, both/],
    [{ rotateFiles: 0 }, /^config\.rotateFiles: /],
    [{ rotateBytes: 100 }, /^config\.rotateBytes: /],
    [{ flushMs: -1 }, /^config\.flushMs: /],
    [{ ports: 'p0' }, /^config\.ports: expected JSON/],
    [{ ports: ['p 0'] }, /^config\.ports\[0\]: /],
    [{ dir: 7 }, /^config\.dir: expected a string/],
    [{ filter: 'tcp' }, /^config\.filter: unknown key/],
  ];
  for (const [config, re] of bad) {
    const e = t.throws(() => validateExtensionConfig(pcap, config, 'config'), { instanceOf: ConfigError });
    t.regex(e?.message ?? '', re);
  }
  const ok = validateExtensionConfig(pcap, {}, 'config');
  t.deepEqual(ok, { direction: 'both', snaplen: 65535, rotateBytes: 64 * 1024 * 1024, rotateFiles: 10, flushMs: 1000 });
  const e = await t.throwsAsync(testSwitch({ ports: 2, stages: [{ module: MODULE, config: { dir: tempDir(t), match: 'tcp.dst=99999' } }] }),
    { instanceOf: ConfigError });
  t.is(e?.field, 'config.match');
  t.regex(e?.message ?? '', /^config\.match: tcp\.dst: expected 0\.\.65535/);
});

test('no allocation per frame: a million frames recorded in and out across rotations, the heap does not grow', async (t) => {
  const dir = tempDir(t);
  const sw = await pcapSwitch(t, 2, { dir, rotateBytes: 16 * 1024 * 1024, rotateFiles: 2, flushMs: 0 });
  for (const p of sw.ports) p.record = null;
  sw.ports[0].inbox.push(...variedFrames().filter((f) => f.length < 1000));
  sw.ports[0].repeat = true;
  const rx = (): number => sw.portCounter(0, 'rxPackets');
  const run = (frames: number): void => {
    const rx0 = rx();
    while (rx() - rx0 < frames) sw.breathe(5);
  };
  run(100_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const captured0 = sw.counter('pcap', 'captured');
  const t0 = performance.now();
  run(1_000_000);
  const ms = performance.now() - t0;
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const records = sw.counter('pcap', 'captured') - captured0;
  t.log(`1M frames (${records} records, ${sw.counter('pcap', 'filesRotated')} rotations) in ${ms.toFixed(0)} ms; heap delta ${after - before} bytes, gc exposed: ${gc !== undefined}`);
  t.true(records >= 1_000_000, 'every frame recorded in, most out too');
  t.true(sw.counter('pcap', 'filesRotated') >= 3, 'rotated on the way');
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  sw.close();
  t.is(files(dir).length, 2);
  t.is(sw.counter('pcap', 'writeErrors'), 0);
});

test('the doc block has every section', (t) => {
  for (const [k, v] of Object.entries(pcap.doc)) t.true(v.length > 20, `doc.${k}`);
  t.deepEqual(Object.keys(pcap.counters), ['captured', 'bytes', 'filesRotated', 'writeErrors', 'truncated']);
});
