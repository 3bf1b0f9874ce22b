#!/usr/bin/env bash
# Bad input gets one clear error and a non-zero exit, never a crash.
source "$(dirname "$0")/lib.sh"

# expect_error STATUS PATTERN ARGS...: linecap exits with STATUS and its last
# line of stderr matches PATTERN.
expect_error() {
    local want=$1 pattern=$2
    shift 2
    local rc=0
    timeout 60 "$LINECAP" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" = "$want" ] || { cat "$WORK/err" >&2; fail "exit $rc, expected $want: linecap $*"; }
    # Ours are the lines that start with "linecap:"; DPDK's own log lines may precede them.
    grep '^linecap: ' "$WORK/err" > "$WORK/ours" || true
    [ "$(wc -l <"$WORK/ours")" = 1 ] || { cat "$WORK/err" >&2; fail "not exactly one error for: linecap $*"; }
    grep -q -- "$pattern" "$WORK/ours" || { cat "$WORK/err" >&2; fail "no '$pattern' in the error for: linecap $*"; }
    note "ok: $(head -1 "$WORK/ours")"
}

E=(-l 0-1 "${EAL_TEST[@]}")
out="$WORK/out-dir"

expect_error 2 "^linecap: --bogus: no such option of linecap$" "${E[@]}" -- -w "$out" --bogus
expect_error 2 '^linecap: --snaplenn: no such option of linecap: did you mean "--snaplen"?$' "${E[@]}" -- -w "$out" --snaplenn 96
# A word of dashes before its '=' is named as typed, not as "--".
expect_error 2 '^linecap: --=96: no such option of linecap$' "${E[@]}" -- -w "$out" --=96
expect_error 2 "^linecap: -w: no value given: give -w DIR|FILE$" "${E[@]}" -- -w
expect_error 2 "--out (-w) DIR is required" "${E[@]}" --vdev net_null0
expect_error 2 "--control needs --out-root" "${E[@]}" --vdev net_null0 -- --control "$WORK/sock"
expect_error 2 "--snaplen belongs to a one-shot capture" "${E[@]}" --vdev net_null0 -- --control "$WORK/sock" --out-root "$WORK/root" -s 64
expect_error 2 "--max-sessions is a daemon option" "${E[@]}" --vdev net_null0 -- -w "$out" --max-sessions 4
expect_error 2 "--read (-r) belongs to a one-shot capture" "${E[@]}" -- --control "$WORK/sock" --out-root "$WORK/root" -r "$WORK/x.pcap"
expect_error 2 "--host belongs to a one-shot capture" "${E[@]}" -- --control "$WORK/sock" --out-root "$WORK/root" --host 10.0.0.1
echo '{"name": "ok"}' >"$WORK/ok.json"
echo '{"name": "x", "bpf": "tcp and and"}' >"$WORK/bad-bpf.json"
echo '{"name": "x", "snaplen": "big"}' >"$WORK/bad-field.json"
D=(--vdev net_null0 -- --control "$WORK/sock" --out-root "$WORK/root")
expect_error 2 "--start is a daemon option" "${E[@]}" --vdev net_null0 -- -w "$out" --start "$WORK/ok.json"
expect_error 2 "--start $WORK/none.json: cannot read it: No such file or directory" "${E[@]}" "${D[@]}" --start "$WORK/none.json"
expect_error 2 "--start $WORK: is a folder: give the spec file in it" "${E[@]}" "${D[@]}" --start "$WORK"
expect_error 2 "--start $WORK/bad-bpf.json: bpf: \"tcp and and\": can't parse filter expression: syntax error" "${E[@]}" "${D[@]}" --start "$WORK/bad-bpf.json"
expect_error 2 "--start $WORK/bad-field.json: snaplen: \"big\" is not a whole number" "${E[@]}" "${D[@]}" --start "$WORK/bad-field.json"
expect_error 2 "--start is given 2 times, more than the 1 sessions --max-sessions allows" "${E[@]}" "${D[@]}" --max-sessions 1 --start "$WORK/ok.json" --start "$WORK/ok.json"
[ ! -e "$WORK/root" ] || fail "a refused --start left $WORK/root behind"
expect_error 1 "a socket path must be 1 to 107 bytes" "${E[@]}" --vdev net_null0 -- --control "$WORK/$(printf 'x%.0s' {1..120})" --out-root "$WORK/root"
expect_error 1 "--control-group no-such-group-here: no such group" "${E[@]}" --vdev net_null0 -- --control "$WORK/sock" --out-root "$WORK/root" --control-group no-such-group-here
expect_error 2 "--snaplen: 300000 is not a whole number from 0 to 262144" "${E[@]}" -- -w "$out" -s 300000
expect_error 2 "--count: 12abc is not a whole number 1 or more" "${E[@]}" -- -w "$out" -c 12abc
expect_error 2 "--duration: -3 is not a duration above 0: give seconds (90, 1.5) or a number with ms, s, m, h or d (5m, 2h)" "${E[@]}" -- -w "$out" --duration -3
expect_error 2 "--format: pcapng2 is not a format (pcap, pcap-ns, pcapng)" "${E[@]}" -- -w "$out" --format pcapng2
# "--format=" is an empty value, as "--format ''" is: not "--format" taking "-c" for its value.
expect_error 2 "--format:  is not a format (pcap, pcap-ns, pcapng)" "${E[@]}" -- -w "$out" --format= -c 5
# A flag so spelt is refused, as getopt refuses it: not an empty word left over.
expect_error 2 "--lossless: takes no value (--lossless=): give --lossless alone, or leave it out" "${E[@]}" -- -w "$out" --lossless= -c 5
# Nor is a flag given a value CLI11 would take for true or false.
expect_error 2 "--lossless: takes no value (--lossless=no): give --lossless alone, or leave it out" "${E[@]}" -- -w "$out" --lossless=no -c 5
# An option whose value was forgotten: named, not "-c" taken for its value.
expect_error 2 "--format: no value given (the next word, -c, is an option): give --format FORMAT (a value that starts with '-' as --format=VALUE)" "${E[@]}" -- -w "$out" --format -c 5
# The session options are the table's (core/spec.h): the spec's validator
# refuses a bad value, in the words linecapctl start uses, naming the option.
expect_error 2 "--host: 10.0.0.300 is not an IPv4 or IPv6 address, prefix or range" "${E[@]}" -- -w "$out" --host 10.0.0.300
expect_error 2 "--proto: bogus is not a protocol name (tcp, udp" "${E[@]}" -- -w "$out" --proto bogus
expect_error 2 "--keep: keeps the last N files of a rotation" "${E[@]}" -- -w "$out" -W 3
expect_error 2 "--ring-size: 10 is not a whole number from 64 to 1048576" "${E[@]}" -- -w "$out" --ring-size 10
expect_error 2 "cannot create the folder: Not a directory" "${E[@]}" -- -w /etc/hostname/x
expect_error 1 "no ports found" "${E[@]}" -- -w "$out"
expect_error 1 "no ports found" "${E[@]}" --vdev net_pcap0,rx_pcap=/nonexistent.pcap -- -w "$out"
expect_error 1 "EAL initialisation failed" -l 0-1 --bogus-eal-option -- -w "$out"
expect_error 1 "EAL initialisation failed" -l 0-63 "${EAL_TEST[@]}" --vdev net_null0 -- -w "$out"
expect_error 1 "need 2 lcores (1 worker + 1 writer) but EAL enabled 1" -l 0 "${EAL_TEST[@]}" --vdev net_null0 -- -w "$out"
expect_error 1 "worker-lcores: lcore 3 is not enabled" "${E[@]}" --vdev net_null0 -- -w "$out" --worker-lcores 3
expect_error 1 "raise --mbufs" "${E[@]}" --vdev net_pcap0,infinite_rx=1,rx_pcap="$WORK/big.pcap" -- -w "$out" --mbufs 1024 \
    < <("$GEN" -o "$WORK/big.pcap" -n 20000)
