// The parts of a session spec's "bpf" a command line ANDs (the one-shot's
// and linecapctl start's: control/session_options.h), so that libpcap's
// refusal names the part it is about.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace linecap {

// The parts of a spec's "bpf": the spec file's (-F FILE) and the command
// line's (the expression's words, or --bpf), ANDed.
struct bpf_parts {
    std::string file;      // the spec file; "" for none
    std::string file_bpf;  // its "bpf"
    std::string command_bpf;
};

// A compile error of the spec's "bpf" ("bpf: ...", check_session_filter's
// words) blamed on the part that gave it: "--filter-file FILE: bpf: ..."
// for the file's, the one-shot's "bpf: \"tcp port\": ..." for the command
// line's. When both are given, each is compiled alone by `check` ("" or
// libpcap's words) to tell which fails. Other errors are returned as they
// are.
std::string explain_bpf_error(std::string_view error, const bpf_parts& parts,
                              const std::function<std::string(const std::string&)>& check);

} // namespace linecap
