// bench/reader: reading capture files, the way `linecap merge` reads them
// (writers/capture_reader.h: libpcap for pcap, Wireshark's libwiretap for
// pcapng) beside libpcap alone on the same file, in one run.
//
//   build/bench/linecap-bench-reader [--rounds N] FILE...
//
// Reports packets per second of CPU time (user + system) for each, the best
// of N rounds (the page cache warm after the first), so the figure is the
// reader's own cost, not the disk's.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pcap/pcap.h>

#include "writers/capture_reader.h"

using namespace linecap;

namespace {

double cpu_seconds()
{
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Packets read, or -1 if the reader cannot open the file.
long read_libpcap(const std::string& path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (p == nullptr)
        return -1;
    pcap_pkthdr* h;
    const u_char* d;
    long n = 0;
    uint64_t sum = 0;
    while (pcap_next_ex(p, &h, &d) == 1) {
        n++;
        sum += h->caplen;
    }
    pcap_close(p);
    return sum == 0 && n > 0 ? -1 : n;
}

long read_merge_reader(const std::string& path)
{
    capture_reader reader;
    if (!reader.open(path).empty())
        return -1;
    capture_record r;
    long n = 0;
    while (reader.next(r) == read_status::record)
        n++;
    return n;
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"linecap-bench-reader: capture file readers, packets per CPU second"};
    std::vector<std::string> files;
    unsigned rounds = 3;
    app.add_option("files", files, "Capture files")->required();
    app.add_option("--rounds", rounds, "Rounds per reader and file (best kept)");
    CLI11_PARSE(app, argc, argv);
    for (const std::string& file : files) {
        for (auto [name, read] : {std::pair{"libpcap", &read_libpcap}, std::pair{"merge's reader", &read_merge_reader}}) {
            double best = 0;
            long packets = 0;
            for (unsigned r = 0; r < rounds; r++) {
                const double t0 = cpu_seconds();
                packets = read(file);
                const double cpu = cpu_seconds() - t0;
                if (packets > 0)
                    best = std::max(best, static_cast<double>(packets) / cpu);
            }
            if (packets < 0)
                fmt::print("{}: {}: cannot read it\n", file, name);
            else
                fmt::print("{}: {}: {} packets, {:.2f} Mpps per CPU second\n", file, name, packets, best / 1e6);
        }
    }
    return 0;
}
