// The HTTP API: --http's address and token, the token comparison, the
// status of a refusal, the bridge to the control thread (real threads),
// /metrics' text; and the server itself on a loopback port, its control
// thread a stand-in that answers `files` with a folder of the test's own,
// its clients raw sockets (so that the bytes on the wire are what is
// checked, and a client can stall, trickle or never read).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <regex>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control/http_api.h"
#include "control/http_connections.h"
#include "control/metrics.h"
#include "tests/support/loopback_client.h"

using namespace linecap;
using namespace std::chrono_literals;
using linecap::test::connect_to;
using linecap::test::send_all;

namespace {

// A test that shows something is not waited for sets the timeout it would
// otherwise wait out far past what it checks: the check holds on a machine
// that stalls for seconds (a busy CI VM), and still fails when it waits.
constexpr std::chrono::seconds long_timeout{60};
constexpr std::chrono::seconds not_waited{30};

} // namespace

TEST_CASE("--http: ADDR:PORT with an IPv4 address or an IPv6 one in brackets")
{
    std::string host;
    uint16_t port = 0;
    REQUIRE(parse_http_address("127.0.0.1:8080", host, port).empty());
    CHECK(host == "127.0.0.1");
    CHECK(port == 8080);
    REQUIRE(parse_http_address("[::1]:65535", host, port).empty());
    CHECK(host == "::1");
    CHECK(port == 65535);
    REQUIRE(parse_http_address("0.0.0.0:1", host, port).empty());
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x",
                            "127.0.0.1:-1", "localhost:80", "::1:80", "[::1]80", "[::1]", "[127.0.0.1]:80",
                            "300.1.1.1:80", ":8080", "127.0.0.1: 80"}) {
        INFO(bad);
        CHECK_FALSE(parse_http_address(bad, host, port).empty());
    }
    CHECK(parse_http_address("localhost:80", host, port).find("not an IPv4 address") != std::string::npos);
    CHECK(parse_http_address("1.2.3.4:99999", host, port).find("\"99999\" is not a port") != std::string::npos);
}

TEST_CASE("loopback addresses are 127/8 and ::1, nothing else")
{
    for (const char* yes : {"127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"})
        CHECK(is_loopback_address(yes));
    for (const char* no : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "fe80::1", "::ffff:10.0.0.1", "bogus"})
        CHECK_FALSE(is_loopback_address(no));
}

