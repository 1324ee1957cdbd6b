/**
 * Per-port MAC limits: how many source MACs one port may have in the switch's MAC table, so that a
 * port flooding random source MACs cannot fill the table for everyone (Hyper-V limits what one vNIC
 * may claim; OVS bounds the table per bridge and evicts from the port with the most entries).
 *
 * Defaults, chosen so one flooding port leaves room for the others:
 * - a VM port or the host port: the switch's `macPortLimit`, by default 1024 but at most half the
 *   table (8192 by default, so a flood takes 1/8 of it; a 16-entry table gives each port 8). A VM
 *   has one MAC, a few with nested containers or bridges; 1024 is far above that.
 * - the uplink of an external switch: the physical LAN can have thousands of hosts, so half the
 *   table (4096 of 8192), or the port default if that is larger. A flood from outside then still
 *   leaves half the table to the VMs. A larger LAN needs a larger table (`--mac-limit`).
 * A VM port's own `macLimit` (`xvs port set SW PORT --mac-limit N`) overrides the default.
 *
 * A source MAC beyond its port's limit is not learned; its frame is forwarded all the same (as
 * Hyper-V and OVS do) and counted in the port's `macLimitHits`. Entries already learned age out as
 * usual; a lowered limit removes nothing.
 */
import type { SwitchConfig } from '../config/types.js';

export const DEFAULT_PORT_MAC_LIMIT = 1024;

/** the limit of a VM or host port that sets none */
export function defaultPortMacLimit(sw: Pick<SwitchConfig, 'macTableLimit' | 'macPortLimit'>): number {
  return sw.macPortLimit ?? Math.max(1, Math.min(DEFAULT_PORT_MAC_LIMIT, Math.floor(sw.macTableLimit / 2)));
}

/** the limit of the uplink of an external switch */
export function uplinkMacLimit(sw: Pick<SwitchConfig, 'macTableLimit' | 'macPortLimit'>): number {
  return Math.max(defaultPortMacLimit(sw), Math.floor(sw.macTableLimit / 2));
}

/** the limit a port runs with: its own, or the default for its kind */
export function portMacLimit(
  sw: Pick<SwitchConfig, 'macTableLimit' | 'macPortLimit'>, kind: 'vm' | 'internal' | 'external', own?: number,
): number {
  if (own !== undefined) return own;
  return kind === 'external' ? uplinkMacLimit(sw) : defaultPortMacLimit(sw);
}
