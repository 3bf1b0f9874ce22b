// One session's files on one writer: the current file, rotation (by size,
// packets and aligned time windows), keep-last-N, the session's packet and
// byte limits, and why writing stopped here (a limit, a write error).
//
// A session_output belongs to a writer lcore and is touched by it only
// (writers/writer.h holds one per session slot); what it counts goes to the
// slot's session_counters, which any thread may read. write() is the
// per-packet path: inline, with everything that is not per packet (opening,
// closing, rotating, deleting) out of line in session_output.cpp.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>

#include "core/counters.h"
#include "core/decap.h"
#include "core/tsc_clock.h"
#include "writers/capture_index.h"
#include "writers/capture_writer.h"
#include "writers/file_reaper.h"
#include "writers/index_write.h"
#include "writers/session.h"

namespace linecap {

// The counters of one session slot on one writer. Written only by that
// writer. Cumulative over every session that has held the slot, never reset,
// as the workers' per-slot counters are: a session counts from the values
// the slot held when it took it (session::base_writers, engine/stats.cpp).
struct session_counters {
    counter written_packets;   // records that reached the kernel whole
    counter written_bytes;     // file bytes that reached the kernel, headers included
    counter files;             // files created
    counter files_deleted;     // closed files deleted to keep the last N (rotate.keep)
    counter write_drops;       // packets lost to a write error (or after one)
    counter limit_drops;       // packets matched after a limit was reached
    counter index_errors;      // files whose index could not be made or written whole (docs/query.md)
};

// The counters of a slot on one writer, read now (matched and dropped_ring,
// the workers' part, stay 0).
inline session_totals writer_slot_totals(const session_counters& c)
{
    session_totals t;
    t.written_packets = c.written_packets.get();
    t.written_bytes = c.written_bytes.get();
    t.files = c.files.get();
    t.files_deleted = c.files_deleted.get();
    t.dropped_write = c.write_drops.get();
    t.dropped_limit = c.limit_drops.get();
    t.index_errors = c.index_errors.get();
    return t;
}

// File name of a writer's file: <session>-w<writer>-<seq>-<UTC start>.<ext>
std::string capture_file_name(const output_spec& spec, unsigned writer_index, uint32_t seq,
                              uint64_t start_ns);

// A name capture_file_name() gives, closed or still .part: what a merge of
// a session's folder takes, and nothing else (session.json, a merge's
// output, files put there by hand).
bool is_writer_file_name(std::string_view name);

// The start of the aligned window holding `ts`: multiples of the interval
// since the epoch, so every writer's files cover the same spans.
inline uint64_t window_start(uint64_t ts, uint64_t interval_ns)
{
    return ts - ts % interval_ns;
}

// What session `s` writes of `m`: the whole packet (whose original length
// is `wire_len`: for a record of a capture file read with -r, the length
// the file gives, more than its bytes when snapped, less in a malformed
// record, which record_length raises), or for a decap session its inner
// packet, found again here with the session's ports (the same bounded walk
// the classifier made; only decap sessions' packets pay for it).
inline record_cut cut_for(const session& s, const rte_mbuf* m, uint32_t wire_len)
{
    if (unlikely(s.spec.decap != decap_mode::none))
        return decap_of(m, s.spec.tunnel, s.spec.decap);
    record_cut cut;
    cut.orig_len = wire_len;
    return cut;
}

class session_output {
public:
    // Ties the output to its writer: the writer's number (in file names and
    // messages), the clock (file times), the slot's counters, what
    // closes the files keep-N deletes (null: this output, on its lcore),
    // and the writer's index epoch (index_flow.h; null: the index's own,
    // which no worker reads: then write() must be given no mark).
    void attach(unsigned writer_index, const tsc_clock* clock, session_counters* counters,
                file_reaper* reaper = nullptr, index_epoch* epoch = nullptr)
    {
        _writer_index = writer_index;
        _clock = clock;
        _counters = counters;
        _reaper = reaper;
        if (epoch != nullptr)
            _index.use_epoch(epoch);
    }

