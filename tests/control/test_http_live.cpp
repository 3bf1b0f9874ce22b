// GET /api/v1/sessions/{id}/live's stream (control/http_live.h): the
// bounded queue between the control thread and a client's HTTP thread, on
// real threads, and the server-sent events it turns into; then the route on
// the real server (a loopback port), its control thread a stand-in that
// keeps the stream a watch gives it, its client a raw socket.
#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "control/http_api.h"
#include "control/http_live.h"
#include "tests/support/loopback_client.h"

using namespace linecap;
using namespace std::chrono_literals;

namespace {

size_t count_of(const std::string& text, const std::string& what)
{
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size()))
        n++;
    return n;
}

} // namespace

TEST_CASE("sse_event: one data: line per line of the data, a blank line after")
{
    CHECK(sse_event({}, "10:15:02.123456789 IPv4 10.0.0.1.443 > 10.0.0.2.51234: TCP [S.] length 60") ==
          "data: 10:15:02.123456789 IPv4 10.0.0.1.443 > 10.0.0.2.51234: TCP [S.] length 60\n\n");
    CHECK(sse_event("end", R"({"id":"3","reason":"user"})") == "event: end\ndata: {\"id\":\"3\",\"reason\":\"user\"}\n\n");
    // A line break in the data cannot end the event early, or start a field.
    CHECK(sse_event("note", "one\nevent: forged\r\ntwo\rthree") ==
          "event: note\ndata: one\ndata: event: forged\ndata: two\ndata: three\n\n");
    CHECK(sse_event({}, "") == "data: \n\n");
}

TEST_CASE("live_stream: lines in order; past live_queue_lines dropped and counted, told before the lines kept")
{
    live_stream stream;
    for (size_t i = 0; i < live_queue_lines + 10; i++)
        stream.push_line("line " + std::to_string(i));
    bool ended = true;
    const std::string text = stream.take(0ms, ended);
    CHECK_FALSE(ended);
    CHECK(text.starts_with("event: dropped\ndata: {\"lines\":10}\n\n"));
    CHECK(count_of(text, "\ndata: line ") + (text.starts_with("data: line ") ? 1 : 0) == live_queue_lines);
    CHECK(text.find("data: line 0\n") != std::string::npos);
    CHECK(text.find("data: line " + std::to_string(live_queue_lines - 1) + "\n") != std::string::npos);
    CHECK(text.find("data: line " + std::to_string(live_queue_lines) + "\n") == std::string::npos);
    // Taken: room again, and the drop count starts over.
    stream.push_line("after");
    CHECK(stream.take(0ms, ended) == "data: after\n\n");
}

TEST_CASE("live_stream: notes are never dropped; the end event is the last, nothing after it")
{
    live_stream stream;
    for (size_t i = 0; i < live_queue_lines; i++)
        stream.push_line("x");
    stream.push_event("note", "the replays have ended");
    stream.end(R"({"id":"1","reason":"user"})");
    stream.push_line("too late");
    stream.push_event("note", "too late");
    stream.end(R"({"id":"1","reason":"twice"})");
    bool ended = false;
    const std::string text = stream.take(0ms, ended);
    CHECK(ended);
    CHECK(text.find("event: note\ndata: the replays have ended\n\n") != std::string::npos);
    CHECK(text.ends_with("event: end\ndata: {\"id\":\"1\",\"reason\":\"user\"}\n\n"));
    CHECK(text.find("too late") == std::string::npos);
    CHECK(count_of(text, "event: end") == 1);
}

TEST_CASE("live_stream: take() waits for a line from another thread, and no longer than asked")
{
    live_stream stream;
    bool ended = false;
    auto start = std::chrono::steady_clock::now();
    CHECK(stream.take(50ms, ended).empty());
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);
    std::thread control([&] {
        std::this_thread::sleep_for(30ms);
        stream.push_line("from the control thread");
    });
    start = std::chrono::steady_clock::now();
    const std::string text = stream.take(60000ms, ended);
    control.join();
    CHECK(text == "data: from the control thread\n\n");
    CHECK(std::chrono::steady_clock::now() - start < 30000ms);   // woken, not timed out (however slow the machine)
    // The HTTP side leaves: the fan-out sees it.
    CHECK_FALSE(stream.abandoned());
    stream.abandon();
    CHECK(stream.abandoned());
}

