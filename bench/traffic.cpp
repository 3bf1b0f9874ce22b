#include "bench/traffic.h"

#include <algorithm>

namespace linecap::traffic {

namespace {

void put16(std::vector<uint8_t>& b, uint16_t v)
{
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}

void set16(std::vector<uint8_t>& b, size_t at, uint16_t v)
{
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += static_cast<uint32_t>(p[n - 1] << 8);
    return sum;
}

uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

constexpr uint8_t proto_tcp = 6, proto_udp = 17, proto_icmp = 1, proto_icmpv6 = 58, proto_sctp = 132;

size_t l4_header_size(uint8_t protocol)
{
    switch (protocol) {
    case proto_tcp: return 20;
    case proto_udp: return 8;
    case proto_sctp: return 12;
    case proto_icmp:
    case proto_icmpv6: return 8;
    default: return 0;
    }
}

} // namespace

std::vector<uint8_t> build_frame(const frame_spec& s)
{
    std::vector<uint8_t> b;
    b.reserve(std::max<size_t>(s.frame_length, 128));
    // Ethernet: locally administered MACs derived from nothing in particular.
    const uint8_t dst_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
    const uint8_t src_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    b.insert(b.end(), dst_mac, dst_mac + 6);
    b.insert(b.end(), src_mac, src_mac + 6);
    for (const auto& [tpid, tci] : s.vlans) {
        put16(b, tpid);
        put16(b, tci);
    }
    if (s.ip_version == 0) {
        // ARP request, padded to the minimum frame.
        put16(b, 0x0806);
        const uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1,
                                 0, 0, 0, 0, 0, 0, 10, 0, 0, 2};
        b.insert(b.end(), arp, arp + sizeof arp);
        b.resize(std::max<size_t>({b.size(), 60, s.frame_length}), 0);
        return b;
    }

    const bool first_fragment = s.fragment_offset == 0;
    const size_t l4_size = first_fragment ? l4_header_size(s.protocol) : 0;
    size_t ext_size = 8 * s.ipv6_extensions.size();
    const size_t ip_header = s.ip_version == 4 ? 20 : 40 + ext_size;
    const size_t header_end = b.size() + 2 + ip_header + l4_size;
    std::vector<uint8_t> payload = s.payload;
    if (s.frame_length > header_end + payload.size())
        payload.resize(s.frame_length - header_end, 0);
    for (size_t i = s.payload.size(); i < payload.size(); i++)
        payload[i] = static_cast<uint8_t>(i * 7 + 3);   // not all zeros: byte compares mean something

    const size_t ip_start = b.size() + 2;
    const size_t l4_total = l4_size + payload.size();
    if (s.ip_version == 4) {
        put16(b, 0x0800);
        b.push_back(0x45);
        b.push_back(0);
        put16(b, static_cast<uint16_t>(20 + l4_total));
        put16(b, 0x1234);   // identification
        put16(b, static_cast<uint16_t>((s.more_fragments ? 0x2000 : 0) | (s.fragment_offset & 0x1fff)));
        b.push_back(64);
        b.push_back(s.protocol);
        put16(b, 0);
        b.insert(b.end(), s.src.begin(), s.src.begin() + 4);
        b.insert(b.end(), s.dst.begin(), s.dst.begin() + 4);
        set16(b, ip_start + 10, fold(sum16(&b[ip_start], 20)));
    } else {
        put16(b, 0x86dd);
        b.push_back(0x60);
        b.push_back(0);
        put16(b, 0);
        put16(b, static_cast<uint16_t>(ext_size + l4_total));
        const bool fragmented = s.fragment_offset != 0 || s.more_fragments;
        std::vector<uint8_t> chain = s.ipv6_extensions;
        if (fragmented && std::find(chain.begin(), chain.end(), 44) == chain.end()) {
            chain.push_back(44);   // a fragment header, when fragment fields are set
            ext_size += 8;
            set16(b, ip_start + 4, static_cast<uint16_t>(ext_size + l4_total));
        }
        b.push_back(chain.empty() ? s.protocol : chain.front());
        b.push_back(64);
        b.insert(b.end(), s.src.begin(), s.src.end());
        b.insert(b.end(), s.dst.begin(), s.dst.end());
        for (size_t i = 0; i < chain.size(); i++) {
            const uint8_t next = i + 1 < chain.size() ? chain[i + 1] : s.protocol;
            if (chain[i] == 44) {
                b.push_back(next);
                b.push_back(0);
                put16(b, static_cast<uint16_t>(s.fragment_offset << 3 | (s.more_fragments ? 1 : 0)));
                put16(b, 0);
                put16(b, 0x4321);
            } else if (chain[i] == 51) {
                // AH: length in 4-byte units minus 2.
                b.push_back(next);
                b.push_back(0);
                b.insert(b.end(), 6, 0);
            } else {
                // Hop-by-hop, routing, destination options: length in 8-byte units minus 1.
                b.push_back(next);
                b.push_back(0);
                b.insert(b.end(), {1, 4, 0, 0, 0, 0});   // a PadN option
            }
        }
    }