# A pcap file header and no record: looped, DPDK 22.11's net_pcap would lose
# a burst of mbufs on every poll of its queue, until no port received.
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\0\0\0\0\0\0\0\0\xff\xff\0\0\x01\0\0\0' >"$WORK/empty.pcap"
"$GEN" -o "$WORK/some.pcap" -n 10 >/dev/null
expect_error 1 "port 0 (net_pcap0): libpcap reads no packet from rx_pcap=$WORK/empty.pcap, .*: leave the file out, or replay it once (on a port of its own, without infinite_rx=1)" \
    "${E[@]}" --vdev net_pcap0,infinite_rx=1,rx_pcap="$WORK/some.pcap",rx_pcap="$WORK/empty.pcap" -- -w "$out"
# --idle-mode: a word that is no mode; DPDK's power management where it
# cannot apply (a file read with -r; MONITOR on a driver that cannot say
# which descriptor to watch, as net_pcap, on any CPU).
expect_error 2 "--idle-mode: busy is not an idle mode: give poll, pause, monitor or sleep" "${E[@]}" -- -w "$out" --idle-mode busy
expect_error 2 "--idle-mode pause is DPDK's power management of ports' RX queues, and -r reads a file, which never idles: leave --idle-mode out" \
    "${E[@]}" -- -r "$WORK/some.pcap" -w "$out" --idle-mode pause
