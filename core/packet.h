// One bounded parse of a packet's headers, for the classifier.
//
//   Ethernet [VLAN [VLAN]] IPv4 | IPv6 [extension headers] TCP | UDP | SCTP | ...
//
// It never reads past `len` bytes, nor past the lengths the headers declare:
// behind the IP header only what the IP packet holds (IPv4 total length,
// IPv6 payload length), so the padding of a short frame is never read as
// ports, flags, payload or a tunnel. What a truncated or malformed packet
// does not hold is simply absent: each field has a bit in `present`, set only
// if every byte of it was there (as libpcap's filters reject a packet when
// they load a byte it does not have). The rules follow libpcap's, on purpose, so
// that linecap and tcpdump agree: IPv4's header length is taken as written,
// the version nibble is not checked, ports and TCP flags are read only from
// unfragmented packets and first fragments, and only from TCP, UDP and SCTP.
// Three differences, documented in docs/filters.md: up to two VLAN tags
// (0x8100, 0x88a8, 0x9100) are looked through without asking, IPv6
// extension headers are walked to the transport header, and the IP length
// bounds the transport header (libpcap's filters read ports from padding).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace linecap {

enum field_bit : uint8_t {
    have_src = 0x01,
    have_dst = 0x02,
    have_proto = 0x04,
    have_src_port = 0x08,    // TCP, UDP or SCTP, first fragment, the port's 2 bytes present
    have_dst_port = 0x10,
    have_tcp_flags = 0x20,   // TCP, first fragment, 14 bytes of TCP header present
    // Unfragmented or a first fragment, protocol known: the bytes at
    // payload_offset are the transport (or tunnel) header. No rule requires
    // it (rules mask only the bits they need); core/tunnel.h reads it.
    have_transport = 0x40,
};

// Where an IP header's addresses start and how long its fixed part is, in
// bytes from the header's start (RFC 791 section 3.1, RFC 8200 section 3).
constexpr uint32_t ipv4_header_min = 20;
constexpr uint32_t ipv4_src_at = 12;
constexpr uint32_t ipv4_dst_at = 16;
constexpr uint32_t ipv6_header_len = 40;
constexpr uint32_t ipv6_src_at = 8;
constexpr uint32_t ipv6_dst_at = 24;

// The Ethernet types (IEEE 802 EtherTypes) whose addresses linecap reads:
// the filters, the index and the query pruner ask of ARP and RARP too,
// because libpcap's "host" and "net" do.
constexpr uint16_t ether_type_ipv4 = 0x0800;
constexpr uint16_t ether_type_arp = 0x0806;
constexpr uint16_t ether_type_rarp = 0x8035;
constexpr uint16_t ether_type_ipv6 = 0x86dd;

// Where an untagged frame's five-tuple ends: Ethernet's 14 bytes, the IP
// header (IPv4 without options, or IPv6's fixed header), then the two
// ports. The index keys a flow by these bytes (writers/index_flow.h), and
// a session whose snaplen cuts inside them takes no worker's marks
// (output_spec::index_marked in core/spec.h).
constexpr uint32_t five_tuple_end_ipv4 = 14 + ipv4_header_min + 4;   // 38
constexpr uint32_t five_tuple_end_ipv6 = 14 + ipv6_header_len + 4;   // 58

