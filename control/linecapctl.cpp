// linecapctl: the command line of linecap's control socket (docs/control.md).
//
//   linecapctl [--socket PATH] [--json] COMMAND [ARGS]
//
// One request, one reply (watch and stats --watch stream), printed for
// people, or as the daemon's JSON with --json. Exit status 0 on success, 1
// when the daemon says no, 2 on a usage error, 3 when the daemon cannot be
// reached or the connection fails (no reply within --timeout included).
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "control/session_options.h"
#include "core/human_units.h"

namespace {

using json = nlohmann::ordered_json;
using linecap::human_bytes;

constexpr const char* default_socket = "/run/linecap.sock";

enum exit_code { ok = 0, refused = 1, usage = 2, unreachable = 3 };

struct connection_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class connection {
public:
    connection(const std::string& path, double timeout_s)
    {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path.empty() || path.size() >= sizeof(addr.sun_path))
            throw connection_error(fmt::format("{}: not a usable socket path", path));
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        _fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (_fd < 0 || connect(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
            if (errno == EACCES || errno == EPERM)
                throw connection_error(not_permitted(path));
            throw connection_error(fmt::format("cannot reach linecap at {}: {} (is the daemon running with "
                                               "--control {}? is --socket right?)",
                                               path, std::strerror(errno), path));
        }
        set_timeout(timeout_s);
    }
    ~connection()
    {
        if (_fd >= 0)
            close(_fd);
    }

    void set_timeout(double seconds)
    {
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(seconds);
        tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
        setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }

    void send_line(const json& request)
    {
        const std::string line = request.dump() + "\n";
        size_t done = 0;
        while (done < line.size()) {
            const ssize_t n = send(_fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                throw connection_error(fmt::format("cannot send the request: {}", std::strerror(errno)));
            }
            done += static_cast<size_t>(n);
        }
    }

    // The next line from the daemon, parsed.
    json read_line()
    {
        for (;;) {
            if (const size_t nl = _in.find('\n'); nl != std::string::npos) {
                const std::string line = _in.substr(0, nl);
                _in.erase(0, nl + 1);
                json reply = json::parse(line, nullptr, false);
                if (reply.is_discarded())
                    throw connection_error("the daemon sent something that is not JSON");
                return reply;
            }
            char buf[65536];
            const ssize_t n = recv(_fd, buf, sizeof(buf), 0);
            if (n == 0)
                throw connection_error("the daemon closed the connection");
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                throw connection_error(errno == EAGAIN || errno == EWOULDBLOCK
                                           ? std::string("no reply from the daemon in time (--timeout)")
                                           : fmt::format("cannot read the reply: {}", std::strerror(errno)));
            }
            _in.append(buf, static_cast<size_t>(n));
        }
    }

    json call(const json& request)
    {
        send_line(request);
        return read_line();
    }

private:
    // A socket (or a folder on its path) this user may not use: the daemon
    // runs, and membership of the socket's group is what is missing
    // (docs/security.md).
    static std::string not_permitted(const std::string& path)
    {
        struct stat st{};
        if (stat(path.c_str(), &st) != 0)
            return fmt::format("{}: permission denied: a folder on its path is closed to you; ask for access to it, "
                               "or run as root",
                               path);
        const group* g = getgrgid(st.st_gid);
        if (g == nullptr || st.st_gid == 0)
            return fmt::format("{}: permission denied: the socket is root's; run as root, or start the daemon with "
                               "--control-group GROUP and join that group",
                               path);
        return fmt::format("{}: permission denied: the socket is for root and the members of group {}; join it "
                           "(usermod -aG {} $USER, then log in again) or run as root",
                           path, g->gr_name, g->gr_name);
    }

    int _fd = -1;
    std::string _in;
};

// 2026-11-23T10:15:02.123456789Z -> 2026-11-23 10:15:02
std::string short_time(const json& iso)
{
    if (!iso.is_string() || iso.get<std::string>().size() < 19)
        return "-";
    std::string t = iso.get<std::string>().substr(0, 19);
    t[10] = ' ';
    return t;
}

uint64_t number(const json& j, const char* key)
{
    return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<uint64_t>() : 0;
}

