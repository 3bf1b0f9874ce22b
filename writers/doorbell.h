// A writer's doorbell: how a writer with nothing to do waits for work
// instead of waking on a short timer.
//
//   workers --ring--> writer        a worker rings after its enqueue
//   control --commands--> writer    the control thread rings after a command
//
// A writer that finds its rings empty for a few hundred passes naps on the
// doorbell (writer.cpp): a worker wakes it only once its ring is a quarter
// full, a command at once, and otherwise the nap ends by its timeout (500 µs,
// writer::idle_nap_us). A trickle of packets then costs the writer's core
// some 1 700 wake-ups a second and 2% of it (timed naps of 20 µs cost
// 9 400-9 900 and 14%) and the workers no system call; a flood wakes it
// with three quarters of the ring still free, at the cost of one system
// call per quarter of a ring at most.
// Once it has been idle for `doorbell_idle_ns` it sleeps on the doorbell
// until its next housekeeping is due (10 ms at most) or any enqueue rings.
// Idle, it then wakes 100 times a second
// (docs/performance.md, "Idle workers").
//
// Why no wake-up is lost for long: the writer announces its sleep or nap
// (asleep = doorbell_sleeping or doorbell_napping), fences, and looks at
// every ring and its command ring once more before it waits; a producer
// enqueues and then looks at `asleep`. The producer's look is a plain load
// with no fence (one load of a line the writer writes only when it sleeps
// and wakes, per burst), so x86 may let it pass the enqueue's store: the
// two can then miss each other, once, and the packets wait until the
// producer's next enqueue (which sees `asleep`) or the writer's timeout,
// whichever comes first. Packets keep coming only through enqueues, so a
// ring cannot fill behind a sleeping or napping writer.
#pragma once

#include <atomic>
#include <cstdint>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>

namespace linecap {

// How long a writer stays idle, napping, before it sleeps on its doorbell
// (where any enqueue wakes it): long against the gaps of a busy port, so
// that a worker pays that wake-up system call (a few µs) at most about a
// thousand times a second. A nap it ends only when its ring is a quarter
// full: a system call per quarter of a ring at most.
constexpr uint64_t doorbell_idle_ns = 1'000'000;

// writer_doorbell::asleep's values.
enum doorbell_state : uint32_t {
    doorbell_awake = 0,
    doorbell_sleeping = 1,   // woken by any enqueue
    doorbell_napping = 2,    // woken by a command, or by a ring a quarter full
};

struct alignas(RTE_CACHE_LINE_SIZE) writer_doorbell {
    // The futex word, a doorbell_state: not awake while the writer sleeps or
    // naps, or is about to. Written by the writer and by whoever wakes it;
    // read by every producer.
    std::atomic<uint32_t> asleep{doorbell_awake};
};

// The slow half of ring_doorbell: one waker takes the writer's announcement
// and makes the system call.
[[gnu::noinline, gnu::cold]] inline void wake_writer(writer_doorbell& d)
{
    if (d.asleep.exchange(doorbell_awake, std::memory_order_acq_rel) != doorbell_awake)
        syscall(SYS_futex, &d.asleep, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// After an enqueue onto the command ring, or a stop: wakes a writer that
// sleeps or naps.
inline void ring_doorbell(writer_doorbell& d)
{
    if (unlikely(d.asleep.load(std::memory_order_relaxed) != doorbell_awake))
        wake_writer(d);
}

// A worker's wake_below for its ring of `capacity` slots (below): three
// quarters of them, so that the writer is woken with room for 3 072 more
// packets of a ring of 4 096 (100 µs at 30 Mpps) while it wakes up.
constexpr unsigned doorbell_wake_below(unsigned capacity)
{
    return capacity - capacity / 4;
}

// After a worker's enqueue of packets onto its ring, which has `free_space`
// slots left (rte_ring's enqueue says): wakes a sleeping writer, and a
// napping one when fewer than `wake_below` slots are free
// (doorbell_wake_below).
inline void ring_doorbell(writer_doorbell& d, unsigned free_space, unsigned wake_below)
{
    const uint32_t state = d.asleep.load(std::memory_order_relaxed);
    if (unlikely(state == doorbell_sleeping) || (state == doorbell_napping && free_space < wake_below))
        wake_writer(d);
}

// How an idle writer waits (writer.cpp), and for how long at most.
struct idle_wait {
    doorbell_state how;
    uint64_t timeout_ns;
};

// For a writer that has found nothing for `idle_ns`, whose next
// housekeeping is due in `housekeeping_in_ns`: a nap of `nap_ns` at most
// while packets came lately, a sleep once none has for doorbell_idle_ns;
// neither past the housekeeping.
constexpr idle_wait choose_idle_wait(uint64_t idle_ns, uint64_t housekeeping_in_ns, uint64_t nap_ns)
{
    if (idle_ns >= doorbell_idle_ns)
        return {doorbell_sleeping, housekeeping_in_ns};
    return {doorbell_napping, housekeeping_in_ns < nap_ns ? housekeeping_in_ns : nap_ns};
}

// The writer's side: `how` is doorbell_napping after a few idle passes,
// doorbell_sleeping once it has been idle for doorbell_idle_ns.
// `nothing_to_do` is called after the announcement and must look at every
// ring and at the command ring; the writer sleeps only if it returns true,
// and at most `timeout_ns`. Returns whether it slept.
template <typename Check>
bool sleep_on_doorbell(writer_doorbell& d, uint64_t timeout_ns, Check nothing_to_do,
                       doorbell_state how = doorbell_sleeping)
{
    d.asleep.store(how, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);   // the announcement before the last look
    bool slept = false;
    if (nothing_to_do()) {
        const timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000),
                               static_cast<long>(timeout_ns % 1'000'000'000)};
        // Returns at once if a producer has already taken the announcement
        // (EAGAIN: the word is no longer `how`); EINTR and timeouts alike
        // just end the sleep.
        syscall(SYS_futex, &d.asleep, FUTEX_WAIT_PRIVATE, how, &timeout, nullptr, 0);
        slept = true;
    }
    d.asleep.store(doorbell_awake, std::memory_order_relaxed);
    return slept;
}

} // namespace linecap
