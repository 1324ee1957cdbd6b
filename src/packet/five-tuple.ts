/**
 * FiveTuple: a frame's IP addresses, protocol and ports read in place into a reusable object (one
 * per worker; no allocation per frame), for the extended port ACLs and their flow states. The frame
 * semantics are match.ts's, except that up to two 802.1Q/802.1ad tags are skipped; IPv4 honours IHL and the total
 * length; IPv6 walks the extension header chain (at most MAX_IPV6_EXT_HEADERS) to the upper-layer
 * protocol; a non-first fragment has no L4 header (its protocol is known, its ports are not).
 */
import { MAX_IPV6_EXT_HEADERS } from './match.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN } from './ethernet.js';

export const enum TupleKind {
  /** neither IPv4 nor IPv6 (ARP, LLDP, …) */
  notIp = 0,
  /** an IPv4/IPv6 EtherType whose header is too short or inconsistent: addresses unknown */
  badIp = 1,
  /** addresses known; `proto` is -1 when the IPv6 chain could not be walked */
  ip = 2,
}

export class FiveTuple {
  kind: TupleKind = TupleKind.notIp;
  /** 4 or 6 */
  family = 0;
  /** upper-layer protocol, -1 unknown */
  proto = -1;
  /** the frame's bytes and where its source and destination addresses start (4 or 16 bytes) */
  bytes: Uint8Array = new Uint8Array(0);
  srcOff = 0;
  dstOff = 0;
  /** TCP/UDP ports read (false for other protocols, non-first fragments, a truncated L4 header) */
  hasPorts = false;
  srcPort = 0;
  dstPort = 0;
  /** ICMP (IPv4) or ICMPv6 header present: its type and (echo) identifier */
  hasIcmp = false;
  icmpType = 0;
  icmpId = 0;
  /** a non-first fragment (no L4 header) */
  laterFragment = false;

  /** address word w (0..3; IPv4: 0 only) of the source or destination, big-endian as int32 */
  srcWord(w: number): number { return s32(this.bytes, this.srcOff + 4 * w); }
  dstWord(w: number): number { return s32(this.bytes, this.dstOff + 4 * w); }

  /** read frame bytes b[off .. off+len) */
  read(b: Uint8Array, off: number, len: number): TupleKind {
    const end = off + len <= b.length ? off + len : b.length;
    if (off < 0 || end - off < 14) return this.none(TupleKind.notIp);
    const type = (b[off + 12] << 8) | b[off + 13];
    if (this.bytes !== b) this.bytes = b; // the pool's one array: no store (and write barrier) per frame
    // untagged frames go straight to the IP header at a fixed offset from `off`: V8 compiles the
    // header reads about twice as fast so as after a tag test that makes the offset variable (measured)
    if (type === ETHERTYPE_IPV4) return this.ipv4(b, off + 14, end);
    if (type === ETHERTYPE_IPV6) return this.ipv6(b, off + 14, end);
    if (type === ETHERTYPE_VLAN || type === 0x88a8) return this.tagged(b, off, end);
    return this.none(TupleKind.notIp);
  }

  /** up to two tags (802.1ad + 802.1Q): a double-tagged IP frame is judged too, not waved through */
  private tagged(b: Uint8Array, off: number, end: number): TupleKind {
    let p = off + 16;
    let type = 0;
    for (let tags = 0; tags < 2; tags++) {
      if (end - p < 2) return this.none(TupleKind.notIp);
      type = (b[p] << 8) | b[p + 1];
      if (type !== ETHERTYPE_VLAN && type !== 0x88a8) break;
      p += 4;
    }
    if (type === ETHERTYPE_IPV4) return this.ipv4(b, p + 2, end);
    if (type === ETHERTYPE_IPV6) return this.ipv6(b, p + 2, end);
    return this.none(TupleKind.notIp);
  }

  private none(kind: TupleKind): TupleKind {
    this.proto = -1;
    this.hasPorts = false;
    this.hasIcmp = false;
    this.laterFragment = false;
    return (this.kind = kind);
  }

  private ipv4(b: Uint8Array, p: number, end: number): TupleKind {
    this.family = 4;
    if (end - p < 20 || b[p] >>> 4 !== 4) return this.none(TupleKind.badIp);
    const hl = (b[p] & 15) << 2;
    const total = (b[p + 2] << 8) | b[p + 3];
    if (hl < 20 || end - p < hl || total < hl) return this.none(TupleKind.badIp);
    this.srcOff = p + 12;
    this.dstOff = p + 16;
    const proto = b[p + 9];
    this.proto = proto;
    this.kind = TupleKind.ip;
    if ((((b[p + 6] << 8) | b[p + 7]) & 0x1fff) !== 0) {
      this.laterFragment = true;
      this.hasPorts = false;
      this.hasIcmp = false;
      return TupleKind.ip;
    }
    this.laterFragment = false;
    return this.l4(b, proto, p + hl, p + total < end ? p + total : end);
  }

  private ipv6(b: Uint8Array, p: number, end: number): TupleKind {
    this.family = 6;
    if (end - p < 40 || b[p] >>> 4 !== 6) return this.none(TupleKind.badIp);
    this.srcOff = p + 8;
    this.dstOff = p + 24;
    const plen = (b[p + 4] << 8) | b[p + 5];
    const ipEnd = plen === 0 || p + 40 + plen > end ? end : p + 40 + plen;
    let proto = b[p + 6];
    let l4 = p + 40;
    this.laterFragment = false;
    for (let hops = 0; proto === 0 || proto === 43 || proto === 60 || proto === 44 || proto === 51 || proto === 135 || proto === 139 || proto === 140; hops++) {
      if (hops === MAX_IPV6_EXT_HEADERS || ipEnd - l4 < 8) { proto = -1; l4 = -1; break; }
      const next = b[l4];
      if (proto === 44) {
        if ((((b[l4 + 2] << 8) | b[l4 + 3]) & 0xfff8) !== 0) { proto = next; l4 = -1; this.laterFragment = true; break; }
        l4 += 8;
      } else {
        l4 += proto === 51 ? (b[l4 + 1] + 2) << 2 : (b[l4 + 1] + 1) << 3;
      }
      proto = next;
      if (l4 > ipEnd) { proto = -1; l4 = -1; break; }
    }
    this.proto = proto;
    this.kind = TupleKind.ip;
    if (l4 < 0) {
      this.hasPorts = false;
      this.hasIcmp = false;
      return TupleKind.ip;
    }
    return this.l4(b, proto, l4, ipEnd);
  }

  /** the TCP/UDP ports or the ICMP type and identifier at b[l4 .. ipEnd) */
  private l4(b: Uint8Array, proto: number, l4: number, ipEnd: number): TupleKind {
    if ((proto === 6 || proto === 17) && ipEnd - l4 >= 4) {
      this.hasPorts = true;
      this.hasIcmp = false;
      this.srcPort = (b[l4] << 8) | b[l4 + 1];
      this.dstPort = (b[l4 + 2] << 8) | b[l4 + 3];
    } else if (((proto === 1 && this.family === 4) || (proto === 58 && this.family === 6)) && ipEnd - l4 >= 8) {
      this.hasPorts = false;
      this.hasIcmp = true;
      this.icmpType = b[l4];
      this.icmpId = (b[l4 + 4] << 8) | b[l4 + 5];
    } else {
      this.hasPorts = false;
      this.hasIcmp = false;
    }
    return TupleKind.ip;
  }
}

export function s32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}
