#!/usr/bin/env bash
# The web console (GET /, docs/http.md#the-web-console) in headless Chromium,
# and GET /api/v1/sessions/{id}/live, against a daemon on endless replayed
# traffic (loopback only):
#  - the console page and its files, served without a token, nothing from elsewhere;
#  - in Chromium (console_cdp.py, over the DevTools protocol): the table lists a
#    session started with linecapctl; the form starts a session (its spec checked
#    through the API); a subnet with host bits set shows the daemon's own error
#    next to the source field, and starts nothing; the live panel shows session
#    1's packet lines, in the format of linecapctl watch; a screenshot;
#    a capture of one host as a new user makes it: started from the form,
#    followed live, stopped with its Stop button (the API: reason user; the
#    row: ended, its end time and reason, within 5 s), its PCAP button's file
#    (Browser.setDownloadBehavior) identical to linecapctl merge's and read by
#    tshark with show's written count, then deleted with its confirmation
#    accepted (the API: 404; the row gone); no Delete on a running session;
#  - /live with curl -N: the watching event, packet lines, the end event with
#    the stop reason; 404, 409 and 400 with the socket's words for watch;
#  - a client that stops reading its stream is closed by the server within seconds;
#  - the limits (live_limits.py): 20 idle connections and 10 live streams while
#    GET /api/v1/sessions answers within a second; the 5th stream on a session and
#    the 33rd in all 503, each naming its limit;
#  - a daemon with --http-token-file: the page asks for the token, and with it typed
#    in lists the sessions and follows one live (/live authenticated by ?access_token=);
#    one host captured, stopped and downloaded as above (the PCAP fetched with the
#    token and saved from a blob:), identical to linecapctl merge's.
# LINECAP_CONSOLE_SCREENSHOT=FILE keeps the screenshot (docs/console.png is made so).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
started=$(date +%s)
note() {
    echo "--- [$(($(date +%s) - started)) s] $*"
}

command -v chromium >/dev/null || fail "chromium is not installed: scripts/bootstrap installs it"
# Debian's python3, which has Debian's websocket module (a python3 earlier in PATH may not).
PY=/usr/bin/python3
"$PY" -c 'import websocket' 2>/dev/null ||
    fail "python3's websocket module is not installed: scripts/bootstrap installs it (python3-websocket)"
"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3
# Chromium's process group, should console_cdp.py be killed before it kills it.
cleanup_hooks+=('[ ! -s "$WORK/chromium.pid" ] || kill -9 -- "-$(cat "$WORK/chromium.pid")" 2>/dev/null')

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
start_daemon --http "127.0.0.1:$PORT" --max-sessions 16
# Every session rotates 1 MB files and keeps 2: the disk holds little however fast the replay.
ctl start --name from-socket --proto udp -s 96 -C 1 -W 2 >/dev/null
# A client that stops reading a stream is closed by the server (its write timeout), in the background meanwhile.
stalled=$(ctl --json start --name stalled --proto udp -s 64 -C 1 -W 2 | jq -r .id)
"$PY" "$here/live_limits.py" --stall 14 "$PORT" "$stalled" >"$WORK/stall.log" 2>&1 &
stall_pid=$!
cleanup_hooks+=("kill $stall_pid 2>/dev/null")

note "the page and its files: HTML, CSS and JS from the binary, no other origin named"
code=$(curl -sS -o "$WORK/index.html" -D "$WORK/headers" -w '%{http_code}' "$URL/")
[ "$code" = 200 ] || fail "GET /: HTTP $code"
grep -qi '^content-type: text/html; charset=utf-8' "$WORK/headers" || fail "GET /: $(cat "$WORK/headers")"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$WORK/headers" ||
    fail "GET /: no Content-Security-Policy: $(cat "$WORK/headers")"
for f in console.js console.css; do
    code=$(curl -sS -o "$WORK/$f" -w '%{http_code}' "$URL/console/$f")
    [ "$code" = 200 ] || fail "GET /console/$f: HTTP $code"
    cmp -s "$WORK/$f" "$here/../../control/console/$f" || fail "GET /console/$f is not control/console/$f"
done
! grep -Eqi '(src|href)="(https?:)?//' "$WORK/index.html" || fail "the page loads something from elsewhere"
! grep -Eq 'https?://' "$WORK/console.js" "$WORK/console.css" || fail "the console's files name another origin"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/console/nothing.js")
[ "$code" = 404 ] || fail "GET /console/nothing.js: HTTP $code"

