/**
 * `xvs top` for real (issue 13, item 4), in a real terminal: tmux (its own server socket) runs it against
 * a daemon whose switch carries a ping between two namespaces; a third port is idle. The screen shows the
 * ports with their rates, the workers and the extensions; keys change the sort order (the idle port moves
 * from last to first); q and Ctrl-C end it with exit status 0 and the terminal's normal screen back.
 * Without a terminal it prints one snapshot with no escape sequences.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { CLI, TestDaemon } from '../src/test-support/daemon.js';
import { NetLab, testPrefix } from '../src/lab/netlab.js';

const P = testPrefix('tp');
const SW = `${P}s`;
const TMUX = ['-L', `${P}tmux`, '-f', '/dev/null'];
let d: TestDaemon;
let lab: NetLab;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', [...TMUX, ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const screen = (session: string): string => tmux('capture-pane', '-p', '-t', session);

/** waits until the pane shows what `ok` accepts; returns that screen */
async function until(session: string, ok: (s: string) => boolean, what: string): Promise<string> {
  let s = '';
  for (let i = 0; i < 100; i++) {
    s = screen(session);
    if (ok(s)) return s;
    await sleep(200);
  }
  throw new Error(`${what}: not seen; the screen:\n${s}`);
}

/** the ports in screen order */
const portOrder = (s: string): string[] => s.split('\n').map((l) => new RegExp(`^${SW} +(\\S+) +(?:vm|external|internal) `).exec(l)?.[1]).filter((x): x is string => x !== undefined);

/** rx pps shown for a port (0 when its row is missing or says 0) */
const rxPps = (s: string, port: string): number => {
  const m = new RegExp(`^${SW} +${port} +\\S+ +([0-9.]+)(k|M|G)?`, 'm').exec(s);
  return m ? Number(m[1]) * (m[2] === 'k' ? 1e3 : m[2] === 'M' ? 1e6 : m[2] === 'G' ? 1e9 : 1) : 0;
};

test.before(async () => {
  lab = new NetLab(P);
  spawnSync('tmux', [...TMUX, 'kill-server'], { stdio: 'ignore' }); // a server left by a killed run of this test
  d = new TestDaemon();
  await d.start();
  const a = lab.addHost(1);
  const b = lab.addHost(2);
  const idle = lab.addHost(3);
  if (d.xvs('switch', 'create', SW, '--type', 'private').code !== 0) throw new Error('switch create');
  for (const [name, h] of [['p1', a], ['p2', b], ['aa', idle]] as const) {
    const r = d.xvs('port', 'add', SW, name, '--netdev', h.peer);
    if (r.code !== 0) throw new Error(r.err);
  }
  // traffic for the whole test (killed by PID in lab.destroy)
  lab.spawnIn(a, ['ping', '-i', '0.05', b.ip]);
});

test.after.always(async () => {
  spawnSync('tmux', [...TMUX, 'kill-server'], { stdio: 'ignore' });
  if (d?.running) d.xvs('switch', 'delete', SW);
  await d?.destroy();
  lab?.destroy();
});

test.serial('in tmux: rates, workers and extensions shown; keys sort; q exits 0 and restores the screen', async (t) => {
  tmux('new-session', '-d', '-s', 'top', '-x', '160', '-y', '40',
    `node ${CLI} --socket ${d.sock} top ${SW} --interval 0.5; echo "top exited $?"; sleep 120`);
  const s = await until('top', (x) => rxPps(x, 'p1') > 0 && rxPps(x, 'p2') > 0, 'ping rates on p1 and p2');
  t.log(s);
  t.regex(s, new RegExp(`xvs top — switch ${SW}, .* sort rx-pps — keys`));
  t.regex(s, /SWITCH +PORT +KIND +RX-PPS +RX-BIT\/S +TX-PPS +TX-BIT\/S +DROPS\/S/);
  t.regex(s, /SWITCH +WORKER +TID +CPU +CPU% +BUSY%/);
  t.regex(s, new RegExp(`^${SW} +0 +\\d+ +\\S+ +[0-9.]+ +[0-9.]+`, 'm'), 'a worker row with CPU % and busy %');
  t.regex(s, /EXTENSION +STATE +FRAMES\/S/);
  t.is(portOrder(s).at(-1), 'aa', 'the idle port last by rx pps');

  tmux('send-keys', '-t', 'top', 'n');
  const byName = await until('top', (x) => x.includes('sort name'), 'sort name');
  t.deepEqual(portOrder(byName), ['aa', 'p1', 'p2']);
  tmux('send-keys', '-t', 'top', 's');
  await until('top', (x) => x.includes('sort rx-pps'), 's cycles to the first order');
  tmux('send-keys', '-t', 'top', 'd');
  await until('top', (x) => x.includes('sort drops'), 'sort drops');

  tmux('send-keys', '-t', 'top', 'q');
  const end = await until('top', (x) => x.includes('top exited'), 'exit after q');
  t.regex(end, /top exited 0/);
  t.notRegex(end, /RX-PPS/, 'the normal screen is back (the view was on the alternate screen)');
  tmux('kill-session', '-t', 'top');
});

test.serial('in tmux: Ctrl-C exits 0 too', async (t) => {
  tmux('new-session', '-d', '-s', 'topc', '-x', '120', '-y', '30',
    `node ${CLI} --socket ${d.sock} top --interval 0.5; echo "top exited $?"; sleep 120`);
  await until('topc', (x) => x.includes('xvs top — all switches'), 'the view');
  tmux('send-keys', '-t', 'topc', 'C-c');
  const end = await until('topc', (x) => x.includes('top exited'), 'exit after Ctrl-C');
  t.regex(end, /top exited 0/);
  tmux('kill-session', '-t', 'topc');
});

test.serial('without a terminal: one snapshot, no escape sequences; a bad --sort or switch is refused', (t) => {
  const r = spawnSync('node', [CLI, '--socket', d.sock, 'top', SW, '--interval', '1', '--sort', 'name'], { encoding: 'utf8', timeout: 30_000 });
  t.is(r.status, 0, r.stderr);
  t.false(r.stdout.includes('\x1b'), 'plain text');
  t.regex(r.stdout, new RegExp(`^xvs top — switch ${SW}, .* rates over 1\\.\\d s, sort name\\n`));
  t.deepEqual(portOrder(r.stdout), ['aa', 'p1', 'p2']);
  t.true(rxPps(r.stdout, 'p1') > 0, r.stdout);
  const bad = spawnSync('node', [CLI, '--socket', d.sock, 'top', SW, '--sort', 'fast'], { encoding: 'utf8', timeout: 30_000 });
  t.not(bad.status, 0);
  t.regex(bad.stderr, /sort/);
  const none = spawnSync('node', [CLI, '--socket', d.sock, 'top', `${P}none`], { encoding: 'utf8', timeout: 30_000 });
  t.not(none.status, 0);
  t.regex(none.stderr, /no such switch|not found|does not exist/i);
});