    // Starts writing session `s` here: its first file, named after the
    // session's start. Returns 0, or -errno with `error` saying what failed
    // (the output is then unused again).
    int open(session* s, std::string& error);

    // Writes `m` (received at `ts_ns`, `wire_len` bytes on the wire, marked
    // `mark` by its worker: index_flow.h) as a record of this session:
    // takes the session's limits, rotates first if a rotation is due. A
    // packet past a limit or after a write error is counted as a limit
    // drop or a write drop.
    void write(const rte_mbuf* m, uint64_t ts_ns, uint32_t wire_len, uint32_t mark = index_unmarked)
    {
        if (unlikely(_closed || _owner == nullptr)) {
            if (_closed_by_limit)
                _counters->limit_drops.add(1);
            else
                _counters->write_drops.add(1);
            return;
        }
        session& s = *_owner;
        const record_cut cut = cut_for(s, m, wire_len);
        const uint32_t record = _file.record_size(record_bytes(m, cut));
        if (unlikely(!s.packets_left.unlimited())) {
            // What the burst took (take_packet_budget) first, else one more.
            if (_packets_granted != 0) {
                _packets_granted--;
            } else if (s.packets_left.take(1) == 0) {
                stop_at_limit(stop_reason::packets);
                return;
            }
        }
        if (unlikely(!s.bytes_left.unlimited())) {
            if (_bytes_granted >= record) {
                _bytes_granted -= record;
            } else if (!s.bytes_left.take_all(record)) {
                stop_at_limit(stop_reason::bytes);
                return;
            }
        }
        const rotate_policy& rotate = s.spec.rotate;
        if (unlikely(rotate.any())) {
            if ((!_file.file().is_open() || rotation_due(rotate, ts_ns, record)) && !rotate_file(ts_ns)) {
                _counters->write_drops.add(1);
                return;
            }
            if (_window_end_ns == UINT64_MAX && rotate.seconds != 0)
                _window_end_ns = window_start(ts_ns, rotate.seconds * ns_per_second) + rotate.seconds * ns_per_second;
        }
        if (_index.is_open()) {
            // A worker's mark does not speak for a decap session's record
            // (the inner packet) nor for one cut inside its flow's keys:
            // its indexer takes none (take_marks, from open()).
            write_indexed(_file, _index, m, ts_ns, cut, mark, _record_start);
        } else {
            _file.write_packet(m, ts_ns, cut);
        }
        _last_ts_ns = ts_ns;
    }

    // Before a burst that holds `count` packets for a session with a packet
    // limit: takes up to that many from the session's budget, in one atomic
    // operation, for write() to spend (it takes its own packet by packet
    // without this). Each of those packets reaches write(), so nothing taken
    // is left unspent while the output is open.
    // Returns how many were granted.
    uint64_t take_packet_budget(uint32_t count)
    {
        if (_owner != nullptr && !_closed)
            _packets_granted = _owner->packets_left.take(count);
        return _packets_granted;
    }

    // The same for a byte limit: `bytes` is what this burst's records for
    // the session add up to (record_size). Taken whole or not at all, as a
    // record is: when less is left, write() takes record by record and the
    // record that does not fit ends the session. A file opened within the
    // burst gives back what is left first (open_file), so its header is
    // charged between the records around it, as when taken one by one.
    void take_byte_budget(uint64_t bytes)
    {
        if (_owner != nullptr && !_closed)
            _bytes_granted = _owner->bytes_left.take_all(bytes) ? bytes : 0;
    }

    // The bytes write() would take for `m` (see write()), for take_byte_budget.
    uint32_t record_size(const rte_mbuf* m, uint32_t wire_len) const
    {
        return _owner == nullptr || _closed ? 0 : _file.record_size(record_bytes(m, cut_for(*_owner, m, wire_len)));
    }

    // Closes the current file and writes no more: later packets are limit
    // drops (by_limit) or write drops.
    // `hold`: behind a stalled disk (output_file::write_settled) the file's
    // close is held rather than waited for on the writer's core:
    // housekeeping closes it once the chunk write is done, and close_held()
    // says so until then. Without, the file is closed before end() returns.
    void end(bool by_limit = false, bool hold = false);
    bool close_held() const { return _close_held; }