// The parse's result is also what rte_acl reads (filters/acl.cpp gives it
// these offsets), so no key is copied between parsing and classifying. The
// layout serves both families: proto alone first (rte_acl wants a one-byte
// first field), then 4-byte groups; an IPv4 address is in the first 4 bytes
// of its array. Ports and the word at `present` are each written with one
// store of the size rte_acl loads them with, so the load never waits on a
// failed store-to-load forward.
struct packet_fields {
    uint8_t proto;
    uint8_t family;          // 0: no IP header; 4 or 6
    uint8_t pad0[2];
    uint8_t src[16];         // network byte order
    uint8_t dst[16];
    uint16_t src_port;       // network byte order
    uint16_t dst_port;
    uint8_t present;         // field_bit
    uint8_t tcp_flags;
    uint8_t address_words;   // IPv6: bit k: 32-bit word k of src there; bit 4+k: of dst
    uint8_t pad1;
    uint32_t l3_offset;      // where the IP header starts
    uint32_t payload_offset; // TCP/UDP payload, else the bytes after the IP headers
    // Where the payload ends as the IP header declares it: the IP packet's
    // end (declared_ip_length; no_declared_end when no plausible length
    // says). Not bounded by the bytes parsed: a reader stops at whichever
    // end comes first (the payload scanner reads the whole mbuf, the tunnel
    // walk its copy). A UDP payload also ends where the UDP length says:
    // its readers apply it (udp_payload_end), so the parse costs the outer
    // pass what it did.
    uint32_t payload_end;
};

// packet_fields::payload_end when no header declares a plausible length:
// the payload runs to the end of the packet.
constexpr uint32_t no_declared_end = UINT32_MAX;
static_assert(offsetof(packet_fields, src) == 4 && offsetof(packet_fields, dst) == 20);
static_assert(offsetof(packet_fields, dst_port) == offsetof(packet_fields, src_port) + 2);
static_assert(offsetof(packet_fields, present) % 4 == 0 && offsetof(packet_fields, src_port) % 4 == 0);

