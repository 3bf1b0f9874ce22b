#!/usr/bin/env bash
# Mirror collector mode end to end (docs/mirror.md): linecap with "tunnel":
# "inner" keeps exactly the packets whose innermost packet tshark decodes as
# matching, and "decap" writes those inner packets, which tshark then decodes
# as the same five-tuples with no tunnel left. The reference is tshark's own
# dissection of the input (tunnel_reference.py), not linecap's parser.
source "$(dirname "$0")/lib.sh"

REF="$(dirname "$0")/tunnel_reference.py"
# One tshark decoding per capture, whatever the questions asked of it.
export TUNNEL_REFERENCE_CACHE="$WORK/tshark-fields"
"$GEN" -o "$WORK/in.pcap" -n 6000 --profile tunnels --seed 41 --flows 512

# run_spec NAME SPEC [INPUT]: one-shot linecap with the spec, into $WORK/NAME;
# its counters in $WORK/NAME.stats.
run_spec() {
    local name=$1 spec=$2 input=${3:-$WORK/in.pcap}
    echo "$spec" >"$WORK/$name.json"
    rm -rf "${WORK:?}/$name"
    run_linecap "$WORK/$name.log" -l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$input" -- \
        -w "$WORK/$name" -F "$WORK/$name.json" --idle-exit 0.5 --stats-json "$WORK/$name.stats"
    check_counters_add_up "$WORK/$name.stats"
}

# capture NAME SPEC [INPUT]: the same; prints the file written.
capture() {
    run_spec "$@"
    only_file "$WORK/$1"
}

# capture_selected NAME SPEC EXPR [TSHARK-ARGS...]: NAME.want, tshark's
# decoding of the input where EXPR holds (time, inner five-tuple: one line a
# packet, 21 to 5999 of them, or it is not a test); then a capture with SPEC;
# prints the file written.
capture_selected() {
    local name=$1 spec=$2 expr=$3
    shift 3
    local targs=() a
    for a in "$@"; do targs+=(--tshark-arg "$a"); done
    python3 "$REF" "$WORK/in.pcap" "$expr" "${targs[@]}" >"$WORK/$name.want" 2>"$WORK/$name.ref.err" ||
        fail "$name: the tshark reference failed: $(tail -3 "$WORK/$name.ref.err")"
    local want
    want=$(wc -l <"$WORK/$name.want")
    [ "$want" -gt 20 ] && [ "$want" -lt 6000 ] || fail "$name: the reference keeps $want of 6000: not a test"
    capture "$name" "$spec"
}

# check NAME SPEC EXPR [TSHARK-ARGS...]: the packets written (by timestamp,
# in order) are those tshark's decoding of the input selects with EXPR.
check() {
    local name=$1 file
    file=$(capture_selected "$@")
    cut -d' ' -f1 "$WORK/$name.want" >"$WORK/$name.times"
    tshark -r "$file" -T fields -e frame.time_epoch 2>/dev/null >"$WORK/$name.got"
    diff -q "$WORK/$name.times" "$WORK/$name.got" >/dev/null ||
        fail "$name: linecap wrote $(wc -l <"$WORK/$name.got") packets, tshark's reference selects $(wc -l <"$WORK/$name.times") (diff $WORK/$name.times $WORK/$name.got)"
    note "$name: $(wc -l <"$WORK/$name.got") packets, the ones tshark's decoding selects"
}