TEST_CASE("--http-token-file: one line of 16 printable characters or more")
{
    char dir[] = "/tmp/linecap-token.XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/token";
    const auto write = [&](const std::string& text) { std::ofstream(path, std::ios::binary) << text; };
    std::string token;
    write("0123456789abcdef0123\n");
    REQUIRE(read_http_token(path, token).empty());
    CHECK(token == "0123456789abcdef0123");
    write("");
    CHECK(read_http_token(path, token).find("empty") != std::string::npos);
    write(" \n\n");
    CHECK(read_http_token(path, token).find("empty") != std::string::npos);
    write("short\n");
    CHECK(read_http_token(path, token).find("at least 16") != std::string::npos);
    write("0123456789 abcdef0123\n");
    CHECK(read_http_token(path, token).find("character") != std::string::npos);
    write(std::string(5000, 'a'));
    CHECK(read_http_token(path, token).find("longer than") != std::string::npos);
    CHECK(read_http_token(std::string(dir) + "/missing", token).find("cannot read it") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("tokens compare equal only when equal, whatever the lengths")
{
    CHECK(same_token("0123456789abcdef", "0123456789abcdef"));
    CHECK_FALSE(same_token("0123456789abcdeF", "0123456789abcdef"));
    CHECK_FALSE(same_token("0123456789abcde", "0123456789abcdef"));
    CHECK_FALSE(same_token("0123456789abcdef0", "0123456789abcdef"));
    CHECK_FALSE(same_token("", "0123456789abcdef"));
    // A given token that is the expected one's bytes inverted, past its end.
    CHECK_FALSE(same_token(std::string(16, '\0'), "0123456789abcdef"));
}

TEST_CASE("a refusal's status: 404 unknown session, 409 wrong state or full, 503 not yet or shutting down, 500 I/O, 400 the rest")
{
    const refusal_facts unknown{.found = false};
    const refusal_facts ended{};
    const refusal_facts running{.running = true};
    CHECK(refusal_status(command::show, unknown) == 404);
    CHECK(refusal_status(command::remove, unknown) == 404);
    CHECK(refusal_status(command::remove, running) == 409);
    CHECK(refusal_status(command::remove, refusal_facts{.merging = true}) == 409);
    CHECK(refusal_status(command::remove, ended) == 500);   // the catalog could not remove its folder
    CHECK(refusal_status(command::stop, ended) == 409);
    CHECK(refusal_status(command::stop, running) == 503);
    CHECK(refusal_status(command::start, ended) == 400);
    CHECK(refusal_status(command::start, refusal_facts{.at_limit = true}) == 409);
    CHECK(refusal_status(command::start, refusal_facts{.at_limit = true, .shutting_down = true}) == 503);
    CHECK(refusal_status(command::files, ended) == 400);
    CHECK(refusal_status(command::merge, ended) == 500);    // its folder could not be opened
    CHECK(refusal_status(command::merge, unknown) == 404);
}

TEST_CASE("the bridge: a call is answered by the serving thread; one given up is never served; closed, none waits")
{
    control_bridge bridge;
    REQUIRE(bridge.fd() >= 0);
    std::atomic<bool> done = false;
    std::atomic<int> served = 0;
    std::thread control([&] {
        while (!done) {
            pollfd p{bridge.fd(), POLLIN, 0};
            ::poll(&p, 1, 20);
            bridge.serve([&](const http_call& c) {
                served++;
                return http_answer{c.what == http_call::kind::health ? 200 : 400, c.req.id};
            });
        }
    });
    http_call call;
    call.req.id = std::to_string(7);   // (assigning "7" trips GCC 12's false -Wrestrict)
    const auto a = bridge.call(call, long_timeout);
    REQUIRE(a.has_value());
    CHECK(a->status == 400);
    CHECK(a->body == "7");
    http_call health;
    health.what = http_call::kind::health;
    CHECK(bridge.call(health, long_timeout)->status == 200);
    done = true;
    control.join();
    CHECK(served == 2);

    // Nobody serves: the call times out, and a later serve() skips it.
    const auto late = bridge.call(call, 50ms);
    CHECK_FALSE(late.has_value());
    bridge.serve([&](const http_call&) {
        served++;
        return http_answer{};
    });
    CHECK(served == 2);

    bridge.close();
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(bridge.call(call, long_timeout).has_value());
    CHECK(std::chrono::steady_clock::now() - start < not_waited);   // the fault waits out the timeout
}

TEST_CASE("the bridge: a call answered later (a start compiling its filter) is waited for, past its timeout")
{
    control_bridge bridge;
    std::optional<later_answer> kept;
    std::optional<http_answer> got;
    http_call call;
    call.req.id = std::to_string(9);
    // The caller's timeout is for the call to be taken, not answered. A
    // call not taken in time (this thread stalled) is made again: one that
    // was taken returns only with its answer.
    std::atomic<bool> taken = false;
    std::thread caller([&] {
        do
            got = bridge.call(call, 100ms);
        while (!got.has_value() && !taken);
    });
    while (!kept) {
        bridge.serve([&](const http_call&, const later_answer& later) -> std::optional<http_answer> {
            kept = later;
            taken = true;
            return std::nullopt;
        });
        std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(300ms);   // past the timeout: the caller still waits
    CHECK_FALSE(got.has_value());
    (*kept)({201, "started"});
    caller.join();
    REQUIRE(got.has_value());
    CHECK(got->status == 201);
    CHECK(got->body == "started");
}

TEST_CASE("the bridge: one serve() answers the calls waiting when it began, not those handed over meanwhile")
{
    // Each answer hands a new call over (as busy HTTP clients would) before
    // it returns: serve() must return after one, or the control loop would
    // never get back to its socket and its sessions.
    control_bridge bridge;
    REQUIRE(bridge.fd() >= 0);
    std::vector<std::thread> clients;
    std::atomic<int> handed = 0, answered = 0;
    const auto hand_over = [&] {
        handed++;
        clients.emplace_back([&] {
            http_call c;
            // (Catch's CHECK is for the test's thread only.)
            if (bridge.call(c, long_timeout).has_value())
                answered++;
        });
        // Until the call is in the queue: the eventfd, read by serve()
        // before it answers, is written after the push.
        pollfd p{bridge.fd(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(long_timeout).count()));
    };
    int served = 0;
    const auto answer = [&](const http_call&) {
        served++;
        if (handed < 4)
            hand_over();
        return http_answer{};
    };
    hand_over();
    for (int round = 1; round <= 4; round++) {
        INFO("round " << round);
        served = 0;
        bridge.serve(answer);
        CHECK(served == 1);
    }
    for (auto& t : clients)
        t.join();
    CHECK(answered == 4);
}

TEST_CASE("the bridge: a call taken before its timeout gets its answer, however late; close() ends only those waiting")
{
    control_bridge bridge;
    http_call call;
    call.req.id = std::to_string(42);
    // Taken at once, answered after the caller's 50 ms: the caller gets the
    // answer (a start carried out must not look refused).
    std::atomic<bool> answering = false;
    std::thread control([&] {
        while (!answering) {
            pollfd p{bridge.fd(), POLLIN, 0};
            ::poll(&p, 1, 5);
            bridge.serve([&](const http_call& c) {
                answering = true;
                std::this_thread::sleep_for(300ms);
                return http_answer{201, c.req.id};
            });
        }
    });
    const auto start = std::chrono::steady_clock::now();
    // Made again if the control thread did not take it within 50 ms (a
    // stalled machine): one taken returns only with its answer.
    std::optional<http_answer> late;
    do
        late = bridge.call(call, 50ms);
    while (!late.has_value() && !answering);
    control.join();
    REQUIRE(late.has_value());
    CHECK(late->status == 201);
    CHECK(late->body == "42");
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);

    // Closed from another thread while one call waits (not taken) and
    // another is being answered: the first gets nothing at once, the second
    // its answer.
    std::optional<http_answer> waiting, served;
    std::atomic<bool> in_answer = false;
    std::thread first([&] { served = bridge.call(call, long_timeout); });
    std::thread control2([&] {
        while (!in_answer) {
            pollfd p{bridge.fd(), POLLIN, 0};
            ::poll(&p, 1, 5);
            bridge.serve([&](const http_call&) {
                in_answer = true;
                std::this_thread::sleep_for(300ms);
                return http_answer{200, "done"};
            });
        }
    });
    while (!in_answer)
        std::this_thread::sleep_for(1ms);
    std::thread second([&] { waiting = bridge.call(call, long_timeout); });
    std::this_thread::sleep_for(50ms);
    const auto closing = std::chrono::steady_clock::now();
    bridge.close();
    second.join();
    CHECK(std::chrono::steady_clock::now() - closing < not_waited);   // not its timeout
    CHECK_FALSE(waiting.has_value());
    first.join();
    control2.join();
    REQUIRE(served.has_value());
    CHECK(served->body == "done");
}

TEST_CASE("the fleet agent's calls: a start answered late is in progress, then gives its answer, and is carried out once")
{
    // A control thread that answers a start only once the test lets it
    // (its filter compiling: a host name waiting on DNS), and anything else
    // at once.
    control_bridge bridge;
    std::atomic<bool> running = true, release = false;
    std::atomic<int> starts_taken = 0;
    std::thread control([&] {
        std::vector<later_answer> due;
        while (running) {
            pollfd p{bridge.fd(), POLLIN, 0};
            ::poll(&p, 1, 5);
            bridge.serve([&](const http_call& c, const later_answer& later) -> std::optional<http_answer> {
                if (c.req.cmd != command::start)
                    return http_answer{200, R"({"ok": true, "sessions": []})"};
                starts_taken++;
                due.push_back(later);
                return std::nullopt;
            });
            if (release)
                for (later_answer& later : std::exchange(due, {}))
                    later({201, fmt::format(R"({{"ok": true, "id": "{}"}})", starts_taken.load())});
        }
        for (later_answer& later : due)   // a taken call is always answered
            later({503, R"({"ok": false, "error": "stopping"})"});
    });
    agent_calls calls(bridge, 200ms);
    const nlohmann::json start = {{"cmd", "start"}, {"spec", {{"name", "a"}}}, {"fleet", "f1"}};

    const auto t0 = std::chrono::steady_clock::now();
    const nlohmann::json first = calls(start);
    CHECK(std::chrono::steady_clock::now() - t0 < not_waited);   // not waited for (it never is answered unless released)
    CHECK(first.value("in_progress", false));
    CHECK(first.value("ok", true) == false);
    CHECK(first.value("error", "") ==
          "fleet session f1: its start here is still being carried out (its filter compiling: a host name waits on DNS)");
    CHECK(starts_taken == 1);
    // Other requests meanwhile are answered; asking the same start again,
    // even with a spec the daemon would refuse (a limit the end time made
    // 0), starts nothing more.
    CHECK(calls({{"cmd", "list"}}).value("ok", false));
    CHECK(calls(start).value("in_progress", false));
    nlohmann::json changed = start;
    changed["spec"]["limits"] = {{"seconds", 0}};
    request refused;
    REQUIRE(parse_request(changed.dump(), refused) != "");
    CHECK(calls(changed).value("in_progress", false));
    CHECK(starts_taken == 1);
    release = true;
    // Asked again until its answer comes, as the agent does each tick.
    const auto collect = [&](const nlohmann::json& request) {
        nlohmann::json answer;
        for (int i = 0; i < 500 && (answer = calls(request)).value("in_progress", false); i++)
            std::this_thread::sleep_for(10ms);
        return answer;
    };
    CHECK(collect(changed) == nlohmann::json{{"ok", true}, {"id", "1"}});
    CHECK(starts_taken == 1);
    // Collected: the next start of f1 is a new one (the daemon refuses a
    // fleet session that already ran here).
    CHECK(collect(start) == nlohmann::json{{"ok", true}, {"id", "2"}});
    CHECK(starts_taken == 2);
    // A start of no fleet session (none comes this way but the agent's)
    // waits for its answer.
    CHECK(calls({{"cmd", "start"}, {"spec", {{"name", "b"}}}}) == nlohmann::json{{"ok", true}, {"id", "3"}});
    running = false;
    control.join();
}

namespace {

// A session's folder, and the server with a stand-in control thread that
// answers `files` with it (the names given), `list` with no session, and
// anything else for an unknown session with 404.
struct test_server {
    std::string folder;
    std::vector<std::string> names;
    control_bridge bridge;
    std::atomic<bool> done = false;
    std::thread control;
    std::unique_ptr<http_api> api;
    // Answers a merge (GET .../pcap) if set: given the pipe's write end to close.
    std::function<http_answer(const http_call&)> on_merge;

    explicit test_server(std::vector<std::string> listed, http_settings settings = {})
        : names(std::move(listed))
    {
        char dir[] = "/tmp/linecap-http.XXXXXX";
        REQUIRE(mkdtemp(dir) != nullptr);
        folder = std::string(dir);
        settings.host = "127.0.0.1";
        settings.port = 0;
        api = std::make_unique<http_api>(settings, bridge);
        REQUIRE(api->bind().empty());
        REQUIRE(api->port() != 0);
        control = std::thread([this] {
            while (!done) {
                pollfd p{bridge.fd(), POLLIN, 0};
                ::poll(&p, 1, 10);
                bridge.serve([this](const http_call& c) { return answer(c); });
            }
        });
        api->start();
    }

    ~test_server()
    {
        bridge.close();
        api->stop();
        done = true;
        control.join();
        std::filesystem::remove_all(folder);
    }

    http_answer answer(const http_call& c) const
    {
        if (c.req.cmd == command::merge && on_merge)
            return on_merge(c);
        if (c.req.cmd == command::list)
            return {200, R"({"sessions":[]})"};
        if (c.req.cmd == command::start)
            return {201, R"({"id":"7"})"};
        if (c.req.cmd == command::files && c.req.id == "1") {
            nlohmann::json files = nlohmann::json::array();
            for (const std::string& n : names)
                files.push_back({{"name", n}});
            return {200, nlohmann::json{{"id", "1"}, {"folder", folder}, {"files", files}}.dump()};
        }
        return {404, R"({"error":"no session has the id or name )" + c.req.id + R"("})"};
    }

    void write(const std::string& name, size_t bytes) const
    {
        std::ofstream out(folder + "/" + name, std::ios::binary);
        for (size_t i = 0; i < bytes; i++)
            out.put(static_cast<char>('a' + i % 26));
    }

    uint16_t port() const { return api->port(); }
};

// One request on a connection of its own ("Connection: close" asked for),
// and the whole reply (the server's close ends the wait, which is long
// for a machine that stalls).
std::string round_trip(uint16_t port, std::string_view request, std::chrono::milliseconds wait = 30000ms)
{
    const int s = connect_to(port);
    send_all(s, request);
    std::string reply = test::read_until(s, "", wait);
    close(s);
    return reply;
}

std::string http_get(uint16_t port, std::string_view path, std::string_view headers = "")
{
    return round_trip(port, fmt::format("GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n", path, headers));
}

struct http_reply {
    int status = 0;
    std::string head, body;
    bool has(std::string_view header_line) const { return head.find(fmt::format("\r\n{}\r\n", header_line)) != std::string::npos; }
};

http_reply parse_reply(const std::string& text)
{
    http_reply r;
    const size_t end = text.find("\r\n\r\n");
    r.head = text.substr(0, end == std::string::npos ? text.size() : end + 2);
    r.body = end == std::string::npos ? "" : text.substr(end + 4);
    if (text.starts_with("HTTP/1.1 ") && text.size() >= 12)
        r.status = std::stoi(text.substr(9, 3));
    return r;
}

} // namespace

TEST_CASE("HTTP: a Range applies to a download only; JSON replies and errors go whole")
{
    test_server server(std::vector<std::string>{"a.pcap"});
    server.write("a.pcap", 100);
    // JSON: whole, 200 (cpp-httplib alone sends 206 and the first 4 bytes).
    http_reply r = parse_reply(http_get(server.port(), "/api/v1/sessions", "Range: bytes=0-3\r\n"));
    INFO(r.head);
    CHECK(r.status == 200);
    CHECK(r.body == R"({"sessions":[])" "}");
    CHECK(r.head.find("Content-Range") == std::string::npos);
    // A file that is not there any more, resumed by curl -C - past the
    // error's length: 404, not 416 (which curl takes for "complete").
    r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/gone.pcap", "Range: bytes=100000-\r\n"));
    CHECK(r.status == 404);
    CHECK(r.body.find("session 1 has no file gone.pcap") != std::string::npos);
    r = parse_reply(http_get(server.port(), "/api/v1/sessions/7/files/a.pcap", "Range: bytes=2-\r\n"));
    CHECK(r.status == 404);
    CHECK(r.body.starts_with("{\"error\""));
    // No route: the JSON error, whole.
    r = parse_reply(http_get(server.port(), "/api/v1/nothing", "Range: bytes=1-\r\n"));
    CHECK(r.status == 404);
    CHECK(r.body.starts_with("{\"error\":\"no route GET /api/v1/nothing"));
    // The file itself: 206 with the range.
    r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/a.pcap", "Range: bytes=1-3\r\n"));
    CHECK(r.status == 206);
    CHECK(r.body == "bcd");
    CHECK(r.has("Content-Range: bytes 1-3/100"));
}

TEST_CASE("HTTP: a range that ends past the file ends at its last byte")
{
    test_server server(std::vector<std::string>{"a.pcap"});
    server.write("a.pcap", 100);
    const http_reply r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/a.pcap", "Range: bytes=0-999999\r\n"));
    INFO(r.head);
    CHECK(r.status == 206);
    CHECK(r.has("Content-Length: 100"));
    CHECK(r.has("Content-Range: bytes 0-99/100"));
    CHECK(r.body.size() == 100);
    const http_reply tail = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/a.pcap", "Range: bytes=90-200\r\n"));
    CHECK(tail.status == 206);
    CHECK(tail.has("Content-Range: bytes 90-99/100"));
    CHECK(tail.body == "mnopqrstuv");
    // Past the start: 416 with the size, no body.
    const http_reply past = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/a.pcap", "Range: bytes=100-\r\n"));
    CHECK(past.status == 416);
    CHECK(past.has("Content-Range: bytes */100"));
}

TEST_CASE("HTTP: an empty file is an empty body with Content-Length 0; a .part file is 409")
{
    test_server server(std::vector<std::string>{"empty.pcap", "b.pcap.part"});
    server.write("empty.pcap", 0);
    server.write("b.pcap.part", 4096);
    const http_reply r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/empty.pcap"));
    INFO(r.head);
    CHECK(r.status == 200);
    CHECK(r.has("Content-Length: 0"));
    CHECK(r.body.empty());
    const http_reply part = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/b.pcap.part"));
    INFO(part.head);
    CHECK(part.status == 409);
    CHECK(part.body.find("b.pcap.part is still being written: download b.pcap once session 1") != std::string::npos);
}

TEST_CASE("HTTP: bodies over 64 KiB are refused before they are read: by Content-Length, Expect, or chunked as they pass it")
{
    http_settings settings;
    settings.io_timeout = long_timeout;
    test_server server(std::vector<std::string>{}, settings);
    const std::string post = "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    // Announced, and never sent: 413 at once (cpp-httplib alone waits to
    // read it all, 5 s per read).
    auto start = std::chrono::steady_clock::now();
    http_reply r = parse_reply(round_trip(server.port(), post + "Content-Length: 100000000\r\n\r\n"));
    INFO(r.head);
    CHECK(r.status == 413);
    CHECK(r.body.find("over 65536 bytes") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < not_waited);   // the fault waits out the I/O timeout
    // Asked with Expect: 413 instead of 100 Continue.
    r = parse_reply(round_trip(server.port(), post + "Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n", 1000ms));
    CHECK(r.status == 413);
    // Chunked: refused once past the limit, without its end ever sent.
    start = std::chrono::steady_clock::now();
    std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 17; i++)
        chunked += "1000\r\n" + std::string(4096, ' ') + "\r\n";
    r = parse_reply(round_trip(server.port(), chunked));
    CHECK(r.status == 413);
    CHECK(std::chrono::steady_clock::now() - start < not_waited);   // the fault waits out the I/O timeout
    // One under the limit is read (and refused as not JSON).
    const std::string spaces(1000, ' ');
    r = parse_reply(round_trip(server.port(), post + "Transfer-Encoding: chunked\r\n\r\n3e8\r\n" + spaces + "\r\n0\r\n\r\n"));
    CHECK(r.status == 400);
    CHECK(r.body.find("not valid JSON") != std::string::npos);
    // A spec of exactly 64 KiB is taken: the limit is the body's, not that
    // of the socket line the body is wrapped in ({"cmd":"start","spec":...},
    // 22 bytes more; refused as "request of 65558 bytes" before).
    const std::string spec = R"({"name":"big")" + std::string(65536 - 14, ' ') + "}";
    REQUIRE(spec.size() == 65536);
    r = parse_reply(round_trip(server.port(), post + fmt::format("Content-Length: {}\r\n\r\n", spec.size()) + spec));
    INFO(r.body);
    CHECK(r.status == 201);
    CHECK(r.has("Location: /api/v1/sessions/7"));
    // One byte more is the 413.
    r = parse_reply(round_trip(server.port(), post + fmt::format("Content-Length: {}\r\n\r\n", spec.size() + 1) + spec + " "));
    CHECK(r.status == 413);
    CHECK(r.body.find("is 65537 bytes, over 65536 bytes") != std::string::npos);
}

TEST_CASE("HTTP: the server's connections have Nagle's algorithm off (no 40 ms wait for a delayed ACK per reply)")
{
    test_server server(std::vector<std::string>{});
    const int client = connect_to(server.port());
    // A kept-alive request answered, so the connection is the server's for sure.
    send_all(client, "GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(parse_reply(test::read_until(client, "\r\n\r\n", 3000ms)).status == 200);
    int found = 0;
    for_each_connection(listen_address_of("127.0.0.1", server.port()), [&](int fd) {
        int nodelay = 0;
        socklen_t size = sizeof nodelay;
        REQUIRE(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &size) == 0);
        CHECK(nodelay == 1);
        found++;
    });
    CHECK(found == 1);
    close(client);
}

TEST_CASE("HTTP: 20 idle connections and 10 downloads nobody reads leave GET /api/v1/sessions answered within a second")
{
    http_settings settings;
    settings.io_timeout = long_timeout;
    test_server server(std::vector<std::string>{"big.pcap"}, settings);
    server.write("big.pcap", 8 << 20);
    std::vector<int> held;
    for (int i = 0; i < 20; i++)
        held.push_back(connect_to(server.port()));
    for (int i = 0; i < 10; i++) {
        held.push_back(connect_to(server.port()));
        send_all(held.back(), "GET /api/v1/sessions/1/files/big.pcap HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    std::this_thread::sleep_for(200ms);
    for (int i = 0; i < 3; i++) {
        const auto start = std::chrono::steady_clock::now();
        const http_reply r = parse_reply(http_get(server.port(), "/api/v1/sessions"));
        CHECK(r.status == 200);
        CHECK(std::chrono::steady_clock::now() - start < not_waited);   // the fault waits out the I/O timeout
    }
    for (const int s : held)
        close(s);
}

TEST_CASE("HTTP: idle connections past twice the threads wait in the kernel's backlog, not among the daemon's descriptors")
{
    http_settings settings;
    settings.threads = 4;
    test_server server(std::vector<std::string>{}, settings);
    const auto accepted = [&] {
        size_t n = 0;
        for_each_connection(listen_address_of("127.0.0.1", server.port()), [&](int) { n++; });
        return n;
    };
    // 100 clients that connect and say nothing (before: each was accepted
    // and queued for a thread, its descriptor the daemon's, without limit).
    // Connected without waiting: past the listen backlog, a connect waits
    // for the SYN's retransmissions.
    std::vector<int> idle;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(server.port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 100; i++) {
        const int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        REQUIRE(s >= 0);
        connect(s, reinterpret_cast<const sockaddr*>(&to), sizeof to);   // EINPROGRESS
        idle.push_back(s);
    }
    std::this_thread::sleep_for(300ms);
    CHECK(accepted() <= 2 * settings.threads + 1);   // queued or served, and the one the accepting thread holds
    for (const int s : idle)
        close(s);
    // Once they are gone, the API answers again.
    std::this_thread::sleep_for(300ms);
    CHECK(parse_reply(http_get(server.port(), "/api/v1/sessions")).status == 200);
}

TEST_CASE("HTTP: a Content-Length that is no number, or two that differ, is a 400 saying so")
{
    test_server server(std::vector<std::string>{});
    http_reply r = parse_reply(round_trip(server.port(), "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: "
                                                         "close\r\nContent-Length: abc\r\n\r\n{}"));
    CHECK(r.status == 400);   // was 413, "over 65536 bytes"
    CHECK(r.body.find("Content-Length: \\\"abc\\\" is not a number of bytes") != std::string::npos);
    r = parse_reply(round_trip(server.port(), "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                              "Content-Length: 15\r\nContent-Length: 3\r\n\r\n{}"));
    CHECK(r.status == 400);   // was a session started with the first
    CHECK(r.body.find("Content-Length given 2 times with different values (15 and 3): send one") != std::string::npos);
}

TEST_CASE("HTTP: downloads past max_downloads are 503 with Retry-After")
{
    http_settings settings;
    settings.max_downloads = 1;
    test_server server(std::vector<std::string>{"big.pcap"}, settings);
    server.write("big.pcap", 8 << 20);
    const int slow = connect_to(server.port());
    send_all(slow, "GET /api/v1/sessions/1/files/big.pcap HTTP/1.1\r\nHost: x\r\n\r\n");
    // Its head and first bytes are sent, the rest waits for a reader.
    CHECK(test::read_until(slow, "\r\n\r\n", 30000ms).find("200 OK") != std::string::npos);
    const http_reply r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/files/big.pcap"));
    INFO(r.head);
    CHECK(r.status == 503);
    CHECK(r.has("Retry-After: 5"));
    CHECK(r.body.find("1 downloads are under way") != std::string::npos);
    close(slow);
}

TEST_CASE("HTTP: stop() ends connections that trickle headers or read nothing, at once")
{
    http_settings settings;
    settings.io_timeout = long_timeout;
    auto server = std::make_unique<test_server>(std::vector<std::string>{"big.pcap"}, settings);
    server->write("big.pcap", 8 << 20);
    const uint16_t port = server->port();
    // One byte every 300 ms, never a whole line (each within the read
    // timeout: cpp-httplib alone waits for it as long as it goes on), for
    // longer than the check below allows.
    std::atomic<bool> trickling = true;
    std::thread trickler([&] {
        const int s = connect_to(port);
        for (int i = 0; i < 200 && trickling; i++) {
            if (::send(s, "G", 1, MSG_NOSIGNAL) != 1)
                break;
            std::this_thread::sleep_for(300ms);
        }
        close(s);
    });
    const int slow = connect_to(port);
    send_all(slow, "GET /api/v1/sessions/1/files/big.pcap HTTP/1.1\r\nHost: x\r\n\r\n");
    std::this_thread::sleep_for(500ms);
    const auto start = std::chrono::steady_clock::now();
    server.reset();
    CHECK(std::chrono::steady_clock::now() - start < not_waited);   // the fault waits out the I/O timeout
    trickling = false;
    trickler.join();
    close(slow);
}

TEST_CASE("HTTP: stop() ends the server's connections only, not a UDP or TCP socket of the process on its port number")
{
    http_settings settings;
    settings.io_timeout = long_timeout;
    auto server = std::make_unique<test_server>(std::vector<std::string>{}, settings);
    const uint16_t port = server->port();
    // A UDP socket on 127.0.0.1 and the server's port number, talking to itself.
    const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(udp, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(connect(udp, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    // A TCP connection from 127.0.0.2 and the server's port number to a listener of the test's.
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in l{};
    l.sin_family = AF_INET;
    l.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof l;
    REQUIRE(bind(listener, reinterpret_cast<const sockaddr*>(&l), sizeof l) == 0);
    REQUIRE(listen(listener, 4) == 0);
    REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&l), &length) == 0);
    const int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in other = a;
    other.sin_addr.s_addr = htonl(0x7f000002);
    REQUIRE(bind(tcp, reinterpret_cast<const sockaddr*>(&other), sizeof other) == 0);
    REQUIRE(connect(tcp, reinterpret_cast<const sockaddr*>(&l), sizeof l) == 0);
    const int peer = accept(listener, nullptr, nullptr);
    REQUIRE(peer >= 0);
    // And a client of the server that trickles, so that stop() has a connection to end.
    const int trickler = connect_to(port);
    send_all(trickler, "G");
    std::this_thread::sleep_for(100ms);

    const auto start = std::chrono::steady_clock::now();
    server.reset();
    CHECK(std::chrono::steady_clock::now() - start < not_waited);   // the fault waits out the I/O timeout
    // The server's connection was ended; the others work on.
    pollfd ended{trickler, POLLIN, 0};
    CHECK(::poll(&ended, 1, 500) == 1);
    char c = 0;
    // Ended is an end of file, or a reset when the server closed before it had
    // read the trickled "G" (the kernel resets a socket closed with unread bytes).
    const ssize_t got = recv(trickler, &c, 1, 0);
    const int got_errno = errno;
    CHECK((got == 0 || (got < 0 && got_errno == ECONNRESET)));
    CHECK(::send(udp, "u", 1, MSG_NOSIGNAL) == 1);
    CHECK(recv(udp, &c, 1, MSG_DONTWAIT) == 1);
    CHECK(::send(tcp, "t", 1, MSG_NOSIGNAL) == 1);
    CHECK(test::read_until(peer, "", 200ms) == "t");
    for (const int fd : {udp, listener, tcp, peer, trickler})
        close(fd);
}

namespace {

// The body of a chunked reply, decoded, and whether it ended with its last
// (empty) chunk: a stream cut short has none.
std::pair<std::string, bool> dechunk(const std::string& body)
{
    std::string out;
    size_t at = 0;
    while (at < body.size()) {
        const size_t line_end = body.find("\r\n", at);
        if (line_end == std::string::npos)
            break;
        const size_t size = std::stoul(body.substr(at, line_end - at), nullptr, 16);
        if (size == 0)
            return {out, true};
        if (line_end + 2 + size > body.size())
            break;
        out += body.substr(line_end + 2, size);
        at = line_end + 2 + size + 2;
    }
    return {out, false};
}

size_t open_descriptors()
{
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                             std::filesystem::directory_iterator()));
}

// A stand-in for the control thread's merge: a thread writes `data` into the
// pipe (then, if `endless`, more until a write fails), tells `error` as the
// merge's outcome, and closes the pipe. The threads are joined by join().
struct merge_stand_in {
    std::string data;
    std::string error;
    bool endless = false;
    std::mutex mutex;
    std::vector<std::thread> threads;
    std::atomic<int> write_errno = 0;
    std::atomic<int> merges = 0;

    http_answer operator()(const http_call& c)
    {
        merges++;
        const std::lock_guard lock(mutex);
        threads.emplace_back([this, fd = c.output_fd, outcome = c.outcome] {
            std::string_view left = data;
            bool failed = false;
            while (!left.empty() || (endless && !failed)) {
                const std::string_view piece = left.empty() ? std::string_view(data).substr(0, 4096) : left;
                const ssize_t n = ::write(fd, piece.data(), piece.size());
                if (n < 0) {
                    write_errno = errno;
                    failed = true;
                    break;
                }
                if (!left.empty())
                    left.remove_prefix(static_cast<size_t>(n));
            }
            {
                const std::lock_guard outcome_lock(outcome->mutex);
                outcome->error = failed ? std::string("the HTTP download: writing failed: ") + strerror(write_errno)
                                        : error;
                outcome->done = true;
            }
            close(fd);
        });
        return {200, R"({"id":"1","name":"web","running":false})"};
    }

    void join()
    {
        const std::lock_guard lock(mutex);
        for (std::thread& t : threads)
            t.join();
        threads.clear();
    }
};

} // namespace

TEST_CASE("HTTP /pcap: the merge streamed chunked as written; its failure before a byte an error, after one a cut stream")
{
    std::signal(SIGPIPE, SIG_IGN);   // the daemon's setting: a reader gone is EPIPE
    test_server server({});
    merge_stand_in merge;
    server.on_merge = [&](const http_call& c) { return merge(c); };
    std::string capture = "\xd4\xc3\xb2\xa1";   // a pcap file header's magic, then data
    for (int i = 0; i < 300000; i++)
        capture += static_cast<char>('a' + i % 26);
    merge.data = capture;

    // Whole: a 200 with every byte, in chunks, ended by the last chunk.
    http_reply r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/pcap"));
    INFO(r.head);
    CHECK(r.status == 200);
    CHECK(r.has("Transfer-Encoding: chunked"));
    CHECK(r.has("Content-Type: application/vnd.tcpdump.pcap"));
    CHECK(r.has("Content-Disposition: attachment; filename=\"web-1.pcap\""));
    auto [body, complete] = dechunk(r.body);
    CHECK(complete);
    CHECK(body == capture);

    // pcapng's first bytes: its type and name.
    merge.data = std::string("\x0a\x0d\x0d\x0a", 4) + "rest";
    r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/pcap?format=pcapng"));
    CHECK(r.has("Content-Type: application/x-pcapng"));
    CHECK(r.has("Content-Disposition: attachment; filename=\"web-1.pcapng\""));
    CHECK(dechunk(r.body).first == merge.data);

    // Failed before its first byte: an error reply with the merge's words.
    merge.data.clear();
    merge.error = "/x/1-web: no capture files written by linecap";
    r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/pcap"));
    CHECK(r.status == 500);
    CHECK(r.body == R"({"error":"merge: /x/1-web: no capture files written by linecap"})");

    // Failed after bytes went: the stream ends without its last chunk.
    merge.data = capture;
    merge.error = "an input was cut short";
    r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/pcap"));
    CHECK(r.status == 200);
    std::tie(body, complete) = dechunk(r.body);
    CHECK_FALSE(complete);
    CHECK(body == capture);

    // HEAD starts no merge: the session is looked up with show (the
    // stand-in knows none: 404).
    const int before = merge.merges;
    r = parse_reply(round_trip(server.port(), "HEAD /api/v1/sessions/1/pcap HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    CHECK(r.status == 404);
    CHECK(merge.merges == before);

    // A format the socket's parser refuses: 400 with its words, and no merge.
    r = parse_reply(http_get(server.port(), "/api/v1/sessions/1/pcap?format=pcapx"));
    CHECK(r.status == 400);
    CHECK(r.body == R"x({"error":"merge: \"format\": \"pcapx\" is not a format (pcap, pcap-ns, pcapng)"})x");
    CHECK(merge.merges == before);
    merge.join();
}

TEST_CASE("HTTP /pcap: a client that goes away ends the merge with EPIPE; past max_merges 503; nothing leaks")
{
    std::signal(SIGPIPE, SIG_IGN);
    http_settings settings;
    settings.max_merges = 1;
    test_server server({}, settings);
    merge_stand_in merge;
    merge.data = std::string("\xd4\xc3\xb2\xa1", 4) + std::string(4096, 'x');
    merge.endless = true;   // writes until the pipe's reader is gone
    server.on_merge = [&](const http_call& c) { return merge(c); };
    const size_t fds_before = open_descriptors();

    const int client = connect_to(server.port());
    send_all(client, "GET /api/v1/sessions/1/pcap HTTP/1.1\r\nHost: x\r\n\r\n");
    // Its first bytes only (the stand-in writes without end).
    char first[4096];
    pollfd readable{client, POLLIN, 0};
    REQUIRE(::poll(&readable, 1, 2000) == 1);
    const ssize_t got = recv(client, first, sizeof first, 0);
    CHECK(std::string_view(first, got > 0 ? static_cast<size_t>(got) : 0).starts_with("HTTP/1.1 200"));
    // The one stream allowed is under way: another is 503.
    const http_reply busy = parse_reply(http_get(server.port(), "/api/v1/sessions/1/pcap"));
    CHECK(busy.status == 503);
    CHECK(busy.has("Retry-After: 5"));
    CHECK(busy.body.find("1 merges and queries are under way") != std::string::npos);
    CHECK(merge.write_errno == 0);

    // The client goes away: the merge's next write fails with EPIPE.
    close(client);
    for (int i = 0; i < 300 && merge.write_errno == 0; i++)
        std::this_thread::sleep_for(10ms);
    CHECK(merge.write_errno == EPIPE);
    merge.join();
    // Counted down: another stream is served; and every descriptor is closed.
    merge.endless = false;
    const http_reply again = parse_reply(http_get(server.port(), "/api/v1/sessions/1/pcap"));
    CHECK(again.status == 200);
    merge.join();
    std::this_thread::sleep_for(100ms);   // the server's side of the last connection closes
    CHECK(open_descriptors() == fds_before);
}

TEST_CASE("/metrics: Prometheus text from the stats reply's rows, each family with HELP and TYPE")
{
    using ojson = nlohmann::ordered_json;
    const ojson stats = ojson::parse(R"({
        "uptime_s": 12.5, "sessions_running": 1,
        "ports": [{"port": 0, "name": "net_pcap0", "rx_packets": 100, "rx_bytes": 6400, "imissed": 3, "nombuf": 4, "ierrors": 0}],
        "pools": [{"socket": 0, "mbufs": 16383, "free": 16000}],
        "workers": [{"worker": 0, "lcore": 1, "rx_packets": 100, "filtered_packets": 60, "matched_packets": 40, "dropped_ring": 2}],
        "writers": [{"writer": 0, "lcore": 0, "written_packets": 38, "written_bytes": 3000, "files": 1, "dropped_write": 0, "dropped_limit": 0}]
    })");
    const ojson sessions = ojson::parse(R"([{"id": "3", "name": "we\"b", "counters": {"matched_packets": 40, "written_packets": 38, "dropped_ring": 2}}])");
    const std::string text = prometheus_text(stats, sessions);
    INFO(text);
    for (const char* line : {
             "# TYPE linecap_port_rx_packets_total counter\n",
             "linecap_port_rx_packets_total{port=\"0\",name=\"net_pcap0\"} 100\n",
             "linecap_port_imissed_total{port=\"0\",name=\"net_pcap0\"} 3\n",
             "linecap_port_nombuf_total{port=\"0\",name=\"net_pcap0\"} 4\n",
             "linecap_worker_rx_packets_total{worker=\"0\",lcore=\"1\"} 100\n",
             "linecap_worker_matched_packets_total{worker=\"0\",lcore=\"1\"} 40\n",
             "linecap_worker_dropped_ring_total{worker=\"0\",lcore=\"1\"} 2\n",
             "linecap_writer_written_packets_total{writer=\"0\",lcore=\"0\"} 38\n",
             "linecap_writer_files_total{writer=\"0\",lcore=\"0\"} 1\n",
             "linecap_writer_dropped_write_total{writer=\"0\",lcore=\"0\"} 0\n",
             "linecap_session_matched_packets_total{session=\"3\",name=\"we\\\"b\"} 40\n",
             "linecap_session_dropped_ring_total{session=\"3\",name=\"we\\\"b\"} 2\n",
             "# HELP linecap_sessions_running ",
             "linecap_sessions_running 1\n",
             "linecap_uptime_seconds 12.500\n",
             "linecap_pool_free_mbufs{socket=\"0\"} 16000\n",
         })
        CHECK(text.find(line) != std::string::npos);
    // A field the row lacks is no sample (the family keeps its HELP and TYPE).
    CHECK(text.find("linecap_session_written_bytes_total{") == std::string::npos);
    CHECK(text.find("# TYPE linecap_session_written_bytes_total counter") != std::string::npos);
    // Every line is a comment or a sample, and the text ends with a newline.
    CHECK(text.back() == '\n');
    const std::regex comment(R"(# (HELP|TYPE) linecap_[a-z_]+ .+)");
    const std::regex sample(R"(linecap_[a-z_]+(\{([a-z]+="([^"\\]|\\.)*",?)+\})? [0-9.]+)");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        INFO(line);
        CHECK((std::regex_match(line, comment) || std::regex_match(line, sample)));
    }
}

