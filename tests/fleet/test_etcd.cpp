// fleet/etcd.h and fleet/node.h against a real etcd on loopback
// (tests/support/etcd_server.h).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/utc_time.h"
#include "fleet/agent.h"
#include "fleet/etcd.h"
#include "fleet/fleet_session.h"
#include "fleet/node.h"
#include "tests/support/etcd_server.h"

using namespace linecap;
using namespace std::chrono_literals;

namespace {

etcd_settings settings_for(const std::string& url)
{
    etcd_settings s;
    s.endpoints = {url};
    s.connect_timeout = 500ms;
    s.timeout = 2000ms;
    return s;
}

template <typename Condition>
bool wait_for(Condition&& condition, std::chrono::milliseconds limit)
{
    const auto start = std::chrono::steady_clock::now();
    while (!condition() && std::chrono::steady_clock::now() - start < limit)
        std::this_thread::sleep_for(50ms);
    return condition();
}

// A member that takes connections and never answers (a host whose etcd
// hangs): a socket that listens and never accepts, the kernel completing
// the handshakes.
class silent_listener {
public:
    silent_listener()
    {
        _fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof a;
        REQUIRE(bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(listen(_fd, 64) == 0);
        REQUIRE(fcntl(_fd, F_SETFL, O_NONBLOCK) == 0);   // connections() takes what is there
        REQUIRE(getsockname(_fd, reinterpret_cast<sockaddr*>(&a), &size) == 0);
        _url = fmt::format("http://127.0.0.1:{}", ntohs(a.sin_port));
    }
    ~silent_listener()
    {
        for (const int fd : _accepted)
            close(fd);
        close(_fd);
    }
    silent_listener(const silent_listener&) = delete;
    silent_listener& operator=(const silent_listener&) = delete;
    const std::string& url() const { return _url; }

    // How many connections were made to it so far (each is taken from the
    // backlog and held open, still unanswered).
    size_t connections()
    {
        for (int fd; (fd = accept4(_fd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;)
            _accepted.push_back(fd);
        return _accepted.size();
    }

private:
    int _fd = -1;
    std::string _url;
    std::vector<int> _accepted;
};

// An HTTP server on loopback that answers each path with the reply set for
// it: what no etcd sends, or what a sick member does.
class scripted_server {
public:
    scripted_server()
    {
        _server.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
            const std::lock_guard lock(_mutex);
            _requests[req.path]++;
            const auto found = _replies.find(req.path);
            if (found == _replies.end()) {
                res.status = 404;
                return;
            }
            res.status = found->second.first;
            res.set_content(found->second.second, "application/json");
        });
        const int port = _server.bind_to_any_port("127.0.0.1");
        REQUIRE(port > 0);
        _url = fmt::format("http://127.0.0.1:{}", port);
        _thread = std::thread([this] { _server.listen_after_bind(); });
    }
    ~scripted_server()
    {
        _server.stop();
        _thread.join();
    }
    scripted_server(const scripted_server&) = delete;
    scripted_server& operator=(const scripted_server&) = delete;
    const std::string& url() const { return _url; }
    void reply(const std::string& path, int status, const std::string& body)
    {
        const std::lock_guard lock(_mutex);
        _replies[path] = {status, body};
    }
    // Requests received for `path` so far.
    unsigned requests(const std::string& path)
    {
        const std::lock_guard lock(_mutex);
        return _requests[path];
    }

private:
    httplib::Server _server;
    std::thread _thread;
    std::mutex _mutex;
    std::map<std::string, std::pair<int, std::string>> _replies;
    std::map<std::string, unsigned> _requests;
    std::string _url;
};

} // namespace

TEST_CASE("etcd: endpoints are http(s)://HOST:PORT, several with commas")
{
    std::vector<std::string> e;
    CHECK(parse_etcd_endpoints("http://127.0.0.1:2379", e).empty());
    CHECK(e == std::vector<std::string>{"http://127.0.0.1:2379"});
    CHECK(parse_etcd_endpoints("https://etcd-1.example:2379/,http://[::1]:2379", e).empty());
    CHECK(e == std::vector<std::string>{"https://etcd-1.example:2379", "http://[::1]:2379"});
    for (const char* bad : {"", "127.0.0.1:2379", "http://127.0.0.1", "http://127.0.0.1:0", "http://a:99999",
                            "ftp://a:1", "http://a:1,", "http://a:1/v3"}) {
        INFO(bad);
        const std::string error = parse_etcd_endpoints(bad, e);
        CHECK(error.find("is not an etcd client URL: give http://HOST:PORT") != std::string::npos);
    }
}

TEST_CASE("fleet: node names are a key's last part")
{
    for (const std::string& good : std::vector<std::string>{"a", "collector-3", "lb_7.rack2", std::string(63, 'x')})
        CHECK(check_node_name(good).empty());
    CHECK(check_node_name("") == "--node \"\": a node name has 1 to 63 characters, e.g. collector-3");
    CHECK(check_node_name("a b", "--nodes") == "--nodes a b: ' ' is not allowed: a node name has letters, digits, '.', '_' and '-', e.g. collector-3");
    CHECK(check_node_name(std::string(64, 'x')).find("1 to 63 characters") != std::string::npos);
    CHECK(check_node_name("a/b") == "--node a/b: '/' is not allowed: a node name has letters, digits, '.', '_' and "
                                    "'-', e.g. collector-3");
    CHECK(check_node_name("-a").find("starts with a letter") != std::string::npos);
    CHECK(check_node_name(".").find("starts with a letter") != std::string::npos);
}

TEST_CASE("fleet: a fleet session's record round-trips, names its targets, and refuses what it cannot be")
{
    fleet_session s;
    s.id = "web-20261130T124800Z";
    s.spec = {{"name", "web"}, {"snaplen", 64}};
    s.nodes = {"a", "b"};
    s.start_ns = 1764500000ull * 1000000000;
    s.end_ns = s.start_ns + 300ull * 1000000000;
    s.late_join = true;
    s.created = "2026-11-30T12:48:00.000000000Z";
    const nlohmann::json j = fleet_session_json(s);
    CHECK(j["start"] == "2025-11-30T10:53:20.000000000Z");
    fleet_session back;
    REQUIRE(parse_fleet_session(j, back) == "");
    CHECK(back.id == s.id);
    CHECK(back.spec == s.spec);
    CHECK(back.nodes == s.nodes);
    CHECK(back.start_ns == s.start_ns);
    CHECK(back.end_ns == s.end_ns);
    CHECK(back.late_join);
    CHECK_FALSE(back.stopped);
    CHECK(back.targets("a"));
    CHECK_FALSE(back.targets("c"));
    back.nodes.clear();
    CHECK(back.targets("c"));   // no list: every node
    CHECK(fleet_session_key("x") == "/linecap/sessions/x");
    CHECK(fleet_status_key("x", "a") == "/linecap/status/x/a");

    const auto error_of = [](const char* text) {
        fleet_session out;
        return parse_fleet_session(nlohmann::json::parse(text), out);
    };
    CHECK(error_of("[]") == "not a JSON object");
    CHECK_THAT(error_of(R"({"spec":{}})"), Catch::Contains("id"));
    CHECK_THAT(error_of(R"({"id":"../x","spec":{}})"), Catch::StartsWith("fleet session id ../x: "));
    CHECK(error_of(R"({"id":"x","spec":[]})") == "\"spec\" is not a session spec (a JSON object)");
    CHECK_THAT(error_of(R"({"id":"x","spec":{},"nodes":["a/b"]})"), Catch::StartsWith("--node a/b: "));
    CHECK_THAT(error_of(R"({"id":"x","spec":{},"start":"tomorrow"})"), Catch::StartsWith("\"start\": "));
}

TEST_CASE("etcd: keys and values through the JSON gateway, binary and all")
{
    test::etcd_server server;
    etcd_client etcd(settings_for(server.url()));

    // Bytes base64 carries: NUL, 0xff, newlines.
    const std::string odd_key = std::string("/t/odd\0\xff\n", 9), odd_value = std::string("v\0\x01\xfe", 4);
    REQUIRE(etcd.put(odd_key, odd_value) == "");
    std::optional<etcd_kv> kv;
    REQUIRE(etcd.get(odd_key, kv) == "");
    REQUIRE(kv.has_value());
    CHECK(kv->key == odd_key);
    CHECK(kv->value == odd_value);
    CHECK(kv->create_revision > 0);
    REQUIRE(etcd.get("/t/missing", kv) == "");
    CHECK_FALSE(kv.has_value());

    // A prefix is every key that starts with it, and only those: "/t/a"
    // and "/t/a\xff..." yes, "/t/b" and "/t/a" + 1 ("/t/b" too) no.
    for (const std::string& k : std::vector<std::string>{"/t/a", "/t/a/1", std::string("/t/a\xff\xff", 6), "/t/b", "/t/`"})
        REQUIRE(etcd.put(k, "x") == "");
    std::vector<etcd_kv> kvs;
    int64_t revision = 0;
    REQUIRE(etcd.list("/t/a", kvs, revision) == "");
    REQUIRE(kvs.size() == 3);
    CHECK(kvs[0].key == "/t/a");
    CHECK(kvs[1].key == "/t/a/1");
    CHECK(kvs[2].key == std::string("/t/a\xff\xff", 6));
    CHECK(revision >= kvs[2].mod_revision);
    REQUIRE(etcd.list(std::string("/t/a\xff", 5), kvs, revision) == "");
    CHECK(kvs.size() == 1);

    // create: once only.
    bool created = false;
    REQUIRE(etcd.create("/t/once", "first", created) == "");
    CHECK(created);
    REQUIRE(etcd.create("/t/once", "second", created) == "");
    CHECK_FALSE(created);
    REQUIRE(etcd.get("/t/once", kv) == "");
    CHECK(kv->value == "first");
    // replace: only over the revision read.
    REQUIRE(etcd.get("/t/once", kv) == "");
    bool replaced = false;
    REQUIRE(etcd.replace("/t/once", "third", kv->mod_revision, replaced) == "");
    CHECK(replaced);
    REQUIRE(etcd.replace("/t/once", "fourth", kv->mod_revision, replaced) == "");
    CHECK_FALSE(replaced);   // it changed since
    REQUIRE(etcd.get("/t/once", kv) == "");
    CHECK(kv->value == "third");
    REQUIRE(etcd.remove("/t/once") == "");
    REQUIRE(etcd.get("/t/once", kv) == "");
    CHECK_FALSE(kv.has_value());

    // remove_if_unchanged: a key and a prefix in one transaction, only if
    // nothing under a third prefix was put after a list's revision.
    for (const char* k : {"/r/session", "/r/members/a", "/r/members/b", "/r/status/a"})
        REQUIRE(etcd.put(k, "x") == "");
    REQUIRE(etcd.list("/r/status/", kvs, revision) == "");
    REQUIRE(etcd.put("/r/status/b", "running") == "");   // a node that starts meanwhile
    bool removed = true;
    REQUIRE(etcd.remove_if_unchanged("/r/session", "/r/members/", "/r/status/", revision, removed) == "");
    CHECK_FALSE(removed);
    REQUIRE(etcd.get("/r/session", kv) == "");
    CHECK(kv.has_value());
    REQUIRE(etcd.list("/r/members/", kvs, revision) == "");
    CHECK(kvs.size() == 2);
    // Read again: nothing put since (a status deleted is no change).
    REQUIRE(etcd.list("/r/status/", kvs, revision) == "");
    REQUIRE(etcd.remove("/r/status/a") == "");
    REQUIRE(etcd.remove_if_unchanged("/r/session", "/r/members/", "/r/status/", revision, removed) == "");
    CHECK(removed);
    REQUIRE(etcd.get("/r/session", kv) == "");
    CHECK_FALSE(kv.has_value());
    REQUIRE(etcd.list("/r/members/", kvs, revision) == "");
    CHECK(kvs.empty());
    REQUIRE(etcd.list("/r/status/", kvs, revision) == "");
    CHECK(kvs.size() == 1);   // the statuses are the nodes' own: left
    // Nothing under the watched prefix at all: the compare holds.
    REQUIRE(etcd.put("/r/session", "x") == "");
    REQUIRE(etcd.list("/r/none/", kvs, revision) == "");
    REQUIRE(etcd.remove_if_unchanged("/r/session", "/r/members/", "/r/none/", revision, removed) == "");
    CHECK(removed);

    // etcd's own refusals come back in its words.
    CHECK(etcd.put("/t/l", "x", 12345) == fmt::format("etcd {}: put /t/l: etcdserver: requested lease not found",
                                                       server.url()));
}

TEST_CASE("etcd: a key under a lease lives while it is kept alive, and goes when it is not or is revoked")
{
    test::etcd_server server;
    etcd_client etcd(settings_for(server.url()));
    int64_t lease = 0;
    // A 5 s TTL kept alive every 750 ms: a stall of the machine under 4 s
    // leaves it alive.
    REQUIRE(etcd.grant(5, lease) == "");
    REQUIRE(etcd.put("/t/leased", "x", lease) == "");
    std::optional<etcd_kv> kv;
    for (int i = 0; i < 8; i++) {   // 6 s: past the TTL, kept alive
        std::this_thread::sleep_for(750ms);
        int64_t ttl = 0;
        REQUIRE(etcd.keep_alive(lease, ttl) == "");
        CHECK(ttl == 5);
    }
    REQUIRE(etcd.get("/t/leased", kv) == "");
    REQUIRE(kv.has_value());
    CHECK(kv->lease == lease);
    // Not kept alive: gone once its TTL has passed (not before 4 s).
    const auto left_alone = std::chrono::steady_clock::now();
    CHECK(wait_for([&] { return etcd.get("/t/leased", kv).empty() && !kv.has_value(); }, 60000ms));
    CHECK(std::chrono::steady_clock::now() - left_alone >= 4s);
    int64_t ttl = 99;
    REQUIRE(etcd.keep_alive(lease, ttl) == "");
    CHECK(ttl == 0);

    REQUIRE(etcd.grant(60, lease) == "");
    REQUIRE(etcd.put("/t/revoked", "x", lease) == "");
    REQUIRE(etcd.revoke(lease) == "");
    REQUIRE(etcd.get("/t/revoked", kv) == "");
    CHECK_FALSE(kv.has_value());
}

TEST_CASE("etcd: a watch delivers every change in order, resumes from its revision, and says when that is compacted")
{
    test::etcd_server server;
    etcd_client etcd(settings_for(server.url()));
    REQUIRE(etcd.put("/w/a", "1") == "");
    std::vector<etcd_kv> kvs;
    int64_t listed = 0;
    REQUIRE(etcd.list("/w/", kvs, listed) == "");

    // Changes made while it watches, one of them a delete; one outside the prefix.
    std::vector<std::string> seen;
    std::thread writer([&] {
        std::this_thread::sleep_for(300ms);
        etcd_client other(settings_for(server.url()));
        CHECK(other.put("/w/b", "2") == "");
        CHECK(other.put("/x/outside", "3") == "");
        CHECK(other.remove("/w/a") == "");
        CHECK(other.put("/w/c", "4") == "");
    });
    etcd_client::watch_end end = etcd.watch("/w/", listed + 1, [&](const etcd_event& e) {
        seen.push_back((e.deleted ? "DELETE " : "PUT ") + e.kv.key + (e.deleted ? "" : "=" + e.kv.value));
        return seen.size() < 3;
    });
    writer.join();
    CHECK(end.error == "");
    CHECK(seen == std::vector<std::string>{"PUT /w/b=2", "DELETE /w/a", "PUT /w/c=4"});

    // Resumed from a revision: what came after it, nothing twice.
    REQUIRE(etcd.put("/w/d", "5") == "");
    seen.clear();
    end = etcd.watch("/w/", end.revision + 1, [&](const etcd_event& e) {
        seen.push_back(e.kv.key);
        return false;
    });
    CHECK(seen == std::vector<std::string>{"/w/d"});

    // interrupt() from another thread ends a watch with nothing to deliver,
    // and every later call of that client at once.
    {
        etcd_settings patient = settings_for(server.url());
        patient.timeout = 30s;   // an end by the timeout is told from one by interrupt() however slow the machine
        etcd_client stopped(patient);
        std::thread stopper([&] {
            std::this_thread::sleep_for(300ms);
            stopped.interrupt();
        });
        const auto start = std::chrono::steady_clock::now();
        end = stopped.watch("/quiet/", 0, [](const etcd_event&) { return true; });
        stopper.join();
        CHECK(end.error == "");
        CHECK(std::chrono::steady_clock::now() - start < 20s);   // before the 30 s read timeout
        CHECK(stopped.put("/t/k", "v") == fmt::format("etcd {}: put /t/k: interrupted", server.url()));
    }

    // Quiet for the timeout: no error, and the revision to resume from.
    end = etcd.watch("/quiet/", 0, [](const etcd_event&) { return true; });
    CHECK(end.error == "");
    CHECK(end.created);
    CHECK(end.revision >= listed);
    const int64_t quiet_revision = end.revision;
    // etcd frozen: the watch is never confirmed, and that is an error.
    server.pause();
    end = etcd.watch("/quiet/", 0, [](const etcd_event&) { return true; });
    server.resume();
    CHECK_FALSE(end.created);
    CHECK(end.error.find("no reply within 2000 ms") != std::string::npos);

    // Compacted history: said, so that the caller lists again.
    httplib::Client admin(server.url());
    const int64_t now = quiet_revision;
    REQUIRE(admin.Post("/v3/kv/compaction", nlohmann::json{{"revision", std::to_string(now)}}.dump(),
                       "application/json"));
    end = etcd.watch("/w/", 2, [](const etcd_event&) { return true; });
    CHECK(end.compacted);
    CHECK(end.error.find("was compacted") != std::string::npos);
}

TEST_CASE("etcd: a watch on a member that has lost its leader ends, and the next watch goes to the next member")
{
    int ports[6];
    test::etcd_server::pick_cluster_ports(ports);
    test::etcd_server m0(0, ports), m1(1, ports), m2(2, ports);
    m0.wait_ready();
    m1.wait_ready();
    m2.wait_ready();
    etcd_settings s = settings_for(m0.url());
    s.endpoints = {m0.url(), m1.url()};
    s.timeout = 1000ms;   // a quiet watch returns after a second
    etcd_client etcd(s);
    const auto any = [](const etcd_event&) { return true; };
    REQUIRE(etcd.put("/w/x", "1") == "");
    // The cluster whole: a watch on m0 stays quiet for the timeout.
    etcd_client::watch_end end = etcd.watch("/w/", 0, any);
    CHECK(end.error == "");
    CHECK(end.created);
    // m1 and m2 stopped: m0 has no leader (election timeout 500 ms) and
    // says so, ending the watch, or refusing the next, in a few seconds;
    // without require-leader it kept each watch open and quiet.
    m1.pause();
    m2.pause();
    std::string error;
    const auto start = std::chrono::steady_clock::now();
    while (error.empty() && std::chrono::steady_clock::now() - start < 15s)
        error = etcd.watch("/w/", 0, any).error;
    INFO("after " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
                  << " ms");
    CHECK_THAT(error, Catch::StartsWith(fmt::format("etcd {}: watch /w/: ", m0.url())) && Catch::Contains("no leader"));
    // The next watch is made on the next member (stopped here: no answer).
    error = etcd.watch("/w/", 0, any).error;
    CHECK_THAT(error, Catch::StartsWith(fmt::format("etcd {}: watch /w/: ", m1.url())));
    m1.resume();
    m2.resume();
}

TEST_CASE("etcd: an endpoint that does not answer is passed over for the next")
{
    test::etcd_server server;
    etcd_settings s = settings_for("http://127.0.0.1:1");
    s.endpoints.push_back(server.url());
    etcd_client etcd(s);
    REQUIRE(etcd.put("/t/k", "v") == "");
    CHECK(etcd.endpoint() == server.url());
    // None answers: each said.
    etcd_client nobody(settings_for("http://127.0.0.1:1"));
    CHECK(nobody.put("/t/k", "v") ==
          "etcd http://127.0.0.1:1: put /t/k: cannot connect (is etcd running there? is the URL right?)");
}

TEST_CASE("fleet: a node's record lives under its lease: there at once, updated, gone on stop or when etcd lost it")
{
    test::etcd_server server;
    registration_settings settings;
    settings.etcd = settings_for(server.url());
    settings.lease_ttl_s = 5;   // kept alive every 1.7 s: a stall of the machine under 3 s leaves it alive
    settings.retry = 200ms;
    node_identity node{"n1", "http://127.0.0.1:8080", "9.9", {{0, "net_pcap0", "net_pcap"}}, "2026-11-30T00:00:00Z"};
    etcd_client etcd(settings.etcd);
    const auto record = [&]() -> nlohmann::json {
        std::optional<etcd_kv> kv;
        REQUIRE(etcd.get("/linecap/nodes/n1", kv) == "");
        return kv ? nlohmann::json::parse(kv->value) : nlohmann::json();
    };
    const auto wait_for = [&](auto&& condition, std::chrono::milliseconds limit) {
        const auto start = std::chrono::steady_clock::now();
        while (!condition() && std::chrono::steady_clock::now() - start < limit)
            std::this_thread::sleep_for(50ms);
        return condition();
    };

    auto registration = std::make_unique<node_registration>(settings, node);
    registration->start();
    REQUIRE(wait_for([&] { return !record().is_null(); }, 30000ms));
    nlohmann::json r = record();
    CHECK(r["name"] == "n1");
    CHECK(r["url"] == "http://127.0.0.1:8080");
    CHECK(r["version"] == "9.9");
    CHECK(r["ports"] == nlohmann::json::parse(R"([{"port":0,"name":"net_pcap0","driver":"net_pcap"}])"));
    CHECK(r["sessions_running"] == 0);
    CHECK(r["clock"].contains("synchronised"));
    CHECK(r["clock"]["max_error_us"].is_number_integer());

    // Kept alive past its TTL; a change of sessions is in the record within moments.
    registration->set_running(2);
    CHECK(wait_for([&] { return record().value("sessions_running", 0) == 2; }, 30000ms));
    std::this_thread::sleep_for(6000ms);
    CHECK(!record().is_null());

    // etcd frozen past the lease: the record is gone (the lease expired in
    // etcd's time), and back once etcd answers.
    server.pause();
    std::this_thread::sleep_for(6000ms);
    server.resume();
    CHECK(wait_for([&] { return !record().is_null() && record()["sessions_running"] == 2; }, 30000ms));

    // Stopped: revoked, gone at once.
    registration->stop();
    CHECK(record().is_null());
}

TEST_CASE("etcd: a reply etcd would not send is an error, never an exception")
{
    scripted_server server;
    etcd_client etcd(settings_for(server.url()));
    const std::string at = "etcd " + server.url() + ": ";

    // A streaming call's error: "error" is an object.
    server.reply("/v3/lease/keepalive", 404,
                 R"({"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease not found",)"
                 R"("http_status":"Not Found"}})");
    int64_t ttl = 0;
    CHECK(etcd.keep_alive(7, ttl) == at + "lease keep-alive: etcdserver: requested lease not found");
    server.reply("/v3/lease/keepalive", 200, R"({"result":"soon"})");
    CHECK(etcd.keep_alive(7, ttl) == "");
    CHECK(ttl == 0);
    // A unary call's error, with an "error" of another type.
    server.reply("/v3/kv/put", 400, R"({"error":["no"],"code":3})");
    CHECK(etcd.put("/t/k", "v") == at + "put /t/k: [\"no\"]");

    // Keys and values that are not base64 text; "====" once made a string
    // of SIZE_MAX bytes.
    std::optional<etcd_kv> kv;
    std::vector<etcd_kv> kvs;
    int64_t revision = 0;
    for (const char* kvs_json : {R"(["x"])", R"([5])", R"([{"key":7}])", R"([{"value":"eA=="}])",
                                 R"([{"key":"===="}])", R"([{"key":"eA=="}, {"key":"e==="}])", R"([{"key":"e=A="}])",
                                 R"([{"key":"eA==","value":"e*=="}])", R"([{"key":"eA==","value":{}}])"}) {
        INFO(kvs_json);
        server.reply("/v3/kv/range", 200, fmt::format(R"({{"header":{{"revision":"9"}},"kvs":{}}})", kvs_json));
        CHECK(etcd.get("/t/k", kv) == at + "get /t/k: a key or value in the reply that is not base64");
        CHECK_FALSE(kv.has_value());
        CHECK(etcd.list("/t/", kvs, revision) == at + "list /t/: a key or value in the reply that is not base64");
    }
    // Fields of other types read as left out.
    server.reply("/v3/kv/range", 200, R"({"header":[],"kvs":{"key":"eA=="}})");
    CHECK(etcd.list("/t/", kvs, revision) == "");
    CHECK(kvs.empty());
    server.reply("/v3/kv/txn", 200, R"({"succeeded":"yes"})");
    bool created = true;
    CHECK(etcd.create("/t/k", "v", created) == "");
    CHECK_FALSE(created);
    server.reply("/v3/lease/grant", 200, R"({"ID":{"x":1}})");
    int64_t lease = 0;
    CHECK(etcd.grant(5, lease) == at + "lease grant: no lease in the reply");

    // A watch's stream: an error object, events that are not key-values.
    const auto watch_error = [&](const std::string& stream) {
        server.reply("/v3/watch", 200, stream);
        return etcd.watch("/t/", 0, [](const etcd_event&) { return true; }).error;
    };
    CHECK(watch_error(R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}})"
                      "\n") == at + "watch /t/: etcdserver: no leader");
    CHECK(watch_error(R"({"result":{"created":"yes","canceled":1,"events":[5]}})"
                      "\n") == at + "watch /t/: an event without a base64 key and value");
    CHECK(watch_error(R"({"result":{"events":[{"type":7,"kv":{"key":"===="}}]}})"
                      "\n") == at + "watch /t/: an event without a base64 key and value");
    CHECK(watch_error(R"({"result":[]})"
                      "\n") == at + "watch /t/: the stream ended");

    // A token that is not text.
    etcd_settings with_user = settings_for(server.url());
    with_user.user = "u";
    with_user.password = "p";
    etcd_client user(with_user);
    server.reply("/v3/auth/authenticate", 200, R"({"token":5})");
    CHECK(user.put("/t/k", "v") == at + "authenticate as u: no token in the reply (is etcd's auth enabled? etcdctl "
                                        "auth enable)");
}

