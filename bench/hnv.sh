#!/usr/bin/env bash
# bench/hnv.sh — HNV across two hosts, VM to VM through the tunnel, against a kernel baseline and
# against xvs without HNV, in one run (issue 11 item 9). Run as root from a clone:
#
#   sudo bash bench/hnv.sh [-r REPS] [-c "CONFIGS"] [-w "WORKLOADS"] [-t SECONDS] [-o OUTDIR] [-S]
#     -r  repetitions, 1..20 (default 3); the configurations are interleaved (A B C D, A B C D, ...)
#     -c  configurations, in this order (default "kernel plain vxlan nvgre"), each measured with the
#         veth offloads on and off (configs NAME:on, NAME:off):
#           kernel  Linux bridge + kernel vxlan device (VNI 5001, dstport 4789) in each host namespace
#           plain   xvs without HNV: each host's external switch on the underlay, the VMs in one L2
#           vxlan   xvs HNV, VSID 5001, VXLAN       nvgre   xvs HNV, VSID 5001, NVGRE
#           floor   not xvs: bench/floor/afp-floor.c in each host between the VM port and the uplink, as
#                   plain (no tunnel): the least any AF_PACKET switch can do per frame (not in the default)
#     -w  workloads (default "tcp udp64 flood64"; bench/workloads.sh): iperf3 TCP (Gb/s); iperf3 -u -l 18
#         (60-byte frames; kpps received by the socket in the receiving VM namespace); trafgen's 60-byte
#         UDP flood (kpps arriving at the receiving VM's NIC: what the tunnel delivers, whatever the
#         receiving socket keeps up with)
#     -t  seconds of traffic per measurement, 1..60 (default 3; flood64: XB_FLOOD_T, default 6)
#     -o  output directory (default bench/results/<date>-<time>-hnv): raw.csv, table.txt, ratios.txt,
#         meta.txt, logs/
#     -S  skip bench/setup.sh (packages and build)
#   env XVS_WORKERS (1), XB_QUIET_MAX / XB_QUIET_WAIT / XB_QUIET_BUDGET as bench/run.sh;
#   XB_FLOOD_GEN_CPU (0) / XB_FLOOD_SW_CPU (1): during flood64 trafgen runs on the first CPU and both
#   xvs daemons (every thread) on the second, so that the switches' own cost per frame decides what
#   arrives, not how the scheduler shares two CPUs between the generator and the daemons ("none": no pinning)
#   XB_FLOOD_RATE (400000): frames per second trafgen offers in flood64 ("none": as many as it can), above
#   what plain xvs delivers here, so every configuration is saturated but the sending switch does not
#   spend the shared CPU on frames the receiving one drops (ratios.txt says when plain was not saturated)
#   XB_UDP_PIN=1: udp64 pinned the same way (both iperf3 ends on the first CPU, the daemons on the second),
#   XB_UDP_RATE datagrams/s offered (default: as many as iperf3 can); measured 2026-12-07: then the iperf3
#   pair is the limit and every configuration delivers the same (docs/BENCHMARKS.md), so it is not the default
#
# Topology (every name xb*; the VM endpoints are bench/topo.sh's, so bench/workloads.sh runs as is):
#   xbns0 (VM, 198.18.0.10) --veth xbe0|xbv0-- xbnsh0 (host 0) --xbu0|xbu1 veth (underlay)-- xbnsh1
#   (host 1) --xbv1|xbe1-- xbns1 (VM, 198.18.0.11). Provider addresses 198.19.0.1 and 198.19.0.2/24.
#   The VMs' MTU is 1450 in every configuration (VXLAN's overlay MTU on a 1500 underlay), so every
#   configuration carries the same payload per frame; offloads on|off apply to every veth end.
#   xvs: one `xvs daemon` per host namespace (ip netns exec), external switch "xbsw" with uplink xbu<h>;
#   with HNV the VM port has the VSID and the VM's MAC as its static MAC (as Hyper-V sets a vNIC's).
# Prints the table of bench/summarize.mjs and the ratios of issue 11: HNV ÷ plain xvs 64-byte pps
# (target ≥ 0.85; udp64 and flood64) and xvs VXLAN TCP ÷ kernel VXLAN TCP (target ≥ 0.7), per offload mode.
set -u
. "$(dirname "$0")/lib.sh"
. "$XB_BENCH/topo.sh"
. "$XB_BENCH/workloads.sh"
XB_PORTS=2                          # the two VMs; no bystander