    // After a burst: a write error found by the file ends the output; an
    // index whose next record reaches its block's place is told
    // (capture_file_indexer::end_burst).
    void end_burst()
    {
        if (unlikely(_file.file().error() != 0))
            end();
        else if (_index.is_open())
            _index.end_burst(_file.file().size());
    }

    // Every few milliseconds: closes a live time window's file once its
    // window is over (even with no packet to trigger it), flushes if
    // flush_due, and publishes the written counters.
    void housekeeping(uint64_t now_ns, bool flush_due);

    session* owner() const { return _owner; }
    bool active() const { return _owner != nullptr; }

    // Index chunk size for this output's files (tests; default index_chunk_bytes).
    void set_index_chunk_bytes(uint64_t bytes) { _index.set_chunk_bytes(bytes); }
    // The names of the files this output has on disk, closed ones first.
    // Only from the writer lcore, or once the writer has stopped.
    std::vector<std::string> files_on_disk() const;

private:
    void publish();
    void fail(int err, const std::string& what);
    void apply_keep();
    void close_file();
    int open_file(uint64_t start_ns, std::string& error);
    bool reopen(uint64_t start_ns);
    void stop_at_limit(stop_reason why);
    void give_back_grants();
    // A file is full (packets, or bytes with this record and the closing
    // blocks), or the packet is past the file's time window.
    bool rotation_due(const rotate_policy& rotate, uint64_t ts_ns, uint32_t record) const
    {
        return _file.packets() > 0 &&
               ((rotate.packets != 0 && _file.packets() >= rotate.packets) ||
                (rotate.bytes != 0 && _file.file().size() + record + _file.closing_bytes() > rotate.bytes) ||
                ts_ns >= _window_end_ns);
    }
    // Closes the current file (if open) and opens the next for a packet at
    // ts_ns; false if the output ended instead (the packet is not written).
    // While the file's chunk write is stalled the rotation waits and the
    // packet goes into the current file: closing it would wait for the disk
    // on the writer's core (seconds behind a slow disk), while the workers'
    // rings overflow.
    bool rotate_file(uint64_t ts_ns);

    session* _owner = nullptr;      // null: slot unused
    capture_writer _file;           // the current file; not open between a time window's end and the next packet
    capture_file_indexer _index;    // its index, when the session has one ("index")
    record_start _record_start;     // what the index takes of each record
    uint32_t _seq = 0;              // number of the last file opened, from 1
    uint64_t _file_opened_ns = 0;   // writer clock: when open_file began the current file
    bool _closed = false;           // no more files: the session stopped here
    bool _closed_by_limit = false;  // ...because a limit was reached (else a write error)
    uint64_t _window_end_ns = UINT64_MAX;  // time rotation: the current file's window ends here
    // A rotation held while the file's chunk write is stalled (write_settled)
    // is tried again from here on (writer clock, ns).
    uint64_t _rotation_retry_ns = 0;
    bool _close_held = false;        // ended, its file still open: closed by housekeeping (end)
    uint64_t _last_ts_ns = 0;       // of the last packet written
    uint64_t _packets_granted = 0;  // of the packet limit: taken for this burst, not yet written
    uint64_t _bytes_granted = 0;    // of the byte limit: likewise
    uint64_t _closed_packets = 0;   // in files already closed
    uint64_t _closed_bytes = 0;
    uint64_t _base_packets = 0;     // the slot's written_packets when this session took it
    uint64_t _base_bytes = 0;       // ... and written_bytes
    std::deque<std::pair<std::string, uint64_t>> _on_disk;   // closed files still on disk, oldest first, and sizes
    uint64_t _on_disk_bytes = 0;    // their sum
    bool _said_keep_too_small = false;   // a file over keep_bytes' share was deleted as it closed (logged once)

    unsigned _writer_index = 0;
    const tsc_clock* _clock = nullptr;
    session_counters* _counters = nullptr;
    file_reaper* _reaper = nullptr;
};

} // namespace linecap
