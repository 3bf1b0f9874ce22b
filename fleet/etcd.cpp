#include "fleet/etcd.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include "core/sigpipe.h"

namespace linecap {

namespace {

using json = nlohmann::json;

std::string base64(const std::string& bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

// etcd's base64 (padded); nullopt if it is not: a length that is not a
// multiple of 4, a character outside the alphabet, or padding ('=') other
// than one or two at the end. EVP_DecodeBlock alone takes "====" (and counts
// its padding as decoded zeros, fewer than the '=' given).
std::optional<std::string> unbase64(const std::string& text)
{
    if (text.size() % 4 != 0 || text.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
        return std::nullopt;
    size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=')
        padding++;
    for (size_t i = 0; i < text.size() - padding; i++) {
        const char c = text[i];
        if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '+' && c != '/')
            return std::nullopt;
    }
    std::string out(text.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0 || static_cast<size_t>(n) < padding)
        return std::nullopt;
    out.resize(static_cast<size_t>(n) - padding);
    return out;
}

// The end of the range of every key that starts with `prefix` (etcd's
// clientv3.GetPrefixRangeEnd): the prefix with its last byte below 0xff
// incremented; "\0" (to the end of the keys) if there is none.
std::string prefix_end(const std::string& prefix)
{
    std::string end = prefix;
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            last++;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');
}

// protobuf's JSON mapping writes int64 as a string, and leaves out zeros.
int64_t number(const json& j, const char* field)
{
    if (!j.is_object() || !j.contains(field))
        return 0;
    const json& v = j[field];
    if (v.is_number_integer())
        return v.get<int64_t>();
    if (v.is_string()) {
        try {
            return std::stoll(v.get<std::string>());
        } catch (const std::exception&) {
            return 0;
        }
    }
    return 0;
}

// A reply's fields, read only when they have the type etcd gives them: a
// reply etcd would not send (another server, a proxy, a newer etcd) reads as
// fields left out, never as json's type_error, which no thread here catches
// on its way. `field` absent or of another type: an empty object or array,
// `otherwise`, false.
const json& object_at(const json& j, const char* field)
{
    static const json empty = json::object();
    const auto it = j.is_object() ? j.find(field) : j.end();
    return j.is_object() && it != j.end() && it->is_object() ? *it : empty;
}

const json& array_at(const json& j, const char* field)
{
    static const json empty = json::array();
    const auto it = j.is_object() ? j.find(field) : j.end();
    return j.is_object() && it != j.end() && it->is_array() ? *it : empty;
}

std::string text_at(const json& j, const char* field, const std::string& otherwise = {})
{
    const auto it = j.is_object() ? j.find(field) : j.end();
    return j.is_object() && it != j.end() && it->is_string() ? it->get<std::string>() : otherwise;
}

bool flag_at(const json& j, const char* field)
{
    const auto it = j.is_object() ? j.find(field) : j.end();
    return j.is_object() && it != j.end() && it->is_boolean() && it->get<bool>();
}

// nullopt if `j` is not a key-value object: no key, or a key or value that
// is not base64 text (a value left out is an empty one).
std::optional<etcd_kv> kv_of(const json& j)
{
    if (!j.is_object() || !j.contains("key") || !j["key"].is_string() ||
        (j.contains("value") && !j["value"].is_string()))
        return std::nullopt;
    etcd_kv kv;
    const auto key = unbase64(text_at(j, "key"));
    const auto value = unbase64(text_at(j, "value"));
    if (!key || !value)
        return std::nullopt;
    kv.key = *key;
    kv.value = *value;
    kv.create_revision = number(j, "create_revision");
    kv.mod_revision = number(j, "mod_revision");
    kv.lease = number(j, "lease");
    return kv;
}

// etcd's error reply: {"error": "...", "code": 14, "message": "..."} from a
// unary call; {"error": {"grpc_code": 14, "http_code": 503, "message": "...",
// "http_status": "..."}} from a streaming one (/v3/lease/keepalive, /v3/watch).
struct etcd_error {
    std::string message;
    int64_t grpc_code = 0;
};

etcd_error error_of(const json& reply, int status)
{
    const std::string otherwise = fmt::format("HTTP {}", status);
    const json& error = object_at(reply, "error");
    if (!error.empty())
        return {text_at(error, "message", error.dump(-1, ' ', false, json::error_handler_t::replace)),
                number(error, "grpc_code")};
    if (reply.is_object() && reply.contains("error") && !reply["error"].is_string())
        return {text_at(reply, "message", reply["error"].dump(-1, ' ', false, json::error_handler_t::replace)),
                number(reply, "code")};
    return {text_at(reply, "message", text_at(reply, "error", otherwise)), number(reply, "code")};
}

// An error that says this member cannot serve now, where another may: gRPC's
// Unavailable (etcd's "no leader", "leader changed", "request timed out",
// "server stopped") or DeadlineExceeded, by its code or its words.
bool member_unavailable(const etcd_error& e)
{
    constexpr int64_t grpc_deadline_exceeded = 4, grpc_unavailable = 14;
    return e.grpc_code == grpc_unavailable || e.grpc_code == grpc_deadline_exceeded ||
           e.message.find("etcdserver: request timed out") != std::string::npos ||
           e.message.find("etcdserver: no leader") != std::string::npos ||
           e.message.find("etcdserver: leader changed") != std::string::npos;
}

std::string transport_error(httplib::Error e, const etcd_settings& s)
{
    switch (e) {
    case httplib::Error::Connection: return "cannot connect (is etcd running there? is the URL right?)";
    case httplib::Error::ConnectionTimeout: return fmt::format("no connection within {} ms", s.connect_timeout.count());
    case httplib::Error::Read: return fmt::format("no reply within {} ms, or the connection broke", s.timeout.count());
    case httplib::Error::Write: return "the connection broke while sending";
    case httplib::Error::Canceled: return "interrupted";
    case httplib::Error::SSLConnection: return "the TLS handshake failed (an https:// URL for a plain-HTTP etcd?)";
    case httplib::Error::SSLServerVerification: return "etcd's certificate could not be verified";
    default: return fmt::format("HTTP client error {}", httplib::to_string(e));
    }
}

} // namespace

std::string parse_etcd_endpoints(const std::string& list, std::vector<std::string>& endpoints)
{
    static const std::regex url(R"(^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})/?$)");
    endpoints.clear();
    size_t start = 0;
    while (start <= list.size()) {
        const size_t comma = std::min(list.find(',', start), list.size());
        std::string item = list.substr(start, comma - start);
        std::smatch m;
        if (!std::regex_match(item, m, url) || std::stoul(m[3].str()) == 0 || std::stoul(m[3].str()) > 65535)
            return fmt::format("{} is not an etcd client URL: give http://HOST:PORT (or https://), e.g. "
                               "http://127.0.0.1:2379, several separated by commas",
                               item.empty() ? "\"\"" : item);
        if (item.back() == '/')
            item.pop_back();
        endpoints.push_back(item);
        start = comma + 1;
    }
    return {};
}

namespace {

bool utf8(const std::string& text)
{
    try {
        (void)json(text).dump();
        return true;
    } catch (const json::exception&) {
        return false;
    }
}

// The PEM files read as OpenSSL reads them when it connects: the CA one
// certificate or more, the certificate one, the key one that matches it.
// cpp-httplib only says "HTTP client error Success" for a client it could
// not set up, so the options are named here.
std::string check_pem(const etcd_credential_options& o, const std::string& prefix)
{
    const auto open = [](const std::string& path) {
        return std::unique_ptr<BIO, decltype(&BIO_free)>(BIO_new_file(path.c_str(), "r"), BIO_free);
    };
    if (!o.cacert.empty()) {
        auto bio = open(o.cacert);
        std::unique_ptr<X509, decltype(&X509_free)> ca(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)
                                                           : nullptr,
                                                       X509_free);
        if (!ca)
            return fmt::format("{}cacert {}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)", prefix,
                               o.cacert);
    }
    if (o.cert.empty())
        return {};
    auto cert_bio = open(o.cert);
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
    if (!cert)
        return fmt::format("{}cert {}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)", prefix, o.cert);
    auto key_bio = open(o.key);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
    if (!key)
        return fmt::format("{}key {}: no PEM private key in it, or one with a passphrase (give an unencrypted "
                           "key)",
                           prefix, o.key);
    if (X509_check_private_key(cert.get(), key.get()) != 1)
        return fmt::format("{}key {} is not the key of {}cert {}", prefix, o.key, prefix, o.cert);
    return {};
}

} // namespace

std::string apply_etcd_credentials(const etcd_credential_options& o, const std::string& prefix,
                                   etcd_settings& settings)
{
    settings.cert_hint = fmt::format("{0}cert FILE and {0}key FILE", prefix);
    settings.user_hint = fmt::format("{0}user NAME and {0}password-file FILE", prefix);
    if (o.cert.empty() != o.key.empty())
        return fmt::format("{0}cert and {0}key go together: the client certificate and its key (PEM)", prefix);
    for (const auto& [option, path] : {std::pair{"cacert", &o.cacert}, std::pair{"cert", &o.cert},
                                       std::pair{"key", &o.key}, std::pair{"password-file", &o.password_file}})
        if (!path->empty() && access(path->c_str(), R_OK) != 0)
            return fmt::format("{}{} {}: cannot read it: {}", prefix, option, *path, std::strerror(errno));
    if (o.user.empty() != o.password_file.empty())
        return fmt::format("{0}user and {0}password-file go together: etcd's user name, and a file whose first "
                           "line is its password",
                           prefix);
    const bool tls = std::any_of(settings.endpoints.begin(), settings.endpoints.end(),
                                 [](const std::string& url) { return url.starts_with("https://"); });
    for (const auto& [option, path] : {std::pair{"cacert", &o.cacert}, std::pair{"cert", &o.cert}})
        if (!path->empty() && !tls)
            return fmt::format("{}{} is for https:// etcd URLs: give etcd's https:// client URL, or leave it out",
                               prefix, option);
    std::string pem_error = check_pem(o, prefix);
    ERR_clear_error();   // what OpenSSL queued on this thread, before a TLS call reads the queue
    if (!pem_error.empty())
        return pem_error;
    settings.ca_file = o.cacert;
    settings.cert_file = o.cert;
    settings.key_file = o.key;
    settings.user = o.user;
    settings.password.clear();
    if (!o.password_file.empty()) {
        std::ifstream in(o.password_file);
        std::getline(in, settings.password);
        while (!settings.password.empty() && std::isspace(static_cast<unsigned char>(settings.password.back())))
            settings.password.pop_back();
        if (settings.password.empty())
            return fmt::format("{}password-file {}: its first line is empty: put etcd's password for {} there",
                               prefix, o.password_file, o.user);
    }
    // They go to etcd in JSON, which holds UTF-8 text only.
    for (const auto& [what, text] : {std::pair{"user", &settings.user}, std::pair{"password-file", &settings.password}})
        if (!utf8(*text))
            return fmt::format("{}{}: {} is not UTF-8 text, which etcd's JSON gateway takes", prefix, what,
                               std::string(what) == "user" ? "the name" : "the password");
    return {};
}

// Does etcd's error say the token it was given is no longer good? A simple
// token expires after --auth-token-ttl idle or with etcd's restart; a JWT
// at its expiry, and any token once users or roles changed ("revision of
// auth store is old"). etcd 3.4 cancels a watch on such a token with
// "permission denied".
namespace {
bool stale_token(const std::string& error)
{
    return error.find("invalid auth token") != std::string::npos ||
           error.find("auth store is old") != std::string::npos ||
           error.find("permission denied") != std::string::npos;
}
} // namespace

struct etcd_client::impl {
    etcd_settings settings;
    std::vector<std::unique_ptr<httplib::Client>> clients;   // one per endpoint, made when first used
    size_t current = 0;                                       // the endpoint that answered last
    std::mutex interrupt_mutex;
    httplib::Client* in_flight = nullptr;   // the client of the call under way (under interrupt_mutex)
    bool interrupted = false;               // for good (under interrupt_mutex)

