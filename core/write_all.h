// Writing a whole buffer to a descriptor, as write(2) may take less.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <unistd.h>

namespace linecap {

// Writes all `n` bytes of `data` to `fd`, again after EINTR and short
// writes. false when it cannot (errno says why: a full disk, ENOSPC).
inline bool write_all(int fd, const void* data, size_t n)
{
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

} // namespace linecap
