#include "control/fleet_view.h"

#include <algorithm>

#include <fmt/format.h>

#include "fleet/fleet_session.h"
#include "fleet/names.h"

namespace linecap {

using json = nlohmann::ordered_json;   // keys in the order written, as linecapctl prints them

namespace {

uint64_t number(const json& j, const char* key)
{
    return j.is_object() && j.contains(key) && j[key].is_number_unsigned() ? j[key].get<uint64_t>() : 0;
}

std::string text(const json& j, const char* key)
{
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

} // namespace

std::string read_fleet(etcd_client& etcd, fleet_view& view)
{
    view = {};
    std::vector<etcd_kv> kvs;
    int64_t revision = 0;
    if (std::string e = etcd.list(std::string(fleet_prefix) + "nodes/", kvs, revision); !e.empty())
        return e;
    for (const etcd_kv& kv : kvs) {
        json record = parse_stored_json(kv.value);
        if (record.is_object() && record.contains("name") && record.contains("url"))
            view.nodes.push_back(std::move(record));
        else
            view.notes.push_back(fmt::format("{} in etcd is not a node's record: left out", kv.key));
    }
    if (std::string e = etcd.list(fleet_sessions_prefix(), kvs, revision); !e.empty())
        return e;
    for (const etcd_kv& kv : kvs)
        if (json j = parse_stored_json(kv.value); j.is_object())
            view.sessions[kv.key.substr(fleet_sessions_prefix().size())] = std::move(j);
    if (std::string e = etcd.list(fleet_statuses_prefix(), kvs, revision); !e.empty())
        return e;
    for (const etcd_kv& kv : kvs) {
        const std::string rest = kv.key.substr(fleet_statuses_prefix().size());   // ID/NODE
        if (json j = parse_stored_json(kv.value); j.is_object() && rest.find('/') != std::string::npos)
            view.status[rest.substr(0, rest.find('/'))].push_back(std::move(j));
    }
    return {};
}

json fleet_row(const std::string& id, const json& session, const std::vector<json>& statuses)
{
    uint64_t running = 0, finished = 0, failed = 0, waiting = 0, packets = 0, bytes = 0, drops = 0;
    for (const json& st : statuses) {
        const std::string status = text(st, "status");
        running += status == "running";
        waiting += status == "waiting";
        finished += status == "finished";
        failed += status == "failed" || status == "not_started" || status == "gone";
        const json counters = st.value("counters", json::object());
        packets += number(counters, "written_packets");
        bytes += number(counters, "written_bytes");
        drops += number(counters, "dropped_ring") + number(counters, "dropped_write");
    }
    const json spec = session.contains("spec") && session["spec"].is_object() ? session["spec"] : json::object();
    const bool stopped = session.contains("stopped") && session["stopped"].is_boolean() && session["stopped"].get<bool>();
    return {{"id", id},
            {"name", spec.contains("name") && spec["name"].is_string() ? spec["name"].get<std::string>() : "capture"},
            {"created", text(session, "created")},
            {"start", text(session, "start")},
            {"end", text(session, "end")},
            {"nodes", session.value("nodes", json::array())},
            {"status", running > 0 ? (stopped ? "stopping" : "running")
                       : stopped   ? "stopped"
                       : waiting > 0 ? "scheduled"
                                     : "finished"},
            {"nodes_running", running},
            {"nodes_finished", finished},
            {"nodes_failed", failed},
            {"packets", packets},
            {"bytes", bytes},
            {"drops", drops}};
}

json fleet_rows(const fleet_view& view)
{
    json rows = json::array();
    for (const auto& [id, s] : view.sessions) {
        const auto statuses = view.status.find(id);
        rows.push_back(fleet_row(id, s, statuses != view.status.end() ? statuses->second : std::vector<json>{}));
    }
    return rows;
}

std::optional<json> fleet_show(const fleet_view& view, const std::string& id)
{
    const auto found = view.sessions.find(id);
    if (found == view.sessions.end())
        return std::nullopt;
    const auto statuses = view.status.find(id);
    std::vector<json> rows = statuses != view.status.end() ? statuses->second : std::vector<json>{};
    // Targeted nodes in the fleet that have said nothing.
    fleet_session s;
    parse_fleet_session(found->second, s);
    for (const json& n : view.nodes) {
        const std::string node = text(n, "name");
        if (s.targets(node) && std::none_of(rows.begin(), rows.end(), [&](const json& r) { return text(r, "node") == node; }))
            rows.push_back({{"node", node}, {"status", "no status yet"}});
    }
    return json{{"session", fleet_row(id, found->second, rows)},
                {"spec", found->second.value("spec", json::object())},
                {"nodes", rows}};
}

} // namespace linecap
