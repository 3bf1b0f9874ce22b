#include "writers/writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include <fmt/format.h>
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "core/decap.h"
#include "core/utc_time.h"

namespace linecap {

namespace {

// After this many empty passes over its rings a writer naps: it shares its
// core with the control thread, and an idle busy-poll would starve it. The
// nap is far shorter than the time a ring takes to fill at line rate.
constexpr unsigned idle_passes_before_nap = 256;

// Housekeeping (flushes, counter publication, closing finished time windows)
// runs every 10 ms of TSC.
constexpr uint64_t housekeeping_per_second = 100;

// A live time-rotated file is closed this long after its window ends even if
// no packet comes to trigger it, so operators get complete files on time.
// "Live": its last packet is within live_skew of the wall clock (a replay's
// packets carry old times, and its files rotate on packet times only).
constexpr uint64_t window_grace_ns = 1000000000ull;
constexpr uint64_t live_skew_ns = 60ull * 1000000000ull;

stop_reason reason_for_errno(int err)
{
    return err == ENOSPC || err == EDQUOT ? stop_reason::disk_full : stop_reason::error;
}

// The start of the aligned window holding `ts`: multiples of the interval
// since the epoch, so every writer's files cover the same spans.
uint64_t window_start(uint64_t ts, uint64_t interval_ns)
{
    return ts - ts % interval_ns;
}

void publish(writer& w, unsigned slot)
{
    session_output& out = w.outputs[slot];
    session_counters& c = w.counters[slot];
    const bool open = out.file.file().is_open();
    c.written_packets.set(out.base_packets + out.closed_packets + (open ? out.file.durable_packets() : 0));
    c.written_bytes.set(out.base_bytes + out.closed_bytes + (open ? out.file.file().durable_size() : 0));
}

void fail(writer& w, unsigned slot, int err, const std::string& what)
{
    session_output& out = w.outputs[slot];
    session& s = *out.owner;
    s.fail(reason_for_errno(err), fmt::format("writer {}: {}/{}: {}", w.index, s.spec.dir, what, strerror(err)));
    out.closed = true;
}

// Deletes the oldest closed files beyond the session's keep count.
void apply_keep(writer& w, unsigned slot)
{
    session_output& out = w.outputs[slot];
    const uint32_t keep = out.owner->spec.rotate.keep;
    while (keep != 0 && out.on_disk.size() > keep) {
        unlinkat(out.owner->dir_fd, out.on_disk.front().c_str(), 0);
        out.on_disk.pop_front();
        w.counters[slot].files_deleted.add(1);
    }
}

// Closes the session's current file on this writer. A file that failed is
// cut back to its last complete record; the packets that did not make it are
// counted as write drops and the session stops with the reason.
void close_file(writer& w, unsigned slot)
{
    session_output& out = w.outputs[slot];
    output_file& file = out.file.file();
    if (!file.is_open())
        return;
    const session& s = *out.owner;
    const int rc = out.file.close(w.clock->now_ns(), s.read_interface);
    out.closed_packets += out.file.durable_packets();
    out.closed_bytes += file.durable_size();
    w.counters[slot].write_drops.add(out.file.packets() - out.file.durable_packets());
    out.on_disk.push_back(file.name());
    publish(w, slot);
    if (rc != 0) {
        // A write error names the file it hit; otherwise closing failed:
        // the rename to its final name (its folder removed, made read-only,
        // or the name taken), and the file is left NAME.part.
        const bool write_failed = file.error() != 0;
        fail(w, slot, -rc, write_failed ? file.name() : file.name() + ".part: cannot close it and rename it " + file.name());
        return;
    }
    apply_keep(w, slot);
}

// Ends the session on this writer; later packets for it are counted as
// limit drops or write drops, by why it ended here.
void end_output(writer& w, unsigned slot, bool by_limit = false)
{
    close_file(w, slot);
    session_output& out = w.outputs[slot];
    if (!out.closed)
        out.closed_by_limit = by_limit;
    out.closed = true;
}

// Opens the session's next file on this writer, named after `start_ns`.
int open_file(writer& w, unsigned slot, uint64_t start_ns, std::string& error)
{
    session_output& out = w.outputs[slot];
    session& s = *out.owner;
    const std::string name = capture_file_name(s.spec, w.index, ++out.seq, start_ns);
    capture_file_options options;
    options.format = s.spec.format;
    options.snaplen = s.spec.snaplen;
    options.chunk_bytes = s.spec.chunk_bytes;
    options.direct = s.spec.direct_io;
    options.interfaces = &s.interfaces;
    options.start_ns = s.start_ns;
    options.linktype = linktype_of(s.spec.decap);
    if (const int rc = out.file.open(s.dir_fd, name, options); rc != 0) {
        error = fmt::format("writer {}: cannot create {}/{}.part: {}", w.index, s.spec.dir, name, strerror(-rc));
        return rc;
    }
    out.window_end_ns = UINT64_MAX;   // set by the file's first packet
    // What opening and closing the file add counts against the byte limit
    // from the start, so a limit holds once the file is closed. A file whose
    // header and closing blocks alone do not fit is not kept at all.
    if (!s.bytes_left.take_all(out.file.file().size() + out.file.closing_bytes())) {
        out.file.file().discard();
        s.stop(stop_reason::bytes);
        end_output(w, slot, true);
        return 0;
    }
    w.counters[slot].files.add(1);
    return 0;
}

// Opens a new file mid-capture; an error stops the session (a full disk, a
// file descriptor limit, a folder removed under us).
bool reopen(writer& w, unsigned slot, uint64_t start_ns)
{
    std::string error;
    const int rc = open_file(w, slot, start_ns, error);
    if (rc != 0) {
        session_output& out = w.outputs[slot];
        out.owner->fail(reason_for_errno(-rc), error);
        out.closed = true;
        return false;
    }
    return !w.outputs[slot].closed;
}

bool rotation_due(const session_output& out, const rotate_policy& rotate, uint64_t ts, uint32_t record)
{
    return out.file.packets() > 0 &&
           ((rotate.packets != 0 && out.file.packets() >= rotate.packets) ||
            (rotate.bytes != 0 && out.file.file().size() + record + out.file.closing_bytes() > rotate.bytes) ||
            ts >= out.window_end_ns);
}

// What session `s` writes of `m`: the whole packet (whose original length
// is `wire_len`: more than its bytes for a record of a capture file read
// with -r), or for a decap session its inner packet, found again here with
// the session's ports (the same bounded walk the classifier made; only
// decap sessions' packets pay for it).
inline record_cut cut_for(const session& s, const rte_mbuf* m, uint32_t wire_len)
{
    if (unlikely(s.spec.decap != decap_mode::none))
        return decap_of(m, s.spec.tunnel, s.spec.decap);
    record_cut cut;
    cut.orig_len = wire_len;
    return cut;
}

inline void write_one(writer& w, unsigned slot, const rte_mbuf* m, uint64_t ts_ns, uint32_t wire_len)
{
    session_output& out = w.outputs[slot];
    if (unlikely(out.closed || out.owner == nullptr)) {
        if (out.closed_by_limit)
            w.counters[slot].limit_drops.add(1);
        else
            w.counters[slot].write_drops.add(1);
        return;
    }
    session& s = *out.owner;
    const record_cut cut = cut_for(s, m, wire_len);
    const uint32_t record = out.file.record_size(record_bytes(m, cut));
    if (unlikely(!s.packets_left.unlimited()) && s.packets_left.take(1) == 0) {
        s.stop(stop_reason::packets);
        w.counters[slot].limit_drops.add(1);
        end_output(w, slot, true);
        return;
    }
    if (unlikely(!s.bytes_left.unlimited()) && !s.bytes_left.take_all(record)) {
        s.stop(stop_reason::bytes);
        w.counters[slot].limit_drops.add(1);
        end_output(w, slot, true);
        return;
    }

    const rotate_policy& rotate = s.spec.rotate;
    if (unlikely(rotate.any())) {
        const bool open = out.file.file().is_open();
        if (!open || rotation_due(out, rotate, ts_ns, record)) {
            // A new time window starts at its aligned time; a size or count
            // rotation, or a late packet, stays in the current window:
            // windows never go back.
            const uint64_t interval = rotate.seconds * ns_per_second;
            const bool new_window = interval != 0 && out.window_end_ns != UINT64_MAX && ts_ns >= out.window_end_ns;
            const uint64_t start = new_window ? window_start(ts_ns, interval) : ts_ns;
            const uint64_t window_end = out.window_end_ns;
            close_file(w, slot);
            if (out.closed || !reopen(w, slot, start)) {
                w.counters[slot].write_drops.add(1);
                return;
            }
            if (!new_window)
                out.window_end_ns = window_end;
        }
        if (out.window_end_ns == UINT64_MAX && rotate.seconds != 0)
            out.window_end_ns = window_start(ts_ns, rotate.seconds * ns_per_second) + rotate.seconds * ns_per_second;
    }
    out.file.write_packet(m, ts_ns, cut);
    out.last_ts_ns = ts_ns;
}

// Mbuf headers (both cache lines: the metadata is in the second) are
// prefetched further ahead than packet data, whose address is in the first.
constexpr unsigned prefetch_headers_ahead = 4;
constexpr unsigned prefetch_data_ahead = 2;

// Do sessions `a` and `b` write the same record of every packet?
bool same_records(const session_output& a, const session_output& b)
{
    const decap_mode da = a.owner != nullptr ? a.owner->spec.decap : decap_mode::none;
    const decap_mode db = b.owner != nullptr ? b.owner->spec.decap : decap_mode::none;
    return da == db && (da == decap_mode::none || a.owner->spec.tunnel == b.owner->spec.tunnel);
}

// One packet of the burst for `watch`, if the pace allows and the pool has
// a free sample; otherwise nothing (watch is a glance, never a cost). The
// sample is the start of the record a session writes of the packet (for a
// decap session the inner packet, with its length), so the line describes
// what the session writes. It serves every watched session that writes
// the same record; when the packet's watched sessions write it
// differently, whose record is sampled takes turns.
void sample_for_watch(writer& w, rte_mbuf** pkts, unsigned n)
{
    const uint64_t now = rte_rdtsc();
    if (now < w.next_sample_tsc)
        return;
    const session_mask watched = w.watched.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        const session_mask sessions = meta_of(pkts[i])->sessions & watched;
        if (sessions == 0)
            continue;
        void* obj;
        if (rte_ring_sc_dequeue(w.watch_free, &obj) != 0)
            return;   // the control thread is behind: skip
        auto* sample = static_cast<watch_sample*>(obj);
        const rte_mbuf* m = pkts[i];
        // The first of the packet's watched sessions from this turn's slot on.
        unsigned slot = w.watch_turn % max_sessions;
        while (!(sessions >> slot & 1))
            slot = (slot + 1) % max_sessions;
        w.watch_turn = static_cast<uint8_t>((slot + 1) % max_sessions);
        const session_output& out = w.outputs[slot];
        const uint32_t wire_len = w.wire_len_in_meta ? meta_of(m)->wire_len : m->pkt_len;
        const record_cut cut = out.owner != nullptr ? cut_for(*out.owner, m, wire_len) : record_cut{};
        sample->sessions = 0;
        for_each_session(sessions, [&](unsigned other) {
            if (same_records(out, w.outputs[other]))
                sample->sessions |= static_cast<session_mask>(1u << other);
        });
        sample->ts_ns = meta_of(m)->ts_ns;
        sample->wire_len = record_length(m, cut);
        sample->caplen = copy_record_head(m, cut, sample->data, watch_snap);
        sample->raw_ip = out.owner != nullptr && out.owner->spec.decap == decap_mode::ip;   // its file's link type
        rte_ring_sp_enqueue(w.watch_samples, sample);   // cannot fail: the ring holds the whole pool
        w.next_sample_tsc = now + w.clock->hz / watch_samples_per_second;
        return;
    }
}

void write_burst(writer& w, rte_mbuf** pkts, unsigned n)
{
    for (unsigned i = 0; i < n && i < prefetch_headers_ahead; i++) {
        rte_mbuf_prefetch_part1(pkts[i]);
        rte_mbuf_prefetch_part2(pkts[i]);
    }
    session_mask touched = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i + prefetch_headers_ahead < n) {
            rte_mbuf_prefetch_part1(pkts[i + prefetch_headers_ahead]);
            rte_mbuf_prefetch_part2(pkts[i + prefetch_headers_ahead]);
        }
        if (i + prefetch_data_ahead < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + prefetch_data_ahead], void*));
        const rte_mbuf* m = pkts[i];
        const packet_meta* meta = meta_of(m);
        touched |= meta->sessions;
        // Constant per writer: whether the pipeline reads a capture file.
        const uint32_t wire_len = w.wire_len_in_meta ? meta->wire_len : m->pkt_len;
        for_each_session(meta->sessions, [&](unsigned slot) { write_one(w, slot, m, meta->ts_ns, wire_len); });
    }
    if (unlikely((touched & w.watched.load(std::memory_order_relaxed)) != 0))
        sample_for_watch(w, pkts, n);
    rte_pktmbuf_free_bulk(pkts, n);

    // A write error shows up here, once per burst, not once per packet.
    for_each_session(touched, [&](unsigned slot) {
        if (unlikely(w.outputs[slot].file.file().error() != 0))
            end_output(w, slot);
    });
}

