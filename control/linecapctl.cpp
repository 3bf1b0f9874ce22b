// linecapctl: the command line of linecap's control socket (docs/control.md).
//
//   linecapctl [--socket PATH] [--json] COMMAND [ARGS]
//
// One request, one reply (watch and stats --watch stream), printed for
// people, or as the daemon's JSON with --json. Exit status 0 on success, 1
// when the daemon says no, 2 on a usage error, 3 when the daemon cannot be
// reached or the connection fails (no reply within --timeout included).
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
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

#include "control/fleet_merge.h"
#include "query/query.h"
#include "control/fleet_view.h"
#include "control/http_token.h"
#include "control/request_limit.h"
#include "control/session_options.h"
#include "fleet/etcd.h"
#include "fleet/fleet_session.h"
#include "fleet/node.h"
#include "core/command_line.h"
#include "core/human_units.h"
#include "core/log.h"
#include "core/query_fields.h"
#include "core/utc_time.h"
#include "filters/bpf.h"
#include "filters/classifier.h"

namespace {

using json = nlohmann::ordered_json;

// The JSON text of `j`. A string not valid UTF-8 (a Latin-1 file name, a
// stray byte in an expression) has U+FFFD in place of each bad byte:
// json::dump() throws on it, and the thrown error ended linecapctl.
std::string json_text(const json& j)
{
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
using linecap::count_of;
using linecap::human_bytes;
using linecap::print_error;

constexpr const char* default_socket = "/run/linecap.sock";

// partial: fleet merge wrote a file without every node's part.
enum exit_code { ok = 0, refused = 1, usage = 2, unreachable = 3, partial = 4 };

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

    // Sends a request line; `passed_fd` (merge's output file) goes with its
    // first byte (SCM_RIGHTS), so the daemon gets it with this request.
    void send_line(const json& request, int passed_fd = -1)
    {
        const std::string line = json_text(request) + "\n";
        size_t done = 0;
        while (done < line.size()) {
            iovec iov{const_cast<char*>(line.data() + done), line.size() - done};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
            if (passed_fd >= 0 && done == 0) {
                msg.msg_control = control;
                msg.msg_controllen = sizeof control;
                cmsghdr* cm = CMSG_FIRSTHDR(&msg);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                std::memcpy(CMSG_DATA(cm), &passed_fd, sizeof passed_fd);
            }
            const ssize_t n = sendmsg(_fd, &msg, MSG_NOSIGNAL);
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

    json call(const json& request, int passed_fd = -1)
    {
        send_line(request, passed_fd);
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

struct column {
    std::string_view title;
    bool numeric;   // right-aligned
};

// A table: each column as wide as its widest cell, so large counts and long
// names never push the next column out of line.
void print_table(const std::vector<column>& columns, const std::vector<std::vector<std::string>>& cells)
{
    std::vector<std::vector<std::string>> rows;
    rows.emplace_back();
    for (const column& c : columns)
        rows.back().emplace_back(c.title);
    rows.insert(rows.end(), cells.begin(), cells.end());
    std::vector<size_t> width(columns.size());
    for (const auto& row : rows)
        for (size_t i = 0; i < columns.size(); i++)
            width[i] = std::max(width[i], row[i].size());
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < columns.size(); i++) {
            if (i != 0)
                line += "  ";
            line += columns[i].numeric ? fmt::format("{:>{}}", row[i], width[i]) : fmt::format("{:<{}}", row[i], width[i]);
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        fmt::print("{}\n", line);
    }
}

// The session table. ON DISK is what the session's folder holds now (a ring
// with keep-N holds its last files), WRITTEN what it has written in all.
void print_sessions(const json& sessions)
{
    std::vector<std::vector<std::string>> rows;
    for (const json& s : sessions)
        rows.push_back({text(s, "id"), text(s, "name"), short_time(s["started"]), short_time(s["ended"]),
                        text(s, "status"), text(s, "reason").empty() ? "-" : text(s, "reason"),
                        std::to_string(number(s, "packets")), human_bytes(number(s, "disk_bytes")),
                        human_bytes(number(s, "bytes")), std::to_string(number(s, "drops"))});
    print_table({{"ID", false}, {"NAME", false}, {"START (UTC)", false}, {"END (UTC)", false}, {"STATUS", false},
                 {"REASON", false}, {"PACKETS", true}, {"ON DISK", true}, {"WRITTEN", true}, {"DROPS", true}},
                rows);
}

// The fleet's nodes (fleet/node.h's records). A node is listed while its
// lease lives: STATUS says what it does, CLOCK whether its system clock is
// synchronised (a merge across nodes orders packets by it).
void print_nodes(const json& nodes)
{
    std::vector<std::vector<std::string>> rows;
    for (const json& n : nodes) {
        const json clock = n.value("clock", json::object());
        const uint64_t running = number(n, "sessions_running");
        std::vector<std::string> ports;
        for (const json& p : n.value("ports", json::array()))
            ports.push_back(text(p, "name"));
        rows.push_back({text(n, "name"), text(n, "url"),
                        running == 0 ? "idle" : fmt::format("capturing ({})", count_of(running, "session", "sessions")),
                        clock.value("synchronised", false)
                            ? fmt::format("synchronised, ±{} µs", clock.value("est_error_us", int64_t{0}))
                            : "NOT synchronised",
                        text(n, "version"), ports.empty() ? "-" : fmt::format("{}", fmt::join(ports, ",")),
                        short_time(n.value("updated", json()))});
    }
    print_table({{"NODE", false}, {"URL", false}, {"STATUS", false}, {"CLOCK", false}, {"VERSION", false},
                 {"PORTS", false}, {"UPDATED (UTC)", false}},
                rows);
}

// A reply's notes (control_daemon::notes_of), on stderr as warnings are.
void print_notes(const json& reply)
{
    if (reply.contains("notes") && reply["notes"].is_array())
        for (const json& note : reply["notes"])
            if (note.is_string())
                print_error("linecapctl", "note: " + note.get<std::string>());
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
    fmt::print("  spec     {}\n", json_text(s["spec"]));
    fmt::print("  counters\n");
    for (const auto& [key, value] : s["counters"].items())
        fmt::print("    {:<16} {}\n", key, json_text(value));
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
                   number(w, "matched_packets"), number(w, "dropped_ring"), json_text(w["matched_by_session"]));
    fmt::print("{:<8} {:>14} {:>12} {:>8} {:>12}\n", "WRITER", "PACKETS", "SIZE", "FILES", "WRITE DROP");
    for (const json& w : r["writers"])
        fmt::print("{:<8} {:>14} {:>12} {:>8} {:>12}\n", number(w, "writer"), number(w, "written_packets"),
                   human_bytes(number(w, "written_bytes")), number(w, "files"), number(w, "dropped_write"));
}

// The daemon's refusal of a spec ("start: spec: limits.packets: 0 is not
// ..."), with a field the options gave named by its option, as linecap's
// one-shot names it ("start: --count: 0 is not ...").
// An option of linecap's own command line given to `linecapctl start`,
// which CLI11 only calls unexpected: what it is and where it goes instead.
// "" for any other parse error. `where`: "linecapctl start --help".
std::string oneshot_option_refusal(const CLI::ParseError& e, const std::string& where)
{
    if (dynamic_cast<const CLI::ExtrasError*>(&e) == nullptr || !where.starts_with("linecapctl start "))
        return {};
    // CLI11 lists the words it did not expect after ": ", last first.
    const std::string_view what = e.what();
    const size_t colon = what.find(": ");
    if (colon == std::string_view::npos)
        return {};
    std::vector<std::string_view> words;
    for (std::string_view rest = what.substr(colon + 2); !rest.empty();) {
        const size_t space = std::min(rest.find(' '), rest.size());
        std::string_view word = rest.substr(0, space);
        words.insert(words.begin(), word.substr(0, word.find('=')));   // --out=DIR
        rest.remove_prefix(std::min(space + 1, rest.size()));
    }
    struct instead {
        std::string_view option, alias, why;
    };
    static constexpr instead table[] = {
        {"--read", "-r", "a daemon's sessions capture its ports (a file is replayed as a port: linecap --vdev "
                         "net_pcap0,rx_pcap=FILE ... -- --control PATH)"},
        {"--out", "-w", "a daemon writes each session's files in a folder of its own under its --out-root"},
        {"--interface", "-i", "a daemon's ports are given when it starts (linecap ... -- -i IFACE --control PATH)"},
        {"--idle-exit", "", "a session stops by its limits (-c, --max-bytes, --duration) or by linecapctl stop"},
        {"--stats-json", "", "linecapctl show ID --json and linecapctl stats give a session's counters"},
        {"--stats-interval", "", "linecapctl stats --watch SECONDS prints live counters"},
        {"--workers", "", "a daemon's lcores are given when it starts"},
        {"--writers", "", "a daemon's lcores are given when it starts"},
        {"--worker-lcores", "", "a daemon's lcores are given when it starts"},
        {"--writer-lcores", "", "a daemon's lcores are given when it starts"},
    };
    // The engine's and the daemon's own settings, one for all its sessions.
    static constexpr std::string_view daemon_wide[] = {
        "--bpf-interpreter", "--bpf-jit", "--buffered-io", "--lossless", "--idle-mode", "--ring-size", "--rx-desc",
        "--burst", "--mbufs", "--mtu", "-p", "--no-promiscuous-mode", "--control", "--out-root", "--max-sessions",
        "--control-group", "--start", "--read-rate", "--http", "--http-token-file", "--http-cert", "--http-key",
        "--http-client-ca", "--fleet-etcd", "--node", "--fleet-url"};
    // -wDIR, -rFILE: a short option with its value attached, as getopt takes it.
    const auto names = [](std::string_view word, std::string_view option, std::string_view alias) {
        return word == option || (!alias.empty() && (word == alias || (alias.size() == 2 && word.starts_with(alias))));
    };
    for (const std::string_view word : words) {
        for (const std::string_view option : daemon_wide)
            if (word == option)
                return fmt::format("start: {} is one of linecap's own settings, not a session's: the daemon takes it "
                                   "when it starts, for all its sessions (linecap ... -- {} ... --control PATH) (run "
                                   "'{}' for a session's options)",
                                   word, word, where);
        for (const instead& i : table)
            if (names(word, i.option, i.alias))
                return fmt::format("start: {} is an option of linecap's one-shot capture, not of a daemon's "
                                   "session: {} (run '{}' for a session's options)",
                                   word.size() > 2 && word[1] != '-' ? word.substr(0, 2) : word, i.why, where);
    }
    return {};
}

std::string explain_refusal(const std::string& error, const linecap::session_arguments& options)
{
    constexpr std::string_view prefix = "start: spec: ";
    if (!error.starts_with(prefix))
        return error;
    const std::string_view field_error = std::string_view(error).substr(prefix.size());
    // An expression libpcap refuses: the one-shot's words, naming the part
    // that fails, the spec file's or the command line's (each compiled
    // here, alone, to tell which; only once the daemon has said no).
    if (field_error.starts_with("bpf: "))
        return "start: " + linecap::explain_bpf_error(field_error, options.bpf_parts(), [](const std::string& e) {
                   return linecap::bpf_expression::check_syntax(e);
               });
    return "start: " + options.explain(field_error);
}

// merge's and snapshot's output, opened here, as the user running
// linecapctl: the file is theirs, and the daemon writes into it through the
// descriptor passed with the request (no copy in the session's folder, no
// need to read it). "-" is standard output.
struct merge_output {
    int fd = -1;
    bool created = false;   // a file made here, removed again if nothing is written to it
};

merge_output open_merge_output(const std::string& command, const std::string& path, bool force)
{
    merge_output out;
    if (path == "-") {
        if (isatty(STDOUT_FILENO))
            throw std::invalid_argument(fmt::format("{}: -o -: standard output is a terminal; send it to a program "
                                                    "(linecapctl {} ID -o - | tshark -r -) or give a file",
                                                    command, command));
        out.fd = STDOUT_FILENO;
        return out;
    }
    // In linecap merge's and query's words (a folder, with or without
    // --force; a file there, without).
    if (const std::string e = linecap::output_folder_problem(path); !e.empty())
        throw std::invalid_argument(fmt::format("{}: {}", command, e));
    // Not O_TRUNC: with --force the daemon empties the file once it knows it
    // is not one of the session's own files.
    out.fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (force ? 0 : O_EXCL), 0640);
    if (out.fd < 0 && errno == EEXIST)
        throw std::invalid_argument(fmt::format("{}: {}", command, linecap::output_exists_problem(path)));
    if (out.fd < 0)
        throw std::invalid_argument(fmt::format("{}: cannot create {}: {}", command, path, std::strerror(errno)));
    out.created = !force;
    return out;
}

volatile std::sig_atomic_t interrupted = 0;

} // namespace

// The spec of `start` and `fleet start`: the spec file, the options laid
// over it and the expression ANDed in, checked by the validator the
// one-shot uses (the daemon checks again). Empty, or what is wrong.
std::string build_spec(linecap::session_arguments& session, const std::vector<std::string>& expression,
                       bool bpf_given, std::string spec_file, nlohmann::json& spec)
{
    if (std::string e = session.take_last_words(expression, bpf_given, spec_file); !e.empty())
        return e;
    if (std::string e = session.build(spec_file, spec); !e.empty())
        return e;
    linecap::session_spec parsed;
    if (std::string e = linecap::parse_session_spec(spec, parsed); !e.empty())
        return session.explain(e);
    // The payload patterns and the rules compiled as the daemon compiles
    // them (Hyperscan, the rule classifier), in the one-shot's words. Not
    // the expression: libpcap resolves the host names in it as it compiles
    // (`host db.example`), and the daemon's resolver (a fleet's nodes') is
    // the one that counts, not this machine's; its refusal is explained
    // when it comes (explain_refusal).
    parsed.bpf.clear();
    if (std::string e = linecap::check_session_filter(parsed); !e.empty())
        return session.explain_filter_error(e, [&](const std::string& expression) {
            return linecap::bpf_expression::check_syntax(expression, parsed.netmask);
        });
    return {};
}

// What `fleet` commands take besides --etcd.
struct fleet_arguments {
    const CLI::App* nodes = nullptr;
    const CLI::App* start = nullptr;
    const CLI::App* ls = nullptr;
    const CLI::App* show = nullptr;
    const CLI::App* stop = nullptr;
    const CLI::App* merge = nullptr;
    const CLI::App* rm = nullptr;
    std::string id;                  // show, stop, merge, rm; start's --id
    std::vector<std::string> targets;   // start --nodes
    std::string start_time, end_time;   // start --start, --end
    bool late_join = false;
    double wait_s = 5;
    linecap::session_arguments session;
    std::vector<std::string> expression;
    std::string spec_file;
    // merge
    std::string output, format, since, until, token_file, ca_file, cert_file, key_file;
    bool force = false;
    linecap::etcd_credential_options etcd;   // --etcd-cacert, -cert, -key, -user, -password-file
};

// `fleet start`: waits until every node it targets that is in the fleet has
// said how it went (or `wait_s`); its rows.
std::vector<json> wait_for_nodes(linecap::etcd_client& etcd, const std::string& id, const std::vector<std::string>& nodes,
                                 double wait_s, const std::function<bool(const json&)>& done)
{
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
    for (;;) {
        std::vector<linecap::etcd_kv> kvs;
        int64_t revision = 0;
        std::vector<json> rows;
        if (etcd.list(linecap::fleet_status_prefix(id), kvs, revision).empty())
            for (const linecap::etcd_kv& kv : kvs)
                if (json j = linecap::parse_stored_json(kv.value); j.is_object())
                    rows.push_back(std::move(j));
        size_t answered = 0;
        for (const std::string& node : nodes)
            answered += std::any_of(rows.begin(), rows.end(),
                                    [&](const json& r) { return text(r, "node") == node && done(r); });
        if (answered == nodes.size() || std::chrono::steady_clock::now() >= until)
            return rows;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

void print_fleet_nodes_status(const json& rows)
{
    std::vector<std::vector<std::string>> cells;
    for (const json& r : rows) {
        const json counters = r.value("counters", json::object());
        std::string status = text(r, "status");
        if (!text(r, "reason").empty())
            status += " (" + text(r, "reason") + ")";
        cells.push_back({text(r, "node"), text(r, "local_id").empty() ? "-" : text(r, "local_id"), status,
                         std::to_string(number(counters, "written_packets")),
                         human_bytes(number(counters, "written_bytes")),
                         std::to_string(number(counters, "dropped_ring") + number(counters, "dropped_write")),
                         std::to_string(r.value("files", json::array()).size()),
                         text(r, "error").empty() ? "-" : text(r, "error")});
    }
    print_table({{"NODE", false}, {"SESSION", false}, {"STATUS", false}, {"PACKETS", true}, {"WRITTEN", true},
                 {"DROPS", true}, {"FILES", true}, {"ERROR", false}},
                cells);
}

// `fleet merge ID -o OUT`: every node's part fetched over its HTTP API and
// merged (control/fleet_merge.h). Exit status `partial` when a node's part
// is missing from the file.
int run_fleet_merge(linecap::etcd_client& etcd, bool as_json, const fleet_arguments& a)
{
    const auto refuse = [](const std::string& e, int status) {
        fmt::print(stderr, "linecapctl: fleet merge: {}\n", e);
        return status;
    };
    linecap::fleet_merge_settings settings;
    settings.ca_file = a.ca_file;
    settings.cert_file = a.cert_file;
    settings.key_file = a.key_file;
    if (!a.token_file.empty())
        if (std::string e = linecap::read_http_token(a.token_file, settings.token); !e.empty())
            return refuse(fmt::format("--token-file {}: {}", a.token_file, e), usage);
    if (a.cert_file.empty() != a.key_file.empty())
        return refuse("--cert and --key go together: the client certificate and its key", usage);
    // The window and format, in the words of GET .../fleet/sessions/{id}/pcap
    // and of a session's merge (core/query_fields.h). Given empty is a
    // mistake, not left out.
    const auto given = [&](const char* option, const std::string& text) {
        const CLI::Option* o = a.merge->get_option_no_throw(option);
        return o != nullptr && o->count() > 0 ? std::optional<std::string>(text) : std::nullopt;
    };
    if (std::string e = linecap::parse_fleet_merge_fields(given("--since", a.since), given("--until", a.until),
                                                          given("--format", a.format), linecap::field_spelling::option,
                                                          linecap::utc_now_ns(), settings);
        !e.empty())
        return refuse(e, usage);
    linecap::fleet_merge_plan plan;
    bool unreachable_etcd = false;
    if (std::string e = linecap::plan_fleet_merge(etcd, a.id, plan, unreachable_etcd); !e.empty())
        return refuse(e, unreachable_etcd ? unreachable : refused);
    merge_output output;
    try {
        output = open_merge_output("fleet merge", a.output, a.force);
    } catch (const std::invalid_argument& e) {
        print_error("linecapctl", e.what());
        return refused;
    }
    settings.truncate_output = a.force && output.fd != STDOUT_FILENO;
    // The parts wait beside the output (its filesystem has room for the
    // merge), or in $TMPDIR when it is standard output.
    settings.spool_dir = a.output != "-" ? std::filesystem::absolute(a.output).parent_path().string()
                         : getenv("TMPDIR") != nullptr ? getenv("TMPDIR") : "/tmp";
    const std::string name = a.output == "-" ? "standard output" : a.output;
    linecap::fleet_merge_report report;
    const std::string error = linecap::fleet_merge(plan, settings, output.fd, name, report);
    for (const std::string& w : report.clock_warnings)
        fmt::print(stderr, "linecapctl: warning: {}\n", w);
    for (const std::string& note : report.merged.notes)
        print_error("linecapctl", "note: " + std::string(note));
    for (const auto& [node, why] : report.missing)
        fmt::print(stderr, "linecapctl: fleet merge: node {} is missing: {}\n", node, why);
    if (!error.empty()) {
        if (output.created)
            unlink(a.output.c_str());
        return refuse(error, refused);
    }
    if (as_json) {
        json missing = json::array();
        for (const auto& [node, why] : report.missing)
            missing.push_back({{"node", node}, {"reason", why}});
        fmt::print(a.output == "-" ? stderr : stdout, "{}\n",
                   json_text(json{{"ok", !report.partial()}, {"id", a.id}, {"output", name},
                                  {"packets", report.merged.packets}, {"nodes", report.merged_nodes},
                                  {"missing", missing}, {"clock_warnings", report.clock_warnings}}));
    } else {
        fmt::print(a.output == "-" ? stderr : stdout, "fleet session {}: {} from {} merged into {}{}\n", a.id,
                   count_of(report.merged.packets, "packet", "packets"),
                   count_of(report.merged_nodes.size(), "node", "nodes"), name,
                   report.partial() ? fmt::format(": PARTIAL, {} missing", count_of(report.missing.size(), "node", "nodes"))
                                    : "");
    }
    return report.partial() ? partial : ok;
}

bool has_members(linecap::etcd_client& etcd, const std::string& id)
{
    std::vector<linecap::etcd_kv> kvs;
    int64_t revision = 0;
    return etcd.list(linecap::fleet_member_prefix(id), kvs, revision).empty() && !kvs.empty();
}

// `fleet rm ID`: an ended fleet session's keys go from etcd (the session,
// and the record of which nodes ran it). Each node's own session and files
// stay, listed by its linecapctl ls and removed there. The nodes' statuses
// are read, and the keys deleted only if none of them was written since,
// in one transaction: a node writes its status before it starts the session
// (fleet/agent.cpp, reconcile), so one that starts it in between (one that
// joined late, say) is seen; one whose status comes after the removal
// stops its session once it sees the key gone.
int run_fleet_rm(linecap::etcd_client& etcd, const std::string& id)
{
    constexpr int attempts = 3;
    for (int attempt = 1;; attempt++) {
        std::vector<linecap::etcd_kv> kvs;
        int64_t revision = 0;
        std::string e = etcd.list(linecap::fleet_status_prefix(id), kvs, revision);
        std::vector<std::string> running;
        for (const linecap::etcd_kv& kv : kvs)
            if (const json r = linecap::parse_stored_json(kv.value);
                r.is_object() && (text(r, "status") == "running" || text(r, "status") == "waiting"))
                running.push_back(text(r, "node"));
        if (e.empty() && !running.empty()) {
            fmt::print(stderr, "linecapctl: fleet rm: fleet session {} still runs on {} ({}): stop it first "
                               "(linecapctl fleet stop {})\n",
                       id, count_of(running.size(), "node", "nodes"), fmt::join(running, ", "), id);
            return refused;
        }
        bool removed = false;
        if (e.empty()) {
            e = etcd.remove_if_unchanged(linecap::fleet_session_key(id), linecap::fleet_member_prefix(id),
                                         linecap::fleet_status_prefix(id), revision, removed);
            if (!e.empty())   // a transaction that went out may have been carried out
                e += fmt::format(" (fleet session {} may be removed all the same: linecapctl fleet ls)", id);
        }
        if (!e.empty()) {
            print_error("linecapctl", e);
            return unreachable;
        }
        if (removed)
            break;
        if (attempt == attempts) {
            fmt::print(stderr, "linecapctl: fleet rm: fleet session {}'s statuses changed on its nodes while it was "
                               "being removed, {} times: see which node reports it (linecapctl fleet show {}), then "
                               "run linecapctl fleet rm {} again\n",
                       id, attempts, id, id);
            return refused;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
    }
    fmt::print("fleet session {} removed from etcd; each node keeps its own session and files (linecapctl ls there)\n",
               id);
    return ok;
}

int run_fleet_commands(const std::string& etcd_urls, bool as_json, fleet_arguments& a);

// `linecapctl fleet ...`: the fleet as etcd holds it. A key someone wrote by
// hand with fields of the wrong type is said, not a crash.
int run_fleet(const std::string& etcd_urls, bool as_json, fleet_arguments& a)
{
    try {
        return run_fleet_commands(etcd_urls, as_json, a);
    } catch (const nlohmann::json::exception& e) {
        fmt::print(stderr, "linecapctl: fleet: a key under {} in etcd is not what linecap writes ({}): "
                           "etcdctl get --prefix {} shows them\n",
                   linecap::fleet_prefix, e.what(), linecap::fleet_prefix);
        return refused;
    }
}

int run_fleet_commands(const std::string& etcd_urls, bool as_json, fleet_arguments& a)
{
    linecap::etcd_settings settings;
    if (etcd_urls.empty()) {
        fmt::print(stderr, "linecapctl: fleet: give --etcd URL (or set LINECAP_ETCD): the fleet's etcd, e.g. "
                           "--etcd http://127.0.0.1:2379\n");
        return usage;
    }
    if (std::string e = linecap::parse_etcd_endpoints(etcd_urls, settings.endpoints); !e.empty()) {
        fmt::print(stderr, "linecapctl: --etcd: {}\n", e);
        return usage;
    }
    if (std::string e = linecap::apply_etcd_credentials(a.etcd, "--etcd-", settings); !e.empty()) {
        print_error("linecapctl", e);
        return usage;
    }
    // A fleet session to start is checked whole before etcd is asked.
    linecap::fleet_session session;
    if (a.start->parsed()) {
        const auto refuse = [](const std::string& e) {
            fmt::print(stderr, "linecapctl: fleet start: {}\n", e);
            return usage;
        };
        if (std::string e = build_spec(a.session, a.expression, a.start->count("--bpf") > 0, a.spec_file, session.spec);
            !e.empty())
            return refuse(e);
        for (const std::string& node : a.targets)
            if (std::string e = linecap::check_node_name(node, "--nodes"); !e.empty())
                return refuse(e);
        const uint64_t now = linecap::utc_now_ns();
        session.id = a.id.empty() ? fmt::format("{}-{}", session.spec.value("name", std::string("capture")),
                                                linecap::utc_basic(now))
                                  : a.id;
        if (std::string e = linecap::check_fleet_id(session.id); !e.empty())
            return refuse("--id: " + e);
        for (const auto& [option, given, into] :
             {std::tuple{"--start", &a.start_time, &session.start_ns}, std::tuple{"--end", &a.end_time, &session.end_ns}}) {
            if (given->empty())
                continue;
            std::string e;
            const std::optional<uint64_t> t = linecap::parse_utc_time(*given, now, e);
            if (!t)
                return refuse(fmt::format("{} {}: {}", option, *given, e));
            *into = *t;
        }
        if (session.end_ns != 0 && session.end_ns <= std::max(now, session.start_ns))
            return refuse(fmt::format("--end {} is not after the start ({}): give a later time",
                                      linecap::utc_iso8601(session.end_ns),
                                      linecap::utc_iso8601(std::max(now, session.start_ns))));
        session.nodes = a.targets;
        session.late_join = a.late_join;
        session.created = linecap::utc_iso8601(now);
    }

    linecap::etcd_client etcd(settings);
    if (a.merge->parsed())
        return run_fleet_merge(etcd, as_json, a);
    linecap::fleet_view view;
    if (std::string e = linecap::read_fleet(etcd, view); !e.empty()) {
        print_error("linecapctl", e);
        return unreachable;
    }
    for (const std::string& note : view.notes)
        print_error("linecapctl", "note: " + std::string(note));
    if (a.nodes->parsed()) {
        if (as_json)
            fmt::print("{}\n", json_text(json{{"ok", true}, {"nodes", view.nodes}}));
        else
            print_nodes(view.nodes);
        return ok;
    }
    if (a.ls->parsed()) {
        const json rows = linecap::fleet_rows(view);
        if (as_json) {
            fmt::print("{}\n", json_text(json{{"ok", true}, {"sessions", rows}}));
            return ok;
        }
        std::vector<std::vector<std::string>> cells;
        for (const json& r : rows)
            cells.push_back({text(r, "id"), text(r, "name"), short_time(r["start"].get<std::string>().empty() ? r["created"] : r["start"]),
                             short_time(r["end"]), text(r, "status"), std::to_string(number(r, "nodes_running")),
                             std::to_string(number(r, "nodes_finished")), std::to_string(number(r, "nodes_failed")),
                             std::to_string(number(r, "packets")), human_bytes(number(r, "bytes")),
                             std::to_string(number(r, "drops"))});
        print_table({{"ID", false}, {"NAME", false}, {"START (UTC)", false}, {"END (UTC)", false}, {"STATUS", false},
                     {"RUNNING", true}, {"FINISHED", true}, {"FAILED", true}, {"PACKETS", true}, {"WRITTEN", true},
                     {"DROPS", true}},
                    cells);
        return ok;
    }
    std::vector<std::string> live;   // the nodes in the fleet now
    for (const json& n : view.nodes)
        live.push_back(text(n, "name"));

    if (a.start->parsed()) {
        bool created = false;
        if (std::string e = etcd.create(linecap::fleet_session_key(session.id),
                                        json_text(linecap::fleet_session_json(session)), created);
            !e.empty()) {
            print_error("linecapctl", e);
            return unreachable;
        }
        if (!created) {
            fmt::print(stderr, "linecapctl: fleet start: fleet session {} exists already (linecapctl fleet show {}): "
                               "give another --id\n",
                       session.id, session.id);
            return refused;
        }
        std::vector<std::string> targeted;
        for (const std::string& node : live)
            if (session.targets(node))
                targeted.push_back(node);
        for (const std::string& node : session.nodes)
            if (std::find(live.begin(), live.end(), node) == live.end())
                fmt::print(stderr, "linecapctl: note: node {} is not in the fleet now{}\n", node,
                           session.late_join ? ": it starts the session when it joins" : "");
        const bool later = session.start_ns > linecap::utc_now_ns();
        const std::vector<json> rows = wait_for_nodes(etcd, session.id, targeted, a.wait_s, [&](const json& r) {
            return text(r, "status") != (later ? "" : "waiting");
        });
        size_t started = 0;
        std::vector<std::string> missing;
        for (const std::string& node : targeted) {
            const auto r = std::find_if(rows.begin(), rows.end(), [&](const json& j) { return text(j, "node") == node; });
            if (r != rows.end() && (text(*r, "status") == "running" || (later && text(*r, "status") == "waiting")))
                started++;
            else
                missing.push_back(node);
        }
        if (as_json) {
            fmt::print("{}\n", json_text(json{{"ok", missing.empty()}, {"id", session.id}, {"nodes", rows}}));
        } else {
            fmt::print("fleet session {} {} on {} of {} nodes{}\n", session.id, later ? "scheduled" : "started",
                       started, targeted.size(),
                       targeted.empty() ? " (no node of the fleet is targeted now)" : "");
            for (const std::string& node : missing) {
                const auto r = std::find_if(rows.begin(), rows.end(), [&](const json& j) { return text(j, "node") == node; });
                fmt::print(stderr, "linecapctl: node {}: {}\n", node,
                           r == rows.end() ? fmt::format("no word within {} s", a.wait_s)
                                           : text(*r, "status") + (text(*r, "error").empty() ? "" : ": " + text(*r, "error")));
            }
        }
        return missing.empty() ? ok : refused;
    }

    // show, stop and rm name one (rm also what a broken rm left: who ran it).
    const auto found = view.sessions.find(a.id);
    if (a.rm->parsed() && (found != view.sessions.end() || has_members(etcd, a.id)))
        return run_fleet_rm(etcd, a.id);
    if (found == view.sessions.end()) {
        fmt::print(stderr, "linecapctl: fleet {}: no fleet session {} (linecapctl fleet ls lists them)\n",
                   a.show->parsed() ? "show" : a.rm->parsed() ? "rm" : "stop", a.id);
        return refused;
    }
    if (a.show->parsed()) {
        const json shown = *linecap::fleet_show(view, a.id);
        if (as_json) {
            json reply{{"ok", true}};
            reply.update(shown);
            fmt::print("{}\n", json_text(reply));
            return ok;
        }
        const json& row = shown["session"];
        fmt::print("fleet session {} ({}): {}, created {}{}{}\nspec: {}\n\n", a.id, text(row, "name"), text(row, "status"),
                   short_time(row["created"]),
                   text(row, "start").empty() ? "" : ", from " + short_time(row["start"]),
                   text(row, "end").empty() ? "" : ", until " + short_time(row["end"]),
                   json_text(shown["spec"]));
        print_fleet_nodes_status(shown["nodes"]);
        return ok;
    }
    // stop: the key says so, and each node stops its own.
    linecap::fleet_session s;
    if (std::string e = linecap::parse_fleet_session(found->second, s); !e.empty()) {
        fmt::print(stderr, "linecapctl: fleet stop: {} in etcd: {}\n", linecap::fleet_session_key(a.id), e);
        return refused;
    }
    s.stopped = true;
    // Over the value read only: a key deleted or changed meanwhile is not
    // brought back or overwritten.
    std::optional<linecap::etcd_kv> current;
    bool replaced = false;
    std::string e = etcd.get(linecap::fleet_session_key(a.id), current);
    if (e.empty() && current)
        e = etcd.replace(linecap::fleet_session_key(a.id), json_text(linecap::fleet_session_json(s)), current->mod_revision,
                         replaced);
    if (!e.empty()) {
        print_error("linecapctl", e);
        return unreachable;
    }
    if (!replaced) {
        fmt::print(stderr, "linecapctl: fleet stop: fleet session {} changed or was deleted meanwhile: run it again\n",
                   a.id);
        return refused;
    }
    std::vector<std::string> running;
    for (const json& r : view.status[a.id])
        if (text(r, "status") == "running")
            running.push_back(text(r, "node"));
    const std::vector<json> rows =
        wait_for_nodes(etcd, a.id, running, a.wait_s, [](const json& r) { return text(r, "status") != "running"; });
    std::vector<std::string> still;
    for (const json& r : rows)
        if (text(r, "status") == "running")
            still.push_back(text(r, "node"));
    if (as_json) {
        fmt::print("{}\n", json_text(json{{"ok", still.empty()}, {"session", linecap::fleet_row(a.id, found->second, rows)}, {"nodes", rows}}));
    } else {
        const json row = linecap::fleet_row(a.id, found->second, rows);
        fmt::print("fleet session {} stopped on {}: {} written ({}), {} dropped\n", a.id,
                   count_of(running.size(), "node", "nodes"),
                   count_of(number(row, "packets"), "packet", "packets"), human_bytes(number(row, "bytes")),
                   number(row, "drops"));
        for (const std::string& node : still)
            fmt::print(stderr, "linecapctl: node {}: still running after {} s\n", node, a.wait_s);
    }
    return still.empty() ? ok : refused;
}

int main(int argc, char** argv)
{
    CLI::App app{"linecapctl: start, stop, list and inspect linecap capture sessions over the control socket.\n"
                 "The daemon runs as: linecap [EAL options] -- --control PATH --out-root DIR",
                 "linecapctl"};
    app.require_subcommand(1);
    // linecapctl's own options after the command too (`ls --json`), as
    // the refusals' option lookup takes them (core/command_line.h).
    app.fallthrough();
    app.set_version_flag("--version", std::string("linecapctl ") + LINECAP_VERSION);
    app.get_formatter()->column_width(30);
    std::string socket_path = getenv("LINECAP_SOCKET") ? getenv("LINECAP_SOCKET") : default_socket;
    bool as_json = false;
    double timeout_s = 60;
    app.add_option("--socket", socket_path, "The daemon's control socket (default $LINECAP_SOCKET or /run/linecap.sock)")
        ->type_name("PATH");
    app.add_flag("--json", as_json, "Print the daemon's replies as JSON, one per line");
    app.add_option("--timeout", timeout_s, "How long to wait for a reply: seconds, or 90s, 5m (default 60)")
        ->transform(CLI::Validator(
            [](std::string& text) -> std::string {
                const std::optional<double> s = linecap::parse_seconds(text);
                if (!s || *s < 0.1 || *s > 86400)
                    return fmt::format("{} is not a duration from 0.1 s to 1 day: give {}", text,
                                       linecap::seconds_forms);
                text = fmt::format("{}", *s);
                return {};
            },
            ""))
        ->type_name("TIME");

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
        ->type_name("S")
        ->check(CLI::Range(0.1, 3600.0));
    CLI::App* files = with_id("files", "A session's files with their sizes");
    CLI::App* merge = with_id("merge", "A session's files, running or ended, time-ordered in one file");
    CLI::App* snapshot = with_id("snapshot", "What a running session holds on disk now (or a time window of it) "
                                             "in one file; the capture goes on");
    CLI::App* query = with_id("query", "The packets of a session's files, running or ended, that a tcpdump "
                                       "expression selects, read through their indexes (docs/query.md)");
    std::vector<std::string> query_words;
    std::string query_inner, query_vni;
    query->add_option("--inner-host", query_inner,
                      "Only packets in a tunnel whose innermost packet has a source or destination address in "
                      "ADDR: an address, a prefix (10.4.2.0/24) or a range (10.4.2.1-10.4.2.9)")
        ->type_name("ADDR");
    query->add_option("--vni", query_vni, "Only packets whose outermost tunnel has this id (VNI, GRE key, ERSPAN "
                                          "session id)")
        ->type_name("N");
    query->add_option("expression", query_words, "The tcpdump expression, as the last words (as tcpdump takes it)")
        ->type_name("EXPRESSION");
    std::string merge_out, since, until, merge_format;
    bool force = false;
    for (CLI::App* sub : {merge, snapshot, query}) {
        sub->add_option("-o,--out,--output", merge_out, "The file to write (required); - for standard output")
            ->type_name("FILE");
        sub->add_flag("--force", force, "Replace FILE if it exists");
        sub->add_option("--since", since, "Only packets from this UTC time on: 2026-11-29T18:53:45Z, "
                                          "\"2026-11-29 18:53:45\" (as ls prints it), -5m or \"5m ago\" (5 minutes ago)")
            ->type_name("TIME");
        sub->add_option("--until", until, "Only packets up to this UTC time (the same forms)")->type_name("TIME");
        sub->add_option("--format", merge_format, "pcap, pcap-ns or pcapng (default: the session's)")
            ->type_name("FORMAT");
    }
    CLI::App* rm = with_id("rm", "Delete an ended session and its files");
    rm->alias("delete");
    CLI::App* watch = with_id("watch", "One line per packet of a running session (rate-limited)");
    CLI::App* shutdown = app.add_subcommand("shutdown", "Stop every session and the daemon");

    // The fleet's commands talk to etcd, not to a daemon's socket.
    std::string etcd_urls = getenv("LINECAP_ETCD") ? getenv("LINECAP_ETCD") : "";
    app.add_option("--etcd", etcd_urls, "The fleet's etcd for `fleet` commands (docs/fleet.md): http://HOST:2379"
                                        "[,URL...] (default $LINECAP_ETCD)")
        ->type_name("URLS");
    fleet_arguments fa;
    // etcd's TLS and users, named as etcdctl names them.
    app.add_option("--etcd-cacert", fa.etcd.cacert, "The CA that signed etcd's certificate, for https:// etcd URLs "
                                                    "(PEM; default: the system's)")
        ->type_name("FILE");
    app.add_option("--etcd-cert", fa.etcd.cert, "A client certificate for an etcd run with --client-cert-auth (PEM)")
        ->type_name("FILE");
    app.add_option("--etcd-key", fa.etcd.key, "The key of --etcd-cert (PEM)")->type_name("FILE");
    app.add_option("--etcd-user", fa.etcd.user, "etcd's user, when etcd's auth is enabled (with --etcd-password-file)")
        ->type_name("NAME");
    app.add_option("--etcd-password-file", fa.etcd.password_file, "A file whose first line is --etcd-user's password")
        ->type_name("FILE");
    CLI::App* fleet = app.add_subcommand("fleet", "The fleet of linecap daemons coordinated through etcd "
                                                  "(docs/fleet.md): fleet nodes, start, ls, show, stop, merge, rm");
    fleet->require_subcommand(1);
    fa.nodes = fleet->add_subcommand("nodes", "The fleet's nodes: name, URL, status, clock");
    CLI::App* fleet_start = fleet->add_subcommand(
        "start", "Start a session on every node of the fleet (or --nodes): a spec file, options and/or an expression, "
                 "as start takes them");
    fa.start = fleet_start;
    fleet_start->add_option("-F,--filter-file", fa.spec_file, "A session spec in JSON (docs/filters.md)")->type_name("FILE");
    fleet_start->add_option("expression", fa.expression, "A tcpdump filter expression as the last words")
        ->type_name("EXPR");
    fleet_start->add_option("--nodes", fa.targets, "Only these nodes (default: every node)")
        ->delimiter(',')
        ->type_name("NAME,...");
    fleet_start->add_option("--id", fa.id, "The fleet session's id (default: NAME-<UTC time>); refused if it exists")
        ->type_name("ID");
    fleet_start->add_option("--start", fa.start_time, "Start at this UTC time (2026-11-30T03:10:00Z), not at once")
        ->type_name("TIME");
    fleet_start->add_option("--end", fa.end_time, "End at this UTC time on every node")->type_name("TIME");
    fleet_start->add_flag("--late-join", fa.late_join, "Nodes that join the fleet while it runs start it too");
    fleet_start->add_option("--wait", fa.wait_s, "Seconds to wait for the nodes to say they run it (default 5)")
        ->check(CLI::Range(0.0, 600.0))
        ->type_name("S");
    fa.session.add_to(*fleet_start, "Session (as linecapctl start takes it; docs/filters.md)");
    fa.ls = fleet->add_subcommand("ls", "The fleet sessions: nodes running, finished and failed, counters summed");
    CLI::App* fleet_show = fleet->add_subcommand("show", "A fleet session's spec and each node's status of it");
    fa.show = fleet_show;
    CLI::App* fleet_stop = fleet->add_subcommand("stop", "Stop a fleet session on every node");
    fa.stop = fleet_stop;
    CLI::App* fleet_merge = fleet->add_subcommand(
        "merge", "Every node's files of a fleet session, fetched over its HTTP API, merged in time order into one "
                 "file (pcapng: one interface per node and port, named node:port)");
    fa.merge = fleet_merge;
    fleet_merge->add_option("-o,--out,--output", fa.output, "The file to write (required); - for standard output")
        ->required()
        ->type_name("FILE");
    fleet_merge->add_flag("--force", fa.force, "Replace FILE if it exists");
    fleet_merge->add_option("--format", fa.format, "pcapng (default), pcap or pcap-ns (no interfaces, no comment)")
        ->type_name("FORMAT");
    fleet_merge->add_option("--since", fa.since, "Only packets from this UTC time on (2026-11-30T03:10:00Z, -5m or \"5m ago\")")
        ->type_name("TIME");
    fleet_merge->add_option("--until", fa.until, "Only packets up to this UTC time (the same forms)")->type_name("TIME");
    fleet_merge->add_option("--token-file", fa.token_file,
                            "The nodes' HTTP bearer token, as their --http-token-file (default $LINECAP_HTTP_TOKEN_FILE)")
        ->envname("LINECAP_HTTP_TOKEN_FILE")
        ->type_name("FILE");
    fleet_merge->add_option("--ca", fa.ca_file, "https nodes: the CA certificate that signed theirs (PEM)")
        ->type_name("FILE");
    fleet_merge->add_option("--cert", fa.cert_file, "A client certificate (PEM), for nodes with --http-client-ca")
        ->type_name("FILE");
    fleet_merge->add_option("--key", fa.key_file, "The client certificate's key (PEM)")->type_name("FILE");
    CLI::App* fleet_rm = fleet->add_subcommand("rm", "Remove an ended fleet session from etcd (the nodes keep their files)");
    fa.rm = fleet_rm;
    for (CLI::App* sub : {fleet_show, fleet_stop, fleet_merge, fleet_rm})
        sub->add_option("id", fa.id, "The fleet session's id (fleet ls)")->required()->type_name("ID");
    fleet_stop->add_option("--wait", fa.wait_s, "Seconds to wait for the nodes to stop it (default 5)")
        ->check(CLI::Range(0.0, 600.0))
        ->type_name("S");

    try {
        linecap::parse_command_line(app, argc, argv);
    } catch (const CLI::Success& e) {
        app.exit(e);   // --help, --version
        return ok;
    } catch (const CLI::ParseError& e) {
        // One line, as the one-shot says it, with where to look.
        const CLI::App* at = linecap::subcommand_at(app, argc, argv);
        const std::string where = linecap::subcommand_path(at) + " --help";
        if (std::string said = oneshot_option_refusal(e, where); !said.empty()) {
            print_error("linecapctl", said);
            return usage;
        }
        print_error("linecapctl", linecap::parse_error_text(e, at));
        fmt::print(stderr, "Run '{}' for the options.\n", where);
        return usage;
    }

    if (fleet->parsed())
        return run_fleet(etcd_urls, as_json, fa);

    // A start's spec is built before connecting: a bad option costs no round trip.
    nlohmann::json spec;
    if (start->parsed()) {
        if (std::string e = build_spec(session, expression, start->count("--bpf") > 0, spec_file, spec); !e.empty()) {
            print_error("linecapctl", "start: " + e);
            return usage;
        }
        // The socket takes requests of up to 64 KiB: a larger one is refused
        // here, with its size and the HTTP API's words for a body too large
        // (the daemon's own refusal can say neither the size nor the spec).
        if (const size_t bytes = json_text(json{{"cmd", "start"}, {"spec", spec}}).size(); bytes > linecap::max_request_bytes) {
            fmt::print(stderr, "linecapctl: start: {}\n",
                       linecap::request_too_large("the request with its session spec", bytes));
            return usage;
        }
    }

    const auto report = [&](const json& reply) {
        if (as_json)   // with merge -o -, standard output is the capture
            fmt::print(merge_out == "-" ? stderr : stdout, "{}\n", json_text(reply));
        if (!reply.value("ok", false)) {
            const std::string error = reply.value("error", std::string("the daemon said no"));
            print_error("linecapctl", start->parsed() ? explain_refusal(error, session) : error);
            return false;
        }
        return true;
    };

    // merge's output is opened before connecting, as the user: a name
    // taken or a folder not writable costs no round trip.
    merge_output output;
    json merge_request;
    CLI::App* merging = merge->parsed() ? merge : snapshot->parsed() ? snapshot : query->parsed() ? query : nullptr;
    if (merging != nullptr) {
        const std::string command = merging->get_name();
        try {
            if (merge_out.empty() && merging->get_option("--output")->count() > 0)
                throw std::invalid_argument(fmt::format("{}: -o: empty: give the file to write, e.g. -o capture.pcap "
                                                        "(or -o - for standard output)",
                                                        command));
            if (merge_out.empty())
                throw std::invalid_argument(fmt::format("{}: -o FILE is required: where to write the capture, e.g. "
                                                        "linecapctl {} {} -o capture.pcap (or -o - | tshark -r -)",
                                                        command, command, id));
            merge_request = {{"cmd", query->parsed() ? "query" : "merge"}, {"id", id}, {"output", merge_out},
                             {"force", force}};
            // A file or folder first, as `linecap query` takes them: the
            // daemon queries the session's own files.
            if (struct stat st{}; query->parsed() && !query_words.empty() &&
                                  query_words.front().find('/') != std::string::npos &&
                                  lstat(query_words.front().c_str(), &st) == 0)
                throw std::invalid_argument(fmt::format("query: {} is a file or folder: linecapctl query {} reads the "
                                                        "session's own files; leave it out (linecap query -o OUT "
                                                        "FILE|DIR... EXPRESSION reads files you name)",
                                                        query_words.front(), id));
            if (query->parsed() && !query_words.empty())   // checked by the daemon, which compiles it
                merge_request["filter"] = fmt::format("{}", fmt::join(query_words, " "));
            // The window, format and tunnel terms, checked here as `linecap
            // query` checks them (core/query_fields.h: the daemon checks
            // again, in the same words): a mistake costs no round trip and
            // is named by its option. Given empty is a mistake, not left out.
            const auto given = [&](const char* option, const std::string& text) {
                const CLI::Option* o = merging->get_option_no_throw(option);
                return o != nullptr && o->count() > 0 ? std::optional<std::string>(text) : std::nullopt;
            };
            linecap::query_fields fields;
            if (std::string e = linecap::parse_query_fields(
                    {.since = given("--since", since),
                     .until = given("--until", until),
                     .format = given("--format", merge_format),
                     .inner_host = given("--inner-host", query_inner),
                     .vni = given("--vni", query_vni)},
                    linecap::field_spelling::option, linecap::utc_now_ns(), fields);
                !e.empty())
                throw std::invalid_argument(fmt::format("{}: {}", command, e));
            // Times as the daemon takes them (ISO 8601): a relative time is
            // the user's now, not the daemon's.
            if (given("--since", since))
                merge_request["since"] = linecap::utc_iso8601(fields.since_ns);
            if (given("--until", until))
                merge_request["until"] = linecap::utc_iso8601(fields.until_ns);
            if (fields.format)
                merge_request["format"] = merge_format;
            if (fields.inner_host)
                merge_request["inner_host"] = query_inner;
            if (fields.vni)
                merge_request["vni"] = *fields.vni;
        } catch (const std::invalid_argument& e) {
            print_error("linecapctl", e.what());
            return usage;
        }
        try {
            output = open_merge_output(command, merge_out, force);
        } catch (const std::invalid_argument& e) {
            print_error("linecapctl", e.what());
            return refused;
        }
    }
    // A file made for a merge that wrote nothing into it goes again.
    const auto discard_output = [&] {
        struct stat st{};
        if (output.created && fstat(output.fd, &st) == 0 && st.st_size == 0)
            unlink(merge_out.c_str());
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
                fmt::print("session {} {}: {}, {} written ({})\n", text(reply, "id"), text(reply, "status"), text(reply, "reason"),
                           count_of(number(reply["counters"], "written_packets"), "packet", "packets"),
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
            if (!as_json) {
                size_t width = 0;
                for (const json& f : reply["files"])
                    width = std::max(width, std::to_string(number(f, "bytes")).size());
                for (const json& f : reply["files"])
                    fmt::print("{:>{}}  {}\n", number(f, "bytes"), width, text(f, "path"));
            }
        } else if (merging != nullptr) {
            conn.set_timeout(0);   // a merge of gigabytes takes what it takes
            json reply = conn.call(merge_request, output.fd);
            // A snapshot is a merge to the daemon: its refusals in the
            // words this command's own take ("snapshot: FILE: ...").
            if (snapshot->parsed() && reply.contains("error") && reply["error"].is_string() &&
                reply["error"].get<std::string>().starts_with("merge: "))
                reply["error"] = "snapshot: " + reply["error"].get<std::string>().substr(7);
            if (!report(reply)) {
                discard_output();
                return refused;
            }
            if (!as_json) {
                for (const json& note : reply["notes"])
                    print_error("linecapctl", "note: " + note.get<std::string>());
                // With -o -, standard output is the capture: the summary goes to stderr.
                const std::string into = merge_out == "-" ? "standard output" : merge_out;
                if (query->parsed())   // as `linecap query` says it
                    fmt::print(merge_out == "-" ? stderr : stdout, "{}\n",
                               linecap::query_summary(number(reply, "packets"), number(reply, "files"), merge_out,
                                                      number(reply, "bytes_read"), number(reply, "capture_bytes"),
                                                      number(reply, "chunks_read"), number(reply, "chunks")));
                else
                    fmt::print(merge_out == "-" ? stderr : stdout, "{} from {} merged into {}\n",
                               count_of(number(reply, "packets"), "packet", "packets"),
                               count_of(number(reply, "files"), "file", "files"), into);
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
                    fmt::print("{}\n", json_text(line));
                else if (line.contains("packet"))
                    fmt::print("{}\n", text(line, "packet"));
                else if (text(line, "event") == "note")
                    print_error("linecapctl", "note: " + std::string(text(line, "note")));
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
        print_error("linecapctl", e.what());
        discard_output();
        return unreachable;
    }
    return ok;
}