# check_decap NAME SPEC EXPR [TSHARK-ARGS...]: the same selection, written
# decapsulated: tshark decodes each record as the inner packet (same
# addresses, protocol and ports as the reference), with no tunnel left.
# A spec with "decap": "ip" must give a raw IP file (LINKTYPE_RAW) that
# tcpdump reads too, every record an IP packet; "decap": true an Ethernet one.
check_decap() {
    local name=$1 spec=$2 file
    file=$(capture_selected "$@")
    check_readable "$file"
    python3 "$REF" "$file" 'p.inner' --decapsulated 2>/dev/null >"$WORK/$name.got"
    local want got
    want=$(wc -l <"$WORK/$name.want")
    got=$(wc -l <"$WORK/$name.got")
    [ "$(capinfos -M -c "$file" | awk -F': *' '/Number of packets/ {print $2}')" = "$want" ] ||
        fail "$name: the file does not hold the $want packets of the reference"
    diff -q "$WORK/$name.want" "$WORK/$name.got" >/dev/null ||
        fail "$name: decapsulated packets differ from tshark's inner packets (diff $WORK/$name.want $WORK/$name.got)"
    tshark -r "$file" -T fields -e frame.protocols 2>/dev/null >"$WORK/$name.protocols"
    if grep -Eq 'vxlan|geneve|gre|erspan|ip:ip|ip:ipv6' "$WORK/$name.protocols"; then
        fail "$name: tshark still finds a tunnel in the decapsulated file"
    fi
    if [[ $spec == *'"decap":"ip"'* ]]; then
        capinfos -E "$file" | grep -q 'Raw IP' || fail "$name: the file's link type is not raw IP: $(capinfos -E "$file")"
        [ "$(tcpdump -n -r "$file" 2>/dev/null | wc -l)" = "$want" ] || fail "$name: tcpdump does not read the $want packets"
        if grep -Evq '^raw:ip(v6)?:' "$WORK/$name.protocols"; then
            fail "$name: a record is not an IP packet: $(grep -Evm1 '^raw:ip(v6)?:' "$WORK/$name.protocols")"
        fi
        grep -Eq '^raw:ip(v6)?:(tcp|udp)' "$WORK/$name.protocols" ||
            fail "$name: tshark does not decode the inner protocols"
    else
        grep -Eq '^eth:ethertype:(vlan:ethertype:)?ip(v6)?:(tcp|udp)' "$WORK/$name.protocols" ||
            fail "$name: tshark does not decode the inner protocols"
    fi
    note "$name: $got packets written decapsulated, tshark decodes the same inner five-tuples"
}

check_decap web-inner-decap \
    '{"name":"web","tunnel":"inner","vxlan_ports":[4789,8472],"match":[{"protocols":["tcp"],"dst_ports":[80]}],"decap":true}' \
    'p.inner and p.proto == 6 and p.dport == 80' -d udp.port==8472,vxlan

# The same packets as inner IP packets in a raw IP pcapng (one interface of
# link type RAW, which libpcap reads; several link types in one file it does not).
check_decap web-inner-decap-ip \
    '{"name":"web","tunnel":"inner","vxlan_ports":[4789,8472],"match":[{"protocols":["tcp"],"dst_ports":[80]}],"decap":"ip","format":"pcapng"}' \
    'p.inner and p.proto == 6 and p.dport == 80' -d udp.port==8472,vxlan

check dns-by-vni \
    '{"tunnel":"inner","vni":["100-200"],"match":[{"protocols":["udp"],"dst_ports":[53]},{"protocols":["udp"],"src_ports":[53]}]}' \
    'p.inner and p.proto == 17 and 53 in (p.sport, p.dport) and p.id is not None and 100 <= p.id <= 200'

check outer-and-inner \
    '{"tunnel":"inner","outer":{"src":["192.0.2.2"]},"match":[{"src":["10.0.0.0/15"],"bidirectional":true}]}' \
    'p.inner and p.outer_src == ipaddress.ip_address("192.0.2.2") and p.family == 4 and (p.src in ip("10.0.0.0/15") or p.dst in ip("10.0.0.0/15"))'

check_decap ipv6-inner-decap \
    '{"tunnel":"inner","match":[{"src":["2001:db8::/46"]}],"decap":true,"snaplen":0}' \
    'p.inner and p.family == 6 and p.src in ip("2001:db8::/46")'

check_decap ipv6-inner-decap-ip \
    '{"tunnel":"inner","match":[{"src":["2001:db8::/46"]}],"decap":"ip","snaplen":0}' \
    'p.inner and p.family == 6 and p.src in ip("2001:db8::/46")'

check every-inner-packet \
    '{"tunnel":"inner","match":[{"protocols":["tcp","udp","icmp","icmpv6"]}]}' \
    'p.inner and p.proto in (1, 6, 17, 58)'

