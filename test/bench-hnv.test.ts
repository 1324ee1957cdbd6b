/**
 * bench/hnv.sh (issue 11's HNV benchmark) in a short run: the kernel baseline (Linux bridge + kernel
 * vxlan device) and xvs HNV VXLAN between two host namespaces, offloads on and off, TCP and 64-byte
 * UDP for one second each. Checks that every figure lands in raw.csv and is positive, that the ratio
 * of the issue's TCP target is computed, that nothing named xb* is left, and that bad options are
 * refused naming the option. No timing thresholds: the figures only have to exist.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromRoot } from '../src/repo-root.js';

interface Run { code: number; stdout: string; stderr: string }

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn('bash', [fromRoot('bench', 'hnv.sh'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => p.kill('SIGTERM'), 280_000);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? 1, stdout, stderr }); });
  });
}

function leftovers(): string[] {
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('xbns')) : [];
  const links = readdirSync('/sys/class/net').filter((n) => /^xb(v|e|u)\d/.test(n));
  return [...netns, ...links, ...['/tmp/xb-hnv', '/tmp/xb-bench'].filter((d) => existsSync(d))];
}

let tmp = '';
test.before(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'xvs-bench-hnv-')); });
test.after.always(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

test.serial('bench/hnv.sh measures the kernel baseline and HNV VXLAN across two hosts and leaves nothing', async (t) => {
  const out = path.join(tmp, 'out');
  const r = await run(['-S', '-r', '1', '-c', 'kernel vxlan', '-w', 'tcp udp64', '-t', '1', '-o', out], { XB_QUIET_MAX: '0' });
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const rows = readFileSync(path.join(out, 'raw.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const fig = (config: string, workload: string, metric: string): number[] =>
    rows.filter((c) => c[2] === config && c[6] === workload && c[7] === metric).map((c) => Number(c[8]));
  for (const config of ['kernel:on', 'kernel:off', 'vxlan:on', 'vxlan:off']) {
    for (const [w, m] of [['tcp', 'gbps'], ['udp64', 'kpps_rx']] as const) {
      const v = fig(config, w, m);
      t.is(v.length, 1, `${config} ${w} ${m}`);
      t.true(v[0] > 0, `${config} ${w} ${m} = ${v[0]}`);
    }
  }
  t.true(fig('vxlan:on', 'tcp', 'sw_cpu')[0] > 0, 'the two daemons are sampled as the switch');
  t.deepEqual(rows.filter((c) => c[7] === 'error'), [], 'no error rows');
  const ratios = readFileSync(path.join(out, 'ratios.txt'), 'utf8');
  t.regex(ratios, /TCP Gb\/s: vxlan:on \/ kernel:on +\d+\.\d\d +\(target >= 0\.7: (meets|BELOW)/);
  t.regex(readFileSync(path.join(out, 'meta.txt'), 'utf8'), /configs: kernel:on kernel:off vxlan:on vxlan:off/);
  t.deepEqual(leftovers(), []);
});

test.serial('bench/hnv.sh refuses bad options, naming the option', async (t) => {
  for (const [args, needle] of [
    [['-r', '0'], '-r: repetitions must be 1..20'],
    [['-c', 'ovs'], "-c: unknown configuration 'ovs'"],
    [['-w', 'rr'], "-w: unknown workload 'rr'"],
    [['-t', 'x'], '-t: seconds must be a number'],
  ] as const) {
    const r = await run([...args]);
    t.not(r.code, 0, args.join(' '));
    t.true(r.stderr.includes(needle), `${args.join(' ')}: ${r.stderr}`);
  }
  t.deepEqual(leftovers(), []);
});
