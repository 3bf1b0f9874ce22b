// Worker lcores: the fast path.
//
//   port RX queues -> [workers: stamp, classify] -> SPSC rings -> writers -> files
//
// A worker polls its RX queues in bursts, stamps each packet with its
// wall-clock time, decides which sessions want it, frees the packets nobody
// wants and hands the rest to its writer over a single-producer ring, by
// pointer, and rings the writer's doorbell (writers/doorbell.h). Nothing here
// allocates, locks, logs or makes a system call while packets flow, but the
// one that wakes a writer asleep after 1 ms without packets, or napping
// when a burst takes the ring past a quarter full. On a live port
// a full ring is a counted drop; a replay waits for room instead. With
// --idle-mode sleep, a worker whose queues have all been empty for a few µs
// naps in the kernel, giving its CPU back to the host.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include <rte_common.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_seqcount.h>

#include "core/counters.h"
#include "core/packet_meta.h"
#include "engine/ports.h"
#include "core/tsc_clock.h"
#include "writers/doorbell.h"
#include "writers/index_flow.h"

namespace linecap {

class classifier;

constexpr unsigned max_queues_per_worker = 256;
constexpr unsigned max_burst = 512;

struct file_port;

// --idle-mode sleep: how long a worker's nap asks for. Packets that arrive
// meanwhile wait in the RX ring (1024 descriptors by default), so a nap plus
// the kernel's wake-up must end before a burst's onset fills it: measured
// here (KVM, timer slack 1 µs) a 50 µs nap lasts 80 µs, during which 10 Mpps
// bring 800 packets, < 1024; at 14.88 Mpps (10 GbE, 64-byte frames) it would
// be 1190: give such a port --rx-desc 4096 or --idle-mode poll. And the
// naps cost little: 12 500 wake-ups a second, 11-22% of a core for an idle
// worker, measured (docs/performance.md, "Idle workers").
constexpr unsigned sleep_nap_us = 50;

struct rx_queue {
    uint16_t port;
    uint16_t queue;
    timestamp_source timestamps;
    bool lossless;           // wait for ring space rather than drop (replays, --lossless)
    uint32_t timestamp_unit; // ns per unit of the RX timestamp field: 1000 (net_pcap), 1 (-r)
    file_port* file;         // -r FILE's queue: records become mbufs here, not in an ethdev
};

// Written only by the owning worker. A burst's receive, filter and match
// counts are published together under `burst_seq`, so a reader on another
// lcore (read_worker_totals) sees rx_packets = filtered + matched even
// while the worker runs; the per-session counters are not covered.
struct worker_counters {
    rte_seqcount_t burst_seq = RTE_SEQCOUNT_INITIALIZER;
    counter rx_packets;      // every packet the worker took from a queue
    counter rx_bytes;
    counter filtered;        // wanted by no session, freed at once
    counter matched;         // wanted by at least one session
    counter ring_drops;      // matched, but the ring to the writer was full
    std::array<counter, max_sessions> session_matched;
    std::array<counter, max_sessions> session_ring_drops;
};

// A worker's burst counts as of one moment, from any lcore.
struct worker_totals {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t filtered = 0;
    uint64_t matched = 0;
};

worker_totals read_worker_totals(const worker_counters& c);

struct alignas(RTE_CACHE_LINE_SIZE) worker {
    // Set up before launch, read-only afterwards.
    unsigned index = 0;
    unsigned lcore = 0;
    unsigned writer_index = 0;
    // A napping writer is woken once the ring has fewer slots free than
    // this: three quarters of them (writers/doorbell.h). Here, in padding.
    unsigned ring_wake_below = 0;
    std::array<rx_queue, max_queues_per_worker> queues{};
    unsigned nb_queues = 0;
    unsigned burst = 64;                         // engine_config::burst
    rte_ring* ring = nullptr;                    // to the writer, single producer
    writer_doorbell* doorbell = nullptr;         // the writer's, rung after each enqueue
    const index_epoch* marks_epoch = nullptr;    // the writer's index epoch (writers/index_flow.h)
    const tsc_clock* clock = nullptr;
    const std::atomic<bool>* go = nullptr;       // start polling (sessions of a one-shot run are in place)
    const std::atomic<bool>* stop = nullptr;     // stop polling
    const std::atomic<bool>* abandon = nullptr;  // stop waiting for ring space, even on replays
    int rx_timestamp_offset = -1;                // the driver's RX timestamp dynamic field
    // --idle-mode sleep: how long the worker naps once its queues have been
    // empty for a while (sleep_nap_us above); 0: never naps (poll; pause and
    // monitor, which DPDK runs inside the RX call; -r). In the padding
    // before the next field, so that no counter moves.
    unsigned idle_nap_us = 0;
    uint64_t rx_timestamp_flag = 0;
    const std::atomic<const classifier*>* filter = nullptr;   // which sessions want which packet (RCU)
    rte_rcu_qsbr* qsbr = nullptr;                // quiescent states reported here, thread id = index

    // Published for readers.
    worker_counters counters;
    std::atomic<uint64_t> last_rx_tsc{0};        // TSC of the last non-empty burst
    std::atomic<bool> done{false};

    // The worker's own: where its run of empty polls stands (--idle-mode
    // sleep; worker.cpp), kept here rather than in the loop's registers,
    // after everything else so that no counter moves.
    uint64_t idle_seen_rx_tsc = 0;
    unsigned idle_empty_polls = 0;
    // Set up before launch: index marks are made while the ring has fewer
    // slots free than this (markable_packets): ring_wake_below, or a
    // benchmark's hook's (pipeline.cpp: never, or whenever the ring has
    // room). In the padding before `marks`, so that no field moves.
    unsigned mark_below = 0;
    // The flows passed on lately for indexed sessions: the packets'
    // index marks (writers/index_flow.h).
    index_flow_marks marks;
};

// How many of a burst's first matched packets may take index marks
// (writers/index_flow.h), their ring to the writer having `free_space`
// slots free when the burst is classified, `wake_below` its doorbell's
// line (worker::ring_wake_below). None while the writer keeps up, its ring
// no more than a quarter full (the line past which the doorbell wakes a
// napping writer): a mark costs its worker 15-20 ns a 64-byte packet
// and spares a writer with time to spare nothing, while an empty ring
// filled more slowly leaves the writer napping. Past that line, as many
// as the ring has room for: the rest are dropped (their entries would be
// taken back), or, on a lossless queue, wait for room, so all of them.
// docs/performance.md ("Marks only for a writer behind") has the
// measurements.
constexpr unsigned markable_packets(unsigned free_space, unsigned wake_below, bool lossless)
{
    if (free_space >= wake_below)
        return 0;
    return lossless ? max_burst : free_space;
}

// The worker lcore's main loop; `arg` is a worker*. Returns 0.
int worker_main(void* arg);

} // namespace linecap
