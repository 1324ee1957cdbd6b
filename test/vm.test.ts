/**
 * Test VMs against the Linux kernel bridge as the oracle switch:
 *
 *   [VM eth0] -- TAP xtq<s>t --+
 *                              bridge xtq<s>br
 *   [netns xtq<s>ns: xtq<s>n] -- veth -- xtq<s>h --+
 *
 * Root only. Run: npx tsc -p . && npx ava dist/test/vm.test.js
 */
import test from 'ava';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../src/repo-root.js';
import { startVm, vmImagePaths, type VmHandle } from '../src/lab/vm.js';

const PREFIX = 'xtq';
const sfx = randomBytes(3).toString('hex');
const NS = `${PREFIX}${sfx}ns`;
const BR = `${PREFIX}${sfx}br`;
const TAP = `${PREFIX}${sfx}t`;
const VETH_HOST = `${PREFIX}${sfx}h`;
const VETH_NS = `${PREFIX}${sfx}n`;
const NS_IP = '10.77.0.1';
const VM_IP = '10.77.0.2';
const VM_MAC = `52:54:00:${sfx.slice(0, 2)}:${sfx.slice(2, 4)}:${sfx.slice(4, 6)}`;
const HTTP_PORT = 8080;
const NC_PORT = 9000;


function hasQemu(): boolean {
  return spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function ipQuiet(...args: string[]): void {
  spawnSync('ip', args, { stdio: 'ignore' });
}

function nsSh(cmd: string): string {
  return execFileSync('ip', ['netns', 'exec', NS, 'sh', '-c', cmd], { encoding: 'utf8' });
}

/** Removes netns and links named xtq* left by an earlier run (only our prefix). */
function removeStale(): void {
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of ns.split('\n')) {
    const name = line.split(/\s+/)[0] ?? '';
    if (name.startsWith(PREFIX)) ipQuiet('netns', 'del', name);
  }
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of links.split('\n')) {
    const m = /^\d+: ([^:@\s]+)/.exec(line);
    const name = m?.[1];
    if (name !== undefined && name.startsWith(PREFIX)) ipQuiet('link', 'del', name);
  }
}

const vms: VmHandle[] = [];
const helpers: ChildProcess[] = [];
let tmp = '';

