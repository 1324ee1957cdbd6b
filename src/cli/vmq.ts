/**
 * `xvs vmq show|rebalance|pin|unpin` and `xvs switch set --cpus`: VMQ queues and the data-path workers
 * that read them (src/vmq). A VM port gets a queue of its own with `xvs port set SW PORT --vmq-weight
 * 1..100`; pins and weights are port settings (persisted, changed in place like every `port set`). The
 * CLI maps options to requests; the daemon validates and names the field.
 */
import type { Argv } from 'yargs';
import type { VmqView } from '../vmq/switch-vmq.js';
import { call, out, printJson, table, withJson, type Cli, type GlobalArgs } from './common.js';

function pinText(pin: { worker: number } | { cpu: number } | undefined): string | null {
  if (!pin) return null;
  return 'worker' in pin ? `worker ${pin.worker}` : `cpu ${pin.cpu}`;
}

export function vmqText(v: VmqView): string {
  const cpus = v.cpusFrom === 'none' ? 'workers not pinned' : `cpus ${v.cpus.join(',')} (from ${v.cpusFrom === 'config' ? 'the switch configuration' : 'XVS_CPUS'})`;
  return [
    `switch ${v.switch}: ${v.workers.length} worker(s), ${cpus}; rates over the last ${(v.intervalMs / 1000).toFixed(1)} s`,
    '',
    table(['QUEUE', 'WEIGHT', 'PIN', 'WORKER', 'CPU', 'PPS', 'BUSY%', 'PORTS'],
      v.queues.map((q) => [q.id, q.weight || null, pinText(q.pin), q.worker, q.cpu, q.pps, q.busy, q.ports.join(' ') || null])),
    '',
    table(['WORKER', 'TID', 'CPU', 'BUSY%', 'QUEUES'], v.workers.map((w) => [w.index, w.tid, w.cpu, w.busy, w.queues.join(' ') || null])),
    ...(v.uplink ? ['', uplinkText(v.uplink)] : []),
  ].join('\n');
}

/** uplink steering: which destination MACs each worker's uplink socket accepts */
function uplinkText(u: NonNullable<VmqView['uplink']>): string {
  const head = u.steered
    ? `uplink ${u.port}: steered by destination MAC (+VLAN), one filtered socket per worker`
    : `uplink ${u.port}: not steered (${u.reason ?? 'off'}): the default queue's worker receives it all`;
  const accepts = (w: (typeof u.workers)[number]): string => w.accepts === 'only' ? `only ${w.macs.join(' ')}`
    : w.accepts === 'all-except' ? `all except ${w.macs.join(' ')}` : w.accepts;
  return [head, table(['WORKER', 'RX', 'ACCEPTS'], u.workers.map((w) => [w.worker, w.rxPackets, accepts(w)]))].join('\n');
}

/** `--cpus 0,1` (or "none") → a list; the daemon checks the numbers */
function cpusOption(v: string): number[] | null {
  if (v === 'none' || v === '') return null;
  return v.split(',').map((c) => {
    const n = Number(c.trim());
    if (c.trim() === '' || !Number.isFinite(n)) throw new Error(`--cpus: expected CPU numbers like 0,1 or "none", got "${v}"`);
    return n;
  });
}

/** `xvs switch set NAME --cpus 0,1` (registered by cli/switch.ts) */
export function switchSetCommand<T extends GlobalArgs>(c: Argv<T>): Argv<T> {
  return c.command(
    'set <name>',
    "change a running switch's settings in place: the CPUs its data-path workers are pinned to",
    (y) => withJson(y).positional('name', { type: 'string', demandOption: true })
      .option('cpus', { type: 'string', demandOption: true, describe: 'CPU list, e.g. 0,1: worker i is pinned to the i-th (mod n); "none": not pinned. XVS_CPUS overrides it' }),
    async (a) => {
      const v = await call(a as unknown as GlobalArgs, 'switch.set', { name: a.name, cpus: cpusOption(a.cpus) });
      if (a.json) return printJson(v);
      out(v.unchanged ? `switch "${a.name}" already has these settings (unchanged)` : `switch "${a.name}": cpus ${v.config.cpus?.join(',') ?? 'none'}`);
    },
  ) as unknown as Argv<T>;
}

export function vmqCommands(y: Cli): Cli {
  return y.command('vmq', 'VMQ: queues (ports with --vmq-weight, and the default queue) and the workers that read them', (vy) => vy
    .command('show <switch>', "a switch's queues: worker, CPU, ports, pps, busy %", (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }), async (a) => {
      const v = await call(a, 'vmq.show', { switch: a.switch });
      if (a.json) return printJson(v);
      out(vmqText(v));
    })
    .command('rebalance <switch>', 'place the queues on the workers again by measured load (no frame is lost in the move)', (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }), async (a) => {
      const r = await call(a, 'vmq.rebalance', { switch: a.switch });
      if (a.json) return printJson(r);
      out(r.moves.length === 0 ? `switch "${a.switch}": every queue stays where it is` : r.moves.map((m) => `queue ${m.queue} (${m.ports.join(' ')}): worker ${m.from} → ${m.to}`).join('\n'));
    })
    .command('pin <switch> <port> [cpu]', "pin a port's queue to the worker on CPU `cpu` (or --worker N); the port needs a --vmq-weight",
      (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }).positional('port', { type: 'string', demandOption: true })
        .positional('cpu', { type: 'number', describe: 'a CPU some worker is pinned to (xvs switch set --cpus)' })
        .option('worker', { type: 'number', describe: 'a worker index instead of a CPU' }),
      async (a) => {
        if ((a.cpu === undefined) === (a.worker === undefined)) throw new Error('give a CPU or --worker N (one of them)');
        const n = a.cpu ?? a.worker ?? 0;
        if (!Number.isInteger(n)) throw new Error(`${a.cpu !== undefined ? 'cpu' : '--worker'}: expected a number`);
        const vmqPin = a.cpu !== undefined ? { cpu: a.cpu } : { worker: n };
        const v = await call(a, 'port.set', { switch: a.switch, name: a.port, vmqPin });
        if (a.json) return printJson(v);
        out(v.unchanged ? `port "${a.port}" is already pinned there (unchanged)` : `port "${a.port}" of switch "${a.switch}": queue pinned to ${pinText(vmqPin)}`);
      })
    .command('unpin <switch> <port>', "let a port's queue go to workers by load again", (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }).positional('port', { type: 'string', demandOption: true }), async (a) => {
      const v = await call(a, 'port.set', { switch: a.switch, name: a.port, vmqPin: null });
      if (a.json) return printJson(v);
      out(v.unchanged ? `port "${a.port}" was not pinned (unchanged)` : `port "${a.port}" of switch "${a.switch}": queue placed by load`);
    })
    .demandCommand(1, 'name a vmq command: show, rebalance, pin, unpin'));
}
