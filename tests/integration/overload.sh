#!/usr/bin/env bash
# Sustained overload in the daemon: endless replayed traffic (net_pcap,
# infinite_rx, about ten million packets a second) into writer rings of 64
# packets, three sessions at once. Every matched packet of every session must
# be written or dropped at a named stage, exactly once, and the files must
# hold exactly the packets counted as written.
source "$(dirname "$0")/lib.sh"
: "${LINECAPCTL:?run through meson test}"

"$GEN" -o "$WORK/in.pcap" -n 2000 --profile mixed --seed 4
SOCK="$WORK/control.sock"
ROOT="$WORK/sessions"
"$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "lc-overload-$$" \
    --vdev "net_pcap0,rx_pcap=$WORK/in.pcap,infinite_rx=1" -- \
    --control "$SOCK" --out-root "$ROOT" --ring-size 64 >"$WORK/daemon.log" 2>&1 &
pid=$!
cleanup_hooks+=("kill -9 $pid 2>/dev/null")
ctl() { "$LINECAPCTL" --socket "$SOCK" "$@"; }
for _ in $(seq 150); do ctl ls >/dev/null 2>&1 && break; sleep 0.1; done
ctl ls >/dev/null || { cat "$WORK/daemon.log"; fail "the daemon did not come up"; }

all=$(ctl --json start --name all | jq -r .id)
headers=$(ctl --json start --name headers -s 64 | jq -r .id)
tcp=$(ctl --json start --name tcp --proto tcp -c 20000 | jq -r .id)
sleep 1.5
for id in "$all" "$headers"; do ctl stop "$id" >/dev/null; done
stats=$(ctl --json stats)

for id in "$all" "$headers" "$tcp"; do
    show=$(ctl --json show "$id")
    c() { jq -r ".session.counters.$1" <<<"$show"; }
    matched=$(c matched_packets) written=$(c written_packets)
    ring=$(c dropped_ring) write=$(c dropped_write) limit=$(c dropped_limit)
    note "session $id ($(jq -r .session.name <<<"$show")): matched $matched = written $written + ring $ring + write $write + limit $limit"
    [ "$matched" -gt 0 ] || fail "session $id matched nothing"
    [ "$matched" = $((written + ring + write + limit)) ] || fail "session $id: counters do not add up"
    [ "$write" = 0 ] || fail "session $id: write errors on a healthy disk"
    total=0
    while read -r f; do
        check_readable "$f"
        total=$((total + $("$COUNT" "$f")))
    done < <(ctl --json files "$id" | jq -r '.files[].path')
    [ "$total" = "$written" ] || fail "session $id: files hold $total packets, counters say $written"
done
# Overload is real: the small rings dropped, and the limit session stopped on its limit.
[ "$(ctl --json show "$all" | jq '.session.counters.dropped_ring > 0')" = true ] ||
    fail "no ring drops: the test did not overload anything"
[ "$(ctl --json show "$tcp" | jq -r .session.reason)" = packets ] || fail "the -c session did not stop on its limit"
[ "$(ctl --json show "$tcp" | jq -r .session.counters.written_packets)" = 20000 ] || fail "-c 20000 wrote another count"
# Per worker, every packet received is filtered out or matched.
jq -e '[.workers[] | .rx_packets == .filtered_packets + .matched_packets] | all' <<<"$stats" >/dev/null ||
    fail "a worker's received packets are neither filtered nor matched"
# The port's own counters sit beside them.
jq -e '.ports[0] | has("imissed") and has("nombuf")' <<<"$stats" >/dev/null || fail "port counters missing"
ctl shutdown >/dev/null
wait "$pid" || fail "the daemon exited non-zero"
echo PASS
