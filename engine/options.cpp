#include "engine/options.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
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
    "  -l 0-1 --vdev=net_pcap0,rx_pcap=in.pcap          replay a file\n"
    "  -l 0-3 -a 0000:3b:00.0                            a NIC bound to vfio-pci\n"
    "  --no-huge -m 512 --no-pci                         no hugepages needed\n";

bool is_power_of_two(unsigned v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

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
    app.add_option("-w,--out", o.output.dir, "Folder for the capture files (created if missing)")
        ->required()
        ->type_name("DIR");
    app.add_option("--name", o.output.name, "Session name, the prefix of every file name")
        ->capture_default_str()
        ->type_name("NAME");
    app.add_option("-s,--snaplen", o.output.snaplen,
                   "Bytes kept of each packet; 0 keeps whole packets")
        ->check(whole_number(0, 262144))
        ->type_name("N")
        ->capture_default_str();
    app.add_option("-c,--count", o.output.limits.packets, "Stop after N packets are written")
        ->check(whole_number(1))
        ->type_name("N");
    app.add_option("--duration", o.output.limits.seconds, "Stop after S seconds")
        ->check(seconds())
        ->type_name("S");
    app.add_option("--idle-exit", o.idle_exit_s,
                   "Stop once no port has received a packet for S seconds (how a replay ends)")
        ->check(seconds())
        ->type_name("S");
    app.add_option("--format", format, "File format: pcap (microseconds) or pcap-ns (nanoseconds)")
        ->check(CLI::IsMember({"pcap", "pcap-ns"}))
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
    app.add_flag("--lossless", o.lossless,
                 "Wait for ring space instead of dropping, on every port (replays always do)");
    app.add_option("--ring-size", o.ring_size, "Ring slots per worker, a power of two")
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
    o.output.format = *parse_format(format);
    o.promiscuous = !no_promisc;
    return parse_result::run;
}

std::string validate_options(engine_options& o)
{
    if (o.output.dir.empty())
        return "--out: the folder name is empty";
    if (!is_power_of_two(o.ring_size))
        return fmt::format("--ring-size: {} is not a power of two", o.ring_size);
    if (!o.worker_lcores.empty() && o.workers != 0 && o.workers != o.worker_lcores.size())
        return fmt::format("--workers {} disagrees with --worker-lcores, which lists {}", o.workers,
                           o.worker_lcores.size());
    if (!o.writer_lcores.empty() && o.writers != 0 && o.writers != o.writer_lcores.size())
        return fmt::format("--writers {} disagrees with --writer-lcores, which lists {}", o.writers,
                           o.writer_lcores.size());

    std::error_code ec;
    std::filesystem::create_directories(o.output.dir, ec);
    if (ec)
        return fmt::format("--out {}: cannot create the folder: {}", o.output.dir, ec.message());
    if (!std::filesystem::is_directory(o.output.dir, ec))
        return fmt::format("--out {}: not a folder", o.output.dir);
    if (access(o.output.dir.c_str(), W_OK | X_OK) != 0)
        return fmt::format("--out {}: cannot write there: {}", o.output.dir, strerror(errno));
    return {};
}

} // namespace linecap
