/**
 * Typed wrapper of the xvs native edge (`build/Release/xvs_native.node`, built from `xvs_native.c`
 * by `scripts/build-native.sh`). The contract is `SPEC.md` in this folder.
 *
 * The addon is context-aware: importing this module in the main thread and in any number of
 * worker_threads gives each thread its own instance. Handles (from `openPort`/`openTapPort`) belong
 * to the thread that opened them; pass frame ids between threads, never handles.
 */
import { createRequire } from 'node:module';
import { repoRoot } from '../../repo-root.js';
import path from 'node:path';

export interface PortOptions {
  /** map an rx ring (TPACKET_V2); false: a tx-only socket */
  rx: boolean;
  /** frames in the rx ring (one frame per block) */
  ringFrames: number;
  /** bytes per ring frame, rounded up to the page size; with vnetHdr it must hold 64 KiB GSO frames */
  frameSize: number;
  /** PACKET_VNET_HDR: a virtio_net_hdr travels with every frame (offload metadata end to end) */
  vnetHdr: boolean;
  fanout?: never;
}

export interface TapPortOptions {
  vnetHdr: boolean;
  multiQueue: boolean;
}

export interface PortStats {
  /** AF_PACKET: PACKET_STATISTICS tp_packets accumulated (includes drops); TAP: frames read */
  kernelPackets: number;
  /** AF_PACKET: PACKET_STATISTICS tp_drops accumulated (ring full); TAP: 0 */
  kernelDrops: number;
  /** frames cut by the ring (snaplen < len) or longer than slotSize - headroom; released unused */
  truncated: number;
  /** frames given to sendBatch that were not accepted (any reason) */
  sendErrors: number;
  /** how many times a send batch ended early because the socket or queue was full (EAGAIN/ENOBUFS) */
  sendBusy: number;
  /** VXLAN GSO frames sent whole through the port's tunnel TAP (attachTunnelTx) */
  tunnelGso: number;
  /** frames received zero-copy: headers in the slot, the tail left in the rx ring (SPEC.md "Zero-copy forwarding") */
  zeroCopy?: number;
  /** of those, frames still alive at the end of their batch whose tail recvDone copied into the slot */
  zeroCopyMaterialized?: number;
  /** references found stale (their port closed or moved first): such a frame is dropped, never read */
  zeroCopyStale?: number;
}

/** Byte length of the virtio-net header kept at slot bytes [0, 10). */
export const VNET_HDR_LEN = 10;

export interface NativeEdge {
  /** frames shorter than this are always received whole (ZC_MIN_LEN in xvs_native.c, SPEC.md "Zero-copy forwarding") */
  readonly zeroCopyMinLen: number;
  /** AF_PACKET SOCK_RAW port on netdev `ifname`. Returns a small integer handle (per thread).
   *  Throws an Error naming the interface and the errno (error.code is the errno name). */
  openPort(ifname: string, opts: PortOptions): number;
  closePort(h: number): void;
  /** the fd of handle h (for poll sets) */
  portFd(h: number): number;
  /** Copy up to `max` ready frames into slots popped from the top of `free`; returns n (caller: freeTop -= n). */
  recvBatch(h: number, pool: Uint8Array, slotSize: number, headroom: number,
            free: Uint32Array, freeTop: number, out: Uint32Array, outOff: number, max: number,
            start: Uint32Array, len: Uint32Array, zc?: Uint32Array, hdrCopy?: number): number;
  /** Send ids[off..off+n); returns how many were accepted (the rest are tx errors, not retried). */
  sendBatch(h: number, pool: Uint8Array, slotSize: number, ids: Uint32Array, off: number, n: number,
            start: Uint32Array, len: Uint32Array, zc?: Uint32Array): number;
  /** End of the batch recvBatch gave on h: slots still referencing its ring get their tail copied, the ring frames go back. */
  recvDone(h: number, pool: Uint8Array, slotSize: number, start: Uint32Array, len: Uint32Array, zc?: Uint32Array): void;
  /** Copy the ring tail of each of ids[off..off+n) into its slot (zc tail 0 after); returns how many had one. */
  materialize(pool: Uint8Array, slotSize: number, start: Uint32Array, len: Uint32Array, zc: Uint32Array,
              ids: Uint32Array, off: number, n: number): number;
  /** poll(POLLIN) on fds[0..n); returns the number ready (0 on timeout or EINTR). */
  pollIn(fds: Int32Array, n: number, timeoutMs: number): number;
  portStats(h: number): PortStats;
  /** pin the CALLING thread to `cpu` */
  setAffinity(cpu: number): void;
  /** gettid() of the calling thread */
  gettid(): number;
  /** sched_yield() of the calling thread */
  yieldCpu(): void;
  /** nice value of the calling thread only (-20..19) */
  setNice(nice: number): void;
  /** persistent TAP `name` (idempotent if it already is one with the same multi-queue flag) */
  tapCreate(name: string, multiQueue: boolean): void;
  /** TUNSETPERSIST 0 (the netdev goes once no fd holds it); no-op if no such TAP exists */
  tapDestroy(name: string): void;
  /** open and keep a queue fd on TAP `name` (gives it carrier); closeFd(fd) closes it */
  tapOpen(name: string, multiQueue: boolean): number;
  closeFd(fd: number): void;
  /** a port backed by a TAP queue fd that xvs holds; works with recvBatch/sendBatch/portFd/portStats/closePort */
  openTapPort(name: string, opts: TapPortOptions): number;
  /** move handle h out of this thread into the process's parking lot, fd and ring untouched; returns a ticket */
  parkPort(h: number): number;
  /** take a parked port into this thread (recvBatch goes on where the last reader stopped); returns its handle here */
  unparkPort(ticket: number): number;
  /** close a parked port nobody will take; false if the ticket holds none */
  dropParked(ticket: number): boolean;
  /** pin the CALLING thread to a set of CPUs (empty: every CPU) */
  setAffinityCpus(cpus: number[]): void;
  /** Open a queue fd of the multi-queue TAP `name` (created if absent; not persistent: it goes with its
   *  last fd) with the 24-byte UDP-tunnel virtio header and TUN_F_UDP_TUNNEL_GSO. Returns the fd (closeFd
   *  closes it), or -1 when the kernel has no UDP-tunnel GSO for TAPs (before Linux 6.17). */
  tunnelTapOpen(name: string): number;
  /** Give AF_PACKET port h (with the vnet header) a queue of tunnel TAP `name`: from then on sendBatch
   *  writes VXLAN GSO frames there whole (the TAP's ingress redirects them to the port's netdev).
   *  false when the kernel has no UDP-tunnel GSO for TAPs. */
  attachTunnelTx(h: number, name: string): boolean;
  /** Attach classic-BPF `program` (2 words per instruction: code | jt << 16 | jf << 24, then k; built by
   *  src/vmq/steer-bpf.ts) to socket `fd` with SO_ATTACH_FILTER, replacing any filter atomically; an empty
   *  program detaches it (xvs_steer.c). Throws (error.code = errno name) if the kernel refuses the program. */
  setRxFilter(fd: number, program: Uint32Array): void;
}

