#!/usr/bin/env bash
# Replays at the edges: jumbo frames (mbuf chains, up to 65535 bytes),
# nanosecond input files (net_pcap in DPDK 22.11 hands out microseconds),
# and several files as several queues of one port, polled by two workers
# and written by two writers.
source "$(dirname "$0")/lib.sh"

note "jumbo frames up to 65535 bytes arrive as mbuf chains and come out whole"
"$GEN" -o "$WORK/jumbo.pcap" -n 400 --profile jumbo --seed 11
for snaplen in 0 9000; do
    run_linecap "$WORK/log" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/jumbo.pcap" -- \
        -w "$WORK/jumbo-$snaplen" -s "$snaplen" --idle-exit 0.5 --stats-json "$WORK/jumbo.json"
    file=$(only_file "$WORK/jumbo-$snaplen")
    "$COMPARE" "$WORK/jumbo.pcap" "$file" --snaplen "$snaplen"
    check_readable "$file" 400
    check_counters_add_up "$WORK/jumbo.json"
done

note "a nanosecond input file: net_pcap gives microseconds, and we never invent digits"
"$GEN" -o "$WORK/ns.pcap" -n 500 --precision ns --seed 12
run_linecap "$WORK/log" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/ns.pcap" -- \
    -w "$WORK/ns" --idle-exit 0.5
file=$(only_file "$WORK/ns")
"$COMPARE" "$WORK/ns.pcap" "$file" --timestamps us
if "$COMPARE" "$WORK/ns.pcap" "$file" >/dev/null 2>&1; then
    fail "sub-microsecond digits survived net_pcap: the input was not a nanosecond test"
fi

note "two files as two queues, two workers, two writers (four lcores on two CPUs)"
"$GEN" -o "$WORK/a.pcap" -n 3000 --seed 21
"$GEN" -o "$WORK/b.pcap" -n 2000 --seed 22 --profile imix
run_linecap "$WORK/log" --lcores "0@0,1@1,2@1,3@0" "${EAL_TEST[@]}" \
    --vdev "net_pcap0,rx_pcap=$WORK/a.pcap,rx_pcap=$WORK/b.pcap" -- \
    -w "$WORK/multi" --workers 2 --writers 2 --idle-exit 1 --stats-json "$WORK/multi.json"
check_counters_add_up "$WORK/multi.json"
[ "$(json "$WORK/multi.json" '.ports[0].rx_queues')" = 2 ] || fail "port did not get two queues"
[ "$(json "$WORK/multi.json" '.workers | length')" = 2 ] || fail "not two workers"
[ "$(json "$WORK/multi.json" '.written_packets')" = 5000 ] || fail "not all 5000 packets written"
# Queue 0 (a.pcap) goes to worker 0 and writer 0; queue 1 (b.pcap) to worker 1, writer 1.
"$COMPARE" "$WORK/a.pcap" "$WORK"/multi/capture-w0-*.pcap
"$COMPARE" "$WORK/b.pcap" "$WORK"/multi/capture-w1-*.pcap
echo PASS
