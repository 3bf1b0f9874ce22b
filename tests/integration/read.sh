#!/usr/bin/env bash
# linecap -r FILE against tcpdump -r FILE, frame by frame: every capture of
# tcpdump's corpus (pcap and pcapng, real and malformed, frames up to 80 KB)
# under no filter, len/greater/less expressions and five-tuple ones, with
# timestamps to the nanosecond, captured and original lengths and bytes;
# then nanosecond pcap and pcapng inputs, the Y2038 case, a snapped file, a
# torn file, files that are not captures, and the accounting.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CASES=$(cd "$(dirname "$CORPUS")/../cases" 2>/dev/null && pwd || true)

# lc LOG OPTIONS...: linecap -r ..., which must exit 0.
lc() {
    local log=$1
    shift
    run_linecap "$log" -l 0-1 "${EAL_TEST[@]}" -- "$@"
}

# tcpdump's selection of one file at nanosecond precision.
tcpdump_ns() {   # tcpdump_ns IN OUT [EXPR]
    tcpdump --time-stamp-precision=nano -r "$1" -w "$2" ${3:+"$3"} 2>/dev/null
}

packets() { "$COUNT" "$@"; }

if [ -d "$CORPUS" ]; then
    mapfile -t files < <(find "$CORPUS" -maxdepth 1 -name '*.pcap*' | sort)
    [ "${#files[@]}" -gt 400 ] || fail "expected the 434 corpus captures, found ${#files[@]}"

    # Files libpcap itself refuses (or cannot read to the end) are expected
    # errors: one line naming the file, and what came before it written.
    readable=()
    for f in "${files[@]}"; do
        if tcpdump -r "$f" -w /dev/null 2>/dev/null; then
            readable+=("$f")
            continue
        fi
        rc=0
        timeout 60 "$LINECAP" -l 0-1 "${EAL_TEST[@]}" -- -r "$f" -w "$WORK/refused" >"$WORK/refused.log" 2>&1 || rc=$?
        [ "$rc" != 0 ] || fail "libpcap refuses $f, linecap -r read it without an error"
        grep -q "^linecap: .*$f" "$WORK/refused.log" || { cat "$WORK/refused.log"; fail "no error naming $f"; }
        note "libpcap refuses $(basename "$f"): so does linecap -r, by name"
        rm -rf "$WORK/refused"
    done
    total=$(packets "${readable[@]}")
    note "${#readable[@]} of ${#files[@]} captures readable, $total frames"

    # The records linecap reads differently from tcpdump, on purpose
    # (docs/architecture.md): tcpdump's reference reads copies with those
    # fields as linecap reads them. Exactly these, so a corpus that grows
    # another such record fails here rather than passing unexamined.
    mkdir "$WORK/normal"
    python3 "$HERE/normalise_captures.py" "$WORK/normal" "${readable[@]}" >"$WORK/normal.txt" ||
        { cat "$WORK/normal.txt"; fail "a corpus capture holds a record the normaliser cannot rewrite"; }
    cat >"$WORK/normal.want" <<'EOF'
