/**
 * capture `sflow` against real third-party decoders: the switch (in-process, real data path) carries
 * a known traffic mix; the sFlow datagrams it originates toward the collector's port are decoded by
 * tshark's sflow dissector and fed to pmacct's sfacctd, and both must report what was sent. Also: ARP
 * resolution of the collector's MAC (nothing is sent before it), synthetic traces are not sampled,
 * and configuration errors name the field.
 */
import test from 'ava';
import { writeClassicPcap } from '../../test-support/pcap.js';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateExtensionConfig } from '../config.js';
import { testSwitch, type TestSwitch } from '../testing.js';
import { buildPacket } from '../../packet/spec.js';
import sflow from './index.js';

const MODULE = new URL('./index.js', import.meta.url).href;
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const D = '02:00:00:00:00:0d';
const C = '02:00:00:00:00:0c'; // the collector, on port 3
const AGENT = '192.0.2.1';
const COLLECTOR = '192.0.2.9';
const RATE = 100;

interface Flow { name: string; port: number; count: number; spec: string; src: string; dst: string; sport: number; dport: number; proto: string; vlan: number }

/** 20 000 frames from 3 MACs on ports 0..2 */
const FLOWS: Flow[] = [
  { name: 'A→B udp', port: 0, count: 6000, src: '10.1.0.1', dst: '10.1.0.2', sport: 1111, dport: 2222, proto: 'udp', vlan: 0,
    spec: `eth(src=${A},dst=${B}),ipv4(src=10.1.0.1,dst=10.1.0.2),udp(src=1111,dst=2222),payload(len=100)` },
  { name: 'A→mcast udp', port: 0, count: 1000, src: '10.1.0.1', dst: '239.1.1.1', sport: 5000, dport: 5001, proto: 'udp', vlan: 0,
    spec: `eth(src=${A},dst=01:00:5e:01:01:01),ipv4(src=10.1.0.1,dst=239.1.1.1),udp(src=5000,dst=5001),payload(len=20)` },
  { name: 'B→A tcp', port: 1, count: 6000, src: '10.1.0.2', dst: '10.1.0.1', sport: 80, dport: 40000, proto: 'tcp', vlan: 0,
    spec: `eth(src=${B},dst=${A}),ipv4(src=10.1.0.2,dst=10.1.0.1),tcp(src=80,dst=40000,flags=A),payload(len=1000)` },
  { name: 'D→A udp', port: 2, count: 4000, src: '10.1.0.3', dst: '10.1.0.1', sport: 5353, dport: 53, proto: 'udp', vlan: 0,
    spec: `eth(src=${D},dst=${A}),ipv4(src=10.1.0.3,dst=10.1.0.1),udp(src=5353,dst=53),payload(len=40)` },
  { name: 'D→B udp vlan 100', port: 2, count: 3000, src: '10.1.0.3', dst: '10.1.0.2', sport: 7000, dport: 7001, proto: 'udp', vlan: 100,
    spec: `eth(src=${D},dst=${B}),vlan(vid=100,pcp=3),ipv4(src=10.1.0.3,dst=10.1.0.2),udp(src=7000,dst=7001),payload(len=300)` },
];
const TOTAL = FLOWS.reduce((s, f) => s + f.count, 0);

const has = (cmd: string, arg: string): boolean => spawnSync(cmd, [arg]).status !== null && spawnSync(cmd, [arg]).error === undefined;
const hasTshark = has('tshark', '-v');
const hasSfacctd = has('sfacctd', '-V');

const u16 = (f: Uint8Array, o: number): number => (f[o] << 8) | f[o + 1];

/** sFlow frames the switch sent out of `port` (Ethernet/IPv4/UDP to 6343) */
function sflowFrames(sw: TestSwitch, port: number): Uint8Array[] {
  return sw.sent(port).filter((f) => u16(f, 12) === 0x0800 && f[23] === 17 && u16(f, 36) === 6343);
}

function udpPayload(f: Uint8Array): Uint8Array {
  return f.slice(42, 14 + u16(f, 16));
}

