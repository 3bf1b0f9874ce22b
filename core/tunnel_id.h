// A tunnel id as a query takes one (linecap query --vni, linecapctl query
// --vni, the socket's and HTTP's "vni"): decimal, 0 to 4294967295. One
// parser, so every entry point reads and refuses the same text alike.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace linecap {

// "" with `out` set, or what is wrong with `text`.
inline std::string parse_vni(std::string_view text, uint32_t& out)
{
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v > UINT32_MAX)
        return fmt::format("\"{}\" is not a tunnel id: a whole number from 0 to 4294967295 (a VXLAN or GENEVE VNI, "
                           "a GRE key, an ERSPAN session id)",
                           text);
    out = static_cast<uint32_t>(v);
    return {};
}

} // namespace linecap
