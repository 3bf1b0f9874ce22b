#include "control/options.h"

#include "control/http_api.h"
#include "control/http_tls.h"
#include "control/session_options.h"
#include "core/command_line.h"
#include "core/error_text.h"
#include "core/human_units.h"
#include "core/log.h"
#include "core/shell_word.h"
#include "filters/classifier.h"
#include "fleet/etcd.h"
#include "fleet/node.h"

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <memory>
#include <net/if.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace linecap {

namespace {

// A node's credentials for its etcd (fleet/etcd.h), named as etcdctl's
// options: defined, listed as daemon options and as a fleet node's, from
// this one table.
struct etcd_credential_option {
    const char* name;
    std::string etcd_credential_options::*field;
    const char* type;
    const char* help;
};
constexpr etcd_credential_option etcd_credential_table[] = {
    {"--fleet-etcd-cacert", &etcd_credential_options::cacert, "FILE",
     "The CA that signed etcd's certificate, for https:// etcd URLs (PEM; default: the system's)"},
    {"--fleet-etcd-cert", &etcd_credential_options::cert, "FILE",
     "This node's client certificate, for an etcd run with --client-cert-auth (PEM)"},
    {"--fleet-etcd-key", &etcd_credential_options::key, "FILE", "The key of --fleet-etcd-cert (PEM)"},
    {"--fleet-etcd-user", &etcd_credential_options::user, "NAME",
     "etcd's user for this node, when etcd's auth is enabled (with --fleet-etcd-password-file)"},
    {"--fleet-etcd-password-file", &etcd_credential_options::password_file, "FILE",
     "A file whose first line is --fleet-etcd-user's password (etcd's auth)"},
};

const char* usage_intro =
    "linecap: capture packets from DPDK ports into pcap files.\n";

// CLI11's usage line would say "linecap [OPTIONS] [expression]", below the
// description: this one says where EAL's options go, and names merge,
// index and query.
class linecap_formatter : public CLI::Formatter {
public:
    std::string make_usage(const CLI::App*, std::string) const override
    {
        return "Usage: linecap [EAL options] -- [linecap options] [expression]\n"
               "       linecap merge [-o FILE] FILE|DIR...   one time-ordered file from a capture's files "
               "(linecap merge --help)\n"
               "       linecap index FILE|DIR...             an index beside each capture file (FILE.idx)\n"
               "       linecap query -o FILE FILE|DIR... [expression]   what the expression selects, read "
               "through the indexes (linecap query --help)\n\n"
               "EAL options choose the lcores and the ports, e.g.\n"
               "  -l 0-3 -a 0000:3b:00.0                            a NIC bound to vfio-pci\n"
               "  --no-huge -m 512 --no-pci                         no hugepages needed\n"
               "  --vdev net_pcap0,rx_pcap=in.pcap                  replay a capture file\n"
               "or capture an interface, or read a capture file, as tcpdump -i and -r do:\n"
               "  linecap --no-huge -m 512 -- -i eth0 -w out.pcap [expression]\n"
               "  linecap -l 0-1 --no-huge -m 512 -- -r in.pcap -w out [expression]\n";
    }
};

// One validator per kind of value, so every option says the same thing the
// same way: what it got and what it wants.
CLI::Validator whole_number(uint64_t min, uint64_t max = UINT64_MAX)
{
    const std::string range = max == UINT64_MAX ? fmt::format("{} or more", min)
                                                : fmt::format("from {} to {}", min, max);
    return CLI::Validator(
        [min, max, range](std::string& text) -> std::string {
            uint64_t value = 0;
            const char* end = text.data() + text.size();
            const auto [ptr, ec] = std::from_chars(text.data(), end, value);
            if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max)
                return fmt::format("{} is not a whole number {}", text, range);
            return {};
        },
        "");
}

// A duration (core/human_units.h: "90", "1.5", "5m"), handed on as seconds.
CLI::Validator seconds()
{
    return CLI::Validator(
        [](std::string& text) -> std::string {
            const std::optional<double> value = parse_seconds(text);
            if (std::string e = duration_problem(text, value); !e.empty())
                return e;
            text = fmt::format("{}", *value);
            return {};
        },
        "");
}

