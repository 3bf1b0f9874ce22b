#include "writers/record_walk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <vector>

namespace linecap {

namespace {

// linecap's largest pcapng block: a packet at the maximum snap length, or a
// block with every option it writes. Longer is not a block.
constexpr uint64_t max_block_bytes = pcap_max_snaplen + 65536;

// Headers are read 1 MiB at a time: records of a few hundred bytes cost no
// system call each, and a file is read sequentially, at the disk's speed.
constexpr size_t read_block = 1 << 20;

// The bytes of a record's header the rule looks at: pcap's record header;
// pcapng's block type and length, and an Enhanced Packet Block's captured
// length (offset 20).
constexpr size_t pcapng_epb_caplen_offset = 20;

// Reads `want` bytes at `offset` into `out`, retrying on EINTR. Returns the
// bytes read (fewer at the end of the file), or -errno.
ssize_t read_at(int fd, uint8_t* out, size_t want, uint64_t offset)
{
    ssize_t n;
    while ((n = pread(fd, out, want, static_cast<off_t>(offset))) < 0 && errno == EINTR)
        ;
    return n < 0 ? -errno : n;
}

// A file read forward in large blocks; bytes(at, n) gives n bytes at file
// offset `at` (at most read_block), or null past `limit` or the file's end.
class block_reader {
public:
    block_reader(int fd, uint64_t limit) : _fd(fd), _limit(limit) {}

    const uint8_t* bytes(uint64_t at, size_t n)
    {
        if (at + n > _limit)
            return nullptr;
        if (at < _start || at + n > _start + _block.size()) {
            _block.resize(read_block);
            const ssize_t got = read_at(_fd, _block.data(), static_cast<size_t>(std::min<uint64_t>(read_block, _limit - at)), at);
            if (got < 0) {
                _error = static_cast<int>(-got);
                _block.clear();
                return nullptr;
            }
            _block.resize(static_cast<size_t>(got));
            _start = at;
            if (_block.size() < n)
                return nullptr;
        }
        return _block.data() + (at - _start);
    }
    int error() const { return _error; }

private:
    int _fd;
    uint64_t _limit;
    std::vector<uint8_t> _block;
    uint64_t _start = 0;
    int _error = 0;
};

uint32_t load32(const uint8_t* p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

} // namespace

record_framing framing_of(file_format format, bool may_be_unwritten)
{
    record_framing f;
    f.format = format;
    f.known = true;
    f.may_be_unwritten = may_be_unwritten;
    f.first_record = format == file_format::pcapng ? 0 : sizeof(pcap_file_header);
    return f;
}

walk_result walk_records(int fd, uint64_t from, uint64_t limit, const record_framing& framing)
{
    walk_result r;
    r.end = from;
    block_reader file(fd, limit);
    const bool pcapng = framing.format == file_format::pcapng;
    for (;;) {
        uint64_t length = 0;
        bool packet = true;
        if (!pcapng) {
            const uint8_t* p = file.bytes(r.end, sizeof(pcap_record_header));
            if (p == nullptr)
                break;
            pcap_record_header h;
            std::memcpy(&h, p, sizeof h);
            const record_verdict v = check_pcap_record(h, framing.max_caplen, framing.may_be_unwritten);
            if (v != record_verdict::record) {
                r.unwritten = v == record_verdict::unwritten;
                break;
            }
            length = sizeof h + h.caplen;
        } else {
            const uint8_t* p = file.bytes(r.end, 8);
            if (p == nullptr)
                break;
            const uint32_t type = load32(p), total = load32(p + 4);
            const record_verdict v = check_pcapng_block(type, total, max_block_bytes, framing.may_be_unwritten);
            if (v != record_verdict::record) {
                r.unwritten = v == record_verdict::unwritten;
                break;
            }
            length = total;
            packet = pcapng_is_packet_block(type);
            // The whole block is in the file, its length repeated at its end,
            // and an Enhanced Packet Block's data fits in it.
            const uint8_t* tail = file.bytes(r.end + total - 4, 4);
            if (tail == nullptr || load32(tail) != total)
                break;
            if (type == pcapng_enhanced_packet) {
                const uint8_t* caplen = total >= sizeof(pcapng_epb_header) + 4
                                            ? file.bytes(r.end + pcapng_epb_caplen_offset, 4)
                                            : nullptr;
                if (caplen == nullptr || sizeof(pcapng_epb_header) + pcapng_padded(load32(caplen)) + 4 > total)
                    break;
            }
        }
        if (r.end + length > limit)
            break;
        if (packet)
            r.packets++;
        r.records++;
        r.end += length;
    }
    r.error = file.error();
    return r;
}

} // namespace linecap
