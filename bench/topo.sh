#!/usr/bin/env bash
# bench/topo.sh up on|off | down | show — the benchmark's "VMs": XB_PORTS (3) network namespaces on
# veth pairs, for the switch under test to connect. Sourced by bench/run.sh (xb_topo_up, xb_topo_down);
# runnable on its own to inspect or clean up by hand (as root).
#
# Endpoint i: namespace xbns<i>, NIC xbe<i> with MAC 02:78:62:00:00:0i and 198.18.0.(10+i)/24, IPv6
# off (no DAD, MLD or router solicitations on the wire), permanent neighbour entries for the other
# endpoints (no ARP during a measurement). The other end, xbv<i>, stays in the root namespace, up,
# without addresses or IPv6: that is the switch port.
# Offloads: "on" leaves the veth defaults (TSO/GSO, checksum offload: 64 KiB GSO frames with partial
# checksums cross the ports); "off" turns tx checksumming, TSO, GSO and GRO off on both ends, so every
# frame is at most the MTU with a complete checksum (what an AF_PACKET switch without virtio-net
# headers needs).
# `up` removes what it made if it fails half way; `down` removes every xb* name of ours (also one left
# behind by a killed run) and nothing else.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

xb_topo_down() {
    local i n
    for ((i = 0; i < 16; i++)); do
        n=$(xb_port "$i"); xb_assert_ours "$n"
        [ -e "/sys/class/net/$n" ] && ip link del "$n" 2>/dev/null
        n=$(xb_ns "$i"); xb_assert_ours "$n"
        [ -e "/run/netns/$n" ] && ip netns del "$n" 2>/dev/null
    done
    return 0
}

xb_offloads() {  # xb_offloads on|off [ip netns exec NS] DEV
    local mode=$1; shift
    [ "$mode" = on ] && return 0
    "${@:1:$#-1}" ethtool -K "${!#}" tx off tso off gso off gro off >/dev/null 2>&1
}

xb_topo_up() {
    local off=$1 i j ns port nic
    case "$off" in on|off) ;; *) xb_die "offloads must be on or off, not '$off'";; esac
    for ((i = 0; i < XB_PORTS; i++)); do
        if [ -e "/run/netns/$(xb_ns "$i")" ] || [ -e "/sys/class/net/$(xb_port "$i")" ]; then
            xb_die "$(xb_ns "$i") or $(xb_port "$i") exists: run bench/topo.sh down first"
        fi
    done
    for ((i = 0; i < XB_PORTS; i++)); do
        ns=$(xb_ns "$i"); port=$(xb_port "$i"); nic=$(xb_nic "$i")
        xb_assert_ours "$ns" "$port" "$nic"
        if ! { ip netns add "$ns" &&
               ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
               ip -n "$ns" link set lo up &&
               ip link add "$port" mtu 1500 type veth peer name "$nic" netns "$ns" &&
               sysctl -qw "net.ipv6.conf.$port.disable_ipv6=1" &&
               xb_offloads "$off" "$port" && xb_offloads "$off" ip netns exec "$ns" "$nic" &&
               ip -n "$ns" link set "$nic" address "$(xb_mac "$i")" &&
               ip -n "$ns" addr add "$(xb_ip "$i")/24" dev "$nic" &&
               ip -n "$ns" link set "$nic" up && ip link set "$port" up; }; then
            xb_log "topology: building endpoint $i failed"; xb_topo_down; return 1
        fi
        for ((j = 0; j < XB_PORTS; j++)); do
            [ "$j" = "$i" ] || ip -n "$ns" neigh replace "$(xb_ip "$j")" lladdr "$(xb_mac "$j")" dev "$nic" nud permanent
        done
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    xb_require_root
    case "${1:-}" in
        up) xb_topo_up "${2:-off}";;
        down) xb_topo_down;;
        show) ip -br link | awk -v p="$XB_PREFIX" 'index($1, p) == 1'
              for ((i = 0; i < 16; i++)); do
                  [ -e "/run/netns/$(xb_ns "$i")" ] && { echo "== $(xb_ns "$i")"; ip -n "$(xb_ns "$i")" -br addr | grep -v '^lo'; }
              done;;
        *) sed -n '2,14p' "$0"; exit 2;;
    esac
fi
