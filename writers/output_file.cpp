#include "writers/output_file.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace linecap {

namespace {

// O_DIRECT wants buffers, offsets and lengths aligned to the device's logical
// block; 4 KiB covers every device in use.
constexpr size_t io_alignment = 4096;

// Preallocation step: one fallocate() per 64 MiB written.
constexpr uint64_t preallocation_step = 64ull << 20;

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
    _base = _offset = _flushed = _record_end = _durable_end = 0;
    _records = _durable_records = 0;
    _preallocated = 0;
    _can_preallocate = true;
    _written_end = 0;
    _grown_to = 0;
    _error = 0;
    _front_block_cached = false;
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
// flush left it in the page cache (see the header), and no more than `len`
// bytes of it. Returns the bytes written (0 if it was not cached), or
// -errno.
ssize_t output_file::write_cached_block(size_t len)
{
    if (!_front_block_cached)
        return 0;
    const size_t n = std::min(len, io_alignment);
    const bool whole = n == io_alignment;
    if (whole)
        _front_block_cached = false;   // written whole now, or lost with this write
    if (write_at(_tail_fd, _buffer.get(), n, _base) != 0)
        return -_error;
    if (whole) {
        // Its write-back starts now, ahead of the direct writes after it,
        // and is not waited for. Left to the kernel's flusher (up to 30 s),
        // a machine crash would leave a block of zeros there, after which
        // the restart's salvage cuts the file.
        sync_file_range(_tail_fd, static_cast<off_t>(_base), io_alignment, SYNC_FILE_RANGE_WRITE);
    }
    return static_cast<ssize_t>(n);
}

int output_file::write_full_buffer()
{
    preallocate(_base + _capacity);
    const ssize_t cached = write_cached_block(_capacity);
    int rc = cached < 0 ? static_cast<int>(cached) : 0;
    const size_t skip = cached < 0 ? 0 : static_cast<size_t>(cached);
    if (rc == 0 && skip < _capacity && _direct && _ring && _spare) {
        // The previous chunk's buffer is the spare: wait for it first.
        if ((rc = finish_in_flight()) == 0 && submit_full_buffer(skip))
            return 0;
    }
    // No io_uring, or it could not take this chunk: write it here and now.
    // After a failed chunk this one is lost with it.
    if (rc == 0)
        rc = write_at(_fd, _buffer.get() + skip, _capacity - skip, _base + skip);
    _base += _capacity;
    _used = 0;
    if (rc != 0)
        return rc;
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
    if (io_uring_submit(_ring.get()) != 1)
        return false;
    _in_flight = {true, _base + skip, _capacity - skip, skip, _record_end, _records};
    std::swap(_buffer, _spare);
    _base += _capacity;
    _used = 0;
    return true;
}

// Waits for the write in flight. What it did not write whole (a short write
// as a disk fills, or an error) is written again synchronously by write_at,
// which knows how to finish a short direct write and reports the real error.
int output_file::finish_in_flight()
{
    if (!_in_flight.busy)
        return 0;
    io_uring_cqe* cqe = nullptr;
    int rc;
    while ((rc = io_uring_wait_cqe(_ring.get(), &cqe)) == -EINTR)
        ;
    const write_in_flight w = _in_flight;
    _in_flight.busy = false;
    const int64_t res = rc == 0 ? cqe->res : rc;
    if (rc == 0)
        io_uring_cqe_seen(_ring.get(), cqe);
    const size_t done = res > 0 ? static_cast<size_t>(res) : 0;
    if (done > 0)
        _written_end = std::max(_written_end, w.offset + done);
    if (done < w.len && write_at(_fd, _spare.get() + w.skipped + done, w.len - done, w.offset + done) != 0)
        return -_error;
    _flushed = std::max(_flushed, w.offset + w.len);
    _durable_end = std::max(_durable_end, w.record_end);
    _durable_records = std::max(_durable_records, w.records);
    return 0;
}

void output_file::append_spilling(const uint8_t* data, size_t len)
{
    if (_error != 0) {
        _offset += len;   // keep the record arithmetic; the bytes are lost
        return;
    }
    while (len > 0) {
        const size_t n = std::min(len, _capacity - _used);
        std::memcpy(_buffer.get() + _used, data, n);
        _used += n;
        _offset += n;
        data += n;
        len -= n;
        if (_used == _capacity && write_full_buffer() != 0) {
            _offset += len;
            return;
        }
    }
}

int output_file::flush()
{
    if (_fd < 0)
        return -EBADF;
    if (_error != 0)
        return -_error;
    if (finish_in_flight() != 0)
        return -_error;
    if (!has_pending())
        return 0;
    preallocate(_base + _used);
    // The block the last flush left in the page cache, there again; whole
    // blocks directly; the partial last block through the buffered
    // descriptor, exactly as long as it is, so the file never shows padding.
    const ssize_t cached = write_cached_block(_used);
    if (cached < 0)
        return -_error;
    const auto done = static_cast<size_t>(cached);
    const size_t whole = _direct ? _used / io_alignment * io_alignment : _used;
    if (whole > done && write_at(_fd, _buffer.get() + done, whole - done, _base + done) != 0)
        return -_error;
    const size_t tail = _used - whole;
    if (tail > 0 && done < _used && write_at(_tail_fd, _buffer.get() + whole, tail, _base + whole) != 0)
        return -_error;
    _flushed = _base + _used;
    // The partial block stays at the front of the buffer, and in the page
    // cache: the next write of it goes there again (write_cached_block).
    if (tail > 0)
        std::memmove(_buffer.get(), _buffer.get() + whole, tail);
    _base += whole;
    _used = tail;
    _front_block_cached = tail > 0;
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
