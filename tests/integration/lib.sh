# Shared by the integration tests: the real linecap on real DPDK vdevs.
# meson passes the paths of the programs in the environment.
set -euo pipefail

: "${LINECAP:?run through meson test}" "${GEN:?}" "${COMPARE:?}" "${COUNT:?}"

WORK=$(mktemp -d /tmp/linecap-test.XXXXXX)
cleanup_hooks=()
cleanup() {
    local hook
    for hook in "${cleanup_hooks[@]}"; do eval "$hook" || true; done
    # LINECAP_KEEP=DIR keeps the test's files and logs there, to read after a failure.
    [ -z "${LINECAP_KEEP:-}" ] || cp -r "$WORK" "$LINECAP_KEEP"
    rm -rf "$WORK"
}
trap cleanup EXIT

# tshark without its TCP sequence analysis, which no test reads and which
# Wireshark 4.0.17 makes slower than linear on many flows (a capture of
# 70 000 decapsulated packets: over 100 s with it, 2 s without), in a
# configuration folder of the test's own.
mkdir -p "$WORK/wireshark"
echo "tcp.analyze_sequence_numbers: FALSE" >"$WORK/wireshark/preferences"
export WIRESHARK_CONFIG_DIR="$WORK/wireshark"

# python3 as the interpreter itself: through a version manager's shim
# (pyenv) each start costs over a second, and the tests start it often.
mkdir -p "$WORK/bin"
ln -s "$(python3 -c 'import sys; print(sys.executable)')" "$WORK/bin/python3"
export PATH="$WORK/bin:$PATH"

# EAL for tests: no hugepages, no PCI, no shared config, quiet.
EAL_TEST=(--no-huge -m 512 --no-pci --no-shconf --log-level=lib.eal:error --log-level=pmd.net.pcap:error)

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

note() {
    echo "--- $*"
}

# run_linecap LOG EAL... -- OPTIONS...: runs linecap, keeping its stderr in LOG.
# Prints the log and fails if linecap exits non-zero.
run_linecap() {
    local log=$1
    shift
    local rc=0
    timeout -s INT 120 "$LINECAP" "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        fail "linecap exited with $rc: linecap $*"
    fi
}

# The one file a single-writer capture wrote in DIR.
only_file() {
    local dir=$1
    local files=("$dir"/*)
    [ "${#files[@]}" -eq 1 ] || fail "expected one file in $dir, found: ${files[*]}"
    [[ "${files[0]}" != *.part ]] || fail "file still named .part: ${files[0]}"
    echo "${files[0]}"
}

# Opens cleanly in capinfos and tshark, and holds N packets if N is given.
check_readable() {
    local file=$1 want=${2:-}
    check_capinfos "$file"
    # capinfos reads every record; tshark dissects the first 20000 (it takes
    # seconds per million packets).
    tshark -r "$file" -c 20000 >/dev/null 2>"$WORK/tshark.err" || { cat "$WORK/tshark.err" >&2; fail "tshark rejects $file"; }
    if grep -qi "cut short\|appears to be damaged\|isn't a capture file" "$WORK/tshark.err"; then
        cat "$WORK/tshark.err" >&2
        fail "tshark complains about $file"
    fi
    if [ -n "$want" ]; then
        local got
        got=$(capinfos_packets)
        [ "$got" = "$want" ] || fail "$file holds $got packets, expected $want"
    fi
}

# capinfos (Wireshark's reader) reads every record of FILE without an error.
# -M: whole numbers, so that callers can take the count from capinfos.out
# (capinfos_packets) instead of reading the file again.
check_capinfos() {
    capinfos -M "$1" >"$WORK/capinfos.out" 2>&1 || { cat "$WORK/capinfos.out" >&2; fail "capinfos rejects $1"; }
}

# The packets capinfos counted in the file check_readable (or check_capinfos) read last.
capinfos_packets() {
    awk -F': *' '/^Number of packets/ {print $2}' "$WORK/capinfos.out"
}

# corpus_vdevs EXTRA FILE...: net_pcap ports replaying the files, 16 per
# port (one queue each, net_pcap's most), each port's arguments ending in
# EXTRA (",infinite_rx=1" or ""). Sets vdevs=(--vdev ... --vdev ...).
corpus_per_port=16
corpus_vdevs() {
    local extra=$1 p f args
    shift
    local list=("$@")
    vdevs=()
    for ((p = 0; p * corpus_per_port < ${#list[@]}; p++)); do
        args="net_pcap$p"
        for f in "${list[@]:p*corpus_per_port:corpus_per_port}"; do args+=",rx_pcap=$f"; done
        vdevs+=(--vdev "$args$extra")
    done
}

json() {
    jq -r "$2" "$1"
}

# Every received packet is filtered or matched; every matched packet is
# written or dropped at exactly one stage; per worker and per session too.
check_counters_add_up() {
    local stats=$1
    jq -e '
      (.rx_packets == .filtered_packets + .matched_packets) and
      (.matched_packets == .written_packets + .dropped_ring + .dropped_write + .dropped_limit) and
      ([.workers[] | .rx_packets == .filtered_packets + .matched_packets] | all) and
      (.rx_packets == ([.workers[].rx_packets] | add)) and
      (.written_packets == ([.writers[].written_packets] | add)) and
      ([.sessions[] | .matched_packets == .written_packets + .dropped_ring + .dropped_write + .dropped_limit] | all)
    ' "$stats" >/dev/null || { cat "$stats" >&2; fail "counters do not add up in $stats"; }
}
