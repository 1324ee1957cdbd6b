#!/bin/bash
# xvs with every port read and written through libpcap (`port add --io pcap`, issue 12 item 6) instead of
# AF_PACKET: the cost of the libpcap backend next to `xvs` (docs/BENCHMARKS.md). libpcap carries no
# virtio-net header, so only `xvslibpcap:off` is a valid config (with `:on` the namespaces send 64 KiB GSO
# frames, which a libpcap port counts as truncated).
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
export XVS_IO=pcap
exec "$(dirname "$0")/sw-xvs.sh" "$@"
