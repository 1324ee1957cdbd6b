# shellcheck shell=bash
# bench/workloads.sh — sourced by bench/run.sh: one function per workload, traffic from endpoint 0
# (xbns0) to endpoint 1 (xbns1), endpoint 2 a bystander. Each runs XB_T seconds of traffic (every
# program under `timeout`, every server it starts stopped by its PID) and prints lines
#     RESULT <workload> <metric> <value> <unit>      or      ERROR <workload> <message>
# and, for the traffic window, the CPU lines (xb_cpu_lines). The caller holds the measurement lock and
# passes the switch's forwarding PIDs in XB_SW_PIDS (empty for the kernel bridge).
#
#   tcp      iperf3, one TCP stream: gbps (receiver goodput), retrans (sender retransmissions)
#   udp64    iperf3 -u -l 18 -b 0: 18-byte payloads = 60-byte frames, one unthrottled sender;
#            kpps_rx (datagrams the receiving socket got, per second), kpps_tx (sent), loss_pct
#   flood64  trafgen: 60-byte UDP frames to endpoint 1 from endpoint 0's NIC (PACKET_TX_RING, no
#            qdisc) for 1 s of warm-up + XB_T s; kpps_rx / kpps_tx from the NICs' counters over the
#            XB_T window, leak_pkts = frames that reached the bystander (a learning switch: 0)
#   rr       sockperf ping-pong, one 18-byte UDP message outstanding: tps (round trips/s), p50_us, p99_us
#   ping     ICMP echo at 100/s for XB_T s: p50_us, p99_us, loss_pct (includes the switch's wake-up)

