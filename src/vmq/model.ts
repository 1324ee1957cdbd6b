/**
 * VMQ (Hyper-V's virtual machine queues) as xvs runs them: a queue is a set of rx ports that one
 * data-path worker reads. A VM port with vmqWeight 1..100 has a queue of its own; every other port
 * (weight 0 or none, the uplink, the host port's AF_PACKET ports) shares the default queue. Queues go
 * to workers by measured load (Open vSwitch's "cycles" assignment: busiest queue first, each to the
 * worker with the least load so far) unless the port pins its queue to a worker or to the CPU a worker
 * is pinned to. Pure functions; the switch (switch/switch.ts) applies what they decide.
 */

/** where a port's queue is pinned (PortSettings.vmqPin) */
export type VmqPin = { worker: number } | { cpu: number };

/** the id of the queue every port without a weight shares */
export const DEFAULT_QUEUE = 'default';

export interface VmqPortInput {
  index: number;
  name: string;
  /** 0: served by the default queue */
  weight: number;
  pin?: VmqPin;
}

export interface Queue {
  /** DEFAULT_QUEUE, or the name of the port that owns the queue */
  id: string;
  /** port indices the queue's worker reads */
  ports: number[];
  weight: number;
  pin?: VmqPin;
}

/** The queues of a switch: the default queue first (always, even empty), then one per weighted port by name. */
export function queuesOf(ports: readonly VmqPortInput[]): Queue[] {
  const def: Queue = { id: DEFAULT_QUEUE, ports: [], weight: 0 };
  const own: Queue[] = [];
  for (const p of ports) {
    if (p.weight > 0) own.push({ id: p.name, ports: [p.index], weight: p.weight, ...(p.pin ? { pin: p.pin } : {}) });
    else def.ports.push(p.index);
  }
  def.ports.sort((a, b) => a - b);
  own.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [def, ...own];
}

/** the worker a pin names: itself, or the first worker pinned to that CPU; null if none is */
export function pinnedWorker(pin: VmqPin, workerCpus: readonly (number | null)[]): number | null {
  if ('worker' in pin) return pin.worker >= 0 && pin.worker < workerCpus.length ? pin.worker : null;
  const w = workerCpus.indexOf(pin.cpu);
  return w >= 0 ? w : null;
}

/** a pin no worker answers to, in words (the switch refuses it with the field named); null if it resolves */
export function pinProblem(pin: VmqPin, workerCpus: readonly (number | null)[]): string | null {
  if (pinnedWorker(pin, workerCpus) !== null) return null;
  if ('worker' in pin) return `the switch has ${workerCpus.length} worker(s) (0..${workerCpus.length - 1}), not worker ${pin.worker}`;
  const pinned = workerCpus.map((c, w) => (c === null ? null : `worker ${w} on CPU ${c}`)).filter((x) => x !== null);
  return `no worker is pinned to CPU ${pin.cpu} (${pinned.length ? pinned.join(', ') : 'the switch pins no worker: xvs switch set SW --cpus …'})`;
}

/**
 * Queue → worker. Pinned queues go to their worker; the others, busiest first (by `load`, a measured
 * cost in any unit; ties: larger weight, then id), each to the worker with the least load so far (ties:
 * fewer queues with ports, then the lower index), so with no load measured yet queues are spread evenly.
 * A queue whose pin resolves to no worker is assigned by load like the others.
 */
export function assignQueues(queues: readonly Queue[], load: ReadonlyMap<string, number>, workerCpus: readonly (number | null)[]): Map<string, number> {
  const n = Math.max(1, workerCpus.length);
  const sum = new Float64Array(n);
  const count = new Int32Array(n);
  const out = new Map<string, number>();
  const loadOf = (q: Queue): number => load.get(q.id) ?? 0;
  const free: Queue[] = [];
  for (const q of queues) {
    const w = q.pin ? pinnedWorker(q.pin, workerCpus) : null;
    if (w === null) { free.push(q); continue; }
    out.set(q.id, w);
    sum[w] += loadOf(q);
    count[w] += q.ports.length > 0 ? 1 : 0;
  }
  free.sort((a, b) => loadOf(b) - loadOf(a) || b.weight - a.weight || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const q of free) {
    let best = 0;
    for (let w = 1; w < n; w++) {
      if (sum[w] < sum[best] || (sum[w] === sum[best] && count[w] < count[best])) best = w;
    }
    out.set(q.id, best);
    sum[best] += loadOf(q);
    count[best] += q.ports.length > 0 ? 1 : 0;
  }
  return out;
}

/**
 * Add queues that have no worker yet to `current` without moving the others (a port added or given a
 * weight): each goes to the least loaded worker as assignQueues would; queues gone are dropped.
 */
export function placeNewQueues(queues: readonly Queue[], current: ReadonlyMap<string, number>, load: ReadonlyMap<string, number>, workerCpus: readonly (number | null)[]): Map<string, number> {
  const n = Math.max(1, workerCpus.length);
  const out = new Map<string, number>();
  const sum = new Float64Array(n);
  const count = new Int32Array(n);
  const fresh: Queue[] = [];
  for (const q of queues) {
    const pinned = q.pin ? pinnedWorker(q.pin, workerCpus) : null;
    const w = pinned ?? current.get(q.id);
    if (w === undefined || w >= n) { fresh.push(q); continue; }
    out.set(q.id, w);
    sum[w] += load.get(q.id) ?? 0;
    count[w] += q.ports.length > 0 ? 1 : 0;
  }
  fresh.sort((a, b) => (load.get(b.id) ?? 0) - (load.get(a.id) ?? 0) || b.weight - a.weight || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const q of fresh) {
    let best = 0;
    for (let w = 1; w < n; w++) if (sum[w] < sum[best] || (sum[w] === sum[best] && count[w] < count[best])) best = w;
    out.set(q.id, best);
    sum[best] += load.get(q.id) ?? 0;
    count[best] += q.ports.length > 0 ? 1 : 0;
  }
  return out;
}

/** the queues whose worker differs between two assignments: [queue id, from, to] */
export function movesBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (const [id, to] of after) {
    const from = before.get(id);
    if (from !== undefined && from !== to) out.push([id, from, to]);
  }
  return out;
}
