/**
 * VLAN state of one data-path worker, written by the VLAN policy (policy/vlan) when the port settings
 * change and read by the engine at transmit (tagging) and by the MAC table access (forward/fdb.ts:
 * VLAN → filtering id). While no port of the switch has a VLAN setting other than untagged the
 * switch is VLAN-transparent: `aware` is false, tags pass untouched, every pool.vlan is 0, `fid` is
 * the identity, and the engine pays one boolean test per port flush.
 *
 * In-place 802.1Q tag pop and push on a frame slot (no copy of the payload: the 12 MAC bytes move
 * 4 bytes, start moves 4 bytes into or out of the headroom). The virtio-net header's offsets count
 * from the MAC header, so csum_start (when NEEDS_CSUM) and hdr_len (when set) move with the tag,
 * as the native rx edge does when it re-inserts a tag the kernel stripped (ports/native/xvs_native.c).
 */
import { VNET_HDR_LEN, type FramePool } from './frame-pool.js';

export const TPID_8021Q = 0x8100;
export const VLAN_IDS = 4096;

export class VlanTables {
  /** true once a port has a VLAN setting other than untagged (frames are classified and tagged at tx) */
  aware = false;
  /** VLAN → filtering id, the MAC-table context: the VLAN itself, a private VLAN's secondaries → its primary */
  readonly fid = new Uint16Array(VLAN_IDS);
  /** per port: 1 = a trunk-like port (trunk, uplink) that sends frames tagged, except those on txUntaggedVlan */
  readonly txTagged: Uint8Array;
  /** per port: the VLAN a trunk-like port sends untagged (its native VLAN; 0 for the uplink) */
  readonly txUntaggedVlan: Uint16Array;

  constructor(maxPorts: number) {
    this.txTagged = new Uint8Array(maxPorts);
    this.txUntaggedVlan = new Uint16Array(maxPorts);
    this.resetFid();
  }

  resetFid(): void {
    for (let v = 0; v < VLAN_IDS; v++) this.fid[v] = v;
  }
}

/**
 * In-place 802.1Q tag pop and push on the slots of one pool. When the MAC header sits on a 4-byte
 * boundary (always, unless something moved `start` by an odd amount) the 12 MAC bytes move as three
 * 32-bit words (a byte loop costs ~10× as much); otherwise byte by byte. Assumes a little-endian host,
 * as the native edge does for the virtio-net header.
 */
export class VlanTagEditor {
  readonly #pool: FramePool;
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;

  constructor(pool: FramePool) {
    this.#pool = pool;
    this.#bytes = pool.bytes;
    this.#words = new Uint32Array(pool.buffer, 0, pool.buffer.byteLength >>> 2);
  }

  /**
   * If frame `id` carries an 802.1Q tag, remove it in place and return its TCI (0..0xffff); else -1.
   * Frames shorter than a tagged header are left alone (-1).
   */
  pop(id: number): number {
    const pool = this.#pool;
    const len = pool.len[id];
    if (len < 18) return -1;
    const bytes = this.#bytes;
    const base = id * pool.slotSize;
    const off = base + pool.start[id];
    if (bytes[off + 12] !== 0x81 || bytes[off + 13] !== 0x00) return -1;
    const tci = (bytes[off + 14] << 8) | bytes[off + 15];
    if ((off & 3) === 0) {
      const w = this.#words;
      const o = off >>> 2;
      w[o + 3] = w[o + 2];
      w[o + 2] = w[o + 1];
      w[o + 1] = w[o];
    } else {
      for (let k = 11; k >= 0; k--) bytes[off + 4 + k] = bytes[off + k];
    }
    pool.start[id] += 4;
    pool.len[id] = len - 4;
    if (bytes[base] !== 0 || bytes[base + 2] !== 0 || bytes[base + 3] !== 0) shiftVnetOffsets(bytes, base, -4);
    return tci;
  }

  /**
   * Insert an 802.1Q tag with VLAN `vid` (priority 0, DEI 0) in place, in the headroom; false when the
   * slot has no 4 bytes of headroom left (the frame is then sent as it is).
   */
  push(id: number, vid: number): boolean {
    const pool = this.#pool;
    const start = pool.start[id];
    if (start < VNET_HDR_LEN + 4 || pool.len[id] < 12) return false;
    const bytes = this.#bytes;
    const base = id * pool.slotSize;
    const off = base + start - 4;
    if ((off & 3) === 0) {
      const w = this.#words;
      const o = off >>> 2;
      w[o] = w[o + 1];
      w[o + 1] = w[o + 2];
      w[o + 2] = w[o + 3];
      w[o + 3] = 0x81 | ((vid >>> 8) & 0x0f) << 16 | (vid & 0xff) << 24; // bytes 81 00 vid_hi vid_lo
    } else {
      for (let k = 0; k < 12; k++) bytes[off + k] = bytes[off + 4 + k];
      bytes[off + 12] = 0x81;
      bytes[off + 13] = 0x00;
      bytes[off + 14] = (vid >>> 8) & 0x0f;
      bytes[off + 15] = vid & 0xff;
    }
    pool.start[id] = start - 4;
    pool.len[id] += 4;
    if (bytes[base] !== 0 || bytes[base + 2] !== 0 || bytes[base + 3] !== 0) shiftVnetOffsets(bytes, base, 4);
    return true;
  }
}

/**
 * Shift the virtio-net header's MAC-relative offsets of slot `base` by `delta` bytes (a tag or an outer
 * header pushed in front of the MAC header: delta > 0; removed: delta < 0). Also used by policy/hnv.
 */
export function shiftVnetOffsets(bytes: Uint8Array, base: number, delta: number): void {
  if ((bytes[base] & 1) !== 0) { // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start at 6..7 LE
    const cs = (bytes[base + 6] | (bytes[base + 7] << 8)) + delta;
    bytes[base + 6] = cs & 0xff;
    bytes[base + 7] = (cs >>> 8) & 0xff;
  }
  const hl = bytes[base + 2] | (bytes[base + 3] << 8); // hdr_len at 2..3 LE (0 = unset)
  if (hl !== 0) {
    const n = hl + delta;
    bytes[base + 2] = n & 0xff;
    bytes[base + 3] = (n >>> 8) & 0xff;
  }
}

/** one-off pop (tests, control plane); the data path keeps a VlanTagEditor */
export function popTag(pool: FramePool, id: number): number {
  return new VlanTagEditor(pool).pop(id);
}

/** one-off push (tests, control plane); the data path keeps a VlanTagEditor */
export function pushTag(pool: FramePool, id: number, vid: number): boolean {
  return new VlanTagEditor(pool).push(id, vid);
}
