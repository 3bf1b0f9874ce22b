#!/usr/bin/env bash
# The daemon's HTTP API (--http, docs/http.md) on endless replayed traffic:
# --http's option errors; every route with its status and body; sessions
# started over HTTP seen by linecapctl and the other way round; the socket's
# refusals given word for word; downloads whole, by Range and resumed, a
# file being written refused; path traversal; the 64 KiB body limit, sent
# whole or chunked; /metrics against `stats`; a shutdown that a trickling
# client does not hold up; the bearer token. (Stalled, idle and slow clients
# beside quick ones: tests/control/test_http_api.cpp.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/http_lib.sh"
budget=60   # python3 (the socket's words) and curl a hundred times: 40 s on a slow machine

command -v promtool >/dev/null ||
    fail "promtool is not installed (it checks /metrics): scripts/bootstrap installs it (apt-get install prometheus)"
"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3

URL="http://127.0.0.1:$PORT"

note "--http refusals: one line each, exit 2, before DPDK starts"
echo "0123456789abcdef0123456789abcdef" >"$WORK/token"
chmod 644 "$WORK/token"   # readable by all: the daemon warns (below)
: >"$WORK/empty-token"
refused "--http 127.0.0.1: no port: give ADDR:PORT" "${daemon_words[@]}" --http 127.0.0.1
refused "--http 127.0.0.1:99999: \"99999\" is not a port" "${daemon_words[@]}" --http 127.0.0.1:99999
refused "--http 127.0.0.1:0: \"0\" is not a port" "${daemon_words[@]}" --http 127.0.0.1:0
refused "--http localhost:8080: \"localhost\" is not an IPv4 address" "${daemon_words[@]}" --http localhost:8080
refused "--http ::1:8080: an IPv6 address goes in brackets" "${daemon_words[@]}" --http ::1:8080
refused "--http: the address is empty" "${daemon_words[@]}" --http ""
refused "--http 0.0.0.0:$PORT: 0.0.0.0 is not a loopback address" "${daemon_words[@]}" --http "0.0.0.0:$PORT"
refused "--http-token-file $WORK/missing: cannot read it: No such file or directory" "${daemon_words[@]}" \
    --http "0.0.0.0:$PORT" --http-token-file "$WORK/missing"
refused "--http-token-file $WORK/empty-token: it is empty" "${daemon_words[@]}" --http "0.0.0.0:$PORT" \
    --http-token-file "$WORK/empty-token"
refused "--http-token-file is the HTTP API's token: give --http ADDR:PORT too" "${daemon_words[@]}" \
    --http-token-file "$WORK/token"
refused "--http is a daemon option: give --control PATH too" -w "$WORK/x" --http "127.0.0.1:$PORT"
[ ! -e "$WORK/refused-root" ] || fail "a refused daemon made its --out-root"

start_daemon --http "127.0.0.1:$PORT"
grep -q "HTTP API on http://127.0.0.1:$PORT/ (no token: loopback only)" "$WORK/daemon.log" ||
    fail "the log does not say where the HTTP API is: $(cat "$WORK/daemon.log")"

note "a second daemon on the same port is refused before DPDK starts (no SO_REUSEPORT sharing)"
rc=0
timeout -s KILL 20 "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "$prefix-second" --vdev net_null0 -- --control "$WORK/second.sock" \
    --out-root "$WORK/second-root" --http "127.0.0.1:$PORT" >"$WORK/second.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/second.log"; fail "a second daemon on port $PORT: exit $rc, expected 1"; }
[ "$(cat "$WORK/second.log")" = "linecap: --http 127.0.0.1:$PORT: cannot listen there: the port is taken, or the address is not one of this machine's (ip -brief address lists them)" ] ||
    fail "a second daemon on port $PORT said: $(cat "$WORK/second.log")"
[ ! -e "$WORK/second.sock" ] || fail "the refused daemon left its socket"

note "GET /healthz, and the sessions list, empty"
expect 200 GET /healthz
jq -e '.status == "ok" and .sessions_running == 0' "$WORK/body" >/dev/null || fail "/healthz: $(cat "$WORK/body")"
expect 200 GET /api/v1/sessions
jq -e '.sessions == []' "$WORK/body" >/dev/null || fail "GET /api/v1/sessions: $(cat "$WORK/body")"
[ "$(header Content-Type)" = application/json ] || fail "Content-Type $(header Content-Type)"

note "POST /api/v1/sessions starts a session linecapctl lists; one linecapctl started is listed over HTTP"
expect 201 POST /api/v1/sessions -H 'Content-Type: application/json' \
    --data '{"name": "web", "match": [{"protocols": ["udp"]}], "snaplen": 96, "rotate": {"bytes": 1000000, "keep": 2}}'
