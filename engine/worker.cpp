#include "engine/worker.h"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

namespace linecap {

namespace {

// Stamps every packet of a burst. A driver timestamp is used where the port
// has one of known unit; otherwise the packets get the TSC time at which the
// burst was received (one TSC read per burst: packets of one burst arrived
// before that read and we cannot know better).
inline void stamp(const worker& w, const rx_queue& q, rte_mbuf** pkts, unsigned n, uint64_t tsc,
                  uint64_t& bytes)
{
    const uint64_t burst_ns = w.clock->to_ns(tsc);
    for (unsigned i = 0; i < n; i++) {
        rte_mbuf* m = pkts[i];
        uint64_t ts = burst_ns;
        if (q.timestamps != timestamp_source::tsc && (m->ol_flags & w.rx_timestamp_flag)) {
            const uint64_t raw = *RTE_MBUF_DYNFIELD(m, w.rx_timestamp_offset, rte_mbuf_timestamp_t*);
            ts = q.timestamps == timestamp_source::pmd_us ? raw * 1000u : raw;
        }
        meta_of(m)->ts_ns = ts;
        bytes += m->pkt_len;
    }
}

// Counts a set of packets against each session in their masks.
inline void count_per_session(std::array<counter, max_sessions>& per_session, rte_mbuf* const* pkts,
                              unsigned n)
{
    uint32_t counts[max_sessions] = {};
    session_mask seen = 0;
    for (unsigned i = 0; i < n; i++) {
        session_mask mask = meta_of(pkts[i])->sessions;
        seen |= mask;
        while (mask != 0) {
            counts[__builtin_ctz(mask)]++;
            mask &= static_cast<session_mask>(mask - 1);
        }
    }
    while (seen != 0) {
        const unsigned s = static_cast<unsigned>(__builtin_ctz(seen));
        seen &= static_cast<session_mask>(seen - 1);
        per_session[s].add(counts[s]);
    }
}

// Hands matched packets to the writer. Returns how many did not fit; those
// are counted as ring drops and freed here.
inline void hand_over(worker& w, const rx_queue& q, rte_mbuf** pkts, unsigned n)
{
    unsigned sent = rte_ring_sp_enqueue_burst(w.ring, reinterpret_cast<void* const*>(pkts), n, nullptr);
    if (likely(sent == n))
        return;
    if (q.lossless) {
        // A replay: waiting costs nothing but time, dropping would lose the
        // file's packets. Only a stop that the writer cannot honour (it is
        // stuck on the disk) makes us give up.
        while (sent < n && !w.abandon->load(std::memory_order_relaxed)) {
            rte_pause();
            sent += rte_ring_sp_enqueue_burst(w.ring, reinterpret_cast<void* const*>(pkts + sent),
                                              n - sent, nullptr);
        }
        if (sent == n)
            return;
    }
    const unsigned dropped = n - sent;
    w.counters.ring_drops.add(dropped);
    count_per_session(w.counters.session_ring_drops, pkts + sent, dropped);
    rte_pktmbuf_free_bulk(pkts + sent, dropped);
}

} // namespace

int worker_main(void* arg)
{
    worker& w = *static_cast<worker*>(arg);
    rte_mbuf* pkts[max_burst];
    unsigned next_queue = 0;

    while (likely(!w.stop->load(std::memory_order_relaxed))) {
        const rx_queue& q = w.queues[next_queue];
        if (++next_queue == w.nb_queues)
            next_queue = 0;

        const uint16_t nb_rx = rte_eth_rx_burst(q.port, q.queue, pkts, static_cast<uint16_t>(w.burst));
        if (unlikely(nb_rx == 0))
            continue;

        const uint64_t tsc = rte_rdtsc();
        w.last_rx_tsc.store(tsc, std::memory_order_relaxed);
        uint64_t bytes = 0;
        stamp(w, q, pkts, nb_rx, tsc, bytes);
        w.counters.rx_packets.add(nb_rx);
        w.counters.rx_bytes.add(bytes);

        // Classify the whole burst, then keep the wanted packets in order at
        // the front of the array and free the rest in one bulk call.
        session_mask masks[max_burst];
        w.filter->classify(w.index, pkts, nb_rx, masks);
        rte_mbuf* unwanted[max_burst];
        unsigned matched = 0, filtered = 0;
        for (unsigned i = 0; i < nb_rx; i++) {
            meta_of(pkts[i])->sessions = masks[i];
            if (masks[i] != 0)
                pkts[matched++] = pkts[i];
            else
                unwanted[filtered++] = pkts[i];
        }
        if (filtered != 0) {
            w.counters.filtered.add(filtered);
            rte_pktmbuf_free_bulk(unwanted, filtered);
        }
        if (matched == 0)
            continue;
        w.counters.matched.add(matched);
        count_per_session(w.counters.session_matched, pkts, matched);
        hand_over(w, q, pkts, matched);
    }
    w.done.store(true, std::memory_order_release);
    return 0;
}

} // namespace linecap
