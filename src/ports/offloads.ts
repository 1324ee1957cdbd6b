/**
 * Offloads of a libpcap port's netdev (`--io pcap`, ports/pcap.ts). libpcap carries no virtio-net header, so
 * what it reads must be wire-sized frames with complete checksums: the netdev's segmentation, receive
 * aggregation and checksum offloads are turned off while it is such a port (`ethtool -K <dev> tso off gso off
 * gro off lro off tx off`), which is also what makes libpcap size its ring frames from the MTU. Only features
 * that were on and can change are touched; which ones is recorded in the NetdevRecord BEFORE the change, and
 * they are turned on again when the port goes (or, after a crash, at the next start: isolation.reconcile).
 * A netdev that keeps a segmentation or aggregation offload on (a [fixed] feature) is refused, with the reason.
 */
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../core/errors.js';
import { netdevExists } from './netdev.js';
import type { NetdevRecord } from './netdev-record.js';

/** `ethtool -K` keyword → the feature's name in `ethtool -k`, in the order they are turned off */
export const PCAP_OFFLOADS: readonly (readonly [string, string])[] = [
  ['tso', 'tcp-segmentation-offload'],
  ['gso', 'generic-segmentation-offload'],
  ['gro', 'generic-receive-offload'],
  ['lro', 'large-receive-offload'],
  ['tx', 'tx-checksumming'],
];
/** those that must be off, or the port is refused: they make frames larger than the MTU (libpcap checks the same) */
const MUST_BE_OFF = new Set(['tso', 'gso', 'gro', 'lro']);

function ethtool(...args: string[]): string {
  return execFileSync('ethtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface FeatureState { on: boolean; fixed: boolean }

/** `ethtool -k dev`: the PCAP_OFFLOADS features by keyword (absent: the driver does not list it) */
export function offloadState(dev: string): Map<string, FeatureState> {
  const text = ethtool('-k', dev);
  const out = new Map<string, FeatureState>();
  for (const [key, name] of PCAP_OFFLOADS) {
    const m = new RegExp(`^${name}: (on|off)( \\[fixed\\])?`, 'm').exec(text);
    if (m) out.set(key, { on: m[1] === 'on', fixed: m[2] !== undefined });
  }
  return out;
}

function turn(dev: string, keys: readonly string[], state: 'on' | 'off'): void {
  if (keys.length === 0) return;
  ethtool('-K', dev, ...keys.flatMap((k) => [k, state]));
}

/**
 * Turn off `dev`'s offloads for a libpcap port; returns the keywords that are off because of xvs (all it turned
 * off now or on an earlier start, which the record keeps). Idempotent across restarts: an existing record is
 * kept, the features are switched off again. Throws ConfigError naming `field` (and puts back what it changed)
 * when a segmentation or aggregation offload stays on.
 */
export function disableOffloadsForPcap(dev: string, record: NetdevRecord, field: string): string[] {
  const before = offloadState(dev);
  const changeable = PCAP_OFFLOADS.map(([k]) => k).filter((k) => before.get(k)?.on === true && before.get(k)?.fixed === false);
  const recorded = record.offloadsOf(dev) ?? [];
  // recorded before the change: after a kill in between, the next start turns them on again
  const mine = [...recorded, ...changeable.filter((k) => !recorded.includes(k))];
  if (record.offloadsOf(dev) === undefined || mine.length > recorded.length) record.saveOffloads(dev, mine);
  try {
    turn(dev, changeable, 'off');
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    restoreOffloads(dev, record, () => {});
    throw new ConfigError(field, `cannot turn off the offloads of "${dev}" for libpcap (${changeable.join(', ')}): ${(err.stderr ?? err.message).trim()}`);
  }
  const after = offloadState(dev);
  const stuck = [...after].filter(([k, s]) => MUST_BE_OFF.has(k) && s.on).map(([k]) => PCAP_OFFLOADS.find(([x]) => x === k)?.[1] ?? k);
  if (stuck.length > 0) {
    restoreOffloads(dev, record, () => {});
    throw new ConfigError(field, `"${dev}" keeps ${stuck.join(', ')} on (fixed by its driver): libpcap cannot carry the virtio-net ` +
      'header, so it would read frames larger than the MTU that the switch cannot describe; use the default AF_PACKET I/O (io afpacket)');
  }
  return mine;
}

/** Turn back on what xvs turned off on `dev` for a libpcap port, and forget it. Problems are logged. */
export function restoreOffloads(dev: string, record: NetdevRecord, log: (m: string) => void): void {
  const keys = record.offloadsOf(dev);
  if (keys === undefined) return;
  if (netdevExists(dev) && keys.length > 0) {
    try {
      turn(dev, keys, 'on');
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      log(`${dev}: could not turn its offloads (${keys.join(', ')}) back on: ${(err.stderr ?? err.message).trim()}`);
    }
  }
  record.forgetOffloads(dev);
}

/** `tso, gso, gro, tx` as the full names `ethtool -k` shows */
export function offloadNames(keys: readonly string[]): string[] {
  return keys.map((k) => PCAP_OFFLOADS.find(([x]) => x === k)?.[1] ?? k);
}
