#include "writers/file_reaper.h"

#include <chrono>
#include <cstdint>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "core/error_text.h"
#include "core/thread_priority.h"

namespace linecap {

namespace {

// A rotation deletes a file every few seconds at most: 1024 waiting is
// far more than a 5 ms pass leaves.
constexpr unsigned reaper_ring_size = 1024;
constexpr auto reaper_pass = std::chrono::milliseconds(5);

} // namespace

file_reaper::~file_reaper()
{
    stop();
}

std::string file_reaper::start(const std::string& name)
{
    _ring = rte_ring_create(name.c_str(), reaper_ring_size, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (_ring == nullptr)
        return fmt::format("{}: cannot create the ring of deleted files: {}", name, rte_error_text(rte_errno));
    const auto body = [](void* self) -> void* {
        static_cast<file_reaper*>(self)->run();
        return nullptr;
    };
    if (int rc = rte_ctrl_thread_create(&_thread, "linecap-reaper", nullptr, body, this); rc != 0) {
        rte_ring_free(_ring);
        _ring = nullptr;
        return fmt::format("{}: cannot start the thread that closes deleted files: {}", name, error_text(rc < 0 ? -rc : rc));
    }
    _running = true;
    return {};
}

bool file_reaper::take(int fd)
{
    if (_ring == nullptr || _stopping.load(std::memory_order_relaxed))
        return false;
    return rte_ring_enqueue(_ring, reinterpret_cast<void*>(static_cast<intptr_t>(fd))) == 0;
}

void file_reaper::run()
{
    lower_this_thread();   // not SCHED_IDLE: beside a writer that never rests the disk would stay full
    void* taken[64];
    for (;;) {
        const bool last = _stopping.load(std::memory_order_acquire);
        unsigned n;
        while ((n = rte_ring_dequeue_burst(_ring, taken, 64, nullptr)) > 0)
            for (unsigned i = 0; i < n; i++)
                close(static_cast<int>(reinterpret_cast<intptr_t>(taken[i])));
        if (last)
            return;
        std::this_thread::sleep_for(reaper_pass);
    }
}

void file_reaper::stop()
{
    if (_ring == nullptr)
        return;
    _stopping.store(true, std::memory_order_release);
    if (_running)
        pthread_join(_thread, nullptr);
    _running = false;
    void* fd;   // one handed as the thread made its last pass
    while (rte_ring_dequeue(_ring, &fd) == 0)
        close(static_cast<int>(reinterpret_cast<intptr_t>(fd)));
    rte_ring_free(_ring);
    _ring = nullptr;
}

} // namespace linecap