    // Runs `req` on endpoint i's client where interrupt() can end it;
    // nullopt if interrupt() came first.
    std::optional<httplib::Result> send(size_t i, const httplib::Request& req)
    {
        httplib::Client& c = client(i);
        {
            const std::lock_guard lock(interrupt_mutex);
            if (interrupted)
                return std::nullopt;
            in_flight = &c;
        }
        httplib::Result r = [&] {
            const sigpipe_blocked no_sigpipe;   // an https:// etcd that ends the connection
            try {
                return c.send(req);
            } catch (...) {
                // Not left in flight: interrupt() would wait for it forever.
                const std::lock_guard lock(interrupt_mutex);
                in_flight = nullptr;
                throw;
            }
        }();
        const std::lock_guard lock(interrupt_mutex);
        in_flight = nullptr;
        if (interrupted)
            return std::nullopt;
        return r;
    }

    httplib::Client& client(size_t i)
    {
        if (!clients[i]) {
            clients[i] = settings.cert_file.empty()
                             ? std::make_unique<httplib::Client>(settings.endpoints[i])
                             : std::make_unique<httplib::Client>(settings.endpoints[i], settings.cert_file,
                                                                 settings.key_file);
            if (!settings.ca_file.empty())
                clients[i]->set_ca_cert_path(settings.ca_file.c_str());
            clients[i]->set_connection_timeout(settings.connect_timeout);
            clients[i]->set_read_timeout(settings.timeout);
            clients[i]->set_write_timeout(settings.timeout);
            clients[i]->set_keep_alive(true);
            // A request's headers and body go in two writes: without it,
            // Nagle's algorithm holds the body until the server's delayed
            // ACK, 40 ms a call.
            clients[i]->set_tcp_nodelay(true);
        }
        return *clients[i];
    }