note "Chromium: the table, the form, a bad subnet, one host started, followed, stopped, downloaded and deleted, the live panel"
shot=${LINECAP_CONSOLE_SCREENSHOT:-$WORK/console.png}
settle=2.5   # for docs/console.png, a longer rate chart
[ -z "${LINECAP_CONSOLE_SCREENSHOT:-}" ] || settle=60
export LINECAP_SOCK="$SOCK"   # console_cdp.py's linecapctl merge and show
"$PY" "$here/console_cdp.py" "$URL/" "$WORK" "$shot" "$settle" >"$WORK/page.json" ||
    fail "the console in Chromium (its log: $(tail -5 "$WORK/chromium.log" 2>/dev/null))"
head -c 3000 "$WORK/page.json"; echo
jq -e '.row | contains("from-socket") and contains("running") and contains("udp")' "$WORK/page.json" >/dev/null ||
    fail "session 1's row: $(jq -r .row "$WORK/page.json")"
# The session the form started, as the API has it.
form_id=$(jq -r '.started | capture("^Session (?<id>[0-9]+) started").id' "$WORK/page.json")
[ -n "$form_id" ] || fail "the form's message: $(jq -r .started "$WORK/page.json")"
spec=$(curl -sS "$URL/api/v1/sessions/$form_id" | jq -c .session.spec)
jq -e '.name == "form-made" and .snaplen == 128 and .bpf == "not port 22" and
    .match == [{"dst": ["10.0.0.0/8", "192.168.1.1-192.168.1.200"], "dst_ports": [53, "5000-6000"],
                "protocols": ["udp"], "bidirectional": true}] and
    .limits == {"packets": 100000000, "seconds": "10m", "bytes": 20000000000} and
    .rotate == {"bytes": 1000000, "keep": 2}' <<<"$spec" >/dev/null ||
    fail "session $form_id, started from the form, has the spec $spec"
[ "$(ctl --json show "$form_id" | jq -r .session.status)" = running ] || fail "session $form_id is not running"
# The bad subnet: the daemon's words for the same spec, next to the source field only.
want=$(curl -sS -d '{"name": "bad-subnet", "match": [{"src": ["10.1.0.5/24"]}]}' "$URL/api/v1/sessions" | jq -r .error)
[[ "$want" == *"10.1.0.5/24 has host bits set"* ]] || fail "the API's error for a bad subnet: $want"
[ "$(jq -r .bad "$WORK/page.json")" = "$want" ] ||
    fail "the page shows \"$(jq -r .bad "$WORK/page.json")\" next to the source field, the daemon says \"$want\""
jq -e '.errors_shown == ["err-src"] and .src_marked' "$WORK/page.json" >/dev/null ||
    fail "field errors shown: $(jq -c .errors_shown "$WORK/page.json")"
ctl --json ls | jq -e '.sessions | map(select(.name == "bad-subnet")) | length == 0' >/dev/null ||
    fail "the bad subnet started a session"
# The live panel: lines as linecapctl watch prints them (time, IPv4, UDP: session 1 is UDP).
timeout 2 "$LINECAPCTL" --socket "$SOCK" watch 1 >"$WORK/watch.txt" 2>&1 || true
line_re='^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9} IPv[46] .*UDP'
grep -Eq "$line_re" "$WORK/watch.txt" || fail "linecapctl watch 1 printed: $(head -5 "$WORK/watch.txt")"
jq -r '.live[]' "$WORK/page.json" >"$WORK/live.txt"
[ "$(grep -Ecv "$line_re" "$WORK/live.txt")" = 0 ] || fail "the live panel shows lines that are not packets: $(grep -Ev "$line_re" "$WORK/live.txt" | head -3)"
[ "$(wc -l <"$WORK/live.txt")" -ge 12 ] || fail "the live panel shows $(wc -l <"$WORK/live.txt") lines"
jq -e '.live_status | startswith("following session 1")' "$WORK/page.json" >/dev/null ||
    fail "the live panel's status: $(jq -r .live_status "$WORK/page.json")"
