#include "control/http_api.h"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <pthread.h>
#include <regex>
#include <sstream>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "control/console.h"
#include "control/fleet_view.h"
#include "control/http_stream.h"
#include "control/http_connections.h"
#include "control/http_live.h"
#include "control/request_limit.h"
#include "core/error_text.h"
#include "core/log.h"
#include "core/shell_word.h"
#include "core/thread_priority.h"

namespace linecap {

namespace {

// What a connection may send of one request before it is whole: its line and
// headers (a few KiB from real clients; cpp-httplib takes 8 KiB a line, as
// many lines as come) and a body of at most max_request_bytes, with room to
// spare. One that sends more without a whole request is closed (guard).
constexpr uint64_t max_owed_bytes = 1024 * 1024;

using json = nlohmann::json;

// An idle keep-alive connection holds a thread: not for long.
constexpr time_t keep_alive_s = 2;
// How long a request waits for the control thread. Stopping a session waits
// for its writers to close its files, which takes up to seconds.
constexpr std::chrono::milliseconds control_timeout{15000};
constexpr std::chrono::milliseconds health_timeout{2000};
// A file download reads this much per call of cpp-httplib's provider.
constexpr size_t download_chunk = 256 << 10;

constexpr std::string_view json_type = "application/json";

std::string error_body(std::string_view message)
{
    return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_error(httplib::Response& res, int status, std::string_view message)
{
    res.status = status;
    res.set_content(error_body(message), std::string(json_type));
}

void send(httplib::Response& res, const http_answer& answer)
{
    res.status = answer.status;
    res.set_content(answer.body, answer.content_type);
}

// A request's path as a log line may show it: no control characters.
std::string printable(std::string_view text)
{
    std::string out;
    for (const char c : text.substr(0, 200))
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
}

// A running session's file being written (NAME.part) is typed as NAME.
std::string_view content_type_of(std::string_view name)
{
    if (name.ends_with(".part"))
        name.remove_suffix(5);
    if (name.ends_with(".pcap"))
        return "application/vnd.tcpdump.pcap";
    if (name.ends_with(".pcapng"))
        return "application/x-pcapng";
    if (name.ends_with(".json"))
        return json_type;
    return "application/octet-stream";
}

// cpp-httplib hands handlers a const view of its own, non-const Request;
// the ranges it will apply to the reply are changed through it.
httplib::Request& mutable_request(const httplib::Request& req)
{
    return const_cast<httplib::Request&>(req);
}

// A file download, the one answer a Range applies to: cpp-httplib 0.11.4
// applies it to every reply (a JSON body cut to the range, an error body
// turned into 416).
bool is_download(const httplib::Request& req)
{
    static const std::regex pattern(R"(/api/v1/sessions/[^/]+/files/[^/]+)");
    return (req.method == "GET" || req.method == "HEAD") && std::regex_match(req.path, pattern);
}

// The web console's page and files: served without a token (they hold no
// data; the page asks for the token and sends it with each call).
bool is_console(const httplib::Request& req)
{
    return (req.method == "GET" || req.method == "HEAD") && (req.path == "/" || req.path.starts_with("/console/"));
}

// GET /api/v1/sessions/{id}/live, the one route that takes ?access_token=.
bool is_live(const httplib::Request& req)
{
    static const std::regex pattern(R"(/api/v1/sessions/[^/]+/live)");
    return req.method == "GET" && std::regex_match(req.path, pattern);
}

// A URL parameter whose value holds an "=" not written %3D, said, or ""
// (`only`: that parameter's alone). cpp-httplib splits a parameter at every
// "=" and keeps the last piece as its value: "filter=tcp=udp" would be the
// filter "udp".
std::string unencoded_equals(const std::string& target, std::string_view only = {})
{
    const size_t q = target.find('?');
    if (q == std::string::npos)
        return {};
    const std::string_view parameters = std::string_view(target).substr(q + 1);
    for (size_t at = 0; at <= parameters.size();) {
        const size_t end = std::min(parameters.find('&', at), parameters.size());
        const std::string_view one = parameters.substr(at, end - at);
        const size_t first = one.find('=');
        if (first != std::string_view::npos && one.find('=', first + 1) != std::string_view::npos) {
            const std::string name = httplib::detail::decode_url(std::string(one.substr(0, first)), true);
            const std::string value = httplib::detail::decode_url(std::string(one.substr(first + 1)), true);
            if (!only.empty() && name != only) {
                at = end + 1;
                continue;
            }
            if (name == "access_token")   // a secret is not echoed
                return "URL parameter \"access_token\" holds an \"=\" in its value: write it as %3D";
            return fmt::format("URL parameter \"{}\" holds an \"=\" in its value: write it as %3D (curl -G "
                               "--data-urlencode {} does)",
                               name, shell_word(name + "=" + value));
        }
        at = end + 1;
    }
    return {};
}

// What is wrong with the URL's parameters, or "": one the route does not
// take (a misspelt "fitler" would otherwise be ignored, and its download
// hold every packet), one given twice (which would win?), a NUL byte (it
// would cut a filter short), a % not followed by two hex digits (taken as
// it is, it would be another filter). GET .../pcap takes format, since and
// until, .../query those and filter, inner_host and vni, .../live
// access_token; the console's files are not checked; the rest take none.
std::string check_url_parameters(const httplib::Request& req)
{
    if (is_console(req))
        return {};
    static const std::regex query(R"(/api/v1/sessions/[^/]+/query)");
    static const std::regex pcap(R"(/api/v1/(fleet/)?sessions/[^/]+/pcap)");
    std::vector<std::string_view> takes;
    if (std::regex_match(req.path, query))
        takes = {"filter", "since", "until", "format", "inner_host", "vni"};
    else if (std::regex_match(req.path, pcap))
        takes = {"since", "until", "format"};
    else if (is_live(req))
        takes = {"access_token"};
    const auto route = [&] { return fmt::format("{} {}", req.method, req.path); };
    const auto taken = [&] {
        if (takes.empty())
            return std::string("takes none");
        std::string list;
        for (size_t i = 0; i < takes.size(); i++)
            list += fmt::format("{}{}", i == 0 ? "" : i + 1 == takes.size() ? " and " : ", ", takes[i]);
        return "takes " + list;
    };
    // A part with no name ("?=tcp"): cpp-httplib takes its value for its
    // name, which would be said as a parameter of that name.
    if (const size_t q = req.target.find('?'); q != std::string::npos) {
        const std::string_view text = std::string_view(req.target).substr(q + 1);
        for (size_t at = 0; at <= text.size();) {
            const size_t end = std::min(text.find('&', at), text.size());
            if (end > at && text[at] == '=') {
                if (takes.empty())
                    return fmt::format("a URL parameter without a name: {} {}", route(), taken());
                // /live's value may be a token sent without its name: not echoed.
                const std::string shown = is_live(req) ? "=..." : printable(text.substr(at, end - at));
                return fmt::format("a URL parameter without a name ({}): give NAME=VALUE, e.g. {}=...", shown,
                                   takes.front());
            }
            at = end + 1;
        }
    }
    for (auto it = req.params.begin(); it != req.params.end(); it = req.params.upper_bound(it->first)) {
        const std::string& name = it->first;
        if (std::find(takes.begin(), takes.end(), name) == takes.end())
            return fmt::format("URL parameter \"{}\": {} {}", name, route(), taken());
        if (req.params.count(name) > 1)
            return fmt::format("URL parameter \"{}\" given {} times: give it once", name, req.params.count(name));
        if (it->second.find('\0') != std::string::npos)
            return fmt::format("URL parameter \"{}\" holds a NUL byte (%00)", name);
    }
    if (std::string e = unencoded_equals(req.target); !e.empty())
        return e;
    if (const size_t q = req.target.find('?'); q != std::string::npos)
        for (size_t i = req.target.find('%', q); i != std::string::npos; i = req.target.find('%', i + 1))
            if (i + 2 >= req.target.size() || !std::isxdigit(static_cast<unsigned char>(req.target[i + 1])) ||
                !std::isxdigit(static_cast<unsigned char>(req.target[i + 2])))
                return fmt::format("the URL's parameters hold a % not followed by two hex digits, at \"{}\": write "
                                   "a % itself as %25",
                                   req.target.substr(i, 3));
    return {};
}

// cpp-httplib's thread pool, with a bound on the connections it holds.
// cpp-httplib 0.11.4 accepts every connection and queues it for a thread,
// descriptor and all, without limit: a thousand idle connections (each a
// thread's for the request deadline) took the descriptors a writer needed
// for its next file, and the capture failed ("Too many open files").
// enqueue() runs on the accepting thread: past the bound it waits for a
// held connection to end (the guard closes idle ones within the request
// deadline) and accepts nothing meanwhile, so the kernel's listen backlog,
// then its refusals, hold the rest, at no descriptor of ours.
class bounded_pool final : public httplib::TaskQueue {
public:
    explicit bounded_pool(size_t threads) : _pool(threads), _bound(2 * threads) {}
    void enqueue(std::function<void()> fn) override
    {
        {
            std::unique_lock lock(_mutex);
            _room.wait(lock, [this] { return _held < _bound; });
            _held++;
        }
        _pool.enqueue([this, fn = std::move(fn)] {
            fn();
            const std::lock_guard lock(_mutex);
            _held--;
            _room.notify_one();
        });
    }
    void shutdown() override { _pool.shutdown(); }

private:
    httplib::ThreadPool _pool;
    const size_t _bound;   // connections queued or being served
    std::mutex _mutex;
    std::condition_variable _room;
    size_t _held = 0;
};

// A request's Content-Length, if it has one that is a number.
std::optional<uint64_t> content_length(const httplib::Request& req)
{
    if (!req.has_header("Content-Length"))
        return std::nullopt;
    const std::string text = req.get_header_value("Content-Length");
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
        return UINT64_MAX;   // refused as too large: no body of that length is read
    return value;
}

// What is wrong with a request's Content-Length, or "": not a number of
// bytes (it had been refused as a body over the limit, which it was not),
// or given twice with different values (RFC 9112, 6.3: which one frames
// the body is unknowable).
std::string check_content_length(const httplib::Request& req)
{
    const size_t given = req.get_header_value_count("Content-Length");
    for (size_t i = 0; i < given; i++) {
        const std::string text = req.get_header_value("Content-Length", i);
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
            return fmt::format("Content-Length: \"{}\" is not a number of bytes", printable(text));
        if (i > 0 && text != req.get_header_value("Content-Length", 0))
            return fmt::format("Content-Length given {} times with different values ({} and {}): send one",
                               given, req.get_header_value("Content-Length", 0), text);
    }
    return {};
}

// What is wrong with a request's Authorization header (RFC 6750: "Bearer",
// any case, then the token), or "" when it holds `token`. A client that sent
// another scheme, or no token, is told so, not that its token is wrong.
std::string authorization_problem(std::string_view header, std::string_view token)
{
    constexpr std::string_view send = "send Authorization: Bearer TOKEN, the token of the daemon's --http-token-file";
    if (header.empty())
        return fmt::format("no Authorization header: {}", send);
    const std::string_view scheme = header.substr(0, header.find(' '));
    if (scheme.size() != 6 || strncasecmp(scheme.data(), "Bearer", 6) != 0)
        return fmt::format("Authorization: the \"{}\" scheme is not taken: {}", printable(scheme), send);
    std::string_view given = header.substr(scheme.size());
    given.remove_prefix(std::min(given.size(), given.find_first_not_of(' ')));
    if (given.empty())
        return fmt::format("Authorization: Bearer without a token: {}", send);
    if (!same_token(given, token))
        return fmt::format("the bearer token is wrong: {}", send);
    return {};
}

// `length`: the body's, when its Content-Length says it; none when a
// chunked body passed the limit. linecapctl start says the same of a spec
// too large (control/request_limit.h).
void refuse_too_large(httplib::Response& res, std::optional<uint64_t> length)
{
    // The rest of the body is not read: the connection ends with the reply.
    res.status = 413;
    res.set_header("Connection", "close");
    res.set_content(error_body(request_too_large("the request body", length)), std::string(json_type));
}

// A POST or DELETE route's handler, given the request's body. cpp-httplib
// would wait for a body without Content-Length until the connection closes
// (`curl -X DELETE` sends none, and waits for the reply): such a request has
// an empty body here. cpp-httplib 0.11.4 checks its payload limit only
// against a Content-Length, and then reads (and drops) the whole body before
// refusing it: here a Content-Length over the limit is refused before a byte
// of the body is read, and a chunked body as soon as it passes the limit.
using body_handler = std::function<void(const httplib::Request&, httplib::Response&, const std::string& body)>;

httplib::Server::HandlerWithContentReader with_body(body_handler handler)
{
    return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& reader) {
        std::string body;
        const std::optional<uint64_t> length = content_length(req);
        if (length && *length > max_request_bytes)
            return refuse_too_large(res, length == UINT64_MAX ? std::nullopt : length);
        const bool has_body = length || req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
        bool too_large = false;
        if (has_body && !reader([&](const char* data, size_t n) {
                if (body.size() + n > max_request_bytes) {
                    too_large = true;
                    return false;
                }
                body.append(data, n);
                return true;
            })) {
            if (too_large)
                return refuse_too_large(res, std::nullopt);
            if (res.status < 400)
                res.status = 400;
            res.set_header("Connection", "close");
            return;   // 400, with the error handler's body
        }
        handler(req, res, body);
    };
}

} // namespace

// ---- the bridge ----

control_bridge::control_bridge() : _fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

control_bridge::~control_bridge()
{
    close();
    if (_fd >= 0)
        ::close(_fd);
}

std::optional<http_answer> control_bridge::call(http_call call, std::chrono::milliseconds timeout)
{
    std::shared_ptr<pending> late;
    return this->call(std::move(call), timeout, std::chrono::milliseconds::max(), late);
}

std::optional<http_answer> control_bridge::call(http_call call, std::chrono::milliseconds timeout,
                                                std::chrono::milliseconds answer_timeout,
                                                std::shared_ptr<pending>& late)
{
    late.reset();
    auto p = std::make_shared<pending>();
    p->call = std::move(call);
    std::unique_lock lock(_mutex);
    if (_closed)
        return std::nullopt;
    _queue.push_back(p);
    if (_fd >= 0) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = write(_fd, &one, sizeof one);   // EAGAIN: readable already
    }
    _answered.wait_for(lock, timeout, [&] { return p->taken || p->answer.has_value() || _closed; });
    if (!p->taken) {
        p->given_up = true;   // serve() skips it
        return p->answer;
    }
    // Being carried out: its answer comes, and is waited for (up to
    // answer_timeout; after that, the caller asks answer_of()).
    const auto answered = [&] { return p->answer.has_value(); };
    if (answer_timeout == std::chrono::milliseconds::max())
        _answered.wait(lock, answered);
    else if (!_answered.wait_for(lock, answer_timeout, answered))
        late = p;
    return p->answer;
}

