#include "core/tsc_clock.h"

#include <ctime>

namespace linecap {

namespace {

uint64_t read_ns(clockid_t clock)
{
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// One (TSC, clock) pair, taken where the two TSC reads around the clock read
// are closest, so the pair's uncertainty is a few tens of nanoseconds.
struct clock_pair {
    uint64_t tsc;
    uint64_t ns;
};

clock_pair read_pair(clockid_t clock)
{
    clock_pair best{0, 0};
    uint64_t best_window = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        const uint64_t before = rte_rdtsc_precise();
        const uint64_t ns = read_ns(clock);
        const uint64_t after = rte_rdtsc_precise();
        if (after - before < best_window) {
            best_window = after - before;
            best = {before + (after - before) / 2, ns};
        }
    }
    return best;
}

} // namespace

tsc_clock tsc_clock::calibrate(unsigned window_ms)
{
    const clock_pair start = read_pair(CLOCK_MONOTONIC_RAW);
    const timespec pause{0, static_cast<long>(window_ms) * 1000000L};
    nanosleep(&pause, nullptr);
    const clock_pair end = read_pair(CLOCK_MONOTONIC_RAW);

    tsc_clock c;
    const uint64_t dtsc = end.tsc - start.tsc;
    const uint64_t dns = end.ns - start.ns;
    c.hz = static_cast<uint64_t>(static_cast<unsigned __int128>(dtsc) * 1000000000ull / dns);
    c.ns_per_tsc = static_cast<uint64_t>((static_cast<unsigned __int128>(dns) << 32) / dtsc);

    const clock_pair epoch = read_pair(CLOCK_REALTIME);
    c.tsc0 = epoch.tsc;
    c.ns0 = epoch.ns;
    return c;
}

} // namespace linecap