    std::string token;   // etcd's auth token for settings.user; empty: none yet

    // Whether a call may go to the next endpoint after it went out to one
    // that gave no answer (a read timeout, a member without a leader):
    // reads, lease calls, puts of the node's own keys and deletes may be
    // carried out twice; a transaction (create, replace) sent twice could
    // find its own write, and goes to the next only when it never went out.
    enum class sending { repeatable, once };

    // call_as_user(), with a token first when settings.user is given, and
    // once more with a new one when etcd says the token is no longer valid
    // (a simple token expires after --auth-token-ttl idle, a JWT at its
    // expiry).
    std::string call(const std::string& what, const std::string& path, const json& body, json& reply,
                     sending how = sending::repeatable)
    {
        if (!settings.user.empty() && token.empty())
            if (std::string e = authenticate(); !e.empty())
                return e;
        std::string e = call_as_user(what, path, body, reply, how);
        if (!settings.user.empty() && stale_token(e)) {
            token.clear();
            if (e = authenticate(); !e.empty())
                return e;
            e = call_as_user(what, path, body, reply, how);
        }
        return e;
    }

    // etcd checks a password with bcrypt, tens of milliseconds of its CPU
    // an attempt: a user and password it refused are not sent again for a
    // pause that doubles from a second up to a minute (every node of a
    // fleet retries each second), and the refusal is repeated meanwhile.
    // Any other failure (etcd out of reach) is tried again at once.
    static constexpr std::chrono::seconds refused_pause_first{1}, refused_pause_most{60};
    std::chrono::steady_clock::time_point refused_until{};
    std::chrono::seconds refused_pause{0};
    std::string refused;

