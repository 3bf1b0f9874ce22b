#!/usr/bin/env bash
# GET /api/v1/sessions/{id}/pcap (docs/http.md) on endless replayed traffic:
# a running session's merge readable; an ended one's byte for byte
# linecapctl merge's, in each format; the socket's refusals word for word; a
# session being merged over HTTP not deletable, and a client that hangs up
# mid-merge ending it (EPIPE, logged). Then hostile requests, each with its
# status while a session captures and other clients are served: a request
# line and a header over cpp-httplib's 8 KiB, a body over 64 KiB, a client
# that trickles its headers a byte a second (closed by the request deadline), path traversal
# in a file name and an id, ids that are not ids.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/http_lib.sh"
budget=50   # a merge of 20 files in four formats and a window, and hostile clients

"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 5
URL="http://127.0.0.1:$PORT"

start_daemon --http "127.0.0.1:$PORT"
# Session 1 ends itself at 8 MB, in files of 1 MB: a merge of 8 inputs,
# more than a stalled client's socket and the pipe hold.
id=$(ctl --json start --name big --proto udp -s 96 -C 1 --max-bytes 8000000 | jq -r .id)
[ "$id" = 1 ] || fail "session big has id $id"
# Session 2 captures throughout: the hostile requests must not stop it.
live=$(ctl --json start --name live --proto tcp -s 64 -C 1 -W 2 | jq -r .id)
# Session 3, as large as 1, is being merged to a client that reads nothing when the daemon shuts down.
last=$(ctl --json start --name last --proto udp -s 96 -C 1 --max-bytes 8000000 | jq -r .id)

note "a running session's merge: what is on disk now, readable"
for _ in $(seq 100); do [ "$(field "$live" .counters.written_bytes)" -gt 500000 ] && break; sleep 0.05; done
expect 200 GET "/api/v1/sessions/$live/pcap"
[ "$(header Transfer-Encoding)" = chunked ] || fail "Transfer-Encoding $(header Transfer-Encoding)"
mv "$WORK/body" "$WORK/live.pcap"
check_readable "$WORK/live.pcap"

# A session nothing matches: its merge is a capture of no packet, as linecapctl's.
none=$(ctl --json start --name none --host 192.0.2.99 | jq -r .id)
sleep 0.2
expect 200 GET "/api/v1/sessions/$none/pcap"
ctl merge "$none" -o "$WORK/none.pcap" >/dev/null
cmp "$WORK/body" "$WORK/none.pcap" || fail "an empty session's /pcap differs from linecapctl merge's"
[ "$(stat -c %s "$WORK/body")" = 24 ] || fail "an empty session's /pcap holds $(stat -c %s "$WORK/body") bytes, not a pcap header's 24"

note "an ended session's merge is linecapctl merge's, byte for byte, in each format"
wait_ended 1
[ "$(field 1 .reason)" = bytes ] || fail "session 1 ended with $(field 1 .reason)"
expect 200 GET /api/v1/sessions/1/pcap
mv "$WORK/body" "$WORK/http.pcap"
[ "$(header Content-Type)" = application/vnd.tcpdump.pcap ] || fail "Content-Type $(header Content-Type)"
[ "$(header Content-Disposition)" = 'attachment; filename="big-1.pcap"' ] ||
    fail "Content-Disposition $(header Content-Disposition)"
ctl merge 1 -o "$WORK/ctl.pcap" >/dev/null
[ "$(stat -c %s "$WORK/ctl.pcap")" -gt 7000000 ] || fail "the merge holds $(stat -c %s "$WORK/ctl.pcap") bytes"
cmp "$WORK/http.pcap" "$WORK/ctl.pcap" || fail "GET /pcap differs from linecapctl merge -o"
check_readable "$WORK/http.pcap"
packets=$(capinfos -M -c "$WORK/ctl.pcap" | awk -F': *' '/Number of packets/ {print $2}')
for format in pcapng pcap pcap-ns; do
    expect 200 GET "/api/v1/sessions/big/pcap?format=$format"
    ext=pcap; type=application/vnd.tcpdump.pcap
    [ "$format" = pcapng ] && ext=pcapng && type=application/x-pcapng
    [ "$(header Content-Type)" = "$type" ] || fail "?format=$format: Content-Type $(header Content-Type)"
    [ "$(header Content-Disposition)" = "attachment; filename=\"big-1.$ext\"" ] ||
        fail "?format=$format: Content-Disposition $(header Content-Disposition)"
    ctl merge 1 --format "$format" -o "$WORK/ctl-$format.out" >/dev/null
    cmp "$WORK/body" "$WORK/ctl-$format.out" || fail "GET /pcap?format=$format differs from linecapctl merge --format $format"
    got=$(capinfos -M -c "$WORK/body" | awk -F': *' '/Number of packets/ {print $2}')
    [ "$got" = "$packets" ] || fail "?format=$format holds $got packets, the pcap $packets"
