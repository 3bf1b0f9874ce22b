// The control protocol: one JSON object per line each way, over a Unix
// stream socket (docs/control.md).
//
//   -> {"cmd":"start","spec":{...session spec...}}
//   <- {"ok":true,"id":"7"}
//   -> {"cmd":"start","spec":{...},"fleet":"web-20261130T124800Z"}   (a node's fleet agent)
//   -> {"cmd":"stop","id":"7"}
//   <- {"ok":false,"error":"no session 7 (see list)"}
//
// Requests are parsed and checked here, completely, before anything acts on
// them: a command the daemon sees is well formed, its fields known and of
// the right type, its spec (for start) compiled-ready.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "control/request_limit.h"   // max_request_bytes
#include "core/spec.h"

namespace linecap {

enum class command {
    start,      // spec
    stop,       // id
    list,
    show,       // id
    stats,
    files,      // id
    merge,      // id; since, until, force, output, format; the output file's descriptor passed with it
    query,      // as merge, and filter
    remove,     // id ("delete" on the wire)
    watch,      // id
    shutdown,
};

std::string_view command_name(command c);

struct request {
    command cmd = command::list;
    std::string id;              // stop, show, files, merge, query, delete, watch
    session_spec spec;           // start: parsed and checked
    nlohmann::json spec_json;    // start: as given, kept in the session's metadata
    std::string fleet;           // start: the fleet session it runs for (fleet/agent.h); empty: none
    // merge: the packets kept (UTC times, ISO 8601 on the wire), whether an
    // existing output file may be replaced, and the output's name as the
    // client calls it (for messages; the file itself comes as a descriptor).
    // The window and the format (and a query's tunnel terms) are parsed as
    // every entry point parses them (core/query_fields.h).
    uint64_t since_ns = 0;
    uint64_t until_ns = UINT64_MAX;
    bool force = false;
    std::string output;
    // merge: the output's format (pcap, pcap-ns, pcapng); empty: the session's.
    std::optional<file_format> format;
    // query: a tcpdump expression (docs/query.md); empty: every packet in
    // the time window. Compiled by the daemon (query/query.h), off the
    // control loop (libpcap resolves host names as it compiles). And the
    // tunnel terms: the innermost packet's address, prefix or range, and
    // the outermost tunnel id.
    std::string filter;
    std::optional<ip_range> inner_host;
    std::optional<uint32_t> vni;
};

// Parses one request line (without its newline). Returns an empty string, or
// one error a person can act on, naming the field that is wrong. Of any
// length: the socket bounds its lines (control_server, max_request_bytes),
// the HTTP API its bodies, before they come here wrapped in a request; the
// fleet agent's come from etcd (a fleet session's spec, as large as etcd
// takes a value: 1.5 MiB by default).
std::string parse_request(std::string_view line, request& out);

// Where a command names a session: its id (a decimal number the daemon
// gave) or its name (check_session_name's rules); anything else is refused
// before it gets near a path. Which session a name means is the daemon's
// question (control_daemon::lookup).
std::string check_session_id(std::string_view id);

// Replies, as one line each (no newline).
std::string error_reply(std::string_view message);
std::string ok_reply(nlohmann::ordered_json fields = nlohmann::ordered_json::object());

} // namespace linecap
