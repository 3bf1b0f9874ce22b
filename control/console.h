// The web console (GET /, docs/http.md#the-web-console): the files under
// control/console/, embedded in the binary at build time by
// control/console/embed.py. Nothing is fetched from anywhere else.
#pragma once

#include <string_view>

namespace linecap {

struct console_file {
    std::string_view path;           // "/console/index.html"
    std::string_view content_type;   // "text/html; charset=utf-8"
    std::string_view body;
};

// The file served at `path`, or null.
const console_file* find_console_file(std::string_view path);

} // namespace linecap