    const size_t l4_start = b.size();
    if (l4_size > 0) {
        switch (s.protocol) {
        case proto_tcp:
            put16(b, s.src_port);
            put16(b, s.dst_port);
            b.insert(b.end(), {0, 0, 0, 1, 0, 0, 0, 0});   // seq 1, ack 0
            b.push_back(0x50);
            b.push_back(s.tcp_flags);
            put16(b, 0xffff);
            put16(b, 0);
            put16(b, 0);
            break;
        case proto_udp:
            put16(b, s.src_port);
            put16(b, s.dst_port);
            put16(b, static_cast<uint16_t>(l4_total));
            put16(b, 0);
            break;
        case proto_sctp:   // common header; the CRC32c checksum is left zero
            put16(b, s.src_port);
            put16(b, s.dst_port);
            b.insert(b.end(), 8, 0);
            break;
        default:   // ICMP, ICMPv6: type, code, checksum, id, sequence
            b.push_back(s.icmp_type);
            b.push_back(s.icmp_code);
            put16(b, 0);
            put16(b, 1);
            put16(b, 1);
            break;
        }
    }
    b.insert(b.end(), payload.begin(), payload.end());

    if (l4_size > 0 && s.protocol != proto_sctp) {
        // Transport checksum over the pseudo-header (ICMPv4 has none).
        uint32_t sum = 0;
        if (s.protocol != proto_icmp) {
            const size_t addr = s.ip_version == 4 ? 4 : 16;
            sum = sum16(s.src.data(), addr, sum);
            sum = sum16(s.dst.data(), addr, sum);
            sum += s.protocol;
            sum += static_cast<uint32_t>(l4_total);
        }
        sum = sum16(&b[l4_start], l4_total, sum);
        const size_t at = l4_start + (s.protocol == proto_tcp ? 16 : s.protocol == proto_udp ? 6 : 2);
        set16(b, at, fold(sum));
    }
    if (b.size() < 60)
        b.resize(60, 0);
    return b;
}

