/**
 * Address forms of port ACL entries (Add-VMNetworkAdapterAcl) turned into numbers at
 * configuration time, and a frame's addresses read in place at packet time.
 *
 *   IP:  a host ("10.0.0.1", "f001::1"), a prefix ("192.168.1.0/24", "f001::/64", "0.0.0.0/0",
 *        "::/0") or "any" (both families, length 0). Host bits of a prefix are ignored here (the
 *        settings schema refuses them).
 *   MAC: "00-ab-00-11-22-33", "00:ab:00:11:22:33" or "any".
 */
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, macHi, macLo, parseMac } from '../../packet/ethernet.js';
import { parseIPv4, parseIPv6 } from '../../packet/addr.js';

/** an IP prefix as big-endian int32 words: family 0 = "any" (matches IPv4 and IPv6) */
export interface IpPrefix {
  family: 0 | 4 | 6;
  len: number;
  /** 4 words (IPv4: word 0) of the network and of the mask */
  net: Int32Array;
  mask: Int32Array;
}

export interface MacAddress {
  any: boolean;
  hi: number;
  lo: number;
}

function s32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** "10.0.0.0/8", "f001::1", "any" → a prefix, or an Error naming the expected forms */
export function parseIpPrefix(text: string): IpPrefix {
  const s = text.trim();
  const net = new Int32Array(4);
  const mask = new Int32Array(4);
  if (s.toLowerCase() === 'any') return { family: 0, len: 0, net, mask };
  const slash = s.indexOf('/');
  const a = slash < 0 ? s : s.slice(0, slash);
  const v4 = parseIPv4(a);
  const addr = v4 ?? parseIPv6(a);
  const bad = (): Error => new Error(`expected an IPv4 or IPv6 host or prefix (10.0.0.1, 10.0.0.0/8, f001::/64) or "any", got ${JSON.stringify(text)}`);
  if (!addr) throw bad();
  const max = v4 ? 32 : 128;
  const lenText = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw bad();
  const len = Number(lenText);
  for (let w = 0; w < addr.length / 4; w++) {
    const bits = Math.min(32, Math.max(0, len - w * 32));
    mask[w] = bits === 0 ? 0 : bits === 32 ? -1 : ~(0xffffffff >>> bits);
    net[w] = s32(addr, w * 4) & mask[w];
  }
  return { family: v4 ? 4 : 6, len, net, mask };
}

export function parseAclMac(text: string): MacAddress {
  if (text.trim().toLowerCase() === 'any') return { any: true, hi: 0, lo: 0 };
  const m = parseMac(text.trim());
  if (!m) throw new Error(`expected a MAC address (00-ab-00-11-22-33 or 00:ab:00:11:22:33) or "any", got ${JSON.stringify(text)}`);
  return { any: false, hi: macHi(m, 0), lo: macLo(m, 0) };
}

export const FRAME_NOT_IP = 0;
/** an ARP packet for IPv4: its sender and target protocol addresses stand for source and destination */
export const FRAME_ARP = 1;
export const FRAME_IPV4 = 4;
export const FRAME_IPV6 = 6;

/**
 * A frame's IP source and destination, read in place into reused words (one per hook): IPv4 and
 * IPv6 headers (one 802.1Q/802.1ad tag skipped), and IPv4-over-Ethernet ARP (sender → src, target
 * → dst). No allocation.
 */
export class FrameAddresses {
  kind = FRAME_NOT_IP;
  readonly src = new Int32Array(4);
  readonly dst = new Int32Array(4);

  read(b: Uint8Array, off: number, len: number): number {
    this.kind = FRAME_NOT_IP;
    const end = off + len <= b.length ? off + len : b.length;
    if (off < 0 || end - off < 14) return FRAME_NOT_IP;
    let p = off + 12;
    let type = (b[p] << 8) | b[p + 1];
    if (type === ETHERTYPE_VLAN || type === 0x88a8) {
      if (end - p < 6) return FRAME_NOT_IP;
      p += 4;
      type = (b[p] << 8) | b[p + 1];
    }
    p += 2;
    if (type === ETHERTYPE_IPV4) {
      if (end - p < 20 || b[p] >>> 4 !== 4) return FRAME_NOT_IP;
      this.src[0] = s32(b, p + 12);
      this.dst[0] = s32(b, p + 16);
      this.src[1] = 0; this.src[2] = 0; this.src[3] = 0;
      this.dst[1] = 0; this.dst[2] = 0; this.dst[3] = 0;
      this.kind = FRAME_IPV4;
    } else if (type === ETHERTYPE_IPV6) {
      if (end - p < 40 || b[p] >>> 4 !== 6) return FRAME_NOT_IP;
      for (let w = 0; w < 4; w++) {
        this.src[w] = s32(b, p + 8 + 4 * w);
        this.dst[w] = s32(b, p + 24 + 4 * w);
      }
      this.kind = FRAME_IPV6;
    } else if (type === ETHERTYPE_ARP) {
      // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4
      if (end - p < 28 || b[p + 1] !== 1 || b[p + 2] !== 0x08 || b[p + 3] !== 0x00 || b[p + 4] !== 6 || b[p + 5] !== 4) return FRAME_NOT_IP;
      this.src[0] = s32(b, p + 14);
      this.dst[0] = s32(b, p + 24);
      this.src[1] = 0; this.src[2] = 0; this.src[3] = 0;
      this.dst[1] = 0; this.dst[2] = 0; this.dst[3] = 0;
      this.kind = FRAME_ARP;
    }
    return this.kind;
  }
}
