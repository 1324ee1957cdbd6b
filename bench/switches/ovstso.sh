#!/usr/bin/env bash
# bench/switches/ovstso.sh — Open vSwitch userspace datapath with userspace-tso-enable=true (bench/switches/ovs.sh).
XB_OVS_TSO=1 exec "$(dirname "$0")/ovs.sh" "$@"