    std::string authenticate()
    {
        const auto now = std::chrono::steady_clock::now();
        if (now < refused_until)
            return fmt::format("{} (asked again in {} s)", refused,
                               std::chrono::ceil<std::chrono::seconds>(refused_until - now).count());
        json reply;
        std::string e = call_as_user(fmt::format("authenticate as {}", settings.user), "/v3/auth/authenticate",
                                     {{"name", settings.user}, {"password", settings.password}}, reply,
                                     sending::repeatable);
        if (e.find("authentication failed") != std::string::npos) {
            refused_pause = std::clamp(refused_pause * 2, refused_pause_first, refused_pause_most);
            refused_until = now + refused_pause;
            refused = e;
        } else if (e.empty()) {
            refused_pause = {};
        }
        if (!e.empty())
            return e;
        token = text_at(reply, "token");
        return token.empty() ? fmt::format("etcd {}: authenticate as {}: no token in the reply (is etcd's auth "
                                           "enabled? etcdctl auth enable)",
                                           settings.endpoints[current], settings.user)
                             : "";
    }

    // What etcd's error message means for this client, when it is about
    // who it is: the option to give.
    std::string explain(const std::string& message) const
    {
        if (message.find("user name is empty") != std::string::npos)
            return fmt::format("{}: etcd has authentication enabled: give {}", message, settings.user_hint);
        if (message.find("authentication is not enabled") != std::string::npos)
            return fmt::format("{}: etcd takes no user: leave out {}", message, settings.user_hint);
        if (message.find("authentication failed") != std::string::npos)
            return fmt::format("{}: check {}", message, settings.user_hint);
        if (message.find("permission denied") != std::string::npos)
            return fmt::format("{}: etcd's user {} needs a role with readwrite on the prefix /linecap/ "
                               "(etcdctl role grant-permission ROLE --prefix=true readwrite /linecap/)",
                               message, settings.user.empty() ? "(none)" : settings.user);
        return message;
    }

