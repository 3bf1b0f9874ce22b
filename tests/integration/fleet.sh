#!/usr/bin/env bash
# The fleet (docs/fleet.md) with a real etcd on loopback: --fleet-etcd's
# option errors; nodes registered with their URL, ports, sessions and
# clock (`linecapctl fleet nodes`); a node killed with -9 gone within its
# lease; etcd frozen past the lease while a node captures: not a packet
# lost, one warning, the node back when etcd answers; a clean shutdown gone
# at once. (The etcd client and the registration thread alone, against a
# real etcd too: tests/fleet/test_etcd.cpp.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/http_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"

note "--fleet-etcd, --node, --fleet-url refusals: one line each, exit 2, before DPDK starts"
H=(--http "127.0.0.1:$PORT")
refused "--fleet-etcd needs --node NAME: this daemon's name in the fleet, e.g. --node collector-3" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://127.0.0.1:2379
refused "--node is for a node of a fleet: give --fleet-etcd URL too (docs/fleet.md)" \
    "${daemon_words[@]}" "${H[@]}" --node a
refused "--fleet-etcd: 127.0.0.1:2379 is not an etcd client URL: give http://HOST:PORT (or https://), e.g. http://127.0.0.1:2379, several separated by commas" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd 127.0.0.1:2379 --node a
refused "--node a/b: '/' is not allowed: a node name has letters, digits, '.', '_' and '-', e.g. --node collector-3" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://127.0.0.1:2379 --node a/b
refused "--fleet-etcd needs --http ADDR:PORT: the nodes of a fleet and linecapctl reach each other over the HTTP API" \
    "${daemon_words[@]}" --fleet-etcd http://127.0.0.1:2379 --node a
refused "--fleet-url ftp://x: give this daemon's HTTP API as http://HOST:PORT (or https://), e.g. http://10.0.0.7:8080" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://127.0.0.1:2379 --node a --fleet-url ftp://x
refused "--fleet-etcd: the URL is empty: give etcd's client URL, e.g. http://127.0.0.1:2379" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd "" --node a
refused "--fleet-etcd is a daemon option: give --control PATH too" -w "$WORK/x" --fleet-etcd http://127.0.0.1:2379

note "linecapctl fleet: usage errors exit 2, etcd out of reach exits 3"
rc=0; "$LINECAPCTL" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -qF "linecapctl: fleet: give --etcd URL (or set LINECAP_ETCD): the fleet's etcd, e.g. --etcd http://127.0.0.1:2379" "$WORK/err" ||
    fail "fleet nodes without --etcd: exit $rc: $(cat "$WORK/err")"
rc=0; "$LINECAPCTL" --etcd "http://127.0.0.1:$(free_port)" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] && grep -q "cannot connect (is etcd running there? is the URL right?)" "$WORK/err" ||
    fail "fleet nodes, nothing there: exit $rc: $(cat "$WORK/err")"

start_etcd
"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 5
note "two nodes join: a replays its file once and idles, b loops it"
start_node a "$WORK/in.pcap" --idle-mode pause
start_node b "$WORK/in.pcap,infinite_rx=1"
took=$(wait_nodes 'length == 2' 3)
note "both listed after $took ms"
n=$(nodes)
for name in a b; do
    echo "$n" | jq -e --arg n "$name" --arg url "http://127.0.0.1:${NODE_PORT[$name]}" '
        .[] | select(.name == $n) | .url == $url and .version != "" and .sessions_running == 0
        and .ports == [{"port": 0, "name": "net_pcap0", "driver": "net_pcap"}]
        and (.clock.synchronised | type) == "boolean" and (.clock.est_error_us | type) == "number"
        and (.started | test("^20[0-9-]+T[0-9:.]+Z$"))' >/dev/null || fail "node $name's record: $n"
    grep -q "fleet: node $name registered in etcd $ETCD as /linecap/nodes/$name (5 s lease)" "$WORK/$name.log" ||
        fail "node $name's log: $(cat "$WORK/$name.log")"
done
# The table, and LINECAP_ETCD in place of --etcd.
LINECAP_ETCD="$ETCD" "$LINECAPCTL" fleet nodes >"$WORK/table"
head -1 "$WORK/table" | grep -qE '^NODE +URL +STATUS +CLOCK +VERSION +PORTS +UPDATED \(UTC\)$' ||
    fail "fleet nodes' table: $(cat "$WORK/table")"
grep -qE "^a +http://127.0.0.1:${NODE_PORT[a]} +idle " "$WORK/table" || fail "fleet nodes' table: $(cat "$WORK/table")"

note "a session on b: b's record says so"
# What b keeps: 2% of the looped file (some 100 000 packets a second, well
# within what one writer takes), in a ring of two 1 MB files.
node_ctl b start --name ring -s 64 -C 1 -W 2 tcp dst port 443 >/dev/null
wait_nodes '.[] | select(.name == "b") | .sessions_running == 1' 3 >/dev/null
LINECAP_ETCD="$ETCD" "$LINECAPCTL" fleet nodes | grep -qE "^b +http://127.0.0.1:${NODE_PORT[b]} +capturing \(1 session\) " ||
    fail "b is not shown capturing: $(LINECAP_ETCD="$ETCD" "$LINECAPCTL" fleet nodes)"

note "kill -9 of a: gone from the fleet within its 5 s lease"
kill -9 "${NODE_PID[a]}"
took=$(wait_nodes '[.[].name] == ["b"]' 8)
note "a gone after $took ms"
[ "$took" -le 6500 ] || fail "a took $took ms to go, its lease is 5 s (and a keep-alive a third of it)"

note "etcd frozen for 8 s (past b's lease) while b captures: nothing lost, one warning, b back"
written() { node_ctl b --json show ring | jq '.session.counters.written_packets'; }
before=$(written)
kill -STOP "$ETCD_PID"
sleep 8
during=$(written)
kill -CONT "$ETCD_PID"
took=$(wait_nodes '[.[].name] == ["b"] and .[0].sessions_running == 1' 10)
note "b listed again $took ms after etcd answered"
[ "$during" -gt "$before" ] || fail "b wrote nothing while etcd was frozen ($before, then $during packets)"
node_ctl b --json show ring | jq -e '.session.counters | .dropped_ring == 0 and .dropped_write == 0' >/dev/null ||
    fail "b dropped packets: $(node_ctl b --json show ring)"
[ "$(grep -c "warning: fleet:.*capturing goes on, retrying" "$WORK/b.log")" = 1 ] ||
    fail "b's log should warn once of etcd gone: $(grep fleet "$WORK/b.log")"
grep -q "warning: fleet: node b's lease expired (etcd was out of reach for longer than 5 s): registering again" "$WORK/b.log" ||
    fail "b's log: $(grep fleet "$WORK/b.log")"
[ "$(grep -c "fleet: node b registered in etcd" "$WORK/b.log")" = 2 ] || fail "b's log: $(grep fleet "$WORK/b.log")"

note "b shut down: gone from the fleet at once (its lease revoked)"
node_ctl b shutdown >/dev/null
for _ in $(seq 100); do kill -0 "${NODE_PID[b]}" 2>/dev/null || break; sleep 0.1; done
wait "${NODE_PID[b]}" || fail "b exited with $?"
nodes | jq -e 'length == 0' >/dev/null || fail "b still listed after its shutdown: $(nodes)"
end_of_test
