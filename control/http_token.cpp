#include "control/http_token.h"

#include <cerrno>
#include <fstream>

#include <fmt/format.h>

#include "core/error_text.h"

namespace linecap {

std::string read_http_token(const std::string& path, std::string& token)
{
    constexpr size_t min_token = 16, max_token = 4096;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return fmt::format("cannot read it: {}", error_text(errno));
    std::string text;
    char buffer[1024];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        text.append(buffer, static_cast<size_t>(in.gcount()));
        if (text.size() > max_token + 2)
            return fmt::format("longer than {} bytes: the token is one line of {} to {} characters", max_token,
                               min_token, max_token);
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t'))
        text.pop_back();
    if (text.empty())
        return "it is empty: write a token in it, e.g. openssl rand -hex 32 > FILE";
    for (const char c : text)
        if (c <= ' ' || c > '~')
            return "the token has a character a bearer token cannot carry: one line of printable ASCII, no spaces";
    if (text.size() < min_token)
        return fmt::format("the token is {} characters long, too easy to guess: give at least {} "
                           "(openssl rand -hex 32 > FILE)",
                           text.size(), min_token);
    token = std::move(text);
    return {};
}

} // namespace linecap