expect_error 1 "port 0 (net_pcap0): --idle-mode monitor .* driver net_pcap cannot say where that is .*: use --idle-mode sleep .* or --idle-mode pause" \
    "${E[@]}" --vdev net_pcap0,rx_pcap="$WORK/some.pcap" -- -w "$out" --idle-mode monitor

# linecap's options before "--", among EAL's: what to type instead.
expect_error 2 "-w is an option of linecap's, given before '--' where EAL's options go; linecap's come after '--': linecap --no-huge -m 512 -- -w $out -s 64\$" \
    -w "$out" --no-huge -m 512 -- -s 64
expect_error 2 "-w is an option of linecap's, .*: linecap --no-huge -m 512 -- -w $out\$" --no-huge -m 512 -w "$out"
expect_error 2 "-i is an option of linecap's, .*: linecap -l 0-1 --no-huge -- -i lo -w $out 'tcp\[13\] != 0' and port 80\$" \
    -l 0-1 --no-huge -i lo -w "$out" 'tcp[13] != 0' and port 80
expect_error 2 "--idle-exit is an option of linecap's" "${E[@]}" --idle-exit 1 --vdev net_null0 -- -w "$out"

# -w FILE.pcap: a file prefix whose suffix is the format; -i: an interface that exists.
expect_error 2 "-w $WORK/x.pcapng names a pcapng file, but the format asked for is pcap: name it $WORK/x.pcap, or leave the format out" \
    "${E[@]}" --vdev net_null0 -- -w "$WORK/x.pcapng" --format pcap
expect_error 2 "-w $WORK/x.pcap names the files \"x\" already: leave --name (and a -F spec's \"name\") out" "${E[@]}" --vdev net_null0 -- -w "$WORK/x.pcap" --name y
echo '{"name": "from-file"}' >"$WORK/named.json"
expect_error 2 "-w $WORK/x.pcap names the files \"x\" already: leave --name (and a -F spec's \"name\") out" "${E[@]}" --vdev net_null0 -- -w "$WORK/x.pcap" -F "$WORK/named.json"
expect_error 2 "-i no-such-if0: no such network interface (\`ip link\` lists them)" "${E[@]}" -- -i no-such-if0 -w "$out"
expect_error 2 "-i lo captures an interface and -r reads a file: give one or the other" "${E[@]}" -- -i lo -r "$WORK/x.pcap" -w "$out"

