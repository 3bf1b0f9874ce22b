#include "core/thread_priority.h"

#include <atomic>
#include <climits>
#include <cerrno>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <unistd.h>

namespace {

// A thread's nice value, or INT_MIN when it cannot be read. No Catch2
// assertion inside: the threads below call it, and Catch2 2.13's are not
// thread safe.
int nice_of(pid_t tid)
{
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    return errno == 0 ? nice : INT_MIN;
}

} // namespace

TEST_CASE("lowered_thread lowers the thread that calls lower(), once, and puts it back from any thread")
{
    // Putting a nice value back down takes CAP_SYS_NICE (root has it, as
    // the suite's DPDK tests need): without it, said and not run.
    if (geteuid() != 0) {
        WARN("not run: putting a thread's nice value back takes CAP_SYS_NICE (run the tests as root)");
        return;
    }
    const int before = nice_of(gettid());
    if (before >= linecap::lowest_nice) {
        WARN("not run: the tests run at nice " << before << ", where no thread can be lowered");
        return;
    }
    auto lowered = std::make_unique<linecap::lowered_thread>();
    std::atomic<pid_t> tid{0};
    std::atomic<bool> done{false};
    int after_second_lower = 0;
    // A pooled thread that lives on after its reply, as cpp-httplib's do.
    std::thread pooled([&] {
        lowered->lower();
        lowered->lower();   // a second call keeps the nice value first seen
        after_second_lower = nice_of(gettid());
        tid = gettid();
        while (!done)
            std::this_thread::yield();
    });
    while (tid == 0)
        std::this_thread::yield();
    CHECK(after_second_lower == linecap::lowest_nice);
    CHECK(nice_of(tid) == linecap::lowest_nice);
    CHECK(nice_of(gettid()) == before);   // only the thread that asked
    lowered.reset();   // from this thread, as a reply may be freed elsewhere
    CHECK(nice_of(tid) == before);
    done = true;
    pooled.join();
}

TEST_CASE("lower_this_thread lowers the calling thread only")
{
    const int before = nice_of(gettid());
    int lowered = 0;
    std::thread own([&] {
        linecap::lower_this_thread();
        lowered = nice_of(gettid());
    });
    own.join();
    CHECK(lowered == linecap::lowest_nice);
    CHECK(nice_of(gettid()) == before);
}
