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
// process (installed by the first map(), and again by a later one if another
// program's handler replaced it). On a fault inside a registered range the
// handler maps zeros (an anonymous private mapping) over that range from the
// faulting page to its end, marks the mapping cut, and returns: the read goes
// on, and reads zeros. The reader asks cut() after what it has read, and
// says that the file was cut short instead of taking the zeros for data.
// Any other SIGBUS (a fault in no registered range, a memory error, one sent
// by kill) goes to the handler that was there before, by default the end of
// the process.
//
// A mapping belongs to one reader: map, read and unmap it on one thread at a
// time (the handler runs on the thread that faults). Any number of mappings
// may be alive at once (a merge of many files holds one per file).
#pragma once

#include <cstddef>
#include <cstdint>

namespace linecap {

struct file_mapping_slot;

class file_mapping {
public:
    file_mapping() = default;
    file_mapping(const file_mapping&) = delete;
    file_mapping& operator=(const file_mapping&) = delete;
    ~file_mapping() { unmap(); }

    // Maps bytes [0, bytes) of `fd` (PROT_READ, MAP_PRIVATE); `fd` may be
    // closed afterwards. 0, or the errno of mmap (EINVAL for 0 bytes).
    // Unmaps what was mapped before.
    int map(int fd, size_t bytes);
    void unmap();

    const uint8_t* data() const { return _data; }
    size_t size() const { return _bytes; }
    bool mapped() const { return _data != nullptr; }

    // Whether some read met a page the file no longer had: from that page
    // on, the mapping has read, and reads, zeros. One load: ask after each
    // read whose bytes matter.
    bool cut() const;

    // Whether the file was cut at or before byte `offset`, where the
    // mapping reads zeros: a cut inside a page leaves the rest of that page
    // zeros that fault on no read. Asks cut(), then reads the next page
    // (which faults if the file ends before it), then looks at the file at
    // `path` if it is still the one mapped. For when zeros were read where
    // a file holds none (a record header of zeros): a system call or two.
    bool cut_before(uint64_t offset, const char* path);

private:
    const uint8_t* _data = nullptr;
    size_t _bytes = 0;
    file_mapping_slot* _slot = nullptr;
    uint64_t _device = 0, _inode = 0;   // of the file mapped
};

} // namespace linecap