TEST_CASE("live_stream: a client that never takes costs the control thread nothing but a full queue")
{
    live_stream stream;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 200000; i++)
        stream.push_line("10:15:02.123456789 IPv4 10.0.0.1.443 > 10.0.0.2.51234: TCP [S.] length 60");
    CHECK(std::chrono::steady_clock::now() - start < 30000ms);   // never waits for a taker
    bool ended = false;
    CHECK(stream.take(0ms, ended).starts_with("event: dropped\ndata: {\"lines\":" +
                                               std::to_string(200000 - live_queue_lines) + "}\n\n"));
}

TEST_CASE("refusal_status of a watch (/live): 404 unknown, 409 ended, 503 past the live streams' limits")
{
    refusal_facts facts;
    facts.found = false;
    CHECK(refusal_status(command::watch, facts) == 404);
    facts.found = true;
    facts.running = false;
    CHECK(refusal_status(command::watch, facts) == 409);
    facts.running = true;
    CHECK(refusal_status(command::watch, facts) == 503);
}

namespace {

// The server, its control thread a stand-in: a watch of session 1 is
// accepted (its stream kept in `streams`), of anything else 404.
struct live_server {
    control_bridge bridge;
    std::atomic<bool> done = false;
    std::thread control;
    std::unique_ptr<http_api> api;
    std::mutex mutex;
    std::vector<std::shared_ptr<live_stream>> streams;

    explicit live_server(std::string token = {})
    {
        http_settings settings;
        settings.host = "127.0.0.1";
        settings.token = std::move(token);
        settings.io_timeout = std::chrono::seconds(1);   // a stalled client is dropped sooner than the daemon's 5 s
        api = std::make_unique<http_api>(settings, bridge);
        REQUIRE(api->bind().empty());
        control = std::thread([this] {
            while (!done) {
                pollfd p{bridge.fd(), POLLIN, 0};
                ::poll(&p, 1, 10);
                bridge.serve([this](const http_call& c) -> http_answer {
                    if (c.req.cmd != command::watch || c.req.id != "1" || !c.live)
                        return {404, R"({"error":"no session has the id or name )" + c.req.id + R"("})"};
                    std::lock_guard lock(mutex);
                    streams.push_back(c.live);
                    return {200, R"({"id":"1","watching":true,"max_lines_per_second":200,"notes":["a note"]})"};
                });
            }
        });
        api->start();
    }

    ~live_server()
    {
        bridge.close();
        api->stop();
        done = true;
        control.join();
    }

    std::shared_ptr<live_stream> stream(size_t i)
    {
        for (int tries = 0; tries < 300; tries++) {
            {
                std::lock_guard lock(mutex);
                if (streams.size() > i)
                    return streams[i];
            }
            std::this_thread::sleep_for(10ms);
        }
        FAIL("the stand-in control thread got no watch");
        return nullptr;
    }
};

int open_get(uint16_t port, const std::string& path, int receive_buffer = 0, bool gzip = true)
{
    const int s = test::connect_to(port, receive_buffer);
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + (gzip ? "Accept-Encoding: gzip\r\n" : "") + "\r\n";
    test::send_all(s, request);
    return s;
}

using test::read_until;

} // namespace

