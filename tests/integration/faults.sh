#!/usr/bin/env bash
# Faults under a running daemon: hostile session names and planted symbolic
# links (nothing written outside --out-root), a session's folder removed or
# made read-only mid-capture, a file descriptor limit, kill -9 and the
# restart that tidies the .part files, and a full disk shared by two
# sessions. Each fault stops the session it hits, with a reason and an error
# naming the file; other sessions go on and the daemon keeps answering.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
CLIENT="$(dirname "$0")/control_client.py"

"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3
OUTSIDE="$WORK/outside"   # nothing may ever appear here
mkdir -p "$OUTSIDE"

# The daemon runs with no capability at all: on vdevs it needs none, and
# without CAP_DAC_OVERRIDE file permissions bind it as any process (a
# read-only folder must refuse it, even to root).
command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
DAEMON_WRAP=(setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all)

# session_fds: the daemon's descriptors that point into a session's folder.
session_fds() {
    local folder=$1 fd
    for fd in /proc/"$pid"/fd/*; do
        [[ "$(readlink "$fd")" == "$folder"* ]] && basename "$fd"
    done
}

# lowest_free_fd: the lowest descriptor number the daemon does not use.
lowest_free_fd() {
    local n=0
    while [ -e "/proc/$pid/fd/$n" ]; do n=$((n + 1)); done
    echo "$n"
}

# expect_stopped ID REASON WORDS: the session ended by itself with REASON,
# and its error says WORDS.
expect_stopped() {
    local id=$1 reason=$2 words=$3
    wait_ended "$id"
    [ "$(field "$id" .status)/$(field "$id" .reason)" = "failed/$reason" ] ||
        fail "session $id: $(field "$id" .status)/$(field "$id" .reason), expected failed/$reason"
    field "$id" .error | grep -q "$words" || fail "session $id: error '$(field "$id" .error)' does not say '$words'"
    echo "session $id: $reason: $(field "$id" .error)"
}

# still_writing ID: its written_packets grow.
still_writing() {
    local before after
    before=$(field "$1" .counters.written_packets)
    sleep 0.6
    after=$(field "$1" .counters.written_packets)
    [ "$(field "$1" .status)" = running ] && [ "$after" -gt "$before" ] ||
        fail "session $1 stopped writing ($before -> $after, $(field "$1" .status))"
}

start_daemon
[ "$(awk '/^CapEff/ {print $2}' /proc/"$pid"/status)" = 0000000000000000 ] ||
    fail "the daemon runs with capabilities: $(grep Cap /proc/"$pid"/status)"
# steady runs through the faults below: one ICMPv6 frame of the 2000 keeps
# its file to some hundred thousand records (all the ICMPv6 frames made
# capinfos read tens of millions at the end).
one_source=$(tcpdump -r "$WORK/in.pcap" -n -c 1 icmp6 2>/dev/null | awk '{print $3}')
[ -n "$one_source" ] || fail "no ICMPv6 frame in the input"
steady=$(ctl --json start --name steady --proto icmpv6 --src "$one_source/128" -s 64 | jq -r .id)

note "names and ids with paths in them are refused; nothing is written outside --out-root"
python3 "$CLIENT" hostile-names "$SOCK" "$OUTSIDE"
rc=0; ctl start --name ../escape 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "a session name has only letters" "$WORK/err" || fail "linecapctl --name ../escape: $(cat "$WORK/err")"

note "a symbolic link planted at the next session folder's name is skipped, not followed"
next=$(( $(ctl --json ls | jq -r '[.sessions[].id | tonumber] | max') + 1 ))
ln -s "$OUTSIDE" "$ROOT/$next-planted"
planted=$(ctl --json start --name planted --proto icmp -s 64 | jq -r .id)
[ "$planted" = $((next + 1)) ] || fail "the session took id $planted, expected $((next + 1)) (past the planted link)"
[ -d "$ROOT/$planted-planted" ] && [ ! -L "$ROOT/$planted-planted" ] || fail "the session folder is not a real folder"
[ -L "$ROOT/$next-planted" ] || fail "the planted link was replaced"
ctl stop "$planted" >/dev/null
defer_session_files "$planted"
[ -z "$(ls -A "$OUTSIDE")" ] || fail "written outside --out-root: $(ls -A "$OUTSIDE")"
rm "$ROOT/$next-planted"

note "symbolic links planted at the file names a session will create: never followed, passed over"
# -G 1: one file a second named after its window, so the next names are known.
links=$(ctl --json start --name linked --proto icmp -s 64 -G 1 | jq -r .id)
folder="$ROOT/$links-linked"
sleep 1.2
ln -s "$OUTSIDE/session.json.tmp" "$folder/session.json.tmp"
seq=$(ls "$folder" | sed -n 's/^linked-w0-\([0-9]*\)-.*/\1/p' | sort -n | tail -1)
now=$(date +%s)
for s in $(seq $((10#$seq + 1)) $((10#$seq + 3))); do
    for t in $(seq "$now" $((now + 4))); do
        name="linked-w0-$(printf %06d "$s")-$(date -u -d "@$t" +%Y%m%dT%H%M%SZ).pcap"
        # A rotation since the `ls` may have created one of them already.
        ln -s "$OUTSIDE/$name.part" "$folder/$name.part" 2>/dev/null || [ -e "$folder/$name.part" ] ||
            fail "cannot plant $folder/$name.part"
    done
done
# A name taken is passed over for the next number: the capture goes on
# under names nobody planted (an earlier run's files are passed over alike).
for _ in $(seq 60); do
    [ -f "$folder/linked-w0-$(printf %06d $((10#$seq + 4)))-"*.pcap ] 2>/dev/null && break
    sleep 0.1
done
compgen -G "$folder/linked-w0-$(printf %06d $((10#$seq + 4)))-*.pcap" >/dev/null ||
    fail "the planted names were not passed over: $(ls "$folder")"
[ "$(field "$links" .status)" = running ] || fail "session $links: $(field "$links" .status): $(field "$links" .error)"
[ "$(field "$links" .counters.dropped_write)" = 0 ] || fail "planted names cost packets: $(field "$links" .counters)"
ctl stop "$links" >/dev/null
[ -z "$(ls -A "$OUTSIDE")" ] || fail "a planted link was followed: $(ls -A "$OUTSIDE")"
grep -q "session $links: .*session.json.tmp: cannot write: Too many levels of symbolic links" "$WORK/daemon.log" ||
    fail "the planted session.json.tmp did not give a clear warning"
rm "$folder/session.json.tmp"   # the daemon writes session.json at its next try
for _ in $(seq 30); do
    jq -e '.status == "finished"' "$folder/session.json" >/dev/null && break
    sleep 0.1
done
jq -e '.status == "finished"' "$folder/session.json" >/dev/null || fail "session.json not written once the link was gone"
defer_session_files "$links"
[ -z "$(find "$folder" -type f ! -perm 0640)" ] || fail "files not created 0640: $(find "$folder" -type f ! -perm 0640)"

note "a session's folder removed mid-capture: that session stops with an error, the others go on"
gone=$(ctl --json start --name gone -s 64 --rotate-packets 20000 | jq -r .id)
sleep 0.1
# The writer may create its next file between rm's unlinks and its rmdir.
for _ in $(seq 50); do rm -rf "$ROOT/$gone-gone" 2>/dev/null && break; done
[ ! -e "$ROOT/$gone-gone" ] || fail "could not remove the session's folder"
expect_stopped "$gone" error "No such file or directory"
still_writing "$steady"

note "a session's folder made read-only mid-capture: its next file cannot be created"
ro=$(ctl --json start --name readonly -s 64 --rotate-packets 20000 | jq -r .id)
sleep 0.1
chmod 0555 "$ROOT/$ro-readonly"
# Its last file cannot be renamed either: it keeps its .part name, complete.
expect_stopped "$ro" error "Permission denied"
chmod 0750 "$ROOT/$ro-readonly"
total=0
files=("$ROOT/$ro-readonly"/*.pcap*)
for f in "${files[@]}"; do
    # tshark too on the last, which kept its .part name (a second a file).
    if [ "$f" = "${files[-1]}" ]; then check_readable "$f"; else check_capinfos "$f"; fi
    total=$((total + $("$COUNT" "$f")))
done
[ "$total" = "$(field "$ro" .counters.written_packets)" ] ||
    fail "session $ro: files hold $total packets, counters say $(field "$ro" .counters.written_packets)"
still_writing "$steady"

note "the daemon's file descriptor limit reached: the session's next file fails, the daemon goes on"
fds=$(ctl --json start --name fds -s 64 --rotate-packets 20000 | jq -r .id)
sleep 0.1
soft=$(prlimit --pid "$pid" --nofile --output SOFT --noheadings)
hard=$(prlimit --pid "$pid" --nofile --output HARD --noheadings)
# Every descriptor below the limit in use and the session's own at or above
# it: closing its file frees nothing it may reuse, so the next open fails.
limit=$(lowest_free_fd)
for fd in $(session_fds "$ROOT/$fds-fds"); do [ "$fd" -lt "$limit" ] && limit=$fd; done
prlimit --pid "$pid" --nofile="$limit:$hard"
sleep 1   # the session rotates every few ms: its next file fails now
# A client that connects meanwhile waits in the backlog (the daemon cannot
# accept it) and is answered once descriptors are back.
"$LINECAPCTL" --socket "$SOCK" --timeout 20 --json ls >"$WORK/waiting.json" &
waiting=$!
for _ in $(seq 100); do
    grep -q "cannot accept a client: Too many open files" "$WORK/daemon.log" && break
    sleep 0.1
done
grep -q "cannot accept a client: Too many open files" "$WORK/daemon.log" ||
    fail "the daemon did not say, within 10 s, that it could not accept clients"
prlimit --pid "$pid" --nofile="$soft:$hard"
wait "$waiting" || fail "the client that connected while descriptors were exhausted got no answer"
jq -e ".sessions | length > 0" "$WORK/waiting.json" >/dev/null || fail "its answer: $(cat "$WORK/waiting.json")"
expect_stopped "$fds" error "cannot create .*Too many open files"
defer_session_files "$fds"
still_writing "$steady"
after=$(ctl --json start --name after -s 64 | jq -r .id)
ctl stop "$after" >/dev/null
defer_session_files "$after"

ctl stop "$steady" >/dev/null
[ "$(field "$steady" .reason)" = user ] || fail "session $steady ended with $(field "$steady" .reason)"
defer_session_files "$steady"

note "kill -9 mid-capture: closed files valid; the restart cuts each .part back and renames it"
# crashpcap has an index: the restart makes the one it was writing again.
pcap_id=$(ctl --json start --name crashpcap -s 200 --rotate-packets 30000 --index | jq -r .id)
ng_id=$(ctl --json start --name crashng --format pcapng --rotate-packets 30000 | jq -r .id)
closed_both() {
    compgen -G "$ROOT/$pcap_id-crashpcap/*.pcap" >/dev/null && compgen -G "$ROOT/$ng_id-crashng/*.pcapng" >/dev/null
}
for _ in $(seq 100); do closed_both && break; sleep 0.1; done
closed_both || fail "no closed file in the crash sessions after 10 s"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
rm -f "$SOCK"
check_deferred_files   # the sessions above, read with the daemon gone
declare -A readable
: >"$WORK/part-sizes"
: >"$WORK/part-empty"
: >"$WORK/part-none"
for id in "$pcap_id" "$ng_id"; do
    dir=$(echo "$ROOT/$id"-*)
    parts=()
    for f in "$dir"/*.part; do [[ "$f" == *.idx.part || ! -e "$f" ]] || parts+=("$f"); done
    # A kill between a rotation's rename of its file and the next file's
    # create (or its index's rename) leaves no capture .part at all: the
    # restart has none to cut back (and, beside the renamed file, its
    # index's .idx.part, if any, to make again).
    if [ "${#parts[@]}" = 0 ]; then
        note "session $id: no .part (killed between a rotation's rename and its next file): $(ls "$dir" | tr '\n' ' ')"
        echo "$id" >>"$WORK/part-none"
    fi
    for f in "$dir"/*.pcap "$dir"/*.pcapng; do
        if [ -e "$f" ]; then check_readable "$f"; fi
    done
    # A record torn in half, whatever the kill left: the restart must cut it
    # off. Unless the kill came between a rotation's create and its header
    # (the file is empty): the restart must then remove the file.
    for f in "${parts[@]}"; do
        if [ -s "$f" ]; then
            # The bytes of its complete records: 10 random bytes can finish
            # a record the kill cut (then the restart rightly keeps it), but
            # never one more.
            echo "${f%.part}:$(python3 "$(dirname "$0")/complete_prefix.py" "$f" 10)" >>"$WORK/part-sizes"
            head -c 10 /dev/urandom >>"$f"
        else
            note "session $id: $(basename "$f") empty (killed in a rotation)"
            echo "$f" >>"$WORK/part-empty"
        fi
    done
    readable[$id]=$("$COUNT" "${parts[@]}" $(compgen -G "$dir/*.pcap" || true) $(compgen -G "$dir/*.pcapng" || true))
done
# A kill between a rotation's create and its header leaves an empty .part
# and no index yet (the index is opened once the header is on disk): the
# restart then has no index to make again; nor, killed between files,
# when the renamed file's index was renamed too.
killed_in_rotation=false
! grep -q "/$pcap_id-crashpcap/" "$WORK/part-empty" || killed_in_rotation=true
grep -qx "$pcap_id" "$WORK/part-none" && ! compgen -G "$ROOT/$pcap_id-crashpcap/*.idx.part" >/dev/null &&
    killed_in_rotation=true
# The restart makes the index of the file being written whether or not
# the crash left its .idx.part (a kill between the file's header and its
# index's creation leaves none): here none, as if so, for a session with
# an index; and none is made for a session without (crashng).
for f in "$ROOT/$pcap_id"-crashpcap/*.part; do
    [[ "$f" == *.idx.part || ! -s "$f" ]] || rm -f "${f%.part}.idx.part"
done
log_mark=$(wc -l <"$WORK/daemon.log")
start_daemon
for id in "$pcap_id" "$ng_id"; do
    [ "$(field "$id" .status)/$(field "$id" .reason)" = finished/crashed ] ||
        fail "session $id after the restart: $(field "$id" .status)/$(field "$id" .reason)"
    if grep -qx "$id" "$WORK/part-none"; then
        field "$id" .note | grep -Eq "without closing this session.*cut 0 .part files back" ||
            fail "session $id (no .part at the kill): note '$(field "$id" .note)'"
    else
        field "$id" .note | grep -Eq "without closing this session.*(cut 1 .part file back|cut 0 .part files back.*removed 1 empty .part file)" ||
            fail "session $id: note '$(field "$id" .note)'"
    fi
    [ -n "$(field "$id" .ended)" ] || fail "session $id: no end time"
    ! compgen -G "$ROOT/$id-*/*.part" >/dev/null || fail "session $id: .part left: $(echo "$ROOT/$id"-*/*.part)"
    check_session_files "$id" "${readable[$id]}"
done
# The index of the file being written is made from the file, and a query
# through the indexes finds what tcpdump finds in the files.
$killed_in_rotation || field "$pcap_id" .note | grep -q "it made 1 index again from its file" ||
    fail "session $pcap_id: note '$(field "$pcap_id" .note)'"
crash_dir=$(echo "$ROOT/$pcap_id"-*)
for f in "$crash_dir"/*.pcap; do [ -s "$f.idx" ] || fail "no index beside $f after the restart: $(ls "$crash_dir")"; done
! compgen -G "$ROOT/$ng_id-crashng/*.idx*" >/dev/null ||
    fail "session $ng_id (no index): indexes after the restart: $(ls "$ROOT/$ng_id"-crashng)"
"$LINECAP" query -o "$WORK/crash-q.pcap" "$crash_dir" udp 2>"$WORK/crash-q.err" || fail "$(cat "$WORK/crash-q.err")"
! grep -q note "$WORK/crash-q.err" || fail "query after the restart: $(cat "$WORK/crash-q.err")"
"$LINECAP" merge -o "$WORK/crash-all.pcap" "$crash_dir" 2>/dev/null
tcpdump -r "$WORK/crash-all.pcap" -w "$WORK/crash-t.pcap" udp 2>/dev/null
[ "$("$COUNT" "$WORK/crash-q.pcap")" = "$("$COUNT" "$WORK/crash-t.pcap")" ] ||
    fail "query after the restart: $("$COUNT" "$WORK/crash-q.pcap") packets, not tcpdump's"
while IFS=: read -r f size; do
    [ "$(stat -c %s "$f")" -le "$size" ] || fail "$f: $(stat -c %s "$f") bytes, more than the $size of complete records it could hold"
done <"$WORK/part-sizes"
while read -r f; do
    [ ! -e "$f" ] && [ ! -e "${f%.part}" ] || fail "$f: empty at the kill, not removed by the restart"
done <"$WORK/part-empty"
if tail -n +"$((log_mark + 1))" "$WORK/daemon.log" | grep -q warning; then
    fail "warnings at the restart: $(tail -n +"$((log_mark + 1))" "$WORK/daemon.log" | grep warning)"
fi
# Sessions that ended before the crash are listed as they ended (the one
# whose folder was removed is gone with it).
for id in "$ro" "$fds"; do
    [ "$(field "$id" .status)/$(field "$id" .reason)" = failed/error ] ||
        fail "session $id after the restart: $(field "$id" .status)/$(field "$id" .reason)"
done
[ "$(field "$links" .status)/$(field "$links" .reason)" = finished/user ] ||
    fail "session $links after the restart: $(field "$links" .status)/$(field "$links" .reason)"
rc=0; ctl show "$gone" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "the session whose folder was removed is still listed"
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"

note "kill -9 with zero-length records in the .part (a replay of a file that has them): the restart keeps them all"
# tcpreplay#520's records through the daemon: 0 captured bytes of 0 or 60.
python3 - "$WORK/zero.pcap" "$WORK/none.pcap" <<'PY'
import struct, sys
frame = bytes.fromhex("02000000000102000000000208004500002e0001000040110000c0000201c633640200010002001a0000") + b"x" * 18
recs = [(1, frame, 60), (2, b"", 0), (3, b"", 60), (4, frame, 60), (5, b"\x02\x00", 2)]
head = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
with open(sys.argv[1], "wb") as f:
    f.write(head)
    for usec, data, length in recs:
        f.write(struct.pack("<IIII", 1700000000, usec, len(data), length) + data)
open(sys.argv[2], "wb").write(head)
PY
echo '{"name": "zero"}' >"$WORK/zero.json"
zsock="$WORK/zero.sock"
zdaemon() {   # zdaemon REPLAY [OPTIONS]: a daemon of its own on a plain replay
    local replay=$1
    shift
    "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "$prefix-zero" --vdev "net_pcap0,rx_pcap=$replay" -- \
        --control "$zsock" --out-root "$WORK/zero-root" "$@" >>"$WORK/zero.log" 2>&1 &
    zpid=$!
    cleanup_hooks+=("kill -9 $zpid 2>/dev/null")
    for _ in $(seq 150); do "$LINECAPCTL" --socket "$zsock" ls >/dev/null 2>&1 && return 0; sleep 0.1; done
    cat "$WORK/zero.log"
    fail "the daemon on $replay did not come up"
}
zdaemon "$WORK/zero.pcap" --start "$WORK/zero.json"
for _ in $(seq 100); do   # the writer flushes every half second
    [ "$(tshark -r "$WORK"/zero-root/1-zero/*.part 2>/dev/null | wc -l)" = 5 ] && break
    sleep 0.1
done
[ "$(tshark -r "$WORK"/zero-root/1-zero/*.part 2>/dev/null | wc -l)" = 5 ] || fail "the .part never held the 5 records"
kill -9 "$zpid"
wait "$zpid" 2>/dev/null || true
rm -f "$zsock"
zdaemon "$WORK/none.pcap"
zshow=$("$LINECAPCTL" --socket "$zsock" --json show 1)
[ "$(jq -r .session.counters.written_packets <<<"$zshow")" = 5 ] ||
    fail "after the restart: written_packets $(jq -r .session.counters.written_packets <<<"$zshow"), not 5: $zshow"
[ "$(tshark -r "$WORK"/zero-root/1-zero/*.pcap 2>/dev/null | wc -l)" = 5 ] || fail "the recovered file lost records"
"$COMPARE" "$WORK/zero.pcap" "$WORK"/zero-root/1-zero/*.pcap --replayed-lengths
note "a session started after the replay has ended says so, in start's reply and in show"
sleep 1.2
"$LINECAPCTL" --socket "$zsock" start --name late >/dev/null 2>"$WORK/late.err"
late_note="the ports replay files and have received nothing for [0-9]+ s: the replays have ended, so this session will see no more packets \(linecapctl stop 2\)"
grep -Eqx "linecapctl: note: $late_note" "$WORK/late.err" || fail "start after the replay's end: $(cat "$WORK/late.err")"
"$LINECAPCTL" --socket "$zsock" show late | grep -Eqx "  note     $late_note" || fail "show late has no note"
"$LINECAPCTL" --socket "$zsock" shutdown >/dev/null
wait "$zpid" || fail "the second daemon did not shut down cleanly"

if [ "$(id -u)" = 0 ]; then
    note "a full disk: the session filling it stops disk_full; one whose space is reserved goes on"
    # Every session folder is made through the out-root's descriptor, so in
    # one daemon all sessions share a filesystem. Session "reserved" starts
    # first: its first flush reserves 64 MiB (fallocate), and the 72 MiB
    # tmpfs has only 8 MiB left for "filler".
    mkdir -p "$WORK/small"
    mount -t tmpfs -o size=72m linecap-test-faults "$WORK/small"
    cleanup_hooks+=("mountpoint -q '$WORK/small' && umount -l '$WORK/small'")
    ROOT="$WORK/small/root"
    start_daemon
    # One host of the 2000-packet file (seed 3): a few thousand packets a
    # second, so the session stays inside its first 64 MiB reservation.
    reserved=$(ctl --json start --name reserved --host 2001:db8:1:0:510c:4064:e6a5:f92 -s 64 | jq -r .id)
    sleep 1
    filler=$(ctl --json start --name filler | jq -r .id)
    expect_stopped "$filler" disk_full "No space left on device"
    check_session_files "$filler"
    [ "$(field "$filler" .counters.written_packets)" -gt 1000 ] || fail "the filler stopped early"
    still_writing "$reserved"
    ctl stop "$reserved" >/dev/null
    [ "$(field "$reserved" .reason)" = user ] || fail "the reserved session ended with $(field "$reserved" .reason)"
    check_session_files "$reserved"
    ctl shutdown >/dev/null
    wait_exit "$pid" daemon "$WORK/daemon.log"
    umount "$WORK/small"
fi
[ -z "$(ls -A "$OUTSIDE")" ] || fail "written outside --out-root: $(ls -A "$OUTSIDE")"
echo PASS