function bcast(mac: string, ip: string): Uint8Array {
  return buildPacket(`eth(src=${mac},dst=ff:ff:ff:ff:ff:ff),ipv4(src=${ip},dst=255.255.255.255),udp(src=68,dst=67)`);
}

/** Run the traffic mix; return the switch (for counters) and the sFlow frames sent to the collector. */
async function runTraffic(): Promise<{ sw: TestSwitch; frames: Uint8Array[] }> {
  const sw = await testSwitch({
    ports: 4,
    stages: [{ module: MODULE, config: { agentAddress: AGENT, collector: { ip: COLLECTOR, mac: C }, sampleRate: RATE, seed: 12345 } }],
  });
  // every MAC announces itself with one broadcast, so the switch learns them (and the collector's port)
  sw.send(3, bcast(C, COLLECTOR));
  sw.send(0, bcast(A, '10.1.0.1'));
  sw.send(1, bcast(B, '10.1.0.2'));
  sw.send(2, bcast(D, '10.1.0.3'));
  sw.breathe();
  const built = FLOWS.map((f) => buildPacket(f.spec));
  const left = FLOWS.map((f) => f.count);
  while (left.some((n) => n > 0)) {
    for (let k = 0; k < FLOWS.length; k++) {
      const n = Math.min(left[k], 40);
      for (let j = 0; j < n; j++) sw.send(FLOWS[k].port, built[k].slice());
      left[k] -= n;
    }
    sw.breathe();
    sw.now += 0.05;
  }
  sw.breathe(2);
  // a counter poll is due after pollingSeconds (20): one frame from the collector's port triggers it
  sw.now += 21;
  sw.send(3, bcast(C, COLLECTOR));
  sw.breathe(3);
  // and a last flush for anything that frame left in a datagram
  sw.now += 2;
  sw.send(3, bcast(C, COLLECTOR));
  sw.breathe(3);
  return { sw, frames: sflowFrames(sw, 3) };
}

function writePcap(file: string, frames: Uint8Array[]): void {
  writeClassicPcap(file, frames, 1000);
}

type Json = { [k: string]: unknown };

