// Walking the records of a capture file that may end in half a record, or in
// zeros. Three callers: output_file::close after a failed write (a short
// write fills a disk to its last byte, and every record the kernel took whole
// is kept), the daemon at start-up, cutting back the .part files a crash left
// (writers/recovery.h), and the same start-up counting the packets of closed
// files. One walker, and one rule for what a record is (capture_format.h,
// "what a record is"), so that they agree with each other and with the
// readers (capture_reader.h) on where a file ends.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/capture_format.h"

namespace linecap {

struct record_framing {
    file_format format = file_format::pcap_ns;
    bool known = false;               // false: no walk (output_file attached to a pipe)
    // Zeros after the last record end the data without making the file
    // damaged: a file being written, or cut by a failed write (.part).
    bool may_be_unwritten = true;
    uint32_t max_caplen = pcap_max_caplen;   // pcap: the longest record libpcap reads
    uint64_t first_record = 0;        // offset of the first record: after pcap's file header
};

// How the records of a file linecap writes in `format` are laid out (host
// byte order, as linecap writes them).
record_framing framing_of(file_format format, bool may_be_unwritten = true);

struct walk_result {
    uint64_t end = 0;       // where the last complete record ends
    uint64_t records = 0;   // complete records between `from` and `end`
    uint64_t packets = 0;   // those of them that are packets
    bool unwritten = false; // the walk stopped at zeros (an unwritten tail), not at a damaged record
    int error = 0;          // errno of a failed read (the walk stops there)
};

// Walks the complete records of `fd` from offset `from` (a record boundary)
// up to `limit`, reading in large sequential blocks (the data of records is
// skipped, not parsed). Stops at the first record that does not fit or is
// not a record by the rule. Does not move the descriptor's offset.
walk_result walk_records(int fd, uint64_t from, uint64_t limit, const record_framing& framing);

} // namespace linecap
