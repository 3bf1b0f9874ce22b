// The whole capture pipeline as one object: ports, per-lcore workers and
// writers, the rings between them, the sessions, and the flags that stop it.
//
//   ports --RX queues--> workers --SPSC rings--> writers --> files
//
// build_pipeline() sets it up and fails with a message that names the step;
// run_pipeline() launches the lcores and a monitor thread, and returns when
// every packet has been written or counted as dropped.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <rte_mempool.h>

#include "engine/lcore_layout.h"
#include "engine/options.h"
#include "engine/ports.h"
#include "engine/tsc_clock.h"
#include "engine/worker.h"
#include "writers/session.h"
#include "writers/writer.h"

namespace linecap {

class classifier;

struct pipeline {
    engine_options options;
    tsc_clock clock;
    lcore_layout layout;
    std::vector<port_plan> ports;
    std::vector<rte_mempool*> pools;        // one per NUMA socket in use
    std::vector<worker*> workers;           // on their lcore's socket
    std::vector<writer*> writers;
    std::vector<std::unique_ptr<session>> sessions;   // slot = index
    std::unique_ptr<classifier> filter;                // what the workers classify with

    std::atomic<bool> failed{false};        // a lcore could not be launched
    std::atomic<bool> stop_workers{false};
    std::atomic<bool> abandon_waits{false};
    std::atomic<bool> stop_writers{false};

    uint64_t start_tsc = 0;
    uint64_t stop_tsc = 0;
    stop_reason reason = stop_reason::none;

    // Out of line: the classifier is only declared here.
    pipeline();
    ~pipeline();
};

// Everything up to the moment packets may flow. Returns an empty string, or
// the failure with its context.
std::string build_pipeline(pipeline& p);

// Launches workers and writers, monitors limits, signals and idleness, stops
// in order (workers, then writers once the rings are drained) and returns
// the reason it stopped.
stop_reason run_pipeline(pipeline& p);

// Stops and closes the ports. Safe to call after a partial build.
void close_ports(pipeline& p);

// Set from a signal handler: SIGINT/SIGTERM stop the capture.
void request_stop_from_signal();

} // namespace linecap