note "the snap length applies to the decapsulated packet"
file=$(capture snap '{"tunnel":"inner","decap":true,"snaplen":64,"match":[{"protocols":["tcp"]}]}')
tshark -r "$file" -T fields -e frame.cap_len -e frame.len 2>/dev/null >"$WORK/snap.lens"
awk '$1 > 64 || ($2 <= 64 && $1 != $2) { bad = 1 } $2 > 64 { long++ } END { exit bad || long < 10 }' "$WORK/snap.lens" ||
    fail "snap: records are not cut at 64 bytes of the inner packet: $(head -3 "$WORK/snap.lens")"
python3 "$REF" "$WORK/in.pcap" 'p.inner and p.proto == 6' 2>/dev/null | cut -d' ' -f1 >"$WORK/snap.want"
[ "$(wc -l <"$WORK/snap.lens")" = "$(wc -l <"$WORK/snap.want")" ] || fail "snap: wrong packet count"

note "outer sessions are unchanged: tcp port 80 on the outer headers only"
file=$(capture outer-only '{"match":[{"protocols":["tcp"],"dst_ports":[80]}]}')
tcpdump -r "$WORK/in.pcap" -w "$WORK/outer-only.ref" '(tcp dst port 80) or (vlan and tcp dst port 80)' 2>/dev/null
"$COMPARE" "$WORK/outer-only.ref" "$file" >/dev/null || fail "outer-only: differs from tcpdump"

# Declared lengths bound what is read (docs/mirror.md, "What bounds what"):
# inputs built byte by byte (tunnel_edges.py), each run against what its
# construction says, not against linecap's parser.
python3 "$(dirname "$0")/tunnel_edges.py" "$WORK"
# lengths NAME: "caplen/len" of each record NAME's capture wrote, in order.
lengths() {
    tshark -r "$(only_file "$WORK/$1")" -T fields -e frame.cap_len -e frame.len 2>/dev/null | tr '\t' / | paste -sd' '
}
written() {
    json "$WORK/$1.stats" .written_packets
}

note "tunnels with no inner byte, padded to 60 bytes: the padding is no inner packet"
# Only the last frame has an inner packet: the mirrored host's IPv4/GRE
# frame, padded by its own NIC, which holds no second one.
capture padded-frame '{"tunnel":"inner","decap":true}' "$WORK/padded.pcap" >/dev/null
[ "$(lengths padded-frame)" = "60/60" ] || fail "padded: decap wrote $(lengths padded-frame), not the one inner frame (60/60)"
capture padded-ip '{"tunnel":"inner","decap":"ip"}' "$WORK/padded.pcap" >/dev/null
[ "$(lengths padded-ip)" = "24/24" ] || fail "padded: decap ip wrote $(lengths padded-ip), not the one inner IP packet (24/24)"
for spec in '{"tunnel":"inner","match":[{"src":["0.0.0.0/8"]}]}' '{"tunnel":"inner","vni":[150]}'; do
    run_spec padded-zero "$spec" "$WORK/padded.pcap"
    [ "$(written padded-zero)" = 0 ] || fail "padded: $spec wrote $(written padded-zero) packets of the padding"
    [ "$(json "$WORK/padded-zero.stats" .rx_packets)" = 10 ] || fail "padded: not the 10 frames received"
done
note "padded: one inner packet in 10 frames; nothing of the padding matched"