// --idle-mode's words (engine/config.h).
CLI::Validator idle_mode_word()
{
    return CLI::Validator(
        [](std::string& text) -> std::string {
            if (!parse_idle_mode(text))
                return fmt::format("{} is not an idle mode: give poll, pause, monitor or sleep", text);
            return {};
        },
        "");
}

// The words of a command line, bound to CLI11 by define_options.
struct command_line {
    explicit command_line(engine_options& options) : o(options) {}
    engine_options& o;
    std::vector<std::string> expression;
    std::string out;                 // -w: a folder, or FILE.pcap(ng): a file prefix
    session_arguments session;
    bool buffered = false;
    bool no_promisc = false;
    std::string idle = std::string(idle_mode_name(engine_config{}.idle));
    bool bpf_jit = false;            // --bpf-jit: accepted for old command lines; the checked JIT is the default
};

void define_options(CLI::App& app, command_line& c)
{
    engine_options& o = c.o;
    app.set_version_flag("--version", std::string("linecap ") + LINECAP_VERSION);
    auto formatter = std::make_shared<linecap_formatter>();
    formatter->column_width(34);
    app.formatter(formatter);

    app.add_option("-r,--read", o.read_files,
                   "Read packets from a capture file (pcap or pcapng; - for standard input) instead of "
                   "ports, and stop at its end; given again, files are read one after the other")
        ->allow_extra_args(false)
        ->type_name("FILE");
    app.add_option("-w,--out", c.out,
                   "Folder for the capture files (created if missing), or FILE.pcap / FILE.pcapng: the files "
                   "go beside it, named FILE-w0-000001-<UTC>.pcap; required without --control")
        ->type_name("DIR|FILE");
    app.add_option("-i,--interface", o.interfaces,
                   "Capture this kernel interface, as tcpdump -i does: EAL gets --vdev "
                   "net_af_packet<N>,iface=IFACE; repeatable")
        ->allow_extra_args(false)
        ->type_name("IFACE");
    app.add_option("-F,--filter-file", o.filter_file,
                   "Session spec in JSON: rules, bpf, payload, snaplen, format, limits, rotation "
                   "(docs/filters.md); the session options below are laid over it")
        ->type_name("FILE");
    app.add_option("expression", c.expression, "The tcpdump filter expression as the last words, as tcpdump takes "
                                               "it (or --bpf); one word ending in .json is read as -F FILE")
        ->type_name("EXPR");
    c.session.add_to(app, "Session (what to keep and how to write it; also in a -F spec, docs/filters.md)");
    app.add_option("--idle-exit", o.idle_exit_s,
                   "Stop once no port has received a packet for TIME (seconds, or 500ms, 1m; how a replay ends)")
        ->transform(seconds())
        ->type_name("TIME");
    app.add_option("--stats-json", o.stats_json, "Write the final counters to FILE as JSON")
        ->type_name("FILE");
    app.add_option("--stats-interval", o.stats_interval_s,
                   "Print live counters to stderr every TIME (seconds, or 1m)")
        ->transform(seconds())
        ->type_name("TIME");
    app.add_option("--workers", o.workers, "Worker lcores (default: all lcores but the writers')")
        ->check(whole_number(1, 128))
        ->type_name("N");
    app.add_option("--writers", o.writers, "Writer lcores (default: 1 per 4 lcores, at least 1)")
        ->check(whole_number(1, 64))
        ->type_name("N");
    app.add_option("--worker-lcores", o.worker_lcores, "Lcores for the workers, e.g. 1,2,3")
        ->delimiter(',')
        ->type_name("LIST");
    app.add_option("--writer-lcores", o.writer_lcores, "Lcores for the writers, e.g. 0,4")
        ->delimiter(',')
        ->type_name("LIST");
    auto* interpreter = app.add_flag("--bpf-interpreter", o.bpf_interpreter,
                                     "Run BPF in DPDK's interpreter for every packet, not in its x86-64 JIT (the "
                                     "default where linecap's check of the JIT's code passes: docs/filters.md)");
    app.add_flag("--bpf-jit", c.bpf_jit, "Accepted for older command lines: the checked JIT is the default")
        ->excludes(interpreter);
    app.add_flag("--buffered-io", c.buffered, "Write through the page cache, not with O_DIRECT");
    app.add_flag("--lossless", o.lossless,
                 "Wait for ring space instead of dropping, on every port (replays always do)");
    app.add_option("--idle-mode", c.idle,
                   "What workers do while no packet arrives: sleep (nap after a few µs of empty polls, "
                   "giving the CPU back), poll (busy-poll, 100% of a core), pause or monitor (DPDK's power "
                   "management: less power, but the core stays busy)")
        ->check(idle_mode_word())
        ->type_name("MODE")
        ->capture_default_str();
    app.add_option("--ring-size", o.ring_size, "Packets each worker's ring to its writer holds")
        ->check(whole_number(64, 1u << 20))
        ->type_name("N")
        ->capture_default_str();
    app.add_option("--rx-desc", o.rx_desc, "RX descriptors per queue")
        ->check(whole_number(64, 32768))
        ->type_name("N")
        ->capture_default_str();
    app.add_option("--burst", o.burst, "Packets per RX burst")
        ->check(whole_number(32, 512))
        ->type_name("N")
        ->capture_default_str();
    app.add_option("--mbufs", o.mbufs, "Mbufs per pool (default: sized from queues and rings)")
        ->check(whole_number(1024, 1u << 26))
        ->type_name("N");
    app.add_option("--mtu", o.mtu, "Set each port's MTU (jumbo frames use mbuf chains)")
        ->check(whole_number(68, 16000))
        ->type_name("N");
    app.add_flag("-p,--no-promiscuous-mode", c.no_promisc, "Do not put ports in promiscuous mode");

    const char* daemon_group = "Daemon (sessions started over a control socket, docs/control.md)";
    app.add_option("--control", o.control_socket, "Run as a daemon, listening on this Unix socket")
        ->group(daemon_group)
        ->type_name("PATH");
    app.add_option("--out-root", o.out_root, "Folder under which each session gets its own folder")
        ->group(daemon_group)
        ->type_name("DIR");
    app.add_option("--max-sessions", o.session_limit, "Sessions running at once (default 8)")
        ->group(daemon_group)
        ->check(whole_number(1, max_sessions))
        ->type_name("N");
    app.add_option("--control-group", o.control_group, "Group that may use the socket (mode 0660)")
        ->group(daemon_group)
        ->type_name("GROUP");
    app.add_option("--start", o.start_files,
                   "Start a session from this spec file before the first packet (repeatable)")
        ->group(daemon_group)
        ->type_name("SPEC");
    app.add_option("--read-rate", o.read_rate_mb,
                   "MB per second that a merge, query or download of a session's files reads at most, so the "
                   "writers keep the disk (default 256; 0: no limit)")
        ->group(daemon_group)
        ->check(CLI::Range(0.0, 1e6))
        ->type_name("MB/S");
    app.add_option("--http", o.http_listen,
                   "Serve the HTTP API (docs/http.md) on this address and port: 127.0.0.1:8080, [::1]:8080; "
                   "an address not loopback needs --http-token-file or --http-client-ca")
        ->group(daemon_group)
        ->type_name("ADDR:PORT");
    app.add_option("--http-token-file", o.http_token_file,
                   "The HTTP API's bearer token, read from this file (one line, 16 to 4096 printable characters)")
        ->group(daemon_group)
        ->type_name("FILE");
    app.add_option("--http-cert", o.http_cert, "Serve the HTTP API over HTTPS with this certificate (PEM; its chain "
                                               "after it), with --http-key")
        ->group(daemon_group)
        ->type_name("FILE");
    app.add_option("--http-key", o.http_key, "The --http-cert certificate's private key (PEM, unencrypted)")
        ->group(daemon_group)
        ->type_name("FILE");
    app.add_option("--http-client-ca", o.http_client_ca,
                   "HTTPS clients must present a certificate this CA signed (mutual TLS; PEM); counts as "
                   "authentication on an address not loopback")
        ->group(daemon_group)
        ->type_name("FILE");
    app.add_option("--fleet-etcd", o.fleet_etcd,
                   "Join a fleet coordinated by this etcd (docs/fleet.md): its client URLs, "
                   "http://127.0.0.1:2379[,URL...]; with --node and --http")
        ->group(daemon_group)
        ->type_name("URLS");
    for (const etcd_credential_option& c : etcd_credential_table)
        app.add_option(c.name, o.fleet_etcd_credentials.*c.field, c.help)->group(daemon_group)->type_name(c.type);
    app.add_option("--node", o.node_name, "This daemon's name in the fleet: letters, digits, '.', '_', '-'")
        ->group(daemon_group)
        ->type_name("NAME");
    app.add_option("--fleet-url", o.fleet_url,
                   "The URL other nodes and linecapctl reach this daemon's HTTP API at (default: from --http)")
        ->group(daemon_group)
        ->type_name("URL");
}

