#include "writers/writer.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

namespace linecap {

namespace {

// After this many empty passes over its rings a writer naps: it shares its
// core with the control thread, and an idle busy-poll would starve it. The
// nap is far shorter than the time a ring takes to fill at line rate.
constexpr unsigned idle_passes_before_nap = 256;
constexpr unsigned idle_nap_us = 20;

// Housekeeping (flush on timeout, counter publication) runs every 10 ms of TSC.
constexpr uint64_t housekeeping_per_second = 100;

stop_reason reason_for_errno(int err)
{
    return err == ENOSPC || err == EDQUOT ? stop_reason::disk_full : stop_reason::error;
}

std::string utc_basic(uint64_t ns)
{
    const time_t secs = static_cast<time_t>(ns / 1000000000u);
    tm utc{};
    gmtime_r(&secs, &utc);
    char text[32];
    strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
    return text;
}

void publish(writer& w, unsigned slot)
{
    session_output& out = w.outputs[slot];
    session_counters& c = w.counters[slot];
    const bool open = out.file.file().is_open();
    c.written_packets.set(out.closed_packets + (open ? out.file.durable_packets() : 0));
    c.written_bytes.set(out.closed_bytes + (open ? out.file.file().durable_size() : 0));
}

// Closes a session's current file on this writer. A file that failed is cut
// back to its last complete record; the packets that did not make it are
// counted as write drops and the session stops with the reason.
void close_output(writer& w, unsigned slot)
{
    session_output& out = w.outputs[slot];
    output_file& file = out.file.file();
    if (!file.is_open())
        return;
    const int rc = file.close();
    out.closed_packets += out.file.durable_packets();
    out.closed_bytes += file.durable_size();
    w.counters[slot].write_drops.add(out.file.packets() - out.file.durable_packets());
    publish(w, slot);
    if (rc != 0) {
        session& s = *out.owner;
        s.fail(reason_for_errno(-rc),
               fmt::format("writer {}: {}/{}: {}", w.index, s.spec.dir, file.name(), strerror(-rc)));
        out.closed = true;
    }
}

void end_output(writer& w, unsigned slot)
{
    close_output(w, slot);
    w.outputs[slot].closed = true;
}

inline void write_one(writer& w, unsigned slot, const rte_mbuf* m, uint64_t ts_ns)
{
    session_output& out = w.outputs[slot];
    if (unlikely(out.closed || out.owner == nullptr)) {
        const stop_reason why = out.owner ? out.owner->reason.load(std::memory_order_relaxed)
                                          : stop_reason::error;
        if (why == stop_reason::packets || why == stop_reason::bytes)
            w.counters[slot].limit_drops.add(1);
        else
            w.counters[slot].write_drops.add(1);
        return;
    }
    session& s = *out.owner;
    if (unlikely(!s.packets_left.unlimited()) && s.packets_left.take(1) == 0) {
        s.stop(stop_reason::packets);
        w.counters[slot].limit_drops.add(1);
        end_output(w, slot);
        return;
    }
    out.file.write_packet(m, ts_ns);
}

void write_burst(writer& w, rte_mbuf** pkts, unsigned n)
{
    session_mask touched = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i + 2 < n) {
            rte_prefetch0(pkts[i + 2]);
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], void*));
        }
        const rte_mbuf* m = pkts[i];
        const packet_meta* meta = meta_of(m);
        session_mask mask = meta->sessions;
        touched |= mask;
        while (mask != 0) {
            const unsigned slot = static_cast<unsigned>(__builtin_ctz(mask));
            mask &= static_cast<session_mask>(mask - 1);
            write_one(w, slot, m, meta->ts_ns);
        }
    }
    rte_pktmbuf_free_bulk(pkts, n);

    // A write error shows up here, once per burst, not once per packet.
    while (touched != 0) {
        const unsigned slot = static_cast<unsigned>(__builtin_ctz(touched));
        touched &= static_cast<session_mask>(touched - 1);
        if (unlikely(w.outputs[slot].file.file().error() != 0))
            end_output(w, slot);
    }
}

void housekeeping(writer& w, bool flush_due)
{
    for (unsigned slot = 0; slot < max_sessions; slot++) {
        session_output& out = w.outputs[slot];
        if (out.owner == nullptr || out.closed)
            continue;
        output_file& file = out.file.file();
        if (flush_due && file.has_pending() && file.flush() != 0)
            end_output(w, slot);
        publish(w, slot);
    }
}

} // namespace

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
    out.seq = 1;
    out.closed = false;
    out.closed_packets = out.closed_bytes = 0;
    const std::string name = capture_file_name(s->spec, index, out.seq, s->start_ns);
    const int rc = out.file.open(s->dir_fd, name, s->spec.format, s->spec.snaplen,
                                 s->spec.chunk_bytes);
    if (rc != 0) {
        error = fmt::format("writer {}: cannot create {}/{}.part: {}", index, s->spec.dir, name,
                            strerror(-rc));
        out.owner = nullptr;
        return rc;
    }
    out.files.push_back(name);
    counters[slot].files.add(1);
    return 0;
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
        w.packets_dequeued.add(got);

        if (got == 0) {
            if (stopping)
                break;
            if (++idle_passes >= idle_passes_before_nap)
                rte_delay_us_sleep(idle_nap_us);
        } else {
            idle_passes = 0;
        }

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
    w.done.store(true, std::memory_order_release);
    return 0;
}

} // namespace linecap
