#!/usr/bin/env bash
# scripts/first-ten-minutes.sh — the README's "First ten minutes", run as written: a daemon of its own,
# two namespaces standing for VMs on a private switch, ping, the MAC table and counters, an ACL that
# drops, the trace that says why, then everything removed. Run as root after `bash scripts/setup.sh`.
#   scripts/first-ten-minutes.sh [DIR]     DIR: the daemon's config and socket (default /tmp/xvs-first)
# Names it uses: namespaces xf-vm1, xf-vm2; veths xf1, xf2; switch xf0 (stale ones are removed first).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/xvs-first}
xvs() { node "$PWD/dist/src/cli/main.js" "$@"; }
run() { printf '\n$ %s\n' "$*"; "$@"; }
export XVS_SOCKET=$DIR/xvs.sock

daemon_pid=
cleanup() {
  xvs switch delete xf0 --if-exists >/dev/null 2>&1 || true
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  for i in 1 2; do ip netns del "xf-vm$i" 2>/dev/null || true; ip link del "xf$i" 2>/dev/null || true; done
  rm -rf "$DIR"
}
cleanup
trap cleanup EXIT
mkdir -p "$DIR"

# 1. the daemon (in the foreground it would log to the terminal; here to a file)
node "$PWD/dist/src/cli/main.js" daemon --config "$DIR/config.json" --socket "$XVS_SOCKET" 2>"$DIR/daemon.log" >/dev/null &
daemon_pid=$!
for _ in $(seq 100); do grep -q 'daemon ready' "$DIR/daemon.log" && break; sleep 0.1; done
cat "$DIR/daemon.log"

# 2. two "VMs": namespaces, each with a veth whose other end stays in the host for the switch
for i in 1 2; do
  ip netns add "xf-vm$i"
  ip link add "xf$i" type veth peer name eth0 address "02:00:00:00:00:0$i" netns "xf-vm$i"
  ip -n "xf-vm$i" addr add "192.168.77.$i/24" dev eth0
  ip -n "xf-vm$i" link set eth0 up
  ip link set "xf$i" up
done

# 3. a private switch with the two as ports
run xvs switch create xf0 --type private
run xvs port add xf0 vm1 --netdev xf1
run xvs port add xf0 vm2 --netdev xf2
run ip netns exec xf-vm1 ping -c 3 -i 0.2 192.168.77.2
run xvs fdb show xf0

# 4. a port ACL that drops, the counters that count it, and the trace that says why
run xvs acl add xf0 vm2 --action deny --direction inbound --remote-ip-address 192.168.77.1/32
run ip netns exec xf-vm1 ping -c 3 -i 0.2 -W 1 192.168.77.2 || true
run xvs stats xf0
run xvs trace xf0 --in vm1 --packet 'eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),ipv4(src=192.168.77.1,dst=192.168.77.2),icmp()'
run xvs acl remove xf0 vm2 --action deny --direction inbound --remote-ip-address 192.168.77.1/32
run ip netns exec xf-vm1 ping -c 1 192.168.77.2

# 5. what the daemon keeps: a restart restores it
run xvs config show
