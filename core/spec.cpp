#include "core/spec.h"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace linecap {

namespace {

using nlohmann::json;

struct spec_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A JSON value and where it is in the spec, for error messages.
struct field {
    const json& value;
    std::string path;

    [[noreturn]] void fail(const std::string& what) const
    {
        throw spec_error(path.empty() ? what : path + ": " + what);
    }
    field at(const std::string& key) const { return {value.at(key), path.empty() ? key : path + "." + key}; }
    field at(size_t i) const { return {value.at(i), fmt::format("{}[{}]", path, i)}; }

    std::string text() const { return value.dump(); }

    const std::string& string() const
    {
        if (!value.is_string())
            fail(fmt::format("expected a string, got {}", text()));
        return value.get_ref<const std::string&>();
    }
    bool boolean() const
    {
        if (!value.is_boolean())
            fail(fmt::format("expected true or false, got {}", text()));
        return value.get<bool>();
    }
    uint64_t whole_number(uint64_t min, uint64_t max) const
    {
        if (!value.is_number_unsigned() || value.get<uint64_t>() < min || value.get<uint64_t>() > max)
            fail(max == UINT64_MAX ? fmt::format("{} is not a whole number {} or more", text(), min)
                                   : fmt::format("{} is not a whole number from {} to {}", text(), min, max));
        return value.get<uint64_t>();
    }
    // A list of at least one element. An empty list would match nothing:
    // almost certainly not what its writer meant.
    size_t list(const char* leave_out_to) const
    {
        if (!value.is_array())
            fail(fmt::format("expected a list, got {}", text()));
        if (value.empty())
            fail(fmt::format("empty list: leave the field out to {}", leave_out_to));
        return value.size();
    }
    void object() const
    {
        if (!value.is_object())
            fail(fmt::format("expected an object {{...}}, got {}", text()));
    }
};

template <typename Target>
using field_parser = void (*)(const field&, Target&);

template <typename Target, size_t N>
void parse_object(const field& f, Target& target,
                  const std::pair<std::string_view, field_parser<Target>> (&table)[N])
{
    f.object();
    for (const auto& item : f.value.items()) {
        const std::string& key = item.key();
        const auto* entry = std::find_if(std::begin(table), std::end(table),
                                         [&](const auto& e) { return e.first == key; });
        if (entry == std::end(table)) {
            std::string known;
            for (const auto& e : table)
                known += (known.empty() ? "" : ", ") + std::string(e.first);
            f.at(key).fail(fmt::format("unknown field (known: {})", known));
        }
        entry->second(f.at(key), target);
    }
}

// --- addresses ---------------------------------------------------------------

bool parse_address(std::string_view text, uint8_t& family, std::array<uint8_t, 16>& addr)
{
    const std::string s(text);
    addr.fill(0);
    if (inet_pton(AF_INET, s.c_str(), addr.data()) == 1) {
        family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s.c_str(), addr.data()) == 1) {
        family = 6;
        return true;
    }
    return false;
}

unsigned width(uint8_t family)
{
    return family == 4 ? 32 : 128;
}

using u128 = unsigned __int128;

u128 to_int(uint8_t family, const std::array<uint8_t, 16>& a)
{
    u128 v = 0;
    for (unsigned i = 0; i < width(family) / 8; i++)
        v = v << 8 | a[i];
    return v;
}

