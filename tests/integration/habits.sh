#!/usr/bin/env bash
# tcpdump's habits on linecap's command line: -w FILE.pcap, -i IFACE, a
# replay that ends by itself, `ip broadcast` as tcpdump -r compiles it, EAL
# quiet unless asked, and each port's timestamp source named truly.
source "$(dirname "$0")/lib.sh"

E=(-l 0-1 "${EAL_TEST[@]}")
"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 3

note "-w FILE.pcap and -w FILE.pcapng: a file prefix, the format from the suffix"
run_linecap "$WORK/prefix.log" "${E[@]}" -- -r "$WORK/in.pcap" -w "$WORK/f.pcap"
[ ! -d "$WORK/f.pcap" ] || fail "-w f.pcap made a folder"
files=("$WORK"/f-w0-000001-*.pcap)
[ "${#files[@]}" = 1 ] && [ -f "${files[0]}" ] || fail "-w f.pcap did not write f-w0-000001-<UTC>.pcap: $(ls "$WORK")"
"$COMPARE" "$WORK/in.pcap" "${files[0]}"
mkdir "$WORK/sub"
run_linecap "$WORK/prefix.log" "${E[@]}" -- -r "$WORK/in.pcap" -w "$WORK/sub/g.pcapng" -c 10
files=("$WORK"/sub/g-w0-000001-*.pcapng)
[ -f "${files[0]}" ] || fail "-w sub/g.pcapng did not write sub/g-w0-000001-<UTC>.pcapng: $(ls "$WORK/sub")"
capinfos -t "${files[0]}" | grep -q "pcapng" || fail "-w g.pcapng did not write pcapng"
check_readable "${files[0]}" 10
# An existing folder stays a folder, whatever its name.
mkdir "$WORK/dir.pcap"
run_linecap "$WORK/prefix.log" "${E[@]}" -- -r "$WORK/in.pcap" -w "$WORK/dir.pcap" -c 10
check_readable "$(only_file "$WORK/dir.pcap")" 10

note "a replay told no end stops 1 s after its last packet, and says so"
rc=0
timeout -s INT 60 "$LINECAP" -l 0-1 --no-huge -m 512 --no-pci --no-shconf --vdev "net_pcap0,rx_pcap=$WORK/in.pcap" -- \
    -w "$WORK/replay" --stats-json "$WORK/replay.json" >"$WORK/replay.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/replay.log"; fail "a replay without --idle-exit exited $rc (124: it never ended)"; }
grep -q "^linecap: every port replays a file: stopping once none has received a packet for 1 s (--idle-exit TIME or --duration TIME to choose)$" \
    "$WORK/replay.log" || { cat "$WORK/replay.log"; fail "the replay did not say how it ends"; }
[ "$(json "$WORK/replay.json" '.stop_reason + " " + (.written_packets | tostring)')" = "idle 2000" ] ||
    fail "replay: $(json "$WORK/replay.json" '.stop_reason + " " + (.written_packets | tostring)')"
# EAL's start-up lines are quiet by default...
! grep -q "^EAL: Detected CPU lcores" "$WORK/replay.log" || { cat "$WORK/replay.log"; fail "EAL's start-up lines are shown"; }
# ... and a --log-level of the user's raises them again.
run_linecap "$WORK/loud.log" -l 0-1 --no-huge -m 512 --no-pci --no-shconf --log-level=lib.eal:info \
    --vdev "net_pcap0,rx_pcap=$WORK/in.pcap" -- -w "$WORK/loud" -c 10
grep -q "^EAL: Detected CPU lcores" "$WORK/loud.log" || { cat "$WORK/loud.log"; fail "--log-level=lib.eal:info did not raise EAL's level"; }
# Told when to stop, it does not stop on its own.
run_linecap "$WORK/told.log" "${E[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap" -- -w "$WORK/told" \
    --duration 2.5 --stats-json "$WORK/told.json"
[ "$(json "$WORK/told.json" .stop_reason)" = duration ] || fail "--duration replay stopped for $(json "$WORK/told.json" .stop_reason)"
! grep -q "every port replays a file" "$WORK/told.log" || fail "a replay with --duration said it stops by itself"

note "ip broadcast: the packets tcpdump -r keeps; --netmask: those of tcpdump on a /24"
python3 - "$WORK/bcast.pcap" <<'PY'
import struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
def frame(dst, ident):
    udp = struct.pack("!HHHH", 40000, 9, 8 + 4, 0) + b"ping"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0,
                     bytes([10, 1, 2, 7]), bytes(int(x) for x in dst.split(".")))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
dsts = ["255.255.255.255", "10.1.2.255", "10.1.2.0", "10.1.2.7", "0.0.0.0", "192.168.1.255", "10.1.3.1", "10.255.255.255"]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, d in enumerate(dsts):
        b = frame(d, i + 1)
        f.write(struct.pack("<IIII", 1700000000 + i, 0, len(b), len(b)) + b)
