#!/usr/bin/env bash
# Live capture: a veth pair in a namespace made by this test, traffic sent
# into one end with tcpreplay, captured from the other by linecap through
# DPDK's net_af_packet PMD. At a rate the path takes, every packet sent is
# written, byte for byte, with timestamps from the capture's own clock.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../../scripts/veth.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }

ns="linecap-test-$$"
veth_up "$ns"
cleanup_hooks+=("veth_down $ns")

"$GEN" -o "$WORK/in.pcap" -n 3000 --profile mixed --seed 5
before=$(date +%s)
ip netns exec "$ns" "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_af_packet0,iface=veth-rx -- \
    -w "$WORK/out" --idle-exit 3 --stats-json "$WORK/stats.json" >"$WORK/log" 2>&1 &
pid=$!
cleanup_hooks+=("kill $pid 2>/dev/null")
# The file appears once the port is up and the session open.
for _ in $(seq 100); do compgen -G "$WORK/out/*.part" >/dev/null && break; sleep 0.1; done
compgen -G "$WORK/out/*.part" >/dev/null || { cat "$WORK/log"; fail "linecap did not start"; }

ip netns exec "$ns" tcpreplay -q -i veth-tx --pps 3000 "$WORK/in.pcap" >"$WORK/replay.log" 2>&1 ||
    { cat "$WORK/replay.log"; fail "tcpreplay failed"; }
sent=$(awk '/Successful packets:/ {print $3}' "$WORK/replay.log")
[ "$sent" = 3000 ] || { cat "$WORK/replay.log"; fail "tcpreplay sent $sent of 3000"; }

rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/log"; fail "linecap exited with $rc"; }
after=$(date +%s)

check_counters_add_up "$WORK/stats.json"
[ "$(json "$WORK/stats.json" .stop_reason)" = idle ] || fail "stop reason is not idle"
[ "$(json "$WORK/stats.json" '.ports[0].driver')" = net_af_packet ] || fail "not captured through net_af_packet"
[ "$(json "$WORK/stats.json" '.ports[0].timestamps')" = tsc ] || fail "af_packet should be stamped from the TSC"
file=$(only_file "$WORK/out")
check_readable "$file" 3000
# Same frames, in order, byte for byte (VLAN tags the kernel strips are put back by the PMD).
"$COMPARE" "$WORK/in.pcap" "$file" --timestamps ignore
# Timestamps are now, from our clock, and never go backwards.
capinfos -a -e -S -M "$file" >"$WORK/times"
first=$(awk -F': *' '/First packet time/ {print int($2)}' "$WORK/times")
last=$(awk -F': *' '/Last packet time/ {print int($2)}' "$WORK/times")
[ "$first" -ge "$before" ] && [ "$last" -le "$after" ] || fail "timestamps $first..$last outside the run $before..$after"
capinfos -o "$file" | grep -q "Strict time order:.*True" || fail "timestamps go backwards"

note "at tcpreplay --topspeed, packets lost in the AF_PACKET ring are counted (dropped_nic), not silent"
# A ring of 16 frames, so that bursts overflow it: every packet sent is
# either received or counted as dropped before the driver. IPv6 is off on
# the pair, so the kernel adds nothing of its own.
ip netns exec "$ns" "$LINECAP" -l 0-1 "${EAL_TEST[@]}" \
    --vdev net_af_packet0,iface=veth-rx,blocksz=4096,framesz=2048,framecnt=16 -- \
    -w "$WORK/fast" -s 64 --idle-exit 2 --stats-json "$WORK/fast.json" >"$WORK/fast.log" 2>&1 &
pid=$!
cleanup_hooks+=("kill $pid 2>/dev/null")
for _ in $(seq 100); do compgen -G "$WORK/fast/*.part" >/dev/null && break; sleep 0.1; done
ip netns exec "$ns" tcpreplay -q -i veth-tx --topspeed --loop 40 "$WORK/in.pcap" >"$WORK/replay.log" 2>&1 ||
    { cat "$WORK/replay.log"; fail "tcpreplay failed"; }
sent=$(awk '/Successful packets:/ {print $3}' "$WORK/replay.log")
wait "$pid" || { cat "$WORK/fast.log"; fail "linecap failed"; }
check_counters_add_up "$WORK/fast.json"
received=$(json "$WORK/fast.json" .rx_packets)
missed=$(json "$WORK/fast.json" .dropped_nic)
note "sent $sent, received $received, dropped before the driver $missed, written $(json "$WORK/fast.json" .written_packets)"
[ $((received + missed)) = "$sent" ] || fail "sent $sent, but received $received + dropped $missed"
check_readable "$(only_file "$WORK/fast")" "$(json "$WORK/fast.json" .written_packets)"
echo PASS