TEST_CASE("etcd: a member that hangs or cannot serve is passed over for the next; a transaction is sent once")
{
    test::etcd_server server;
    silent_listener silent;
    etcd_settings s = settings_for(silent.url());
    s.timeout = 1000ms;
    s.endpoints.push_back(server.url());
    s.endpoints.push_back("http://127.0.0.1:1");

    // The first call waits out the silent member's timeout once; the rest
    // go to the member that answered.
    etcd_client etcd(s);
    REQUIRE(etcd.put("/t/k", "v") == "");
    CHECK(etcd.endpoint() == server.url());
    std::optional<etcd_kv> kv;
    REQUIRE(etcd.get("/t/k", kv) == "");
    CHECK(kv.has_value());
    CHECK(silent.connections() == 1);
    for (const std::string first : {"grant", "keep-alive", "watch"}) {
        INFO(first);
        etcd_client fresh(s);
        int64_t lease = 0, ttl = 0;
        if (first == "grant") {
            CHECK(fresh.grant(60, lease) == "");
        } else if (first == "keep-alive") {
            REQUIRE(etcd.grant(60, lease) == "");
            CHECK(fresh.keep_alive(lease, ttl) == "");
            CHECK(ttl == 60);
        } else {
            // A watch is one endpoint's: it fails there, the next is made on
            // the next member.
            const auto watch = [&] { return fresh.watch("/t/", 0, [](const etcd_event&) { return false; }); };
            CHECK(watch().error.find(silent.url() + ": watch /t/: no reply within 1000 ms") != std::string::npos);
            const etcd_client::watch_end end = watch();
            CHECK(end.error == "");
            CHECK(end.created);
        }
        CHECK(fresh.endpoint() == server.url());
    }

    // A transaction that went out to the silent member may yet be carried
    // out: not sent again.
    etcd_client txn(s);
    bool created = false;
    CHECK(txn.create("/t/once", "v", created) ==
          fmt::format("etcd {}: create /t/once: no reply within 1000 ms, or the connection broke", silent.url()));
    CHECK(txn.get("/t/once", kv) == "");
    CHECK_FALSE(kv.has_value());

    // A member that says it cannot serve (no leader, a request that timed
    // out): the next, for a call that may be repeated.
    scripted_server sick;
    for (const char* error : {R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})",
                              R"({"error":"etcdserver: request timed out","code":2})"}) {
        INFO(error);
        for (const char* path : {"/v3/kv/put", "/v3/kv/range", "/v3/lease/grant", "/v3/kv/txn"})
            sick.reply(path, 503, error);
        etcd_settings with_sick = settings_for(sick.url());
        with_sick.endpoints.push_back(server.url());
        etcd_client beside(with_sick);
        CHECK(beside.create("/t/sick", "v", created).find("etcdserver: ") != std::string::npos);
        CHECK(beside.endpoint() == sick.url());
        CHECK(beside.put("/t/k", "w") == "");
        CHECK(beside.endpoint() == server.url());
    }

    // A node registers through the member that answers.
    registration_settings settings;
    settings.etcd = s;
    settings.lease_ttl_s = 60;   // none expires while the test runs, however slow the machine
    settings.retry = 200ms;
    node_registration node(settings, {"n1", "http://127.0.0.1:8080", "9.9", {}, "2026-11-30T00:00:00Z"});
    node.start();
    // The record is written before the node says which lease it is under:
    // both are waited for, and must agree.
    CHECK(wait_for([&] { return etcd.get("/linecap/nodes/n1", kv).empty() && kv.has_value() && node.lease() != 0; },
                   60000ms));
    REQUIRE(kv.has_value());
    CHECK(kv->lease == node.lease());
    CHECK(node.lease() != 0);
}

