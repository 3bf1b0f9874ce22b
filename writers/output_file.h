// A capture file being written: large aligned chunks, few system calls, and a
// file that is always valid up to its last complete record.
//
// The file is created as NAME.part and renamed to NAME by close(), so a reader
// never mistakes a file in progress for a finished one (stenotype does the
// same). Bytes are gathered in a chunk buffer and written when it is full, or
// by flush(); a write error is remembered, later appends are discarded, and
// close() trims the file back to the end of the last record that reached the
// kernel whole, so a full disk leaves a valid, shorter file behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace linecap {

class output_file {
public:
    output_file() = default;
    ~output_file();
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;

    // Creates NAME.part in the directory `dir_fd` (O_EXCL, O_NOFOLLOW, mode
    // 0640). `chunk_bytes` is rounded up to 4 KiB. Returns 0 or -errno.
    int open(int dir_fd, const std::string& name, size_t chunk_bytes);
    bool is_open() const { return _fd >= 0; }

    // Appends bytes; a full chunk goes to the kernel in one write().
    void append(const void* data, size_t len)
    {
        if (__builtin_expect(_used + len < _capacity, 1)) {
            std::memcpy(_buffer.get() + _used, data, len);
            _used += len;
            _offset += len;
            return;
        }
        append_spilling(static_cast<const uint8_t*>(data), len);
    }

    // Marks the end of a record: the point a failed file is trimmed back to.
    void end_record()
    {
        _record_end = _offset;
        _records++;
    }

    // Hands whatever is buffered to the kernel. Returns 0 or -errno.
    int flush();

    // Flushes, trims the file to its last complete record if a write failed,
    // closes it and renames NAME.part to NAME. Returns 0 or the first -errno
    // seen while writing or closing; the file is closed either way.
    int close();

    // Closes without renaming and removes NAME.part (used when nothing may be kept).
    void discard();

    int error() const { return _error; }          // first errno seen, 0 if none
    uint64_t size() const { return _offset; }     // bytes appended so far
    uint64_t records() const { return _records; } // complete records appended
    // Records and bytes that reached the kernel whole: what the file holds if
    // the next write fails. After a successful flush() or close() they equal
    // records() and size().
    uint64_t durable_records() const { return _durable_records; }
    uint64_t durable_size() const { return _durable_end; }
    bool has_pending() const { return _used != 0; }
    const std::string& name() const { return _name; }

private:
    void append_spilling(const uint8_t* data, size_t len);
    int write_buffer();

    struct free_deleter {
        void operator()(uint8_t* p) const { std::free(p); }
    };

    int _fd = -1;
    int _dir_fd = -1;
    std::string _name;
    std::unique_ptr<uint8_t, free_deleter> _buffer;
    size_t _capacity = 0;
    size_t _used = 0;
    uint64_t _offset = 0;       // logical size: bytes appended
    uint64_t _record_end = 0;   // where the last complete record ends
    uint64_t _durable_end = 0;  // last record end that reached the kernel whole
    uint64_t _records = 0;
    uint64_t _durable_records = 0;
    int _error = 0;
};

} // namespace linecap