    // A transport error on endpoint i, with what may have caused it: an
    // etcd that asks for a client certificate (--client-cert-auth) ends the
    // connection at the TLS handshake, or (TLS 1.3) once the request is
    // being sent or its reply read.
    std::string transport_error_at(size_t i, httplib::Error e) const
    {
        std::string text = transport_error(e, settings);
        if (settings.endpoints[i].starts_with("https://") && settings.cert_file.empty() &&
            (e == httplib::Error::SSLConnection || e == httplib::Error::Read || e == httplib::Error::Write))
            text += fmt::format(" (if etcd asks for client certificates, --client-cert-auth, give {})",
                                settings.cert_hint);
        return text;
    }

    // POSTs `body` to `path` on each endpoint in turn, from the current one,
    // until one answers, with the token when there is one. An answer is
    // etcd's JSON, error or not; an error reply ({"error": ..., "code":
    // ...}) comes back as text, not tried on the next endpoint (the cluster
    // said it), unless it says that this member cannot serve now and the
    // call is repeatable. No exception leaves it: a reply etcd would not send
    // is an error like any other.
    std::string call_as_user(const std::string& what, const std::string& path, const json& body, json& reply,
                             sending how)
    {
        std::string errors;
        const auto failed = [&](size_t i, const std::string& why) {
            errors += fmt::format("{}etcd {}: {}: {}", errors.empty() ? "" : "; ", settings.endpoints[i], what, why);
        };
        for (size_t tried = 0; tried < settings.endpoints.size(); tried++) {
            const size_t i = (current + tried) % settings.endpoints.size();
            try {
                // etcd 3.4's gateway sends its error replies chunked with a
                // trailer (Grpc-Trailer-Content-Type), which cpp-httplib
                // 0.11.4 cannot read past: the call fails as a read error
                // after the whole body came. So the status and body are taken
                // as they arrive, and a whole JSON body is etcd's answer
                // either way.
                int status = 0;
                std::string text;
                httplib::Request req;
                req.method = "POST";
                req.path = path;
                req.body = body.dump();
                req.set_header("Content-Type", "application/json");
                if (!token.empty())
                    req.set_header("Authorization", token);
                req.response_handler = [&](const httplib::Response& r) {
                    status = r.status;
                    return true;
                };
                std::string too_big;   // what a reply too big for memory threw, inside cpp-httplib's read
                req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
                    try {
                        text.append(data, size);
                        return true;
                    } catch (const std::exception& e) {
                        too_big = e.what();
                        return false;
                    }
                };
                const std::optional<httplib::Result> sent = send(i, req);
                if (!sent)
                    return fmt::format("etcd {}: {}: interrupted", settings.endpoints[i], what);
                const httplib::Result& r = *sent;
                if (!too_big.empty()) {
                    failed(i, fmt::format("a reply too big to hold ({})", too_big));
                    continue;
                }
                reply = json::parse(text, nullptr, false);
                if (!r && (status == 0 || reply.is_discarded())) {
                    failed(i, transport_error_at(i, r.error()));
                    // A request that went out may have been carried out (a
                    // transaction sent again would find its own key): sent
                    // once, it goes to the next endpoint only when this one
                    // was never reached.
                    if (how == sending::repeatable || r.error() == httplib::Error::Connection ||
                        r.error() == httplib::Error::ConnectionTimeout || r.error() == httplib::Error::SSLConnection)
                        continue;
                    return errors;
                }
                if (reply.is_discarded() || !reply.is_object()) {
                    failed(i, fmt::format("HTTP {} and not JSON (is this etcd's client URL, and etcd 3.4 or later?)",
                                          status));
                    if (how == sending::repeatable)
                        continue;
                    current = i;
                    return errors;
                }
                if (status != 200 || reply.contains("error")) {
                    const etcd_error e = error_of(reply, status);
                    if (how == sending::repeatable && member_unavailable(e)) {
                        failed(i, explain(e.message));
                        continue;
                    }
                    current = i;
                    return fmt::format("etcd {}: {}: {}", settings.endpoints[i], what, explain(e.message));
                }
                current = i;
                return {};
            } catch (const std::exception& e) {
                // json's errors on a reply of another shape, length_error or
                // bad_alloc on sizes a reply gives: this call fails, the
                // thread that made it goes on.
                failed(i, fmt::format("a reply etcd would not send ({})", e.what()));
                return errors;
            }
        }
        return errors;
    }
};