done
check_readable "$WORK/ctl-pcapng.out" "$packets"
# ?since=&until=: the window linecapctl merge --since --until keeps (packets 100 to 200).
window=()
for t in $(tshark -r "$WORK/ctl.pcap" -c 200 -T fields -e frame.time_epoch | sed -n '100p;200p'); do
    window+=("$(date -u -d "@$t" +%Y-%m-%dT%H:%M:%S.%NZ)")
done
expect 200 GET "/api/v1/sessions/1/pcap?since=${window[0]}&until=${window[1]}"
ctl merge 1 --since "${window[0]}" --until "${window[1]}" -o "$WORK/ctl-window.pcap" >/dev/null
cmp "$WORK/body" "$WORK/ctl-window.pcap" || fail "GET /pcap?since=&until= differs from linecapctl merge --since --until"
# (101 at least: packets of one burst may share a time with the 100th or the 200th.)
in_window=$("$COUNT" "$WORK/body")
[ "$in_window" -ge 101 ] && [ "$in_window" -lt "$packets" ] || fail "the window holds $in_window packets of $packets"
expect 400 GET "/api/v1/sessions/1/pcap?since=yesterday"
[ "$(jq -r .error "$WORK/body")" = "$(socket_error '{"cmd":"merge","id":"1","since":"yesterday"}')" ] ||
    fail "?since=yesterday: $(cat "$WORK/body")"
# HEAD: a GET's headers, and no merge made.
merges_logged=$(grep -c "merge of session" "$WORK/daemon.log" || true)
expect 200 HEAD "/api/v1/sessions/1/pcap?format=pcapng" -I
[ "$(header Content-Type)" = application/x-pcapng ] || fail "HEAD ?format=pcapng: Content-Type $(header Content-Type)"
expect 200 HEAD /api/v1/sessions/big/pcap -I
[ "$(header Content-Type)" = application/vnd.tcpdump.pcap ] || fail "HEAD: Content-Type $(header Content-Type)"
[ "$(header Content-Disposition)" = 'attachment; filename="big-1.pcap"' ] || fail "HEAD: $(header Content-Disposition)"
expect 404 HEAD /api/v1/sessions/999/pcap -I
sleep 0.2
[ "$(grep -c "merge of session" "$WORK/daemon.log" || true)" = "$merges_logged" ] || fail "a HEAD made a merge: $(tail -3 "$WORK/daemon.log")"
capinfos -t "$WORK/ctl-pcapng.out" | grep -q pcapng || fail "?format=pcapng is not pcapng: $(capinfos -t "$WORK/ctl-pcapng.out")"

note "the socket's refusals, word for word"
expect 400 GET "/api/v1/sessions/1/pcap?format=bogus"
[ "$(jq -r .error "$WORK/body")" = "$(socket_error '{"cmd":"merge","id":"1","format":"bogus"}')" ] ||
    fail "?format=bogus: $(cat "$WORK/body")"
expect 404 GET /api/v1/sessions/999/pcap
[ "$(jq -r .error "$WORK/body")" = "$(socket_error '{"cmd":"merge","id":"999"}')" ] || fail "999: $(cat "$WORK/body")"
expect 400 GET '/api/v1/sessions/a%20b/pcap'
[ "$(jq -r .error "$WORK/body")" = "$(socket_error '{"cmd":"merge","id":"a b"}')" ] || fail "a b: $(cat "$WORK/body")"