void housekeeping(writer& w, bool flush_due)
{
    const uint64_t now = w.clock->now_ns();
    for (unsigned slot = 0; slot < max_sessions; slot++) {
        session_output& out = w.outputs[slot];
        if (out.owner == nullptr || out.closed)
            continue;
        output_file& file = out.file.file();
        if (!file.is_open())
            continue;
        if (out.window_end_ns != UINT64_MAX && now >= out.window_end_ns + window_grace_ns &&
            out.last_ts_ns + live_skew_ns > now && out.last_ts_ns < now + live_skew_ns) {
            close_file(w, slot);   // the next packet opens the next window's file
            continue;
        }
        if (flush_due && file.has_pending() && file.flush() != 0)
            end_output(w, slot);
        publish(w, slot);
    }
}

// Writes every packet already in the rings (up to their length now: the
// workers may go on filling them with other sessions' packets).
void drain_queued(writer& w)
{
    rte_mbuf* pkts[writer_burst];
    for (unsigned r = 0; r < w.nb_rings; r++) {
        unsigned left = rte_ring_count(w.rings[r]);
        while (left > 0) {
            const unsigned n = rte_ring_sc_dequeue_burst(w.rings[r], reinterpret_cast<void**>(pkts),
                                                         std::min(left, writer_burst), nullptr);
            if (n == 0)
                break;
            write_burst(w, pkts, n);
            left -= n;
        }
    }
}

