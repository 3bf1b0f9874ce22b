#include "control/telemetry.h"

#include <map>
#include <mutex>

#include <rte_telemetry.h>

namespace linecap {

namespace {

using ojson = nlohmann::ordered_json;

std::mutex board_lock;
std::map<std::string, ojson>& board()
{
    static std::map<std::string, ojson> snapshots;
    return snapshots;
}

std::string as_text(const ojson& value)
{
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (text.size() >= RTE_TEL_MAX_STRING_LEN)
        text.resize(RTE_TEL_MAX_STRING_LEN - 1);
    return text;
}

void add_value(rte_tel_data* d, const std::string& key, const ojson& value)
{
    if (value.is_number_unsigned())
        rte_tel_data_add_dict_u64(d, key.c_str(), value.get<uint64_t>());
    else if (value.is_number_integer() || value.is_boolean())
        rte_tel_data_add_dict_int(d, key.c_str(), value.is_boolean() ? value.get<bool>() : value.get<int>());
    else
        rte_tel_data_add_dict_string(d, key.c_str(), as_text(value).c_str());   // strings, and floats as text
}

// Telemetry allows one level of nesting: deeper objects are flattened into
// it, {"matched_by_session": {"7": 12}} as "matched_by_session_7": 12
// (DPDK 22.11 allows only letters, digits, "_" and "/" in names).
void add_flattened(rte_tel_data* d, const std::string& prefix, const ojson& value, unsigned& n)
{
    for (const auto& item : value.items()) {
        const std::string key = prefix.empty() ? item.key() : prefix + "_" + item.key();
        if (item.value().is_structured()) {
            add_flattened(d, key, item.value(), n);
        } else if (n < RTE_TEL_MAX_DICT_ENTRIES) {
            add_value(d, key.substr(0, RTE_TEL_MAX_STRING_LEN - 1), item.value());
            n++;
        }
    }
}

rte_tel_data* container_of(const ojson& value)
{
    rte_tel_data* inner = rte_tel_data_alloc();
    if (inner == nullptr)
        return nullptr;
    rte_tel_data_start_dict(inner);
    unsigned n = 0;
    add_flattened(inner, "", value, n);
    return inner;
}

int answer(const char* cmd, const char*, rte_tel_data* d)
{
    std::lock_guard lock(board_lock);
    rte_tel_data_start_dict(d);
    const auto it = board().find(cmd);
    if (it == board().end())
        return 0;
    unsigned n = 0;
    for (const auto& [key, value] : it->second.items()) {
        if (n++ == RTE_TEL_MAX_DICT_ENTRIES)
            break;
        const std::string name = key.substr(0, RTE_TEL_MAX_STRING_LEN - 1);
        if (value.is_structured()) {
            if (rte_tel_data* inner = container_of(value))
                rte_tel_data_add_dict_container(d, name.c_str(), inner, 0);
        } else {
            add_value(d, name, value);
        }
    }
    return 0;
}

} // namespace

void register_telemetry()
{
    rte_telemetry_register_cmd("/linecap/stats", answer, "linecap totals and uptime. No parameters.");
    rte_telemetry_register_cmd("/linecap/ports", answer, "linecap per-port counters. No parameters.");
    rte_telemetry_register_cmd("/linecap/workers", answer, "linecap per-worker counters. No parameters.");
    rte_telemetry_register_cmd("/linecap/writers", answer, "linecap per-writer counters. No parameters.");
    rte_telemetry_register_cmd("/linecap/sessions", answer, "linecap sessions by id. No parameters.");
}

void publish_telemetry(const std::string& command, const ojson& snapshot)
{
    std::lock_guard lock(board_lock);
    board()[command] = snapshot;
}

} // namespace linecap
