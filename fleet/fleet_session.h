// A fleet session (docs/fleet.md): one session spec run by many nodes, as
// etcd holds it.
//
//   /linecap/sessions/<id>           the fleet session (below), created once
//                                    (a transaction that fails if the id exists)
//   /linecap/status/<id>/<node>      each node's status of it, under the node's lease
//   /linecap/members/<id>/<node>     a node that ran it, and its session's id
//                                    there; no lease: a node that dies is still
//                                    known to have taken part (fleet merge says
//                                    it is missing, and finds it once back)
//
// The session key is written by `linecapctl fleet start` and `fleet stop`
// and read by every node's agent (fleet/agent.h); a status key is written by
// its node only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace linecap {

struct fleet_session {
    std::string id;                  // check_fleet_id()
    nlohmann::json spec;             // a session spec (docs/filters.md), as `linecapctl start` sends it
    std::vector<std::string> nodes;  // the nodes it targets; empty: every node
    uint64_t start_ns = 0;           // UTC; 0: at once
    uint64_t end_ns = 0;             // UTC; 0: no end but the spec's limits and `fleet stop`
    bool late_join = false;          // nodes that join while it runs start it too
    bool stopped = false;            // `fleet stop` was given
    std::string created;             // UTC, ISO 8601

    bool targets(const std::string& node) const;
};

std::string fleet_session_key(const std::string& id);
std::string fleet_status_prefix(const std::string& id);   // every node's status of it
std::string fleet_status_key(const std::string& id, const std::string& node);
std::string fleet_member_prefix(const std::string& id);   // every node that ran it
std::string fleet_member_key(const std::string& id, const std::string& node);
std::string fleet_sessions_prefix();
std::string fleet_statuses_prefix();
std::string fleet_members_prefix();

// A fleet session id: 1 to 64 letters, digits, '.', '_', '-' (a key's part,
// as a session name is a folder's). Empty, or what is wrong with it.
std::string check_fleet_id(const std::string& id);

// A value read from etcd (a node's record, a fleet session, a status, a
// member key) as JSON, or a discarded value (is_discarded()) when it is not
// JSON or nests deeper than 64 levels: anyone who may write under
// /linecap/ could otherwise store a value nested 500 000 deep, and
// nlohmann's copy and dump, which recurse, would overflow the stack of
// every node's agent and every console that read it.
nlohmann::json parse_stored_json(std::string_view text);

nlohmann::json fleet_session_json(const fleet_session& s);
// etcd's value back into a fleet_session: empty, or what is wrong.
std::string parse_fleet_session(const nlohmann::json& j, fleet_session& out);

} // namespace linecap
