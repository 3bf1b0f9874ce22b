#!/usr/bin/env bash
# The daemon (--control) on endless replayed traffic (net_pcap, infinite_rx):
# sessions started and stopped while packets flow, every limit, watch,
# merge, delete, telemetry, 1000 start/stop cycles without leaks, restarts
# that list earlier sessions, and the socket's safety rules.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
CLIENT="$(dirname "$0")/control_client.py"

"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3

note "the socket: mode 0660, group from --control-group, a regular file in its place is refused and kept"
echo keep >"$WORK/not-a-socket"
rc=0
"$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0 -- --control "$WORK/not-a-socket" --out-root "$ROOT" \
    >"$WORK/refused.log" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "not a socket" "$WORK/refused.log" || { cat "$WORK/refused.log"; fail "a regular file was not refused"; }
[ "$(cat "$WORK/not-a-socket")" = keep ] || fail "the regular file was touched"
rc=0
"$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0 -- --control "$SOCK" --out-root "$ROOT" -w "$WORK/x" \
    >"$WORK/refused.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "one-shot" "$WORK/refused.log" || { cat "$WORK/refused.log"; fail "-w with --control was not refused"; }
start_daemon --control-group daemon
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode is $(stat -c %a "$SOCK"), not 660"
[ "$(stat -c %G "$SOCK")" = daemon ] || fail "socket group is $(stat -c %G "$SOCK"), not daemon (--control-group)"

"$LINECAPCTL" --version | grep -Eqx "linecapctl [0-9]+\.[0-9]+\.[0-9]+" || fail "linecapctl --version: $("$LINECAPCTL" --version 2>&1)"

note "bad requests get one clear error each; the connection stays usable"
python3 "$CLIENT" bad-requests "$SOCK"
rc=0; ctl stop 42 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "no session has the id or name 42" "$WORK/err" || fail "linecapctl stop 42: exit $rc, $(cat "$WORK/err")"
rc=0; ctl start --proto bogus 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -q "^linecapctl: start: --proto: bogus is not a protocol name" "$WORK/err" || fail "linecapctl start --proto bogus: exit $rc, $(cat "$WORK/err")"
note "a user outside --control-group is told what to join, not that the daemon is down"
chmod o+x "$WORK"
rc=0; setpriv --reuid nobody --regid nogroup --clear-groups "$LINECAPCTL" --socket "$SOCK" ls 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] && grep -qx "linecapctl: $SOCK: permission denied: the socket is for root and the members of group daemon; join it (usermod -aG daemon \$USER, then log in again) or run as root" "$WORK/err" ||
    fail "linecapctl as nobody: exit $rc, $(cat "$WORK/err")"
chmod o-x "$WORK"
rc=0; "$LINECAPCTL" --socket "$WORK/nowhere" ls 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] && grep -q "cannot reach" "$WORK/err" || fail "no daemon: exit $rc, $(cat "$WORK/err")"

note "every limit ends its own session with its reason; the others go on"
ctl start --name count --proto tcp -c 1000 -s 96 >/dev/null
ctl start --name bytes --proto udp --max-bytes 300000 --format pcapng >/dev/null
ctl start --name timed --proto icmp -s 64 --duration 1 >/dev/null
ctl start --name ongoing --proto icmpv6 -s 64 >/dev/null
ids=$(ctl --json ls | jq -r '[.sessions[] | .id] | join(" ")')
[ "$ids" = "1 2 3 4" ] || fail "session ids are '$ids'"
# Checked more than 10 s on: a session nothing matches says so.
ctl start --name quiet host 192.0.2.99 >/dev/null
for id in 1 2 3; do wait_ended "$id"; done
[ "$(field 1 .reason)" = packets ] || fail "session 1 ended with $(field 1 .reason)"
[ "$(field 2 .reason)" = bytes ] || fail "session 2 ended with $(field 2 .reason)"
[ "$(field 3 .reason)" = duration ] || fail "session 3 ended with $(field 3 .reason)"
[ "$(field 4 .status)" = running ] || fail "session 4 stopped with the others"
defer_session_files 1 1000
defer_session_files 2
check_session_files 3   # now: `rm 3` below deletes it
# pcapng's statistics blocks, written at close, count against the limit too.
bytes=$(ctl --json files 2 | jq '[.files[].bytes] | add')
[ "$bytes" -le 300000 ] || fail "session 2 wrote $bytes bytes, over its 300000 limit"
[ "$bytes" -gt 290000 ] || fail "session 2 stopped early, at $bytes bytes"
[ "$(field 2 .counters.written_bytes)" = "$bytes" ] || fail "session 2: written_bytes $(field 2 .counters.written_bytes), on disk $bytes"
before=$(field 4 .counters.written_packets)
sleep 0.5
after=$(field 4 .counters.written_packets)
[ "$after" -gt "$before" ] || fail "session 4 stopped counting ($before -> $after)"

