/**
 * Two (or more) HNV "hosts" on one machine, for system tests and the lab (docs/HNV.md, "Testing on one
 * machine"). Every host is a network namespace running its OWN `xvs daemon` (own socket and config
 * directory) with an external switch whose uplink is a veth into the underlay: a namespace holding a
 * Linux bridge that stands for the physical provider network (PA network 192.0.2.0/24, MTU 1500).
 * VMs are namespaces with one interface (eth0, CA address, MAC set explicitly), attached by a veth
 * to a VM port of their host's switch. On the underlay there may also be a third-party VTEP (a
 * namespace running the kernel `vxlan` device, no xvs) and an attacker namespace that sends crafted
 * frames.
 *
 *      VM ns (eth0) ── veth ── host ns [xvs daemon, switch, uplink] ── veth ──┐
 *      VM ns (eth0) ── veth ── host ns [xvs daemon, switch, uplink] ── veth ──┤ underlay ns: bridge
 *                                        VTEP ns [ul0 + kernel vx0] ── veth ──┤
 *                                             attacker ns [ul0]  ── veth ──┘
 *
 * Names: every namespace and device starts with the caller's prefix (testPrefix('hn')); devices are
 * created directly inside their namespaces, so nothing is left in the root namespace. Stale
 * namespaces of the prefix are removed and stale daemons of the prefix killed (by the PIDs recorded in
 * a file, checked against their command line) when a topology is created; `destroy()` stops the daemons
 * by PID and removes every namespace in every outcome (call it from test.after.always).
 *
 * The uplink carries no kernel address: the PA lives only in HNV (`xvs hnv pa add`), which answers ARP
 * for it on the underlay. MAC address spoofing stays off on VM ports: each VM's MAC is its port's
 * static MAC (`--static-mac`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cleanPrefix, sh } from '../lab/netlab.js';
import { buildPacket } from '../packet/spec.js';
import { callDaemon } from '../control/client.js';
import type { MethodName, ParamsOf, ResultOf } from '../control/protocol.js';
import type { SwitchStats } from '../switch/manager-api.js';
import { CLI } from './daemon.js';

export const UNDERLAY_PREFIX = '192.0.2';
export const UNDERLAY_PREFIX_LENGTH = 24;
const SEND_FRAMES = path.join(path.dirname(CLI), '..', 'test-support', 'send-frames.js');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`, or undefined after `ms`; the timer is cleared either way (a pending timer would keep the test worker alive) */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), ms); });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** poll `fn` until it returns true (or a value other than false/undefined) or `ms` pass */
export async function waitFor<T>(fn: () => T | false | undefined, ms = 10_000, step = 200): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== false && v !== undefined) return v;
    if (Date.now() > end) return undefined;
    await sleep(step);
  }
}

export interface CliResult { code: number; out: string; err: string }

/** things living in one namespace: run commands there, start background processes */
export abstract class InNamespace {
  constructor(readonly topo: HnvTopology, readonly ns: string) {}

  exec(cmd: string[], opts: { allowFail?: boolean; timeout?: number } = {}): string {
    return sh('ip', ['netns', 'exec', this.ns, ...cmd], opts);
  }

  /** run without throwing: exit code and both outputs */
  run(cmd: string[], timeout = 60_000): CliResult {
    const r = spawnSync('ip', ['netns', 'exec', this.ns, ...cmd], { encoding: 'utf8', timeout });
    return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
  }

