// Which of a burst's packets a worker marks for its writer's index
// (engine/worker.h's markable_packets): none while the writer keeps up,
// from the line at which the doorbell wakes a napping writer on as many as
// the ring has room for, every one on a lossless queue.
#include <catch2/catch.hpp>

#include "engine/worker.h"

using namespace linecap;

TEST_CASE("a worker marks packets only for a writer behind, and only as many as its ring takes", "[worker]")
{
    // --ring-size 4096 (RING_F_EXACT_SZ: 4096 slots); its doorbell's line
    // is 3072 free.
    constexpr unsigned capacity = 4096, line = doorbell_wake_below(capacity);
    static_assert(line == 3072);
    // An empty ring, and one a quarter full: the writer keeps up.
    CHECK(markable_packets(capacity, line, false) == 0);
    CHECK(markable_packets(line, line, false) == 0);
    CHECK(markable_packets(capacity, line, true) == 0);
    CHECK(markable_packets(line, line, true) == 0);
    // One packet more: as many as fit, the rest to be dropped; all of them
    // on a lossless queue, whose worker waits for room.
    CHECK(markable_packets(line - 1, line, false) == line - 1);
    CHECK(markable_packets(10, line, false) == 10);
    CHECK(markable_packets(0, line, false) == 0);
    CHECK(markable_packets(line - 1, line, true) == max_burst);
    CHECK(markable_packets(0, line, true) == max_burst);
}

TEST_CASE("a worker starts marking where its doorbell starts waking a napping writer", "[worker]")
{
    // The smallest --ring-size, the default, the largest the tests use.
    for (const unsigned capacity : {64u, 4096u, 65536u}) {
        const unsigned line = doorbell_wake_below(capacity);
        for (unsigned free_space = 1; free_space <= capacity; free_space++) {
            writer_doorbell d;
            d.asleep.store(doorbell_napping);
            ring_doorbell(d, free_space, line);
            const bool woken = d.asleep.load() == doorbell_awake;
            INFO("capacity " << capacity << ", " << free_space << " slots free");
            REQUIRE(markable_packets(free_space, line, false) == (woken ? free_space : 0));
            REQUIRE(markable_packets(free_space, line, true) == (woken ? max_burst : 0));
        }
    }
}
