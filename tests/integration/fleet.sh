#!/usr/bin/env bash
# The fleet (docs/fleet.md) with a real etcd on loopback: --fleet-etcd's
# option errors; nodes registered with their URL, ports, sessions and
# clock (`linecapctl fleet nodes`); fleet sessions started on some nodes
# and on all, a late joiner, a duplicate id, stop; a node killed with -9
# gone within its lease and, restarted, not running a fleet session twice;
# clean shutdowns gone at once; etcd frozen past the lease while a node
# captures: not a packet lost meanwhile, one warning, the node back and its
# status caught up; fleet merge against mergecap, with a node gone (partial,
# exit 4) and back; fleet rm. (The etcd client and the registration thread alone, against a
# real etcd too: tests/fleet/test_etcd.cpp.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/http_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"
budget=180   # four daemons and etcd; two waits for a 5 s lease, etcd frozen 20 s; seven merges (70 s to 115 s seen here)

note "--fleet-etcd, --node, --fleet-url refusals: one line each, exit 2, before DPDK starts"
H=(--http "127.0.0.1:$PORT")
refused "--fleet-etcd needs --node NAME: this daemon's name in the fleet, e.g. --node collector-3" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://127.0.0.1:2379
refused "--node is for a node of a fleet: give --fleet-etcd URL too (docs/fleet.md)" \
    "${daemon_words[@]}" "${H[@]}" --node a
refused "--fleet-etcd: 127.0.0.1:2379 is not an etcd client URL: give http://HOST:PORT (or https://), e.g. http://127.0.0.1:2379, several separated by commas" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd 127.0.0.1:2379 --node a
refused "--node a/b: '/' is not allowed: a node name has letters, digits, '.', '_' and '-', e.g. collector-3" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://127.0.0.1:2379 --node a/b
refused "--fleet-etcd needs --http ADDR:PORT: the nodes of a fleet and linecapctl reach each other over the HTTP API" \
    "${daemon_words[@]}" --fleet-etcd http://127.0.0.1:2379 --node a
refused "--fleet-url ftp://x: give this daemon's HTTP API as http://HOST:PORT (or https://), e.g. http://10.0.0.7:8080" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://127.0.0.1:2379 --node a --fleet-url ftp://x
refused "--fleet-etcd: the URL is empty: give etcd's client URL, e.g. http://127.0.0.1:2379" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd "" --node a
refused "--fleet-etcd is a daemon option: give --control PATH too" -w "$WORK/x" --fleet-etcd http://127.0.0.1:2379
refused "--http 127.0.0.1:$PORT: the other nodes of a fleet whose etcd is at http://192.0.2.1:2379 cannot reach a loopback address: give --http an address they reach, or --fleet-url http://HOST:PORT where they reach this one (a proxy, NAT)" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://192.0.2.1:2379 --node a

note "linecapctl fleet: usage errors exit 2, etcd out of reach exits 3"
rc=0; "$LINECAPCTL" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -qF "linecapctl: fleet: give --etcd URL (or set LINECAP_ETCD): the fleet's etcd, e.g. --etcd http://127.0.0.1:2379" "$WORK/err" ||
    fail "fleet nodes without --etcd: exit $rc: $(cat "$WORK/err")"
rc=0; "$LINECAPCTL" --etcd "http://127.0.0.1:$(free_port)" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] && grep -q "cannot connect (is etcd running there? is the URL right?)" "$WORK/err" ||
    fail "fleet nodes, nothing there: exit $rc: $(cat "$WORK/err")"

start_etcd
"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 5
note "three nodes join: a and c replay their file once and sleep, b loops it"
start_node a "$WORK/in.pcap" --idle-mode sleep
start_node b "$WORK/in.pcap,infinite_rx=1" --ring-size 65536
start_node c "$WORK/in.pcap" --idle-mode sleep
took=$(wait_nodes 'length == 3' 3)
note "all listed after $took ms"
n=$(nodes)
for name in a b c; do
    echo "$n" | jq -e --arg n "$name" --arg url "http://127.0.0.1:${NODE_PORT[$name]}" '
        .[] | select(.name == $n) | .url == $url and .version != "" and .sessions_running == 0
        and .ports == [{"port": 0, "name": "net_pcap0", "driver": "net_pcap"}]
        and (.clock.synchronised | type) == "boolean" and (.clock.est_error_us | type) == "number"
        and (.started | test("^20[0-9-]+T[0-9:.]+Z$"))' >/dev/null || fail "node $name's record: $n"
    grep -q "fleet: node $name registered in etcd $ETCD as /linecap/nodes/$name (5 s lease)" "$WORK/$name.log" ||
        fail "node $name's log: $(cat "$WORK/$name.log")"
