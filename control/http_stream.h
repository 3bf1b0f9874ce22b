// GET /api/v1/sessions/{id}/pcap (docs/http.md): a session's files merged
// in time order, streamed to the client as the merge produces them.
//
//   HTTP thread ──(merge request + pipe's write end)──▶ control thread
//        │                                               (the socket's merge: same checks,
//        │                                                same refusals; the session cannot
//        │                                                be deleted while it runs)
//        │                                                      │
//        ◀──── pipe ◀── merge_captures on a job thread ◀────────┘
//   chunked reply
//
// Nothing is held whole, in memory or on disk: the pipe holds 64 KiB, the
// merge writes as the client reads. A client that goes away closes the
// pipe's read end; the merge's next write fails (EPIPE: SIGPIPE is ignored
// by the daemon) and its job ends, to be joined by the control loop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include <httplib.h>

#include "control/fleet_merge.h"
#include "control/http_api.h"

namespace linecap {

// What the route needs of the server that serves it.
struct merge_stream_context {
    control_bridge& bridge;
    const std::atomic<bool>& stopping;   // the server is stopping: streams end at once
    std::atomic<size_t>& merges;         // streams under way
    size_t max_merges;                   // one more is 503 with Retry-After
    std::chrono::milliseconds control_timeout;
};

// The routes' handler (GET .../pcap, and with `query` GET .../query);
// req.matches[1] is the session's id or name. The URL's `format` (pcap,
// pcap-ns, pcapng), `since`, `until` and, for a query, `filter` (a tcpdump
// expression), `inner_host` and `vni` are the socket's merge and query fields of those names,
// checked by its parser and the daemon's. Whatever the outcome, every
// descriptor is closed and the count of streams restored once the reply is
// done.
void serve_merge(const httplib::Request& req, httplib::Response& res, const merge_stream_context& context,
                 bool query = false);

// GET /api/v1/fleet/sessions/{id}/pcap (docs/fleet.md): fleet merge from
// this node, which fetches every node's part over its API (its own too)
// with `peers`' token and certificates, then streams the merge as above.
// The query takes fleet merge's `format` (pcapng by default: one interface
// per node and port), `since` and `until`. The merge runs on a thread of
// its own; its parts are spooled in `peers.spool_dir` until it ends.
// Headers: Linecap-Missing-Nodes names the nodes whose part is not in the
// file, Linecap-Failed-Nodes those whose session failed there (what they
// wrote is in it; both also said in the pcapng file's comment), and
// Linecap-Clock-Warnings counts the nodes whose clocks make the order
// doubtful. A part that breaks off once the reply has begun ends it
// without its last chunk: the client sees an incomplete transfer. The
// merge's thread outlives the reply if it must: the reply's end (or the
// client's) cancels its downloads at their next bytes.
// plan_merge: plan_fleet_merge through the server's etcd client.
using fleet_plan_function = std::function<std::string(const std::string& id, fleet_merge_plan&, bool& unreachable)>;
void serve_fleet_merge(const httplib::Request& req, httplib::Response& res, const merge_stream_context& context,
                       const fleet_plan_function& plan_merge, const fleet_merge_settings& peers);

} // namespace linecap
