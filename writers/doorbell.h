// A writer's doorbell: how a writer that has had nothing to do for a while
// sleeps until there is something, instead of waking on a timer.
//
//   workers --ring--> writer        a worker rings after its enqueue
//   control --commands--> writer    the control thread rings after a command
//
// A writer that finds its rings empty naps briefly (writer.cpp); once it has
// been idle for `doorbell_idle_ns` it sleeps on the doorbell (a futex) until
// its next housekeeping is due (10 ms at most) or someone rings. Idle, it
// then wakes 100 times a second instead of some 15 000 (20 µs naps, each
// lasting 50-80 µs under KVM): what an idle daemon costs the host
// (docs/performance.md, "Idle workers").
//
// Why no wake-up is lost for long: the writer announces its sleep (asleep =
// 1), fences, and looks at every ring and its command ring once more before
// it waits; a producer enqueues and then looks at `asleep`. The producer's
// look is a plain load with no fence (one load of a line the writer writes
// only when it sleeps and wakes, per burst), so x86 may let it pass the
// enqueue's store: the two can then miss each other, once, and the packets
// wait until the producer's next enqueue (which sees `asleep`) or the
// writer's timeout, whichever comes first. Packets keep coming only through
// enqueues, so a ring cannot fill behind a sleeping writer.
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

// How long a writer stays idle, napping, before it sleeps on its doorbell:
// long against the gaps of a busy port, so that a worker pays a wake-up
// system call (a few µs) at most about a thousand times a second.
constexpr uint64_t doorbell_idle_ns = 1'000'000;

struct alignas(RTE_CACHE_LINE_SIZE) writer_doorbell {
    // The futex word: 1 while the writer sleeps or is about to, else 0.
    // Written by the writer and by whoever wakes it; read by every producer.
    std::atomic<uint32_t> asleep{0};
};

// The slow half of ring_doorbell: one waker takes the writer's announcement
// and makes the system call.
[[gnu::noinline, gnu::cold]] inline void wake_writer(writer_doorbell& d)
{
    if (d.asleep.exchange(0, std::memory_order_acq_rel) == 1)
        syscall(SYS_futex, &d.asleep, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// After an enqueue onto a ring (or command ring) that the writer drains.
inline void ring_doorbell(writer_doorbell& d)
{
    if (unlikely(d.asleep.load(std::memory_order_relaxed) != 0))
        wake_writer(d);
}

// The writer's side, once it has been idle for doorbell_idle_ns.
// `nothing_to_do` is called after the announcement and must look at every
// ring and at the command ring; the writer sleeps only if it returns true,
// and at most `timeout_ns`. Returns whether it slept.
template <typename Check>
bool sleep_on_doorbell(writer_doorbell& d, uint64_t timeout_ns, Check nothing_to_do)
{
    d.asleep.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);   // the announcement before the last look
    bool slept = false;
    if (nothing_to_do()) {
        const timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000),
                               static_cast<long>(timeout_ns % 1'000'000'000)};
        // Returns at once if a producer has already taken the announcement
        // (EAGAIN: the word is no longer 1); EINTR and timeouts alike just
        // end the sleep.
        syscall(SYS_futex, &d.asleep, FUTEX_WAIT_PRIVATE, 1, &timeout, nullptr, 0);
        slept = true;
    }
    d.asleep.store(0, std::memory_order_relaxed);
    return slept;
}

} // namespace linecap
