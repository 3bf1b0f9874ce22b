// The control socket's bound on one request, and what an entry point says
// of a start past it: linecapctl start (before it connects) and the HTTP
// API's 413 give the same words, saying how large the request is (when
// known), the limit, and what to send instead. Header-only: linecapctl
// links no part of the daemon.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace linecap {

// A request line longer than this is refused (and the rest of it skipped):
// the daemon holds each connection's line in memory until its newline.
constexpr size_t max_request_bytes = 64 * 1024;

// `what` ("the request body", "the request with its session spec") is
// `bytes` long, or over the limit when its length is not known (a chunked
// HTTP body is refused as it passes the limit):
//   the request body is 70000 bytes, over 65536 bytes (64 KiB), the most one request may be: send a smaller
//   session spec (address prefixes or ranges such as 10.4.2.0/24 or 10.4.2.1-10.4.2.9 instead of long lists
//   of addresses, or the capture split into sessions)
inline std::string request_too_large(std::string_view what, std::optional<size_t> bytes)
{
    return fmt::format("{} is {}over {} bytes (64 KiB), the most one request may be: send a smaller session spec "
                       "(address prefixes or ranges such as 10.4.2.0/24 or 10.4.2.1-10.4.2.9 instead of long lists "
                       "of addresses, or the capture split into sessions)",
                       what, bytes ? fmt::format("{} bytes, ", *bytes) : std::string(), max_request_bytes);
}

} // namespace linecap