PY
dsts() { tshark -r "$1" -T fields -e ip.dst | tr '\n' ' '; }
run_linecap "$WORK/bcast.log" "${E[@]}" -- -r "$WORK/bcast.pcap" -w "$WORK/bcast" ip broadcast
tcpdump -r "$WORK/bcast.pcap" -w "$WORK/bcast.ref" ip broadcast 2>/dev/null
[ "$(dsts "$(only_file "$WORK/bcast")")" = "$(dsts "$WORK/bcast.ref")" ] ||
    fail "ip broadcast: linecap kept $(dsts "$(only_file "$WORK/bcast")"), tcpdump -r $(dsts "$WORK/bcast.ref")"
[ "$(dsts "$WORK/bcast.ref")" = "255.255.255.255 0.0.0.0 " ] || fail "tcpdump -r kept $(dsts "$WORK/bcast.ref")"
# tcpdump -i on an interface of mask 255.255.255.0 compiles `ip broadcast` to this.
run_linecap "$WORK/mask.log" "${E[@]}" -- -r "$WORK/bcast.pcap" -w "$WORK/mask" --netmask 255.255.255.0 ip broadcast
tcpdump -r "$WORK/bcast.pcap" -w "$WORK/mask.ref" 'ip and (ip[19] == 255 or ip[19] == 0)' 2>/dev/null
[ "$(dsts "$(only_file "$WORK/mask")")" = "$(dsts "$WORK/mask.ref")" ] ||
    fail "--netmask 255.255.255.0 ip broadcast: linecap kept $(dsts "$(only_file "$WORK/mask")"), tcpdump $(dsts "$WORK/mask.ref")"
[ "$(dsts "$WORK/mask.ref")" = "255.255.255.255 10.1.2.255 10.1.2.0 0.0.0.0 192.168.1.255 10.255.255.255 " ] ||
    fail "tcpdump kept $(dsts "$WORK/mask.ref")"
# The same through a net_pcap replay (the classifier's BPF on DPDK's side).
run_linecap "$WORK/mask2.log" "${E[@]}" --vdev "net_pcap0,rx_pcap=$WORK/bcast.pcap" -- -w "$WORK/mask2" \
    --netmask 255.255.255.0 --idle-exit 0.5 ip broadcast
[ "$(dsts "$(only_file "$WORK/mask2")")" = "$(dsts "$WORK/mask.ref")" ] || fail "net_pcap replay: --netmask ip broadcast differs"

note "a looped replay (infinite_rx=1) is stamped from the TSC, and says so"
run_linecap "$WORK/loop.log" "${E[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap,infinite_rx=1" -- \
    -w "$WORK/loop" -c 5000 --stats-json "$WORK/loop.json"
[ "$(json "$WORK/loop.json" '.ports[0].timestamps')" = tsc ] ||
    fail "infinite_rx port reports $(json "$WORK/loop.json" '.ports[0].timestamps') timestamps, not tsc"
# The file's packets are from 2023; the loop's carry the time they were read.
first=$(tshark -r "$(only_file "$WORK/loop")" -c 1 -T fields -e frame.time_epoch)
now=$(date +%s)
awk -v t="$first" -v now="$now" 'BEGIN { exit !(t > now - 600 && t <= now + 1) }' ||
    fail "a looped packet is stamped $first, not about now ($now)"

if [ "$(id -u)" = 0 ]; then
    note "-i lo: an af_packet port on the interface"
    port=$((20000 + $$ % 20000))
    timeout -s INT 60 "$LINECAP" -l 0-1 "${EAL_TEST[@]}" -- -i lo -w "$WORK/lo" --duration 4 \
        --stats-json "$WORK/lo.json" udp port "$port" >"$WORK/lo.log" 2>&1 &
    capture=$!
    cleanup_hooks+=("kill $capture 2>/dev/null")
    for _ in $(seq 150); do compgen -G "$WORK/lo/*" >/dev/null && break; sleep 0.1; done
    python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    s.sendto(b'linecap-i-%d' % i, ('127.0.0.1', $port)); time.sleep(0.01)"
    wait "$capture" || { cat "$WORK/lo.log"; fail "linecap -i lo exited $?"; }
    [ "$(json "$WORK/lo.json" '.ports[0].name + " " + .ports[0].driver')" = "net_af_packet0 net_af_packet" ] ||
        fail "-i lo made port $(json "$WORK/lo.json" '.ports[0].name + " " + .ports[0].driver')"
    got=$(tshark -r "$(only_file "$WORK/lo")" -Y "udp.dstport == $port" -T fields -e data.data | sort -u | wc -l)
    [ "$got" = 20 ] || fail "-i lo captured $got of the 20 datagrams sent"
fi
echo PASS
