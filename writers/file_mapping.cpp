#include "writers/file_mapping.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace linecap {

// One mapping's range, as the SIGBUS handler sees it. Slots are never
// freed: one left is taken again by a later map(), so the list the handler
// walks only grows, to the most mappings alive at once.
struct file_mapping_slot {
    std::atomic<uintptr_t> begin{0};   // 0: no mapping
    std::atomic<uintptr_t> end{0};     // page-aligned
    std::atomic<bool> cut{false};
    std::atomic<bool> taken{false};
    file_mapping_slot* next = nullptr;   // set before the slot is published
};

namespace {

std::atomic<file_mapping_slot*> slots{nullptr};
uintptr_t page_bytes = 4096;   // set before the handler is installed
struct sigaction before{};     // the handler ours replaced
std::mutex install_lock;

void on_sigbus(int signal, siginfo_t* info, void*)
{
    const int saved_errno = errno;
    if (info != nullptr && info->si_code == BUS_ADRERR) {
        const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
        for (file_mapping_slot* s = slots.load(std::memory_order_acquire); s != nullptr; s = s->next) {
            const uintptr_t begin = s->begin.load(std::memory_order_acquire);
            const uintptr_t end = s->end.load(std::memory_order_acquire);
            if (begin == 0 || address < begin || address >= end)   // 0: a slot being taken or left
                continue;
            const uintptr_t page = address & ~(page_bytes - 1);
            // The raw system call: the C library's mmap may be wrapped
            // (sanitizers), and this runs in a signal handler.
            const long zeros = syscall(SYS_mmap, page, end - page, PROT_READ,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (zeros == static_cast<long>(page)) {
                s->cut.store(true, std::memory_order_release);
                errno = saved_errno;
                return;   // the read runs again, over zeros
            }
            break;
        }
    }
    // Not ours: to the handler before ours. A fault comes back as the read
    // runs again; a SIGBUS some process sent is raised again.
    sigaction(SIGBUS, &before, nullptr);
    if (info == nullptr || info->si_code <= 0)
        raise(signal);
    errno = saved_errno;
}

// Ours, unless another handler has replaced it since (DPDK installs one of
// its own while it maps hugepages, and puts back the one it found).
void install_handler()
{
    std::lock_guard<std::mutex> hold(install_lock);
    struct sigaction now{};
    if (sigaction(SIGBUS, nullptr, &now) == 0 && (now.sa_flags & SA_SIGINFO) != 0 && now.sa_sigaction == on_sigbus)
        return;
    page_bytes = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    struct sigaction ours{};
    ours.sa_sigaction = on_sigbus;
    ours.sa_flags = SA_SIGINFO;
    sigemptyset(&ours.sa_mask);
    sigaction(SIGBUS, &ours, &before);
}

file_mapping_slot* take_slot()
{
    for (file_mapping_slot* s = slots.load(std::memory_order_acquire); s != nullptr; s = s->next) {
        bool free = false;
        if (s->taken.compare_exchange_strong(free, true, std::memory_order_acq_rel))
            return s;
    }
    auto* s = new file_mapping_slot;
    s->taken.store(true, std::memory_order_relaxed);
    s->next = slots.load(std::memory_order_relaxed);
    while (!slots.compare_exchange_weak(s->next, s, std::memory_order_release, std::memory_order_relaxed)) {
    }
    return s;
}

} // namespace

int file_mapping::map(int fd, size_t bytes)
{
    unmap();
    if (bytes == 0)
        return EINVAL;
    install_handler();
    void* m = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return errno;
    _data = static_cast<const uint8_t*>(m);
    _bytes = bytes;
    struct stat st{};
    if (fstat(fd, &st) == 0) {
        _device = st.st_dev;
        _inode = st.st_ino;
    }
    _slot = take_slot();
    const auto begin = reinterpret_cast<uintptr_t>(m);
    _slot->cut.store(false, std::memory_order_relaxed);
    _slot->end.store((begin + bytes + page_bytes - 1) & ~(page_bytes - 1), std::memory_order_relaxed);
    _slot->begin.store(begin, std::memory_order_release);
    return 0;
}

void file_mapping::unmap()
{
    if (_data == nullptr)
        return;
    // Out of the handler's sight before the range can be another mapping's.
    _slot->begin.store(0, std::memory_order_release);
    _slot->end.store(0, std::memory_order_release);
    munmap(const_cast<uint8_t*>(_data), _bytes);
    _slot->taken.store(false, std::memory_order_release);
    _data = nullptr;
    _bytes = 0;
    _slot = nullptr;
}

bool file_mapping::cut() const
{
    return _slot != nullptr && _slot->cut.load(std::memory_order_acquire);
}

bool file_mapping::cut_before(uint64_t offset, const char* path)
{
    if (_data == nullptr || cut())
        return cut();
    const uint64_t next_page = (offset | (page_bytes - 1)) + 1;
    if (next_page < _bytes) {
        const volatile uint8_t* probe = _data + next_page;
        (void)*probe;   // faults past the file's end: cut() then says so
        if (cut())
            return true;
    }
    struct stat st{};
    if (path == nullptr || stat(path, &st) != 0 || st.st_dev != _device || st.st_ino != _inode ||
        static_cast<uint64_t>(st.st_size) > offset)
        return false;
    _slot->cut.store(true, std::memory_order_release);
    return true;
}

} // namespace linecap