std::vector<uint8_t> encapsulate(const tunnel_frame& t, const std::vector<uint8_t>& inner)
{
    // The inner IP packet, for kinds that carry IP: past the tags.
    size_t type_at = 12;
    while (type_at + 4 <= inner.size() && (inner[type_at] << 8 | inner[type_at + 1]) == 0x8100)
        type_at += 4;
    const uint16_t inner_type = static_cast<uint16_t>(inner[type_at] << 8 | inner[type_at + 1]);
    const std::vector<uint8_t> inner_ip(inner.begin() + static_cast<long>(type_at + 2), inner.end());

    std::vector<uint8_t> h;   // the tunnel header
    auto gre = [&](uint16_t flags, uint16_t proto, bool key, bool seq) {
        put16(h, static_cast<uint16_t>(flags | (key ? 0x2000 : 0) | (seq ? 0x1000 : 0) | t.version));
        put16(h, proto);
        if (key) {
            put16(h, static_cast<uint16_t>(t.id >> 16));
            put16(h, static_cast<uint16_t>(t.id));
        }
        if (seq)
            put16(h, 0), put16(h, 7);
    };
    frame_spec outer;
    outer.ip_version = t.outer_version;
    outer.src = t.outer_src;
    outer.dst = t.outer_dst;
    outer.protocol = 47;
    bool ip_payload = false;
    switch (t.kind) {
    case tunnel_kind::vxlan:
        outer.protocol = proto_udp;
        outer.dst_port = t.udp_port ? t.udp_port : 4789;
        h = {t.vxlan_flags, 0, 0, 0, static_cast<uint8_t>(t.id >> 16), static_cast<uint8_t>(t.id >> 8),
             static_cast<uint8_t>(t.id), 0};
        break;
    case tunnel_kind::geneve:
    case tunnel_kind::geneve_ip:
        outer.protocol = proto_udp;
        outer.dst_port = t.udp_port ? t.udp_port : 6081;
        ip_payload = t.kind == tunnel_kind::geneve_ip;
        h = {static_cast<uint8_t>(t.version << 6 | (t.geneve_words & 0x3f)), 0};
        put16(h, ip_payload ? inner_type : 0x6558);
        h.insert(h.end(), {static_cast<uint8_t>(t.id >> 16), static_cast<uint8_t>(t.id >> 8),
                           static_cast<uint8_t>(t.id), 0});
        for (unsigned w = 0; w < t.geneve_words; w++) {
            if (w == 0)   // one option: class 0x0103, type 0x80, length in words
                h.insert(h.end(), {0x01, 0x03, 0x80, static_cast<uint8_t>(t.geneve_words - 1)});
            else
                h.insert(h.end(), {0xaa, 0xbb, 0xcc, static_cast<uint8_t>(w)});
        }
        break;
    case tunnel_kind::gre_ip:
        ip_payload = true;
        gre(0, inner_type, true, false);
        break;
    case tunnel_kind::gre_ethernet:
        gre(0, 0x6558, true, false);
        break;
    case tunnel_kind::erspan1:
        gre(0, 0x88be, false, false);
        break;
    case tunnel_kind::erspan2:
        gre(0, 0x88be, false, true);
        put16(h, static_cast<uint16_t>((1 + t.version) << 12 | 10));        // version 1, VLAN 10
        put16(h, static_cast<uint16_t>(t.id & 0x3ff));                      // session id
        put16(h, 0), put16(h, 5);                                            // index
        break;
    case tunnel_kind::erspan3:
        gre(0, 0x22eb, false, true);
        put16(h, static_cast<uint16_t>((2 + t.version) << 12 | 10));        // version 2, VLAN 10
        put16(h, static_cast<uint16_t>(t.id & 0x3ff));
        put16(h, 0x1234), put16(h, 0x5678);                                  // timestamp
        put16(h, 0);                                                         // SGT
        put16(h, static_cast<uint16_t>((t.erspan3_frame_type & 0x1f) << 10 | 3 << 4 | (t.platform ? 1 : 0)));
        if (t.platform)
            h.insert(h.end(), {0x08, 0, 0, 0, 0, 0, 0, 1});                // platform id 1
        break;
    case tunnel_kind::ip_in_ip:
        ip_payload = true;
        h.clear();
        outer.protocol = inner_type == 0x86dd ? 41 : 4;
        break;
    }
    outer.payload = h;
    const std::vector<uint8_t>& body = ip_payload ? inner_ip : inner;
    outer.payload.insert(outer.payload.end(), body.begin(), body.end());
    return build_frame(outer);
}

