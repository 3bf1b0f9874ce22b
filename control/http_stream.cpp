#include "control/http_stream.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control/jobs.h"
#include "core/error_text.h"
#include "core/log.h"
#include "core/thread_priority.h"
#include "core/utc_time.h"
#include "fleet/fleet_session.h"
#include "query/query.h"

namespace linecap {

namespace {

using json = nlohmann::json;

// Read from the pipe per call of cpp-httplib's provider: a pipe holds 64 KiB.
constexpr size_t stream_chunk = 64 << 10;
// How often a read waiting for the merge looks whether the server stops.
constexpr int stopping_check_ms = 100;

void send_error(httplib::Response& res, int status, std::string_view message)
{
    res.status = status;
    res.set_content(json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// The download's Content-Disposition: web-1.pcap (names and ids are
// letters, digits, '.', '_' and '-': nothing to quote).
std::string attachment(const std::string& name, const std::string& id, bool pcapng)
{
    return fmt::format("attachment; filename=\"{}{}{}.{}\"", name, name.empty() ? "" : "-", id, pcapng ? "pcapng" : "pcap");
}

// The read end of the pipe, as the provider reads it.
struct merge_stream {
    int fd = -1;
    std::vector<char> buffer = std::vector<char>(stream_chunk);
    size_t pending = 0;   // bytes read before the reply began, sent first
    std::shared_ptr<merge_outcome> outcome;
    std::shared_ptr<std::atomic<bool>> cancel;   // a fleet merge's: set as the stream goes
    const std::atomic<bool>* stopping = nullptr;
    std::atomic<size_t>* merges = nullptr;
    lowered_thread sender;   // the HTTP thread that sends it, lowered while it does

    ~merge_stream()
    {
        if (cancel)
            cancel->store(true);
        // Counted down first: once the merge sees EPIPE, the stream is not counted.
        if (merges != nullptr)
            merges->fetch_sub(1);
        if (fd >= 0)
            close(fd);
    }

    // Reads what the merge has written, waiting for it: > 0 bytes, 0 at the
    // merge's end, -1 if the server stops or the pipe fails.
    ssize_t read_some()
    {
        for (;;) {
            if (stopping->load(std::memory_order_relaxed))
                return -1;
            pollfd p{fd, POLLIN, 0};
            const int ready = ::poll(&p, 1, stopping_check_ms);
            if (ready < 0 && errno != EINTR)
                return -1;
            if (ready <= 0)
                continue;
            const ssize_t n = ::read(fd, buffer.data(), buffer.size());
            if (n >= 0)
                return n;
            if (errno != EINTR && errno != EAGAIN)
                return -1;
        }
    }

    std::string error() const
    {
        const std::lock_guard lock(outcome->mutex);
        return outcome->done ? outcome->error : "the merge ended without saying how";
    }
    bool refused() const
    {
        const std::lock_guard lock(outcome->mutex);
        return outcome->done && outcome->refused;
    }
};

const char* content_type(bool pcapng)
{
    return pcapng ? "application/x-pcapng" : "application/vnd.tcpdump.pcap";
}

// HEAD: the headers a GET would get, no merge made to be thrown away.
void send_head(httplib::Response& res, const std::string& disposition, bool pcapng)
{
    res.set_header("Content-Disposition", disposition);
    // As the GET's (send_stream): cpp-httplib says "bytes" to a HEAD that
    // has none.
    res.set_header("Accept-Ranges", "none");
    res.set_chunked_content_provider(content_type(pcapng),
                                     [](size_t, httplib::DataSink&) { return false; });   // never called for HEAD
}

// A merge stream counted among the merges under way (counted down as it
// goes), reading a new pipe, with an outcome to be told; the pipe's write
// end in `write_end`, for the merge. Null when the request is refused,
// with the reply made: 503 past the limit, 500 without a pipe.
std::shared_ptr<merge_stream> open_merge_stream(httplib::Response& res, const merge_stream_context& context,
                                                int& write_end)
{
    auto stream = std::make_shared<merge_stream>();
    stream->stopping = &context.stopping;
    if (context.merges.fetch_add(1) >= context.max_merges) {
        context.merges.fetch_sub(1);
        res.set_header("Retry-After", "5");
        send_error(res, 503,
                   fmt::format("{} merges and queries are under way, the most linecap streams at once: try again in "
                               "a few seconds",
                               context.max_merges));
        return nullptr;
    }
    stream->merges = &context.merges;
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        send_error(res, 500, fmt::format("cannot make a pipe for the merge: {}", error_text(errno)));
        return nullptr;
    }
    stream->fd = pipe_fds[0];
    write_end = pipe_fds[1];
    stream->outcome = std::make_shared<merge_outcome>();
    return stream;
}

// The reply: the bytes read so far (stream.pending), then the pipe to its
// end, chunked.
void send_stream(httplib::Response& res, std::shared_ptr<merge_stream> stream, bool pcapng)
{
    // A merge is made anew for each request: no range of it can be asked
    // for (RFC 9110 14.3), and a Range is answered with the whole.
    res.set_header("Accept-Ranges", "none");
    res.set_chunked_content_provider(
        content_type(pcapng),
        [stream](size_t, httplib::DataSink& sink) {
            stream->sender.lower();   // beside a writer on its CPU (core/thread_priority.h)
            if (stream->pending != 0) {
                const size_t n = std::exchange(stream->pending, 0);
                return sink.write(stream->buffer.data(), n);
            }
            const ssize_t n = stream->read_some();
            if (n > 0)
                return sink.write(stream->buffer.data(), static_cast<size_t>(n));
            if (n == 0) {
                // The merge's end. Cut short (an input could not be read to
                // its end; the control loop logs why): the reply ends
                // without its last chunk, so the client sees an incomplete
                // transfer, not a whole file.
                if (!stream->error().empty())
                    return false;
                sink.done();
                return true;
            }
            return false;   // shutting down: the connection ends
        },
        // The read end closed (the merge, if still writing, gets EPIPE and
        // ends), the count of streams down: whether the client read all or
        // went away.
        [stream](bool) mutable { stream.reset(); });
}

} // namespace

void serve_merge(const httplib::Request& req, httplib::Response& res, const merge_stream_context& context, bool query)
{
    const std::string id = req.matches[1];
    // The socket's merge or query request, checked by the socket's parser:
    // the id, and the format, times and filter as the URL gives them.
    const char* cmd = query ? "query" : "merge";
    json line = {{"cmd", cmd}, {"id", id}, {"output", std::string(http_download_output)}};
    // Given empty is given: "until=" is refused as --until "" is.
    for (const char* field : {"format", "since", "until"})   // since, until: UTC, as merge's
        if (req.has_param(field))
            line[field] = req.get_param_value(field);
    for (const char* field : {"filter", "inner_host"})
        if (query && req.has_param(field))
            line[field] = req.get_param_value(field);
    if (query && req.has_param("vni")) {   // a number on the socket: a number here if it reads as one
        const std::string text = req.get_param_value("vni");
        uint32_t vni = 0;
        line["vni"] = parse_vni(text, vni).empty() ? json(vni) : json(text);
    }
    request merge;
    if (std::string e = parse_request(line.dump(-1, ' ', false, json::error_handler_t::replace), merge); !e.empty())
        return send_error(res, 400, e);
    // A filter tcpdump would refuse is the request's fault (400), in the
    // words the socket and `linecap query` give.
    if (query_request terms; query)
        if (std::string e = take_query_terms(merge.filter, merge.inner_host, merge.vni, terms); !e.empty())
            return send_error(res, 400, fmt::format("query: {}", e));

    // HEAD: the headers a GET would get, without a merge made to be thrown
    // away. The session looked up as `show` looks it up (the same lookup
    // and words as merge's); the format the one asked for, or the session's.
    if (req.method == "HEAD") {
        http_call show;
        show.req.cmd = command::show;
        show.req.id = merge.id;
        const std::optional<http_answer> shown = context.bridge.call(std::move(show), context.control_timeout);
        if (!shown || shown->status != 200) {
            res.status = shown ? shown->status : 503;
            return;
        }
        const json reply = json::parse(shown->body, nullptr, false);
        const json session = reply.is_object() && reply.contains("session") ? reply["session"] : json::object();
        const json spec = session.is_object() && session.contains("spec") ? session["spec"] : json::object();
        bool pcapng = merge.format == file_format::pcapng;
        if (!merge.format && spec.is_object() && spec.contains("format") && spec["format"].is_string())
            pcapng = parse_format(spec["format"].get<std::string>()) == file_format::pcapng;
        const std::string name = session.is_object() ? session.value("name", std::string()) : std::string();
        const std::string session_id = session.is_object() ? session.value("id", id) : id;
        return send_head(res, attachment(name, session_id, pcapng), pcapng);
    }

    int write_end = -1;
    std::shared_ptr<merge_stream> stream = open_merge_stream(res, context, write_end);
    if (!stream)
        return;

    http_call call;
    call.req = std::move(merge);
    call.output_fd = write_end;
    call.outcome = stream->outcome;
    const std::optional<http_answer> answer = context.bridge.call(std::move(call), context.control_timeout);
    if (!answer) {   // never taken: the write end is still ours
        close(write_end);
        return send_error(res, 503, fmt::format("linecap's control thread did not answer within {} s (shutting down, "
                                                "or busy): try again",
                                                std::chrono::duration<double>(context.control_timeout).count()));
    }
    // Taken: the control thread closed the write end, or the merge will.
    if (answer->status != 200) {
        res.status = answer->status;
        res.set_content(answer->body, answer->content_type);
        return;
    }
    const json started = json::parse(answer->body, nullptr, false);
    const std::string session = started.is_object() ? started.value("id", id) : id;
    const std::string name = started.is_object() ? started.value("name", std::string()) : std::string();
    const bool running = started.is_object() && started.value("running", false);

    // The status is given once the merge has written its first bytes: a
    // merge that fails before (no file on disk yet, files of two link
    // types) is an error reply with the merge's words, not an empty 200.
    const ssize_t first = stream->read_some();
    if (first <= 0) {
        if (first < 0)
            return send_error(res, 503, "linecap is shutting down: try again once it is back");
        // An expression the files' link type cannot take is the request's
        // fault: 400, in the words the socket gives. A running session with
        // nothing on disk yet is not ready: 409.
        if (stream->refused())
            return send_error(res, 400, stream->error());
        return send_error(res, running ? 409 : 500, fmt::format("{}: {}", cmd, stream->error()));
    }
    stream->pending = static_cast<size_t>(first);
    // The merge's format, from its first bytes: pcapng's Section Header
    // Block type, else a pcap file header.
    constexpr unsigned char pcapng_shb[4] = {0x0a, 0x0d, 0x0d, 0x0a};
    const bool pcapng = first >= 4 && std::memcmp(stream->buffer.data(), pcapng_shb, 4) == 0;
    res.set_header("Content-Disposition", attachment(name, session, pcapng));
    send_stream(res, std::move(stream), pcapng);
}

// What the fleet merge's thread knows once every part is fetched, before
// its first byte: read by the HTTP thread once that byte has come.
struct fleet_parts {
    std::mutex mutex;
    std::set<std::string> missing;   // nodes whose part is not in the file
    std::set<std::string> failed;    // nodes whose session there failed: what they wrote is in it
    size_t clock_warnings = 0;
};

void serve_fleet_merge(const httplib::Request& req, httplib::Response& res, const merge_stream_context& context,
                       const fleet_plan_function& plan_merge, const fleet_merge_settings& peers)
{
    const std::string id = req.matches[1];
    if (std::string e = check_fleet_id(id); !e.empty())
        return send_error(res, 400, e);
    // fleet merge's options, in the query: the parse and words of linecapctl
    // fleet merge and of a session's merge (core/query_fields.h), the field
    // named as the URL names it. Given empty is given: "since=" is refused
    // as --since "" is, not taken for no bound.
    fleet_merge_settings settings = peers;
    const auto param = [&](const char* name) {
        return req.has_param(name) ? std::optional<std::string>(req.get_param_value(name)) : std::nullopt;
    };
    if (std::string e = parse_fleet_merge_fields(param("since"), param("until"), param("format"),
                                                 field_spelling::request, utc_now_ns(), settings);
        !e.empty())
        return send_error(res, 400, fmt::format("fleet merge: {}", e));
    fleet_merge_plan plan;
    bool unreachable = false;
    if (std::string e = plan_merge(id, plan, unreachable); !e.empty()) {
        if (unreachable)
            res.set_header("Retry-After", "5");
        return send_error(res, unreachable ? 503 : 404, e);
    }
    const bool pcapng = settings.format == file_format::pcapng;
    if (req.method == "HEAD")
        return send_head(res, attachment("fleet", id, pcapng), pcapng);

    int write_end = -1;
    std::shared_ptr<merge_stream> stream = open_merge_stream(res, context, write_end);
    if (!stream)
        return;
    // Set as the stream goes (the reply done, the client gone, the server
    // stopping): the thread's downloads end at their next bytes.
    stream->cancel = std::make_shared<std::atomic<bool>>(false);
    settings.cancel = stream->cancel;
    auto parts = std::make_shared<fleet_parts>();
    // The thread keeps the write end open until it has told the outcome:
    // the reader's end of file then always finds it told. It touches
    // nothing of the server's, which may be gone before it ends.
    const auto merge = [plan = std::move(plan), settings = std::move(settings), write_end,
                        outcome = stream->outcome, parts]() mutable {
        std::string error;
        try {
            size_t missing_before = 0;
            settings.on_parts_fetched = [&](const fleet_merge_report& report) {
                const std::lock_guard lock(parts->mutex);
                for (const auto& [node, why] : report.missing)
                    parts->missing.insert(node);
                for (const fleet_merge_node& n : plan.nodes)
                    if (!n.failed.empty())
                        parts->failed.insert(n.node);
                parts->clock_warnings = report.clock_warnings.size();
                missing_before = report.missing.size();
            };
            fleet_merge_report report;
            const int fd = fcntl(write_end, F_DUPFD_CLOEXEC, 0);   // fleet_merge closes it
            error = fd < 0 ? fmt::format("cannot duplicate the pipe: {}", error_text(errno))
                           : fleet_merge(plan, settings, fd, std::string(http_download_output), report);
            // A part that broke off once the file had begun: named in no
            // header and no comment, so the reply must not end whole.
            for (size_t i = missing_before; error.empty() && i < report.missing.size(); i++)
                if (parts->failed.count(report.missing[i].first) == 0)
                    error = fmt::format("node {}'s part: {}", report.missing[i].first, report.missing[i].second);
        } catch (const std::exception& e) {
            error = fmt::format("the merge stopped: {}", e.what());
        }
        {
            const std::lock_guard lock(outcome->mutex);
            outcome->done = true;
            outcome->error = std::move(error);
        }
        close(write_end);
    };
    try {
        std::thread(std::move(merge)).detach();
    } catch (const std::system_error& e) {
        close(write_end);
        return send_error(res, 503, fmt::format("cannot start the merge: {}: try again", e.what()));
    }

    const ssize_t first = stream->read_some();
    if (first <= 0) {
        if (first < 0)
            return send_error(res, 503, "linecap is shutting down: try again once it is back");
        return send_error(res, 502, fmt::format("fleet merge: {}", stream->error()));
    }
    stream->pending = static_cast<size_t>(first);
    {
        const std::lock_guard lock(parts->mutex);
        if (!parts->missing.empty())
            res.set_header("Linecap-Missing-Nodes", fmt::format("{}", fmt::join(parts->missing, ", ")));
        if (!parts->failed.empty())
            res.set_header("Linecap-Failed-Nodes", fmt::format("{}", fmt::join(parts->failed, ", ")));
        res.set_header("Linecap-Clock-Warnings", std::to_string(parts->clock_warnings));
        log_event(log_module::control, log_level::info,
                  "fleet merge of fleet session {} over HTTP to {}: {} missing{}", id, req.remote_addr,
                  parts->missing.empty() ? "no node" : fmt::format("{}", fmt::join(parts->missing, ", ")),
                  parts->failed.empty() ? "" : fmt::format(", failed there: {}", fmt::join(parts->failed, ", ")));
    }
    res.set_header("Content-Disposition", attachment("fleet", id, pcapng));
    send_stream(res, std::move(stream), pcapng);
}

} // namespace linecap
