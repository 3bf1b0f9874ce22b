#!/usr/bin/env bash
# What an idle worker costs in each --idle-mode, and what the onset of a
# burst after silence loses (docs/performance.md, "Idle workers"). Needs
# root (a veth pair in a network namespace of its own) and a built tree.
#
#   bench/idle.sh MODE            one-shot: 3 s idle, then PACKETS 64-byte packets
#                                 sent after 4 s of silence; prints CPU and onset figures
#   bench/idle.sh MODE daemon     a daemon with one session: 3 s idle, CPU only
#
#   PACKETS=20000 RATE=20000|topspeed FRAMES=512 (net_af_packet's ring)
#   NICE=-10 (the capture's priority, so other work on the machine does not
#   take the CPU time being measured)
#
# CPU is user + system time from /proc/PID/stat (the process) and
# /proc/PID/task/TID/stat (the worker thread, rte-worker-1), over 3 s; the
# worker's "runnable" share adds the time it waited for a CPU
# (/proc/.../schedstat), which is what a busy-polling thread wants.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: bench/idle.sh poll|pause|monitor|sleep [daemon]}
kind=${2:-oneshot}
packets=${PACKETS:-20000} rate=${RATE:-20000} frames=${FRAMES:-512} prio=${NICE:--10}
source scripts/veth.sh

work=$(mktemp -d /tmp/linecap-idle.XXXXXX)
ns="linecap-idle-bench-$$"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && sleep 0.3
    veth_down "$ns"
    rm -rf "$work"
}
trap cleanup EXIT
veth_up "$ns"
build/bench/linecap-gen -o "$work/in.pcap" -n "$packets" --profile 64 --seed 3 >/dev/null

eal=(-l 0-1 --no-huge -m 512 --no-pci --no-shconf --log-level=lib.eal:error
     --log-level=pmd.net.af_packet:error --vdev "net_af_packet0,iface=veth-rx,framecnt=$frames")
if [ "$kind" = daemon ]; then
    echo '{"name": "all"}' >"$work/all.json"
    ip netns exec "$ns" nice -n "$prio" build/linecap "${eal[@]}" -- --control "$work/sock" \
        --out-root "$work/root" --start "$work/all.json" --idle-mode "$mode" >"$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -S "$work/sock" ] && break; sleep 0.1; done
else
    ip netns exec "$ns" nice -n "$prio" build/linecap "${eal[@]}" -- -w "$work/out" --idle-mode "$mode" \
        --idle-exit 9 --stats-json "$work/stats.json" >"$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        compgen -G "$work/out/*.part" >/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
fi
kill -0 "$pid" 2>/dev/null || { cat "$work/log"; pid=""; exit 1; }
sleep 1
task=""
for t in /proc/"$pid"/task/*; do [ "$(cat "$t/comm")" = rte-worker-1 ] && task=$t; done
ticks() { sed 's/^.*) //' "$1" | awk '{print $12 + $13}'; }
runnable() { awk '{printf "%.0f", $1 + $2}' "$1"; }
hz=$(getconf CLK_TCK)
w0=$(ticks "$task/stat"); p0=$(ticks "/proc/$pid/stat"); r0=$(runnable "$task/schedstat"); t0=$(date +%s%N)
sleep 3
w1=$(ticks "$task/stat"); p1=$(ticks "/proc/$pid/stat"); r1=$(runnable "$task/schedstat"); t1=$(date +%s%N)
pct() { echo "scale=1; $1 * 100 / ($t1 - $t0)" | bc; }
cpu="idle: worker $(pct "($w1 - $w0) * 1000000000 / $hz")% of a CPU (runnable $(pct "($r1 - $r0)")%), process $(pct "($p1 - $p0) * 1000000000 / $hz")%"
if [ "$kind" = daemon ]; then
    echo "$mode daemon $cpu"
    build/linecapctl --socket "$work/sock" shutdown >/dev/null 2>&1 || true
    wait "$pid" || true
    pid=""
    exit 0
fi
if [ "$rate" = topspeed ]; then speed=(--topspeed); else speed=(--pps "$rate"); fi
ip netns exec "$ns" tcpreplay -q -i veth-tx "${speed[@]}" "$work/in.pcap" >"$work/replay" 2>&1
sent=$(awk '/Successful packets:/ {print $3}' "$work/replay")
pps=$(grep -o '[0-9.]* pps' "$work/replay" | head -1 | awk '{print $1}' || true)
wait "$pid" || true
pid=""
echo "$mode oneshot $cpu; onset: sent $sent at $pps pps, written $(jq .written_packets "$work/stats.json"), dropped_nic $(jq .dropped_nic "$work/stats.json")"
