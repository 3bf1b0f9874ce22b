#include "engine/stats.h"

#include "engine/pipeline.h"

#include <rte_mempool.h>

namespace linecap {

namespace {

// A writer's counters over all its slots: cumulative, so ended sessions
// count too and a daemon's totals never go down.
session_totals sum_writer(const writer& w)
{
    session_totals t;
    for (const session_counters& c : w.counters)
        t += writer_slot_totals(c);
    return t;
}

} // namespace

session_totals sum_session(const pipeline& p, unsigned slot)
{
    session_totals t;
    const session* s = p.sessions[slot].get();
    if (s == nullptr)
        return t;
    // Every counter of the slot, less what it held when this session took it.
    for (const worker* w : p.workers) {
        t.matched += w->counters.session_matched[slot].get() - s->base_matched[w->index];
        t.dropped_ring += w->counters.session_ring_drops[slot].get() - s->base_ring_drops[w->index];
    }
    for (const writer* w : p.writers)
        t += writer_slot_totals(w->counters[slot]) - s->base_writers[w->index];
    return t;
}

std::vector<std::string> session_files(const pipeline& p, unsigned slot)
{
    std::vector<std::string> files;
    for (const writer* w : p.writers)
        for (std::string& name : w->outputs[slot].files_on_disk())
            files.push_back(std::move(name));
    return files;
}

counters_snapshot take_snapshot(const pipeline& p)
{
    counters_snapshot snap;
    pipeline_totals& t = snap.totals;
    for (const port_plan& port : p.ports) {
        const port_row row{&port, read_port_counters(port.id)};
        t.dropped_nic += row.counters.imissed;
        t.dropped_nombuf += row.counters.nombuf;
        snap.ports.push_back(row);
    }
    for (unsigned socket = 0; socket < p.pools.size(); socket++)
        if (const rte_mempool* pool = p.pools[socket])
            snap.pools.push_back({socket, pool->size, rte_mempool_avail_count(pool)});
    for (const worker* w : p.workers) {
        worker_row row;
        row.worker = w->index;
        row.lcore = w->lcore;
        row.writer = w->writer_index;
        row.burst = read_worker_totals(w->counters);
        row.dropped_ring = w->counters.ring_drops.get();
        for (unsigned slot = 0; slot < max_sessions; slot++)
            if (const session* s = p.sessions[slot].get()) {
                row.matched_by_session[slot] = w->counters.session_matched[slot].get() - s->base_matched[w->index];
                row.dropped_ring_by_session[slot] =
                    w->counters.session_ring_drops[slot].get() - s->base_ring_drops[w->index];
            }
        t.rx_packets += row.burst.rx_packets;
        t.rx_bytes += row.burst.rx_bytes;
        t.filtered += row.burst.filtered;
        t.matched += row.burst.matched;
        t.dropped_ring += row.dropped_ring;
        snap.workers.push_back(row);
    }
    for (const writer* w : p.writers) {
        const writer_row row{w->index, w->lcore, sum_writer(*w)};
        t.written_packets += row.written.written_packets;
        t.written_bytes += row.written.written_bytes;
        t.files += row.written.files;
        t.dropped_write += row.written.dropped_write;
        t.dropped_limit += row.written.dropped_limit;
        snap.writers.push_back(row);
    }
    for (unsigned slot = 0; slot < max_sessions; slot++)
        if (const session* s = p.sessions[slot].get())
            snap.sessions[slot] = session_row{s->spec.name, s->spec.dir, s->reason.load(), s->error(),
                                              sum_session(p, slot)};
    return snap;
}

} // namespace linecap
