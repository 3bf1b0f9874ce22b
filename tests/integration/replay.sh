#!/usr/bin/env bash
# A generated capture replayed through net_pcap comes out identical, packet by
# packet (timestamp, original length, bytes), at snap lengths 0, 64 and 1514.
source "$(dirname "$0")/lib.sh"

"$GEN" -o "$WORK/in.pcap" -n 5000 --profile mixed --seed 7
want=$("$COUNT" "$WORK/in.pcap")
[ "$want" = 5000 ] || fail "generator wrote $want packets"

for snaplen in 0 64 1514; do
    note "snaplen $snaplen"
    out="$WORK/out-$snaplen"
    run_linecap "$WORK/log-$snaplen" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap" -- \
        -w "$out" -s "$snaplen" --idle-exit 0.5 --stats-json "$out.json"
    file=$(only_file "$out")
    "$COMPARE" "$WORK/in.pcap" "$file" --snaplen "$snaplen"
    check_readable "$file" 5000
    check_counters_add_up "$out.json"
    [ "$(json "$out.json" .written_packets)" = 5000 ] || fail "written_packets != 5000"
    [ "$(json "$out.json" .dropped_ring)" = 0 ] || fail "a replay dropped packets at the ring"
    [ "$(json "$out.json" .stop_reason)" = idle ] || fail "stop reason is not idle"
    [ "$(json "$out.json" '.ports[0].replay')" = true ] || fail "net_pcap rx_pcap not seen as a replay"
    grep -q "5000 packets received, 0 filtered out, 5000 matched" "$WORK/log-$snaplen" ||
        { cat "$WORK/log-$snaplen"; fail "summary does not report 5000 packets"; }
    expected_snap=$([ "$snaplen" = 0 ] && echo 262144 || echo "$snaplen")
    capinfos -l "$file" | grep -q "Packet size limit:.*$expected_snap" || fail "file snaplen is not $expected_snap"
done

note "microsecond pcap with --format pcap"
run_linecap "$WORK/log-us" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap" -- \
    -w "$WORK/out-us" --format pcap --idle-exit 0.5
file=$(only_file "$WORK/out-us")
capinfos "$file" | grep -q "microseconds" || fail "--format pcap did not write microseconds"
"$COMPARE" "$WORK/in.pcap" "$file"
echo PASS
