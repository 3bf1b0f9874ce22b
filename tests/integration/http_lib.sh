# What the HTTP API's tests share (http.sh, http_stream.sh, https.sh).
# Sourced after lib.sh and daemon_lib.sh; sets PORT (a free one on
# loopback) and `started`. The test sets URL (http:// or https:// and PORT)
# and, once a token is in force, AUTH (curl's Authorization header).
started=$(date +%s)
AUTH=()

# note TEXT: a step, with the seconds since the test began (its budget: 40 s
# unless it sets $budget).
note() {
    echo "--- [$(($(date +%s) - started)) s] $*"
}

# refused WANT WORDS...: linecap with WORDS (after "--") exits 2 with one
# line, "linecap: WANT..." (WANT its start; a usage error adds "Run 'linecap --
# --help' ..."), before DPDK starts and before it makes its socket or
# --out-root. daemon_words are a daemon's, for WORDS.
daemon_words=(--control "$WORK/refused.sock" --out-root "$WORK/refused-root")
refused() {
    local want=$1 rc=0
    shift
    "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "$prefix-refused" --vdev net_null0 -- "$@" \
        >"$WORK/refused.log" 2>&1 || rc=$?
    [ "$rc" = 2 ] || { cat "$WORK/refused.log"; fail "linecap $*: exit $rc, expected 2"; }
    [ "$(grep -vc "^Run 'linecap -- --help'" "$WORK/refused.log")" = 1 ] ||
        fail "linecap $*: more than one line: $(cat "$WORK/refused.log")"
    case "$(head -1 "$WORK/refused.log")" in
    "linecap: $want"*) ;;
    *) fail "linecap $*: said $(cat "$WORK/refused.log"), expected linecap: $want" ;;
    esac
    [ ! -e "$WORK/refused.sock" ] && [ ! -e "$WORK/refused-root" ] || fail "linecap $*: made its socket or root"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)

# req METHOD PATH [curl options]: prints the status code; the body goes to
# $WORK/body, the headers to $WORK/headers.
req() {
    local method=$1 path=$2
    shift 2
    curl -sS --max-time 10 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" "${AUTH[@]}" "$@" \
        "$URL$path"
}

# expect STATUS METHOD PATH [curl options]: fails unless the status is STATUS.
expect() {
    local want=$1 got
    shift
    got=$(req "$@") || fail "curl $*: failed"
    [ "$got" = "$want" ] || fail "$1 $2: HTTP $got, expected $want: $(head -c 500 "$WORK/body")"
}

# header NAME: the last reply's header NAME (any case), its value.
header() {
    tr -d '\r' <"$WORK/headers" | awk -v h="$1" 'BEGIN {IGNORECASE = 1} index(tolower($0), tolower(h) ":") == 1 {sub(/^[^:]*: */, ""); print}' | tail -1
}

# The error the control socket gives for the request line $1; or, given
# CMD ID, for {"cmd": CMD, "id": ID} with ID URL-decoded (NUL and all).
socket_error() {
    python3 - "$SOCK" "$@" <<'PY'
import json, socket, sys, urllib.parse
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
line = sys.argv[2] if len(sys.argv) == 3 else json.dumps({"cmd": sys.argv[2], "id": urllib.parse.unquote(sys.argv[3])})
s.sendall(line.encode() + b"\n")
print(json.loads(s.makefile().readline())["error"])
PY
}

# The daemon told to shut down and gone (status 0); the test within its budget.
shut_down_within_budget() {
    ctl shutdown >/dev/null
    wait_exit "$pid" daemon "$WORK/daemon.log"
    budget=$((budget + EXIT_STALL))
    end_of_test
}

budget=40   # seconds: a test may set its own
end_of_test() {
    local elapsed=$(($(date +%s) - started))
    note "done in $elapsed s"
    [ "$elapsed" -lt "$budget" ] || fail "the test took $elapsed s, over its $budget s budget"
}
