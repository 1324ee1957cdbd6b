#!/usr/bin/env bash
# bench/compare-harness.sh — do bench/run.sh's figures agree with ../shared/bench's (the harness the
# project used before it had its own)? Runs both on this machine, back to back and interleaved
# (round 1: shared then ours; round 2: ours then shared; ...), with the same configurations, workloads,
# repetitions, seconds and quiet-machine policy, then bench/compare.mjs on all the raw.csv files.
# As root, from the repository, after bench/setup.sh (it runs setup once, then both harnesses without).
#
#   bench/compare-harness.sh [-n ROUNDS] [-r REPS] [-c "CONFIGS"] [-w "WORKLOADS"] [-t SECONDS] [-o OUTDIR]
#     defaults: -n 2 -r 3 -c "bridge:on ovs:off ovstso:on xvs:off xvs:on" -w "tcp udp64 flood64 rr ping" -t 3
#     -o default bench/results/<date>-<time>-compare: round<i>-shared/, round<i>-ours/, compare.txt
#   env PB_HARNESS  the shared harness (default ../shared/bench next to the repository)
#       QUIET_MAX (30), QUIET_WAIT (60), QUIET_BUDGET (900): passed to both as PB_QUIET_* / XB_QUIET_*
#
# The shared harness gets only xvs's plug-ins (bench/sw-xvs*.sh, through a temporary PB_SW_DIR of
# wrappers), so its bridge and OVS are its own: the comparison covers topology, peers, workloads and
# summary alike. Both harnesses take the same measurement lock and clean up after themselves.
# Short run on a busy machine (docs/BENCHMARKS.md, "Agreement with the shared harness"):
#   bash bench/compare-harness.sh -n 2 -r 2 -c "bridge:on xvs:off" -w "udp64 rr"
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=2 REPS=3 T=3
CONFIGS="bridge:on ovs:off ovstso:on xvs:off xvs:on"
WORKLOADS="tcp udp64 flood64 rr ping"
OUT=
while getopts "n:r:c:w:t:o:h" o; do
    case "$o" in
        n) ROUNDS=$OPTARG;; r) REPS=$OPTARG;; c) CONFIGS=$OPTARG;; w) WORKLOADS=$OPTARG;; t) T=$OPTARG;;
        o) OUT=$OPTARG;; *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2;;
    esac
done
case "$ROUNDS" in ''|*[!0-9]*) xb_die "-n: rounds must be a number 1..10";; esac
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] || xb_die "-n: rounds must be 1..10"
xb_require_root
HARNESS=${PB_HARNESS:-$XB_ROOT/../shared/bench}
[ -x "$HARNESS/peers.sh" ] || xb_die "no shared harness at $HARNESS (peers.sh): set PB_HARNESS"
bash "$XB_BENCH/setup.sh" || xb_die "bench/setup.sh failed"
OUT=${OUT:-$XB_ROOT/bench/results/$(date +%F-%H%M)-compare}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1

# xvs's plug-ins for the shared harness, and nothing else (its own bridge and OVS scripts stay in use)
SWDIR=$(mktemp -d /tmp/xb-compare.XXXXXX)
trap 'rm -rf "$SWDIR"' EXIT
for c in $CONFIGS; do
    n=${c%%:*}
    if [ -x "$XB_BENCH/sw-$n.sh" ] && [ ! -e "$SWDIR/sw-$n.sh" ]; then
        printf '#!/bin/bash\nexec %q "$@"\n' "$XB_BENCH/sw-$n.sh" >"$SWDIR/sw-$n.sh"; chmod +x "$SWDIR/sw-$n.sh"
    fi
done
export PB_QUIET_MAX=${QUIET_MAX:-30} PB_QUIET_WAIT=${QUIET_WAIT:-60} PB_QUIET_BUDGET=${QUIET_BUDGET:-900}
export XB_QUIET_MAX=$PB_QUIET_MAX XB_QUIET_WAIT=$PB_QUIET_WAIT XB_QUIET_BUDGET=$PB_QUIET_BUDGET

shared() { PB_SW_DIR=$SWDIR "$HARNESS/peers.sh" -r "$REPS" -c "$CONFIGS" -w "$WORKLOADS" -t "$T" -o "$OUT/round$1-shared" >"$OUT/round$1-shared.log" 2>&1; }
ours() { bash "$XB_BENCH/run.sh" -S -r "$REPS" -c "$CONFIGS" -w "$WORKLOADS" -t "$T" -o "$OUT/round$1-ours" >"$OUT/round$1-ours.log" 2>&1; }
{ echo "# compare-harness.sh $(date -Is): rounds $ROUNDS, -r $REPS -c \"$CONFIGS\" -w \"$WORKLOADS\" -t $T"
  echo "# shared harness $HARNESS; quiet policy max ${PB_QUIET_MAX}%core, wait ${PB_QUIET_WAIT}s, budget ${PB_QUIET_BUDGET}s"; } | tee "$OUT/meta.txt"
for ((i = 1; i <= ROUNDS; i++)); do
    if [ $((i % 2)) = 1 ]; then first=shared second=ours; else first=ours second=shared; fi
    for h in $first $second; do
        xb_log "round $i/$ROUNDS: $h"
        "$h" "$i" || xb_log "round $i: $h exited with $? (see $OUT/round$i-$h.log)"
    done
done
node "$XB_BENCH/compare.mjs" --order "$CONFIGS" --shared "$OUT"/round*-shared/raw.csv --ours "$OUT"/round*-ours/raw.csv | tee "$OUT/compare.txt"
echo "results: $OUT"
