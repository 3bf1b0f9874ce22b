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


namespace linecap {

namespace {

// After this many empty passes over its rings a writer naps on its doorbell
// (doorbell.h): it shares its core with the control thread, and an idle
// busy-poll would starve it. A worker whose ring passes a quarter full ends
// the nap: however long the nap, the writer is woken with three quarters
// of each ring free.
constexpr unsigned idle_passes_before_nap = 256;

// Housekeeping (flushes, counter publication, closing finished time windows)
// runs every 10 ms of TSC.
constexpr uint64_t housekeeping_per_second = 100;

// Mbuf headers (both cache lines: the metadata is in the second) are
// prefetched further ahead than packet data, whose address is in the first.
constexpr unsigned prefetch_headers_ahead = 4;
constexpr unsigned prefetch_data_ahead = 2;

// Do sessions `a` and `b` write the same record of every packet?
bool same_records(const session_output& a, const session_output& b)
{
    const decap_mode da = a.owner() != nullptr ? a.owner()->spec.decap : decap_mode::none;
    const decap_mode db = b.owner() != nullptr ? b.owner()->spec.decap : decap_mode::none;
    return da == db && (da == decap_mode::none || a.owner()->spec.tunnel == b.owner()->spec.tunnel);
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
        const record_cut cut = out.owner() != nullptr ? cut_for(*out.owner(), m, wire_len) : record_cut{};
        sample->sessions = 0;
        for_each_session(sessions, [&](unsigned other) {
            if (same_records(out, w.outputs[other]))
                sample->sessions |= static_cast<session_mask>(1u << other);
        });
        sample->ts_ns = meta_of(m)->ts_ns;
        sample->wire_len = record_length(m, cut);
        sample->caplen = copy_record_head(m, cut, sample->data, watch_snap);
        sample->raw_ip = out.owner() != nullptr && out.owner()->spec.decap == decap_mode::ip;   // its file's link type
        rte_ring_sp_enqueue(w.watch_samples, sample);   // cannot fail: the ring holds the whole pool
        w.next_sample_tsc = now + w.clock->hz / watch_samples_per_second;
        return;
    }
}

// Each session with a limit takes what this burst holds for it from the
// budget its writers share, in one atomic operation per limit: exactly the
// packets and bytes the limit allows are written, the rest are limit drops,
// as if taken one by one (session_output::write).
void take_budgets(writer& w, rte_mbuf* const* pkts, unsigned n)
{
    uint32_t counts[max_sessions] = {};
    uint64_t bytes[max_sessions] = {};
    session_mask counted = 0, sized = 0;
    for (unsigned i = 0; i < n; i++) {
        const rte_mbuf* m = pkts[i];
        const packet_meta* meta = meta_of(m);
        const session_mask by_count = meta->sessions & w.packet_limited;
        const session_mask by_size = meta->sessions & w.byte_limited;
        counted |= by_count;
        sized |= by_size;
        for_each_session(by_count, [&](unsigned slot) { counts[slot]++; });
        if (by_size != 0) {
            const uint32_t wire_len = w.wire_len_in_meta ? meta->wire_len : m->pkt_len;
            for_each_session(by_size, [&](unsigned slot) { bytes[slot] += w.outputs[slot].record_size(m, wire_len); });
        }
    }
    // A session short of packets writes only some of the records summed:
    // those take their bytes one by one, or bytes would be held for records
    // that are never written.
    session_mask short_of_packets = 0;
    for_each_session(counted, [&](unsigned slot) {
        if (w.outputs[slot].take_packet_budget(counts[slot]) < counts[slot])
            short_of_packets |= static_cast<session_mask>(1u << slot);
    });
    for_each_session(static_cast<session_mask>(sized & ~short_of_packets),
                     [&](unsigned slot) { w.outputs[slot].take_byte_budget(bytes[slot]); });
}

void write_burst(writer& w, rte_mbuf** pkts, unsigned n)
{
    if (unlikely((w.packet_limited | w.byte_limited) != 0))
        take_budgets(w, pkts, n);
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
        const uint32_t mark = *index_mark_of(m);   // written by the worker for every packet it hands over
        for_each_session(meta->sessions, [&](unsigned slot) { w.outputs[slot].write(m, meta->ts_ns, wire_len, mark); });
    }
    if (unlikely((touched & w.watched.load(std::memory_order_relaxed)) != 0))
        sample_for_watch(w, pkts, n);
    rte_pktmbuf_free_bulk(pkts, n);

