#include "control/describe.h"

#include <array>
#include <ctime>

#include <fmt/format.h>

#include "core/packet.h"
#include "core/spec.h"
#include "core/utc_time.h"

namespace linecap {

namespace {

std::string tcp_flag_letters(uint8_t flags)
{
    // tcpdump's letters; "." is ACK.
    std::string s;
    if (flags & 0x02) s += 'S';
    if (flags & 0x01) s += 'F';
    if (flags & 0x04) s += 'R';
    if (flags & 0x08) s += 'P';
    if (flags & 0x20) s += 'U';
    if (flags & 0x40) s += 'E';
    if (flags & 0x80) s += 'W';
    if (flags & 0x10) s += '.';
    return s.empty() ? "none" : s;
}

std::string protocol_name(uint8_t proto)
{
    for (const auto& e : ip_protocol_names)
        if (e.number == proto)
            return std::string(e.display);
    return fmt::format("proto {}", proto);
}

std::string endpoint(const packet_fields& f, const uint8_t* addr, bool port_known, uint16_t port_be)
{
    std::array<uint8_t, 16> a{};
    std::copy(addr, addr + 16, a.begin());
    std::string text = format_address(f.family, a);
    if (port_known)
        text += fmt::format(".{}", static_cast<uint16_t>((port_be >> 8) | (port_be << 8)));
    return text;
}

} // namespace

std::string describe_packet(uint64_t unix_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len,
                            bool raw_ip)
{
    std::string line = utc_time_of_day(unix_ns) + ' ';
    packet_fields f{};
    if (raw_ip) {
        // A raw IP reader tells the family by the version alone.
        const unsigned version = caplen != 0 ? data[0] >> 4 : 0;
        if (version == 4 || version == 6)
            parse_ip_packet(data, caplen, static_cast<uint8_t>(version), f);
        if (f.family == 0 || (f.present & (have_src | have_dst)) != (have_src | have_dst))
            return line + fmt::format("truncated or unknown IP packet (version {}), length {}", version, wire_len);
    } else {
        parse_packet(data, caplen, f);
    }
    if (f.family == 0 || (f.present & (have_src | have_dst)) != (have_src | have_dst)) {
        uint16_t type = caplen >= 14 ? static_cast<uint16_t>(data[12] << 8 | data[13]) : 0;
        const char* name = type == ether_type_arp ? "ARP" : type == 0x88cc ? "LLDP" : nullptr;
        if (caplen < 14)
            line += "truncated Ethernet frame";
        else if (name != nullptr)
            line += name;
        else
            line += fmt::format("ethertype 0x{:04x}", type);
        return line + fmt::format(", length {}", wire_len);
    }
    const bool ports = (f.present & (have_src_port | have_dst_port)) == (have_src_port | have_dst_port);
    line += fmt::format("IPv{} {} > {}: ", f.family, endpoint(f, f.src, ports, f.src_port),
                        endpoint(f, f.dst, ports, f.dst_port));
    line += (f.present & have_proto) ? protocol_name(f.proto) : "fragment";
    if (f.present & have_tcp_flags)
        line += fmt::format(" [{}]", tcp_flag_letters(f.tcp_flags));
    return line + fmt::format(" length {}", wire_len);
}

} // namespace linecap
