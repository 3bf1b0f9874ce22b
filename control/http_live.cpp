#include "control/http_live.h"
#include "control/http_connections.h"

#include <sys/socket.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace linecap {

namespace {

// How long the HTTP thread waits for lines before it looks at `stopping`.
constexpr std::chrono::milliseconds take_wait{250};
// A comment after this much silence: a client that has gone is found by
// the write failing, and its thread and its place under the limits freed.
constexpr std::chrono::seconds keep_alive_every{5};
// A live stream's socket send buffer (the kernel doubles it). Its lines
// come at most a few hundred a second, ~100 bytes each: a client that
// stops reading fills this and its own receive buffer within seconds,
// and the server's 5 s write timeout then closes it. With the kernel's
// default (it grows to 4 MiB) that would take many minutes, holding a
// thread and a place under the limits.
constexpr int live_send_buffer = 16 << 10;

} // namespace

std::string sse_event(std::string_view event, std::string_view data)
{
    std::string out;
    if (!event.empty())
        out.append("event: ").append(event).append("\n");
    // A line break inside the data would end the field: each line is a
    // data: line of its own, as the format says.
    size_t start = 0;
    while (true) {
        const size_t end = data.find_first_of("\r\n", start);
        out.append("data: ").append(data.substr(start, end == std::string_view::npos ? end : end - start)).append("\n");
        if (end == std::string_view::npos)
            break;
        start = end + 1 + (data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n' ? 1 : 0);
    }
    out.append("\n");
    return out;
}

void live_stream::push_line(std::string_view line)
{
    {
        std::lock_guard lock(_mutex);
        if (_ended)
            return;
        if (_lines >= live_queue_lines) {
            _dropped++;
            return;
        }
        _queue.push_back(sse_event({}, line));
        _lines++;
    }
    _ready.notify_one();
}

void live_stream::push_event(std::string_view event, std::string_view data)
{
    {
        std::lock_guard lock(_mutex);
        if (_ended)
            return;
        _queue.push_back(sse_event(event, data));
    }
    _ready.notify_one();
}

void live_stream::end(std::string_view data)
{
    {
        std::lock_guard lock(_mutex);
        if (_ended)
            return;
        _queue.push_back(sse_event("end", data));
        _ended = true;
    }
    _ready.notify_one();
}

std::string live_stream::take(std::chrono::milliseconds wait, bool& ended)
{
    std::deque<std::string> queue;
    uint64_t dropped = 0;
    {
        std::unique_lock lock(_mutex);
        _ready.wait_for(lock, wait, [this] { return !_queue.empty() || _dropped != 0; });
        queue.swap(_queue);
        _lines = 0;
        dropped = _dropped;
        _dropped = 0;
        ended = _ended;
    }
    std::string out;
    // The drops come first: they happened before the lines now waiting
    // (the queue was full), and the end event stays the last.
    if (dropped != 0)
        out = sse_event("dropped", nlohmann::json{{"lines", dropped}}.dump());
    for (const std::string& event : queue)
        out += event;
    return out;
}

void stream_live(const httplib::Request& req, httplib::Response& res, std::shared_ptr<live_stream> stream,
                 const std::string& watch_reply, const std::atomic<bool>& stopping)
{
    const listen_address local = listen_address_of(req.local_addr, static_cast<uint16_t>(req.local_port));
    if (const int fd = connection_from(local, peer_name(req.remote_addr, req.remote_port)); fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &live_send_buffer, sizeof live_send_buffer);
    // The first events: the reply to the watch, then its notes. retry: how
    // long a browser's EventSource waits before it reconnects after a
    // dropped connection (a session that has ended then gets 409 and the
    // browser stops).
    std::string first = "retry: 3000\n\n" + sse_event("watching", watch_reply);
    const nlohmann::json reply = nlohmann::json::parse(watch_reply, nullptr, false);
    if (reply.is_object() && reply.contains("notes") && reply["notes"].is_array())
        for (const auto& note : reply["notes"])
            if (note.is_string())
                first += sse_event("note", note.get<std::string>());
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");   // a proxy (nginx) in front passes each event at once
    auto last_write = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto pending = std::make_shared<std::string>(std::move(first));
    res.set_chunked_content_provider(
        "text/event-stream",
        [stream, last_write, pending, &stopping](size_t, httplib::DataSink& sink) {
            bool ended = false;
            std::string text = std::move(*pending);
            pending->clear();
            text += stream->take(text.empty() ? take_wait : std::chrono::milliseconds(0), ended);
            const auto now = std::chrono::steady_clock::now();
            if (text.empty() && now - *last_write >= keep_alive_every)
                text = ": keep-alive\n\n";
            if (!text.empty()) {
                // Blocks at most the server's write timeout (5 s) for a
                // client that reads nothing, then fails: the client is closed.
                if (!sink.write(text.data(), text.size()))
                    return false;
                *last_write = now;
            }
            if (ended)
                sink.done();
            // The daemon is shutting down: the end events its sessions' ends
            // queued have been sent (above), if the client was still there.
            return ended || !stopping.load(std::memory_order_relaxed);
        },
        [stream](bool) { stream->abandon(); });
}

} // namespace linecap