etcd_client::etcd_client(etcd_settings settings) : _impl(std::make_unique<impl>())
{
    _impl->settings = std::move(settings);
    _impl->clients.resize(_impl->settings.endpoints.size());
}

etcd_client::~etcd_client() = default;

const std::string& etcd_client::endpoint() const
{
    return _impl->settings.endpoints[_impl->current];
}

std::string etcd_client::grant(int64_t ttl, int64_t& lease)
{
    json reply;
    if (std::string e = _impl->call("lease grant", "/v3/lease/grant", {{"TTL", ttl}}, reply); !e.empty())
        return e;
    lease = number(reply, "ID");
    return lease != 0 ? "" : fmt::format("etcd {}: lease grant: no lease in the reply", endpoint());
}

std::string etcd_client::keep_alive(int64_t lease, int64_t& ttl)
{
    json reply;
    if (std::string e = _impl->call("lease keep-alive", "/v3/lease/keepalive", {{"ID", std::to_string(lease)}}, reply);
        !e.empty())
        return e;
    // One response of the stream: {"result": {"ID": ..., "TTL": ...}}, TTL
    // left out (0) when the lease is gone.
    ttl = number(object_at(reply, "result"), "TTL");
    return {};
}

std::string etcd_client::revoke(int64_t lease)
{
    json reply;
    return _impl->call("lease revoke", "/v3/lease/revoke", {{"ID", std::to_string(lease)}}, reply);
}

std::string etcd_client::put(const std::string& key, const std::string& value, int64_t lease)
{
    json body = {{"key", base64(key)}, {"value", base64(value)}};
    if (lease != 0)
        body["lease"] = std::to_string(lease);
    json reply;
    return _impl->call(fmt::format("put {}", key), "/v3/kv/put", body, reply);
}

std::string etcd_client::get(const std::string& key, std::optional<etcd_kv>& kv)
{
    json reply;
    kv.reset();
    if (std::string e = _impl->call(fmt::format("get {}", key), "/v3/kv/range", {{"key", base64(key)}}, reply);
        !e.empty())
        return e;
    for (const json& item : array_at(reply, "kvs"))
        if (kv = kv_of(item); !kv)
            return fmt::format("etcd {}: get {}: a key or value in the reply that is not base64", endpoint(), key);
    return {};
}

std::string etcd_client::list(const std::string& prefix, std::vector<etcd_kv>& kvs, int64_t& revision)
{
    json reply;
    kvs.clear();
    if (std::string e = _impl->call(fmt::format("list {}", prefix), "/v3/kv/range",
                                    {{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}}, reply);
        !e.empty())
        return e;
    revision = number(object_at(reply, "header"), "revision");
    for (const json& item : array_at(reply, "kvs")) {
        std::optional<etcd_kv> kv = kv_of(item);
        if (!kv)
            return fmt::format("etcd {}: list {}: a key or value in the reply that is not base64", endpoint(), prefix);
        kvs.push_back(std::move(*kv));
    }
    return {};
}

std::string etcd_client::create(const std::string& key, const std::string& value, bool& created, int64_t lease)
{
    json put = {{"key", base64(key)}, {"value", base64(value)}};
    if (lease != 0)
        put["lease"] = std::to_string(lease);
    const json body = {
        {"compare", {{{"key", base64(key)}, {"result", "EQUAL"}, {"target", "CREATE"}, {"create_revision", "0"}}}},
        {"success", {{{"request_put", put}}}},
    };
    json reply;
    if (std::string e = _impl->call(fmt::format("create {}", key), "/v3/kv/txn", body, reply, impl::sending::once);
        !e.empty())
        return e;
    created = flag_at(reply, "succeeded");
    return {};
}

