/**
 * Bandwidth policy on real namespaces through the real daemon (issue 10 item 7), measured with iperf3:
 * 1. maximumBandwidth 100 Mbit/s on a VM port: TCP from that VM is received at the limit ±10 %; UDP
 *    offered at twice the limit is delivered at the limit ±10 % and the excess is dropped as
 *    bandwidth-limit (frames) and bandwidthDroppedBytes (bytes).
 * 2. An external switch whose uplink (a veth into a "sink" namespace) has uplinkBandwidth 200 Mbit/s:
 *    two VMs with weights 75 and 25 both sending TCP get 150 / 50 Mbit/s ±15 %; one alone gets the
 *    whole 200 (work conservation).
 * Settings go in with `xvs config apply` of a document, then change with `xvs port set`. Rates stay far
 * below what the machine carries (the switch moves several Gbit/s of TCP between two veths).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NetLab, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('bw');
const LIMITED = `${P}l`;
const UPLINKED = `${P}u`;
const SECONDS = 5;
/** long enough that the bucket's first burst (0.3 s of the rate) adds under 4 % */
const TCP_SECONDS = 8;
let d: TestDaemon;
let lab: NetLab;

interface PortStats { name: string; drops: Record<string, number>; policy?: Record<string, number> }
interface IperfResult {
  end: {
    sum_received?: { bits_per_second: number; bytes: number; seconds: number };
    sum?: { bits_per_second: number; bytes: number; seconds: number; lost_packets?: number; packets?: number };
  };
  error?: string;
}

test.before(async () => {
  lab = new NetLab(P);
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  if (d?.running) {
    d.xvs('switch', 'delete', LIMITED);
    d.xvs('switch', 'delete', UPLINKED);
  }
  await d?.destroy();
  lab?.destroy();
});

function apply(doc: unknown): void {
  const file = path.join(d.dir, 'doc.json');
  writeFileSync(file, JSON.stringify(doc));
  const r = d.xvs('config', 'apply', file);
  if (r.code !== 0) throw new Error(`config apply: ${r.err}`);
}

/** iperf3 servers in `h` on these TCP ports, listening when this returns (killed by PID in lab.destroy) */
async function servers(h: Host, ports: number[]): Promise<void> {
  await Promise.all(ports.map((port) => new Promise<void>((resolve, reject) => {
    const p = lab.spawnIn(h, ['iperf3', '-s', '--forceflush', '-p', String(port)]);
    let out = '';
    p.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('Server listening')) resolve();
    });
    p.once('exit', (code) => reject(new Error(`iperf3 server exited ${code}: ${out}`)));
  })));
}

/** an iperf3 client in `h` (JSON), run to its end */
function client(h: Host, args: string[]): Promise<IperfResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', h.ns, 'iperf3', '-J', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.once('exit', () => {
      try {
        const r = JSON.parse(out) as IperfResult;
        if (r.error) reject(new Error(`iperf3: ${r.error}`));
        else resolve(r);
      } catch (e) {
        reject(new Error(`iperf3 output: ${out.slice(0, 500)} (${(e as Error).message})`));
      }
    });
  });
}

const mbps = (bps: number): string => `${(bps / 1e6).toFixed(1)} Mbit/s`;
/** the receiver's rate of a TCP test */
const received = (r: IperfResult): number => r.end.sum_received!.bits_per_second;
const portStats = (sw: string, name: string): PortStats => d.json<{ ports: PortStats[] }>('stats', sw).ports.find((p) => p.name === name)!;