std::array<uint8_t, 16> from_int(uint8_t family, u128 v)
{
    std::array<uint8_t, 16> a{};
    for (int i = static_cast<int>(width(family) / 8) - 1; i >= 0; i--) {
        a[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
        v >>= 8;
    }
    return a;
}

u128 low_bits(unsigned n)
{
    return n >= 128 ? ~u128{0} : (u128{1} << n) - 1;
}

ip_range parse_ip_range(const field& f)
{
    const std::string& text = f.string();
    ip_range r;
    if (const auto slash = text.find('/'); slash != std::string::npos) {
        const std::string_view addr_text(text.data(), slash);
        if (!parse_address(addr_text, r.family, r.lo))
            f.fail(fmt::format("{} is not an IPv4 or IPv6 address", addr_text));
        unsigned length = 0;
        const char* begin = text.data() + slash + 1;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(begin, end, length);
        if (begin == end || ec != std::errc() || ptr != end)
            f.fail(fmt::format("{}: the prefix length must be a number", text));
        if (length > width(r.family))
            f.fail(fmt::format("{}: prefix length {} is too long for IPv{}", text, length, r.family));
        const u128 host_mask = low_bits(width(r.family) - length);
        const u128 base = to_int(r.family, r.lo);
        if ((base & host_mask) != 0)
            f.fail(fmt::format("{} has host bits set: did you mean {}/{}?", text,
                               format_address(r.family, from_int(r.family, base & ~host_mask)), length));
        r.hi = from_int(r.family, base | host_mask);
        return r;
    }
    if (const auto dash = text.find('-'); dash != std::string::npos) {
        const std::string_view lo_text(text.data(), dash);
        const std::string_view hi_text = std::string_view(text).substr(dash + 1);
        uint8_t hi_family = 0;
        if (!parse_address(lo_text, r.family, r.lo))
            f.fail(fmt::format("{} is not an IPv4 or IPv6 address", lo_text));
        if (!parse_address(hi_text, hi_family, r.hi))
            f.fail(fmt::format("{} is not an IPv4 or IPv6 address", hi_text));
        if (hi_family != r.family)
            f.fail(fmt::format("{} mixes IPv4 and IPv6", text));
        if (to_int(r.family, r.lo) > to_int(r.family, r.hi))
            f.fail(fmt::format("{} is a reversed range: the first address must be the lower", text));
        return r;
    }
    if (!parse_address(text, r.family, r.lo))
        f.fail(fmt::format("{} is not an IPv4 or IPv6 address, prefix or range", text));
    r.hi = r.lo;
    return r;
}

std::vector<ip_range> parse_addresses(const field& f)
{
    std::vector<ip_range> out;
    for (size_t i = 0, n = f.list("match any address"); i < n; i++)
        out.push_back(parse_ip_range(f.at(i)));
    return out;
}

// --- ports, protocols, flags --------------------------------------------------

port_range parse_port_range(const field& f)
{
    if (f.value.is_number()) {
        if (!f.value.is_number_unsigned() || f.value.get<uint64_t>() > 65535)
            f.fail(fmt::format("{} is not a port", f.text()));
        const auto p = static_cast<uint16_t>(f.value.get<uint64_t>());
        return {p, p};
    }
    if (!f.value.is_string())
        f.fail(fmt::format("expected a port number or a range \"A-B\", got {}", f.text()));
    const std::string& text = f.value.get_ref<const std::string&>();
    const auto dash = text.find('-');
    auto number = [&](std::string_view part) -> uint16_t {
        unsigned v = 0;
        const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || v > 65535)
            f.fail(fmt::format("{} is not a port", part.empty() ? "\"\"" : std::string(part)));
        return static_cast<uint16_t>(v);
    };
    if (dash == std::string::npos) {
        const uint16_t p = number(text);
        return {p, p};
    }
    const port_range r{number(std::string_view(text).substr(0, dash)),
                       number(std::string_view(text).substr(dash + 1))};
    if (r.lo > r.hi)
        f.fail(fmt::format("{} is a reversed range: the first port must be the lower", text));
    return r;
}

std::vector<port_range> parse_ports(const field& f)
{
    std::vector<port_range> out;
    for (size_t i = 0, n = f.list("match any port"); i < n; i++)
        out.push_back(parse_port_range(f.at(i)));
    return out;
}

std::vector<uint8_t> parse_protocols(const field& f)
{
    std::vector<uint8_t> out;
    for (size_t i = 0, n = f.list("match any protocol"); i < n; i++) {
        const field item = f.at(i);
        if (item.value.is_string()) {
            const auto* p = std::find_if(std::begin(ip_protocol_names), std::end(ip_protocol_names),
                                         [&](const auto& e) { return e.name == item.value.get_ref<const std::string&>(); });
            if (p == std::end(ip_protocol_names)) {
                std::vector<std::string_view> names;
                for (const auto& e : ip_protocol_names)
                    names.push_back(e.name);
                item.fail(fmt::format("{} is not a protocol name ({}) or a number from 0 to 255", item.text(),
                                      fmt::join(names, ", ")));
            }
            out.push_back(p->number);
        } else {
            out.push_back(static_cast<uint8_t>(item.whole_number(0, 255)));
        }
    }
    return out;
}

