// Mirror traffic: the packet inside a tunnel, found with a bounded walk.
//
//   outer frame -- packet.h --> outer packet_fields
//        -- find_inner: at most max_tunnel_levels encapsulations --> inner offset, kind, tunnel id
//        -- packet.h (parse_inner_frame / parse_inner_ip) --> inner packet_fields, the same rte_acl key
//
// The encapsulations (docs/mirror.md):
//   UDP to a VXLAN port (8-byte header; I flag -> VNI)            -> Ethernet
//   UDP to a GENEVE port (version 0, options skipped, VNI)        -> Ethernet (0x6558) or IP (0x0800, 0x86dd)
//   GRE, RFC 2784/2890 (version 0, C/K/S words; K -> key)         -> Ethernet (0x6558), IP (0x0800, 0x86dd),
//       ERSPAN type I  (0x88be, no S bit: no ERSPAN header)       -> Ethernet
//       ERSPAN type II (0x88be with S: 8-byte header, version 1)  -> Ethernet; session id
//       ERSPAN type III (0x22eb: 12-byte header, version 2, and 8 more when O is set)
//                                                                 -> Ethernet (frame type 0) or IP (2); session id
//   IP protocol 4 / 41 (IPv4 or IPv6 in IPv4 or IPv6)             -> IP
//
// Everything is read within `len`, and within the lengths the headers
// declare: a tunnel header and the packet inside it end where the outer IP
// packet ends (IPv4 total length, IPv6 payload length) and, in UDP, where
// the datagram ends (UDP length), at each level (packet_fields::payload_end),
// so the padding of a short frame is never a tunnel header or an inner
// packet. (GRE, VXLAN and ERSPAN declare no length of their own; GENEVE's
// option length is where its payload starts.) A tunnel header cut short or
// malformed (an unknown version, GRE routing, an unknown payload type) ends
// the walk: the packet has no inner packet at that level. Ports, GRE and IP-in-IP are
// looked at only in unfragmented packets and first fragments. Plain structs,
// inline, no allocation: this runs in the workers' fast path, and in the
// writers for sessions that write decapsulated packets.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <rte_mbuf.h>

#include "core/packet.h"

namespace linecap {

// Encapsulations walked through, at most: a mirror session's tunnel, and one
// tunnel of the mirrored traffic inside it.
constexpr unsigned max_tunnel_levels = 2;

// UDP ports listed per kind of UDP tunnel in one session.
constexpr unsigned max_tunnel_ports = 8;

constexpr uint16_t to_network16(uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return static_cast<uint16_t>(v << 8 | v >> 8);
#else
    return v;
#endif
}

// The UDP destination ports that mean VXLAN and GENEVE, as a session set them
// ("vxlan_ports", "geneve_ports"). In network byte order, as packet_fields
// holds ports, so a match is a plain compare.
struct tunnel_ports {
    uint16_t vxlan[max_tunnel_ports] = {to_network16(4789)};
    uint16_t geneve[max_tunnel_ports] = {to_network16(6081)};
    uint8_t vxlan_count = 1;
    uint8_t geneve_count = 1;

