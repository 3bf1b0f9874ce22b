// The whole capture pipeline as one object: ports, per-lcore workers and
// writers, the rings between them, the sessions, and the flags that stop it.
//
//   ports --RX queues--> workers --SPSC rings--> writers --> files
//                           ^                       ^
//       classifier (RCU) ---+     commands ring ----+--- control thread
//
// build_pipeline() sets it up (no session yet) and fails with a message that
// names the step. run_pipeline() launches the lcores, runs the caller's
// control loop on a control thread, and when that loop returns stops in
// order: workers first, then writers once every ring is drained.
//
// Sessions come and go while packets flow (engine/sessions.h): a new
// classifier is built off the fast path, swapped in with one atomic store,
// and the old one freed once every worker has passed a quiescent point
// (DPDK's QSBR RCU). Ports are never restarted, workers never paused.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "engine/config.h"
#include "engine/file_port.h"
#include "engine/lcore_layout.h"
#include "engine/ports.h"
#include "core/tsc_clock.h"
#include "engine/worker.h"
#include "writers/session.h"
#include "writers/writer.h"

namespace linecap {

class classifier;
struct session_filter;

struct pipeline {
    engine_config config;
    tsc_clock clock;
    lcore_layout layout;
    std::vector<port_plan> ports;
    std::unique_ptr<file_port> file;        // -r FILE: set, with the file open, before build_pipeline()
    std::vector<rte_mempool*> pools;        // one per NUMA socket in use
    std::vector<worker*> workers;           // on their lcore's socket
    std::vector<writer*> writers;
    std::unique_ptr<file_reaper> reaper;    // the writers' deleted files, closed off their lcores

    // Sessions by slot (the bit in packet masks); null slots are free. A
    // slot's objects live until every writer has closed its files.
    std::array<std::unique_ptr<session>, max_sessions> sessions;
    std::array<std::shared_ptr<const session_filter>, max_sessions> filters;

    // What the workers classify with. Swapped by the control thread only.
    std::atomic<const classifier*> active_classifier{nullptr};
    std::unique_ptr<classifier> active_owner;
    rte_rcu_qsbr* qsbr = nullptr;           // workers report quiescent states here

    std::atomic<bool> failed{false};        // a lcore could not be launched
    std::atomic<bool> workers_go{false};    // setup done: workers may poll
    std::atomic<bool> stop_workers{false};
    std::atomic<bool> abandon_waits{false};
    std::atomic<bool> stop_writers{false};

    uint64_t start_tsc = 0;
    uint64_t stop_tsc = 0;

    // Out of line: the classifier is only declared here.
    pipeline();
    ~pipeline();

    double seconds_since_start(uint64_t tsc) const
    {
        return static_cast<double>(tsc - start_tsc) / static_cast<double>(clock.hz);
    }
};

// Everything up to the moment packets may flow, with no session yet. With
// `file` set, the file is the one port (any port EAL probed is refused).
// Returns an empty string, or the failure with its context.
std::string build_pipeline(pipeline& p);

// Launches writers and workers (and the reader of `file`), runs `setup` on a control thread (writers
// are serving commands, workers not yet polling: the place to add the
// sessions of a one-shot run), then `control` until it returns, then stops
// in order: workers first, writers once the rings are drained, every file
// closed. Returns false if the lcores could not start; a setup error is
// printed and also returns false.
using setup_step = std::function<std::string(pipeline&)>;
using control_loop = std::function<void(pipeline&)>;
bool run_pipeline(pipeline& p, const setup_step& setup, const control_loop& control);

// TSC of the newest packet any worker received (or of the start).
uint64_t last_rx_tsc(const pipeline& p);

// Stops and closes the ports. Safe to call after a partial build.
void close_ports(pipeline& p);

// Set from a signal handler: SIGINT/SIGTERM. Read by control loops.
void request_stop_from_signal();
bool stop_requested_by_signal();

} // namespace linecap
