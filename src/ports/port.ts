/**
 * Port: how the data path reaches one netdev. One interface, several backends:
 *   afpacket.ts  AF_PACKET socket with an mmap rx ring and the virtio-net header (VM TAP netdevs that
 *                QEMU holds, veths, the external NIC)
 *   tap.ts       a TAP queue fd held by xvs itself (the internal/host port)
 *   pcap.ts      libpcap (pcap_dispatch / pcap_inject) on a VM port's netdev or the uplink (`--io pcap`)
 *   memory.ts    frames in memory (the in-process pipeline tests)
 *
 * Rules every backend follows (ports/compliance.ts pins them on real devices):
 *   recv  fills `out[0..n)` with slot ids popped from the pool's free stack, sets start/len and the
 *         virtio-net header bytes of each slot; never blocks; 0 means nothing ready.
 *   send  takes frames by id; the caller keeps ownership (frames are freed by the engine after
 *         every destination was sent); returns how many the kernel accepted, in order; the rest
 *         are counted by the caller as `tx-error` (no backlog: a full peer drops, as a NIC would).
 *   Calls happen only on the worker thread that opened the port.
 */
import type { FramePool } from '../core/frame-pool.js';

export interface PortIo {
  /** fd to poll for readability, or -1 when there is nothing to poll (memory backend). */
  readonly fd: number;
  recv(pool: FramePool, out: Uint32Array, max: number): number;
  /**
   * The batch the last recv() gave has been processed (sent, freed or kept): a zero-copy backend makes the
   * frames still alive whole and returns its ring frames (ports/native/SPEC.md "Zero-copy forwarding").
   */
  rxDone?(pool: FramePool): void;
  send(pool: FramePool, ids: Uint32Array, n: number): number;
  /** backend-level counters (kernel ring drops, truncated frames, VXLAN GSO frames sent through a tunnel TAP) */
  stats(): BackendStats;
  close(): void;
}

export interface BackendStats {
  kernelDrops: number;
  truncated: number;
  tunnelGso: number;
  /** frames received zero-copy (their tail sent from the rx ring) and, of those, made whole at the end of their batch */
  zeroCopy?: number;
  zeroCopyMaterialized?: number;
}

export type PortBackend = 'afpacket' | 'tapfd' | 'pcap';

/** What a worker needs to attach a port. Sent from the control plane in a message. */
export interface PortSpec {
  index: number;
  name: string;
  kind: 'vm' | 'external' | 'internal';
  netdev: string;
  backend: PortBackend;
  /** does this worker receive from the port (it owns the rx side)? */
  rx: boolean;
  mtu: number;
  /** the port is re-attached to a replacement worker: keep its counters (they live on in the same block) */
  keepCounters?: boolean;
  /** the uplink's tunnel TAP (ports/tunnel-tap.ts): VXLAN GSO frames leave through a queue of it */
  tunnelTap?: string;
  /**
   * uplink steering (vmq/uplink-steer.ts): this worker's rx socket on the port gets this classic-BPF program
   * (steer-bpf.ts) right after it is opened; `drain`: frames its ring took before the filter are dropped
   */
  rxFilter?: { program: Uint32Array; drain: boolean };
}
