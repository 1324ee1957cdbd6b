/**
 * TAP backend: xvs holds a queue fd of a TAP itself. Used for the internal (host) port, whose
 * netdev carries the host's IP addresses: what the host stack sends on the netdev is read here,
 * what the switch writes here the host stack receives. The TAP is multi-queue so that every
 * worker of a switch holds its own queue (the kernel spreads host traffic over the queues by flow).
 *
 * VM ports are TAPs too, but QEMU holds their fds; the switch reaches those through the netdev
 * with the AF_PACKET backend, exactly as the Linux bridge does.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import { tapQueueAction, tapQueueText, type TapQueueAction } from './guest-queues.js';
import { native } from './native/index.js';
import { NativePort } from './native-port.js';
import { tapHolders } from './netdev.js';

/** IFF_MULTI_QUEUE in a TAP's tun_flags (linux/if_tun.h) */
const IFF_MULTI_QUEUE = 0x0100;

export class TapFdPort extends NativePort {
  constructor(name: string, opts: { multiQueue: boolean; vnetHdr?: boolean }) {
    super(native.openTapPort(name, { vnetHdr: opts.vnetHdr ?? true, multiQueue: opts.multiQueue }));
  }
}

/** Persistent TAP for a VM port (QEMU attaches by name) or the host port. */
export function createPersistentTap(name: string, multiQueue: boolean): void {
  native.tapCreate(name, multiQueue);
}

export function destroyPersistentTap(name: string): void {
  native.tapDestroy(name);
}

/** whether existing TAP `name` is multi-queue (IFF_MULTI_QUEUE in /sys/class/net/<name>/tun_flags) */
export function tapIsMultiQueue(name: string): boolean {
  return (parseInt(readFileSync(`/sys/class/net/${name}/tun_flags`, 'utf8'), 16) & IFF_MULTI_QUEUE) !== 0;
}

/**
 * Make existing TAP `name` fit a VM port of `queues` queue pairs (guest-queues.ts): kept when its multi-queue
 * flag fits, recreated with the right one when xvs made it (`owned`) and no process holds it, else refused
 * with a ConfigError on `field`. Returns what was done.
 */
export function fitTapQueues(name: string, queues: number, owned: boolean, field: string): Exclude<TapQueueAction, 'refuse'> {
  const mq = tapIsMultiQueue(name);
  // who holds it is read only when the flag does not fit (a scan of /proc); a holder is named even on a TAP
  // not xvs's (one left behind by `port remove --force` while QEMU kept it)
  const holders = mq === queues > 1 ? [] : tapHolders(name);
  const action = tapQueueAction(mq, queues, owned, holders.length > 0);
  if (action === 'keep') return action;
  const want = tapQueueText(queues > 1);
  if (action === 'refuse') {
    const why = holders.length > 0
      ? `it is held by ${holders.map((h) => `pid ${h.pid} (${h.comm})`).join(', ')}: stop the VM first`
      : 'xvs did not create it: remove it, or make it anew with `ip tuntap add dev NAME mode tap' + (queues > 1 ? ' multi_queue`' : '`');
    throw new ConfigError(field, `TAP "${name}" exists ${tapQueueText(mq)}, but ${queues} queue(s) need a ${want} TAP ` +
      `(QEMU could not attach); ${why}`);
  }
  destroyPersistentTap(name);
  createPersistentTap(name, queues > 1);
  return action;
}
