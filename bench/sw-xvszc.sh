#!/bin/bash
# bench/sw-xvszc.sh - xvs with zero-copy forwarding on (XVS_ZERO_COPY=1; off by default): the A/B of docs/QUEUES.md "Zero-copy forwarding"
export XVS_ZERO_COPY=1
exec "$(dirname "$0")/sw-xvs.sh" "$@"
