#include "fleet/names.h"

#include <fmt/format.h>

namespace linecap {

std::string node_key(const std::string& name)
{
    return std::string(fleet_prefix) + "nodes/" + name;
}

std::string check_node_name(const std::string& name, const char* option)
{
    const auto allowed = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
    };
    if (name.empty() || name.size() > 63)
        return fmt::format("{} {}: a node name has 1 to 63 characters, e.g. collector-3", option,
                           name.empty() ? "\"\"" : name);
    for (const char c : name)
        if (!allowed(c))
            return fmt::format("{} {}: '{}' is not allowed: a node name has letters, digits, '.', '_' and '-', "
                               "e.g. collector-3",
                               option, name, c);
    if (name.front() == '.' || name.front() == '-')
        return fmt::format("{} {}: a node name starts with a letter, a digit or '_'", option, name);
    return {};
}

} // namespace linecap
