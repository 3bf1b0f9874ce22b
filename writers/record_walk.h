// Walking the records of a capture file that may end in half a record. Two
// callers: output_file::close after a failed write (a short write fills a
// disk to its last byte, and every record the kernel took whole is kept),
// and the daemon at start-up, cutting back the .part files a crash left
// (writers/recovery.h). One walker, so both agree on where a file ends.
#pragma once

#include <cstddef>
#include <cstdint>

#include "writers/capture_format.h"

namespace linecap {

// The whole length of a record from its first `header_bytes`, or 0 when
// those bytes cannot start a record linecap writes (the walk stops there).
using record_length_fn = uint64_t (*)(const uint8_t* header);
// Whether a record is a packet (pcapng files also hold other blocks).
using record_is_packet_fn = bool (*)(const uint8_t* header);

struct record_framing {
    size_t header_bytes = 0;
    record_length_fn length = nullptr;
    record_is_packet_fn is_packet = nullptr;   // null: every record is
    uint64_t first_record = 0;                 // offset of the first record: after pcap's file header
};

// pcap: a 16-byte record header (caplen at offset 8) before the data.
// pcapng: blocks, their type at offset 0 and total length at offset 4.
// Host byte order, as linecap writes them.
record_framing framing_of(file_format format);

struct walk_result {
    uint64_t end = 0;       // where the last complete record ends
    uint64_t records = 0;   // complete records between `from` and `end`
    uint64_t packets = 0;   // those of them that are packets
    int error = 0;          // errno of a failed read (the walk stops there)
};

// Walks the complete records of `fd` from offset `from` (a record boundary)
// up to `limit`, reading in large sequential blocks (the data of records is
// skipped, not parsed). Stops at the first record that does not fit or does
// not look like one. Does not move the descriptor's offset.
walk_result walk_records(int fd, uint64_t from, uint64_t limit, const record_framing& framing);

} // namespace linecap