/** tshark -T json of a pcap of frames: each packet's layers */
function tshark(frames: Uint8Array[]): Json[] {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-sflow-'));
  try {
    const file = join(dir, 'sflow.pcap');
    writePcap(file, frames);
    const r = spawnSync('tshark', ['-r', file, '-T', 'json', '--no-duplicate-keys', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'],
      { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { _source: { layers: Json } }[]).map((p) => p._source.layers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}


/** every object under `o` whose key starts with `prefix` (tshark --no-duplicate-keys makes repeats arrays) */
function sections(o: unknown, prefix: string, out: Json[] = []): Json[] {
  if (Array.isArray(o)) { for (const x of o) sections(x, prefix, out); return out; }
  if (typeof o !== 'object' || o === null) return out;
  for (const [k, v] of Object.entries(o as Json)) {
    if (k.startsWith(prefix)) {
      for (const x of Array.isArray(v) ? v : [v]) if (typeof x === 'object' && x !== null) out.push(x as Json);
    } else {
      sections(v, prefix, out);
    }
  }
  return out;
}

/** a field's value(s) anywhere under o */
function field(o: unknown, name: string): string | undefined {
  if (Array.isArray(o)) {
    for (const x of o) { const v = field(x, name); if (v !== undefined) return v; }
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  for (const [k, v] of Object.entries(o as Json)) {
    if (k === name) return Array.isArray(v) ? String(v[0]) : String(v);
    const r = field(v, name);
    if (r !== undefined) return r;
  }
  return undefined;
}

/** frames sent per source port, by class (what the counter samples must report) */
function expectedIn(): { ucast: number[]; mcast: number[]; bcast: number[]; octets: number[] } {
  const e = { ucast: [0, 0, 0, 0], mcast: [0, 0, 0, 0], bcast: [1, 1, 1, 1], octets: [0, 0, 0, 0] };
  for (let p = 0; p < 4; p++) e.octets[p] = bcast(A, '10.1.0.1').length;
  for (const f of FLOWS) {
    const frame = buildPacket(f.spec);
    if (frame[0] & 1) e.mcast[f.port] += f.count; else e.ucast[f.port] += f.count;
    e.octets[f.port] += f.count * frame.length;
  }
  return e;
}

/** the flow a sampled header belongs to, by addresses and ports */
function flowOf(src: string | undefined, dst: string | undefined, sport: string | undefined, dport: string | undefined): Flow | undefined {
  return FLOWS.find((f) => f.src === src && f.dst === dst && String(f.sport) === sport && String(f.dport) === dport);
}

(hasTshark ? test : test.skip)('tshark decodes the datagrams: version 5, ~1/N flow samples that decode as the flows sent, interface counters that match', async (t) => {
  const { sw, frames } = await runTraffic();
  t.teardown(() => sw.close());
  t.deepEqual(sw.failures, []);
  t.true(frames.length > 20, `${frames.length} datagrams reached the collector's port`);
  t.is(frames.length, sw.counter('sflow', 'datagrams'), 'every originated datagram went out of the collector port only');
  for (const p of [0, 1, 2]) t.is(sflowFrames(sw, p).length, 0, `no datagram leaked to port ${p}`);
  for (const f of frames) t.true(f.length <= 14 + 20 + 8 + 1400, 'datagrams stay within 1400 bytes of payload');

  const packets = tshark(frames);
  t.is(packets.length, frames.length);
  const seqs: number[] = [];
  for (const p of packets) {
    const sf = p.sflow as Json;
    t.truthy(sf, 'tshark dissected sFlow');
    t.is(sf['sflow_245.version'], '5');
    t.is(sf['sflow_245.agent'], AGENT);
    t.is(sf['sflow_245.sub_agent_id'], '0');
    t.is(field(p, 'ip.checksum.status'), '1', 'IPv4 checksum good');
    t.is(field(p, 'udp.checksum.status'), '1', 'UDP checksum good');
    t.is(field(p, 'eth.dst'), C);
    seqs.push(Number(sf['sflow_245.sequence_number']));
  }
  t.deepEqual(seqs, seqs.map((_, i) => i + 1), 'datagram sequence numbers 1, 2, 3, …');

  // flow samples
  const samples = sections(packets.map((p) => p.sflow), 'Flow sample');
  t.is(samples.length, sw.counter('sflow', 'sampled'), 'every sample taken was exported');
  const fromFlows = samples.filter((s) => ['1', '2', '3'].includes(String(s['sflow.flow_sample.input_interface'])));
  const expected = TOTAL / RATE;
  t.true(Math.abs(fromFlows.length - expected) < 5 * Math.sqrt(expected), `${fromFlows.length} samples for ${TOTAL} frames at 1/${RATE}`);
  const perFlow = new Map<string, number>();
  for (const s of fromFlows) {
    t.is(s['sflow.flow_sample.sampling_rate'], String(RATE));
    t.is(s['sflow.flow_sample.output_interface'], '0x00000000');
    const hdr = sections(s, 'Raw packet header')[0];
    t.is(hdr['sflow_245.header_protocol'], '1');
    const proto = field(hdr, 'ip.proto') === '6' ? 'tcp' : 'udp';
    const f = flowOf(field(hdr, 'ip.src'), field(hdr, 'ip.dst'), field(hdr, `${proto}.srcport`), field(hdr, `${proto}.dstport`));
    if (!f) { t.fail(`a sampled header matches no flow sent: ${JSON.stringify(hdr).slice(0, 300)}`); continue; }
    t.is(s['sflow.flow_sample.input_interface'], String(f.port + 1), `${f.name}: input ifIndex = port + 1`);
    t.is(s['sflow.flow_sample.index'], String(f.port + 1));
    const frame = buildPacket(f.spec);
    t.is(hdr['sflow_245.header.frame_length'], String(frame.length));
    t.is(hdr['sflow_245.header.sampled_header_length'], String(Math.min(frame.length, 128)));
    const sw1001 = sections(s, 'Extended switch data')[0];
    t.is(field(sw1001, 'sflow_245.vlan.in'), String(f.vlan), `${f.name}: VLAN in extended_switch`);
    perFlow.set(f.name, (perFlow.get(f.name) ?? 0) + 1);
  }
  for (const f of FLOWS) {
    const n = perFlow.get(f.name) ?? 0;
    const e = f.count / RATE;
    t.true(Math.abs(n - e) < 5 * Math.sqrt(e) + 2, `${f.name}: ${n} samples, expected about ${e}`);
  }
  // the pools per port grow with the frames seen: the last sample of a port has sample_pool <= frames from that port
  // counter samples: one per port from the poll, matching what was sent
  const ctrs = sections(packets.map((p) => p.sflow), 'Counters sample');
  t.is(ctrs.length, 4, 'one generic counters sample per port');
  t.is(sw.counter('sflow', 'counterSamples'), 4);
  const e = expectedIn();
  for (const c of ctrs) {
    const g = sections(c, 'Generic interface counters')[0];
    const ifIndex = Number(g['sflow_245.ifindex']);
    const p = ifIndex - 1;
    t.is(c['sflow.counters_sample.source_id_index'], String(ifIndex));
    t.is(g['sflow_245.ifinpkt'], String(e.ucast[p]), `ifInUcastPkts of port ${p}`);
    t.is(g['sflow_245.ifinmcast'], String(e.mcast[p]), `ifInMulticastPkts of port ${p}`);
    t.is(g['sflow_245.ifinbcast'], String(e.bcast[p]), `ifInBroadcastPkts of port ${p}`);
    t.is(g['sflow_245.ifinoct'], String(e.octets[p]), `ifInOctets of port ${p}`);
    t.is(g['sflow_245.ifoutbcast'], '3', `ifOutBroadcastPkts of port ${p}: the other three announcements`);
    t.is(g['sflow_245.ifindisc'], '0');
  }
  const out = (p: number, name: string): string => String(sections(ctrs.find((c) => c['sflow.counters_sample.source_id_index'] === String(p + 1)), 'Generic interface counters')[0][name]);
  t.is(out(0, 'sflow_245.ifoutpkt'), String(6000 + 4000), 'port 0 sent B→A and D→A');
  t.is(out(1, 'sflow_245.ifoutpkt'), String(6000 + 3000), 'port 1 sent A→B and D→B');
  t.is(out(2, 'sflow_245.ifoutpkt'), '0');
  for (const p of [1, 2, 3]) t.is(out(p, 'sflow_245.ifoutmcast'), '1000', `port ${p} got the multicast flow`);
});

/** start sfacctd in its own process group; returns its pid and the files it writes */
function startSfacctd(dir: string, port: number): { pid: number; flows: string; counters: string; log: () => string } {
  const flows = join(dir, 'flows.json');
  const counters = join(dir, 'counters.json');
  const conf = join(dir, 'sfacctd.conf');
  writeFileSync(conf, [
    'sfacctd_ip: 127.0.0.1', `sfacctd_port: ${port}`, 'plugins: print',
    'aggregate: src_mac, dst_mac, src_host, dst_host, src_port, dst_port, proto, vlan, in_iface, sampling_rate',
    'print_output: json', `print_output_file: ${flows}`, 'print_output_file_append: true', 'print_refresh_time: 1',
    `sfacctd_counter_file: ${counters}`, 'sfacctd_counter_output: json', '',
  ].join('\n'));
  const logFile = join(dir, 'sfacctd.log');
  const child = spawn('sfacctd', ['-f', conf], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  child.unref();
  if (child.pid === undefined) throw new Error('sfacctd did not start');
  void logFile;
  return { pid: child.pid, flows, counters, log: () => log };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

(hasSfacctd ? test : test.skip)('pmacct sfacctd reports the sampled flows and the port counters consistent with the traffic sent', async (t) => {
  const { sw, frames } = await runTraffic();
  const sampled = sw.counter('sflow', 'sampled');
  sw.close();
  const dir = mkdtempSync(join(tmpdir(), 'xvs-sfacctd-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const sf = startSfacctd(dir, port);
  t.teardown(() => {
    try { process.kill(-sf.pid, 'SIGKILL'); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  });
  t.true(await waitFor(() => sf.log().includes('waiting for sFlow data'), 10_000), `sfacctd listening: ${sf.log()}`);
  // sfacctd prints "waiting" a moment before its plugin pipe is ready; and a burst of datagrams can
  // overflow its socket on a busy machine: give it a second, then pace the datagrams
  await new Promise((r) => setTimeout(r, 1000));
  const sock = createSocket('udp4');
  for (const [k, f] of frames.entries()) {
    await new Promise<void>((res, rej) => sock.send(udpPayload(f), port, '127.0.0.1', (e) => (e ? rej(e) : res())));
    if (k % 10 === 9) await new Promise((r) => setTimeout(r, 5));
  }
  sock.close();
  const total = (): number => {
    if (!existsSync(sf.flows)) return 0;
    return readFileSync(sf.flows, 'utf8').split('\n').filter((l) => l.trim()).reduce((s, l) => s + Number((JSON.parse(l) as Json).packets), 0);
  };
  const exported = frames.reduce((s, f) => s + flowSamplesIn(udpPayload(f)), 0);
  t.true(exported >= sampled - 1, 'all samples but possibly the last one were exported');
  t.true(await waitFor(() => total() >= exported && existsSync(sf.counters) && ctrLines(sf.counters).length >= 5, 30_000),
    `sfacctd printed ${total()} of ${exported} samples`);
  // flows: every aggregate is one of the flows sent, on its input interface, with its VLAN; per flow ≈ count / rate
  const rows = readFileSync(sf.flows, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Json);
  const perFlow = new Map<string, number>();
  let unknown = 0;
  for (const r of rows) {
    const f = flowOf(String(r.ip_src), String(r.ip_dst), String(r.port_src), String(r.port_dst));
    if (!f) { unknown += Number(r.packets); continue; }
    t.is(r.ip_proto, f.proto, f.name);
    t.is(r.mac_src, FLOWS[FLOWS.indexOf(f)].spec.match(/src=([0-9a-f:]{17})/)?.[1], `${f.name}: source MAC`);
    t.is(Number(r.iface_in), f.port + 1, `${f.name}: input interface`);
    t.is(Number(r.vlan), f.vlan, `${f.name}: VLAN`);
    t.is(Number(r.sampling_rate), RATE);
    perFlow.set(f.name, (perFlow.get(f.name) ?? 0) + Number(r.packets));
  }
  t.true(unknown <= 3, `at most the few trigger frames are not flows (${unknown})`);
  for (const f of FLOWS) {
    const n = perFlow.get(f.name) ?? 0;
    const e = f.count / RATE;
    t.true(Math.abs(n - e) < 5 * Math.sqrt(e) + 2, `${f.name}: sfacctd counted ${n} samples, expected about ${e}`);
  }
  // counters: sfacctd logs each generic counters record
  const e = expectedIn();
  const ctr = ctrLines(sf.counters).map((l) => JSON.parse(l) as Json).filter((x) => x.event_type !== 'log_init');
  for (let p = 0; p < 4; p++) {
    const c = ctr.find((x) => Number(x.ifIndex) === p + 1);
    t.truthy(c, `a counters record for ifIndex ${p + 1}: ${JSON.stringify(ctr[0])}`);
    if (!c) continue;
    t.is(Number(c.ifInUcastPkts), e.ucast[p], `port ${p} ifInUcastPkts`);
    t.is(Number(c.ifInMulticastPkts), e.mcast[p], `port ${p} ifInMulticastPkts`);
    t.is(Number(c.ifInOctets), e.octets[p], `port ${p} ifInOctets`);
  }
});

(hasTshark ? test : test.skip)('without collector.mac: ARP for the collector, hold samples (bounded), then send to the MAC that answered', async (t) => {
  const sw = await testSwitch({
    ports: 4,
    stages: [{ module: MODULE, config: { agentAddress: AGENT, collector: { ip: COLLECTOR }, sampleRate: 1, seed: 7 } }],
  });
  t.teardown(() => sw.close());
  const flow = buildPacket(FLOWS[0].spec);
  sw.send(1, bcast(B, '10.1.0.2')); // B on port 1
  sw.breathe();
  sw.send(0, flow.slice());
  sw.breathe(2);
  t.is(sw.counter('sflow', 'arpRequests'), 1);
  const arps = sw.sent(3).filter((f) => u16(f, 12) === 0x0806);
  t.is(arps.length, 1, 'the ARP request was flooded (it reached the collector port)');
  const arp = tshark(arps)[0];
  t.is(field(arp, 'arp.opcode'), '1');
  t.is(field(arp, 'arp.src.proto_ipv4'), AGENT);
  t.is(field(arp, 'arp.dst.proto_ipv4'), COLLECTOR);
  t.is(field(arp, 'eth.dst'), 'ff:ff:ff:ff:ff:ff');
  const agentMac = field(arp, 'arp.src.hw_mac');
  t.is(agentMac, '02:53:c0:00:02:01', 'default agent MAC: 02:53 + agent address');

  // lots of samples while unresolved: some datagrams are held, the rest dropped and counted
  for (let k = 0; k < 20; k++) {
    for (let j = 0; j < 50; j++) sw.send(0, flow.slice());
    sw.breathe();
    sw.now += 0.3; // ARP retried every second; datagrams closed by flushMs too
  }
  sw.breathe();
  const allSflow = (): number => [0, 1, 2, 3].reduce((s, p) => s + sflowFrames(sw, p).length, 0);
  t.is(allSflow(), 0, 'nothing is sent (no broadcast) while the collector MAC is unknown');
  t.true(sw.counter('sflow', 'dropsUnresolved') > 0, 'samples beyond the hold queue are dropped and counted');
  t.true(sw.counter('sflow', 'arpRequests') >= 5, 'ARP retried about every second');
  const sampled = sw.counter('sflow', 'sampled');
  t.is(sampled, 1002, "sampleRate 1 samples every frame (and B's announcement)");

  // the collector answers from port 3
  sw.send(3, buildPacket(`eth(src=${C},dst=${agentMac}),arp(op=reply,sha=${C},spa=${COLLECTOR},tha=${agentMac},tpa=${AGENT})`));
  sw.breathe(2);
  sw.now += 2;
  sw.send(0, flow.slice());
  sw.breathe(3);
  const out = sflowFrames(sw, 3);
  t.true(out.length >= 8, `the held datagrams were sent (${out.length})`);
  t.is(allSflow(), out.length, 'only to the collector port');
  const decoded = tshark(out);
  for (const p of decoded) t.is(field(p, 'eth.dst'), C, 'to the MAC that answered');
  const exported = sections(decoded.map((p) => p.sflow), 'Flow sample').length;
  // the last frame's sample waits in an open datagram for flushMs (no later batch ticks it out)
  t.is(exported + sw.counter('sflow', 'dropsUnresolved'), sw.counter('sflow', 'sampled') - 1, 'every sample was either exported or counted as dropped');
  t.true(sw.logs.some((l) => /collector next hop is at 02:00:00:00:00:0c/.test(l)));
});

test('synthetic trace frames are neither sampled nor counted', async (t) => {
  const sw = await testSwitch({
    ports: 2,
    stages: [{ module: MODULE, config: { agentAddress: AGENT, collector: { ip: COLLECTOR, mac: C }, sampleRate: 1 } }],
  });
  t.teardown(() => sw.close());
  for (let k = 0; k < 10; k++) sw.trace(buildPacket(FLOWS[0].spec), 0);
  t.is(sw.counter('sflow', 'sampled'), 0);
  sw.send(0, buildPacket(FLOWS[0].spec));
  sw.breathe();
  t.is(sw.counter('sflow', 'sampled'), 1);
});

test('configuration errors name the field', (t) => {
  const ok = { agentAddress: AGENT, collector: { ip: COLLECTOR } };
  const v = validateExtensionConfig(sflow, ok, 'config');
  t.is(v.sampleRate, 400);
  t.is(v.headerBytes, 128);
  t.is(v.pollingSeconds, 20);
  t.is(v.flushMs, 1000);
  t.deepEqual(v.collector, { ip: COLLECTOR, port: 6343 });
  const bad: [unknown, RegExp][] = [
    [{ collector: { ip: COLLECTOR } }, /^config\.agentAddress: required/],
    [{ agentAddress: '10.0.0.300', collector: { ip: COLLECTOR } }, /^config\.agentAddress: /],
    [{ agentAddress: AGENT }, /^config\.collector: required/],
    [{ agentAddress: AGENT, collector: {} }, /^config\.collector\.ip: required/],
    [{ agentAddress: AGENT, collector: { ip: 'collector.example' } }, /^config\.collector\.ip: /],
    [{ agentAddress: AGENT, collector: { ip: COLLECTOR, port: 70000 } }, /^config\.collector\.port: expected 1\.\.65535/],
    [{ agentAddress: AGENT, collector: { ip: COLLECTOR, mac: '02:00:00:00:00' } }, /^config\.collector\.mac: /],
    [{ ...ok, sampleRate: 0 }, /^config\.sampleRate: expected 1\.\./],
    [{ ...ok, headerBytes: 1000 }, /^config\.headerBytes: /],
    [{ ...ok, agentMac: 'nope' }, /^config\.agentMac: /],
    [{ ...ok, rate: 100 }, /^config\.rate: unknown key/],
  ];
  for (const [input, re] of bad) t.throws(() => validateExtensionConfig(sflow, input, 'config'), { message: re }, JSON.stringify(input));
});

test('the doc block has every section', (t) => {
  for (const k of ['synopsis', 'summary', 'description', 'path', 'notes', 'seeAlso'] as const) t.true(sflow.doc[k].length > 10, k);
  t.deepEqual(Object.keys(sflow.counters), ['sampled', 'datagrams', 'counterSamples', 'dropsUnresolved', 'arpRequests', 'sendFailures']);
});

/** flow samples in an sFlow datagram (a walk over the XDR sample records) */
function flowSamplesIn(d: Uint8Array): number {
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  let off = 28;
  let n = 0;
  for (let k = dv.getUint32(24); k > 0; k--) {
    if (dv.getUint32(off) === 1) n++;
    off += 8 + dv.getUint32(off + 4);
  }
  return n;
}

function ctrLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
}

test('no heap growth on the hot path: millions of frames sampled and counted, datagrams originated', async (t) => {
  const sw = await testSwitch({
    ports: 4,
    stages: [{ module: MODULE, config: { agentAddress: AGENT, collector: { ip: COLLECTOR, mac: C }, sampleRate: 10, pollingSeconds: 1, flushMs: 50 } }],
  });
  t.teardown(() => sw.close());
  sw.send(3, bcast(C, COLLECTOR));
  sw.breathe();
  for (const p of sw.ports) p.record = null;
  for (const f of FLOWS) sw.ports[f.port].inbox.push(buildPacket(f.spec));
  for (const p of [0, 1, 2]) sw.ports[p].repeat = true;
  const run = (breaths: number): void => {
    for (let k = 0; k < breaths; k++) { sw.breathe(); sw.now += 0.01; }
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  run(2000);
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const framesBefore = sw.counter('sflow', 'frames');
  run(5000);
  gc?.();
  const grown = process.memoryUsage().heapUsed - before;
  const frames = sw.counter('sflow', 'frames') - framesBefore;
  t.true(frames > 3_000_000, `${frames} frames`);
  t.true(sw.counter('sflow', 'datagrams') > 10_000, `${sw.counter('sflow', 'datagrams')} datagrams`);
  t.true(grown < 1 << 20, `heap grew ${grown} bytes over ${frames} frames`);
  t.is(sw.counter('sflow', 'sendFailures'), 0);
  t.deepEqual(sw.failures, []);
});
