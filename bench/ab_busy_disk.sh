#!/usr/bin/env bash
# Same-run A/B of two linecap binaries writing to a disk that another
# process keeps busy: for each round, each binary in turn captures the
# realistic mix (../shared/traffic/mix-20k.pcap, net_pcap infinite_rx=1,
# -l 0-1, snaplen 128) for 15 s into a ring (-C 200 -W 3) in DIR, while dd
# writes 8 GB of zeros (buffered, as a backup or a log shipper would) into
# the same folder, started 3 s before. Prints per run the packets written
# and dropped at the rings, and where the capture's threads waited in the
# kernel (D state, sampled every 50 ms from /proc/PID/task/*/stack: the
# function each waited in; "invalidate" is a direct write waiting for a
# cached page's writeback; reading the stacks needs root). Compare the
# written counts; the disk is the bottleneck, so both drop.
#
#   bench/ab_busy_disk.sh A-BINARY B-BINARY [DIR [ROUNDS]]   (DIR: /var/tmp, ROUNDS: 3)
set -u
[ $# -ge 2 ] || { echo "usage: bench/ab_busy_disk.sh A-BINARY B-BINARY [DIR [ROUNDS]]" >&2; exit 2; }
A=$1 B=$2 dir=${3:-/var/tmp} rounds=${4:-3}
mix=$(cd "$(dirname "$0")/../../shared/traffic" && pwd)/mix-20k.pcap
work=$(mktemp -d "$dir/linecap-busy.XXXXXX") || exit 1
[ "$(id -u)" = 0 ] || echo "not root: the threads' stacks cannot be read, the waits are not tallied" >&2
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$work"' EXIT
# Counts the D-state waits of process $1's threads until it exits.
sample_waits() {
    python3 - "$1" <<'PYEOF'
import collections, os, sys, time
pid = sys.argv[1]
waits = collections.Counter()
while os.path.exists(f"/proc/{pid}"):
    for task in os.listdir(f"/proc/{pid}/task") if os.path.exists(f"/proc/{pid}/task") else []:
        try:
            base = f"/proc/{pid}/task/{task}"
            if open(f"{base}/stat").read().rsplit(")", 1)[1].split()[0] != "D":
                continue
            stack = [line.split()[1].split("+")[0] for line in open(f"{base}/stack").read().splitlines()]
            where = "invalidate" if "kiocb_invalidate_pages" in stack else stack[0] if stack else "?"
            waits[f"{open(f'{base}/comm').read().strip()}:{where}"] += 1
        except (OSError, IndexError):
            pass
    time.sleep(0.05)
print(" ".join(f"{k}={v}" for k, v in waits.most_common()) or "none")
PYEOF
}
for round in $(seq "$rounds"); do
    order="A B"
    [ $((round % 2)) = 0 ] && order="B A"
    for which in $order; do
        bin=${!which}
        rm -rf "$work/ring" "$work/dd" "$work/s.json"
        sync
        dd if=/dev/zero of="$work/dd" bs=1M count=8000 2>/dev/null &
        dd_pid=$!
        sleep 3
        "$bin" -l 0-1 --no-pci --no-huge -m 512 --no-shconf --file-prefix "busy-$$" \
            --log-level=lib.eal:error --log-level=pmd.net.pcap:error \
            --vdev "net_pcap0,rx_pcap=$mix,infinite_rx=1" -- \
            -w "$work/ring/" -s 128 -C 200 -W 3 --duration 15 --stats-json "$work/s.json" >/dev/null 2>&1 &
        capture=$!
        waits=$(sample_waits "$capture")
        status=0
        wait "$capture" || status=$?
        wait "$dd_pid"
        if [ "$status" != 0 ] || [ ! -s "$work/s.json" ]; then
            echo "$which: linecap exited with $status, no counters" >&2
            continue
        fi
        echo "$which written $(jq .written_packets "$work/s.json") dropped_ring $(jq .dropped_ring "$work/s.json") waits: $waits"
    done
done
