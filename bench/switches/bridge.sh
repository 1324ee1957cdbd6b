#!/usr/bin/env bash
# bench/switches/bridge.sh — the Linux kernel bridge, as a switch plug-in of bench/run.sh.
#   bridge.sh PORT...   bridge xbbr0 (STP off, default ageing) with the root-namespace veth ends PORT...
#                       enslaved; stays in the foreground until SIGTERM/SIGINT, then deletes xbbr0.
# Plug-in contract (the one ../shared/bench uses, so bench/sw-xvs.sh serves both): env PB_READY (file
# to create once it forwards), PB_PIDS (file for the forwarding PIDs: none here, the bridge forwards in
# softirq context), PB_LOGDIR. Ports exist and are up; the plug-in attaches to them and never deletes them.
# br_netfilter's bridge-nf-call-* sysctls are left as the machine has them (not ours to change).
set -u
. "$(dirname "$0")/../lib.sh"
[ $# -ge 2 ] || xb_die "usage: $0 PORT PORT..."
xb_require_root
BR=${XB_PREFIX}br0
xb_assert_ours "$BR" "$@"
[ -e "/sys/class/net/$BR" ] && xb_die "$BR exists (left by a killed run?): bench/run.sh removes it at start"
done_() { local p; for p in "${PORTS[@]}"; do ip link set "$p" nomaster 2>/dev/null; done; ip link del "$BR" 2>/dev/null; xb_log "bridge $BR removed"; }
PORTS=("$@")
trap done_ EXIT; trap 'exit 143' TERM; trap 'exit 130' INT
ip link add "$BR" type bridge stp_state 0 || exit 1
sysctl -qw "net.ipv6.conf.$BR.disable_ipv6=1"
for p in "${PORTS[@]}"; do ip link set "$p" master "$BR" || exit 1; done
ip link set "$BR" up || exit 1
xb_log "bridge $BR up, bridge-nf-call-iptables=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo n/a)"
: >"${PB_PIDS:-/dev/null}"; [ -n "${PB_READY:-}" ] && : >"$PB_READY"
while :; do sleep 1 & wait $!; done
