// A file mapped read-only that another program may cut short while it is
// read, without ending the process.
//
// A read of a mapped page that lies past a file's end faults (SIGBUS with
// si_code BUS_ADRERR, mmap(2)), and by default that ends the process: for
// the daemon, every running capture with it, for a reading command its
// output half written. An operator who truncates an old capture file to
// free a disk (`truncate -s 0`, `: > FILE`) while a query, a download or a
// replay reads it is enough.
//
// Each file_mapping registers its range with a SIGBUS handler of the whole
// process, installed once: by install_file_mapping_handler(), which a
// program that starts DPDK calls before rte_eal_init (EAL puts a handler of
// its own in place for a moment while it maps hugepages, and puts back the
// one it found), else by the first map(). A cut met in that moment goes to
// EAL's handler. On a fault inside a registered range the handler
// maps zeros (an anonymous private mapping) over that range from the
// faulting page to its end, marks the mapping cut, and returns: the read
// goes on, and reads zeros. A cut inside a page leaves the rest of that page
// zeros that fault on no read; holds() tells those apart. Any other SIGBUS
// (a fault in no registered range, a memory error, one sent by kill) goes to
// the handler that was there first, by default the end of the process.
//
// A mapping belongs to one reader: map, read and unmap it on one thread at a
// time (the handler runs on the thread that faults). Any number of mappings
// may be alive at once (a merge of many files holds one per file).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace linecap {

struct file_mapping_slot;

// Installs the SIGBUS handler file_mappings need, if it is not yet; the
// handler found is the one other faults go to. Idempotent, thread-safe.
void install_file_mapping_handler();

class file_mapping {
public:
    file_mapping() = default;
    file_mapping(const file_mapping&) = delete;
    file_mapping& operator=(const file_mapping&) = delete;
    ~file_mapping() { unmap(); }

    // Maps bytes [0, bytes) of `fd` (PROT_READ, MAP_PRIVATE); `fd` may be
    // closed afterwards. `path`: where the file is, as the process can stat
    // it (used only when /proc/self/map_files cannot be, by holds()). 0, or
    // the errno of mmap (EINVAL for 0 bytes). Unmaps what was mapped before.
    int map(int fd, size_t bytes, const std::string& path = {});
    void unmap();

    const uint8_t* data() const { return _data; }
    size_t size() const { return _bytes; }
    bool mapped() const { return _data != nullptr; }

    // Whether some read met a page the file no longer had: from that page
    // on, the mapping has read, and reads, zeros. One load.
    bool cut() const;

    // Whether bytes [0, end) (end <= size()) are still the file's: false, and
    // cut() from then on, if the file now ends before `end`. A load of the
    // page after the one holding byte end - 1 (which faults if the file ends
    // before it: nearly free when reading in order, the page is next); in
    // the mapping's last page, where no page follows, and once cut, the
    // file's size (a system call, once cut only the first time). Bytes
    // before a cut are still the file's: ask it before handing out each
    // record read from the mapping.
    bool holds(uint64_t end)
    {
        if (_cut_flag != nullptr && !_limit && !_cut_flag->load(std::memory_order_relaxed)) {
            const uint64_t next_page = end == 0 ? 0 : ((end - 1) | _page_mask) + 1;
            if (next_page < _bytes) {
                const volatile uint8_t* probe = _data + next_page;
                (void)*probe;   // faults if the file ends before that page: the handler then sets the flag
                std::atomic_signal_fence(std::memory_order_seq_cst);
                if (!_cut_flag->load(std::memory_order_relaxed))
                    return true;
            }
        }
        return holds_by_size(end);
    }

    // The file's size now, from the mapping itself (/proc/self/map_files,
    // with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) or from its path if that
    // is still the file mapped; none if neither can tell.
    std::optional<uint64_t> file_size() const;
    // Where the handler mapped zeros from (a faulting read's page), if it did.
    std::optional<uint64_t> zeros_from() const;
    // The file's size when it was mapped (the mapping may be shorter).
    uint64_t opened_size() const { return _opened_size; }

    // What a read that met a fault (cut(), or holds() false) met, in the
    // words every reader of capture files uses; `doing` says what the reader
    // was doing ("read", "indexed"). Cut short (the file is shorter than
    // when it was opened, or its size cannot be told): "the file was cut
    // short by another program while it was read (it had N bytes when
    // opened)"; else "a page of the file could not be read (an I/O error:
    // see the system log)". The caller adds what to do.
    struct fault_cause {
        bool cut_short = false;
        std::string text;
    };
    fault_cause fault(const char* doing) const;

private:
    // holds() past its quick case: the last page, or cut.
    bool holds_by_size(uint64_t end);

    const uint8_t* _data = nullptr;
    const std::atomic<bool>* _cut_flag = nullptr;   // the slot's, which the handler sets
    uint64_t _page_mask = 4095;
    size_t _bytes = 0;
    file_mapping_slot* _slot = nullptr;
    uint64_t _device = 0, _inode = 0;   // of the file mapped
    uint64_t _opened_size = 0;
    std::string _path;
    std::optional<uint64_t> _limit;     // once cut: the bytes still the file's
};

} // namespace linecap
