/**
 * The benchmark harness (bench/run.sh) from a copy of the repository with nothing beside it: real
 * namespaces, the kernel bridge and the xvs daemon as switches, short tcp and ping workloads (iperf3
 * and ping are installed by scripts/setup.sh; the other workloads' tools by bench/setup.sh, not run
 * here). Checks the figures land in raw.csv and the table, that leftovers of an interrupted run are
 * removed at the start, that nothing named xb* is left afterwards, and that bad options are refused
 * naming the option. No timing thresholds: only that figures exist and are positive.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromRoot } from '../src/repo-root.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn('bash', args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => p.kill('SIGTERM'), 240_000);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? 1, stdout, stderr }); });
  });
}

/** Names the harness may create, as they are on the machine now. */
function leftovers(): string[] {
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('xbns')) : [];
  const links = readdirSync('/sys/class/net').filter((n) => /^xb(v\d|e\d|br0|ovs0)/.test(n));
  const dirs = ['/tmp/xb-xvs', '/tmp/xb-ovs', '/tmp/xb-bench'].filter((d) => existsSync(d));
  return [...netns, ...links, ...dirs];
}

let tmp = '';
let clone = '';

test.before(() => {
  // a "fresh clone": the repository's bench/ and scripts/ copied into a directory with no ../shared
  // beside it; dist/ (built), node_modules/ and build/ linked
  tmp = mkdtempSync(path.join(os.tmpdir(), 'xvs-bench-test-'));
  clone = path.join(tmp, 'xvs');
  cpSync(fromRoot('bench'), path.join(clone, 'bench'), { recursive: true, filter: (s) => !s.includes(`${path.sep}results`) });
  cpSync(fromRoot('scripts'), path.join(clone, 'scripts'), { recursive: true });
  cpSync(fromRoot('package.json'), path.join(clone, 'package.json'));
  for (const d of ['dist', 'node_modules', 'build']) symlinkSync(fromRoot(d), path.join(clone, d));
});

let madeStale = false;

test.after.always(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  // the stale names this test made, if the harness failed to remove them
  if (madeStale) {
    if (existsSync('/sys/class/net/xbv1')) spawnSync('ip', ['link', 'del', 'xbv1']);
    if (existsSync('/run/netns/xbns0')) spawnSync('ip', ['netns', 'del', 'xbns0']);
  }
});

test.serial('bench/run.sh runs bridge and xvs from a clone, cleans stale names first and leaves none', async (t) => {
  // what a killed run leaves behind: one of our namespaces and one of our switch ports
  madeStale = true;
  spawnSync('ip', ['netns', 'add', 'xbns0']);
  spawnSync('ip', ['link', 'add', 'xbv1', 'type', 'veth', 'peer', 'name', 'xbstale1']);
  t.true(existsSync('/run/netns/xbns0') && existsSync('/sys/class/net/xbv1'), 'stale names created');

  const out = path.join(tmp, 'out');
  const r = await run([path.join(clone, 'bench', 'run.sh'), '-S', '-r', '1', '-c', 'bridge:on xvs:off', '-w', 'tcp ping', '-t', '1', '-o', out],
    { XB_QUIET_MAX: '0' });
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);

  const rows = readFileSync(path.join(out, 'raw.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const fig = (config: string, workload: string, metric: string): number[] =>
    rows.filter((c) => c[2] === config && c[6] === workload && c[7] === metric).map((c) => Number(c[8]));
  for (const config of ['bridge:on', 'xvs:off']) {
    for (const [w, m] of [['tcp', 'gbps'], ['ping', 'p50_us'], ['ping', 'p99_us']] as const) {
      const v = fig(config, w, m);
      t.is(v.length, 1, `${config} ${w} ${m}`);
      t.true(v[0] > 0, `${config} ${w} ${m} = ${v[0]}`);
    }
    t.deepEqual(fig(config, 'ping', 'loss_pct'), [0], `${config}: no ping lost`);
  }
  t.true(fig('xvs:off', 'tcp', 'sw_cpu')[0] > 0, 'the xvs daemon is sampled as the switch');
  t.deepEqual(rows.filter((c) => c[7] === 'error'), [], 'no error rows');

  const table = readFileSync(path.join(out, 'table.txt'), 'utf8');
  t.regex(table, /\| workload \| bridge:on \| xvs:off \|/);
  t.regex(table, /\| TCP Gb\/s \| [\d.]+ \| [\d.]+ \([\d.]+\) \|/);
  t.regex(readFileSync(path.join(out, 'meta.txt'), 'utf8'), /configs: bridge:on xvs:off/);
  t.deepEqual(leftovers(), []);
  t.false(existsSync('/sys/class/net/xbstale1'), 'the stale veth went with its xbv1 end');
});

test.serial('bad options are refused, naming the option', async (t) => {
  const bench = path.join(clone, 'bench', 'run.sh');
  for (const [args, needle] of [
    [['-r', '0'], '-r: repetitions must be 1..20'],
    [['-r', 'x'], '-r: repetitions must be a number'],
    [['-c', 'nosuch:on'], "-c: no plug-in for 'nosuch'"],
    [['-c', 'bridge:maybe'], "-c: offloads of 'bridge:maybe' must be on or off"],
    [['-w', 'udp65'], "-w: unknown workload 'udp65'"],
    [['-t', '0'], '-t: seconds must be 1..60'],
  ] as const) {
    const r = await run([bench, ...args]);
    t.not(r.code, 0, args.join(' '));
    t.true(r.stderr.includes(needle), `${args.join(' ')}: ${r.stderr}`);
  }
  t.deepEqual(leftovers(), []);
});
