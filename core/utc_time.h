// Times as UTC text, from nanoseconds since the Unix epoch. Unsigned, so
// times past 2038 (and past 2106, which pcapng can hold) come out right;
// formatted by fmt's chrono support (fmt::gmtime), in one place.
#pragma once

#include <cstdint>
#include <string>

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

} // namespace linecap
