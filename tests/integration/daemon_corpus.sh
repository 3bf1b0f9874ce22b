#!/usr/bin/env bash
# tcpdump's test captures (real and deliberately malformed) through a running
# daemon with five sessions at once: match-all, snaplen 64, a TCP port rule,
# BPF, IPv6. No crash, every output file reads cleanly, counters add up.
#
# Two ways in, as operators have them:
# 1. Sessions started over the socket (linecapctl) on a daemon whose ports
#    replay each file endlessly (net_pcap infinite_rx=1), one file per queue,
#    16 queues per port, 8 ports per daemon. The worker polls a port's queues
#    in turn and an endless queue fills every burst, so all queues of a port
#    deliver alike: once a port has received, after the last session started,
#    its queue count times its longest file's packets, every queue has gone
#    round its file at least once with all five sessions present.
# 2. The captures with frames over one mbuf (2048 bytes, up to 80 KB "BIG
#    TCP" frames) and those with no packet, which infinite_rx refuses (see
#    below): one-shot replay ports and the
#    same five sessions given with --start, so they exist before the first
#    packet. A replay never drops, so the match-all session must hold every
#    packet of every file.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"

if [ ! -d "$CORPUS" ]; then
    echo "SKIP: the tcpdump test corpus is not at $CORPUS"
    exit 77
fi
mapfile -t all < <(find "$CORPUS" -maxdepth 1 -name '*.pcap*' | sort)
[ "${#all[@]}" -gt 400 ] || fail "expected the 434 corpus captures, found ${#all[@]}"

# net_pcap keeps every packet of an endless file in mbufs, one mbuf each:
# DPDK 22.11 refuses infinite_rx for a frame over one mbuf's 2048 bytes
# ("Multiseg mbufs are not supported"), and linecap refuses it for a file
# with no packet (the driver would lose mbufs on every poll of its queue,
# until the pool was dry and no port received): those captures go to part 2.
# Those libpcap cannot open are left out (net_pcap would refuse the port).
files=()
packets=()
big_files=()
big_packets=()
for f in "${all[@]}"; do
    n=$("$COUNT" "$f")
    [ "$n" -gt 0 ] || tcpdump -r "$f" -c 1 >/dev/null 2>&1 || continue
    if [ "$n" -gt 0 ] && [ "$("$COUNT" --longest "$f")" -le 2048 ]; then
        files+=("$f")
        packets+=("$n")
    else
        big_files+=("$f")
        big_packets+=("$n")
    fi
