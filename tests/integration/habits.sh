#!/usr/bin/env bash
# tcpdump's habits on linecap's command line: each port's timestamp source
# named truly.
source "$(dirname "$0")/lib.sh"

E=(-l 0-1 "${EAL_TEST[@]}")
"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3

note "a looped replay (infinite_rx=1) is stamped from the TSC, and says so"
run_linecap "$WORK/loop.log" "${E[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap,infinite_rx=1" -- \
    -w "$WORK/loop" -c 5000 --stats-json "$WORK/loop.json"
[ "$(json "$WORK/loop.json" '.ports[0].timestamps')" = tsc ] ||
    fail "infinite_rx port reports $(json "$WORK/loop.json" '.ports[0].timestamps') timestamps, not tsc"
# The file's packets are from 2023; the loop's carry the time they were read.
first=$(tshark -r "$(only_file "$WORK/loop")" -c 1 -T fields -e frame.time_epoch)
now=$(date +%s)
awk -v t="$first" -v now="$now" 'BEGIN { exit !(t > now - 600 && t <= now + 1) }' ||
    fail "a looped packet is stamped $first, not about now ($now)"

echo PASS
