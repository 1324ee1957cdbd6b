/**
 * VLANs and private VLANs on real namespaces through the daemon (issue 10 item 3). This kernel has no
 * 802.1Q support (CONFIG_VLAN_8021Q unset, no bridge VLAN filtering, no act_vlan), so a namespace
 * cannot terminate a tag; the "outside" network is therefore a second xvs switch, the physical switch
 * as it were: switch A (external) has its uplink on a veth whose other end is a trunk port of switch
 * B (private), and B's access/PVLAN ports lead into the outside namespaces. Tags exist only on that
 * veth, where tshark sees them (libpcap puts back the tag the kernel strips into the skb, via
 * PACKET_AUXDATA). VLAN settings are given by `xvs config apply`.
 *
 * VLANs: on A, a and b access 10, c access 20 (also addressed in VLAN 10's subnet, so "not across"
 * is a same-subnet test), d a trunk of 10 and 20 (tshark in its namespace sees both tags); on B, o10
 * access 10, o20 access 20. Pings within a VLAN succeed through both switches, across do not; on the
 * wire between the switches frames carry 10 and 20; the access VM receives them untagged.
 *
 * Private VLAN 100 (community 101, isolated 102): on A prom, com1, com2, iso1, iso2; on B oprom,
 * ocom, oiso. Every node pings every other; the matrix is printed and must equal the NDIS rules'
 * (isolated sends on its secondary and receives only the primary, community sends on its secondary
 * and receives primary and secondary, promiscuous sends on the primary and receives all).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NetLab, sh, shAsync, testPrefix, type Host } from '../src/lab/netlab.js';
import { TestDaemon } from '../src/test-support/daemon.js';

const P = testPrefix('vl');
const SW_A = `${P}a`;
const SW_B = `${P}b`;
/** the veth between the switches: A's uplink, B's trunk port */
const UPLINK = `${P}u0`;
const TRUNK = `${P}u1`;
let d: TestDaemon;
let lab: NetLab;

test.before(async () => {
  lab = new NetLab(P);
  d = new TestDaemon();
  await d.start();
});

test.after.always(async () => {
  if (d?.running) { d.xvs('switch', 'delete', SW_A); d.xvs('switch', 'delete', SW_B); }
  await d?.destroy();
  lab?.destroy();
});

const ns = (h: Host, ...args: string[]): string => sh('ip', ['-n', h.ns, ...args]);

