// The HTTP API's bearer token file (--http-token-file; docs/security.md):
// read by the daemon that checks it and by linecapctl, which sends it to
// the fleet's nodes (fleet merge).
#pragma once

#include <string>

namespace linecap {

// Reads a token file: one line (trailing white space dropped) of 16 to 4096
// printable ASCII characters without spaces. Returns an empty string or
// what is wrong.
std::string read_http_token(const std::string& path, std::string& token);

} // namespace linecap
