#!/bin/bash
# xvs with capture `pcap` enabled and a match that no benchmark frame satisfies: the cost of a capture
# extension that looks at every frame and writes none (docs/BENCHMARKS.md, issue 4).
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
export XVS_ENABLE='pcap={"dir":"@D@/pcap","match":"ipv4.dst=192.0.2.255"}'
exec "$(dirname "$0")/sw-xvs.sh" "$@"
