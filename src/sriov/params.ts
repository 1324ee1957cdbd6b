/** Params and results of the `sriov.*` control methods (listed in control/protocol.ts's method table). */
import { ConfigError } from '../core/errors.js';
import { describe, expectObject, fieldPath, rejectUnknownKeys, requireIfname } from '../config/schema.js';
import type { IovStatus, SriovPfView } from './ports.js';

export type { IovStatus, SriovPfView };

/** `sriov.enable`: make PF have `vfs` VFs (0: none) */
export interface SriovEnableParams {
  pf: string;
  vfs: number;
}
export interface SriovEnableResult {
  pf: string;
  numVfs: number;
  /** the values written to sriov_numvfs, in order (["0", "4"] when 2 became 4; [] when unchanged) */
  written: string[];
}

/** the most VFs a PF can have (PCI SR-IOV: TotalVFs is 16 bits) */
export const MAX_VFS = 65535;

export function parseSriovEnable(input: unknown): SriovEnableParams {
  const obj = expectObject(input ?? {}, 'params');
  rejectUnknownKeys(obj, ['pf', 'vfs'], 'params');
  const pf = requireIfname(obj, 'pf', 'params');
  const vfs = obj.vfs;
  if (typeof vfs !== 'number' || !Number.isInteger(vfs) || vfs < 0 || vfs > MAX_VFS) {
    throw new ConfigError(fieldPath('params', 'vfs'), `expected the number of VFs (an integer, 0 to disable), got ${describe(vfs)}`);
  }
  return { pf, vfs };
}