constexpr std::pair<std::string_view, uint8_t> flag_names[] = {
    {"fin", tcp_fin}, {"syn", tcp_syn}, {"rst", tcp_rst}, {"psh", tcp_psh},
    {"ack", tcp_ack}, {"urg", tcp_urg}, {"ece", tcp_ece}, {"cwr", tcp_cwr},
};

uint8_t parse_flag_list(const field& f)
{
    if (!f.value.is_array())
        f.fail(fmt::format("expected a list of flag names, got {}", f.text()));
    uint8_t bits = 0;
    for (size_t i = 0; i < f.value.size(); i++) {
        const field item = f.at(i);
        const std::string& name = item.string();
        const auto* p = std::find_if(std::begin(flag_names), std::end(flag_names),
                                     [&](const auto& e) { return e.first == name; });
        if (p == std::end(flag_names))
            item.fail(fmt::format("\"{}\" is not a TCP flag (fin syn rst psh ack urg ece cwr)", name));
        bits |= p->second;
    }
    return bits;
}

constexpr std::pair<std::string_view, field_parser<tcp_flags_match>> flags_fields[] = {
    {"any", [](const field& f, tcp_flags_match& m) { m.any = parse_flag_list(f); }},
    {"all", [](const field& f, tcp_flags_match& m) { m.all = parse_flag_list(f); }},
    {"none", [](const field& f, tcp_flags_match& m) { m.none = parse_flag_list(f); }},
};

constexpr std::pair<std::string_view, field_parser<match_rule>> rule_fields[] = {
    {"src", [](const field& f, match_rule& r) { r.src = parse_addresses(f); }},
    {"dst", [](const field& f, match_rule& r) { r.dst = parse_addresses(f); }},
    {"src_ports", [](const field& f, match_rule& r) { r.src_ports = parse_ports(f); }},
    {"dst_ports", [](const field& f, match_rule& r) { r.dst_ports = parse_ports(f); }},
    {"protocols", [](const field& f, match_rule& r) { r.protocols = parse_protocols(f); }},
    {"tcp_flags",
     [](const field& f, match_rule& r) {
         tcp_flags_match m;
         parse_object(f, m, flags_fields);
         if ((m.all & m.none) != 0)
             f.fail("a flag cannot be in both \"all\" and \"none\"");
         if (m.any != 0 && (m.any & ~m.none) == 0)
             f.fail("every flag of \"any\" is also in \"none\": the rule can never match");
         r.tcp_flags = m;
     }},
    {"bidirectional", [](const field& f, match_rule& r) { r.bidirectional = f.boolean(); }},
};

bool has_family(const std::vector<ip_range>& list, uint8_t family)
{
    return std::any_of(list.begin(), list.end(), [&](const ip_range& r) { return r.family == family; });
}

void check_rule(const field& f, const match_rule& r)
{
    if (!r.src.empty() && !r.dst.empty() && !(has_family(r.src, 4) && has_family(r.dst, 4)) &&
        !(has_family(r.src, 6) && has_family(r.dst, 6)))
        f.fail("src and dst share no address family (IPv4 with IPv6): the rule can never match");
    const bool ports = !r.src_ports.empty() || !r.dst_ports.empty();
    const auto names = [&](uint8_t p) {
        return std::find(r.protocols.begin(), r.protocols.end(), p) != r.protocols.end();
    };
    if (ports && !r.protocols.empty() && !names(6) && !names(17) && !names(132))
        f.fail("ports are only read from TCP, UDP and SCTP, and \"protocols\" names none of them");
    if (r.tcp_flags && !r.protocols.empty() && !names(6))
        f.fail("tcp_flags only match TCP, and \"protocols\" does not name tcp");
}

