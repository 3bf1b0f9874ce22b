#include "engine/stats.h"

#include <fmt/format.h>

#include "core/human_units.h"
#include "engine/pipeline.h"

namespace linecap {

namespace {

using json = nlohmann::ordered_json;

// A writer's counters over all its slots: cumulative, so ended sessions
// count too and a daemon's totals never go down.
session_totals sum_writer(const writer& w)
{
    session_totals t;
    for (const session_counters& c : w.counters) {
        const session_totals slot = writer_slot_totals(c);
        t.written_packets += slot.written_packets;
        t.written_bytes += slot.written_bytes;
        t.files += slot.files;
        t.files_deleted += slot.files_deleted;
        t.dropped_write += slot.dropped_write;
        t.dropped_limit += slot.dropped_limit;
    }
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
    for (const writer* w : p.writers) {
        const session_totals now = writer_slot_totals(w->counters[slot]);
        const session_totals& base = s->base_writers[w->index];
        t.written_packets += now.written_packets - base.written_packets;
        t.written_bytes += now.written_bytes - base.written_bytes;
        t.files += now.files - base.files;
        t.files_deleted += now.files_deleted - base.files_deleted;
        t.dropped_write += now.dropped_write - base.dropped_write;
        t.dropped_limit += now.dropped_limit - base.dropped_limit;
    }
    return t;
}

json session_totals_json(const session_totals& t)
{
    return {
        {"matched_packets", t.matched},   {"written_packets", t.written_packets},
        {"written_bytes", t.written_bytes}, {"dropped_ring", t.dropped_ring},
        {"dropped_write", t.dropped_write}, {"dropped_limit", t.dropped_limit},
        {"files_created", t.files},         {"files_deleted", t.files_deleted},
    };
}

session_totals session_totals_from_json(const nlohmann::json& j)
{
    const auto get = [&](const char* key) {
        return j.is_object() && j.contains(key) && j[key].is_number_unsigned() ? j[key].get<uint64_t>() : uint64_t{0};
    };
    session_totals t;
    t.matched = get("matched_packets");
    t.written_packets = get("written_packets");
    t.written_bytes = get("written_bytes");
    t.dropped_ring = get("dropped_ring");
    t.dropped_write = get("dropped_write");
    t.dropped_limit = get("dropped_limit");
    // "files": what a restart wrote for a crashed session before the
    // counters had one form.
    t.files = j.is_object() && j.contains("files") ? get("files") : get("files_created");
    t.files_deleted = get("files_deleted");
    return t;
}

pipeline_totals sum_counters(const pipeline& p)
{
    pipeline_totals t;
    for (const worker* w : p.workers) {
        const worker_totals burst = read_worker_totals(w->counters);
        t.rx_packets += burst.rx_packets;
        t.rx_bytes += burst.rx_bytes;
        t.filtered += burst.filtered;
        t.matched += burst.matched;
        t.dropped_ring += w->counters.ring_drops.get();
    }
    for (const writer* w : p.writers) {
        const session_totals written = sum_writer(*w);
        t.written_packets += written.written_packets;
        t.written_bytes += written.written_bytes;
        t.files += written.files;
        t.dropped_write += written.dropped_write;
        t.dropped_limit += written.dropped_limit;
    }
    for (const port_plan& port : p.ports) {
        const port_counters c = read_port_counters(port.id);
        t.dropped_nic += c.imissed;
        t.dropped_nombuf += c.nombuf;
    }
    return t;
}

void print_live_counters(const pipeline& p, double elapsed_s)
{
    const pipeline_totals t = sum_counters(p);
    fmt::print(stderr,
               "linecap: {:7.1f} s  rx {}  matched {}  written {} ({})  dropped: nic {} nombuf {} "
               "ring {} write {}\n",
               elapsed_s, t.rx_packets, t.matched, t.written_packets, human_bytes(t.written_bytes),
               t.dropped_nic, t.dropped_nombuf, t.dropped_ring, t.dropped_write);
}

void print_summary(const pipeline& p, stop_reason reason, double elapsed_s, std::FILE* out)
{
    const pipeline_totals t = sum_counters(p);
    fmt::print(out, "linecap: stopped after {:.3f} s: {}\n", elapsed_s, stop_reason_name(reason));
    for (const auto& s : p.sessions)
        if (s)
            if (std::string error = s->error(); !error.empty())
                fmt::print(out, "linecap: {}\n", error);
    fmt::print(out, "{} packets received, {} filtered out, {} matched\n", t.rx_packets, t.filtered, t.matched);
    fmt::print(out, "{} packets written ({}) in {} file{} under {}\n", t.written_packets,
               human_bytes(t.written_bytes), t.files, t.files == 1 ? "" : "s",
               p.sessions[0] ? p.sessions[0]->spec.dir : std::string("(no session)"));
    fmt::print(out,
               "{} dropped by the NIC (imissed), {} for lack of mbufs, {} at full rings, "
               "{} by write errors, {} past limits\n",
               t.dropped_nic, t.dropped_nombuf, t.dropped_ring, t.dropped_write, t.dropped_limit);
}

json ports_json(const pipeline& p)
{
    json ports = json::array();
    for (const port_plan& port : p.ports) {
        const port_counters c = read_port_counters(port.id);
        ports.push_back({
            {"port", port.id}, {"name", port.name}, {"driver", port.driver},
            {"rx_queues", port.nb_queues}, {"rss", port.rss}, {"replay", port.replay},
            {"timestamps", timestamp_source_name(port.timestamps)},
            {"rx_packets", c.rx_packets}, {"rx_bytes", c.rx_bytes}, {"imissed", c.imissed},
            {"nombuf", c.nombuf}, {"ierrors", c.ierrors},
        });
    }
    return ports;
}

json workers_json(const pipeline& p, const std::function<std::string(unsigned)>& session_label)
{
    json workers = json::array();
    for (const worker* w : p.workers) {
        json per_session = json::object();
        json per_session_drops = json::object();
        for (unsigned slot = 0; slot < max_sessions; slot++) {
            const session* s = p.sessions[slot].get();
            if (s == nullptr)
                continue;
            const std::string label = session_label ? session_label(slot) : std::to_string(slot);
            per_session[label] = w->counters.session_matched[slot].get() - s->base_matched[w->index];
            per_session_drops[label] = w->counters.session_ring_drops[slot].get() - s->base_ring_drops[w->index];
        }
        const worker_totals burst = read_worker_totals(w->counters);
        workers.push_back({
            {"worker", w->index}, {"lcore", w->lcore}, {"writer", w->writer_index},
            {"rx_packets", burst.rx_packets}, {"rx_bytes", burst.rx_bytes},
            {"filtered_packets", burst.filtered},
            {"matched_packets", burst.matched},
            {"dropped_ring", w->counters.ring_drops.get()},
            {"matched_by_session", per_session},
            {"dropped_ring_by_session", per_session_drops},
        });
    }
    return workers;
}

json writers_json(const pipeline& p)
{
    json writers = json::array();
    for (const writer* w : p.writers) {
        const session_totals t = sum_writer(*w);
        writers.push_back({
            {"writer", w->index}, {"lcore", w->lcore}, {"written_packets", t.written_packets},
            {"written_bytes", t.written_bytes}, {"files", t.files}, {"dropped_write", t.dropped_write},
            {"dropped_limit", t.dropped_limit},
        });
    }
    return writers;
}

json totals_json(const pipeline& p)
{
    const pipeline_totals t = sum_counters(p);
    return {
        {"rx_packets", t.rx_packets},
        {"rx_bytes", t.rx_bytes},
        {"filtered_packets", t.filtered},
        {"matched_packets", t.matched},
        {"written_packets", t.written_packets},
        {"written_bytes", t.written_bytes},
        {"files", t.files},
        {"dropped_nic", t.dropped_nic},
        {"dropped_nombuf", t.dropped_nombuf},
        {"dropped_ring", t.dropped_ring},
        {"dropped_write", t.dropped_write},
        {"dropped_limit", t.dropped_limit},
    };
}

json stats_json(const pipeline& p, stop_reason reason, double elapsed_s)
{
    json j = totals_json(p);
    j["elapsed_s"] = elapsed_s;
    j["stop_reason"] = stop_reason_name(reason);
    j["ports"] = ports_json(p);
    j["workers"] = workers_json(p);
    j["writers"] = writers_json(p);

    json sessions = json::array();
    for (unsigned slot = 0; slot < max_sessions; slot++) {
        const session* s = p.sessions[slot].get();
        if (s == nullptr)
            continue;
        json files = json::array();
        for (const writer* w : p.writers)
            for (const std::string& name : w->outputs[slot].files_on_disk())
                files.push_back(name);
        json entry = {{"name", s->spec.name}, {"dir", s->spec.dir},
                      {"stop_reason", stop_reason_name(s->reason.load())}, {"error", s->error()}};
        entry.update(session_totals_json(sum_session(p, slot)));
        entry["files"] = files;
        sessions.push_back(entry);
    }
    j["sessions"] = sessions;
    return j;
}

} // namespace linecap
