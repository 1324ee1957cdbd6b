#!/bin/bash
# bench/sw-xvsw2.sh - xvs with two data-path workers (every port gets a VMQ weight, spreading the queues;
# sw-xvs.sh does that when XVS_WORKERS > 1): the on-wire half of docs/BENCHMARKS.md "Worker scaling".
export XVS_WORKERS=2
exec "$(dirname "$0")/sw-xvs.sh" "$@"
