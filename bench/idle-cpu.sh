#!/usr/bin/env bash
# bench/idle-cpu.sh [SECONDS] - CPU of an idle xvs: the bench topology (bench/topo.sh: 3 namespaces on
# veths, offloads on), the daemon with switch xbxvs and its 3 ports (bench/sw-xvs.sh), no traffic;
# samples /proc/<pid>/stat (all threads). Prints "idle_cpu <percent of one core> over <seconds> s".
# Run as root after bench/setup.sh. Removes what it made in every outcome; it shares bench/run.sh's
# names, so it refuses to run while a bench/run.sh holds its lock.
set -u
. "$(dirname "$0")/topo.sh"
T=${1:-10}
case "$T" in ''|*[!0-9]*) xb_die "SECONDS must be a number";; esac
xb_require_root
exec 8>"$XB_RUN_LOCK"
flock -n 8 || xb_die "bench/run.sh is running ($XB_RUN_LOCK)"
STATE=$XB_STATE/idle
SW=
cleanup() { xb_stop_pid "$SW"; xb_topo_down; rm -rf "$XB_STATE"; }
trap cleanup EXIT; trap 'exit 143' TERM; trap 'exit 130' INT
xb_topo_down
mkdir -p "$STATE"
xb_topo_up on || exit 1
PB_READY=$STATE/ready PB_PIDS=$STATE/pids "$XB_BENCH/sw-xvs.sh" "$(xb_port 0)" "$(xb_port 1)" "$(xb_port 2)" \
    >"$STATE/sw.log" 2>&1 8>&- &
SW=$!
for _ in $(seq 1 300); do [ -e "$STATE/ready" ] && break; kill -0 "$SW" 2>/dev/null || break; sleep 0.1; done
[ -e "$STATE/ready" ] || { cat "$STATE/sw.log" >&2; exit 1; }
PID=$(cat "$STATE/pids"); sleep 3
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$PID/stat"; }
a=$(ticks); sleep "$T"; b=$(ticks)
awk -v a="$a" -v b="$b" -v t="$T" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "idle_cpu %.2f %% of one core over %d s\n", (b - a) / hz / t * 100, t}'