done
# The table, and LINECAP_ETCD in place of --etcd.
export LINECAP_ETCD="$ETCD"
"$LINECAPCTL" fleet nodes >"$WORK/table"
head -1 "$WORK/table" | grep -qE '^NODE +URL +STATUS +CLOCK +VERSION +PORTS +UPDATED \(UTC\)$' ||
    fail "fleet nodes' table: $(cat "$WORK/table")"
grep -qE "^a +http://127.0.0.1:${NODE_PORT[a]} +idle " "$WORK/table" || fail "fleet nodes' table: $(cat "$WORK/table")"

fleet() { "$LINECAPCTL" fleet "$@"; }
fleet_json() { "$LINECAPCTL" --json fleet "$@"; }
# status ID NODE: the node's status of the fleet session, as fleet show --json has it.
status() { fleet_json show "$1" | jq -c --arg n "$2" '.nodes[] | select(.node == $n)'; }

note "fleet start on a and b: both run it within a second, c does not; the id once only"
# What the nodes keep: SYNs to port 443, 0.4% of the looped file (some 50 000
# packets a second on b, far within what one writer takes even beside four
# daemons and etcd on two CPUs), in a ring of two 1 MB files.
t0=$(date +%s%N)
fleet start --id web --nodes a,b --name web -s 64 -C 1 -W 2 tcp dst port 443 and 'tcp[13] & 2 != 0' >"$WORK/out" 2>&1 ||
    fail "fleet start: $(cat "$WORK/out"); a: $(grep fleet "$WORK/a.log"); b: $(grep fleet "$WORK/b.log")"
took=$((($(date +%s%N) - t0) / 1000000))
note "fleet start returned after $took ms: $(cat "$WORK/out")"
[ "$(cat "$WORK/out")" = "fleet session web started on 2 of 2 nodes" ] || fail "fleet start said $(cat "$WORK/out")"
[ "$took" -lt 1000 ] || fail "fleet start took $took ms to reach both nodes"
for name in a b; do
    node_ctl "$name" --json ls | jq -e '.sessions | length == 1 and .[0].fleet == "web" and .[0].name == "web"
        and .[0].status == "running"' >/dev/null || fail "node $name's sessions: $(node_ctl "$name" --json ls)"
    grep -q "fleet: fleet session web runs here as session 1" "$WORK/$name.log" || fail "node $name's log"
done
node_ctl c --json ls | jq -e '.sessions == []' >/dev/null || fail "c, not targeted, runs: $(node_ctl c --json ls)"
rc=0; fleet start --id web tcp 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "linecapctl: fleet start: fleet session web exists already (linecapctl fleet show web): give another --id" "$WORK/err" ||
    fail "a second fleet start --id web: exit $rc: $(cat "$WORK/err")"
rc=0; fleet start --nodes "a b" tcp 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -qF "linecapctl: fleet start: --nodes a b: ' ' is not allowed" "$WORK/err" ||
    fail "fleet start --nodes 'a b': exit $rc: $(cat "$WORK/err")"
rc=0; fleet start --vni 7 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && grep -qF "linecapctl: fleet start: --vni: needs" "$WORK/err" ||
    fail "fleet start --vni without --tunnel inner: exit $rc: $(cat "$WORK/err")"
sleep 1.5   # a status is written every second
status web b | jq -e '.status == "running" and .local_id == "1" and .counters.written_packets > 0
    and (.files | length) >= 1' >/dev/null || fail "b's status of web: $(status web b)"
fleet_json ls | jq -e '.sessions[] | select(.id == "web") | .status == "running" and .nodes_running == 2
    and .nodes == ["a", "b"] and .packets > 0' >/dev/null || fail "fleet ls: $(fleet_json ls)"
fleet ls | grep -qE '^web +web +[0-9-]+ [0-9:]+ +- +running +2 +0 +0 ' || fail "fleet ls' table: $(fleet ls)"

note "fleet sessions for every node, with and without late joiners; node d joins: it runs the one that lets it"
fleet start --id early --name early -s 64 tcp dst port 443 and 'tcp[13] & 2 != 0' >"$WORK/out" 2>&1 || fail "fleet start early: $(cat "$WORK/out")"
fleet start --id all --late-join --name all -s 64 -C 1 -W 2 tcp dst port 443 and 'tcp[13] & 2 != 0' >"$WORK/out" ||
    fail "fleet start all: $(cat "$WORK/out")"