namespace detail {

inline uint16_t load16(const uint8_t* p)
{
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

} // namespace detail

// The length of the IP packet whose header is at `l3`, as that header
// declares it: IPv4's total length, IPv6's payload length + 40. 0 when the
// field is not within `len`, or says nothing plausible: an IPv4 total
// length shorter than its header (0 is what captures of Linux's BIG TCP and
// of some segmentation offloads show), an IPv6 payload length of 0 before a
// hop-by-hop header (a jumbogram, RFC 2675) or TCP (BIG TCP again; Wireshark
// reads 0 as "maybe TSO" too). Any other IPv6 payload length of 0 is what it
// says: nothing after the header (IP-in-IPv6 with no inner byte, padded).
inline uint32_t declared_ip_length(const uint8_t* data, uint32_t len, uint32_t l3, uint8_t family)
{
    if (family == 4) {
        if (l3 + 4 > len)
            return 0;
        const uint32_t total = detail::load16(data + l3 + 2);
        return total >= 20 && total >= (data[l3] & 0x0fu) * 4u ? total : 0;
    }
    if (l3 + 7 > len)
        return 0;
    const uint32_t payload = detail::load16(data + l3 + 4);
    if (payload != 0)
        return payload + 40;
    const uint8_t next = data[l3 + 6];
    return next == 0 || next == 6 ? 0 : 40;
}

namespace detail {

constexpr unsigned max_vlan_tags = 2;
constexpr unsigned max_ipv6_extensions = 8;

inline bool is_vlan(uint16_t type)
{
    return type == 0x8100 || type == 0x88a8 || type == 0x9100;
}

inline bool has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132;
}

// What the parse learns about the transport header, kept in registers until
// the one store of each word at the end: `data` may alias the fields (both
// are bytes), so a store to a field in between would make the compiler
// reload the packet.
struct transport_view {
    uint32_t ports = 0;          // both ports, as in the packet
    uint8_t present = 0;         // field_bit
    uint8_t tcp_flags = 0;
    uint32_t payload_offset = 0;
    uint32_t payload_end = 0;
};

// No transport header, and no payload: a header cut short says nothing of
// either (fuzz-packet found a payload pattern matched from byte 0, in the
// Ethernet header, when this was not said).
inline transport_view no_payload(uint8_t present, uint32_t len)
{
    return transport_view{0, present, 0, len, len};
}

// Ports, flags and payload bounds of the transport header at `l4`, in an IP
// packet that ends at `ip_end` (no_declared_end: unknown); `len` is the
// bytes there that are the IP packet's. Each field read only where its
// bytes are; parse_l4 below is the same, faster.
inline transport_view parse_l4_careful(const uint8_t* data, uint32_t len, uint32_t l4, bool first_fragment,
                                       uint8_t proto, uint8_t present, uint32_t ip_end)
{
    transport_view t;
    t.present = present;
    t.payload_offset = l4;
    t.payload_end = ip_end;
    if (!first_fragment || !(present & have_proto))
        return t;
    t.present |= have_transport;
    if (has_ports(proto)) {
        if (l4 + 4 <= len) {
            std::memcpy(&t.ports, data + l4, 4);
            t.present |= have_src_port | have_dst_port;
        } else if (l4 + 2 <= len) {
            std::memcpy(&t.ports, data + l4, 2);
            t.present |= have_src_port;
        }
    }
    if (proto == 6) {
        if (l4 + 14 <= len) {
            t.tcp_flags = data[l4 + 13];
            t.present |= have_tcp_flags;
        }
        if (l4 + 13 <= len)
            t.payload_offset = l4 + (data[l4 + 12] >> 4) * 4u;
    } else if (proto == 17) {
        t.payload_offset = l4 + 8;   // the UDP length is the readers' (udp_payload_end)
    }
    return t;
}

// parse_l4_careful's result. When the 14 bytes at `l4` are all there (most
// packets), with no branch on the protocol, which on mixed traffic the CPU
// cannot foresee (TCP, UDP, ICMP and SCTP in no order): the fields a
// protocol has not are read and dropped by masks. Inlined by force: GCC
// outlines it once the IPv4 and IPv6 parses both call it, and the call
// cost the classifier 1-2 ns a packet (docs/performance.md).
[[gnu::always_inline]] inline transport_view parse_l4(const uint8_t* data, uint32_t len, uint32_t l4,
                                                      bool first_fragment, uint8_t proto, uint8_t present,
                                                      uint32_t ip_end)
{
    if (__builtin_expect(!first_fragment || !(present & have_proto) || l4 + 14 > len, 0))
        return parse_l4_careful(data, len, l4, first_fragment, proto, present, ip_end);
    transport_view t;
    t.payload_end = ip_end;
    const bool tcp = proto == 6, udp = proto == 17;
    const uint32_t with_ports = 0u - static_cast<uint32_t>(tcp | udp | (proto == 132));
    const uint32_t is_tcp = 0u - static_cast<uint32_t>(tcp);
    std::memcpy(&t.ports, data + l4, 4);
    t.ports &= with_ports;
    t.present = static_cast<uint8_t>(present | have_transport | ((have_src_port | have_dst_port) & with_ports) |
                                     (have_tcp_flags & is_tcp));
    t.tcp_flags = static_cast<uint8_t>(data[l4 + 13] & is_tcp);
    const uint32_t tcp_header = (data[l4 + 12] >> 4) * 4u;
    t.payload_offset = l4 + (tcp_header & is_tcp) + (8u & (0u - static_cast<uint32_t>(udp)));
    return t;
}

inline void store_transport(const transport_view& t, uint8_t address_words, packet_fields& f)
{
    std::memcpy(&f.src_port, &t.ports, 4);
    const uint8_t word[4] = {t.present, t.tcp_flags, address_words, 0};
    std::memcpy(&f.present, word, 4);
    f.payload_offset = t.payload_offset;
    f.payload_end = t.payload_end;
}

// The IPv4 header at `l3`, and what follows it. The payload's end is never
// past `limit`: the end of the packet around an inner packet,
// no_declared_end for a frame.
inline void parse_ipv4(const uint8_t* data, uint32_t len, uint32_t l3, uint32_t limit, packet_fields& f)
{
    f.family = 4;
    uint8_t present = 0, proto = 0;
    uint32_t src = 0, dst = 0;
    bool first_fragment;
    uint32_t header;                      // IHL, in bytes
    uint32_t ip_end = no_declared_end;    // l3 + the total length
    if (__builtin_expect(l3 + ipv4_header_min <= len, 1)) {
        // The whole fixed header, its first 8 bytes in one load (so the
        // total length costs the outer pass next to nothing), read as
        // the little-endian word it is on every machine DPDK builds for here.
        static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
        uint64_t head;
        std::memcpy(&head, data + l3, 8);
        header = (head & 0x0f) * 4u;
        ip_end = l3 + __builtin_bswap16(static_cast<uint16_t>(head >> 16));
        first_fragment = (__builtin_bswap16(static_cast<uint16_t>(head >> 48)) & 0x1fff) == 0;
        proto = data[l3 + 9];
        std::memcpy(&src, data + l3 + ipv4_src_at, 4);
        std::memcpy(&dst, data + l3 + ipv4_dst_at, 4);
        present = have_proto | have_src | have_dst;
    } else {
        if (l3 + 10 <= len) {
            proto = data[l3 + 9];
            present |= have_proto;
        }
        if (l3 + ipv4_src_at + 4 <= len) {
            std::memcpy(&src, data + l3 + ipv4_src_at, 4);
            present |= have_src;
        }
        first_fragment = l3 + 8 <= len && (load16(data + l3 + 6) & 0x1fff) == 0;
        header = l3 < len ? (data[l3] & 0x0f) * 4u : 0u;
        if (l3 + 4 <= len)
            ip_end = l3 + load16(data + l3 + 2);
    }
    const uint32_t l4 = l3 + header;
    // Only a length that ends before the bytes parsed changes what is
    // read: it bounds them (padding follows) if it can be a length, and
    // bounds nothing otherwise (declared_ip_length's rule). One past them
    // is kept unchecked: a length that cannot be (under 20 bytes, or
    // under the header's) is past them only in a packet that ends inside
    // its IP header, which has nothing behind it to bound.
    uint32_t end = len;
    if (__builtin_expect(ip_end < len, 0)) {
        if (ip_end >= l3 + ipv4_header_min && ip_end >= l4)
            end = ip_end;
        else
            ip_end = no_declared_end;
    }
    const transport_view t =
        parse_l4(data, end, l4, first_fragment, proto, present, std::min(ip_end, limit));
    f.proto = proto;
    std::memcpy(f.src, &src, 4);
    std::memcpy(f.dst, &dst, 4);
    store_transport(t, 0, f);
}

// The IPv6 header at `l3`, its extension headers and what follows them;
// `limit` as for parse_ipv4.
inline void parse_ipv6(const uint8_t* data, uint32_t len, uint32_t l3, uint32_t limit, packet_fields& f)
{
    f.family = 6;
    // libpcap matches an IPv6 prefix against the 32-bit words it covers
    // only, so a packet cut inside an address still matches a short
    // prefix; the words that are there are recorded for the same reason.
    std::memset(f.src, 0, sizeof f.src);
    std::memset(f.dst, 0, sizeof f.dst);
    uint8_t words = 0, present = 0;
    for (unsigned k = 0; k < 4; k++) {
        if (l3 + ipv6_src_at + 4 * k + 4 <= len) {
            std::memcpy(f.src + 4 * k, data + l3 + ipv6_src_at + 4 * k, 4);
            words |= static_cast<uint8_t>(1u << k);
        }
        if (l3 + ipv6_dst_at + 4 * k + 4 <= len) {
            std::memcpy(f.dst + 4 * k, data + l3 + ipv6_dst_at + 4 * k, 4);
            words |= static_cast<uint8_t>(0x10u << k);
        }
    }
    if (l3 + ipv6_src_at + 16 <= len)
        present |= have_src;
    if (l3 + ipv6_dst_at + 16 <= len)
        present |= have_dst;
    if (l3 + 7 > len) {
        store_transport(no_payload(present, len), words, f);
        return;
    }
    // The extension headers and the transport header are read within
    // the payload length (ip_end is past the fixed header when declared).
    const uint32_t declared = declared_ip_length(data, len, l3, 6);
    const uint32_t ip_end = declared != 0 ? l3 + declared : no_declared_end;
    len = std::min(len, ip_end);
    uint8_t next = data[l3 + 6];
    uint32_t at = l3 + ipv6_header_len;
    bool first_fragment = true;
    bool known = true;
    for (unsigned i = 0; i < max_ipv6_extensions; i++) {
        uint32_t size;
        if (next == 0 || next == 43 || next == 60) {          // hop-by-hop, routing, destination
            if (at + 2 > len) { known = false; break; }
            size = (data[at + 1] + 1u) * 8u;
        } else if (next == 51) {                              // AH
            if (at + 2 > len) { known = false; break; }
            size = (data[at + 1] + 2u) * 4u;
        } else if (next == 44) {                              // fragment
            if (at + 8 > len) { known = false; break; }
            size = 8;
            first_fragment = first_fragment && (load16(data + at + 2) >> 3) == 0;
        } else {
            break;
        }
        next = data[at];
        at += size;
    }
    if (!known) {   // an extension header cut short: no protocol, no ports
        store_transport(no_payload(present, len), words, f);
        return;
    }
    f.proto = next;
    store_transport(
        parse_l4(data, len, at, first_fragment, next, present | have_proto, std::min(ip_end, limit)), words, f);
}

// The IP header of version `family` (4 or 6) at `l3`, and what follows it;
// false, and nothing written, for family 0 (no IP header).
inline bool parse_ip(const uint8_t* data, uint32_t len, uint32_t l3, uint8_t family, uint32_t limit,
                     packet_fields& f)
{
    if (family == 4) {
        parse_ipv4(data, len, l3, limit, f);
        return true;
    }
    if (family == 6) {
        parse_ipv6(data, len, l3, limit, f);
        return true;
    }
    return false;
}

} // namespace detail

