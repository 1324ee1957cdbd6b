#!/bin/bash
# bench/sw-xvsnocoal.sh - xvs with the data-path tuning it had before receive coalescing
# (worker at nice 5, no coalescing sleep): the A/B of docs/BENCHMARKS.md "Receive coalescing".
export XVS_NICE=5 XVS_COALESCE_US=0
exec "$(dirname "$0")/sw-xvs.sh" "$@"
