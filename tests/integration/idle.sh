#!/usr/bin/env bash
# --idle-mode: what a worker does while no packet arrives. For each mode, a
# capture of a quiet veth (a namespace of this test's own, IPv6 off, so the
# kernel sends nothing on it) is left idle for 2 s while the CPU time of its
# worker thread is read from /proc; then 2000 packets at 2000/s are replayed
# into it, and every one must be written. sleep must give its CPU back
# (under half a core of CPU time idle), poll must not (its thread is
# runnable all the time), and pause keeps the core busy as the OS sees it
# (DPDK pauses in user space: the finding docs/architecture.md, "Idle
# workers", reports). monitor runs where the
# CPU and the driver can (UMWAIT, get_monitor_addr); elsewhere it must be
# refused with one line saying what to type instead.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../../scripts/veth.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }

ns="linecap-idle-$$"
veth_up "$ns"
cleanup_hooks+=("veth_down $ns")

"$GEN" -o "$WORK/in.pcap" -n 2000 --profile mixed --seed 11
hz=$(getconf CLK_TCK)

# cpu_ticks STAT: user + system time of a process or thread, in clock ticks
# (fields 14 and 15 of /proc/.../stat, counted after the name in brackets).
cpu_ticks() {
    sed 's/^.*) //' "$1" | awk '{print $12 + $13}'
}

# runnable_ns SCHEDSTAT: the time a thread ran plus the time it waited for a
# CPU, in ns. A thread that never sleeps is runnable all the time, whatever
# else the machine runs, where its CPU time shrinks with every neighbour.
runnable_ns() {
    awk '{printf "%.0f", $1 + $2}' "$1"
}

# steal_ticks CPU: the time the hypervisor gave that (virtual) CPU's host
# core to others, in clock ticks (/proc/stat). Neither ran nor waited as the
# guest sees it: a runnable share is taken of the time left (a CI run saw
# a polling worker "runnable 77%" while its vCPU was stolen).
steal_ticks() {
    awk -v c="cpu$1" '$1 == c {print $9}' /proc/stat
}

# cpu_of STAT: the CPU a thread last ran on (field 39 of /proc/.../stat).
cpu_of() {
    sed 's/^.*) //' "$1" | awk '{print $37}'
}