constexpr std::pair<std::string_view, field_parser<payload_match>> payload_fields[] = {
    {"patterns",
     [](const field& f, payload_match& p) {
         for (size_t i = 0, n = f.list("scan no payload"); i < n; i++) {
             const std::string& pattern = f.at(i).string();
             if (pattern.empty())
                 f.at(i).fail("empty pattern: it would match every packet");
             p.patterns.push_back(pattern);
         }
     }},
    {"caseless", [](const field& f, payload_match& p) { p.caseless = f.boolean(); }},
};

double positive_seconds(const field& f)
{
    if (!f.value.is_number() || !(f.value.get<double>() > 0) || f.value.get<double>() > 1e9)
        f.fail(fmt::format("{} is not a number of seconds above 0", f.text()));
    return f.value.get<double>();
}

constexpr std::pair<std::string_view, field_parser<session_limits>> limits_fields[] = {
    {"packets", [](const field& f, session_limits& l) { l.packets = f.whole_number(1, UINT64_MAX); }},
    {"bytes", [](const field& f, session_limits& l) { l.bytes = f.whole_number(1, UINT64_MAX); }},
    {"seconds", [](const field& f, session_limits& l) { l.seconds = positive_seconds(f); }},
};

constexpr std::pair<std::string_view, field_parser<rotate_policy>> rotate_fields[] = {
    {"bytes", [](const field& f, rotate_policy& r) { r.bytes = f.whole_number(1, UINT64_MAX); }},
    {"seconds", [](const field& f, rotate_policy& r) { r.seconds = f.whole_number(1, 31 * 86400); }},
    {"packets", [](const field& f, rotate_policy& r) { r.packets = f.whole_number(1, UINT64_MAX); }},
    {"keep", [](const field& f, rotate_policy& r) { r.keep = static_cast<uint32_t>(f.whole_number(1, 1000000)); }},
};

// --- tunnels (docs/mirror.md) ----------------------------------------------------

constexpr uint64_t max_tunnel_id = UINT32_MAX;   // GRE keys are 32 bits; VNIs 24, ERSPAN session ids 10

tunnel_id_range parse_tunnel_id_range(const field& f)
{
    const char* what = "is not a tunnel id from 0 to 4294967295 (VXLAN/GENEVE VNI: 24 bits, GRE key: 32, "
                       "ERSPAN session id: 10)";
    if (f.value.is_number()) {
        if (!f.value.is_number_unsigned() || f.value.get<uint64_t>() > max_tunnel_id)
            f.fail(fmt::format("{} {}", f.text(), what));
        const auto v = static_cast<uint32_t>(f.value.get<uint64_t>());
        return {v, v};
    }
    if (!f.value.is_string())
        f.fail(fmt::format("expected a tunnel id or a range \"A-B\", got {}", f.text()));
    const std::string& text = f.value.get_ref<const std::string&>();
    auto number = [&](std::string_view part) -> uint32_t {
        uint64_t v = 0;
        const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || v > max_tunnel_id)
            f.fail(fmt::format("{} {}", part.empty() ? "\"\"" : std::string(part), what));
        return static_cast<uint32_t>(v);
    };
    const auto dash = text.find('-');
    if (dash == std::string::npos) {
        const uint32_t v = number(text);
        return {v, v};
    }
    const tunnel_id_range r{number(std::string_view(text).substr(0, dash)),
                            number(std::string_view(text).substr(dash + 1))};
    if (r.lo > r.hi)
        f.fail(fmt::format("{} is a reversed range: the first id must be the lower", text));
    return r;
}

// A list of UDP ports for one kind of tunnel, replacing its default.
void parse_tunnel_ports(const field& f, uint16_t (&ports)[max_tunnel_ports], uint8_t& count)
{
    const size_t n = f.list("keep the standard port");
    if (n > max_tunnel_ports)
        f.fail(fmt::format("{} ports: at most {}", n, max_tunnel_ports));
    for (size_t i = 0; i < n; i++) {
        const field item = f.at(i);
        const auto port = static_cast<uint16_t>(item.whole_number(1, 65535));
        for (size_t j = 0; j < i; j++)
            if (ports[j] == to_network16(port))
                item.fail(fmt::format("{} is listed twice", port));
        ports[i] = to_network16(port);
    }
    count = static_cast<uint8_t>(n);
}