namespace detail {

// The fields of a frame with no IP header, or none parsed yet: no payload
// unless a header says where it starts.
inline void no_ip_header(uint32_t l3, uint32_t len, packet_fields& f)
{
    f.proto = 0;
    f.family = 0;
    f.l3_offset = l3;
    store_transport(no_payload(0, len), 0, f);
}

// The link layer of the frame at `at`: the family of its IP header (4 or
// 6, if `v4` or `v6` asks for it; else 0), which starts at the f.l3_offset
// this writes, and every other field as for a frame with no IP header.
inline uint8_t parse_link(const uint8_t* data, uint32_t len, uint32_t at, packet_fields& f, bool v4, bool v6)
{
    no_ip_header(at, len, f);
    if (len < at + 14)
        return 0;
    uint32_t type_at = at + 12;
    uint16_t type = load16(data + type_at);
    for (unsigned i = 0; i < max_vlan_tags && is_vlan(type) && type_at + 6 <= len; i++) {
        type_at += 4;
        type = load16(data + type_at);
    }
    f.l3_offset = type_at + 2;
    return static_cast<uint8_t>(((type == ether_type_ipv4) & v4) * 4 | ((type == ether_type_ipv6) & v6) * 6);
}

// `v4`, `v6`: whether an IP header of that family is parsed at all. A
// frame of a family not asked for is left as one with no IP header.
inline bool parse_frame(const uint8_t* data, uint32_t len, uint32_t at, uint32_t limit, packet_fields& f,
                        bool v4 = true, bool v6 = true)
{
    const uint8_t family = parse_link(data, len, at, f, v4, v6); // sets f.l3_offset
    return parse_ip(data, len, f.l3_offset, family, limit, f);
}

inline bool parse_ip_at(const uint8_t* data, uint32_t len, uint32_t at, uint8_t family, uint32_t limit,
                        packet_fields& f)
{
    no_ip_header(at, len, f);
    if (len <= at)
        return false;
    return parse_ip(data, len, at, family, limit, f);
}

} // namespace detail