std::string etcd_client::replace(const std::string& key, const std::string& value, int64_t mod_revision,
                                 bool& replaced)
{
    const json body = {
        {"compare",
         {{{"key", base64(key)}, {"result", "EQUAL"}, {"target", "MOD"}, {"mod_revision", std::to_string(mod_revision)}}}},
        {"success", {{{"request_put", {{"key", base64(key)}, {"value", base64(value)}}}}}},
    };
    json reply;
    if (std::string e = _impl->call(fmt::format("replace {}", key), "/v3/kv/txn", body, reply, impl::sending::once);
        !e.empty())
        return e;
    replaced = flag_at(reply, "succeeded");
    return {};
}

std::string etcd_client::remove(const std::string& key)
{
    json reply;
    return _impl->call(fmt::format("delete {}", key), "/v3/kv/deleterange", {{"key", base64(key)}}, reply);
}

std::string etcd_client::remove_prefix(const std::string& prefix)
{
    json reply;
    return _impl->call(fmt::format("delete {}*", prefix), "/v3/kv/deleterange",
                       {{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}}, reply);
}

std::string etcd_client::remove_if_unchanged(const std::string& key, const std::string& prefix,
                                             const std::string& unchanged, int64_t revision, bool& removed)
{
    // A compare over a range holds for each key in it (etcd 3.3 on), and
    // for none at all (each of its fields then taken as 0).
    const json body = {
        {"compare",
         {{{"key", base64(unchanged)},
           {"range_end", base64(prefix_end(unchanged))},
           {"result", "LESS"},
           {"target", "MOD"},
           {"mod_revision", std::to_string(revision + 1)}}}},
        {"success",
         {{{"request_delete_range", {{"key", base64(key)}}}},
          {{"request_delete_range", {{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}}}}}},
    };
    json reply;
    if (std::string e = _impl->call(fmt::format("delete {} and {}*", key, prefix), "/v3/kv/txn", body, reply,
                                    impl::sending::once);
        !e.empty())
        return e;
    removed = flag_at(reply, "succeeded");
    return {};
}

void etcd_client::interrupt()
{
    // httplib's stop() ends a call whose socket is open; one that is still
    // connecting opens it after, so stop() is repeated until the call is over.
    std::unique_lock lock(_impl->interrupt_mutex);
    _impl->interrupted = true;
    while (_impl->in_flight != nullptr) {
        _impl->in_flight->stop();
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        lock.lock();
    }
}

etcd_client::watch_end etcd_client::watch(const std::string& prefix, int64_t start_revision,
                                          const std::function<bool(const etcd_event&)>& on_event)
{
    watch_end end = watch_once(prefix, start_revision, on_event);
    if (_impl->settings.user.empty() || !stale_token(end.error))
        return end;
    // A token gone stale since the last call (watch_once dropped it): once
    // more with a new one, from where the first left off, as a caller would.
    const bool created = end.created;
    end = watch_once(prefix, end.revision > 0 ? end.revision + 1 : start_revision, on_event);
    end.created = end.created || created;
    return end;
}

