/**
 * Ethernet helpers over (bytes, offset). No objects, no subarrays: the hot path reads bytes where
 * they lie in the frame pool.
 */
export const ETH_HLEN = 14;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

export function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** High 16 bits of the MAC at off (bytes 0–1). */
export function macHi(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Low 32 bits of the MAC at off (bytes 2–5), as a signed int32 (fits an Int32Array). */
export function macLo(b: Uint8Array, off: number): number {
  return (b[off + 2] << 24) | (b[off + 3] << 16) | (b[off + 4] << 8) | b[off + 5];
}

export function isGroupMac(b: Uint8Array, off: number): boolean {
  return (b[off] & 1) !== 0;
}

export function macToString(hi: number, lo: number): string {
  const h = (x: number): string => (x & 0xff).toString(16).padStart(2, '0');
  return [h(hi >>> 8), h(hi), h(lo >>> 24), h(lo >>> 16), h(lo >>> 8), h(lo)].join(':');
}

/** Parse "aa:bb:cc:dd:ee:ff" into 6 bytes, or null if malformed. */
export function parseMac(s: string): Uint8Array | null {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  if (!m) return null;
  return Uint8Array.from(m.slice(1, 7).map((x) => parseInt(x, 16)));
}