test.serial('maximum bandwidth 100 Mbit/s: TCP at the limit ±10 %; UDP at twice the limit delivered at the limit, the excess counted', async (t) => {
  const a = lab.addHost(1);
  const b = lab.addHost(2);
  apply({
    version: 1,
    switches: [{ name: LIMITED, type: 'private', ports: [
      { name: 'a', netdev: a.peer, maximumBandwidth: 100_000_000 },
      { name: 'b', netdev: b.peer },
    ] }],
  });
  const pipeline = d.xvs('pipeline', 'show', LIMITED).out;
  t.regex(pipeline, /a: maximum 100 Mbit\/s \(burst \d+ bytes\), excess dropped/);
  await servers(b, [5201]);
  t.true(lab.ping(a, b, 1));

  const tcp = await client(a, ['-c', b.ip, '-p', '5201', '-t', String(TCP_SECONDS)]);
  const rate = received(tcp);
  t.log(`TCP a → b with maximum 100 Mbit/s: received ${mbps(rate)}`);
  t.true(Math.abs(rate - 100e6) <= 10e6, `TCP ${mbps(rate)} not within 100 ±10 Mbit/s`);
  const afterTcp = portStats(LIMITED, 'a');

  const udp = await client(a, ['-c', b.ip, '-p', '5201', '-u', '-b', '200M', '-l', '1400', '-t', String(SECONDS)]);
  const sum = udp.end.sum!;
  const delivered = ((sum.packets! - sum.lost_packets!) * 1400 * 8) / sum.seconds;
  t.log(`UDP a → b offered 200 Mbit/s: delivered ${mbps(delivered)} (${sum.lost_packets} of ${sum.packets} lost)`);
  t.true(Math.abs(delivered - 100e6) <= 10e6, `UDP delivered ${mbps(delivered)} not within 100 ±10 Mbit/s`);
  const s = portStats(LIMITED, 'a');
  const frames = (s.drops['bandwidth-limit'] ?? 0) - (afterTcp.drops['bandwidth-limit'] ?? 0);
  const bytes = (s.policy?.bandwidthDroppedBytes ?? 0) - (afterTcp.policy?.bandwidthDroppedBytes ?? 0);
  t.log(`dropped as bandwidth-limit during UDP: ${frames} frames, ${bytes} bytes`);
  // most of what iperf3 lost was dropped by the policy (each datagram is one 1442-byte frame)
  t.true(frames >= sum.lost_packets! * 0.9 && frames <= sum.lost_packets! * 1.1, `${frames} drops for ${sum.lost_packets} lost datagrams`);
  t.is(bytes, frames * (1400 + 8 + 20 + 14));
  t.is(portStats(LIMITED, 'b').drops['bandwidth-limit'] ?? 0, 0, 'b is not limited');

  // changed in place with the CLI: the policy follows, back to no limit with "default"
  const set = d.xvs('port', 'set', LIMITED, 'a', '--maximum-bandwidth', '50M', '--maximum-bandwidth-burst', '1Mi');
  t.is(set.code, 0, set.err);
  t.regex(d.xvs('pipeline', 'show', LIMITED).out, /a: maximum 50 Mbit\/s \(burst 1048576 bytes\), excess dropped/);
  t.is(d.xvs('port', 'set', LIMITED, 'a', '--maximum-bandwidth', 'default', '--maximum-bandwidth-burst', 'default').code, 0);
  t.notRegex(d.xvs('pipeline', 'show', LIMITED).out, /maximum \d/);
});

test.serial('weights 75 / 25 on an uplink of 200 Mbit/s: TCP shares 150 / 50 ±15 %; one port alone gets the whole 200', async (t) => {
  const sink = lab.addHost(5, { subnet: '10.77.1' });
  const c = lab.addHost(6, { subnet: '10.77.1' });
  const e = lab.addHost(7, { subnet: '10.77.1' });
  apply({
    version: 1,
    switches: [
      { name: UPLINKED, type: 'external', uplink: sink.peer, uplinkBandwidth: 200_000_000, ports: [
        { name: 'c', netdev: c.peer, minimumBandwidthWeight: 75 },
        { name: 'e', netdev: e.peer, minimumBandwidthWeight: 25 },
      ] },
    ],
  });
  t.regex(d.xvs('pipeline', 'show', UPLINKED).out, /c: weight 75 of uplink 200 Mbit\/s/);
  t.regex(d.xvs('pipeline', 'show', UPLINKED).out, /e: weight 25 of uplink 200 Mbit\/s/);
  t.regex(d.xvs('switch', 'show', UPLINKED).out, /uplink-bandwidth:\s+200000000 bit\/s/);
  await servers(sink, [5201, 5202]);
  t.true(lab.ping(c, sink, 1) && lab.ping(e, sink, 1));

  const [rc, re] = await Promise.all([
    client(c, ['-c', sink.ip, '-p', '5201', '-t', String(TCP_SECONDS)]),
    client(e, ['-c', sink.ip, '-p', '5202', '-t', String(TCP_SECONDS)]),
  ]);
  const [wc, we] = [received(rc), received(re)];
  t.log(`both sending: c (weight 75) ${mbps(wc)}, e (weight 25) ${mbps(we)}, sum ${mbps(wc + we)}`);
  t.true(Math.abs(wc - 150e6) <= 0.15 * 150e6, `c ${mbps(wc)} not within 150 ±15 %`);
  t.true(Math.abs(we - 50e6) <= 0.15 * 50e6, `e ${mbps(we)} not within 50 ±15 %`);
  t.true((portStats(UPLINKED, 'e').drops['bandwidth-limit'] ?? 0) > 0, 'e was policed to its share');

  const alone = received(await client(e, ['-c', sink.ip, '-p', '5202', '-t', String(TCP_SECONDS)]));
  t.log(`e (weight 25) alone: ${mbps(alone)}`);
  t.true(Math.abs(alone - 200e6) <= 0.15 * 200e6, `e alone ${mbps(alone)} not within 200 ±15 %`);
});