jq -e '.id == "1" and (.folder | endswith("/1-web")) and (.notes | type == "array") and (has("ok") | not)' \
    "$WORK/body" >/dev/null || fail "POST /api/v1/sessions: $(cat "$WORK/body")"
[ "$(header Location)" = /api/v1/sessions/1 ] || fail "Location: $(header Location)"
ctl --json ls | jq -e '.sessions | map(select(.id == "1" and .name == "web" and .status == "running")) | length == 1' \
    >/dev/null || fail "linecapctl ls does not list the session started over HTTP: $(ctl --json ls)"
[ "$(field 1 .spec.snaplen)" = 96 ] || fail "session 1's spec: $(ctl --json show 1)"
# Files of 1 MB, the last 2 kept: the disk holds little however fast the replay.
id=$(ctl --json start --name ctl --proto tcp -s 64 --format pcapng -C 1 -W 2 | jq -r .id)
[ "$id" = 2 ] || fail "linecapctl start gave id $id"
expect 200 GET /api/v1/sessions
jq -e '.sessions | map(.id) == ["1", "2"]' "$WORK/body" >/dev/null || fail "GET /api/v1/sessions: $(cat "$WORK/body")"
jq -e '.sessions[1] | .name == "ctl" and .status == "running"' "$WORK/body" >/dev/null ||
    fail "session 2 over HTTP: $(cat "$WORK/body")"
# The same rows as linecapctl ls --json: the same fields, in the same order.
[ "$(jq -c '.sessions | map(keys_unsorted)' "$WORK/body")" = "$(ctl --json ls | jq -c '.sessions | map(keys_unsorted)')" ] ||
    fail "the rows differ from linecapctl ls --json: $(cat "$WORK/body") vs $(ctl --json ls)"

note "GET /api/v1/sessions/ID as show; unknown ids 404, malformed ones 400, with the socket's words"
expect 200 GET /api/v1/sessions/1
jq -e '.session | .id == "1" and .name == "web" and .status == "running" and .spec.snaplen == 96' "$WORK/body" \
    >/dev/null || fail "GET /api/v1/sessions/1: $(cat "$WORK/body")"
[ "$(jq -c '.session | keys_unsorted' "$WORK/body")" = "$(ctl --json show 1 | jq -c '.session | keys_unsorted')" ] ||
    fail "GET /api/v1/sessions/1 and linecapctl show 1 differ in fields"
