#!/usr/bin/env bash
# bench/switches/ovs.sh — Open vSwitch with the userspace (netdev) datapath, as a switch plug-in of
# bench/run.sh (contract: bench/switches/bridge.sh).
#   ovs.sh PORT...   a private ovsdb-server and ovs-vswitchd started by this script, not the system's
#                    service: database, sockets, pid files and logs in /tmp/xb-ovs; the only listeners are
#                    the unix sockets there (no TCP/SSL remote, no controller, no manager). Bridge xbovs0,
#                    datapath_type=netdev, PORT... as "system" ports (AF_PACKET on the veth ends), the
#                    default NORMAL flow (MAC learning), fail_mode standalone. Foreground until
#                    SIGTERM/SIGINT; then the bridge is deleted and both daemons are stopped by the PIDs
#                    this script started (TERM, then KILL), and /tmp/xb-ovs is removed.
# Env XB_OVS_TSO=1 sets other_config:userspace-tso-enable=true (switches/ovstso.sh): OVS then opens its
# ports with PACKET_VNET_HDR and carries GSO frames, the configuration for veth offloads on.
# The forwarding PID reported is ovs-vswitchd's (all its threads).
set -u
. "$(dirname "$0")/../lib.sh"
[ $# -ge 2 ] || xb_die "usage: $0 PORT PORT..."
xb_require_root
xb_require ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl
BR=${XB_PREFIX}ovs0
D=/tmp/${XB_PREFIX}-ovs
PORTS=("$@")
xb_assert_ours "$BR" "${PORTS[@]}"
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D OVS_PKGDATADIR=/usr/share/openvswitch
VSCTL=(ovs-vsctl --db="unix:$D/db.sock" --timeout=20)
DB=; VS=
stop() {
    [ -n "$VS" ] && kill -0 "$VS" 2>/dev/null && "${VSCTL[@]}" --if-exists del-br "$BR" 2>/dev/null
    xb_stop_pid "$VS"; xb_stop_pid "$DB"
    [ -e "/sys/class/net/$BR" ] && ip link del "$BR" 2>/dev/null   # the netdev bridge's own port is a TAP
    [ -n "${PB_LOGDIR:-}" ] && cp "$D/ovs-vswitchd.log" "$PB_LOGDIR/ovs-vswitchd.log" 2>/dev/null
    rm -rf "$D"
    xb_log "ovs stopped"
}
[ -e "$D" ] && xb_die "$D exists (another run, or left by a killed one: bench/run.sh removes it at start)"
trap stop EXIT; trap 'exit 143' TERM; trap 'exit 130' INT
mkdir -p "$D"
ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema || exit 1
ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" --unixctl="$D/ovsdb-server.ctl" \
    --pidfile="$D/ovsdb-server.pid" --log-file="$D/ovsdb-server.log" --no-chdir </dev/null >/dev/null 2>&1 &
DB=$!
for ((i = 0; i < 100; i++)); do [ -S "$D/db.sock" ] && break; kill -0 "$DB" 2>/dev/null || break; sleep 0.1; done
[ -S "$D/db.sock" ] || xb_die "ovsdb-server did not start: $(tail -3 "$D/ovsdb-server.log" 2>/dev/null)"
"${VSCTL[@]}" --no-wait init || exit 1
if [ "${XB_OVS_TSO:-0}" = 1 ]; then
    "${VSCTL[@]}" --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true || exit 1
fi
ovs-vswitchd "unix:$D/db.sock" --unixctl="$D/ovs-vswitchd.ctl" --pidfile="$D/ovs-vswitchd.pid" \
    --log-file="$D/ovs-vswitchd.log" --no-chdir </dev/null >/dev/null 2>&1 &
VS=$!
cmd=(add-br "$BR" -- set bridge "$BR" datapath_type=netdev fail_mode=standalone)
for p in "${PORTS[@]}"; do cmd+=(-- add-port "$BR" "$p"); done
# without --no-wait ovs-vsctl returns once ovs-vswitchd has applied the change
"${VSCTL[@]}" "${cmd[@]}" || { tail -5 "$D/ovs-vswitchd.log" >&2; exit 1; }
for p in "${PORTS[@]}"; do
    n=$("${VSCTL[@]}" get Interface "$p" ofport 2>/dev/null)
    [ "${n:--1}" -gt 0 ] 2>/dev/null || xb_die "port $p not attached (ofport ${n:-none}): $(grep -E 'WARN|ERR' "$D/ovs-vswitchd.log" | tail -2)"
done
ovs-appctl -t "$D/ovs-vswitchd.ctl" dpif/show >&2
echo "$VS" >"${PB_PIDS:-/dev/null}"; [ -n "${PB_READY:-}" ] && : >"$PB_READY"
while kill -0 "$VS" 2>/dev/null && kill -0 "$DB" 2>/dev/null; do sleep 1 & wait $!; done
xb_die "an OVS daemon exited: $(tail -3 "$D/ovs-vswitchd.log")"
