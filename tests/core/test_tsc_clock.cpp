#include <catch2/catch.hpp>

#include <ctime>

#include "core/tsc_clock.h"

using namespace linecap;

TEST_CASE("TSC time agrees with the system clock and never goes backwards")
{
    const tsc_clock clock = tsc_clock::calibrate(50);
    CHECK(clock.hz > 100000000ull);   // any TSC of this century runs above 100 MHz

    uint64_t previous = 0;
    for (int i = 0; i < 5; i++) {
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        const uint64_t system_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ull +
                                   static_cast<uint64_t>(now.tv_nsec);
        const uint64_t tsc_ns = clock.now_ns();
        const int64_t skew = static_cast<int64_t>(tsc_ns - system_ns);
        INFO("skew " << skew << " ns");
        CHECK(std::llabs(skew) < 1000000);   // within a millisecond
        CHECK(tsc_ns > previous);
        previous = tsc_ns;
        const timespec pause{0, 20000000};
        nanosleep(&pause, nullptr);
    }
}
