#!/usr/bin/env bash
# tcpdump's test captures (real and deliberately malformed) through a running
# daemon with five sessions at once: match-all, snaplen 64, a TCP port rule,
# BPF, IPv6. No crash, every output file reads cleanly, counters add up.
#
# How every packet meets the sessions: a daemon reads a plain replay port
# before any session exists (docs/control.md), so each file is replayed
# endlessly (net_pcap infinite_rx=1), one file per queue, 16 queues per port,
# 8 ports per daemon. The worker polls a port's queues in turn and an endless
# queue fills every burst, so all queues of a port deliver alike: once a
# port has received, after the last session started, its queue count times
# its longest file's packets, every queue has gone round its file at least
# once with all five sessions present. Then the sessions stop.
source "$(dirname "$0")/lib.sh"
: "${LINECAPCTL:?run through meson test}"

if [ ! -d "$CORPUS" ]; then
    echo "SKIP: the tcpdump test corpus is not at $CORPUS"
    exit 77
fi
mapfile -t all < <(find "$CORPUS" -maxdepth 1 -name '*.pcap*' | sort)
[ "${#all[@]}" -gt 400 ] || fail "expected the 434 corpus captures, found ${#all[@]}"

# net_pcap keeps every packet of an endless file in mbufs, one mbuf each:
# DPDK 22.11 refuses infinite_rx for a frame over one mbuf's 2048 bytes
# ("Multiseg mbufs are not supported"), so captures with such frames are left
# out here (corpus.sh replays them, chains and all, in one-shot mode), as are
# those libpcap cannot open (net_pcap would refuse the port).
files=()
packets=()
for f in "${all[@]}"; do
    n=$("$COUNT" "$f")
    [ "$("$COUNT" --longest "$f")" -le 2048 ] || continue
    if [ "$n" -gt 0 ] || tcpdump -r "$f" -c 1 >/dev/null 2>&1; then
        files+=("$f")
        packets+=("$n")
    fi
done
note "${#files[@]} of ${#all[@]} captures: the others open in no libpcap or have frames over 2048 bytes"

SOCK="$WORK/control.sock"
pid=
ctl() {
    "$LINECAPCTL" --socket "$SOCK" "$@"
}

# The sessions' output goes to tmpfs when there is one: a second of
# match-all on eight endless ports is hundreds of megabytes.
out_base=$WORK
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    out_base=$(mktemp -d /dev/shm/linecap-daemon-corpus.XXXXXX)
    cleanup_hooks+=("rm -rf $out_base")
fi

per_port=16
per_run=$((per_port * 8))
total_rx=0
for ((start = 0; start < ${#files[@]}; start += per_run)); do
    batch=("${files[@]:start:per_run}")
    vdevs=()
    want=()   # per port: packets that show every queue went round its file
    for ((p = 0; p * per_port < ${#batch[@]}; p++)); do
        args="net_pcap$p"
        longest=0
        queues=0
        for ((i = start + p * per_port; i < start + (p + 1) * per_port && i < ${#files[@]}; i++)); do
            args+=",rx_pcap=${files[i]}"
            [ "${packets[i]}" -le "$longest" ] || longest=${packets[i]}
            queues=$((queues + 1))
        done
        vdevs+=(--vdev "$args,infinite_rx=1")
        want+=($((queues * longest)))
    done
    root="$out_base/sessions-$start"
    log="$WORK/daemon-$start.log"
    "$LINECAP" -l 0-1 --no-huge -m 2048 --no-pci --no-shconf --log-level=lib.eal:error \
        --log-level=pmd.net.pcap:critical --file-prefix "lc-dcorpus-$$" "${vdevs[@]}" -- \
        --control "$SOCK" --out-root "$root" --rx-desc 128 >"$log" 2>&1 &
    pid=$!
    cleanup_hooks+=("kill -9 $pid 2>/dev/null")
    for _ in $(seq 300); do
        ctl ls >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "files $start..: the daemon exited at start"; }
        sleep 0.1
    done
    ctl ls >/dev/null 2>&1 || { cat "$log" >&2; fail "files $start..: the daemon did not come up"; }

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
    [ -n "$done_at" ] || fail "files $start..: ports did not go round their files within 30 s: $(ctl --json stats | jq -c '[.ports[].rx_packets]') from $base, want ${want[*]}"

    for id in "${ids[@]}"; do
        ctl --json stop "$id" >"$WORK/stop.json" || fail "files $start..: stop $id failed"
        jq -e '.reason == "user"' "$WORK/stop.json" >/dev/null || fail "session $id: $(cat "$WORK/stop.json")"
    done
    kill -0 "$pid" 2>/dev/null && ctl ls >/dev/null || { cat "$log" >&2; fail "files $start..: the daemon died"; }

    for id in "${ids[@]}"; do
        ctl --json show "$id" >"$WORK/show.json"
        name=$(jq -r .session.name "$WORK/show.json")
        jq -e '.session.counters as $c | $c.matched_packets == $c.written_packets + $c.dropped_ring +
               $c.dropped_write + $c.dropped_limit and $c.written_packets <= $c.matched_packets and
               $c.matched_packets > 0' "$WORK/show.json" >/dev/null ||
            fail "session $name (files $start..): counters $(jq -c .session.counters "$WORK/show.json")"
        total=0
        while read -r f; do
            [[ "$f" != *.part ]] || fail "session $name: $f still .part after it stopped"
            check_readable "$f"
            n=$(capinfos -M -c "$f" | awk -F': *' '/Number of packets/ {print $2}')
            total=$((total + n))
            if [ "$name" = snap64 ]; then
                longest=$(tshark -r "$f" -T fields -e frame.cap_len 2>/dev/null | sort -n | tail -1)
                [ "${longest:-0}" -le 64 ] || fail "session snap64: a record of $longest bytes in $f"
            fi
        done < <(ctl --json files "$id" | jq -r '.files[].path')
        written=$(jq .session.counters.written_packets "$WORK/show.json")
        [ "$total" = "$written" ] || fail "session $name (files $start..): files hold $total packets, counters say $written"
    done
    rx=$(ctl --json stats | jq '[.ports[].rx_packets] | add')
    total_rx=$((total_rx + rx))
    note "files $start to $((start + ${#batch[@]} - 1)): ${#want[@]} ports, $rx packets received, 5 sessions: $(
        for id in "${ids[@]}"; do ctl --json show "$id" | jq -r '"\(.session.name) \(.session.counters.written_packets)"'; done | paste -sd, -)"
    ctl shutdown >/dev/null
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || { cat "$log" >&2; fail "files $start..: the daemon exited with $rc"; }
    grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$log" && { cat "$log" >&2; fail "a sanitizer report"; }
    rm -rf "$root"
done
note "$total_rx packets from ${#files[@]} captures through five sessions"
echo PASS