# A second DPDK process on the runtime prefix of a running one: which
# prefix, and how to run beside it; never errno 0's "Success".
prefix="lc-errors-$$"
"$GEN" -o "$WORK/one.pcap" -n 1
"$LINECAP" -l 0-1 --no-huge -m 512 --no-pci --file-prefix "$prefix" --vdev "net_pcap0,rx_pcap=$WORK/one.pcap" -- \
    -w "$WORK/first" --idle-exit 600 >"$WORK/first.log" 2>&1 &
first=$!
cleanup_hooks+=("kill $first 2>/dev/null; wait $first 2>/dev/null; rm -rf /var/run/dpdk/$prefix ${XDG_RUNTIME_DIR:-/tmp}/dpdk/$prefix")
for _ in $(seq 150); do compgen -G "$WORK/first/*" >/dev/null && break; sleep 0.1; done
compgen -G "$WORK/first/*" >/dev/null || { cat "$WORK/first.log" >&2; fail "the first linecap did not start"; }
expect_error 1 "another DPDK process (pid $first) holds EAL's runtime prefix \"$prefix\" (.*/dpdk/$prefix/config); to run beside it, give this one a prefix of its own with --file-prefix NAME, or no shared files with --no-shconf (EAL options, before '--')" \
    -l 0-1 --no-huge -m 512 --no-pci --file-prefix "$prefix" --vdev net_null0 -- -w "$out"
! grep -q "Success" "$WORK/err" || { cat "$WORK/err" >&2; fail "an error printed errno 0 (Success)"; }
# --file-prefix as EAL's last word too (rte_eal_init rewrites that word).
expect_error 1 "another DPDK process (pid $first) holds EAL's runtime prefix \"$prefix\"" \
    -l 0-1 --no-huge -m 512 --no-pci --vdev net_null0 --file-prefix "$prefix" -- -w "$out"
kill -INT "$first"
wait "$first" || fail "the first linecap exited $? after SIGINT"
rm -rf "$WORK/first"

# A filter expression typed before "--": EAL would ignore it.
expect_error 2 "\"host 10.0.0.1\" before '--' is no EAL option or value; linecap's options and the filter expression go after '--': linecap \[EAL options\] -- -w out host 10.0.0.1" \
    "${E[@]}" --vdev net_null0 host 10.0.0.1 -- -w "$out"

