#include "control/options.h"

#include "filters/classifier.h"

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace linecap {

namespace {

const char* usage_intro =
    "linecap: capture packets from DPDK ports into pcap files.\n\n"
    "Usage: linecap [EAL options] -- [linecap options]\n\n"
    "EAL options choose the lcores and the ports, e.g.\n"
    "  -l 0-3 -a 0000:3b:00.0                            a NIC bound to vfio-pci\n"
    "  --no-huge -m 512 --no-pci                         no hugepages needed\n"
    "or read a capture file, as tcpdump -r does:\n"
    "  linecap -l 0-1 --no-huge -m 512 -- -r in.pcap -w out [expression]\n";

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

CLI::Validator seconds()
{
    return CLI::Validator(
        [](std::string& text) -> std::string {
            double value = 0;
            const char* end = text.data() + text.size();
            const auto [ptr, ec] = std::from_chars(text.data(), end, value);
            if (text.empty() || ec != std::errc() || ptr != end || !(value > 0) || value > 1e9)
                return fmt::format("{} is not a number of seconds above 0", text);
            return {};
        },
        "");
}

} // namespace

parse_result parse_options(int argc, char** argv, engine_options& o)
{
    CLI::App app{usage_intro, "linecap"};
    app.set_version_flag("--version", std::string("linecap ") + LINECAP_VERSION);
    app.get_formatter()->column_width(34);

    std::string format = "pcap-ns";
    std::vector<std::string> expression;
    app.add_option("-r,--read", o.read_files,
                   "Read packets from a capture file (pcap or pcapng; - for standard input) instead of "
                   "ports, and stop at its end; given again, files are read one after the other")
        ->allow_extra_args(false)
        ->type_name("FILE");
    app.add_option("-w,--out", o.session.output.dir,
                   "Folder for the capture files (created if missing); required without --control")
        ->type_name("DIR");
    app.add_option("--name", o.session.output.name, "Session name, the prefix of every file name")
        ->capture_default_str()
        ->type_name("NAME");
    app.add_option("-F,--filter-file", o.filter_file,
                   "Session spec in JSON: rules, bpf, payload, snaplen, format (docs/filters.md)")
        ->type_name("FILE");
    app.add_option("--bpf", o.bpf, "A tcpdump filter expression, ANDed with the spec's")
        ->type_name("EXPR");
    app.add_option("expression", expression, "Or the tcpdump expression as the last words, as tcpdump takes it")
        ->type_name("EXPR");
    app.add_option("-s,--snaplen", o.session.output.snaplen,
                   "Bytes kept of each packet; 0 keeps whole packets")
        ->check(whole_number(0, 262144))
        ->type_name("N")
        ->capture_default_str();
    app.add_option("-c,--count", o.session.output.limits.packets, "Stop after N packets are written")
        ->check(whole_number(1))
        ->type_name("N");
    app.add_option("--duration", o.session.output.limits.seconds, "Stop after S seconds")
        ->check(seconds())
        ->type_name("S");
    uint64_t rotate_mb = 0;
    app.add_option("--max-bytes", o.session.output.limits.bytes,
                   "Stop once the files hold N bytes (headers included)")
        ->check(whole_number(1))
        ->type_name("N");
    app.add_option("-C,--rotate-mb", rotate_mb,
                   "Start a new file before one grows past MB million bytes (tcpdump's -C)")
        ->check(whole_number(1, 1000000))
        ->type_name("MB");
    app.add_option("-G,--rotate-seconds", o.session.output.rotate.seconds,
                   "Start a new file every S seconds, aligned to the clock (tcpdump's -G)")
        ->check(whole_number(1, 31 * 86400))
        ->type_name("S");
    app.add_option("--rotate-packets", o.session.output.rotate.packets, "Start a new file every N packets")
        ->check(whole_number(1))
        ->type_name("N");
    app.add_option("-W,--keep", o.session.output.rotate.keep,
                   "Keep only the last N closed files per writer, deleting the oldest")
        ->check(whole_number(1, 1000000))
        ->type_name("N");
    app.add_option("--idle-exit", o.idle_exit_s,
                   "Stop once no port has received a packet for S seconds (how a replay ends)")
        ->check(seconds())
        ->type_name("S");
    app.add_option("--format", format,
                   "pcap-ns (nanosecond pcap), pcap (microsecond pcap) or pcapng")
        ->check(CLI::IsMember({"pcap", "pcap-ns", "pcapng"}))
        ->type_name("FORMAT")
        ->capture_default_str();
    app.add_option("--stats-json", o.stats_json, "Write the final counters to FILE as JSON")
        ->type_name("FILE");
    app.add_option("--stats-interval", o.stats_interval_s,
                   "Print live counters to stderr every S seconds")
        ->check(seconds())
        ->type_name("S");
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
    app.add_flag("--bpf-jit", o.bpf_jit,
                 "Run BPF through DPDK's JIT, not its interpreter (DPDK 22.11's x86 JIT can crash on "
                 "short packets: docs/filters.md)");
    bool buffered = false;
    app.add_flag("--buffered-io", buffered, "Write through the page cache, not with O_DIRECT");
    app.add_flag("--lossless", o.lossless,
                 "Wait for ring space instead of dropping, on every port (replays always do)");
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
    bool no_promisc = false;
    app.add_flag("-p,--no-promiscuous-mode", no_promisc, "Do not put ports in promiscuous mode");

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

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return parse_result::exit_ok;
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help();
        return parse_result::exit_ok;
    } catch (const CLI::Success&) {
        app.exit(CLI::Success());
        return parse_result::exit_ok;
    } catch (const CLI::ParseError& e) {
        std::cerr << "linecap: " << e.what() << "\nRun 'linecap -- --help' for the options.\n";
        return parse_result::exit_usage;
    }
    o.session.output.format = *parse_format(format);
    o.promiscuous = !no_promisc;
    if (!expression.empty()) {
        if (!o.bpf.empty()) {
            std::cerr << "linecap: give the filter expression either with --bpf or as the last words, not both\n";
            return parse_result::exit_usage;
        }
        for (const std::string& word : expression)
            o.bpf += (o.bpf.empty() ? "" : " ") + word;
    }
    o.session.output.rotate.bytes = rotate_mb * 1000000;
    o.session.output.direct_io = !buffered;
    // What the command line gave explicitly wins over the spec file.
    for (const char* name : {"--name", "--snaplen", "--format", "--count", "--max-bytes", "--duration",
                             "--rotate-mb", "--rotate-seconds", "--rotate-packets", "--keep", "--out-root",
                             "--max-sessions", "--control-group", "--start"})
        if (app.count(name) > 0)
            o.given.push_back(name);
    for (const char* name : {"--read", "--out", "--name", "--filter-file", "--bpf", "expression", "--snaplen", "--count",
                             "--duration", "--max-bytes", "--rotate-mb", "--rotate-seconds", "--rotate-packets",
                             "--keep", "--idle-exit", "--format", "--stats-json"})
        if (app.count(name) > 0)
            o.oneshot_given.push_back(name == std::string_view("expression") ? "a filter expression" : name);
    return parse_result::run;
}

