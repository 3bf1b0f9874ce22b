// Times as UTC text, from nanoseconds since the Unix epoch. Unsigned, so
// times past 2038 (and past 2106, which pcapng can hold) come out right;
// formatted by fmt's chrono support (fmt::gmtime), in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace linecap {

// ISO 8601 extended, nanoseconds: "2023-11-14T22:13:20.000000001Z".
// The catalog's and the API's "started" and "ended".
std::string utc_iso8601(uint64_t unix_ns);

// ISO 8601 basic, seconds: "20231114T221320Z". Capture file names: sorts as
// it reads, and has no character that a shell or a file system minds.
std::string utc_basic(uint64_t unix_ns);

// The time of day, nanoseconds: "22:13:20.000000001", as tcpdump -tttt
// prints it without the date (watch lines).
std::string utc_time_of_day(uint64_t unix_ns);

// The wall clock now, nanoseconds since the epoch.
uint64_t utc_now_ns();

// A time a person typed, as nanoseconds since the epoch (UTC): ISO 8601
// ("2026-11-29T18:53:45Z", with a fraction of a second of up to nine
// digits, without the Z, or with RFC 3339's offset from UTC instead,
// "2026-11-29T19:53:45+01:00"; "t" and "z" in lower case too),
// the same with a space ("2026-11-29 18:53:45", as linecapctl ls prints it),
// the basic form of file names ("20261129T185345Z"), or a time before `now_ns`
// ("-5m", "-90s", "-2h", "-1d", or "5m ago"). Nothing, with `error` saying what is
// accepted, for anything else.
std::optional<uint64_t> parse_utc_time(std::string_view text, uint64_t now_ns, std::string& error);

// A window of times typed as two texts, each empty for no bound, parsed as
// parse_utc_time parses them: `since_ns` and `until_ns` set for the texts
// given, left as they are for the others. Empty, or what is wrong, in the
// words every entry point uses, with the names as the user gave them
// ("--since" on a command line, "since" in a query): "--since 3pm: ...",
// or "--since X is after --until Y: no packet can be in between".
std::string parse_utc_window(std::string_view since_name, const std::string& since, std::string_view until_name,
                             const std::string& until, uint64_t now_ns, uint64_t& since_ns, uint64_t& until_ns);

} // namespace linecap