namespace {

// Connects, sends `head`, then `trickle` a byte every 100 ms until the server
// closes the connection; how long after connecting it did (or 40 s: it never
// did). Timed from before connect(): the server's deadline starts when it
// accepts, or after its reply to `head`, both later, so the figure is never
// below the deadline.
std::chrono::milliseconds closed_after(uint16_t port, std::string_view head, std::string_view trickle)
{
    const auto start = std::chrono::steady_clock::now();
    const int s = connect_to(port);
    send_all(s, head);
    for (size_t i = 0; std::chrono::steady_clock::now() - start < not_waited + 10s; i++) {
        if (::send(s, &trickle[i % trickle.size()], 1, MSG_NOSIGNAL) != 1)
            break;
        pollfd p{s, POLLIN, 0};
        char reply[4096];   // a reply to a whole request in `head` is read and dropped
        if (::poll(&p, 1, 100) == 1 && recv(s, reply, sizeof reply, 0) <= 0)
            break;
    }
    close(s);
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

} // namespace

TEST_CASE("HTTP: a connection that owes its request past the deadline is closed; one being answered is not")
{
    http_settings settings;
    settings.request_deadline = 1s;
    test_server server({"big.pcap"}, settings);
    server.write("big.pcap", 4 << 20);
    const uint16_t port = server.port();

    // A download nobody reads for longer than the deadline (within the 5 s
    // write timeout) is a request being answered: it comes whole.
    const int download = connect_to(port, 8192);
    send_all(download, "GET /api/v1/sessions/1/files/big.pcap HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    // Headers trickled a byte at a time (each read within the 5 s read
    // timeout, which alone would wait as long as it goes on), a body
    // trickled, and a second request on a kept-alive connection trickled:
    // each closed between the deadline and the guard's next look after it.
    std::chrono::milliseconds headers{0}, body{0}, second{0};
    std::thread a([&] { headers = closed_after(port, "GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\nX-Slow: ", "abc"); });
    std::thread b([&] {
        body = closed_after(port, "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", "{");
    });
    std::thread c([&] {
        second = closed_after(port, "GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n", "GET /api/v1/sess");
    });
    // Others are answered meanwhile.
    std::this_thread::sleep_for(500ms);
    CHECK(parse_reply(http_get(port, "/api/v1/sessions")).status == 200);
    a.join();
    b.join();
    c.join();
    INFO("headers " << headers.count() << " ms, body " << body.count() << " ms, second request " << second.count() << " ms");
    CHECK((headers >= 1s && headers < not_waited));
    CHECK((body >= 1s && body < not_waited));
    CHECK((second >= 1s && second < not_waited));

    const std::string reply = test::read_until(download, "", 5000ms);
    close(download);
    const size_t head_end = reply.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    CHECK(reply.size() - head_end - 4 == size_t{4} << 20);
}

TEST_CASE("HTTP: a method a route does not take is 405 with Allow, on every route; a path no route serves is 404")
{
    test_server server(std::vector<std::string>{});
    const auto ask = [&](std::string_view method, std::string_view path, std::string_view body = "") {
        return parse_reply(round_trip(server.port(), fmt::format("{} {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n",
                                                                 method, path, body)));
    };
    // POST without a body was cpp-httplib's 400 (it read for one), with one its 404.
    http_reply r = ask("POST", "/api/v1/sessions/1/query");
    INFO(r.head);
    CHECK(r.status == 405);
    CHECK(r.has("Allow: GET, HEAD"));
    CHECK(r.body == R"x({"error":"POST /api/v1/sessions/1/query: the route takes GET, HEAD (docs/http.md)"})x");
    r = ask("POST", "/api/v1/sessions/1/pcap?since=-1m");
    CHECK(r.status == 405);
    CHECK(r.has("Allow: GET, HEAD"));
    r = ask("GET", "/api/v1/sessions/1/stop");
    CHECK(r.status == 405);
    CHECK(r.has("Allow: POST"));
    CHECK(r.body == R"x({"error":"GET /api/v1/sessions/1/stop: the route takes POST (docs/http.md)"})x");
    r = ask("PUT", "/api/v1/sessions/1");
    CHECK(r.status == 405);
    CHECK(r.has("Allow: GET, HEAD, DELETE"));
    r = ask("DELETE", "/api/v1/stats");
    CHECK(r.status == 405);
    CHECK(r.has("Allow: GET, HEAD"));
    r = ask("PUT", "/api/v1/sessions");
    CHECK(r.status == 405);
    CHECK(r.has("Allow: GET, HEAD, POST"));
    r = ask("POST", "/api/v1/sessions/1/query", "Content-Length: 2\r\n\r\n{}");   // with a body, not read
    CHECK(r.status == 405);
    r = ask("POST", "/api/v1/nothing-here", "Content-Length: 0\r\n");
    CHECK(r.status == 404);
    CHECK(r.body == R"x({"error":"no route POST /api/v1/nothing-here (docs/http.md lists them)"})x");
}
