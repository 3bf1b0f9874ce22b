// The writer's doorbell (writers/doorbell.h): a sleeping writer is woken by a
// producer's ring, a napping one only by a ring a quarter full or a command; a
// writer never sleeps with work waiting, and, with a producer that
// enqueues at random moments against a writer that sleeps whenever it finds
// nothing, loses no wake-up: every sleep ends by a ring, none by its timeout.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "writers/doorbell.h"

using namespace linecap;
using namespace std::chrono;

namespace {

// Far past anything a ring takes: a sleep that lasts this long was not woken.
constexpr uint64_t long_timeout_ns = 20'000'000'000;

} // namespace

TEST_CASE("a rung doorbell ends the writer's sleep", "[doorbell]")
{
    writer_doorbell d;
    bool slept = false;
    steady_clock::duration took{};
    std::thread writer([&] {
        const auto t0 = steady_clock::now();
        slept = sleep_on_doorbell(d, long_timeout_ns, [] { return true; });
        took = steady_clock::now() - t0;
    });
    while (d.asleep.load() == 0)
        std::this_thread::yield();
    std::this_thread::sleep_for(milliseconds(20));   // into the futex wait, most likely
    ring_doorbell(d);
    writer.join();
    CHECK(slept);
    CHECK(took >= milliseconds(15));   // it did wait in the kernel until the ring
    CHECK(took < seconds(10));         // woken, not timed out
    CHECK(d.asleep.load() == 0);
}

TEST_CASE("a napping writer is woken by a ring a quarter full or a command, not by a ring with room", "[doorbell]")
{
    constexpr unsigned wake_below = doorbell_wake_below(4096);
    for (const bool by_command : {false, true}) {
        writer_doorbell d;
        bool slept = false;
        steady_clock::duration took{};
        std::thread writer([&] {
            const auto t0 = steady_clock::now();
            slept = sleep_on_doorbell(d, long_timeout_ns, [] { return true; }, doorbell_napping);
            took = steady_clock::now() - t0;
        });
        while (d.asleep.load() == doorbell_awake)
            std::this_thread::yield();
        CHECK(d.asleep.load() == doorbell_napping);
        // Enqueues that leave three quarters of the ring free or more: no wake-up.
        ring_doorbell(d, 4095, wake_below);
        ring_doorbell(d, wake_below, wake_below);
        std::this_thread::sleep_for(milliseconds(20));
        CHECK(d.asleep.load() == doorbell_napping);
        if (by_command)
            ring_doorbell(d);
        else
            ring_doorbell(d, wake_below - 1, wake_below);
        writer.join();
        CHECK(slept);
        CHECK(took >= milliseconds(15));
        CHECK(took < seconds(10));   // woken, not timed out
        CHECK(d.asleep.load() == doorbell_awake);
    }
}

TEST_CASE("a sleeping writer is woken by any enqueue", "[doorbell]")
{
    writer_doorbell d;
    bool slept = false;
    steady_clock::duration took{};
    std::thread writer([&] {
        const auto t0 = steady_clock::now();
        slept = sleep_on_doorbell(d, long_timeout_ns, [] { return true; }, doorbell_sleeping);
        took = steady_clock::now() - t0;
    });
    while (d.asleep.load() == doorbell_awake)
        std::this_thread::yield();
    std::this_thread::sleep_for(milliseconds(20));
    ring_doorbell(d, 4095, doorbell_wake_below(4096));   // one packet into an empty ring
    writer.join();
    CHECK(slept);
    CHECK(took >= milliseconds(15));
    CHECK(took < seconds(10));
}

TEST_CASE("a worker wakes a napping writer with three quarters of its ring free", "[doorbell]")
{
    CHECK(doorbell_wake_below(4096) == 3072);
    CHECK(doorbell_wake_below(64) == 48);   // the smallest --ring-size
    // A ring of 4096 with 3072 slots free: not yet; one more packet: now.
    writer_doorbell d;
    d.asleep.store(doorbell_napping);
    ring_doorbell(d, 3072, doorbell_wake_below(4096));
    CHECK(d.asleep.load() == doorbell_napping);
    ring_doorbell(d, 3071, doorbell_wake_below(4096));
    CHECK(d.asleep.load() == doorbell_awake);
}