TEST_CASE("etcd: a user and password etcd refused are not sent again for a pause that doubles")
{
    scripted_server server;
    etcd_settings settings = settings_for(server.url());
    settings.user = "u";
    settings.password = "wrong";
    etcd_client etcd(settings);
    // etcd 3.4's answer (the real one: the next test case).
    server.reply("/v3/auth/authenticate", 400,
                 R"({"error":"etcdserver: authentication failed, invalid user ID or password","code":3,)"
                 R"("message":"etcdserver: authentication failed, invalid user ID or password"})");
    const std::string refused = "etcd " + server.url() +
                                ": authenticate as u: etcdserver: authentication failed, invalid user ID or password: "
                                "check a user and password";
    CHECK(etcd.put("/t/k", "v") == refused);
    CHECK(etcd.put("/t/k", "v") == refused + " (asked again in 1 s)");
    std::optional<etcd_kv> kv;
    CHECK(etcd.get("/t/k", kv) == refused + " (asked again in 1 s)");
    CHECK(server.requests("/v3/auth/authenticate") == 1);
    std::this_thread::sleep_for(1100ms);
    CHECK(etcd.put("/t/k", "v") == refused);
    CHECK(etcd.put("/t/k", "v") == refused + " (asked again in 2 s)");
    CHECK(server.requests("/v3/auth/authenticate") == 2);
    // Once etcd takes them, nothing is held back.
    std::this_thread::sleep_for(2100ms);
    server.reply("/v3/auth/authenticate", 200, R"({"token":"t1"})");
    server.reply("/v3/kv/put", 200, R"({"header":{"revision":"2"}})");
    CHECK(etcd.put("/t/k", "v") == "");
    CHECK(server.requests("/v3/auth/authenticate") == 3);
    CHECK(server.requests("/v3/kv/put") == 1);
}

