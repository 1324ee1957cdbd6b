#!/bin/bash
# bench/idle-cpu.sh [SECONDS] - CPU of an idle xvs: the harness topology (3 namespaces on veths),
# the daemon with switch pbxvs and its 3 ports, no traffic; samples /proc/<pid>/stat (all threads).
# Prints "idle_cpu <percent of one core> over <seconds> s". Run as root after scripts/setup.sh.
set -u
HB=$(cd "$(dirname "$0")/../../shared/bench" 2>/dev/null && pwd) || HB=${PB_DIR:-}
[ -x "$HB/topo.sh" ] || { echo "set PB_DIR to the shared bench harness" >&2; exit 1; }
T=${1:-10}
STATE=/tmp/pb-idle; mkdir -p "$STATE"
SW=
cleanup() { [ -n "$SW" ] && kill -TERM "$SW" 2>/dev/null && wait "$SW" 2>/dev/null; "$HB/topo.sh" down; rm -rf "$STATE"; }
trap cleanup EXIT
"$HB/topo.sh" down; "$HB/topo.sh" up --kind veth --offload on >/dev/null || exit 1
PB_READY=$STATE/ready PB_PIDS=$STATE/pids "$(dirname "$0")/sw-xvs.sh" pbv0 pbv1 pbv2 >"$STATE/sw.log" 2>&1 &
SW=$!
for _ in $(seq 1 300); do [ -e "$STATE/ready" ] && break; sleep 0.1; done
[ -e "$STATE/ready" ] || { cat "$STATE/sw.log"; exit 1; }
PID=$(cat "$STATE/pids"); sleep 3
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
a=$(ticks); sleep "$T"; b=$(ticks)
awk -v a="$a" -v b="$b" -v t="$T" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "idle_cpu %.2f %% of one core over %d s\n", (b - a) / hz / t * 100, t}'
