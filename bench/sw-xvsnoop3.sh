#!/bin/bash
# xvs with three no-op filter extensions in the pipeline (noop, noop1, noop2): the per-stage cost.
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
export XVS_NOOP_PLUGINS=2 XVS_ENABLE='noop noop1 noop2'
exec "$(dirname "$0")/sw-xvs.sh" "$@"