std::vector<uint8_t> generator::random_tunnel(const std::vector<uint8_t>& inner)
{
    static const uint32_t ids[] = {42, 100, 150, 200, 5000, 1023, 16777215};
    tunnel_frame t;
    t.id = ids[_rng() % (sizeof ids / sizeof ids[0])];
    if (_rng() % 4 == 0) {
        t.outer_version = 6;
        t.outer_src = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(1 + _rng() % 3)};
        t.outer_dst = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64};
    } else {
        t.outer_src = {192, 0, 2, static_cast<uint8_t>(1 + _rng() % 3)};
    }
    const unsigned pick = static_cast<unsigned>(_rng() % 100);
    if (pick < 14) {
        t.kind = tunnel_kind::vxlan;
    } else if (pick < 20) {
        t.kind = tunnel_kind::vxlan;
        t.udp_port = 8472;   // Linux's old default: a collector must be told
    } else if (pick < 30) {
        t.kind = tunnel_kind::geneve;
        t.geneve_words = static_cast<unsigned>(_rng() % 3);
    } else if (pick < 36) {
        t.kind = tunnel_kind::geneve_ip;
    } else if (pick < 42) {
        t.kind = tunnel_kind::gre_ip;
    } else if (pick < 48) {
        t.kind = tunnel_kind::gre_ethernet;
    } else if (pick < 53) {
        t.kind = tunnel_kind::erspan1;
    } else if (pick < 61) {
        t.kind = tunnel_kind::erspan2;
        t.id &= 0x3ff;
    } else if (pick < 69) {
        t.kind = tunnel_kind::erspan3;
        t.id &= 0x3ff;
        t.platform = _rng() % 2;
    } else if (pick < 77) {
        t.kind = tunnel_kind::ip_in_ip;
    } else if (pick < 83) {
        // Two levels: a VXLAN mirror of GRE-tunnelled traffic.
        tunnel_frame in;
        in.kind = tunnel_kind::gre_ip;
        in.outer_src = {172, 16, 0, 1};
        in.outer_dst = {172, 16, 0, 2};
        in.id = 7;
        t.kind = tunnel_kind::vxlan;
        return encapsulate(t, encapsulate(in, inner));
    } else if (pick < 90) {
        return inner;   // not tunnelled at all
    } else {
        // Malformed or unknown tunnel headers: no inner packet.
        switch (_rng() % 5) {
        case 0: {   // a VXLAN header cut short
            t.kind = tunnel_kind::vxlan;
            std::vector<uint8_t> f = encapsulate(t, inner);
            f.resize(14 + (t.outer_version == 4 ? 20 : 40) + 8 + 5);
            return f;
        }
        case 1:
            t.kind = tunnel_kind::geneve;
            t.version = 1;
            break;
        case 2:
            t.kind = tunnel_kind::erspan2;
            t.version = 3;   // ERSPAN version 4: unknown
            break;
        case 3:
            t.kind = tunnel_kind::erspan3;
            t.erspan3_frame_type = 7;
            break;
        default: {   // GRE cut inside its key
            t.kind = tunnel_kind::gre_ethernet;
            std::vector<uint8_t> f = encapsulate(t, inner);
            f.resize(14 + (t.outer_version == 4 ? 20 : 40) + 6);
            return f;
        }
        }
    }
    return encapsulate(t, inner);
}

std::optional<profile> parse_profile(std::string_view name)
{
    if (name == "mixed") return profile::mixed;
    if (name == "64") return profile::small;
    if (name == "imix") return profile::imix;
    if (name == "1514") return profile::large;
    if (name == "jumbo") return profile::jumbo;
    if (name == "tunnels") return profile::tunnels;
    return std::nullopt;
}

generator::generator(const generator_options& options)
    : _options(options), _rng(options.seed), _ts(options.start_ns)
{
    for (unsigned i = 0; i < std::max(1u, options.flows); i++)
        _flows.push_back(random_flow());
}

