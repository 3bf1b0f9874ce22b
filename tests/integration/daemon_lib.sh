# Shared by the daemon suites (daemon.sh, faults.sh, overload.sh, ...), after lib.sh: a daemon
# on endless replayed traffic ($WORK/in.pcap through net_pcap, infinite_rx),
# driven with linecapctl.
: "${LINECAPCTL:?run through meson test}"

SOCK="$WORK/control.sock"
ROOT="$WORK/sessions"
prefix="lc-$(basename "$0" .sh)-$$"
pid=
DAEMON_WRAP=()   # a command the daemon runs under (setpriv ...), if any

start_daemon() {
    "${DAEMON_WRAP[@]}" "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "$prefix" \
        --vdev "net_pcap0,rx_pcap=$WORK/in.pcap,infinite_rx=1" -- \
        --control "$SOCK" --out-root "$ROOT" "$@" >>"$WORK/daemon.log" 2>&1 &
    pid=$!
    cleanup_hooks+=("kill -9 $pid 2>/dev/null")
    for _ in $(seq 150); do
        ctl ls >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/daemon.log"
    fail "the daemon did not come up"
}

ctl() {
    "$LINECAPCTL" --socket "$SOCK" "$@"
}

# field ID JQ: a field of `show ID --json`.
field() {
    ctl --json show "$1" | jq -r ".session$2"
}

# wait_ended ID: until the session is no longer running (10 s at most).
wait_ended() {
    for _ in $(seq 100); do
        [ "$(field "$1" .status)" != running ] && return 0
        sleep 0.1
    done
    fail "session $1 still running after 10 s"
}

# check_session_counters ID: notes the ended session's matched = written +
# ring + write + limit drops, fails unless they add up and no write failed
# (the tests' disks are healthy); leaves matched, written, ring, write,
# limit and reason set for the caller's own checks.
check_session_counters() {
    local id=$1 show name
    show=$(ctl --json show "$id") || fail "session $id: linecapctl show failed"
    # One word each (a null as "null"; names have no spaces).
    read -r matched written ring write limit reason name < <(jq -r '.session |
        [.counters | .matched_packets, .written_packets, .dropped_ring, .dropped_write, .dropped_limit] +
        [.reason, .name] | map(tostring) | join(" ")' <<<"$show")
    note "session $id ($name): matched $matched = written $written + ring $ring + write $write + limit $limit"
    [ "$matched" = $((written + ring + write + limit)) ] || fail "session $id: counters do not add up"
    [ "$write" = 0 ] || fail "session $id: write errors on a healthy disk"
}

# check_session_files ID [N]: every file opens in capinfos, which reads all
# its records, and the first and the last in tshark too (one writer wrote
# them all, and tshark takes a second a file: a session that rotated a
# hundred times would take minutes); with N, they hold N packets together;
# and the session's written_packets agree.
check_session_files() {
    record_session_files "$1"
    check_recorded_files "$@"
}

# record_session_files ID: what the daemon says of the ended session, kept
# for check_recorded_files, so that the files can be read after the daemon
# has gone (a daemon on endless replay keeps a core busy, and the readers
# take twice as long beside it): its files ($WORK/files-ID, one path a
# line) and its written_packets ($WORK/written-ID).
record_session_files() {
    ctl --json files "$1" | jq -r '.files[].path' >"$WORK/files-$1" || fail "session $1: linecapctl files failed"
    field "$1" .counters.written_packets >"$WORK/written-$1"
}

# defer_session_files ID [N]: check_session_files, the files read later,
# by check_deferred_files, once the daemon has gone.
deferred_checks=()
defer_session_files() {
    record_session_files "$1"
    deferred_checks+=("$*")
}

# check_deferred_files: the checks defer_session_files left, in order.
check_deferred_files() {
    local args
    for args in "${deferred_checks[@]}"; do
        # shellcheck disable=SC2086 # ID and N, as given
        check_recorded_files $args
    done
    deferred_checks=()
}

# check_recorded_files ID [N]: check_session_files, from what
# record_session_files kept.
check_recorded_files() {
    local id=$1 want=${2:-} total=0 n i files written
    mapfile -t files <"$WORK/files-$id"
    written=$(cat "$WORK/written-$id")
    for ((i = 0; i < ${#files[@]}; i++)); do
        [[ "${files[i]}" != *.part ]] || fail "session $id: ${files[i]} still .part after it ended"
        if [ "$i" = 0 ] || [ "$i" = $((${#files[@]} - 1)) ]; then
            check_readable "${files[i]}"
        else
            check_capinfos "${files[i]}"
        fi
        n=$(capinfos_packets)
        total=$((total + n))
    done
    [ "$total" = "$written" ] || fail "session $id: files hold $total packets, counters say $written"
    [ -z "$want" ] || [ "$total" = "$want" ] || fail "session $id: $total packets, expected $want"
}

# check_worker_totals [N]: N `stats` replies (default 50), taken while
# traffic flows; in each, every worker's received packets are filtered out
# or matched, with no burst half counted.
check_worker_totals() {
    local n=${1:-50} i reply
    for ((i = 0; i < n; i++)); do
        reply=$(ctl --json stats) || fail "linecapctl stats failed"
        jq -e '.workers | length > 0 and all(.rx_packets == .filtered_packets + .matched_packets)' \
            <<<"$reply" >/dev/null ||
            fail "stats reply $((i + 1)) of $n: a worker's received packets are neither filtered nor matched: $(jq -c .workers <<<"$reply")"
    done
}
