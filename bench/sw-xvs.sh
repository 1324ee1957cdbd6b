#!/bin/bash
# bench/sw-xvs.sh - switch under test: xvs, a switch plug-in of bench/run.sh; it follows the same
# contract as the plug-ins of ../shared/bench/peers.sh (PB_READY / PB_PIDS / PB_LOGDIR, foreground until
# SIGTERM), so it serves both harnesses (bench/compare-harness.sh).
#
#   sw-xvs.sh --port-kind    -> "veth"
#   sw-xvs.sh PORT...        -> start `xvs daemon` with a private config and socket in /tmp/<P>-xvs,
#                               create private switch "<P>xvs" and add every PORT (a root-namespace veth
#                               end) as a VM port with --netdev, exactly as a user would with the CLI.
#                               <P> is the ports' prefix: "xb" under bench/run.sh, "pb" under ../shared/bench.
# The data path uses PACKET_VNET_HDR, so both "xvs:off" and "xvs:on" (veth offloads on: GSO
# super-frames and partial checksums pass through with their virtio-net header) are valid configs.
# Env: XVS_WORKERS  data-path worker threads (default 1; rx ports are spread over them)
#      XVS_NOOP_PLUGINS=N  install N extra no-op filter plug-ins (noop1..noopN, copies of the built-in noop)
#      XVS_POLICY=1 every port gets the policy set of sw-xvspolicy.sh (VLAN, guards, 10 ACLs, 5 extended ACLs)
#      XVS_IO=pcap  every port through libpcap (port add --io pcap; sw-xvslibpcap.sh), default AF_PACKET
#      XVS_ENABLE   extensions to configure and enable, in order: "name[=JSON-config] ..."
#                   e.g. XVS_ENABLE='pcap={"dir":"@D@/pcap","match":"ipv4.dst=192.0.2.255"}' (@D@: the state dir)
# (sw-xvspcap.sh and sw-xvsnoop3.sh are the extension-cost variants of docs/BENCHMARKS.md; sw-xvslibpcap.sh the libpcap I/O one)
# Run from the project root after `npm run build` (or `bash scripts/setup.sh`):
#   sudo bash bench/run.sh -r 3 -c "bridge:on ovs:off ovstso:on xvs:off xvs:on"
set -u
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
[ $# -ge 2 ] || { echo "usage: $0 PORT PORT..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=$ROOT/dist/src/cli/main.js
[ -f "$CLI" ] || { echo "$CLI missing: run bash scripts/setup.sh first" >&2; exit 1; }
PFX=${1:0:2}
case "$PFX" in pb|xb) ;; *) echo "refusing port $1: not a bench name (xb*, or pb* from ../shared/bench)" >&2; exit 1;; esac
D=/tmp/$PFX-xvs
# plug-ins must sit in a directory only root can write, all the way up (not under sticky /tmp): see
# "Plug-in security model" in docs/extensions-guide.md
PD=/var/lib/$PFX-xvs-plugins
PORTS=("$@")
for p in "${PORTS[@]}"; do case "$p" in "$PFX"*) ;; *) echo "refusing port $p: not $PFX*" >&2; exit 1;; esac; done
SW=${PFX}xvs
XVS=(node "$CLI" --socket "$D/xvs.sock")
LOG=${PB_LOGDIR:-/tmp}/xvs-daemon.log
DPID=

