#!/usr/bin/env bash
# Mirror collector mode in the daemon (docs/mirror.md): six sessions started
# with linecapctl on a running daemon, over endless replayed tunnel traffic
# (net_pcap, infinite_rx), all running at once in one classifier:
#
#   web-decap   "tunnel": "inner", inner TCP to port 80, written decapsulated
#   web-whole   the same rule, without decap: the whole mirrored frames
#   web-ip      the same rule, "decap": "ip": inner IP packets in a raw IP
#               file, merged over the socket (linecapctl merge); started
#               with linecapctl's options only (--tunnel, --decap, ...)
#   outer-443   an outer session, TCP to 10.6.0.0/16 port 443: plain frames
#               only, never a tunnel whose inner packet goes there
#   dns-vni     inner DNS queries of VNI/key/session 42 or 100-140 (the
#               rule given as linecapctl options, the rest in the file)
#   icmp6-snap  inner ICMPv6 from 2001:db8:5::/48, decapsulated, snap 96
#
# `linecapctl watch` of web-decap and web-ip, while all six run: every line
# is the inner packet of a record the session wrote, with its length.
#
# Each session's files are checked with capinfos and tshark against tshark's
# own decoding of the input (tunnel_reference.py, tcpdump for the outer
# session), not against linecap's parser: decap files hold inner frames
# (Ethernet link type, or raw IP for "ip"; the inner protocols decoded, no
# tunnel left, every inner packet the reference selects), the others whole input frames, byte
# for byte. Per session, matched = written + ring + write + limit drops, and
# the files hold exactly the written count.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
REF="$(dirname "$0")/tunnel_reference.py"
# One tshark decoding per capture, whatever the questions asked of it.
export TUNNEL_REFERENCE_CACHE="$WORK/tshark-fields"
DECODE=(--tshark-arg -d --tshark-arg udp.port==8472,vxlan)   # 8472: Linux's VXLAN port

# The input: 6000 tunnelled frames (every kind, µs apart, so a time names
# one frame) and 18000 small plain ones, so that each session keeps well
# under 1% of what the worker sees (about 10 Mpps here: 0.5 s is ~20 MB a
# session).
"$GEN" -o "$WORK/tunnels.pcap" -n 6000 --profile tunnels --seed 43 --flows 512 --gap-ns 1000 --fixed-gap
"$GEN" -o "$WORK/plain.pcap" -n 18000 --profile 64 --seed 44 --start-offset-ns 1000000000000
mergecap -a -F pcap -w "$WORK/in.pcap" "$WORK/tunnels.pcap" "$WORK/plain.pcap"

