#include "core/spec.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/did_you_mean.h"
#include "core/human_units.h"
#include "core/spec_import.h"

namespace linecap {

using nlohmann::json;

namespace {

struct spec_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace

// A JSON value and where it is in the spec, for error messages.
struct spec_value {
    const json& value;
    std::string path;

    [[noreturn]] void fail(const std::string& what) const
    {
        throw spec_error(path.empty() ? what : path + ": " + what);
    }
    spec_value at(const std::string& key) const { return {value.at(key), path.empty() ? key : path + "." + key}; }
    spec_value at(size_t i) const { return {value.at(i), fmt::format("{}[{}]", path, i)}; }

    // The value as an error shows it: JSON, at most 80 bytes of it (a
    // 60 KB value echoed whole made a 60 KB error line).
    std::string text() const
    {
        if (negative_zero())
            return "-0";
        constexpr size_t shown_max = 80;
        std::string shown = value.dump(-1, ' ', false, json::error_handler_t::replace);
        if (shown.size() > shown_max) {
            size_t cut = shown_max - 3;
            while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xc0) == 0x80)
                cut--;   // at a character's start: never half of a UTF-8 sequence
            shown = fmt::format("{}... ({} bytes)", shown.substr(0, cut), shown.size());
        }
        return shown;
    }

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
    // nlohmann reads every number without a sign as unsigned, and "-0" as a
    // signed 0: refused where a number without a sign is asked, and said.
    bool negative_zero() const
    {
        return value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() == 0;
    }
    std::string sign_hint() const { return negative_zero() ? ": write 0, without a sign" : ""; }

    // A number written as a JSON string: "100" (quoted: shown as it should
    // be), "10M" (a unit: no conversion offered, since which unit a field
    // counts in, and whether M is 1000² or 1024², is the field's own).
    std::string string_hint() const
    {
        const std::string& s = value.get_ref<const std::string&>();
        uint64_t n = 0;
        const char* end = s.data() + s.size();
        const auto [ptr, ec] = std::from_chars(s.data(), end, n);
        if (ec != std::errc() || ptr == s.data())
            return {};
        // A unit after the number, a space before it or not, in any case:
        // k, M, G, T, with an i and a B or without ("10M", "10 MB", "4kib").
        std::string unit;
        for (const char* c = ptr; c != end; c++)
            if (*c != ' ')
                unit += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
        if (unit.empty())
            return fmt::format(": write it as a number, without quotes: {}", n);
        if (unit.ends_with('b'))
            unit.pop_back();
        if (unit.ends_with('i'))
            unit.pop_back();
        if (unit.size() > 1 || (unit.size() == 1 && std::string_view("kmgt").find(unit[0]) == std::string_view::npos))
            return {};
        return ": give a plain number, without a unit";
    }