note "an expression DPDK cannot run (protochain) starts, and runs in libpcap's interpreter"
chain=$(ctl --json start --name chain --bpf 'ip6 protochain 58' -s 64 | jq -r .id)
for _ in $(seq 50); do [ "$(field "$chain" .counters.written_packets)" -gt 0 ] && break; sleep 0.1; done
ctl stop "$chain" >/dev/null
[ "$(field "$chain" .counters.written_packets)" -gt 0 ] || fail "the protochain session wrote nothing"
defer_session_files "$chain"
# It took the slot session 1 ended in: it counts from zero, not from session 1's counts.
[ "$(field "$chain" .counters.files_created)" = "$(ctl --json files "$chain" | jq '.files | length')" ] ||
    fail "session $chain (a reused slot): files_created $(field "$chain" .counters.files_created)"
tcpdump -n -r "$(ctl --json files "$chain" | jq -r '.files[0].path')" 'not ip6 protochain 58' 2>/dev/null | grep . >/dev/null &&
    fail "the protochain session holds packets that are not ICMPv6"

note "watch: one line per packet, rate-limited; it ends when the session does"
timeout 10 "$LINECAPCTL" --socket "$SOCK" watch ongoing >"$WORK/watch.out" 2>"$WORK/watch.err" &
watcher=$!
sleep 1.5
note "a session stopped mid-traffic: valid files, reason user"
ctl stop ongoing >/dev/null   # by its name
wait "$watcher" || fail "watch did not end with its session"
grep -q "ended: user" "$WORK/watch.err" || fail "watch did not report the end: $(cat "$WORK/watch.err")"
lines=$(wc -l <"$WORK/watch.out")
[ "$lines" -ge 10 ] || fail "watch printed $lines lines in 1.5 s"
[ "$lines" -le 600 ] || fail "watch printed $lines lines in 1.5 s: not rate-limited"
grep -Eq '^[0-9:.]+ IPv6 [0-9a-f:]+ > [0-9a-f:]+: ICMPv6 length [0-9]+$' "$WORK/watch.out" ||
    fail "watch lines do not look right: $(head -3 "$WORK/watch.out")"
[ "$(field 4 .reason)" = user ] || fail "session 4 ended with $(field 4 .reason)"
defer_session_files 4

note "stats and telemetry"
ctl --json stats >"$WORK/stats.json"
jq -e '.ports[0].rx_packets > 0 and (.workers | length) == 1 and (.writers | length) == 1 and .uptime_s > 0' \
    "$WORK/stats.json" >/dev/null || fail "stats: $(cat "$WORK/stats.json")"
tele=$(ctl --json start --name tele --proto icmpv6 -s 64 | jq -r .id)
# Snapshots are published every 0.5 s: the new session's counts appear
# within a period or two (5 s allowed, for a loaded machine).
telemetry_ok=
for _ in $(seq 25); do
    sleep 0.2
    python3 - "$prefix" >"$WORK/telemetry.json" <<'PY' || fail "telemetry query failed"
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(f"/var/run/dpdk/{sys.argv[1]}/dpdk_telemetry.v2")
json.loads(s.recv(4096))
out = {}
for cmd in ["/linecap/stats", "/linecap/sessions", "/linecap/ports", "/linecap/workers", "/linecap/writers"]:
    s.send(cmd.encode())
    out.update(json.loads(s.recv(65536)))
