import type { PortConfig, SwitchConfig } from '../config/types.js';

/** One learned MAC address, as `xvs fdb show` prints it. */
export interface FdbEntry {
  mac: string;
  port: string;
  /** seconds since the entry was last refreshed by traffic */
  ageSeconds: number;
}

export type PortKind = 'vm' | 'external' | 'internal';

/** Counters of one port (summed over the switch's workers). */
export interface PortStats {
  name: string;
  kind: PortKind;
  netdev: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** frames received on this port and dropped, by drop-reason name (only non-zero reasons) */
  drops: Record<string, number>;
  /** frames the switch could not transmit on this port */
  txErrors: number;
}

export interface SwitchStats {
  name: string;
  type: string;
  ports: PortStats[];
  /** switch-wide drops by reason name (sum over ports) */
  drops: Record<string, number>;
  fdb: { entries: number; limit: number; learned: number; moves: number; limitHits: number; aged: number };
  workers: { index: number; tid: number; cpu: number | null; breaths: number; batches: number; idlePolls: number }[];
}

/** What `xvs switch show` prints. */
export interface SwitchInfo {
  config: SwitchConfig;
  ports: { name: string; kind: PortKind; netdev: string; index: number; up: boolean }[];
}

/**
 * The data-path side of the daemon, as the control plane sees it. Implemented by `switch/manager.ts`.
 * Every method validates its input and throws `ConfigError` (with a field path) before changing anything.
 */
export interface SwitchManager {
  createSwitch(cfg: SwitchConfig): Promise<void>;
  deleteSwitch(name: string): Promise<void>;
  addPort(switchName: string, port: PortConfig): Promise<void>;
  removePort(switchName: string, portName: string): Promise<void>;
  listSwitches(): SwitchInfo[];
  showSwitch(name: string): SwitchInfo;
  fdb(name: string): FdbEntry[];
  stats(name: string): SwitchStats;
  /** stop every worker; leaves TAPs in place (persistent) so running VMs keep their link. */
  shutdown(): Promise<void>;
}
