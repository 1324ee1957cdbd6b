#!/usr/bin/env bash
# bench/sw-floortx.sh — bench/sw-floor.sh sending through the egress socket's PACKET_TX_RING (afp-floor --tx-ring).
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
export XB_FLOOR_MODE=--tx-ring
exec "$(dirname "$0")/sw-floor.sh" "$@"
