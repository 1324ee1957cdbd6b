/**
 * The tunnel TAP of an uplink: how VXLAN GSO frames leave whole instead of being segmented in software.
 *
 * A packet socket's virtio header has no UDP-tunnel GSO type, so HNV used to cut every TCP GSO frame
 * into MTU-sized segments before encapsulating it (policy/hnv/segment.ts). A TAP can take the tunnel
 * type (Linux 6.17+, `TUN_F_UDP_TUNNEL_GSO`): the kernel builds a proper UDP-tunnel GSO skb, which a
 * veth, a bridge or a NIC carries whole or segments correctly (outer IP id and UDP length per segment,
 * inner TCP checksums). The TAP's ingress redirects everything to the uplink's egress (tc clsact, u32
 * match-all, mirred), so to the wire it is the uplink sending. Each worker's AF_PACKET handle of the
 * uplink attaches its own queue of the TAP (native attachTunnelTx) and its sendBatch routes VXLAN GSO
 * frames there (native SPEC.md, "Tunnel TAP").
 *
 * The TAP is not persistent: the control plane holds one queue fd (the anchor) and the TAP goes away
 * with the last fd, so a crashed daemon leaves nothing behind. It has no ARP, no IPv6 and no addresses:
 * the host stack never sends on it, and whatever is written to it never reaches the host stack (tc
 * ingress runs before it).
 */
import { tc } from './isolation.js';
import { ip, netdevIndex } from './netdev.js';
import { writeFileSync } from 'node:fs';
import { native } from './native/index.js';

/** the tunnel TAP's name for uplink `netdev` (per network namespace, like the ifindex it is made of) */
export function tunnelTapName(netdev: string): string {
  return `xvg${netdevIndex(netdev)}`;
}

export class TunnelTap {
  private constructor(readonly name: string, private fd: number) {}

  /**
   * The tunnel TAP for `netdev`, or null when the kernel cannot take UDP-tunnel GSO through a TAP or
   * the redirect cannot be set up (`log` says which; HNV then segments in software as before).
   */
  static open(netdev: string, log: (m: string) => void): TunnelTap | null {
    const name = tunnelTapName(netdev);
    let fd: number;
    try {
      fd = native.tunnelTapOpen(name);
    } catch (e) {
      log(`tunnel TAP ${name} for ${netdev}: ${(e as Error).message}; VXLAN GSO frames are segmented in software`);
      return null;
    }
    if (fd < 0) {
      log(`this kernel has no UDP-tunnel GSO for TAPs (Linux 6.17+): VXLAN GSO frames on ${netdev} are segmented in software`);
      return null;
    }
    const tap = new TunnelTap(name, fd);
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
      ip('link', 'set', 'dev', name, 'arp', 'off', 'up');
      tc('qdisc', 'add', 'dev', name, 'clsact');
      tc('filter', 'add', 'dev', name, 'ingress', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0',
        'action', 'mirred', 'egress', 'redirect', 'dev', netdev);
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      log(`tunnel TAP ${name} for ${netdev}: cannot redirect it (${(err.stderr ?? err.message).trim()}); VXLAN GSO frames are segmented in software`);
      tap.close();
      return null;
    }
    return tap;
  }

  /** close the anchor fd: the TAP goes once the workers' queues are closed too */
  close(): void {
    if (this.fd < 0) return;
    native.closeFd(this.fd);
    this.fd = -1;
  }
}
