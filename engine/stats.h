// The pipeline's counters, added up: live on stderr, as a tcpdump-like
// summary at the end, and as JSON (--stats-json).
//
// They add up by construction, once the pipeline has stopped:
//   rx_packets = filtered + matched                               (packets)
//   matched[s] = written[s] + dropped_ring[s] + dropped_write[s] + dropped_limit[s]
// for every session s; with one session the totals obey the same equation.
// While the pipeline runs, packets in rings and in writers' buffers are in
// none of the right-hand terms yet.
#pragma once

#include <cstdint>
#include <cstdio>

#include <nlohmann/json.hpp>

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

pipeline_totals sum_counters(const pipeline& p);

// One line of live counters on stderr.
void print_live_counters(const pipeline& p, double elapsed_s);

// The end-of-capture summary on `out`.
void print_summary(const pipeline& p, double elapsed_s, std::FILE* out);

// Every counter, with per-port, per-worker, per-writer and per-session detail.
nlohmann::ordered_json stats_json(const pipeline& p, double elapsed_s);

} // namespace linecap