[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "the screenshot is not a PNG"
[ "$(stat -c %s "$shot")" -gt 50000 ] || fail "the screenshot is $(stat -c %s "$shot") bytes: an empty page?"

# check_one_host PAGE_JSON NAME: a capture of one host made from the page
# (console_cdp.py's capture_one_host): stopped from the table, downloaded.
check_one_host() {
    local page=$1 name=$2 id ended file packets written
    id=$(jq -r .host.id "$page")
    [[ "$id" =~ ^[0-9]+$ ]] || fail "$name: the form's session id: $(jq -c .host "$page")"
    jq -e '.host.running_actions | index("Stop") and index("View live") and index("PCAP") and (index("Delete") | not)' \
        "$page" >/dev/null || fail "$name running offers $(jq -c .host.running_actions "$page")"
    # Stop: the API has it ended by the user, and so does the table, within seconds.
    jq -e '.host.api.session | .status != "running" and .reason == "user" and .ended != ""' "$page" >/dev/null ||
        fail "$name after Stop, as the API has it: $(jq -c '.host.api.session | del(.spec)' "$page")"
    ended=$(jq -r .host.api.session.ended "$page")
    jq -e --arg ended "${ended:0:10} ${ended:11:8}" '.host | .ended_row == {ended: $ended, status: .api.session.status,
        reason: "user"} and .stop_shown_s < 5' "$page" >/dev/null ||
        fail "$name's row after Stop: $(jq -c '.host.ended_row' "$page") (the API: ended $ended); shown in $(jq .host.stop_shown_s "$page") s"
    jq -e '.host.ended_actions == ["PCAP", "Delete"]' "$page" >/dev/null ||
        fail "$name ended offers $(jq -c .host.ended_actions "$page")"
    jq -e --arg id "$id" '.host.live_status | contains("session \($id) has ended (user)")' "$page" >/dev/null ||
        fail "the live panel after Stop: $(jq -r .host.live_status "$page")"
    # PCAP: the browser's file is linecapctl merge's of the same session, byte for byte, whole.
    file=$(jq -r .host.file "$page")
    [ "$(jq -r .host.file_name "$page")" = "$name-$id.pcap" ] || fail "$name's PCAP saved as $(jq -r .host.file_name "$page")"
    cmp "$file" "$(jq -r .host.merged "$page")" ||
        fail "$name's PCAP from the browser ($(stat -c %s "$file") bytes) is not linecapctl merge's ($(stat -c %s "$(jq -r .host.merged "$page")"))"
    packets=$(tshark -r "$file" 2>/dev/null | wc -l)
    written=$(jq -r .host.show.session.counters.written_packets "$page")
    [ "$packets" -gt 0 ] && [ "$packets" = "$written" ] ||
        fail "$name's PCAP: tshark reads $packets packets, linecapctl show says $written written"
    ! tshark -r "$file" -T fields -e ip.addr 2>/dev/null | grep -v '10\.7\.64\.56' | grep . >/dev/null ||
        fail "$name's PCAP holds packets of other hosts"
    echo "$name (session $id): stopped, shown ended in $(jq .host.stop_shown_s "$page") s; its PCAP, $packets packets, is merge's"
}
check_one_host "$WORK/page.json" one-host
host_id=$(jq -r .host.id "$WORK/page.json")
# Delete, confirmed: gone from the API (and the page's table: console_cdp.py waited for that).
jq -e --arg id "$host_id" '.deleted == {type: "confirm", message: "Delete session \($id) and all its files?"}' \
    "$WORK/page.json" >/dev/null || fail "Delete's confirmation: $(jq -c .deleted "$WORK/page.json")"
code=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$URL/api/v1/sessions/$host_id")
[ "$code" = 404 ] || fail "session $host_id, deleted from the page: HTTP $code $(cat "$WORK/body")"
jq -e '.running_1_actions | index("Delete") | not' "$WORK/page.json" >/dev/null ||
    fail "running session 1 offers $(jq -c .running_1_actions "$WORK/page.json")"

note "/live with curl -N: watching, packet lines, the end event with the stop reason"
curl -sS -N --max-time 20 "$URL/api/v1/sessions/$form_id/live" >"$WORK/sse.txt" 2>&1 &
curl_pid=$!
cleanup_hooks+=("kill $curl_pid 2>/dev/null")
for _ in $(seq 50); do grep -q '^event: watching' "$WORK/sse.txt" && break; sleep 0.1; done
curl -sS -X POST -o /dev/null "$URL/api/v1/sessions/$form_id/stop"
wait "$curl_pid" || fail "curl -N of session $form_id's live stream: exit $? (not ended by the session's end): $(cat "$WORK/sse.txt")"
grep -qx "data: {\"id\":\"$form_id\",\"watching\":true,\"max_lines_per_second\":200,\"notes\":\[\]}" "$WORK/sse.txt" ||
    fail "no watching event: $(head -5 "$WORK/sse.txt")"
