// UTC text from nanoseconds since the epoch: the three forms linecap prints,
// on both sides of 2^31 s (2038) and past 2^32 s (2106).
#include <catch2/catch.hpp>

#include "core/utc_time.h"

using namespace linecap;

namespace {
constexpr uint64_t ns = 1000000000;
}

TEST_CASE("utc_time: ISO 8601 extended with nanoseconds, basic, and the time of day")
{
    CHECK(utc_iso8601(0) == "1970-01-01T00:00:00.000000000Z");
    CHECK(utc_iso8601(1700000000 * ns + 1) == "2023-11-14T22:13:20.000000001Z");
    CHECK(utc_basic(1700000000 * ns + 999999999) == "20231114T221320Z");
    CHECK(utc_time_of_day(1700000000 * ns + 123456789) == "22:13:20.123456789");
}

TEST_CASE("utc_time: past 2038 and 2106, seconds read unsigned")
{
    CHECK(utc_iso8601(2147483647 * ns) == "2038-01-19T03:14:07.000000000Z");
    CHECK(utc_iso8601(2147483648 * ns) == "2038-01-19T03:14:08.000000000Z");
    CHECK(utc_basic(4294967295 * ns) == "21060207T062815Z");
    CHECK(utc_basic(4294967296 * ns) == "21060207T062816Z");
    CHECK(utc_time_of_day(4294967295 * ns + 5) == "06:28:15.000000005");
}

TEST_CASE("parse_utc_time: the forms people type (ISO 8601, as ls prints it, as file names have it, relative)")
{
    const uint64_t now = 1764441225 * ns;   // 2025-11-29T18:33:45Z
    std::string error;
    CHECK(parse_utc_time("2023-11-14T22:13:20Z", now, error) == 1700000000 * ns);
    CHECK(parse_utc_time("2023-11-14T22:13:20.000000001Z", now, error) == 1700000000 * ns + 1);
    CHECK(parse_utc_time("2023-11-14T22:13:20.5", now, error) == 1700000000 * ns + 500000000);
    CHECK(parse_utc_time("2023-11-14 22:13:20", now, error) == 1700000000 * ns);
    CHECK(parse_utc_time("20231114T221320Z", now, error) == 1700000000 * ns);
    CHECK(parse_utc_time("2106-02-07T06:28:16Z", now, error) == 4294967296 * ns);
    CHECK(parse_utc_time("-5m", now, error) == now - 300 * ns);
    CHECK(parse_utc_time("-90s", now, error) == now - 90 * ns);
    CHECK(parse_utc_time("15m ago", now, error) == now - 900 * ns);   // as Stenographer says it
    CHECK(parse_utc_time("1.5h ago", now, error) == now - 5400 * ns);
    CHECK(parse_utc_time("-2h", now, error) == now - 7200 * ns);
    CHECK(parse_utc_time("-1d", now, error) == now - 86400 * ns);
    // Every duration form (core/human_units.h): seconds alone, decimals, ms.
    CHECK(parse_utc_time("-5", now, error) == now - 5 * ns);
    CHECK(parse_utc_time("-1.5h", now, error) == now - 5400 * ns);
    CHECK(parse_utc_time("-250ms", now, error) == now - ns / 4);
    // RFC 3339: an offset from UTC, taken off; "t" and "z" in lower case.
    CHECK(parse_utc_time("2023-11-14T23:13:20+01:00", now, error) == 1700000000 * ns);
    CHECK(parse_utc_time("2023-11-14T17:43:20.5-04:30", now, error) == 1700000000 * ns + 500000000);
    CHECK(parse_utc_time("2023-11-14T22:13:20+00:00", now, error) == 1700000000 * ns);
    CHECK(parse_utc_time("2023-11-14t22:13:20z", now, error) == 1700000000 * ns);
    CHECK(parse_utc_time("1970-01-01T01:00:00+01:00", now, error) == 0);
    error.clear();
    CHECK_FALSE(parse_utc_time("1970-01-01T00:59:59+01:00", now, error).has_value());
    CHECK(error == "before 1970-01-01T00:00:00Z, where capture times start");
    CHECK_FALSE(parse_utc_time("2023-11-14T22:13:20+24:00", now, error).has_value());
    CHECK(error == "the offset from UTC +24:00 is no offset: give +HH:MM with HH at most 23 and MM at most 59, or Z "
                   "for UTC");
    CHECK(parse_utc_time("2023-11-14T20:13:20-02:00", now, error) == 1700000000 * ns);   // behind UTC: later in UTC
    CHECK(parse_utc_time("2023-11-15T00:13:20+02:00", now, error) == 1700000000 * ns);   // the day before in UTC
    CHECK(parse_utc_time("20231114t221320z", now, error) == 1700000000 * ns);
    CHECK_FALSE(parse_utc_time("2023-11-31T00:30:00+01:00", now, error).has_value());
    CHECK(error == "no such date and time (it would be 2023-12-01T00:30:00+01:00): check the day of the month and "
                   "the hours, minutes and seconds (at most 23:59:59)");
    CHECK_FALSE(parse_utc_time("2262-04-12T01:47:17+02:00", now, error).has_value());
    CHECK_THAT(error, Catch::StartsWith("after 2262-04-11T23:47:16.854775807Z"));
    CHECK_FALSE(parse_utc_time("2023-11-14T22:13:20.1234567891Z", now, error).has_value());
    CHECK(error == "10 digits after the seconds, where linecap keeps nanoseconds: give at most nine (18:53:45.123456789)");
    for (const char* bad : {"", "yesterday", "2023-11-14", "2023-11-14T22:13:20+0100", "2023-11-14T22:13:20+01:0x",
                            "-5w", "5m", "--5m", "2023-11-14T22:13:20Zjunk", " ago", "5m  ago", "-5m ago", "ago",
                            // durations as seconds_forms says them: no exponent, no hex, no infinity
                            "-1e3", "1e3s ago", "-0x10s", "-infs", "-nan"}) {
        INFO(bad);
        error.clear();
        CHECK_FALSE(parse_utc_time(bad, now, error).has_value());
        CHECK_THAT(error, Catch::Contains("2026-11-29T18:53:45Z") && Catch::Contains("-5m"));
    }
}