REPS=3
CONFIGS="kernel plain vxlan nvgre"
WORKLOADS="tcp udp64 flood64"
OUT=
SETUP=1
usage() { sed -n '5,32p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "r:c:w:t:o:Sh" o; do
    case "$o" in
        r) REPS=$OPTARG;; c) CONFIGS=$OPTARG;; w) WORKLOADS=$OPTARG;; t) XB_T=$OPTARG;; o) OUT=$OPTARG;;
        S) SETUP=0;; *) usage;;
    esac
done
[ $OPTIND -gt $# ] || { xb_log "unexpected argument '${!OPTIND}'"; usage; }
xb_check_int -r repetitions "$REPS" 1 20
xb_check_int -t seconds "$XB_T" 1 60
xb_check_words -c configuration "kernel plain vxlan nvgre floor" "$CONFIGS"
xb_check_words -w workload "tcp udp64 flood64" "$WORKLOADS"
export XB_T
xb_require_root

cd "$XB_ROOT"
if [ "$SETUP" = 1 ]; then bash "$XB_BENCH/setup.sh" || xb_die "bench/setup.sh failed"; fi
need=(ip ethtool sysctl ss ping flock timeout node iperf3)
case " $WORKLOADS " in *" flood64 "*) need+=(trafgen);; esac
xb_require "${need[@]}"
case " $CONFIGS " in *" floor "*) mkdir -p "$XB_STATE" && gcc -O2 -Wall -o "$XB_STATE/afp-floor" "$XB_BENCH/floor/afp-floor.c" || xb_die "cannot build bench/floor/afp-floor.c";; esac
CLI=$XB_ROOT/dist/src/cli/main.js
[ -f "$CLI" ] || xb_die "xvs is not built (bash bench/setup.sh builds it)"
OUT=${OUT:-$XB_ROOT/bench/results/$(date +%F-%H%M)-hnv}
mkdir -p "$OUT/logs" "$XB_STATE" || exit 1
OUT=$(cd "$OUT" && pwd)

exec 8>"$XB_RUN_LOCK"
flock -n 8 || xb_die "another bench run (bench/run.sh or bench/hnv.sh) is running ($XB_RUN_LOCK)"

D=/tmp/xb-hnv                       # daemons' sockets, configs, PID files
HOSTS=(xbnsh0 xbnsh1)
PA=(198.19.0.1 198.19.0.2)
VSID=5001
MTU=1450
DPIDS=()

# stop the daemons we started (PID files, checked against the command line), remove our names
hnv_down() {
    local h f p n
    for h in 0 1; do
        f=$D/h$h/daemon.pid
        [ -r "$f" ] || continue
        p=$(cat "$f" 2>/dev/null)
        case "$p" in ''|*[!0-9]*) continue;; esac
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$D/h$h/" && xb_stop_pid "$p"
        rm -f "$f"
    done
    DPIDS=()
    for n in "${HOSTS[@]}"; do xb_assert_ours "$n"; [ -e "/run/netns/$n" ] && ip netns del "$n" 2>/dev/null; done
    xb_topo_down
    rm -rf "$D"
}
cleanup() { hnv_down; rm -rf "$XB_STATE"; }
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
hnv_down

