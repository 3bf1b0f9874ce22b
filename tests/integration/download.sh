#!/usr/bin/env bash
# Getting the pcap out of a daemon: a member of --control-group (an
# unprivileged user made for the test) downloads sessions with linecapctl
# merge into files of its own; merge never reads its own output, leaves no
# copy in the session's folder and replaces a file only with --force;
# snapshot grabs a running ring that rotates many times a second (keep-N)
# again and again, whole and time-ordered; ls shows what is on disk beside
# what was written, in columns that fit; --keep-bytes bounds a ring in bytes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
CLIENT="$(dirname "$0")/control_client.py"

"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3

# The operator: a user of its own, in the daemon's control group only.
group="lcdl$$"
user="lcdu$$"
groupadd "$group"
useradd -M -N -g "$group" -d /nonexistent -s /usr/sbin/nologin "$user" || { groupdel "$group"; fail "useradd"; }
cleanup_hooks+=("userdel $user; groupdel $group")
chmod 0755 "$WORK"   # mktemp's 0700 would keep the user from the socket
HOME_DIR="$WORK/home"
mkdir "$HOME_DIR"
chown "$user:$group" "$HOME_DIR"
as_user() {
    setpriv --reuid "$user" --regid "$group" --init-groups "$@"
}
uctl() {
    as_user "$LINECAPCTL" --socket "$SOCK" "$@"
}
# packets FILE: how many packets capinfos reads in it.
packets() {
    capinfos -M -c "$1" | awk -F': *' '/Number of packets/ {print $2}'
}

start_daemon --control-group "$group"

