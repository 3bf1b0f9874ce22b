#include "writers/file_mapping.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace linecap {

// One mapping's range, as the SIGBUS handler sees it. Slots are never
// freed: one left is taken again by a later map(), so the list the handler
// walks only grows, to the most mappings alive at once.
struct file_mapping_slot {
    // Odd while begin and end change (map, unmap): the handler takes the
    // two only from one even generation, never one mapping's begin with
    // another's end.
    std::atomic<uint64_t> generation{0};
    std::atomic<uintptr_t> begin{0};   // 0: no mapping
    std::atomic<uintptr_t> end{0};     // page-aligned
    std::atomic<bool> cut{false};
    std::atomic<uintptr_t> cut_page{0};   // the first page the handler mapped zeros over
    std::atomic<bool> taken{false};
    file_mapping_slot* next = nullptr;   // set before the slot is published
};

namespace {

std::atomic<file_mapping_slot*> slots{nullptr};
uintptr_t page_bytes = 4096;   // set before the handler is installed
struct sigaction first{};      // the handler there before ours was first installed
std::atomic<bool> installed{false};
std::mutex install_lock;

void on_sigbus(int signal, siginfo_t* info, void* context)
{
    const int saved_errno = errno;
    if (info != nullptr && info->si_code == BUS_ADRERR) {
        const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
        for (file_mapping_slot* s = slots.load(std::memory_order_acquire); s != nullptr; s = s->next) {
            const uint64_t generation = s->generation.load(std::memory_order_acquire);
            const uintptr_t begin = s->begin.load(std::memory_order_acquire);
            const uintptr_t end = s->end.load(std::memory_order_acquire);
            if (generation % 2 != 0 || s->generation.load(std::memory_order_acquire) != generation || begin == 0 ||
                address < begin || address >= end)
                continue;
            const uintptr_t page = address & ~(page_bytes - 1);
            // The raw system call: the C library's mmap may be wrapped
            // (sanitizers), and this runs in a signal handler.
            const long zeros = syscall(SYS_mmap, page, end - page, PROT_READ,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (zeros == static_cast<long>(page)) {
                const uintptr_t before = s->cut_page.load(std::memory_order_acquire);
                if (before == 0 || page < before)
                    s->cut_page.store(page, std::memory_order_release);
                s->cut.store(true, std::memory_order_release);
                errno = saved_errno;
                return;   // the read runs again, over zeros
            }
            break;
        }
    }
    // Not ours: the handler that was there first. Its own function is
    // called (ours stays installed, unless it asked to be reset after one
    // signal); a SIGBUS some process sent is ignored if it was; else the
    // default is put back, and a fault then comes back as the read runs
    // again, a SIGBUS some process sent is raised again.
    errno = saved_errno;
    const bool sent = info == nullptr || info->si_code <= 0;
    const bool function = (first.sa_flags & SA_SIGINFO) != 0
                              ? first.sa_sigaction != nullptr
                              : first.sa_handler != SIG_DFL && first.sa_handler != SIG_IGN;
    if (function) {
        if ((first.sa_flags & SA_RESETHAND) != 0) {
            struct sigaction reset{};
            reset.sa_handler = SIG_DFL;
            sigaction(SIGBUS, &reset, nullptr);
        }
        if ((first.sa_flags & SA_SIGINFO) != 0)
            first.sa_sigaction(signal, info, context);
        else
            first.sa_handler(signal);
        return;
    }
    if (sent && (first.sa_flags & SA_SIGINFO) == 0 && first.sa_handler == SIG_IGN)
        return;
    struct sigaction fallback{};
    fallback.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &fallback, nullptr);
    if (sent)
        raise(signal);
}

} // namespace

void install_file_mapping_handler()
{
    if (installed.load(std::memory_order_acquire))
        return;
    std::lock_guard<std::mutex> hold(install_lock);
    if (installed.load(std::memory_order_relaxed))
        return;
    page_bytes = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    struct sigaction ours{};
    ours.sa_sigaction = on_sigbus;
    ours.sa_flags = SA_SIGINFO;
    sigemptyset(&ours.sa_mask);
    sigaction(SIGBUS, &ours, &first);
    installed.store(true, std::memory_order_release);
}

namespace {

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

// Sets a slot's range (0, 0: none) between two increments of its generation.
void set_range(file_mapping_slot& s, uintptr_t begin, uintptr_t end)
{
    s.generation.fetch_add(1, std::memory_order_acq_rel);
    s.begin.store(begin, std::memory_order_release);
    s.end.store(end, std::memory_order_release);
    s.generation.fetch_add(1, std::memory_order_acq_rel);
}

} // namespace

