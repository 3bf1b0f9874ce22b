#include "core/utc_time.h"

#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace linecap {

namespace {

constexpr uint64_t ns_per_s = 1000000000;

std::tm utc(uint64_t unix_ns)
{
    return fmt::gmtime(static_cast<std::time_t>(unix_ns / ns_per_s));
}

} // namespace

std::string utc_iso8601(uint64_t unix_ns)
{
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:09}Z", utc(unix_ns), unix_ns % ns_per_s);
}

std::string utc_basic(uint64_t unix_ns)
{
    return fmt::format("{:%Y%m%dT%H%M%SZ}", utc(unix_ns));
}

std::string utc_time_of_day(uint64_t unix_ns)
{
    return fmt::format("{:%H:%M:%S}.{:09}", utc(unix_ns), unix_ns % ns_per_s);
}

} // namespace linecap
