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
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

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
        if (_fd < 0 || connect(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
            throw connection_error(fmt::format("cannot reach linecap at {}: {} (is the daemon running with "
                                               "--control {}? is --socket right?)",
                                               path, std::strerror(errno), path));
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

void print_show(const json& s)
{
    fmt::print("session {} ({})\n", text(s, "id"), text(s, "name"));
    fmt::print("  status   {}{}\n", text(s, "status"), text(s, "reason").empty() ? "" : ": " + text(s, "reason"));
    if (!text(s, "error").empty())
        fmt::print("  error    {}\n", text(s, "error"));
    if (!text(s, "note").empty())
        fmt::print("  note     {}\n", text(s, "note"));
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

// What `start` builds from its options: one rule per combination of
// --host/--port expansions (either direction), as tcpdump's "host" and
// "port" mean.
struct start_options {
    std::string spec_file;
    std::string name;
    std::vector<std::string> src, dst, host, protocols;
    std::vector<std::string> src_ports, dst_ports, ports;
    std::vector<std::string> flags_any, flags_all, flags_none;
    bool bidirectional = false;
    std::string bpf, format;
    std::optional<uint64_t> snaplen, count, max_bytes, rotate_mb, rotate_seconds, rotate_packets, keep;
    std::optional<double> duration;
    // Mirror collector mode (docs/mirror.md).
    std::string tunnel, decap;
    std::vector<std::string> vni, vxlan_ports, geneve_ports;
};

// Ports and protocols: numbers as numbers, anything else ("1000-2000",
// "tcp") as strings; the daemon checks them all.
json numbers_or_words(const std::vector<std::string>& values)
{
    json list = json::array();
    for (const std::string& v : values) {
        if (!v.empty() && v.size() < 10 && v.find_first_not_of("0123456789") == std::string::npos)
            list.push_back(std::stoul(v));
        else
            list.push_back(v);
    }
    return list;
}

json build_spec(const start_options& o)
{
    json spec = json::object();
    if (!o.spec_file.empty()) {
        std::ifstream in(o.spec_file);
        if (!in)
            throw std::invalid_argument(fmt::format("{}: cannot read it: {}", o.spec_file, std::strerror(errno)));
        std::stringstream buffer;
        buffer << in.rdbuf();
        spec = json::parse(buffer.str(), nullptr, false);
        if (spec.is_discarded() || !spec.is_object())
            throw std::invalid_argument(fmt::format("{}: not a JSON object (a session spec, docs/filters.md)",
                                                    o.spec_file));
    }
    const bool rule_options = !o.src.empty() || !o.dst.empty() || !o.host.empty() || !o.protocols.empty() ||
                              !o.src_ports.empty() || !o.dst_ports.empty() || !o.ports.empty() ||
                              !o.flags_any.empty() || !o.flags_all.empty() || !o.flags_none.empty() ||
                              o.bidirectional;
    if (rule_options) {
        if (spec.contains("match"))
            throw std::invalid_argument(
                "the spec file has a \"match\" already: give the rule either there or with options");
        json base = json::object();
        if (!o.src.empty()) base["src"] = o.src;
        if (!o.dst.empty()) base["dst"] = o.dst;
        if (!o.src_ports.empty()) base["src_ports"] = numbers_or_words(o.src_ports);
        if (!o.dst_ports.empty()) base["dst_ports"] = numbers_or_words(o.dst_ports);
        if (!o.protocols.empty()) base["protocols"] = numbers_or_words(o.protocols);
        if (!o.flags_any.empty() || !o.flags_all.empty() || !o.flags_none.empty()) {
            json flags = json::object();
            if (!o.flags_any.empty()) flags["any"] = o.flags_any;
            if (!o.flags_all.empty()) flags["all"] = o.flags_all;
            if (!o.flags_none.empty()) flags["none"] = o.flags_none;
            base["tcp_flags"] = flags;
        }
        if (o.bidirectional) base["bidirectional"] = true;
        std::vector<json> rules{base};
        const auto either_way = [&](const std::vector<std::string>& values, const char* src_key,
                                    const char* dst_key, const json& encoded) {
            if (values.empty())
                return;
            std::vector<json> expanded;
            for (const json& r : rules) {
                if (r.contains(src_key) || r.contains(dst_key))
                    throw std::invalid_argument(fmt::format("--host/--port cannot be combined with the {}/{} "
                                                            "they stand for", src_key, dst_key));
                json a = r, b = r;
                a[src_key] = encoded;
                b[dst_key] = encoded;
                expanded.push_back(a);
                expanded.push_back(b);
            }
            rules = expanded;
        };
        either_way(o.host, "src", "dst", json(o.host));
        either_way(o.ports, "src_ports", "dst_ports", numbers_or_words(o.ports));
        spec["match"] = rules;
    }
    if (!o.name.empty()) spec["name"] = o.name;
    if (!o.tunnel.empty()) spec["tunnel"] = o.tunnel;
    if (!o.vni.empty()) spec["vni"] = numbers_or_words(o.vni);
    if (!o.decap.empty()) spec["decap"] = o.decap == "ip" ? json("ip") : json(true);
    if (!o.vxlan_ports.empty()) spec["vxlan_ports"] = numbers_or_words(o.vxlan_ports);
    if (!o.geneve_ports.empty()) spec["geneve_ports"] = numbers_or_words(o.geneve_ports);
    if (!o.bpf.empty()) spec["bpf"] = o.bpf;
    if (!o.format.empty()) spec["format"] = o.format;
    if (o.snaplen) spec["snaplen"] = *o.snaplen;
    if (o.count || o.max_bytes || o.duration) {
        json& limits = spec["limits"];
        if (o.count) limits["packets"] = *o.count;
        if (o.max_bytes) limits["bytes"] = *o.max_bytes;
        if (o.duration) limits["seconds"] = *o.duration;
    }
    if (o.rotate_mb || o.rotate_seconds || o.rotate_packets || o.keep) {
        json& rotate = spec["rotate"];
        if (o.rotate_mb) rotate["bytes"] = *o.rotate_mb * 1000000;
        if (o.rotate_seconds) rotate["seconds"] = *o.rotate_seconds;
        if (o.rotate_packets) rotate["packets"] = *o.rotate_packets;
        if (o.keep) rotate["keep"] = *o.keep;
    }
    return spec;
}

volatile std::sig_atomic_t interrupted = 0;

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"linecapctl: start, stop, list and inspect linecap capture sessions over the control socket.\n"
                 "The daemon runs as: linecap [EAL options] -- --control PATH --out-root DIR",
                 "linecapctl"};
    app.require_subcommand(1);
    app.get_formatter()->column_width(30);
    std::string socket_path = getenv("LINECAP_SOCKET") ? getenv("LINECAP_SOCKET") : default_socket;
    bool as_json = false;
    double timeout_s = 60;
    app.add_option("--socket", socket_path, "The daemon's control socket (default $LINECAP_SOCKET or /run/linecap.sock)")
        ->type_name("PATH");
    app.add_flag("--json", as_json, "Print the daemon's replies as JSON, one per line");
    app.add_option("--timeout", timeout_s, "Seconds to wait for a reply (default 60)")
        ->check(CLI::Range(0.1, 86400.0));

    start_options so;
    CLI::App* start = app.add_subcommand("start", "Start a session from a spec file and/or options");
    start->add_option("spec", so.spec_file, "A session spec in JSON (docs/filters.md)")->type_name("FILE");
    start->add_option("--name", so.name, "Session name: [A-Za-z0-9._-]{1,64}");
    start->add_option("--src", so.src, "Source address, prefix or range (repeatable)");
    start->add_option("--dst", so.dst, "Destination address, prefix or range (repeatable)");
    start->add_option("--host", so.host, "Either address (as tcpdump's host)");
    start->add_option("--src-port", so.src_ports, "Source port or range A-B");
    start->add_option("--dst-port", so.dst_ports, "Destination port or range A-B");
    start->add_option("--port", so.ports, "Either port (as tcpdump's port)");
    start->add_option("--proto", so.protocols, "tcp, udp, icmp, icmpv6, sctp, gre, esp, ah or a number");
    start->add_option("--tcp-flags", so.flags_any, "Any of these TCP flags set, e.g. syn,fin,rst")->delimiter(',');
    start->add_option("--tcp-flags-all", so.flags_all, "All of these TCP flags set")->delimiter(',');
    start->add_option("--tcp-flags-none", so.flags_none, "None of these TCP flags set, e.g. ack")->delimiter(',');
    start->add_flag("--bidirectional", so.bidirectional, "Also match with source and destination swapped");
    start->add_option("--bpf", so.bpf, "A tcpdump filter expression, ANDed with the rules");
    start->add_option("-s,--snaplen", so.snaplen, "Bytes kept of each packet (0: all)");
    start->add_option("-c,--count", so.count, "Stop after N packets");
    start->add_option("--duration", so.duration, "Stop after S seconds");
    start->add_option("--max-bytes", so.max_bytes, "Stop before the files pass N bytes");
    start->add_option("--format", so.format, "pcap, pcap-ns (default) or pcapng");
    start->add_option("-C,--rotate-mb", so.rotate_mb, "New file every N MB (10^6 bytes)");
    start->add_option("-G,--rotate-seconds", so.rotate_seconds, "New file every S seconds (aligned windows)");
    start->add_option("--rotate-packets", so.rotate_packets, "New file every N packets");
    start->add_option("-W,--keep", so.keep, "Keep the last N closed files per writer");
    start->add_option("--tunnel", so.tunnel, "inner: the rules apply to the packet inside VXLAN, GENEVE, GRE, "
                                             "ERSPAN, IP-in-IP (docs/mirror.md); outer (default)")
        ->check(CLI::IsMember({"inner", "outer"}));
    start->add_option("--vni", so.vni, "Tunnel id or range A-B: VNI, GRE key, ERSPAN session id (repeatable)");
    start->add_option("--decap", so.decap, "Write the inner packet: frame (inner Ethernet frames) or ip "
                                           "(inner IP packets, raw IP link type)")
        ->check(CLI::IsMember({"frame", "ip"}));
    start->add_option("--vxlan-port", so.vxlan_ports, "UDP port carrying VXLAN (repeatable; default 4789)");
    start->add_option("--geneve-port", so.geneve_ports, "UDP port carrying GENEVE (repeatable; default 6081)");

    std::string id;
    auto with_id = [&](const char* name, const char* help) {
        CLI::App* sub = app.add_subcommand(name, help);
        sub->add_option("id", id, "Session id (linecapctl ls)")->required();
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

    const auto report = [&](const json& reply) {
        if (as_json)
            fmt::print("{}\n", reply.dump());
        if (!reply.value("ok", false)) {
            fmt::print(stderr, "linecapctl: {}\n", reply.value("error", std::string("the daemon said no")));
            return false;
        }
        return true;
    };

    try {
        connection conn(socket_path, timeout_s);
        if (start->parsed()) {
            json spec;
            try {
                spec = build_spec(so);
            } catch (const std::invalid_argument& e) {
                fmt::print(stderr, "linecapctl: start: {}\n", e.what());
                return usage;
            }
            const json reply = conn.call({{"cmd", "start"}, {"spec", spec}});
            if (!report(reply))
                return refused;
            if (!as_json)
                fmt::print("started session {} (files in {})\n", text(reply, "id"), text(reply, "folder"));
        } else if (stop->parsed()) {
            const json reply = conn.call({{"cmd", "stop"}, {"id", id}});
            if (!report(reply))
                return refused;
            if (!as_json)
                fmt::print("session {} {}: {}, {} packets written ({})\n", id, text(reply, "status"),
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
            if (!report(conn.call({{"cmd", "watch"}, {"id", id}})))
                return refused;
            conn.set_timeout(0);   // as long as the session runs
            for (;;) {
                const json line = conn.read_line();
                if (as_json)
                    fmt::print("{}\n", line.dump());
                else if (line.contains("packet"))
                    fmt::print("{}\n", text(line, "packet"));
                else if (line.contains("event"))
                    fmt::print(stderr, "linecapctl: session {} ended: {}\n", id, text(line, "reason"));
                std::fflush(stdout);
                if (line.contains("event"))
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
