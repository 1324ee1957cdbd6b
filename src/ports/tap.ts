/**
 * TAP backend: xvs holds a queue fd of a TAP itself. Used for the internal (host) port, whose
 * netdev carries the host's IP addresses: what the host stack sends on the netdev is read here,
 * what the switch writes here the host stack receives. The TAP is multi-queue so that every
 * worker of a switch holds its own queue (the kernel spreads host traffic over the queues by flow).
 *
 * VM ports are TAPs too, but QEMU holds their fds; the switch reaches those through the netdev
 * with the AF_PACKET backend, exactly as the Linux bridge does.
 */
import { native } from './native/index.js';
import { NativePort } from './native-port.js';

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
