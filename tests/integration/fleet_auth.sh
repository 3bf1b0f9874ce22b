#!/usr/bin/env bash
# etcd's own security for the fleet (docs/fleet.md, "Securing etcd"), with a
# real etcd on loopback: first one that asks for client certificates
# (https, --client-cert-auth; a CA and certificates made here with
# openssl), then one with its users on (etcdctl auth enable). A node or
# linecapctl without what etcd asks for is refused with one line naming the
# options to give, and the node captures on; with them, the node registers,
# linecapctl lists it, and a fleet session reaches it. The options' own
# errors: one line, exit 2, before DPDK or etcd.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/http_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"
budget=60   # two etcds, four daemons
command -v openssl >/dev/null || fail "openssl is needed (scripts/bootstrap installs it)"
command -v etcdctl >/dev/null || fail "etcdctl is needed (scripts/bootstrap installs etcd-client)"

note "the options' refusals: one line each, exit 2"
H=(--http "127.0.0.1:$PORT")
F=(--fleet-etcd https://127.0.0.1:2379 --node a)
refused "--fleet-etcd-cert and --fleet-etcd-key go together: the client certificate and its key (PEM)" \
    "${daemon_words[@]}" "${H[@]}" "${F[@]}" --fleet-etcd-cert "$WORK/x.pem"
refused "--fleet-etcd-cacert $WORK/none.pem: cannot read it: No such file or directory" \
    "${daemon_words[@]}" "${H[@]}" "${F[@]}" --fleet-etcd-cacert "$WORK/none.pem"
refused "--fleet-etcd-user and --fleet-etcd-password-file go together: etcd's user name, and a file whose first line is its password" \
    "${daemon_words[@]}" "${H[@]}" "${F[@]}" --fleet-etcd-user root
refused "--fleet-etcd-user is for a node of a fleet: give --fleet-etcd URL too (docs/fleet.md)" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd-user root
: >"$WORK/empty"
refused "--fleet-etcd-password-file $WORK/empty: its first line is empty: put etcd's password for root there" \
    "${daemon_words[@]}" "${H[@]}" "${F[@]}" --fleet-etcd-user root --fleet-etcd-password-file "$WORK/empty"
rc=0; "$LINECAPCTL" --etcd http://127.0.0.1:2379 --etcd-key "$WORK/x.pem" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && [ "$(cat "$WORK/err")" = "linecapctl: --etcd-cert and --etcd-key go together: the client certificate and its key (PEM)" ] ||
    fail "linecapctl --etcd-key alone: exit $rc: $(cat "$WORK/err")"

note "an etcd that asks for client certificates"
certs=$WORK/certs
mkdir "$certs"
# cert NAME CN EXTENSIONS: NAME.pem and NAME.key, signed by the test's CA.
cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$certs/$1.key" \
        -out "$certs/$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%b' "$3" >"$certs/$1.ext"
    openssl x509 -req -in "$certs/$1.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" -CAcreateserial \
        -out "$certs/$1.pem" -days 1 -extfile "$certs/$1.ext" 2>/dev/null || fail "openssl could not sign $1"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$certs/ca.key" \
    -out "$certs/ca.pem" -days 1 -subj "/CN=linecap test CA" 2>/dev/null || fail "openssl could not make a CA"
# etcd's gateway calls etcd itself with etcd's own certificate: clientAuth too.
cert server 127.0.0.1 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth'
cert node node 'extendedKeyUsage=clientAuth'
ETCD_CURL=(--cacert "$certs/ca.pem" --cert "$certs/node.pem" --key "$certs/node.key")
start_etcd tls https --cert-file "$certs/server.pem" --key-file "$certs/server.key" \
    --trusted-ca-file "$certs/ca.pem" --client-cert-auth
CA=(--etcd-cacert "$certs/ca.pem")
# A key that is not the certificate's, a CA that is no certificate, and TLS
# options for an http:// etcd: refused before anything starts.
cert other other 'extendedKeyUsage=clientAuth'
refused "--fleet-etcd-key $certs/other.key is not the key of --fleet-etcd-cert $certs/node.pem" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd "$ETCD" --node a --fleet-etcd-cert "$certs/node.pem" --fleet-etcd-key "$certs/other.key"
refused "--fleet-etcd-cacert $certs/node.key: no PEM certificate in it (-----BEGIN CERTIFICATE-----)" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd "$ETCD" --node a --fleet-etcd-cacert "$certs/node.key"
refused "--fleet-etcd-cacert is for https:// etcd URLs: give etcd's https:// client URL, or leave it out" \
    "${daemon_words[@]}" "${H[@]}" --fleet-etcd http://127.0.0.1:2379 --node a --fleet-etcd-cacert "$certs/ca.pem"
rc=0; "$LINECAPCTL" --etcd "$ETCD" --etcd-cert "$certs/node.pem" --etcd-key "$certs/other.key" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] && [ "$(cat "$WORK/err")" = "linecapctl: --etcd-key $certs/other.key is not the key of --etcd-cert $certs/node.pem" ] ||
    fail "linecapctl with another certificate's key: exit $rc: $(cat "$WORK/err")"
CLIENT=(--etcd-cert "$certs/node.pem" --etcd-key "$certs/node.key")

# etcd ends the connection at the handshake, or (TLS 1.3) while the request
# is being written: then the write raises SIGPIPE, which must not end
# linecapctl without a word (exit 141). Which of the two happens is a race,
# so it is tried several times.
for _ in $(seq 10); do
    rc=0; "$LINECAPCTL" --etcd "$ETCD" "${CA[@]}" fleet nodes 2>"$WORK/err" || rc=$?
    [ "$rc" = 3 ] && [ "$(wc -l <"$WORK/err")" = 1 ] &&
        grep -qF "(if etcd asks for client certificates, --client-cert-auth, give --etcd-cert FILE and --etcd-key FILE)" "$WORK/err" ||
        fail "linecapctl without a client certificate: exit $rc: $(cat "$WORK/err")"
