// fleet merge (docs/fleet.md): every node's part of a fleet session, fetched
// over the node's HTTP API and merged in time order into one file.
//
//   etcd ── plan_fleet_merge: the nodes that ran it (members/), that it names,
//   │       that say a status; each one's URL, session id there, ports, clock
//   ▼
//   node a ─ GET URL/api/v1/sessions/LOCAL/pcap?format=pcapng ─▶ thread ─▶ spool file ─┐
//   node b ─ ...                                                 thread ─▶ spool file ─┼─▶ merge_readers ─▶ OUT
//   node c   gone: named in the output's comment and in the report                    ─┘
//
// The parts are downloaded at once, each into an unlinked file beside the
// output (gone when the merge ends, whatever happens), and merged once all
// are whole: a node whose packets come late in time is never left waiting
// on the merge, which its server would take for a stalled client (5 s)
// and cut off. So the merge needs as much free space as the parts take,
// for as long as it runs; a part that would leave the spool's filesystem
// less than 5% of its size free stops there, and its node is missing (a
// daemon spools into its --out-root, which its captures need). Each node's own files were merged by the node
// (its API's pcap route); its pcapng interfaces (one per port) become the
// output's `node:port` interfaces.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/capture_format.h"
#include "core/query_fields.h"
#include "fleet/etcd.h"
#include "writers/merge.h"

namespace linecap {

// A node's clock error (adjtimex's estimated error) above which the merge
// warns: packets of two nodes closer in time than their clocks' errors may
// be out of order in the merged file.
inline constexpr int64_t fleet_clock_warning_us = 1000;

// One node's part of a fleet session.
struct fleet_merge_node {
    std::string node;
    std::string url;                     // its HTTP API, from its record; empty: not in the fleet now
    std::string local_id;                // its session of the fleet session; empty: none known
    std::map<std::string, int> port_of;  // the DPDK port of each of its devices (if_name), from its record
    std::map<std::string, std::string> driver_of;   // and its driver
    bool clock_synchronised = false;
    int64_t clock_error_us = -1;         // adjtimex's estimated error; -1: not known
    int64_t capture_offset_ns = 0;       // its system clock minus its packet times (clock.capture), with
    uint64_t capture_error_ns = 0;       // ... that reading's uncertainty: 0 when not known
    std::string missing;                 // why its part cannot be fetched; empty: it can
    std::string failed;                  // its session there failed (why): its part is fetched, and is partial
};

struct fleet_merge_plan {
    std::string id;
    std::vector<fleet_merge_node> nodes;   // sorted by name: the order of equal times
};

// Finds who took part in fleet session `id` and where their parts are.
// Empty, or what went wrong: etcd's error (`unreachable` set), or a
// session that is not there.
std::string plan_fleet_merge(etcd_client& etcd, const std::string& id, fleet_merge_plan& plan, bool& unreachable);

struct fleet_merge_report {
    merge_result merged;
    std::vector<std::string> merged_nodes;                          // nodes whose part is in the file whole
    std::vector<std::pair<std::string, std::string>> missing;       // nodes whose part is not, and why
    std::vector<std::string> clock_warnings;                        // one per node, said once
    bool partial() const { return !missing.empty(); }
};

struct fleet_merge_settings {
    std::string token;        // the nodes' bearer token (--http-token-file); empty: none sent
    std::string ca_file;      // https nodes: the CA that signed their certificates; empty: the system's
    std::string cert_file;    // a client certificate and key, for nodes that require one (--http-client-ca)
    std::string key_file;
    file_format format = file_format::pcapng;
    uint64_t since_ns = 0;    // only packets within these times (UTC, ns)
    uint64_t until_ns = UINT64_MAX;
    std::chrono::milliseconds timeout{30000};   // connecting to a node, and its silence mid-download
    std::string spool_dir = "/tmp";             // where the parts are kept while the merge runs (O_TMPFILE)
    bool truncate_output = false;               // empty out_fd first (--force), once the parts are in
    // Called once every part is fetched (or not), before the first byte is
    // written: the report's `missing` and `clock_warnings` are known then.
    // On the calling thread; may be empty.
    std::function<void(const fleet_merge_report&)> on_parts_fetched;
    // Set by someone else: the downloads end at their next bytes, and the
    // merge does not begin (an HTTP client that went away). May be empty.
    std::shared_ptr<std::atomic<bool>> cancel;
};

// fleet merge's window and format as given (nullopt: not given): linecapctl
// fleet merge's --since, --until and --format, GET
// /api/v1/fleet/sessions/{id}/pcap's since, until and format. Parsed by the
// query's parse (core/query_fields.h), so a mistake reads as it does for a
// query or a session's merge, the field named as `spelling` names it; an
// empty one is refused, and leaving the format out is pcapng. Sets
// `settings`' times and format; empty, or what is wrong.
std::string parse_fleet_merge_fields(const std::optional<std::string>& since, const std::optional<std::string>& until,
                                     const std::optional<std::string>& format, field_spelling spelling,
                                     uint64_t now_ns, fleet_merge_settings& settings);

// Merges into `out_fd` (taken: closed when done), named `out_name` in
// messages. Returns empty when at least one node's part was merged (the
// report then says which nodes are missing, if any), or what is wrong when
// none could be, or the output could not be written. The pcapng output's
// section comment names the fleet session, the nodes merged and the nodes
// missing (a part that breaks off while it is read, which its node's
// server said was whole, is in the report only).
std::string fleet_merge(const fleet_merge_plan& plan, const fleet_merge_settings& settings, int out_fd,
                        const std::string& out_name, fleet_merge_report& report);

} // namespace linecap
