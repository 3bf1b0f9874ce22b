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

note "times past 2038 (2^31 s) and up to 2106 (2^32 - 1 s): pcap seconds are unsigned everywhere"
# libpcap hands such seconds to net_pcap sign-extended (1901); linecap must
# write, name, window and merge them as the file has them.
times="2145916790.250000 2147483647.250000 2147483648.250000 2208988800.250000 4294967295.250000"
python3 - "$WORK/y2038.pcap" $times <<'PY'
import struct, sys
frame = bytes.fromhex("02000000000102000000000208004500002e0001000040110000c0000201c633640200010002001a0000") + b"x" * 18
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for t in sys.argv[2:]:
        sec, frac = t.split(".")
        f.write(struct.pack("<IIII", int(sec), int(frac), len(frame), len(frame)) + frame)
PY
epochs() { for f in "$@"; do tshark -r "$f" -T fields -e frame.time_epoch; done | sed 's/\(\.[0-9]\{6\}\).*/\1/' | tr '\n' ' ' | sed 's/ $//'; }
for format in pcap-ns pcapng; do
    run_linecap "$WORK/log" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/y2038.pcap" -- \
        -w "$WORK/y-$format" --format "$format" --idle-exit 0.5
    [ "$(epochs "$WORK"/y-"$format"/*)" = "$times" ] || fail "$format times: $(epochs "$WORK"/y-"$format"/*), want $times"
done
run_linecap "$WORK/log" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/y2038.pcap" -- \
    -w "$WORK/y-g" -G 3600 --idle-exit 0.5
# (The first file is named after the session's start, the others after their window.)
names=$(cd "$WORK/y-g" && ls | grep -v '^capture-w0-000001-' | sed 's/capture-w0-0*\([0-9]*\)-\([0-9T]*Z\).*/\1:\2/' | tr '\n' ' ')
[ "$names" = "2:20380119T030000Z 3:20400101T000000Z 4:21060207T060000Z " ] ||
    fail "-G 3600 file names: $names"
[ "$(epochs $(ls "$WORK"/y-g/*))" = "$times" ] || fail "-G 3600 times across files: $(epochs $(ls "$WORK"/y-g/*))"
# Merged in time order: the 2106 file's packet last, not first.
"$LINECAP" merge -o "$WORK/y-merged.pcapng" "$WORK/y-g/" 2>"$WORK/log" || { cat "$WORK/log"; fail "merge"; }
[ "$(epochs "$WORK/y-merged.pcapng")" = "$times" ] || fail "merged times: $(epochs "$WORK/y-merged.pcapng")"

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
# Each writer keeps its share of --keep-bytes: a share under one file of -C
# would delete every file as it closed. Refused when the writers are known.
rc=0
"$LINECAP" --lcores "0@0,1@1,2@1,3@0" "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/a.pcap,rx_pcap=$WORK/b.pcap" -- \
    -w "$WORK/kept" --workers 2 --writers 2 --idle-exit 1 -C 1 --keep-bytes 1500000 >"$WORK/kept.out" 2>"$WORK/kept.err" || rc=$?
[ "$rc" != 0 ] && grep -qF "rotate.keep_bytes: 1500000 bytes is less than one file of the rotation (rotate.bytes 1000000) for each of the 2 writers, which keep 750000 bytes each: every file would be deleted as it closed; give keep_bytes at least 2000000" "$WORK/kept.err" ||
    fail "--keep-bytes under two writers' files: exit $rc, $(grep -v '^EAL' "$WORK/kept.err")"
echo PASS
