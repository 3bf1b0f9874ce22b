#include "control/protocol.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

#include "core/did_you_mean.h"
#include "core/query_fields.h"
#include "core/tunnel_id.h"
#include "core/utc_time.h"
#include "fleet/fleet_session.h"

namespace linecap {

namespace {

using json = nlohmann::json;

struct command_shape {
    command cmd;
    std::string_view name;
    bool wants_id;
    bool wants_spec;
    bool wants_merge_options = false;
    bool wants_filter = false;
};

constexpr std::array<command_shape, 11> commands{{
    {command::start, "start", false, true},
    {command::stop, "stop", true, false},
    {command::list, "list", false, false},
    {command::show, "show", true, false},
    {command::stats, "stats", false, false},
    {command::files, "files", true, false},
    {command::merge, "merge", true, false, true},
    {command::query, "query", true, false, true, true},
    {command::remove, "delete", true, false},
    {command::watch, "watch", true, false},
    {command::shutdown, "shutdown", false, false},
}};

std::string command_list()
{
    std::string names;
    for (const command_shape& c : commands)
        names += fmt::format("{}{}", names.empty() ? "" : ", ", c.name);
    return names;
}

// A short rendering of a bad value for an error message.
std::string quote(const json& value)
{
    std::string text = value.dump(-1, ' ', true, json::error_handler_t::replace);
    if (text.size() > 40)
        text = text.substr(0, 37) + "...";
    return text;
}

} // namespace

std::string_view command_name(command c)
{
    for (const command_shape& shape : commands)
        if (shape.cmd == c)
            return shape.name;
    return "?";
}

std::string check_session_id(std::string_view id)
{
    const bool digits = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
    uint64_t number = 0;
    if (digits && std::from_chars(id.data(), id.data() + id.size(), number).ec != std::errc())
        return fmt::format("\"id\": {} is larger than any session id (ids are numbers from 1, as start and list give)",
                           quote(json(std::string(id))));
    if (!digits && !check_session_name(id).empty())
        return fmt::format("\"id\": {} is neither a session id (a number, as start and list give) nor a "
                           "session name (letters, digits, '.', '_' and '-')",
                           quote(json(std::string(id))));
    return {};
}

std::string parse_request(std::string_view line, request& out)
{
    // The same words, with where, as a spec file's (linecapctl start -F, the one-shot's -F, the HTTP body).
    json j;
    if (std::string e = parse_spec_json(line, j, 1); !e.empty())   // the request's object around its spec
        return e + ": send one JSON object per line, e.g. {\"cmd\":\"list\"}";
    if (!j.is_object())
        return fmt::format("expected a JSON object, got {}", quote(j));
    const auto cmd_field = j.find("cmd");
    if (cmd_field == j.end())
        return fmt::format("\"cmd\" is missing (one of {})", command_list());
    if (!cmd_field->is_string())
        return fmt::format("\"cmd\": expected a string, got {}", quote(*cmd_field));
    const std::string& name = cmd_field->get_ref<const std::string&>();
    const auto shape = std::find_if(commands.begin(), commands.end(),
                                    [&](const command_shape& c) { return c.name == name; });
    if (shape == commands.end())
        return fmt::format("\"cmd\": unknown command {} (one of {})", quote(*cmd_field), command_list());
    out.cmd = shape->cmd;

    std::vector<std::string_view> known{"cmd"};
    if (shape->wants_id)
        known.push_back("id");
    if (shape->wants_spec)
        known.insert(known.end(), {"spec", "fleet"});
    constexpr std::array<std::string_view, 5> merge_options{"since", "until", "force", "output", "format"};
    if (shape->wants_merge_options)
        known.insert(known.end(), merge_options.begin(), merge_options.end());
    if (shape->wants_filter)
        known.insert(known.end(), {"filter", "inner_host", "vni"});
    for (const auto& [key, value] : j.items())
        if (std::find(known.begin(), known.end(), key) == known.end())
            return fmt::format("{}: unknown field {}{} (expected: {})", name, quote(json(key)), did_you_mean(key, known),
                               fmt::join(known, ", "));
    if (shape->wants_id) {
        const auto id = j.find("id");
        if (id == j.end())
            return fmt::format("{}: \"id\" is missing", name);
        // Numbers are accepted too: ids look like numbers.
        if (id->is_number_unsigned())
            out.id = std::to_string(id->get<uint64_t>());
        else if (id->is_string())
            out.id = id->get<std::string>();
        else
            return fmt::format("{}: \"id\": expected a session id or name (a string or a whole number), got {}", name,
                               quote(*id));
        if (std::string e = check_session_id(out.id); !e.empty())
            return fmt::format("{}: {}", name, e);
    }
    // The window, format and tunnel terms: checked by the parse every entry
    // point shares (core/query_fields.h), once their JSON types are right.
    query_field_texts texts;
    if (shape->wants_merge_options) {
        for (const auto& [key, into] : {std::pair{"since", &texts.since}, std::pair{"until", &texts.until}})
            if (const auto field = j.find(key); field != j.end()) {
                if (!field->is_string())
                    return fmt::format("{}: \"{}\": {} is not a string: give a UTC time, e.g. "
                                       "\"2026-11-29T18:53:45Z\"",
                                       name, key, quote(*field));
                *into = field->get<std::string>();
            }
        if (const auto force = j.find("force"); force != j.end()) {
            if (!force->is_boolean())
                return fmt::format("{}: \"force\": expected true or false, got {}", name, quote(*force));
            out.force = force->get<bool>();
        }
        if (const auto output = j.find("output"); output != j.end()) {
            if (!output->is_string())
                return fmt::format("{}: \"output\": expected a file name, got {}", name, quote(*output));
            out.output = output->get<std::string>();
        }
        if (const auto format = j.find("format"); format != j.end()) {
            if (!format->is_string())
                return fmt::format("{}: \"format\": {} is not a string: give \"pcap\", \"pcap-ns\" or "
                                   "\"pcapng\"",
                                   name, quote(*format));
            texts.format = format->get<std::string>();
        }
    }
    if (const auto filter = j.find("filter"); shape->wants_filter && filter != j.end()) {
        if (!filter->is_string())
            return fmt::format("{}: \"filter\": expected a tcpdump expression (a string), got {}", name, quote(*filter));
        out.filter = filter->get<std::string>();
    }
    if (const auto inner = j.find("inner_host"); shape->wants_filter && inner != j.end()) {
        if (!inner->is_string())
            return fmt::format("{}: \"inner_host\": expected an address, prefix or range (a string), got {}", name, quote(*inner));
        texts.inner_host = inner->get<std::string>();
    }
    if (const auto vni = j.find("vni"); shape->wants_filter && vni != j.end()) {
        // A number on the wire. A string that reads as one is refused as a
        // string; any other string is refused for what it says.
        uint32_t id = 0;
        if (vni->is_string() && parse_vni(vni->get<std::string>(), id).empty())
            return fmt::format("{}: \"vni\": {} is a string: give the number itself", name, quote(*vni));
        texts.vni = vni->is_string() ? vni->get<std::string>() : vni->dump();   // -1, 1.5, true: refused
    }
    if (shape->wants_merge_options) {
        query_fields fields;
        if (std::string e = parse_query_fields(texts, field_spelling::request, utc_now_ns(), fields); !e.empty())
            return fmt::format("{}: {}", name, e);
        out.since_ns = fields.since_ns;
        out.until_ns = fields.until_ns;
        out.format = fields.format;
        out.inner_host = fields.inner_host;
        out.vni = fields.vni;
    }
    if (shape->wants_spec) {
        const auto spec = j.find("spec");
        if (spec == j.end())
            return fmt::format("{}: \"spec\" is missing (a session spec, docs/filters.md)", name);
        if (!spec->is_object())
            return fmt::format("{}: \"spec\": expected an object, got {}", name, quote(*spec));
        if (std::string e = parse_session_spec(*spec, out.spec); !e.empty())
            return fmt::format("{}: spec: {}", name, e);
        out.spec_json = *spec;
        if (const auto fleet = j.find("fleet"); fleet != j.end()) {
            if (!fleet->is_string())
                return fmt::format("{}: \"fleet\": expected a fleet session id (a string), got {}", name, quote(*fleet));
            out.fleet = fleet->get<std::string>();
            if (std::string e = check_fleet_id(out.fleet); !e.empty())
                return fmt::format("{}: \"fleet\": {}", name, e);
        }
    }
    return {};
}

std::string error_reply(std::string_view message)
{
    json reply = {{"ok", false}, {"error", message}};
    return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ok_reply(nlohmann::ordered_json fields)
{
    nlohmann::ordered_json reply = {{"ok", true}};
    for (auto& [key, value] : fields.items())
        reply[key] = std::move(value);
    return reply.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace linecap