cleanup() {
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
        kill -TERM "$DPID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$DPID" 2>/dev/null && kill -KILL "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
    fi
    rm -rf "$D" "$PD"
    echo "[sw-xvs] stopped" >&2
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

rm -rf "$D"; mkdir -p "$D"
node "$CLI" daemon --config "$D/config.json" --socket "$D/xvs.sock" >"$LOG" 2>&1 &
DPID=$!
echo "$DPID" >"$D/daemon.pid"   # for bench/run.sh's clean-up after a killed run
for _ in $(seq 1 100); do
    "${XVS[@]}" daemon status >/dev/null 2>&1 && break
    kill -0 "$DPID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.1
done
"${XVS[@]}" switch create "$SW" --type private --workers "${XVS_WORKERS:-1}" >/dev/null || exit 1
for p in "${PORTS[@]}"; do "${XVS[@]}" port add "$SW" "$p" --netdev "$p" ${XVS_IO:+--io "$XVS_IO"} >/dev/null || exit 1; done
# several workers: each port gets a VMQ queue of its own (without a weight every port shares the default queue, read by one worker)
if [ "${XVS_WORKERS:-1}" -gt 1 ]; then
    for p in "${PORTS[@]}"; do "${XVS[@]}" port set "$SW" "$p" --vmq-weight "${XVS_VMQ_WEIGHT:-50}" >/dev/null || exit 1; done
    "${XVS[@]}" vmq show "$SW" >&2
fi
if [ "${XVS_POLICY:-0}" = 1 ]; then
    for p in "${PORTS[@]}"; do
        X=("${XVS[@]}")
        "${X[@]}" port vlan "$SW" "$p" --access --vlan-id 10 >/dev/null &&
        "${X[@]}" port set "$SW" "$p" --mac-address-spoofing off --dhcp-guard on --router-guard on >/dev/null || exit 1
        # 10 port ACL entries: denies and meters for other networks, an allow for the bench's own /24
        for a in "deny outbound --remote-ip-address 203.0.113.0/24" "deny inbound --remote-ip-address 203.0.113.0/24" \
                 "deny both --remote-ip-address 198.51.100.0/24" "deny both --remote-ip-address 172.31.0.0/16" \
                 "deny outbound --remote-ip-address 10.99.0.0/16" "deny both --remote-ip-address 2001:db8::/32" \
                 "meter both --remote-ip-address 0.0.0.0/0" "meter both --remote-ip-address 192.0.2.0/24" \
                 "deny both --remote-mac-address 02-00-5e-00-53-01" "allow both --remote-ip-address 198.18.0.0/15"; do
            set -- $a
            "${X[@]}" acl add "$SW" "$p" --action "$1" --direction "$2" "$3" "$4" >/dev/null || exit 1
        done
        # 5 extended ACL entries that the benchmark's TCP/UDP never matches: every frame is checked against all 5
        for e in "deny inbound 100 tcp --local-port 23" "deny inbound 99 tcp --local-port 3389" "deny outbound 98 udp --remote-port 161" \
                 "deny inbound 97 udp --local-port 5353-5354" "deny outbound 96 tcp --remote-port 25"; do
            set -- $e
            "${X[@]}" acl extended add "$SW" "$p" --action "$1" --direction "$2" --weight "$3" --protocol "$4" "$5" "$6" >/dev/null || exit 1
        done
    done
    "${XVS[@]}" pipeline show "$SW" >&2
fi
for ((k = 1; k <= ${XVS_NOOP_PLUGINS:-0}; k++)); do
    (umask 022; mkdir -p "$PD/noop$k")
    printf "import noop from '%s';\nexport default { ...noop, name: 'noop%d' };\n" "$ROOT/dist/src/extensions/noop/index.js" "$k" >"$PD/noop$k/index.js"
    printf '{"name":"noop%d","version":"1.0.0","kind":"filter","main":"index.js","xvsApi":1}\n' "$k" >"$PD/noop$k/xvs-extension.json"
    chmod 0644 "$PD/noop$k/index.js" "$PD/noop$k/xvs-extension.json"
    "${XVS[@]}" extension install "$PD/noop$k" >/dev/null || exit 1
done
EN=${XVS_ENABLE:-}
for e in ${EN//@D@/$D}; do
    name=${e%%=*}
    if [ "$e" != "$name" ]; then "${XVS[@]}" extension set "$SW" "$name" --config "${e#*=}" >/dev/null || exit 1; fi
    "${XVS[@]}" extension enable "$SW" "$name" >/dev/null || exit 1
done
[ -n "${XVS_ENABLE:-}" ] && "${XVS[@]}" pipeline show "$SW" >&2
"${XVS[@]}" switch show "$SW" >&2
[ -n "${PB_PIDS:-}" ] && echo "$DPID" >"$PB_PIDS"
[ -n "${PB_READY:-}" ] && : >"$PB_READY"
echo "[sw-xvs] ready (daemon pid $DPID, workers ${XVS_WORKERS:-1})" >&2
while kill -0 "$DPID" 2>/dev/null; do sleep 1 & wait $!; done
echo "[sw-xvs] daemon exited: $(tail -3 "$LOG")" >&2
exit 1