# Bad filters, refused before DPDK starts.
echo '{"match":[{},{},{"dst_ports":[70000]}]}' >"$WORK/bad-port.json"
echo '{"match":[{"src":["10.1.0.5/24"]}]' >"$WORK/bad-json.json"
echo '{"payload":{"patterns":["(unclosed"]}}' >"$WORK/bad-regex.json"
expect_error 2 "--filter-file $WORK/bad-port.json: match\[2\].dst_ports\[0\]: 70000 is not a port" "${E[@]}" -- -w "$out" -F "$WORK/bad-port.json"
expect_error 2 "not valid JSON at byte 36 (line 2, column 1): syntax error while parsing object - unexpected end of input; expected '}'" "${E[@]}" -- -w "$out" -F "$WORK/bad-json.json"
expect_error 2 "payload.patterns\[0\]: \"(unclosed\": Missing close parenthesis" "${E[@]}" -- -w "$out" -F "$WORK/bad-regex.json"
expect_error 2 "cannot read it: No such file or directory" "${E[@]}" -- -w "$out" -F "$WORK/missing.json"
expect_error 2 "--filter-file $WORK: is a folder: give the spec file in it" "${E[@]}" -- -w "$out" -F "$WORK"
expect_error 2 "-r $WORK: is a folder: give its capture files" "${E[@]}" -- -w "$out" -r "$WORK"
expect_error 2 "--worker-lcores: lcore 1 is listed twice: give each lcore once" "${E[@]}" -- -w "$out" --worker-lcores 1,1
expect_error 2 "--stats-json /nonexistent/x.json: cannot write it: No such file or directory" "${E[@]}" -- -w "$out" --stats-json /nonexistent/x.json
expect_error 2 "--stats-json $WORK: is a folder: give a file name in it" "${E[@]}" -- -w "$out" --stats-json "$WORK"
expect_error 2 "--port: 80- is not a port range: give both ends, from 0 to 65535" "${E[@]}" -- -w "$out" --port 80-
expect_error 2 "--filter-file $WORK/bad-port.json: match\[2\].dst_ports\[0\]: 70000 is not a port" "${E[@]}" -- -w "$out" -F "$WORK/bad-port.json" -s 64
expect_error 2 "the spec file has a \"match\" already: give the rules either there or with --port" "${E[@]}" -- -w "$out" -F "$WORK/bad-port.json" --port 80
expect_error 2 "bpf: \"tcp port\": can't parse filter expression: syntax error" "${E[@]}" -- -w "$out" tcp port
# A spec file's bpf ANDed with the expression: the part that fails is named
# (each compiled alone), never the file for the command line's words.
printf '%s' '{"bpf":"udp"}' >"$WORK/udp.json"
printf '%s' '{"bpf":"udp port"}' >"$WORK/udp-port.json"
expect_error 2 "linecap: bpf: \"tcp port\": can't parse filter expression: syntax error" "${E[@]}" -- -w "$out" -F "$WORK/udp.json" tcp port
expect_error 2 "linecap: --filter-file $WORK/udp-port.json: bpf: \"udp port\": can't parse" "${E[@]}" -- -w "$out" -F "$WORK/udp-port.json" tcp
expect_error 2 "either with --bpf or as the last words, not both" "${E[@]}" -- -w "$out" --bpf tcp udp
expect_error 2 "--name \"a/b\"" "${E[@]}" -- -w "$out" --name a/b

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$WORK/ro"
    mount -t tmpfs -o ro,size=1m linecap-test-ro "$WORK/ro"
    cleanup_hooks+=("umount '$WORK/ro'")
    expect_error 2 "cannot write there: Read-only file system" "${E[@]}" --vdev net_null0 -- -w "$WORK/ro"
fi

# None of the failures left files behind.
[ -z "$(ls -A "$out" 2>/dev/null)" ] || fail "failed runs left files in $out: $(ls "$out")"

# Help is on stdout, and exits 0.
# (Into a file first: grep -q stops reading at the first match, and the
# rest of the help would then die of SIGPIPE under pipefail.)
"$LINECAP" --help >"$WORK/help" || fail "--help exited $?"
grep -q "Usage: linecap \[EAL options\] -- \[linecap options\]" "$WORK/help" || fail "--help"
[ "$(grep -c '^Usage:' "$WORK/help")" = 1 ] || { cat "$WORK/help"; fail "--help says Usage: more than once"; }
grep -q "^       linecap merge \[-o FILE\] FILE|DIR" "$WORK/help" || fail "--help does not name linecap merge"
"$LINECAP" -- --help >"$WORK/help" || fail "-- --help exited $?"
grep -q -- "--snaplen" "$WORK/help" || fail "-- --help"
grep -q -- "--netmask A.B.C.D" "$WORK/help" || fail "-- --help has no --netmask"
for words in "--version" "-- --version"; do
    # shellcheck disable=SC2086
    "$LINECAP" $words >"$WORK/version" 2>&1 || fail "linecap $words exited $?"
    [ "$(cat "$WORK/version")" = "linecap 0.1.0" ] || fail "linecap $words printed '$(cat "$WORK/version")'"
done
"$GEN" --help >"$WORK/gen-help" || fail "linecap-gen --help exited $?"
grep -q "60% TCP, 31% UDP, 9% ICMP" "$WORK/gen-help" || { cat "$WORK/gen-help"; fail "linecap-gen --help does not say what traffic it makes"; }
echo PASS

