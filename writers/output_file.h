// A capture file being written: large aligned chunks, few system calls, and a
// file that is always valid up to its last complete record.
//
// - The file is created as NAME.part (O_EXCL, O_NOFOLLOW, mode 0640) and
//   renamed to NAME by close(), so a reader never mistakes a file in progress
//   for a finished one (stenotype does the same).
// - Bytes are gathered in a 4 KiB-aligned chunk buffer and written with
//   O_DIRECT, one write() per full chunk, where the filesystem supports it:
//   on this class of machine O_DIRECT writes reach 2 to 3 times the
//   bandwidth of buffered ones (docs/performance.md). Elsewhere, buffered
//   writes of the same chunks.
// - flush() (every half second from the writer) makes everything appended
//   readable: the buffer goes through a second, buffered descriptor of the
//   same file, exactly as long as it is (no padding is ever visible to a
//   reader), so that the writer never waits for the disk there (a direct
//   write waited behind a query's reads of the same disk for up to 750 ms).
//   The write-back of its whole blocks is started on io_uring's kernel
//   thread and not waited for. The last partial block stays in the buffer,
//   and in the page cache, so the next write of it goes through the
//   buffered descriptor too, whole this time, and the direct writes resume
//   after it: the kernel makes a direct write over a cached page write that
//   page back and wait for it first, which on a disk busy with other files'
//   writeback held the writer for seconds.
// - A full chunk of an O_DIRECT file is handed to io_uring and the writer
//   goes on filling a second buffer while the disk takes the first: copying
//   and writing overlap instead of taking turns (at 64-byte packets the copy
//   costs as much as the write; docs/performance.md). At most one write is in
//   flight; close() and flush() wait for it, the writer's periodic
//   flush(false) does not. Without io_uring (a kernel or
//   a sandbox that refuses it) the same chunks are written synchronously.
//   The file is grown to the end of the chunk before it is handed over, so
//   that the kernel can issue the write at once (see submit_full_buffer).
//   io_uring's kernel workers run on the helper CPUs where there are any
//   (core/helper_cpus.h), not on the writer's.
// - A chunk's direct write still not done after slow_write_ns is a stalled
//   disk: the writer does not wait for it, and what it appends meanwhile
//   goes through the page cache a megabyte at a time, as a flush does,
//   until the write is done and whole chunks go direct again.
// - Space is preallocated ahead of the data (fallocate, 64 MiB at a time)
//   where the filesystem allows it, and trimmed by close().
// - A write error is remembered, later appends are discarded, and close()
//   cuts the file back to the end of the last record that reached the kernel
//   whole: a full disk leaves a valid, shorter file behind.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <rte_memcpy.h>
#include "writers/record_walk.h"

struct io_uring;
struct io_uring_cqe;

namespace linecap {

class output_file {
public:
    output_file() = default;
    ~output_file();
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;

    // Creates NAME.part in the directory `dir_fd`. `chunk_bytes` is rounded up
    // to 4 KiB; the buffer is kept from one file to the next. `direct`: try
    // O_DIRECT. Returns 0 or -errno.
    int open(int dir_fd, const std::string& name, size_t chunk_bytes, bool direct = true);

    // Writes into a descriptor already open (a pipe, /dev/null): plain
    // write() calls, no .part name, no rename, no preallocation. close()
    // flushes and closes it. Returns 0 or -errno.
    int attach(int fd, const std::string& name, size_t chunk_bytes);
    bool is_open() const { return _fd >= 0; }
    bool is_direct() const { return _direct; }
    bool overlaps_writes() const { return _direct && _ring != nullptr; }   // io_uring in use

    // Appends bytes; a full chunk goes to the kernel in one write().
    // rte_memcpy is inlined: at 64-byte packets a libc call per record
    // header and per packet costs more than the copy itself.
    void append(const void* data, size_t len)
    {
        if (__builtin_expect(_used + len < _fill_check, 1)) {
            rte_memcpy(_buffer.get() + _used, data, len);
            _used += len;
            _offset += len;
            return;
        }
        append_spilling(static_cast<const uint8_t*>(data), len);
    }

    // Marks the end of a record: the point a failed file is cut back to.
    void end_record()
    {
        _record_end = _offset;
        _records++;
    }

    // Hands whatever is buffered to the kernel, through the page cache (it
    // never waits for the disk but for `wait`). With `wait` (the default),
    // first waits for the chunk io_uring is writing, if any; without (the
    // writer's flush every half second), a chunk still being written is
    // left to finish, and the file is whole up to the bytes flushed after it
    // once it has. Returns 0 or -errno.
    int flush(bool wait = true);

    // Whether no chunk's write is in flight now, after waiting for one while
    // it is younger than slow_write_ns (a disk that takes a chunk in a few
    // milliseconds). False: the disk is stalled, and close() would wait for
    // it on the caller's core; a writer then keeps the file open (its
    // rotation waits) and asks again later. An error is left for close().
    bool write_settled();

    // Flushes, trims preallocated space (or, after a failed write, cuts the
    // file to its last complete record), closes it and renames NAME.part to
    // NAME. Returns 0 or the first -errno seen while writing or closing; the
    // file is closed either way.
    int close();

    // Closes without renaming and removes NAME.part (nothing may be kept).
    void discard();

    // How to find record boundaries in the file: after a failed write,
    // close() walks the records the kernel did take (a short write fills a
    // disk to its last byte) to keep every complete one (walk_records).
    // Costs nothing until a write fails.
    void set_record_framing(const record_framing& framing) { _framing = framing; }