// -w FILE.pcap or FILE.pcapng, as tcpdump users write it: the files go in
// FILE's folder, named from its stem (the session name), in the suffix's
// format. Anything else, and an existing folder whatever its name, is the
// folder itself. Sets dir; returns an empty string, or what is wrong.
std::string apply_file_prefix(const std::string& out, bool name_given, nlohmann::json& spec, std::string& dir)
{
    dir = out;
    const std::filesystem::path path(out);
    const std::string suffix = path.extension().string();
    std::error_code ec;
    if ((suffix != ".pcap" && suffix != ".pcapng") || std::filesystem::is_directory(path, ec))
        return {};
    const std::string stem = path.stem().string();
    if (name_given)
        return fmt::format("-w {} names the files \"{}\" already: leave --name (and a -F spec's \"name\") out, "
                           "or give -w a folder (-w {} --name NAME)",
                           out, stem, path.parent_path().empty() ? "." : path.parent_path().string());
    if (std::string e = check_session_name(stem); !e.empty())
        return fmt::format("-w {}: the file name (without {}) starts every file's name: {}", out, suffix, e);
    const std::string asked = spec.contains("format") && spec["format"].is_string() ? spec["format"].get<std::string>()
                                                                                    : std::string();
    const bool pcapng = suffix == ".pcapng";
    if (!asked.empty() && (asked == "pcapng") != pcapng)
        return fmt::format("-w {} names a {} file, but the format asked for is {}: name it {}{}, or leave the "
                           "format out",
                           out, pcapng ? "pcapng" : "pcap", asked, (path.parent_path() / stem).string(),
                           pcapng ? ".pcap" : ".pcapng");
    if (pcapng)
        spec["format"] = "pcapng";
    spec["name"] = stem;
    dir = path.parent_path().empty() ? "." : path.parent_path().string();
    return {};
}

