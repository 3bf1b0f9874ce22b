#include "control/http_tls.h"

#include <cerrno>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/error_text.h"

namespace linecap {

namespace {

// OpenSSL's last error, as a reason: "key values mismatch".
std::string openssl_reason()
{
    const unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
    return reason != nullptr ? reason : "no reason given";
}

// Empty if `path` can be opened for reading, else "OPTION PATH: cannot read it: ...".
std::string readable(const char* option, const std::string& path)
{
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr)
        return fmt::format("{} {}: cannot read it: {}", option, path, error_text(errno));
    std::fclose(f);
    return {};
}

// No password prompt on the daemon's terminal: an encrypted key is refused.
int no_password(char*, int, int, void*)
{
    return 0;
}

} // namespace

std::string setup_tls(ssl_ctx_st& ctx, const tls_files& files)
{
    for (const auto& [option, path] : {std::pair{"--http-cert", &files.cert}, std::pair{"--http-key", &files.key},
                                       std::pair{"--http-client-ca", &files.client_ca}})
        if (!path->empty())
            if (std::string e = readable(option, *path); !e.empty())
                return e;
    ERR_clear_error();
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, files.cert.c_str()) != 1)
        return fmt::format("--http-cert {}: no certificate OpenSSL can read in it ({}): give a PEM file that begins "
                           "with -----BEGIN CERTIFICATE-----",
                           files.cert, openssl_reason());
    std::FILE* f = std::fopen(files.key.c_str(), "r");
    if (f == nullptr)
        return fmt::format("--http-key {}: cannot read it: {}", files.key, error_text(errno));
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_PrivateKey(f, nullptr, no_password, nullptr),
                                                                   EVP_PKEY_free);
    std::fclose(f);
    if (!key)
        return fmt::format("--http-key {}: no private key OpenSSL can read in it ({}): give the certificate's key, "
                           "PEM and unencrypted (openssl pkey -in {} -out KEY removes a password)",
                           files.key, openssl_reason(), files.key);
    if (SSL_CTX_use_PrivateKey(&ctx, key.get()) != 1 || SSL_CTX_check_private_key(&ctx) != 1)
        return fmt::format("--http-key {} is not the key of --http-cert {} ({}): give the key the certificate was "
                           "made for (openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY print "
                           "the same for a pair)",
                           files.key, files.cert, openssl_reason());
    if (!files.client_ca.empty()) {
        if (SSL_CTX_load_verify_locations(&ctx, files.client_ca.c_str(), nullptr) != 1)
            return fmt::format("--http-client-ca {}: no CA certificate OpenSSL can read in it ({}): give the PEM "
                               "certificate of the CA that signs the clients' certificates",
                               files.client_ca, openssl_reason());
        // The CAs named to clients, so that one with several certificates picks the right one.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str()))
            SSL_CTX_set_client_CA_list(&ctx, names);
        SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    ERR_clear_error();
    return {};
}

std::string check_tls(const tls_files& files)
{
    if (files.cert.empty() && !files.key.empty())
        return fmt::format("--http-key {} is the key of an HTTPS certificate: give --http-cert FILE too (the "
                           "certificate, PEM)",
                           files.key);
    if (!files.cert.empty() && files.key.empty())
        return fmt::format("--http-cert {} needs its private key: give --http-key FILE too (PEM, unencrypted)",
                           files.cert);
    if (files.cert.empty() && !files.client_ca.empty())
        return fmt::format("--http-client-ca {} asks HTTPS clients for a certificate, and the API serves plain HTTP: "
                           "give --http-cert FILE --http-key FILE too",
                           files.client_ca);
    if (files.cert.empty())
        return {};
    const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    if (!ctx)
        return fmt::format("--http-cert: OpenSSL cannot make a TLS context: {}", openssl_reason());
    return setup_tls(*ctx, files);
}

} // namespace linecap
