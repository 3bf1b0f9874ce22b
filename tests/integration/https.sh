#!/usr/bin/env bash
# The HTTP API over TLS (--http-cert, --http-key) and mutual TLS
# (--http-client-ca; docs/security.md), with a CA, a server certificate and
# client certificates made here by openssl: the option errors, one line
# each before DPDK starts; HTTPS with curl --cacert; with a client CA, a
# handshake without a client certificate fails, one the CA signed gets in,
# one another CA signed does not.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/daemon_lib.sh"
source "$(dirname "$0")/http_lib.sh"
command -v openssl >/dev/null || fail "openssl is not installed: scripts/bootstrap installs it"

"$GEN" -o "$WORK/in.pcap" -n 2000 --seed 7
URL="https://127.0.0.1:$PORT"

note "a CA, the server's certificate for 127.0.0.1, a client's; another CA and its client"
pki="$WORK/pki"
mkdir "$pki"
key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$pki/$1.key" 2>/dev/null
}
# cert NAME CN ISSUER [EXT]: NAME.pem for NAME.key, signed by ISSUER (NAME itself: a CA).
cert() {
    local name=$1 cn=$2 issuer=$3 ext=${4:-}
    key "$name"
    if [ "$issuer" = "$name" ]; then
        openssl req -x509 -new -key "$pki/$name.key" -subj "/CN=$cn" -days 2 -out "$pki/$name.pem" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign 2>/dev/null
    else
        openssl req -new -key "$pki/$name.key" -subj "/CN=$cn" -out "$pki/$name.csr" 2>/dev/null
        printf '%s\n' "$ext" >"$pki/$name.ext"
        openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$issuer.pem" -CAkey "$pki/$issuer.key" -CAcreateserial \
            -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null
    fi
    [ -s "$pki/$name.pem" ] || fail "openssl made no $name.pem"
}
cert ca "linecap test CA" ca
cert server 127.0.0.1 ca "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
cert client operator ca "extendedKeyUsage=clientAuth"
cert other-ca "another CA" other-ca
cert stranger stranger other-ca "extendedKeyUsage=clientAuth"
echo "not a certificate" >"$pki/junk.pem"

note "option errors: one line each, exit 2, before DPDK starts"
H=(--http "127.0.0.1:$PORT")
refused "--http-cert $pki/server.pem needs its private key: give --http-key FILE too (PEM, unencrypted)" \
    "${daemon_words[@]}" "${H[@]}" --http-cert "$pki/server.pem"
refused "--http-key $pki/server.key is the key of an HTTPS certificate: give --http-cert FILE too (the certificate, PEM)" \
    "${daemon_words[@]}" "${H[@]}" --http-key "$pki/server.key"
refused "--http-client-ca $pki/ca.pem asks HTTPS clients for a certificate, and the API serves plain HTTP: give --http-cert FILE --http-key FILE too" \
    "${daemon_words[@]}" "${H[@]}" --http-client-ca "$pki/ca.pem"
refused "--http-cert $WORK/missing.pem: cannot read it: No such file or directory" \
    "${daemon_words[@]}" "${H[@]}" --http-cert "$WORK/missing.pem" --http-key "$pki/server.key"
refused "--http-key $WORK/missing.key: cannot read it: No such file or directory" \
    "${daemon_words[@]}" "${H[@]}" --http-cert "$pki/server.pem" --http-key "$WORK/missing.key"
refused "--http-client-ca $WORK/missing.pem: cannot read it: No such file or directory" \
    "${daemon_words[@]}" "${H[@]}" --http-cert "$pki/server.pem" --http-key "$pki/server.key" --http-client-ca "$WORK/missing.pem"
# (Words after the reason come from OpenSSL: the start and the advice are linecap's.)
refused_like() {
    local start=$1 end=$2 rc=0
    shift 2
    "$LINECAP" -l 0-1 "${EAL_TEST[@]}" --file-prefix "$prefix-refused" --vdev net_null0 -- \
        "${daemon_words[@]}" "$@" >"$WORK/refused.log" 2>&1 || rc=$?
    [ "$rc" = 2 ] && [ "$(wc -l <"$WORK/refused.log")" = 1 ] || { cat "$WORK/refused.log"; fail "linecap $*: exit $rc"; }
    local line
    line=$(cat "$WORK/refused.log")
    [[ "$line" == "linecap: $start"* && "$line" == *"$end" ]] || fail "linecap $*: said $line"
}
refused_like "--http-cert $pki/junk.pem: no certificate OpenSSL can read in it (" \
    "): give a PEM file that begins with -----BEGIN CERTIFICATE-----" \
    "${H[@]}" --http-cert "$pki/junk.pem" --http-key "$pki/server.key"
refused_like "--http-key $pki/junk.pem: no private key OpenSSL can read in it (" \
    "): give the certificate's key, PEM and unencrypted (openssl pkey -in $pki/junk.pem -out KEY removes a password)" \
    "${H[@]}" --http-cert "$pki/server.pem" --http-key "$pki/junk.pem"
refused_like "--http-key $pki/client.key is not the key of --http-cert $pki/server.pem (" \
    "): give the key the certificate was made for (openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY print the same for a pair)" \
    "${H[@]}" --http-cert "$pki/server.pem" --http-key "$pki/client.key"