constexpr std::pair<std::string_view, field_parser<session_spec>> spec_fields[] = {
    {"name",
     [](const field& f, session_spec& s) {
         const std::string& name = f.string();
         if (std::string e = check_session_name(name); !e.empty())
             f.fail(e);
         s.output.name = name;
     }},
    {"match",
     [](const field& f, session_spec& s) {
         if (!f.value.is_array())
             f.fail(fmt::format("expected a list of rules, got {}", f.text()));
         for (size_t i = 0; i < f.value.size(); i++) {
             const field item = f.at(i);
             match_rule rule;
             parse_object(item, rule, rule_fields);
             check_rule(item, rule);
             s.match.push_back(std::move(rule));
         }
     }},
    {"bpf", [](const field& f, session_spec& s) { s.bpf = f.string(); }},
    {"tunnel",
     [](const field& f, session_spec& s) {
         const std::string& where = f.string();
         if (where != "outer" && where != "inner")
             f.fail(fmt::format("\"{}\": expected \"outer\" (rules apply to the outer headers) or \"inner\" "
                                "(to the innermost packet of VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP)", where));
         s.tunnel.inner = where == "inner";
     }},
    {"vni",
     [](const field& f, session_spec& s) {
         for (size_t i = 0, n = f.list("match any tunnel id"); i < n; i++)
             s.tunnel.ids.push_back(parse_tunnel_id_range(f.at(i)));
         s.has_vni = true;
     }},
    {"outer",
     [](const field& f, session_spec& s) {
         match_rule rule;
         parse_object(f, rule, rule_fields);
         check_rule(f, rule);
         s.tunnel.outer = std::move(rule);
     }},
    {"decap",
     [](const field& f, session_spec& s) {
         if (f.value.is_string() && f.value.get_ref<const std::string&>() == "ip")
             s.output.decap = decap_mode::ip;
         else if (f.value.is_boolean())
             s.output.decap = f.value.get<bool>() ? decap_mode::frame : decap_mode::none;
         else
             f.fail(fmt::format("expected true (the inner Ethernet frame), \"ip\" (the inner IP packet, in a "
                                "LINKTYPE_RAW file) or false, got {}", f.text()));
     }},
    {"vxlan_ports",
     [](const field& f, session_spec& s) {
         parse_tunnel_ports(f, s.tunnel.ports.vxlan, s.tunnel.ports.vxlan_count);
         s.has_vxlan_ports = true;
     }},
    {"geneve_ports",
     [](const field& f, session_spec& s) {
         parse_tunnel_ports(f, s.tunnel.ports.geneve, s.tunnel.ports.geneve_count);
         s.has_geneve_ports = true;
     }},
    {"payload",
     [](const field& f, session_spec& s) {
         parse_object(f, s.payload, payload_fields);
         if (s.payload.patterns.empty())
             f.fail("\"patterns\" is missing");
     }},
    {"snaplen",
     [](const field& f, session_spec& s) {
         s.output.snaplen = static_cast<uint32_t>(f.whole_number(0, pcap_max_snaplen));
         s.has_snaplen = true;
     }},
    {"limits", [](const field& f, session_spec& s) { parse_object(f, s.output.limits, limits_fields); }},
    {"rotate",
     [](const field& f, session_spec& s) {
         parse_object(f, s.output.rotate, rotate_fields);
         if (s.output.rotate.keep != 0 && !s.output.rotate.any())
             f.at("keep").fail("keeps the last N files of a rotation: give bytes, seconds or packets too");
     }},
    {"format",
     [](const field& f, session_spec& s) {
         const auto format = parse_format(f.string());
         if (!format)
             f.fail(fmt::format("{} is not a format (pcap, pcap-ns, pcapng)", f.text()));
         s.output.format = *format;
         s.has_format = true;
     }},
};

} // namespace

std::vector<ip_prefix> range_to_prefixes(const ip_range& range)
{
    const unsigned bits = width(range.family);
    u128 lo = to_int(range.family, range.lo);
    const u128 hi = to_int(range.family, range.hi);
    std::vector<ip_prefix> out;
    for (;;) {
        // The largest aligned block starting at lo that does not pass hi.
        unsigned host = 0;
        while (host < bits && ((lo >> host) & 1) == 0 && lo + low_bits(host + 1) <= hi &&
               lo + low_bits(host + 1) >= lo)
            host++;
        out.push_back({range.family, from_int(range.family, lo), static_cast<uint8_t>(bits - host)});
        const u128 last = lo + low_bits(host);
        if (last >= hi)
            break;
        lo = last + 1;
    }
    return out;
}

