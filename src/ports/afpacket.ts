/**
 * AF_PACKET backend: an mmap'd TPACKET_V2 rx ring and sendmmsg tx, both with PACKET_VNET_HDR so
 * GSO frames and partial checksums pass through unchanged (the offload path; see docs/ARCHITECTURE.md
 * for why this is AF_PACKET directly and not libpcap, which cannot enable the vnet header).
 */
import { native } from './native/index.js';
import { NativePort } from './native-port.js';

export interface AfPacketOptions {
  rx: boolean;
  /** ring frames (each holds one frame of up to 64 KiB, the GSO maximum) */
  ringFrames?: number;
  vnetHdr?: boolean;
  /** zero-copy receive: bytes of each frame of 1024 bytes or more copied into its slot, the tail sent from the ring (0 = off) */
  hdrCopy?: number;
}

/** header bytes a zero-copy frame has in its slot: outer Ethernet/IPv4/UDP/VXLAN + inner Ethernet/IPv6/TCP with options fit */
export const ZERO_COPY_HDR = 256;

/** ring slot size: tpacket2_hdr + sockaddr_ll padding + vnet header + a 64 KiB GSO frame, page-rounded */
export const RING_FRAME_SIZE = 17 * 4096;
/** rx ring frames per port unless tuned (XVS_RING_FRAMES) */
export const DEFAULT_RING_FRAMES = 256;

export class AfPacketPort extends NativePort {
  constructor(ifname: string, opts: AfPacketOptions) {
    super(native.openPort(ifname, {
      rx: opts.rx,
      ringFrames: opts.rx ? (opts.ringFrames ?? DEFAULT_RING_FRAMES) : 0,
      frameSize: RING_FRAME_SIZE,
      vnetHdr: opts.vnetHdr ?? true,
    }), native, opts.rx ? (opts.hdrCopy ?? 0) : 0);
  }

  /** send VXLAN GSO frames whole through a queue of tunnel TAP `name` (ports/tunnel-tap.ts); false without kernel support */
  attachTunnelTx(name: string): boolean {
    return native.attachTunnelTx(this.h, name);
  }
}