[ "$(cat "$WORK/out")" = "fleet session all started on 3 of 3 nodes" ] || fail "fleet start said $(cat "$WORK/out")"
start_node d "$WORK/in.pcap" --idle-mode sleep
for _ in $(seq 50); do [ "$(status all d | jq -r .status)" = running ] && break; sleep 0.1; done
status all d | jq -e '.status == "running"' >/dev/null || fail "d's status of all: $(status all d)"
status early d | jq -e '.status == "not_started" and (.error | contains("--late-join"))' >/dev/null ||
    fail "d's status of early: $(status early d)"
node_ctl d --json ls | jq -e '[.sessions[].fleet] == ["all"]' >/dev/null || fail "d's sessions: $(node_ctl d --json ls)"
fleet stop early >"$WORK/out" 2>&1 || fail "fleet stop early: $(cat "$WORK/out")"

note "fleet stop web: a and b stop it, with reason user"
fleet stop web >"$WORK/out" || fail "fleet stop web: $(cat "$WORK/out")"
grep -qE "^fleet session web stopped on 2 nodes: [0-9]+ packets written" "$WORK/out" || fail "fleet stop said $(cat "$WORK/out")"
for name in a b; do
    node_ctl "$name" --json show 1 | jq -e '.session.status == "finished" and .session.reason == "user"' >/dev/null ||
        fail "node $name's session of web: $(node_ctl "$name" --json show 1)"
done
fleet_json ls | jq -e '.sessions[] | select(.id == "web") | .status == "stopped" and .nodes_finished == 2' >/dev/null ||
    fail "fleet ls after stop: $(fleet_json ls)"

note "fleet merge web: a's and b's parts over their APIs, one pcapng, interfaces a:0 and b:0, the packets mergecap gives"
# What mergecap makes of the nodes' own downloads, in node order (mergecap
# keeps its inputs' order for equal times, as fleet merge keeps the nodes').
for name in a b; do
    curl -sf -o "$WORK/web-$name.pcapng" "http://127.0.0.1:${NODE_PORT[$name]}/api/v1/sessions/1/pcap?format=pcapng" ||
        fail "node $name's download"
done
mergecap -w "$WORK/web-mergecap.pcapng" "$WORK/web-a.pcapng" "$WORK/web-b.pcapng"
unsynced_before=$(nodes | jq '[.[] | select(.name == "a" or .name == "b") | select(.clock.synchronised | not)] | length')
rc=0; fleet merge web -o "$WORK/web.pcapng" >"$WORK/out" 2>"$WORK/err" || rc=$?
[ "$rc" = 0 ] || fail "fleet merge web: exit $rc: $(cat "$WORK/out" "$WORK/err")"
count_a=$("$COUNT" "$WORK/web-a.pcapng")
count_b=$("$COUNT" "$WORK/web-b.pcapng")
# a replayed its file once, before the session began: its part is a file of no packets.
[ "$count_a" = 0 ] && [ "$count_b" -gt 0 ] || fail "the nodes' parts: a $count_a packets, b $count_b"
grep -qx "fleet session web: $((count_a + count_b)) packets from 2 nodes merged into $WORK/web.pcapng" "$WORK/out" ||
    fail "fleet merge said $(cat "$WORK/out")"
"$COMPARE" "$WORK/web-mergecap.pcapng" "$WORK/web.pcapng" || fail "fleet merge's packets are not mergecap's"
# idbs FILE: its interfaces, NAME=PACKETS each; comment FILE: its comment (capinfos, one call each).
idbs() { capinfos -M "$1" | awk '/^ +Name = /{n=$3} /^ +Number of packets = /{printf "%s%s=%s", sep, n, $5; sep=" "}'; }
comment() { capinfos -k "$1" | sed -n '/^Capture comment/,$p'; }
# Every packet on b's interface (a has none), both described; the file's comment.
[ "$(idbs "$WORK/web.pcapng")" = "a:0=0 b:0=$count_b" ] || fail "interfaces: $(capinfos -M "$WORK/web.pcapng")"
capinfos -M "$WORK/web.pcapng" | grep -qx " *Description = node b, net_pcap0 (net_pcap)" ||
    fail "interface descriptions: $(capinfos -M "$WORK/web.pcapng")"
comment "$WORK/web.pcapng" | grep -q "linecap fleet merge of fleet session web: nodes a, b" ||
    fail "the merged file's comment: $(capinfos -k "$WORK/web.pcapng")"
