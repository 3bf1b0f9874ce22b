#include "writers/output_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <liburing.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "core/error_text.h"
#include "core/helper_cpus.h"
#include "core/log.h"

namespace linecap {

namespace {

// O_DIRECT wants buffers, offsets and lengths aligned to the device's logical
// block; 4 KiB covers every device in use.
constexpr size_t io_alignment = 4096;

// Preallocation step: one fallocate() per 64 MiB written.
constexpr uint64_t preallocation_step = 64ull << 20;

uint64_t monotonic_ns()
{
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1000000000 + static_cast<uint64_t>(t.tv_nsec);
}

std::string part_name(const std::string& name)
{
    return name + ".part";
}

int create_file(int dir_fd, const std::string& name, bool direct)
{
    // Read-write: after a failed write, close() reads back what was written.
    const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | (direct ? O_DIRECT : 0);
    return openat(dir_fd, part_name(name).c_str(), flags, 0640);
}

} // namespace

int rename_no_replace(int dir_fd, const std::string& from, const std::string& to)
{
    if (renameat2(dir_fd, from.c_str(), dir_fd, to.c_str(), RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    // A filesystem without RENAME_NOREPLACE: a hard link fails if `to`
    // exists, then the old name goes.
    if (linkat(dir_fd, from.c_str(), dir_fd, to.c_str(), 0) != 0)
        return errno;
    unlinkat(dir_fd, from.c_str(), 0);
    return 0;
}

output_file::~output_file()
{
    if (_fd >= 0)
        close();
}

void output_file::ring_deleter::operator()(io_uring* ring) const
{
    io_uring_queue_exit(ring);
    delete ring;
}

// Sets up what overlapping writes need, once per output_file: the second
// buffer and a ring with room for one write. Any failure leaves the file
// writing synchronously, which is only slower.
void output_file::start_async()
{
    if (_async_refused)
        return;
    if (!_spare) {
        void* spare = nullptr;
        if (posix_memalign(&spare, io_alignment, _capacity) != 0) {
            _async_refused = true;
            return;
        }
        _spare.reset(static_cast<uint8_t*>(spare));
    }
    if (!_ring) {
        auto ring = std::make_unique<io_uring>();
        if (io_uring_queue_init(2, ring.get(), 0) != 0) {
            _spare.reset();
            _async_refused = true;
            return;
        }
        // io_uring's kernel workers off this writer's CPU where other CPUs
        // are free (core/helper_cpus.h). They are this thread's, not this
        // ring's: each ring asks again, to the same effect. Refused, they
        // stay there: the writes are the same, the writer only slower.
        const cpu_set_t& helpers = helper_cpus();
        if (CPU_COUNT(&helpers) > 0)
            if (int rc = io_uring_register_iowq_aff(ring.get(), sizeof helpers, &helpers); rc < 0)
                log_event(log_module::writers, log_level::debug,
                          "{}: io_uring's workers stay on the writer's CPU: {}", _name, error_text(rc));
        _ring.reset(ring.release());
    }
}

int output_file::reserve_buffer(size_t chunk_bytes)
{
    const size_t capacity = (chunk_bytes + io_alignment - 1) / io_alignment * io_alignment;
    if (!_buffer || _capacity != capacity) {
        void* buffer = nullptr;
        if (posix_memalign(&buffer, io_alignment, capacity) != 0)
            return -ENOMEM;
        _buffer.reset(static_cast<uint8_t*>(buffer));
        _spare.reset();   // start_async() makes a new one of the new size
        _capacity = capacity;
    }
    return 0;
}

void output_file::reset_state()
{
    _used = 0;
    set_fill_check();
    _base = _offset = _flushed = _record_end = _durable_end = 0;
    _records = _durable_records = 0;
    _preallocated = 0;
    _can_preallocate = true;
    _written_end = 0;
    _grown_to = 0;
    _error = 0;
    _front_block_cached = false;
    _after_in_flight = {};
    _writeback_from = UINT64_MAX;   // of the previous file: its flusher's now
    _writeback_to = 0;
}

int output_file::attach(int fd, const std::string& name, size_t chunk_bytes)
{
    if (_fd >= 0)
        return -EBUSY;
    if (int rc = reserve_buffer(chunk_bytes); rc != 0)
        return rc;
    _fd = fd;
    _tail_fd = -1;
    _direct = false;
    _attached = true;
    _name = name;
    reset_state();
    _can_preallocate = false;
    return 0;
}

int output_file::open(int dir_fd, const std::string& name, size_t chunk_bytes, bool direct)
{
    if (_fd >= 0)
        return -EBUSY;
    if (int rc = reserve_buffer(chunk_bytes); rc != 0)
        return rc;

    int fd = create_file(dir_fd, name, direct);
    if (fd < 0 && direct && errno == EINVAL) {
        // This filesystem has no O_DIRECT. Older kernels create the file
        // before refusing the flag: remove what we created, go buffered.
        unlinkat(dir_fd, part_name(name).c_str(), 0);
        direct = false;
        fd = create_file(dir_fd, name, false);
    }
    if (fd < 0)
        return -errno;
    int tail_fd = -1;
    if (direct) {
        tail_fd = openat(dir_fd, part_name(name).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (tail_fd < 0) {
            const int err = errno;
            ::close(fd);
            unlinkat(dir_fd, part_name(name).c_str(), 0);
            return -err;
        }
    }
    _fd = fd;
    _tail_fd = tail_fd;
    _direct = direct;
    _attached = false;
    _dir_fd = dir_fd;
    _name = name;
    reset_state();
    if (direct)
        start_async();
    return 0;
}

int output_file::write_at(int fd, const uint8_t* data, size_t len, uint64_t offset)
{
    size_t done = 0;
    while (done < len) {
        const ssize_t n = _attached ? ::write(fd, data + done, len - done)
                                    : pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && fd == _fd && _tail_fd >= 0) {
                // O_DIRECT refused this write (the kernel cut it to an
                // unaligned length at a file size limit): the buffered
                // descriptor retries it and reports the real error, if any.
                fd = _tail_fd;
                continue;
            }
            _error = errno;
            return -_error;
        }
        if (n == 0) {
            _error = EIO;
            return -_error;
        }
        done += static_cast<size_t>(n);
        _written_end = std::max(_written_end, offset + done);
        // A short direct write (the disk filling up) leaves an unaligned
        // rest that O_DIRECT would refuse with EINVAL: the buffered
        // descriptor takes it, and reports the real error if there is one.
        if (fd == _fd && _tail_fd >= 0 && done < len)
            fd = _tail_fd;
    }
    return 0;
}

void output_file::mark_durable()
{
    if (_record_end <= _flushed) {
        _durable_end = _record_end;
        _durable_records = _records;
    }
}

void output_file::preallocate(uint64_t end)
{
    if (!_can_preallocate || end <= _preallocated)
        return;
    // ext4 and xfs make fallocate wait for every direct write in flight on
    // the file (inode_dio_wait): behind a disk slowed by others, seconds on
    // the writer's core while its rings filled. Not now, then: the callers
    // ask once they have reaped it (write_full_buffer, before the next
    // chunk's write), or at the next flush.
    if (_in_flight.busy)
        return;
    const uint64_t target = (end + preallocation_step - 1) / preallocation_step * preallocation_step;
    // Space reserved past the end of the file without changing its size; a
    // filesystem that cannot (or a disk too full to) is simply not asked again.
    if (fallocate(_fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(_preallocated),
                  static_cast<off_t>(target - _preallocated)) == 0)
        _preallocated = target;
    else
        _can_preallocate = false;
}

// Writes the buffer's first block through the buffered descriptor if a
// flush left it in the page cache (see the header), and starts its
// write-back. Returns the bytes written (0 if it was not cached), or
// -errno.
ssize_t output_file::write_cached_block()
{
    if (!_front_block_cached)
        return 0;
    _front_block_cached = false;   // written whole now, or lost with this write
    if (write_at(_tail_fd, _buffer.get(), io_alignment, _base) != 0)
        return -_error;
    start_writeback(_base, io_alignment);
    return static_cast<ssize_t>(io_alignment);
}

// io_uring_submit, and whether the entries prepared are now io_uring's.
// A failed io_uring_enter (-EAGAIN when the kernel cannot allocate,
// -EBUSY) leaves them queued, and the next submit of anything sends them:
// they count as submitted then, their buffers untouched until they
// complete, and finish_in_flight sends them before it waits.
bool output_file::submit_prepared()
{
    return io_uring_submit(_ring.get()) > 0 || io_uring_sq_ready(_ring.get()) > 0;
}

// Starts the write-back of what the buffered descriptor wrote at [offset,
// offset + len), and does not wait for it. Left to the kernel's flusher (up
// to 30 s), a machine crash would leave zeros there, before blocks written
// directly, and the restart's salvage would cut the file at them. Through
// io_uring where there is one: sync_file_range itself can wait, for the
// journal or for room in the disk's queue (behind a query's reads, for
// hundreds of milliseconds), and io_uring runs it on a kernel thread of its
// own. One at a time: io_uring's kernel threads are few (as many as its
// queue's entries), and a chunk's direct write that needs one must not
// wait behind a pile of them; the ranges asked for meanwhile are merged
// and started when it is done (finish_in_flight reaps it). A range still
// waiting when the file is closed is left to the kernel's flusher.
void output_file::start_writeback(uint64_t offset, uint64_t len)
{
    if (!_ring) {
        sync_file_range(_tail_fd, static_cast<off_t>(offset), static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE);
        return;
    }
    _writeback_from = std::min(_writeback_from, offset);
    _writeback_to = std::max(_writeback_to, offset + len);
    submit_writeback();
}

void output_file::submit_writeback()
{
    if (_writeback_busy || _writeback_from >= _writeback_to || _tail_fd < 0)
        return;
    io_uring_sqe* sqe = io_uring_get_sqe(_ring.get());
    if (sqe == nullptr)
        return;   // tried again when the next one is reaped or asked for
    io_uring_prep_sync_file_range(sqe, _tail_fd, static_cast<unsigned>(_writeback_to - _writeback_from), _writeback_from,
                                  SYNC_FILE_RANGE_WRITE);
    io_uring_sqe_set_data64(sqe, writeback_tag);
    if (!submit_prepared())
        return;
    _writeback_busy = true;
    _writeback_from = UINT64_MAX;
    _writeback_to = 0;
}

int output_file::write_full_buffer()
{
    const ssize_t cached = write_cached_block();
    int rc = cached < 0 ? static_cast<int>(cached) : 0;
    const size_t skip = cached < 0 ? 0 : static_cast<size_t>(cached);
    int fd = _fd;
    if (rc == 0 && skip < _capacity && _direct && _ring && _spare) {
        // The previous chunk's buffer is the spare: free once its write is
        // done, which is waited for while the write is younger than
        // slow_write_ns (a disk that takes a chunk in a few milliseconds
        // sets the writer's pace: direct writes are its fastest).
        const uint64_t age = monotonic_ns() - _in_flight.submitted_ns;
        if ((rc = finish_in_flight(_in_flight.busy && age < slow_write_ns ? slow_write_ns - age : 0)) == 0 &&
            !_in_flight.busy) {
            preallocate(_base + _capacity);
            if (_ring && submit_full_buffer(skip))   // no ring: abandoned by the wait (abandon_ring)
                return 0;
        }
        // Still not done: the disk is stalled (behind a query's reads of it,
        // or other files' write-back, one chunk's write took 440 ms). This
        // chunk goes through the page cache, its write-back started, rather
        // than the writer waiting while its rings fill; the page cache waits
        // for the disk only once it holds more than the kernel lets it
        // (vm.dirty_ratio).
        if (rc == 0 && _in_flight.busy)
            fd = _tail_fd;
    }
    // No io_uring, or it could not take this chunk: write it here and now.
    // After a failed chunk this one is lost with it.
    if (rc == 0) {
        preallocate(_base + _capacity);
        rc = write_at(fd, _buffer.get() + skip, _capacity - skip, _base + skip);
    }
    if (rc == 0 && fd == _tail_fd)
        start_writeback(_base + skip, _capacity - skip);
    _base += _capacity;
    _used = 0;
    if (rc != 0)
        return rc;
    if (_in_flight.busy)
        _after_in_flight = {_base, _record_end, _records};
    else
        _flushed = _base;
    mark_durable();
    return 0;
}

// Hands the full buffer, from byte `skip` on (the bytes before are written),
// to io_uring and takes the spare one. Returns false if io_uring did not
// take it (the buffer is still ours to write).
bool output_file::submit_full_buffer(size_t skip)
{
    // A direct write past the end of the file must also grow it: ext4 and
    // xfs cannot do that without blocking, so io_uring hands the write to a
    // kernel thread, which on a busy machine runs only when the writer waits
    // (measured: no overlap at all). Growing the file first makes the write
    // one the kernel issues at once. Until it completes, the file's last
    // chunk reads as zeros; a crash in those milliseconds leaves them, and
    // the restart's tidying cuts the file at the first all-zero record.
    const uint64_t end = _base + _capacity;
    if (end > _grown_to) {
        if (ftruncate(_fd, static_cast<off_t>(end)) != 0)
            return false;
        _grown_to = end;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(_ring.get());
    if (sqe == nullptr)
        return false;
    io_uring_prep_write(sqe, _fd, _buffer.get() + skip, static_cast<unsigned>(_capacity - skip), _base + skip);
    io_uring_sqe_set_data64(sqe, write_tag);
    _write_sq_index = _ring->sq.sqe_tail - 1;
    if (!submit_prepared())
        return false;
    _in_flight = {true, _base + skip, _capacity - skip, skip, _record_end, _records, monotonic_ns()};
    std::swap(_buffer, _spare);
    _base += _capacity;
    _used = 0;
    return true;
}

// Waits for the write in flight, up to `wait_ns` (wait_forever: until it
// is done; 0: takes it only if it is done), and completes it
// (complete_in_flight). Write-back starts completing meanwhile are reaped
// on the way.
int output_file::finish_in_flight(uint64_t wait_ns)
{
    if (!_ring)
        return 0;
    const bool forever = wait_ns == wait_forever;
    const uint64_t deadline = forever || wait_ns == 0 ? 0 : monotonic_ns() + wait_ns;
    for (;;) {
        const uint64_t now = deadline != 0 ? monotonic_ns() : 0;
        const bool waits = _in_flight.busy && (forever || (deadline != 0 && now < deadline));
        // Entries a refused submit left queued are sent first: a wait for
        // their completion would never end.
        const int refused = send_queued(waits && forever);
        const bool unsent = _in_flight.busy && !write_taken();
        if (unsent && refused_for_good(refused))
            return abandon_ring();
        io_uring_cqe* cqe = nullptr;
        int rc;
        if (!waits) {
            rc = io_uring_peek_cqe(_ring.get(), &cqe);
        } else if (forever && !unsent) {
            rc = io_uring_wait_cqe(_ring.get(), &cqe);
        } else {
            // While the kernel refuses the write, a millisecond at a time,
            // sending it again after each.
            const uint64_t left = std::min(forever ? UINT64_MAX : deadline - now,
                                           unsent ? uint64_t{1'000'000} : UINT64_MAX);
            __kernel_timespec timeout{static_cast<int64_t>(left / 1000000000), static_cast<long long>(left % 1000000000)};
            rc = io_uring_wait_cqe_timeout(_ring.get(), &cqe, &timeout);
            if (rc == -ETIME && unsent)
                continue;
        }
        if (rc == -EINTR)
            continue;
        if (rc == 0 && cqe->user_data == writeback_tag) {
            reap_writeback(cqe);
            continue;
        }
        if (!_in_flight.busy) {
            if (rc == 0)   // no other kind is submitted
                io_uring_cqe_seen(_ring.get(), cqe);
            return 0;
        }
        if (rc == -EAGAIN || rc == -ETIME)   // still being written
            return 0;
        if (rc != 0 && !write_taken())   // an error while io_uring still holds the write unsent
            return abandon_ring();
        const int64_t res = rc == 0 ? cqe->res : rc;
        if (rc == 0)
            io_uring_cqe_seen(_ring.get(), cqe);
        return complete_in_flight(res);
    }
}

bool output_file::write_settled()
{
    if (!_in_flight.busy)
        return true;
    const uint64_t age = monotonic_ns() - _in_flight.submitted_ns;
    return finish_in_flight(age < slow_write_ns ? slow_write_ns - age : 0) != 0 || !_in_flight.busy;
}

// Sends the entries a refused submit left queued (submit_prepared), and
// waits for one completion too when `and_wait`. Returns 0, or the error
// of a new refusal.
int output_file::send_queued(bool and_wait)
{
    if (io_uring_sq_ready(_ring.get()) == 0)
        return 0;
    const int sent = and_wait ? io_uring_submit_and_wait(_ring.get(), 1) : io_uring_submit(_ring.get());
    return sent < 0 ? sent : 0;
}

// Does the kernel refuse the unsent write for good? Not a moment's EAGAIN
// or EBUSY (or a signal), unless the write has been refused for
// refused_write_ns: then io_uring is given up for this file's writes.
bool output_file::refused_for_good(int refused) const
{
    return (refused != 0 && refused != -EAGAIN && refused != -EBUSY && refused != -EINTR) ||
           monotonic_ns() - _in_flight.submitted_ns > refused_write_ns;
}

// A write-back's start is done (or was refused: the kernel's flusher has
// the range); the ranges asked for meanwhile are started.
void output_file::reap_writeback(io_uring_cqe* cqe)
{
    io_uring_cqe_seen(_ring.get(), cqe);
    _writeback_busy = false;
    submit_writeback();
}

// Has the kernel taken the write in flight from the submission queue? A
// submit it refused leaves it there (submit_prepared), and the next submit
// of anything sends it.
bool output_file::write_taken() const
{
    return static_cast<int>(io_uring_smp_load_acquire(_ring->sq.khead) - _write_sq_index) > 0;
}

// io_uring refuses the write for good: the ring goes, and the entries it
// never took with it (never run), and this file writes synchronously from
// now on; the chunk is written here and now. Write-back ranges not yet
// started are left to the kernel's flusher.
int output_file::abandon_ring()
{
    _ring.reset();
    _async_refused = true;
    _writeback_busy = false;
    _writeback_from = UINT64_MAX;
    _writeback_to = 0;
    return _in_flight.busy ? complete_in_flight(0) : 0;
}

// The write in flight is done, `res` bytes of it written (or -errno):
// what it did not write whole (a short write as a disk fills, or an error)
// is written again synchronously by write_at, which knows how to finish a
// short direct write and reports the real error.
int output_file::complete_in_flight(int64_t res)
{
    const write_in_flight w = _in_flight;
    _in_flight.busy = false;
    const size_t done = res > 0 ? static_cast<size_t>(res) : 0;
    if (done > 0)
        _written_end = std::max(_written_end, w.offset + done);
    if (done < w.len && write_at(_fd, _spare.get() + w.skipped + done, w.len - done, w.offset + done) != 0)
        return -_error;
    _flushed = std::max({_flushed, w.offset + w.len, _after_in_flight.end});
    _durable_end = std::max({_durable_end, w.record_end, _after_in_flight.record_end});
    _durable_records = std::max({_durable_records, w.records, _after_in_flight.records});
    _after_in_flight = {};
    return 0;
}

void output_file::append_spilling(const uint8_t* data, size_t len)
{
    if (_error != 0) {
        _offset += len;   // keep the record arithmetic; the bytes are lost
        return;
    }
    while (len > 0) {
        const size_t n = std::min(len, _fill_check - _used);
        std::memcpy(_buffer.get() + _used, data, n);
        _used += n;
        _offset += n;
        data += n;
        len -= n;
        if (_used == _fill_check && reach_fill_check() != 0) {
            _offset += len;
            return;
        }
    }
}

// The buffer has reached _fill_check: a full buffer is written
// (write_full_buffer); short of that, while the chunk in flight has taken
// longer than slow_write_ns and is still not done, what the buffer holds
// goes through the page cache now, as a flush does, so the writer never
// copies a whole chunk there in one call.
int output_file::reach_fill_check()
{
    int rc = 0;
    if (_used == _capacity) {
        rc = write_full_buffer();
    } else if (_in_flight.busy && monotonic_ns() - _in_flight.submitted_ns >= slow_write_ns) {
        rc = finish_in_flight(0);
        if (rc == 0 && _in_flight.busy)
            rc = flush(false);
    }
    set_fill_check();
    return rc;
}

int output_file::flush(bool wait)
{
    if (_fd < 0)
        return -EBADF;
    if (_error != 0)
        return -_error;
    if (finish_in_flight(wait ? wait_forever : 0) != 0)
        return -_error;
    if (!has_pending())
        return 0;
    preallocate(_base + _used);
    // The buffer through the page cache (a direct file's buffered
    // descriptor), exactly as long as it is, so the file never shows
    // padding: a direct write here waited for the disk on the writer's
    // core, and behind a query's reads of the same disk that was up to
    // 750 ms, three times what a worker's ring holds. The whole blocks'
    // write-back starts now.
    const size_t whole = _direct ? _used / io_alignment * io_alignment : _used;
    if (_used > 0 && write_at(_direct ? _tail_fd : _fd, _buffer.get(), _used, _base) != 0)
        return -_error;
    if (_direct && whole > 0)
        start_writeback(_base, whole);
    const size_t tail = _used - whole;
    // A chunk still being written (not waited for): the bytes after it are
    // in the kernel, but the file is whole up to them only once it is done.
    if (_in_flight.busy)
        _after_in_flight = {_base + _used, _record_end, _records};
    else
        _flushed = _base + _used;
    // The partial block stays at the front of the buffer, and in the page
    // cache: the next write of it goes there again (write_cached_block).
    if (tail > 0)
        std::memmove(_buffer.get(), _buffer.get() + whole, tail);
    _base += whole;
    _used = tail;
    _front_block_cached = tail > 0;
    set_fill_check();
    mark_durable();
    return 0;
}

// After a failed write: the kernel may have taken more than the last chunk
// known to be whole (a short write fills the disk to its last byte). Walk
// the records from the last known boundary up to what was written, and keep
// every complete one.
void output_file::recover_written_records()
{
    if (!_framing.known)
        return;
    const int fd = _tail_fd >= 0 ? _tail_fd : _fd;   // buffered: any alignment
    const walk_result walked = walk_records(fd, _durable_end, _written_end, _framing);
    _durable_end = walked.end;
    _durable_records += walked.records;
}

int output_file::close()
{
    if (_fd < 0)
        return -EBADF;
    finish_in_flight();   // its buffer and descriptor are in use until then
    if (_error == 0)
        flush();
    int result = _error ? -_error : 0;
    if (_error != 0 && !_attached)
        recover_written_records();
    // After a failed write, cut back to the last complete record so every
    // reader accepts the file; otherwise give back the preallocated space.
    const uint64_t keep = _error ? _durable_end : _offset;
    bool valid = true;
    if (!_attached && (_error != 0 || _preallocated > keep || _grown_to > keep) &&
        ftruncate(_fd, static_cast<off_t>(keep)) != 0) {
        valid = _error == 0;   // a failed file we could not cut back may end in half a record
        if (result == 0)
            result = -errno;
    }
    if (_tail_fd >= 0)
        ::close(_tail_fd);
    if (::close(_fd) != 0 && result == 0)
        result = -errno;
    _fd = _tail_fd = -1;
    // Only a file known to end at a record boundary gets its final name; the
    // other keeps .part, which linecap merge reads up to its last complete record.
    // Never over an existing file: a name planted in the folder stays, and
    // this file keeps its .part name (the error says so).
    if (!_attached && valid) {
        if (const int err = rename_no_replace(_dir_fd, part_name(_name), _name); err != 0 && result == 0)
            result = -err;
    }
    return result;
}

void output_file::discard()
{
    if (_fd < 0)
        return;
    finish_in_flight();
    if (_tail_fd >= 0)
        ::close(_tail_fd);
    ::close(_fd);
    _fd = _tail_fd = -1;
    unlinkat(_dir_fd, part_name(_name).c_str(), 0);
}

} // namespace linecap
