#!/usr/bin/env bash
# bench/run.sh — xvs's benchmark harness: the switches side by side on one topology and the same
# workloads, interleaved (A B C, A B C, ...), then a table of medians, ranges and ratios.
# Run as root from a clone (`sudo npm run bench`, options after `--`); needs nothing outside the repository.
#
#   bench/run.sh [-r REPS] [-c "CONFIGS"] [-w "WORKLOADS"] [-t SECONDS] [-o OUTDIR] [-b "BASELINES"] [-S]
#     -r  repetitions, 1..20 (default 3)
#     -c  switch configurations, NAME:on|NAME:off (veth offloads; default off), in this order
#         (default "bridge:on ovs:off ovstso:on xvs:off xvs:on"); NAME is a plug-in:
#         bench/switches/NAME.sh (bridge, ovs, ovstso) or bench/sw-NAME.sh (xvs and its variants)
#     -w  workloads, from "tcp udp64 flood64 rr ping" (default all five; bench/workloads.sh)
#     -t  seconds of traffic per measurement, 1..60 (default 3)
#     -o  output directory (default bench/results/<date>-<time>): raw.csv, table.txt, meta.txt, logs/
#     -b  baselines for the ratio columns (default: bridge:on and ovs:off, those of them in -c)
#     -S  skip bench/setup.sh (packages and build), for a second run right after a first
#   env XB_QUIET_MAX (30), XB_QUIET_WAIT (60), XB_QUIET_BUDGET (900): before each measurement wait
#       until the machine is less than XB_QUIET_MAX %core busy, at most XB_QUIET_WAIT s each and
#       XB_QUIET_BUDGET s for the whole run (then measure anyway: foreign_cpu records it); 0 = no wait
#
# Each measurement: 1. topology (bench/topo.sh: namespaces xbns0..2 on veths xbv0..2, offloads per
# config) 2. the switch plug-in, in the background, until it reports ready (60 s at most) 3. ping both
# ways 4. each workload, holding the machine-wide measurement lock 5. switch stopped by its PID, topology
# removed. Everything named xb* left by an interrupted run is removed at the start, and everything this
# run makes is removed in every outcome (EXIT trap). Plug-in contract: bench/switches/bridge.sh.
set -u
. "$(dirname "$0")/lib.sh"
. "$XB_BENCH/topo.sh"
. "$XB_BENCH/workloads.sh"

REPS=3
CONFIGS="bridge:on ovs:off ovstso:on xvs:off xvs:on"
WORKLOADS="tcp udp64 flood64 rr ping"
OUT=
BASES=
SETUP=1
usage() { sed -n '6,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "r:c:w:t:o:b:Sh" o; do
    case "$o" in
        r) REPS=$OPTARG;; c) CONFIGS=$OPTARG;; w) WORKLOADS=$OPTARG;; t) XB_T=$OPTARG;;
        o) OUT=$OPTARG;; b) BASES=$OPTARG;; S) SETUP=0;; *) usage;;
    esac
done
[ $OPTIND -gt $# ] || { xb_log "unexpected argument '${!OPTIND}'"; usage; }
xb_check_int -r repetitions "$REPS" 1 20
xb_check_int -t seconds "$XB_T" 1 60
xb_check_words -w workload "tcp udp64 flood64 rr ping" "$WORKLOADS"
plugin() {  # plugin NAME -> path of its script
    if [ -x "$XB_BENCH/switches/$1.sh" ]; then echo "$XB_BENCH/switches/$1.sh"
    elif [ -x "$XB_BENCH/sw-$1.sh" ]; then echo "$XB_BENCH/sw-$1.sh"
    else return 1; fi
}
for c in $CONFIGS; do
    n=${c%%:*}; off=off; [ "$c" != "$n" ] && off=${c#*:}
    case "$n" in ''|*[!a-z0-9]*) xb_die "-c: bad switch name in '$c'";; esac
    plugin "$n" >/dev/null || xb_die "-c: no plug-in for '$n' (bench/switches/$n.sh or bench/sw-$n.sh)"
    case "$off" in on|off) ;; *) xb_die "-c: offloads of '$c' must be on or off";; esac
done
[ -n "${CONFIGS// /}" ] || xb_die "-c: no configuration"
export XB_T
xb_require_root

cd "$XB_ROOT"
if [ "$SETUP" = 1 ]; then bash "$XB_BENCH/setup.sh" || xb_die "bench/setup.sh failed"; fi
need=(ip ethtool sysctl ss ping flock timeout node)
for w in $WORKLOADS; do
    case "$w" in tcp|udp64) need+=(iperf3);; flood64) need+=(trafgen);; rr) need+=(sockperf);; esac
done
xb_require "${need[@]}"
[ -f "$XB_ROOT/dist/src/cli/main.js" ] || xb_die "xvs is not built (bash bench/setup.sh builds it)"
OUT=${OUT:-$XB_ROOT/bench/results/$(date +%F-%H%M)}
mkdir -p "$OUT/logs" "$XB_STATE" || exit 1
OUT=$(cd "$OUT" && pwd)

exec 8>"$XB_RUN_LOCK"
flock -n 8 || xb_die "another bench/run.sh is running ($XB_RUN_LOCK)"

SWPID=
READY=$XB_STATE/switch.ready
PIDS=$XB_STATE/switch.pids