std::string text(const json& j, const char* key)
{
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

void print_sessions(const json& sessions)
{
    fmt::print("{:<6} {:<20} {:<19}  {:<19}  {:<8} {:<9} {:>12} {:>10} {:>8}\n", "ID", "NAME", "START (UTC)",
               "END (UTC)", "STATUS", "REASON", "PACKETS", "SIZE", "DROPS");
    for (const json& s : sessions)
        fmt::print("{:<6} {:<20} {:<19}  {:<19}  {:<8} {:<9} {:>12} {:>10} {:>8}\n", text(s, "id"),
                   text(s, "name"), short_time(s["started"]), short_time(s["ended"]), text(s, "status"),
                   text(s, "reason").empty() ? "-" : text(s, "reason"), number(s, "packets"),
                   human_bytes(number(s, "bytes")), number(s, "drops"));
}

// A reply's notes (control_daemon::notes_of), on stderr as warnings are.
void print_notes(const json& reply)
{
    if (reply.contains("notes") && reply["notes"].is_array())
        for (const json& note : reply["notes"])
            if (note.is_string())
                fmt::print(stderr, "linecapctl: note: {}\n", note.get<std::string>());
}

void print_show(const json& s)
{
    fmt::print("session {} ({})\n", text(s, "id"), text(s, "name"));
    fmt::print("  status   {}{}\n", text(s, "status"), text(s, "reason").empty() ? "" : ": " + text(s, "reason"));
    if (!text(s, "error").empty())
        fmt::print("  error    {}\n", text(s, "error"));
    if (!text(s, "note").empty())
        fmt::print("  note     {}\n", text(s, "note"));
    if (s.contains("notes"))
        for (const json& note : s["notes"])
            fmt::print("  note     {}\n", note.get<std::string>());
    fmt::print("  started  {}\n  ended    {}\n  folder   {}\n", text(s, "started"),
               text(s, "ended").empty() ? "-" : text(s, "ended"), text(s, "folder"));
    fmt::print("  spec     {}\n", s["spec"].dump());
    fmt::print("  counters\n");
    for (const auto& [key, value] : s["counters"].items())
        fmt::print("    {:<16} {}\n", key, value.dump());
    fmt::print("  files\n");
    for (const json& f : s["files"])
        fmt::print("    {:>10}  {}\n", human_bytes(number(f, "bytes")), text(f, "name"));
}

void print_stats(const json& r)
{
    const json& t = r["totals"];
    fmt::print("uptime {:.1f} s, {} session(s) running\n", r["uptime_s"].get<double>(),
               number(r, "sessions_running"));
    fmt::print("received {}  filtered {}  matched {}  written {} ({})\n", number(t, "rx_packets"),
               number(t, "filtered_packets"), number(t, "matched_packets"), number(t, "written_packets"),
               human_bytes(number(t, "written_bytes")));
    fmt::print("dropped: nic {}  nombuf {}  ring {}  write {}  past limits {}\n", number(t, "dropped_nic"),
               number(t, "dropped_nombuf"), number(t, "dropped_ring"), number(t, "dropped_write"),
               number(t, "dropped_limit"));
    fmt::print("{:<8} {:<24} {:>14} {:>10} {:>10}\n", "PORT", "NAME", "RECEIVED", "IMISSED", "NOMBUF");
    for (const json& p : r["ports"])
        fmt::print("{:<8} {:<24} {:>14} {:>10} {:>10}\n", number(p, "port"), text(p, "name"),
                   number(p, "rx_packets"), number(p, "imissed"), number(p, "nombuf"));
    fmt::print("{:<8} {:>14} {:>14} {:>10}  {}\n", "WORKER", "RECEIVED", "MATCHED", "RING DROP", "MATCHED BY SESSION");
    for (const json& w : r["workers"])
        fmt::print("{:<8} {:>14} {:>14} {:>10}  {}\n", number(w, "worker"), number(w, "rx_packets"),
                   number(w, "matched_packets"), number(w, "dropped_ring"), w["matched_by_session"].dump());
    fmt::print("{:<8} {:>14} {:>12} {:>8} {:>12}\n", "WRITER", "PACKETS", "SIZE", "FILES", "WRITE DROP");
    for (const json& w : r["writers"])
        fmt::print("{:<8} {:>14} {:>12} {:>8} {:>12}\n", number(w, "writer"), number(w, "written_packets"),
                   human_bytes(number(w, "written_bytes")), number(w, "files"), number(w, "dropped_write"));
}

// The daemon's refusal of a spec ("start: spec: limits.packets: 0 is not
// ..."), with a field the options gave named by its option, as linecap's
// one-shot names it ("start: --count: 0 is not ...").
std::string explain_refusal(const std::string& error, const linecap::session_arguments& options)
{
    constexpr std::string_view prefix = "start: spec: ";
    if (!error.starts_with(prefix))
        return error;
    const std::string_view field_error = std::string_view(error).substr(prefix.size());
    return "start: " + options.explain(field_error);
}

volatile std::sig_atomic_t interrupted = 0;

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"linecapctl: start, stop, list and inspect linecap capture sessions over the control socket.\n"
                 "The daemon runs as: linecap [EAL options] -- --control PATH --out-root DIR",
                 "linecapctl"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("linecapctl ") + LINECAP_VERSION);
    app.get_formatter()->column_width(30);
    std::string socket_path = getenv("LINECAP_SOCKET") ? getenv("LINECAP_SOCKET") : default_socket;
    bool as_json = false;
    double timeout_s = 60;
    app.add_option("--socket", socket_path, "The daemon's control socket (default $LINECAP_SOCKET or /run/linecap.sock)")
        ->type_name("PATH");
    app.add_flag("--json", as_json, "Print the daemon's replies as JSON, one per line");
    app.add_option("--timeout", timeout_s, "Seconds to wait for a reply (default 60)")
        ->check(CLI::Range(0.1, 86400.0));

    std::string spec_file;
    std::vector<std::string> expression;
    linecap::session_arguments session;
    CLI::App* start = app.add_subcommand("start", "Start a session from options, a spec file and/or a filter "
                                                  "expression, e.g. start -s 96 host 10.7.144.1 and tcp port 443");
    start->add_option("-F,--filter-file", spec_file,
                      "A session spec in JSON (docs/filters.md); the options are laid over it")
        ->type_name("FILE");
    start->add_option("expression", expression,
                      "A tcpdump filter expression as the last words, as tcpdump takes it (or --bpf); "
                      "one word ending in .json is read as -F FILE")
        ->type_name("EXPR");
    session.add_to(*start, "Session (what to keep and how to write it; also in the spec, docs/filters.md)");

    std::string id;
    auto with_id = [&](const char* name, const char* help) {
        CLI::App* sub = app.add_subcommand(name, help);
        sub->add_option("session", id, "The session's id, or its name where no other session has it (linecapctl ls)")
            ->type_name("ID|NAME")
            ->required();
        return sub;
    };
    CLI::App* stop = with_id("stop", "Stop a running session");
    CLI::App* ls = app.add_subcommand("ls", "List sessions, running and ended");
    ls->alias("list");
    CLI::App* show = with_id("show", "A session's spec, status, counters and files");
    CLI::App* stats = app.add_subcommand("stats", "Counters per port, worker and writer");
    double stats_every = 0;
    stats->add_option("--watch", stats_every, "Print again every S seconds until interrupted")
        ->check(CLI::Range(0.1, 3600.0));
    CLI::App* files = with_id("files", "A session's files with their sizes");
    CLI::App* merge = with_id("merge", "Merge a session's files into one, time-ordered, in its folder");
    std::string merge_out;
    merge->add_option("-o,--output", merge_out, "Also copy the merged file here");
    CLI::App* rm = with_id("rm", "Delete an ended session and its files");
    rm->alias("delete");
    CLI::App* watch = with_id("watch", "One line per packet of a running session (rate-limited)");
    CLI::App* shutdown = app.add_subcommand("shutdown", "Stop every session and the daemon");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? ok : usage;
    }

    // A start's spec is built before connecting: a bad option costs no round trip.
    nlohmann::json spec;
    if (start->parsed()) {
        if (std::string e = session.take_last_words(expression, start->count("--bpf") > 0, spec_file); !e.empty()) {
            fmt::print(stderr, "linecapctl: start: {}\n", e);
            return usage;
        }
        if (std::string e = session.build(spec_file, spec); !e.empty()) {
            fmt::print(stderr, "linecapctl: start: {}\n", e);
            return usage;
        }
        // The daemon checks it again (and compiles its filter); checked here
        // too, a bad value is refused by the validator the one-shot uses,
        // in its words, without a daemon.
        linecap::session_spec parsed;
        if (std::string e = linecap::parse_session_spec(spec, parsed); !e.empty()) {
            fmt::print(stderr, "linecapctl: start: {}\n", session.explain(e));
            return usage;
        }
    }

    const auto report = [&](const json& reply) {
        if (as_json)
            fmt::print("{}\n", reply.dump());
        if (!reply.value("ok", false)) {
            const std::string error = reply.value("error", std::string("the daemon said no"));
            fmt::print(stderr, "linecapctl: {}\n", start->parsed() ? explain_refusal(error, session) : error);
            return false;
        }
        return true;
    };

    try {
        connection conn(socket_path, timeout_s);
        if (start->parsed()) {
            const json reply = conn.call({{"cmd", "start"}, {"spec", spec}});
            if (!report(reply))
                return refused;
            if (!as_json) {
                fmt::print("started session {} (files in {})\n", text(reply, "id"), text(reply, "folder"));
                print_notes(reply);
            }
        } else if (stop->parsed()) {
            const json reply = conn.call({{"cmd", "stop"}, {"id", id}});
            if (!report(reply))
                return refused;
            if (!as_json)
                fmt::print("session {} {}: {}, {} packets written ({})\n", text(reply, "id"), text(reply, "status"),
                           text(reply, "reason"), number(reply["counters"], "written_packets"),
                           human_bytes(number(reply["counters"], "written_bytes")));
        } else if (ls->parsed()) {
            const json reply = conn.call({{"cmd", "list"}});
            if (!report(reply))
                return refused;
            if (!as_json)
                print_sessions(reply["sessions"]);
        } else if (show->parsed()) {
            const json reply = conn.call({{"cmd", "show"}, {"id", id}});
            if (!report(reply))
                return refused;
            if (!as_json)
                print_show(reply["session"]);
        } else if (stats->parsed()) {
            std::signal(SIGINT, [](int) { interrupted = 1; });
            do {
                const json reply = conn.call({{"cmd", "stats"}});
                if (!report(reply))
                    return refused;
                if (!as_json)
                    print_stats(reply);
                std::fflush(stdout);
                if (stats_every > 0)
                    std::this_thread::sleep_for(std::chrono::duration<double>(stats_every));
            } while (stats_every > 0 && !interrupted);
        } else if (files->parsed()) {
            const json reply = conn.call({{"cmd", "files"}, {"id", id}});
            if (!report(reply))
                return refused;
            if (!as_json)
                for (const json& f : reply["files"])
                    fmt::print("{:>12}  {}\n", number(f, "bytes"), text(f, "path"));
        } else if (merge->parsed()) {
            conn.set_timeout(0);   // a merge of gigabytes takes what it takes
            const json reply = conn.call({{"cmd", "merge"}, {"id", id}});
            if (!report(reply))
                return refused;
            std::string path = text(reply, "path");
            if (!merge_out.empty()) {
                std::error_code ec;
                std::filesystem::copy_file(path, merge_out, std::filesystem::copy_options::overwrite_existing, ec);
                if (ec) {
                    fmt::print(stderr, "linecapctl: merge: cannot copy {} to {}: {}\n", path, merge_out, ec.message());
                    return refused;
                }
                path = merge_out;
            }
            if (!as_json) {
                for (const json& note : reply["notes"])
                    fmt::print(stderr, "linecapctl: note: {}\n", note.get<std::string>());
                fmt::print("{} packets from {} files merged into {}\n", number(reply, "packets"),
                           number(reply, "files"), path);
            }
        } else if (rm->parsed()) {
            if (!report(conn.call({{"cmd", "delete"}, {"id", id}})))
                return refused;
            if (!as_json)
                fmt::print("session {} deleted\n", id);
        } else if (watch->parsed()) {
            const json reply = conn.call({{"cmd", "watch"}, {"id", id}});
            if (!report(reply))
                return refused;
            if (!as_json)
                print_notes(reply);
            conn.set_timeout(0);   // as long as the session runs
            for (;;) {
                const json line = conn.read_line();
                if (as_json)
                    fmt::print("{}\n", line.dump());
                else if (line.contains("packet"))
                    fmt::print("{}\n", text(line, "packet"));
                else if (text(line, "event") == "note")
                    fmt::print(stderr, "linecapctl: note: {}\n", text(line, "note"));
                else if (text(line, "event") == "end")
                    fmt::print(stderr, "linecapctl: session {} ended: {}\n", text(line, "id"), text(line, "reason"));
                std::fflush(stdout);
                std::fflush(stderr);
                if (text(line, "event") == "end")
                    break;
            }
        } else if (shutdown->parsed()) {
            if (!report(conn.call({{"cmd", "shutdown"}})))
                return refused;
            if (!as_json)
                fmt::print("linecap is shutting down\n");
        }
    } catch (const connection_error& e) {
        fmt::print(stderr, "linecapctl: {}\n", e.what());
        return unreachable;
    }
    return ok;
}