note "the same mistake gets the same words from linecap's one-shot and linecapctl start"
printf '{"snaplen": 96,}' >"$WORK/comma.json"
echo '{"Filters": [{"SourcePort": [70000]}]}' >"$WORK/gateway.json"
same_words() {   # same_words ARGS...: both refuse ARGS with exit 2 and the same words
    local rc1=0 rc2=0
    "$LINECAP" "${E[@]}" --vdev net_null0 -- -w "$out" "$@" 2>"$WORK/one.err" >/dev/null || rc1=$?
    "$LINECAPCTL" --socket "$WORK/no-daemon.sock" start "$@" 2>"$WORK/ctl.err" >/dev/null || rc2=$?
    local one ctl
    one=$(grep '^linecap: ' "$WORK/one.err" | sed 's/^linecap: //')
    ctl=$(grep '^linecapctl: start: ' "$WORK/ctl.err" | sed 's/^linecapctl: start: //')
    [ "$rc1" = 2 ] && [ "$rc2" = 2 ] && [ -n "$one" ] && [ "$one" = "$ctl" ] ||
        fail "$*: linecap (exit $rc1) said '$one', linecapctl (exit $rc2) '$ctl'"
    note "ok: $one"
}
same_words -F "$WORK/comma.json"
same_words -F "$WORK/gateway.json"
same_words --duration "5 min"
same_words -s 300000
same_words --tcp-flags syn,bogus
same_words --vni 7
same_words --bpf 'tcp' 'port 80'
# A part of the ANDed bpf that would break out of its parentheses.
printf '%s' '{"bpf":"host 10.0.0.1"}' >"$WORK/host-bpf.json"
same_words -F "$WORK/host-bpf.json" 'tcp) or (udp'
same_words -F "$WORK/host-bpf.json" --bpf 'udp) or (icmp'
# What only compiling finds: Hyperscan's refusal, named by the option that
# gave it (an expression is compiled by the daemon, whose resolver counts:
# docs/control.md).
same_words --payload '(ab'
# Two parts within the size limit alone, over it ANDed.
terms=$(printf 'port %d or ' $(seq 1 80)); terms="${terms% or }"
printf '{"bpf":"%s"}' "$terms" >"$WORK/long-bpf.json"
same_words -F "$WORK/long-bpf.json" "$terms"
grep -q "^linecap: the filter expression ANDed with the bpf of --filter-file $WORK/long-bpf.json: the expression has 160 terms" "$WORK/one.err" ||
    fail "ANDed parts over the limit: $(cat "$WORK/one.err")"

note "linecapctl's command-line mistakes: one line in the one-shot's shape, and where to look"
rc=0; "$LINECAPCTL" --timeout 0 ls 2>"$WORK/ctl.err" || rc=$?
[ "$rc" = 2 ] && [ "$(head -1 "$WORK/ctl.err")" = "linecapctl: --timeout: 0 is not a duration from 0.1 s to 1 day: give seconds (90, 1.5) or a number with ms, s, m, h or d (5m, 2h)" ] ||
    fail "linecapctl --timeout 0: exit $rc, $(cat "$WORK/ctl.err")"
# Options of the one-shot given to a daemon's session: what each is, and what a session has instead.
for option in "-r x.pcap" "-w out" "-wout" "--out=out" "-i eth0" "--idle-exit 1" "--stats-json s.json"; do
    rc=0
    # shellcheck disable=SC2086 # the option and its value
    "$LINECAPCTL" start $option tcp 2>"$WORK/ctl.err" || rc=$?
    first=${option%% *}
    first=${first%%=*}
    [ "$first" = -wout ] && first=-w
    [ "$rc" = 2 ] && [ "$(wc -l <"$WORK/ctl.err")" = 1 ] &&
        grep -q "^linecapctl: start: $first is an option of linecap's one-shot capture, not of a daemon's session: .* (run 'linecapctl start --help' for a session's options)$" "$WORK/ctl.err" ||
        fail "linecapctl start $option: exit $rc, $(cat "$WORK/ctl.err")"