print(json.dumps(out))
PY
    jq -e '(."/linecap/stats".rx_packets > 0) and (."/linecap/sessions"."1".reason == "packets") and
           (."/linecap/sessions"."4".status == "finished") and (."/linecap/ports"."0".rx_packets > 0) and
           (."/linecap/writers"."0".written_packets > 0) and
           (."/linecap/workers"."0"["matched_by_session_" + $tele] > 0)' --arg tele "$tele" "$WORK/telemetry.json" \
        >/dev/null && { telemetry_ok=1; break; }
done
[ -n "$telemetry_ok" ] || fail "telemetry: $(cat "$WORK/telemetry.json")"
ctl stop "$tele" >/dev/null

note "merge and delete"
ctl merge 3 -o "$WORK/merged-3.pcap" >/dev/null
check_readable "$WORK/merged-3.pcap" "$(field 3 .counters.written_packets)"
python3 "$CLIENT" ordered "$SOCK" 3 "$WORK/merged-again.pcap"
cmp -s "$WORK/merged-3.pcap" "$WORK/merged-again.pcap" || fail "two merges of an ended session differ"
rc=0; ctl merge 4242 -o "$WORK/none.pcap" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "merge of a missing session did not fail"
ctl start --name busy --proto icmp -s 64 >/dev/null
busy=$(ctl --json ls | jq -r '.sessions[-1].id')
rc=0; ctl rm busy 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "running" "$WORK/err" || fail "rm of a running session: $(cat "$WORK/err")"
ctl stop busy >/dev/null
note "a session by its name: where one session has it, or one running session for stop and watch"
busy2=$(ctl --json start --name busy --proto icmp -s 64 | jq -r .id)
rc=0; ctl show busy 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -qx "linecapctl: 2 sessions are named busy (ids $busy, $busy2): give the id" "$WORK/err" ||
    fail "show of a shared name: exit $rc, $(cat "$WORK/err")"
ctl stop busy >/dev/null
[ "$(field "$busy2" .status)" = finished ] && [ "$(field "$busy" .reason)" = user ] ||
    fail "stop busy did not stop the running one ($busy2)"
folder=$(field 3 .folder)
ctl rm 3 >/dev/null
for _ in $(seq 50); do compgen -G "$ROOT/.deleted-*" >/dev/null || break; sleep 0.1; done
[ ! -e "$folder" ] || fail "rm left $folder"
! compgen -G "$ROOT/.deleted-*" >/dev/null || fail "rm left $(echo "$ROOT"/.deleted-*)"
rc=0; ctl show 3 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "a deleted session is still shown"

note "hostile clients never block others"
python3 "$CLIENT" stalled "$SOCK" 10
python3 "$CLIENT" half-closed "$SOCK"
python3 "$CLIENT" many "$SOCK" 64
python3 "$CLIENT" flood "$SOCK" 20000

note "1000 start/stop cycles under traffic: file descriptors and memory stay flat"
python3 "$CLIENT" cycles "$SOCK" 20 >/dev/null
# The descriptors once the deletions the cycles asked for are done: a
# deletion still under way (at SCHED_IDLE, control/jobs.h) holds its
# folder open, and is no leak.
fd_list() {
    for _ in $(seq 100); do compgen -G "$ROOT/.deleted-*" >/dev/null || break; sleep 0.1; done
    find /proc/$pid/fd -mindepth 1 -printf '%f -> %l\n' 2>/dev/null | sort -n
}
fd_list >"$WORK/fds.before"
fds_before=$(wc -l <"$WORK/fds.before")
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
python3 "$CLIENT" cycles "$SOCK" 1000
fd_list >"$WORK/fds.after"
fds_after=$(wc -l <"$WORK/fds.after")
# What differs, if anything: the failure says which descriptor.
diff "$WORK/fds.before" "$WORK/fds.after" || true
rss_after=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "fds $fds_before -> $fds_after, RSS $rss_before -> $rss_after KiB"
[ "$fds_after" = "$fds_before" ] || fail "file descriptors grew from $fds_before to $fds_after"
[ $((rss_after - rss_before)) -lt 4096 ] || fail "RSS grew by $((rss_after - rss_before)) KiB over 1000 cycles"

