/**
 * Guest multi-queue (docs/QUEUES.md "Guest multi-queue"): a VM port with `queues` N > 1 is a multi-queue TAP
 * (IFF_MULTI_QUEUE) that QEMU opens N times (`-netdev tap,…,queues=N`), one fd per virtio-net queue pair.
 *
 * The TAP's multi-queue flag must match what QEMU asks for: QEMU sets IFF_MULTI_QUEUE exactly when
 * queues > 1, and the kernel refuses (EINVAL, "could not configure /dev/net/tun") a TUNSETIFF whose flag
 * differs from the device's, in both directions. So 1 queue = a single-queue TAP (as before), N > 1 = a
 * multi-queue TAP. The kernel does not fix N for a multi-queue TAP (up to 256 fds may attach): N is what
 * xvs tells QEMU and the guest.
 *
 * The switch needs nothing per queue: it reaches a VM TAP through AF_PACKET on the netdev. Every queue's
 * frames from the guest enter the same netdev's receive path, where the packet socket sees them; what the
 * switch sends on the netdev is spread over the queues by the TAP (flow hash, "rx follows tx").
 *
 * Pure: the CLI uses it to print the QEMU arguments and the libvirt interface XML; ports/tap.ts acts on `tapQueueAction`'s answer.
 */

/**
 * The QEMU arguments that attach a VM to TAP port `tap` with `queues` queue pairs:
 * `-netdev tap,id=ID,ifname=TAP,script=no,downscript=no[,queues=N],vhost=off -device virtio-net-pci,netdev=ID[,mac=…][,mq=on,vectors=2N+2]`.
 * vectors: one MSI-X vector per rx and per tx queue, one for control and one for configuration changes.
 * vhost=off: the in-kernel vhost-net needs /dev/vhost-net (and KVM to pay off); left to the operator.
 */
export function qemuNetArgs(tap: string, queues: number, opts: { id?: string; mac?: string } = {}): string[] {
  const id = opts.id ?? `net-${tap}`;
  const mq = queues > 1;
  const netdev = `tap,id=${id},ifname=${tap},script=no,downscript=no${mq ? `,queues=${queues}` : ''},vhost=off`;
  const device = `virtio-net-pci,netdev=${id}${opts.mac !== undefined ? `,mac=${opts.mac}` : ''}${mq ? `,mq=on,vectors=${2 * queues + 2}` : ''}`;
  return ['-netdev', netdev, '-device', device];
}

/**
 * The libvirt `<interface>` element that attaches a domain to TAP port `tap` (docs/OPERATIONS.md "libvirt"):
 * `type='ethernet'` with `managed='no'`, so libvirt opens the TAP xvs made by name and neither creates nor
 * deletes it, nor changes its MTU, addresses or link state. libvirt opens it with IFF_VNET_HDR for a virtio
 * model (offloads pass through as with QEMU's own `-netdev tap`), and N times with IFF_MULTI_QUEUE for
 * `<driver queues='N'/>`, which must match the TAP's multi-queue flag just as QEMU's `queues=N`.
 * vhost is left to libvirt (it uses vhost-net only for KVM domains, where /dev/vhost-net exists).
 */
export function libvirtInterfaceXml(tap: string, queues: number, opts: { mac?: string } = {}): string {
  return [
    "<interface type='ethernet'>",
    ...(opts.mac !== undefined ? [`  <mac address='${opts.mac}'/>`] : []),
    `  <target dev='${tap}' managed='no'/>`,
    "  <model type='virtio'/>",
    ...(queues > 1 ? [`  <driver queues='${queues}'/>`] : []),
    '</interface>',
  ].join('\n');
}

/** What to do with an existing TAP whose multi-queue flag differs from the port's `queues` */
export type TapQueueAction = 'keep' | 'recreate' | 'refuse';

/**
 * An existing TAP for a port of `queues` queue pairs: kept when its multi-queue flag fits; recreated when it
 * does not and xvs made it and nothing holds it (no VM attached: nothing is lost); refused otherwise (a TAP
 * someone else made is theirs to change, and one a VM holds cannot change under it).
 */
export function tapQueueAction(tapIsMultiQueue: boolean, queues: number, ownedByXvs: boolean, held: boolean): TapQueueAction {
  if (tapIsMultiQueue === queues > 1) return 'keep';
  return ownedByXvs && !held ? 'recreate' : 'refuse';
}

/** "single-queue" / "multi-queue" */
export function tapQueueText(multiQueue: boolean): string {
  return multiQueue ? 'multi-queue' : 'single-queue';
}