# A node whose record says its clock is not synchronised is warned of, in
# the output and the comment alike (the records read just before and just
# after the merge: the kernel's state may change between them).
warned=$(grep -c "warning: node [ab]'s clock is NOT synchronised" "$WORK/err" || true)
[ "$warned" = "$(comment "$WORK/web.pcapng" | grep -o "clock: node [ab]'s clock is NOT synchronised" | wc -l)" ] ||
    fail "clock warnings: $(cat "$WORK/err"); the comment: $(comment "$WORK/web.pcapng")"
unsynced() { nodes | jq '[.[] | select(.name == "a" or .name == "b") | select(.clock.synchronised | not)] | length'; }
[ "$warned" = "$unsynced_before" ] || [ "$warned" = "$(unsynced)" ] ||
    fail "clock warnings for $warned nodes, the records say $unsynced_before then $(unsynced): $(cat "$WORK/err")"
fleet merge web -o "$WORK/web.pcap" --format pcap >/dev/null 2>&1 || fail "fleet merge --format pcap"
"$COMPARE" "$WORK/web-mergecap.pcapng" "$WORK/web.pcap" --timestamps us || fail "fleet merge --format pcap's packets"
# The parts are spooled beside the output; a filesystem down to 5% free
# takes none (a daemon's console merge spools into its --out-root, where
# its captures write).
mkdir "$WORK/small"
mount -t tmpfs -o size=4m tmpfs "$WORK/small"
cleanup_hooks+=("! mountpoint -q '$WORK/small' || umount '$WORK/small'")
head -c $((3900 * 1024)) /dev/zero >"$WORK/small/filler"
rc=0; fleet merge web -o "$WORK/small/web.pcapng" >"$WORK/out" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "fleet merge: node b is missing: cannot keep its part: $WORK/small has 196.0 KiB free, under the 5% of its filesystem (4096.0 KiB) kept free for captures: merge a shorter time span or fewer nodes" "$WORK/err" ||
    fail "fleet merge into a full filesystem: exit $rc: $(cat "$WORK/out" "$WORK/err")"
[ "$(ls "$WORK/small")" = filler ] || fail "fleet merge into a full filesystem left $(ls "$WORK/small")"
umount "$WORK/small"
rc=0; fleet merge web -o "$WORK/web.pcapng" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "fleet merge: $WORK/web.pcapng: already exists; give another -o, or --force to replace it" "$WORK/err" ||
    fail "fleet merge over a file: exit $rc: $(cat "$WORK/err")"
rc=0; fleet merge nosuch -o "$WORK/x.pcapng" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "linecapctl: fleet merge: no fleet session nosuch (linecapctl fleet ls lists them)" "$WORK/err" &&
    [ ! -e "$WORK/x.pcapng" ] || fail "fleet merge nosuch: exit $rc: $(cat "$WORK/err")"
# A node's member key naming a session of another capture (its number
# taken again, the node rebuilt): that node is missing, its part not merged.
other=$(node_ctl a --json start --name other --proto udp | jq -r .id)
node_ctl a stop "$other" >/dev/null
member=$(etcdctl --endpoints "$ETCD" get --print-value-only /linecap/members/web/a)
etcdctl --endpoints "$ETCD" put /linecap/members/web/a "$(jq -c --arg id "$other" '.local_id = $id' <<<"$member")" >/dev/null
rc=0; fleet merge web -o "$WORK/wrong.pcapng" >"$WORK/out" 2>"$WORK/err" || rc=$?
[ "$rc" = 4 ] && grep -qF "node a is missing: its session $other there is no fleet session's, not fleet session web" "$WORK/err" ||
    fail "fleet merge of a member naming another session: exit $rc: $(cat "$WORK/out" "$WORK/err")"
etcdctl --endpoints "$ETCD" put /linecap/members/web/a "$member" >/dev/null
node_ctl a rm "$other" >/dev/null 2>&1 || true

note "the fleet over c's HTTP API (c ran none of web): nodes, fleet sessions and show as linecapctl prints them, the merge as fleet merge makes it"
api_c="http://127.0.0.1:${NODE_PORT[c]}/api/v1/fleet"
curl -sf "$api_c/nodes" | jq -ec '.ok and ([.nodes[] | {name, url}] | sort_by(.name)) == ($n | sort_by(.name))' \
    --argjson n "$(fleet_json nodes | jq -c '[.nodes[] | {name, url}]')" >/dev/null ||
    fail "GET .../fleet/nodes: $(curl -s "$api_c/nodes")"
# web has ended: its row and its nodes' statuses no longer change. The
# shapes as fleet.md gives them, then the same as linecapctl's.
row=$(curl -sf "$api_c/sessions" | jq -c '.sessions[] | select(.id == "web")') ||
    fail "GET .../fleet/sessions from c: $(curl -s "$api_c/sessions")"
echo "$row" | jq -e --argjson n "$count_b" 'keys_unsorted == ["id", "name", "created", "start", "end", "nodes", "status",
    "nodes_running", "nodes_finished", "nodes_failed", "packets", "bytes", "drops"] and .status == "stopped"
    and .nodes == ["a", "b"] and .nodes_finished == 2 and .packets >= $n' >/dev/null ||
    fail "GET .../fleet/sessions, web's row: $row"