frame_spec generator::random_flow()
{
    frame_spec f;
    const unsigned kind = static_cast<unsigned>(_rng() % 100);
    // 64-byte frames have no room for IPv6 and TCP headers: IPv4 only there.
    f.ip_version = kind < 65 || _options.shape == profile::small ? 4 : 6;
    if (kind < 40 || (kind >= 65 && kind < 85))
        f.protocol = proto_tcp;
    else if (kind < 60 || (kind >= 85 && kind < 96))
        f.protocol = proto_udp;
    else
        f.protocol = f.ip_version == 4 ? proto_icmp : proto_icmpv6;
    if (_rng() % 10 == 0)
        f.vlans.push_back({0x8100, static_cast<uint16_t>(1 + _rng() % 4094)});
    if (f.ip_version == 4) {
        f.src = {10, static_cast<uint8_t>(_rng() % 4), static_cast<uint8_t>(_rng()), static_cast<uint8_t>(1 + _rng() % 254)};
        f.dst = {10, static_cast<uint8_t>(4 + _rng() % 4), static_cast<uint8_t>(_rng()), static_cast<uint8_t>(1 + _rng() % 254)};
    } else {
        f.src = {0x20, 0x01, 0x0d, 0xb8, 0, static_cast<uint8_t>(_rng() % 4)};
        f.dst = {0x20, 0x01, 0x0d, 0xb8, 0, static_cast<uint8_t>(4 + _rng() % 4)};
        for (int i = 8; i < 16; i++) {
            f.src[i] = static_cast<uint8_t>(_rng());
            f.dst[i] = static_cast<uint8_t>(_rng());
        }
    }
    static const uint16_t services[] = {22, 53, 80, 123, 443, 500, 4500, 8080};
    f.src_port = static_cast<uint16_t>(1024 + _rng() % 64512);
    f.dst_port = services[_rng() % (sizeof services / sizeof services[0])];
    f.icmp_type = f.ip_version == 4 ? (_rng() % 2 ? 8 : 3) : (_rng() % 2 ? 128 : 1);
    return f;
}

uint32_t generator::frame_length()
{
    switch (_options.shape) {
    case profile::small: return 64;
    case profile::large: return 1514;
    case profile::imix: {
        const unsigned k = static_cast<unsigned>(_rng() % 12);
        return k < 7 ? 64 : k < 11 ? 570 : 1514;
    }
    case profile::jumbo:
        if (_rng() % 50 == 0)
            return 65535;
        return static_cast<uint32_t>(60 + _rng() % (9018 - 60 + 1));
    case profile::mixed:
        break;
    case profile::tunnels:   // room for two tunnel headers under 1514
        return static_cast<uint32_t>(60 + _rng() % (1380 - 60 + 1));
    }
    return static_cast<uint32_t>(60 + _rng() % (1514 - 60 + 1));
}

packet generator::next()
{
    frame_spec f = _flows[_rng() % _flows.size()];
    if (f.protocol == proto_tcp) {
        static const uint8_t flag_mix[] = {0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x10};
        f.tcp_flags = flag_mix[_rng() % sizeof flag_mix];
    }
    if (_rng() % 2)   // the reply direction
        std::swap(f.src, f.dst), std::swap(f.src_port, f.dst_port);
    f.frame_length = frame_length();
    packet p;
    if (_options.shape == profile::tunnels) {
        if (f.protocol == proto_icmp || f.protocol == proto_icmpv6)
            f.icmp_type = f.ip_version == 4 ? 8 : 128;   // echo: no quoted packet for decoders to chase
        p.bytes = random_tunnel(build_frame(f));
    } else {
        p.bytes = build_frame(f);
    }
    p.ts_ns = _ts;
    uint64_t gap = _options.fixed_gap ? _options.gap_ns : _options.gap_ns / 2 + _rng() % (_options.gap_ns + 1);
    if (!_options.sub_microsecond && !_options.fixed_gap)
        gap = std::max<uint64_t>(1000, gap / 1000 * 1000);
    _ts += gap;
    return p;
}

} // namespace linecap::traffic
