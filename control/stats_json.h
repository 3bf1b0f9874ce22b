// What shows counters, all printed from one snapshot (engine/stats.h): the
// one-shot's live line and end-of-capture summary, --stats-json, and the
// daemon's replies and DPDK telemetry (docs/control.md lists the keys).
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/stats.h"

namespace linecap {

// One line of live counters on stderr.
void print_live_counters(const counters_snapshot& snap, double elapsed_s);

// The end-of-capture summary of a one-shot capture on `out`.
void print_summary(const counters_snapshot& snap, stop_reason reason, double elapsed_s, std::FILE* out);

// A session's counters as JSON, and back (a session.json's "counters"; keys
// missing read 0).
nlohmann::ordered_json session_totals_json(const session_totals& t);
session_totals session_totals_from_json(const nlohmann::json& j);

// The totals, and the per-port, per-worker and per-writer parts. Workers
// list what they matched per live session, under the label
// `session_label(slot)` gives (the slot number by default).
nlohmann::ordered_json totals_json(const counters_snapshot& snap);
nlohmann::ordered_json ports_json(const counters_snapshot& snap);
// [{"socket", "mbufs", "free"}]: each mbuf pool's size and what is free now.
nlohmann::ordered_json pools_json(const counters_snapshot& snap);
nlohmann::ordered_json workers_json(const counters_snapshot& snap,
                                    const std::function<std::string(unsigned slot)>& session_label = {});
nlohmann::ordered_json writers_json(const counters_snapshot& snap);

// Every counter (--stats-json): totals, per port, worker, writer and
// session, with each session's files. Only once the pipeline has stopped.
nlohmann::ordered_json stats_json(const pipeline& p, const counters_snapshot& snap, stop_reason reason,
                                  double elapsed_s);

} // namespace linecap