note "a member of the control group downloads a session into a file of its own"
id=$(uctl --json start --name dl --proto tcp -c 500 -s 256 | jq -r .id)
wait_ended "$id"
folder=$(field "$id" .folder)
[ "$(stat -c '%a %G' "$folder")" = "2750 $group" ] || fail "session folder: $(stat -c '%a %G' "$folder"), not 2750 $group"
for f in "$folder"/*; do
    [ "$(stat -c '%a %G' "$f")" = "640 $group" ] || fail "$f: $(stat -c '%a %G' "$f"), not 640 $group"
done
uctl merge "$id" -o "$HOME_DIR/dl.pcap" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err"; fail "merge as a member of the group"; }
grep -qx "500 packets from 1 file merged into $HOME_DIR/dl.pcap" "$WORK/out" || fail "merge said: $(cat "$WORK/out")"
[ "$(stat -c %U "$HOME_DIR/dl.pcap")" = "$user" ] || fail "the download belongs to $(stat -c %U "$HOME_DIR/dl.pcap")"
check_readable "$HOME_DIR/dl.pcap" 500
# The header's snap length is the inputs' (-s 256), not 262144.
capinfos -l "$HOME_DIR/dl.pcap" | grep -q "Packet size limit: *file hdr: 256 bytes" ||
    fail "merged snap length: $(capinfos -l "$HOME_DIR/dl.pcap")"
# Nothing left in the session's folder but its own files.
extra=$(ls "$folder" | grep -Ev '^session\.json$|^dl-w[0-9]+-[0-9]{6}-[0-9]{8}T[0-9]{6}Z\.pcap$' || true)
[ -z "$extra" ] || fail "merge left $extra in $folder"
# files, and the files themselves, are readable by the group too.
path=$(uctl --json files "$id" | jq -r '.files[0].path')
as_user capinfos -c "$path" >/dev/null || fail "a member of the group cannot read $path"

note "merge refuses to replace a file unless --force, and never reads its own output"
cp "$HOME_DIR/dl.pcap" "$WORK/dl-before.pcap"
rc=0; uctl merge "$id" -o "$HOME_DIR/dl.pcap" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "dl.pcap: already exists; give another -o, or --force to replace it" "$WORK/err" ||
    fail "merge over a file: exit $rc, $(cat "$WORK/err")"
cmp -s "$HOME_DIR/dl.pcap" "$WORK/dl-before.pcap" || fail "the refused merge changed the file"
# A folder: linecap merge's words, --force or not (not "already exists").
for force in "" --force; do
    rc=0; uctl merge "$id" -o "$HOME_DIR" $force 2>"$WORK/err" || rc=$?
    [ "$rc" = 1 ] && grep -qF "merge: $HOME_DIR: a folder; give -o the name of a file to write, e.g. -o $HOME_DIR/capture.pcapng" "$WORK/err" ||
        fail "merge into a folder ${force:-without --force}: exit $rc, $(cat "$WORK/err")"
done
uctl merge "$id" -o "$HOME_DIR/dl.pcap" --force >/dev/null || fail "merge --force"
check_readable "$HOME_DIR/dl.pcap" 500
rc=0; uctl merge "$id" 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "merge: -o FILE is required: where to write the capture, e.g. linecapctl merge $id -o capture.pcap" "$WORK/err" ||
    fail "merge without -o: exit $rc, $(cat "$WORK/err")"
"$LINECAP" merge -o "$WORK/by-hand.pcap" "$folder" 2>"$WORK/err" || { cat "$WORK/err"; fail "linecap merge of the folder"; }
grep -q "500 packets from 1 file into" "$WORK/err" || fail "linecap merge said: $(cat "$WORK/err")"
[ "$(packets "$WORK/by-hand.pcap")" = 500 ] || fail "linecap merge of the folder: $(packets "$WORK/by-hand.pcap") packets, not 500"
rc=0; "$LINECAP" merge -o "$WORK/by-hand.pcap" "$folder" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "already exists; give another -o, or --force" "$WORK/err" || fail "linecap merge over a file: $(cat "$WORK/err")"
# A reversed window: the words linecapctl and the API use, nothing made.
rc=0; "$LINECAP" merge --since -1m --until -2m -o "$WORK/window.pcap" "$folder" 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && [ "$(cat "$WORK/err")" = "linecap merge: --since -1m is after --until -2m: no packet can be in between" ] &&
    [ ! -e "$WORK/window.pcap" ] || fail "linecap merge with a reversed window: exit $rc: $(cat "$WORK/err")"
# Standard output, straight into tshark.
got=$(uctl merge "$id" -o - 2>"$WORK/err" | tshark -r - 2>/dev/null | wc -l)
[ "$got" = 500 ] || { cat "$WORK/err"; fail "merge -o - | tshark -r -: $got packets"; }
grep -q "500 packets from 1 file merged into standard output" "$WORK/err" || fail "merge -o - said: $(cat "$WORK/err")"
# Over the socket without a file: refused, saying what to send.
python3 "$CLIENT" call "$SOCK" "{\"cmd\":\"merge\",\"id\":\"$id\"}" | jq -e '.ok == false and
    (.error | contains("no output file came with the request"))' >/dev/null || fail "a merge without a descriptor was not refused"
rc=0; uctl merge 4242 -o "$HOME_DIR/none.pcap" 2>/dev/null || rc=$?
[ "$rc" = 1 ] && [ ! -e "$HOME_DIR/none.pcap" ] || fail "a refused merge left its output file behind (exit $rc)"

note "snapshot: a running ring rotating many times a second (keep-N), grabbed 20 times"
ring=$(uctl --json start --name ring -s 128 --rotate-packets 1000 -W 3 | jq -r .id)
sleep 1
[ "$(field "$ring" .counters.files_deleted)" -gt 20 ] || fail "the ring rotated only $(field "$ring" .counters.files_created) times"
for i in $(seq 20); do
    out="$HOME_DIR/snap-$i.pcap"
    uctl snapshot "$ring" -o "$out" >/dev/null 2>"$WORK/err" || { cat "$WORK/err"; fail "snapshot $i"; }
    [ ! -s "$WORK/err" ] || fail "snapshot $i said: $(cat "$WORK/err")"
    # Wireshark's reader reads every record of every snapshot (capinfos);
    # tshark dissects the first and the last (1.5 s each).
    if [ "$i" = 1 ] || [ "$i" = 20 ]; then check_readable "$out"; fi
    capinfos -M -c -o "$out" >"$WORK/capinfos.out" 2>&1 || { cat "$WORK/capinfos.out"; fail "capinfos rejects snapshot $i"; }
    n=$(capinfos_packets)
    # What a writer keeps: 3 closed files of 1000 and the one being written.
    [ "$n" -ge 3000 ] && [ "$n" -le 6000 ] || fail "snapshot $i holds $n packets, not 3000 to 6000"
    grep -q "Strict time order: *True" "$WORK/capinfos.out" || fail "snapshot $i is not time-ordered"
done
[ "$(field "$ring" .status)" = running ] || fail "the ring stopped"
uctl merge "$ring" -o "$HOME_DIR/ring-now.pcap" >/dev/null || fail "merge of a running session"
# A time window: UTC as ISO 8601 and as ls prints it (which times a window
# keeps, to the nanosecond, is the merge tests' part). The ring holds its
# last 0.2 s or so, and the packets of its file being written reach the disk
# at the writer's flush, every half second: on a loaded machine the newest
# packets on disk can be a second old. ls's format has whole seconds: an
# --until of "+1 second" cut to the second can end 0.1 s from now.
since=$(date -u -d '-3 second' +%Y-%m-%dT%H:%M:%S.%NZ)
until=$(date -u -d '+2 second' '+%Y-%m-%d %H:%M:%S')
uctl snapshot "$ring" --since "$since" --until "$until" -o "$HOME_DIR/window.pcap" >/dev/null || fail "snapshot --since --until"
first=$(tshark -r "$HOME_DIR/window.pcap" -T fields -e frame.time_epoch -c 1 2>/dev/null)
[ -n "$first" ] || fail "snapshot --since $since --until '$until': no packets ($(capinfos -c "$HOME_DIR/window.pcap" 2>&1 | tail -1)); the ring's files: $(uctl --json files "$ring" 2>&1 | head -c 600)"
since_epoch=$(date -u -d "${since%Z}" +%s.%N)
awk -v a="$first" -v b="$since_epoch" 'BEGIN {exit !(a >= b)}' || fail "snapshot --since $since starts at $first"
uctl snapshot "$ring" --since -1m -o "$HOME_DIR/last-minute.pcap" >/dev/null || fail "snapshot --since -1m"
rc=0; uctl snapshot "$ring" --since yesterday -o "$HOME_DIR/x.pcap" 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "snapshot: --since yesterday: not a UTC time: give 2026-11-29T18:53:45Z" "$WORK/err" ||
    fail "a bad --since: exit $rc, $(cat "$WORK/err")"
# Into the ring's own folder, named as its files are (root may write
# there): refused in snapshot's words though the daemon takes it as a
# merge, and no file left for the ring's later readers.
folder=$(dirname "$(uctl --json files "$ring" | jq -r '.files[0].path')")
alien="$folder/$(basename "$(uctl --json files "$ring" | jq -r '.files[0].path')" |
    sed -E 's/-w([0-9]+)-[0-9]+-([0-9]{8}T[0-9]{6}Z)/-w\1-999999-\2/')"
case "$alien" in *-999999-*) ;; *) fail "no writer's file name made of the ring's: $alien" ;; esac
rc=0; "$LINECAPCTL" --socket "$SOCK" snapshot "$ring" -o "$alien" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -qxF "linecapctl: snapshot: $alien: named as the capture files of $folder are, in that folder: this and every later merge or query of the folder would read it as one of them; give -o a file outside the folder" "$WORK/err" &&
    [ ! -e "$alien" ] || fail "snapshot -o $alien: exit $rc, $(cat "$WORK/err")"

note "ls: what is on disk now beside what was written, in columns as wide as their data"
long=$(printf 'n%.0s' $(seq 64))
uctl start --name "$long" --proto icmp -s 64 >/dev/null
sleep 0.3
uctl --json ls >"$WORK/ls.json"
jq -e --arg id "$ring" '.sessions[] | select(.id == $id) | .disk_bytes > 0 and .disk_bytes * 4 < .bytes' "$WORK/ls.json" >/dev/null ||
    fail "ring: on disk vs written: $(jq -c --arg id "$ring" '.sessions[] | select(.id == $id)' "$WORK/ls.json")"
uctl ls >"$WORK/ls.txt"
head -1 "$WORK/ls.txt" | grep -Eq "PACKETS +ON DISK +WRITTEN +DROPS$" || fail "ls header: $(head -1 "$WORK/ls.txt")"
# Every line ends at the same column (the last is right-aligned): nothing overflowed.
[ "$(awk '{print length}' "$WORK/ls.txt" | sort -u | wc -l)" = 1 ] || { cat "$WORK/ls.txt"; fail "ls columns are not aligned"; }
grep -q "$long" "$WORK/ls.txt" || fail "ls cut the long name"

note "--keep-bytes: a ring bounded in bytes"
kept=$(uctl --json start --name kept -s 128 --rotate-packets 500 --keep-bytes 300000 | jq -r .id)
sleep 1
# Measured once it has stopped (a running writer deletes under a listing):
# the files closed before the stop hold at most 300000 bytes; the file it
# was writing, closed by the stop, comes on top.
uctl stop kept >/dev/null
mapfile -t kept_files < <(ls "$(field "$kept" .folder)"/*.pcap | sort)
[ "${#kept_files[@]}" -ge 2 ] || fail "--keep-bytes: ${#kept_files[@]} files, no rotation seen"
closed=$(stat -c %s "${kept_files[@]:0:${#kept_files[@]}-1}" | awk '{s += $1} END {print s + 0}')
[ "$closed" -gt 0 ] && [ "$closed" -le 300000 ] || fail "--keep-bytes 300000: closed files hold $closed bytes"
[ "$(field "$kept" .spec.rotate.keep_bytes)" = 300000 ] || fail "keep_bytes not in the spec: $(field "$kept" .spec)"
rc=0; uctl start --name nokeep --keep-bytes 1000 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "keeps the newest files of a rotation: give bytes, seconds or packets too" "$WORK/err" ||
    fail "--keep-bytes without rotation: exit $rc, $(cat "$WORK/err")"

ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"

note "a session's file cut short by another program while a download reads it: the download says so; the daemon and its captures go on"
# Downloads read at 1 MB/s here, so the cut comes in the middle of one.
start_daemon --read-rate 1
cut=$(ctl --json start --name cut -c 60000 | jq -r .id)
wait_ended "$cut"
file=$(ctl --json files "$cut" | jq -r '.files[0].path')
size=$(stat -c %s "$file")
[ "$size" -gt 4000000 ] || fail "the session's file is $size bytes: too small to cut while it is read"
live=$(ctl --json start --name live --proto udp | jq -r .id)
rc=0
ctl merge "$cut" -o "$WORK/cut.pcap" >"$WORK/out" 2>"$WORK/err" &
merge=$!
for _ in $(seq 500); do   # until the daemon has mapped the file (it then reads 1 MB a second)
    ! grep -qF "$file" "/proc/$pid/maps" 2>/dev/null || break
    sleep 0.01
done
grep -qF "$file" "/proc/$pid/maps" || fail "the daemon was not seen to map $file: $(cat "$WORK/out" "$WORK/err")"
truncate -s 100000 "$file"
wait "$merge" || rc=$?
[ "$rc" = 1 ] && grep -qE "^linecapctl: $file: record [0-9]+ \(byte [0-9]+\): the file was cut short by another program while it was read \(it had $size bytes when opened\)(; the record before was cut as it was read and may end in zeros)?: read it again once nothing truncates it" "$WORK/err" ||
    fail "a download of a file cut while read: exit $rc: $(cat "$WORK/out" "$WORK/err")"
kill -0 "$pid" 2>/dev/null || { tail -5 "$WORK/daemon.log"; fail "the daemon ended when a file it read was cut short"; }
[ "$(field "$live" .status)" = running ] || fail "the running session: $(field "$live" .status)"
ctl stop "$live" >/dev/null
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"
echo PASS
