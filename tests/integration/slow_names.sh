#!/usr/bin/env bash
# A start whose expression names a host: libpcap resolves the name while it
# compiles, which waits on DNS. The daemon compiles a start's filter off its
# control loop (docs/control.md), so while a resolver that never answers
# keeps a start waiting, the daemon goes on answering the socket and HTTP;
# the start then gets libpcap's refusal in the same words from the socket
# and from HTTP (400); a start still waiting at shutdown is refused with
# "shutting down" at once, and the daemon exits without waiting for the
# resolver.
#
# The daemon runs in a mount namespace of its own whose /etc/resolv.conf
# names a resolver on loopback (a UDP socket of this test's) that answers
# some names 2 s late and the others never, with a 5 s timeout.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/http_lib.sh"
budget=60

command -v unshare >/dev/null || fail "unshare is not installed (util-linux)"
"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3
URL="http://127.0.0.1:$PORT"

resolver=127.83.0.1
# Names that begin with "late" get an answer (IPv4 127.0.0.9, no IPv6)
# after 2 s; the others none.
python3 - "$resolver" <<'ZZZ' &
import socket, struct, sys, threading
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
def answer(query, peer):
    at, labels = 12, []
    while query[at]:
        labels.append(query[at + 1:at + 1 + query[at]].decode())
        at += 1 + query[at]
    question = query[12:at + 5]
    qtype = struct.unpack("!H", query[at + 1:at + 3])[0]
    if not labels or not labels[0].startswith("late"):
        return
    records = struct.pack("!HHHIH4B", 0xc00c, 1, 1, 60, 4, 127, 0, 0, 9) if qtype == 1 else b""
    header = struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0], 0x8180, 1, 1 if records else 0, 0, 0)
    threading.Timer(2.0, s.sendto, (header + question + records, peer)).start()
while True:
    answer(*s.recvfrom(4096))
ZZZ
silent=$!
cleanup_hooks+=("kill $silent 2>/dev/null")
for _ in $(seq 50); do
    ss -Hnlu "src $resolver:53" | grep -q . && break
    sleep 0.1
done
printf 'nameserver %s\noptions timeout:5 attempts:1\n' "$resolver" >"$WORK/resolv.conf"
# The namespace's mounts are private (unshare's default): the machine's
# /etc/resolv.conf is untouched.
DAEMON_WRAP=(unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$WORK/resolv.conf")
# The namespace's lookups go to that resolver (no nscd, no other NSS
# module answering first): a late name resolves, 2 s late.
t0=$(date +%s.%N)
got=$("${DAEMON_WRAP[@]}" getent ahostsv4 late.example | awk 'NR == 1 {print $1}') || true
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
[ "$got" = 127.0.0.9 ] && awk -v t="$took" 'BEGIN {exit !(t >= 1.5)}' ||
    fail "getent ahostsv4 late.example in the test's namespace gave \"$got\" in $took s, not 127.0.0.9 after 2 s: this machine's lookups do not go through /etc/resolv.conf (nscd? systemd-resolved?)"
start_daemon --http "127.0.0.1:$PORT"

# seconds COMMAND...: runs it, prints how long it took (s, 3 decimals).
seconds() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || fail "$*: failed while a start waited on DNS"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}

# answers_while_waiting PID WHAT: the daemon answers `ls` on the socket and
# GET /api/v1/sessions within a second while PID (a start) still waits.
answers_while_waiting() {
    local waiter=$1 what=$2 t
    sleep 0.5
    kill -0 "$waiter" 2>/dev/null || fail "$what returned at once: the resolver answered? $(cat "$WORK/start.out")"
    t=$(seconds ctl ls)
    awk -v t="$t" 'BEGIN {exit !(t < 1.0)}' || fail "linecapctl ls took $t s while $what waited on DNS"
    t2=$(seconds curl -sS --max-time 10 -o /dev/null "$URL/api/v1/sessions")
    awk -v t="$t2" 'BEGIN {exit !(t < 1.0)}' || fail "GET /api/v1/sessions took $t2 s while $what waited on DNS"
    kill -0 "$waiter" 2>/dev/null ||
        fail "$what was answered before the check ended: the test proves nothing (a faster resolver timeout?)"
    note "while $what waited on DNS: linecapctl ls answered in $t s, GET /api/v1/sessions in $t2 s"
}

