// linecap-gen: writes synthetic traffic to a pcap file (libpcap's writer), for
// the tests, the demo and the benchmarks.
//
//   linecap-gen -o FILE [-n COUNT] [--profile mixed|64|imix|1514|jumbo|tunnels]
//               [--seed S] [--precision us|ns] [--gap-ns N]
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <pcap/pcap.h>

#include "bench/traffic.h"

using namespace linecap::traffic;

int main(int argc, char** argv)
{
    CLI::App app{
        "linecap-gen: synthetic Ethernet traffic into a pcap file; the same --seed writes the same packets.\n\n"
        "Every packet belongs to one of --flows five-tuples (default 256): 65% IPv4 and 35% IPv6 (IPv4 only at "
        "64 bytes); 60% TCP, 31% UDP, 9% ICMP echo or unreachable (ICMPv6 over IPv6); one flow in ten has an "
        "802.1Q tag. Clients 10.0-3.x.x (2001:db8:0-3::) on ports 1024-65535 talk to servers 10.4-7.x.x "
        "(2001:db8:4-7::) on 22, 53, 80, 123, 443, 500, 4500 or 8080; half the packets go back the other way. "
        "TCP flags are a mix of SYN, SYN-ACK, ACK, PSH-ACK, FIN-ACK, RST and RST-ACK. Timestamps start at "
        "2023-11-14T22:13:20Z, --gap-ns apart on average.\n\n"
        "Profiles (frame lengths): mixed 60-1514 bytes, evenly; 64; imix 7:4:1 of 64, 570 and 1514; 1514; "
        "jumbo 60-9018 and one in 50 of 65535; tunnels: the mix (60-1380 bytes) inside VXLAN (ports 4789 and "
        "8472), GENEVE, GRE, ERSPAN I/II/III and IP-in-IP, some two levels deep, some malformed, and some "
        "plain packets.\n"};
    std::string out;
    uint64_t count = 1000;
    std::string shape = "mixed";
    std::string precision = "us";
    generator_options options;
    app.add_option("-o,--out", out, "pcap file to write")->required();
    app.add_option("-n,--count", count, "Packets to write")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
    app.add_option("--profile", shape, "mixed, 64, imix, 1514, jumbo or tunnels")
        ->check(CLI::IsMember({"mixed", "64", "imix", "1514", "jumbo", "tunnels"}))
        ->capture_default_str();
    app.add_option("--seed", options.seed, "Random seed")->capture_default_str();
    app.add_option("--flows", options.flows, "Distinct five-tuples")->check(CLI::Range(1u, 1u << 20));
    app.add_option("--precision", precision, "Timestamp precision of the file: us or ns")
        ->check(CLI::IsMember({"us", "ns"}))
        ->capture_default_str();
    app.add_option("--gap-ns", options.gap_ns, "Mean gap between packets")->capture_default_str();
    app.add_flag("--fixed-gap", options.fixed_gap, "Packets exactly --gap-ns apart");
    uint64_t start_offset_ns = 0;
    app.add_option("--start-offset-ns", start_offset_ns, "Shift every timestamp by this much");
    CLI11_PARSE(app, argc, argv);

    options.shape = *parse_profile(shape);
    options.start_ns += start_offset_ns;
    options.sub_microsecond = precision == "ns";
    const bool nano = precision == "ns";
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 262144,
                                                        nano ? PCAP_TSTAMP_PRECISION_NANO
                                                             : PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, out.c_str());
    if (dumper == nullptr) {
        std::cerr << "linecap-gen: " << out << ": " << pcap_geterr(dead) << "\n";
        return 1;
    }
    generator gen(options);
    for (uint64_t i = 0; i < count; i++) {
        const packet p = gen.next();
        pcap_pkthdr header{};
        header.ts.tv_sec = static_cast<time_t>(p.ts_ns / 1000000000u);
        const uint64_t frac = p.ts_ns % 1000000000u;
        header.ts.tv_usec = static_cast<suseconds_t>(nano ? frac : frac / 1000u);
        header.caplen = header.len = static_cast<bpf_u_int32>(p.bytes.size());
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, p.bytes.data());
    }
    const bool failed = pcap_dump_flush(dumper) != 0;
    pcap_dump_close(dumper);
    pcap_close(dead);
    if (failed) {
        std::cerr << "linecap-gen: " << out << ": write failed\n";
        return 1;
    }
    return 0;
}
