/**
 * The one list of reasons a frame is dropped. Every drop in xvs is counted under one of these, per
 * port, so `xvs stats` answers "why did my frame not arrive?" without a debugger. The order here is
 * the numeric code (stored in a Uint8Array per batch and in counters; never persisted). Only reasons
 * that some code produces are listed (a test checks it): the issues that add ACLs, guards, VLANs,
 * QoS and HNV add their reasons with their producers.
 */
export const DROP_REASONS = [
  ['none', 'not dropped'],
  ['runt', 'shorter than an Ethernet header (14 bytes)'],
  ['oversize', 'longer than the port MTU and not a GSO frame'],
  ['truncated', 'larger than a ring or pool slot; cut by the receive ring'],
  ['bad-ethertype', 'EtherType/length field between 1501 and 1535'],
  ['bad-source-mac', 'source MAC is multicast, broadcast or all-zero'],
  ['same-port', 'learned destination is the port the frame came from'],
  ['no-destination', 'no destination port left after forwarding'],
  ['pool-exhausted', 'no free frame slot for a frame an extension cloned or allocated'],
  ['tx-error', 'the kernel refused the frame on transmit'],
  ['port-down', 'destination port is not attached or its link is down'],
  ['extension-drop', 'dropped by a filtering or forwarding extension'],
  ['extension-error', 'an extension threw while processing the batch (on-error drop; a forwarder fails closed)'],
  ['ring-full', 'the port’s receive ring was full; the kernel dropped the frame'],
  ['inject-queue-full', 'an extension injected a frame while the inject queue was full'],
  ['mac-spoofing', 'a VM port with MAC address spoofing off sent from a source MAC that is not its own'],
  ['dhcp-guard', 'a DHCP server message (OFFER, ACK, NAK) from a VM port with DHCP guard on'],
  ['router-guard', 'a router advertisement or redirect (ICMPv4 5/9, ICMPv6 134/137) from a VM port with router guard on'],
  ['storm-limit', 'broadcast, multicast or unknown unicast above the port\'s storm limit in this second'],
  ['vlan-not-allowed', 'the frame\'s VLAN is not one its port may send on, or none of its destinations receives that VLAN'],
  ['port-acl', 'denied by a port ACL (the trace names the entry)'],
  ['extended-acl', 'denied by an extended port ACL (the trace names the entry)'],
  ['bandwidth-limit', 'above the port\'s maximum bandwidth or its share of a contended egress'],
  ['hnv-not-ip', 'HNV: a VM port of a virtual subnet sent a frame that is neither IP nor ARP'],
  ['hnv-spoofed-source', 'HNV: source MAC not the port\'s, or source IP not a CA of a lookup record of the port\'s VSID with that MAC'],
  ['hnv-no-record', 'HNV: no lookup record for the destination CA (or for the inner source of a tunnel frame)'],
  ['hnv-arp-unknown', 'HNV: ARP request or neighbour solicitation for a CA with no lookup record in a VSID without l2only records (not proxied, not flooded)'],
  ['hnv-no-port', 'HNV: the record is local but no VM port of its VSID has its MAC'],
  ['hnv-next-hop-unresolved', 'HNV: the provider next hop toward the record\'s PA has no MAC yet (an ARP request is sent) or the switch has no uplink'],
  ['hnv-oversize', 'HNV: larger than the overlay MTU and neither answered with an ICMP too-big nor fragmented (not IPv4/IPv6, or no free slots)'],
  ['hnv-no-headroom', 'HNV: encapsulation or segmentation failed (no headroom or no free slots)'],
  ['hnv-bad-encapsulation', 'HNV: a GRE/VXLAN frame to a local PA with a bad header, or an encapsulation other than its record\'s'],
  ['hnv-unknown-vsid', 'HNV: a tunnel frame for a VSID with no VM port on this switch'],
  ['hnv-wrong-pa', 'HNV: a tunnel frame whose outer source is not the PA of the inner source\'s lookup record'],
  ['hnv-dad', 'HNV: an address probe or announcement from a VM (IPv6 DAD, ARP probe, gratuitous ARP): the lookup records own the addresses; absorbed unless the VSID has l2only records'],
  ['hnv-pa-arp', 'HNV: an ARP reply to a provider address, consumed by HNV\'s next-hop table'],
] as const;

export type DropReasonName = (typeof DROP_REASONS)[number][0];

/** Numeric codes, e.g. `DropReason.runt === 1`. */
export const DropReason = Object.freeze(
  Object.fromEntries(DROP_REASONS.map(([name], code) => [name, code])) as { [K in DropReasonName]: number },
);

export const DROP_REASON_COUNT = DROP_REASONS.length;

export function dropReasonName(code: number): DropReasonName | 'unknown' {
  const r = DROP_REASONS[code];
  return r ? r[0] : 'unknown';
}