void carry_out(writer& w, writer_command& cmd)
{
    switch (cmd.what) {
    case writer_command::kind::open_session: {
        cmd.rc = w.open_session(cmd.slot, cmd.target, cmd.error);
        break;
    }
    case writer_command::kind::close_session:
        // The control thread has taken the session out of the classifier and
        // waited until no worker can still be classifying with it: every
        // packet for it is in a ring by now.
        drain_queued(w);
        if (w.outputs[cmd.slot].owner != nullptr)
            end_output(w, cmd.slot);
        break;
    }
    cmd.done.store(true, std::memory_order_release);
}

} // namespace

std::vector<std::string> files_on_disk(const session_output& out)
{
    std::vector<std::string> names(out.on_disk.begin(), out.on_disk.end());
    if (out.file.file().is_open())
        names.push_back(out.file.file().name() + ".part");
    return names;
}

std::string capture_file_name(const output_spec& spec, unsigned writer_index, uint32_t seq,
                              uint64_t start_ns)
{
    return fmt::format("{}-w{}-{:06}-{}.{}", spec.name, writer_index, seq, utc_basic(start_ns),
                       format_extension(spec.format));
}

int writer::open_session(unsigned slot, session* s, std::string& error)
{
    session_output& out = outputs[slot];
    out.owner = s;
    out.seq = 0;
    // Everything a previous session in this slot left behind (the file
    // object itself is closed already, and keeps its buffer).
    out.closed = false;
    out.closed_by_limit = false;
    out.window_end_ns = UINT64_MAX;
    out.last_ts_ns = 0;
    out.closed_packets = out.closed_bytes = 0;
    out.base_packets = counters[slot].written_packets.get();
    out.base_bytes = counters[slot].written_bytes.get();
    out.on_disk.clear();
    const int rc = open_file(*this, slot, s->start_ns, error);
    if (rc != 0)
        out.owner = nullptr;
    return rc;
}