done
opened=$((${#files[@]} + ${#big_files[@]}))
note "$opened of ${#all[@]} captures open in libpcap: ${#files[@]} replayed endlessly, ${#big_files[@]} with frames over 2048 bytes or no packet replayed once"

per_port=$corpus_per_port
per_daemon=$((per_port * 8))

# The sessions' output goes to tmpfs when there is one: a second of
# match-all on eight endless ports is hundreds of megabytes.
out_base=$WORK
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    out_base=$(mktemp -d /dev/shm/linecap-daemon-corpus.XXXXXX)
    cleanup_hooks+=("rm -rf $out_base")
fi

# run_daemon LABEL ROOT LINECAP-OPTIONS...: a daemon on vdevs=(), up and
# answering, its stderr in $log.
run_daemon() {
    local label=$1 root=$2
    shift 2
    log="$WORK/daemon-$label.log"
    "$LINECAP" -l 0-1 --no-huge -m 2048 --no-pci --no-shconf --log-level=lib.eal:error \
        --log-level=pmd.net.pcap:critical --file-prefix "$prefix" "${vdevs[@]}" -- \
        --control "$SOCK" --out-root "$root" --rx-desc 128 "$@" >"$log" 2>&1 &
    pid=$!
    cleanup_hooks+=("kill -9 $pid 2>/dev/null")
    for _ in $(seq 300); do
        ctl ls >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "$label: the daemon exited at start"; }
        sleep 0.1
    done
    cat "$log" >&2
    fail "$label: the daemon did not come up"
}

# check_sessions LABEL ID...: each stopped session's counters add up; what
# the daemon says of its files is kept for check_files, which reads them
# once the daemon has gone (its worker polls endless ports to the end, and
# the readers would share the other core).
check_sessions() {
    local label=$1 id
    shift
    for id in "$@"; do
        ctl --json stop "$id" >"$WORK/stop.json" || fail "$label: stop $id failed"
        jq -e '.reason == "user"' "$WORK/stop.json" >/dev/null || fail "$label: session $id: $(cat "$WORK/stop.json")"
    done
    kill -0 "$pid" 2>/dev/null && ctl ls >/dev/null || { cat "$log" >&2; fail "$label: the daemon died"; }
    for id in "$@"; do
        check_session_counters "$id"   # sets matched
        [ "$matched" -gt 0 ] || fail "$label: session $id matched nothing"
        ctl --json show "$id" | jq -r .session.name >"$WORK/name-$id"
        record_session_files "$id"
    done
    note "$label: $(ctl --json stats | jq '[.ports[].rx_packets] | add') packets received, 5 sessions: $(
        for id in "$@"; do ctl --json show "$id" | jq -r '"\(.session.name) \(.session.counters.written_packets)"'; done | paste -sd, -)"
}

# check_files LABEL ID...: after check_sessions and end_daemon, each
# session's files read cleanly and hold what it wrote; snap64 kept 64 bytes
# at most.
check_files() {
    local label=$1 id f longest
    shift
    for id in "$@"; do
        check_recorded_files "$id"
        [ "$(cat "$WORK/name-$id")" = snap64 ] || continue
        while read -r f; do
            longest=$("$COUNT" --longest "$f")
            [ "${longest:-0}" -le 64 ] || fail "$label: session snap64: a record of $longest bytes in $f"
        done <"$WORK/files-$id"
    done
}

# end_daemon LABEL: shut down cleanly, no sanitizer report.
end_daemon() {
    local label=$1 rc=0
    ctl shutdown >/dev/null
    wait_exit "$pid" "daemon-$label" "$log"
    ! grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$log" || { cat "$log" >&2; fail "$label: a sanitizer report"; }
}

# Part 1: sessions over the socket, endless replay.
total_rx=0
for ((start = 0; start < ${#files[@]}; start += per_daemon)); do
    label="files $start..$((start + per_daemon - 1))"
    count=$((${#files[@]} - start < per_daemon ? ${#files[@]} - start : per_daemon))
    corpus_vdevs ",infinite_rx=1" "${files[@]:start:count}"
    want=()   # per port: packets that show every queue went round its file
    for ((p = 0; p * per_port < count; p++)); do
        longest=0
        queues=0
        for ((i = start + p * per_port; i < start + (p + 1) * per_port && i < start + count; i++)); do
            [ "${packets[i]}" -le "$longest" ] || longest=${packets[i]}
            queues=$((queues + 1))
        done
        want+=($((queues * longest)))
    done
    root="$out_base/sessions-$start"
    run_daemon "$label" "$root"

    ids=()
    ids+=("$(ctl --json start --name all | jq -r .id)")
    ids+=("$(ctl --json start --name snap64 -s 64 | jq -r .id)")
    ids+=("$(ctl --json start --name tcp-low-ports --proto tcp --port 1-1023 | jq -r .id)")
    ids+=("$(ctl --json start --name bpf --bpf 'udp or icmp or icmp6 or (vlan and ip)' | jq -r .id)")
    ids+=("$(ctl --json start --name ipv6 --src ::/0 | jq -r .id)")
    base=$(ctl --json stats | jq -c '[.ports[].rx_packets]')

    # Until every port has gone round its files once with the sessions present.
    done_at=
    for _ in $(seq 600); do
        if ctl --json stats | jq -e --argjson base "$base" --argjson want "$(printf '%s\n' "${want[@]}" | jq -s -c .)" \
            '[.ports | to_entries[] | .value.rx_packets - $base[.key] >= $want[.key]] | all' >/dev/null; then
            done_at=yes
            break
        fi
        sleep 0.05
    done
    # What the ports, pools, workers and writers say then tells a dry mbuf
    # pool (nombuf, or few free mbufs with a driver that does not count
    # nombuf) from a stuck worker or writer.
    [ -n "$done_at" ] || fail "$label: ports did not go round their files within 30 s: $(ctl --json stats | jq -c '[.ports[].rx_packets]') from $base, want ${want[*]}; stats: $(ctl --json stats | jq -c '{totals, ports: [.ports[] | {rx_packets, imissed, nombuf}], pools, workers: [.workers[] | {rx_packets, matched_packets, dropped_ring}], writers}')"

    check_sessions "$label" "${ids[@]}"
    total_rx=$((total_rx + $(ctl --json stats | jq '[.ports[].rx_packets] | add')))
    end_daemon "$label"
    check_files "$label" "${ids[@]}"
    rm -rf "$root"
done
note "part 1: $total_rx packets from ${#files[@]} captures through five sessions started over the socket"

# Part 2: one-shot replays of the big-frame captures, sessions from --start.
specs="$WORK/specs"
mkdir -p "$specs"
echo '{"name": "all"}' >"$specs/all.json"
echo '{"name": "snap64", "snaplen": 64}' >"$specs/snap64.json"
echo '{"name": "tcp-low-ports", "match": [{"protocols": ["tcp"], "src_ports": ["1-1023"]},
      {"protocols": ["tcp"], "dst_ports": ["1-1023"]}]}' >"$specs/tcp-low-ports.json"
echo '{"name": "bpf", "bpf": "udp or icmp or icmp6 or (vlan and ip)"}' >"$specs/bpf.json"
echo '{"name": "ipv6", "match": [{"src": ["::/0"]}]}' >"$specs/ipv6.json"
expected=0
for n in "${big_packets[@]}"; do expected=$((expected + n)); done
for ((start = 0; start < ${#big_files[@]}; start += per_daemon)); do
    label="big-frame files $start..$((start + per_daemon - 1))"
    count=$((${#big_files[@]} - start < per_daemon ? ${#big_files[@]} - start : per_daemon))
    corpus_vdevs "" "${big_files[@]:start:count}"
    root="$out_base/big-$start"
    run_daemon "$label" "$root" --start "$specs/all.json" --start "$specs/snap64.json" \
        --start "$specs/tcp-low-ports.json" --start "$specs/bpf.json" --start "$specs/ipv6.json"
    want=0
    for ((i = start; i < start + count; i++)); do want=$((want + big_packets[i])); done
    # Until the files are read: every packet received or counted as no-mbuf.
    for _ in $(seq 600); do
        [ "$(ctl --json stats | jq '[.ports[] | .rx_packets + .nombuf] | add')" -ge "$want" ] && break
        sleep 0.05
    done
    ctl --json stats >"$WORK/stats.json"
    jq -e --argjson want "$want" '([.ports[] | .rx_packets + .nombuf] | add) == $want' "$WORK/stats.json" >/dev/null ||
        fail "$label: ports read $(jq -c '[.ports[] | {rx_packets, nombuf}]' "$WORK/stats.json") of $want packets"
    mapfile -t ids < <(ctl --json ls | jq -r '.sessions[] | select(.status == "running") | .id')
    [ "${#ids[@]}" = 5 ] || fail "$label: ${#ids[@]} sessions running, expected the five of --start"
    check_sessions "$label" "${ids[@]}"
    all_id=$(ctl --json ls | jq -r '.sessions[] | select(.name == "all") | .id')
    rx=$(jq '[.ports[].rx_packets] | add' "$WORK/stats.json")
    [ "$(field "$all_id" .counters.written_packets)" = "$rx" ] ||
        fail "$label: session all wrote $(field "$all_id" .counters.written_packets) of $rx packets received from a replay"
    end_daemon "$label"
    check_files "$label" "${ids[@]}"
    rm -rf "$root"
done
note "part 2: $expected packets from ${#big_files[@]} big-frame captures through five sessions given with --start"
echo PASS