// Parses the first `len` bytes of a frame. Returns false for a frame with no
// IP header (or not enough of one to tell). Every field is written, present
// or not (absent ones as zero), so the result never holds a previous packet's
// values.
inline bool parse_packet(const uint8_t* data, uint32_t len, packet_fields& f)
{
    return detail::parse_frame(data, len, 0, no_declared_end, f);
}

// The same for a classifier whose rules name only some families: a frame of
// IPv4 (`v4` false) or IPv6 (`v6` false) is not parsed past its link layer
// and reads as a frame with no IP header. What is parsed is parsed as above.
inline bool parse_packet_families(const uint8_t* data, uint32_t len, bool v4, bool v6, packet_fields& f)
{
    return detail::parse_frame(data, len, 0, no_declared_end, f, v4, v6);
}

// parse_packet_families in two steps, for a caller that parses a burst a
// family at a time (on mixed traffic, 55% IPv4, 24% IPv6, 6% ARP, the CPU
// cannot foresee a branch on each packet's family): parse_link_layer writes every field as
// for a frame with no IP header and returns the family whose step below
// completes the parse (4 or 6, if asked for), or 0 when the parse is
// already complete. The two steps give what parse_packet_families gives.
inline uint8_t parse_link_layer(const uint8_t* data, uint32_t len, bool v4, bool v6, packet_fields& f)
{
    return detail::parse_link(data, len, 0, f, v4, v6);
}

