// Synthetic traffic for tests, the demo and benchmarks: well-formed Ethernet
// frames (VLAN, IPv4, IPv6, TCP, UDP, ICMP, ICMPv6) built byte by byte, from
// a seeded generator so that every run of a test sees the same packets.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string_view>
#include <optional>
#include <vector>

namespace linecap::traffic {

// One frame to build. Fields that do not apply to the protocol are ignored.
struct frame_spec {
    std::vector<std::pair<uint16_t, uint16_t>> vlans;   // (TPID, TCI), outermost first
    int ip_version = 4;                                  // 4, 6, or 0 for a non-IP frame (ARP)
    std::array<uint8_t, 16> src{};                       // IPv4 uses the first 4 bytes
    std::array<uint8_t, 16> dst{};
    uint8_t protocol = 6;                                // IP protocol / final next header
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint8_t tcp_flags = 0;
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;
    uint16_t fragment_offset = 0;                        // in 8-byte units
    bool more_fragments = false;
    std::vector<uint8_t> ipv6_extensions;                // next-header types walked before `protocol`
    std::vector<uint8_t> payload;                        // L4 payload (or after IP for others)
    uint32_t frame_length = 0;                           // pad the payload up to this, if larger
};

std::vector<uint8_t> build_frame(const frame_spec& spec);

enum class profile {
    mixed,    // the tests' mix: VLAN, IPv4/IPv6, TCP/UDP/ICMP, 60 to 1514 bytes
    small,    // 64-byte frames
    imix,     // 7:4:1 of 64, 570 and 1514 bytes
    large,    // 1514-byte frames
    jumbo,    // the mix with frames up to 9018 bytes and a few of 65535
};

std::optional<profile> parse_profile(std::string_view name);

struct generator_options {
    profile shape = profile::mixed;
    uint64_t seed = 1;
    uint64_t start_ns = 1700000000ull * 1000000000ull;   // 2023-11-14T22:13:20Z
    uint64_t gap_ns = 1000;                              // mean gap between packets
    bool fixed_gap = false;                              // exactly gap_ns apart
    bool sub_microsecond = false;                        // timestamps with ns digits
    unsigned flows = 256;                                // distinct 5-tuples
};

struct packet {
    uint64_t ts_ns;
    std::vector<uint8_t> bytes;
};

class generator {
public:
    explicit generator(const generator_options& options);
    packet next();

private:
    frame_spec random_flow();
    uint32_t frame_length();

    generator_options _options;
    std::mt19937_64 _rng;
    std::vector<frame_spec> _flows;
    uint64_t _ts;
};

} // namespace linecap::traffic
