// linecap's counters in DPDK telemetry, for dpdk-telemetry.py and the tools
// built on its socket (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2):
//
//   /linecap/stats      totals and uptime
//   /linecap/ports      per port: received, imissed, no-mbuf, ...
//   /linecap/workers    per worker: received, matched, matched per session, ring drops
//   /linecap/writers    per writer: packets, bytes, files, write errors
//   /linecap/sessions   per session id: name, status, times, packets, bytes, drops
//
// Telemetry answers on its own thread. The control thread publishes
// snapshots (plain JSON, a mutex around them) a few times a second, and the
// callbacks only copy the latest one out: they never touch the pipeline.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace linecap {

// Registers the commands above. Safe to call once EAL is up.
void register_telemetry();

// Replaces the snapshot behind `command` (one of the names above). A
// snapshot is an object of numbers and strings, whose values may be objects
// (or arrays) of numbers and strings once more: telemetry allows one level.
void publish_telemetry(const std::string& command, const nlohmann::ordered_json& snapshot);

} // namespace linecap
