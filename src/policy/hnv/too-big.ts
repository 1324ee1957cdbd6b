/**
 * Path-MTU answers (owner: the "hnv-wire" part): an inner IPv4 packet with DF larger than the overlay
 * MTU becomes, in place, an ICMP "fragmentation needed" (type 3 code 4, next-hop MTU) and an IPv6
 * packet an ICMPv6 "packet too big" (type 2, MTU), addressed back to the sender, with `fromMac`/
 * `fromIp` as the answering router; the caller sends it back out of the port it came in on.
 */
import type { FramePool } from '../../core/frame-pool.js';

/** convert frame `id` in place; false when it is not an IPv4/IPv6 packet that can be answered */
export function toPacketTooBig(pool: FramePool, id: number, mtu: number, fromMac: Uint8Array, fromIp: Uint8Array): boolean {
  throw new Error(`hnv too-big: not implemented (${pool.len[id]} ${mtu} ${fromMac.length} ${fromIp.length})`);
}
