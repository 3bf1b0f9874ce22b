// linecap's own command line: the words after "--", parsed once with CLI11
// into a plain struct and checked as a whole before DPDK starts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/spec.h"
#include "fleet/etcd.h"
#include "engine/config.h"

namespace linecap {

// The data plane's configuration (engine/config.h: lcores, rings, pools,
// queues) and, beside it, the session and the program's own settings.
struct engine_options : engine_config {
    // The one-shot's session: the --filter-file spec with the command line's
    // session options laid over it (control/session_options.h), parsed once.
    session_spec session;
    std::string filter_file;         // a session spec in JSON (docs/filters.md)
    std::vector<std::string> read_files;   // -r FILE (repeatable): capture files, the only source (engine/file_port.h)
    std::vector<std::string> interfaces;   // -i IFACE (repeatable): net_af_packet vdevs added to EAL's words
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
    // --read-rate: what a merge, query or download of a session's files
    // reads at most, in MB (10^6 bytes) per second; 0: no limit
    // (merge_request::read_rate, control/jobs.h).
    double read_rate_mb = 256;
    // The HTTP API (docs/http.md): --http ADDR:PORT, and the bearer token
    // read from --http-token-file, both checked by validate_options().
    std::string http_listen;         // as given; empty: no HTTP
    std::string http_token_file;
    std::string http_host;           // an IP address, without brackets
    uint16_t http_port = 0;
    std::string http_token;          // empty: none (loopback only)
    // HTTPS (--http-cert, --http-key) and mutual TLS (--http-client-ca):
    // files checked by validate_options() (control/http_tls.h).
    std::string http_cert;
    std::string http_key;
    std::string http_client_ca;
    // The fleet (docs/fleet.md): --fleet-etcd URL[,URL...] and --node NAME,
    // checked by validate_options(); --fleet-url defaults to the --http
    // address's URL.
    std::string fleet_etcd;
    etcd_credential_options fleet_etcd_credentials;   // --fleet-etcd-cacert, -cert, -key, -user, -password-file
    etcd_settings fleet_etcd_settings;                // all of them, checked (validate_options)
    std::string node_name;
    std::string fleet_url;

    bool daemon() const { return !control_socket.empty(); }
};

enum class parse_result {
    run,          // options are valid: go on
    exit_ok,      // --help or --version was printed
    exit_usage,   // a bad option; the message was printed
};

// Parses argv (argv[0] is the program name, the rest are linecap options),
// refuses the options of the other mode (one-shot or daemon), and builds the
// one-shot's session spec. Prints help or one error to stderr as needed.
parse_result parse_options(int argc, char** argv, engine_options& options);

// linecap's options among EAL's words (those before "--", or every word
// when there is no "--"; `ours` are the words after it): an empty string,
// or one message naming the first and saying what to type instead
// ("-w is an option of linecap's, ...: linecap --no-huge -- -w out").
std::string misplaced_options(const std::vector<std::string>& eal, const std::vector<std::string>& ours,
                              bool separator);

// Checks the session's filter (BPF syntax, payload patterns, rule sizes) and
// the options against each other, reads the daemon's --start specs, and
// creates the output folder and proves it writable.
// Returns an empty string, or what is wrong.
std::string validate_options(engine_options& options);

} // namespace linecap