// A word before "--" that is an option of linecap's and not of EAL's; with
// `ambiguous` set, also -c, -r and -s, which EAL has too.
const CLI::Option* linecap_option(const CLI::App& app, const std::string& word, bool ambiguous)
{
    if (word.size() < 2 || word[0] != '-' || word == "--")
        return nullptr;
    if (word[1] == '-') {
        const std::string name = word.substr(0, word.find('='));
        if (name == "--help" || name == "--version")
            return nullptr;   // EAL's too
        return app.get_option_no_throw(name);
    }
    if (word.size() != 2)
        return nullptr;
    constexpr std::string_view eal_short = "abcsdhlSmnrv";   // DPDK 22.11's EAL
    if (eal_short.find(word[1]) != std::string_view::npos && !(ambiguous && std::string_view("crs").find(word[1]) != std::string_view::npos))
        return nullptr;
    return app.get_option_no_throw(word);
}

// Whether an EAL option (DPDK 22.11) takes the next word as its value.
bool eal_option_takes_value(const std::string& word)
{
    if (word.size() == 2 && word[0] == '-')
        return std::string_view("abcdlmnrsS").find(word[1]) != std::string_view::npos;
    constexpr std::string_view with_value[] = {
        "--vdev", "--allow", "--block", "--file-prefix", "--log-level", "--proc-type", "--socket-mem",
        "--socket-limit", "--huge-dir", "--base-virtaddr", "--iova-mode", "--lcores", "--main-lcore",
        "--mbuf-pool-ops-name", "--vfio-intr", "--vfio-vf-token", "--trace", "--trace-dir", "--trace-bufsz",
        "--trace-mode", "--force-max-simd-bitwidth"};
    return std::find(std::begin(with_value), std::end(with_value), word) != std::end(with_value);
}

} // namespace

