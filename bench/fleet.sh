#!/usr/bin/env bash
# How long a fleet session takes to reach every node, and to end on every
# node (docs/performance.md, "Fleet"): one etcd and NODES daemons on this
# machine (loopback, --no-huge, each replaying a file once and then idle),
# ROUNDS rounds of `linecapctl fleet start` and `fleet stop`, each of which
# returns once every node has said it runs (or has stopped) the session.
#
#   bench/fleet.sh            NODES=3 ROUNDS=20
#
# Prints the median and the 95th percentile of each, in ms, and one JSON
# line (for scripts/bench). Needs a built tree and etcd (scripts/bootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${NODES:-3} rounds=${ROUNDS:-20}
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
for i in $(seq "$nodes"); do
    build/linecap -l 0-1 --no-huge -m 256 --no-pci --no-shconf --file-prefix "fleet-bench-$$-$i" \
        --log-level=lib.eal:error --log-level=pmd.net.pcap:error --vdev "net_pcap0,rx_pcap=$work/in.pcap" -- \
        --control "$work/n$i.sock" --out-root "$work/n$i" --http "127.0.0.1:$(free_port)" --idle-mode sleep \
        --fleet-etcd "$etcd_url" --node "n$i" >"$work/n$i.log" 2>&1 &
    pids+=($!)
done
for _ in $(seq 100); do
    [ "$(build/linecapctl --json fleet nodes | jq '.nodes | length')" = "$nodes" ] && break
    sleep 0.1
done

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
stat() {   # stat FILE: median and p95
    sort -n "$1" | awk '{v[NR] = $1} END {m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.95 + 0.999)]; print m, p}'
}
read -r start_median start_p95 < <(stat "$work/start")
read -r stop_median stop_p95 < <(stat "$work/stop")
echo "fleet: $nodes nodes, $rounds rounds: start on every node: median $start_median ms, p95 $start_p95 ms;" \
    "stop on every node: median $stop_median ms, p95 $stop_p95 ms"
jq -cn --argjson n "$nodes" --argjson r "$rounds" --argjson a "$start_median" --argjson b "$start_p95" \
    --argjson c "$stop_median" --argjson d "$stop_p95" \
    '{nodes: $n, rounds: $r, start_median_ms: $a, start_p95_ms: $b, stop_median_ms: $c, stop_p95_ms: $d}'
