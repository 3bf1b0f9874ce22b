// libFuzzer target: the control socket's request parser, session spec
// included, on arbitrary bytes. Every input must end in either a parsed
// request or one error message: no crash, no hang, no sanitizer report.
// Built by scripts/fuzz with clang (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    linecap::request r;
    const std::string error = linecap::parse_request(line, r);
    // Exactly one outcome: an error a person can read, or a request.
    if (!error.empty() && error.find('\0') != std::string::npos)
        std::abort();
    if (error.empty() && r.cmd == linecap::command::start && !r.spec_json.is_object())
        std::abort();
    // The error reply is always one line of valid JSON.
    const std::string reply = linecap::error_reply(error);
    if (reply.find('\n') != std::string::npos)
        std::abort();
    return 0;
}
