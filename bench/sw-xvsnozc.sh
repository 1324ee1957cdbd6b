#!/bin/bash
# bench/sw-xvsnozc.sh - xvs with zero-copy forwarding off (XVS_ZERO_COPY=0, the default: every frame copied into its pool slot)
export XVS_ZERO_COPY=0
exec "$(dirname "$0")/sw-xvs.sh" "$@"