export interface PcapPortOptions {
  /** this handle receives (an rx ring of 4 MiB); false: tx only, with a reject-all filter so nothing is queued */
  rx: boolean;
}

/** portStats of a libpcap handle: pcap_stats plus the software offload work of its sends */
export interface PcapPortStats extends PortStats {
  /** pcap_stats ps_recv: frames the kernel passed to the handle */
  kernelPackets: number;
  /** pcap_stats ps_drop: frames dropped because the handle's ring was full */
  kernelDrops: number;
  /** pcap_stats ps_ifdrop: the interface's own drops since open */
  interfaceDrops: number;
  /** NEEDS_CSUM frames whose checksum was filled in before pcap_inject */
  checksumsCompleted: number;
  /** GSO frames cut into segments before pcap_inject, and the segments sent */
  gsoFrames: number;
  gsoSegments: number;
}

/**
 * The libpcap backend (xvs_pcap.c): the same batch contract as recvBatch/sendBatch/portFd/portStats/closePort,
 * on handles of its own (a pcap handle is not an openPort handle, and the other way round).
 */
export interface PcapEdge {
  /** pcap_create + snaplen 262144, promiscuous, immediate mode, pcap_activate, direction PCAP_D_IN, non-blocking */
  pcapOpen(ifname: string, opts: PcapPortOptions): number;
  pcapClose(h: number): void;
  /** pcap_get_selectable_fd (for poll sets) */
  pcapFd(h: number): number;
  /** pcap_dispatch(max) into slots popped from the top of `free`, as recvBatch */
  pcapRecvBatch(h: number, pool: Uint8Array, slotSize: number, headroom: number,
                free: Uint32Array, freeTop: number, out: Uint32Array, outOff: number, max: number,
                start: Uint32Array, len: Uint32Array): number;
  /** pcap_inject per frame (checksum completion / software GSO for vnet-header frames), as sendBatch */
  pcapSendBatch(h: number, pool: Uint8Array, slotSize: number, ids: Uint32Array, off: number, n: number,
                start: Uint32Array, len: Uint32Array): number;
  pcapStats(h: number): PcapPortStats;
  /** pcap_lib_version() */
  pcapVersion(): string;
}

/** sd_notify (src/service/sd_notify.c): sends the state lines to $NOTIFY_SOCKET; false when it is unset */
export interface NotifyEdge {
  notify(state: string): boolean;
}

/** Error thrown by the addon for a failed system call. */
export interface NativeError extends Error {
  /** errno name, e.g. "ENODEV" */
  code: string;
}

/** Absolute path of the compiled addon: <package root>/build/Release/xvs_native.node
 *  (this file runs as dist/src/ports/native/index.js). */
export const addonPath: string = path.resolve(
  repoRoot, 'build', 'Release', 'xvs_native.node');

const require = createRequire(import.meta.url);

/** The native edge of this thread. */
export const native: NativeEdge & PcapEdge & NotifyEdge = require(addonPath) as NativeEdge & PcapEdge & NotifyEdge;
