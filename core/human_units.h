// Sizes for people: "812 B", "37.5 KiB", "1.2 GiB". Shared by the engine's
// summaries and linecapctl.
#pragma once

#include <cstdint>
#include <string>

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

} // namespace linecap
