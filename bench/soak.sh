#!/usr/bin/env bash
# Soak (issue 9 item 18; not in CI): a real daemon with a switch of veth ports into namespaces, mixed
# traffic (iperf3 TCP/UDP, ping, bounded floods) while the configuration changes every second and a
# plug-in fails now and then; samples the daemon's RSS and counters every second and prints the
# figures. Bounded to 10 minutes (--seconds N, N <= 600). Run as root after scripts/setup.sh.
# --no-wedge: no worker restarts; --mem-debug: per-thread heap after forced GC, RSS split;
# --heap-snapshots DIR: main-thread heap snapshots at t = 60 s and at the end.
#
#   sudo bash bench/soak.sh               # 600 s
#   sudo bash bench/soak.sh --seconds 180
#   sudo bash bench/soak.sh --seconds 240 --no-wedge --mem-debug   # where the memory goes (docs/RELIABILITY.md)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/reliability/soak.js ] || npx tsc -p .
exec timeout --signal=TERM --kill-after=30 900 node dist/src/reliability/soak.js "$@"
