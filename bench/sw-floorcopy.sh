#!/usr/bin/env bash
# bench/sw-floorcopy.sh — bench/sw-floor.sh with a user-space copy of every frame (afp-floor --copy).
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
export XB_FLOOR_MODE=--copy
exec "$(dirname "$0")/sw-floor.sh" "$@"