tail -3 "$WORK/sse.txt" | tr '\n' '|' | grep -qx "event: end|data: {\"id\":\"$form_id\",\"reason\":\"user\"}||" ||
    fail "the stream does not end with the end event: $(tail -5 "$WORK/sse.txt")"
# Session 1's stream: its lines, each a data: line of a default event.
timeout 2 curl -sS -N "$URL/api/v1/sessions/1/live" >"$WORK/sse1.txt" 2>/dev/null || true
grep -E '^data: ' "$WORK/sse1.txt" | tail -n +2 | sed 's/^data: //' >"$WORK/sse1-lines.txt"
[ "$(wc -l <"$WORK/sse1-lines.txt")" -ge 5 ] || fail "session 1's stream over 2 s: $(head -c 500 "$WORK/sse1.txt")"
[ "$(grep -Ecv "$line_re" "$WORK/sse1-lines.txt")" = 0 ] || fail "session 1's stream: $(head -5 "$WORK/sse1-lines.txt")"

note "/live refusals: the socket's words for watch"
socket_error() {
    python3 -c 'import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(json.dumps({"cmd": "watch", "id": sys.argv[2]}).encode() + b"\n")
print(json.loads(s.makefile().readline())["error"])' "$SOCK" "$1"
}
for case in "404 999" "409 $form_id" "400 a%20b"; do
    read -r want id <<<"$case"
    code=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$URL/api/v1/sessions/$id/live")
    [ "$code" = "$want" ] || fail "GET /api/v1/sessions/$id/live: HTTP $code, expected $want: $(cat "$WORK/body")"
    [ "$(jq -r .error "$WORK/body")" = "$(socket_error "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$id")")" ] ||
        fail "GET /api/v1/sessions/$id/live says $(cat "$WORK/body"), the socket's watch $(socket_error "$id")"
done

note "a client that stopped reading its stream was closed"
wait "$stall_pid" || fail "the stalled client: $(cat "$WORK/stall.log")"
cat "$WORK/stall.log"

note "limits: 20 idle connections and 10 live streams; a 5th on a session, a 33rd in all"
quiet=()
for i in $(seq 8); do
    # GRE: nothing of the replay matches; running, and quiet.
    quiet+=("$(ctl --json start --name "quiet-$i" --proto gre -s 64 | jq -r .id)")
done
"$PY" "$here/live_limits.py" "$PORT" 1 "${quiet[@]}" || fail "the live streams' limits"
ctl ls >/dev/null || fail "the control socket does not answer after the limits"

ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"
stalls=$EXIT_STALL   # seconds of slow exits past 5 s (wait_exit): not held against the budget

note "with --http-token-file: the page asks for the token, and works with it (/live by ?access_token=)"
rm -rf "$SOCK" "$ROOT"
openssl rand -hex 32 >"$WORK/token" 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/token"
chmod 600 "$WORK/token"
start_daemon --http "127.0.0.1:$PORT" --http-token-file "$WORK/token"
ctl start --name tokened --proto udp -s 96 -C 1 -W 2 >/dev/null
rm -rf "$WORK/chromium"
"$PY" "$here/console_cdp.py" --token "$(cat "$WORK/token")" "$URL/" "$WORK" >"$WORK/token-page.json" ||
    fail "the console with a token"
jq -e '(.banner | contains("bearer token")) and (.row | contains("tokened")) and .stored != null and
    (.live | length >= 3)' "$WORK/token-page.json" >/dev/null || fail "the console with a token: $(cat "$WORK/token-page.json")"
[ "$(jq -r '.live[]' "$WORK/token-page.json" | grep -Ecv "$line_re")" = 0 ] ||
    fail "the live panel with a token: $(jq -c .live "$WORK/token-page.json")"
grep -q "http: GET /api/v1/sessions 401 from 127.0.0.1" "$WORK/daemon.log" || fail "the page's first calls were not refused"
check_one_host "$WORK/token-page.json" one-host-token
jq -e '.host.file_url | startswith("blob:")' "$WORK/token-page.json" >/dev/null ||
    fail "with a token, the PCAP came from $(jq -r .host.file_url "$WORK/token-page.json"), not the page's fetch"
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"
stalls=$((stalls + EXIT_STALL))
elapsed=$(($(date +%s) - started))
note "done in $elapsed s"
[ -n "${LINECAP_CONSOLE_SCREENSHOT:-}" ] || [ $((elapsed - stalls)) -lt 60 ] ||
    fail "the test took $elapsed s ($stalls s of them slow exits), over its 60 s budget"
