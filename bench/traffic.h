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

// Mirror traffic: a frame inside a tunnel (docs/mirror.md).
enum class tunnel_kind : uint8_t {
    vxlan,          // UDP (port, default 4789), 8-byte header, I flag, VNI -> Ethernet
    geneve,         // UDP 6081, `geneve_words` of options -> Ethernet (0x6558)
    geneve_ip,      // the same carrying the inner IP packet (0x0800 / 0x86dd)
    gre_ip,         // GRE with a key -> IP
    gre_ethernet,   // GRE 0x6558 with a key (NVGRE-like) -> Ethernet
    erspan1,        // GRE 0x88be, no sequence number -> Ethernet
    erspan2,        // GRE 0x88be + sequence number + 8-byte ERSPAN II header -> Ethernet
    erspan3,        // GRE 0x22eb + sequence number + 12-byte ERSPAN III header (+8 with `platform`) -> Ethernet
    ip_in_ip,       // IP protocol 4 or 41, by the inner packet's version -> IP
};

struct tunnel_frame {
    tunnel_kind kind = tunnel_kind::vxlan;
    int outer_version = 4;
    std::array<uint8_t, 16> outer_src{192, 0, 2, 1};
    std::array<uint8_t, 16> outer_dst{192, 0, 2, 100};
    uint32_t id = 42;               // VNI, GRE key, ERSPAN session id
    uint16_t udp_port = 0;          // 0: the standard port
    unsigned geneve_words = 0;      // GENEVE option length, in 4-byte words
    bool platform = false;          // ERSPAN III: the optional 8-byte sub-header (O bit)
    uint8_t vxlan_flags = 0x08;     // I flag
    uint8_t version = 0;            // GENEVE / GRE version, ERSPAN version offset (0: the right one)
    uint8_t erspan3_frame_type = 0;
};

// `inner` (an Ethernet frame from build_frame) inside the tunnel. Kinds that
// carry IP drop the inner frame's Ethernet header and VLAN tags.
std::vector<uint8_t> encapsulate(const tunnel_frame& tunnel, const std::vector<uint8_t>& inner);

enum class profile {
    mixed,    // the tests' mix: VLAN, IPv4/IPv6, TCP/UDP/ICMP, 60 to 1514 bytes
    small,    // 64-byte frames
    imix,     // 7:4:1 of 64, 570 and 1514 bytes
    large,    // 1514-byte frames
    jumbo,    // the mix with frames up to 9018 bytes and a few of 65535
    tunnels,  // mirror traffic: the mix inside VXLAN (4789 and 8472), GENEVE, GRE, ERSPAN I/II/III,
              // IP-in-IP, two levels deep, malformed tunnel headers, and some plain packets
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
    std::vector<uint8_t> random_tunnel(const std::vector<uint8_t>& inner);

    generator_options _options;
    std::mt19937_64 _rng;
    std::vector<frame_spec> _flows;
    uint64_t _ts;
};

} // namespace linecap::traffic
