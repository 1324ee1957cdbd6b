/**
 * Where a frame's upper-layer (L4) header starts, read in place into a reusable object (one per
 * module instance; no allocation per frame), for the DHCP and router guards. The frame semantics
 * are packet/match.ts's: one 802.1Q/802.1ad tag is skipped; IPv4 honours IHL and the total length,
 * and a non-first fragment has no L4 header; IPv6 honours the payload length and walks the
 * extension header chain (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP,
 * shim6; at most MAX_IPV6_EXT_HEADERS) to the upper-layer protocol. A chain that is longer, or runs
 * past the packet, leaves `unwalkable` set: its protocol is unknown (RFC 7113 says an RA guard
 * must not let such a packet through).
 */
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN } from '../../packet/ethernet.js';
import { MAX_IPV6_EXT_HEADERS } from '../../packet/match.js';

export class L4Header {
  /** 0 not IP, 4 or 6 */
  family = 0;
  /** upper-layer protocol (after the IPv6 chain), -1 unknown */
  proto = -1;
  /** offset of the L4 header in the bytes, -1 when there is none (non-first fragment, bad header) */
  l4 = -1;
  /** end of the IP packet (the total length, or the frame's end if shorter) */
  end = 0;
  /** a non-first fragment: its protocol is known, its L4 header is in the first fragment */
  laterFragment = false;
  /** IPv6 whose extension header chain is too long or runs past the packet */
  unwalkable = false;

  /** read bytes b[off .. off+len); returns the IP family (0 = not IP or no valid IP header) */
  read(b: Uint8Array, off: number, len: number): number {
    this.family = 0;
    this.proto = -1;
    this.l4 = -1;
    this.laterFragment = false;
    this.unwalkable = false;
    const end = off + len <= b.length ? off + len : b.length;
    if (off < 0 || end - off < 14) return 0;
    let p = off + 12;
    let type = (b[p] << 8) | b[p + 1];
    if (type === ETHERTYPE_VLAN || type === 0x88a8) {
      if (end - p < 6) return 0;
      p += 4;
      type = (b[p] << 8) | b[p + 1];
    }
    p += 2;
    if (type === ETHERTYPE_IPV4) {
      if (end - p < 20 || b[p] >>> 4 !== 4) return 0;
      const hl = (b[p] & 15) << 2;
      const total = (b[p + 2] << 8) | b[p + 3];
      if (hl < 20 || end - p < hl || total < hl) return 0;
      this.family = 4;
      this.end = p + total < end ? p + total : end;
      this.proto = b[p + 9];
      if ((((b[p + 6] << 8) | b[p + 7]) & 0x1fff) === 0) this.l4 = p + hl;
      else this.laterFragment = true;
      return 4;
    }
    if (type !== ETHERTYPE_IPV6 || end - p < 40 || b[p] >>> 4 !== 6) return 0;
    this.family = 6;
    const plen = (b[p + 4] << 8) | b[p + 5];
    const ipEnd = plen === 0 || p + 40 + plen > end ? end : p + 40 + plen;
    this.end = ipEnd;
    let proto = b[p + 6];
    let l4 = p + 40;
    for (let hops = 0; proto === 0 || proto === 43 || proto === 60 || proto === 44 || proto === 51 || proto === 135 || proto === 139 || proto === 140; hops++) {
      if (hops === MAX_IPV6_EXT_HEADERS || ipEnd - l4 < 8) { this.unwalkable = true; return 6; }
      const next = b[l4];
      if (proto === 44) {
        if ((((b[l4 + 2] << 8) | b[l4 + 3]) & 0xfff8) !== 0) { this.proto = next; this.laterFragment = true; return 6; }
        l4 += 8;
      } else {
        l4 += proto === 51 ? (b[l4 + 1] + 2) << 2 : (b[l4 + 1] + 1) << 3;
      }
      proto = next;
      if (l4 > ipEnd) { this.unwalkable = true; return 6; }
    }
    this.proto = proto;
    this.l4 = l4;
    return 6;
  }
}
