// GET /api/v1/sessions/{id}/live's stream (control/http_live.h): the
// bounded queue between the control thread and a client's HTTP thread, on
// real threads, and the server-sent events it turns into.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "control/http_api.h"
#include "control/http_live.h"

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
    const std::string text = stream.take(5000ms, ended);
    control.join();
    CHECK(text == "data: from the control thread\n\n");
    CHECK(std::chrono::steady_clock::now() - start < 2000ms);
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
    CHECK(std::chrono::steady_clock::now() - start < 2000ms);
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
