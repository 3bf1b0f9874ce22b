#!/usr/bin/env bash
# Same-run A/B of two linecap binaries on the realistic mix: each of them,
# in turn, 5 rounds of 3 s per session (../shared/traffic: mix-20k.pcap with
# one-rule.json and rules256-mixed.json), net_pcap infinite_rx=1, -l 0-1,
# snaplen 64. Prints "A|B SESSION MPPS" per run; compare medians. For a
# change that must not cost the fast path anything (docs/performance.md).
#
#   bench/ab.sh A-BINARY B-BINARY        (ORDER="B A" runs B first in each round)
#   EXPRESSION="ip src host 10.1.0.1 and tcp dst port 443" bench/ab.sh A B
#                                        (that tcpdump expression instead of the two specs)
#   SPECS="one-rule /path/host-port.json" bench/ab.sh A B
#                                        (other specs: a name in ../shared/traffic, or a path)
#   MEMORY="--socket-mem 1536 --huge-unlink" bench/ab.sh A B
#                                        (hugepages, as scripts/bench; the default is --no-huge -m 2048)
set -u
[ $# = 2 ] || { echo "usage: bench/ab.sh A-BINARY B-BINARY" >&2; exit 2; }
A=$1 B=$2
traffic=$(cd "$(dirname "$0")/../../shared/traffic" && pwd)
mix=$traffic/mix-20k.pcap
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sessions=${SPECS:-one-rule rules256-mixed}
[ -n "${EXPRESSION:-}" ] && sessions=expression
for _ in 1 2 3 4 5; do
    for which in ${ORDER:-A B}; do
        bin=${!which}
        for spec in $sessions; do
            if [ "$spec" = expression ]; then session=(--bpf "$EXPRESSION")
            elif [ -f "$spec" ]; then session=(-F "$spec")
            else session=(-F "$traffic/$spec.json"); fi
            timeout -s INT 40 "$bin" -l 0-1 --no-pci ${MEMORY:---no-huge -m 2048} --file-prefix "ab-$$" \
                --log-level=lib.eal:error --log-level=pmd.net.pcap:error \
                --vdev "net_pcap0,rx_pcap=$mix,infinite_rx=1" -- \
                --duration 3 --stats-json "$out/s.json" -w "$out/w" -s 64 "${session[@]}" >/dev/null 2>&1
            echo "$which $(basename "$spec" .json) $(jq -r '(.rx_packets / .elapsed_s / 1e6 * 100 | round) / 100' "$out/s.json")"
            rm -rf "$out/w"
        done
    done
done