xb_result() { echo "RESULT $1 $2 $3 $4"; }
xb_error() { echo "ERROR $1 $(echo "$2" | tr '\n,"' '   ' | cut -c1-240)"; }

# xb_cpu_lines WORKLOAD MARK_A MARK_B
xb_cpu_lines() {
    local sw host si foreign wall
    read -r sw host si foreign wall < <(xb_cpu_between "$2" "$3" "$(echo ${XB_SW_PIDS:-} | wc -w)")
    xb_result "$1" sw_cpu "$sw" %core
    xb_result "$1" host_cpu "$host" %core
    xb_result "$1" softirq_cpu "$si" %core
    xb_result "$1" foreign_cpu "$foreign" %core
}

# xb_json FILE EXPR: evaluate a JavaScript expression over the JSON document j in FILE (node is the
# project's own runtime; iperf3 -J output is parsed as JSON rather than scraped).
xb_json() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = eval(process.argv[2]); if (v === undefined || Number.isNaN(v)) process.exit(1); console.log(v)' "$1" "$2" 2>/dev/null; }

# xb_iperf WORKLOAD PORT CLIENT-ARGS...: server in endpoint 1 (one test, then it exits), client in
# endpoint 0 with -J into $XB_STATE/WORKLOAD.json; CPU marks around the client. Returns the client's status.
# XB_IPERF_CPU: run both on that CPU only (bench/hnv.sh pins the switches to another one).
xb_iperf() {
    local wl=$1 port=$2 srv rc a b; shift 2
    ip netns exec "$(xb_ns 1)" ${XB_IPERF_CPU:+taskset -c "$XB_IPERF_CPU"} timeout $((XB_T + 30)) iperf3 -s -1 -B "$(xb_ip 1)" -p "$port" \
        >"$XB_STATE/$wl.server.log" 2>&1 9>&- &
    srv=$!
    if ! xb_listening "$(xb_ns 1)" tcp "$port"; then
        xb_error "$wl" "iperf3 server not listening: $(tail -2 "$XB_STATE/$wl.server.log")"; xb_stop_pid "$srv"; return 1
    fi
    a=$(xb_cpu_mark ${XB_SW_PIDS:-})
    ip netns exec "$(xb_ns 0)" ${XB_IPERF_CPU:+taskset -c "$XB_IPERF_CPU"} timeout $((XB_T + 20)) iperf3 -c "$(xb_ip 1)" -p "$port" -t "$XB_T" \
        --connect-timeout 3000 -J "$@" >"$XB_STATE/$wl.json" 2>"$XB_STATE/$wl.err" 9>&-
    rc=$?
    b=$(xb_cpu_mark ${XB_SW_PIDS:-})
    xb_stop_pid "$srv"
    XB_MARKS="$a|$b"
    [ $rc = 0 ] || xb_error "$wl" "iperf3 exit $rc: $(xb_json "$XB_STATE/$wl.json" j.error) $(tail -1 "$XB_STATE/$wl.err")"
    return $rc
}

xb_wl_tcp() {
    local g r
    xb_iperf tcp 5301 || { xb_result tcp gbps 0 Gbit/s; return 0; }
    g=$(xb_json "$XB_STATE/tcp.json" '(j.end.sum_received.bits_per_second / 1e9).toFixed(3)') ||
        { xb_error tcp "no receiver figure in iperf3's report"; return 0; }
    r=$(xb_json "$XB_STATE/tcp.json" 'j.end.sum_sent.retransmits') || r=NA
    xb_result tcp gbps "$g" Gbit/s
    xb_result tcp retrans "$r" segs
    xb_cpu_lines tcp "${XB_MARKS%|*}" "${XB_MARKS#*|}"
}

xb_wl_udp64() {
    local f=$XB_STATE/udp64.json rx tx loss
    # XB_UDP_RATE: offer that many datagrams per second (iperf3 -b counts payload bits: 18 bytes = 144)
    xb_iperf udp64 5302 -u -l 18 -b "$(( ${XB_UDP_RATE:-0} * 144 ))" || { xb_result udp64 kpps_rx 0 kpps; return 0; }
    rx=$(xb_json "$f" 'const r = j.end.sum_received; ((r.packets - r.lost_packets) / r.seconds / 1000).toFixed(1)') ||
        { xb_error udp64 "no receiver figure in iperf3's report"; return 0; }
    tx=$(xb_json "$f" '(j.end.sum_sent.packets / j.end.sum_sent.seconds / 1000).toFixed(1)') || tx=NA
    loss=$(xb_json "$f" 'j.end.sum_received.lost_percent.toFixed(2)') || loss=NA
    xb_result udp64 kpps_rx "$rx" kpps
    xb_result udp64 kpps_tx "$tx" kpps
    xb_result udp64 loss_pct "$loss" %
    xb_cpu_lines udp64 "${XB_MARKS%|*}" "${XB_MARKS#*|}"
}

xb_wl_flood64() {
    local cfg=$XB_STATE/flood64.trafgen log=$XB_STATE/flood64.log tg a b s0 r0 y0 s1 r1 y1 hex
    local src dst bys
    src=$(xb_ns 0); dst=$(xb_ns 1); bys=$(xb_ns 2)
    hex() { echo "$1" | sed 's/^/0x/; s/:/, 0x/g'; }
    # Ethernet (dst endpoint 1, src endpoint 0, IPv4), IPv4 (46 bytes, DF, TTL 64, UDP), UDP 9 -> 9
    # (26 bytes), 18 zero bytes: 60 bytes; trafgen fills both checksums.
    cat >"$cfg" <<EOF
{ $(hex "$(xb_mac 1)"), $(hex "$(xb_mac 0)"), c16(0x0800),
  0x45, 0x00, c16(46), c16(0), c16(0x4000), 64, 17, csumip(14, 33),
  $(xb_ip 0 | tr . ,), $(xb_ip 1 | tr . ,),
  c16(9), c16(9), c16(26), csumudp(14, 34),
  fill(0x00, 18) }
EOF
    # the switch learns (again) where endpoints 1 and 2 are before the flood
    ip netns exec "$dst" ping -c 1 -W 1 "$(xb_ip 0)" >/dev/null 2>&1
    ip netns exec "$bys" ping -c 1 -W 1 "$(xb_ip 0)" >/dev/null 2>&1
    # trafgen forks a worker; timeout signals the whole group: the flood ends after 1 + XB_T + 1 s at most
    # XB_FLOOD_CPU: run trafgen on that CPU only (bench/hnv.sh pins the switches to another one);
    # XB_FLOOD_RATE: offer that many frames per second instead of as many as trafgen can send
    ip netns exec "$src" timeout --signal=INT --kill-after=2 $((XB_T + 2)) \
        ${XB_FLOOD_CPU:+taskset -c "$XB_FLOOD_CPU"} trafgen -o "$(xb_nic 0)" -i "$cfg" -P 1 -C -Q --no-sock-mem \
        ${XB_FLOOD_RATE:+-b "${XB_FLOOD_RATE}pps"} >"$log" 2>&1 9>&- &
    tg=$!
    sleep 1
    kill -0 "$tg" 2>/dev/null || { xb_error flood64 "trafgen exited: $(tail -2 "$log")"; wait "$tg"; return 0; }
    a=$(xb_cpu_mark ${XB_SW_PIDS:-})
    s0=$(xb_counter "$src" "$(xb_nic 0)" tx_packets); r0=$(xb_counter "$dst" "$(xb_nic 1)" rx_packets)
    y0=$(xb_counter "$bys" "$(xb_nic 2)" rx_packets)
    sleep "$XB_T"
    s1=$(xb_counter "$src" "$(xb_nic 0)" tx_packets); r1=$(xb_counter "$dst" "$(xb_nic 1)" rx_packets)
    y1=$(xb_counter "$bys" "$(xb_nic 2)" rx_packets)
    b=$(xb_cpu_mark ${XB_SW_PIDS:-})
    xb_stop_pid "$tg"
    awk -v a="$a" -v b="$b" -v tx=$((s1 - s0)) -v rx=$((r1 - r0)) -v leak=$((y1 - y0)) 'BEGIN {
        split(a, A, " "); split(b, B, " "); w = B[1] - A[1]
        printf "RESULT flood64 kpps_rx %.1f kpps\nRESULT flood64 kpps_tx %.1f kpps\nRESULT flood64 leak_pkts %d pkts\n",
            rx / w / 1000, tx / w / 1000, leak }'
    xb_cpu_lines flood64 "$a" "$b"
}

