#!/usr/bin/env bash
# What a writer costs while it takes a trickle of packets, and what a flood
# after a quiet spell loses in its ring: one-shot linecap, net_pcap with
# infinite_rx=1, -l 0-1, hugepages, snaplen 64, files in /dev/shm.
#
#   trickle: ../shared/traffic/mix-20k.pcap with the host-and-port rule of
#            scripts/bench (source 10.1.0.1, tcp, destination port 443):
#            about 7 500 packets a second to write. Prints the worker's
#            rate and the CPU use and wake-ups a second of the main thread,
#            where the writer runs (/proc/PID/task/TID/stat, status).
#   onset:   a generated file of 17 000 UDP frames to port 10 then 3 000 to
#            port 9, replayed over and over, with a rule for port 9 and a
#            ring of 2 048 packets: every 0.7 ms, after 0.6 ms of nothing to
#            write, 3 000 packets in 0.1 ms, more than the ring holds, so
#            that the writer must wake within some 50 µs of the first.
#            The writer drains more than the 4.5 Mpps this averages. Prints
#            the rate, the packets written and the share the ring dropped.
#
#   bench/writer_naps.sh [LINECAP...]   (default build/linecap; several: in turns)
# Each binary runs each case ROUNDS times (default 3), 4 s a run.
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- build/linecap
traffic=$(cd ../shared/traffic && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out" /dev/shm/writer-naps-$$' EXIT

python3 - "$out/onset.pcap" <<'EOF'
import struct, sys
def frame(port):
    eth = b'\x02' * 6 + b'\x04' * 6 + b'\x08\x00'
    udp_len = 8 + 18
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return eth + ip + struct.pack('!HHHH', 1000, port, udp_len, 0) + b'\0' * 18
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(20000):
        d = frame(9 if i >= 17000 else 10)
        f.write(struct.pack('<IIII', 0, i, len(d), len(d)) + d)
EOF
echo '{"name": "host-port", "match": [{"src": ["10.1.0.1"], "protocols": ["tcp"], "dst_ports": [443]}]}' >"$out/trickle.json"
echo '{"name": "onset", "match": [{"protocols": ["udp"], "dst_ports": [9]}]}' >"$out/onset.json"

# run BINARY PCAP SPEC [OPTION...]: starts linecap for 4 s in the
# background, its stats into $out/s.json.
run() {
    local bin=$1 pcap=$2 spec=$3
    shift 3
    rm -f "$out/s.json"
    "$bin" -l 0-1 --no-pci --socket-mem 1536 --huge-unlink --file-prefix "naps-$$" \
        --log-level=lib.eal:error --log-level=pmd.net.pcap:error \
        --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" -- \
        --duration 4 --stats-json "$out/s.json" -w "/dev/shm/writer-naps-$$" -s 64 -F "$spec" "$@" >/dev/null 2>&1 &
}

# The main thread's CPU ticks and voluntary switches (the writer's naps).
main_thread() {
    local task=/proc/$1/task/$1
    echo "$(awk '{print $14 + $15}' "$task/stat" 2>/dev/null || echo 0)" \
         "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null || echo 0)"
}

hz=$(getconf CLK_TCK)
for _ in $(seq "${ROUNDS:-3}"); do
    for bin in "$@"; do
        run "$bin" "$traffic/mix-20k.pcap" "$out/trickle.json"
        pid=$!
        sleep 1.5
        read -r t0 v0 < <(main_thread "$pid")
        sleep 2
        read -r t1 v1 < <(main_thread "$pid")
        wait "$pid" || { echo "$bin trickle: linecap failed" >&2; exit 1; }
        rm -rf "/dev/shm/writer-naps-$$"
        echo "$bin trickle: $(jq -r '(.rx_packets / .elapsed_s / 1e4 | round) / 100' "$out/s.json") Mpps," \
             "written $(jq .written_packets "$out/s.json"); main thread (writer)" \
             "$(( (t1 - t0) * 100 / hz / 2 ))% of a CPU, $(( (v1 - v0) / 2 )) wake-ups a second"

        run "$bin" "$out/onset.pcap" "$out/onset.json" --ring-size 2048
        wait $! || { echo "$bin onset: linecap failed" >&2; exit 1; }
        rm -rf "/dev/shm/writer-naps-$$"
        echo "$bin onset: $(jq -r '(.rx_packets / .elapsed_s / 1e4 | round) / 100' "$out/s.json") Mpps," \
             "written $(jq .written_packets "$out/s.json"), ring drops" \
             "$(jq -r '.dropped_ring as $d | "\($d) (\(if .matched_packets > 0 then ($d / .matched_packets * 10000 | round) / 100 else 0 end)%)"' "$out/s.json")"
    done
done
