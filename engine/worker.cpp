#include "engine/worker.h"

#include "engine/file_port.h"
#include "filters/classifier.h"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include <sys/prctl.h>

namespace linecap {

namespace {

// A packet's wall-clock time: the driver's timestamp where the port has one
// of known unit (net_pcap's µs, or the ns a capture file's reader put
// there), otherwise the TSC time at which its burst was received (one TSC
// read per burst: the packets of a burst all arrived before it, and we
// cannot know better). One test of the queue's constant source; the unit is
// the queue's too.
//
// net_pcap computes its microseconds from libpcap's tv_sec, which libpcap
// 1.10 sign-extends from the file's unsigned 32-bit seconds: a time past
// 2038-01-19 (2^31 s) arrives as a negative count. Adding 2^32 s puts it
// back where the file has it (pcap seconds run to 2106; capture_format.h).
// A file port's reader gives unsigned nanoseconds already.
constexpr uint64_t pcap_seconds_wrap_us = (uint64_t{1} << 32) * 1000000u;

inline uint64_t timestamp_of(const worker& w, const rx_queue& q, const rte_mbuf* m, uint64_t burst_ns)
{
    if (q.timestamps != timestamp_source::tsc && (m->ol_flags & w.rx_timestamp_flag)) {
        uint64_t t = *RTE_MBUF_DYNFIELD(m, w.rx_timestamp_offset, const rte_mbuf_timestamp_t*);
        if (unlikely(static_cast<int64_t>(t) < 0) && q.timestamps == timestamp_source::pmd_us)
            t += pcap_seconds_wrap_us;
        return t * q.timestamp_unit;
    }
    return burst_ns;
}

// Counts packets against each session in their masks.
inline void count_per_session(std::array<counter, max_sessions>& per_session, rte_mbuf* const* pkts,
                              unsigned n)
{
    uint32_t counts[max_sessions] = {};
    session_mask seen = 0;
    for (unsigned i = 0; i < n; i++) {
        const session_mask mask = meta_of(pkts[i])->sessions;
        seen |= mask;
        for_each_session(mask, [&](unsigned s) { counts[s]++; });
    }
    for_each_session(seen, [&](unsigned s) { per_session[s].add(counts[s]); });
}

// Hands matched packets to the writer; those that do not fit are counted as
// ring drops and freed here.
inline void hand_over(worker& w, const rx_queue& q, rte_mbuf** pkts, unsigned n)
{
    unsigned free_space;
    unsigned sent = rte_ring_sp_enqueue_burst(w.ring, reinterpret_cast<void* const*>(pkts), n, &free_space);
    ring_doorbell(*w.doorbell, free_space, w.ring_wake_below);
    if (likely(sent == n))
        return;
    if (q.lossless) {
        // A replay: waiting costs nothing but time, dropping would lose the
        // file's packets. Only a stop that the writer cannot honour (it is
        // stuck on the disk) makes us give up. A worker waiting here is busy,
        // not idle: --idle-exit must not end the replay under it.
        // No quiescent state is reported while waiting: the packets held are
        // classified for sessions whose files must stay open until these
        // packets are in the ring.
        while (sent < n && !w.abandon->load(std::memory_order_relaxed)) {
            rte_pause();
            w.last_rx_tsc.store(rte_rdtsc(), std::memory_order_relaxed);
            sent += rte_ring_sp_enqueue_burst(w.ring, reinterpret_cast<void* const*>(pkts + sent),
                                              n - sent, &free_space);
            ring_doorbell(*w.doorbell, free_space, w.ring_wake_below);
        }
        if (sent == n)
            return;
    }
    const unsigned dropped = n - sent;
    w.marks.not_passed_from(sent);   // a dropped packet may be the one a flow's marks stand on
    w.counters.ring_drops.add(dropped);
    count_per_session(w.counters.session_ring_drops, pkts + sent, dropped);
    rte_pktmbuf_free_bulk(pkts + sent, dropped);
}

// --idle-mode sleep. A worker naps once this many polls in a row, over all
// of its queues, came back empty: an empty poll costs 10-40 ns (a look at
// one descriptor or one AF_PACKET frame header), so 256 of them are a few
// µs of nothing arriving, long past the gaps within a burst, and no nap
// ever comes between two packets of a busy port. After a nap every queue is
// polled once before the next one.
constexpr unsigned idle_polls_before_nap = 256;

static_assert(max_burst <= index_flow_marks::max_places, "a burst's marks fit the list of entries it made");
static_assert(idle_polls_before_nap >= max_queues_per_worker, "a nap must wait for one poll of every queue");

// The kernel's default timer slack (50 µs) lets each nap run up to 50 µs
// longer than asked: 130 µs measured instead of 80, past what the RX ring
// was counted to hold (worker.h, sleep_nap_us).
constexpr unsigned long nap_timer_slack_ns = 1000;

// After an empty poll, with napping on. The run of empty polls is kept by
// this path alone, in the worker's struct: a packet since the last look
// shows as a new last_rx_tsc, which the busy path stores anyway, so that
// path pays nothing for napping. Out of line, and its state in the
// worker's struct rather than in locals, so that the loop keeps every
// register it had: its machine code for a burst is as without naps (objdump
// of worker_main, docs/performance.md).
[[gnu::noinline]] void nap_when_idle(worker& w)
{
    const uint64_t last = w.last_rx_tsc.load(std::memory_order_relaxed);
    if (last != w.idle_seen_rx_tsc) {   // a packet since the last empty poll: count afresh
        w.idle_seen_rx_tsc = last;
        w.idle_empty_polls = 0;
    }
    if (++w.idle_empty_polls < idle_polls_before_nap)
        return;
    rte_delay_us_sleep(w.idle_nap_us);
    w.idle_empty_polls = idle_polls_before_nap - w.nb_queues;
}

} // namespace

worker_totals read_worker_totals(const worker_counters& c)
{
    worker_totals t;
    uint32_t begin = 0;
    do {
        begin = rte_seqcount_read_begin(&c.burst_seq);
        t = {c.rx_packets.get(), c.rx_bytes.get(), c.filtered.get(), c.matched.get()};
    } while (rte_seqcount_read_retry(&c.burst_seq, begin));
    return t;
}

int worker_main(void* arg)
{
    worker& w = *static_cast<worker*>(arg);
    rte_mbuf* pkts[max_burst];
    unsigned next_queue = 0;
    if (w.idle_nap_us != 0)
        prctl(PR_SET_TIMERSLACK, nap_timer_slack_ns);   // this thread's naps only
    // A replay must not start before its session exists, or its first
    // packets would be classified for nobody.
    while (!w.go->load(std::memory_order_acquire) && !w.stop->load(std::memory_order_relaxed))
        rte_pause();
    rte_rcu_qsbr_thread_online(w.qsbr, w.index);

    while (likely(!w.stop->load(std::memory_order_relaxed))) {
        // Between bursts the worker holds no classifier: one that the control
        // thread has replaced may be freed once every worker has been here.
        rte_rcu_qsbr_quiescent(w.qsbr, w.index);
        const rx_queue& q = w.queues[next_queue];
        if (++next_queue == w.nb_queues)
            next_queue = 0;

        // One test per burst of what is constant per queue: a capture
        // file's queue (-r) is read here, every other from its ethdev.
        const uint16_t nb_rx = likely(q.file == nullptr)
                                   ? rte_eth_rx_burst(q.port, q.queue, pkts, static_cast<uint16_t>(w.burst))
                                   : receive_file_records(*q.file, w, pkts, static_cast<uint16_t>(w.burst));
        if (unlikely(nb_rx == 0)) {
            if (w.idle_nap_us != 0)
                nap_when_idle(w);
            continue;
        }

        const uint64_t tsc = rte_rdtsc();
        w.last_rx_tsc.store(tsc, std::memory_order_relaxed);

        // Classify the whole burst, then keep the wanted packets in order at
        // the front of the array, stamped, and free the rest in one bulk
        // call. Only kept packets have their metadata written: it lives in
        // the mbuf's second cache line, a miss worth saving on filtered ones.
        session_mask masks[max_burst];
        const classifier* filter = w.filter->load(std::memory_order_acquire);
        filter->classify(w.index, pkts, nb_rx, masks);
        const uint64_t burst_ns = w.clock->to_ns(tsc);
        // Packets for indexed sessions carry a mark (writers/index_flow.h)
        // while their writer is behind (markable_packets); every other
        // packet for them carries the epoch and "read every key"
        // (index_epoch::read_mark), and one for no indexed session none,
        // whatever its mbuf held before. Only the packets the ring has
        // room for now make entries (its room only grows until hand_over,
        // ours being its one producer): at a full ring the rest are
        // dropped, and their entries would be taken back, so that their
        // flows' next packets went unmarked. One that is taken after all
        // (the writer made room meanwhile) goes unmarked (its keys are
        // read), or, a frame that gives no key, with the epoch. A burst
        // that meets a ring with no room at all, or one no more than a
        // quarter full, marks nothing, keyless frames included; nor does
        // one while a benchmark's hook pauses marks
        // (index_epoch::marks_paused). A packet for indexed sessions that
        // is not marked still carries the epoch it was made in
        // (index_epoch::read_mark), by which its writer knows when a block
        // it awaits may start (capture_file_indexer::add).
        const session_mask index_tagged = filter->index_marked();
        session_mask index_marked = index_tagged;
        const unsigned markable =
            index_marked != 0 ? markable_packets(rte_ring_free_count(w.ring), w.mark_below, q.lossless) : 0;
        if (markable == 0 || unlikely(w.marks_epoch->marks_paused.load(std::memory_order_relaxed)))
            index_marked = 0;
        const uint64_t epoch = index_tagged != 0 ? w.marks_epoch->get() : 0;
        w.marks.start_burst();
        rte_mbuf* unwanted[max_burst];
        unsigned matched = 0, filtered = 0;
        session_mask all = 0, any = 0;
        uint64_t bytes = 0;   // summed here, where the classifier has left each mbuf in L1
        for (unsigned i = 0; i < nb_rx; i++) {
            rte_mbuf* m = pkts[i];
            bytes += m->pkt_len;
            if (masks[i] != 0) {
                packet_meta* meta = meta_of(m);
                meta->ts_ns = timestamp_of(w, q, m, burst_ns);
                meta->sessions = masks[i];
                const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
                *index_mark_of(m) =
                    (masks[i] & index_tagged) == 0   ? index_unmarked
                    : (masks[i] & index_marked) == 0 ? index_epoch::read_mark(epoch)
                    : matched < markable ? w.marks.mark(data, m->data_len, m->pkt_len, masks[i] & index_marked, epoch,
                                                        matched)
                                         : index_flow_marks::mark_without_entry(data, m->data_len, m->pkt_len, epoch);
                all = matched == 0 ? masks[i] : static_cast<session_mask>(all & masks[i]);
                any |= masks[i];
                pkts[matched++] = m;
            } else {
                unwanted[filtered++] = m;
            }
        }
        rte_seqcount_write_begin(&w.counters.burst_seq);
        w.counters.rx_packets.add(nb_rx);
        w.counters.rx_bytes.add(bytes);
        w.counters.filtered.add(filtered);
        w.counters.matched.add(matched);
        rte_seqcount_write_end(&w.counters.burst_seq);
        if (filtered != 0)
            rte_pktmbuf_free_bulk(unwanted, filtered);
        if (matched == 0)
            continue;
        if (all == any)   // every packet wanted by the same sessions: the common case
            for_each_session(all, [&](unsigned s) { w.counters.session_matched[s].add(matched); });
        else
            count_per_session(w.counters.session_matched, pkts, matched);
        hand_over(w, q, pkts, matched);
    }
    rte_rcu_qsbr_thread_offline(w.qsbr, w.index);
    w.done.store(true, std::memory_order_release);
    return 0;
}

} // namespace linecap