    // A write error shows up here, once per burst, not once per packet, as
    // does a block's place reached by an index.
    for_each_session(touched, [&](unsigned slot) { w.outputs[slot].end_burst(); });
}

// close_session commands whose file's close was held (session_output::end)
// are done once it is closed, or at once when `wait`, closing it here.
void finish_held_closes(writer& w, bool wait)
{
    for (auto it = w.held_closes.begin(); it != w.held_closes.end();) {
        session_output& out = w.outputs[(*it)->slot];
        if (wait)
            out.end();
        if (out.close_held()) {
            ++it;
            continue;
        }
        w.forget_limits((*it)->slot);
        (*it)->done.store(true, std::memory_order_release);
        it = w.held_closes.erase(it);
    }
}

void housekeeping(writer& w, bool flush_due)
{
    const uint64_t now = w.clock->now_ns();
    for (session_output& out : w.outputs)
        out.housekeeping(now, flush_due);
    if (!w.held_closes.empty())
        finish_held_closes(w, false);
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
        // Behind a stalled disk the file's close is held until its chunk
        // write is done (session_output::end), and the control thread waits
        // for it meanwhile; this writer's other sessions go on.
        w.outputs[cmd.slot].end(false, true);
        if (w.outputs[cmd.slot].close_held()) {
            w.held_closes.push_back(&cmd);
            return;
        }
        w.forget_limits(cmd.slot);
        break;
    }
    cmd.done.store(true, std::memory_order_release);
}

// Whether a writer about to sleep on its doorbell has nothing waiting: no
// packet in a ring, no command, no stop.
bool nothing_to_do(const writer& w)
{
    for (unsigned r = 0; r < w.nb_rings; r++)
        if (!rte_ring_empty(w.rings[r]))
            return false;
    return rte_ring_empty(w.commands) && !w.stop->load(std::memory_order_acquire);
}

} // namespace

int writer::open_session(unsigned slot, session* s, std::string& error)
{
    const auto bit = static_cast<session_mask>(1u << slot);
    const auto with = [bit](session_mask set, bool limited) {
        return static_cast<session_mask>(limited ? set | bit : set & ~bit);
    };
    packet_limited = with(packet_limited, !s->packets_left.unlimited());
    byte_limited = with(byte_limited, !s->bytes_left.unlimited());
    outputs[slot].attach(index, clock, &counters[slot], reaper, &marks_epoch);
    const int rc = outputs[slot].open(s, error);
    if (rc != 0)
        forget_limits(slot);
    return rc;
}

void writer::forget_limits(unsigned slot)
{
    const auto kept = static_cast<session_mask>(~(1u << slot));
    packet_limited &= kept;
    byte_limited &= kept;
}

int writer_main(void* arg)
{
    writer& w = *static_cast<writer*>(arg);
    rte_mbuf* pkts[writer_burst];
    const uint64_t housekeeping_tsc = w.clock->hz / housekeeping_per_second;
    uint64_t next_housekeeping = rte_rdtsc() + housekeeping_tsc;
    uint64_t next_flush = rte_rdtsc() + w.flush_interval_tsc;
    unsigned idle_passes = 0;
    uint64_t idle_since = 0;   // TSC of this idle spell's first nap

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
        if (unlikely(w.test_pause_us != 0) && got != 0)
            rte_delay_us_sleep(w.test_pause_us);

        if (got == 0) {
            if (stopping)
                break;
            if (++idle_passes >= idle_passes_before_nap) {
                const uint64_t now = rte_rdtsc();
                if (idle_passes == idle_passes_before_nap)
                    idle_since = now;
                // A nap while packets came lately, a sleep once none has
                // for a while; either ends by the next housekeeping (when
                // it is due, no wait: it runs below).
                if (now < next_housekeeping) {
                    const auto ns = [&w](uint64_t tsc) {
                        return static_cast<uint64_t>(static_cast<double>(tsc) * 1e9 / static_cast<double>(w.clock->hz));
                    };
                    const idle_wait wait =
                        choose_idle_wait(ns(now - idle_since), ns(next_housekeeping - now), uint64_t{w.idle_nap_us} * 1000);
                    sleep_on_doorbell(w.doorbell, wait.timeout_ns, [&w] { return nothing_to_do(w); }, wait.how);
                }
            }
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

    finish_held_closes(w, true);
    for (session_output& out : w.outputs)
        out.end();
    return 0;
}

} // namespace linecap