int writer_main(void* arg)
{
    writer& w = *static_cast<writer*>(arg);
    rte_mbuf* pkts[writer_burst];
    const uint64_t housekeeping_tsc = w.clock->hz / housekeeping_per_second;
    uint64_t next_housekeeping = rte_rdtsc() + housekeeping_tsc;
    uint64_t next_flush = rte_rdtsc() + w.flush_interval_tsc;
    unsigned idle_passes = 0;

    for (;;) {
        // Read before draining: once every worker has stopped, a pass that
        // finds all rings empty has seen the last packet.
        const bool stopping = w.stop->load(std::memory_order_acquire);
        unsigned got = 0;
        for (unsigned r = 0; r < w.nb_rings; r++) {
            const unsigned n = rte_ring_sc_dequeue_burst(w.rings[r], reinterpret_cast<void**>(pkts),
                                                         writer_burst, nullptr);
            if (n == 0)
                continue;
            write_burst(w, pkts, n);
            got += n;
        }

        if (got == 0) {
            if (stopping)
                break;
            if (++idle_passes >= idle_passes_before_nap)
                rte_delay_us_sleep(w.idle_nap_us);
        } else {
            idle_passes = 0;
        }

        void* cmd;
        while (unlikely(rte_ring_sc_dequeue(w.commands, &cmd) == 0))
            carry_out(w, *static_cast<writer_command*>(cmd));

        const uint64_t now = rte_rdtsc();
        if (now >= next_housekeeping) {
            const bool flush_due = now >= next_flush;
            housekeeping(w, flush_due);
            next_housekeeping = now + housekeeping_tsc;
            if (flush_due)
                next_flush = now + w.flush_interval_tsc;
        }
    }

    for (unsigned slot = 0; slot < max_sessions; slot++)
        if (w.outputs[slot].owner != nullptr)
            end_output(w, slot);
    return 0;
}

} // namespace linecap