int file_mapping::map(int fd, size_t bytes, const std::string& path)
{
    unmap();
    if (bytes == 0)
        return EINVAL;
    install_file_mapping_handler();
    void* m = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return errno;
    _data = static_cast<const uint8_t*>(m);
    _bytes = bytes;
    _path = path;
    _opened_size = bytes;
    struct stat st{};
    if (fstat(fd, &st) == 0) {
        _device = st.st_dev;
        _inode = st.st_ino;
        _opened_size = static_cast<uint64_t>(st.st_size);
    }
    _limit.reset();
    _slot = take_slot();
    _slot->cut.store(false, std::memory_order_relaxed);
    _slot->cut_page.store(0, std::memory_order_relaxed);
    _cut_flag = &_slot->cut;
    _page_mask = page_bytes - 1;
    const auto begin = reinterpret_cast<uintptr_t>(m);
    set_range(*_slot, begin, (begin + bytes + page_bytes - 1) & ~(page_bytes - 1));
    return 0;
}

void file_mapping::unmap()
{
    if (_data == nullptr)
        return;
    // Out of the handler's sight before the range can be another mapping's.
    set_range(*_slot, 0, 0);
    munmap(const_cast<uint8_t*>(_data), _bytes);
    _slot->taken.store(false, std::memory_order_release);
    _data = nullptr;
    _bytes = 0;
    _slot = nullptr;
    _cut_flag = nullptr;
    _limit.reset();
}

bool file_mapping::cut() const
{
    return _slot != nullptr && _slot->cut.load(std::memory_order_acquire);
}

bool file_mapping::holds_by_size(uint64_t end)
{
    if (_data == nullptr)
        return false;
    if (_limit)
        return end <= *_limit;
    // Cut (the probe faulted, or a read before it), or in the mapping's last
    // page: the file's size says which bytes are still its own, and none
    // past a page the mapping reads zeros in.
    const std::optional<uint64_t> now = file_size();
    if (!cut()) {
        if (!now || *now >= end)
            return true;
        _slot->cut.store(true, std::memory_order_release);
    }
    const uintptr_t page = _slot->cut_page.load(std::memory_order_acquire);
    uint64_t limit = page != 0 ? page - reinterpret_cast<uintptr_t>(_data) : _bytes;
    // Without the size, the page before the zeros may end in zeros too.
    limit = now ? std::min<uint64_t>(limit, *now) : limit - std::min<uint64_t>(limit, page_bytes);
    _limit = limit;
    return end <= limit;
}

std::optional<uint64_t> file_mapping::zeros_from() const
{
    const uintptr_t page = _slot != nullptr ? _slot->cut_page.load(std::memory_order_acquire) : 0;
    if (page == 0)
        return std::nullopt;
    return page - reinterpret_cast<uintptr_t>(_data);
}

file_mapping::fault_cause file_mapping::fault(const char* doing) const
{
    // A page that faulted though the file is as long as it was: the system
    // could not read it.
    const std::optional<uint64_t> now = file_size();
    if (now && *now >= _opened_size)
        return {false, "a page of the file could not be read (an I/O error: see the system log)"};
    return {true, fmt::format("the file was cut short by another program while it was {} (it had {} bytes when opened)",
                              doing, _opened_size)};
}

std::optional<uint64_t> file_mapping::file_size() const
{
    if (_data == nullptr)
        return std::nullopt;
    struct stat st{};
    // The file's part of the mapping: up to the zeros, if the handler
    // mapped any (none left: the whole of it faulted).
    const auto begin = reinterpret_cast<uintptr_t>(_data);
    const uintptr_t page = _slot->cut_page.load(std::memory_order_acquire);
    const uintptr_t end = page != 0 ? page : (begin + _bytes + page_bytes - 1) & ~(page_bytes - 1);
    const std::string own = fmt::format("/proc/self/map_files/{:x}-{:x}", begin, end);
    if (end > begin && stat(own.c_str(), &st) == 0 && st.st_dev == _device && st.st_ino == _inode)
        return static_cast<uint64_t>(st.st_size);
    if (!_path.empty() && stat(_path.c_str(), &st) == 0 && st.st_dev == _device && st.st_ino == _inode)
        return static_cast<uint64_t>(st.st_size);
    return std::nullopt;
}

} // namespace linecap
