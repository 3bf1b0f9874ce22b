// What the data plane is built from: ports' queues and descriptors, the
// lcores of workers and writers, the rings between them and the mbuf pool.
// Sessions are not part of it: they come and go while the pipeline runs
// (engine/sessions.h). The command line fills it (control/options.h); the
// engine never reads the command line.
#pragma once

#include <vector>

namespace linecap {

struct engine_config {
    unsigned workers = 0;            // 0: derived from the lcores EAL gave us (engine/lcore_layout.h)
    unsigned writers = 0;
    std::vector<unsigned> worker_lcores;   // exact lists; empty: by the rules of lcore_layout.h
    std::vector<unsigned> writer_lcores;
    bool bpf_jit = false;            // BPF through DPDK's JIT (see filters/bpf.h)
    bool lossless = false;           // wait for ring space on every port, not just replays
    unsigned ring_size = 4096;       // per worker, mbuf pointers
    unsigned rx_desc = 1024;         // per RX queue
    unsigned burst = 32;             // RX burst size
    unsigned mbufs = 0;              // 0: sized from the queues, rings and free memory
    unsigned mtu = 0;                // 0: leave each port's MTU alone
    bool promiscuous = true;
};

} // namespace linecap