[ "$row" = "$(fleet_json ls | jq -c '.sessions[] | select(.id == "web")')" ] ||
    fail "GET .../fleet/sessions: $row, fleet ls: $(fleet_json ls)"
shown=$(curl -sf "$api_c/sessions/web" | jq -c '[keys_unsorted, .session, .spec, [.nodes[] | {node, status, local_id}]]') ||
    fail "GET .../fleet/sessions/web from c: $(curl -s "$api_c/sessions/web")"
echo "$shown" | jq -e '.[0] == ["ok", "session", "spec", "nodes"] and .[2].name == "web"
    and .[3] == [{"node": "a", "status": "finished", "local_id": "1"}, {"node": "b", "status": "finished", "local_id": "1"}]' \
    >/dev/null || fail "GET .../fleet/sessions/web: $shown"
[ "$shown" = "$(fleet_json show web | jq -c '[keys_unsorted, .session, .spec, [.nodes[] | {node, status, local_id}]]')" ] ||
    fail "GET .../fleet/sessions/web: $shown, fleet show: $(fleet_json show web)"
curl -sf -D "$WORK/headers" -o "$WORK/web-c.pcapng" "$api_c/sessions/web/pcap" || fail "GET .../fleet/sessions/web/pcap from c"
"$COMPARE" "$WORK/web.pcapng" "$WORK/web-c.pcapng" || fail "c's merge of web is not fleet merge's"
cmp "$WORK/web.pcapng" "$WORK/web-c.pcapng" || fail "c's merge of web is not byte for byte fleet merge's"
[ "$(tr -d '\r' <"$WORK/headers" | sed -n 's/^Linecap-Clock-Warnings: //Ip')" = "$warned" ] ||
    fail "c's merge's clock warnings header, $warned in fleet merge's output: $(cat "$WORK/headers")"
[ "$(idbs "$WORK/web-c.pcapng")" = "a:0=0 b:0=$count_b" ] || fail "c's merge's interfaces: $(capinfos -M "$WORK/web-c.pcapng")"
comment "$WORK/web-c.pcapng" | grep -q "linecap fleet merge of fleet session web: nodes a, b" ||
    fail "c's merge's comment: $(capinfos -k "$WORK/web-c.pcapng")"
grep -qi '^Content-Disposition: attachment; filename="fleet-web.pcapng"' "$WORK/headers" &&
    ! grep -qi '^Linecap-Missing-Nodes' "$WORK/headers" || fail "c's merge's headers: $(cat "$WORK/headers")"
