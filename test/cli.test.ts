/** The compiled `xvs` CLI against a real control server (fake data path): `--json` output, tables, errors. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fromRoot } from '../src/repo-root.js';
import { startHarness } from '../src/control/test-harness.js';

const MAIN = fromRoot('dist', 'src', 'cli', 'main.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function xvs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('create, add and read back with --json and as tables', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.done());
  const s = ['--socket', h.socket];

  const created = await xvs(['switch', 'create', 'sw0', '--type', 'external', '--uplink', 'veth0', '--allow-management-os', '--workers', '2', ...s]);
  t.is(created.code, 0, created.stderr);
  t.is(created.stdout, 'created switch "sw0" (external, uplink veth0, host port sw0-host)\n');

  t.is((await xvs(['port', 'add', 'sw0', 'tap0', ...s])).code, 0);
  const added = await xvs(['port', 'add', 'sw0', 'vm1', '--netdev', 'veth1', '--json', ...s]);
  t.like(JSON.parse(added.stdout), { switch: 'sw0', name: 'vm1', netdev: 'veth1', kind: 'vm' });

  const list = await xvs(['switch', 'list', '--json', ...s]);
  t.is(list.code, 0);
  const parsed: unknown = JSON.parse(list.stdout);
  t.like(parsed, [{ config: { name: 'sw0', type: 'external', uplink: 'veth0', allowManagementOs: true, hostPort: 'sw0-host', workers: 2 }, running: true }]);

  const table = await xvs(['switch', 'list', ...s]);
  t.is(
    table.stdout,
    'NAME  TYPE      UPLINK  HOST-PORT  PORTS  WORKERS  STATE\n' +
      'sw0   external  veth0   sw0-host       2        2  running\n',
  );

  const show = await xvs(['switch', 'show', 'sw0', ...s]);
  t.regex(show.stdout, /^name: +sw0$/m);
  t.regex(show.stdout, /^vm1 +vm +veth1 +3 +yes +afpacket$/m);

  const ports = JSON.parse((await xvs(['port', 'list', 'sw0', '--json', ...s])).stdout) as { name: string }[];
  t.deepEqual(ports.map((p) => p.name), ['veth0', 'sw0-host', 'tap0', 'vm1']);
  t.like(JSON.parse((await xvs(['port', 'show', 'sw0', 'tap0', '--json', ...s])).stdout), { name: 'tap0', stats: { txPackets: 2 } });
  t.regex((await xvs(['port', 'show', 'sw0', 'tap0', ...s])).stdout, /^rx: +1 packets, 60 bytes$/m);

  t.deepEqual(JSON.parse((await xvs(['fdb', 'show', 'sw0', '--json', ...s])).stdout), [{ mac: '02:00:00:00:00:01', port: 'tap0', ageSeconds: 3 }]);
  t.is((await xvs(['fdb', 'show', 'sw0', ...s])).stdout, 'MAC                PORT  AGE\n02:00:00:00:00:01  tap0    3\n');
  t.like(JSON.parse((await xvs(['stats', 'sw0', '--json', ...s])).stdout), { name: 'sw0', fdb: { limit: 8192 } });
  t.regex((await xvs(['stats', 'sw0', ...s])).stdout, /^fdb: 1\/8192 entries/m);

  const status = await xvs(['daemon', 'status', '--json'], { XVS_SOCKET: h.socket });
  t.like(JSON.parse(status.stdout), { pid: process.pid, switches: 1, ports: 2, problems: [] });

  t.is((await xvs(['port', 'remove', 'sw0', 'tap0', ...s])).stdout, 'removed port "tap0" from switch "sw0"\n');
  t.is((await xvs(['switch', 'delete', 'sw0', ...s])).stdout, 'deleted switch "sw0"\n');
  t.is((await xvs(['switch', 'list', ...s])).stdout, 'NAME  TYPE  UPLINK  HOST-PORT  PORTS  WORKERS  STATE\n');
});

test('errors print "xvs: <message>" and exit 1', async (t) => {
  const h = await startHarness();
  const s = ['--socket', h.socket];
  const bad = await xvs(['switch', 'create', 'sw0', '--type', 'foo', ...s]);
  t.is(bad.code, 1);
  t.is(bad.stdout, '');
  t.is(bad.stderr, 'xvs: params.type: expected one of private, internal, external, got "foo"\n');

  const missing = await xvs(['port', 'add', 'nope', 'tap0', ...s]);
  t.is(missing.code, 1);
  t.is(missing.stderr, 'xvs: params.switch: no such switch "nope"\n');

  const nan = await xvs(['switch', 'create', 'sw0', '--type', 'private', '--workers', 'many', ...s]);
  t.is(nan.code, 1);
  t.regex(nan.stderr, /^xvs: --workers: expected a number/);

  const usage = await xvs(['switch', 'frobnicate', ...s]);
  t.is(usage.code, 1);
  t.regex(usage.stderr, /^xvs: Unknown argument: frobnicate/);

  const down = await xvs(['switch', 'list', '--socket', `${h.dir}/nobody.sock`]);
  t.is(down.code, 1);
  t.is(down.stderr, `xvs: cannot reach xvs daemon at ${h.dir}/nobody.sock: is "xvs daemon" running?\n`);
  await h.done();
});