# frames GOT MODE WANT [TIMES]: compares the distinct frames (their bytes)
# of capture GOT with those of WANT: MODE "equal" (the same set), "from"
# (WANT's frames at the times listed in TIMES, one per line, as tshark
# prints them: the same set; every record of GOT whole), or "decap" (each
# record is the tail of one of those frames, as long as the record's
# original length says, perhaps after a made-up Ethernet header of zero
# MACs and the tail's IP ethertype; cut at the snap length; every selected
# frame has a record).
frames() {
    python3 - "$@" <<'PY' || fail "frames $*"
import struct, sys

def records(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xa1b2c3d4, 0xa1b23c4d):
        sys.exit(f"{path}: not a little-endian pcap file")
    scale = 1000 if magic == 0xa1b2c3d4 else 1
    at = 24
    while at + 16 <= len(data):
        sec, frac, cap, length = struct.unpack("<IIII", data[at:at + 16])
        yield f"{sec}.{frac * scale:09d}", data[at + 16:at + 16 + cap], length
        at += 16 + cap

def tail_of(frame, record, length):
    """Is the record (bytes, original length) the frame's tail, decapsulated?"""
    for made_up in (0, 14):
        if made_up and not (record[:12] == bytes(12) and length > 14):
            continue
        tail_len = length - made_up
        if not 0 < tail_len < len(frame):
            continue
        tail = frame[len(frame) - tail_len:]
        if made_up and record[12:14] != (b"\x08\x00" if tail[0] >> 4 == 4 else b"\x86\xdd"):
            continue
        if tail[:len(record) - made_up] == record[made_up:]:
            return True
    return False

got_path, mode, want_path = sys.argv[1:4]
got = list(records(got_path))
if mode == "decap":
    times = set(open(sys.argv[4]).read().split())
    want = {frame for t, frame, _ in records(want_path) if t in times}
    hit = set()
    for record, length in {(frame, length) for _, frame, length in got}:
        owners = [f for f in want if tail_of(f, record, length)]
        if not owners:
            sys.exit(f"{got_path}: a record ({len(record)} of {length} bytes) is the inner tail of no selected frame")
        hit.update(owners)
    if hit != want:
        sys.exit(f"{got_path}: {len(want - hit)} of the {len(want)} selected frames have no decapsulated record")
    print(f"{len(got)} records, each the inner tail of one of the {len(want)} selected frames, all of them there")
    sys.exit(0)
if not all(len(frame) == length for _, frame, length in got):
    sys.exit(f"{got_path}: records cut short: not the whole frames")
if mode == "equal":
    want = {frame for _, frame, _ in records(want_path)}
else:
    times = set(open(sys.argv[4]).read().split())
    want = {frame for t, frame, _ in records(want_path) if t in times}
    if len(want) != len(times):
        sys.exit(f"{want_path}: {len(times)} times name {len(want)} distinct frames")
have = {frame for _, frame, _ in got}
if have != want:
    sys.exit(f"{got_path}: {len(have - want)} frames not selected, {len(want - have)} selected frames missing "
             f"(of {len(want)})")
print(f"{len(got)} records, the {len(want)} distinct frames selected")
PY
}

# reference NAME EXPR [ARGS]: tshark's decoding of the input, the packets for
# which EXPR holds: NAME.want (time, then the inner five-tuple).
reference() {
    local name=$1 expr=$2
    shift 2
    python3 "$REF" "$WORK/in.pcap" "$expr" "${DECODE[@]}" "$@" 2>/dev/null >"$WORK/$name.want"
    local n
    n=$(wc -l <"$WORK/$name.want")
    [ "$n" -ge 20 ] && [ "$n" -le 2000 ] || fail "$name: the reference selects $n of 24000 frames: not a test"
}

# one_file ID: the session's one file (one writer), as record_session_files
# kept it.
one_file() {
    local files
    mapfile -t files <"$WORK/files-$1"
    [ "${#files[@]}" = 1 ] || fail "session $1: ${#files[@]} files, expected one"
    echo "${files[0]}"
}

# sample FILE: a copy of FILE's first $SAMPLE records, which the decoding
# checks below read. The port replays its file in order, so any run of
# records that long holds every frame a session selects many times over (a
# session keeps at most 2000 of each 24000 frames, and some 100 000 records
# in the seconds it runs: tshark and Python take minutes over all of them);
# capinfos has read every record of the whole file (check_recorded_files).
SAMPLE=10000
sample() {
    local out format=pcap
    out="$WORK/sample-$(basename "$1")"
    # In the input's own format (editcap writes pcapng unless told).
    [ "$(od -An -tx4 -N4 "$1" | tr -d ' ')" != a1b23c4d ] || format=nsecpcap
    editcap -F "$format" -r "$1" "$out" "1-$SAMPLE" || fail "editcap could not take the first $SAMPLE records of $1"
    echo "$out"
}

# check_tuples NAME FILE EXPR [--decapsulated]: every record of FILE is one
# tshark decodes with EXPR holding, and together they hold every inner
# five-tuple of the reference NAME.want.
check_tuples() {
    local name=$1 file=$2 expr=$3
    shift 3
    python3 "$REF" "$file" "$expr" "${DECODE[@]}" "$@" 2>/dev/null >"$WORK/$name.got"
    local records lines
    records=$("$COUNT" "$file")
    lines=$(wc -l <"$WORK/$name.got")
    [ "$lines" = "$records" ] || fail "$name: tshark finds $lines of the $records records as selected"
    cut -d' ' -f2- "$WORK/$name.want" | sort -u >"$WORK/$name.want.tuples"
    cut -d' ' -f2- "$WORK/$name.got" | sort -u >"$WORK/$name.got.tuples"
    diff "$WORK/$name.want.tuples" "$WORK/$name.got.tuples" >&2 ||
        fail "$name: the inner five-tuples written differ from tshark's reference"
}