done
note "linecapctl without one: $(cat "$WORK/err")"
rc=0; "$LINECAPCTL" --etcd "$ETCD" "${CLIENT[@]}" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] && grep -qF "etcd's certificate could not be verified" "$WORK/err" ||
    fail "linecapctl without etcd's CA: exit $rc: $(cat "$WORK/err")"

"$GEN" -o "$WORK/in.pcap" -n 200 --seed 7
start_node bare "$WORK/in.pcap" --idle-mode sleep --fleet-etcd-cacert "$certs/ca.pem"
for _ in $(seq 100); do
    grep -qF "give --fleet-etcd-cert FILE and --fleet-etcd-key FILE" "$WORK/bare.log" && break
    sleep 0.1
done
grep -F "fleet:" "$WORK/bare.log" | grep -qF "give --fleet-etcd-cert FILE and --fleet-etcd-key FILE" ||
    fail "the node without a client certificate does not say what to give: $(cat "$WORK/bare.log")"
node_ctl bare ls >/dev/null || fail "the node without a client certificate stopped answering"
start_node certified "$WORK/in.pcap" --idle-mode sleep --fleet-etcd-cacert "$certs/ca.pem" \
    --fleet-etcd-cert "$certs/node.pem" --fleet-etcd-key "$certs/node.key"
ETCD_CTL=("${CA[@]}" "${CLIENT[@]}")
wait_nodes '[.[].name] == ["certified"]' 10 >/dev/null
out=$("$LINECAPCTL" --etcd "$ETCD" "${ETCD_CTL[@]}" --json fleet start --name tls --proto udp --wait 10) ||
    fail "fleet start over TLS: $out"
jq -e '.nodes | length == 1 and .[0].node == "certified" and .[0].status == "running"' <<<"$out" >/dev/null ||
    fail "fleet start over TLS did not reach the node: $out"
"$LINECAPCTL" --etcd "$ETCD" "${ETCD_CTL[@]}" fleet stop "$(jq -r .id <<<"$out")" >/dev/null || fail "fleet stop over TLS"
for n in bare certified; do node_ctl "$n" shutdown >/dev/null; wait_node_exit "$n"; budget=$((budget + EXIT_STALL)); done
kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true

note "an etcd with its users on, its tokens good for a second idle"
ETCD_CURL=()
# --auth-token-ttl 1: the nodes' tokens go stale between their calls (the
# watch is made again every 10 s quiet), so they must ask for new ones.
start_etcd users http --auth-token-ttl 1
etcdctl --endpoints "$ETCD" user add root --new-user-password linecap-test-pw --interactive=false >/dev/null ||
    fail "etcdctl user add"
etcdctl --endpoints "$ETCD" auth enable >/dev/null || fail "etcdctl auth enable"
echo linecap-test-pw >"$WORK/password"
echo wrong-password >"$WORK/wrong"
rc=0; "$LINECAPCTL" --etcd "$ETCD" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] && grep -qF "etcd has authentication enabled: give --etcd-user NAME and --etcd-password-file FILE" "$WORK/err" ||
    fail "linecapctl without a user: exit $rc: $(cat "$WORK/err")"
note "linecapctl without a user: $(cat "$WORK/err")"
rc=0; "$LINECAPCTL" --etcd "$ETCD" --etcd-user root --etcd-password-file "$WORK/wrong" fleet nodes 2>"$WORK/err" || rc=$?
[ "$rc" = 3 ] && grep -qF "authenticate as root: etcdserver: authentication failed, invalid user ID or password: check --etcd-user NAME and --etcd-password-file FILE" "$WORK/err" ||
    fail "linecapctl with a wrong password: exit $rc: $(cat "$WORK/err")"
start_node nouser "$WORK/in.pcap" --idle-mode sleep
start_node user "$WORK/in.pcap" --idle-mode sleep --fleet-etcd-user root --fleet-etcd-password-file "$WORK/password"
ETCD_CTL=(--etcd-user root --etcd-password-file "$WORK/password")
wait_nodes '[.[].name] == ["user"]' 10 >/dev/null
for _ in $(seq 100); do
    grep -F "fleet:" "$WORK/nouser.log" | grep -qF "give --fleet-etcd-user NAME and --fleet-etcd-password-file FILE" && break
    sleep 0.1
done
grep -F "fleet:" "$WORK/nouser.log" | grep -qF "give --fleet-etcd-user NAME and --fleet-etcd-password-file FILE" ||
    fail "the node without a user does not say what to give: $(cat "$WORK/nouser.log")"
sleep 11   # past the watch's 10 s: every token of the node has gone stale at least once
out=$("$LINECAPCTL" --etcd "$ETCD" "${ETCD_CTL[@]}" --json fleet start --name users --proto udp --wait 10) ||
    fail "fleet start as root: $out"
jq -e '.nodes | length == 1 and .[0].node == "user" and .[0].status == "running"' <<<"$out" >/dev/null ||
    fail "fleet start as root did not reach the node: $out"
grep -F "fleet:" "$WORK/user.log" | grep -q "warning" &&
    fail "the node with a user warned: $(grep -F "fleet:" "$WORK/user.log" | grep warning)"
for n in nouser user; do node_ctl "$n" shutdown >/dev/null; wait_node_exit "$n"; budget=$((budget + EXIT_STALL)); done
end_of_test
echo PASS