# The two VMs (bench/topo.sh's endpoints 0 and 1) with their port ends moved into the hosts, and the
# underlay veth between the hosts.
hnv_topo_up() {  # hnv_topo_up on|off
    local off=$1 h i
    xb_topo_up "$off" || return 1
    for h in 0 1; do
        ip netns add "${HOSTS[$h]}" &&
        ip netns exec "${HOSTS[$h]}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
        ip -n "${HOSTS[$h]}" link set lo up || return 1
    done
    ip link add xbu0 netns xbnsh0 type veth peer name xbu1 netns xbnsh1 || return 1
    for i in 0 1; do
        ip -n "$(xb_ns "$i")" link set "$(xb_nic "$i")" mtu "$MTU" &&
        ip link set "$(xb_port "$i")" netns "${HOSTS[$i]}" &&
        ip -n "${HOSTS[$i]}" link set "$(xb_port "$i")" up &&
        xb_offloads "$off" ip netns exec "${HOSTS[$i]}" "xbu$i" &&
        ip -n "${HOSTS[$i]}" link set "xbu$i" up || return 1
    done
}

xvs_in() {  # xvs_in H ARGS...: the CLI against host H's daemon
    local h=$1; shift
    node "$CLI" --socket "$D/h$h/xvs.sock" "$@"
}

start_daemons() {  # start_daemons LOG
    local h i
    for h in 0 1; do
        mkdir -p "$D/h$h"
        ip netns exec "${HOSTS[$h]}" node "$CLI" daemon --config "$D/h$h/config.json" --socket "$D/h$h/xvs.sock" \
            >"$1.daemon$h.log" 2>&1 8>&- 9>&- &
        DPIDS[$h]=$!
        echo "${DPIDS[$h]}" >"$D/h$h/daemon.pid"
    done
    for h in 0 1; do
        for ((i = 0; i < 150; i++)); do
            xvs_in "$h" daemon status >/dev/null 2>&1 && break
            kill -0 "${DPIDS[$h]}" 2>/dev/null || { xb_log "daemon $h exited: $(tail -3 "$1.daemon$h.log")"; return 1; }
            sleep 0.1
        done
        xvs_in "$h" daemon status >/dev/null 2>&1 || { xb_log "daemon $h not answering"; return 1; }
    done
}

config_up() {  # config_up NAME LOG
    local name=$1 log=$2 h other p
    case "$name" in
        kernel)
            for h in 0 1; do
                other=$((1 - h))
                ip -n "${HOSTS[$h]}" addr add "${PA[$h]}/24" dev "xbu$h" &&
                ip -n "${HOSTS[$h]}" link add xbbr0 type bridge stp_state 0 forward_delay 0 &&
                ip -n "${HOSTS[$h]}" link add xbvx0 type vxlan id "$VSID" dstport 4789 local "${PA[$h]}" remote "${PA[$other]}" dev "xbu$h" &&
                ip -n "${HOSTS[$h]}" link set xbvx0 master xbbr0 up &&
                ip -n "${HOSTS[$h]}" link set "$(xb_port "$h")" master xbbr0 &&
                ip -n "${HOSTS[$h]}" link set xbbr0 up || return 1
            done
            ip -n xbnsh0 -d link show xbvx0 >>"$log" 2>&1;;
        floor)
            for h in 0 1; do
                mkdir -p "$D/h$h" && cp "$XB_STATE/afp-floor" "$D/h$h/afp-floor" || return 1
                for p in "$(xb_port "$h")" "xbu$h"; do  # the host stack does not see the ports' frames, as with xvs
                    ip netns exec "${HOSTS[$h]}" tc qdisc add dev "$p" clsact &&
                    ip netns exec "${HOSTS[$h]}" tc filter add dev "$p" ingress pref 1 bpf da bytecode '1,6 0 0 2' || return 1
                done
                ip netns exec "${HOSTS[$h]}" "$D/h$h/afp-floor" "$(xb_port "$h")" "xbu$h" >"$log.floor$h.log" 2>&1 8>&- 9>&- &
                DPIDS[$h]=$!
                echo "${DPIDS[$h]}" >"$D/h$h/daemon.pid"
            done
            sleep 0.2
            for h in 0 1; do kill -0 "${DPIDS[$h]}" 2>/dev/null || { xb_log "afp-floor $h exited: $(cat "$log.floor$h.log")"; return 1; }; done;;
        *)  # plain, vxlan, nvgre: xvs
            start_daemons "$log" || return 1
            for h in 0 1; do
                xvs_in "$h" switch create xbsw --type external --uplink "xbu$h" --workers "${XVS_WORKERS:-1}" >/dev/null &&
                xvs_in "$h" port add xbsw "$(xb_port "$h")" --netdev "$(xb_port "$h")" >/dev/null || return 1
                [ "$name" = plain ] && continue
                xvs_in "$h" hnv pa add xbsw --address "${PA[$h]}/24" >/dev/null &&
                xvs_in "$h" port set xbsw "$(xb_port "$h")" --virtual-subnet-id "$VSID" --static-mac "$(xb_mac "$h")" >/dev/null &&
                xvs_in "$h" hnv record add --ca "$(xb_ip 0)" --vsid "$VSID" --mac "$(xb_mac 0)" --pa "${PA[0]}" --encap "$name" >/dev/null &&
                xvs_in "$h" hnv record add --ca "$(xb_ip 1)" --vsid "$VSID" --mac "$(xb_mac 1)" --pa "${PA[1]}" --encap "$name" >/dev/null &&
                xvs_in "$h" hnv route add --routing-domain bench --vsid "$VSID" --prefix "$XB_NET.0/24" --next-hop 0.0.0.0 >/dev/null || return 1
            done
            { xvs_in 0 switch show xbsw; [ "$name" = plain ] || xvs_in 0 hnv show; } >>"$log" 2>&1;;
    esac
}