# check_decapsulated NAME FILE PROTOCOLS [LINK]: link type LINK (capinfos'
# short name; default ether), tshark decodes each record's protocols as
# PROTOCOLS (a regex from the link layer on) with no tunnel.
check_decapsulated() {
    local name=$1 file=$2 protocols=$3 want_link=${4:-ether}
    local link
    link=$(capinfos -T -r -E "$file" | cut -f2)
    [ "$link" = "$want_link" ] || fail "$name: link type $link, not $want_link"
    tshark -r "$file" -T fields -e frame.protocols 2>/dev/null >"$WORK/$name.protocols"
    if grep -Eq 'vxlan|geneve|gre|erspan|ip:ip|ip:ipv6|ipv6:ip' "$WORK/$name.protocols"; then
        fail "$name: tshark still finds a tunnel in the decapsulated file: $(grep -Em1 'vxlan|geneve|gre|erspan|ip:ip|ipv6:ip' "$WORK/$name.protocols")"
    fi
    if grep -Evq "^$protocols" "$WORK/$name.protocols"; then
        fail "$name: a record tshark decodes as $(grep -Evm1 "^$protocols" "$WORK/$name.protocols"), not $protocols"
    fi
}

# check_watch NAME ID FILE: the lines `watch ID` printed describe what the
# session writes (FILE, its records): each is the inner packet of a record,
# TCP to port 80, with the record's five-tuple and original length, never
# the mirrored frame's outer headers.
check_watch() {
    local name=$1 id=$2 file=$3
    tshark -r "$file" -T fields -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport -e frame.len 2>/dev/null |
        awk '{print $1 "." $2 " > " $3 "." $4 " length " $5}' | sort -u >"$WORK/$name.records"
    local lines
    lines=$(wc -l <"$WORK/watch-$id.out")
    [ "$lines" -ge 5 ] || fail "$name: watch printed $lines lines: not a test ($(cat "$WORK/watch-$id.err"))"
    grep -Evq '^[0-9:.]+ IPv4 [0-9.]+ > [0-9.]+\.80: TCP \[[A-Z.]+\] length [0-9]+$' "$WORK/watch-$id.out" &&
        fail "$name: a watch line is not the inner TCP packet: $(grep -Evm1 '^[0-9:.]+ IPv4 [0-9.]+ > [0-9.]+\.80: TCP' "$WORK/watch-$id.out")"
    sed -E 's/^[0-9:.]+ IPv4 //; s/: TCP \[[A-Z.]+\]//' "$WORK/watch-$id.out" | sort -u >"$WORK/$name.lines"
    comm -23 "$WORK/$name.lines" "$WORK/$name.records" >"$WORK/$name.strays"
    [ ! -s "$WORK/$name.strays" ] ||
        fail "$name: $(wc -l <"$WORK/$name.strays") watch lines describe no record written, e.g. $(head -1 "$WORK/$name.strays")"
    note "$name: $lines watch lines, each a record's inner packet and length"
}

start_daemon
watchers=()
# spec NAME JSON [OPTIONS]: starts a session from JSON as a spec file, with
# linecapctl's options besides; prints its id.
spec() {
    echo "$2" >"$WORK/$1.json"
    ctl --json start "$WORK/$1.json" "${@:3}" | jq -r .id
}
inner_web='"match":[{"protocols":["tcp"],"dst_ports":[80],"src":["10.0.0.0/15"]}]'
decap=$(spec web-decap '{"name":"web-decap","tunnel":"inner","vxlan_ports":[4789,8472],'"$inner_web"',"decap":true}')
whole=$(spec web-whole '{"name":"web-whole","tunnel":"inner","vxlan_ports":[4789,8472],'"$inner_web"'}')
# The same rule with linecapctl's options alone, mirror fields included.
raw=$(ctl --json start --name web-ip --tunnel inner --vxlan-port 4789 --vxlan-port 8472 --decap ip \
    --proto tcp --dst-port 80 --src 10.0.0.0/15 | jq -r .id)
