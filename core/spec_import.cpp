#include "core/spec_import.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/did_you_mean.h"
#include "core/spec.h"

namespace linecap {

namespace {

using nlohmann::json;

// The gateway's names beside linecap's, for the fields one filter holds.
struct renamed {
    std::string_view gateway;
    std::string_view linecap;
};
constexpr renamed filter_fields[] = {
    {"SourceSubnets", "src"},
    {"DestinationSubnets", "dst"},
    {"SourcePort", "src_ports"},
    {"DestinationPort", "dst_ports"},
    {"Protocol", "protocols"},
    {"TcpFlags", "tcp_flags"},
    {"CaptureSingleDirectionTrafficOnly", "bidirectional"},
};
constexpr renamed top_fields[] = {
    {"MaxPacketBufferSize", "snaplen"},
    {"MaxFileSize", "rotate"},
    {"Filters", "match"},
    {"TracingFlags", ""},
};

struct import_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& path, const std::string& what)
{
    throw import_error(fmt::format("{}: {}", path, what));
}

// Whether the top level of linecap's own spec has this key.
bool is_spec_key(std::string_view key)
{
    return std::any_of(session_fields().begin(), session_fields().end(), [&](const session_field& f) {
        return f.path.substr(0, f.path.find_first_of(".[")) == key;
    });
}

json import_filter(const json& filter, const std::string& path)
{
    if (!filter.is_object())
        fail(path, fmt::format("expected an object {{\"SourceSubnets\": [...], ...}}, got {}", filter.dump()));
    json rule = json::object();
    bool single_direction = false;
    for (const auto& item : filter.items()) {
        // Named, not bound: clang's lambdas cannot capture structured bindings.
        const std::string& key = item.key();
        const json& value = item.value();
        const auto* field = std::find_if(std::begin(filter_fields), std::end(filter_fields),
                                         [&](const renamed& r) { return r.gateway == key; });
        if (field == std::end(filter_fields)) {
            std::vector<std::string_view> known;
            for (const renamed& r : filter_fields)
                known.push_back(r.gateway);
            fail(path + "." + key, fmt::format("unknown field{} (known: {})", did_you_mean(key, known),
                                               fmt::join(known, ", ")));
        }
        const std::string at = fmt::format("{}.{}", path, key);
        if (key == "TcpFlags") {
            // -1 is signed; anything else must read as 0 to 255 unsigned
            // (get<int64_t> would wrap 2^64-1 to -1).
            const bool minus_one = value.is_number_integer() && !value.is_number_unsigned() &&
                                   value.get<int64_t>() == -1;
            if (!minus_one && !(value.is_number_unsigned() && value.get<uint64_t>() <= 255))
                fail(at, fmt::format("{} is not a TCP flags bitmask from 0 to 255 (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 "
                                     "URG=32 ECE=64 CWR=128: 18 is SYN or ACK set; 0 or -1: any flags)",
                                     value.dump()));
            const uint64_t mask = minus_one ? 0 : value.get<uint64_t>();
            if (mask != 0) {
                json any = json::array();
                for (const tcp_flag_name& flag : tcp_flag_names)
                    if ((mask & flag.bit) != 0)
                        any.push_back(flag.name);
                rule["tcp_flags"] = {{"any", any}};
            }
        } else if (key == "CaptureSingleDirectionTrafficOnly") {
            if (!value.is_boolean())
                fail(at, fmt::format("expected true (source to destination only) or false (both directions), got {}",
                                     value.dump()));
            single_direction = value.get<bool>();
        } else {
            rule[std::string(field->linecap)] = value;
        }
    }
    // The gateway's filters match both directions unless told otherwise.
    if (!single_direction)
        rule["bidirectional"] = true;
    return rule;
}

} // namespace

bool is_gateway_capture_filter(const json& j)
{
    return j.is_object() && std::any_of(std::begin(top_fields), std::end(top_fields),
                                        [&](const renamed& r) { return j.contains(r.gateway); });
}