    bool operator==(const tunnel_ports&) const = default;
};

enum class inner_kind : uint8_t { none, ethernet, ipv4, ipv6 };

enum class tunnel_type : uint8_t { none, vxlan, geneve, gre, erspan1, erspan2, erspan3, ip_in_ip };

// What find_inner learned. `id` is the first tunnel id met on the way in
// (the outermost: a mirror session's VNI, GRE key or ERSPAN session id).
struct tunnel_view {
    uint32_t inner_offset = 0;    // where the innermost packet starts in the frame
    // Where it ends, as the headers around it declare (the nearest end of
    // the outer IP packets and UDP datagrams it is in): no_declared_end
    // when none declares one. Not bounded by the bytes walked.
    uint32_t end = no_declared_end;
    uint32_t id = 0;              // VNI (24 bits), GRE key (32), ERSPAN session id (10)
    inner_kind kind = inner_kind::none;
    tunnel_type outer_type = tunnel_type::none;   // the outermost encapsulation
    uint8_t levels = 0;           // encapsulations walked through
    bool has_id = false;
};

namespace detail {

inline uint32_t load32(const uint8_t* p)
{
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

inline bool listed(const uint16_t* ports, unsigned count, uint16_t port)
{
    for (unsigned i = 0; i < count && i < max_tunnel_ports; i++)
        if (ports[i] == port)
            return true;
    return false;
}

inline inner_kind kind_of_ethertype(uint16_t type)
{
    return type == 0x6558 ? inner_kind::ethernet
         : type == ether_type_ipv4 ? inner_kind::ipv4
         : type == ether_type_ipv6 ? inner_kind::ipv6
                              : inner_kind::none;
}

// One encapsulation: the tunnel header right after the packet whose fields
// are `f`, read within its payload (up to f.payload_end, and in UDP the UDP
// length's end: `end`). Returns the kind of packet inside (none: not a
// tunnel, a bad one, or one with no byte inside) and sets `at` to where it
// starts, and the id if the header has one.
struct step {
    inner_kind kind = inner_kind::none;
    tunnel_type type = tunnel_type::none;
    bool has_id = false;
    uint32_t at = 0;
    uint32_t end = no_declared_end;   // where the tunnel's payload ends as declared (IP, UDP lengths)
    uint32_t id = 0;
};
// 16 bytes, returned in two registers: returned through memory, the walk
// waited on reading it back (about 2 ns a packet of the inner pass, on Zen).
static_assert(sizeof(step) == 16);

inline step next_level(const uint8_t* data, uint32_t bytes, const packet_fields& f, const tunnel_ports& ports)
{
    step s;
    if (f.family == 0 || !(f.present & have_transport))
        return s;
    // Where the tunnel's payload ends as declared: the IP packet's end, and
    // in UDP the datagram's. Read only for a protocol that can be a tunnel
    // (an inner TCP packet, just parsed, need not wait on its fields).
    bool vxlan = false;
    if (f.proto == 17) {
        if (!(f.present & have_dst_port))
            return s;
        vxlan = listed(ports.vxlan, ports.vxlan_count, f.dst_port);
        if (!vxlan && !listed(ports.geneve, ports.geneve_count, f.dst_port))
            return s;
        if (f.payload_offset - 2 > bytes)   // the UDP length: bytes 4 and 5 of the header
            return s;
        s.end = udp_payload_end(f, load16(data + f.payload_offset - 4));
    } else if (f.proto == 47 || f.proto == 4 || f.proto == 41) {
        s.end = f.payload_end;
    } else {
        return s;
    }
    const uint32_t len = std::min(bytes, s.end);   // what the packet holds, and is there
    if (f.proto == 17) {
        const uint32_t h = f.payload_offset;   // after the 8-byte UDP header
        if (vxlan) {
            // RFC 7348: flags(8: I = 0x08) reserved(24) VNI(24) reserved(8).
            // A clear I flag is taken as "no VNI", not as "no packet", as
            // Wireshark does: a collector keeps what arrives.
            if (h + 8 > len)
                return s;
            s.type = tunnel_type::vxlan;
            s.has_id = (data[h] & 0x08) != 0;
            s.id = s.has_id ? load32(data + h + 4) >> 8 : 0;
            s.at = h + 8;
            s.kind = inner_kind::ethernet;
        } else {
            // RFC 8926: ver(2) opt_len(6, 4-byte words) O C rsvd(6) protocol(16) VNI(24) rsvd(8) options.
            if (h + 8 > len || (data[h] >> 6) != 0)
                return s;
            s.type = tunnel_type::geneve;
            s.at = h + 8 + (data[h] & 0x3fu) * 4;
            s.kind = kind_of_ethertype(load16(data + h + 2));
            s.has_id = true;
            s.id = load32(data + h + 4) >> 8;
        }
    } else if (f.proto == 47) {
        // RFC 2784/2890: C(0x8000) R(0x4000) K(0x2000) S(0x1000), version 0;
        // then checksum+reserved, key, sequence number: one word each if set.
        const uint32_t h = f.payload_offset;
        if (h + 4 > len)
            return s;
        const uint16_t flags = load16(data + h);
        if ((flags & 0x4007) != 0)   // routing present (RFC 1701) or version 1 (PPTP): not walked
            return s;
        const uint16_t type = load16(data + h + 2);
        uint32_t at = h + 4;
        if (flags & 0x8000)
            at += 4;
        if (flags & 0x2000) {
            if (at + 4 > len)
                return s;
            s.has_id = true;
            s.id = load32(data + at);
            at += 4;
        }
        if (flags & 0x1000)
            at += 4;
        s.type = tunnel_type::gre;
        if (type == 0x88be) {
            // ERSPAN: type I has no sequence number and no header of its own.
            if (!(flags & 0x1000)) {
                s.type = tunnel_type::erspan1;
                s.kind = inner_kind::ethernet;
                s.at = at;
            } else if (at + 8 > len || (data[at] >> 4) != 1) {
                return s;
            } else {
                // Type II: ver(4) = 1, VLAN(12), COS(3) En(2) T(1) session id(10), reserved(12) index(20).
                s.type = tunnel_type::erspan2;
                s.has_id = true;
                s.id = load16(data + at + 2) & 0x3ffu;
                s.at = at + 8;
                s.kind = inner_kind::ethernet;
            }
        } else if (type == 0x22eb) {
            // Type III: ver(4) = 2, VLAN(12), COS(3) BSO(2) T(1) session id(10), timestamp(32),
            // SGT(16), P(1) FT(5) HW id(6) D(1) Gra(2) O(1); O: an 8-byte platform sub-header.
            if (at + 12 > len || (data[at] >> 4) != 2)
                return s;
            s.type = tunnel_type::erspan3;
            s.has_id = true;
            s.id = load16(data + at + 2) & 0x3ffu;
            const uint16_t word = load16(data + at + 10);
            s.at = at + 12 + ((word & 1) ? 8 : 0);
            const unsigned frame_type = (word >> 10) & 0x1f;
            if (frame_type == 0) {
                s.kind = inner_kind::ethernet;
            } else if (frame_type == 2 && s.at < len) {
                const unsigned version = data[s.at] >> 4;
                s.kind = version == 4 ? inner_kind::ipv4 : version == 6 ? inner_kind::ipv6 : inner_kind::none;
            }
        } else {
            s.at = at;
            s.kind = kind_of_ethertype(type);
        }
    } else {   // 4, 41: IP-in-IP
        s.type = tunnel_type::ip_in_ip;
        s.at = f.payload_offset;
        s.kind = f.proto == 4 ? inner_kind::ipv4 : inner_kind::ipv6;
    }
    if (s.at >= len)   // nothing of the inner packet is there
        s.kind = inner_kind::none;
    return s;
}

} // namespace detail

// Walks from the outer packet (`outer`, parsed from the same `data`) into its
// tunnels, at most max_tunnel_levels deep. Returns true if there is an inner
// packet; then `t` says where and what it is, and `inner` holds its parsed
// fields with offsets from the start of the frame, ready to be an rte_acl key
// (inner.family is 0 for an inner frame that is not IP, ARP say). On false,
// `t.kind` is none and `inner` is left as it was.
inline bool find_inner(const uint8_t* data, uint32_t len, const packet_fields& outer, const tunnel_ports& ports,
                       tunnel_view& t, packet_fields& inner)
{
    t = tunnel_view{};
    const packet_fields* current = &outer;
    for (unsigned depth = 0; depth < max_tunnel_levels; depth++) {
        const detail::step s = detail::next_level(data, len, *current, ports);
        if (s.kind == inner_kind::none)
            break;
        if (depth == 0)
            t.outer_type = s.type;
        if (s.has_id && !t.has_id) {
            t.has_id = true;
            t.id = s.id;
        }
        // The inner packet, within the end the headers around it declare
        // (s.end, already within the levels around those): its payload
        // ends where it says, never past that. Parsed into `inner` only
        // now that there is one (the level before is no longer read).
        const uint32_t there = std::min(len, s.end);   // > s.at: next_level checked
        if (s.kind == inner_kind::ethernet)
            parse_inner_frame(data, there, s.at, s.end, inner);
        else
            parse_inner_ip(data, there, s.at, s.kind == inner_kind::ipv4 ? 4 : 6, s.end, inner);
        t.inner_offset = s.at;
        t.end = s.end;
        t.kind = s.kind;
        t.levels = static_cast<uint8_t>(depth + 1);
        current = &inner;
    }
    return t.kind != inner_kind::none;
}

// Whether the inner packet find_inner found (in the same `data`, as `t` and
// `inner`) starts with an IP header whose version is its family: what a
// reader of a LINKTYPE_RAW file, which tells IPv4 from IPv6 by that version
// alone, decodes as it is. IP-in-IP and GRE say "IPv4" or "IPv6" in the
// outer header; a malformed inner packet can still start with another
// version, and an inner frame can end before its IP header.
inline bool raw_ip_inner(const uint8_t* data, uint32_t len, const tunnel_view& t, const packet_fields& inner)
{
    return inner.family != 0 && inner.l3_offset < std::min(len, t.end) &&
           (data[inner.l3_offset] >> 4) == inner.family;
}

// Header bytes of a packet for the tunnel walk: the first segment when it
// holds the whole packet or at least `tunnel_headers_max` bytes, otherwise a
// copy of the first tunnel_headers_max bytes into `copy`. The classifier and
// the writers use the same view, so both find the same inner packet.
constexpr uint32_t tunnel_headers_max = 1024;

inline const uint8_t* tunnel_headers(const rte_mbuf* m, uint8_t (&copy)[tunnel_headers_max], uint32_t& len)
{
    if (m->data_len >= tunnel_headers_max || m->data_len == m->pkt_len) {
        len = m->data_len;
        return rte_pktmbuf_mtod(m, const uint8_t*);
    }
    len = std::min<uint32_t>(m->pkt_len, tunnel_headers_max);
    const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, copy));
    if (p == nullptr)
        len = 0;
    return p;
}

// Parses and walks in one go, for callers without the outer fields (writers).
inline bool locate_inner(const uint8_t* data, uint32_t len, const tunnel_ports& ports, tunnel_view& t,
                         packet_fields& inner)
{
    packet_fields outer;
    parse_packet(data, len, outer);
    return find_inner(data, len, outer, ports, t, inner);
}

} // namespace linecap