note "inner frames cut before encapsulation: the record's original length is the inner packet's"
capture cut-frame '{"tunnel":"inner","decap":true}' "$WORK/cut.pcap" >/dev/null
capture cut-ip '{"tunnel":"inner","decap":"ip"}' "$WORK/cut.pcap" >/dev/null
want_frame=$(cut -d' ' -f1 "$WORK/cut.expect" | paste -sd' ')
want_ip=$(cut -d' ' -f2 "$WORK/cut.expect" | paste -sd' ')
[ "$(lengths cut-frame)" = "$want_frame" ] || fail "cut: decap wrote $(lengths cut-frame), expected $want_frame"
[ "$(lengths cut-ip)" = "$want_ip" ] || fail "cut: decap ip wrote $(lengths cut-ip), expected $want_ip"
# Readers see captures cut by a snap length, not damaged packets.
for name in cut-frame cut-ip; do
    file=$(only_file "$WORK/$name")
    if tcpdump -nvr "$file" 2>&1 | grep -E 'truncated|bytes missing' >/dev/null; then
        fail "$name: tcpdump reads a damaged packet: $(tcpdump -nvr "$file" 2>&1 | grep -Em1 'truncated|bytes missing')"
    fi
    if tshark -r "$file" -T fields -e _ws.expert.message 2>/dev/null | grep -E 'Malformed|exceeds' >/dev/null; then
        fail "$name: tshark reads a malformed packet"
    fi
done
note "cut: frame $want_frame; ip $want_ip; tcpdump and tshark read no damaged packet"

note "outer sessions: a short packet's padding is neither its ports nor its payload"
capture outer-port0 '{"match":[{"dst_ports":[0]}]}' "$WORK/outer.pcap" >/dev/null
[ "$(lengths outer-port0)" = "60/60" ] || fail "outer: port 0 took $(written outer-port0) packets, not the one real one"
capture outer-get '{"payload":{"patterns":["GET /"]}}' "$WORK/outer.pcap" >/dev/null
[ "$(lengths outer-get)" = "71/71" ] || fail "outer: \"GET /\" took $(written outer-get) packets, not the one real one"

# The tcpdump corpus's tunnel captures (frames over 64 KiB left out, as in
# filter.sh): every inner IP packet tshark finds, written decapsulated.
if [ -d "$CORPUS" ]; then
    mapfile -t captures < <(find "$CORPUS" -maxdepth 1 \( -name '*vxlan*' -o -name '*geneve*' -o -name 'erspan*' -o -name '*gre*' \) -name '*.pcap' | sort)
    mergecap -a -F pcap -w "$WORK/corpus-all.pcap" "${captures[@]}" 2>/dev/null
    tcpdump -r "$WORK/corpus-all.pcap" -w "$WORK/corpus.pcap" 'less 65535' 2>/dev/null
    file=$(capture corpus '{"tunnel":"inner","decap":true,"match":[{"src":["0.0.0.0/0"]},{"src":["::/0"]}]}' "$WORK/corpus.pcap")
    check_readable "$file"
    python3 "$REF" "$WORK/corpus.pcap" 'p.inner' 2>/dev/null | cut -d' ' -f2- >"$WORK/corpus.want"
    python3 "$REF" "$file" 'p.inner' --decapsulated 2>/dev/null | cut -d' ' -f2- >"$WORK/corpus.got"
    [ "$(wc -l <"$WORK/corpus.want")" -gt 50 ] || fail "corpus: only $(wc -l <"$WORK/corpus.want") inner packets: not a test"
    diff "$WORK/corpus.want" "$WORK/corpus.got" >&2 || fail "corpus: inner packets differ from tshark's"
    note "corpus: $(wc -l <"$WORK/corpus.got") inner packets of $("$COUNT" "$WORK/corpus.pcap"), the ones tshark decodes"
    # The same, as raw IP: every inner IP packet, nothing else (inner ARP and
    # other non-IP inner frames are left out: a raw IP file cannot hold them).
    file=$(capture corpus-ip '{"tunnel":"inner","decap":"ip"}' "$WORK/corpus.pcap")
    check_readable "$file"
    python3 "$REF" "$file" 'p.inner' --decapsulated 2>/dev/null | cut -d' ' -f2- >"$WORK/corpus-ip.got"
    diff "$WORK/corpus.want" "$WORK/corpus-ip.got" >&2 || fail "corpus-ip: inner packets differ from tshark's"
    [ "$("$COUNT" "$file")" = "$(wc -l <"$WORK/corpus.want")" ] || fail "corpus-ip: packets that are not inner IP packets"
    note "corpus-ip: the same $(wc -l <"$WORK/corpus-ip.got") inner packets as raw IP"
else
    note "SKIP the corpus part: no corpus at $CORPUS"
fi
echo PASS