std::string misplaced_options(const std::vector<std::string>& eal, const std::vector<std::string>& ours,
                              bool separator)
{
    engine_options scratch;
    CLI::App app{usage_intro, "linecap"};
    command_line c(scratch);
    define_options(app, c);
    bool definite = false;
    for (const std::string& word : eal)
        definite = definite || linecap_option(app, word, false) != nullptr;
    if (!definite)
        return {};

    std::vector<std::string> kept, moved;
    std::string first;
    size_t after_moved = 0;   // index past the last word moved
    for (size_t i = 0; i < eal.size(); i++) {
        const CLI::Option* option = linecap_option(app, eal[i], true);
        if (option == nullptr) {
            kept.push_back(eal[i]);
            continue;
        }
        if (first.empty())
            first = eal[i].substr(0, eal[i].find('='));
        moved.push_back(eal[i]);
        if (eal[i].find('=') == std::string::npos && option->get_expected_min() > 0 && i + 1 < eal.size())
            moved.push_back(eal[++i]);
        after_moved = i + 1;
    }
    // Without "--", the words at the end that are no option's value are
    // the expression, linecap's too (EAL's options may come between).
    if (!separator) {
        size_t tail = eal.size();
        while (tail > after_moved && !eal[tail - 1].starts_with("-"))
            tail--;
        if (tail > after_moved && tail < eal.size() && eal_option_takes_value(eal[tail - 1]))
            tail++;
        if (tail < eal.size()) {
            kept.resize(kept.size() - (eal.size() - tail));
            moved.insert(moved.end(), eal.begin() + static_cast<std::ptrdiff_t>(tail), eal.end());
        }
    }
    std::string typed = "linecap";
    for (const std::string& w : kept)
        typed += " " + shell_word(w);
    typed += " --";
    for (const std::string& w : moved)
        typed += " " + shell_word(w);
    for (const std::string& w : ours)
        typed += " " + shell_word(w);
    return fmt::format("{} is an option of linecap's, given before '--' where EAL's options go; linecap's come "
                       "after '--': {}",
                       first, typed);
}

