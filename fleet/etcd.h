// etcd v3 through its JSON gateway (etcd 3.4's grpc-gateway: POST /v3/kv/range,
// /v3/kv/put, /v3/kv/txn, /v3/kv/deleterange, /v3/lease/grant,
// /v3/lease/keepalive, /v3/lease/revoke, /v3/watch), over cpp-httplib's
// client. The gateway speaks protobuf's JSON mapping: keys and values are
// base64, 64-bit numbers are strings, and fields at their default value
// (false, 0, an event's type PUT) are left out. See etcd's
// Documentation/dev-guide/api_grpc_gateway.md and rpc.proto.
//
// One etcd_client is used by one thread at a time (it holds one HTTP
// connection per endpoint, and its auth token). Every call is bounded by the settings' timeouts.
// A call goes to the next endpoint when this one gives no answer: it could
// not be reached, did not reply within the timeout, or said it cannot serve
// now (etcd's Unavailable: no leader, request timed out). A transaction
// (create, replace) goes on only when this one could not be reached: one that
// went out may have been carried out. Errors come back
// as text naming the endpoint and what failed ("etcd http://127.0.0.1:2379:
// put /linecap/nodes/a: connection refused"); no call throws or logs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace linecap {

struct etcd_settings {
    // http://HOST:PORT or https://HOST:PORT, as etcd's --advertise-client-urls;
    // tried in turn, starting from the last one that answered.
    std::vector<std::string> endpoints;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds timeout{3000};   // one call's reply

    // TLS, for https:// endpoints (etcd's --cert-file): ca_file, PEM, the
    // CA that signed etcd's certificate (its --trusted-ca-file's peer;
    // empty: the system's CAs); cert_file and key_file, PEM, this client's
    // certificate and key, for an etcd run with --client-cert-auth.
    std::string ca_file, cert_file, key_file;
    // etcd's own users (etcdctl user add, auth enable): the token etcd's
    // /v3/auth/authenticate gives for user and password goes with every
    // call, and is asked for again when etcd says it is no longer valid.
    // Empty user: none.
    std::string user, password;
    // How this program's user gives a client certificate and a user, for
    // errors that say what to type: "--etcd-cert FILE and --etcd-key FILE".
    std::string cert_hint = "a client certificate and key";
    std::string user_hint = "a user and password";
};

// "http://a:2379,http://b:2379" split and checked: empty, or what is wrong
// and what to type instead.
std::string parse_etcd_endpoints(const std::string& list, std::vector<std::string>& endpoints);

// The TLS and user options of a program that talks to etcd, named like
// etcdctl's (--cacert, --cert, --key, --user) after the program's prefix
// ("--etcd-" for linecapctl, "--fleet-etcd-" for the daemon), checked and
// laid into settings: cert and key go together and are read now, as is the
// CA; the password is the first line of password_file, which a user needs.
// Returns an empty string, or what is wrong and what to type instead.
struct etcd_credential_options {
    std::string cacert, cert, key, user, password_file;
};
std::string apply_etcd_credentials(const etcd_credential_options& options, const std::string& prefix,
                                   etcd_settings& settings);

struct etcd_kv {
    std::string key;
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t lease = 0;   // 0: none
};

struct etcd_event {
    bool deleted = false;   // DELETE; otherwise PUT (kv.value is the new value)
    etcd_kv kv;
};

class etcd_client {
public:
    explicit etcd_client(etcd_settings settings);
    ~etcd_client();
    etcd_client(const etcd_client&) = delete;
    etcd_client& operator=(const etcd_client&) = delete;

    // A lease of `ttl` seconds; its id in `lease`.
    std::string grant(int64_t ttl, int64_t& lease);
    // One keep-alive of `lease`; `ttl` is what it has left after it: 0 when
    // the lease has expired or was revoked (its keys are gone).
    std::string keep_alive(int64_t lease, int64_t& ttl);
    // Ends `lease` now, and deletes its keys.
    std::string revoke(int64_t lease);

    std::string put(const std::string& key, const std::string& value, int64_t lease = 0);
    // `key` if it exists (nullopt otherwise).
    std::string get(const std::string& key, std::optional<etcd_kv>& kv);
    // Every key under `prefix`, in key order, and the store's revision at the read.
    std::string list(const std::string& prefix, std::vector<etcd_kv>& kvs, int64_t& revision);
    // Puts `key` only if it does not exist (a transaction comparing its
    // create_revision with 0): `created` says whether it did.
    std::string create(const std::string& key, const std::string& value, bool& created, int64_t lease = 0);
    // Puts `key` only if it was last changed at `mod_revision` (a
    // transaction): `replaced` says whether it was (not if it changed or
    // went meanwhile).
    std::string replace(const std::string& key, const std::string& value, int64_t mod_revision, bool& replaced);
    std::string remove(const std::string& key);
    // Every key under `prefix`, in one request.
    std::string remove_prefix(const std::string& prefix);
    // `key` and every key under `prefix`, in one transaction, only if no
    // key under `unchanged` was put after `revision` (a list's): `removed`
    // says whether they went (not when such a key was put meanwhile; a key
    // deleted meanwhile is no change here).
    std::string remove_if_unchanged(const std::string& key, const std::string& prefix, const std::string& unchanged,
                                    int64_t revision, bool& removed);

    // Watches every key under `prefix` from `start_revision` on (0: from
    // now), calling `on_event` for each change in revision order, until
    // `on_event` says false, interrupt() is called, nothing has come for
    // the settings' timeout, or the stream breaks (etcd gone). The caller
    // watches again from `revision` + 1, so nothing is lost: a watch is
    // also how a thread waits for news and still does other work each
    // timeout. A watch is made on one endpoint; one that ends there for want
    // of an answer (no reply, a broken stream, etcd's Unavailable) has the
    // next call try the next endpoint first.
    struct watch_end {
        std::string error;        // empty: stopped by on_event or interrupt(), or quiet for the timeout
        int64_t revision = 0;     // every change up to it was delivered
        bool compacted = false;   // start_revision is gone from etcd's history: list again
        bool created = false;     // etcd confirmed the watch (a timeout after that is quiet, not a fault)
    };
    watch_end watch(const std::string& prefix, int64_t start_revision,
                    const std::function<bool(const etcd_event&)>& on_event);
    // Ends the call under way in another thread (a watch, or any other), and
    // every later one at once: for a thread that is being stopped. The one
    // member that may be called from another thread.
    void interrupt();

    // The endpoint the last call used.
    const std::string& endpoint() const;

private:
    watch_end watch_once(const std::string& prefix, int64_t start_revision,
                         const std::function<bool(const etcd_event&)>& on_event);

    struct impl;
    std::unique_ptr<impl> _impl;
};

} // namespace linecap