note "a session that has matched nothing for 10 s says so, in show and to its watchers"
quiet_note="no packet has matched in the [0-9]+ s since this session started, while the ports received [0-9]+: check its filter \(linecapctl show quiet prints it\)"
for _ in $(seq 100); do ctl show quiet | grep -q "  note" && break; sleep 0.1; done
quiet_id=$(ctl --json show quiet | jq -r .session.id)
ctl show quiet | grep -Eqx "  note     ${quiet_note/quiet/$quiet_id}" || fail "show quiet: $(ctl show quiet)"
timeout 1 "$LINECAPCTL" --socket "$SOCK" watch quiet 2>"$WORK/quiet.err" || true
grep -Eqx "linecapctl: note: ${quiet_note/quiet/$quiet_id}" "$WORK/quiet.err" || fail "watch quiet: $(cat "$WORK/quiet.err")"
ctl stop quiet >/dev/null

note "SIGTERM: running sessions end with reason shutdown, files closed valid, socket removed"
ctl start --name last --proto icmp -s 64 >/dev/null
last=$(ctl --json ls | jq -r '.sessions[-1].id')
sleep 0.3
kill -TERM "$pid"
wait_exit "$pid" daemon "$WORK/daemon.log"
[ ! -e "$SOCK" ] || fail "the socket was left behind"
# The daemon's log (core/log.h): each of its lines after the UTC time.
utc='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z'
for line in "linecap: listening on $SOCK, sessions under $ROOT" "linecap: session $last \(last\) started" \
    "linecap: session $last \(last\) finished: shutdown" "linecap: shut down after [0-9.]+ s"; do
    grep -Eq "^$utc $line" "$WORK/daemon.log" || { cat "$WORK/daemon.log"; fail "no log line '$line' after a UTC time"; }
done
jq -e '.status == "finished" and .reason == "shutdown"' "$ROOT/$last-last/session.json" >/dev/null ||
    fail "session $last: $(cat "$ROOT/$last-last/session.json")"
for f in "$ROOT/$last-last"/*.pcap; do check_readable "$f"; done
check_deferred_files   # the sessions above, read with the daemon gone

note "a restart lists earlier sessions; one a kill -9 cut short is listed finished, reason crashed"
start_daemon
ctl --json ls >"$WORK/ls.json"
jq -e --arg last "$last" '[.sessions[] | select(.id == $last and .reason == "shutdown")] | length == 1' \
    "$WORK/ls.json" >/dev/null || fail "session $last not listed after restart: $(cat "$WORK/ls.json")"
jq -e '[.sessions[] | select(.id == "1" and .reason == "packets" and .packets == 1000)] | length == 1' \
    "$WORK/ls.json" >/dev/null || fail "session 1 not listed after restart"
check_session_files 1 1000
id=$(ctl --json start --name crash --proto icmp -s 64 | jq -r .id)
[ "$id" -gt "$last" ] || fail "new id $id does not follow $last"
sleep 0.3
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
rm -f "$SOCK"   # a stale socket would also do: see the next start
start_daemon
[ "$(field "$id" .status)/$(field "$id" .reason)" = finished/crashed ] ||
    fail "the killed session is $(field "$id" .status)/$(field "$id" .reason)"
field "$id" .note | grep -q "without closing" || fail "no explanation for the killed session"
check_session_files "$id"   # tidied: no .part left (faults.sh checks the details)
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"

note "a stale socket (its daemon killed) is replaced"
start_daemon
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ -S "$SOCK" ] || fail "kill -9 should leave the socket file"
start_daemon
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"
echo PASS