  /** a background process in this namespace, killed by PID in destroy() */
  spawn(cmd: string[]): ChildProcess {
    return this.topo.track(spawn('ip', ['netns', 'exec', this.ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** ping `ip`: exit status 0 and the output (`df`: -M do; `size`: payload bytes) */
  ping(ip: string, opts: { count?: number; size?: number; df?: boolean; interval?: number; wait?: number } = {}): { ok: boolean; out: string } {
    const args = ['ping', '-n', '-c', String(opts.count ?? 3), '-i', String(opts.interval ?? 0.2), '-W', String(opts.wait ?? 1)];
    if (opts.size !== undefined) args.push('-s', String(opts.size));
    if (opts.df) args.push('-M', 'do');
    const r = this.run([...args, ip], 30_000);
    return { ok: r.code === 0, out: r.out + r.err };
  }

  /** send crafted frames (packet/spec.ts notation or `hex:…`) out of `dev`, each `count` times */
  sendFrames(dev: string, frames: (string | Uint8Array)[], count = 1): string {
    const specs = frames.map((f) => (typeof f === 'string' ? f : `hex:${Buffer.from(f).toString('hex')}`));
    return this.exec(['node', SEND_FRAMES, dev, String(count), ...specs]);
  }

  /** start tshark on `dev` in this namespace (see Capture) */
  capture(dev: string, bpf?: string, snaplen?: number): Promise<Capture> {
    return Capture.start(this.topo, this.ns, dev, bpf, snaplen);
  }

  counter(dev: string, name: string): number {
    return Number(this.exec(['cat', `/sys/class/net/${dev}/statistics/${name}`]).trim());
  }
}

/**
 * A packet capture by tshark inside a namespace, written to a pcapng file; `stop()` ends it and
 * `fields()` decodes it (as often as wanted, with different display filters).
 */
export class Capture {
  private done: Promise<void>;

  private constructor(private readonly proc: ChildProcess, readonly file: string, private readonly stderr: () => string) {
    this.done = new Promise((r) => { if (proc.exitCode !== null) r(); else proc.once('exit', () => r()); });
  }

  /** `bpf`: a capture filter; `snaplen`: bytes kept per frame (frame.len stays the wire length) */
  static async start(topo: HnvTopology, ns: string, dev: string, bpf?: string, snaplen?: number): Promise<Capture> {
    const file = path.join(topo.dir, `cap-${ns}-${dev}-${topo.nextId()}.pcapng`);
    const args = ['netns', 'exec', ns, 'tshark', '-n', '-q', '-i', dev, '-w', file, ...(bpf ? ['-f', bpf] : []), ...(snaplen ? ['-s', String(snaplen)] : [])];
    const p = topo.track(spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    let err = '';
    p.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    const c = new Capture(p, file, () => err);
    for (let i = 0; i < 100 && !err.includes('Capturing on') && p.exitCode === null; i++) await sleep(100);
    if (!err.includes('Capturing on')) {
      await c.stop();
      throw new Error(`tshark on ${ns}/${dev} did not start: ${err}`);
    }
    // "Capturing on" can come a moment before the ring is live under load
    await sleep(200);
    return c;
  }

  /** stop capturing (after a short wait so frames in flight are written) */
  async stop(): Promise<this> {
    if (this.proc.exitCode === null && this.proc.pid) {
      await sleep(300);
      try { process.kill(this.proc.pid, 'SIGINT'); } catch { /* gone */ }
      await within(this.done, 5000);
      if (this.proc.exitCode === null) { try { process.kill(this.proc.pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    return this;
  }

  /** the captured frames matching display filter `display` (all when empty), one array of `fields` each */
  fields(display: string, fields: string[]): string[][] {
    if (!existsSync(this.file)) throw new Error(`no capture file ${this.file}: ${this.stderr()}`);
    const args = ['-n', '-r', this.file, '-T', 'fields', '-E', 'separator=\t', ...(display ? ['-Y', display] : []), ...fields.flatMap((f) => ['-e', f])];
    const out = sh('tshark', args);
    return out.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t'));
  }

  /** how many captured frames match `display` */
  count(display: string): number {
    return this.fields(display, ['frame.number']).length;
  }
}

export interface HnvVmOptions {
  /** port name on the switch (≤ 15 chars) and the VM's name */
  name: string;
  /** Customer Address */
  ca: string;
  prefixLength?: number;
  mac: string;
  vsid: number;
  /** default route via this address (the distributed router) */
  gateway?: string;
  /** eth0's MTU (default: the kernel's 1500, whatever the port's MTU is) */
  mtu?: number;
  /** GSO/TSO/checksum offloads on both ends of the VM's veth (default on: the kernel's default) */
  offloads?: boolean;
  /** skip `xvs port set … --virtual-subnet-id` (the port is then a plain VM port) */
  noVsid?: boolean;
}

/** a VM: a namespace with eth0, attached by a veth to a port of its host's switch */
export class HnvVm extends InNamespace {
  readonly dev = 'eth0';
  constructor(topo: HnvTopology, ns: string, readonly host: HnvHost, readonly opts: Required<Pick<HnvVmOptions, 'name' | 'ca' | 'mac' | 'vsid' | 'prefixLength'>>, readonly netdev: string) {
    super(topo, ns);
  }

  get name(): string { return this.opts.name; }
  get ca(): string { return this.opts.ca; }
  get mac(): string { return this.opts.mac; }
  get vsid(): number { return this.opts.vsid; }

  /** the lookup record that says where this VM lives (for `xvs hnv record add`) */
  recordArgs(encap: 'nvgre' | 'vxlan'): string[] {
    return ['hnv', 'record', 'add', '--ca', this.ca, '--vsid', String(this.vsid), '--mac', this.mac, '--pa', this.host.pa, '--encap', encap];
  }

  /** the VM's MTU as the kernel has it */
  mtu(): number {
    return Number(this.exec(['cat', `/sys/class/net/${this.dev}/mtu`]).trim());
  }

  /** forget learned neighbours and path MTUs (so the next packet ARPs and learns afresh) */
  flushCaches(): void {
    this.exec(['ip', 'neigh', 'flush', 'dev', this.dev]);
    this.exec(['ip', 'route', 'flush', 'cache']);
  }

  setOffloads(on: boolean): void {
    setOffloads(this.ns, this.dev, on);
    setOffloads(this.host.ns, this.netdev, on);
  }
}

function setOffloads(ns: string, dev: string, on: boolean): void {
  const v = on ? 'on' : 'off';
  sh('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', v, 'sg', v, 'tso', v, 'gso', v, 'gro', v], { allowFail: true });
}

/** one HNV host: a namespace, its own daemon, an external switch with its uplink on the underlay */
export class HnvHost extends InNamespace {
  readonly sw: string;
  /** the uplink in the host namespace, and its other end on the underlay bridge */
  readonly uplink: string;
  readonly underlayEnd: string;
  readonly pa: string;
  readonly dir: string;
  readonly sock: string;
  readonly conf: string;
  readonly vms: HnvVm[] = [];
  log = '';
  private proc: ChildProcess | undefined;

  constructor(topo: HnvTopology, readonly index: number, pa: string) {
    super(topo, `${topo.prefix}h${index}`);
    this.sw = `${topo.prefix}s${index}`;
    this.uplink = `${topo.prefix}h${index}u`;
    this.underlayEnd = `${topo.prefix}h${index}p`;
    this.pa = pa;
    this.dir = mkdtempSync(path.join(tmpdir(), `${topo.prefix}-h${index}-`));
    this.sock = path.join(this.dir, 'xvs.sock');
    this.conf = path.join(this.dir, 'state', 'config.json');
  }

  get pid(): number | undefined { return this.proc?.pid; }
  get running(): boolean { return this.proc !== undefined && this.proc.exitCode === null; }

  /** start this host's daemon inside its namespace (extra daemon flags: e.g. ['--etcd', url]) */
  async start(extra: string[] = []): Promise<void> {
    this.log = '';
    const p = spawn('ip', ['netns', 'exec', this.ns, 'node', CLI, 'daemon', '--config', this.conf, '--socket', this.sock, ...extra],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    if (p.pid) this.topo.recordPid(p.pid);
    p.stderr!.on('data', (d: Buffer) => { this.log += d.toString(); });
    for (let i = 0; i < 150; i++) {
      if (this.log.includes('daemon ready')) return;
      if (p.exitCode !== null) break;
      await sleep(100);
    }
    throw new Error(`host ${this.index}: daemon did not start: ${this.log}`);
  }

  /** stop the daemon by PID (SIGTERM, SIGKILL after 10 s) */
  async stop(): Promise<void> {
    const d = this.proc;
    if (!d || d.exitCode !== null || !d.pid) return;
    const exited = new Promise((r) => d.once('exit', r));
    try { process.kill(d.pid, 'SIGTERM'); } catch { /* gone */ }
    await within(exited, 10_000);
    if (d.exitCode === null) { try { process.kill(d.pid, 'SIGKILL'); } catch { /* gone */ } }
    this.proc = undefined;
  }

  /** run the CLI against this host's daemon */
  xvs(...args: string[]): CliResult {
    const r = spawnSync('node', [CLI, '--socket', this.sock, ...args], { encoding: 'utf8', timeout: 90_000 });
    return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
  }

  /** run the CLI; throws with its message (and the daemon's log tail) on failure */
  cli(...args: string[]): string {
    const r = this.xvs(...args);
    if (r.code !== 0) throw new Error(`host ${this.index}: xvs ${args.join(' ')}: exit ${r.code}: ${r.err}${r.out}\ndaemon log tail:\n${this.log.slice(-2000)}`);
    return r.out;
  }

  json<T>(...args: string[]): T {
    return JSON.parse(this.cli(...args, '--json')) as T;
  }

  /** the CLI without blocking (hosts configured in parallel); throws like cli() */
  async cliAsync(...args: string[]): Promise<string> {
    const p = spawn('node', [CLI, '--socket', this.sock, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    p.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    const code = await within(new Promise<number | null>((r) => p.once('close', (c) => r(c))), 90_000);
    if (code !== 0) {
      if (p.exitCode === null && p.pid) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
      throw new Error(`host ${this.index}: xvs ${args.join(' ')}: exit ${code}: ${err}${out}\ndaemon log tail:\n${this.log.slice(-2000)}`);
    }
    return out;
  }

  /** a control-API call straight to the daemon's socket (for counters read often: no CLI start-up per read) */
  api<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return callDaemon(this.sock, method, params, 30_000);
  }

  /** `xvs config apply` of a whole document (written to this host's directory) */
  apply(doc: unknown): string {
    const file = path.join(this.dir, `apply-${this.topo.nextId()}.json`);
    writeFileSync(file, JSON.stringify(doc, null, 2));
    return this.cli('config', 'apply', file);
  }

  /** the switch with its uplink (done by HnvTopology.addHost) */
  async createSwitch(): Promise<void> {
    await this.cliAsync('switch', 'create', this.sw, '--type', 'external', '--uplink', this.uplink);
  }

  /** this host's PA on its switch: `xvs hnv pa add SW --address PA/24` */
  addPa(extra: string[] = []): Promise<string> {
    return this.cliAsync('hnv', 'pa', 'add', this.sw, '--address', `${this.pa}/${UNDERLAY_PREFIX_LENGTH}`, ...extra);
  }

  /** a VM namespace attached to a new VM port (static MAC, VSID) */
  async addVm(o: HnvVmOptions): Promise<HnvVm> {
    const k = this.vms.length;
    const ns = `${this.topo.prefix}h${this.index}${o.name}`;
    const netdev = `${this.topo.prefix}h${this.index}v${k}`;
    const prefixLength = o.prefixLength ?? 24;
    sh('ip', ['netns', 'add', ns]);
    this.topo.namespaces.push(ns);
    quietNamespace(ns);
    sh('ip', ['link', 'add', netdev, 'netns', this.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', o.mac]);
    if (o.mtu !== undefined) sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', String(o.mtu)]);
    sh('ip', ['-n', ns, 'addr', 'add', `${o.ca}/${prefixLength}`, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', this.ns, 'link', 'set', netdev, 'up']);
    if (o.gateway) sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', o.gateway, 'dev', 'eth0']);
    if (o.offloads === false) { setOffloads(ns, 'eth0', false); setOffloads(this.ns, netdev, false); }
    const vm = new HnvVm(this.topo, ns, this, { name: o.name, ca: o.ca, mac: o.mac, vsid: o.vsid, prefixLength }, netdev);
    this.vms.push(vm);
    await this.cliAsync('port', 'add', this.sw, o.name, '--netdev', netdev);
    await this.cliAsync('port', 'set', this.sw, o.name, '--static-mac', o.mac, ...(o.noVsid ? [] : ['--virtual-subnet-id', String(o.vsid)]));
    return vm;
  }

  /** `xvs stats SW --json` */
  stats(): Promise<SwitchStats> {
    return this.api('stats', { switch: this.sw });
  }

  /** a port's drops by reason (the uplink's: `host.uplink`) */
  async drops(port: string): Promise<Record<string, number>> {
    const p = (await this.stats()).ports.find((x) => x.name === port || x.netdev === port);
    if (!p) throw new Error(`host ${this.index}: no port ${port} in xvs stats`);
    return p.drops ?? {};
  }

  /** `xvs hnv show --json`: the fields the tests read */
  hnvShow(): HnvShowJson {
    return this.json<HnvShowJson>('hnv', 'show');
  }

  /** one VSID's data-path counters from `xvs hnv show --json` (all 0 when absent) */
  vsidCounters(vsid: number): Record<string, number> {
    return this.hnvShow().vsids.find((v) => v.vsid === vsid)?.counters ?? {};
  }

  /** VXLAN GSO frames the uplink sent whole through its tunnel TAP (port stats txTunnelGso) */
  async uplinkTunnelGso(): Promise<number> {
    return (await this.stats()).ports.find((x) => x.netdev === this.uplink)?.txTunnelGso ?? 0;
  }

  /** the uplink's MAC (the outer destination MAC of frames to this host's PA) */
  uplinkMac(): string {
    return this.exec(['cat', `/sys/class/net/${this.uplink}/address`]).trim();
  }

  /** the host-side MTU of a VM's port netdev (what the switch set it to) */
  portMtu(vm: HnvVm): number {
    return Number(this.exec(['cat', `/sys/class/net/${vm.netdev}/mtu`]).trim());
  }
}

/** what the tests read of `xvs hnv show --json` */
export interface HnvShowJson {
  vsids: { vsid: number; routingDomain: string | null; ports: string[]; mtu: number | null; counters: Record<string, number> | null }[];
}

/** a namespace on the underlay with one interface ul0 holding `ip` (attacker, third-party VTEP) */
export class UnderlayNode extends InNamespace {
  readonly dev = 'ul0';
  constructor(topo: HnvTopology, ns: string, readonly ip: string, readonly mac: string) {
    super(topo, ns);
  }
}

export interface VtepOptions {
  /** the VXLAN VNI (= the VSID on the xvs side) */
  vni: number;
  /** the address behind the kernel device (on vx0) and its MAC */
  ca: string;
  prefixLength?: number;
  mac: string;
  /** PAs that get broadcast/unknown frames (fdb 00:00:00:00:00:00 entries) */
  floodTo?: string[];
  /** static fdb entries: inner MAC → remote PA */
  fdb?: { mac: string; pa: string }[];
  /** static neighbours on vx0 (the kernel device's ARP is not proxied by xvs) */
  neighbors?: { ip: string; mac: string }[];
  /** a default route via this CA (the distributed router) */
  gateway?: string;
}

/** a third-party VTEP: the Linux kernel vxlan device (dstport 4789, nolearning), no xvs */
export class KernelVtep extends UnderlayNode {
  readonly vx = 'vx0';
  constructor(topo: HnvTopology, ns: string, ip: string, mac: string, readonly opts: VtepOptions) {
    super(topo, ns, ip, mac);
  }
}

/** the underlay and its hosts; one per test file (test.before … test.after.always) */
export class HnvTopology {
  readonly dir: string;
  readonly underlay: string;
  readonly bridge: string;
  readonly hosts: HnvHost[] = [];
  readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly pidFile: string;
  private ids = 0;

  constructor(readonly prefix: string) {
    this.pidFile = path.join(tmpdir(), `${prefix}-hnv-daemons.pids`);
    killStale(this.pidFile, prefix);
    cleanPrefix(prefix);
    this.dir = mkdtempSync(path.join(tmpdir(), `${prefix}-topo-`));
    this.underlay = `${prefix}ul`;
    this.bridge = `${prefix}br`;
    sh('ip', ['netns', 'add', this.underlay]);
    this.namespaces.push(this.underlay);
    quietNamespace(this.underlay);
    sh('ip', ['-n', this.underlay, 'link', 'add', this.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    sh('ip', ['-n', this.underlay, 'link', 'set', this.bridge, 'mtu', '1500', 'up']);
    sh('ip', ['-n', this.underlay, 'link', 'set', 'lo', 'up']);
  }

  nextId(): number { return ++this.ids; }

  track(p: ChildProcess): ChildProcess {
    this.procs.push(p);
    return p;
  }

  recordPid(pid: number): void {
    const old = existsSync(this.pidFile) ? readFileSync(this.pidFile, 'utf8') : '';
    writeFileSync(this.pidFile, `${old}${pid}\n`);
  }

  /** PA of host i: 192.0.2.(10+i) */
  static pa(i: number): string { return `${UNDERLAY_PREFIX}.${10 + i}`; }

  /** a veth from `ns` (named `inside`) to the underlay bridge (named `outside`) */
  private plugIntoUnderlay(ns: string, inside: string, outside: string): void {
    sh('ip', ['link', 'add', inside, 'netns', ns, 'type', 'veth', 'peer', 'name', outside, 'netns', this.underlay]);
    sh('ip', ['-n', this.underlay, 'link', 'set', outside, 'master', this.bridge]);
    sh('ip', ['-n', this.underlay, 'link', 'set', outside, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', inside, 'up']);
  }

  /** host i: namespace, uplink into the underlay, its daemon started and its external switch created (no PA yet: host.addPa()) */
  async addHost(i: number, opts: { daemonArgs?: string[] } = {}): Promise<HnvHost> {
    const h = new HnvHost(this, i, HnvTopology.pa(i));
    sh('ip', ['netns', 'add', h.ns]);
    this.namespaces.push(h.ns);
    this.hosts.push(h);
    quietNamespace(h.ns);
    sh('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
    this.plugIntoUnderlay(h.ns, h.uplink, h.underlayEnd);
    await h.start(opts.daemonArgs);
    await h.createSwitch();
    return h;
  }

  /** a namespace on the underlay with ul0 = `ip`/24 (e.g. the attacker: 192.0.2.66) */
  addUnderlayNode(name: string, ip: string, mac: string): UnderlayNode {
    const ns = `${this.prefix}${name}`;
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    quietNamespace(ns);
    this.plugIntoUnderlay(ns, 'ul0', `${this.prefix}${name}p`.slice(0, 15));
    sh('ip', ['-n', ns, 'link', 'set', 'ul0', 'address', mac]);
    sh('ip', ['-n', ns, 'addr', 'add', `${ip}/${UNDERLAY_PREFIX_LENGTH}`, 'dev', 'ul0']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return new UnderlayNode(this, ns, ip, mac);
  }

  /** the attacker: a namespace on the underlay at 192.0.2.66 */
  addAttacker(): UnderlayNode {
    return this.addUnderlayNode('x', `${UNDERLAY_PREFIX}.66`, '02:66:66:66:66:66');
  }

  /**
   * A third-party VTEP at PA 192.0.2.(100+k): `ip link add vx0 type vxlan id VNI dstport 4789 local PA
   * dev ul0 nolearning`, the CA on vx0, fdb entries for flooding and per MAC, static neighbours.
   */
  addVtep(k: number, o: VtepOptions): KernelVtep {
    const pa = `${UNDERLAY_PREFIX}.${100 + k}`;
    const node = this.addUnderlayNode(`t${k}`, pa, `02:7e:70:00:00:${(k & 0xff).toString(16).padStart(2, '0')}`);
    const v = new KernelVtep(this, node.ns, pa, node.mac, o);
    const ipn = (...a: string[]): string => sh('ip', ['-n', v.ns, ...a]);
    ipn('link', 'add', 'vx0', 'type', 'vxlan', 'id', String(o.vni), 'dstport', '4789', 'local', pa, 'dev', 'ul0', 'nolearning');
    ipn('link', 'set', 'vx0', 'address', o.mac);
    ipn('addr', 'add', `${o.ca}/${o.prefixLength ?? 24}`, 'dev', 'vx0');
    ipn('link', 'set', 'vx0', 'up');
    for (const dst of o.floodTo ?? []) sh('ip', ['netns', 'exec', v.ns, 'bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', dst]);
    for (const f of o.fdb ?? []) sh('ip', ['netns', 'exec', v.ns, 'bridge', 'fdb', 'add', f.mac, 'dev', 'vx0', 'dst', f.pa, 'self', 'permanent']);
    for (const n of o.neighbors ?? []) ipn('neigh', 'replace', n.ip, 'lladdr', n.mac, 'dev', 'vx0', 'nud', 'permanent');
    if (o.gateway) ipn('route', 'add', 'default', 'via', o.gateway, 'dev', 'vx0');
    return v;
  }

  /** the same CLI command on every host (HNV policy is per daemon unless etcd shares it) */
  async cliAll(...args: string[]): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.cliAsync(...args)));
  }

  /** several CLI commands on every host: in order on each host, the hosts in parallel */
  async cliAllInOrder(commands: string[][]): Promise<void> {
    await Promise.all(this.hosts.map(async (h) => { for (const c of commands) await h.cliAsync(...c); }));
  }

  /** the lookup records of `vms` (with their encapsulation) on every host */
  addRecords(vms: [HnvVm, 'nvgre' | 'vxlan'][]): Promise<void> {
    return this.cliAllInOrder(vms.map(([vm, encap]) => vm.recordArgs(encap)));
  }

  /** `xvs hnv route add` on every host, one per [domain, vsid, prefix] (on-link) */
  addRoutes(routes: [string, number, string][]): Promise<void> {
    return this.cliAllInOrder(routes.map(([d, v, p]) => ['hnv', 'route', 'add', '--routing-domain', d, '--vsid', String(v), '--prefix', p, '--next-hop', '0.0.0.0']));
  }

  /** `xvs hnv record add` for `vm` on every host */
  addRecord(vm: HnvVm, encap: 'nvgre' | 'vxlan'): Promise<void> {
    return this.cliAll(...vm.recordArgs(encap));
  }

  /** `xvs hnv route add --routing-domain D --vsid N --prefix P --next-hop H` on every host (on-link by default) */
  addRoute(domain: string, vsid: number, prefix: string, nextHop = '0.0.0.0'): Promise<void> {
    return this.cliAll('hnv', 'route', 'add', '--routing-domain', domain, '--vsid', String(vsid), '--prefix', prefix, '--next-hop', nextHop);
  }

  /** start tshark on the underlay bridge (sees every frame between the hosts) */
  captureUnderlay(bpf?: string, snaplen?: number): Promise<Capture> {
    return Capture.start(this, this.underlay, this.bridge, bpf, snaplen);
  }

  /** stop every daemon and process (by PID), remove every namespace; safe to call more than once */
  async destroy(): Promise<void> {
    for (const h of this.hosts) await h.stop().catch(() => {});
    for (const p of this.procs) if (p.exitCode === null && p.pid) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
    for (const ns of [...this.namespaces].reverse()) sh('ip', ['netns', 'del', ns], { allowFail: true });
    cleanPrefix(this.prefix);
    for (const h of this.hosts) rmSync(h.dir, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.pidFile, { force: true });
  }
}

/** no IPv6 (no DAD/MLD/RS noise in captures and counters) */
function quietNamespace(ns: string): void {
  sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

/** kill daemons a crashed earlier run of this prefix left behind: only PIDs it recorded whose command line names the prefix */
function killStale(pidFile: string, prefix: string): void {
  if (!existsSync(pidFile)) return;
  for (const line of readFileSync(pidFile, 'utf8').split('\n')) {
    const pid = Number(line);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes(`${prefix}-h`) && cmd.includes('daemon')) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  rmSync(pidFile, { force: true });
}

// --- crafted tunnel frames (an independent builder: the attacker's and the tests' oracle) ---

function ipv4Bytes(s: string): number[] { return s.split('.').map(Number); }
function macBytes(s: string): number[] { return s.split(':').map((x) => parseInt(x, 16)); }

/** an inner Ethernet frame from packet/spec.ts notation, e.g. `eth(src=…,dst=…),ipv4(src=…,dst=…),icmp(type=8)` */
export function innerFrame(spec: string): Uint8Array {
  return buildPacket(spec);
}

export interface OuterSpec {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
}

/** IPv4 header + payload (header checksum computed, TTL 64; DF set, or MF when `fragment`) */
function ipv4(o: OuterSpec, proto: number, payload: Uint8Array, fragment = false): Uint8Array {
  const h = new Uint8Array(20 + payload.length);
  const total = h.length;
  h[0] = 0x45; h[2] = total >> 8; h[3] = total & 0xff; h[5] = 1; h[6] = fragment ? 0x20 : 0x40; h[8] = 64; h[9] = proto;
  h.set(ipv4Bytes(o.srcIp), 12); h.set(ipv4Bytes(o.dstIp), 16);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (h[i] << 8) | h[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
  const c = ~s & 0xffff;
  h[10] = c >> 8; h[11] = c & 0xff;
  h.set(payload, 20);
  return h;
}

function ethernet(o: OuterSpec, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(macBytes(o.dstMac), 0); f.set(macBytes(o.srcMac), 6);
  f[12] = type >> 8; f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** NVGRE (RFC 7637): GRE flags/version (default 0x2000: K), protocol (default 0x6558), key VSID<<8|FlowID */
export function nvgreFrame(o: OuterSpec, vsid: number, inner: Uint8Array, opts: { flowId?: number; flags?: number; protocol?: number; noKey?: boolean; fragment?: boolean } = {}): Uint8Array {
  const flags = opts.flags ?? 0x2000;
  const hasKey = !opts.noKey;
  const gre = new Uint8Array((hasKey ? 8 : 4) + inner.length);
  gre[0] = flags >> 8; gre[1] = flags & 0xff;
  const proto = opts.protocol ?? 0x6558;
  gre[2] = proto >> 8; gre[3] = proto & 0xff;
  if (hasKey) {
    const key = ((vsid & 0xffffff) << 8 | ((opts.flowId ?? 0) & 0xff)) >>> 0;
    gre[4] = key >>> 24; gre[5] = (key >> 16) & 0xff; gre[6] = (key >> 8) & 0xff; gre[7] = key & 0xff;
  }
  gre.set(inner, hasKey ? 8 : 4);
  return ethernet(o, 0x0800, ipv4(o, 47, gre, opts.fragment));
}

/** VXLAN (RFC 7348): UDP to `dstPort` (4789), flags (default 0x08: I), VNI = vsid, UDP checksum 0 */
export function vxlanFrame(o: OuterSpec, vsid: number, inner: Uint8Array, opts: { flags?: number; srcPort?: number; dstPort?: number; fragment?: boolean; truncate?: number } = {}): Uint8Array {
  const full = new Uint8Array(8 + 8 + inner.length);
  // truncate: keep only this many bytes of UDP payload (a malformed, too-short VXLAN header)
  const udp = opts.truncate === undefined ? full : new Uint8Array(8 + opts.truncate);
  const sp = opts.srcPort ?? 49152;
  const dp = opts.dstPort ?? 4789;
  udp[0] = sp >> 8; udp[1] = sp & 0xff; udp[2] = dp >> 8; udp[3] = dp & 0xff;
  udp[4] = udp.length >> 8; udp[5] = udp.length & 0xff;
  full[8] = opts.flags ?? 0x08;
  full[12] = (vsid >> 16) & 0xff; full[13] = (vsid >> 8) & 0xff; full[14] = vsid & 0xff;
  full.set(inner, 16);
  if (udp !== full) udp.set(full.subarray(8, udp.length), 8);
  return ethernet(o, 0x0800, ipv4(o, 17, udp, opts.fragment));
}

/** wait for a child process to exit (at most `ms`); its exit code, or null when it did not */
export async function exited(p: ChildProcess, ms: number): Promise<number | null> {
  if (p.exitCode !== null) return p.exitCode;
  await within(new Promise((r) => p.once('exit', r)), ms);
  return p.exitCode;
}

/**
 * A byte-exact TCP transfer with socat: `bytes` random bytes from `client` to a listener in `server`
 * at `serverIp`; the bytes that arrived and whether they are the bytes sent (SHA-256).
 */
export async function tcpTransfer(server: InNamespace, client: InNamespace, serverIp: string, bytes: number, timeoutMs = 60_000): Promise<{ received: number; intact: boolean; error: string }> {
  const id = server.topo.nextId();
  const port = String(6000 + id);
  const data = randomBytes(bytes);
  const file = path.join(server.topo.dir, `data-${id}.bin`);
  writeFileSync(file, data);
  const want = createHash('sha256').update(data).digest('hex');
  const got = createHash('sha256');
  let received = 0;
  let err = '';
  const s = server.spawn(['socat', '-u', `TCP-LISTEN:${port},reuseaddr`, 'STDOUT']);
  s.stdout!.on('data', (b: Buffer) => { received += b.length; got.update(b); });
  s.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  await waitFor(() => server.run(['ss', '-Hltn', `sport = :${port}`]).out.trim() !== '' || s.exitCode !== null, 5000, 50);
  const c = client.spawn(['socat', '-u', `FILE:${file}`, `TCP:${serverIp}:${port},connect-timeout=5`]);
  c.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const clientCode = await exited(c, timeoutMs);
  const serverCode = await exited(s, 5000);
  for (const p of [c, s]) if (p.exitCode === null && p.pid) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  rmSync(file, { force: true });
  const intact = received === bytes && got.digest('hex') === want;
  return { received, intact, error: clientCode === 0 && serverCode === 0 ? err : `client exit ${clientCode}, server exit ${serverCode}: ${err}` };
}