note "a session merged over HTTP cannot be deleted; a client that hangs up ends the merge"
python3 - "$PORT" >"$WORK/stalled.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # the merge soon waits for this reader
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/v1/sessions/1/pcap HTTP/1.1\r\nHost: x\r\n\r\n")
head = s.recv(100)
print("reading" if head.startswith(b"HTTP/1.1 200") else head, flush=True)
time.sleep(20)   # killed before
EOF
stalled=$!
cleanup_hooks+=("kill $stalled 2>/dev/null")
for _ in $(seq 100); do grep -q reading "$WORK/stalled.log" && break; sleep 0.05; done
grep -q reading "$WORK/stalled.log" || fail "the stalled client: $(cat "$WORK/stalled.log")"
expect 409 DELETE /api/v1/sessions/1
[ "$(jq -r .error "$WORK/body")" = "session 1 is being merged; delete it once the merge is done" ] ||
    fail "DELETE mid-merge: $(cat "$WORK/body")"
rc=0; ctl rm 1 2>"$WORK/err" || rc=$?
[ "$rc" != 0 ] && grep -q "being merged" "$WORK/err" || fail "linecapctl rm mid-merge: exit $rc, $(cat "$WORK/err")"
kill "$stalled"
wait "$stalled" 2>/dev/null || true
for _ in $(seq 50); do grep -q "merge of session 1 ended early" "$WORK/daemon.log" && break; sleep 0.1; done
grep -q "http: the merge of session 1 ended early: the HTTP download: writing failed: Broken pipe" "$WORK/daemon.log" ||
    fail "no EPIPE for the merge whose client hung up: $(tail -5 "$WORK/daemon.log")"
for _ in $(seq 50); do [ "$(req DELETE /api/v1/sessions/1)" = 200 ] && break; sleep 0.1; done
expect 404 GET /api/v1/sessions/1

note "hostile requests: each its status, nothing else affected"
before=$(field "$live" .counters.written_packets)
# A request line of 9000 bytes: over cpp-httplib's 8192.
code=$(curl -sS --max-time 5 -o "$WORK/body" -w '%{http_code}' "$URL/api/v1/sessions/$(printf 'a%.0s' {1..9000})")
[ "$code" = 414 ] || fail "a 9000-byte request line: HTTP $code"
# A header line of 9000 bytes.
code=$(curl -sS --max-time 5 -o "$WORK/body" -w '%{http_code}' -H "X-Big: $(printf 'b%.0s' {1..9000})" "$URL/healthz" || true)
[ "$code" = 400 ] || fail "a 9000-byte header: HTTP $code"
expect 200 GET /healthz
# A body over 64 KiB.
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/big"
expect 413 POST /api/v1/sessions --data-binary @"$WORK/big"
# Slowloris: a request a byte a second, on and on (each read well within
# the 5 s read timeout): served meanwhile, the connection closed by the
# request deadline, 10 s after it opened.
python3 - "$PORT" >"$WORK/slow.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
start = time.monotonic()
s.settimeout(1)
outcome = "never closed"
for b in b"GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 20:
    try:
        s.sendall(bytes([b]))
        if s.recv(100) == b"":
            outcome = "closed"
            break
    except socket.timeout:
        continue
    except OSError:
        outcome = "closed"
        break
print(outcome, f"{time.monotonic() - start:.1f}", flush=True)
EOF
slow=$!
cleanup_hooks+=("kill $slow 2>/dev/null")
for _ in 1 2 3; do
    t0=$(date +%s%N)
    expect 200 GET /healthz
    [ $((($(date +%s%N) - t0) / 1000000)) -lt 1000 ] || fail "/healthz took over a second beside the slow client"
    ctl ls >/dev/null || fail "the socket does not answer beside the slow client"
    sleep 1
done
wait "$slow" || true
read -r outcome after < <(tail -1 "$WORK/slow.log")
[ "$outcome" = closed ] || fail "the slow client: $(cat "$WORK/slow.log")"
awk -v t="$after" 'BEGIN {exit !(t >= 9.5 && t <= 12.5)}' || fail "the trickling client was closed after $after s, expected 10"
grep -q 'http: closed a connection from 127.0.0.1 [0-9]*: no whole request within 10 s' "$WORK/daemon.log" ||
    fail "the request deadline is not in the daemon's log"