TEST_CASE("HTTP /live: events as they are pushed, uncompressed though gzip is offered; the end event ends the response")
{
    live_server server;
    const int s = open_get(server.api->port(), "/api/v1/sessions/1/live");
    std::string text = read_until(s, "event: note", 30000ms);
    CHECK(text.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(text.find("Content-Type: text/event-stream\r\n") != std::string::npos);
    CHECK(text.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(text.find("Content-Encoding") == std::string::npos);
    CHECK(text.find("event: watching\ndata: {\"id\":\"1\",\"watching\":true") != std::string::npos);
    const std::shared_ptr<live_stream> stream = server.stream(0);
    stream->push_line("10:15:02.123456789 IPv4 10.0.0.1.443 > 10.0.0.2.51234: TCP [S.] length 60");
    text = read_until(s, "length 60", 30000ms);
    CHECK(text.find("data: 10:15:02.123456789 IPv4 10.0.0.1.443 > 10.0.0.2.51234: TCP [S.] length 60\n\n") !=
          std::string::npos);
    stream->end(R"({"id":"1","reason":"user"})");
    text = read_until(s, "\r\n0\r\n\r\n", 30000ms);   // the last chunk
    CHECK(text.find("event: end\ndata: {\"id\":\"1\",\"reason\":\"user\"}\n\n") != std::string::npos);
    CHECK(text.ends_with("\r\n0\r\n\r\n"));
    close(s);
    // The stream is forgotten once its response is over.
    for (int i = 0; i < 300 && !stream->abandoned(); i++)
        std::this_thread::sleep_for(10ms);
    CHECK(stream->abandoned());
    // Refused by the control thread: its status and body, no stream.
    const int other = open_get(server.api->port(), "/api/v1/sessions/2/live", 0, false);
    text = read_until(other, "\"}", 30000ms);
    CHECK(text.starts_with("HTTP/1.1 404 "));
    CHECK(text.find("no session has the id or name 2") != std::string::npos);
    close(other);
}

TEST_CASE("HTTP /live: the control thread pushes to a client that reads nothing without waiting; it is closed")
{
    live_server server;
    const int s = open_get(server.api->port(), "/api/v1/sessions/1/live", 4096);
    CHECK(read_until(s, "event: watching", 30000ms).find("event: watching") != std::string::npos);
    const std::shared_ptr<live_stream> stream = server.stream(0);
    // 30 000 lines a second, far more than the client reads (nothing): each
    // push returns at once, and the HTTP thread, blocked on the full socket,
    // gives up at the write timeout (1 s here).
    const std::string line(100, 'x');
    const auto start = std::chrono::steady_clock::now();
    std::chrono::nanoseconds slowest{0};
    while (!stream->abandoned() && std::chrono::steady_clock::now() - start < 40s) {
        for (int i = 0; i < 300; i++) {
            const auto before = std::chrono::steady_clock::now();
            stream->push_line(line);
            slowest = std::max(slowest, std::chrono::steady_clock::now() - before);
        }
        std::this_thread::sleep_for(10ms);
    }
    CHECK(stream->abandoned());
    CHECK(std::chrono::steady_clock::now() - start < 30s);   // not kept by the client (limits far apart: a slow machine holds)
    CHECK(slowest < 500ms);   // a push that waited on the socket would take the write timeout
    close(s);
}

TEST_CASE("HTTP /live: with a token, ?access_token= on /live only; the console without the token")
{
    const std::string token = "0123456789abcdef0123456789abcdef";
    live_server server(token);
    const uint16_t port = server.api->port();
    const auto status_of = [&](const std::string& path) {
        const int s = open_get(port, path);
        const std::string text = read_until(s, "\r\n\r\n", 30000ms);
        close(s);
        return text.size() >= 12 ? std::stoi(text.substr(9, 3)) : 0;
    };
    CHECK(status_of("/api/v1/sessions/1/live") == 401);
    CHECK(status_of("/api/v1/sessions/1/live?access_token=0123456789abcdef0123456789abcdeX") == 401);
    CHECK(status_of("/api/v1/sessions/1/live?access_token=" + token.substr(1)) == 401);
    CHECK(status_of("/api/v1/sessions/1/live?access_token=" + token) == 200);
    CHECK(status_of("/api/v1/sessions?access_token=" + token) == 401);
    CHECK(status_of("/api/v1/stats?access_token=" + token) == 401);
    CHECK(status_of("/") == 200);
    CHECK(status_of("/console/console.js") == 200);
    CHECK(status_of("/console/nothing.js") == 404);
}
