/**
 * libvirt domains on xvs ports, for the tests and the operator's docs (docs/OPERATIONS.md "libvirt").
 *
 * `startPrivateLibvirtd` runs Debian's own `libvirtd` (package libvirt-daemon-system, QEMU driver) as a
 * private instance: in a mount namespace of its own (`unshare --mount`) over a copy of /etc/libvirt and empty
 * /run/libvirt, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt, with its own `virtlogd`. It shares
 * no socket, state or configuration with a system libvirtd (running or not), defines nothing persistent,
 * and its URI (`qemu:///system?socket=DIR/run/libvirt-sock`) is what virsh and the tests use. The network
 * namespace is the host's: the domains attach to TAPs there, as with a system libvirtd.
 *
 * `startLibvirtVm` boots the lab image (vm.ts: kernel + busybox initramfs, the same kernel command line and
 * `XVS-RESULT` lines) as a defined (`virsh define` + `start`) or transient (`virsh create`) domain whose NIC is the `<interface>` snippet
 * `xvs port add` prints, with its serial console in a file the handle reads.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseResults, vmCmdline, vmImagePaths, type VmResult, type VmRun } from './vm.js';

/** The directories a private libvirtd gets in place of the system's (its mount namespace binds them over): system path → instance sub-directory */
const PRIVATE_DIRS = [['/run/libvirt', 'run'], ['/var/lib/libvirt', 'lib'], ['/var/log/libvirt', 'log'], ['/var/cache/libvirt', 'cache']] as const;
/** temp dirs of private daemons are named `<tmpdir>/xvs-libvirt-<tag>-…`; stale ones of a tag are cleaned at start */
const DIR_PREFIX = 'xvs-libvirt-';

