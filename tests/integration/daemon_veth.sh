#!/usr/bin/env bash
# Two sessions with different filters, started on a running daemon that
# captures a veth pair through net_af_packet, over the same tcpreplay
# traffic, hold exactly what two one-shot runs with those filters write:
# one driven through the control socket, the other through the HTTP API
# (started, stopped and downloaded merged with curl, on the namespace's
# own loopback).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../../scripts/veth.sh"
: "${LINECAPCTL:?run through meson test}"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }

ns="linecap-dtest-$$"
veth_up "$ns"
cleanup_hooks+=("veth_down $ns")
ip -n "$ns" link set lo up   # the HTTP API's, private to the namespace
api() { ip netns exec "$ns" curl -sS --fail-with-body --max-time 10 "$@"; }
URL=http://127.0.0.1:8080

"$GEN" -o "$WORK/in.pcap" -n 3000 --profile mixed --seed 9
cat >"$WORK/tcp-control.json" <<'JSON'
{"name": "tcp-control", "match": [{"protocols": ["tcp"], "tcp_flags": {"any": ["syn", "fin", "rst"]}}]}
JSON
cat >"$WORK/udp.json" <<'JSON'
{"name": "udp", "match": [{"protocols": ["udp"]}], "snaplen": 96}
JSON

SOCK="$WORK/control.sock"
ctl() { "$LINECAPCTL" --socket "$SOCK" "$@"; }

ip netns exec "$ns" "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "lc-dveth-$$" \
    --vdev net_af_packet0,iface=veth-rx -- --control "$SOCK" --out-root "$WORK/root" --http 127.0.0.1:8080 \
    >"$WORK/daemon.log" 2>&1 &
pid=$!
cleanup_hooks+=("kill -9 $pid 2>/dev/null")
for _ in $(seq 150); do ctl ls >/dev/null 2>&1 && break; sleep 0.1; done
ctl ls >/dev/null || { cat "$WORK/daemon.log"; fail "the daemon did not come up"; }
api "$URL/healthz" >/dev/null || { cat "$WORK/daemon.log"; fail "the HTTP API did not come up"; }

note "two sessions, started while the daemon runs, over the same replayed traffic,"
note "while a third is started and stopped again and again (classifier swaps under traffic)"
tcp=$(ctl --json start "$WORK/tcp-control.json" | jq -r .id)
udp=$(api --data-binary @"$WORK/udp.json" "$URL/api/v1/sessions" | jq -r .id)
[ -n "$udp" ] && [ "$udp" != null ] || fail "POST /api/v1/sessions started no session"
ip netns exec "$ns" tcpreplay -q -i veth-tx --pps 3000 "$WORK/in.pcap" >"$WORK/replay.log" 2>&1 &
replay=$!
churn=0
while kill -0 "$replay" 2>/dev/null; do
    id=$(ctl --json start --name churn --proto icmp | jq -r .id)
    ctl stop "$id" >/dev/null
    churn=$((churn + 1))
done
wait "$replay" || { cat "$WORK/replay.log"; fail "tcpreplay failed"; }
echo "$churn start/stop cycles of a third session during the replay"
[ "$churn" -ge 3 ] || fail "only $churn churn cycles: the test did not churn"
sleep 1
ctl stop "$tcp" >/dev/null
api -X POST "$URL/api/v1/sessions/$udp/stop" >/dev/null || fail "POST .../$udp/stop failed"
api -o "$WORK/udp-http.pcap" "$URL/api/v1/sessions/$udp/pcap" || fail "GET .../$udp/pcap failed"
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"

for id in "$tcp" "$udp"; do
    jq -e '.counters.dropped_ring == 0 and .counters.dropped_write == 0 and .reason == "user"' \
        "$WORK"/root/"$id"-*/session.json >/dev/null || fail "session $id: $(cat "$WORK"/root/"$id"-*/session.json)"
done

note "the same filters as one-shot runs over the same file"
for spec in tcp-control udp; do
    run_linecap "$WORK/$spec.log" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap" -- \
        -w "$WORK/oneshot-$spec" -F "$WORK/$spec.json" --idle-exit 0.5
    reference=$(only_file "$WORK/oneshot-$spec")
    captured=$(compgen -G "$WORK/root/*-$spec/$spec-w0-*.pcap")
    check_readable "$captured"
    echo "$spec: $(capinfos -M -c "$captured" | awk -F': *' '/Number of packets/ {print $2}') packets"
    "$COMPARE" "$reference" "$captured" --timestamps ignore || fail "session $spec differs from its one-shot run"
done
"$COMPARE" "$(only_file "$WORK/oneshot-udp")" "$WORK/udp-http.pcap" --timestamps ignore ||
    fail "the udp session's /pcap differs from its one-shot run"
echo "udp: its /pcap download holds what the one-shot run writes"
echo PASS
