// GET /api/v1/sessions/{id}/live (docs/http.md): `watch` over HTTP, as
// server-sent events. The control thread's watch fan-out (control/watch.h)
// puts each line into the stream of every HTTP client following that
// session; the client's HTTP thread drains it into the response.
//
//   writers ──samples──▶ control thread: watch_fanout::pump ──push()──▶ live_stream ──take()──▶ HTTP thread ──▶ client
//                        (never waits: a full stream          (bounded,             (cpp-httplib's chunked
//                         drops the line)                      one mutex)            content provider)
//
// A slow client loses lines (counted, and told in a `dropped` event); a
// stalled one is closed by the server's 5 s write timeout. Neither blocks
// the control thread, other clients or the data path.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace httplib {
struct Request;
struct Response;
}

namespace linecap {

// Live streams open at once: per session, and in all. One more is 503.
// Each holds one of the HTTP server's threads for as long as it is open.
constexpr size_t max_live_per_session = 4;
constexpr size_t max_live_streams = 32;
// Lines waiting for one client: a few seconds of the writers' sampling
// (watch_samples_per_second per writer); past it, new lines are dropped.
constexpr size_t live_queue_lines = 1024;

// One HTTP client's stream. Shared by the control thread (push, end) and
// the client's HTTP thread (take, abandon).
class live_stream {
public:
    // Control thread: a packet line; dropped (and counted) if the client
    // already has live_queue_lines waiting. Never blocks for long: the lock
    // is held by take() only to swap the queue out.
    void push_line(std::string_view line);
    // Control thread: an event that is never dropped (note, end).
    void push_event(std::string_view event, std::string_view data);
    // Control thread: the session has ended: its `end` event is the last.
    void end(std::string_view data);
    // The HTTP side has gone (the client left, or timed out).
    bool abandoned() const { return _abandoned.load(std::memory_order_relaxed); }

    // HTTP thread: waits up to `wait` for something to send, and returns it
    // as server-sent events (empty if nothing came). `ended` is set once
    // the end event is in what was returned.
    std::string take(std::chrono::milliseconds wait, bool& ended);
    // HTTP thread: the response is over; the fan-out forgets the stream.
    void abandon() { _abandoned.store(true, std::memory_order_relaxed); }

private:
    std::mutex _mutex;
    std::condition_variable _ready;
    std::deque<std::string> _queue;   // server-sent events, formatted
    size_t _lines = 0;                // packet lines in _queue
    uint64_t _dropped = 0;            // lines dropped since the last take()
    bool _ended = false;
    std::atomic<bool> _abandoned = false;
};

// One server-sent event: `event: NAME` (none for a packet line) and its
// data, each line of `data` a `data:` line.
std::string sse_event(std::string_view event, std::string_view data);

// Sets `res` up to stream `stream` as text/event-stream: first the `watching`
// event with the control thread's reply to the watch (`watch_reply`, the
// socket's reply without "ok") and a `note` event for each of its notes,
// then the stream's events until the session ends (`end`), the client goes
// or `stopping` is set. A comment every few seconds of silence finds a
// client that has gone. The connection's send buffer is made small
// (live_send_buffer), so that a client that stops reading is closed by the
// server's write timeout within seconds.
void stream_live(const httplib::Request& req, httplib::Response& res, std::shared_ptr<live_stream> stream,
                 const std::string& watch_reply, const std::atomic<bool>& stopping);

} // namespace linecap