export interface PrivateLibvirtd {
  /** `qemu:///system?socket=…`: give it to `virsh -c` */
  readonly uri: string;
  /** the instance's directory (`etc`, `run`, `lib`, `log`, `cache`) */
  readonly dir: string;
  readonly pid: number;
  /** runs virsh against this daemon; throws with virsh's message on failure */
  virsh(...args: string[]): string;
  /** destroys every domain of this daemon, stops it and its virtlogd (by PID) and removes its directory */
  stop(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const n = parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isInteger(n) && n > 1 ? n : undefined;
}

/** the PID in `file` if that process still runs a program whose name matches `comm` (a recycled PID is not ours) */
function ourPid(file: string, comm: RegExp): number | undefined {
  const pid = readPid(file);
  if (pid === undefined || !alive(pid)) return undefined;
  try {
    return comm.test(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function killAndWait(pid: number, ms = 5000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let t = 0; t < ms && alive(pid); t += 50) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** the QEMU, virtlogd and libvirtd processes of an instance directory, killed by their pid files (QEMU first) */
async function killInstance(dir: string): Promise<void> {
  const qemuRun = path.join(dir, 'run', 'qemu');
  if (existsSync(qemuRun)) {
    for (const f of readdirSync(qemuRun)) {
      if (!f.endsWith('.pid')) continue;
      const pid = ourPid(path.join(qemuRun, f), /^qemu-system/);
      if (pid !== undefined) await killAndWait(pid, 2000);
    }
  }
  const lv = ourPid(path.join(dir, 'libvirtd.pid'), /^libvirtd$/);
  if (lv !== undefined) await killAndWait(lv);
  const vl = ourPid(path.join(dir, 'run', 'virtlogd.pid'), /^virtlogd$/);
  if (vl !== undefined) await killAndWait(vl);
}

/** stops what an earlier run with the same tag left (a crashed test), by the pid files in its directory */
async function cleanStale(tag: string): Promise<void> {
  for (const f of readdirSync(tmpdir())) {
    if (!f.startsWith(`${DIR_PREFIX}${tag}-`)) continue;
    const dir = path.join(tmpdir(), f);
    await killInstance(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** whether Debian's libvirt daemon and client are installed (scripts/setup.sh installs them) */
export function libvirtInstalled(): { ok: true } | { ok: false; why: string } {
  for (const [bin, pkg] of [['libvirtd', 'libvirt-daemon-system'], ['virtlogd', 'libvirt-daemon-system'], ['virsh', 'libvirt-clients']] as const) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status !== 0) return { ok: false, why: `${bin} not found (Debian package ${pkg}; scripts/setup.sh installs it)` };
  }
  if (!existsSync('/etc/libvirt/qemu.conf')) return { ok: false, why: '/etc/libvirt/qemu.conf missing (Debian package libvirt-daemon-system)' };
  return { ok: true };
}

/**
 * Starts a private libvirtd (see the file comment). `tag` names the instance's temp directory
 * (`xvs-libvirt-<tag>-XXXX`): instances an earlier run of the same tag left are stopped first.
 */
export async function startPrivateLibvirtd(tag: string): Promise<PrivateLibvirtd> {
  if (!/^[a-z0-9]{1,16}$/.test(tag)) throw new Error(`startPrivateLibvirtd: bad tag ${JSON.stringify(tag)}`);
  const inst = libvirtInstalled();
  if (!inst.ok) throw new Error(`libvirt: ${inst.why}`);
  await cleanStale(tag);
  const dir = path.join(tmpdir(), `${DIR_PREFIX}${tag}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  cpSync('/etc/libvirt', path.join(dir, 'etc'), { recursive: true });
  // only local clients on the instance's own unix socket; the sockets go in its private /run/libvirt
  writeFileSync(path.join(dir, 'etc', 'libvirtd.conf'), 'listen_tls = 0\nlisten_tcp = 0\nunix_sock_group = "root"\n');
  // a domain definition or network a system libvirtd keeps must not autostart here (the instance defines its own)
  for (const sub of ['qemu', 'storage', 'nwfilter']) rmSync(path.join(dir, 'etc', sub), { recursive: true, force: true });
  mkdirSync(path.join(dir, 'etc', 'qemu'), { recursive: true });
  const lines = ['set -e'];
  for (const [target, sub] of PRIVATE_DIRS) {
    const src = path.join(dir, sub);
    mkdirSync(src, { recursive: true });
    lines.push(`mkdir -p ${target}`, `mount --bind ${src} ${target}`);
  }
  lines.push(`mount --bind ${path.join(dir, 'etc')} /etc/libvirt`);
  // QEMU's stdout/stderr go through virtlogd (qemu.conf's default stdio_handler): a private one, in this namespace
  lines.push('virtlogd --daemon --pid-file /run/libvirt/virtlogd.pid');
  lines.push(`exec libvirtd --pid-file ${path.join(dir, 'libvirtd.pid')}`);
  const child: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', lines.join('\n')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  if (child.pid === undefined) throw new Error('libvirt: cannot start unshare (util-linux)');
  const pid = child.pid; // `exec libvirtd`: the same process
  const uri = `qemu:///system?socket=${path.join(dir, 'run', 'libvirt-sock')}`;
  const virsh = (...args: string[]): string => {
    const r = spawnSync('virsh', ['-c', uri, ...args], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`virsh ${args.join(' ')}: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
    return r.stdout;
  };
  const stop = async (): Promise<void> => {
    if (alive(pid)) {
      const names = spawnSync('virsh', ['-c', uri, 'list', '--name'], { encoding: 'utf8', timeout: 20_000 }).stdout ?? '';
      for (const n of names.split('\n').map((s) => s.trim()).filter((s) => s !== '')) {
        spawnSync('virsh', ['-c', uri, 'destroy', n], { stdio: 'ignore', timeout: 20_000 });
      }
    }
    await killInstance(dir);
    if (alive(pid)) await killAndWait(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (existsSync(path.join(dir, 'run', 'libvirt-sock')) && spawnSync('virsh', ['-c', uri, 'version'], { stdio: 'ignore', timeout: 10_000 }).status === 0) {
      return { uri, dir, pid, virsh, stop };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`libvirt: the private libvirtd did not answer on ${uri}: ${log.split('\n').filter((l) => / error : /.test(l)).slice(-5).join('\n') || log.slice(-2000)}`);
}

const xmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

export interface LibvirtDomainSpec {
  readonly name: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
  readonly memoryMb: number;
  readonly cpus: number;
  /** the `<interface>` element, e.g. what `xvs port add` printed */
  readonly interfaceXml: string;
  /** file the guest's serial console is written to */
  readonly serialLog: string;
}

/**
 * A domain for the lab image: direct kernel boot under TCG (`type='qemu'`; no KVM here), ACPI so the
 * guest's `poweroff -f` ends it, no other devices than the NIC and the serial console.
 */
export function libvirtDomainXml(d: LibvirtDomainSpec): string {
  const indent = (s: string, n: number): string => s.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
  return `<domain type='qemu'>
  <name>${xmlEscape(d.name)}</name>
  <memory unit='MiB'>${d.memoryMb}</memory>
  <vcpu>${d.cpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${xmlEscape(d.kernel)}</kernel>
    <initrd>${xmlEscape(d.initrd)}</initrd>
    <cmdline>${xmlEscape(d.cmdline)}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${indent(d.interfaceXml, 4)}
    <serial type='file'>
      <source path='${xmlEscape(d.serialLog)}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

export interface LibvirtVmOptions {
  /** domain name */
  readonly name: string;
  /** the `<interface>` element the domain's NIC is (what `xvs port add` printed for the port) */
  readonly interfaceXml: string;
  /** what the guest configures (vm.ts: the kernel command line the lab VM reads) */
  readonly mac: string;
  readonly ip: string;
  readonly peer: string;
  readonly run: VmRun;
  readonly extra?: Readonly<Record<string, string>>;
  readonly memoryMb?: number;
  /** `virsh define` + `virsh start` (kept in the instance's private /etc/libvirt/qemu) instead of a transient `virsh create` */
  readonly define?: boolean;
}

export interface LibvirtVm {
  readonly name: string;
  /** the domain XML it was started from */
  readonly xml: string;
  /** serial console output so far */
  output(): string;
  /** resolves with the first `XVS-RESULT <name>` line; rejects after `ms` with the serial tail */
  waitResult(name: string, ms: number): Promise<VmResult>;
  /** resolves with the first match of `re` in the serial output; rejects after `ms` */
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** whether libvirt still lists the domain */
  running(): boolean;
  /** `virsh destroy` (no error when it has already gone); a defined domain stays defined */
  destroy(): void;
}

/** Boots the lab image as a transient domain of `lv` (see the file comment). */
export function startLibvirtVm(lv: PrivateLibvirtd, o: LibvirtVmOptions): LibvirtVm {
  const image = vmImagePaths();
  const dir = path.join(lv.dir, 'domains', o.name);
  mkdirSync(dir, { recursive: true });
  // QEMU runs as libvirt-qemu: it reads its own copies of the kernel and initrd (libvirt's DAC driver
  // relabels them while the domain runs), through directories it may traverse
  for (const d of [lv.dir, path.join(lv.dir, 'domains'), dir]) chmodSync(d, 0o755);
  const kernel = path.join(dir, 'vmlinuz');
  const initrd = path.join(dir, 'initrd.gz');
  copyFileSync(image.kernel, kernel);
  copyFileSync(image.initrd, initrd);
  const serialLog = path.join(dir, 'serial.log');
  const xml = libvirtDomainXml({
    name: o.name, kernel, initrd, serialLog, memoryMb: o.memoryMb ?? 128, cpus: 1, interfaceXml: o.interfaceXml,
    cmdline: vmCmdline({ ip: o.ip, mac: o.mac, peer: o.peer, run: o.run, ...(o.extra !== undefined ? { extra: o.extra } : {}) }),
  });
  const xmlFile = path.join(dir, 'domain.xml');
  writeFileSync(xmlFile, xml);
  if (o.define === true) {
    lv.virsh('define', xmlFile);
    lv.virsh('start', o.name);
  } else {
    lv.virsh('create', xmlFile);
  }
  const output = (): string => (existsSync(serialLog) ? readFileSync(serialLog, 'utf8').replace(/\r/g, '') : '');
  const tail = (): string => `\n--- ${o.name} serial (tail) ---\n${output().split('\n').slice(-15).join('\n')}`;
  const poll = async <T>(what: string, ms: number, test: () => T | undefined): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = test();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`${o.name}: no ${what} within ${ms} ms${tail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const running = (): boolean => {
    const r = spawnSync('virsh', ['-c', lv.uri, 'domstate', o.name], { encoding: 'utf8', timeout: 20_000 });
    return r.status === 0 && r.stdout.trim() === 'running';
  };
  return {
    name: o.name,
    xml,
    output,
    running,
    waitResult: (name, ms) => poll(`XVS-RESULT ${name}`, ms, () => parseResults(output()).find((r) => r.name === name)),
    waitFor: (re, ms) => poll(String(re), ms, () => output().match(re) ?? undefined),
    destroy: () => {
      spawnSync('virsh', ['-c', lv.uri, 'destroy', o.name], { stdio: 'ignore', timeout: 20_000 });
    },
  };
}