std::optional<http_answer> control_bridge::answer_of(const std::shared_ptr<pending>& late)
{
    std::lock_guard lock(_mutex);
    return late->answer;
}

void control_bridge::serve(const std::function<std::optional<http_answer>(const http_call&, const later_answer&)>& answer)
{
    if (_fd >= 0) {
        uint64_t count;
        [[maybe_unused]] const ssize_t n = read(_fd, &count, sizeof count);
    }
    // The calls waiting now, taken at once: those handed over while they
    // are answered wait for the next tick (the eventfd wakes it at once).
    std::deque<std::shared_ptr<pending>> batch;
    {
        std::lock_guard lock(_mutex);
        if (_closed)
            return;
        batch.swap(_queue);
        std::erase_if(batch, [](const std::shared_ptr<pending>& p) { return p->given_up; });
        for (const auto& p : batch)
            p->taken = true;
    }
    if (!batch.empty())
        _answered.notify_all();   // their callers wait for the answer from now on (call's answer_timeout)
    for (const auto& p : batch) {
        // Answered without the lock: HTTP threads keep handing calls over.
        // Whatever happens, a taken call gets an answer: its caller waits.
        const later_answer give = [this, p](http_answer a) {
            {
                std::lock_guard lock(_mutex);
                p->answer = std::move(a);
            }
            _answered.notify_all();
        };
        try {
            if (std::optional<http_answer> a = answer(p->call, give))
                give(std::move(*a));
        } catch (const std::exception& e) {
            give({500, error_body(e.what())});
        }
    }
}