outer=$(spec outer-443 '{"name":"outer-443","match":[{"protocols":["tcp"],"dst_ports":[443],"dst":["10.6.0.0/16"]}]}')
# The mirror fields from the file, the inner rule from linecapctl's options.
vni=$(spec dns-vni '{"tunnel":"inner","vxlan_ports":[4789,8472],"vni":[42,"100-140"]}' \
    --name dns-vni --proto udp --dst-port 53)
snap=$(spec icmp6-snap '{"name":"icmp6-snap","tunnel":"inner","vxlan_ports":[4789,8472],"decap":true,"snaplen":96,
                         "match":[{"protocols":["icmpv6"],"src":["2001:db8:5::/48"]}]}')
ids=("$decap" "$whole" "$raw" "$outer" "$vni" "$snap")
# A mirror option without --tunnel inner: one line, before a round trip.
err=$(ctl start --name stray --vni 7 2>&1) && fail "a --vni session without --tunnel inner started"
[[ $err == *'vni: needs "tunnel": "inner"'* ]] || fail "--vni without --tunnel inner: $err"
running=$(ctl --json ls | jq '[.sessions[] | select(.status == "running")] | length')
[ "$running" = 6 ] || fail "$running sessions running after six starts"
note "six sessions running at once: ${ids[*]}"
# Watch the two decapsulating sessions while they run (they see the same
# packets: the samples take turns); the watchers end with their sessions.
for id in "$decap" "$raw"; do
    timeout 60 "$LINECAPCTL" --socket "$SOCK" watch "$id" >"$WORK/watch-$id.out" 2>"$WORK/watch-$id.err" &
    watchers+=($!)
done
check_worker_totals 20
for id in "${ids[@]}"; do ctl stop "$id" >/dev/null; done
for id in "${ids[@]}"; do wait_ended "$id"; done
for w in "${watchers[@]}"; do wait "$w" || fail "a watch did not end with its session"; done

for id in "${ids[@]}"; do
    check_session_counters "$id"
    [ "$written" -gt 100 ] || fail "session $id wrote $written packets: not a test"
    [ "$reason" = user ] || fail "session $id ended with $reason"
    record_session_files "$id"
done
ctl merge "$raw" -o "$WORK/web-ip.pcap" >/dev/null
# The files are read with the daemon gone: its worker polls the endless
# port to the end, and the readers would share the other core.
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"

note "counters: matched = written + drops, per session; the files hold the written packets"
for id in "${ids[@]}"; do check_recorded_files "$id"; done

web='p.inner and p.family == 4 and p.proto == 6 and p.dport == 80 and p.src in ip("10.0.0.0/15")'
reference web "$web"
cut -d' ' -f1 "$WORK/web.want" >"$WORK/web.times"

note "web-decap: inner Ethernet frames, TCP to port 80 decoded, every inner flow of the reference"
file=$(sample "$(one_file "$decap")")
check_decapsulated web-decap "$file" 'eth:ethertype:(vlan:ethertype:)?ip:tcp'
check_tuples web "$file" 'p.inner' --decapsulated
note "web-decap: $(frames "$file" decap "$WORK/in.pcap" "$WORK/web.times")"

check_watch web-decap-watch "$decap" "$file"

note "web-whole: the whole mirrored frames, the tunnel still in them"
file=$(sample "$(one_file "$whole")")
check_tuples web "$file" "$web"
note "web-whole: $(frames "$file" from "$WORK/in.pcap" "$WORK/web.times")"

