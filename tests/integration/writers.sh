#!/usr/bin/env bash
# Writers: rotation by time, size and packets, keep-last-N, pcapng, byte
# limits, a full disk, kill -9, and the time-ordered merge against mergecap.
source "$(dirname "$0")/lib.sh"

# 3000 packets 10 ms apart: 30 seconds of packet time.
"$GEN" -o "$WORK/in.pcap" -n 3000 --gap-ns 10000000 --seed 41
E=(-l 0-1 "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap")

# Every file in DIR opens cleanly; their packets, merged, are the input's.
check_rotated() {
    local dir=$1
    for f in "$dir"/*; do
        [[ "$f" != *.part ]] || fail "$f still .part after the capture"
        check_readable "$f"
    done
    rm -f "$WORK/merged.pcap"
    "$LINECAP" merge -o "$WORK/merged.pcap" "$dir" 2>/dev/null || fail "merge of $dir failed"
    "$COMPARE" "$WORK/in.pcap" "$WORK/merged.pcap" >/dev/null || fail "$dir: the files together are not the input"
}

note "-G 5: files cover aligned 5-second windows of packet time, named by their window"
run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/time" -G 5 --idle-exit 0.5
check_rotated "$WORK/time"
n=0
for f in "$WORK"/time/*; do
    n=$((n + 1))
    first=$(capinfos -a -S -M "$f" | awk -F': *' '/First packet time/ {print $2}')
    last=$(capinfos -e -S -M "$f" | awk -F': *' '/Last packet time/ {print $2}')
    window=$(awk -v t="$first" 'BEGIN { printf "%d", int(t / 5) * 5 }')
    awk -v l="$last" -v w="$window" 'BEGIN { exit !(l < w + 5) }' || fail "$f spans more than its window ($first to $last)"
    if [ "$n" -gt 1 ]; then
        name_time=$(date -u -d "@$window" +%Y%m%dT%H%M%SZ)
        [[ "$(basename "$f")" == capture-w0-$(printf %06d "$n")-$name_time.pcap ]] ||
            fail "$(basename "$f"): expected file $n named after its window $name_time"
    fi
done
[ "$n" -ge 6 ] && [ "$n" -le 7 ] || fail "30 s of packets in 5 s windows made $n files"

note "-C 1: no file over 1,000,000 bytes"
run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/size" -C 1 --idle-exit 0.5
check_rotated "$WORK/size"
for f in "$WORK"/size/*; do
    [ "$(stat -c %s "$f")" -le 1000000 ] || fail "$f is over 1 MB"
done
[ "$(ls "$WORK/size" | wc -l)" -ge 3 ] || fail "-C 1 on 2.3 MB made fewer than 3 files"

note "--rotate-packets 700: 700 packets a file, the rest in the last"
run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/count" --rotate-packets 700 --idle-exit 0.5
check_rotated "$WORK/count"
counts=$(for f in "$WORK"/count/*; do capinfos -c -M "$f" | awk -F': *' '/Number of packets/ {print $2}'; done | tr '\n' ' ')
[ "$counts" = "700 700 700 700 200 " ] || fail "packets per file: $counts"

note "-G 5 -C 1 -W 2: whichever comes first rotates; only the last 2 closed files are kept"
run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/keep" -G 5 -C 1 -W 2 --idle-exit 0.5 --stats-json "$WORK/keep.json"
files=("$WORK"/keep/*.pcap)
[ "${#files[@]}" = 2 ] || fail "-W 2 left ${#files[@]} files"
[ "$(ls "$WORK/keep" | wc -l)" = 4 ] && [ -s "${files[0]}.idx" ] && [ -s "${files[1]}.idx" ] ||
    fail "-W 2: the ring's files and their indexes: $(ls "$WORK/keep")"
created=$(json "$WORK/keep.json" '.sessions[0].files_created')
deleted=$(json "$WORK/keep.json" '.sessions[0].files_deleted')
[ "$deleted" = $((created - 2)) ] || fail "created $created, deleted $deleted, 2 kept?"
last_seq=$(basename "${files[1]}" | cut -d- -f3)
[ "$((10#$last_seq))" = "$created" ] || fail "the newest file is not the last one created"
[ "$(json "$WORK/keep.json" '.sessions[0].files | length')" = 2 ] || fail "stats list deleted files"

note "io_uring's kernel workers run on a CPU that no lcore takes, else on the writer's"
# A writer's chunk copies and write-back starts run on io_uring's kernel
# workers; left to inherit the writer's pinned CPU they would preempt it
# (core/helper_cpus.h). Seen while a capture runs: the CPUs each of the
# process's iou-wrk threads may use, once per look.
iou_cpus() {   # iou_cpus COMMAND EAL-LCORE-OPTIONS...: one line per look at a worker
    local t pid comm task
    timeout -s INT 30 "$@" "${EAL_TEST[@]}" --vdev "net_pcap0,rx_pcap=$WORK/in.pcap" -- \
        --duration 2 -w "$WORK/iou" >"$WORK/iou.log" 2>&1 &
    t=$!
    # Until it exits: the workers come with the first write-back start
    # (the input fills no chunk), after EAL's start, however slow.
    while kill -0 "$t" 2>/dev/null; do
        sleep 0.2
        pid=$(pgrep -P "$t") || continue
        for task in /proc/"$pid"/task/*; do
            comm=$(cat "$task/comm" 2>/dev/null) || continue
            [[ "$comm" == iou-wrk* ]] && awk '/^Cpus_allowed_list:/ {print $2}' "$task/status" 2>/dev/null
        done
    done
    wait "$t" || { cat "$WORK/iou.log" >&2; fail "linecap $* exited with an error"; }
    rm -rf "$WORK/iou"
}
if [ "$(nproc)" -ge 2 ]; then
    # Both lcores on CPU 0: CPU 1 is free, and takes the workers.
    seen=$(iou_cpus "$LINECAP" --lcores 0@0,1@0 | sort -u | tr '\n' ' ')
    [ "$seen" = "1 " ] || fail "--lcores 0@0,1@0: io_uring's workers ran on CPUs '${seen}', expected 1 alone"
    # Every CPU an lcore's, and the process's CPUs at start (taskset's CPU
    # 0 alone) all the lcores': linecap leaves them where the kernel puts
    # them (the writer's CPU 0 on Linux 6.18; older kernels may let them
    # run anywhere), never on CPU 1 alone.
    seen=$(iou_cpus "$LINECAP" -l 0-1 | sort -u | tr '\n' ' ')
    [ -n "$seen" ] && [ "$seen" != "1 " ] || fail "-l 0-1: io_uring's workers ran on CPUs '${seen}', expected 0"
    seen=$(iou_cpus taskset -c 0 "$LINECAP" --lcores 0@0,1@0 | sort -u | tr '\n' ' ')
    [ -n "$seen" ] && [ "$seen" != "1 " ] || fail "taskset -c 0: io_uring's workers ran on CPUs '${seen}', expected 0"
else
    note "one CPU: no CPU to move io_uring's workers to; not checked"
fi

note "pcapng: section, interface and statistics blocks that capinfos and tshark read"
run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/ng" --format pcapng -s 200 --idle-exit 0.5
file=$(only_file "$WORK/ng")
[[ "$file" == *.pcapng ]] || fail "pcapng file named $file"
check_readable "$file" 3000
capinfos "$file" >"$WORK/ng.info"
grep -q "File type:.*pcapng" "$WORK/ng.info" || fail "not pcapng"
grep -q "Capture application: linecap" "$WORK/ng.info" || fail "no shb_userappl"
grep -q "Capture oper-sys: *Linux" "$WORK/ng.info" || fail "no shb_os"
grep -q "Name = net_pcap0" "$WORK/ng.info" || fail "no if_name"
grep -q "Time precision = nanoseconds (9)" "$WORK/ng.info" || fail "no if_tsresol 9"
grep -q "Capture length = 200" "$WORK/ng.info" || fail "snap length not in the IDB"
grep -q "Number of stat entries = 1" "$WORK/ng.info" || fail "no Interface Statistics Block"
"$COMPARE" "$WORK/in.pcap" "$file" --snaplen 200

# What a format adds when a file is opened or closed (pcapng's section,
# interface and statistics blocks) counts against every size limit.
for format in pcap-ns pcapng; do
    note "--max-bytes, $format: the files together stay under the limit, written_bytes is what is on disk"
    run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/bytes-$format" --format "$format" --max-bytes 500000 \
        --rotate-packets 200 --idle-exit 0.5 --stats-json "$WORK/bytes.json"
    [ "$(json "$WORK/bytes.json" .stop_reason)" = bytes ] || fail "stop reason is not bytes"
    total=$(du -cb "$WORK"/bytes-"$format"/* | tail -1 | cut -f1)
    [ "$total" -le 500000 ] || fail "--max-bytes 500000 --format $format wrote $total bytes"
    [ "$total" -gt 490000 ] || fail "--max-bytes 500000 --format $format stopped early, at $total bytes"
    [ "$(json "$WORK/bytes.json" .written_bytes)" = "$total" ] || fail "written_bytes is not the $total bytes on disk"
    check_counters_add_up "$WORK/bytes.json"

    note "-C 1, $format: no file over 1,000,000 bytes once closed"
    run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/size-$format" --format "$format" -C 1 --idle-exit 0.5 \
        --stats-json "$WORK/size.json"
    for f in "$WORK"/size-"$format"/*; do
        [ "$(stat -c %s "$f")" -le 1000000 ] || fail "$f is $(stat -c %s "$f") bytes, over 1 MB"
    done
    [ "$(json "$WORK/size.json" .written_bytes)" = "$(du -cb "$WORK"/size-"$format"/* | tail -1 | cut -f1)" ] ||
        fail "-C 1 --format $format: written_bytes is not what is on disk"
done

note "a session spec's rotate and limits"
echo '{"name":"spec","rotate":{"packets":1000,"keep":2},"limits":{"packets":2500},"format":"pcapng"}' >"$WORK/spec.json"
run_linecap "$WORK/log" "${E[@]}" -- -w "$WORK/spec" -F "$WORK/spec.json" --idle-exit 0.5 --stats-json "$WORK/spec.json.out"
[ "$(json "$WORK/spec.json.out" .stop_reason)" = packets ] || fail "limits.packets did not stop the capture"
[ "$(ls "$WORK/spec" | grep -vc '\.idx$')" = 2 ] || fail "rotate.keep 2 left $(ls "$WORK/spec")"
[ "$(ls "$WORK"/spec/spec-w0-*.pcapng | wc -l)" = 2 ] || fail "files not named after the spec"
# A ring: each file has its index, deleted with it by keep.
for f in "$WORK"/spec/spec-w0-*.pcapng; do [ -s "$f.idx" ] || fail "no index beside $f: $(ls "$WORK/spec")"; done
[ "$(ls "$WORK"/spec/*.idx | wc -l)" = 2 ] || fail "indexes of deleted files left: $(ls "$WORK/spec")"

if [ "$(id -u)" = 0 ]; then
    note "a full disk: the capture stops with disk_full, exit 1, a valid file, nothing lost silently"
    mkdir -p "$WORK/small"
    mount -t tmpfs -o size=3m linecap-test-full "$WORK/small"
    cleanup_hooks+=("umount '$WORK/small'")
    rc=0
    "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0,size=200 -- -w "$WORK/small" \
        --stats-json "$WORK/full.json" >"$WORK/full.log" 2>&1 || rc=$?
    [ "$rc" = 1 ] || { cat "$WORK/full.log"; fail "exit status $rc on a full disk"; }
    grep -q "No space left on device" "$WORK/full.log" || { cat "$WORK/full.log"; fail "no clear message"; }
    [ "$(json "$WORK/full.json" .stop_reason)" = disk_full ] || fail "stop reason is not disk_full"
    check_counters_add_up "$WORK/full.json"
    file=$(only_file "$WORK/small")
    check_readable "$file" "$(json "$WORK/full.json" .written_packets)"
    [ "$(json "$WORK/full.json" .written_packets)" -gt 1000 ] || fail "almost nothing written before the disk filled"
    umount "$WORK/small"
    cleanup_hooks=("${cleanup_hooks[@]:0:${#cleanup_hooks[@]}-1}")
fi

note "kill -9: closed files valid; the .part file merges up to its last complete record"
# A rotation (close, rename, open the next) takes a few hundred microseconds
# with no .part file in between: a kill landing there leaves none, so try
# again (files of 20 MB rotate every ~20 ms at this rate).
for attempt in 1 2 3; do
    rm -rf "$WORK/killed"
    "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_null0,size=300 -- -w "$WORK/killed" -s 128 -C 20 -W 3 \
        >"$WORK/killed.log" 2>&1 &
    pid=$!
    cleanup_hooks+=("kill -9 $pid 2>/dev/null")
    # Kill once it has rotated at least once (start-up is slow on a loaded machine).
    for _ in $(seq 100); do
        compgen -G "$WORK/killed/*.pcap" >/dev/null && break
        sleep 0.1
    done
    sleep 0.3
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    compgen -G "$WORK/killed/*.part" >/dev/null && break
    note "attempt $attempt: killed between two files; again"
done
parts=("$WORK"/killed/*.pcap.part)
[ -e "${parts[0]}" ] || fail "no .part file after kill -9"
closed=0
for f in "$WORK"/killed/*.pcap; do
    check_readable "$f"
    closed=$((closed + 1))
done
[ "$closed" -ge 1 ] || fail "no closed file after 10 s at full rate"
"$LINECAP" merge -o "$WORK/killed-merged.pcap" "$WORK/killed" 2>"$WORK/merge.log" || { cat "$WORK/merge.log"; fail "merge after kill -9"; }
check_readable "$WORK/killed-merged.pcap"
want=$("$COUNT" --stop-at-zeros "$WORK"/killed/*.pcap "$WORK"/killed/*.pcap.part)
got=$("$COUNT" "$WORK/killed-merged.pcap")
[ "$got" = "$want" ] || fail "merged $got packets, the files hold $want readable ones"

note "a .part file ending in zeros (a crash while a chunk was in flight) merges up to the zeros"
mkdir "$WORK/zeros"
first=$(compgen -G "$WORK/killed/*.pcap" | head -1)
part="$WORK/zeros/$(basename "$first").part"   # a name the writers give: a folder's merge takes those only
cp "$first" "$part"
head -c 65536 /dev/zero >>"$part"
"$LINECAP" merge -o "$WORK/zeros-merged.pcap" "$WORK/zeros" 2>"$WORK/zeros.log" || { cat "$WORK/zeros.log"; fail "merge of a zero-padded .part"; }
grep -q "zeros follow" "$WORK/zeros.log" || { cat "$WORK/zeros.log"; fail "merge did not say where the data ends"; }
[ "$("$COUNT" "$WORK/zeros-merged.pcap")" = "$("$COUNT" "$first")" ] || fail "zero records merged as packets"

note "merge of four writers' files equals mergecap's"
# Distinct timestamps across the files (4 us apart, offset by 1 us each):
# with equal ones, mergecap puts the later input first, linecap the earlier.
for i in 0 1 2 3; do
    "$GEN" -o "$WORK/q$i.pcap" -n 1500 --seed $((50 + i)) --profile imix --gap-ns 4000 --fixed-gap --start-offset-ns $((i * 1000))
done
run_linecap "$WORK/log" --lcores "0@0,1@1,2@1,3@0,4@0,5@1,6@1,7@0" "${EAL_TEST[@]}" \
    --vdev "net_pcap0,rx_pcap=$WORK/q0.pcap,rx_pcap=$WORK/q1.pcap,rx_pcap=$WORK/q2.pcap,rx_pcap=$WORK/q3.pcap" -- \
    -w "$WORK/four" --workers 4 --writers 4 --idle-exit 1 --format pcapng --stats-json "$WORK/four.json"
[ "$(ls "$WORK/four" | wc -l)" = 4 ] || fail "four writers made $(ls "$WORK/four" | wc -l) files"
check_counters_add_up "$WORK/four.json"
"$LINECAP" merge -o "$WORK/four.pcap" --format pcap-ns "$WORK/four" 2>/dev/null
mergecap -F nsecpcap -w "$WORK/four-mergecap.pcap" "$WORK"/four/*
"$COMPARE" "$WORK/four-mergecap.pcap" "$WORK/four.pcap"
[ "$("$COUNT" "$WORK/four.pcap")" = 6000 ] || fail "merged file does not hold 6000 packets"

note "equal timestamps keep the order the inputs were given in"
"$GEN" -o "$WORK/tie-a.pcap" -n 50 --seed 60 --gap-ns 1000 --fixed-gap
"$GEN" -o "$WORK/tie-b.pcap" -n 50 --seed 61 --gap-ns 1000 --fixed-gap
"$LINECAP" merge -o "$WORK/tie.pcap" "$WORK/tie-a.pcap" "$WORK/tie-b.pcap" 2>/dev/null
# mergecap breaks ties the other way round: given b then a, it yields a's packet first.
mergecap -F pcap -w "$WORK/tie-expected.pcap" "$WORK/tie-b.pcap" "$WORK/tie-a.pcap"
"$COMPARE" "$WORK/tie-expected.pcap" "$WORK/tie.pcap" >/dev/null || fail "ties: the first input's packet does not come first"
[ "$(tcpdump -r "$WORK/tie.pcap" -c 1 -xx 2>/dev/null | md5sum)" = "$(tcpdump -r "$WORK/tie-a.pcap" -c 1 -xx 2>/dev/null | md5sum)" ] ||
    fail "ties: the merged file does not start with the first input's first packet"

note "merge refuses what it cannot read"
echo "not a capture" >"$WORK/text.pcap"
"$LINECAP" merge -o "$WORK/x.pcap" "$WORK/text.pcap" 2>"$WORK/err" && fail "merged a text file"
grep -q "not a capture file: it starts with" "$WORK/err" || fail "unclear error: $(cat "$WORK/err")"
echo PASS