# flood64's CPUs (see the usage): the daemons' threads to one CPU for the flood, back to all after it
FLOOD_GEN_CPU=${XB_FLOOD_GEN_CPU:-0}
FLOOD_SW_CPU=${XB_FLOOD_SW_CPU:-1}
FLOOD_RATE=${XB_FLOOD_RATE:-400000}
UDP_RATE=${XB_UDP_RATE:-none}
ALL_CPUS=0-$(($(nproc) - 1))
pin_daemons() {  # pin_daemons CPULIST
    local p
    [ "$FLOOD_SW_CPU" = none ] && return 0
    for p in "${DPIDS[@]}"; do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || xb_log "taskset $1 $p failed"; done
}

udp_pinned() {  # udp64 with both iperf3 ends on FLOOD_GEN_CPU and the daemons on FLOOD_SW_CPU, for its time only
    local rc
    pin_daemons "$FLOOD_SW_CPU"
    XB_IPERF_CPU=${FLOOD_GEN_CPU#none} XB_UDP_RATE=${UDP_RATE#none} xb_wl_udp64; rc=$?
    pin_daemons "$ALL_CPUS"
    return $rc
}

# The frames host H's daemon forwarded toward the receiving VM (host 0: out of its uplink; host 1: out of
# the VM port) and its CPU time (all threads, user + system, clock ticks), for the cost per frame.
forwarded() { xvs_in "$1" stats xbsw --json 2>/dev/null | node -e 'let s = ""; process.stdin.on("data", (d) => { s += d; }).on("end", () => { const p = JSON.parse(s).ports.find((x) => x.name === process.argv[1]); console.log(p ? p.txPackets : "NA"); })' "$2" || echo NA; }
daemon_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo NA; }