    uint64_t whole_number(uint64_t min, uint64_t max) const
    {
        if (!value.is_number_unsigned() || value.get<uint64_t>() < min || value.get<uint64_t>() > max) {
            const std::string hint = value.is_string() ? string_hint() : sign_hint();
            fail(max == UINT64_MAX ? fmt::format("{} is not a whole number {} or more{}", text(), min, hint)
                                   : fmt::format("{} is not a whole number from {} to {}{}", text(), min, max, hint));
        }
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

namespace {

template <typename Target>
using field_parser = void (*)(const spec_value&, Target&);

template <typename Target, size_t N>
void parse_object(const spec_value& f, Target& target,
                  const std::pair<std::string_view, field_parser<Target>> (&table)[N])
{
    f.object();
    for (const auto& item : f.value.items()) {
        const std::string& key = item.key();
        const auto* entry = std::find_if(std::begin(table), std::end(table),
                                         [&](const auto& e) { return e.first == key; });
        if (entry == std::end(table)) {
            std::vector<std::string_view> known;
            for (const auto& e : table)
                known.push_back(e.first);
            f.at(key).fail(fmt::format("unknown field{} (known: {})", did_you_mean(key, known), fmt::join(known, ", ")));
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

} // namespace

std::string parse_ip_range(std::string_view text, ip_range& r)
{
    r = ip_range{};
    if (text.empty())
        return "no address: give an address (10.4.2.50), a prefix (10.4.2.0/24) or a range (10.4.2.1-10.4.2.9)";
    if (const auto slash = text.find('/'); slash != std::string::npos) {
        const std::string_view addr_text = text.substr(0, slash);
        if (addr_text.empty())
            return fmt::format("{}: the address before the / is missing: give a prefix as 10.4.2.0/24", text);
        if (!parse_address(addr_text, r.family, r.lo))
            return fmt::format("{} is not an IPv4 or IPv6 address", addr_text);
        unsigned length = 0;
        const char* begin = text.data() + slash + 1;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(begin, end, length);
        if (begin == end || ec != std::errc() || ptr != end) {
            // The example is one the parse takes: the address's /24 (IPv6: /64), host bits cleared.
            const unsigned example = r.family == 4 ? 24 : 64;
            const u128 base = to_int(r.family, r.lo) & ~low_bits(width(r.family) - example);
            return fmt::format("{}: the prefix length after the / must be a whole number from 0 to {} (IPv{}), "
                               "e.g. {}/{}",
                               text, width(r.family), r.family, format_address(r.family, from_int(r.family, base)),
                               example);
        }
        if (length > width(r.family))
            return fmt::format("{}: prefix length {} is too long for IPv{}: give 0 to {}", text, length, r.family,
                               width(r.family));
        const u128 host_mask = low_bits(width(r.family) - length);
        const u128 base = to_int(r.family, r.lo);
        if ((base & host_mask) != 0)
            return fmt::format("{} has host bits set: did you mean {}/{}?", text,
                               format_address(r.family, from_int(r.family, base & ~host_mask)), length);
        r.hi = from_int(r.family, base | host_mask);
        return {};
    }
    if (const auto dash = text.find('-'); dash != std::string::npos) {
        const std::string_view lo_text = text.substr(0, dash);
        const std::string_view hi_text = text.substr(dash + 1);
        uint8_t hi_family = 0;
        if (lo_text.empty() || hi_text.empty())
            return fmt::format("{}: the address {} the - is missing: give a range as 10.4.2.1-10.4.2.9", text,
                               lo_text.empty() ? "before" : "after");
        if (!parse_address(lo_text, r.family, r.lo))
            return fmt::format("{} is not an IPv4 or IPv6 address", lo_text);
        if (!parse_address(hi_text, hi_family, r.hi))
            return fmt::format("{} is not an IPv4 or IPv6 address", hi_text);
        if (hi_family != r.family)
            return fmt::format("{} mixes IPv4 and IPv6", text);
        if (to_int(r.family, r.lo) > to_int(r.family, r.hi))
            return fmt::format("{} is a reversed range: the first address must be the lower", text);
        return {};
    }
    if (!parse_address(text, r.family, r.lo)) {
        // Quoted when a space or nothing would not show.
        const bool unseen = text.empty() || std::any_of(text.begin(), text.end(), [](char c) {
            return std::isspace(static_cast<unsigned char>(c)) != 0;
        });
        return fmt::format("{} is not an IPv4 or IPv6 address, prefix or range",
                           unseen ? fmt::format("\"{}\"", text) : std::string(text));
    }
    r.hi = r.lo;
    return {};
}

namespace {

ip_range parse_ip_range(const spec_value& f)
{
    ip_range r;
    if (std::string e = linecap::parse_ip_range(f.string(), r); !e.empty())
        f.fail(e);
    return r;
}

std::vector<ip_range> parse_addresses(const spec_value& f)
{
    std::vector<ip_range> out;
    for (size_t i = 0, n = f.list("match any address"); i < n; i++)
        out.push_back(parse_ip_range(f.at(i)));
    return out;
}

// --- bpf -----------------------------------------------------------------------

// libpcap's optimiser takes time that grows with the cube of an expression's
// terms (500 "host" terms joined by "or" kept a CPU 25 s, 800 100 s), and a
// compile cannot be abandoned once begun: a start waited for it, and its
// CPU was the control thread's. 128 terms compile within half a second; many
// addresses or ports belong in the rules' lists, which cost nothing per entry
// (one rte_acl pass).
constexpr size_t max_bpf_terms = 128;
constexpr size_t max_bpf_bytes = 8192;

// An expression's terms: its "and", "or", "&&" and "||" operators, plus one.
size_t bpf_terms(std::string_view expression)
{
    size_t operators = 0;
    for (const std::string_view op : {"&&", "||"})
        for (size_t at = expression.find(op); at != std::string_view::npos; at = expression.find(op, at + 2))
            operators++;
    for (size_t begin = 0; begin < expression.size();) {
        const size_t start = expression.find_first_not_of(" \t\n()!", begin);
        if (start == std::string_view::npos)
            break;
        const size_t end = std::min(expression.find_first_of(" \t\n()!", start), expression.size());
        const std::string_view word = expression.substr(start, end - start);
        operators += word == "and" || word == "or";
        begin = end;
    }
    return operators + 1;
}

} // namespace

std::string bpf_size_problem(std::string_view expression, std::string_view instead)
{
    if (expression.size() > max_bpf_bytes)
        return fmt::format("the expression is {} bytes, over the {} linecap compiles: {}", expression.size(),
                           max_bpf_bytes, instead);
    if (const size_t terms = bpf_terms(expression); terms > max_bpf_terms)
        return fmt::format("the expression has {} terms joined by and/or, over the {} linecap compiles (libpcap's "
                           "optimiser takes time that grows with their cube: 500 took 25 s): {}",
                           terms, max_bpf_terms, instead);
    return {};
}

namespace {

const std::string& checked_bpf_size(const spec_value& f)
{
    const std::string& expression = f.string();
    if (std::string e = bpf_size_problem(expression, "match many addresses or ports with the rules' lists (\"src\", "
                                                     "\"dst\", \"dst_ports\"...: docs/filters.md), or split the "
                                                     "capture into sessions");
        !e.empty())
        f.fail(e);
    return expression;
}

// --- ports, protocols, flags --------------------------------------------------

port_range parse_port_range(const spec_value& f)
{
    if (f.value.is_number()) {
        if (!f.value.is_number_unsigned() || f.value.get<uint64_t>() > 65535)
            f.fail(fmt::format("{} is not a port{}", f.text(), f.sign_hint()));
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
    // Both ends must be ports: "80-", "-5-10" and "1-2-3" are said whole.
    const auto is_port = [](std::string_view part) {
        unsigned v = 0;
        const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        return !part.empty() && ec == std::errc() && ptr == part.data() + part.size() && v <= 65535;
    };
    if (!is_port(std::string_view(text).substr(0, dash)) || !is_port(std::string_view(text).substr(dash + 1)))
        f.fail(fmt::format("{} is not a port range: give both ends, from 0 to 65535, e.g. \"1024-65535\"", f.text()));
    const port_range r{number(std::string_view(text).substr(0, dash)),
                       number(std::string_view(text).substr(dash + 1))};
    if (r.lo > r.hi)
        f.fail(fmt::format("{} is a reversed range: the first port must be the lower", text));
    return r;
}

std::vector<port_range> parse_ports(const spec_value& f)
{
    std::vector<port_range> out;
    for (size_t i = 0, n = f.list("match any port"); i < n; i++)
        out.push_back(parse_port_range(f.at(i)));
    return out;
}

std::vector<uint8_t> parse_protocols(const spec_value& f)
{
    std::vector<uint8_t> out;
    for (size_t i = 0, n = f.list("match any protocol"); i < n; i++) {
        const spec_value item = f.at(i);
        if (item.value.is_string()) {
            const std::string& name = item.value.get_ref<const std::string&>();
            const auto named = [&](const auto& e) { return e.name == name; };
            if (const auto* p = std::find_if(std::begin(ip_protocol_names), std::end(ip_protocol_names), named);
                p != std::end(ip_protocol_names)) {
                out.push_back(p->number);
                continue;
            }
            if (const auto* a = std::find_if(std::begin(ip_protocol_aliases), std::end(ip_protocol_aliases), named);
                a != std::end(ip_protocol_aliases)) {
                out.push_back(a->number);
                continue;
            }
            std::vector<std::string_view> names;
            for (const auto& e : ip_protocol_names)
                names.push_back(e.name);
            // The aliases are suggested after the names (the first of equals
            // wins): "ICMP6" is one edit from icmp and icmpv6, and none from icmp6.
            std::vector<std::string_view> suggestions = names;
            for (const auto& a : ip_protocol_aliases)
                suggestions.push_back(a.name);
            item.fail(fmt::format("{} is not a protocol name ({}) or a number from 0 to 255{}", item.text(),
                                  fmt::join(names, ", "), did_you_mean(name, suggestions)));
        } else {
            out.push_back(static_cast<uint8_t>(item.whole_number(0, 255)));
        }
    }
    return out;
}

uint8_t parse_flag_list(const spec_value& f)
{
    if (!f.value.is_array())
        f.fail(fmt::format("expected a list of flag names, got {}", f.text()));
    uint8_t bits = 0;
    for (size_t i = 0; i < f.value.size(); i++) {
        const spec_value item = f.at(i);
        const std::string& name = item.string();
        const auto* p = std::find_if(std::begin(tcp_flag_names), std::end(tcp_flag_names),
                                     [&](const auto& e) { return e.name == name; });
        if (p == std::end(tcp_flag_names))
            item.fail(fmt::format("\"{}\" is not a TCP flag (fin syn rst psh ack urg ece cwr)", name));
        bits |= p->bit;
    }
    return bits;
}

constexpr std::pair<std::string_view, field_parser<tcp_flags_match>> flags_fields[] = {
    {"any", [](const spec_value& f, tcp_flags_match& m) { m.any = parse_flag_list(f); }},
    {"all", [](const spec_value& f, tcp_flags_match& m) { m.all = parse_flag_list(f); }},
    {"none", [](const spec_value& f, tcp_flags_match& m) { m.none = parse_flag_list(f); }},
};

constexpr std::pair<std::string_view, field_parser<match_rule>> rule_fields[] = {
    {"src", [](const spec_value& f, match_rule& r) { r.src = parse_addresses(f); }},
    {"dst", [](const spec_value& f, match_rule& r) { r.dst = parse_addresses(f); }},
    {"src_ports", [](const spec_value& f, match_rule& r) { r.src_ports = parse_ports(f); }},
    {"dst_ports", [](const spec_value& f, match_rule& r) { r.dst_ports = parse_ports(f); }},
    {"protocols", [](const spec_value& f, match_rule& r) { r.protocols = parse_protocols(f); }},
    {"tcp_flags",
     [](const spec_value& f, match_rule& r) {
         // A bitmask, as other tools write flags (18): show it in this shape.
         if (f.value.is_number_integer() && f.value.get<int64_t>() > 0 && f.value.get<int64_t>() <= 255) {
             const auto mask = f.value.get<int64_t>();
             std::vector<std::string> names;
             for (const auto& flag : tcp_flag_names)
                 if ((mask & flag.bit) != 0)
                     names.push_back(fmt::format("\"{}\"", flag.name));
             f.fail(fmt::format("{} is a bitmask; write the flags by name: {{\"any\": [{}]}} (any of them set; "
                                "\"all\" and \"none\" too)",
                                mask, fmt::join(names, ", ")));
         }
         tcp_flags_match m;
         parse_object(f, m, flags_fields);
         if ((m.all & m.none) != 0)
             f.fail("a flag cannot be in both \"all\" and \"none\"");
         if (m.any != 0 && (m.any & ~m.none) == 0)
             f.fail("every flag of \"any\" is also in \"none\": the rule can never match");
         r.tcp_flags = m;
     }},
    {"bidirectional", [](const spec_value& f, match_rule& r) { r.bidirectional = f.boolean(); }},
};

bool has_family(const std::vector<ip_range>& list, uint8_t family)
{
    return std::any_of(list.begin(), list.end(), [&](const ip_range& r) { return r.family == family; });
}

void check_rule(const spec_value& f, const match_rule& r)
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

// A duration: a number of seconds, or a string with a unit ("5m"; core/human_units.h).
std::optional<double> duration_of(const spec_value& f)
{
    if (f.value.is_number())
        return f.value.get<double>();
    if (f.value.is_string())
        return parse_seconds(f.value.get_ref<const std::string&>());
    return std::nullopt;
}

double positive_seconds(const spec_value& f)
{
    const std::optional<double> s = duration_of(f);
    if (std::string e = duration_problem(f.text(), s); !e.empty())
        f.fail(e);
    return *s;
}

// Whole seconds from 1 to max: rotation windows align to the clock's seconds.
uint64_t whole_seconds(const spec_value& f, uint64_t max)
{
    const std::optional<double> s = duration_of(f);
    if (!s || *s < 1 || *s > static_cast<double>(max) || *s != std::floor(*s))
        f.fail(fmt::format("{} is not a whole number of seconds from 1 to {}: give whole seconds (90) or a whole "
                           "number of m, h or d (5m, 1h)",
                           f.text(), max));
    return static_cast<uint64_t>(*s);
}

// --- tunnels (docs/mirror.md) ----------------------------------------------------

constexpr uint64_t max_tunnel_id = UINT32_MAX;   // GRE keys are 32 bits; VNIs 24, ERSPAN session ids 10

tunnel_id_range parse_tunnel_id_range(const spec_value& f)
{
    const char* what = "is not a tunnel id from 0 to 4294967295 (VXLAN/GENEVE VNI: 24 bits, GRE key: 32, "
                       "ERSPAN session id: 10)";
    if (f.value.is_number()) {
        if (!f.value.is_number_unsigned() || f.value.get<uint64_t>() > max_tunnel_id)
            f.fail(fmt::format("{} {}{}", f.text(), what, f.sign_hint()));
        const auto v = static_cast<uint32_t>(f.value.get<uint64_t>());
        return {v, v};
    }
    if (!f.value.is_string())
        f.fail(fmt::format("expected a tunnel id or a range \"A-B\", got {}", f.text()));
    const std::string& text = f.value.get_ref<const std::string&>();
    // The part of "A-B" that is wrong is named; one missing, the whole
    // text, quoted ("5-", "": never an empty quote).
    auto number = [&](std::string_view part) -> uint32_t {
        uint64_t v = 0;
        const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || v > max_tunnel_id)
            f.fail(fmt::format("{} {}", part.empty() ? f.text() : std::string(part), what));
        return static_cast<uint32_t>(v);
    };
    const auto dash = text.find('-', 1);   // a leading '-' is a sign ("-1": not an id), not a range's
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
void parse_tunnel_ports(const spec_value& f, uint16_t (&ports)[max_tunnel_ports], uint8_t& count)
{
    const size_t n = f.list("keep the standard port");
    if (n > max_tunnel_ports)
        f.fail(fmt::format("{} ports: at most {}", n, max_tunnel_ports));
    for (size_t i = 0; i < n; i++) {
        const spec_value item = f.at(i);
        const auto port = static_cast<uint16_t>(item.whole_number(1, 65535));
        for (size_t j = 0; j < i; j++)
            if (ports[j] == to_network16(port))
                item.fail(fmt::format("{} is listed twice", port));
        ports[i] = to_network16(port);
    }
    count = static_cast<uint8_t>(n);
}

void parse_name(const spec_value& f, session_spec& s)
{
    const std::string& name = f.string();
    if (std::string e = check_session_name(name); !e.empty())
        f.fail(e);
    s.output.name = name;
}

void parse_match(const spec_value& f, session_spec& s)
{
    if (!f.value.is_array())
        f.fail(fmt::format("expected a list of rules, got {}", f.text()));
    for (size_t i = 0; i < f.value.size(); i++) {
        const spec_value item = f.at(i);
        match_rule rule;
        parse_object(item, rule, rule_fields);
        check_rule(item, rule);
        s.match.push_back(std::move(rule));
    }
}

void parse_tunnel_where(const spec_value& f, session_spec& s)
{
    const std::string& where = f.string();
    if (where != "outer" && where != "inner")
        f.fail(fmt::format("\"{}\": expected \"outer\" (rules apply to the outer headers) or \"inner\" "
                           "(to the innermost packet of VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP)", where));
    s.tunnel.inner = where == "inner";
}

void parse_outer(const spec_value& f, session_spec& s)
{
    match_rule rule;
    parse_object(f, rule, rule_fields);
    check_rule(f, rule);
    s.tunnel.outer = std::move(rule);
}

void parse_decap(const spec_value& f, session_spec& s)
{
    if (f.value.is_string() && f.value.get_ref<const std::string&>() == "ip")
        s.output.decap = decap_mode::ip;
    else if (f.value.is_string() && f.value.get_ref<const std::string&>() == "frame")
        s.output.decap = decap_mode::frame;
    else if (f.value.is_boolean())
        s.output.decap = f.value.get<bool>() ? decap_mode::frame : decap_mode::none;
    else
        f.fail(fmt::format("expected true or \"frame\" (the inner Ethernet frame), \"ip\" (the inner IP packet, "
                           "in a LINKTYPE_RAW file) or false, got {}", f.text()));
}

void parse_patterns(const spec_value& f, session_spec& s)
{
    for (size_t i = 0, n = f.list("scan no payload"); i < n; i++) {
        const std::string& pattern = f.at(i).string();
        if (pattern.empty())
            f.at(i).fail("empty pattern: it would match every packet");
        s.payload.patterns.push_back(pattern);
    }
}

void parse_format_name(const spec_value& f, session_spec& s)
{
    const auto format = parse_format(f.string());
    if (!format)
        f.fail(fmt::format("{} is not a format (pcap, pcap-ns, pcapng)", f.text()));
    s.output.format = *format;
}

// tcpdump's netmask for "broadcast": A.B.C.D, its ones first.
void parse_netmask(const spec_value& f, session_spec& s)
{
    const std::string& text = f.string();
    in_addr addr{};
    const uint32_t mask = inet_pton(AF_INET, text.c_str(), &addr) == 1 ? ntohl(addr.s_addr) : 1;
    if ((~mask & (~mask + 1)) != 0)   // the zeros below the ones are not one run
        f.fail(fmt::format("\"{}\" is not an IPv4 netmask: A.B.C.D with its ones first, e.g. 255.255.255.0",
                           text));
    s.netmask = mask;
}

using enum words_as;

// The table. Its order is the order of --help and of "known:" lists.
constexpr session_field fields[] = {
    {"name", "--name", "NAME", "Session name, the prefix of every file name: 1 to 64 of A-Z a-z 0-9 . _ -",
     text, false, parse_name},
    {"match", "", "", "The rules: a packet is kept if any rule matches (docs/filters.md)", text, false, parse_match},
    // The command line's rule: every option given must hold.
    {"match[].src", "--src", "ADDR", "Source address, prefix (10.0.0.0/8) or range (A-B); repeatable", texts},
    {"match[].dst", "--dst", "ADDR", "Destination address, prefix or range; repeatable", texts},
    {"match[].src", "--host", "ADDR", "Either address, as tcpdump's host (one rule each way); repeatable",
     texts, true},
    {"match[].src_ports", "--src-port", "PORT", "Source port or range A-B; repeatable", list},
    {"match[].dst_ports", "--dst-port", "PORT", "Destination port or range A-B; repeatable", list},
    {"match[].src_ports", "--port", "PORT", "Either port, as tcpdump's port (one rule each way); repeatable",
     list, true},
    {"match[].protocols", "--proto", "PROTO", "tcp, udp, icmp, icmpv6, sctp, gre, esp, ah or a number; repeatable",
     list},
    {"match[].tcp_flags.any", "--tcp-flags", "FLAGS", "Any of these TCP flags set, e.g. syn,fin,rst", texts},
    {"match[].tcp_flags.all", "--tcp-flags-all", "FLAGS", "All of these TCP flags set", texts},
    {"match[].tcp_flags.none", "--tcp-flags-none", "FLAGS", "None of these TCP flags set, e.g. ack", texts},
    {"match[].bidirectional", "--bidirectional", "", "The rule also matches with source and destination swapped",
     flag},
    {"bpf", "--bpf", "EXPR", "A tcpdump filter expression, ANDed with the rules (and with the spec file's)", text,
     false, [](const spec_value& f, session_spec& s) { s.bpf = checked_bpf_size(f); }},
    {"netmask", "--netmask", "A.B.C.D",
     "The IPv4 netmask of the expression's \"ip broadcast\" (default 0.0.0.0, as tcpdump -r: "
     "255.255.255.255 and 0.0.0.0 only)",
     text, false, parse_netmask},
    {"tunnel", "--tunnel", "WHERE",
     "inner: the rules apply to the packet inside VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP (docs/mirror.md); "
     "outer (the default)",
     text, false, parse_tunnel_where},
    {"vni", "--vni", "ID", "Tunnel id or range A-B: VNI, GRE key, ERSPAN session id; repeatable", list, false,
     [](const spec_value& f, session_spec& s) {
         for (size_t i = 0, n = f.list("match any tunnel id"); i < n; i++)
             s.tunnel.ids.push_back(parse_tunnel_id_range(f.at(i)));
     }},
    {"outer", "", "", "A rule over the outer headers (with tunnel inner)", text, false, parse_outer},
    {"decap", "--decap", "WHAT",
     "Write the inner packet: frame (inner Ethernet frames) or ip (inner IP packets, raw IP link type)", text,
     false, parse_decap},
    {"vxlan_ports", "--vxlan-port", "PORT", "UDP port carrying VXLAN; repeatable (default 4789)", list, false,
     [](const spec_value& f, session_spec& s) {
         parse_tunnel_ports(f, s.tunnel.ports.vxlan, s.tunnel.ports.vxlan_count);
     }},
    {"geneve_ports", "--geneve-port", "PORT", "UDP port carrying GENEVE; repeatable (default 6081)", list, false,
     [](const spec_value& f, session_spec& s) {
         parse_tunnel_ports(f, s.tunnel.ports.geneve, s.tunnel.ports.geneve_count);
     }},
    {"payload.patterns", "--payload", "REGEX",
     "Keep only packets whose payload matches this pattern (Hyperscan syntax); repeatable: any", list, false,
     parse_patterns},
    {"payload.caseless", "--payload-caseless", "", "The payload patterns ignore case", flag, false,
     [](const spec_value& f, session_spec& s) { s.payload.caseless = f.boolean(); }},
    {"snaplen", "-s,--snaplen", "N", "Bytes kept of each packet; 0 keeps whole packets", number, false,
     [](const spec_value& f, session_spec& s) {
         s.output.snaplen = static_cast<uint32_t>(f.whole_number(0, pcap_max_snaplen));
     }},
    {"limits.packets", "-c,--count", "N", "Stop after N packets are written", number, false,
     [](const spec_value& f, session_spec& s) { s.output.limits.packets = f.whole_number(1, UINT64_MAX); }},
    {"limits.bytes", "--max-bytes", "N", "Stop once the files hold N bytes (headers included)", number, false,
     [](const spec_value& f, session_spec& s) { s.output.limits.bytes = f.whole_number(1, UINT64_MAX); }},
    {"limits.seconds", "--duration", "TIME", "Stop after TIME: seconds, or with a unit (90s, 5m, 2h)", number, false,
     [](const spec_value& f, session_spec& s) { s.output.limits.seconds = positive_seconds(f); }},
    {"rotate.bytes", "-C,--rotate-mb", "MB",
     "Start a new file before one grows past MB million bytes (tcpdump's -C; rotate.bytes in a spec)", megabytes,
     false, [](const spec_value& f, session_spec& s) { s.output.rotate.bytes = f.whole_number(1, UINT64_MAX); }},
    {"rotate.seconds", "-G,--rotate-seconds", "TIME", "Start a new file every TIME (seconds, or 5m, 1h), aligned to "
     "the clock (tcpdump's -G)", number, false,
     [](const spec_value& f, session_spec& s) { s.output.rotate.seconds = whole_seconds(f, 31 * 86400); }},
    {"rotate.packets", "--rotate-packets", "N", "Start a new file every N packets", number, false,
     [](const spec_value& f, session_spec& s) { s.output.rotate.packets = f.whole_number(1, UINT64_MAX); }},
    {"rotate.keep", "-W,--keep", "N", "Keep only the last N closed files per writer, deleting the oldest "
     "(tcpdump's -W)", number, false,
     [](const spec_value& f, session_spec& s) {
         s.output.rotate.keep = static_cast<uint32_t>(f.whole_number(1, 1000000));
     }},
    {"rotate.keep_bytes", "--keep-bytes", "N", "Keep only the newest closed files that fit in N bytes, for the "
     "session (each of its W writers keeps N/W), deleting the oldest", number, false,
     [](const spec_value& f, session_spec& s) { s.output.rotate.keep_bytes = f.whole_number(1, UINT64_MAX); }},
    {"format", "--format", "FORMAT", "pcap-ns (nanosecond pcap, the default), pcap (microsecond pcap) or pcapng",
     text, false, parse_format_name},
    {"index", "--index", "", "Write an index beside each file (FILE.idx) for linecap query; on by default for "
     "rings (a rotation with -W or --keep-bytes), \"index\": false in a spec turns it off", flag, false,
     [](const spec_value& f, session_spec& s) { s.output.index = f.boolean(); }},
};

// The JSON names at one level of the table ("" for the top, "limits." for
// the limits object), in table order, without the command line's rule.
std::vector<std::string_view> keys_under(std::string_view prefix)
{
    std::vector<std::string_view> keys;
    for (const session_field& e : fields) {
        if (!e.path.starts_with(prefix) || e.path.find("[]") != std::string_view::npos)
            continue;
        std::string_view key = e.path.substr(prefix.size());
        key = key.substr(0, key.find('.'));
        if (std::find(keys.begin(), keys.end(), key) == keys.end())
            keys.push_back(key);
    }
    return keys;
}

// An object of the spec: each key is a field of the table, or an object of
// fields below it ("limits" holds "limits.packets").
void parse_fields(const spec_value& f, std::string_view prefix, session_spec& s)
{
    f.object();
    for (const auto& item : f.value.items()) {
        const std::string path = std::string(prefix) + item.key();
        const auto* entry = std::find_if(std::begin(fields), std::end(fields),
                                         [&](const session_field& e) { return e.path == path; });
        // "match[].src" names a rule's field for --help and options only: a
        // key of that name in a spec is unknown, not a field without a parser.
        if (entry != std::end(fields) && entry->parse) {
            entry->parse(f.at(item.key()), s);
            continue;
        }
        const std::vector<std::string_view> below = keys_under(path + ".");
        if (below.empty()) {
            const std::vector<std::string_view> known = keys_under(prefix);
            f.at(item.key()).fail(
                fmt::format("unknown field{} (known: {})", did_you_mean(item.key(), known), fmt::join(known, ", ")));
        }
        parse_fields(f.at(item.key()), path + ".", s);
    }
}

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
        return fmt::format("\"{}\": a session name is not \".\" or \"..\" (they name folders)", name);
    // Commands take a session's id or its name: a name of digits alone
    // would read as an id.
    if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return fmt::format("\"{}\": a session name needs a letter or one of '.', '_', '-' (a number is a session "
                           "id): e.g. \"sub-{}\"",
                           name, name);
    return {};
}

namespace {

// The checks across fields, once every field is read.
void check_fields(const json& j, const session_spec& spec)
{
    if (j.contains("payload") && !j["payload"].contains("patterns"))
        throw spec_error("payload: \"patterns\" is missing");
    if (spec.output.rotate.keep != 0 && !spec.output.rotate.any())
        throw spec_error("rotate.keep: keeps the last N files of a rotation: give bytes, seconds or packets too");
    if (spec.output.rotate.keep_bytes != 0 && !spec.output.rotate.any())
        throw spec_error("rotate.keep_bytes: keeps the newest files of a rotation: give bytes, seconds or packets too");
    if (spec.output.rotate.keep_bytes != 0 && spec.output.rotate.keep_bytes < spec.output.rotate.bytes)
        throw spec_error(fmt::format("rotate.keep_bytes: {} bytes is less than one file of the rotation (rotate.bytes "
                                     "{}): every file would be deleted as it closed; give keep_bytes room for several "
                                     "files (it counts bytes, where -C counts MB)",
                                     spec.output.rotate.keep_bytes, spec.output.rotate.bytes));
    if (spec.output.index == true && spec.output.decap == decap_mode::ip)
        throw spec_error("index: indexes Ethernet frames, and \"decap\": \"ip\" writes raw IP packets: use "
                         "\"decap\": \"frame\" (the inner packets behind an Ethernet header) or no index");
    // The tunnel fields only mean something with "tunnel": "inner", and a
    // UDP port is one kind of tunnel.
    if (!spec.tunnel.inner) {
        const std::pair<bool, const char*> named[] = {
            {j.contains("vni"), "vni"},
            {spec.tunnel.outer.has_value(), "outer"},
            {spec.output.decap != decap_mode::none, "decap"},
            {j.contains("vxlan_ports"), "vxlan_ports"},
            {j.contains("geneve_ports"), "geneve_ports"}};
        for (const auto& [given, name] : named)
            if (given)
                throw spec_error(fmt::format("{}: needs \"tunnel\": \"inner\" (with \"tunnel\": \"outer\", the "
                                             "default, rules see the outer headers and tunnels are not walked)",
                                             name));
    }
    const tunnel_ports& p = spec.tunnel.ports;
    const bool vxlan_named = j.contains("vxlan_ports");
    for (unsigned i = 0; i < p.geneve_count; i++)
        for (unsigned v = 0; v < p.vxlan_count; v++)
            if (p.geneve[i] == p.vxlan[v])
                throw spec_error(fmt::format("geneve_ports[{}]: {} is also a VXLAN port (vxlan_ports{}): a port "
                                             "carries one kind of tunnel",
                                             i, to_network16(p.geneve[i]),
                                             vxlan_named ? fmt::format("[{}]", v) : " default"));
}

} // namespace

namespace {

// Where the first text of `j` (a string, or an object's key) holding a NUL
// byte is, in the words of the fields' errors ("match[0].src[1]"), and at
// which character; "" if none. Every value that reaches a C string
// (libpcap's expression, inet_pton's address, Hyperscan's pattern) would be
// cut short there, and a filter cut short selects more than it says.
// Walked without recursion: a spec may nest as deep as its bytes allow.
std::string first_nul(const json& root)
{
    std::vector<std::pair<const json*, std::string>> todo{{&root, ""}};
    while (!todo.empty()) {
        const auto [j, path] = todo.back();
        todo.pop_back();
        const auto nul_in = [](const std::string& text, const std::string& where) {
            const size_t at = text.find('\0');
            return at == std::string::npos ? std::string{} : fmt::format("{}: a NUL byte at character {}", where, at + 1);
        };
        if (j->is_string()) {
            if (std::string e = nul_in(j->get_ref<const std::string&>(), path.empty() ? "the spec" : path); !e.empty())
                return e;
        } else if (j->is_object()) {
            for (auto it = j->rbegin(); it != j->rend(); ++it) {
                const std::string field = path.empty() ? it.key() : path + "." + it.key();
                if (std::string e = nul_in(it.key(), "a field's name" + (path.empty() ? "" : " in " + path)); !e.empty())
                    return e;
                todo.emplace_back(&it.value(), field);
            }
        } else if (j->is_array()) {
            for (size_t i = j->size(); i-- > 0;)
                todo.emplace_back(&(*j)[i], fmt::format("{}[{}]", path, i));
        }
    }
    return {};
}

} // namespace

std::string parse_session_spec(const json& j, session_spec& spec)
{
    if (std::string e = first_nul(j); !e.empty())
        return e + ": a spec's text cannot hold one";
    // A filter in a VPN gateway's schema is read as the spec it means.
    if (is_gateway_capture_filter(j)) {
        json imported;
        if (std::string e = import_gateway_capture_filter(j, imported); !e.empty())
            return e;
        if (std::string e = parse_session_spec(imported, spec); !e.empty())
            return gateway_error(j, e);
        return {};
    }
    try {
        parse_fields(spec_value{j, ""}, "", spec);
        check_fields(j, spec);
        spec.output.tunnel = spec.tunnel.ports;
    } catch (const spec_error& e) {
        return e.what();
    } catch (const json::exception& e) {
        // The fields check each value's type before reading it; should one
        // slip, a spec from a client still gets an answer, not an abort.
        return fmt::format("the spec cannot be read: {}", e.what());
    }
    return {};
}

namespace {

// What JSON's grammar allows and a spec never means: a field given twice in
// one object (nlohmann keeps the last, so `"match"` twice silently captured
// everything), and nesting deeper than any spec needs (every later step
// that walks a value, dump() for an error among them, recurses: 100 000
// '[' overflowed the stack).
struct json_shape_error {
    std::string what;
};

constexpr int spec_depth_max = 32;   // a spec needs 4: the spec, "match", a rule, its list of addresses

// The path of the object being read, as error messages name fields:
// "match[].src" ([] for an element of a list).
//
// A SAX handler, run over the text before it is parsed into a value: a
// callback given to json::parse would do as well, but nlohmann 3.11 then
// walks the parent list again after each object in it, time that grows as
// the square of a list's length (64 KiB of "[{},{},...]" on the control
// thread).
struct json_shape_check {
    struct level {
        bool is_object;
        std::string key;                          // the last key read (objects)
        std::unordered_set<std::string> keys;     // all of them, to find one given twice
    };
    std::vector<level> levels;
    size_t depth_max = spec_depth_max;

    std::string path() const
    {
        std::string out;
        for (size_t i = 0; i + 1 < levels.size(); i++)
            out += levels[i].is_object ? (out.empty() ? "" : ".") + levels[i].key : "[]";
        return out;
    }
    bool open(bool is_object)
    {
        if (levels.size() >= depth_max)
            throw json_shape_error{fmt::format("lists and objects nested more than {} deep: a spec needs 4 (a "
                                               "rule's list of addresses in \"match\")",
                                               spec_depth_max)};
        levels.push_back({is_object, {}, {}});
        return true;
    }
    bool close()
    {
        levels.pop_back();
        return true;
    }

    bool start_object(std::size_t) { return open(true); }
    bool start_array(std::size_t) { return open(false); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(std::string& name)
    {
        level& here = levels.back();
        here.key = name;
        if (!here.keys.insert(name).second) {
            const std::string where = path();
            throw json_shape_error{fmt::format("{}{} is given twice: give each field once",
                                               where.empty() ? "" : where + ": ",
                                               json(name).dump(-1, ' ', false, json::error_handler_t::replace))};
        }
        return true;
    }
    bool null() { return true; }
    bool boolean(bool) { return true; }
    bool number_integer(json::number_integer_t) { return true; }
    bool number_unsigned(json::number_unsigned_t) { return true; }
    bool number_float(json::number_float_t, const std::string&) { return true; }
    bool string(std::string&) { return true; }
    bool binary(json::binary_t&) { return true; }
    // Not JSON: json::parse, next, says where and why.
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};

} // namespace

std::string parse_spec_json(std::string_view text, json& j, int levels_above)
{
    try {
        json_shape_check shape;
        shape.depth_max = static_cast<size_t>(spec_depth_max + std::max(levels_above, 0));
        json::sax_parse(text, &shape);
        j = json::parse(text);
    } catch (const json_shape_error& e) {
        return e.what;
    } catch (const json::parse_error& e) {
        // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..."
        // -> "not valid JSON at byte 31 (line 3, column 5): syntax error ..."
        std::string what = e.what();
        std::string where;
        if (const auto p = what.find("] parse error at "); p != std::string::npos) {
            what = what.substr(p + 17);
            if (const auto colon = what.find(": "); colon != std::string::npos && what.starts_with("line ")) {
                where = fmt::format(" ({})", what.substr(0, colon));
                what = what.substr(colon + 2);
            }
        } else if (const auto tag = what.find("] "); tag != std::string::npos) {
            what = what.substr(tag + 2);
        }
        return fmt::format("not valid JSON at byte {}{}: {}", e.byte, where, what);
    } catch (const json::exception& e) {
        // Not only parse_error: a number too large for a double (1e400) is
        // out_of_range, and escaped as far as std::terminate (found by fuzz-spec).
        std::string what = e.what();
        if (const auto p = what.find("] "); p != std::string::npos)
            what = what.substr(p + 2);
        return "not valid JSON: " + what;
    }
    return {};
}

std::string parse_session_spec_text(std::string_view text, session_spec& spec)
{
    json j;
    if (std::string e = parse_spec_json(text, j); !e.empty())
        return e;
    return parse_session_spec(j, spec);
}

std::span<const session_field> session_fields()
{
    return fields;
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
    case stop_reason::crashed: return "crashed";
    }
    return "?";
}

std::optional<stop_reason> stop_reason_from_name(std::string_view name)
{
    for (auto r = static_cast<uint8_t>(stop_reason::none); r <= static_cast<uint8_t>(stop_reason::crashed); r++)
        if (stop_reason_name(static_cast<stop_reason>(r)) == name)
            return static_cast<stop_reason>(r);
    return std::nullopt;
}

} // namespace linecap