done
# The daemon's own settings: given when it starts, for all its sessions.
for option in "--lossless" "--ring-size 4096" "-p" "--control /tmp/x.sock"; do
    rc=0
    # shellcheck disable=SC2086 # the option and its value
    "$LINECAPCTL" start $option tcp 2>"$WORK/ctl.err" || rc=$?
    [ "$rc" = 2 ] && grep -q "^linecapctl: start: ${option%% *} is one of linecap's own settings, not a session's: the daemon takes it when it starts" "$WORK/ctl.err" ||
        fail "linecapctl start $option: exit $rc, $(cat "$WORK/ctl.err")"
done
# CLI11's own words ("id is required", "A subcommand is required", "The
# following argument was not expected") replaced by what to type, the help
# hint naming the command the words named.
ctl_says() {   # EXPECTED-FIRST-LINE HELP-COMMAND ARGS...
    local want=$1 help=$2 rc=0
    shift 2
    "$LINECAPCTL" "$@" 2>"$WORK/ctl.err" >/dev/null || rc=$?
    [ "$rc" = 2 ] && [ "$(head -1 "$WORK/ctl.err")" = "$want" ] &&
        [ "$(sed -n 2p "$WORK/ctl.err")" = "Run '$help' for the options." ] ||
        fail "linecapctl $*: exit $rc, $(cat "$WORK/ctl.err") (want: $want)"
}
ctl_says 'linecapctl: flet: no such command of linecapctl: did you mean "fleet"? (the commands: start, stop, ls, show, stats, files, merge, snapshot, query, rm, watch, shutdown, fleet)' \
    "linecapctl --help" flet nodes
ctl_says 'linecapctl: nods: no such command of linecapctl fleet: did you mean "nodes"? (the commands: nodes, start, ls, show, stop, merge, rm)' \
    "linecapctl fleet --help" fleet nods
ctl_says "linecapctl: no command given: give one of nodes, start, ls, show, stop, merge, rm (linecapctl fleet COMMAND --help says more of each)" \
    "linecapctl fleet --help" fleet
ctl_says "linecapctl: no ID|NAME given: give linecapctl stop ID|NAME, where ID|NAME is the session's id, or its name where no other session has it (linecapctl ls)" \
    "linecapctl stop --help" stop
ctl_says "linecapctl: extra: not expected: linecapctl ls takes no more words" "linecapctl ls --help" ls extra
ctl_says "linecapctl: --watch: 0 is not a number from 0.1 to 3600" "linecapctl stats --help" stats --watch 0
ctl_says "linecapctl: --watch: no value given: give --watch S" "linecapctl stats --help" stats --watch
ctl_says "linecapctl: -j: no such option of linecapctl ls" "linecapctl ls --help" ls -j
# An option given before the command's own words is refused with that
# command's help (the refusal comes before CLI11 parses the subcommand).
ctl_says "linecapctl: --force: takes no value (--force=no): give --force alone, or leave it out" \
    "linecapctl merge --help" merge 1 --force=no
# linecapctl's own options after the command too.
rc=0; "$LINECAPCTL" ls --json --socket "$WORK/no-daemon.sock" 2>"$WORK/ctl.err" || rc=$?
[ "$rc" = 3 ] && grep -qF "cannot reach linecap at $WORK/no-daemon.sock" "$WORK/ctl.err" ||
    fail "linecapctl ls --json --socket: exit $rc, $(cat "$WORK/ctl.err")"
rc=0; "$LINECAPCTL" start --snaplen 2>"$WORK/ctl.err" || rc=$?
[ "$rc" = 2 ] && grep -qx "Run 'linecapctl start --help' for the options." "$WORK/ctl.err" ||
    fail "linecapctl start --snaplen: exit $rc, $(cat "$WORK/ctl.err")"
