// libFuzzer target: a capture file's index (writers/capture_index.h) read
// from arbitrary bytes, as `linecap query` reads the FILE.idx beside each
// capture file: by its directory when its trailer says it has one, entry
// by entry otherwise; then every set of every chunk asked for and
// questioned, as a query's pruning does, and each chunk's blocks. Whatever the bytes, the reader
// must not crash nor allocate past what the file holds; the chunks it
// takes must be contiguous from the capture file's head, and a set that
// cannot be read must make its chunk "may hold anything" (never pruned).
// Built by scripts/fuzz with clang (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>

#include "writers/capture_index.h"

using namespace linecap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const int fd = memfd_create("fuzz.idx", MFD_CLOEXEC);
    if (fd < 0)
        std::abort();
    for (size_t done = 0; done < size;) {
        const ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            std::abort();
        done += static_cast<size_t>(n);
    }
    capture_index index;
    const std::string error = read_capture_index(fd, "fuzz.idx", index);
    close(fd);
    if (!error.empty()) {
        if (!index.chunks.empty())
            std::abort();   // refused whole: no chunk may be used
        return 0;
    }
    uint64_t next = index.head_bytes;
    for (const index_chunk& c : index.chunks) {
        if (c.offset != next)
            std::abort();   // the chunks cover the capture file in order, from its head
        next = c.offset + c.bytes;
        for (size_t f = 0; f < index_field_count; f++) {
            const auto field = static_cast<index_field>(f);
            const bool readable = c.set(field) != nullptr;
            const bool any = c.any(field);
            if (!readable && !any)
                std::abort();   // an unreadable set must not prune its chunk
            if (!readable && !c.holds(field, '=', UINT32_MAX, 0x0a000001))
                std::abort();
            c.holds(field, '=', 0xffffff00, 0x0a000000);
            c.holds(field, '}', UINT32_MAX, 1024);
            c.holds(field, '&', 0x0fff, 0x0002);
            (void)c.set_size(field);
        }
        // Its blocks, if it has any: they cover the chunk in order, hold
        // its packets, and give each value of its IPv4 set its blocks.
        if (const index_blocks* b = c.blocks()) {
            uint64_t at = c.offset, packets = 0;
            for (const index_block& p : b->places) {
                if (p.offset != at || p.bytes == 0)
                    std::abort();
                at += p.bytes;
                packets += p.packets;
            }
            if (at != c.offset + c.bytes || packets != c.packets ||
                b->masks.size() != c.set_size(index_field::ipv4_address))
                std::abort();
            for (size_t j = 0; j < b->places.size(); j++) {
                c.holds(index_field::ipv4_address, '=', UINT32_MAX, 0x0a000001, static_cast<int>(j));
                c.holds(index_field::ipv4_address, '=', 0xff000000, 0x0a000000, static_cast<int>(j));
            }
        }
    }
    // The file's summary: a set that cannot be read (or that it has none
    // of) may hold anything.
    if (index.summary) {
        const index_chunk& c = *index.summary;
        for (size_t f = 0; f < index_field_count; f++) {
            const auto field = static_cast<index_field>(f);
            if (c.set(field) == nullptr && !c.holds(field, '=', UINT32_MAX, 0x0a000001))
                std::abort();
            c.holds(field, '=', 0xffffff00, 0x0a000000);
        }
    }
    (void)index.damage_note();
    return 0;
}