flood_pinned() {  # flood64 with trafgen on FLOOD_GEN_CPU and the daemons on FLOOD_SW_CPU, for its time only
    local rc h f0 f1 c0 c1 hz ports=("xbu0" "$(xb_port 1)")
    if [ "$name" = kernel ] || [ "$name" = floor ]; then ports=(); fi   # no xvs daemon ($name: run_one's configuration)
    for h in "${!ports[@]}"; do f0[h]=$(forwarded "$h" "${ports[h]}"); c0[h]=$(daemon_ticks "${DPIDS[h]}"); done
    pin_daemons "$FLOOD_SW_CPU"
    XB_T=${XB_FLOOD_T:-6} XB_FLOOD_CPU=${FLOOD_GEN_CPU#none} XB_FLOOD_RATE=${FLOOD_RATE#none} xb_wl_flood64; rc=$?
    pin_daemons "$ALL_CPUS"
    # frames forwarded per CPU-second of each daemon over the whole workload: what one core of xvs
    # forwards in that role, whatever share of the shared CPU the scheduler gave each daemon
    hz=$(getconf CLK_TCK)
    for h in "${!ports[@]}"; do
        f1=$(forwarded "$h" "${ports[h]}"); c1=$(daemon_ticks "${DPIDS[h]}")
        awk -v h="$h" -v f0="${f0[h]}" -v f1="$f1" -v c0="${c0[h]}" -v c1="$c1" -v hz="$hz" 'BEGIN {
            if (f0 == "NA" || f1 == "NA" || c0 == "NA" || c1 == "NA" || c1 <= c0) exit
            printf "RESULT flood64 kpps_per_core_h%d %.1f kpps\n", h, (f1 - f0) / ((c1 - c0) / hz) / 1000 }'
    done
    return $rc
}

row() {  # row REP CONFIG NAME OFFLOAD WORKLOAD METRIC VALUE UNIT
    echo "$(date +%s),$1,$2,$3,hnv,$4,$5,$6,$7,$8" >>"$OUT/raw.csv"
}

run_one() {  # run_one REP NAME OFFLOAD
    local rep=$1 name=$2 off=$3 cfg=$2:$3 log i ok wl h
    log=$OUT/logs/r$rep-$name-$off
    xb_log "rep $rep: $cfg"
    if ! hnv_topo_up "$off" >"$log.setup.log" 2>&1 || ! config_up "$name" "$log.setup.log" >>"$log.setup.log" 2>&1; then
        xb_log "$cfg: setup failed: $(tail -3 "$log.setup.log" | tr '\n' ' ')"
        row "$rep" "$cfg" "$name" "$off" setup error 1 "setup failed"
        hnv_down; return 1
    fi
    ok=0
    for ((i = 0; i < 20; i++)); do
        if ip netns exec "$(xb_ns 0)" ping -c 1 -W 1 "$(xb_ip 1)" >/dev/null 2>&1 &&
           ip netns exec "$(xb_ns 1)" ping -c 1 -W 1 "$(xb_ip 0)" >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.5
    done
    if [ $ok = 0 ]; then
        xb_log "$cfg: no connectivity between $(xb_ns 0) and $(xb_ns 1)"
        row "$rep" "$cfg" "$name" "$off" setup error 1 "no connectivity"
        hnv_down; return 1
    fi
    XB_SW_PIDS=${DPIDS[*]:-}
    export XB_SW_PIDS
    for wl in $WORKLOADS; do
        if [ "$wl" = flood64 ]; then xb_measure "$log" "$rep" "$cfg" "$name" "$off" "$wl" flood_pinned
        elif [ "$wl" = udp64 ] && [ "${XB_UDP_PIN:-0}" = 1 ]; then xb_measure "$log" "$rep" "$cfg" "$name" "$off" "$wl" udp_pinned
        else xb_measure "$log" "$rep" "$cfg" "$name" "$off" "$wl" "xb_wl_$wl"; fi
    done
    if [ "$name" != kernel ] && [ "$name" != floor ]; then
        for h in 0 1; do
            { echo "# $cfg rep $rep: xvs stats on host $h"; xvs_in "$h" stats xbsw; [ "$name" = plain ] || xvs_in "$h" hnv show; } >>"$log.setup.log" 2>&1
        done
    fi
    hnv_down
}

