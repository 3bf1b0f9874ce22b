#include "core/query_fields.h"

#include <array>
#include <cctype>

#include <fmt/format.h>

#include "core/tunnel_id.h"
#include "core/utc_time.h"

namespace linecap {

namespace {

// One row per field: its names, and what to type (for an empty value).
struct query_field_rule {
    std::optional<std::string> query_field_texts::*text;
    std::string_view option;    // on a command line
    std::string_view request;   // in the socket's JSON and HTTP's URL
    std::string_view give;      // what an empty value should have been
    std::string_view absent;    // what leaving the field out means (the format's: the caller's)
};

constexpr std::array<query_field_rule, 5> query_field_rules{{
    {&query_field_texts::since, "--since", "since",
     "a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago)", "for no bound"},
    {&query_field_texts::until, "--until", "until",
     "a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago)", "for no bound"},
    {&query_field_texts::format, "--format", "format", "pcap, pcap-ns or pcapng", format_absent_capture_own},
    {&query_field_texts::inner_host, "--inner-host", "inner_host",
     "an address (10.4.2.50), a prefix (10.4.2.0/24) or a range (10.4.2.1-10.4.2.9)", "for no tunnel term"},
    {&query_field_texts::vni, "--vni", "vni", "a tunnel id (a whole number from 0 to 4294967295)",
     "for no tunnel term"},
}};

std::string name_of(const query_field_rule& rule, field_spelling spelling)
{
    return spelling == field_spelling::option ? std::string(rule.option) : fmt::format("\"{}\"", rule.request);
}

const query_field_rule& rule_of(std::optional<std::string> query_field_texts::*text)
{
    for (const query_field_rule& rule : query_field_rules)
        if (rule.text == text)
            return rule;
    return query_field_rules.front();   // never: every field has its row
}

} // namespace

std::string parse_query_fields(const query_field_texts& given, field_spelling spelling, uint64_t now_ns,
                               query_fields& out, std::string_view format_absent)
{
    // Empty first, for every field alike: "" is a value nobody means.
    for (const query_field_rule& rule : query_field_rules)
        if (const std::optional<std::string>& text = given.*rule.text; text && text->empty()) {
            const std::string name = name_of(rule, spelling);
            return fmt::format("{}: empty: give {}, or leave {} out {}", name, rule.give, name,
                               rule.text == &query_field_texts::format ? format_absent : rule.absent);
        }
    const std::string since_name = name_of(rule_of(&query_field_texts::since), spelling);
    const std::string until_name = name_of(rule_of(&query_field_texts::until), spelling);
    if (std::string e = parse_utc_window(since_name, given.since.value_or(""), until_name, given.until.value_or(""),
                                         now_ns, out.since_ns, out.until_ns);
        !e.empty()) {
        // A URL's '+' is a space to its reader (an HTML form's encoding,
        // which cpp-httplib decodes): "...:20+01:00" arrives "...:20 01:00".
        const auto offset_lost = [](const std::optional<std::string>& t) {
            const size_t space = t ? t->rfind(' ') : std::string::npos;
            return space != std::string::npos && space > 0 && std::isdigit(static_cast<unsigned char>((*t)[space - 1])) &&
                   t->size() == space + 6 && (*t)[space + 3] == ':';
        };
        if (spelling == field_spelling::request && (offset_lost(given.since) || offset_lost(given.until)))
            e += " (in a URL a '+' is read as a space: send it as %2B, 2026-11-29T19:53:45%2B01:00, as curl "
                 "--data-urlencode does)";
        return e;
    }
    if (given.format) {
        out.format = parse_format(*given.format);
        if (!out.format)
            return fmt::format("{}: \"{}\" is not a format (pcap, pcap-ns, pcapng)",
                               name_of(rule_of(&query_field_texts::format), spelling), *given.format);
    }
    if (given.inner_host) {
        ip_range range;
        if (std::string e = parse_ip_range(*given.inner_host, range); !e.empty())
            return fmt::format("{}: {}", name_of(rule_of(&query_field_texts::inner_host), spelling), e);
        out.inner_host = range;
    }
    if (given.vni) {
        uint32_t id = 0;
        if (std::string e = parse_vni(*given.vni, id); !e.empty())
            return fmt::format("{}: {}", name_of(rule_of(&query_field_texts::vni), spelling), e);
        out.vni = id;
    }
    return {};
}

} // namespace linecap
