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

# wait_exit PID NAME LOG [RC_FILE]: waits for the daemon PID (this shell's
# child, or with RC_FILE another's, which writes its exit status there once
# it has reaped it; told to shut down) to end with status 0, at most 60 s: its exit's steps
# each take a second at most. Meanwhile a sampler, at the highest
# priority, writes each of its threads' state and kernel stack every
# 0.25 s: an exit past 5 s is noted with what the samples say (the
# daemon's steps, or a machine where the sampler itself ran late), one
# past 60 s fails with them and gdb's stacks. Sets EXIT_STALL to the
# seconds past 5 s, which a test need not hold against its budget.
wait_exit() {
    local pid=$1 name=$2 log=$3 rc_file=${4:-} t0 sampler samples="$WORK/$2.exit-samples"
    t0=$(date +%s%N)
    nice -n -20 bash -c '
        while kill -0 '"$pid"' 2>/dev/null; do
            echo "[$((($(date +%s%N) - '"$t0"') / 1000000)) ms]"
            for t in /proc/'"$pid"'/task/*; do
                [ -r "$t/stat" ] && echo "  $(cat "$t/comm") $(cut -d" " -f3 "$t/stat"): $(head -3 "$t/stack" | tr "\n" " ")"
            done 2>/dev/null
            sleep 0.25
        done' >"$samples" 2>&1 &
    sampler=$!
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        # (Each may fail, the daemon gone meanwhile or held in the kernel,
        # where gdb cannot attach: the failure below is said all the same.)
        timeout 20 gdb -p "$pid" -batch -ex 'thread apply all bt 12' 2>/dev/null | grep -E '^(Thread|#)' >"$WORK/$name.gdb" || true
        kill -9 "$pid" 2>/dev/null || true
        kill "$sampler" 2>/dev/null || true
        fail "$name did not exit within 60 s of its shutdown; its log ends: $(tail -8 "$log"); its threads: $(tail -20 "$samples"); gdb: $(cat "$WORK/$name.gdb")"
    fi
    wait "$sampler" 2>/dev/null || true   # ends with the daemon
    local rc=0
    if [ -n "$rc_file" ]; then
        # Another shell is its parent (fleet_lib.sh's start_node): it writes the status once it has reaped it.
        for _ in $(seq 600); do [ -s "$rc_file" ] && break; sleep 0.1; done
        rc=$(cat "$rc_file" 2>/dev/null) || rc="unknown: its reaper wrote no status within 60 s"
    else
        wait "$pid" || rc=$?
    fi
    [ "$rc" = 0 ] || fail "$name exited with $rc; its log ends: $(tail -8 "$log")"
    local took=$((($(date +%s%N) - t0) / 1000000))
    EXIT_STALL=0
    if [ "$took" -gt 5000 ]; then
        EXIT_STALL=$((took / 1000 - 5))
        note "$name took $took ms to exit; its log ends: $(tail -4 "$log"); $(grep -c '^\[' "$samples") samples of its threads (one each 0.25 s unless the machine stalls), the first and the last: $(awk '/^\[/{if (body) {if (!first) first = block; last = block}; block = $0; body = 0; next} {block = block "\n" $0; body = 1} END{if (body) {if (!first) first = block; last = block}; print first; print "..."; print last}' "$samples")"
    fi
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
