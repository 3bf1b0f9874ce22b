// Frees the disk space of files a writer deletes, off the writer's lcore.
//
// Deleting a large file costs the kernel its extents, milliseconds for a
// rotation's hundreds of megabytes, charged to whoever drops the file's last
// reference. On a writer lcore that is a stall longer than its rings last
// (a ring of 4096 packets fills in about 12 ms at 330 000 packets a second,
// and a keep-N ring dropped thousands at each delete). So the writer opens
// the file, unlinks its name (cheap: one directory entry) and hands the
// descriptor here; this thread closes it, the last reference, and pays for
// the extents at the lowest CPU priority (nice 19: it progresses on a busy
// CPU, so the space is freed), on the control threads' CPUs.
#pragma once

#include <atomic>
#include <pthread.h>
#include <string>

struct rte_ring;

namespace linecap {

class file_reaper {
public:
    file_reaper() = default;
    ~file_reaper();   // stop()
    file_reaper(const file_reaper&) = delete;
    file_reaper& operator=(const file_reaper&) = delete;

    // Creates its ring (named `name`, for DPDK) and starts its thread.
    // "" or what failed (the writers then close what they delete themselves).
    std::string start(const std::string& name);
    // Takes `fd`, the descriptor of an unlinked file, and closes it soon.
    // Any lcore or thread may call it. False if it cannot take it now (not
    // started, or its ring is full): the caller closes `fd` itself.
    bool take(int fd);
    // Closes every descriptor handed so far, and ends the thread.
    void stop();

private:
    void run();

    rte_ring* _ring = nullptr;   // int descriptors as pointers: many producers, one consumer
    // A DPDK control thread: on the CPUs no lcore polls, where there are
    // any (else the main lcore's, as the control thread).
    pthread_t _thread{};
    bool _running = false;
    std::atomic<bool> _stopping{false};
};

} // namespace linecap
