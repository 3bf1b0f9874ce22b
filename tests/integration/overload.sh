#!/usr/bin/env bash
# Sustained overload in the daemon: endless replayed traffic (net_pcap,
# infinite_rx, about ten million packets a second) into writer rings of 64
# packets, three sessions at once. Every matched packet of every session must
# be written or dropped at a named stage, exactly once, and the files must
# hold exactly the packets counted as written.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"

"$GEN" -o "$WORK/in.pcap" -n 2000 --profile mixed --seed 4
start_daemon --ring-size 64

all=$(ctl --json start --name all | jq -r .id)
headers=$(ctl --json start --name headers -s 64 | jq -r .id)
tcp=$(ctl --json start --name tcp --proto tcp -c 20000 | jq -r .id)
# Counters read while the workers run add up in every reply.
check_worker_totals 15
for id in "$all" "$headers"; do ctl stop "$id" >/dev/null; done
for id in "$all" "$headers" "$tcp"; do wait_ended "$id"; done
stats=$(ctl --json stats)

for id in "$all" "$headers" "$tcp"; do
    check_session_counters "$id"
    [ "$matched" -gt 0 ] || fail "session $id matched nothing"
    defer_session_files "$id"
done
# Overload is real: the small rings dropped, and the limit session stopped on its limit.
[ "$(ctl --json show "$all" | jq '.session.counters.dropped_ring > 0')" = true ] ||
    fail "no ring drops: the test did not overload anything"
[ "$(ctl --json show "$tcp" | jq -r .session.reason)" = packets ] || fail "the -c session did not stop on its limit"
[ "$(ctl --json show "$tcp" | jq -r .session.counters.written_packets)" = 20000 ] || fail "-c 20000 wrote another count"
# The port's own counters sit beside them.
jq -e '.ports[0] | has("imissed") and has("nombuf")' <<<"$stats" >/dev/null || fail "port counters missing"
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"
check_deferred_files   # read with the daemon gone: it polls the endless port to the end
echo PASS