note "linecapctl start host slow.example: the daemon answers meanwhile; then libpcap's refusal"
ctl start host slow.example >"$WORK/start.out" 2>&1 &
waiter=$!
answers_while_waiting "$waiter" "linecapctl start"
rc=0
wait "$waiter" || rc=$?
[ "$rc" != 0 ] || fail "a start naming a host no resolver answers for was started: $(cat "$WORK/start.out")"
socket_words=$(cat "$WORK/start.out")
case "$socket_words" in
*"bpf: "*"slow.example"*) ;;
*) fail "linecapctl start host slow.example said: $socket_words" ;;
esac
note "linecapctl: $socket_words"
[ "$(ctl --json ls | jq '.sessions | length')" = 0 ] || fail "the refused start left a session: $(ctl --json ls)"

note "POST /api/v1/sessions with the same expression: 400, the same words"
req POST /api/v1/sessions --data '{"name": "slow", "bpf": "host slow.example"}' >"$WORK/status" &
waiter=$!
answers_while_waiting "$waiter" "POST /api/v1/sessions"
wait "$waiter" || fail "curl POST /api/v1/sessions failed"
[ "$(cat "$WORK/status")" = 400 ] || fail "POST a start naming a slow host: HTTP $(cat "$WORK/status"): $(cat "$WORK/body")"
http_words=$(jq -r .error "$WORK/body")
# HTTP names the spec's field; linecapctl, given the words, says them after start: as the one-shot does.
[ "$http_words" = "start: spec: bpf: \"host slow.example\": unknown host 'slow.example'" ] &&
    [ "linecapctl: ${http_words/start: spec: /start: }" = "$socket_words" ] ||
    fail "HTTP says \"$http_words\", linecapctl \"$socket_words\""

note "linecapctl start host late.example: answered 2 s late, the session runs with its filter"
ctl --json start --name late host late.example >"$WORK/start.out" 2>&1 &
waiter=$!
answers_while_waiting "$waiter" "a start of a host answered late"
wait "$waiter" || fail "linecapctl start host late.example: $(cat "$WORK/start.out")"
id=$(jq -r .id "$WORK/start.out")
[ "$(field "$id" .status)" = running ] || fail "the late start: $(ctl --json show "$id")"
ctl stop "$id" >/dev/null

note "shutdown while a start waits on a resolver that never answers: the start is refused at once, the daemon exits"
ctl start host never.example >"$WORK/start.out" 2>&1 &
waiter=$!
sleep 0.5
t0=$(date +%s.%N)
ctl shutdown >/dev/null || fail "linecapctl shutdown failed"
rc=0
wait "$waiter" || rc=$?
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
[ "$rc" != 0 ] && [ "$(cat "$WORK/start.out")" = "linecapctl: linecap is shutting down" ] ||
    fail "a start pending at shutdown: exit $rc, $(cat "$WORK/start.out")"
# The resolver gives up 4.5 s after the shutdown; the answer must not wait for it.
awk -v t="$took" 'BEGIN {exit !(t < 2.0)}' || fail "the pending start was refused $took s after the shutdown"
note "the pending start was refused $took s after the shutdown"
# The compile's thread still waits on the resolver (4.5 s more): the exit does not.
for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
! kill -0 "$pid" 2>/dev/null || fail "the daemon did not exit within 5 s of shutdown with a start pending"
awk -v t="$took" 'BEGIN {exit !(t < 4.0)}' || fail "the daemon exited $took s after the shutdown: it waited for the resolver"
grep -q "1 start still compiling its filter (a host name waiting on DNS) left behind" "$WORK/daemon.log" ||
    fail "the log does not say a start was left behind: $(tail -5 "$WORK/daemon.log")"
note "the daemon exited $took s after the shutdown"
note "passed"