TEST_CASE("fleet: a node whose record cannot be written keeps one lease, not one a retry")
{
    test::etcd_server server;
    // etcd's users on: "reader" may read /linecap/ (base64 "/linecap/" to
    // "/linecap0") and not write it. A lease it may have; its record it
    // cannot put.
    httplib::Client admin(server.url());
    const auto post = [&](const std::string& path, const nlohmann::json& body, const std::string& token = "") {
        httplib::Headers headers;
        if (!token.empty())
            headers.emplace("Authorization", token);
        const httplib::Result r = admin.Post(path.c_str(), headers, body.dump(), "application/json");
        REQUIRE(r);
        INFO(path << ": " << r->body);
        REQUIRE(r->status == 200);
        return nlohmann::json::parse(r->body);
    };
    post("/v3/auth/user/add", {{"name", "root"}, {"password", "rootpw"}});
    post("/v3/auth/user/grant", {{"user", "root"}, {"role", "root"}});
    post("/v3/auth/user/add", {{"name", "reader"}, {"password", "readerpw"}});
    post("/v3/auth/role/add", {{"name", "read"}});
    post("/v3/auth/role/grant", {{"name", "read"},
                                 {"perm", {{"permType", "READ"}, {"key", "L2xpbmVjYXAv"}, {"range_end", "L2xpbmVjYXAw"}}}});
    post("/v3/auth/user/grant", {{"user", "reader"}, {"role", "read"}});
    post("/v3/auth/enable", nlohmann::json::object());
    const std::string root =
        post("/v3/auth/authenticate", {{"name", "root"}, {"password", "rootpw"}})["token"].get<std::string>();

    // etcd's refusal of a wrong password, as the client reads it, and the
    // pause before it is asked again.
    {
        etcd_settings wrong = settings_for(server.url());
        wrong.user = "reader";
        wrong.password = "not-readerpw";
        etcd_client etcd(wrong);
        const std::string refused = "etcd " + server.url() + ": authenticate as reader: etcdserver: authentication "
                                                             "failed, invalid user ID or password: check a user and password";
        CHECK(etcd.put("/linecap/x", "v") == refused);
        CHECK(etcd.put("/linecap/x", "v") == refused + " (asked again in 1 s)");
    }

    registration_settings settings;
    settings.etcd = settings_for(server.url());
    settings.etcd.user = "reader";
    settings.etcd.password = "readerpw";
    settings.lease_ttl_s = 60;   // none expires while the test runs
    settings.retry = 100ms;
    {
        node_registration node(settings, {"n1", "http://127.0.0.1:8080", "9.9", {}, "2026-11-30T00:00:00Z"});
        node.start();
        // Its first lease granted (however slow the machine), then about
        // 20 attempts more.
        CHECK(wait_for([&] { return !post("/v3/lease/leases", nlohmann::json::object(), root)
                                        .value("leases", nlohmann::json::array())
                                        .empty(); },
                       30000ms));
        std::this_thread::sleep_for(2000ms);
        CHECK(node.lease() == 0);
    }
    const nlohmann::json leases = post("/v3/lease/leases", nlohmann::json::object(), root);
    CHECK(leases.value("leases", nlohmann::json::array()).size() == 1);
}

