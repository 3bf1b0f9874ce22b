// The session spec: what a capture keeps and how it writes it, as users write
// it in JSON (--filter-file, and the control socket's "start"):
//
//   {"name": "rst-investigation",
//    "match": [{"src": ["10.1.0.0/24", "10.9.0.1-10.9.0.20"], "dst_ports": [443],
//               "protocols": ["tcp"], "tcp_flags": {"any": ["syn", "rst"], "none": ["ack"]},
//               "bidirectional": true}],
//    "bpf": "not port 22",
//    "payload": {"patterns": ["GET /api/v[0-9]+/"], "caseless": false},
//    "snaplen": 128, "format": "pcap-ns"}
//
// With it, the output every writer of a session follows (output_spec: file
// name, format, snap length, limits, rotation, decap) and the reasons a
// session stops. Parsed once, up front, into plain structs; every error names its field
// ("match[2].dst_ports[0]: 70000 is not a port"). Semantics: docs/filters.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/capture_format.h"
#include "core/decap.h"     // decap_mode
#include "core/packet.h"    // five_tuple_end_ipv6
#include "core/tunnel.h"    // tunnel_ports

namespace linecap {

enum class stop_reason : uint8_t {
    none,        // still running
    user,        // a signal or a stop command
    packets,     // limits.packets reached
    bytes,       // limits.bytes reached
    duration,    // limits.seconds reached
    idle,        // no port received a packet for --idle-exit seconds
    disk_full,   // ENOSPC or EDQUOT while writing
    error,       // any other write or open error
    shutdown,    // the daemon is stopping
    end_of_file, // -r FILE: every record of the file is written
    crashed,     // linecap ended without closing it (a crash, kill -9, power
                 // loss); found, and its files recovered, by the next daemon start
};

std::string_view stop_reason_name(stop_reason reason);
// The reason a name stands for ("packets"; "running" is none).
std::optional<stop_reason> stop_reason_from_name(std::string_view name);

// Limits on a session; 0 means none.
struct session_limits {
    uint64_t packets = 0;   // packets written
    uint64_t bytes = 0;     // bytes written to its files, headers included
    double seconds = 0;     // since the session started

    friend bool operator==(const session_limits&, const session_limits&) = default;
};

// When a writer closes a file and starts the next; 0 means never. Whichever
// comes first closes the file. See docs/writers.md.
struct rotate_policy {
    uint64_t bytes = 0;      // a file grows to at most this (one bigger packet excepted)
    uint64_t seconds = 0;    // files cover aligned wall-clock windows of this length
    uint64_t packets = 0;    // packets per file
    uint32_t keep = 0;       // closed files kept per writer, oldest deleted first
    uint64_t keep_bytes = 0; // bytes of closed files kept per session, shared equally by its writers
    bool any() const { return bytes != 0 || seconds != 0 || packets != 0; }

    friend bool operator==(const rotate_policy&, const rotate_policy&) = default;
};

struct output_spec {
    std::string name = "capture";       // file name prefix
    std::string dir;                    // folder the files go to
    file_format format = file_format::pcap_ns;
    uint32_t snaplen = 0;               // 0: whole packets
    session_limits limits;
    rotate_policy rotate;
    // Bytes per write(). 4 MiB: O_DIRECT writes of 4 MiB reach about 1.25x
    // the bandwidth of 1 MiB ones here, while the buffer still fits in L2-ish
    // caches well enough to copy into at 10 GB/s (docs/performance.md).
    size_t chunk_bytes = 4 << 20;
    bool direct_io = true;              // O_DIRECT where the filesystem has it
    // "decap": write each packet's innermost packet (found with these
    // ports) instead of the mirrored frame; docs/mirror.md.
    decap_mode decap = decap_mode::none;
    tunnel_ports tunnel;
    // "index": an index beside each file for linecap query (FILE.idx,
    // docs/query.md). Unset: on for rings (rotation with keep or
    // keep_bytes), off otherwise. Never for raw IP files ("decap": "ip"):
    // the index is of Ethernet frames.
    std::optional<bool> index;
    bool indexed() const
    {
        return decap != decap_mode::ip && index.value_or(rotate.any() && (rotate.keep != 0 || rotate.keep_bytes != 0));
    }
    // Do a worker's marks (writers/index_flow.h) speak for this session's
    // records? Indexed, each record the packet's first bytes (no decap),
    // and cut past every flow key or not at all: a snaplen inside them
    // would keep one direction's source address or port and not the
    // other's, which the flow shares.
    bool index_marked() const
    {
        return indexed() && decap == decap_mode::none && (snaplen == 0 || snaplen >= five_tuple_end_ipv6);
    }

