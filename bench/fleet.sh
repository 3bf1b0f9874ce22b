#!/usr/bin/env bash
# How long a fleet session takes to reach every node, and to end on every
# node, and how fast `fleet merge` gathers it (docs/performance.md, "Fleet"):
# one etcd and NODES daemons on this machine (loopback, --no-huge).
#
#  1. each node replays a file once and is then idle: ROUNDS rounds of
#     `linecapctl fleet start` and `fleet stop`, each of which returns once
#     every node has said it runs (or has stopped) the session;
#  2. each node loops the file and captures MERGE_PACKETS packets (64-byte
#     snap length) of one fleet session; then, in turn, `fleet merge` of it,
#     and the same by hand as a reference: each node's part downloaded
#     with curl, then mergecap of the parts (the best of 3 each).
#
#   bench/fleet.sh            NODES=3 ROUNDS=20 MERGE_PACKETS=300000
#
# Prints the median and the 95th percentile of start and stop, in ms, the
# merge's packets a second against the reference's, and one JSON line (for
# scripts/bench). Needs a built tree and etcd (scripts/bootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${NODES:-3} rounds=${ROUNDS:-20} merge_packets=${MERGE_PACKETS:-300000}
work=$(mktemp -d /tmp/linecap-fleet-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

client=$(free_port) peer=$(free_port)
etcd_url="http://127.0.0.1:$client"
etcd --name bench --data-dir "$work/etcd" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "bench=http://127.0.0.1:$peer" >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$etcd_url/health" >/dev/null 2>&1 && break; sleep 0.1; done
export LINECAP_ETCD="$etcd_url"

build/bench/linecap-gen -o "$work/in.pcap" -n 1000 --seed 1 >/dev/null
node_pids=()
start_nodes() {   # start_nodes VDEV_SUFFIX: NODES daemons, listed in the fleet
    for i in $(seq "$nodes"); do
        build/linecap -l 0-1 --no-huge -m 256 --no-pci --no-shconf --file-prefix "fleet-bench-$$-$i" \
            --log-level=lib.eal:error --log-level=pmd.net.pcap:error --vdev "net_pcap0,rx_pcap=$work/in.pcap$1" -- \
            --control "$work/n$i.sock" --out-root "$work/n$i" --http "127.0.0.1:$(free_port)" --idle-mode sleep \
            --fleet-etcd "$etcd_url" --node "n$i" >>"$work/n$i.log" 2>&1 &
        pids+=($!)
        node_pids+=($!)
    done
    for _ in $(seq 100); do
        [ "$(build/linecapctl --json fleet nodes | jq '.nodes | length')" = "$nodes" ] && break
        sleep 0.1
    done
}
stop_nodes() {
    for i in $(seq "$nodes"); do build/linecapctl --socket "$work/n$i.sock" shutdown >/dev/null || true; done
    for p in "${node_pids[@]}"; do wait "$p" || true; done
    node_pids=()
}
start_nodes ""

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
: >"$work/start" && : >"$work/stop"
for r in $(seq "$rounds"); do
    t=$(date +%s%N)
    build/linecapctl fleet start --id "r$r" --wait 10 -s 64 tcp >/dev/null
    ms "$t" >>"$work/start"
    t=$(date +%s%N)
    build/linecapctl fleet stop "r$r" --wait 10 >/dev/null
    ms "$t" >>"$work/stop"
done
stop_nodes

# 2. fleet merge against curl + mergecap, on one fleet session of
# MERGE_PACKETS packets a node.
start_nodes ",infinite_rx=1"
build/linecapctl fleet start --id merge --wait 10 -s 64 -c "$merge_packets" tcp or udp >/dev/null
for _ in $(seq 600); do
    [ "$(build/linecapctl --json fleet show merge | jq '[.nodes[] | select(.status == "finished")] | length')" = "$nodes" ] && break
    sleep 0.1
done
stop_nodes
start_nodes ""   # the same nodes, idle: the merge is measured without their workers' load
best() { sort -n | head -1; }
for _ in 1 2 3; do
    t=$(date +%s%N)
    build/linecapctl fleet merge merge -o "$work/fleet.pcapng" --force 2>/dev/null >/dev/null
    ms "$t"
done | best >"$work/fleet_ms"
for _ in 1 2 3; do
    t=$(date +%s%N)
    parts=()
    while read -r name url local; do
        curl -sf -o "$work/part-$name.pcapng" "$url/api/v1/sessions/$local/pcap?format=pcapng"
        parts+=("$work/part-$name.pcapng")
    done < <(build/linecapctl --json fleet show merge | jq -r '.nodes[] | [.node, .local_id] | @tsv' |
             while read -r n l; do echo "$n $(build/linecapctl --json fleet nodes | jq -r --arg n "$n" '.nodes[] | select(.name == $n) | .url') $l"; done)
    mergecap -F pcapng -w "$work/mergecap.pcapng" "${parts[@]}"
    ms "$t"
done | best >"$work/ref_ms"
merged=$(build/tests/pcap-count "$work/fleet.pcapng")
[ "$merged" = "$(build/tests/pcap-count "$work/mergecap.pcapng")" ] ||
    { echo "fleet merge wrote $merged packets, the reference $(build/tests/pcap-count "$work/mergecap.pcapng")" >&2; exit 1; }
fleet_ms=$(cat "$work/fleet_ms") ref_ms=$(cat "$work/ref_ms")
stop_nodes

stat() {   # stat FILE: median and p95
    sort -n "$1" | awk '{v[NR] = $1} END {m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.95 + 0.999)]; print m, p}'
}
read -r start_median start_p95 < <(stat "$work/start")
read -r stop_median stop_p95 < <(stat "$work/stop")
echo "fleet: $nodes nodes, $rounds rounds: start on every node: median $start_median ms, p95 $start_p95 ms;" \
    "stop on every node: median $stop_median ms, p95 $stop_p95 ms"
echo "fleet merge: $merged packets from $nodes nodes in $fleet_ms ms ($((merged * 1000 / fleet_ms)) packets/s);" \
    "curl + mergecap: $ref_ms ms ($((merged * 1000 / ref_ms)) packets/s); ratio $(echo "scale=2; $ref_ms / $fleet_ms" | bc)"
jq -cn --argjson n "$nodes" --argjson r "$rounds" --argjson a "$start_median" --argjson b "$start_p95" \
    --argjson c "$stop_median" --argjson d "$stop_p95" --argjson p "$merged" --argjson f "$fleet_ms" --argjson m "$ref_ms" \
    '{nodes: $n, rounds: $r, start_median_ms: $a, start_p95_ms: $b, stop_median_ms: $c, stop_p95_ms: $d,
      merge_packets: $p, fleet_merge_ms: $f, curl_mergecap_ms: $m}'
