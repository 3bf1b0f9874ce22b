// linecap's own command line: the words after "--", parsed once with CLI11
// into a plain struct and checked as a whole before DPDK starts.
#pragma once

#include <string>
#include <vector>

#include "core/spec.h"
#include "engine/config.h"

namespace linecap {

// The data plane's configuration (engine/config.h: lcores, rings, pools,
// queues) and, beside it, the session and the program's own settings.
struct engine_options : engine_config {
    session_spec session;            // --filter-file, then the options below over it
    std::string filter_file;         // a session spec in JSON (docs/filters.md)
    std::string bpf;                 // --bpf, or the words after the options, as tcpdump takes them
    std::vector<std::string> read_files;   // -r FILE (repeatable): capture files, the only source (engine/file_port.h)
    double idle_exit_s = 0;          // 0: never
    double stats_interval_s = 0;     // 0: no live counters
    std::string stats_json;          // where the final counters go, if anywhere

    // Daemon mode (docs/control.md): sessions come from the control socket.
    std::string control_socket;      // --control PATH; empty: a one-shot capture
    std::string control_group;       // group of the socket, if not ours
    std::string out_root;            // sessions' folders go under it
    unsigned session_limit = 8;      // --max-sessions: running at once, up to max_sessions (16)
    std::vector<std::string> start_files;   // --start: specs of sessions present from the first packet
    std::vector<session_spec> start_specs;  // ... parsed and checked by validate_options()
    std::vector<std::string> start_texts;   // ... as the files said, for each session's metadata

    // The options the command line gave explicitly: they win over --filter-file.
    std::vector<std::string> given;
    // The one-shot options given (refused in daemon mode).
    std::vector<std::string> oneshot_given;

    bool daemon() const { return !control_socket.empty(); }
};

enum class parse_result {
    run,          // options are valid: go on
    exit_ok,      // --help or --version was printed
    exit_usage,   // a bad option; the message was printed
};

// Parses argv (argv[0] is the program name, the rest are linecap options).
// Prints help or one error line to stderr as needed.
parse_result parse_options(int argc, char** argv, engine_options& options);

// Reads --filter-file, applies the command line over it, checks the filter
// (BPF syntax, payload patterns, rule sizes), the fields against each other,
// and creates the output folder and proves it writable.
// Returns an empty string, or what is wrong.
std::string validate_options(engine_options& options);

} // namespace linecap