xb_wl_rr() {
    local port=11311 srv a b out tps p50 p99
    ip netns exec "$(xb_ns 1)" timeout $((XB_T + 30)) sockperf server -i "$(xb_ip 1)" -p "$port" \
        >"$XB_STATE/rr.server.log" 2>&1 9>&- &
    srv=$!
    xb_listening "$(xb_ns 1)" udp "$port" || { xb_error rr "sockperf server not listening"; xb_stop_pid "$srv"; return 0; }
    a=$(xb_cpu_mark ${XB_SW_PIDS:-})
    out=$(ip netns exec "$(xb_ns 0)" timeout $((XB_T + 20)) sockperf ping-pong -i "$(xb_ip 1)" -p "$port" \
        -t "$XB_T" -m 18 --full-rtt --mps=max 2>&1 9>&-)
    b=$(xb_cpu_mark ${XB_SW_PIDS:-})
    xb_stop_pid "$srv"
    echo "$out" >"$XB_STATE/rr.client.log"
    # "sockperf: [Valid Duration] RunTime=2.999 sec; SentMessages=...; ReceivedMessages=63120"
    # "sockperf: ---> percentile 50.000 =   44.125"
    tps=$(echo "$out" | sed -n 's/.*Valid Duration.*RunTime=\([0-9.]*\) sec.*ReceivedMessages=\([0-9]*\).*/\2 \1/p' |
        awk '$2 > 0 { printf "%.0f", $1 / $2 }')
    p50=$(echo "$out" | sed -n 's/.*percentile 50\.000 = *\([0-9.]*\).*/\1/p')
    p99=$(echo "$out" | sed -n 's/.*percentile 99\.000 = *\([0-9.]*\).*/\1/p')
    if [ -z "$tps" ] || [ -z "$p50" ]; then
        xb_error rr "no figures from sockperf: $(echo "$out" | grep -iE 'error|warn' | tail -1)"
        xb_result rr tps 0 trans/s; return 0
    fi
    xb_result rr tps "$tps" trans/s
    xb_result rr p50_us "$p50" us
    xb_result rr p99_us "${p99:-NA}" us
    xb_cpu_lines rr "$a" "$b"
}

xb_wl_ping() {
    local n=$((XB_T * 100)) a b out
    a=$(xb_cpu_mark ${XB_SW_PIDS:-})
    out=$(ip netns exec "$(xb_ns 0)" timeout $((XB_T + 20)) ping -n -i 0.01 -W 1 -c "$n" "$(xb_ip 1)" 2>&1 9>&-)
    b=$(xb_cpu_mark ${XB_SW_PIDS:-})
    echo "$out" | sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' | sort -g | awk -v n="$n" '
        { v[NR] = $1 * 1000 }
        END {
            if (NR == 0) { print "ERROR ping no replies"; print "RESULT ping loss_pct 100 %"; exit }
            p50 = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            i = int(NR * 0.99 + 0.999999); if (i > NR) i = NR
            printf "RESULT ping p50_us %.1f us\nRESULT ping p99_us %.1f us\nRESULT ping loss_pct %.2f %%\n", p50, v[i], (n - NR) * 100 / n }'
    xb_cpu_lines ping "$a" "$b"
}
