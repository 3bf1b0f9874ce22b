#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "core/tsc_clock.h"

using namespace linecap;

TEST_CASE("TSC time agrees with the system clock and never goes backwards")
{
    const tsc_clock clock = tsc_clock::calibrate(50);
    CHECK(clock.hz > 100000000ull);   // any TSC of this century runs above 100 MHz

    uint64_t previous = 0;
    const auto system_now = [] {
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
    };
    for (int i = 0; i < 5; i++) {
        // The TSC read between two system reads, taken again if the thread
        // was preempted between them (the unit tests run beside others:
        // tests/meson.build), so the skew is the clocks', not the scheduler's.
        uint64_t system_ns = 0, tsc_ns = 0, after_ns = 0;
        for (int attempt = 0; attempt < 100; attempt++) {
            system_ns = system_now();
            tsc_ns = clock.now_ns();
            after_ns = system_now();
            if (after_ns - system_ns < 100000)
                break;
        }
        const int64_t skew = static_cast<int64_t>(tsc_ns - system_ns);
        INFO("skew " << skew << " ns");
        CHECK(std::llabs(skew) < 1000000);   // within a millisecond
        CHECK(tsc_ns > previous);
        previous = tsc_ns;
        const timespec pause{0, 20000000};
        nanosleep(&pause, nullptr);
    }
}

namespace {

// A machine of the test's making: a TSC at 2.5 GHz, a calibration 3 ppm
// off, and a system clock that NTP disciplines (a frequency 20 ppm off the
// TSC's, steps) read every second with some noise.
struct simulated_machine {
    static constexpr double tsc_hz = 2.5e9;
    double system_ppm = 20;             // the system clock's rate against true TSC time
    double system_offset_ns = 0;        // steps applied so far
    uint64_t start_ns = 1796000000ull * 1000000000ull;

    uint64_t system_ns(uint64_t tsc) const
    {
        const double seconds = static_cast<double>(tsc) / tsc_hz;
        return start_ns + static_cast<uint64_t>(seconds * 1e9 * (1 + system_ppm * 1e-6) + system_offset_ns);
    }
    clock_reading read(uint64_t tsc, int i) const
    {
        return {tsc, system_ns(tsc) + static_cast<uint64_t>((i * 7919) % 61), 30};   // up to 60 ns of noise
    }
};

} // namespace

TEST_CASE("re-anchoring follows an injected system clock smoothly: continuous, never backwards, converging")
{
    simulated_machine m;
    clock_mapping now;
    now.tsc0 = 1000;
    now.ns0 = m.system_ns(1000);
    now.ns_per_tsc = static_cast<uint64_t>(1e9 / simulated_machine::tsc_hz * (1 + 3e-6) * 4294967296.0);
    clock_discipline discipline(now.ns_per_tsc);
    const uint64_t second = static_cast<uint64_t>(simulated_machine::tsc_hz);
    uint64_t last_ns = 0;
    int64_t worst_late_offset = 0;
    for (int i = 1; i <= 400; i++) {
        const uint64_t tsc = 1000 + static_cast<uint64_t>(i) * second;
        if (i == 100)
            m.system_offset_ns += 5e6;    // NTP steps the system clock 5 ms forward
        if (i == 200)
            m.system_offset_ns -= 3e6;    // ... and 3 ms back
        const clock_discipline::outcome o = discipline.adjust(now, m.read(tsc, i));
        CHECK_FALSE(o.stepped);
        // The swap comes 20 ms after the reading (a busy control thread),
        // as tsc_clock::rebase() makes it. Never backwards: the times of
        // TSC values around it, one microsecond apart, read with the old
        // mapping before it and the new one after, only grow.
        const uint64_t swap = tsc + second / 50;
        const clock_mapping next = rebased(now, swap, o.next.ns_per_tsc);
        for (uint64_t t = swap - 2500 * 10; t <= swap + 2500 * 10; t += 2500) {
            const uint64_t ns = (t < swap ? now : next).to_ns(t);
            CHECK(ns > last_ns);
            last_ns = ns;
        }
        if (i > 350)
            worst_late_offset = std::max(worst_late_offset, std::abs(o.offset_ns));
        now = next;
        last_ns = now.to_ns(swap + 2500 * 10);
    }
    // 150 s after the last step, within a few microseconds of the system clock.
    INFO("worst offset in the last 50 s: " << worst_late_offset << " ns");
    CHECK(worst_late_offset < 5000);
}

TEST_CASE("re-anchoring follows a system clock set forward at once, and one set back without going back")
{
    simulated_machine m;
    clock_mapping now;
    now.tsc0 = 0;
    now.ns0 = m.system_ns(0);
    now.ns_per_tsc = static_cast<uint64_t>(1e9 / simulated_machine::tsc_hz * 4294967296.0);
    clock_discipline discipline(now.ns_per_tsc);
    const uint64_t second = static_cast<uint64_t>(simulated_machine::tsc_hz);
    m.system_ppm = 0;
    m.system_offset_ns = 3600e9;   // the clock set an hour forward
    clock_discipline::outcome o = discipline.adjust(now, m.read(second, 0));
    CHECK(o.stepped);
    CHECK(o.next.to_ns(second) == m.system_ns(second));
    now = o.next;
    m.system_offset_ns -= 10e9;   // ... then 10 s back: slewed at the limit, time still growing
    uint64_t previous = now.to_ns(second);
    for (int i = 2; i < 10; i++) {
        o = discipline.adjust(now, m.read(second * static_cast<uint64_t>(i), i));
        CHECK_FALSE(o.stepped);
        CHECK(o.ppm == Approx(-500).margin(0.01));
        CHECK(o.next.to_ns(second * static_cast<uint64_t>(i)) > previous);
        previous = o.next.to_ns(second * static_cast<uint64_t>(i));
        now = o.next;
    }
}

TEST_CASE("a clock's mapping is swapped whole while it is read")
{
    tsc_clock clock = tsc_clock::calibrate(10);
    const clock_mapping a = clock.mapping();
    clock_mapping b = a;
    b.ns0 += 1000000000;
    b.ns_per_tsc += 1;
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int i = 0; !stop; i++)
            clock.set_mapping(i % 2 ? a : b);
    });
    for (int i = 0; i < 200000; i++) {
        const clock_mapping m = clock.mapping();
        const bool is_a = m.ns0 == a.ns0 && m.ns_per_tsc == a.ns_per_tsc;
        const bool is_b = m.ns0 == b.ns0 && m.ns_per_tsc == b.ns_per_tsc;
        REQUIRE((is_a || is_b));
    }
    stop = true;
    writer.join();
}
