// The pipeline's counters, added up in one place into typed totals: one
// snapshot holds the totals and the rows per port, worker, writer and
// session, and everything that shows counters (the one-shot's summary and
// live line, --stats-json, the daemon's replies and DPDK telemetry:
// control/stats_json.h) prints from it.
//
// They add up by construction, once the pipeline (or a session) has stopped:
//   rx_packets = filtered + matched                               (packets)
//   matched[s] = written[s] + dropped_ring[s] + dropped_write[s] + dropped_limit[s]
// for every session s; with one session the totals obey the same equation.
// While packets flow, those in rings and in writers' buffers are in none of
// the right-hand terms yet.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/counters.h"
#include "core/packet_meta.h"
#include "core/spec.h"
#include "engine/ports.h"
#include "engine/worker.h"

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

struct port_row {
    const port_plan* plan = nullptr;   // the pipeline's, alive as long as it is
    port_counters counters;
};

struct worker_row {
    unsigned worker = 0, lcore = 0, writer = 0;
    worker_totals burst;               // rx, filtered, matched: one consistent burst boundary
    uint64_t dropped_ring = 0;
    // Per live session slot (0 for a free slot): since the session took it.
    std::array<uint64_t, max_sessions> matched_by_session{};
    std::array<uint64_t, max_sessions> dropped_ring_by_session{};
};

struct writer_row {
    unsigned writer = 0, lcore = 0;
    session_totals written;            // every slot, since the start (written_*, files*, dropped_write/limit)
};

struct session_row {
    std::string name, dir;
    stop_reason reason = stop_reason::none;
    std::string error;
    session_totals totals;
};

// An mbuf pool (one per NUMA socket with ports). Some drivers do not count
// the packets they could not receive for want of an mbuf (DPDK 22.11's
// net_pcap with infinite_rx=1 does not): a pool near empty says so.
struct pool_row {
    unsigned socket = 0;
    unsigned mbufs = 0;                // its size
    unsigned free = 0;                 // in the pool and the lcores' caches now
};

struct counters_snapshot {
    pipeline_totals totals;            // since the start: ended sessions count too
    std::vector<port_row> ports;
    std::vector<pool_row> pools;
    std::vector<worker_row> workers;
    std::vector<writer_row> writers;
    std::array<std::optional<session_row>, max_sessions> sessions;   // by slot; empty: a free slot
};

// Reads every counter of the pipeline once.
counters_snapshot take_snapshot(const pipeline& p);

// The files of the session in `slot` on disk, writer by writer, closed ones
// first. Only once the writers have stopped (a writer's list is its own).
std::vector<std::string> session_files(const pipeline& p, unsigned slot);

// The session in `slot` alone (zeros if the slot is free): every counter of
// the slot, less what it held when the session took the slot.
session_totals sum_session(const pipeline& p, unsigned slot);

} // namespace linecap
