#!/usr/bin/env bash
# bench/run.sh [peers.sh OPTIONS] — the benchmark from a fresh clone, as root (`sudo npm run bench`):
# installs the peers' tools (Open vSwitch, sockperf, trafgen, vde_switch, iperf3), builds xvs if it
# is not built, and runs the peer harness with xvs's switch scripts (bench/sw-*.sh).
#
# Without options it runs the issue-3 comparison, 3 repetitions, into bench/results/<date>-<time>:
#   -r 3 -c "bridge:on ovs:off ovstso:on vde xvs:off xvs:on"
# With options they go to peers.sh unchanged, e.g.
#   sudo bash bench/run.sh -r 3 -c "ovs:off xvs:off xvsnocoal:off" -w udp64
# The harness is ../shared/bench next to the repository, or PB_HARNESS=DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${PB_HARNESS:-$ROOT/../shared/bench}
if [ "$(id -u)" != 0 ]; then echo "[bench] must run as root (namespaces, switches): sudo npm run bench" >&2; exit 1; fi
if [ ! -x "$HARNESS/peers.sh" ]; then
  echo "[bench] peer harness not found at $HARNESS (peers.sh): set PB_HARNESS to its directory" >&2
  exit 1
fi
# the peers' tools, as the harness lists them (lib.sh): OVS userspace, sockperf, trafgen, vde_switch
bash "$ROOT/scripts/apt-install.sh" iperf3 sockperf netsniff-ng openvswitch-switch vde2 ethtool iputils-ping iproute2
[ -f "$ROOT/dist/src/cli/main.js" ] || bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
if [ $# -eq 0 ]; then
  set -- -r 3 -c "bridge:on ovs:off ovstso:on vde xvs:off xvs:on" -o "bench/results/$(date +%F-%H%M)"
fi
echo "[bench] PB_SW_DIR=$ROOT/bench $HARNESS/peers.sh $*"
exec env PB_SW_DIR="$ROOT/bench" "$HARNESS/peers.sh" "$@"
