# What the fleet's tests share, after lib.sh and http_lib.sh: a real etcd on
# loopback (Debian's etcd-server), and daemons that join it as nodes.
command -v etcd >/dev/null ||
    fail "etcd is not installed: scripts/bootstrap installs it (apt-get install etcd-server etcd-client)"

ETCD_PID=
ETCD_CURL=()   # what curl needs to reach it (TLS: CA, client certificate)
# start_etcd [NAME [SCHEME [ETCD-OPTIONS...]]]: one member NAME (default
# fleet-test) on two free loopback ports, its client URL SCHEME (default
# http); sets ETCD (its client URL) and ETCD_PID. Its log is $WORK/NAME.log,
# its data in memory (/dev/shm, when it has 1 GiB free: etcd preallocates
# 64 MB log segments): etcd syncs its log to disk at every write, and on a
# disk still writing back what earlier tests wrote (gigabytes of captures)
# one sync can take seconds, past the nodes' 3 s calls. Killed and removed
# by the test's cleanup.
start_etcd() {
    local name=${1:-fleet-test} scheme=${2:-http} client peer data
    shift $(($# < 2 ? $# : 2))
    client=$(free_port)
    peer=$(free_port)
    data=
    if [ "$(df --output=avail -k /dev/shm 2>/dev/null | tail -1)" -ge $((1 << 20)) ] 2>/dev/null; then
        data=$(mktemp -d /dev/shm/linecap-etcd.XXXXXX)
    fi
    [ -n "$data" ] || data=$(mktemp -d "$WORK/$name.XXXXXX")
    ETCD="$scheme://127.0.0.1:$client"
    etcd --name "$name" --data-dir "$data" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$name=http://127.0.0.1:$peer" "$@" >>"$WORK/$name.log" 2>&1 &
    ETCD_PID=$!
    cleanup_hooks+=("kill -CONT $ETCD_PID 2>/dev/null; kill -9 $ETCD_PID 2>/dev/null; wait $ETCD_PID 2>/dev/null; rm -rf $data")
    for _ in $(seq 100); do
        curl -sf --max-time 1 "${ETCD_CURL[@]}" "$ETCD/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/$name.log"
    fail "etcd did not come up on $ETCD"
}

# start_node NAME PCAP [OPTIONS...]: a daemon replaying PCAP that joins the
# fleet as NAME, its HTTP API on a free port; sets NODE_PID[NAME] and
# NODE_PORT[NAME]. Its socket is $WORK/NAME.sock, its log $WORK/NAME.log.
#
# Its parent is a shell of its own, which reaps it and writes its exit
# status to NODE_RC[NAME] (a file of this start's; wait_node_exit reads
# it), not this one. A node killed with -9 ends its hundred-odd threads at
# once, and the kernel's release of them ran in its reaper's wait4 for
# minutes on this 2-CPU machine busy with the other nodes' lcores
# (sampled: wait4 -> release_task -> proc_invalidate_siblings_dcache ->
# shrink_dcache_parent, the reaper running all along; 263 s in a CI run,
# past 390 s here, 1 run in 10). Reaped by this shell (bash reaps in its
# SIGCHLD handler), that held the test wherever it was.
declare -A NODE_PID NODE_PORT NODE_RC
NODE_STARTS=0
start_node() {
    local name=$1 pcap=$2 port pid_file reaper
    shift 2
    port=$(free_port)
    NODE_STARTS=$((NODE_STARTS + 1))
    pid_file="$WORK/$name.$NODE_STARTS.pid"
    NODE_RC[$name]="$WORK/$name.$NODE_STARTS.rc"
    (
        "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "$prefix-$name" --vdev "net_pcap0,rx_pcap=$pcap" -- \
            --control "$WORK/$name.sock" --out-root "$WORK/$name-sessions" --http "127.0.0.1:$port" \
            --fleet-etcd "$ETCD" --node "$name" "$@" >>"$WORK/$name.log" 2>&1 &
        echo $! >"$pid_file"
        rc=0
        wait $! || rc=$?
        echo "$rc" >"${NODE_RC[$name]}"
    ) </dev/null >/dev/null 2>&1 &
    reaper=$!
    # The reaper first: it would write its file into $WORK as cleanup
    # removes it. The node's pid read then: the hook is there before it
    # is known, should this start fail on the way.
    cleanup_hooks+=("kill -9 $reaper \$(cat '$pid_file' 2>/dev/null) 2>/dev/null")
    for _ in $(seq 400); do [ -s "$pid_file" ] && break; sleep 0.05; done
    NODE_PID[$name]=$(cat "$pid_file") || fail "node $name: its reaper wrote no pid within 20 s"
    NODE_PORT[$name]=$port
    for _ in $(seq 150); do
        "$LINECAPCTL" --socket "$WORK/$name.sock" ls >/dev/null 2>&1 && return 0
        kill -0 "${NODE_PID[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/$name.log"
    fail "node $name did not come up"
}

# wait_node_exit NAME: wait_exit for a node (start_node: its reaper has its status).
wait_node_exit() {
    wait_exit "${NODE_PID[$1]}" "$1" "$WORK/$1.log" "${NODE_RC[$1]}"
}

node_ctl() {
    local name=$1
    shift
    "$LINECAPCTL" --socket "$WORK/$name.sock" "$@"
}

# nodes: `fleet nodes --json`'s list. Asked again if etcd is slow to answer
# (exit 3): two CPUs shared by etcd, four daemons and tshark can hold it
# past the client's 3 s now and then, which is not what these tests test.
# ETCD_CTL: linecapctl's options for this etcd besides --etcd (TLS, user).
ETCD_CTL=()
nodes() {
    local out
    for _ in 1 2 3; do
        out=$("$LINECAPCTL" --etcd "$ETCD" "${ETCD_CTL[@]}" --json fleet nodes) && break
    done
    echo "$out" | jq -c '.nodes'
}

# wait_nodes JQ SECONDS: until JQ holds of the nodes' list (true/false), at
# most SECONDS; prints how long it took (ms). Fails if it never does.
wait_nodes() {
    local test=$1 limit=$2 t0 t1
    t0=$(date +%s%N)
    while :; do
        nodes | jq -e "$test" >/dev/null && break
        t1=$(date +%s%N)
        [ $(((t1 - t0) / 1000000)) -lt $((limit * 1000)) ] ||
            fail "the fleet's nodes did not come to ($test) within $limit s: $(nodes)"
        sleep 0.1
    done
    echo $((($(date +%s%N) - t0) / 1000000))
}
