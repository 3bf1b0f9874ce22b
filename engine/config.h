// What the data plane is built from: ports' queues and descriptors, the
// lcores of workers and writers, the rings between them and the mbuf pool.
// Sessions are not part of it: they come and go while the pipeline runs
// (engine/sessions.h). The command line fills it (control/options.h); the
// engine never reads the command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace linecap {

// What a worker does while its RX queues are empty (--idle-mode;
// docs/architecture.md, "Idle workers"). PAUSE and MONITOR lower the core's
// power but keep it busy as the OS sees it (they wait in user space and
// never yield); only `sleep` gives the CPU back to other processes.
enum class idle_mode : uint8_t {
    poll,      // busy-poll: the lowest latency, 100% of a core
    pause,     // DPDK's PMD power management, PAUSE: a 1 µs pause after 512 empty polls
    monitor,   // DPDK's PMD power management, MONITOR: UMWAIT on the next RX descriptor
    sleep,     // linecap's own: a short nanosleep after a run of empty polls (engine/worker.cpp)
};

constexpr std::string_view idle_mode_name(idle_mode mode)
{
    switch (mode) {
    case idle_mode::poll: return "poll";
    case idle_mode::pause: return "pause";
    case idle_mode::monitor: return "monitor";
    case idle_mode::sleep: return "sleep";
    }
    return "?";
}

constexpr std::optional<idle_mode> parse_idle_mode(std::string_view text)
{
    for (idle_mode mode : {idle_mode::poll, idle_mode::pause, idle_mode::monitor, idle_mode::sleep})
        if (text == idle_mode_name(mode))
            return mode;
    return std::nullopt;
}

struct engine_config {
    unsigned workers = 0;            // 0: derived from the lcores EAL gave us (engine/lcore_layout.h)
    unsigned writers = 0;
    std::vector<unsigned> worker_lcores;   // exact lists; empty: by the rules of lcore_layout.h
    std::vector<unsigned> writer_lcores;
    bool bpf_interpreter = false;    // BPF in DPDK's interpreter for every packet (--bpf-interpreter), not its checked JIT (see filters/bpf.h)
    bool lossless = false;           // wait for ring space on every port, not just replays
    unsigned ring_size = 4096;       // per worker, mbuf pointers
    unsigned rx_desc = 1024;         // per RX queue
    // RX burst size. 64: the classifier hands rte_acl each family's keys of a
    // burst in one call, and on mixed traffic a burst of 32 left it some 10
    // IPv4 and 5 IPv6 keys a call, its SIMD lanes half empty: 256 mixed
    // rules cost 8 ns a packet less at 64 (docs/performance.md).
    unsigned burst = 64;
    unsigned mbufs = 0;              // 0: sized from the queues, rings and free memory
    unsigned mtu = 0;                // 0: leave each port's MTU alone
    bool promiscuous = true;
    // Sleep: an idle daemon or capture gives its cores back to the host, and
    // a burst's onset fits in the RX ring (measured: docs/performance.md).
    idle_mode idle = idle_mode::sleep;
};

} // namespace linecap
