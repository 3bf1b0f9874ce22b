// The pipeline's counters, added up: live on stderr, as a tcpdump-like
// summary at the end, and as JSON (--stats-json, the control socket).
//
// They add up by construction, once the pipeline (or a session) has stopped:
//   rx_packets = filtered + matched                               (packets)
//   matched[s] = written[s] + dropped_ring[s] + dropped_write[s] + dropped_limit[s]
// for every session s; with one session the totals obey the same equation.
// While packets flow, those in rings and in writers' buffers are in none of
// the right-hand terms yet.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "writers/session.h"

namespace linecap {

struct pipeline;

struct pipeline_totals {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t filtered = 0;
    uint64_t matched = 0;
    uint64_t written_packets = 0;
    uint64_t written_bytes = 0;
    uint64_t files = 0;
    uint64_t dropped_nic = 0;      // imissed: the NIC had no descriptor
    uint64_t dropped_nombuf = 0;   // the driver had no mbuf
    uint64_t dropped_ring = 0;     // a worker found its writer's ring full
    uint64_t dropped_write = 0;    // lost to a write error
    uint64_t dropped_limit = 0;    // matched after a limit was reached
};

// The session in `slot` (zeros if the slot is free).
session_totals sum_session(const pipeline& p, unsigned slot);
// As JSON, and back (a session.json's "counters"; keys missing read 0).
nlohmann::ordered_json session_totals_json(const session_totals& t);
session_totals session_totals_from_json(const nlohmann::json& j);

// Everything since the start: ended sessions count too.
pipeline_totals sum_counters(const pipeline& p);

// One line of live counters on stderr.
void print_live_counters(const pipeline& p, double elapsed_s);

// The end-of-capture summary of a one-shot capture on `out`.
void print_summary(const pipeline& p, stop_reason reason, double elapsed_s, std::FILE* out);

// Every counter: totals, and per port, per worker, per writer, per session.
nlohmann::ordered_json stats_json(const pipeline& p, stop_reason reason, double elapsed_s);

// The totals alone, and the per-port, per-worker and per-writer parts.
// Workers list what they matched per live session, under the label
// `session_label(slot)` gives (the slot number by default).
nlohmann::ordered_json totals_json(const pipeline& p);
nlohmann::ordered_json ports_json(const pipeline& p);
nlohmann::ordered_json workers_json(const pipeline& p,
                                    const std::function<std::string(unsigned slot)>& session_label = {});
nlohmann::ordered_json writers_json(const pipeline& p);

} // namespace linecap