void control_bridge::serve(const std::function<http_answer(const http_call&)>& answer)
{
    serve([&](const http_call& call, const later_answer&) -> std::optional<http_answer> { return answer(call); });
}

void control_bridge::close()
{
    {
        std::lock_guard lock(_mutex);
        _closed = true;
        _queue.clear();   // not taken: their callers get an empty answer
    }
    _answered.notify_all();
}

nlohmann::json agent_calls::operator()(const nlohmann::json& line)
{
    // A start in progress is looked for before the request is read: its
    // answer is the one to give, whatever this request says.
    const bool start = line.is_object() && line.value("cmd", nlohmann::json()) == "start";
    std::string fleet = start && line.contains("fleet") && line["fleet"].is_string() ? line["fleet"].get<std::string>()
                                                                                     : std::string();
    const auto in_progress = [&fleet] {
        return nlohmann::json{{"ok", false},
                              {"in_progress", true},
                              {"error", fmt::format("fleet session {}: its start here is still being carried out (its "
                                                    "filter compiling: a host name waits on DNS)",
                                                    fleet)}};
    };
    std::optional<http_answer> answer;
    if (const auto found = _starting.find(fleet); !fleet.empty() && found != _starting.end()) {
        answer = _bridge.answer_of(found->second);
        if (!answer)
            return in_progress();
        _starting.erase(found);
    } else {
        http_call call;
        call.what = http_call::kind::socket;
        if (std::string e = parse_request(line.dump(), call.req); !e.empty())
            return {{"ok", false}, {"error", e}};
        fleet = call.req.cmd == command::start ? call.req.fleet : std::string();
        constexpr std::chrono::seconds take_wait{5};
        std::shared_ptr<control_bridge::pending> late;   // set only for a fleet start (a finite wait)
        answer = _bridge.call(std::move(call), take_wait, fleet.empty() ? std::chrono::milliseconds::max() : _start_wait,
                              late);
        if (late) {
            _starting[fleet] = late;
            return in_progress();
        }
    }
    if (!answer)   // not carried out: the agent asks again
        return {{"ok", false},
                {"unavailable", true},
                {"error", "the control thread did not take the request within 5 s (busy, or shutting down)"}};
    return nlohmann::json::parse(answer->body, nullptr, false);
}

// ---- options ----

std::string parse_http_address(std::string_view text, std::string& host, uint16_t& port)
{
    constexpr std::string_view forms = "give ADDR:PORT: an IPv4 address and a port (127.0.0.1:8080), or an IPv6 "
                                       "address in brackets ([::1]:8080); the port 1 to 65535";
    std::string_view address, port_text;
    bool v6 = false;
    if (text.starts_with('[')) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::string(forms);
        address = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        v6 = true;
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return fmt::format("no port: {}", forms);
        address = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (address.find(':') != std::string_view::npos)
            return fmt::format("an IPv6 address goes in brackets: {}", forms);
    }
    unsigned char bytes[sizeof(in6_addr)];
    const std::string a(address);
    if (inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), bytes) != 1)
        return fmt::format("\"{}\" is not an IPv{} address (a name is not taken: write the address): {}", printable(a),
                           v6 ? 6 : 4, forms);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535)
        return fmt::format("\"{}\" is not a port: {}", printable(port_text), forms);
    host = a;
    port = static_cast<uint16_t>(value);
    return {};
}