# The worker's thread: DPDK 22.11's EAL names it rte-worker-<lcore> (lcore 1 with -l 0-1).
worker_thread() {
    local pid=$1 task
    for task in /proc/"$pid"/task/*; do
        [ "$(cat "$task/comm" 2>/dev/null)" = rte-worker-1 ] && { echo "$task"; return; }
    done
}

# run_mode MODE: sets idle_worker and idle_process (CPU time, % of one CPU
# over 2 s of silence) and idle_runnable (the worker's runnable time, %), or
# returns 1 if linecap refused the mode at start-up.
run_mode() {
    local mode=$1
    local dir="$WORK/$mode"
    # -c 2000 ends the run once every packet is written; --idle-exit 6
    # bounds it (counted from the start, it must outlast the 2 s of silence).
    ip netns exec "$ns" "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --vdev net_af_packet0,iface=veth-rx \
        --log-level=pmd.net.af_packet:error -- -w "$dir" --idle-mode "$mode" -c 2000 --idle-exit 6 \
        --stats-json "$dir.json" >"$dir.log" 2>&1 &
    local pid=$!
    cleanup_hooks+=("kill $pid 2>/dev/null")
    for _ in $(seq 100); do
        compgen -G "$dir/*.part" >/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! compgen -G "$dir/*.part" >/dev/null; then
        local rc=0
        wait "$pid" || rc=$?
        [ "$rc" != 0 ] && grep -q "^linecap: .*--idle-mode $mode" "$dir.log" && return 1
        cat "$dir.log" >&2
        fail "--idle-mode $mode: linecap did not start (exit $rc)"
    fi
    sleep 0.5   # past start-up
    local task
    task=$(worker_thread "$pid")
    [ -n "$task" ] || fail "--idle-mode $mode: no rte-worker-1 thread in /proc/$pid/task"
    local w0 p0 r0 t0 s0 w1 p1 r1 t1 s1 cpu
    cpu=$(cpu_of "$task/stat")   # an lcore's thread is pinned to its CPU
    w0=$(cpu_ticks "$task/stat"); p0=$(cpu_ticks "/proc/$pid/stat"); r0=$(runnable_ns "$task/schedstat"); t0=$(date +%s%N)
    s0=$(steal_ticks "$cpu")
    sleep 2
    w1=$(cpu_ticks "$task/stat"); p1=$(cpu_ticks "/proc/$pid/stat"); r1=$(runnable_ns "$task/schedstat"); t1=$(date +%s%N)
    s1=$(steal_ticks "$cpu")
    idle_worker=$(( (w1 - w0) * 100 * 1000000000 / hz / (t1 - t0) ))
    idle_process=$(( (p1 - p0) * 100 * 1000000000 / hz / (t1 - t0) ))
    idle_stolen_ms=$(( (s1 - s0) * 1000 / hz ))
    idle_runnable=$(( (r1 - r0) * 100 / (t1 - t0 - idle_stolen_ms * 1000000) ))

    ip netns exec "$ns" tcpreplay -q -i veth-tx --pps 2000 "$WORK/in.pcap" >"$dir.replay" 2>&1 ||
        { cat "$dir.replay"; fail "tcpreplay failed"; }
    local sent
    sent=$(awk '/Successful packets:/ {print $3}' "$dir.replay")
    [ "$sent" = 2000 ] || { cat "$dir.replay"; fail "tcpreplay sent $sent of 2000"; }
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || { cat "$dir.log" >&2; fail "--idle-mode $mode: linecap exited with $rc"; }
    check_counters_add_up "$dir.json"
    [ "$(json "$dir.json" '.ports[0].idle_mode')" = "$mode" ] || fail "--idle-mode $mode: the port's idle_mode is not $mode"
    local written missed
    written=$(json "$dir.json" .written_packets)
    missed=$(json "$dir.json" .dropped_nic)
    note "--idle-mode $mode: idle worker ${idle_worker}% of a CPU, runnable ${idle_runnable}% of the time not stolen by the hypervisor (${idle_stolen_ms} ms of 2 s stolen) (process ${idle_process}%); 2000 sent, $written written, $missed dropped_nic"
    [ "$written" = 2000 ] || { cat "$dir.log" >&2; fail "--idle-mode $mode: $written of 2000 packets written"; }
    check_readable "$(only_file "$dir")" 2000
    "$COMPARE" "$WORK/in.pcap" "$(only_file "$dir")" --timestamps ignore
}

# poll never sleeps: runnable (running, or waiting for a CPU) the whole time.
run_mode poll
[ "$idle_runnable" -ge 90 ] || fail "--idle-mode poll: the idle worker was runnable ${idle_runnable}% of the time, expected a busy-polling thread"

# sleep gives its CPU back: well under half a core while nothing arrives.
run_mode sleep
[ "$idle_worker" -lt 50 ] || fail "--idle-mode sleep: the idle worker used ${idle_worker}% of a CPU, expected under 50%"

# DPDK's PAUSE waits with rte_pause() (or TPAUSE) in the thread: less power,
# but the thread never sleeps: the OS sees a busy core, as with poll.
run_mode pause
[ "$idle_runnable" -ge 90 ] || fail "--idle-mode pause: the idle worker was runnable only ${idle_runnable}% of the time; DPDK 22.11 pauses in user space (docs/architecture.md, \"Idle workers\" says it stays busy): update the docs if this changed"

if run_mode monitor; then
    note "--idle-mode monitor runs here (UMWAIT and the driver's get_monitor_addr)"
else
    line=$(grep '^linecap: ' "$WORK/monitor.log")
    [ "$(grep -c '^linecap: ' "$WORK/monitor.log")" = 1 ] || { cat "$WORK/monitor.log" >&2; fail "--idle-mode monitor: not exactly one error"; }
    [[ "$line" == *"port 0 (net_af_packet0)"* && "$line" == *"--idle-mode sleep"* && "$line" == *"--idle-mode pause"* ]] ||
        fail "--idle-mode monitor: the refusal does not name the port and what to type instead: $line"
    note "--idle-mode monitor refused here, as it must be: $line"
fi
echo PASS