pim_header_asan-2.pcap record 3: original length 0 -> 4
rsvp-rsvp_obj_print-oobr.pcap record 2: original length 0 -> 47
rx_serviceid_oobr.pcap record 2: time 0 s + 3841916976 -> 3841 s + 916976
EOF
    diff "$WORK/normal.want" "$WORK/normal.txt" >&2 || fail "the corpus's malformed lengths and times are not the three known ones"
    references=()
    for f in "${readable[@]}"; do
        n="$WORK/normal/${f##*/}"
        [ -e "$n" ] && references+=("$n") || references+=("$f")
    done
    read_args=()
    for f in "${readable[@]}"; do read_args+=(-r "$f"); done

    # corpus NAME SNAPLEN [EXPR]: one linecap run over every file, against
    # tcpdump's (tcpdump -V reads the files after the first at microsecond
    # precision, so it cannot be the reference). Unfiltered, tcpdump rewrites
    # each file at nanosecond precision, and mergecap lays the copies end to
    # end into one file ($WORK/corpus-ns.pcap: the corpus is all Ethernet);
    # with EXPR, tcpdump selects from that file in one run rather than
    # 430.
    corpus() {
        local name=$1 snaplen=$2 expr=${3:-}
        local out="$WORK/c-$name"
        lc "$out.log" "${read_args[@]}" -w "$out" -s "$snaplen" --stats-json "$out.json" ${expr:+--bpf "$expr"}
        mkdir "$out.ref"
        : >"$out.list"
        if [ -n "$expr" ]; then
            [ -f "$WORK/corpus-ns.pcap" ] || fail "corpus $name: run the unfiltered corpus first"
            echo "$out.ref/1.pcap" >"$out.list"
            tcpdump_ns "$WORK/corpus-ns.pcap" "$out.ref/1.pcap" "$expr" || fail "tcpdump cannot select $expr"
        else
            local i=0 f
            for f in "${references[@]}"; do
                i=$((i + 1))
                echo "$out.ref/$i.pcap" >>"$out.list"
                printf '%s\0%s\0' "$f" "$out.ref/$i.pcap"
            done | xargs -0 -n 2 -P "$(nproc)" sh -c \
                'tcpdump --time-stamp-precision=nano -r "$1" -w "$2" 2>/dev/null || { echo "tcpdump cannot read $1" >&2; exit 255; }' tcpdump_ns ||
                fail "tcpdump could not make the references (above)"
            [ -f "$WORK/corpus-ns.pcap" ] || {
                mapfile -t list <"$out.list"
                mergecap -a -F nsecpcap -w "$WORK/corpus-ns.pcap" "${list[@]}"
                # The file holds the copies record for record.
                "$COMPARE" --expected-list "$out.list" "$WORK/corpus-ns.pcap" >/dev/null ||
                    fail "mergecap's corpus-ns.pcap differs from the copies it was made of (above)"
            }
        fi
        local want got
        want=$(packets "$out.ref"/*.pcap)
        got=$(json "$out.json" .written_packets)
        if [ -z "$expr" ]; then
            [ "$want" = "$total" ] || fail "$name: tcpdump wrote $want of $total frames"
        else
            [ "$want" -gt 0 ] && [ "$want" -lt "$total" ] || fail "$name: tcpdump keeps $want of $total: not a test"
        fi
        [ "$got" = "$want" ] || fail "$name: linecap wrote $got frames, tcpdump $want"
        "$COMPARE" --expected-list "$out.list" "$(only_file "$out")" --snaplen "$snaplen" >/dev/null ||
            fail "corpus $name: linecap -r and tcpdump -r disagree (above)"
        check_counters_add_up "$out.json"
        [ "$(json "$out.json" '[.rx_packets, .ports[0].rx_packets, .filtered_packets + .matched_packets] | unique | .[]')" = "$total" ] ||
            fail "$name: not every frame was received once"
        [ "$(json "$out.json" '.stop_reason + " " + .ports[0].timestamps')" = "end_of_file file" ] ||
            fail "$name: stop reason or timestamp source wrong"
        note "corpus ${expr:-(no filter)}$([ "$snaplen" = 0 ] || echo ", -s $snaplen"): $got frames identical to tcpdump's (time to the ns, lengths, bytes)"
        rm -rf "$out" "$out.ref"
    }
    corpus all 0
    corpus greater 0 "greater 1000"
    corpus less 0 "less 100"
    corpus over-mtu 0 "len > 1514"
    corpus small 0 "len >= 128 and len <= 256"
    corpus web 0 "tcp and dst portrange 0-1023"
    corpus net10 0 "ip src net 10.0.0.0/8"
    corpus dns 0 "udp port 53"
    corpus syn 0 "tcp[13] & 2 != 0"
    corpus vlan 0 "vlan and tcp"
    corpus snap64 64 "greater 100"

    note "a frame over 64 KiB comes out whole"
    big="$CORPUS/bigtcp-ipv4.pcap"
    lc "$WORK/big.log" -r "$big" -w "$WORK/big"
    longest=$("$COUNT" --longest "$big")
    [ "$longest" -gt 65536 ] || fail "$big holds no frame over 64 KiB"
    [ "$("$COUNT" --longest "$(only_file "$WORK/big")")" = "$longest" ] || fail "the $longest-byte frame was cut"
    "$COMPARE" "$big" "$(only_file "$WORK/big")" >/dev/null
else
    note "SKIP the corpus part: no corpus at $CORPUS"
fi

note "nanosecond pcap and pcapng inputs keep every digit"
"$GEN" -o "$WORK/ns.pcap" -n 3000 --precision ns --profile mixed --seed 41
editcap -F pcapng "$WORK/ns.pcap" "$WORK/ns.pcapng"
capinfos -M "$WORK/ns.pcapng" | grep -q "nanoseconds" || fail "editcap did not keep nanoseconds"
for input in ns.pcap ns.pcapng; do
    for format in pcap-ns pcapng; do
        out="$WORK/ns-$input-$format"
        lc "$out.log" -r "$WORK/$input" -w "$out" --format "$format"
        "$COMPARE" "$WORK/ns.pcap" "$(only_file "$out")" >/dev/null || fail "-r $input --format $format changed a record"
    done
done
# The check has teeth: the digits below the microsecond are really there.
lc "$WORK/us.log" -r "$WORK/ns.pcap" -w "$WORK/ns-us" --format pcap
if "$COMPARE" "$WORK/ns.pcap" "$(only_file "$WORK/ns-us")" >/dev/null 2>&1; then
    fail "the nanosecond input has no digits below the microsecond: not a test"
fi

if [ -e "$CASES/08-y2038-timestamps/in.pcap" ]; then
    note "times on both sides of 2^31 seconds and near 2^32 (Y2038 case), pcap-ns and pcapng"
    y="$CASES/08-y2038-timestamps/in.pcap"
    want=$(tshark -r "$y" -T fields -e frame.time_epoch 2>/dev/null | tr '\n' ' ')
    [[ "$want" == *4294967295.250000000* ]] || fail "tshark reads the Y2038 case's times as: $want"
    for format in pcap-ns pcapng; do
        lc "$WORK/y-$format.log" -r "$y" -w "$WORK/y-$format" --format "$format"
        got=$(tshark -r "$(only_file "$WORK/y-$format")" -T fields -e frame.time_epoch 2>/dev/null | tr '\n' ' ')
        [ "$got" = "$want" ] || fail "--format $format: times $got, the input's are $want"
    done
    "$COMPARE" "$y" "$(only_file "$WORK/y-pcap-ns")" >/dev/null
fi

if [ -e "$CASES/12-caplen-gt-len/in.pcap" ]; then
    note "a record whose original length is below its captured length: every byte kept, len = caplen"
    for input in in.pcap in.pcapng; do
        lc "$WORK/gt.log" -r "$CASES/12-caplen-gt-len/$input" -w "$WORK/gt-${input/./-}"
        lens=$(tshark -r "$(only_file "$WORK/gt-${input/./-}")" -T fields -e frame.cap_len -e frame.len 2>/dev/null | tr '\t\n' '/ ')
        [ "$lens" = "60/60 60/60 60/60 " ] || fail "$input: captured/original lengths $lens"
    done
fi

note "a snapped file (caplen < len) under greater/less: the original length decides, as in tcpdump"
"$GEN" -o "$WORK/full.pcap" -n 5000 --profile imix --seed 42
editcap -s 96 "$WORK/full.pcap" "$WORK/snapped.pcap"
snapped=$(tshark -r "$WORK/snapped.pcap" -T fields -e frame.cap_len -e frame.len 2>/dev/null | awk '$1 < $2' | wc -l)
[ "$snapped" -gt 1000 ] || fail "editcap -s 96 snapped only $snapped records"
for expr in "greater 1000" "less 100" "len > 96 and len < 600"; do
    out="$WORK/snap-${expr// /-}"
    lc "$out.log" -r "$WORK/snapped.pcap" -w "$out" --bpf "$expr" --stats-json "$out.json"
    tcpdump_ns "$WORK/snapped.pcap" "$out.ref" "$expr"
    want=$(packets "$out.ref")
    [ "$want" -gt 0 ] && [ "$want" -lt 5000 ] || fail "$expr keeps $want of 5000: not a test"
    [ "$(json "$out.json" .written_packets)" = "$want" ] || fail "snapped, $expr: not tcpdump's $want"
    "$COMPARE" "$out.ref" "$(only_file "$out")" >/dev/null || fail "snapped, $expr: records differ"
done

note "a record whose captured length is above its original length: selected by the length the file gives, as in tcpdump"
# (its bytes are kept and its length raised in the output; query.sh asks
# the same of linecap query)
python3 "$HERE/raised_capture.py" "$WORK/raised.pcap"
for expr in "greater 80" "less 70" "len == 60" "len == 100"; do
    out="$WORK/raised-${expr// /-}"
    lc "$out.log" -r "$WORK/raised.pcap" -w "$out" --bpf "$expr" --stats-json "$out.json"
    # shellcheck disable=SC2086 # the expression's words
    want=$(tcpdump -r "$WORK/raised.pcap" $expr 2>/dev/null | wc -l)
    [ "$want" = 1 ] || fail "raised.pcap, $expr: tcpdump selects $want of 2: not a test"
    [ "$(json "$out.json" .written_packets)" = "$want" ] ||
        fail "a record with caplen 100 > len 60, $expr: $(json "$out.json" .written_packets) written, tcpdump -r selects $want"
done

note "a pcapng whose second interface is raw IP: -r stops at its first packet, as tcpdump -r stops, and says why"
python3 - "$WORK" <<'PY'
import struct, sys
def block(t, body):
    body += b'\0' * ((4 - len(body) % 4) % 4)
    return struct.pack('<II', t, 12 + len(body)) + body + struct.pack('<I', 12 + len(body))
ip = bytes([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
epb = lambda iface, ts, data: block(6, struct.pack('<IIIII', iface, 0, ts, len(data), len(data)) + data)
with open(sys.argv[1] + '/two-types.pcapng', 'wb') as f:
    f.write(block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1)) + block(1, struct.pack('<HHI', 1, 0, 65535)) +
            epb(0, 1000, bytes(12) + b'\x08\x00' + ip) + block(1, struct.pack('<HHI', 101, 0, 65535)) + epb(1, 2000, ip))
PY
rc=0
timeout 60 "$LINECAP" -l 0-1 "${EAL_TEST[@]}" -- -r "$WORK/two-types.pcapng" -w "$WORK/two-types" \
    --stats-json "$WORK/two-types.json" >"$WORK/two-types.log" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qF "$WORK/two-types.pcapng: record 2's link type is RAW (Raw IP); linecap reads Ethernet captures only" \
    "$WORK/two-types.log" || fail "a second interface of raw IP: exit $rc: $(cat "$WORK/two-types.log")"
[ "$(json "$WORK/two-types.json" .written_packets)" = 1 ] || fail "a second interface of raw IP: the first packet not kept"

note "standard input (-r -) and a pipe: read once, as they come"
"$GEN" -o "$WORK/pipe.pcap" -n 2000 --profile mixed --seed 45
lc "$WORK/stdin.log" -r - -w "$WORK/stdin" --stats-json "$WORK/stdin.json" <"$WORK/pipe.pcap"
"$COMPARE" "$WORK/pipe.pcap" "$(only_file "$WORK/stdin")" >/dev/null
editcap -F pcapng "$WORK/pipe.pcap" "$WORK/pipe.pcapng"
lc "$WORK/fifo.log" -r <(cat "$WORK/pipe.pcapng") -w "$WORK/fifo"
"$COMPARE" "$WORK/pipe.pcap" "$(only_file "$WORK/fifo")" >/dev/null
[ "$(json "$WORK/stdin.json" '.ports[0].name + " " + .stop_reason')" = "- end_of_file" ] || fail "-r - not named or not ended"

note "a torn file: the records before the tear are written, one error says where, exit 1"
"$GEN" -o "$WORK/whole.pcap" -n 1000 --seed 43
size=$(stat -c %s "$WORK/whole.pcap")
head -c $((size - 30)) "$WORK/whole.pcap" >"$WORK/torn.pcap"
rc=0
timeout 60 "$LINECAP" -l 0-1 "${EAL_TEST[@]}" -- -r "$WORK/torn.pcap" -w "$WORK/torn" --stats-json "$WORK/torn.json" \
    >"$WORK/torn.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/torn.log"; fail "a torn file exited $rc, not 1"; }
# The byte: where the torn record starts, after 999 whole ones.
start=$(python3 -c "
import struct, sys
d = open(sys.argv[1], 'rb').read(); at = 24
for _ in range(999): at += 16 + struct.unpack_from('<I', d, at + 8)[0]
print(at)" "$WORK/whole.pcap")
grep -c "^linecap: -r $WORK/torn.pcap: record 1000 (byte $start): truncated dump file" \
    "$WORK/torn.log" | grep -qx 1 || { cat "$WORK/torn.log"; fail "not one error naming the file, record and byte $start"; }
[ "$(json "$WORK/torn.json" '.stop_reason + " " + (.written_packets | tostring)')" = "error 999" ] ||
    fail "the torn file's 999 whole records were not all written"
tcpdump_ns "$WORK/torn.pcap" "$WORK/torn.ref" || true   # tcpdump also stops there, with an error
"$COMPARE" "$WORK/torn.ref" "$(only_file "$WORK/torn")" >/dev/null
check_readable "$(only_file "$WORK/torn")" 999

note "a file cut short by another program while -r reads it: the records before are written, one error says so, exit 1"
# Stopped once its file port has mapped the file, and the file cut, so that
# the cut comes before it reads on. The one-shot also opens (and maps) the
# file before EAL starts, to check it: a mapping seen then is not the
# reader's, and a cut made then is one the reader opens, so the mapping is
# waited for once EAL's interrupt thread runs (rte_eal_init makes it).
"$GEN" -o "$WORK/uncut.pcap" -n 2000000 --profile 64 --seed 9 >/dev/null
cp "$WORK/uncut.pcap" "$WORK/shrinking.pcap"
size=$(stat -c %s "$WORK/shrinking.pcap")
"$LINECAP" -l 0-1 "${EAL_TEST[@]}" -- -r "$WORK/shrinking.pcap" -w "$WORK/shrunk" --stats-json "$WORK/shrunk.json" \
    >"$WORK/shrunk.log" 2>&1 &
reader=$!   # linecap itself (no timeout in between): its maps are looked at
cleanup_hooks+=("kill -9 $reader 2>/dev/null")
for _ in $(seq 1000); do
    if grep -qx eal-intr-thread /proc/"$reader"/task/*/comm 2>/dev/null &&
        grep -q shrinking.pcap "/proc/$reader/maps" 2>/dev/null; then
        break
    fi
    sleep 0.01
done
kill -STOP "$reader" || fail "-r of a file to cut: it ended before it mapped the file: $(cat "$WORK/shrunk.log")"
truncate -s 100000 "$WORK/shrinking.pcap"
kill -CONT "$reader"
rc=0
wait "$reader" || rc=$?
# If the stop came between a record's check and its copy into an mbuf, that
# record met the cut as it was copied: the error says so, and its bytes
# are not compared.
record=$(grep -oE "^linecap: -r $WORK/shrinking.pcap: record [0-9]+ \(byte [0-9]+\): the file was cut short by another program while it was read \(it had $size bytes when opened\)(; the record before was cut as it was read and may end in zeros)?: read it again once nothing truncates it$" \
    "$WORK/shrunk.log" | awk '{print $5}' || true)
[ "$rc" = 1 ] && [ -n "$record" ] || { cat "$WORK/shrunk.log"; fail "-r of a file cut while read: exit $rc"; }
whole=$((record - 1))
! grep -q "the record before was cut as it was read" "$WORK/shrunk.log" || whole=$((record - 2))
[ "$(json "$WORK/shrunk.json" '.stop_reason + " " + (.written_packets | tostring)')" = "error $((record - 1))" ] ||
    fail "-r of a file cut while read: $(cat "$WORK/shrunk.json"), not the $((record - 1)) records before record $record"
check_readable "$(only_file "$WORK/shrunk")" $((record - 1))
# Those records are the file's, none of the zeros a mapping reads past a cut
# (the output's records are the input's 80 bytes too).
head -c $((24 + whole * 80)) "$WORK/uncut.pcap" >"$WORK/shrunk.ref"
head -c $((24 + whole * 80)) "$(only_file "$WORK/shrunk")" >"$WORK/shrunk.out"
"$COMPARE" "$WORK/shrunk.ref" "$WORK/shrunk.out" >/dev/null ||
    fail "-r of a file cut while read: the records written are not the file's first $whole"
rm -rf "$WORK/uncut.pcap" "$WORK/shrinking.pcap" "$WORK/shrunk" "$WORK/shrunk.ref" "$WORK/shrunk.out"

# A file being written (.part) is read by pread, not mapped: where it ends
# is still said by its byte (a big-endian pcap, which the writers' walk
# does not take, so the reader's own position says it).
python3 - "$WORK/be.pcap.part" <<'PY'
import struct, sys
frame = bytes(12) + b'\x08\x00' + bytes(46)
records = b''.join(struct.pack('>IIII', 1700000000 + i, 0, len(frame), len(frame)) + frame for i in range(3))
open(sys.argv[1], 'wb').write(struct.pack('>IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) + records + bytes(8192))
PY
"$LINECAP" merge -o "$WORK/be.pcap" "$WORK/be.pcap.part" 2>"$WORK/be.err" || fail "a big-endian .part: $(cat "$WORK/be.err")"
grep -qF "be.pcap.part: ends after 3 complete records: zeros follow at byte 252 (the rest was never" "$WORK/be.err" ||
    fail "a big-endian .part: $(cat "$WORK/be.err")"

note "not a capture, empty, missing: one line naming the file, exit 1, nothing written, no -w folder made"
echo "this is not a capture file" >"$WORK/text.pcap"
# Six bytes Wireshark's reader takes for MP4 media: still no capture file.
echo "hello" >"$WORK/hello.pcap"
: >"$WORK/empty.pcap"
# Cut inside its header (libpcap said "only got 6" of 10 bytes, Wireshark's
# reader took 20 bytes of a pcapng header for JSON).
head -c 10 "$WORK/whole.pcap" >"$WORK/cut.pcap"
editcap -F pcapng "$WORK/whole.pcap" "$WORK/whole.pcapng"
head -c 20 "$WORK/whole.pcapng" >"$WORK/cut.pcapng"
head -c 40 "$WORK/whole.pcapng" >"$WORK/cut2.pcapng"
shb=$(python3 -c "import struct, sys; print(struct.unpack_from('<I', open(sys.argv[1], 'rb').read(), 4)[0])" "$WORK/whole.pcapng")
[ "$shb" -gt 40 ] || fail "editcap's section header is $shb bytes: cut2.pcapng is not cut inside it"
for bad in "text.pcap:not a capture file: it starts with 74 68 69 73" "empty.pcap:not a capture file: it holds 0 bytes" \
           "cut.pcap:10 bytes, shorter than a pcap file header (24 bytes): the file was cut short" \
           "cut.pcapng:20 bytes, shorter than a pcapng Section Header Block (at least 28 bytes): the file was cut short" \
           "cut2.pcapng:40 bytes, cut inside its pcapng Section Header Block ($shb bytes): the file was cut short" \
           "hello.pcap:not a capture file: it starts with 68 65 6c 6c at byte 0, neither a pcap nor a pcapng header" \
           "missing.pcap:cannot open it: No such file or directory"; do
    name=${bad%%:*}
    rc=0
    timeout 60 "$LINECAP" -l 0-1 "${EAL_TEST[@]}" -- -r "$WORK/$name" -w "$WORK/bad" >"$WORK/bad.log" 2>&1 || rc=$?
    [ "$rc" = 1 ] || { cat "$WORK/bad.log"; fail "$name: exit $rc, not 1"; }
    [ "$(grep -c '^linecap: ' "$WORK/bad.log")" = 1 ] || { cat "$WORK/bad.log"; fail "$name: not exactly one line"; }
    grep -q "^linecap: -r $WORK/$name: ${bad#*:}" "$WORK/bad.log" || { cat "$WORK/bad.log"; fail "$name: wrong error"; }
    [ ! -e "$WORK/bad" ] || fail "$name: the -w folder was made: $(ls -la "$WORK/bad")"
    rc=0
    "$LINECAP" merge -o "$WORK/bad.pcap" "$WORK/$name" 2>"$WORK/bad.log" || rc=$?
    [ "$rc" = 1 ] && [ "$(wc -l <"$WORK/bad.log")" = 1 ] && grep -qF "linecap merge: $WORK/$name: ${bad#*:}" "$WORK/bad.log" ||
        fail "$name: linecap merge: exit $rc: $(cat "$WORK/bad.log")"
done
rc=0
timeout 60 "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0 -- -r "$WORK/whole.pcap" -w "$WORK/bad" \
    >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "^linecap: -r $WORK/whole.pcap: the file is the only source, but EAL also found 1 port (net_null0): leave out --vdev$" \
    "$WORK/bad.log" || { cat "$WORK/bad.log"; fail "-r with a vdev was not refused by name"; }

note "lossless on rings of 64 packets; -c stops early and cleanly"
"$GEN" -o "$WORK/many.pcap" -n 200000 --profile 64 --seed 44
lc "$WORK/many.log" -r "$WORK/many.pcap" -w "$WORK/many" --ring-size 64 --stats-json "$WORK/many.json"
check_counters_add_up "$WORK/many.json"
[ "$(json "$WORK/many.json" '[.written_packets, .dropped_ring, .dropped_nombuf] | map(tostring) | join(" ")')" = "200000 0 0" ] ||
    fail "not every packet written without a drop"
"$COMPARE" "$WORK/many.pcap" "$(only_file "$WORK/many")" >/dev/null
lc "$WORK/count.log" -r "$WORK/many.pcap" -w "$WORK/count" -c 1000 --stats-json "$WORK/count.json"
[ "$(json "$WORK/count.json" '.stop_reason + " " + (.written_packets | tostring)')" = "packets 1000" ] ||
    fail "-c 1000 did not stop at 1000 packets"
check_counters_add_up "$WORK/count.json"
echo PASS