namespace {

// The spec file first, then what the command line said explicitly.
std::string load_filter_file(engine_options& o)
{
    std::ifstream in(o.filter_file);
    if (!in)
        return fmt::format("--filter-file {}: cannot read it: {}", o.filter_file, strerror(errno));
    std::stringstream text;
    text << in.rdbuf();
    session_spec spec;
    if (std::string e = parse_session_spec_text(text.str(), spec); !e.empty())
        return fmt::format("--filter-file {}: {}", o.filter_file, e);
    // The file's values, then what the command line gave explicitly.
    const output_spec cli = o.session.output;
    output_spec& out = spec.output;
    const auto given = [&](const char* name) {
        return std::find(o.given.begin(), o.given.end(), name) != o.given.end();
    };
    out.dir = cli.dir;
    out.chunk_bytes = cli.chunk_bytes;
    out.direct_io = cli.direct_io;
    if (given("--name")) out.name = cli.name;
    if (given("--snaplen") || !spec.has_snaplen) out.snaplen = cli.snaplen;
    if (given("--format") || !spec.has_format) out.format = cli.format;
    if (given("--count")) out.limits.packets = cli.limits.packets;
    if (given("--max-bytes")) out.limits.bytes = cli.limits.bytes;
    if (given("--duration")) out.limits.seconds = cli.limits.seconds;
    if (given("--rotate-mb")) out.rotate.bytes = cli.rotate.bytes;
    if (given("--rotate-seconds")) out.rotate.seconds = cli.rotate.seconds;
    if (given("--rotate-packets")) out.rotate.packets = cli.rotate.packets;
    if (given("--keep")) out.rotate.keep = cli.rotate.keep;
    o.session = std::move(spec);
    return {};
}

// Sessions the daemon starts before the first packet: read, parsed and
// checked here, so a bad one costs one line and no DPDK start-up.
std::string load_start_specs(engine_options& o)
{
    if (o.start_files.size() > o.session_limit)
        return fmt::format("--start is given {} times, more than the {} sessions --max-sessions allows",
                           o.start_files.size(), o.session_limit);
    for (const std::string& file : o.start_files) {
        std::ifstream in(file);
        if (!in)
            return fmt::format("--start {}: cannot read it: {}", file, strerror(errno));
        std::stringstream text;
        text << in.rdbuf();
        session_spec spec;
        if (std::string e = parse_session_spec_text(text.str(), spec); !e.empty())
            return fmt::format("--start {}: {}", file, e);
        if (std::string e = check_session_filter(spec); !e.empty())
            return fmt::format("--start {}: {}", file, e);
        o.start_specs.push_back(std::move(spec));
        o.start_texts.push_back(text.str());
    }
    return {};
}

} // namespace