    friend bool operator==(const output_spec&, const output_spec&) = default;
};

// An inclusive range of addresses of one family. CIDR prefixes and single
// addresses are ranges too. Bytes in network order; IPv4 uses the first 4.
struct ip_range {
    uint8_t family = 4;   // 4 or 6
    std::array<uint8_t, 16> lo{};
    std::array<uint8_t, 16> hi{};

    friend bool operator==(const ip_range&, const ip_range&) = default;
};

struct ip_prefix {
    uint8_t family = 4;
    std::array<uint8_t, 16> addr{};
    uint8_t length = 0;   // bits
};

// Parses an address (10.4.2.50, 2001:db8::7), a CIDR prefix (10.4.2.0/24)
// or a range (10.4.2.1-10.4.2.9) into `out`: "" or what is wrong with it,
// in the words a spec's "src" and "dst" give.
std::string parse_ip_range(std::string_view text, ip_range& out);

// The fewest CIDR prefixes that cover exactly the range.
std::vector<ip_prefix> range_to_prefixes(const ip_range& range);
std::string format_address(uint8_t family, const std::array<uint8_t, 16>& addr);

struct port_range {
    uint16_t lo = 0;
    uint16_t hi = 0;

    friend bool operator==(const port_range&, const port_range&) = default;
};

// TCP flag bits, as in the TCP header's 14th byte.
enum tcp_flag : uint8_t {
    tcp_fin = 0x01, tcp_syn = 0x02, tcp_rst = 0x04, tcp_psh = 0x08,
    tcp_ack = 0x10, tcp_urg = 0x20, tcp_ece = 0x40, tcp_cwr = 0x80,
};

// The flags by the names specs give them, in bit order.
struct tcp_flag_name {
    std::string_view name;
    uint8_t bit;
};
inline constexpr tcp_flag_name tcp_flag_names[] = {
    {"fin", tcp_fin}, {"syn", tcp_syn}, {"rst", tcp_rst}, {"psh", tcp_psh},
    {"ack", tcp_ack}, {"urg", tcp_urg}, {"ece", tcp_ece}, {"cwr", tcp_cwr},
};

struct tcp_flags_match {
    uint8_t any = 0;    // at least one of these set (0: no condition)
    uint8_t all = 0;    // all of these set
    uint8_t none = 0;   // none of these set

    friend bool operator==(const tcp_flags_match&, const tcp_flags_match&) = default;
};

// One rule: every field present must hold; within a field, any element may.
struct match_rule {
    std::vector<ip_range> src;               // empty: any source
    std::vector<ip_range> dst;
    std::vector<port_range> src_ports;       // TCP, UDP and SCTP only
    std::vector<port_range> dst_ports;
    std::vector<uint8_t> protocols;          // IPv4 protocol / IPv6 final next header
    std::optional<tcp_flags_match> tcp_flags;
    bool bidirectional = false;

    // A rule that names nothing matches every packet, IP or not.
    bool matches_everything() const
    {
        return src.empty() && dst.empty() && src_ports.empty() && dst_ports.empty() &&
               protocols.empty() && !tcp_flags;
    }

    friend bool operator==(const match_rule&, const match_rule&) = default;
};

struct payload_match {
    std::vector<std::string> patterns;       // Hyperscan syntax; any may match
    bool caseless = false;

    friend bool operator==(const payload_match&, const payload_match&) = default;
};

// An inclusive range of tunnel ids: VXLAN/GENEVE VNI, GRE key, ERSPAN session id.
struct tunnel_id_range {
    uint32_t lo = 0;
    uint32_t hi = 0;

    friend bool operator==(const tunnel_id_range&, const tunnel_id_range&) = default;
};

// Mirror collector mode (docs/mirror.md): what the rules apply to, and the
// conditions on the tunnel itself.
struct tunnel_spec {
    bool inner = false;                      // "tunnel": "inner": rules see the innermost packet
    std::vector<tunnel_id_range> ids;        // "vni": empty: any tunnel, with an id or not
    std::optional<match_rule> outer;         // "outer": a rule over the outer headers
    tunnel_ports ports;                      // "vxlan_ports", "geneve_ports"

