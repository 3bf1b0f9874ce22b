// Writer lcores: the last stage of the pipeline.
//
//   port RX queues -> workers (classify) -> SPSC rings -> [writers] -> files
//
// A writer drains the rings of the workers assigned to it in bursts, writes
// each packet into the file of every session that matched it (one copy per
// session, truncated to that session's snap length) and frees the mbuf once.
// It flushes at least every flush_interval so a capture is readable while it
// runs, and on stop it drains its rings to the last packet before closing.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <rte_common.h>
#include <rte_ring.h>

#include "core/counters.h"
#include "core/packet_meta.h"
#include "core/tsc_clock.h"
#include "writers/capture_writer.h"
#include "writers/doorbell.h"
#include "writers/session.h"
#include "writers/session_output.h"

namespace linecap {

constexpr unsigned max_rings_per_writer = 64;

// Mbufs dequeued at once. Larger than the workers' RX burst: a writer serves
// several workers and a deep dequeue amortises the ring's head/tail updates.
constexpr unsigned writer_burst = 128;

// A request from the control thread, carried out by the writer lcore between
// bursts (a writer's files and outputs are touched by that lcore only).
struct writer_command {
    enum class kind : uint8_t {
        open_session,    // open the session's first file in `slot`
        close_session,   // write every packet already queued for it, close its files
    };
    kind what = kind::open_session;
    unsigned slot = 0;
    session* target = nullptr;          // open_session
    int rc = 0;                         // result: 0 or -errno
    std::string error;
    std::atomic<bool> done{false};      // set (release) by the writer when carried out
};

// `watch` (docs/control.md): a writer copies the first bytes of a few
// packets of the sessions being watched and hands them to the control
// thread, which decodes them into lines. Paced per writer and taken from a
// fixed pool, so a watch costs the writer at most one copy of watch_snap
// bytes every 1/watch_samples_per_second seconds, and nothing else.
constexpr unsigned watch_snap = 128;
constexpr unsigned watch_samples_per_second = 200;
constexpr unsigned watch_pool_size = 255;   // a ring of 256 holds them all

// The start of a record as a session writes it (for a decap session, the
// inner packet), and the length the record gives.
struct watch_sample {
    uint64_t ts_ns;
    uint32_t wire_len;           // the record's original length
    uint32_t caplen;             // bytes in `data`
    session_mask sessions;       // the watched sessions that write this record of the packet
    bool raw_ip;                 // `data` starts with an IP header ("decap": "ip"), else Ethernet
    uint8_t data[watch_snap];
};

struct alignas(RTE_CACHE_LINE_SIZE) writer {
    // Set up before launch, read-only afterwards.
    unsigned index = 0;
    unsigned lcore = 0;
    std::array<rte_ring*, max_rings_per_writer> rings{};
    unsigned nb_rings = 0;
    const tsc_clock* clock = nullptr;
    const std::atomic<bool>* stop = nullptr;   // set once every worker has stopped
    rte_ring* commands = nullptr;              // writer_command*, from the control thread
    file_reaper* reaper = nullptr;             // closes the files keep-N deletes (the pipeline's)
    uint64_t flush_interval_tsc = 0;
    // The pipeline reads a capture file (linecap -r): each packet's original
    // length is packet_meta::wire_len, not its pkt_len (the bytes it holds).
    bool wire_len_in_meta = false;
    // How long an idle writer naps on its doorbell between passes over its
    // rings, until it has been idle long enough to sleep there. A worker
    // whose ring passes a quarter full ends the nap (doorbell.h), so the nap
    // bounds only how long a trickle of packets waits in a ring, and sets
    // how often a writer that sees one wakes: 2 000 times a second.
    unsigned idle_nap_us = 500;
    // A test's hook, never a capture's (LINECAP_TEST_WRITER_PAUSE_US): the
    // writer sleeps this long after each pass that wrote something, so that
    // its workers' rings overflow whatever the machine's other load (the
    // marks' drops in tests/integration/query.sh). 0: no pause.
    unsigned test_pause_us = 0;
    // Rung by the workers after each enqueue and by the control thread after
    // each command, for a writer that naps or sleeps (doorbell.h).
    writer_doorbell doorbell;
    rte_ring* watch_samples = nullptr;         // watch_sample*, to the control thread
    rte_ring* watch_free = nullptr;            // watch_sample*, back from it
    watch_sample* watch_pool = nullptr;        // what the two rings cycle

    // Set by the control thread: the sessions someone watches.
    std::atomic<session_mask> watched{0};

    // Owned by the writer lcore once launched.
    uint64_t next_sample_tsc = 0;
    uint8_t watch_turn = 0;                    // the slot whose record the next sample shows, if watched
    std::array<session_output, max_sessions> outputs{};
    // The slots whose session has a packet (byte) limit: those take their
    // share of it once per burst (write_burst), not once per packet.
    session_mask packet_limited = 0;
    session_mask byte_limited = 0;

    // close_session commands held while their file's chunk write is
    // stalled (session_output::ready_to_end), done by housekeeping.
    std::vector<writer_command*> held_closes;

    // Published for readers.
    std::array<session_counters, max_sessions> counters{};
    // Bumped by this writer's indexers, read by its workers to mark the
    // packets whose keys an index has already (index_flow.h).
    index_epoch marks_epoch;

    // Opens the first file of `s` in slot `slot` for this writer.
    // Returns 0, or -errno with `error` saying what failed.
    int open_session(unsigned slot, session* s, std::string& error);
    // The slot's session has ended here: its limits need no budget per burst.
    void forget_limits(unsigned slot);
};

// The writer lcore's main loop; `arg` is a writer*. Returns 0.
int writer_main(void* arg);

} // namespace linecap
