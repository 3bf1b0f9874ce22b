#include "writers/record_walk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <vector>

namespace linecap {

namespace {

// linecap's largest record: a pcapng block with every option it writes, or
// a packet at the maximum snap length. Anything longer is not a record.
constexpr uint64_t max_record_bytes = pcap_max_snaplen + 65536;

// Headers are read 1 MiB at a time: records of a few hundred bytes cost no
// system call each, and a file is read sequentially, at the disk's speed.
constexpr size_t read_block = 1 << 20;

uint64_t pcap_record_length(const uint8_t* header)
{
    pcap_record_header h;
    std::memcpy(&h, header, sizeof h);
    // len 0 or caplen > len: zeros or garbage, not a packet linecap wrote
    if (h.len == 0 || h.caplen > h.len || h.caplen > pcap_max_snaplen)
        return 0;
    return sizeof h + h.caplen;
}

uint64_t pcapng_block_length(const uint8_t* header)
{
    uint32_t type, total;
    std::memcpy(&type, header, 4);
    std::memcpy(&total, header + 4, 4);
    if (type == 0 || total < 12 || total % 4 != 0 || total > max_record_bytes)
        return 0;
    return total;
}

bool pcapng_is_packet(const uint8_t* header)
{
    uint32_t type;
    std::memcpy(&type, header, 4);
    return type == pcapng_enhanced_packet;
}

} // namespace

record_framing framing_of(file_format format)
{
    if (format == file_format::pcapng)
        return {8, pcapng_block_length, pcapng_is_packet, 0};
    return {sizeof(pcap_record_header), pcap_record_length, nullptr, sizeof(pcap_file_header)};
}

walk_result walk_records(int fd, uint64_t from, uint64_t limit, const record_framing& framing)
{
    walk_result r;
    r.end = from;
    std::vector<uint8_t> block;
    uint64_t block_start = 0;   // file offset of block[0]
    while (r.end + framing.header_bytes <= limit) {
        // The header in the block we hold, or a fresh block from it on.
        if (r.end < block_start || r.end + framing.header_bytes > block_start + block.size()) {
            block.resize(read_block);
            const size_t want = static_cast<size_t>(std::min<uint64_t>(read_block, limit - r.end));
            ssize_t n;
            while ((n = pread(fd, block.data(), want, static_cast<off_t>(r.end))) < 0 && errno == EINTR)
                ;
            if (n < 0) {
                r.error = errno;
                break;
            }
            block.resize(static_cast<size_t>(n));
            block_start = r.end;
            if (block.size() < framing.header_bytes)
                break;
        }
        const uint8_t* header = block.data() + (r.end - block_start);
        const uint64_t length = framing.length(header);
        if (length < framing.header_bytes || r.end + length > limit)
            break;
        if (framing.is_packet == nullptr || framing.is_packet(header))
            r.packets++;
        r.records++;
        r.end += length;
    }
    return r;
}

} // namespace linecap