std::string validate_options(engine_options& o)
{
    if (o.daemon()) {
        if (!o.read_files.empty())
            return "--read (-r) belongs to a one-shot capture; a daemon replays files through DPDK's "
                   "net_pcap (--vdev net_pcap0,rx_pcap=FILE) with its sessions given by --start";
        if (!o.oneshot_given.empty())
            return fmt::format("{} belongs to a one-shot capture; with --control, give a session's filter, "
                               "limits and rotation to `linecapctl start` instead", o.oneshot_given.front());
        if (o.out_root.empty())
            return "--control needs --out-root DIR, the folder where sessions' folders go";
        return load_start_specs(o);
    }
    for (const char* name : {"--out-root", "--max-sessions", "--control-group", "--start"})
        if (std::find(o.given.begin(), o.given.end(), name) != o.given.end())
            return fmt::format("{} is a daemon option: give --control PATH too", name);
    if (o.session.output.dir.empty())
        return "--out (-w) DIR is required: the folder for the capture files (or run a daemon with --control)";
    if (!o.filter_file.empty())
        if (std::string e = load_filter_file(o); !e.empty())
            return e;
    if (o.session.output.rotate.keep != 0 && !o.session.output.rotate.any())
        return "--keep (-W) keeps the last N files of a rotation: give -C, -G or --rotate-packets too";
    if (!o.bpf.empty())
        o.session.bpf = o.session.bpf.empty() ? o.bpf : "(" + o.session.bpf + ") and (" + o.bpf + ")";
    if (std::string e = check_session_name(o.session.output.name); !e.empty())
        return "--name " + e;
    if (std::string e = check_session_filter(o.session); !e.empty())
        return (o.filter_file.empty() ? "" : "--filter-file " + o.filter_file + ": ") + e;
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
    if (!std::filesystem::is_directory(o.session.output.dir, ec))
        return fmt::format("--out {}: not a folder", o.session.output.dir);
    if (access(o.session.output.dir.c_str(), W_OK | X_OK) != 0)
        return fmt::format("--out {}: cannot write there: {}", o.session.output.dir, strerror(errno));
    return {};
}

} // namespace linecap