curl -sf -o "$WORK/web-c.pcap" "$api_c/sessions/web/pcap?format=pcap" || fail "GET .../pcap?format=pcap from c"
cmp -s "$WORK/web.pcap" "$WORK/web-c.pcap" || fail "c's pcap merge differs from fleet merge --format pcap's"
expect_status() {   # STATUS URL MESSAGE: the reply's status and its error
    local got
    got=$(curl -s -o "$WORK/body" -w '%{http_code}' "$2")
    [ "$got" = "$1" ] && jq -e --arg m "$3" '.error == $m' "$WORK/body" >/dev/null ||
        fail "GET $2: $got $(cat "$WORK/body"), expected $1 $3"
}
expect_status 404 "$api_c/sessions/nosuch" "no fleet session nosuch (GET /api/v1/fleet/sessions lists them)"
expect_status 404 "$api_c/sessions/nosuch/pcap" "no fleet session nosuch (linecapctl fleet ls lists them)"
[ "$(curl -s -I -o /dev/null -w '%{http_code}' "$api_c/sessions/nosuch/pcap")" = 404 ] || fail "HEAD of an unknown fleet session's pcap"
# fleet merge's since, until and format: one parse with a session's merge
# and query (core/query_fields.h), so the same words from the URL and from
# linecapctl fleet merge, each naming the field as it spells it; empty is a
# mistake, never "no bound". fleet_words [--as-query] WORDS QUERY
# [OPTION VALUE]...: GET .../fleet/sessions/web/pcap?QUERY is 400 with
# "fleet merge: WORDS" (and, --as-query, c's GET .../sessions/1/query?QUERY
# 400 with "query: WORDS"); linecapctl fleet merge with the options exits 2
# with WORDS, the options named, and makes no file.
fleet_words() {
    local as_query=false rc=0 p words query option_words
    [ "$1" != --as-query ] || { as_query=true; shift; }
    words=$1 query=$2 option_words=$1
    shift 2
    for p in since until format; do option_words=${option_words//\"$p\"/--$p}; done
    expect_status 400 "$api_c/sessions/web/pcap?$query" "fleet merge: $words"
    ! $as_query || expect_status 400 "http://127.0.0.1:${NODE_PORT[c]}/api/v1/sessions/1/query?$query" "query: $words"
    fleet merge web -o "$WORK/x.pcapng" "$@" 2>"$WORK/err" || rc=$?
    [ "$rc" = 2 ] && [ "$(cat "$WORK/err")" = "linecapctl: fleet merge: $option_words" ] && [ ! -e "$WORK/x.pcapng" ] ||
        fail "fleet merge web $*: exit $rc: $(cat "$WORK/err"), want: linecapctl: fleet merge: $option_words"
}
fleet_words --as-query '"since": empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave "since" out for no bound' \
    'since=' --since ''
fleet_words --as-query '"until": empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave "until" out for no bound' \
    'until=' --until ''
fleet_words '"format": empty: give pcap, pcap-ns or pcapng, or leave "format" out for pcapng (one interface per node and port)' \
    'format=' --format ''
fleet_words --as-query '"format": "pcapx" is not a format (pcap, pcap-ns, pcapng)' 'format=pcapx' --format pcapx
fleet_words --as-query '"since" yesterday: not a UTC time: give 2026-11-29T18:53:45Z (ISO 8601; or with its offset from UTC, 2026-11-29T19:53:45+01:00), "2026-11-29 18:53:45" (as linecapctl ls prints it), 20261129T185345Z (as file names have it) or -5m or "5m ago" (5 minutes ago; ms, s, m, h, d)' \
    'since=yesterday' --since yesterday
fleet_words --as-query '"since" -1m is after "until" -2m: no packet can be in between' 'since=-1m&until=-2m' --since -1m --until -2m
# The console of c in Chromium: the fleet's nodes and sessions, web's merged download.
# (console_cdp.py waits for the panel and kills Chromium on its way out; the hook, should it be killed first.)
cleanup_hooks+=('[ ! -s "$WORK/chromium.pid" ] || kill -9 -- "-$(cat "$WORK/chromium.pid")" 2>/dev/null')
/usr/bin/python3 "$(dirname "$0")/console_cdp.py" --fleet "http://127.0.0.1:${NODE_PORT[c]}/" "$WORK" >"$WORK/panel.json" ||
    fail "c's console in Chromium (its log: $(tail -3 "$WORK/chromium.log" 2>/dev/null))"
jq -e '.hidden == false and (.nodes | keys) == ["a", "b", "c", "d"]
    and .sessions.web[0:2] == ["web", "web"] and any(.sessions.web[]; . == "stopped")
    and any(.links[]; . == ["web", "/api/v1/fleet/sessions/web/pcap"])' "$WORK/panel.json" >/dev/null ||
    fail "c's console's fleet panel: $(cat "$WORK/panel.json")"


note "kill -9 of a: gone from the fleet within its 5 s lease; restarted, it does not run a fleet session twice"
kill -9 "${NODE_PID[a]}"
took=$(wait_nodes '([.[].name] | sort) == ["b", "c", "d"]' 8)
note "a gone after $took ms"
[ "$took" -le 6500 ] || fail "a took $took ms to go, its lease is 5 s (and a keep-alive a third of it)"
note "fleet merge all while a is gone: partial (exit 4), a named as missing in the output and in the file's comment"
rc=0; fleet merge all -o "$WORK/all.pcapng" >"$WORK/out" 2>"$WORK/err" || rc=$?
[ "$rc" = 4 ] || fail "fleet merge all without a: exit $rc: $(cat "$WORK/out" "$WORK/err") $(etcdctl --endpoints "$ETCD" get --prefix /linecap/)"
grep -q "linecapctl: fleet merge: node a is missing: not in the fleet now (its lease ran out" "$WORK/err" ||
    fail "fleet merge all without a said: $(cat "$WORK/err")"
grep -qE "^fleet session all: [0-9]+ packets from 3 nodes merged into $WORK/all.pcapng: PARTIAL, 1 node missing$" "$WORK/out" ||
    fail "fleet merge all without a said: $(cat "$WORK/out")"
comment "$WORK/all.pcapng" | grep -q "PARTIAL: node a is missing" || fail "all.pcapng's comment: $(capinfos -k "$WORK/all.pcapng")"
[ "$(idbs "$WORK/all.pcapng" | sed 's/=[0-9]*//g')" = "b:0 c:0 d:0" ] || fail "all.pcapng's interfaces: $(capinfos -M "$WORK/all.pcapng")"
# The same from b's API: the reply names a in Linecap-Missing-Nodes, the file in its comment.
curl -sf -D "$WORK/headers" -o "$WORK/all-b.pcapng" "http://127.0.0.1:${NODE_PORT[b]}/api/v1/fleet/sessions/all/pcap" ||
    fail "GET .../fleet/sessions/all/pcap from b"
grep -qix 'Linecap-Missing-Nodes: a' <(tr -d '\r' <"$WORK/headers") || fail "b's partial merge's headers: $(cat "$WORK/headers")"
comment "$WORK/all-b.pcapng" | grep -q "PARTIAL: node a is missing" || fail "b's partial merge's comment: $(capinfos -k "$WORK/all-b.pcapng")"
start_node a "$WORK/in.pcap" --idle-mode sleep
for _ in $(seq 50); do [ "$(status all a | jq -r .status)" = finished ] && break; sleep 0.1; done
status all a | jq -e '.status == "finished" and .reason == "crashed" and .local_id == "3"' >/dev/null ||
    fail "a's status of all after its restart: $(status all a)"
node_ctl a --json ls | jq -e '[.sessions[] | select(.fleet == "all")] | length == 1' >/dev/null ||
    fail "a ran all twice: $(node_ctl a --json ls)"
rc=0; fleet merge all -o "$WORK/all-back.pcapng" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -qE "^fleet session all: [0-9]+ packets from 4 nodes merged" "$WORK/out" ||
    fail "fleet merge all with a back: exit $rc: $(cat "$WORK/out")"
[ "$(idbs "$WORK/all-back.pcapng" | sed 's/=[0-9]*//g')" = "a:0 b:0 c:0 d:0" ] || fail "all-back.pcapng's interfaces: $(capinfos -M "$WORK/all-back.pcapng")"

note "c and d shut down: gone from the fleet at once (their leases revoked)"
stalled=0   # seconds of slow exits past 5 s (wait_exit): shown, not held against the budget
for name in c d; do
    node_ctl "$name" shutdown >/dev/null
    wait_node_exit "$name"
    stalled=$((stalled + EXIT_STALL))
done
budget=$((budget + stalled))
nodes | jq -e '([.[].name] | sort) == ["a", "b"]' >/dev/null || fail "c or d still listed after its shutdown: $(nodes)"

note "etcd frozen for 12 s (past the 5-s leases) while b captures: nothing lost, one warning, b back, statuses caught up"
counters() { node_ctl b --json show all | jq -c '.session.counters | [.written_packets, .dropped_ring + .dropped_write]'; }
before=$(counters)
kill -STOP "$ETCD_PID"
sleep 12
during=$(counters)
kill -CONT "$ETCD_PID"
took=$(wait_nodes '([.[].name] | sort) == ["a", "b"] and (.[] | select(.name == "b") | .sessions_running == 1)' 10)
note "every node listed again $took ms after etcd answered"
# Written meanwhile, and no drop while etcd was frozen (the test's four
# daemons share two CPUs: a drop before, from that, is not etcd's doing).
jq -en --argjson b "$before" --argjson d "$during" '$d[0] > $b[0] and $d[1] == $b[1]' >/dev/null ||
    fail "b while etcd was frozen: [written, dropped] $before, then $during"
during=$(echo "$during" | jq '.[0]')
# (No status yet, just after etcd came back: none written, not "null".)
for _ in $(seq 30); do [ "$(status all b | jq '.counters.written_packets // 0')" -ge "$during" ] && break; sleep 0.1; done
[ "$(status all b | jq '.counters.written_packets')" -ge "$during" ] || fail "b's status did not catch up: $(status all b)"
[ "$(grep -c "warning: fleet: cannot keep node b's lease alive" "$WORK/b.log")" = 1 ] ||
    fail "b's log should warn once of etcd gone: $(grep fleet "$WORK/b.log")"
grep -q "warning: fleet: node b's lease expired (etcd was out of reach for longer than 5 s): registering again" "$WORK/b.log" ||
    fail "b's log: $(grep fleet "$WORK/b.log")"
[ "$(grep -c "fleet: node b registered in etcd" "$WORK/b.log")" = 2 ] || fail "b's log: $(grep fleet "$WORK/b.log")"

note "fleet rm: refused while running; fleet stop all, then rm (given up after 3 changes of a status in between, done after 1); b shut down: gone from the fleet at once"
rc=0; fleet rm all 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -qF "linecapctl: fleet rm: fleet session all still runs on 1 node (b): stop it first (linecapctl fleet stop all)" "$WORK/err" ||
    fail "fleet rm all while running: exit $rc: $(cat "$WORK/err")"
fleet stop all >"$WORK/out" 2>&1 || fail "fleet stop all: $(cat "$WORK/out")"
fleet_json ls | jq -e '.sessions[] | select(.id == "all") | .nodes_running == 0' >/dev/null ||
    fail "fleet ls after stop all: $(fleet_json ls)"
# rm deletes the keys only if no node's status changed since it read them:
# through a proxy that writes b's status again before each transaction,
# rm tries three times and gives up saying so, the keys left; when only
# the first is met so, its second attempt removes them.
churn_proxy() {   # churn_proxy always|once: starts it; sets CHURN_PID, CHURN_URL
    rm -f "$WORK/churn.port"
    /usr/bin/python3 "$(dirname "$0")/etcd_churn_proxy.py" "$ETCD" /linecap/status/all/b "$1" "$WORK/churn.port" \
        "$WORK/churn.count" 2>"$WORK/churn.err" &
    CHURN_PID=$!
    cleanup_hooks+=("kill $CHURN_PID 2>/dev/null")
    for _ in $(seq 50); do [ -s "$WORK/churn.port" ] && break; sleep 0.1; done
    [ -s "$WORK/churn.port" ] || fail "the etcd proxy did not start: $(cat "$WORK/churn.err")"
    CHURN_URL="http://127.0.0.1:$(cat "$WORK/churn.port")"
}
churn_proxy always
rc=0; "$LINECAPCTL" --etcd "$CHURN_URL" fleet rm all >"$WORK/out" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && [ "$(cat "$WORK/churn.count")" = 3 ] &&
    grep -qxF "linecapctl: fleet rm: fleet session all's statuses changed on its nodes while it was being removed, 3 times: see which node reports it (linecapctl fleet show all), then run linecapctl fleet rm all again" "$WORK/err" ||
    fail "fleet rm all while b's status keeps changing: exit $rc, $(cat "$WORK/churn.count") transactions: $(cat "$WORK/out" "$WORK/err" "$WORK/churn.err")"
# grep reads to the end, not -q: etcdctl writes each key apart, and one
# written after grep -q has gone dies of SIGPIPE, which pipefail fails.
etcdctl --endpoints "$ETCD" get --prefix --keys-only /linecap/ | grep -x /linecap/sessions/all >/dev/null ||
    fail "a refused fleet rm removed the session's key"
kill "$CHURN_PID"; wait "$CHURN_PID" 2>/dev/null || true
churn_proxy once
"$LINECAPCTL" --etcd "$CHURN_URL" fleet rm all >"$WORK/out" 2>"$WORK/err" || fail "fleet rm all, b's status changed once: $(cat "$WORK/out" "$WORK/err" "$WORK/churn.err")"
[ "$(cat "$WORK/churn.count")" = 2 ] || fail "fleet rm all, b's status changed once: $(cat "$WORK/churn.count") transactions, not 2"
kill "$CHURN_PID"; wait "$CHURN_PID" 2>/dev/null || true
left=$(etcdctl --endpoints "$ETCD" get --prefix --keys-only /linecap/) || fail "etcdctl get failed"
echo "$left" | grep -q "^/linecap/nodes/b$" || fail "etcdctl lists no node b: not a test of what is left: $left"
! echo "$left" | grep -qE "^/linecap/(sessions/all|members/all/)" || fail "fleet rm left keys: $left"
fleet_json ls | jq -e '[.sessions[].id] | index("all") == null' >/dev/null || fail "fleet ls after rm: $(fleet_json ls)"
node_ctl b --json ls | jq -e '[.sessions[] | select(.fleet == "all")] | length == 1' >/dev/null ||
    fail "b's own session of all should stay: $(node_ctl b --json ls)"
node_ctl b shutdown >/dev/null
wait_node_exit b
budget=$((budget + EXIT_STALL))
nodes | jq -e '[.[].name] | index("b") == null' >/dev/null || fail "b still listed after its shutdown: $(nodes)"
end_of_test