std::string import_gateway_capture_filter(const json& in, json& out)
{
    try {
        out = json::object();
        for (const auto& item : in.items()) {
            const std::string& key = item.key();
            const bool gateway_key = std::any_of(std::begin(top_fields), std::end(top_fields),
                                                 [&](const renamed& r) { return r.gateway == key; });
            if (!gateway_key && !is_spec_key(key))
                fail(key, "unknown field (the gateway's: TracingFlags, MaxPacketBufferSize, MaxFileSize, Filters; "
                          "or one of linecap's spec, docs/filters.md)");
            if (!gateway_key)
                out[key] = item.value();   // linecap's own, e.g. an option laid over the file
        }
        if (in.contains("TracingFlags") && !(in["TracingFlags"].is_number_unsigned()))
            fail("TracingFlags", fmt::format("{} is not a whole number (the gateway's capture points; linecap "
                                             "records what the wire carries)",
                                             in["TracingFlags"].dump()));
        if (in.contains("MaxPacketBufferSize") && !out.contains("snaplen"))
            out["snaplen"] = in["MaxPacketBufferSize"];
        if (out.contains("rotate") && !out["rotate"].is_object())
            fail("rotate", fmt::format("expected an object {{\"bytes\": ...}}, got {}", out["rotate"].dump()));
        if (in.contains("MaxFileSize") && !(out.contains("rotate") && out["rotate"].contains("bytes"))) {
            const json& mb = in["MaxFileSize"];
            if (!mb.is_number_unsigned() || mb.get<uint64_t>() == 0 || mb.get<uint64_t>() > UINT64_MAX / 1000000)
                fail("MaxFileSize", fmt::format("{} is not a whole number of MB, 1 or more", mb.dump()));
            out["rotate"]["bytes"] = mb.get<uint64_t>() * 1000000;
        }
        if (in.contains("Filters")) {
            if (out.contains("match"))
                fail("Filters", "the rules are given twice, here and as \"match\" (or as options): give them once");
            const json& filters = in["Filters"];
            if (!filters.is_array())
                fail("Filters", fmt::format("expected a list of filters [{{...}}], got {}", filters.dump()));
            json rules = json::array();
            for (size_t i = 0; i < filters.size(); i++)
                rules.push_back(import_filter(filters[i], fmt::format("Filters[{}]", i)));
            out["match"] = rules;
        }
    } catch (const import_error& e) {
        return e.what();
    } catch (const json::exception& e) {
        // Nothing above should throw one; a hostile spec must not abort the daemon if it does.
        return fmt::format("the gateway filter cannot be read: {}", e.what());
    }
    return {};
}

std::string gateway_error(const json& in, const std::string& spec_error)
{
    // "match[3].src_ports[1]: ..." -> "Filters[3].SourcePort[1]: ..."
    if (spec_error.starts_with("match[") && in.contains("Filters")) {
        const size_t close = spec_error.find(']');
        if (close == std::string::npos)
            return spec_error;
        std::string out = "Filters" + spec_error.substr(5, close - 4);
        std::string_view rest = std::string_view(spec_error).substr(close + 1);
        if (rest.starts_with('.')) {
            const size_t end = rest.find_first_of(".[:", 1);
            const std::string_view key = rest.substr(1, end == std::string_view::npos ? rest.size() - 1 : end - 1);
            for (const renamed& r : filter_fields)
                if (r.linecap == key) {
                    out += ".";
                    out += r.gateway;
                    rest.remove_prefix(1 + key.size());
                    break;
                }
        }
        // A check of the whole rule ("match[0]: tcp_flags only match TCP, and
        // \"protocols\" does not name tcp") speaks of its fields by linecap's names.
        std::string message(rest);
        if (message.starts_with(": ")) {
            constexpr std::pair<std::string_view, std::string_view> words[] = {
                {"tcp_flags", "TcpFlags"},
                {"\"protocols\"", "Protocol"},
                {"src and dst", "SourceSubnets and DestinationSubnets"},
            };
            for (const auto& [linecap_word, gateway_word] : words)
                if (const size_t at = message.find(linecap_word); at != std::string::npos)
                    message.replace(at, linecap_word.size(), gateway_word);
        }
        return out + message;
    }
    if (spec_error.starts_with("snaplen:") && in.contains("MaxPacketBufferSize") && !in.contains("snaplen"))
        return "MaxPacketBufferSize" + spec_error.substr(7);
    return spec_error;
}

} // namespace linecap
