#!/usr/bin/env bash
# tcpdump's own test captures (real and deliberately malformed, up to 64 KiB
# frames) replayed through linecap: many ports and queues at once, no crash,
# every packet libpcap can read comes out, and the output reads cleanly.
source "$(dirname "$0")/lib.sh"

if [ ! -d "$CORPUS" ]; then
    echo "SKIP: the tcpdump test corpus is not at $CORPUS"
    exit 77
fi
mapfile -t files < <(find "$CORPUS" -maxdepth 1 -name '*.pcap*' | sort)
[ "${#files[@]}" -gt 400 ] || fail "expected the 434 corpus captures, found ${#files[@]}"

# 8 ports of 16 files per run.
per_run=$((corpus_per_port * 8))
total_written=0
for ((start = 0; start < ${#files[@]}; start += per_run)); do
    batch=("${files[@]:start:per_run}")
    corpus_vdevs "" "${batch[@]}"
    out="$WORK/out-$start"
    # net_pcap keeps no descriptor ring: 128 queues need not reserve 1024 mbufs each.
    run_linecap "$WORK/log-$start" -l 0-1 "${EAL_TEST[@]}" --log-level=pmd.net.pcap:critical "${vdevs[@]}" -- \
        -w "$out" --idle-exit 0.5 --rx-desc 128 --stats-json "$out.json"
    want=$("$COUNT" "${batch[@]}")
    got=$(json "$out.json" .written_packets)
    [ "$got" = "$want" ] || fail "files $start..: wrote $got packets, libpcap reads $want from them"
    check_counters_add_up "$out.json"
    check_readable "$(only_file "$out")" "$want"
    note "files $start to $((start + ${#batch[@]} - 1)): $((${#vdevs[@]} / 2)) ports, $got packets"
    total_written=$((total_written + got))
done
note "$total_written packets from ${#files[@]} captures"
echo PASS