std::string format_address(uint8_t family, const std::array<uint8_t, 16>& addr)
{
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), text, sizeof text);
    return text;
}

namespace {

// A refused name as an error message shows it: printable ASCII, other bytes
// as \xNN (a NUL or a newline must not cut a log line), at most 80 of them.
std::string shown_name(std::string_view name)
{
    constexpr size_t shown_max = 80;
    std::string out;
    for (size_t i = 0; i < name.size() && i < shown_max; i++) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out += static_cast<char>(c);
        else
            out += fmt::format("\\x{:02x}", c);
    }
    if (name.size() > shown_max)
        out += fmt::format("... ({} bytes)", name.size());
    return out;
}

} // namespace

std::string check_session_name(std::string_view name)
{
    if (name.empty() || name.size() > 64)
        return fmt::format("\"{}\": a session name has 1 to 64 characters", shown_name(name));
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
            return fmt::format("\"{}\": a session name has only letters, digits, '.', '_' and '-'", shown_name(name));
    if (name == "." || name == "..")
        return fmt::format("\"{}\" is not a session name", name);
    return {};
}

namespace {

// The tunnel fields only mean something with "tunnel": "inner", and a UDP
// port is one kind of tunnel.
void check_tunnel(const session_spec& spec)
{
    if (!spec.tunnel.inner) {
        const std::pair<bool, const char*> named[] = {
            {spec.has_vni, "vni"},
            {spec.tunnel.outer.has_value(), "outer"},
            {spec.output.decap != decap_mode::none, "decap"},
            {spec.has_vxlan_ports, "vxlan_ports"},
            {spec.has_geneve_ports, "geneve_ports"}};
        for (const auto& [given, name] : named)
            if (given)
                throw spec_error(fmt::format("{}: needs \"tunnel\": \"inner\" (with \"tunnel\": \"outer\", the "
                                             "default, rules see the outer headers and tunnels are not walked)",
                                             name));
    }
    const tunnel_ports& p = spec.tunnel.ports;
    for (unsigned i = 0; i < p.geneve_count; i++)
        for (unsigned j = 0; j < p.vxlan_count; j++)
            if (p.geneve[i] == p.vxlan[j])
                throw spec_error(fmt::format("geneve_ports[{}]: {} is also a VXLAN port (vxlan_ports{}): a port "
                                             "carries one kind of tunnel",
                                             i, to_network16(p.geneve[i]),
                                             spec.has_vxlan_ports ? fmt::format("[{}]", j) : " default"));
}

} // namespace

std::string parse_session_spec(const json& j, session_spec& spec)
{
    try {
        parse_object(field{j, ""}, spec, spec_fields);
        check_tunnel(spec);
        spec.output.tunnel = spec.tunnel.ports;
    } catch (const spec_error& e) {
        return e.what();
    }
    return {};
}

std::string parse_session_spec_text(std::string_view text, session_spec& spec)
{
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        // Not only parse_error: a number too large for a double (1e400) is
        // out_of_range, and escaped as far as std::terminate (found by fuzz-spec).
        // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> the part after the tag
        std::string what = e.what();
        if (const auto p = what.find("] "); p != std::string::npos)
            what = what.substr(p + 2);
        return "not valid JSON: " + what;
    }
    return parse_session_spec(j, spec);
}

std::string_view stop_reason_name(stop_reason reason)
{
    switch (reason) {
    case stop_reason::none: return "running";
    case stop_reason::user: return "user";
    case stop_reason::packets: return "packets";
    case stop_reason::bytes: return "bytes";
    case stop_reason::duration: return "duration";
    case stop_reason::idle: return "idle";
    case stop_reason::disk_full: return "disk_full";
    case stop_reason::error: return "error";
    case stop_reason::shutdown: return "shutdown";
    case stop_reason::end_of_file: return "end_of_file";
    }
    return "?";
}

} // namespace linecap