parse_result parse_options(int argc, char** argv, engine_options& o)
{
    CLI::App app{usage_intro, "linecap"};
    command_line c(o);
    define_options(app, c);
    std::vector<std::string>& expression = c.expression;
    session_arguments& session = c.session;

    try {
        parse_command_line(app, argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return parse_result::exit_ok;
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help();
        return parse_result::exit_ok;
    } catch (const CLI::Success& e) {
        app.exit(e);   // --version: prints it
        return parse_result::exit_ok;
    } catch (const CLI::ParseError& e) {
        std::cerr << "linecap: " << one_line(parse_error_text(e, &app)) << "\nRun 'linecap -- --help' for the options.\n";
        return parse_result::exit_usage;
    }
    o.promiscuous = !c.no_promisc;
    o.idle = *parse_idle_mode(c.idle);   // checked by idle_mode_word()
    const auto refuse = [](const std::string& what) {
        std::cerr << "linecap: " << one_line(what) << "\nRun 'linecap -- --help' for the options.\n";
        return parse_result::exit_usage;
    };
    if (std::string e = session.take_last_words(expression, app.count("--bpf") > 0, o.filter_file); !e.empty())
        return refuse(e);

    // Each mode refuses the other's options.
    if (o.daemon()) {
        if (app.count("--read") > 0)
            return refuse("--read (-r) belongs to a one-shot capture; a daemon replays files through DPDK's "
                          "net_pcap (--vdev net_pcap0,rx_pcap=FILE) with its sessions given by --start");
        std::vector<std::string> oneshot;
        for (const char* name : {"--out", "--filter-file"})
            if (app.count(name) > 0)
                oneshot.push_back(name);
        for (std::string& name : session.given())
            oneshot.push_back(std::move(name));
        for (const char* name : {"--idle-exit", "--stats-json"})
            if (app.count(name) > 0)
                oneshot.push_back(name);
        if (!oneshot.empty())
            return refuse(fmt::format("{} belongs to a one-shot capture; with --control, give a session's filter, "
                                      "limits and rotation to `linecapctl start` instead", oneshot.front()));
        if (app.count("--http") > 0 && o.http_listen.empty())
            return refuse("--http: the address is empty: give ADDR:PORT, e.g. 127.0.0.1:8080");
        if (app.count("--fleet-etcd") > 0 && o.fleet_etcd.empty())
            return refuse("--fleet-etcd: the URL is empty: give etcd's client URL, e.g. http://127.0.0.1:2379");
        return parse_result::run;
    }
    std::vector<const char*> daemon_only = {"--out-root", "--max-sessions", "--control-group", "--start", "--http",
                                            "--http-token-file", "--http-cert", "--http-key", "--http-client-ca",
                                            "--fleet-etcd", "--node", "--fleet-url"};
    for (const etcd_credential_option& c : etcd_credential_table)
        daemon_only.push_back(c.name);
    for (const char* name : daemon_only)
        if (app.count(name) > 0)
            return refuse(fmt::format("{} is a daemon option: give --control PATH too", name));

    // The session: the -F spec, the command line's fields over it, parsed once.
    nlohmann::json spec;
    if (std::string e = session.build(o.filter_file, spec); !e.empty())
        return refuse(e);
    std::string out_dir;
    if (std::string e = apply_file_prefix(c.out, spec.contains("name"), spec, out_dir); !e.empty())
        return refuse(e);
    session_spec parsed;
    if (std::string e = parse_session_spec(spec, parsed); !e.empty())
        return refuse(session.explain(e));
    // Compiled as a daemon compiles it (libpcap, Hyperscan, the rules), in
    // linecapctl start's words.
    if (std::string e = check_session_filter(parsed); !e.empty())
        return refuse(session.explain_filter_error(e, [&](const std::string& expression) {
            return bpf_expression::check_syntax(expression, parsed.netmask);
        }));
    o.session = std::move(parsed);
    o.session.output.dir = out_dir;
    o.session.output.direct_io = !c.buffered;
    return parse_result::run;
}

namespace {

// Sessions the daemon starts before the first packet: read, parsed and
// checked here, so a bad one costs one line and no DPDK start-up.
std::string load_start_specs(engine_options& o)
{
    if (o.start_files.size() > o.session_limit)
        return fmt::format("--start is given {} times, more than the {} sessions --max-sessions allows",
                           o.start_files.size(), o.session_limit);
    for (const std::string& file : o.start_files) {
        std::string text;
        if (std::string e = read_spec_file(file, text); !e.empty())
            return fmt::format("--start {}: {}", file, e);
        session_spec spec;
        if (std::string e = parse_session_spec_text(text, spec); !e.empty())
            return fmt::format("--start {}: {}", file, e);
        if (std::string e = check_session_filter(spec); !e.empty())
            return fmt::format("--start {}: {}", file, e);
        o.start_specs.push_back(std::move(spec));
        o.start_texts.push_back(std::move(text));
    }
    return {};
}

// --http and --http-token-file: the address parsed, the token read, and an
// address other machines reach refused without a token.
std::string check_http_options(engine_options& o)
{
    if (o.http_listen.empty()) {
        if (!o.http_token_file.empty())
            return "--http-token-file is the HTTP API's token: give --http ADDR:PORT too";
        for (const auto& [name, value] : {std::pair{"--http-cert", &o.http_cert}, std::pair{"--http-key", &o.http_key},
                                          std::pair{"--http-client-ca", &o.http_client_ca}})
            if (!value->empty())
                return fmt::format("{} is for the HTTP API's HTTPS: give --http ADDR:PORT too", name);
        return {};
    }
    if (std::string e = parse_http_address(o.http_listen, o.http_host, o.http_port); !e.empty())
        return fmt::format("--http {}: {}", o.http_listen, e);
    if (std::string e = check_tls({o.http_cert, o.http_key, o.http_client_ca}); !e.empty())
        return e;
    // A client certificate a CA of the operator's signed is authentication;
    // TLS alone is not (anyone may connect over it).
    if (!o.http_token_file.empty()) {
        if (std::string e = read_http_token(o.http_token_file, o.http_token); !e.empty())
            return fmt::format("--http-token-file {}: {}", o.http_token_file, e);
    } else if (!is_loopback_address(o.http_host) && o.http_client_ca.empty()) {
        return fmt::format("--http {}: {} is not a loopback address, and whoever reaches it could start and delete "
                           "captures: give --http-token-file FILE (a bearer token){}, or listen on 127.0.0.1 or [::1]",
                           o.http_listen, o.http_host,
                           o.http_cert.empty() ? "" : " or --http-client-ca FILE (client certificates)");
    }
    return {};
}

// --fleet-etcd, --node and --fleet-url: all or none (the last has a
// default), with --http, which is how nodes and linecapctl reach each other.
std::string check_fleet_options(engine_options& o)
{
    if (o.fleet_etcd.empty()) {
        std::vector<std::pair<const char*, const std::string*>> node_only = {{"--node", &o.node_name},
                                                                             {"--fleet-url", &o.fleet_url}};
        for (const etcd_credential_option& c : etcd_credential_table)
            node_only.emplace_back(c.name, &(o.fleet_etcd_credentials.*c.field));
        for (const auto& [name, value] : node_only)
            if (!value->empty())
                return fmt::format("{} is for a node of a fleet: give --fleet-etcd URL too (docs/fleet.md)", name);
        return {};
    }
    if (std::string e = parse_etcd_endpoints(o.fleet_etcd, o.fleet_etcd_settings.endpoints); !e.empty())
        return "--fleet-etcd: " + e;
    if (std::string e = apply_etcd_credentials(o.fleet_etcd_credentials, "--fleet-etcd-", o.fleet_etcd_settings);
        !e.empty())
        return e;
    if (o.node_name.empty())
        return "--fleet-etcd needs --node NAME: this daemon's name in the fleet, e.g. --node collector-3";
    if (std::string e = check_node_name(o.node_name); !e.empty())
        return e;
    if (o.http_listen.empty())
        return "--fleet-etcd needs --http ADDR:PORT: the nodes of a fleet and linecapctl reach each other over "
               "the HTTP API";
    // A loopback API is other hosts' own loopback: with an etcd elsewhere,
    // the fleet's other nodes (and linecapctl fleet merge) would fetch this
    // node's part from whatever listens on their 127.0.0.1. With an etcd
    // on loopback too, the fleet is this host, and loopback is right.
    const auto on_loopback = [](const std::string& url) {   // http://HOST:PORT, HOST maybe [v6] or a name
        const size_t from = url.find("://") == std::string::npos ? 0 : url.find("://") + 3;
        std::string host = url.substr(from);
        host = host.starts_with('[') ? host.substr(1, host.find(']') - 1) : host.substr(0, host.rfind(':'));
        return host == "localhost" || is_loopback_address(host);
    };
    if (o.fleet_url.empty() && is_loopback_address(o.http_host))
        for (const std::string& endpoint : o.fleet_etcd_settings.endpoints)
            if (!on_loopback(endpoint))
                return fmt::format("--http {}: the other nodes of a fleet whose etcd is at {} cannot reach a "
                                   "loopback address: give --http an address they reach, or --fleet-url "
                                   "http://HOST:PORT where they reach this one (a proxy, NAT)",
                                   o.http_listen, endpoint);
    if (o.fleet_url.empty()) {
        std::string host = o.http_host;
        if (host == "0.0.0.0" || host == "::") {   // reached by the host's name
            char name[256] = {};
            gethostname(name, sizeof name - 1);
            host = name;
        } else if (host.find(':') != std::string::npos) {
            host = "[" + host + "]";
        }
        o.fleet_url = fmt::format("{}://{}:{}", o.http_cert.empty() ? "http" : "https", host, o.http_port);
    } else if (std::vector<std::string> url; !parse_etcd_endpoints(o.fleet_url, url).empty() || url.size() != 1) {
        return fmt::format("--fleet-url {}: give this daemon's HTTP API as http://HOST:PORT (or https://), e.g. "
                           "http://10.0.0.7:8080",
                           o.fleet_url);
    }
    return {};
}

} // namespace

std::string validate_options(engine_options& o)
{
    for (const std::string& iface : o.interfaces) {
        if (!o.read_files.empty())
            return fmt::format("-i {} captures an interface and -r reads a file: give one or the other", iface);
        if (iface.empty() || iface.size() >= IF_NAMESIZE || iface.find(',') != std::string::npos ||
            if_nametoindex(iface.c_str()) == 0)
            return fmt::format("-i {}: no such network interface (`ip link` lists them)", iface);
    }
    if (!o.read_files.empty() && (o.idle == idle_mode::pause || o.idle == idle_mode::monitor))
        return fmt::format("--idle-mode {} is DPDK's power management of ports' RX queues, and -r reads a "
                           "file, which never idles: leave --idle-mode out", idle_mode_name(o.idle));
    for (const auto& [option, lcores] : {std::pair{"--worker-lcores", &o.worker_lcores},
                                         std::pair{"--writer-lcores", &o.writer_lcores}})
        for (size_t i = 0; i < lcores->size(); i++)
            if (std::find(lcores->begin(), lcores->begin() + static_cast<long>(i), (*lcores)[i]) !=
                lcores->begin() + static_cast<long>(i))
                return fmt::format("{}: lcore {} is listed twice: give each lcore once (one worker or writer "
                                   "each)", option, (*lcores)[i]);
    if (o.daemon()) {
        if (o.out_root.empty())
            return "--control needs --out-root DIR, the folder where sessions' folders go";
        if (std::string e = check_http_options(o); !e.empty())
            return e;
        if (std::string e = check_fleet_options(o); !e.empty())
            return e;
        return load_start_specs(o);
    }
    if (o.session.output.dir.empty())
        return "--out (-w) DIR is required: the folder for the capture files (or run a daemon with --control)";
    if (o.session.output.dir.empty())
        return "--out: the folder name is empty";
    if (!o.worker_lcores.empty() && o.workers != 0 && o.workers != o.worker_lcores.size())
        return fmt::format("--workers {} disagrees with --worker-lcores, which lists {}", o.workers,
                           o.worker_lcores.size());
    if (!o.writer_lcores.empty() && o.writers != 0 && o.writers != o.writer_lcores.size())
        return fmt::format("--writers {} disagrees with --writer-lcores, which lists {}", o.writers,
                           o.writer_lcores.size());

    std::error_code ec;
    std::filesystem::create_directories(o.session.output.dir, ec);
    if (ec)
        return fmt::format("--out {}: cannot create the folder: {}", o.session.output.dir, ec.message());
    // Written at the end: a file that cannot be written is said now, not
    // after the capture (after -w's folder is made: it may go in there).
    if (!o.stats_json.empty()) {
        const std::filesystem::path parent = std::filesystem::path(o.stats_json).parent_path();
        const std::string folder = parent.empty() ? "." : parent.string();
        if (std::filesystem::is_directory(o.stats_json, ec))
            return fmt::format("--stats-json {}: is a folder: give a file name in it", o.stats_json);
        if (access(o.stats_json.c_str(), F_OK) == 0 ? access(o.stats_json.c_str(), W_OK) != 0
                                                     : access(folder.c_str(), W_OK) != 0)
            return fmt::format("--stats-json {}: cannot write it: {}", o.stats_json, error_text(errno));
    }
    if (!std::filesystem::is_directory(o.session.output.dir, ec))
        return fmt::format("--out {}: not a folder", o.session.output.dir);
    if (access(o.session.output.dir.c_str(), W_OK | X_OK) != 0)
        return fmt::format("--out {}: cannot write there: {}", o.session.output.dir, error_text(errno));
    return {};
}

} // namespace linecap
