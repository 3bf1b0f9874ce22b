// The HTTP API's parts that need no server: --http's address and token,
// the token comparison, the status of a refusal, the bridge to the control
// thread (real threads), and /metrics' text.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/http_api.h"
#include "control/metrics.h"

using namespace linecap;
using namespace std::chrono_literals;

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

TEST_CASE("a refusal's status: 404 unknown session, 409 wrong state, 400 the rest")
{
    CHECK(refusal_status(command::show, false, false) == 404);
    CHECK(refusal_status(command::remove, false, false) == 404);
    CHECK(refusal_status(command::remove, true, true) == 409);
    CHECK(refusal_status(command::stop, true, false) == 409);
    CHECK(refusal_status(command::stop, true, true) == 503);
    CHECK(refusal_status(command::start, true, false) == 400);
    CHECK(refusal_status(command::files, true, false) == 400);
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
    const auto a = bridge.call(call, 2000ms);
    REQUIRE(a.has_value());
    CHECK(a->status == 400);
    CHECK(a->body == "7");
    http_call health;
    health.what = http_call::kind::health;
    CHECK(bridge.call(health, 2000ms)->status == 200);
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
    CHECK_FALSE(bridge.call(call, 5000ms).has_value());
    CHECK(std::chrono::steady_clock::now() - start < 1s);
}

TEST_CASE("the bridge: one serve() answers the calls waiting when it began, not those handed over meanwhile")
{
    // Each answer hands a new call over (as busy HTTP clients would) before
    // it returns: serve() must return after one, or the control loop would
    // never get back to its socket and its sessions.
    control_bridge bridge;
    std::vector<std::thread> clients;
    std::atomic<int> handed = 0, answered = 0;
    const auto hand_over = [&] {
        handed++;
        clients.emplace_back([&] {
            http_call c;
            // (Catch's CHECK is for the test's thread only.)
            if (bridge.call(c, 5000ms).has_value())
                answered++;
        });
        // Until the call is in the queue (a push under a mutex).
        std::this_thread::sleep_for(20ms);
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
    const auto late = bridge.call(call, 50ms);
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
    std::thread first([&] { served = bridge.call(call, 5000ms); });
    std::thread control2([&] {
        for (int i = 0; i < 500 && !in_answer; i++) {
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
    std::thread second([&] { waiting = bridge.call(call, 5000ms); });
    std::this_thread::sleep_for(50ms);
    const auto closing = std::chrono::steady_clock::now();
    bridge.close();
    second.join();
    CHECK(std::chrono::steady_clock::now() - closing < 200ms);
    CHECK_FALSE(waiting.has_value());
    first.join();
    control2.join();
    REQUIRE(served.has_value());
    CHECK(served->body == "done");
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
}
