// /metrics (the HTTP API, docs/http.md): the daemon's counters in
// Prometheus' text exposition format (version 0.0.4), from the same JSON the
// control socket's `stats` and `show` reply with, so both always agree.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace linecap {

// `stats`: the fields of a `stats` reply (uptime_s, sessions_running, ports,
// pools, workers, writers). `sessions`: the running sessions, each
// {"id", "name", "counters": session_totals_json(...)}. Every counter is
// linecap_<port|worker|writer|session>_<the stats field>_total, with the
// row's labels (port="0", worker="0", writer="0", session="3"), and a
// # HELP and # TYPE line per family; missing fields are skipped.
std::string prometheus_text(const nlohmann::ordered_json& stats, const nlohmann::ordered_json& sessions);

} // namespace linecap
