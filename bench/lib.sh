# shellcheck shell=bash
# bench/lib.sh — sourced by bench/run.sh, bench/topo.sh, bench/workloads.sh and the switch plug-ins.
#
# What it pins down (the machine may be shared with other people):
#   * names: everything the bench creates starts with XB_PREFIX ("xb"): namespaces xbns<i>, veths
#     xbv<i> (switch side) / xbe<i> (namespace side), bridges xbbr0 / xbovs0, state in /tmp/xb-*.
#     Nothing else is ever deleted: xb_assert_ours guards every destructive command.
#   * processes are stopped only by a PID the bench started (xb_stop_pid), never by name.
#   * traffic stays between our namespaces on 198.18.0.0/24 (RFC 2544's benchmarking range); the
#     namespaces have no default route, so a wrong address fails instead of leaving the machine.
#   * every timed window holds the machine-wide measurement lock (XB_MEASURE_LOCK, by default the
#     one ../shared/bench uses too), so two benchmark runs never measure at the same time.

XB_BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XB_ROOT=$(cd "$XB_BENCH/.." && pwd)
XB_PREFIX=xb
XB_STATE=/tmp/xb-bench             # runtime state (removed at the end of a run)
XB_MEASURE_LOCK=${XB_MEASURE_LOCK:-/tmp/pb-bench.measure.lock}
XB_RUN_LOCK=/tmp/xb-bench.run.lock
XB_LOCK_WAIT=${XB_LOCK_WAIT:-900}
XB_PORTS=3                       # endpoint 0 sends, 1 receives, 2 is a bystander
XB_T=${XB_T:-3}                  # seconds of traffic per measurement
XB_NET=198.18.0

xb_ns()   { echo "${XB_PREFIX}ns$1"; }
xb_ip()   { echo "$XB_NET.$((10 + $1))"; }
xb_mac()  { printf '02:78:62:00:00:%02x' "$1"; }   # 02:"x""b":00:00:i, locally administered
xb_port() { echo "${XB_PREFIX}v$1"; }                # veth end in the root namespace: the switch port
xb_nic()  { echo "${XB_PREFIX}e$1"; }                # veth end inside namespace i: the "VM" NIC

xb_log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
xb_die() { xb_log "error: $*"; exit 1; }

xb_assert_ours() {
    local n
    for n in "$@"; do
        case "$n" in "$XB_PREFIX"?*) ;; *) xb_die "refusing to touch '$n' (not an $XB_PREFIX* name)";; esac
    done
}

xb_require_root() { [ "$(id -u)" = 0 ] || xb_die "must run as root (namespaces, veths, switches): sudo npm run bench"; }

