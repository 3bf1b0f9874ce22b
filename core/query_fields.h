// The fields a query or a merge of capture files takes besides its inputs,
// output and expression: the time window, the output's format and the
// tunnel terms (docs/query.md). One table and one parse, shared by every
// entry point: `linecap query` and `linecap merge` (options), linecapctl's
// query, merge and snapshot (options, checked before it connects), and the
// daemon's socket and HTTP API (JSON fields, URL parameters: the HTTP
// routes hand theirs to the socket's parser). So a mistake gets the same
// words from each, naming the field as that entry point spells it
// ("--inner-host" on a command line, "inner_host" in a request), and an
// empty value, which reads as "no bound" in one place and as a typo in
// another, is refused everywhere, saying what to type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/capture_format.h"
#include "core/spec.h"   // ip_range

namespace linecap {

// How an entry point spells its fields: options (--since, --inner-host) or
// request fields ("since", "inner_host": the socket's JSON, HTTP's URL).
enum class field_spelling { option, request };

// The fields as given, as text. Not given: nullopt (no bound, the default
// format, no tunnel term). Given empty: a mistake, refused.
struct query_field_texts {
    std::optional<std::string> since = std::nullopt;
    std::optional<std::string> until = std::nullopt;
    std::optional<std::string> format = std::nullopt;
    std::optional<std::string> inner_host = std::nullopt;   // a query's only
    std::optional<std::string> vni = std::nullopt;          // a query's only
};

// The fields parsed.
struct query_fields {
    uint64_t since_ns = 0;                   // a packet is kept when since_ns <= its time <= until_ns
    uint64_t until_ns = UINT64_MAX;
    std::optional<file_format> format;       // none: the inputs' own (the first input's, a session's)
    std::optional<ip_range> inner_host;      // the innermost packet's address, prefix or range
    std::optional<uint32_t> vni;             // the outermost tunnel's id
};

// What leaving the format out means, as an empty format's message says it
// ("or leave --format out for the capture's own"): a query and a session's
// merge write the capture's own format; a fleet merge writes pcapng
// (control/fleet_merge.h).
inline constexpr std::string_view format_absent_capture_own = "for the capture's own";

// Parses `given` into `out` (times relative to `now_ns`: "-5m"). "" or one
// line naming the field as `spelling` spells it and what to type:
//   --until: empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave --until out for no bound
//   --since yesterday: not a UTC time: give 2026-11-29T18:53:45Z (ISO 8601), ...
//   --since X is after --until Y: no packet can be in between
//   --format: "xyz" is not a format (pcap, pcap-ns, pcapng)
//   --inner-host: 10.0.0.1/8 has host bits set: did you mean 10.0.0.0/8?
//   --vni: "x" is not a tunnel id: a whole number from 0 to 4294967295 (...)
std::string parse_query_fields(const query_field_texts& given, field_spelling spelling, uint64_t now_ns,
                               query_fields& out, std::string_view format_absent = format_absent_capture_own);

} // namespace linecap