inline void parse_ipv4_of_frame(const uint8_t* data, uint32_t len, packet_fields& f)
{
    detail::parse_ipv4(data, len, f.l3_offset, no_declared_end, f);
}

inline void parse_ipv6_of_frame(const uint8_t* data, uint32_t len, packet_fields& f)
{
    detail::parse_ipv6(data, len, f.l3_offset, no_declared_end, f);
}

// The same for a packet that starts with its IP header (no link layer), of
// IP version `family` (4 or 6): the inner packet of IP-in-IP, or of a GRE or
// GENEVE tunnel carrying IP. Offsets are from `data`.
inline bool parse_ip_packet(const uint8_t* data, uint32_t len, uint8_t family, packet_fields& f)
{
    return detail::parse_ip_at(data, len, 0, family, no_declared_end, f);
}

// The same for an inner packet, in the tunnel walk: a frame, or an IP
// packet of version `family`, that starts `at` bytes into `data` and ends
// within its first `len`. Offsets in `f` are from `data`, and its payload
// never ends past `limit`, the end the headers around it declare. (Parsed
// where it lies and into the caller's fields: moving the fields afterwards
// made the walk wait on reading back its own stores.)
inline bool parse_inner_frame(const uint8_t* data, uint32_t len, uint32_t at, uint32_t limit, packet_fields& f)
{
    return detail::parse_frame(data, len, at, limit, f);
}

inline bool parse_inner_ip(const uint8_t* data, uint32_t len, uint32_t at, uint8_t family, uint32_t limit,
                           packet_fields& f)
{
    return detail::parse_ip_at(data, len, at, family, limit, f);
}

// Where the UDP payload of the UDP packet whose fields are `f` (proto 17,
// have_transport: the caller checks) ends, given its header's length field
// (`udp_length`, in host order, read by the caller at f.payload_offset - 4):
// f.payload_end, or the datagram's end if sooner. A UDP length under 8 says
// nothing (0: an IPv6 jumbogram's).
inline uint32_t udp_payload_end(const packet_fields& f, uint32_t udp_length)
{
    return udp_length >= 8 ? std::min(f.payload_end, f.payload_offset - 8 + udp_length) : f.payload_end;
}

} // namespace linecap