TEST_CASE("parse_utc_window: both bounds, either, neither, reversed, and the bad one named as the user gave it")
{
    const uint64_t ns = 1000000000ULL;
    const uint64_t now = 1700000000 * ns;
    uint64_t since = 0, until = UINT64_MAX;
    CHECK(parse_utc_window("--since", "", "--until", "", now, since, until).empty());
    CHECK((since == 0 && until == UINT64_MAX));
    CHECK(parse_utc_window("--since", "-5m", "--until", "", now, since, until).empty());
    CHECK((since == now - 300 * ns && until == UINT64_MAX));
    since = 0;
    CHECK(parse_utc_window("since", "", "until", "2023-11-14T22:13:20Z", now, since, until).empty());
    CHECK((since == 0 && until == now));
    until = UINT64_MAX;
    CHECK(parse_utc_window("--since", "-1m", "--until", "-2m", now, since, until) ==
          "--since -1m is after --until -2m: no packet can be in between");
    const std::string bad = parse_utc_window("since", "-5m", "until", "noon", now, since, until);
    CHECK_THAT(bad, Catch::StartsWith("until noon: ") && Catch::Contains("2026-11-29T18:53:45Z"));
}

TEST_CASE("parse_utc_time: dates that do not exist, before 1970 or past what 64 bits of nanoseconds hold are refused, never wrapped")
{
    const uint64_t now = 1764441225 * ns;
    std::string error;
    // The last instant: INT64_MAX ns.
    CHECK(parse_utc_time("2262-04-11T23:47:16.854775807Z", now, error) == uint64_t{INT64_MAX});
    for (const char* late : {"2262-04-11T23:47:16.854775808Z", "2262-04-11T23:47:17Z", "2608-06-04T21:47:59Z",
                             "9999-12-31T23:59:59Z"}) {
        INFO(late);
        CHECK_FALSE(parse_utc_time(late, now, error).has_value());
        CHECK(error == "after 2262-04-11T23:47:16.854775807Z, the last time linecap can hold: leave it out for no bound");
    }
    for (const char* early : {"1969-12-31T23:59:59Z", "1900-01-01 00:00:00"}) {
        INFO(early);
        CHECK_FALSE(parse_utc_time(early, now, error).has_value());
        CHECK(error == "before 1970-01-01T00:00:00Z, where capture times start");
    }
    const std::pair<const char*, const char*> impossible[] = {
        {"2023-11-31T00:00:00Z", "2023-12-01T00:00:00Z"},   // November has 30 days
        {"2023-02-29T12:00:00Z", "2023-03-01T12:00:00Z"},   // not a leap year
        {"2023-11-14T23:59:60Z", "2023-11-15T00:00:00Z"},   // a leap second: not in POSIX time
        {"20231114T221361Z", "2023-11-14T22:14:01Z"},
    };
    for (const auto& [text, would_be] : impossible) {
        INFO(text);
        CHECK_FALSE(parse_utc_time(text, now, error).has_value());
        CHECK_THAT(error, Catch::StartsWith("no such date and time (it would be " + std::string(would_be) + ")"));
    }
    // Fields past what strptime takes at all: said as dates that do not
    // exist too, not as times in no known form.
    for (const char* text : {"2026-13-01T00:00:00Z", "2026-11-29T24:00:00Z", "2026-11-29 18:60:00",
                             "20261129T186000Z", "2026-00-10T00:00:00Z", "2026-11-29T18:53:62+01:00"}) {
        INFO(text);
        CHECK_FALSE(parse_utc_time(text, now, error).has_value());
        CHECK(error == "no such date and time: check the month (01 to 12), the day of the month and the hours, "
                       "minutes and seconds (at most 23:59:59)");
    }
    for (const char* text : {"2026-11-29", "yesterday", "2026-11-29T18:53Z", "2026/11/29 18:53:45",
                             "2026-11-29T18:53:45junk", "2026-11-29T18:60:45junk", "20261129T186000+1"}) {
        INFO(text);
        CHECK_FALSE(parse_utc_time(text, now, error).has_value());
        CHECK_THAT(error, Catch::StartsWith("not a UTC time: give 2026-11-29T18:53:45Z"));
    }
    CHECK(parse_utc_time("2024-02-29T12:00:00Z", now, error) == 1709208000 * ns);   // a leap year's
    CHECK_FALSE(parse_utc_time("9999999999d ago", now, error).has_value());
    CHECK(error == "further back than 1970-01-01T00:00:00Z, where capture times start");
}
