#!/usr/bin/env bash
# bench/sw-floor.sh — the AF_PACKET floor (bench/floor/afp-floor.c) as a switch plug-in of bench/run.sh
# and of ../shared/bench/peers.sh (same contract as bench/sw-xvs.sh: PB_READY, PB_PIDS, PB_LOGDIR,
# foreground until SIGTERM). Not a switch to compare xvs with: the least any packet-socket switch can do
# per frame on this machine (rx ring, one sendmmsg from the ring, no user-space copy), so that the ratio
# of xvs to it says how much of xvs's distance to the bridge is xvs and how much is AF_PACKET
# (docs/BENCHMARKS.md "The AF_PACKET floor"). bench/sw-floorcopy.sh adds a user-space copy of every frame;
# bench/sw-floortx.sh sends through the egress socket's PACKET_TX_RING (env XB_FLOOR_MODE: --copy | --tx-ring).
#   sw-floor.sh --port-kind   -> veth
#   sw-floor.sh PORT...       forwards between the root-namespace veth ends PORT... (xb* or pb*)
# Like xvs (src/ports/isolation.ts) each port gets a tc ingress drop (cls_bpf "ret #TC_ACT_SHOT"), so the
# host stack does not process the frames as well; removed at exit. Built here with gcc (scripts/setup.sh
# installs it with node-gyp's tools).
set -u
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
[ $# -ge 2 ] || { echo "usage: $0 PORT PORT..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
PFX=${1:0:2}
case "$PFX" in pb|xb) ;; *) echo "refusing port $1: not a bench name (xb*, or pb* from ../shared/bench)" >&2; exit 1;; esac
for p in "$@"; do case "$p" in "$PFX"*) ;; *) echo "refusing port $p: not $PFX*" >&2; exit 1;; esac; done
SRC=$(cd "$(dirname "$0")" && pwd)/floor/afp-floor.c
BIN=/tmp/$PFX-afp-floor
LOG=${PB_LOGDIR:-/tmp}/afp-floor.log
PID=
done_() {
    local p
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    for p in "${PORTS[@]}"; do tc qdisc del dev "$p" clsact 2>/dev/null; done
    rm -f "$BIN"
}
PORTS=("$@")
trap done_ EXIT; trap 'exit 143' TERM; trap 'exit 130' INT
gcc -O2 -Wall -o "$BIN" "$SRC" || { echo "cannot build $SRC" >&2; exit 1; }
for p in "${PORTS[@]}"; do
    tc qdisc add dev "$p" clsact && tc filter add dev "$p" ingress pref 1 bpf da bytecode '1,6 0 0 2' ||
        { echo "cannot add the ingress drop to $p" >&2; exit 1; }
done
"$BIN" ${XB_FLOOR_MODE:+"$XB_FLOOR_MODE"} "${PORTS[@]}" 2>>"$LOG" &
PID=$!
sleep 0.2; kill -0 "$PID" 2>/dev/null || { echo "afp-floor exited: $(cat "$LOG")" >&2; exit 1; }
echo "$PID" >"${PB_PIDS:-/dev/null}"; [ -n "${PB_READY:-}" ] && : >"$PB_READY"
wait "$PID"
