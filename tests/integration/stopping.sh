#!/usr/bin/env bash
# How a capture ends: a packet count, a duration, a signal. Under overload
# (net_null delivers tens of millions of packets a second, far more than a
# writer can take), the counters still add up and the files hold exactly
# what was counted as written.
source "$(dirname "$0")/lib.sh"

note "-c stops after exactly N packets, under overload"
run_linecap "$WORK/log" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0,size=64 -- \
    -w "$WORK/count" -s 64 -c 300000 --stats-json "$WORK/count.json"
check_counters_add_up "$WORK/count.json"
[ "$(json "$WORK/count.json" .stop_reason)" = packets ] || fail "stop reason is not packets"
[ "$(json "$WORK/count.json" .written_packets)" = 300000 ] || fail "-c 300000 wrote $(json "$WORK/count.json" .written_packets)"
check_readable "$(only_file "$WORK/count")" 300000
grep -q "stopped after .* s: packets" "$WORK/log" || fail "summary does not give the stop reason"

note "--duration stops on time; the ring drops of an overloaded writer are counted"
run_linecap "$WORK/log" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0,size=64 -- \
    -w "$WORK/duration" -s 64 --duration 0.3 --ring-size 256 --stats-json "$WORK/duration.json"
check_counters_add_up "$WORK/duration.json"
[ "$(json "$WORK/duration.json" .stop_reason)" = duration ] || fail "stop reason is not duration"
[ "$(json "$WORK/duration.json" '.dropped_ring > 0')" = true ] || fail "an overloaded writer dropped nothing?"
written=$(json "$WORK/duration.json" .written_packets)
check_readable "$(only_file "$WORK/duration")" "$written"
elapsed=$(json "$WORK/duration.json" .elapsed_s)
awk -v e="$elapsed" 'BEGIN { exit !(e >= 0.3 && e < 1.5) }' || fail "--duration 0.3 ran for $elapsed s"

note "--idle-exit never fires while packets flow, even when none is kept (a race once made it)"
"$GEN" -o "$WORK/loop.pcap" -n 2000 --seed 9
run_linecap "$WORK/log" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/loop.pcap,infinite_rx=1" -- \
    -w "$WORK/busy" --idle-exit 0.5 --duration 2 --stats-json "$WORK/busy.json" udp port 1
[ "$(json "$WORK/busy.json" .stop_reason)" = duration ] ||
    fail "stopped by $(json "$WORK/busy.json" .stop_reason) after $(json "$WORK/busy.json" .elapsed_s) s, not by --duration"

note "SIGINT stops a capture: files closed and renamed, reason user, exit 0"
"$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0,size=128 -- -w "$WORK/signal" -s 96 \
    --stats-json "$WORK/signal.json" >"$WORK/signal.log" 2>&1 &
pid=$!
for _ in $(seq 100); do compgen -G "$WORK/signal/*.part" >/dev/null && break; sleep 0.1; done
sleep 0.3
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/signal.log"; fail "exit status $rc after SIGINT"; }
[ "$(json "$WORK/signal.json" .stop_reason)" = user ] || fail "stop reason is not user"
check_counters_add_up "$WORK/signal.json"
check_readable "$(only_file "$WORK/signal")" "$(json "$WORK/signal.json" .written_packets)"

note "a trickle is on disk within about a second, while the capture runs"
"$GEN" -o "$WORK/one.pcap" -n 1
# (--idle-exit: a replay would stop 1 s after its last packet by itself.)
"$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/one.pcap" -- -w "$WORK/trickle" \
    --idle-exit 600 >"$WORK/trickle.log" 2>&1 &
pid=$!
cleanup_hooks+=("kill $pid 2>/dev/null")
# From the file's creation (start-up is slow on a loaded machine), 2 s.
for _ in $(seq 100); do compgen -G "$WORK/trickle/*.part" >/dev/null && break; sleep 0.1; done
part=$(compgen -G "$WORK/trickle/*.part") || fail "no .part file while capturing"
sleep 2
size=$(stat -c %s "$part")
[ "$size" -gt 24 ] || fail "after 2 s the file in progress holds $size bytes: the packet is not on disk"
kill -TERM "$pid"
wait "$pid" || fail "exit status $? after SIGTERM"
check_readable "$(only_file "$WORK/trickle")" 1
echo PASS