refused_like "--http-client-ca $pki/junk.pem: no CA certificate OpenSSL can read in it (" \
    "): give the PEM certificate of the CA that signs the clients' certificates" \
    "${H[@]}" --http-cert "$pki/server.pem" --http-key "$pki/server.key" --http-client-ca "$pki/junk.pem"
refused "--http-cert is for the HTTP API's HTTPS: give --http ADDR:PORT too" \
    "${daemon_words[@]}" --http-cert "$pki/server.pem" --http-key "$pki/server.key"
# TLS alone is not authentication: an address not loopback still needs a token (or client certificates).
refused "--http 0.0.0.0:$PORT: 0.0.0.0 is not a loopback address, and whoever reaches it could start and delete captures: give --http-token-file FILE (a bearer token) or --http-client-ca FILE (client certificates), or listen on 127.0.0.1 or [::1]" \
    "${daemon_words[@]}" --http "0.0.0.0:$PORT" --http-cert "$pki/server.pem" --http-key "$pki/server.key"

note "HTTPS: curl --cacert gets in; without the CA, or in plain HTTP, no reply"
start_daemon "${H[@]}" --http-cert "$pki/server.pem" --http-key "$pki/server.key"
grep -q "HTTP API on https://127.0.0.1:$PORT/ (no token: loopback only)" "$WORK/daemon.log" ||
    fail "the log: $(cat "$WORK/daemon.log")"
code=$(curl -sS --max-time 5 --cacert "$pki/ca.pem" -o "$WORK/body" -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] && jq -e '.status == "ok"' "$WORK/body" >/dev/null || fail "HTTPS /healthz: $code $(cat "$WORK/body")"
rc=0; curl -sS --max-time 5 -o /dev/null "$URL/healthz" 2>"$WORK/err" || rc=$?
[ "$rc" = 60 ] || fail "curl without the CA: exit $rc, expected 60 (the peer's certificate not trusted): $(cat "$WORK/err")"
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" 2>/dev/null || true)
[ "$code" != 200 ] || fail "plain HTTP to the HTTPS port got 200"
# The API over it: a session, and its merge (GET .../pcap) as linecapctl's.
id=$(ctl --json start --name tls --proto udp -s 96 --max-bytes 2000000 | jq -r .id)
wait_ended "$id"
curl -sS --max-time 10 --cacert "$pki/ca.pem" -o "$WORK/https.pcap" "$URL/api/v1/sessions/$id/pcap" || fail "GET /pcap over HTTPS"
ctl merge "$id" -o "$WORK/ctl.pcap" >/dev/null
cmp "$WORK/https.pcap" "$WORK/ctl.pcap" || fail "/pcap over HTTPS differs from linecapctl merge"
ctl shutdown >/dev/null
wait_exit "$pid" daemon "$WORK/daemon.log"
budget=$((budget + EXIT_STALL))

note "mutual TLS: no client certificate, no handshake; the CA's client gets in; another CA's does not"
rm -f "$SOCK"
start_daemon "${H[@]}" --http-cert "$pki/server.pem" --http-key "$pki/server.key" --http-client-ca "$pki/ca.pem"
grep -q "HTTP API on https://127.0.0.1:$PORT/ (client certificate required)" "$WORK/daemon.log" ||
    fail "the log: $(cat "$WORK/daemon.log")"
# https CLIENT_ARGS...: curl's exit status and the HTTP status ("000": none).
https() {
    local rc=0 code
    code=$(curl -sS --max-time 5 --cacert "$pki/ca.pem" -o "$WORK/body" -w '%{http_code}' "$@" "$URL/api/v1/sessions" \
        2>"$WORK/err") || rc=$?
    echo "$rc $code"
}
read -r rc code < <(https)
[ "$rc" != 0 ] && [ "$code" = 000 ] || fail "no client certificate: curl exit $rc, HTTP $code"
# The handshake itself fails (openssl s_client, TLS 1.2 so that the server's
# verdict comes within the handshake).
rc=0
openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$pki/ca.pem" -tls1_2 </dev/null >"$WORK/s_client.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a TLS 1.2 handshake without a client certificate succeeded: $(tail -5 "$WORK/s_client.log")"
read -r rc code < <(https --cert "$pki/client.pem" --key "$pki/client.key")
[ "$rc" = 0 ] && [ "$code" = 200 ] || fail "the CA's client: curl exit $rc, HTTP $code: $(cat "$WORK/err")"
jq -e '.sessions | map(.name) == ["tls"]' "$WORK/body" >/dev/null || fail "sessions over mTLS: $(cat "$WORK/body")"
read -r rc code < <(https --cert "$pki/stranger.pem" --key "$pki/stranger.key")
[ "$rc" != 0 ] && [ "$code" = 000 ] || fail "another CA's client: curl exit $rc, HTTP $code"
rc=0
openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$pki/ca.pem" -tls1_2 -cert "$pki/stranger.pem" \
    -key "$pki/stranger.key" </dev/null >"$WORK/s_client.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a TLS 1.2 handshake with another CA's client certificate succeeded"
# The API is well after the refusals.
read -r rc code < <(https --cert "$pki/client.pem" --key "$pki/client.key")
[ "$code" = 200 ] || fail "the CA's client, again: HTTP $code"
shut_down_within_budget