bool is_loopback_address(const std::string& host)
{
    in_addr v4;
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6;
    if (inet_pton(AF_INET6, host.c_str(), &v6) != 1)
        return false;
    if (IN6_IS_ADDR_LOOPBACK(&v6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

bool same_token(std::string_view given, std::string_view expected)
{
    // Every byte of `expected` is compared, whatever `given` holds.
    unsigned diff = given.size() != expected.size() ? 1 : 0;
    for (size_t i = 0; i < expected.size(); i++)
        diff |= static_cast<unsigned char>(expected[i]) ^
                static_cast<unsigned char>(i < given.size() ? given[i] : ~expected[i]);
    return diff == 0;
}

int refusal_status(command cmd, const refusal_facts& facts)
{
    if (!facts.found)
        return 404;
    switch (cmd) {
    case command::start:
        return facts.shutting_down ? 503 : facts.at_limit ? 409 : 400;
    case command::stop:
        return facts.running ? 503 : 409;   // running: it could not be stopped yet
    case command::remove:
        // Neither running nor merged: the catalog could not remove it.
        return facts.running || facts.merging ? 409 : 500;
    case command::watch:
        return facts.running ? 503 : 409;   // running: the live streams' limits
    case command::merge:
    case command::query:
        return 500;   // found, its format parsed: only its folder could not be opened
    default:
        return 400;
    }
}

// ---- the server ----

namespace {

// Ends every connection the server accepted with shutdown(2), so that a
// thread blocked on one (a client that trickles its headers, a download
// nobody reads) returns at once. shutdown() neither closes nor reuses a
// descriptor, so the thread that owns it still closes it.
void end_connections(const listen_address& listen)
{
    for_each_connection(listen, [](int fd) { shutdown(fd, SHUT_RDWR); });
}


} // namespace

struct http_api::impl {
    http_settings settings;
    control_bridge& bridge;
    std::string tls_error;   // why the TLS context could not be made (bind() says it)
    std::unique_ptr<httplib::Server> owned_server = make_server();
    httplib::Server& server = *owned_server;
    std::thread thread;
    uint16_t bound_port = 0;
    // Set by the server's thread as it ends (every connection ended too).
    std::atomic<bool> finished = false;
    // Set by stop(): downloads under way end at their next chunk, so a slow
    // client of a large file does not hold up the daemon's shutdown.
    std::atomic<bool> stopping = false;
    // Downloads under way (settings.max_downloads at most).
    std::atomic<size_t> downloads = 0;
    // Merges streamed (GET .../pcap; settings.max_merges at most), and
    // fleet merges (settings.max_fleet_merges), counted apart: a fleet
    // merge downloads this node's own part through GET .../pcap.
    std::atomic<size_t> merges = 0;
    std::atomic<size_t> fleet_merges = 0;
    // The fleet's etcd (settings.fleet_etcd), one client for every fleet
    // route: its token (etcd users) kept between calls, one call at a
    // time; interrupted by stop().
    std::unique_ptr<etcd_client> fleet_etcd =
        settings.fleet_etcd ? std::make_unique<etcd_client>(*settings.fleet_etcd) : nullptr;
    std::mutex fleet_etcd_mutex;

    // The request deadline (settings.request_deadline): by peer, whether a
    // request of it is being answered, or since when it has owed one (its
    // last reply). Marked as each request is routed and as its reply is
    // logged; read by `guard`, a thread that looks at the connections once
    // a period and closes those that owe a request past the deadline.
    struct peer_state {
        bool in_request = false;
        std::chrono::steady_clock::time_point since;   // of the last mark
    };
    std::mutex peers_mutex;
    std::unordered_map<std::string, peer_state> peers;
    std::thread guard;
    std::mutex guard_mutex;
    std::condition_variable guard_wake;

    void mark(const httplib::Request& req, bool in_request)
    {
        const std::lock_guard lock(peers_mutex);
        peers[peer_name(req.remote_addr, req.remote_port)] = {in_request, std::chrono::steady_clock::now()};
    }

    // with_body, the request marked as being answered once its body is in
    // (until then it owes the deadline its body too: a body trickled a byte
    // a second is the same attack as headers trickled).
    httplib::Server::HandlerWithContentReader received_body(body_handler handler)
    {
        return with_body([this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                                              const std::string& body) {
            mark(req, true);
            handler(req, res, body);
        });
    }

    // The guard's loop, until stopping.
    void guard_requests()
    {
        using clock = std::chrono::steady_clock;
        const listen_address listen = listen_address_of(settings.host, bound_port);
        // Four looks a deadline, at most 4 a second: the byte bound below
        // is checked as often (a flood at loopback speed adds some 100 MB a
        // second to the daemon before its connection is closed).
        const auto period =
            std::min<clock::duration>(std::chrono::milliseconds(250), settings.request_deadline / 4);
        // A connection seen: when first, and the bytes it had sent (the
        // kernel's count) when it began to owe its present request.
        struct seen_connection {
            clock::time_point opened;
            clock::time_point owes_since;
            uint64_t bytes_then = 0;
        };
        std::unordered_map<std::string, seen_connection> known;   // by peer
        std::unique_lock lock(guard_mutex);
        while (!guard_wake.wait_for(lock, period, [this] { return stopping.load(); })) {
            const clock::time_point now = clock::now();
            std::unordered_map<std::string, seen_connection> seen;
            for_each_connection(listen, [&](int fd) {
                const std::string peer = peer_of(fd);
                if (peer.empty())
                    return;
                const uint64_t bytes = bytes_received(fd);
                const auto k = known.find(peer);
                // A connection new to this look is timed from when it is
                // seen, not from `now`: one made while the look lists them
                // (slow on a busy host) would get less than the deadline.
                seen_connection& c = seen[peer] = k != known.end() ? k->second
                                                                   : seen_connection{clock::now(), clock::now(), bytes};
                clock::time_point owes_since = c.opened;
                {
                    const std::lock_guard peers_lock(peers_mutex);
                    if (const auto p = peers.find(peer); p != peers.end()) {
                        if (p->second.in_request)
                            return;   // being answered: a download or a live stream may last
                        owes_since = std::max(owes_since, p->second.since);
                    }
                }
                if (owes_since != c.owes_since)   // answered since the last look: a new request owed
                    c = {c.opened, owes_since, bytes};
                // cpp-httplib keeps every header line it reads (8 KiB each,
                // without a bound on their number) until the request is
                // whole: a client that sends more than a request can hold is
                // closed before its headers take the daemon's memory.
                if (bytes > c.bytes_then && bytes - c.bytes_then > max_owed_bytes) {   // (0: the kernel would not say)
                    shutdown(fd, SHUT_RDWR);
                    log_event(log_module::control, log_level::info,
                              "http: closed a connection from {}: {} bytes sent without a whole request, over the "
                              "{} one request may take",
                              printable(peer), bytes - c.bytes_then, max_owed_bytes);
                    return;
                }
                if (now - owes_since < settings.request_deadline)
                    return;
                shutdown(fd, SHUT_RDWR);   // its thread, blocked reading, returns and closes it
                log_event(log_module::control, log_level::info,
                          "http: closed a connection from {}: no whole request within {} s", printable(peer),
                          settings.request_deadline.count());
            });
            known = std::move(seen);
            // Peers gone for a minute are forgotten (a mark is made only by
            // a request, so one still connected keeps its own).
            const std::lock_guard peers_lock(peers_mutex);
            std::erase_if(peers, [&](const auto& p) {
                return !known.contains(p.first) && now - p.second.since > std::chrono::minutes(1);
            });
        }
    }

    impl(http_settings s, control_bridge& b) : settings(std::move(s)), bridge(b) {}

    // HTTPS with settings.tls's files, set up by setup_tls (the checks
    // --http-cert's were given at start-up), or plain HTTP.
    std::unique_ptr<httplib::Server> make_server()
    {
        if (!settings.tls.enabled())
            return std::make_unique<httplib::Server>();
        return std::make_unique<httplib::SSLServer>([this](SSL_CTX& ctx) {
            tls_error = setup_tls(ctx, settings.tls);
            return tls_error.empty();
        });
    }

    std::string url() const
    {
        return fmt::format("{}://{}/", settings.tls.enabled() ? "https" : "http", where());
    }

    std::string where() const
    {
        const uint16_t port = bound_port != 0 ? bound_port : settings.port;
        return settings.host.find(':') == std::string::npos ? fmt::format("{}:{}", settings.host, port)
                                                             : fmt::format("[{}]:{}", settings.host, port);
    }

    // A socket command, as linecapctl would send it, parsed by the socket's
    // parser and answered by the control thread.
    http_answer command_answer(const json& line, std::shared_ptr<live_stream> live = nullptr)
    {
        return command_line_answer(line.dump(-1, ' ', false, json::error_handler_t::replace), std::move(live));
    }

    // The same, given the socket's line as text.
    http_answer command_line_answer(const std::string& line, std::shared_ptr<live_stream> live = nullptr)
    {
        request req;
        if (std::string e = parse_request(line, req); !e.empty())
            return {400, error_body(e)};
        http_call call;
        call.req = std::move(req);
        call.live = std::move(live);
        return answer(std::move(call), control_timeout);
    }

    http_answer answer(http_call call, std::chrono::milliseconds timeout)
    {
        if (std::optional<http_answer> a = bridge.call(std::move(call), timeout))
            return *a;
        return {503, error_body(fmt::format("linecap's control thread did not answer within {} s (shutting down, "
                                            "or busy): try again",
                                            std::chrono::duration<double>(timeout).count()))};
    }

    void download(const httplib::Request& req, httplib::Response& res)
    {
        // The Range applies to the file only: every other answer (404, 409,
        // 416, 503) goes whole, so that curl -C - never takes an error for a
        // download it has complete.
        httplib::Ranges ranges;
        ranges.swap(mutable_request(req).ranges);
        const std::string id = req.matches[1];
        const std::string name = req.matches[2];
        const http_answer listed = command_answer({{"cmd", "files"}, {"id", id}});
        if (listed.status != 200)
            return send(res, listed);
        // Only a name the control thread listed in the session's folder is
        // served: never a path a client wrote.
        const json files = json::parse(listed.body, nullptr, false);
        const std::string folder = files.value("folder", std::string());
        bool listed_name = false;
        if (files.contains("files") && files["files"].is_array())
            for (const json& f : files["files"])
                listed_name = listed_name || (f.is_object() && f.value("name", std::string()) == name);
        if (!listed_name || folder.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
            return send_error(res, 404,
                              fmt::format("session {} has no file {} (GET /api/v1/sessions/{}/files lists them)",
                                          printable(id), printable(name), printable(id)));
        // The writer grows a file ahead of its data (ftruncate, then the
        // records): its size counts zeros that are not packets yet, and a
        // download resumed later would keep them.
        if (name.ends_with(".part"))
            return send_error(res, 409,
                              fmt::format("{} is still being written: download {} once session {} has moved on to "
                                          "its next file or ended (GET /api/v1/sessions/{}/files lists it then)",
                                          printable(name), printable(name.substr(0, name.size() - 5)),
                                          printable(id), printable(id)));
        const std::string path = folder + "/" + name;
        const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st{};
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            const int err = errno;
            if (fd >= 0)
                close(fd);
            return send_error(res, 404, fmt::format("{}: cannot open it: {}", path, error_text(err, "not a file")));
        }
        const auto size = static_cast<size_t>(st.st_size);
        // A range that starts past the end: 416, with the size, as RFC 9110
        // asks (curl -C - of a file it has whole). No body: cpp-httplib
        // would cut a body to the range asked for.
        for (const auto& [first, last] : ranges) {
            if ((first >= 0 && static_cast<size_t>(first) >= size) || (first < 0 && last <= 0)) {
                close(fd);
                res.status = 416;
                res.set_header("Content-Range", fmt::format("bytes */{}", size));
                return;
            }
        }
        res.set_header("Content-Disposition", fmt::format("attachment; filename=\"{}\"", name));
        res.set_header("Accept-Ranges", "bytes");
        // cpp-httplib sends a provider of 0 bytes with no Content-Length and
        // calls it for more: an empty file is an empty body.
        if (size == 0) {
            close(fd);
            res.set_content(std::string(), std::string(content_type_of(name)));
            return;
        }
        // A range that ends past the end ends at the last byte (RFC 9110):
        // cpp-httplib 0.11.4 would announce the range as asked and send less.
        for (auto& [first, last] : ranges)
            if (first >= 0 && last >= 0 && static_cast<size_t>(last) >= size)
                last = static_cast<ssize_t>(size - 1);
        if (downloads.fetch_add(1) >= settings.max_downloads) {
            downloads.fetch_sub(1);
            close(fd);
            res.set_header("Retry-After", "5");
            return send_error(res, 503,
                              fmt::format("{} downloads are under way, the most linecap serves at once: try again in "
                                          "a few seconds",
                                          settings.max_downloads));
        }
        mutable_request(req).ranges = std::move(ranges);
        auto buffer = std::make_shared<std::vector<char>>(download_chunk);
        auto sender = std::make_shared<lowered_thread>();   // beside a writer on its CPU (core/thread_priority.h)
        // Streams from the file as the client reads (cpp-httplib sends
        // Content-Length, and answers a Range with 206 and the range's
        // bytes); res.status stays unset for that.
        res.set_content_provider(
            size, std::string(content_type_of(name)),
            [fd, buffer, sender, stopping = &stopping](size_t offset, size_t length, httplib::DataSink& sink) {
                if (stopping->load(std::memory_order_relaxed))
                    return false;   // the daemon is shutting down: the client resumes with a Range
                sender->lower();
                const ssize_t n = pread(fd, buffer->data(), std::min(length, buffer->size()), static_cast<off_t>(offset));
                if (n <= 0)
                    return false;   // an I/O error, or the file was truncated: cut short
                return sink.write(buffer->data(), static_cast<size_t>(n));
            },
            [fd, sender, downloads = &downloads](bool) {
                sender->restore();
                close(fd);
                downloads->fetch_sub(1);
            });
    }

    static constexpr const char* not_in_fleet =
        "this node is not in a fleet: its daemon runs without --fleet-etcd (docs/fleet.md)";

    // The fleet's keys, or the refusal sent: 404 when this node is in no
    // fleet, 503 when etcd does not answer.
    bool read_fleet_view(httplib::Response& res, fleet_view& view)
    {
        if (!settings.fleet_etcd) {
            send_error(res, 404, not_in_fleet);
            return false;
        }
        std::string e;
        {
            const std::lock_guard lock(fleet_etcd_mutex);
            e = read_fleet(*fleet_etcd, view);
        }
        if (!e.empty()) {
            res.set_header("Retry-After", "5");
            send_error(res, 503, e);
            return false;
        }
        return true;
    }

    static void send_json(httplib::Response& res, nlohmann::ordered_json body, const std::vector<std::string>& notes)
    {
        if (!notes.empty())
            body["notes"] = notes;
        res.set_content(body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), "application/json");
    }

    // Every route's path and method, as routes() registers them: a request
    // for a path some route serves, by a method none of them takes, is
    // 405 with Allow (RFC 9110), not cpp-httplib's 404 "no route" (or 400,
    // for a POST without a body, which it would try to read first).
    struct route_method {
        std::regex path;
        std::string method;
    };
    std::vector<route_method> route_methods;

    template <class Handler>
    void get(const std::string& path, Handler handler)   // and HEAD
    {
        route_methods.push_back({std::regex(path), "GET"});
        server.Get(path, std::move(handler));
    }
    template <class Handler>
    void post(const std::string& path, Handler handler)
    {
        route_methods.push_back({std::regex(path), "POST"});
        server.Post(path, std::move(handler));
    }
    template <class Handler>
    void remove(const std::string& path, Handler handler)
    {
        route_methods.push_back({std::regex(path), "DELETE"});
        server.Delete(path, std::move(handler));
    }

    // The methods that `path` takes ("GET, HEAD"), or "" where no route
    // serves it (a 404), or where `method` is one of them.
    std::string methods_refusing(const std::string& method, const std::string& path) const
    {
        std::vector<std::string> allowed;
        for (const route_method& r : route_methods) {
            if (!std::regex_match(path, r.path))
                continue;
            if (r.method == method || (r.method == "GET" && method == "HEAD"))
                return {};
            allowed.push_back(r.method);
            if (r.method == "GET")
                allowed.push_back("HEAD");
        }
        std::string list;
        for (const std::string& m : allowed)
            list += (list.empty() ? "" : ", ") + m;
        return list;
    }

    void routes()
    {
        using httplib::Request;
        using httplib::Response;
        const std::string session = R"(/api/v1/sessions/([^/]+))";

        get("/healthz", [this](const Request&, Response& res) {
            http_call call;
            call.what = http_call::kind::health;
            send(res, answer(std::move(call), health_timeout));
        });
        get("/metrics", [this](const Request&, Response& res) {
            http_call call;
            call.what = http_call::kind::metrics;
            send(res, answer(std::move(call), control_timeout));
        });
        get("/api/v1/stats",
                   [this](const Request&, Response& res) { send(res, command_answer({{"cmd", "stats"}})); });
        get("/api/v1/sessions",
                   [this](const Request&, Response& res) { send(res, command_answer({{"cmd", "list"}})); });
        post("/api/v1/sessions", received_body([this](const Request&, Response& res, const std::string& body) {
            // Checked as linecapctl and the one-shot check a spec file (the
            // same words, with where), then handed to the socket's parser as
            // written: parsed and written out again, "-0" had become 0 (and
            // been taken) where every other entry point refuses it.
            json spec;
            if (std::string e = parse_spec_json(body, spec); !e.empty())
                return send_error(res, 400, "start: spec: " + e);
            // A UTF-8 byte order mark, which the JSON parser skips at the
            // start of a text and nowhere else, goes: the body is placed
            // inside the request.
            const std::string_view bom = "\xef\xbb\xbf";
            const std::string_view spec_text = std::string_view(body).starts_with(bom)
                                                   ? std::string_view(body).substr(bom.size())
                                                   : std::string_view(body);
            const http_answer a = command_line_answer(R"({"cmd":"start","spec":)" + std::string(spec_text) + "}");
            if (a.status == 201) {
                const json reply = json::parse(a.body, nullptr, false);
                if (reply.contains("id") && reply["id"].is_string())
                    res.set_header("Location", "/api/v1/sessions/" + reply["id"].get<std::string>());
            }
            send(res, a);
        }));
        get(session, [this](const Request& req, Response& res) {
            send(res, command_answer({{"cmd", "show"}, {"id", req.matches[1].str()}}));
        });
        // Their bodies, if any, are read and ignored.
        post(session + "/stop", received_body([this](const Request& req, Response& res, const std::string&) {
            send(res, command_answer({{"cmd", "stop"}, {"id", req.matches[1].str()}}));
        }));
        remove(session, received_body([this](const Request& req, Response& res, const std::string&) {
            send(res, command_answer({{"cmd", "delete"}, {"id", req.matches[1].str()}}));
        }));
        get(session + "/files", [this](const Request& req, Response& res) {
            send(res, command_answer({{"cmd", "files"}, {"id", req.matches[1].str()}}));
        });
        get(session + "/files/([^/]+)", [this](const Request& req, Response& res) { download(req, res); });
        get(session + "/pcap", [this](const Request& req, Response& res) {
            serve_merge(req, res, {bridge, stopping, merges, settings.max_merges, control_timeout});
        });
        get(session + "/query", [this](const Request& req, Response& res) {
            serve_merge(req, res, {bridge, stopping, merges, settings.max_merges, control_timeout}, true);
        });
        // The fleet (docs/fleet.md): what linecapctl fleet nodes, ls and
        // show --json print, read from etcd by the same code; and fleet
        // merge from this node, which fetches the others' parts.
        const std::string fleet_session = R"(/api/v1/fleet/sessions/([^/]+))";
        get("/api/v1/fleet/nodes", [this](const Request&, Response& res) {
            fleet_view view;
            if (read_fleet_view(res, view))
                send_json(res, {{"ok", true}, {"nodes", view.nodes}}, view.notes);
        });
        get("/api/v1/fleet/sessions", [this](const Request&, Response& res) {
            fleet_view view;
            if (read_fleet_view(res, view))
                send_json(res, {{"ok", true}, {"sessions", fleet_rows(view)}}, view.notes);
        });
        get(fleet_session, [this](const Request& req, Response& res) {
            fleet_view view;
            if (!read_fleet_view(res, view))
                return;
            std::optional<nlohmann::ordered_json> shown = fleet_show(view, req.matches[1].str());
            if (!shown)
                return send_error(res, 404, fmt::format("no fleet session {} (GET /api/v1/fleet/sessions lists them)",
                                                        printable(req.matches[1].str())));
            nlohmann::ordered_json reply{{"ok", true}};   // first, as linecapctl prints it
            reply.update(*shown);
            send_json(res, std::move(reply), view.notes);
        });
        get(fleet_session + "/pcap", [this](const Request& req, Response& res) {
            if (!settings.fleet_etcd)
                return send_error(res, 404, not_in_fleet);
            serve_fleet_merge(
                req, res, {bridge, stopping, fleet_merges, settings.max_fleet_merges, control_timeout},
                [this](const std::string& id, fleet_merge_plan& plan, bool& unreachable) {
                    const std::lock_guard lock(fleet_etcd_mutex);
                    return plan_fleet_merge(*fleet_etcd, id, plan, unreachable);
                },
                settings.fleet_peers);
        });
        // `watch` as server-sent events (control/http_live.h): the socket's
        // command, checked and refused by the same code.
        get(session + "/live", [this](const Request& req, Response& res) {
            auto stream = std::make_shared<live_stream>();
            const http_answer a = command_answer({{"cmd", "watch"}, {"id", req.matches[1].str()}}, stream);
            if (a.status == 503)   // past the live streams' limits: as a download's or a merge's 503
                res.set_header("Retry-After", "5");
            if (a.status != 200)
                return send(res, a);
            // (cpp-httplib compresses no text/event-stream: each event goes
            // out as it comes, tested with gzip offered.)
            stream_live(req, res, std::move(stream), a.body, stopping);
        });
        // The web console (control/console/): static files, no data.
        get("/|/console/[^/]+", [](const Request& req, Response& res) {
            const console_file* file = find_console_file(req.path == "/" ? "/console/index.html" : req.path);
            if (file == nullptr)
                return send_error(res, 404, fmt::format("no route GET {} (docs/http.md lists them)", printable(req.path)));
            res.set_header("X-Content-Type-Options", "nosniff");
            res.set_header("X-Frame-Options", "DENY");
            res.set_header("Referrer-Policy", "no-referrer");
            res.set_header("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                                      "img-src 'self'; connect-src 'self'; frame-ancestors 'none'");
            res.set_header("Cache-Control", "no-cache");
            res.set_content(std::string(file->body), std::string(file->content_type));
        });
    }

    void limits()
    {
        server.new_task_queue = [threads = settings.threads] { return new bounded_pool(threads); };
        // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with
        // which a second daemon on the same port would start and take half
        // of the first one's connections instead of being refused.
        server.set_socket_options([](int sock) {
            const int yes = 1;
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });
        server.set_payload_max_length(max_request_bytes);
        // A client that asks before sending a body too large gets 413 instead
        // of "100 Continue", and sends none of it.
        server.set_expect_100_continue_handler([](const httplib::Request& req, httplib::Response& res) {
            if (const std::optional<uint64_t> length = content_length(req); length && *length > max_request_bytes) {
                refuse_too_large(res, length == UINT64_MAX ? std::nullopt : length);
                return 413;
            }
            return 100;
        });
        server.set_read_timeout(settings.io_timeout.count(), 0);
        server.set_write_timeout(settings.io_timeout.count(), 0);
        server.set_keep_alive_timeout(keep_alive_s);
        server.set_keep_alive_max_count(100);
        // A reply's headers and body go in separate writes: with Nagle's
        // algorithm on, the body of every reply after the first on a kept-alive
        // connection waited for the client's delayed ACK, 40 ms a request
        // (browsers, scripts and the fleet keep connections alive).
        // (Accepted sockets inherit it from the listening socket.)
        server.set_tcp_nodelay(true);
        // cpp-httplib 0.11 says "Accept-Ranges: bytes" to every HEAD whose
        // reply has none: a refused one (400, 404, 503) says what its GET
        // says, which is nothing of ranges (a pcap stream says "none"
        // itself, a download "bytes").
        server.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
            if (req.method == "HEAD" && res.status >= 400)
                res.headers.erase("Accept-Ranges");
        });

        server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            // Routed: the line and headers are in. A body that follows is
            // read by the route (received_body marks it then).
            if (content_length(req).value_or(0) == 0 &&
                req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos)
                mark(req, true);
            if (!is_download(req))
                mutable_request(req).ranges.clear();   // see is_download(); download() keeps its own
            if (std::string e = check_content_length(req); !e.empty()) {
                mutable_request(req).ranges.clear();
                res.set_header("Connection", "close");   // its body, whatever its length, is not read
                send_error(res, 400, e);
                return httplib::Server::HandlerResponse::Handled;
            }
            // Who may ask first (401), then what is asked (405, 400).
            const auto checked = [&]() {
                if (std::string allow = methods_refusing(req.method, req.path); !allow.empty()) {
                    mutable_request(req).ranges.clear();
                    res.set_header("Allow", allow);
                    res.set_header("Connection", "close");   // a body it sent is not read
                    send_error(res, 405, fmt::format("{} {}: the route takes {} (docs/http.md)", req.method,
                                                     printable(req.path), allow));
                    return httplib::Server::HandlerResponse::Handled;
                }
                if (std::string e = check_url_parameters(req); !e.empty()) {
                    mutable_request(req).ranges.clear();
                    res.set_header("Connection", "close");   // a body it sent is not read
                    send_error(res, 400, e);
                    return httplib::Server::HandlerResponse::Handled;
                }
                return httplib::Server::HandlerResponse::Unhandled;
            };
            if (settings.token.empty() || is_console(req))
                return checked();
            const std::string header = req.get_header_value("Authorization");
            const std::string problem = authorization_problem(header, settings.token);
            if (problem.empty())
                return checked();
            // A browser's EventSource cannot send a header: /live takes the
            // token as ?access_token= too (docs/security.md), nothing else does.
            if (header.empty() && is_live(req) && req.has_param("access_token") &&
                same_token(req.get_param_value("access_token"), settings.token))
                return checked();
            // A token holding an unencoded "=" would reach the check cut to
            // its last piece: said so, rather than "wrong token".
            if (header.empty() && is_live(req))
                if (std::string e = unencoded_equals(req.target, "access_token"); !e.empty()) {
                    mutable_request(req).ranges.clear();
                    res.set_header("Connection", "close");
                    send_error(res, 400, e);
                    return httplib::Server::HandlerResponse::Handled;
                }
            mutable_request(req).ranges.clear();
            res.set_header("WWW-Authenticate", "Bearer realm=\"linecap\"");
            // A body it sent is not read: the connection ends with the reply.
            res.set_header("Connection", "close");
            send_error(res, 401, problem);
            return httplib::Server::HandlerResponse::Handled;
        });
        // cpp-httplib's own refusals (no such route, a body over the limit,
        // a bad Range) get a JSON body as the API's do.
        server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty() || res.content_length_ != 0 || res.has_header("Content-Range"))
                return httplib::Server::HandlerResponse::Unhandled;
            std::string message;
            switch (res.status) {
            case 404: message = fmt::format("no route {} {} (docs/http.md lists them)", req.method, printable(req.path)); break;
            case 413: message = request_too_large("the request body", std::nullopt); break;   // see with_body()
            case 414:   // cpp-httplib's limit on the request line's target
                message = fmt::format("the request line (its method, URL and version) is over {} bytes, the most "
                                      "linecap reads: a query's filter that long will not fit; select many addresses "
                                      "as a net (net 10.4.0.0/16) and ports as a portrange, or run linecapctl query",
                                      CPPHTTPLIB_REQUEST_URI_MAX_LENGTH);
                break;
            default: message = fmt::format("HTTP {}", res.status); break;
            }
            res.set_content(error_body(message), std::string(json_type));
            return httplib::Server::HandlerResponse::Handled;
        }));
        server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            log_event(log_module::control, log_level::error, "http: {} {}: {}", req.method, printable(req.path), what);
            send_error(res, 500, what);
        });
        server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
            mark(req, false);   // answered: the connection owes the next request from now
            // What changes something, a refused token (someone guessing?) and
            // a 5xx at info; the rest at debug.
            const bool quiet = (req.method == "GET" || req.method == "HEAD") && res.status < 500 && res.status != 401;
            log_event(log_module::control, quiet ? log_level::debug : log_level::info,
                      "http: {} {} {} from {}", req.method, printable(req.path), res.status, printable(req.remote_addr));
        });
    }
};

