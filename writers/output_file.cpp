#include "writers/output_file.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

namespace linecap {

namespace {

constexpr size_t io_alignment = 4096;

std::string part_name(const std::string& name)
{
    return name + ".part";
}

} // namespace

output_file::~output_file()
{
    if (_fd >= 0)
        close();
}

int output_file::open(int dir_fd, const std::string& name, size_t chunk_bytes)
{
    if (_fd >= 0)
        return -EBUSY;
    const size_t capacity = (chunk_bytes + io_alignment - 1) / io_alignment * io_alignment;
    void* buffer = nullptr;
    if (posix_memalign(&buffer, io_alignment, capacity) != 0)
        return -ENOMEM;
    _buffer.reset(static_cast<uint8_t*>(buffer));

    const int fd = openat(dir_fd, part_name(name).c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        _buffer.reset();
        return -errno;
    }
    _fd = fd;
    _dir_fd = dir_fd;
    _name = name;
    _capacity = capacity;
    _used = 0;
    _offset = _record_end = _durable_end = 0;
    _records = _durable_records = 0;
    _error = 0;
    return 0;
}

void output_file::append_spilling(const uint8_t* data, size_t len)
{
    if (_error != 0) {
        _offset += len;   // keep record arithmetic consistent; the bytes are lost
        return;
    }
    while (len > 0) {
        const size_t n = std::min(len, _capacity - _used);
        std::memcpy(_buffer.get() + _used, data, n);
        _used += n;
        _offset += n;
        data += n;
        len -= n;
        if (_used == _capacity && write_buffer() != 0)
            return;
    }
}

int output_file::write_buffer()
{
    size_t done = 0;
    while (done < _used) {
        const ssize_t n = ::write(_fd, _buffer.get() + done, _used - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            _error = errno;
            break;
        }
        done += static_cast<size_t>(n);
    }
    if (_error == 0) {
        _durable_end = _record_end;
        _durable_records = _records;
    }
    _used = 0;
    return _error == 0 ? 0 : -_error;
}

int output_file::flush()
{
    if (_fd < 0)
        return -EBADF;
    if (_error != 0)
        return -_error;
    if (_used == 0)
        return 0;
    return write_buffer();
}

int output_file::close()
{
    if (_fd < 0)
        return -EBADF;
    if (_error == 0 && _used > 0)
        write_buffer();
    int result = _error ? -_error : 0;
    // A failed write may have left part of a record behind: cut it off so the
    // file ends at its last complete record and every reader accepts it.
    if (_error != 0 && ftruncate(_fd, static_cast<off_t>(_durable_end)) != 0 && result == 0)
        result = -errno;
    if (::close(_fd) != 0 && result == 0)
        result = -errno;
    _fd = -1;
    if (renameat(_dir_fd, part_name(_name).c_str(), _dir_fd, _name.c_str()) != 0 && result == 0)
        result = -errno;
    _buffer.reset();
    return result;
}

void output_file::discard()
{
    if (_fd < 0)
        return;
    ::close(_fd);
    _fd = -1;
    unlinkat(_dir_fd, part_name(_name).c_str(), 0);
    _buffer.reset();
}

} // namespace linecap
