/**
 * The one list of reasons a frame is dropped. Every drop in xvs is counted under one of these, per
 * port, so `xvs stats` answers "why did my frame not arrive?" without a debugger. The order here is
 * the numeric code (stored in a Uint8Array per batch); append only, never renumber.
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
  ['unknown-unicast', 'destination MAC not in the table and flooding is off'],
  ['pool-exhausted', 'no free frame slot'],
  ['tx-error', 'the kernel refused the frame on transmit'],
  ['port-down', 'destination port is not attached'],
  ['extension-drop', 'dropped by a filtering or forwarding extension'],
  ['extension-error', 'an extension threw while processing the batch'],
  ['acl-deny', 'denied by a port ACL'],
  ['vlan-not-member', 'VLAN not allowed on the port'],
  ['mac-spoof', 'source MAC is not the port’s MAC (MacAddressSpoofing off)'],
  ['dhcp-guard', 'DHCP server message from a guarded port'],
  ['router-guard', 'router advertisement/redirect from a guarded port'],
  ['qos-exceeded', 'over the port’s maximum bandwidth'],
  ['unknown-vsid', 'virtual subnet not configured'],
  ['lookup-miss', 'no HNV lookup record for the customer address'],
  ['ring-full', 'the port’s receive ring was full; the kernel dropped the frame'],
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
