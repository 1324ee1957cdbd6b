/**
 * The params of the VMQ methods (`vmq.show`, `vmq.rebalance`) and of `switch.set` (the switch settings a
 * running switch changes in place: its workers' CPUs), kept beside protocol.ts's method table.
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from '../core/errors.js';
import { expectObject, fieldPath, rejectUnknownKeys, requireIfname, validateCpus } from '../config/schema.js';

/** `switch.set`: `cpus` a list (empty or null: not pinned) */
export interface SwitchSetParams { name: string; cpus?: number[] | null }
export interface SwitchSetParsed { name: string; cpus: number[] | undefined }

const P = 'params';

export function parseSwitchSet(input: unknown): SwitchSetParsed {
  const obj = expectObject(input ?? {}, P);
  rejectUnknownKeys(obj, ['name', 'cpus'], P);
  if (obj.cpus === undefined) throw new ConfigError(P, 'nothing to set: give cpus (a list of CPU numbers, or null for none)');
  const cpus = obj.cpus === null ? [] : validateCpus(obj.cpus, fieldPath(P, 'cpus'));
  const online = availableParallelism();
  cpus.forEach((c, i) => {
    if (c >= online) throw new ConfigError(`${fieldPath(P, 'cpus')}[${i}]`, `CPU ${c} is not online (this machine has CPUs 0..${online - 1})`);
  });
  return { name: requireIfname(obj, 'name', P), cpus: cpus.length ? cpus : undefined };
}