etcd_client::watch_end etcd_client::watch_once(const std::string& prefix, int64_t start_revision,
                                               const std::function<bool(const etcd_event&)>& on_event)
{
    watch_end end;
    end.revision = start_revision > 0 ? start_revision - 1 : 0;
    if (!_impl->settings.user.empty() && _impl->token.empty())
        if (std::string e = _impl->authenticate(); !e.empty()) {
            end.error = e;
            return end;
        }

    const size_t endpoint = _impl->current;
    const std::string& where = _impl->settings.endpoints[endpoint];
    // A watch is one endpoint's: when it fails for want of an answer there
    // (no reply, a broken stream, a member without a leader), the next call
    // tries the next endpoint first. A watch can be made again anywhere.
    bool next_endpoint = false;
    try {
        json create = {{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}};
        if (start_revision > 0)
            create["start_revision"] = std::to_string(start_revision);
        // The stream: one JSON object per line, {"result": {...}}, split
        // across reads as TCP pleases.
        std::string pending;
        bool stopped = false;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v3/watch";
        req.body = json{{"create_request", create}}.dump();
        req.set_header("Content-Type", "application/json");
        // etcd's require-leader (etcdctl's --require-leader, clientv3's
        // WithRequireLeader; the gateway passes Grpc-Metadata-* on as gRPC
        // metadata): a member that has lost its leader refuses the watch,
        // or ends it after three election timeouts, with "no leader".
        // Without it a member cut off from the others keeps the watch open
        // and quiet, and the node never hears of a change made elsewhere.
        req.set_header("Grpc-Metadata-hasleader", "true");
        if (!_impl->token.empty())
            req.set_header("Authorization", _impl->token);
        // One line of the stream; false: the watch ends here (end says why).
        const auto take = [&](const std::string& line) {
            const json message = json::parse(line, nullptr, false);
            if (message.is_discarded() || !message.is_object()) {
                end.error = fmt::format("etcd {}: watch {}: a reply that is not JSON", where, prefix);
                next_endpoint = true;
                return false;
            }
            if (message.contains("error")) {
                const etcd_error error = error_of(message, 200);
                end.error = fmt::format("etcd {}: watch {}: {}", where, prefix, _impl->explain(error.message));
                next_endpoint = member_unavailable(error);
                return false;
            }
            const json& result = object_at(message, "result");
            if (number(result, "compact_revision") != 0) {
                end.compacted = true;
                end.error = fmt::format("etcd {}: watch {}: revision {} was compacted (the oldest kept is {})", where,
                                        prefix, start_revision, number(result, "compact_revision"));
                return false;
            }
            if (flag_at(result, "canceled")) {
                end.error = fmt::format("etcd {}: watch {}: canceled by etcd: {}", where, prefix,
                                        _impl->explain(text_at(result, "cancel_reason", "no reason given")));
                return false;
            }
            // From now on: every change after the store's revision at creation.
            if (flag_at(result, "created")) {
                end.created = true;
                if (start_revision <= 0)
                    end.revision = number(object_at(result, "header"), "revision");
            }
            for (const json& e : array_at(result, "events")) {
                etcd_event event;
                event.deleted = text_at(e, "type", "PUT") == "DELETE";
                std::optional<etcd_kv> kv = kv_of(object_at(e, "kv"));
                if (!kv) {
                    end.error = fmt::format("etcd {}: watch {}: an event without a base64 key and value", where,
                                            prefix);
                    return false;
                }
                event.kv = std::move(*kv);
                const int64_t revision = event.kv.mod_revision;
                if (!on_event(event)) {
                    stopped = true;
                    end.revision = revision;
                    return false;
                }
                end.revision = revision;
            }
            return true;
        };
        req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
            // Nothing may be thrown through cpp-httplib's read: a reply of
            // a shape or size etcd would not send ends the watch with an error.
            try {
                pending.append(data, size);
                for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
                    const std::string line = pending.substr(0, nl);
                    pending.erase(0, nl + 1);
                    if (!take(line))
                        return false;
                }
                return true;
            } catch (const std::exception& e) {
                end.error = fmt::format("etcd {}: watch {}: a reply etcd would not send ({})", where, prefix, e.what());
                next_endpoint = true;
                return false;
            }
        };
        const std::optional<httplib::Result> sent = _impl->send(endpoint, req);
        // A whole reply's last line, which has no newline: the error the
        // gateway sends as the body of an HTTP 503 ("etcdserver: no
        // leader", a watch refused by a member without one).
        if (sent && *sent && !stopped && end.error.empty() && !pending.empty())
            take(pending);
        // A token etcd refused (in an error, or as a cancel's reason): the
        // next call asks for a new one.
        if (stale_token(end.error))
            _impl->token.clear();
        if (sent && !stopped && end.error.empty()) {
            const httplib::Result& r = *sent;
            if (!r && r.error() == httplib::Error::Read && end.created)
                return end;   // quiet for the timeout
            next_endpoint = true;
            if (!r)
                end.error = fmt::format("etcd {}: watch {}: {}", where, prefix,
                                        _impl->transport_error_at(endpoint, r.error()));
            else if (r->status != 200)
                end.error = fmt::format("etcd {}: watch {}: HTTP {}", where, prefix, r->status);
            else
                end.error = fmt::format("etcd {}: watch {}: the stream ended", where, prefix);
        }
    } catch (const std::exception& e) {
        end.error = fmt::format("etcd {}: watch {}: {}", where, prefix, e.what());
        next_endpoint = true;
    }
    if (next_endpoint)
        _impl->current = (endpoint + 1) % _impl->settings.endpoints.size();
    return end;
}

} // namespace linecap
