/**
 * The first stage of every batch: reject what is not an Ethernet frame the switch can forward.
 * Malformed input is a counted drop with a named reason, never an exception.
 *
 *   runt            shorter than 14 bytes
 *   oversize        longer than MTU + 14 + 4 (one VLAN tag) and not a GSO frame (virtio-net
 *                   header gso_type 0); GSO frames up to 64 KiB are legal with offloads on
 *   bad-ethertype   type/length field 1501..1535 (neither an 802.3 length nor an EtherType)
 *   bad-source-mac  source MAC multicast/broadcast or all-zero (a switch must never learn these)
 */
import type { Batch } from '../core/batch.js';
import { DropReason } from '../core/drop-reasons.js';
import type { FramePool } from '../core/frame-pool.js';
import { ETH_HLEN } from './ethernet.js';

const RUNT = DropReason['runt'];
const OVERSIZE = DropReason['oversize'];
const BAD_TYPE = DropReason['bad-ethertype'];
const BAD_SRC = DropReason['bad-source-mac'];

export function validateFrames(batch: Batch, pool: FramePool, mtu: number): void {
  const bytes = pool.bytes;
  const slotSize = pool.slotSize;
  const start = pool.start;
  const len = pool.len;
  const maxLen = mtu + ETH_HLEN + 4;
  for (let i = 0; i < batch.count; i++) {
    const id = batch.ids[i];
    const l = len[id];
    if (l < ETH_HLEN) {
      batch.drop(i, RUNT);
      continue;
    }
    const off = id * slotSize + start[id];
    // byte 1 of the slot's virtio-net header is gso_type (0 = VIRTIO_NET_HDR_GSO_NONE)
    if (l > maxLen && bytes[id * slotSize + 1] === 0) {
      batch.drop(i, OVERSIZE);
      continue;
    }
    const type = (bytes[off + 12] << 8) | bytes[off + 13];
    if (type > 1500 && type < 1536) {
      batch.drop(i, BAD_TYPE);
      continue;
    }
    if ((bytes[off + 6] & 1) !== 0 ||
        (bytes[off + 6] | bytes[off + 7] | bytes[off + 8] | bytes[off + 9] | bytes[off + 10] | bytes[off + 11]) === 0) {
      batch.drop(i, BAD_SRC);
    }
  }
}

/** validateFrames as a pipeline stage, with the MTU of the batch's source port. */
export class ValidateStage {
  readonly name = 'validate';
  /** MTU by port index (default 1500) */
  readonly mtuByPort: Int32Array;
  constructor(maxPorts: number) {
    this.mtuByPort = new Int32Array(maxPorts).fill(1500);
  }
  process(batch: Batch, pool: FramePool): void {
    validateFrames(batch, pool, batch.inPort >= 0 ? this.mtuByPort[batch.inPort] : 65535);
  }
}