# A header flood: header lines of 8 KB, as fast as loopback takes them.
# cpp-httplib keeps every line until the request is whole (an unbounded
# count), so without a bound the daemon grew by some 120 MB a second until
# the deadline; the guard closes a connection that sends more than 1 MiB
# without a whole request.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
rss_before=$(rss_kb)
python3 - "$PORT" >"$WORK/flood.log" 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1)   # the daemon no longer reading: its side is gone
s.sendall(b"GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n")
line = b"X-Flood: " + b"a" * 8000 + b"\r\n"
start, sent = time.monotonic(), 0
try:
    while time.monotonic() - start < 8:
        s.sendall(line * 16)
        sent += len(line) * 16
except OSError:
    pass
print(f"sent {sent} bytes in {time.monotonic() - start:.1f} s", flush=True)
EOF
rss_after=$(rss_kb)
grep -q 'http: closed a connection from 127.0.0.1 [0-9]*: [0-9]* bytes sent without a whole request, over the 1048576 one request may take' \
    "$WORK/daemon.log" || fail "a header flood was not closed for its bytes: $(cat "$WORK/flood.log"); $(tail -3 "$WORK/daemon.log")"
[ $((rss_after - rss_before)) -lt 262144 ] ||
    fail "a header flood grew the daemon by $(((rss_after - rss_before) / 1024)) MB ($(cat "$WORK/flood.log"))"
expect 200 GET /healthz
note "a header flood: $(cat "$WORK/flood.log"), closed; the daemon grew by $(((rss_after - rss_before) / 1024)) MB"
# Path traversal in a file name, and in an id: never a byte from outside.
for p in "$live/files/..%2f..%2f..%2fetc%2fpasswd" "$live/files/%2e%2e%2f%2e%2e%2fsession.json" \
    "$live/files/%2fetc%2fpasswd" "$live/files/%2e%2e" "..%2f$live/files/x.pcap" "%2e%2e%2f$live/pcap" \
    "%2fetc%2fpasswd/pcap"; do
    code=$(req GET "/api/v1/sessions/$p")
    [ "$code" = 404 ] || [ "$code" = 400 ] || fail "GET /api/v1/sessions/$p: HTTP $code"
    ! grep -q "root:" "$WORK/body" || fail "GET /api/v1/sessions/$p served /etc/passwd"
done
expect 404 GET "/api/v1/sessions/$live/files/%2e%2e%2f%2e%2e%2fsession.json"
expect 404 GET "/api/v1/sessions/%2e%2e%2f$live/pcap"   # ../2/pcap: no route
# Ids that are not ids: a name nobody has 404, what is neither 400.
expect 404 GET /api/v1/sessions/abc/pcap
expect 400 GET '/api/v1/sessions/-1%21/pcap'
expect 400 GET '/api/v1/sessions/1.5e3%20/files'
# The daemon answers, and session 2 still captures.
expect 200 GET /healthz
[ "$(field "$live" .status)" = running ] || fail "session $live: $(field "$live" .status)"
sleep 0.3
[ "$(field "$live" .counters.written_packets)" -gt "$before" ] || fail "session $live stopped capturing"

note "shutdown beside a merge streamed to a client that reads nothing: the daemon exits at once"
wait_ended "$last"
python3 - "$PORT" "$last" >"$WORK/last.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(f"GET /api/v1/sessions/{sys.argv[2]}/pcap HTTP/1.1\r\nHost: x\r\n\r\n".encode())
print("reading" if s.recv(100).startswith(b"HTTP/1.1 200") else "refused", flush=True)
time.sleep(3)   # the merge waits for this reader
s.settimeout(10)
try:
    while s.recv(65536):   # what was sent before the end, then the end
        pass
    print("ended", flush=True)
except OSError as e:
    print("ended:", e, flush=True)
EOF
last_client=$!
cleanup_hooks+=("kill $last_client 2>/dev/null")
for _ in $(seq 100); do grep -q reading "$WORK/last.log" && break; sleep 0.05; done
grep -q reading "$WORK/last.log" || fail "the last client: $(cat "$WORK/last.log")"
t0=$(date +%s%N)
ctl shutdown >/dev/null
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || fail "the daemon did not exit within 10 s of shutdown beside a streamed merge"
wait "$pid" || fail "the daemon exited with $?"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 3000 ] || fail "shutdown took $ms ms beside a streamed merge"
wait "$last_client" || true
grep -q "^ended" "$WORK/last.log" || fail "the last client: $(cat "$WORK/last.log")"
end_of_test