xb_require() {
    local t missing=()
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    [ ${#missing[@]} -eq 0 ] || xb_die "missing programs: ${missing[*]} (bash bench/setup.sh installs them)"
}

# xb_stop_pid PID: TERM, up to 5 s, then KILL. Only ever called with PIDs the bench started.
xb_stop_pid() {
    local pid=${1:-} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# xb_listening NS tcp|udp PORT: wait (max 5 s) until something listens on PORT inside NS.
xb_listening() {
    local opt=-ltnH i
    [ "$2" = udp ] && opt=-lunH
    for ((i = 0; i < 50; i++)); do
        [ -n "$(ip netns exec "$1" ss "$opt" "sport = :$3" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    return 1
}

# xb_counter NS DEV NAME: an interface counter (rx_packets, tx_packets, ...) inside NS.
xb_counter() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0; }

# ------------------------------------------------------------------------------ CPU accounting
# xb_cpu_mark PID...: one line "<time s> <ticks of PIDs> <user nice system idle iowait irq softirq
# steal of the machine> <file>", where the file lists "pid ticks" of every foreign process: user-space
# processes that are not ours (not in one of our namespaces, not in the bench's session, not the
# switch's PIDs, not kernel threads): the other users of a shared machine, whose CPU is the noise in
# the figures. xb_cpu_between reads and removes the files.
xb_cpu_mark() {
    local ticks=0 p nsino sid file
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && ticks=$((ticks + $(sed 's/^.*) //' "/proc/$p/stat" | cut -d' ' -f12,13 | tr ' ' '+')))
    done
    nsino=$(for f in /run/netns/"$XB_PREFIX"ns*; do [ -e "$f" ] && stat -L -c %i "$f"; done | tr '\n' ' ')
    sid=$(sed 's/^.*) //' /proc/$$/stat | cut -d' ' -f4)
    file=$(mktemp "$XB_STATE/cpu.XXXXXX")
    find /proc -maxdepth 3 -path '/proc/[0-9]*/ns/net' -printf '%h %l\n' 2>/dev/null |
        awk -v ours="$nsino" -v skip="$*" -v sid="$sid" '
            BEGIN { n = split(ours, a, " "); for (i = 1; i <= n; i++) NS["net:[" a[i] "]"] = 1
                    n = split(skip, a, " "); for (i = 1; i <= n; i++) SK[a[i]] = 1 }
            {
                split($1, P, "/"); pid = P[3]; if (($2 in NS) || (pid in SK)) next
                f = "/proc/" pid "/stat"
                if ((getline s < f) <= 0) next
                close(f); sub(/^.*\) /, "", s); split(s, x, " ")
                # x[2] ppid, x[4] session, x[12] utime, x[13] stime
                if (x[2] == 2 || pid == 2 || x[4] == sid) next
                print pid, x[12] + x[13]
            }' >"$file"
    echo "$(date +%s.%N) $ticks $(awk '/^cpu /{print $2,$3,$4,$5,$6,$7,$8,$9; exit}' /proc/stat) $file"
}

# xb_cpu_between MARK_A MARK_B NPIDS: "switch host softirq foreign wall" in %core (100 = one core;
# switch is NA without PIDs, i.e. for the in-kernel bridge). Foreign counts a process's ticks since
# mark A, or all of them if it started after A; one that started and ended in between is missed
# (host counts everything).
xb_cpu_between() {
    local fa fb
    fa=${1##* }; fb=${2##* }
    awk -v a="$1" -v b="$2" -v np="$3" -v hz="$(getconf CLK_TCK)" '
        FNR == 1 { f++ }
        f == 1 { T[$1] = $2; next }
        { fg += ($1 in T) ? $2 - T[$1] : $2 }
        END {
            split(a, A, " "); split(b, B, " ")
            w = B[1] - A[1]; if (w <= 0) w = 1e-6
            tot = 0; for (i = 3; i <= 10; i++) tot += B[i] - A[i]
            idle = (B[6] - A[6]) + (B[7] - A[7])
            sw = np > 0 ? sprintf("%.1f", (B[2] - A[2]) / hz / w * 100) : "NA"
            printf "%s %.1f %.1f %.1f %.3f\n", sw, (tot - idle) / hz / w * 100, (B[9] - A[9]) / hz / w * 100,
                fg / hz / w * 100, w }' "$fa" "$fb"
    rm -f "$fa" "$fb"
}

# xb_busy SECONDS: how busy the whole machine is (%core, 200 = both cores of a 2-core machine).
xb_busy() {
    local a b
    a=$(awk '/^cpu /{print $2,$3,$4,$5,$6,$7,$8,$9; exit}' /proc/stat); sleep "$1"
    b=$(awk '/^cpu /{print $2,$3,$4,$5,$6,$7,$8,$9; exit}' /proc/stat)
    awk -v a="$a" -v b="$b" -v s="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { split(a, A, " "); split(b, B, " ")
        t = 0; for (i = 1; i <= 8; i++) t += B[i] - A[i]; idle = B[4] - A[4] + B[5] - A[5]
        printf "%.0f\n", (t - idle) / hz / s * 100 }'
}

# xb_wait_quiet: before a measurement, wait until the machine is less than XB_QUIET_MAX (30) %core busy,
# at most XB_QUIET_WAIT (60) s each time and XB_QUIET_BUDGET (900) s over the whole run (then measure
# anyway: foreign_cpu records it; the budget starts at the first measurement); XB_QUIET_MAX=0: no wait.
XB_QUIET_DEADLINE=
xb_wait_quiet() {
    local max=${XB_QUIET_MAX:-30} limit busy
    [ "$max" = 0 ] && return 0
    [ -n "$XB_QUIET_DEADLINE" ] || XB_QUIET_DEADLINE=$(($(date +%s) + ${XB_QUIET_BUDGET:-900}))
    limit=$(($(date +%s) + ${XB_QUIET_WAIT:-60}))
    [ "$XB_QUIET_DEADLINE" -lt "$limit" ] && limit=$XB_QUIET_DEADLINE
    while :; do
        busy=$(xb_busy 1)
        [ "$busy" -lt "$max" ] && return 0
        if [ "$(date +%s)" -ge "$limit" ]; then
            xb_log "machine ${busy}%core busy (others' work); measuring anyway, foreign_cpu records it"
            return 0
        fi
    done
}

# xb_measure LOG REP CONFIG NAME OFFLOAD WORKLOAD COMMAND...: one timed measurement. Waits for a quiet
# machine, runs COMMAND (a workload function of bench/workloads.sh, or a wrapper of one) holding the
# machine-wide measurement lock, keeps its output in LOG.WORKLOAD.out and records the lock wait, its
# RESULT and ERROR lines and a non-zero exit through the caller's `row REP CONFIG NAME OFFLOAD WORKLOAD
# METRIC VALUE UNIT`.
xb_measure() {
    local log=$1 rep=$2 cfg=$3 name=$4 off=$5 wl=$6 t0 lw out rc kw w m v u
    shift 6
    xb_wait_quiet
    t0=$(date +%s.%N)
    exec 9>"$XB_MEASURE_LOCK"
    if ! flock -w "$XB_LOCK_WAIT" 9; then
        exec 9>&-
        row "$rep" "$cfg" "$name" "$off" "$wl" error 1 "measurement lock busy for ${XB_LOCK_WAIT} s"; return 0
    fi
    lw=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    out=$("$@" 2>&1); rc=$?
    flock -u 9; exec 9>&-
    echo "$out" >"$log.$wl.out"
    row "$rep" "$cfg" "$name" "$off" "$wl" lock_wait_s "$lw" s
    while read -r kw w m v u; do
        case "$kw" in
            RESULT) row "$rep" "$cfg" "$name" "$off" "$w" "$m" "$v" "$u";;
            ERROR) m="$m $v $u"; row "$rep" "$cfg" "$name" "$off" "$w" error 1 "${m//,/ }";;
        esac
    done <<<"$out"
    [ $rc = 0 ] || row "$rep" "$cfg" "$name" "$off" "$wl" error 1 "exit $rc"
}

# xb_check_int FLAG NAME VALUE MIN MAX: VALUE is a whole number in MIN..MAX, or the run stops naming FLAG
xb_check_int() {
    case "$3" in ''|*[!0-9]*) xb_die "$1: $2 must be a number $4..$5, not '$3'";; esac
    [ "$3" -ge "$4" ] && [ "$3" -le "$5" ] || xb_die "$1: $2 must be $4..$5, not $3"
}
# xb_check_words FLAG WHAT "KNOWN WORDS" LIST: every word of LIST is one of KNOWN and LIST has one at least
xb_check_words() {
    local x
    for x in $4; do
        case " $3 " in *" $x "*) ;; *) xb_die "$1: unknown $2 '$x' ($3)";; esac
    done
    [ -n "${4// /}" ] || xb_die "$1: no $2"
}