    int error() const { return _error; }          // first errno seen, 0 if none
    uint64_t size() const { return _offset; }     // bytes appended so far
    uint64_t records() const { return _records; } // complete records appended
    // Records and bytes that reached the kernel whole: what the file holds if
    // the next write fails. After a successful flush() or close() they equal
    // records() and size().
    uint64_t durable_records() const { return _durable_records; }
    uint64_t durable_size() const { return _durable_end; }
    bool has_pending() const { return _offset != _flushed; }
    const std::string& name() const { return _name; }

private:
    int reserve_buffer(size_t chunk_bytes);
    void start_async();
    bool submit_full_buffer(size_t skip);
    static constexpr uint64_t wait_forever = UINT64_MAX;
    int finish_in_flight(uint64_t wait_ns = wait_forever);
    // A chunk's direct write that takes longer is a stalled disk: the next
    // chunk goes through the page cache rather than wait for it.
    static constexpr uint64_t slow_write_ns = 10'000'000;
    // While it is stalled, what is appended goes through the page cache
    // this many bytes at a time (about a millisecond of copying): a whole
    // chunk in one write() held the writer for 20-40 ms, past what a
    // worker's ring holds (tests/integration/slow_disk.sh).
    static constexpr size_t write_through_bytes = 1u << 20;
    int reach_fill_check();
    void set_fill_check() { _fill_check = std::min(_capacity, _used + write_through_bytes); }
    void start_writeback(uint64_t offset, uint64_t len);
    void submit_writeback();
    static constexpr uint64_t write_tag = 1, writeback_tag = 2;   // io_uring user_data
    void reset_state();
    void append_spilling(const uint8_t* data, size_t len);
    int write_full_buffer();
    int write_at(int fd, const uint8_t* data, size_t len, uint64_t offset);
    ssize_t write_cached_block();
    bool submit_prepared();
    int send_queued(bool and_wait);
    bool refused_for_good(int refused) const;
    void reap_writeback(io_uring_cqe* cqe);
    bool write_taken() const;
    int abandon_ring();
    int complete_in_flight(int64_t res);
    // How long a write io_uring keeps refusing to take (EAGAIN, EBUSY) is
    // retried before the file gives up io_uring.
    static constexpr uint64_t refused_write_ns = 1'000'000'000;
    void mark_durable();
    void preallocate(uint64_t end);
    void recover_written_records();

    struct free_deleter {
        void operator()(uint8_t* p) const { std::free(p); }
    };
    struct ring_deleter {
        void operator()(io_uring* ring) const;
    };
    // The chunk io_uring is writing, and what the file holds once it is done.
    struct write_in_flight {
        bool busy = false;
        uint64_t offset = 0;
        size_t len = 0;
        size_t skipped = 0;        // bytes of its buffer before the write (write_cached_block's)
        uint64_t record_end = 0;   // last complete record inside it, and the count up to there
        uint64_t records = 0;
        uint64_t submitted_ns = 0;   // CLOCK_MONOTONIC
    };

    int _fd = -1;             // O_DIRECT where supported
    int _tail_fd = -1;        // buffered, for the last partial block of a flush
    bool _direct = false;
    int _dir_fd = -1;
    std::string _name;
    std::unique_ptr<uint8_t, free_deleter> _buffer;
    size_t _capacity = 0;
    std::unique_ptr<uint8_t, free_deleter> _spare;   // the other chunk buffer: in flight, or free
    std::unique_ptr<io_uring, ring_deleter> _ring;   // null: synchronous writes
    bool _async_refused = false;                     // io_uring unavailable: do not ask again
    write_in_flight _in_flight;
    unsigned _write_sq_index = 0;   // its entry in the ring's submission queue (write_taken)
    // What was written through the page cache after the chunk in flight,
    // while it was: the file is whole up to there once that chunk is done.
    struct written_after {
        uint64_t end = 0, record_end = 0, records = 0;
    } _after_in_flight;
    // io_uring's write-back start (start_writeback): one at a time, and the
    // range asked for meanwhile (empty: from >= to).
    bool _writeback_busy = false;
    uint64_t _writeback_from = UINT64_MAX;
    uint64_t _writeback_to = 0;
    size_t _used = 0;           // bytes in the buffer
    // append() leaves its inline path when the buffer reaches this: the
    // buffer's end, or sooner, every write_through_bytes, to see whether a
    // stalled chunk's write has the rest go through the page cache.
    size_t _fill_check = 0;
    uint64_t _base = 0;         // file offset of the buffer's first byte (4 KiB-aligned)
    // The buffer's first block is in the page cache: a flush wrote its
    // partial tail there, and it is not yet written whole.
    bool _front_block_cached = false;
    uint64_t _offset = 0;       // logical size: bytes appended
    uint64_t _flushed = 0;      // bytes the kernel has
    uint64_t _record_end = 0;   // where the last complete record ends
    uint64_t _durable_end = 0;  // last record end that reached the kernel whole
    uint64_t _records = 0;
    uint64_t _durable_records = 0;
    uint64_t _preallocated = 0; // fallocate'd up to here; 0 once it failed
    bool _can_preallocate = true;
    bool _attached = false;     // attach(): a stream, written in order, never renamed
    uint64_t _written_end = 0;  // furthest byte the kernel accepted, even from a short write
    uint64_t _grown_to = 0;     // file size set ahead of a write in flight (submit_full_buffer)
    record_framing _framing;
    int _error = 0;
};

// renameat that never replaces `to` (RENAME_NOREPLACE, or a hard link where
// the filesystem lacks it): 0, or the errno (EEXIST when `to` exists).
int rename_no_replace(int dir_fd, const std::string& from, const std::string& to);

} // namespace linecap
