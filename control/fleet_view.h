// The fleet as etcd holds it, in the rows `linecapctl fleet nodes|ls|show
// --json` prints and the HTTP API's /api/v1/fleet routes answer: one reading
// of etcd's keys, shaped by one piece of code for both.
//
// Shapes (docs/fleet.md, docs/http.md):
//   nodes:    [record, ...]       each node's record as it registered it
//                                 (fleet/node.h: name, url, version, ports,
//                                 clock, sessions_running, updated)
//   sessions: [row, ...]          fleet_row() below, by id
//   show:     {session: row, spec: {...}, nodes: [status, ...]}: each
//             node's status key (fleet/agent.h), and "no status yet" for a
//             node of the fleet it targets that has said nothing
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleet/etcd.h"

namespace linecap {

struct fleet_view {
    std::vector<nlohmann::ordered_json> nodes;                          // the records of the nodes registered now
    std::map<std::string, nlohmann::ordered_json> sessions;             // fleet sessions by id
    std::map<std::string, std::vector<nlohmann::ordered_json>> status;  // by fleet session id: each node's status
    std::vector<std::string> notes;                             // keys left out: not what linecap writes
};

// Reads the fleet's keys into `view`. Empty, or etcd's error.
std::string read_fleet(etcd_client& etcd, fleet_view& view);

// A fleet session's row: id, name, created, start, end, nodes (its targets),
// status (running, stopping, stopped, scheduled, finished), nodes_running,
// nodes_finished, nodes_failed, and packets, bytes and drops summed over
// its nodes' statuses.
nlohmann::ordered_json fleet_row(const std::string& id, const nlohmann::ordered_json& session,
                         const std::vector<nlohmann::ordered_json>& statuses);

// Every fleet session's row, by id.
nlohmann::ordered_json fleet_rows(const fleet_view& view);

// Fleet session `id` in detail (the shape above); empty if there is none.
std::optional<nlohmann::ordered_json> fleet_show(const fleet_view& view, const std::string& id);

} // namespace linecap
