/**
 * libpcap backend (`--io pcap`): the port's netdev is read with pcap_dispatch and written with pcap_inject,
 * through the native edge's pcap* calls (ports/native/xvs_pcap.c), in batches like every other backend.
 *
 * libpcap carries no virtio-net header, so such a port loses the offload path: frames it receives must be
 * wire-sized (the control plane turns the netdev's offloads off first: ports/offloads.ts), and frames it sends
 * that came from a vnet-header port with a partial checksum or as a GSO super-frame are completed in software
 * in the native edge (checksum filled in, or cut into segments). AF_PACKET (afpacket.ts) stays the default.
 */
import { native, type PcapPortStats } from './native/index.js';
import { NativePort, type EdgeCalls } from './native-port.js';

/** The pcap* calls under the names NativePort uses (the same signatures; the addon's functions ignore `this`). */
export const PCAP_EDGE: EdgeCalls = {
  portFd: native.pcapFd,
  recvBatch: native.pcapRecvBatch,
  sendBatch: native.pcapSendBatch,
  portStats: native.pcapStats,
  closePort: native.pcapClose,
};

export class PcapPort extends NativePort {
  private readonly handle: number;

  constructor(ifname: string, opts: { rx: boolean }) {
    const h = native.pcapOpen(ifname, { rx: opts.rx });
    super(h, PCAP_EDGE);
    this.handle = h;
  }

  /** every pcap counter of this handle (ring drops, software checksums and segments) */
  pcapStats(): PcapPortStats {
    return native.pcapStats(this.handle);
  }
}

/** the libpcap version string, e.g. "libpcap version 1.10.3 (with TPACKET_V3)" */
export function pcapVersion(): string {
  return native.pcapVersion();
}