note "web-ip: inner IP packets (no Ethernet, no VLAN tag) in a raw IP file, merged over the socket"
file=$(sample "$WORK/web-ip.pcap")
check_decapsulated web-ip "$file" 'raw:ip:tcp' rawip
[ "$(tcpdump -n -r "$file" 2>/dev/null | wc -l)" = "$("$COUNT" "$file")" ] || fail "web-ip: tcpdump does not read every record"
check_tuples web "$file" 'p.inner' --decapsulated
note "web-ip: $(frames "$file" decap "$WORK/in.pcap" "$WORK/web.times")"
check_watch web-ip-watch "$raw" "$file"

note "outer-443: the outer headers only; frames with an inner packet to 443 are not its"
file=$(sample "$(one_file "$outer")")
web443='tcp dst port 443 and dst net 10.6.0.0/16'
tcpdump -r "$WORK/in.pcap" -w "$WORK/outer.ref" "($web443) or (vlan and $web443)" 2>/dev/null
[ "$("$COUNT" "$WORK/outer.ref")" -ge 10 ] || fail "outer-443: tcpdump selects too few frames: not a test"
python3 "$REF" "$WORK/in.pcap" 'p.inner and p.proto == 6 and p.dport == 443 and p.dst in ip("10.6.0.0/16")' \
    "${DECODE[@]}" 2>/dev/null | wc -l | xargs test 20 -le ||
    fail "outer-443: the input has too few inner packets to 10.6.0.0/16 port 443: not a test"
note "outer-443: $(frames "$file" equal "$WORK/outer.ref")"
python3 "$REF" "$file" 'p.inner' "${DECODE[@]}" 2>/dev/null | wc -l | xargs test 0 -eq ||
    fail "outer-443: a tunnelled frame was written"

note "dns-vni: whole frames, inner DNS queries of the listed tunnel ids only"
dns='p.inner and p.proto == 17 and p.dport == 53 and p.id is not None and (p.id == 42 or 100 <= p.id <= 140)'
reference dns "$dns"
cut -d' ' -f1 "$WORK/dns.want" >"$WORK/dns.times"
file=$(sample "$(one_file "$vni")")
check_tuples dns "$file" "$dns"
note "dns-vni: $(frames "$file" from "$WORK/in.pcap" "$WORK/dns.times")"

note "icmp6-snap: inner ICMPv6 decapsulated (inner frames and inner IPv6 packets alike), cut at 96 bytes"
icmp6='p.inner and p.family == 6 and p.proto == 58 and p.src in ip("2001:db8:5::/48")'
reference icmp6 "$icmp6"
cut -d' ' -f1 "$WORK/icmp6.want" >"$WORK/icmp6.times"
file=$(sample "$(one_file "$snap")")
check_decapsulated icmp6-snap "$file" 'eth:ethertype:(vlan:ethertype:)?ipv6:icmpv6'
check_tuples icmp6 "$file" 'p.inner' --decapsulated
note "icmp6-snap: $(frames "$file" decap "$WORK/in.pcap" "$WORK/icmp6.times")"
tshark -r "$file" -T fields -e frame.cap_len -e frame.len 2>/dev/null >"$WORK/snap.lens"
awk '$1 > 96 || ($2 <= 96 && $1 != $2) || ($2 > 96 && $1 != 96) { bad = 1 } $2 > 96 { long++ }
     END { exit bad || long < 10 }' "$WORK/snap.lens" ||
    fail "icmp6-snap: records not cut at 96 bytes of the inner frame: $(head -3 "$WORK/snap.lens")"
# Inner IPv6 packets (GRE, GENEVE, IP-in-IP) get a made-up Ethernet header:
# zero MAC addresses, so both kinds are in the test.
tshark -r "$file" -T fields -e eth.src 2>/dev/null | sort -u >"$WORK/snap.macs"
grep -qx '00:00:00:00:00:00' "$WORK/snap.macs" && grep -vqx '00:00:00:00:00:00' "$WORK/snap.macs" ||
    fail "icmp6-snap: not both inner frames and inner IP packets: MACs $(tr '\n' ' ' <"$WORK/snap.macs")"

echo PASS