expect 200 GET /api/v1/sessions/web   # by name, as the socket takes it
jq -e '.session.id == "1"' "$WORK/body" >/dev/null || fail "GET /api/v1/sessions/web: $(cat "$WORK/body")"
for id in 999 nobody; do
    expect 404 GET "/api/v1/sessions/$id"
    [ "$(jq -r .error "$WORK/body")" = "$(socket_error "{\"cmd\":\"show\",\"id\":\"$id\"}")" ] ||
        fail "GET /api/v1/sessions/$id: $(cat "$WORK/body")"
    rc=0; ctl show "$id" 2>"$WORK/err" || rc=$?
    [ "$(cat "$WORK/err")" = "linecapctl: $(jq -r .error "$WORK/body")" ] || fail "linecapctl show $id said $(cat "$WORK/err")"
done
for bad in 'a%20b' '123456789012345678901' '%2e%2e' 'x%00y' "$(printf 'a%.0s' {1..300})"; do
    expect 400 GET "/api/v1/sessions/$bad"
    want=$(socket_error show "$bad")
    [ "$(jq -r .error "$WORK/body")" = "$want" ] || fail "GET /api/v1/sessions/$bad: $(cat "$WORK/body"), the socket says $want"
done
expect 404 GET /api/v1/nothing-here
jq -e '.error | startswith("no route GET /api/v1/nothing-here")' "$WORK/body" >/dev/null || fail "no route: $(cat "$WORK/body")"
# The fleet routes of a daemon in no fleet (fleet.sh tests them in one).
for path in /api/v1/fleet/nodes /api/v1/fleet/sessions /api/v1/fleet/sessions/web /api/v1/fleet/sessions/web/pcap; do
    expect 404 GET "$path"
    jq -e '.error == "this node is not in a fleet: its daemon runs without --fleet-etcd (docs/fleet.md)"' "$WORK/body" \
        >/dev/null || fail "GET $path: $(cat "$WORK/body")"
done

note "a bad spec: 400 with the socket's message, naming the field as linecapctl start does"
bad='{"name": "bad", "snaplen": 300000}'
expect 400 POST /api/v1/sessions --data "$bad"
http_error=$(jq -r .error "$WORK/body")
[ "$http_error" = "$(socket_error "{\"cmd\":\"start\",\"spec\":$bad}")" ] ||
    fail "POST a bad spec: $http_error; the socket says $(socket_error "{\"cmd\":\"start\",\"spec\":$bad}")"
echo "$bad" >"$WORK/bad.json"
rc=0; ctl start -F "$WORK/bad.json" 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "linecapctl start -F bad.json: exit $rc"
# linecapctl: "linecapctl: start: --filter-file F: snaplen: ..."; the socket: "start: spec: snaplen: ...".
[ "start: spec: ${http_error#start: spec: }" = "$http_error" ] && [ -n "${http_error#start: spec: }" ] ||
    fail "the refusal does not name the spec's field: $http_error"
[ "$(cat "$WORK/err")" = "linecapctl: start: --filter-file $WORK/bad.json: ${http_error#start: spec: }" ] ||
    fail "linecapctl start says $(cat "$WORK/err"), the API $http_error"
grep -q snaplen <<<"$http_error" || fail "the refusal does not name snaplen: $http_error"
expect 400 POST /api/v1/sessions --data '{"name": "bad", "match": [{"protocols": ["bogus"]}]}'
jq -e '.error | startswith("start: spec: ") and contains("bogus")' "$WORK/body" >/dev/null || fail "$(cat "$WORK/body")"
expect 400 POST /api/v1/sessions --data 'not json'
jq -e '.error == "start: spec: not valid JSON at byte 2 (line 1, column 2): syntax error while parsing value - invalid literal; last read: '"'"'no'"'"'"' \
    "$WORK/body" >/dev/null || fail "$(cat "$WORK/body")"
# Not JSON, and "-0" (valid JSON, taken over HTTP alone, its 0 written out again): the words linecapctl
# start -F and the one-shot's -F give, after "start: spec: " (and the socket's, for -0: the body goes to it as written).
for bad in '{"name": "web", "snaplen": 96,, "match": []}' '{"name":"a"} {"name":"b"}' \
    '{"name":"z","snaplen":-0}' '{"name":"z","match":[{"dst_ports":[-0]}]}' \
    '{"name":"z","match":[{"src":["10.0.0.1"]}],"match":[]}' '{"name":"z","snaplen":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}'; do
    expect 400 POST /api/v1/sessions --data "$bad"
    http_error=$(jq -r .error "$WORK/body")
    printf '%s' "$bad" >"$WORK/bad.json"
    rc=0; ctl start -F "$WORK/bad.json" 2>"$WORK/err" || rc=$?
    [ "$rc" = 2 ] || fail "linecapctl start -F $bad: exit $rc"
    [ "$(cat "$WORK/err")" = "linecapctl: start: --filter-file $WORK/bad.json: ${http_error#start: spec: }" ] ||
        fail "$bad: linecapctl start says $(cat "$WORK/err"), the API $http_error"
    "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "$prefix-oneshot" -- -r "$WORK/in.pcap" -w "$WORK/os-out" \
        -F "$WORK/bad.json" 2>"$WORK/err" && fail "the one-shot took $bad"
    [ "$(head -1 "$WORK/err")" = "linecap: --filter-file $WORK/bad.json: ${http_error#start: spec: }" ] ||
        fail "$bad: the one-shot says $(head -1 "$WORK/err"), the API $http_error"
    case $bad in *-0*)
        [ "$http_error" = "$(socket_error "{\"cmd\":\"start\",\"spec\":$bad}")" ] ||
            fail "$bad: the socket says $(socket_error "{\"cmd\":\"start\",\"spec\":$bad}"), the API $http_error";;
    esac
done
expect 400 POST /api/v1/sessions --data '{"name":"z","snaplen":-0}'
jq -e '.error == "start: spec: snaplen: -0 is not a whole number from 0 to 262144: write 0, without a sign"' \
    "$WORK/body" >/dev/null || fail "-0: $(cat "$WORK/body")"
# A body that starts with a UTF-8 byte order mark is read as the files are (the BOM skipped): this one
# reaches the spec's own check.
printf '\xef\xbb\xbf{"name":"z","snaplen":-0}' >"$WORK/bom.json"
expect 400 POST /api/v1/sessions --data-binary @"$WORK/bom.json"
jq -e '.error == "start: spec: snaplen: -0 is not a whole number from 0 to 262144: write 0, without a sign"' \
    "$WORK/body" >/dev/null || fail "a body with a BOM: $(cat "$WORK/body")"
# An expression libpcap refuses, compiled by the daemon: named as a spec's field, as the one-shot names it.
printf '%s' '{"name":"z","bpf":"tcp port"}' >"$WORK/bad-bpf.json"
expect 400 POST /api/v1/sessions --data-binary @"$WORK/bad-bpf.json"
bpf_error='bpf: "tcp port": can'"'"'t parse filter expression: syntax error'
[ "$(jq -r .error "$WORK/body")" = "start: spec: $bpf_error" ] || fail "a bad bpf over HTTP: $(cat "$WORK/body")"
rc=0; ctl start -F "$WORK/bad-bpf.json" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && [ "$(cat "$WORK/err")" = "linecapctl: start: --filter-file $WORK/bad-bpf.json: $bpf_error" ] ||
    fail "a bad bpf from linecapctl start -F: exit $rc, $(cat "$WORK/err")"
# The file's bpf good, the expression laid over it not: the expression is named, as the one-shot names it.
printf '%s' '{"name":"z","bpf":"udp"}' >"$WORK/udp-bpf.json"
rc=0; ctl start -F "$WORK/udp-bpf.json" tcp port 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && [ "$(cat "$WORK/err")" = "linecapctl: start: $bpf_error" ] ||
    fail "linecapctl start -F GOOD.json tcp port: exit $rc, $(cat "$WORK/err")"
rc=0; ctl start -F "$WORK/bad-bpf.json" udp 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && [ "$(cat "$WORK/err")" = "linecapctl: start: --filter-file $WORK/bad-bpf.json: $bpf_error" ] ||
    fail "linecapctl start -F BAD.json udp: exit $rc, $(cat "$WORK/err")"
expect 400 POST /api/v1/sessions --data '[1, 2]'
[ "$(jq -r .error "$WORK/body")" = "$(socket_error '{"cmd":"start","spec":[1,2]}')" ] || fail "$(cat "$WORK/body")"
note "a body over 64 KiB: 413, sent whole or chunked; linecapctl start's spec that large refused in the same words"
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/big"
too_large="over 65536 bytes (64 KiB), the most one request may be: send a smaller session spec (address prefixes or ranges such as 10.4.2.0/24 or 10.4.2.1-10.4.2.9 instead of long lists of addresses, or the capture split into sessions)"
expect 413 POST /api/v1/sessions --data-binary @"$WORK/big"
jq -e --arg m "the request body is 70000 bytes, $too_large" '.error == $m' "$WORK/body" >/dev/null ||
    fail "413's body: $(cat "$WORK/body")"
expect 413 POST /api/v1/sessions -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big"
jq -e --arg m "the request body is $too_large" '.error == $m' "$WORK/body" >/dev/null ||
    fail "chunked 413's body: $(cat "$WORK/body")"
# A spec of 6000 source addresses: valid, and 78917 bytes as the socket's
# request. Refused before linecapctl connects (the daemon's refusal could
# say neither), with its size; exit 2.
python3 -c 'import json; print(json.dumps({"name": "big", "match": [{"src": ["10.%d.%d.1" % (i // 250, i % 250) for i in range(6000)]}]}))' >"$WORK/big.json"
rc=0; ctl start -F "$WORK/big.json" 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && [ "$(cat "$WORK/err")" = "linecapctl: start: the request with its session spec is 78917 bytes, $too_large" ] ||
    fail "linecapctl start of a 78917-byte request: exit $rc: $(cat "$WORK/err")"
expect 200 GET /api/v1/sessions   # the daemon is well
jq -e '.sessions | length == 2' "$WORK/body" >/dev/null || fail "a refused start left a session: $(cat "$WORK/body")"

note "an unknown session's files 404"
expect 404 GET /api/v1/sessions/999/files
expect 404 GET /api/v1/sessions/999/files/x.pcap -r 10-
jq -e '.error | startswith("no session has the id or name 999")' "$WORK/body" >/dev/null || fail "$(cat "$WORK/body")"

note "stop over HTTP; stopping again 409; the files: list, download, Range, resume"
for _ in $(seq 100); do [ "$(field 1 .counters.written_bytes)" -gt 200000 ] && break; sleep 0.1; done
expect 200 POST /api/v1/sessions/1/stop
jq -e '.id == "1" and .status == "finished" and .reason == "user" and (.counters.written_packets > 0)' "$WORK/body" \
    >/dev/null || fail "POST /api/v1/sessions/1/stop: $(cat "$WORK/body")"
expect 409 POST /api/v1/sessions/1/stop
[ "$(jq -r .error "$WORK/body")" = "$(socket_error '{"cmd":"stop","id":"1"}')" ] || fail "stop twice: $(cat "$WORK/body")"
expect 404 POST /api/v1/sessions/999/stop
expect 200 GET /api/v1/sessions/1/files
jq -e '.id == "1" and (.files | length) >= 1' "$WORK/body" >/dev/null || fail "GET .../files: $(cat "$WORK/body")"
[ "$(jq -c . "$WORK/body")" = "$(ctl --json files 1 | jq -c 'del(.ok)')" ] || fail "files differ from linecapctl files"
read -r name path size < <(jq -r '.files | max_by(.bytes) | "\(.name) \(.path) \(.bytes)"' "$WORK/body")
[[ "$name" == *.pcap ]] || fail "session 1's file $name"
[ "$size" -gt 200000 ] || fail "session 1's file is $size bytes"
expect 200 GET "/api/v1/sessions/1/files/$name"
mv "$WORK/body" "$WORK/whole.pcap"
[ "$(header Content-Type)" = application/vnd.tcpdump.pcap ] || fail "Content-Type $(header Content-Type)"
[ "$(header Content-Length)" = "$size" ] || fail "Content-Length $(header Content-Length), the file has $size"
whole=$(sha256sum <"$WORK/whole.pcap" | cut -d' ' -f1)
[ "$whole" = "$(sha256sum <"$path" | cut -d' ' -f1)" ] || fail "the download is not the file"
check_readable "$WORK/whole.pcap"
expect 206 GET "/api/v1/sessions/1/files/$name" -r 0-99
mv "$WORK/body" "$WORK/range"
[ "$(stat -c %s "$WORK/range")" = 100 ] || fail "-r 0-99 gave $(stat -c %s "$WORK/range") bytes"
cmp -s "$WORK/range" <(head -c 100 "$path") || fail "-r 0-99 is not the file's first 100 bytes"
[ "$(header Content-Range)" = "bytes 0-99/$size" ] || fail "Content-Range $(header Content-Range)"
expect 416 GET "/api/v1/sessions/1/files/$name" -r "$size-"
[ "$(header Content-Range)" = "bytes */$size" ] || fail "416's Content-Range $(header Content-Range)"
# A download cut in the middle: a client that reads part of the file and
# vanishes (the server must carry on), and a partial file that curl -C -
# completes with a Range from where it stopped.
python3 - "$PORT" "/api/v1/sessions/1/files/$name" <<'EOF' || fail "the vanishing client"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(f"GET {sys.argv[2]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
got = s.recv(50000)
assert got.startswith(b"HTTP/1.1 200"), got[:100]
s.close()
EOF
expect 200 GET /healthz
# A transfer cut by the client: it keeps the first 100 000 bytes of the
# body it was sent and hangs up, as a dropped connection leaves a download.
# (curl --limit-rate with --max-time was tried: loopback's socket buffers
# took the whole file before curl's limit began, and it finished.)
python3 - "$PORT" "/api/v1/sessions/1/files/$name" "$WORK/resumed.pcap" <<'EOF' || fail "the cut transfer"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(f"GET {sys.argv[2]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
got = b""
while b"\r\n\r\n" not in got or len(got) - got.index(b"\r\n\r\n") - 4 < 100000:
    chunk = s.recv(65536)
    assert chunk, "the server closed early"
    got += chunk
head, body = got.split(b"\r\n\r\n", 1)
assert head.startswith(b"HTTP/1.1 200"), head[:100]
open(sys.argv[3], "wb").write(body[:100000])
s.close()
EOF
cut=$(stat -c %s "$WORK/resumed.pcap")
[ "$cut" -gt 0 ] && [ "$cut" -lt "$size" ] || fail "the cut download holds $cut of $size bytes"
curl -sS -C - -o "$WORK/resumed.pcap" -w '%{http_code}' "$URL/api/v1/sessions/1/files/$name" >"$WORK/code"
[ "$(cat "$WORK/code")" = 206 ] || fail "curl -C - got HTTP $(cat "$WORK/code")"
[ "$(sha256sum <"$WORK/resumed.pcap" | cut -d' ' -f1)" = "$whole" ] || fail "the resumed download differs"
# A pcapng session's files say so (one stopped, so its files stay put).
expect 201 POST /api/v1/sessions --data '{"name": "ng", "format": "pcapng", "snaplen": 64, "match": [{"protocols": ["icmp"]}]}'
ng_id=$(jq -r .id "$WORK/body")
sleep 0.3
# A file being written is 409. (This session does not rotate: the file it
# writes now is the one asked for; sessions 1 and 2 rotate every few ms.)
expect 200 GET "/api/v1/sessions/$ng_id/files"
part=$(jq -r '.files | map(select(.name | endswith(".part"))) | .[0].name' "$WORK/body")
[[ "$part" == *.part ]] || fail "session $ng_id has no file being written: $(cat "$WORK/body")"
expect 409 GET "/api/v1/sessions/$ng_id/files/$part" -r 0-99
jq -e --arg f "${part%.part}" '.error | contains("still being written: download \($f)")' "$WORK/body" >/dev/null ||
    fail "GET $part: $(cat "$WORK/body")"
expect 200 POST "/api/v1/sessions/$ng_id/stop"
expect 200 GET "/api/v1/sessions/$ng_id/files"
ng=$(jq -r '.files[0].name' "$WORK/body")
[[ "$ng" == *.pcapng ]] || fail "session $ng_id's file $ng"
expect 200 HEAD "/api/v1/sessions/$ng_id/files/$ng" -I
[ "$(header Content-Type)" = application/x-pcapng ] || fail "pcapng Content-Type $(header Content-Type)"

note "paths outside the session's folder: refused, never served"
folder=$(dirname "$path")
ln -s /etc/passwd "$folder/evil.pcap"
echo secret >"$WORK/outside.pcap"
for p in "1/files/..%2f..%2f..%2f..%2fetc%2fpasswd" "1/files/..%2fsession.json" "1/files/%2e%2e" \
    "1/files/evil.pcap" "1/files/session.json" "..%2f..%2f/files/passwd" "1/files/..%2f..%2foutside.pcap" \
    "1/files/nothing.pcap" "1/files/$name%00.txt"; do
    code=$(req GET "/api/v1/sessions/$p") || fail "curl $p"
    [ "$code" = 404 ] || [ "$code" = 400 ] || fail "GET /api/v1/sessions/$p: HTTP $code"
    ! grep -q "root:\|secret" "$WORK/body" || fail "GET /api/v1/sessions/$p served a file outside the folder"
done
rm "$folder/evil.pcap"
code=$(curl -sS --path-as-is -o "$WORK/body" -w '%{http_code}' "$URL/api/v1/sessions/1/files/../../../../etc/passwd")
[ "$code" = 404 ] || [ "$code" = 400 ] || fail "a literal ../ path: HTTP $code"
! grep -q "root:" "$WORK/body" || fail "a literal ../ path served /etc/passwd"

note "GET /api/v1/stats as stats; /metrics in Prometheus' format, agreeing with stats"
expect 200 GET /api/v1/stats
[ "$(jq -c 'keys_unsorted' "$WORK/body")" = "$(ctl --json stats | jq -c 'del(.ok) | keys_unsorted')" ] ||
    fail "GET /api/v1/stats's fields differ from linecapctl stats"
jq -e '.sessions_running == 1 and .ports[0].rx_packets > 0' "$WORK/body" >/dev/null || fail "stats: $(cat "$WORK/body")"
before=$(ctl --json stats)
show_before=$(ctl --json show 2)
expect 200 GET /metrics
mv "$WORK/body" "$WORK/metrics"
after=$(ctl --json stats)
show_after=$(ctl --json show 2)
[[ "$(header Content-Type)" == "text/plain; version=0.0.4"* ]] || fail "/metrics Content-Type $(header Content-Type)"
promtool check metrics <"$WORK/metrics" >"$WORK/promtool.log" 2>&1 || { cat "$WORK/promtool.log"; fail "promtool check metrics"; }
# metric NAME LABELS: its value.
metric() {
    awk -v m="$1{$2}" '$1 == m {print $2}' "$WORK/metrics"
}
# between NAME LABELS JQ: the metric lies between the value JQ picks from the
# stats before and after it (counters only grow).
between() {
    local v lo hi
    v=$(metric "$1" "$2")
    lo=$(jq -r "$3" <<<"$4")
    hi=$(jq -r "$3" <<<"$5")
    [ -n "$v" ] || fail "/metrics has no $1{$2}: $(cat "$WORK/metrics")"
    [ "$lo" -le "$v" ] && [ "$v" -le "$hi" ] || fail "$1{$2} = $v, stats say $lo then $hi"
}
port_labels='port="0",name="net_pcap0"'
between linecap_port_rx_packets_total "$port_labels" '.ports[0].rx_packets' "$before" "$after"
between linecap_port_imissed_total "$port_labels" '.ports[0].imissed' "$before" "$after"
between linecap_port_nombuf_total "$port_labels" '.ports[0].nombuf' "$before" "$after"
wl=$(jq -r '.workers[0] | "worker=\"\(.worker)\",lcore=\"\(.lcore)\""' <<<"$before")
between linecap_worker_rx_packets_total "$wl" '.workers[0].rx_packets' "$before" "$after"
between linecap_worker_matched_packets_total "$wl" '.workers[0].matched_packets' "$before" "$after"
between linecap_worker_dropped_ring_total "$wl" '.workers[0].dropped_ring' "$before" "$after"
vl=$(jq -r '.writers[0] | "writer=\"\(.writer)\",lcore=\"\(.lcore)\""' <<<"$before")
between linecap_writer_written_packets_total "$vl" '.writers[0].written_packets' "$before" "$after"
between linecap_writer_written_bytes_total "$vl" '.writers[0].written_bytes' "$before" "$after"
between linecap_writer_files_total "$vl" '.writers[0].files' "$before" "$after"
between linecap_writer_dropped_write_total "$vl" '.writers[0].dropped_write' "$before" "$after"
sl='session="2",name="ctl"'
between linecap_session_matched_packets_total "$sl" '.session.counters.matched_packets' "$show_before" "$show_after"
between linecap_session_written_packets_total "$sl" '.session.counters.written_packets' "$show_before" "$show_after"
between linecap_session_dropped_ring_total "$sl" '.session.counters.dropped_ring' "$show_before" "$show_after"
between linecap_session_index_errors_total "$sl" '.session.counters.index_errors' "$show_before" "$show_after"
grep -qx 'linecap_sessions_running 1' "$WORK/metrics" || fail "/metrics: linecap_sessions_running is not 1"
! grep -q 'session="1"' "$WORK/metrics" || fail "/metrics lists ended session 1"
for family in linecap_port_rx_packets_total linecap_worker_matched_packets_total linecap_writer_written_bytes_total \
    linecap_session_written_packets_total; do
    grep -qx "# HELP $family .*" "$WORK/metrics" && grep -qx "# TYPE $family counter" "$WORK/metrics" ||
        fail "/metrics: no HELP or TYPE for $family"
done

note "DELETE: a running session 409, an unknown one 404, a malformed id 400, an ended one deleted"
expect 409 DELETE /api/v1/sessions/2
[ "$(jq -r .error "$WORK/body")" = "$(socket_error '{"cmd":"delete","id":"2"}')" ] || fail "DELETE running: $(cat "$WORK/body")"
expect 404 DELETE /api/v1/sessions/999
expect 400 DELETE '/api/v1/sessions/a%20b'
expect 200 DELETE /api/v1/sessions/1
jq -e '.id == "1"' "$WORK/body" >/dev/null || fail "DELETE /api/v1/sessions/1: $(cat "$WORK/body")"
expect 404 GET /api/v1/sessions/1
ctl --json ls | jq -e '.sessions | map(.id) == ["2", "3"]' >/dev/null || fail "linecapctl ls after DELETE: $(ctl --json ls)"
expect 404 GET "/api/v1/sessions/1/files/$name"

note "a name two sessions share: 400 with the socket's words; stop takes the running one"
expect 201 POST /api/v1/sessions --data '{"name": "ng", "snaplen": 64, "match": [{"protocols": ["icmp"]}]}'
twin=$(jq -r .id "$WORK/body")
expect 400 GET /api/v1/sessions/ng
[ "$(jq -r .error "$WORK/body")" = "$(socket_error show ng)" ] || fail "GET a shared name: $(cat "$WORK/body")"
jq -e '.error | startswith("2 sessions are named ng")' "$WORK/body" >/dev/null || fail "$(cat "$WORK/body")"
expect 200 POST /api/v1/sessions/ng/stop
jq -e --arg id "$twin" '.id == $id and .reason == "user"' "$WORK/body" >/dev/null || fail "stop ng: $(cat "$WORK/body")"

note "shutdown beside a client that trickles its headers: the daemon exits at once, its files closed"
python3 - "$PORT" >"$WORK/trickle.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("trickling", flush=True)
for _ in range(60):   # a byte every 0.5 s, each within the 5 s read timeout: 30 s
    try:
        s.sendall(b"G")
    except OSError:
        break
    time.sleep(0.5)
PY
trickle_pid=$!
cleanup_hooks+=("kill $trickle_pid 2>/dev/null")
for _ in $(seq 50); do grep -q trickling "$WORK/trickle.log" && break; sleep 0.05; done
grep -q trickling "$WORK/trickle.log" || fail "the trickling client did not connect: $(cat "$WORK/trickle.log")"
ctl shutdown >/dev/null
# (Without ending the connection, the daemon waited for the client: 30 s.)
for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || fail "the daemon did not exit within 8 s of shutdown beside a trickling HTTP client"
wait "$pid" || fail "the daemon exited with $?"
kill "$trickle_pid" 2>/dev/null || true
wait "$trickle_pid" || true
[ -z "$(find "$ROOT" -name '*.part')" ] || fail "files left .part after shutdown: $(find "$ROOT" -name '*.part')"
! curl -sS --max-time 2 -o /dev/null "$URL/healthz" 2>/dev/null || fail "the HTTP port still answers after shutdown"

note "a token: 401 without it and with a wrong one, 200 with it"
rm -f "$SOCK"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
start_daemon --http "127.0.0.1:$PORT" --http-token-file "$WORK/token"
grep -q "HTTP API on http://127.0.0.1:$PORT/ (bearer token required)" "$WORK/daemon.log" || fail "the log: $(cat "$WORK/daemon.log")"
# The token file is mode 0644: the log says so.
grep -q "warning: --http-token-file $WORK/token can be read by others than its owner (mode 0644): chmod 600" \
    "$WORK/daemon.log" || fail "no warning about the token file's mode: $(cat "$WORK/daemon.log")"
expect 401 GET /api/v1/sessions
[ "$(header WWW-Authenticate)" = 'Bearer realm="linecap"' ] || fail "WWW-Authenticate $(header WWW-Authenticate)"
jq -e '.error | startswith("no Authorization header")' "$WORK/body" >/dev/null || fail "401: $(cat "$WORK/body")"
expect 401 GET /metrics
# Refused tokens are logged at info, with the client's address.
grep -q "http: GET /api/v1/sessions 401 from 127.0.0.1" "$WORK/daemon.log" || fail "no 401 in the log: $(cat "$WORK/daemon.log")"
expect 401 GET /healthz
expect 401 GET /api/v1/sessions -H 'Authorization: Bearer 0123456789abcdef0123456789abcdeX'
SEND="send Authorization: Bearer TOKEN, the token of the daemon's --http-token-file"
jq -e --arg m "the bearer token is wrong: $SEND" '.error == $m' "$WORK/body" >/dev/null || fail "401: $(cat "$WORK/body")"
# Another scheme, or Bearer without a token, is told what is wrong with it (was "the bearer token is wrong").
expect 401 GET /api/v1/sessions -H "Authorization: Token $(cat "$WORK/token")"
[ "$(header WWW-Authenticate)" = 'Bearer realm="linecap"' ] || fail "WWW-Authenticate $(header WWW-Authenticate)"
jq -e --arg m "Authorization: the \"Token\" scheme is not taken: $SEND" '.error == $m' "$WORK/body" >/dev/null ||
    fail "401 Token: $(cat "$WORK/body")"
expect 401 GET /api/v1/sessions -H 'Authorization: Bearer'
jq -e --arg m "Authorization: Bearer without a token: $SEND" '.error == $m' "$WORK/body" >/dev/null ||
    fail "401 Bearer alone: $(cat "$WORK/body")"
# The scheme in any case, the token after one space or more (RFC 6750).
expect 200 GET /api/v1/sessions -H "Authorization: bearer   $(cat "$WORK/token")"
expect 401 GET /api/v1/sessions -H 'Authorization: Bearer 0123456789abcdef0123456789abcdef0'
expect 401 GET /api/v1/sessions -H 'Authorization: Basic MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='
expect 401 POST /api/v1/sessions --data '{"name": "sneaky"}'
ctl --json ls | jq -e '.sessions | map(select(.name == "sneaky")) | length == 0' >/dev/null || fail "a 401 started a session"
AUTH=(-H "Authorization: Bearer $(cat "$WORK/token")")
expect 200 GET /api/v1/sessions
jq -e '.sessions | map(.id) == ["2", "3", "4"]' "$WORK/body" >/dev/null || fail "after a restart: $(cat "$WORK/body")"
expect 201 POST /api/v1/sessions --data '{"name": "tokened"}'
# The console's page without the token; /live takes it as ?access_token= too, and no other route does.
token=$(cat "$WORK/token")
AUTH=()
expect 200 GET /
expect 401 GET /api/v1/sessions/tokened/live
expect 401 GET "/api/v1/sessions/tokened/live?access_token=0123456789abcdef0123456789abcdeX"
expect 401 GET "/api/v1/sessions?access_token=$token"
expect 401 GET "/api/v1/stats?access_token=$token"
# A token with an unencoded "=": said so (not "wrong token"), and not echoed.
expect 400 GET "/api/v1/sessions/tokened/live?access_token=abc=secretpart"
[ "$(jq -r .error "$WORK/body")" = 'URL parameter "access_token" holds an "=" in its value: write it as %3D' ] ||
    fail "/live?access_token=abc=secretpart: $(head -c 300 "$WORK/body")"
timeout 2 curl -sS -N "$URL/api/v1/sessions/tokened/live?access_token=$token" >"$WORK/live" 2>/dev/null || true
grep -q '^event: watching' "$WORK/live" || fail "/live with ?access_token=: $(head -c 300 "$WORK/live")"
! grep -qF "$token" "$WORK/daemon.log" || fail "the daemon's log holds the token"
AUTH=(-H "Authorization: Bearer $token")
expect 200 GET /healthz
# A bpf DPDK cannot run (libpcap's loop over IPv6 headers) runs in libpcap's
# interpreter: said in the start's reply and by show, as the one-shot says it.
ctl --json start --name chain ip protochain 17 >"$WORK/chain.json" || fail "start ip protochain 17"
jq -e '.notes | any(startswith("bpf: \"ip protochain 17\" runs in libpcap'"'"'s interpreter, as tcpdump runs it"))' \
    "$WORK/chain.json" >/dev/null || fail "no bpf note in the start's reply: $(cat "$WORK/chain.json")"
chain=$(jq -r .id "$WORK/chain.json")
ctl show "$chain" 2>&1 | grep -q "^  note     bpf: \"ip protochain 17\" runs in libpcap.s interpreter" ||
    fail "no bpf note from show: $(ctl show "$chain" 2>&1)"
ctl stop "$chain" >/dev/null
shut_down_within_budget