namespace {

// The daemon's control thread as the fleet agent sees it: this node runs
// no session yet, and starts each one it is asked to (its spec kept, by
// fleet id). The first list of its sessions throws when `throw_once`.
struct recording_daemon {
    std::mutex mutex;
    std::map<std::string, nlohmann::json> started;   // by fleet id
    bool throw_once = false;

    daemon_call call()
    {
        return [this](const nlohmann::json& request) -> nlohmann::json {
            const std::lock_guard lock(mutex);
            const std::string cmd = request.value("cmd", "");
            if (cmd == "list") {
                if (std::exchange(throw_once, false))
                    throw std::runtime_error("a list that fails");
                return {{"ok", true}, {"sessions", nlohmann::json::array()}};
            }
            if (cmd == "start") {
                started[request["fleet"].get<std::string>()] = request["spec"];
                return {{"ok", true}, {"id", fmt::format("s{}", started.size())}};
            }
            return {{"ok", true}, {"session", {{"status", "running"}}}};
        };
    }
    std::optional<nlohmann::json> spec_of(const std::string& id)
    {
        const std::lock_guard lock(mutex);
        const auto found = started.find(id);
        return found == started.end() ? std::nullopt : std::optional(found->second);
    }
};

// A running etcd, node n1 registered in it, and its agent's settings
// (ticks of 100 ms), for the agent's tests.
struct agent_node {
    test::etcd_server server;
    registration_settings node_settings;
    std::unique_ptr<node_registration> node;
    agent_settings settings;

