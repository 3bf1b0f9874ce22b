// HTTPS for the HTTP API (--http-cert, --http-key; docs/security.md), and
// with --http-client-ca, mutual TLS: a client must present a certificate
// that CA signed, or its handshake fails before a byte of HTTP is read.
#pragma once

#include <string>

struct ssl_ctx_st;   // OpenSSL's SSL_CTX

namespace linecap {

struct tls_files {
    std::string cert;        // PEM: the server's certificate, then its chain if any
    std::string key;         // PEM: its private key, unencrypted
    std::string client_ca;   // PEM: the CA(s) whose clients are let in; empty: any client
    bool enabled() const { return !cert.empty(); }
};

// Sets up a server's TLS context: TLS 1.2 or later, the certificate and its
// key (which must belong together), and with client_ca, a client
// certificate required and checked against it. Returns an empty string or
// one line naming the option and file that are wrong and what to give.
std::string setup_tls(ssl_ctx_st& ctx, const tls_files& files);

// The same checks on a context of its own, at start-up (before DPDK starts);
// also refuses a key without a certificate, the reverse, and a client CA
// without both.
std::string check_tls(const tls_files& files);

} // namespace linecap
