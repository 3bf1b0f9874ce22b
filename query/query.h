// linecap query: the packets of capture files (a ring's folder, or files)
// that a tcpdump expression selects in a time window, into one file in
// time order (docs/query.md). Each file's index (FILE.idx,
// writers/capture_index.h) says which of its chunks may hold a match
// (query/prune.h); only those are read, and each of their packets is
// checked with the expression itself (libpcap's pcap_offline_filter), so
// the result is what `tcpdump -r` selects over every file, whatever the
// index holds. A file without a usable index is read whole, and a note says
// so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/capture_format.h"
#include "core/human_units.h"
#include "core/spec.h"   // ip_range
#include "core/tunnel_id.h"
#include "writers/merge.h"

namespace linecap {

struct query_request {
    // The inputs (files, folders of linecap's capture files, or a folder
    // open under a descriptor), the output, its format and the time window,
    // as a merge takes them. Its open_input and keep are the query's own.
    merge_request merge;
    std::string expression;            // tcpdump's language; empty: every packet
    // Tunnel terms, ANDed with the expression (tcpdump's language has none
    // for a VXLAN's inner packet): the innermost packet of a tunnel (VXLAN,
    // GENEVE, GRE, ERSPAN, IP-in-IP: writers/capture_index.h's tunnel_keys)
    // has a source or destination address in `inner` (--inner-host: an
    // address, prefix or range), and its outermost tunnel id is `vni`
    // (--vni: a VNI, GRE key or ERSPAN session id).
    std::optional<ip_range> inner;
    std::optional<uint32_t> vni;
};

// The line `linecap query` and `linecapctl query` end with: "17 packets
// from 4 files into one.pcap: read 61.4 KiB of 3.1 MiB (1.93%), 4 of 410
// indexed chunks". `into`: the output's name ("-": standard output).
inline std::string query_summary(uint64_t packets, uint64_t files, const std::string& into, uint64_t bytes_read,
                                 uint64_t capture_bytes, uint64_t chunks_read, uint64_t chunks)
{
    return fmt::format("{} from {} into {}: read {} of {} ({:.2f}%), {} of {} indexed chunks",
                       count_of(packets, "packet", "packets"), count_of(files, "file", "files"),
                       into == "-" ? "standard output" : into, human_bytes(bytes_read), human_bytes(capture_bytes),
                       capture_bytes == 0 ? 0.0
                                          : 100.0 * static_cast<double>(bytes_read) / static_cast<double>(capture_bytes),
                       chunks_read, chunks);
}

// The query terms of the socket's and HTTP's query (control/protocol.h:
// filter, and inner_host and vni as its parser read them: core/query_fields.h)
// into `out`, the filter checked as `linecap query` checks it. "" or what is
// wrong, in the words every entry point gives ("bpf: ..."). `compile`:
// false leaves the filter unchecked, for a thread that must not wait on it
// (libpcap resolves host names as it compiles: the daemon's control loop);
// run_query then refuses it before it reads anything
// (query_result::expression_refused).
std::string take_query_terms(const std::string& filter, const std::optional<ip_range>& inner_host,
                             std::optional<uint32_t> vni, query_request& out, bool compile = true);

// Parses --inner-host's address, CIDR prefix or range (IPv4 or IPv6:
// core/spec.h's parse_ip_range, as a spec's "src"). "" or what is wrong, as
// every entry point words it.
std::string parse_inner_host(const std::string& text, ip_range& out);
// --vni: core/tunnel_id.h's parse_vni.

struct query_result {
    merge_result merge;                // the output, its packets, notes
    uint64_t files_indexed = 0;        // inputs read through their index
    uint64_t chunks = 0;               // chunks of those inputs
    uint64_t chunks_read = 0;          // of them, read
    uint64_t capture_bytes = 0;        // bytes of every input
    uint64_t bytes_read = 0;           // bytes read from them
    // The earliest and latest packet times the indexed inputs' chunks
    // hold (ns since the epoch; UINT64_MAX and 0: none).
    uint64_t indexed_min_ns = UINT64_MAX;
    uint64_t indexed_max_ns = 0;
    bool expression_refused = false;   // the expression did not compile: nothing was read or written
};

// Compiles `expression` for link type `dlt` (a DLT_ value; 1: DLT_EN10MB) as
// tcpdump does (optimized, netmask unknown). "" or libpcap's words, as every
// entry point gives them: `filter "EXPR": ...`.
std::string check_query_expression(const std::string& expression, int dlt = 1);

// Runs the query. "" or what is wrong (as merge_captures: after writing
// what could be read, when an input could not be read to its end).
std::string run_query(const query_request& request, query_result& result);

} // namespace linecap