    agent_node()
    {
        node_settings.etcd = settings_for(server.url());
        node = std::make_unique<node_registration>(
            node_settings, node_identity{"n1", "http://127.0.0.1:8080", "9.9", {}, "2026-11-30T00:00:00Z"});
        node->start();
        settings.etcd = settings_for(server.url());
        settings.report = 100ms;
        settings.retry = 100ms;
    }
};

} // namespace

TEST_CASE("fleet: a node runs a fleet session to its end time, or to the spec's own limit if that is sooner")
{
    agent_node n;
    const agent_settings& settings = n.settings;
    recording_daemon daemon;
    daemon.throw_once = GENERATE(false, true);   // a fault in the agent's thread: said, and tried again
    fleet_agent agent(settings, "n1", utc_now_ns(), *n.node, daemon.call());
    agent.start();

    // Two hours from now; "5m" as linecapctl sends --duration 5m.
    etcd_client etcd(settings.etcd);
    const uint64_t now = utc_now_ns(), two_hours = 7200ull * 1000000000;
    const std::map<std::string, nlohmann::json> limits = {
        {"text-sooner", "5m"}, {"text-later", "3h"}, {"number-sooner", 90}, {"number-later", 86400},
        {"none", nullptr}};
    for (const auto& [id, limit] : limits) {
        fleet_session s;
        s.id = id;
        s.spec = {{"name", id}};
        if (!limit.is_null())
            s.spec["limits"] = {{"seconds", limit}};
        s.end_ns = now + two_hours;
        s.late_join = true;
        s.created = utc_iso8601(now);
        bool created = false;
        REQUIRE(etcd.create(fleet_session_key(id), fleet_session_json(s).dump(), created) == "");
    }
    for (const auto& [id, limit] : limits) {
        INFO(id);
        const std::string& name = id;   // (clang 14 lambdas cannot capture a structured binding)
        REQUIRE(wait_for([&] { return daemon.spec_of(name).has_value(); }, 5000ms));
        const nlohmann::json seconds = (*daemon.spec_of(id))["limits"]["seconds"];
        if (id.ends_with("sooner")) {
            CHECK(seconds == limit);
        } else {
            REQUIRE(seconds.is_number());
            CHECK(seconds.get<double>() <= 7200);
            CHECK(seconds.get<double>() > 7100);
        }
    }
}

