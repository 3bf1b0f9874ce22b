// The names of the fleet (docs/fleet.md): where its keys live in etcd, and
// what a node may be called. No etcd client here: the control protocol's
// parser and linecapctl check names with it alone.
#pragma once

#include <string>

namespace linecap {

// Where linecap's keys live in etcd: every fleet shares one etcd under it.
inline constexpr const char* fleet_prefix = "/linecap/";

// <prefix>nodes/<name>: a node's record (fleet/node.h).
std::string node_key(const std::string& name);

// A node name: 1 to 63 letters, digits, '.', '_' or '-', not starting with
// '.' or '-' (it is a key's last part and a pcapng interface's prefix).
// Empty, or what is wrong with it, said of `option` (as typed).
std::string check_node_name(const std::string& name, const char* option = "--node");

} // namespace linecap