    friend bool operator==(const tunnel_spec&, const tunnel_spec&) = default;
};

struct session_spec {
    std::vector<match_rule> match;           // empty: every packet (inner: every packet with an inner packet)
    tunnel_spec tunnel;
    std::string bpf;                         // libpcap filter expression, ANDed
    uint32_t netmask = 0;                    // for its "broadcast", host order; 0, as tcpdump -r
    payload_match payload;                   // ANDed
    output_spec output;                      // name, snaplen, format

    friend bool operator==(const session_spec&, const session_spec&) = default;
};

// Parses a spec. Returns an empty string, or one error that names the field
// by its path in the JSON ("match[2].dst_ports[0]: 70000 is not a port").
std::string parse_session_spec(const nlohmann::json& json, session_spec& spec);
std::string parse_session_spec_text(std::string_view text, session_spec& spec);
// The first step of the above: the text as JSON, or "not valid JSON: ...".
// `levels_above`: objects around the spec in `text` (a socket request's,
// {"cmd":"start","spec":{...}}: 1), which the spec's depth limit does not
// count, so a spec is taken or refused alike from every entry point.
std::string parse_spec_json(std::string_view text, nlohmann::json& json, int levels_above = 0);

// --- The session fields: one table -----------------------------------------
//
// One entry per field of a session spec: where it sits in the JSON, the
// command-line option that sets it, its help, and the validator that reads
// it. parse_session_spec walks this table; both command lines (linecap's
// one-shot options and `linecapctl start`, control/session_options.h) add an
// option per entry and turn its words into JSON at the entry's path, which is
// then parsed here like any spec, so a value means the same and is refused
// with the same words wherever it is given.

// How an option's words become the JSON value at its path.
enum class words_as : uint8_t {
    text,        // one word: a string
    number,      // one word: a number when it reads as one, else the string (which the validator refuses)
    megabytes,   // one word: a number of MB (10^6 bytes), written as bytes
    list,        // repeatable: a list; each word a number when it reads as one, else a string
    texts,       // repeatable, commas too: a list of strings
    flag,        // no word: true
};

struct spec_value;   // a JSON value and its path in the spec (spec.cpp)
using spec_field_parser = void (*)(const spec_value& value, session_spec& spec);

struct session_field {
    std::string_view path;        // "snaplen", "limits.packets"; "match[].src": a field of the command line's rule
    std::string_view flags;       // CLI11 option names ("-s,--snaplen"); empty: JSON only
    std::string_view type_name;   // the word's shape in --help ("N")
    std::string_view help;
    words_as words = words_as::text;
    // tcpdump's "host" and "port": the rule is written twice, once with
    // this path and once with its dst twin ("match[].src" -> "match[].dst").
    bool either_way = false;
    // Reads and checks the value; null for the rule options, which the
    // "match" entry reads as part of the rules they build.
    spec_field_parser parse = nullptr;
};

std::span<const session_field> session_fields();

// The IP protocols known by name: as a spec writes them ("tcp") and as a
// packet line prints them ("TCP"), in the order error messages list them.
struct ip_protocol_name {
    uint8_t number;
    std::string_view name;      // in specs and on command lines
    std::string_view display;   // in watch lines
};
inline constexpr ip_protocol_name ip_protocol_names[] = {
    {6, "tcp", "TCP"}, {17, "udp", "UDP"}, {1, "icmp", "ICMP"}, {58, "icmpv6", "ICMPv6"},
    {132, "sctp", "SCTP"}, {47, "gre", "GRE"}, {50, "esp", "ESP"}, {51, "ah", "AH"},
};

// Other names a spec may use for some of them: tcpdump's word for ICMPv6
// (its primitive "icmp6"), and "icmpv4" beside "icmpv6". Taken and
// suggested after the names above, never listed or printed.
struct ip_protocol_alias {
    uint8_t number;
    std::string_view name;
};
inline constexpr ip_protocol_alias ip_protocol_aliases[] = {{58, "icmp6"}, {1, "icmpv4"}};

// Checks of single values, shared by the spec and the command line.
std::string check_session_name(std::string_view name);

// A tcpdump expression too large to compile here: over 8192 bytes, or over
// 128 terms joined by and/or (libpcap's optimiser takes time that grows
// with their cube, and a compile cannot be abandoned once begun). What is
// wrong, ending with `instead` (what to do), or "". A session's bpf and a
// query's expression, on every entry point.
std::string bpf_size_problem(std::string_view expression, std::string_view instead);

} // namespace linecap
