// fleet/etcd.h and fleet/node.h against a real etcd on loopback
// (tests/support/etcd_server.h).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

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

    // etcd's own refusals come back in its words.
    CHECK(etcd.put("/t/l", "x", 12345) == fmt::format("etcd {}: put /t/l: etcdserver: requested lease not found",
                                                       server.url()));
}

TEST_CASE("etcd: a key under a lease lives while it is kept alive, and goes when it is not or is revoked")
{
    test::etcd_server server;
    etcd_client etcd(settings_for(server.url()));
    int64_t lease = 0;
    REQUIRE(etcd.grant(2, lease) == "");
    REQUIRE(etcd.put("/t/leased", "x", lease) == "");
    std::optional<etcd_kv> kv;
    for (int i = 0; i < 4; i++) {   // 3 s: past the TTL, kept alive
        std::this_thread::sleep_for(750ms);
        int64_t ttl = 0;
        REQUIRE(etcd.keep_alive(lease, ttl) == "");
        CHECK(ttl == 2);
    }
    REQUIRE(etcd.get("/t/leased", kv) == "");
    REQUIRE(kv.has_value());
    CHECK(kv->lease == lease);
    std::this_thread::sleep_for(3500ms);   // not kept alive: gone
    REQUIRE(etcd.get("/t/leased", kv) == "");
    CHECK_FALSE(kv.has_value());
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
        etcd_client stopped(settings_for(server.url()));
        std::thread stopper([&] {
            std::this_thread::sleep_for(300ms);
            stopped.interrupt();
        });
        const auto start = std::chrono::steady_clock::now();
        end = stopped.watch("/quiet/", 0, [](const etcd_event&) { return true; });
        stopper.join();
        CHECK(end.error == "");
        CHECK(std::chrono::steady_clock::now() - start < 1900ms);   // before the 2 s read timeout
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
    settings.lease_ttl_s = 2;
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
    REQUIRE(wait_for([&] { return !record().is_null(); }, 2000ms));
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
    CHECK(wait_for([&] { return record().value("sessions_running", 0) == 2; }, 1000ms));
    std::this_thread::sleep_for(3000ms);
    CHECK(!record().is_null());

    // etcd frozen past the lease: the record is gone (the lease expired in
    // etcd's time), and back once etcd answers.
    server.pause();
    std::this_thread::sleep_for(2500ms);
    server.resume();
    CHECK(wait_for([&] { return !record().is_null() && record()["sessions_running"] == 2; }, 5000ms));

    // Stopped: revoked, gone at once.
    registration->stop();
    CHECK(record().is_null());
}