TEST_CASE("an idle writer naps while packets came lately, sleeps after 1 ms of none, never past its housekeeping",
          "[doorbell]")
{
    constexpr uint64_t nap = 500'000, housekeeping = 10'000'000;
    idle_wait w = choose_idle_wait(0, housekeeping, nap);
    CHECK(w.how == doorbell_napping);
    CHECK(w.timeout_ns == nap);
    w = choose_idle_wait(doorbell_idle_ns - 1, 300'000, nap);
    CHECK(w.how == doorbell_napping);
    CHECK(w.timeout_ns == 300'000);
    w = choose_idle_wait(doorbell_idle_ns, 8'000'000, nap);
    CHECK(w.how == doorbell_sleeping);
    CHECK(w.timeout_ns == 8'000'000);
}

TEST_CASE("a writer with work waiting does not sleep", "[doorbell]")
{
    writer_doorbell d;
    CHECK_FALSE(sleep_on_doorbell(d, long_timeout_ns, [] { return false; }));
    CHECK(d.asleep.load() == 0);
    // Nobody asleep: a ring makes no wake-up and changes nothing.
    ring_doorbell(d);
    CHECK(d.asleep.load() == 0);
}

TEST_CASE("a ring between the writer's last look and its wait ends the wait at once", "[doorbell]")
{
    writer_doorbell d;
    const auto t0 = steady_clock::now();
    // The producer enqueues and rings right after the writer found nothing.
    CHECK(sleep_on_doorbell(d, long_timeout_ns, [&d] {
        ring_doorbell(d);
        return true;
    }));
    CHECK(steady_clock::now() - t0 < seconds(10));
    CHECK(d.asleep.load() == 0);
}

TEST_CASE("a producer at random moments against a writer that sleeps when idle: no wake-up lost", "[doorbell]")
{
    // The ring, reduced to its two counters: the producer's tail (published
    // with release, as rte_ring's) and the writer's count of what it took.
    std::atomic<uint64_t> produced{0};
    constexpr uint64_t items = 20'000;
    writer_doorbell d;
    uint64_t consumed = 0;
    unsigned sleeps = 0;
    steady_clock::duration longest_sleep{};

    std::thread writer([&] {
        while (consumed < items) {
            const uint64_t tail = produced.load(std::memory_order_acquire);
            if (tail != consumed) {
                consumed = tail;
                continue;
            }
            const auto t0 = steady_clock::now();
            if (sleep_on_doorbell(d, long_timeout_ns,
                                  [&] { return produced.load(std::memory_order_acquire) == consumed; })) {
                sleeps++;
                longest_sleep = std::max(longest_sleep, steady_clock::now() - t0);
            }
        }
    });
    std::mt19937 random(7);
    for (uint64_t i = 1; i <= items; i++) {
        produced.store(i, std::memory_order_release);
        ring_doorbell(d);
        // Mostly back to back, now and then a pause long enough for the
        // writer to go to sleep.
        if (random() % 16 == 0)
            std::this_thread::sleep_for(microseconds(random() % 200));
    }
    // The last enqueue has no next one to ring again: fenced, as the
    // control thread's commands are.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    ring_doorbell(d);
    writer.join();
    CHECK(consumed == items);
    CHECK(sleeps > 100);                        // the writer did sleep between bursts
    CHECK(longest_sleep < seconds(10));         // and every sleep was ended by a ring
}

TEST_CASE("a producer that fills a small ring against a writer that naps when idle: no wake-up lost", "[doorbell]")
{
    // A ring of 64 slots, reduced to its counters; the producer waits when
    // it is full, as a replay does, and says how much it left free.
    constexpr uint64_t capacity = 64, items = 20'000;
    constexpr unsigned wake_below = doorbell_wake_below(capacity);
    std::atomic<uint64_t> produced{0}, consumed{0};
    writer_doorbell d;
    unsigned naps = 0;
    std::thread writer([&] {
        uint64_t taken = 0;
        while (taken < items) {
            const uint64_t tail = produced.load(std::memory_order_acquire);
            if (tail != taken) {
                taken = tail;
                consumed.store(taken, std::memory_order_release);
                continue;
            }
            naps += sleep_on_doorbell(d, long_timeout_ns,
                                      [&] { return produced.load(std::memory_order_acquire) == taken; },
                                      doorbell_napping);
        }
    });
    std::mt19937 random(11);
    steady_clock::duration longest_wait{};
    for (uint64_t i = 1; i <= items; i++) {
        const auto t0 = steady_clock::now();
        while (i - 1 - consumed.load(std::memory_order_acquire) >= capacity) {
            ring_doorbell(d, 0, wake_below);
            std::this_thread::yield();
        }
        longest_wait = std::max(longest_wait, steady_clock::now() - t0);
        produced.store(i, std::memory_order_release);
        ring_doorbell(d, static_cast<unsigned>(capacity - (i - consumed.load(std::memory_order_acquire))),
                      wake_below);
        if (random() % 64 == 0)
            std::this_thread::sleep_for(microseconds(random() % 200));
    }
    // The end, as the pipeline's stop: fenced, and a ring that ends a nap.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    ring_doorbell(d);
    writer.join();
    CHECK(consumed.load() == items);
    CHECK(naps > 100);                        // the writer napped between bursts
    CHECK(longest_wait < seconds(10));        // and a full ring always woke it
}
