#include "fleet/fleet_session.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/spec.h"
#include "core/utc_time.h"
#include "fleet/names.h"

namespace linecap {

bool fleet_session::targets(const std::string& node) const
{
    return nodes.empty() || std::find(nodes.begin(), nodes.end(), node) != nodes.end();
}

std::string fleet_sessions_prefix()
{
    return std::string(fleet_prefix) + "sessions/";
}

std::string fleet_statuses_prefix()
{
    return std::string(fleet_prefix) + "status/";
}

std::string fleet_members_prefix()
{
    return std::string(fleet_prefix) + "members/";
}

std::string fleet_member_prefix(const std::string& id)
{
    return fleet_members_prefix() + id + "/";
}

std::string fleet_member_key(const std::string& id, const std::string& node)
{
    return fleet_member_prefix(id) + node;
}

std::string fleet_session_key(const std::string& id)
{
    return fleet_sessions_prefix() + id;
}

std::string fleet_status_prefix(const std::string& id)
{
    return fleet_statuses_prefix() + id + "/";
}

std::string fleet_status_key(const std::string& id, const std::string& node)
{
    return fleet_status_prefix(id) + node;
}

std::string check_fleet_id(const std::string& id)
{
    if (std::string e = check_session_name(id); !e.empty())
        return fmt::format("fleet session id {}: {}", id.empty() ? "\"\"" : id, e);
    return {};
}

nlohmann::json parse_stored_json(std::string_view text)
{
    constexpr int deepest = 64;
    bool too_deep = false;
    nlohmann::json j = nlohmann::json::parse(
        text,
        [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            too_deep = too_deep || depth > deepest;
            return !too_deep;   // past the limit nothing more is kept
        },
        false);
    return too_deep ? nlohmann::json(nlohmann::json::value_t::discarded) : j;
}

nlohmann::json fleet_session_json(const fleet_session& s)
{
    nlohmann::json j = {{"id", s.id}, {"spec", s.spec}, {"nodes", s.nodes}, {"late_join", s.late_join},
                        {"stopped", s.stopped}, {"created", s.created}};
    if (s.start_ns != 0)
        j["start"] = utc_iso8601(s.start_ns);
    if (s.end_ns != 0)
        j["end"] = utc_iso8601(s.end_ns);
    return j;
}

std::string parse_fleet_session(const nlohmann::json& j, fleet_session& out)
{
    if (!j.is_object())
        return "not a JSON object";
    try {
        out.id = j.at("id").get<std::string>();
        out.spec = j.at("spec");
        out.nodes = j.value("nodes", std::vector<std::string>());
        out.late_join = j.value("late_join", false);
        out.stopped = j.value("stopped", false);
        out.created = j.value("created", "");
        for (const auto& [field, into] : {std::pair{"start", &out.start_ns}, std::pair{"end", &out.end_ns}}) {
            *into = 0;
            if (!j.contains(field))
                continue;
            std::string e;
            const std::optional<uint64_t> t = parse_utc_time(j[field].get<std::string>(), utc_now_ns(), e);
            if (!t)
                return fmt::format("\"{}\": {}", field, e);
            *into = *t;
        }
    } catch (const nlohmann::json::exception& e) {
        return e.what();
    }
    if (std::string e = check_fleet_id(out.id); !e.empty())
        return e;
    if (!out.spec.is_object())
        return "\"spec\" is not a session spec (a JSON object)";
    for (const std::string& node : out.nodes)
        if (std::string e = check_node_name(node); !e.empty())
            return e;
    return {};
}

} // namespace linecap