function ping(h: Host, ip: string): boolean {
  try {
    sh('ip', ['netns', 'exec', h.ns, 'ping', '-c', '2', '-i', '0.2', '-W', '1', ip], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** the same as `ping`, without blocking: several sources at once */
async function pingAsync(h: Host, ip: string): Promise<boolean> {
  return (await shAsync('ip', ['netns', 'exec', h.ns, 'ping', '-c', '2', '-i', '0.2', '-W', '1', ip], { timeout: 20_000 })).code === 0;
}

/**
 * tshark on `dev` (in `h`'s namespace, or the root one) while `during` runs: "vlan.id<TAB>src<TAB>dst" of ICMP
 * and ARP frames. tshark stops (SIGINT, which flushes) one second after `during` returns, at most 8 s after it started.
 */
async function capture(h: Host | null, dev: string | string[], during: () => void): Promise<string[]> {
  const args = ['tshark', ...(Array.isArray(dev) ? dev : [dev]).flatMap((x) => ['-i', x]), '-a', 'duration:8', '-l', '-Y', 'icmp or arp', '-T', 'fields',
    '-e', 'vlan.id', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'arp.src.proto_ipv4', '-e', 'arp.dst.proto_ipv4'];
  const p = h ? spawn('ip', ['netns', 'exec', h.ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  for (let i = 0; i < 60 && !err.includes('Capturing on'); i++) await new Promise((r) => setTimeout(r, 100));
  during();
  await new Promise((r) => setTimeout(r, 1000));
  // `ip netns exec` execs tshark in place: the child's PID is tshark's
  if (p.exitCode === null && p.pid !== undefined) { try { process.kill(p.pid, 'SIGINT'); } catch { /* gone */ } }
  await exited;
  if (!err.includes('Capturing on')) throw new Error(`tshark did not start: ${err}`);
  // one line per frame: vlan, source IP (IP or ARP sender), destination IP (IP or ARP target)
  return out.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const [vlan, src, dst, asrc, adst] = l.split('\t');
    return `${vlan}\t${src || asrc}\t${dst || adst}`;
  });
}

/** the distinct VLAN tags ('' = untagged) of captured frames from `src` (to `dst` if given) */
function tagsOf(lines: string[], src: string, dst?: string): string[] {
  return [...new Set(lines.map((l) => l.split('\t')).filter(([, s, t]) => s === src && (dst === undefined || t === dst)).map(([v]) => v))].sort();
}

interface PortDoc { name: string; netdev: string; vlan: unknown }

test.serial('VLANs and private VLANs: reachability within and across, tags on the wire, the PVLAN matrix through the uplink', async (t) => {
  sh('ip', ['link', 'add', UPLINK, 'type', 'veth', 'peer', 'name', TRUNK]);
  for (const dev of [UPLINK, TRUNK]) {
    sh('sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`], { allowFail: true });
    sh('ip', ['link', 'set', dev, 'up']);
  }
  const hosts = new Map<string, Host>();
  const ips = new Map<string, string[]>();
  const add = (name: string, i: number, ...addrs: string[]): Host => {
    const h = lab.addHost(i);
    ns(h, 'addr', 'flush', 'dev', h.dev);
    for (const a of addrs) ns(h, 'addr', 'add', `${a}/24`, 'dev', h.dev);
    hosts.set(name, h);
    ips.set(name, addrs);
    return h;
  };
  const a = add('a', 1, '10.10.0.11');
  add('b', 2, '10.10.0.12');
  const c = add('c', 3, '10.20.0.13', '10.10.0.13');
  const dd = add('d', 4);
  const pvlan: [string, number, string, unknown][] = [
    ['prom', 5, '10.100.0.15', { mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '101-102' }],
    ['com1', 6, '10.100.0.16', { mode: 'community', primaryVlanId: 100, secondaryVlanId: 101 }],
    ['com2', 7, '10.100.0.17', { mode: 'community', primaryVlanId: 100, secondaryVlanId: 101 }],
    ['iso1', 8, '10.100.0.18', { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 102 }],
    ['iso2', 9, '10.100.0.19', { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 102 }],
    ['oprom', 12, '10.100.0.201', { mode: 'promiscuous', primaryVlanId: 100, secondaryVlanIds: '101-102' }],
    ['ocom', 13, '10.100.0.202', { mode: 'community', primaryVlanId: 100, secondaryVlanId: 101 }],
    ['oiso', 14, '10.100.0.203', { mode: 'isolated', primaryVlanId: 100, secondaryVlanId: 102 }],
  ];
  for (const [name, i, ip] of pvlan) add(name, i, ip);
  add('o10', 10, '10.10.0.1');
  add('o20', 11, '10.20.0.1');
  const port = (name: string, vlan: unknown): PortDoc => ({ name, netdev: hosts.get(name)!.peer, vlan });
  const onA = (n: string): boolean => !n.startsWith('o');
  const doc = {
    version: 1,
    switches: [
      {
        name: SW_A, type: 'external', uplink: UPLINK, ports: [
          port('a', { mode: 'access', accessVlanId: 10 }), port('b', { mode: 'access', accessVlanId: 10 }),
          port('c', { mode: 'access', accessVlanId: 20 }), port('d', { mode: 'trunk', allowedVlanIds: '10,20', nativeVlanId: 0 }),
          ...pvlan.filter(([n]) => onA(n)).map(([n, , , v]) => port(n, v)),
        ],
      },
      {
        name: SW_B, type: 'private', ports: [
          // the trunk carries every VM of switch A: many source MACs, so MAC address spoofing on (default off)
          { name: 'trunk', netdev: TRUNK, macAddressSpoofing: true, vlan: { mode: 'trunk', allowedVlanIds: '10,20,100-102', nativeVlanId: 0 } },
          port('o10', { mode: 'access', accessVlanId: 10 }), port('o20', { mode: 'access', accessVlanId: 20 }),
          ...pvlan.filter(([n]) => !onA(n)).map(([n, , , v]) => port(n, v)),
        ],
      },
    ],
  };
  const file = path.join(d.dir, 'vlan.json');
  writeFileSync(file, JSON.stringify(doc, null, 2));
  const applied = d.xvs('config', 'apply', file);
  t.is(applied.code, 0, applied.err + d.log);

  // VLANs 10 and 20: within yes (in the switch and through the uplink and the trunk), across no
  t.true(ping(a, '10.10.0.12'), 'a → b (access 10, one switch)');
  t.true(ping(a, '10.10.0.1'), 'a → o10 (VLAN 10 through the uplink and B\'s trunk)');
  t.true(ping(c, '10.20.0.1'), 'c → o20 (VLAN 20 through the uplink)');
  t.false(ping(a, '10.10.0.13'), 'a (VLAN 10) ↛ c (VLAN 20, same subnet)');
  t.false(ping(hosts.get('o10')!, '10.10.0.13'), 'o10 (VLAN 10 on B) ↛ c (VLAN 20 on A)');

  // tags on the wire between the switches, none at the access VM, both at the trunk VM
  let onAccess: string[] = [];
  let onTrunkVm: string[] = [];
  // both ends: xvs sends with PACKET_QDISC_BYPASS, which taps on the sending side do not see
  const wire = await capture(null, [UPLINK, TRUNK], () => { ping(a, '10.10.0.1'); ping(c, '10.20.0.1'); });
  t.log(`on the wire (${UPLINK} and ${TRUNK} as received), vlan/src/dst:\n${wire.join('\n')}`);
  t.deepEqual(tagsOf(wire, '10.10.0.11', '10.10.0.1'), ['10'], 'a → o10 tagged 10 between the switches');
  t.deepEqual(tagsOf(wire, '10.10.0.1', '10.10.0.11'), ['10'], 'o10 → a tagged 10 (B\'s trunk port pushes it)');
  t.deepEqual(tagsOf(wire, '10.20.0.1', '10.20.0.13'), ['20'], 'o20 → c tagged 20');
  t.deepEqual(tagsOf(wire, '10.20.0.13', '10.20.0.1'), ['20'], 'c → o20 tagged 20');
  onTrunkVm = await capture(dd, dd.dev, () => {
    sh('ip', ['-n', a.ns, 'neigh', 'flush', 'dev', a.dev]);
    sh('ip', ['-n', c.ns, 'neigh', 'flush', 'dev', c.dev]);
    ping(a, '10.10.0.12');
    ping(c, '10.20.0.1');
  });
  t.log(`at the trunk VM d:\n${onTrunkVm.join('\n')}`);
  t.deepEqual(tagsOf(onTrunkVm, '10.10.0.11'), ['10'], 'd receives a\'s broadcasts (ARP) tagged 10');
  t.deepEqual(tagsOf(onTrunkVm, '10.20.0.13'), ['20'], 'd receives c\'s broadcasts tagged 20');
  onAccess = await capture(a, a.dev, () => { ping(a, '10.10.0.1'); });
  t.log(`at the access VM a:\n${onAccess.join('\n')}`);
  t.deepEqual(tagsOf(onAccess, '10.10.0.1', '10.10.0.11'), [''], 'a receives VLAN 10 untagged');

  // the private VLAN matrix: every node pings every other, across the two switches as well
  const names = pvlan.map(([n]) => n);
  const role = (n: string): string => n.replace(/^o/, '').replace(/\d$/, '');
  const expected = (x: string, y: string): boolean => {
    const [rx, ry] = [role(x), role(y)];
    if (rx === 'prom' || ry === 'prom') return true; // promiscuous reaches, and is reached by, everyone
    return rx === 'com' && ry === 'com'; // one community; isolated reaches only promiscuous
  };
  const got: boolean[][] = [];
  const want: boolean[][] = [];
  const rows = [`${'from\\to'.padEnd(6)}${names.map((n) => n.padStart(6)).join('')}`];
  // every source at once, each through its targets in turn (reachability is the source's own replies)
  const answers = await Promise.all(names.map(async (x) => {
    const g: boolean[] = [];
    for (const y of names) g.push(x === y ? true : await pingAsync(hosts.get(x)!, ips.get(y)![0]));
    return g;
  }));
  for (const [xi, x] of names.entries()) {
    const g = answers[xi]!;
    got.push(g);
    want.push(names.map((y) => x === y || expected(x, y)));
    rows.push(`${x.padEnd(6)}${g.map((ok, k) => (names[k] === x ? '·' : ok ? 'yes' : '-').padStart(6)).join('')}`);
  }
  t.log(`private VLAN reachability (ping; o… are behind the uplink, on switch B):\n${rows.join('\n')}`);
  t.deepEqual(got, want, 'the PVLAN matrix');

  // the MAC table is keyed by VLAN (its filtering id): B learned o10's, a's and the PVLAN MACs per VLAN
  const fdbA = d.json<{ mac: string; vlan?: number; port: string }[]>('fdb', 'show', SW_A);
  t.is(fdbA.find((e) => e.mac === hosts.get('o10')!.mac)?.vlan, 10, 'o10 learned on VLAN 10 at the uplink');
  t.is(fdbA.find((e) => e.mac === hosts.get('iso1')!.mac)?.vlan, 100, 'an isolated port learns in its primary');
  const out = d.xvs('fdb', 'show', SW_A);
  t.regex(out.out, /^VLAN\s+MAC\s+PORT\s+AGE/, 'fdb show has a VLAN column');
  const stats = d.json<{ ports: { name: string; drops: Record<string, number>; policy?: Record<string, number> }[] }>('stats', SW_A);
  const excluded = Object.fromEntries(stats.ports.map((p) => [p.name, p.policy?.vlanExcluded ?? 0]));
  t.log(`A vlanExcluded per port: ${JSON.stringify(excluded)}`);
  t.true(excluded.c > 0, 'c (VLAN 20) was left out of VLAN 10 floods, counted');
  t.true(excluded.iso1 > 0 && excluded.iso2 > 0, 'isolated ports were left out of each other\'s floods, counted');
});