stop_switch() {
    local p i
    [ -n "$SWPID" ] || return 0
    if kill -0 "$SWPID" 2>/dev/null; then
        kill -TERM "$SWPID" 2>/dev/null
        for ((i = 0; i < 150; i++)); do kill -0 "$SWPID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SWPID" 2>/dev/null; then
            xb_log "switch plug-in $SWPID still running 15 s after TERM: KILL, with its forwarding PIDs"
            kill -KILL "$SWPID" 2>/dev/null
            for p in $(cat "$PIDS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        fi
    fi
    wait "$SWPID" 2>/dev/null
    SWPID=
    rm -f "$READY" "$PIDS"
}

# What an interrupted run (SIGKILL, power loss) may have left: our names only, our PID files only.
clean_stale() {
    local d f p
    for d in /tmp/"$XB_PREFIX"-ovs /tmp/"$XB_PREFIX"-xvs; do
        [ -d "$d" ] || continue
        for f in "$d"/*.pid; do
            [ -r "$f" ] || continue
            p=$(cat "$f" 2>/dev/null)
            # only a process whose command line still points into this state directory
            case "$p" in ''|*[!0-9]*) continue;; esac
            tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$d/" && xb_stop_pid "$p"
        done
        rm -rf "$d"
    done
    for d in "${XB_PREFIX}br0" "${XB_PREFIX}ovs0"; do [ -e "/sys/class/net/$d" ] && ip link del "$d" 2>/dev/null; done
    xb_topo_down
    rm -f "$READY" "$PIDS"
}

cleanup() { stop_switch; clean_stale; rm -rf "$XB_STATE"; }
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
clean_stale

row() {  # row REP CONFIG NAME OFFLOAD WORKLOAD METRIC VALUE UNIT
    echo "$(date +%s),$1,$2,$3,veth,$4,$5,$6,$7,$8" >>"$OUT/raw.csv"
}

run_one() {  # run_one REP CONFIG
    local rep=$1 cfg=$2 name off sw log i ok wl
    name=${cfg%%:*}; off=off; [ "$cfg" != "$name" ] && off=${cfg#*:}
    sw=$(plugin "$name")
    log=$OUT/logs/r$rep-$name-$off
    xb_log "rep $rep: $cfg"
    xb_topo_up "$off" || { row "$rep" "$cfg" "$name" "$off" setup error 1 "topology"; return 1; }
    rm -f "$READY" "$PIDS"
    PB_READY=$READY PB_PIDS=$PIDS PB_LOGDIR=$OUT/logs "$sw" "$(xb_port 0)" "$(xb_port 1)" "$(xb_port 2)" \
        >"$log.switch.log" 2>&1 8>&- 9>&- &
    SWPID=$!
    for ((i = 0; i < 600; i++)); do
        [ -e "$READY" ] && break
        kill -0 "$SWPID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -e "$READY" ]; then
        xb_log "$cfg did not come up: $(tail -3 "$log.switch.log" | tr '\n' ' ')"
        row "$rep" "$cfg" "$name" "$off" setup error 1 "switch not ready"
        stop_switch; xb_topo_down; return 1
    fi
    ok=0
    for ((i = 0; i < 10; i++)); do
        if ip netns exec "$(xb_ns 0)" ping -c 1 -W 1 "$(xb_ip 1)" >/dev/null 2>&1 &&
           ip netns exec "$(xb_ns 1)" ping -c 1 -W 1 "$(xb_ip 0)" >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.5
    done
    ip netns exec "$(xb_ns 2)" ping -c 1 -W 1 "$(xb_ip 0)" >/dev/null 2>&1   # the bystander is learned too
    if [ $ok = 0 ]; then
        xb_log "$cfg: no connectivity between $(xb_ns 0) and $(xb_ns 1)"
        row "$rep" "$cfg" "$name" "$off" setup error 1 "no connectivity"
        stop_switch; xb_topo_down; return 1
    fi
    XB_SW_PIDS=$(cat "$PIDS" 2>/dev/null)
    export XB_SW_PIDS
    for wl in $WORKLOADS; do
        xb_measure "$log" "$rep" "$cfg" "$name" "$off" "$wl" "xb_wl_$wl"
        if ! kill -0 "$SWPID" 2>/dev/null; then
            row "$rep" "$cfg" "$name" "$off" "$wl" error 1 "switch exited"
            break
        fi
    done
    { echo "# $cfg rep $rep $(date -Is) loadavg $(cut -d' ' -f1-3 /proc/loadavg) forwarding pids: $XB_SW_PIDS"
      ip netns exec "$(xb_ns 0)" ethtool -k "$(xb_nic 0)" | grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload):'
    } >>"$log.switch.log" 2>&1
    stop_switch
    xb_topo_down
}

T0=$(date +%s)
{
    echo "# bench/run.sh $(date -Is) $(uname -r) $(nproc) cpus; repetitions $REPS, $XB_T s per measurement"
    echo "# configs: $CONFIGS"
    echo "# workloads: $WORKLOADS"
    echo "# xvs: $(git -C "$XB_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') in $XB_ROOT; node $(node --version)"
    echo "# versions: $(iperf3 --version 2>/dev/null | head -1); $(sockperf --version 2>&1 | head -1); $(ovs-vswitchd --version 2>/dev/null | head -1); trafgen $(trafgen -v 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)"
} | tee "$OUT/meta.txt"
echo "epoch,rep,config,switch,kind,offload,workload,metric,value,unit" >"$OUT/raw.csv"
for ((rep = 1; rep <= REPS; rep++)); do
    for cfg in $CONFIGS; do
        run_one "$rep" "$cfg"
        xb_log "rep $rep/$REPS $cfg done ($(($(date +%s) - T0)) s)"
    done
done
echo "# total wall time: $(($(date +%s) - T0)) s" | tee -a "$OUT/meta.txt"
if [ -z "$BASES" ]; then
    for b in bridge:on ovs:off; do case " $CONFIGS " in *" $b "*) BASES="$BASES $b";; esac; done
fi
node "$XB_BENCH/summarize.mjs" "$OUT/raw.csv" --order "$CONFIGS" --baselines "${BASES# }" | tee "$OUT/table.txt"
echo "results: $OUT"