http_api::http_api(http_settings settings, control_bridge& bridge)
    : _impl(std::make_unique<impl>(std::move(settings), bridge))
{
    _impl->limits();
    _impl->routes();
}

http_api::~http_api()
{
    stop();
}

std::string http_api::bind()
{
    if (!_impl->server.is_valid())
        return _impl->tls_error.empty() ? "--http-cert: OpenSSL cannot make a TLS context" : _impl->tls_error;
    bool bound = false;
    if (_impl->settings.port == 0) {
        const int port = _impl->server.bind_to_any_port(_impl->settings.host);
        bound = port > 0;
        _impl->bound_port = bound ? static_cast<uint16_t>(port) : 0;
    } else {
        bound = _impl->server.bind_to_port(_impl->settings.host, _impl->settings.port);
        _impl->bound_port = bound ? _impl->settings.port : 0;
    }
    if (!bound)
        return fmt::format("--http {}: cannot listen there: the port is taken, or the address is not one of this "
                           "machine's (ip -brief address lists them)",
                           _impl->where());
    return {};
}

uint16_t http_api::port() const
{
    return _impl->bound_port;
}

void http_api::start()
{
    if (_impl->thread.joinable())
        return;
    _impl->thread = std::thread([this] {
        _impl->server.listen_after_bind();
        _impl->finished = true;
    });
    pthread_setname_np(_impl->thread.native_handle(), "linecap-http");
    _impl->guard = std::thread([this] { _impl->guard_requests(); });
    pthread_setname_np(_impl->guard.native_handle(), "linecap-http-gd");
    // stop() only stops a server that runs: wait until it does (stop()
    // waits too, should it take longer).
    for (int i = 0; i < 1000 && !_impl->server.is_running(); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const http_settings& s = _impl->settings;
    const std::string access = !s.tls.client_ca.empty() ? (s.token.empty() ? "client certificate required"
                                                                            : "client certificate and bearer token required")
                               : !s.token.empty()        ? "bearer token required"
                                                         : "no token: loopback only";
    log_event(log_module::control, log_level::info, "HTTP API on {} ({})", _impl->url(), access);
    struct stat st{};
    const std::string& file = _impl->settings.token_file;
    if (!file.empty() && stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
        log_event(log_module::control, log_level::warning,
                  "--http-token-file {} can be read by others than its owner (mode {:04o}): chmod 600 {}", file,
                  st.st_mode & 07777, file);
}

void http_api::stop()
{
    if (!_impl->thread.joinable())
        return;
    {
        const std::lock_guard lock(_impl->guard_mutex);
        _impl->stopping = true;
    }
    _impl->guard_wake.notify_all();
    if (_impl->fleet_etcd)   // a fleet route waiting on etcd answers at once
        _impl->fleet_etcd->interrupt();
    if (_impl->guard.joinable())
        _impl->guard.join();
    // Server::stop() acts only on a server that runs (and only once), and
    // the server's thread ends only when every connection has: until then,
    // the connections accepted meanwhile are ended too.
    // Connections are ended first while the server still holds its address
    // (see accepted_on), then again as long as the server's thread runs.
    const listen_address listen = listen_address_of(_impl->settings.host, _impl->bound_port);
    bool stopped = false;
    while (!_impl->finished) {
        end_connections(listen);
        if (!stopped && _impl->server.is_running()) {
            _impl->server.stop();
            stopped = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    _impl->thread.join();
}

} // namespace linecap
