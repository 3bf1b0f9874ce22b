// Sizes, counts and durations for people: "812 B", "37.5 KiB", "1.2 GiB";
// "1 file", "3 files" printed; "90", "1.5", "90s", "5m", "2h", "1d" read.
// Shared by the engine's summaries, the session fields, merge and linecapctl.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace linecap {

inline std::string human_bytes(uint64_t bytes)
{
    if (bytes < 10 * 1024)
        return fmt::format("{} B", bytes);
    if (bytes < 10 * 1024 * 1024)
        return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
    if (bytes < 10ull * 1024 * 1024 * 1024)
        return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024 * 1024));
    return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
}

// A duration as people type it: a number of seconds, or a number with one
// of the units ms, s, m, h, d (as sleep(1) and systemd read them: "5m" is
// 300). Nullopt if the text is anything else, negative, or not finite.
inline std::optional<double> parse_seconds(std::string_view text)
{
    struct unit {
        std::string_view suffix;
        double seconds;
    };
    // "ms" before "s", so "5ms" is not read as 5m + "s".
    constexpr unit units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    double scale = 1;
    for (const unit& u : units)
        if (text.size() > u.suffix.size() && text.ends_with(u.suffix)) {
            text.remove_suffix(u.suffix.size());
            scale = u.seconds;
            break;
        }
    double value = 0;
    // Fixed notation only: "1e3" and "0x10" are not in seconds_forms.
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0)
        return std::nullopt;
    return value * scale;
}

// What parse_seconds reads, for error messages.
inline constexpr std::string_view seconds_forms = "seconds (90, 1.5) or a number with ms, s, m, h or d (5m, 2h)";

// The longest duration a limit or an option takes: 10^9 s, some 31 years.
inline constexpr double longest_duration_s = 1e9;

// What is wrong with `seconds` (parse_seconds' reading of `shown`, or none)
// as a duration above 0 and at most longest_duration_s; "" if nothing.
inline std::string duration_problem(std::string_view shown, std::optional<double> seconds)
{
    if (seconds && *seconds > longest_duration_s)
        return fmt::format("{} is longer than 10^9 s (some 31 years), the longest duration linecap takes: leave the "
                           "limit out for none",
                           shown);
    if (!seconds || !(*seconds > 0))
        return fmt::format("{} is not a duration above 0: give {}", shown, seconds_forms);
    return {};
}

// "1 file", "0 files", "3 packets": a count and its noun.
inline std::string count_of(uint64_t n, std::string_view one, std::string_view many)
{
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

} // namespace linecap
