#include "core/utc_time.h"

#include "core/human_units.h"

#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <tuple>

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

uint64_t utc_now_ns()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::optional<uint64_t> parse_utc_time(std::string_view text, uint64_t now_ns, std::string& error)
{
    error = "not a UTC time: give 2026-11-29T18:53:45Z (ISO 8601; or with its offset from UTC, "
            "2026-11-29T19:53:45+01:00), \"2026-11-29 18:53:45\" (as linecapctl ls prints it), 20261129T185345Z "
            "(as file names have it) or -5m or \"5m ago\" (5 minutes ago; ms, s, m, h, d)";
    // A duration ago, read as every duration is (core/human_units.h): "-5m",
    // or "5m ago" as Stenographer's queries say it.
    std::string_view ago;
    if (text.starts_with('-'))
        ago = text.substr(1);
    else if (text.ends_with(" ago"))
        ago = text.substr(0, text.size() - 4);
    if (!ago.empty() || text == "-") {
        const std::optional<double> seconds = parse_seconds(ago);
        if (!seconds)
            return std::nullopt;
        if (*seconds * 1e9 > static_cast<double>(now_ns)) {
            error = "further back than 1970-01-01T00:00:00Z, where capture times start";
            return std::nullopt;
        }
        return now_ns - static_cast<uint64_t>(*seconds * 1e9);
    }
    std::string copy(text);   // strptime wants a C string
    // RFC 3339 (5.6, its note) allows a lower-case "t" and "z".
    if (copy.size() > 10 && copy[10] == 't')
        copy[10] = 'T';
    else if (copy.size() > 8 && copy[8] == 't')
        copy[8] = 'T';
    for (const char* layout : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y%m%dT%H%M%S"}) {
        std::tm tm{};
        const char* rest = strptime(copy.c_str(), layout, &tm);
        if (rest == nullptr)
            continue;
        uint64_t fraction_ns = 0;
        if (*rest == '.') {   // up to nine digits of a second
            const char* digits = ++rest;
            while (*rest >= '0' && *rest <= '9')
                rest++;
            const auto count = static_cast<size_t>(rest - digits);
            if (count == 0)
                return std::nullopt;
            if (count > 9) {
                error = fmt::format("{} digits after the seconds, where linecap keeps nanoseconds: give at most nine "
                                    "(18:53:45.123456789)",
                                    count);
                return std::nullopt;
            }
            std::from_chars(digits, rest, fraction_ns);
            for (size_t i = count; i < 9; i++)
                fraction_ns *= 10;
        }
        // RFC 3339's offset from UTC: Z, or +HH:MM / -HH:MM (the local
        // time's, taken off to give UTC).
        int64_t offset_s = 0;
        std::string offset_text = "Z";   // as typed, for a date that does not exist
        if (*rest == 'Z' || *rest == 'z') {
            rest++;
        } else if ((*rest == '+' || *rest == '-') && std::strlen(rest) == 6 && rest[3] == ':') {
            const auto digit = [](char c) { return c >= '0' && c <= '9'; };
            if (!digit(rest[1]) || !digit(rest[2]) || !digit(rest[4]) || !digit(rest[5]))
                return std::nullopt;
            const int hours = (rest[1] - '0') * 10 + (rest[2] - '0'), minutes = (rest[4] - '0') * 10 + (rest[5] - '0');
            if (hours > 23 || minutes > 59) {
                error = fmt::format("the offset from UTC {} is no offset: give +HH:MM with HH at most 23 and MM at "
                                    "most 59, or Z for UTC",
                                    rest);
                return std::nullopt;
            }
            offset_s = (*rest == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
            offset_text.assign(rest, 6);
            rest += 6;
        }
        if (*rest != '\0')
            break;   // strptime took "60" as "6" and then "0": said below
        const std::tm given = tm;
        const std::time_t local = timegm(&tm);   // normalizes tm: 2023-11-31 becomes 2023-12-01
        const std::time_t seconds = local - offset_s;
        if (std::tie(tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) !=
            std::tie(given.tm_year, given.tm_mon, given.tm_mday, given.tm_hour, given.tm_min, given.tm_sec)) {
            // (A leap second too: 23:59:60 is in no capture's clock, which counts POSIX seconds.)
            error = fmt::format("no such date and time (it would be {}{}): check the day of the month and the "
                                "hours, minutes and seconds (at most 23:59:59)",
                                fmt::format("{:%Y-%m-%dT%H:%M:%S}", tm), offset_text);
            return std::nullopt;
        }
        if (seconds < 0) {
            error = "before 1970-01-01T00:00:00Z, where capture times start";
            return std::nullopt;
        }
        // Past INT64_MAX ns (2262-04-11T23:47:16Z), the last instant every
        // count of nanoseconds since 1970 holds (signed or not): later ones
        // would wrap round to other times.
        constexpr uint64_t latest_ns = INT64_MAX;
        if (static_cast<uint64_t>(seconds) > latest_ns / ns_per_s ||
            static_cast<uint64_t>(seconds) * ns_per_s > latest_ns - fraction_ns) {
            error = "after 2262-04-11T23:47:16.854775807Z, the last time linecap can hold: leave it out for no "
                    "bound";
            return std::nullopt;
        }
        return static_cast<uint64_t>(seconds) * ns_per_s + fraction_ns;
    }
    // Digits where a layout has them, which strptime still refused: a field
    // past its range (month 13, 24:00, a 60th minute). Said as a date that
    // does not exist, as Feb 30 and a 60th second are (timegm's normalizing,
    // above), not as a time in no known form.
    // 'D' a digit, '?' 'T' or ' ', then what the layouts take after the
    // seconds: a fraction, and Z or an offset.
    const auto matches = [](std::string_view text, std::string_view layout) {
        if (text.size() != layout.size())
            return false;
        for (size_t i = 0; i < layout.size(); i++) {
            const char c = text[i];
            if (layout[i] == 'D' ? c < '0' || c > '9' : layout[i] == '?' ? c != 'T' && c != ' ' : c != layout[i])
                return false;
        }
        return true;
    };
    const auto shaped = [&](std::string_view layout) {
        if (copy.size() < layout.size() || !matches(std::string_view(copy).substr(0, layout.size()), layout))
            return false;
        std::string_view tail = std::string_view(copy).substr(layout.size());
        if (tail.starts_with('.')) {
            size_t digits = 1;
            while (digits < tail.size() && tail[digits] >= '0' && tail[digits] <= '9')
                digits++;
            tail.remove_prefix(digits);
        }
        return tail.empty() || tail == "Z" || tail == "z" || matches(tail, "+DD:DD") || matches(tail, "-DD:DD");
    };
    if (shaped("DDDD-DD-DD?DD:DD:DD") || shaped("DDDDDDDDTDDDDDD"))
        error = "no such date and time: check the month (01 to 12), the day of the month and the hours, minutes "
                "and seconds (at most 23:59:59)";
    return std::nullopt;
}

std::string parse_utc_window(std::string_view since_name, const std::string& since, std::string_view until_name,
                             const std::string& until, uint64_t now_ns, uint64_t& since_ns, uint64_t& until_ns)
{
    for (const auto& [name, text, into] :
         {std::tuple{since_name, &since, &since_ns}, std::tuple{until_name, &until, &until_ns}}) {
        if (text->empty())
            continue;
        std::string error;
        const std::optional<uint64_t> t = parse_utc_time(*text, now_ns, error);
        if (!t)
            return fmt::format("{} {}: {}", name, *text, error);
        *into = *t;
    }
    if (since_ns > until_ns)
        return fmt::format("{} {} is after {} {}: no packet can be in between", since_name, since, until_name, until);
    return {};
}

} // namespace linecap