ORDER=
for c in $CONFIGS; do ORDER="$ORDER $c:on $c:off"; done
ORDER=${ORDER# }
T0=$(date +%s)
{
    echo "# bench/hnv.sh $(date -Is) $(uname -r) $(nproc) cpus; repetitions $REPS, $XB_T s per measurement"
    echo "# configs: $ORDER"
    echo "# workloads: $WORKLOADS"
    echo "# xvs: $(git -C "$XB_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') in $XB_ROOT; node $(node --version); workers ${XVS_WORKERS:-1}"
    echo "# flood64: ${XB_FLOOD_T:-6} s; trafgen on CPU $FLOOD_GEN_CPU offering $FLOOD_RATE frames/s, the xvs daemons on CPU $FLOOD_SW_CPU"
    echo "# versions: $(iperf3 --version 2>/dev/null | head -1); $(ip -V)"
} | tee "$OUT/meta.txt"
echo "epoch,rep,config,switch,kind,offload,workload,metric,value,unit" >"$OUT/raw.csv"
for ((rep = 1; rep <= REPS; rep++)); do
    for c in $CONFIGS; do
        for off in on off; do
            run_one "$rep" "$c" "$off"
        done
        xb_log "rep $rep/$REPS $c done ($(($(date +%s) - T0)) s)"
    done
done
echo "# total wall time: $(($(date +%s) - T0)) s" | tee -a "$OUT/meta.txt"
BASES=
for b in plain:on kernel:on; do case " $ORDER " in *" $b "*) BASES="$BASES $b";; esac; done
node "$XB_BENCH/summarize.mjs" "$OUT/raw.csv" --order "$ORDER" --baselines "${BASES# }" | tee "$OUT/table.txt"
# the ratios issue 11 sets targets for, from the medians
node --input-type=module - "$OUT/raw.csv" <<'EOF' | tee "$OUT/ratios.txt"
import { readRows, median } from './bench/summarize.mjs';
const rows = readRows([process.argv[2]]);
const med = (config, workload, metric) => {
  const v = rows.filter((r) => r.config === config && r.workload === workload && r.metric === metric && Number.isFinite(r.value)).map((r) => r.value);
  return v.length ? median(v) : NaN;
};
const lines = ['== issue 11 targets (ratios of medians)'];
const ratio = (label, a, b, target) => {
  const r = a / b;
  const verdict = Number.isFinite(r) ? (r >= target ? 'meets' : 'BELOW') : 'n/a';
  lines.push(`${label.padEnd(52)} ${Number.isFinite(r) ? r.toFixed(2) : '  - '}  (target >= ${target}: ${verdict}; ${a.toFixed(3)} / ${b.toFixed(3)})`);
};
for (const [wl, label] of [['udp64', '64 B UDP kpps'], ['flood64', '64 B flood kpps']]) {
  for (const off of ['on', 'off']) {
    for (const enc of ['vxlan', 'nvgre']) ratio(`${label}: ${enc}:${off} / plain:${off}`, med(`${enc}:${off}`, wl, 'kpps_rx'), med(`plain:${off}`, wl, 'kpps_rx'), 0.85);
  }
}
// a flood ratio decides only when plain xvs was saturated too (it delivered less than trafgen offered)
for (const off of ['on', 'off']) {
  const rx = med(`plain:${off}`, 'flood64', 'kpps_rx'), tx = med(`plain:${off}`, 'flood64', 'kpps_tx');
  if (Number.isFinite(rx) && rx >= 0.95 * tx) lines.push(`64 B flood: plain:${off} delivered ${rx.toFixed(1)} of ${tx.toFixed(1)} kpps offered: not saturated, raise XB_FLOOD_RATE`);
}
// the cost per frame, whatever share of the shared CPU each daemon got: frames forwarded per CPU-second
for (const [h, role] of [[0, 'encap'], [1, 'decap']]) {
  for (const off of ['on', 'off']) {
    for (const enc of ['vxlan', 'nvgre']) ratio(`flood kpps/core h${h} (${role}): ${enc}:${off} / plain:${off}`, med(`${enc}:${off}`, 'flood64', `kpps_per_core_h${h}`), med(`plain:${off}`, 'flood64', `kpps_per_core_h${h}`), 0.85);
  }
}
for (const off of ['on', 'off']) ratio(`TCP Gb/s: vxlan:${off} / kernel:${off}`, med(`vxlan:${off}`, 'tcp', 'gbps'), med(`kernel:${off}`, 'tcp', 'gbps'), 0.7);
console.log(lines.join('\n'));
EOF
echo "results: $OUT"
