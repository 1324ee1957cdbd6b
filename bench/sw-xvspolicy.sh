#!/bin/bash
# xvs with a full set of port policies on every port (issue 10's cost benchmark): VLAN access 10,
# MAC-spoofing protection, DHCP and router guards, 10 port ACL entries and 5 extended ACL entries,
# none of which denies the benchmark's own traffic (a frame is checked against all of them).
[ "${1:-}" = --port-kind ] && { echo veth; exit 0; }
export XVS_POLICY=1
exec "$(dirname "$0")/sw-xvs.sh" "$@"