TEST_CASE("fleet: a value in etcd nested past 64 levels is read as no JSON, never copied deep (the stack)")
{
    const auto nested = [](size_t depth) {
        return R"({"id":"x","spec":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
    };
    CHECK(linecap::parse_stored_json(nested(64)).is_object());   // the spec at level 1, its arrays to 64
    CHECK(linecap::parse_stored_json(nested(65)).is_discarded());
    // 500 000 levels: read, judged, and dropped without recursion.
    const nlohmann::json deep = linecap::parse_stored_json(nested(500000));
    CHECK(deep.is_discarded());
    linecap::fleet_session s;
    CHECK_FALSE(linecap::parse_fleet_session(deep, s).empty());
    CHECK(linecap::parse_stored_json("not json").is_discarded());
}

TEST_CASE("fleet: a start answered late is asked again until its answer comes, and stopped if it was stopped meanwhile")
{
    agent_node n;
    const agent_settings& settings = n.settings;
    // The daemon as agent_calls makes it look (control/http_api.h): a start
    // of "slow" in progress until `answer` (a host name waiting on DNS),
    // then "s1"; every other start answered at once.
    std::mutex mutex;
    std::vector<std::string> requests;   // "start ID", "stop ID", in order
    std::map<std::string, std::set<std::string>> sent;   // each fleet session's start requests, as sent
    bool answer = false;
    const daemon_call call = [&](const nlohmann::json& request) -> nlohmann::json {
        const std::lock_guard lock(mutex);
        const std::string cmd = request.value("cmd", "");
        if (cmd == "list")
            return {{"ok", true}, {"sessions", nlohmann::json::array()}};
        if (cmd == "start") {
            const std::string fleet = request.value("fleet", "");
            requests.push_back("start " + fleet);
            sent[fleet].insert(request.dump());
            if (fleet == "slow" && !answer)
                return {{"ok", false}, {"in_progress", true}, {"error", "still being carried out"}};
            return {{"ok", true}, {"id", fleet == "slow" ? "s1" : "s2"}};
        }
        if (cmd == "stop")
            requests.push_back("stop " + request.value("id", ""));
        return {{"ok", true}, {"session", {{"status", "running"}}}};
    };
    const auto count = [&](const std::string& r) {
        const std::lock_guard lock(mutex);
        return std::count(requests.begin(), requests.end(), r);
    };
    fleet_agent agent(settings, "n1", utc_now_ns(), *n.node, call);
    agent.start();

    etcd_client etcd(settings.etcd);
    // "slow" ends 8 s from now (time for the steps before it on a machine
    // that stalls): its start, asked again past that, is sent as it was
    // first (a limit made from the end time then would be none the daemon
    // takes).
    const uint64_t end_ns = utc_now_ns() + 8000000000ull;
    const auto put = [&](const std::string& id, bool stopped) {
        fleet_session s;
        s.id = id;
        s.spec = {{"name", id}};
        s.late_join = true;
        s.stopped = stopped;
        if (id == "slow")
            s.end_ns = end_ns;
        s.created = utc_iso8601(utc_now_ns());
        REQUIRE(etcd.put(fleet_session_key(id), fleet_session_json(s).dump()) == "");
    };
    put("slow", false);
    REQUIRE(wait_for([&] { return count("start slow") >= 3; }, 30000ms));   // asked again each tick
    // Another fleet session starts meanwhile: the agent is not held up.
    put("other", false);
    REQUIRE(wait_for([&] { return count("start other") == 1; }, 30000ms));
    // Stopped before its start was answered: still asked for its answer,
    // then the session it started is stopped.
    put("slow", true);
    std::this_thread::sleep_for(300ms);
    const auto asked = count("start slow");
    CHECK(wait_for([&] { return count("start slow") > asked; }, 30000ms));
    while (utc_now_ns() < end_ns + 300000000ull)   // past its end too
        std::this_thread::sleep_for(50ms);
    {
        const std::lock_guard lock(mutex);
        answer = true;
    }
    REQUIRE(wait_for([&] { return count("stop s1") == 1; }, 30000ms));
    std::this_thread::sleep_for(300ms);
    const auto final_starts = count("start slow");
    std::this_thread::sleep_for(300ms);
    CHECK(count("start slow") == final_starts);   // answered: not asked again
    CHECK(count("stop s2") == 0);
    const std::lock_guard lock(mutex);
    CHECK(sent["slow"].size() == 1);   // every ask the same request
}
