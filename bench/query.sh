#!/usr/bin/env bash
# Retrospective queries over a ring (docs/query.md, docs/performance.md
# "Queries"): linecap query against tcpdump -r over every file, on a ring of
# about 10 GB of generated IMIX.
#
#  1. the ring: FILES files of PACKETS packets each (linecap-gen --profile
#     imix, 65 536 flows, the same flows in every file as a long-lived
#     population would be), one after the other in time, six minutes each
#     (an hour in all), named as a writer names them; a rare host (20
#     packets from an address nowhere else) merged into the middle one; then
#     `linecap index` of the folder (the index a ring's writers write: the
#     same bytes, tests/writers/test_session_output.cpp);
#  2. three queries, each with the ring's files out of the page cache
#     (drop_caches before each run): a rare host over the whole hour, one
#     flow of the population over the whole ring, and a port over ten
#     minutes; each beside `tcpdump -r FILE -w OUT EXPR` over every file,
#     the same expression. The two programs and their libraries are loaded
#     once after each drop_caches, before the clock starts: on a capture
#     host the daemon has linecap's libraries mapped, and what a query must
#     not rely on is the ring being cached (COLD_BINARIES=1 drops them too;
#     docs/performance.md gives both). Wall times, bytes read (linecap's own
#     count; tcpdump reads every byte), and whether both found the same
#     packets (for the port query, tcpdump's count is over the whole hour).
#
#   bench/query.sh            FILES=10 PACKETS=2900000 DIR=/var/tmp (LINECAP, GEN: other binaries)
#   RING=/var/tmp/ring bench/query.sh   keep the ring in RING (written and indexed if RING
#                                       has no .idx files yet), for runs one after another
#
# Prints one line per query and, last, one JSON line (for scripts/bench).
# Needs root (drop_caches), a built tree, and 11 GB free under DIR (or RING).
set -euo pipefail
cd "$(dirname "$0")/.."
files=${FILES:-10} packets=${PACKETS:-2900000}
work=$(mktemp -d "${DIR:-/var/tmp}/linecap-query-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
ring=${RING:-$work/ring}
mkdir -p "$ring"
lc=${LINECAP:-build/linecap} gen=${GEN:-build/bench/linecap-gen}

start_s=1700000000   # linecap-gen's first timestamp: 2023-11-14T22:13:20Z
file_s=360           # six minutes of packet time per file
gap_ns=$((file_s * 1000000000 / packets))
rare=198.51.100.7
if ! compgen -G "$ring/*.idx" >/dev/null; then
    echo "bench: query: writing the ring ($files x $packets IMIX packets)" >&2
    for i in $(seq 1 "$files"); do
        t=$((start_s + (i - 1) * file_s))
        name=$(printf 'ring-w0-%06d-%s.pcap' "$i" "$(date -u -d "@$t" +%Y%m%dT%H%M%SZ)")
        "$gen" -o "$ring/$name" -n "$packets" --profile imix --flows 65536 --seed 3 --gap-ns "$gap_ns" \
            --start-offset-ns $(((i - 1) * file_s * 1000000000)) >/dev/null
    done
    # The rare host: 20 packets of one flow, a second apart, in the middle
    # file, their source address one that is nowhere else (TEST-NET-2).
    "$gen" -o "$work/rare-gen.pcap" -n 20 --flows 1 --seed 777 --profile 64 --gap-ns 1000000000 --fixed-gap \
        --start-offset-ns $(((files - 1) / 2 * file_s * 1000000000 + 100 * 1000000000)) >/dev/null
    tcprewrite --srcipmap=0.0.0.0/0:$rare/32 --fixcsum -i "$work/rare-gen.pcap" -o "$work/rare.pcap"
    middle=$(ls "$ring" | sed -n "$(((files + 1) / 2))p")
    "$lc" merge --format pcap -o "$work/middle.pcap" "$ring/$middle" "$work/rare.pcap" 2>/dev/null
    mv "$work/middle.pcap" "$ring/$middle"
    echo "bench: query: $("$lc" index "$ring" 2>&1 | tail -1)" >&2
fi
ring_bytes=$(du -cb "$ring"/*.pcap | tail -1 | cut -f1)
index_bytes=$(du -cb "$ring"/*.idx | tail -1 | cut -f1)
echo "bench: query: ring of $(numfmt --to=iec "$ring_bytes"), index $(numfmt --to=iec "$index_bytes")" >&2

# One flow of the population: the 1000th packet's five-tuple (TCP or UDP).
read -r a b < <(tcpdump -nn -r "$ring/$(ls "$ring" | head -1)" -c 5000 'ip and (tcp or udp)' 2>/dev/null |
    awk 'NR == 1000 {sub(/:$/, "", $5); print $3, $5}')
flow="host ${a%.*} and host ${b%.*} and port ${a##*.} and port ${b##*.}"
ten_since=$(date -u -d "@$((start_s + 2 * file_s + 90))" +%Y-%m-%dT%H:%M:%SZ)
ten_until=$(date -u -d "@$((start_s + 2 * file_s + 690))" +%Y-%m-%dT%H:%M:%SZ)
hour_until=$(date -u -d "@$((start_s + files * file_s))" +%Y-%m-%dT%H:%M:%SZ)
hour_since=$(date -u -d "@$start_s" +%Y-%m-%dT%H:%M:%SZ)

cold() {   # the ring out of the page cache; the programs back in unless COLD_BINARIES=1
    sync
    echo 3 >/proc/sys/vm/drop_caches
    if [ "${COLD_BINARIES:-0}" != 1 ]; then
        "$lc" --version >/dev/null
        tcpdump --version >/dev/null 2>&1
    fi
    tail --version >/dev/null   # what the timed commands are piped through
}
count() { capinfos -M -c "$1" | awk -F': *' '/Number of packets/ {print $2}'; }

json="["
run() {   # run NAME SINCE UNTIL EXPRESSION (SINCE, UNTIL: empty for no bound)
    local name=$1 since=$2 until=$3 expr=$4 t0 t1 t2 t3 summary lq_packets td_packets=0 read_bytes
    cold
    t0=$EPOCHREALTIME
    summary=$("$lc" query ${since:+--since "$since"} ${until:+--until "$until"} --force -o "$work/q.pcap" "$ring" "$expr" 2>&1 |
        tail -1)
    t1=$EPOCHREALTIME
    lq_packets=$(count "$work/q.pcap")
    read_bytes=$(sed -nE 's/.*: read (.*\)), (.*) indexed chunks$/\1, \2 chunks/p' <<<"$summary")
    cold
    t2=$EPOCHREALTIME
    local i=0
    for f in "$ring"/*.pcap; do
        i=$((i + 1))
        tcpdump -r "$f" -w "$work/t-$i.pcap" "$expr" 2>/dev/null
    done
    t3=$EPOCHREALTIME
    for f in "$work"/t-*.pcap; do
        td_packets=$((td_packets + $(count "$f")))
    done
    rm -f "$work"/t-*.pcap
    local lq td
    lq=$(echo "$t1 - $t0" | bc -l) td=$(echo "$t3 - $t2" | bc -l)
    printf 'bench: query: %s (%s): linecap query %.2f s (read %s), tcpdump -r over every file %.2f s: %.0fx; %s vs %s packets\n' \
        "$name" "$expr" "$lq" "$read_bytes" "$td" "$(echo "$td / $lq" | bc -l)" "$lq_packets" "$td_packets" >&2
    [ "$json" = "[" ] || json+=","
    json+=$(jq -cn --arg n "$name" --arg e "$expr" --argjson lq "$lq" --argjson td "$td" --arg r "$read_bytes" \
        --argjson lp "$lq_packets" --argjson tp "$td_packets" \
        '{query: $n, expression: $e, linecap_s: ($lq * 100 | round / 100), tcpdump_s: ($td * 100 | round / 100),
          speedup: ($td / $lq | round), linecap_read: $r, linecap_packets: $lp, tcpdump_packets: $tp}')
}
run "a rare host over one hour" "$hour_since" "$hour_until" "host $rare"
run "one flow over the whole ring" "" "" "$flow"
run "a port over ten minutes" "$ten_since" "$ten_until" "udp port 123"
json+="]"
jq -cn --argjson q "$json" --argjson rb "$ring_bytes" --argjson ib "$index_bytes" \
    '{ring_bytes: $rb, index_bytes: $ib, index_percent: ($ib / $rb * 10000 | round / 100), queries: $q}'
