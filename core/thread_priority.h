// Threads that do bulk work beside the capture: a download's or a query's
// bytes sent to a client, a filter's compile, a file's unlink. None of it may
// take a writer's CPU from it.
//
// Where every CPU is an lcore's (-l 0-1 on a 2-CPU machine) EAL puts its
// control threads, the HTTP server's among them, on the main lcore's CPU,
// where a writer runs (core/helper_cpus.h). At the same priority the kernel
// shares that CPU half and half: a query of a running ring streamed over
// HTTP (hundreds of MB through loopback, whose receive side runs in the
// sender's time) made the writer wait 591 ms for its CPU in 4 s, and drop.
//
// The lowest normal priority (nice 19), not SCHED_IDLE: beside a thread
// that never rests (a writer at full rate) a nice-19 thread still gets
// about 1.5% of the CPU, where SCHED_IDLE would get nothing and a download
// would never end. Both best effort: a thread that cannot change its
// priority runs as it is.
#pragma once

#include <cerrno>

#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

namespace linecap {

constexpr int lowest_nice = 19;

// The calling thread, for the rest of its life (a thread of its own).
inline void lower_this_thread()
{
    setpriority(PRIO_PROCESS, 0, lowest_nice);   // 0: this thread (Linux's nice is per thread)
}

// A pooled thread (cpp-httplib's) lowered for one reply, then put back as
// it was, so that the pool's next request runs at the server's priority.
// lower() is called on the thread to lower, any number of times (the first
// counts); the destructor puts that thread back from whichever thread runs
// it, by its id: so it must run while that thread lives (a reply's state,
// which cpp-httplib frees on the thread that sent it, before the thread
// takes another connection; a thread that had ended could have its id
// reused). Putting a nice value back down takes CAP_SYS_NICE (root has it, as
// DPDK needs): without it the thread stays at nice 19, which slows the
// server's later replies on it, never the capture.
class lowered_thread {
public:
    lowered_thread() = default;
    lowered_thread(const lowered_thread&) = delete;
    lowered_thread& operator=(const lowered_thread&) = delete;
    ~lowered_thread() { restore(); }

    void lower()
    {
        if (_tid != 0)
            return;
        errno = 0;
        const int nice = getpriority(PRIO_PROCESS, 0);   // -1 is a nice value too: errno tells
        if (errno != 0 || nice >= lowest_nice)
            return;
        if (setpriority(PRIO_PROCESS, 0, lowest_nice) != 0)
            return;
        _nice = nice;
        _tid = gettid();
    }

    void restore()
    {
        if (_tid != 0)
            setpriority(PRIO_PROCESS, static_cast<id_t>(_tid), _nice);
        _tid = 0;
    }

private:
    pid_t _tid = 0;   // the thread lowered; 0: none
    int _nice = 0;    // its nice value before
};

} // namespace linecap
