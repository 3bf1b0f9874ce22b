#include "core/tsc_clock.h"

#include <algorithm>
#include <cmath>
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
    uint64_t window;   // TSC ticks between the two reads
};

clock_pair read_pair(clockid_t clock)
{
    clock_pair best{0, 0, UINT64_MAX};
    for (int i = 0; i < 16; i++) {
        const uint64_t before = rte_rdtsc_precise();
        const uint64_t ns = read_ns(clock);
        const uint64_t after = rte_rdtsc_precise();
        if (after - before < best.window)
            best = {before + (after - before) / 2, ns, after - before};
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
    clock_mapping m;
    m.ns_per_tsc = static_cast<uint64_t>((static_cast<unsigned __int128>(dns) << 32) / dtsc);
    const clock_pair epoch = read_pair(CLOCK_REALTIME);
    m.tsc0 = epoch.tsc;
    m.ns0 = epoch.ns;
    c.set_mapping(m);
    return c;
}

clock_mapping rebased(const clock_mapping& old, uint64_t at, uint64_t ns_per_tsc, uint64_t step_ns)
{
    return {at, old.to_ns(at) + step_ns, ns_per_tsc};
}

clock_reading read_system_clock(uint64_t hz)
{
    const clock_pair p = read_pair(CLOCK_REALTIME);
    return {p.tsc, p.ns, hz == 0 ? 0 : static_cast<uint64_t>(static_cast<double>(p.window) / 2 * 1e9 / static_cast<double>(hz))};
}

clock_discipline::outcome clock_discipline::adjust(const clock_mapping& now, const clock_reading& r)
{
    constexpr double one = 4294967296.0;   // 32.32 fixed point
    outcome out;
    const uint64_t ours = now.to_ns(r.tsc);
    out.offset_ns = static_cast<int64_t>(r.ns - ours);
    out.error_ns = r.error_ns;
    const double base = static_cast<double>(_base);
    const double limit = _s.max_ppm * 1e-6;
    // The system clock's own rate since the last reading (NTP's frequency
    // correction, and the calibration's error), unless it was stepped
    // meanwhile: a rate further from the calibrated one than the kernel
    // ever slews is a step, taken away by the offset below.
    if (_last.tsc != 0 && r.tsc > _last.tsc) {
        const double measured = static_cast<double>(static_cast<int64_t>(r.ns - _last.ns)) * one /
                                static_cast<double>(r.tsc - _last.tsc);
        if (std::abs(measured / base - 1) <= limit)
            _system_rate = _system_rate == 0 ? measured : (_system_rate + measured) / 2;
    }
    _last = r;
    double rate = _system_rate != 0 ? _system_rate : base;
    out.next.tsc0 = r.tsc;
    if (out.offset_ns > static_cast<int64_t>(_s.step_ns)) {
        out.next.ns0 = r.ns;   // forward: no time is repeated
        out.stepped = true;
    } else {
        // From where linecap's clock is now (no jump), a little fast or slow
        // to meet the system clock over slew_s.
        out.next.ns0 = ours;
        rate *= 1 + static_cast<double>(out.offset_ns) / (_s.slew_s * 1e9);
    }
    rate = std::clamp(rate, base * (1 - limit), base * (1 + limit));
    out.next.ns_per_tsc = static_cast<uint64_t>(std::llround(rate));
    out.ppm = (rate / base - 1) * 1e6;
    return out;
}

} // namespace linecap
