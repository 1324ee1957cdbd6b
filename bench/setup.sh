#!/usr/bin/env bash
# bench/setup.sh — what bench/run.sh needs on a fresh Debian 12 machine, idempotent; run as root.
# Called by bench/run.sh (so by `sudo npm run bench`) unless it is given -S.
#   1. the benchmark's own programs (APT_PACKAGES below, through scripts/apt-install.sh: only the
#      missing ones are installed)   2. xvs itself, built, when dist/ is missing (scripts/setup.sh)
# Installing openvswitch-switch may start the distribution's own OVS service; the bench never uses it:
# bench/switches/ovs.sh starts a private ovsdb-server and ovs-vswitchd of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  iproute2 ethtool procps iputils-ping  # ip/ss (namespaces, veths, listeners), offloads, sysctl, ping workload
  iperf3               # tcp and udp64 workloads
  sockperf             # rr workload (UDP ping-pong)
  netsniff-ng          # trafgen: the flood64 workload
  openvswitch-switch openvswitch-common  # Open vSwitch peers: ovs-vswitchd, ovs-vsctl; ovsdb-server, ovsdb-tool, ovs-appctl
  git                  # the commit under test, recorded in meta.txt
)
# also used, from Debian's base system: bash, coreutils (timeout, sleep, sort), util-linux (flock),
# findutils (find), mawk (awk), sed, grep; and node, xvs's own runtime.

if [ "$(id -u)" != 0 ]; then
  echo "[bench] must run as root (it installs packages, the bench creates namespaces): sudo npm run bench" >&2
  exit 1
fi
bash scripts/apt-install.sh "${APT_PACKAGES[@]}"
if [ ! -f dist/src/cli/main.js ]; then
  printf '\n[bench] xvs is not built: scripts/setup.sh\n'
  bash scripts/setup.sh
fi
