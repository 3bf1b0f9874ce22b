// One record written and indexed: what session_output::write does for a
// session with an index, shared with bench/writer so that the benchmark
// times the daemon's own code.
#pragma once

#include <algorithm>
#include <cstdint>

#include <rte_mbuf.h>

#include "writers/capture_index.h"
#include "writers/capture_writer.h"

namespace linecap {

// The records write_indexed() does not take itself: one read for its
// keys from its start (a block's or chunk's first record; a cut record,
// a chained mbuf). Out of line, so that the common case's code stays
// small at its call site.
[[gnu::noinline]] inline void write_indexed_other(capture_writer& file, capture_file_indexer& index, const rte_mbuf* m,
                                                  uint64_t ts_ns, const record_cut& cut, uint32_t mark,
                                                  record_start& start)
{
    const uint64_t at = file.file().size();
    file.write_packet(m, ts_ns, cut, start);
    index.add(at, start.header.data(), start.data, start.data_len, ts_ns, mark);
}

// Appends the record `cut` says of `m` (received at ts_ns) to `file` and
// adds it to `index` (open, on `file`); the caller ends each burst of
// records with index.end_burst(file.file().size()). `mark` is the worker's
// (index_flow.h); the index takes it only if told it speaks for the
// record (capture_file_indexer::take_marks, output_spec::index_marked:
// the packet's first bytes, `cut` the whole packet's, cut by the file's
// snaplen past the flow's keys or not at all), and else reads the record
// (a decap session's inner packet, a snaplen inside the keys). A record
// marked with the epoch (as its index last saw it: path_of), unless the
// burst before reached its block's place (end_burst), is written as an
// unindexed session's, and only its place and time (and an ICMP packet's own
// half-words) are indexed; one marked in an older block of the chunk, its
// IPv4 addresses too, from the packet's first bytes; one read for its
// keys whose bytes are its packet's first, in one segment, is read there
// (add_read: some 18 instructions less a 64-byte record than through its
// start, docs/performance.md), an unmarked IPv4 or IPv6 packet of a flow,
// or a frame that gives no key (a tagged one in no tunnel), the common
// cases of a worker that marks nothing, inline and the rest through
// add_keys out of line; any other gives the index its start, taken as it
// is written (`start`: the caller's, reused).
//
// Always inlined: the marked records, most of a busy ring's, then cost
// their writer the epoch's compare, the count and the times, and no call
// of their own (a call's saved registers and spilled arguments were
// some 40% of what the index added to a 64-byte record: performance.md).
[[gnu::always_inline]] inline void write_indexed(capture_writer& file, capture_file_indexer& index,
                                                 const rte_mbuf* m, uint64_t ts_ns, const record_cut& cut,
                                                 uint32_t mark, record_start& start)
{
    using path_t = capture_file_indexer::path;
    const path_t path = index.path_of(file.file().size(), mark);
    if (likely(path == path_t::marked)) {
        file.write_packet(m, ts_ns, cut);
        index.add_marked(ts_ns);
        return;
    }
    if (path == path_t::marked_words) {
        file.write_packet(m, ts_ns, cut);
        // An ICMP flow's (index_mark_words): the record is the packet's
        // first min(length, snaplen) bytes (a mark speaks for no other
        // cut), and the worker marks only a packet whose first segment
        // holds its half-words (index_flow_of).
        index.add_own_words(rte_pktmbuf_mtod(m, const uint8_t*), std::min<uint32_t>(m->data_len, file.snaplen()));
        index.add_marked(ts_ns);
        return;
    }
    // Marked in an older block of the chunk (a block started while it was
    // in flight): its IPv4 addresses for the open block, from the packet's
    // first bytes, as the marked_words' above.
    if (path == path_t::in_chunk) {
        file.write_packet(m, ts_ns, cut);
        index.add_marked_in_chunk(rte_pktmbuf_mtod(m, const uint8_t*), std::min<uint32_t>(m->data_len, file.snaplen()),
                                  ts_ns, mark);
        return;
    }
    // A record read for its keys that is its packet's first bytes, all in
    // the first segment: read there (the record's own bytes), with no
    // start kept and no call of its own around it; an unmarked IPv4 or
    // IPv6 packet whose flow the flow cache holds, and a frame that gives
    // no key, with no call at all (add_read: with its flow's key built
    // inline, some 30 instructions a 64-byte record less than through a
    // call, and 125 an IPv6 packet or a tagged frame: docs/performance.md).
    if (path == path_t::keys && cut.skip == 0 && cut.prefix_len == 0 && m->nb_segs == 1) {
        file.write_packet(m, ts_ns, cut);
        const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
        const uint32_t bound = std::min(file.snaplen(), uint32_t{index_packet_bytes});
        const uint32_t len = std::min(std::min(cut.end, uint32_t{m->data_len}), bound);
        index.add_read(data, len, ts_ns, mark);
        return;
    }
    write_indexed_other(file, index, m, ts_ns, cut, mark, start);
}

} // namespace linecap