async function cleanup(): Promise<void> {
  await Promise.all(vms.map((v) => v.stop(1000)));
  for (const h of helpers) {
    if (h.exitCode === null && h.signalCode === null && h.pid !== undefined) {
      try {
        process.kill(h.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  ipQuiet('netns', 'del', NS);
  ipQuiet('link', 'del', TAP);
  ipQuiet('link', 'del', VETH_HOST);
  ipQuiet('link', 'del', BR);
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
}

function md5(buf: Buffer): string {
  return createHash('md5').update(buf).digest('hex');
}

async function waitListening(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = spawnSync('ip', ['netns', 'exec', NS, 'ss', '-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    if ((r.stdout ?? '').trim() !== '') return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`nothing listens on ${NS}:${port} after ${ms} ms`);
}

if (!hasQemu()) {
  test.skip('lab VM: qemu-system-x86_64 not installed (apt-get install qemu-system-x86), VM tests skipped', () => {});
} else {
  test.before(() => {
    // Idempotent: prints "up to date" and returns at once when the image exists.
    execFileSync('bash', [path.join(repoRoot, 'scripts', 'vm-image.sh')], { stdio: 'inherit' });
    vmImagePaths();
    removeStale();
    tmp = mkdtempSync(path.join(tmpdir(), 'xtq-'));
    ip('netns', 'add', NS);
    ip('link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS);
    ip('link', 'set', VETH_NS, 'netns', NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    ip('-n', NS, 'addr', 'add', `${NS_IP}/24`, 'dev', VETH_NS);
    ip('-n', NS, 'link', 'set', VETH_NS, 'up');
    ip('link', 'add', BR, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    ip('link', 'set', BR, 'up');
    ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    ip('link', 'set', TAP, 'master', BR);
    ip('link', 'set', TAP, 'up');
    ip('link', 'set', VETH_HOST, 'master', BR);
    ip('link', 'set', VETH_HOST, 'up');
  });

  test.after.always(async () => {
    await cleanup();
  });

  const boot = (run: 'ping' | 'tcp-get' | 'serve' | 'idle', extra: Record<string, string>): VmHandle => {
    const vm = startVm({
      name: `${PREFIX}-${run}`,
      tap: TAP,
      mac: VM_MAC,
      ip: `${VM_IP}/24`,
      peer: NS_IP,
      run,
      extra,
      timeoutMs: 45_000,
    });
    vms.push(vm);
    return vm;
  };

  test.serial('VM pings the namespace through the kernel bridge', async (t) => {
    const t0 = Date.now();
    const vm = boot('ping', { count: '3' });
    const code = await vm.done;
    const net = vm.states().find((s) => s.state === 'net-up');
    t.log(`ping VM: exit ${code} after ${Date.now() - t0} ms, net-up at ${net?.atMs ?? '?'} ms (host clock)`);
    const r = vm.results().find((x) => x.name === 'ping');
    t.truthy(r, `no ping result${vm.output().slice(-2000)}`);
    t.is(r?.status, 'ok', r?.line);
    t.is(r?.fields['received'], '3');
    t.false(vm.timedOut());
    t.is(code, 0);
  });

  test.serial('VM fetches a random file over TCP from the namespace, md5 matches', async (t) => {
    const size = 1024 * 1024 + Math.floor(Math.random() * 3 * 1024 * 1024);
    const data = randomBytes(size);
    writeFileSync(path.join(tmp, 'data'), data);
    const httpd = spawn(
      'ip',
      ['netns', 'exec', NS, 'busybox', 'httpd', '-f', '-p', `${NS_IP}:${HTTP_PORT}`, '-h', tmp],
      { stdio: 'ignore' },
    );
    helpers.push(httpd);
    await waitListening(HTTP_PORT, 5000);

    const t0 = Date.now();
    const vm = boot('tcp-get', { port: String(HTTP_PORT), path: 'data', proto: 'http' });
    const r = await vm.waitResult('tcp-get', 40_000);
    const code = await vm.done;
    t.log(`tcp-get VM: ${size} bytes in ${r.fields['ms'] ?? '?'} ms (guest), exit ${code} after ${Date.now() - t0} ms`);
    t.is(r.status, 'ok', r.line);
    t.is(r.fields['bytes'], String(size));
    t.is(r.fields['md5'], md5(data));
    t.is(code, 0);
  });

  test.serial('VM fetches a random file with nc from `nc -l` in the namespace, md5 matches', async (t) => {
    const size = 1024 * 1024 + Math.floor(Math.random() * 3 * 1024 * 1024);
    const data = randomBytes(size);
    const file = path.join(tmp, 'nc-data');
    writeFileSync(file, data);
    // exec chain: ip netns exec -> sh exec -> busybox nc, so the PID we hold is nc's.
    const server = spawn('ip', ['netns', 'exec', NS, 'sh', '-c', `exec busybox nc -l -p ${NC_PORT} < ${file}`], {
      stdio: 'ignore',
    });
    helpers.push(server);
    await waitListening(NC_PORT, 5000);

    const vm = boot('tcp-get', { port: String(NC_PORT), proto: 'nc' });
    const r = await vm.waitResult('tcp-get', 40_000);
    const code = await vm.done;
    t.log(`tcp-get (nc) VM: ${size} bytes in ${r.fields['ms'] ?? '?'} ms (guest)`);
    t.is(r.status, 'ok', r.line);
    t.is(r.fields['bytes'], String(size));
    t.is(r.fields['md5'], md5(data));
    t.is(code, 0);
  });

  test.serial('serve: the namespace fetches from and pushes into the VM', async (t) => {
    const size = 512 * 1024 + Math.floor(Math.random() * 512 * 1024);
    const vm = boot('serve', { size: String(size) });
    const file = await vm.waitResult('serve-file', 30_000);
    await vm.waitFor(/XVS-STATE ready/, 10_000);
    t.is(file.fields['bytes'], String(size));

    // pull the VM's file over HTTP
    const got = nsSh(`timeout 20 busybox wget -q -O - http://${VM_IP}:80/data | md5sum`).split(/\s+/)[0];
    t.is(got, file.fields['md5']);

    // push into the VM's sink
    const push = randomBytes(256 * 1024 + Math.floor(Math.random() * 256 * 1024));
    const pushFile = path.join(tmp, 'push');
    writeFileSync(pushFile, push);
    nsSh(`busybox nc ${VM_IP} 5001 < ${pushFile}`);
    const sink = await vm.waitResult('sink', 20_000);
    t.is(sink.fields['bytes'], String(push.length));
    t.is(sink.fields['md5'], md5(push));

    // echo
    const echoed = nsSh(`echo xvs-echo-check | timeout 10 busybox nc ${VM_IP} 7 | head -1`).trim();
    t.is(echoed, 'xvs-echo-check');

    const code = await vm.stop();
    t.not(code, undefined);
  });
}
