#include "control/stats_json.h"

#include "core/log.h"

#include <fmt/format.h>

#include "core/human_units.h"

namespace linecap {

namespace {

using json = nlohmann::ordered_json;

} // namespace

void print_live_counters(const counters_snapshot& snap, double elapsed_s)
{
    const pipeline_totals& t = snap.totals;
    fmt::print(stderr,
               "linecap: {:7.1f} s  rx {}  matched {}  written {} ({})  dropped: nic {} nombuf {} "
               "ring {} write {}\n",
               elapsed_s, t.rx_packets, t.matched, t.written_packets, human_bytes(t.written_bytes),
               t.dropped_nic, t.dropped_nombuf, t.dropped_ring, t.dropped_write);
}

void print_summary(const counters_snapshot& snap, stop_reason reason, double elapsed_s, std::FILE* out)
{
    const pipeline_totals& t = snap.totals;
    fmt::print(out, "linecap: stopped after {:.3f} s: {}\n", elapsed_s, stop_reason_name(reason));
    for (const auto& s : snap.sessions)
        if (s && !s->error.empty())
            fmt::print(out, "linecap: {}\n", one_line(s->error));
    fmt::print(out, "{} packets received, {} filtered out, {} matched\n", t.rx_packets, t.filtered, t.matched);
    // A ring's keep deletes files: what is left is said, or an empty
    // folder would contradict the line.
    const uint64_t deleted = snap.sessions[0] ? snap.sessions[0]->totals.files_deleted : 0;
    fmt::print(out, "{} packets written ({}) in {} file{} under {}{}\n", t.written_packets,
               human_bytes(t.written_bytes), t.files, t.files == 1 ? "" : "s",
               snap.sessions[0] ? snap.sessions[0]->dir : std::string("(no session)"),
               deleted == 0 ? std::string()
                            : fmt::format(", {} of them deleted since by the ring's keep (-W, --keep-bytes)", deleted));
    fmt::print(out,
               "{} dropped by the NIC (imissed), {} for lack of mbufs, {} at full rings, "
               "{} by write errors, {} past limits\n",
               t.dropped_nic, t.dropped_nombuf, t.dropped_ring, t.dropped_write, t.dropped_limit);
}

json session_totals_json(const session_totals& t)
{
    json j = json::object();
    for (const auto& [name, member] : session_totals_fields)
        j[std::string(name)] = t.*member;
    return j;
}

session_totals session_totals_from_json(const nlohmann::json& j)
{
    session_totals t;
    if (!j.is_object())
        return t;
    for (const auto& [name, member] : session_totals_fields) {
        // "files": what a restart wrote for a crashed session before the
        // counters had one form.
        const std::string key = name == "files_created" && j.contains("files") ? "files" : std::string(name);
        if (j.contains(key) && j[key].is_number_unsigned())
            t.*member = j[key].get<uint64_t>();
    }
    return t;
}

json totals_json(const counters_snapshot& snap)
{
    const pipeline_totals& t = snap.totals;
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

json ports_json(const counters_snapshot& snap)
{
    json ports = json::array();
    for (const port_row& row : snap.ports) {
        const port_plan& port = *row.plan;
        const port_counters& c = row.counters;
        ports.push_back({
            {"port", port.id}, {"name", port.name}, {"driver", port.driver},
            {"rx_queues", port.nb_queues}, {"rss", port.rss}, {"replay", port.replay},
            {"timestamps", timestamp_source_name(port.timestamps)}, {"idle_mode", idle_mode_name(port.idle)},
            {"rx_packets", c.rx_packets}, {"rx_bytes", c.rx_bytes}, {"imissed", c.imissed},
            {"nombuf", c.nombuf}, {"ierrors", c.ierrors},
        });
    }
    return ports;
}

json pools_json(const counters_snapshot& snap)
{
    json pools = json::array();
    for (const pool_row& pool : snap.pools)
        pools.push_back({{"socket", pool.socket}, {"mbufs", pool.mbufs}, {"free", pool.free}});
    return pools;
}

json workers_json(const counters_snapshot& snap, const std::function<std::string(unsigned)>& session_label)
{
    json workers = json::array();
    for (const worker_row& w : snap.workers) {
        json per_session = json::object();
        json per_session_drops = json::object();
        for (unsigned slot = 0; slot < max_sessions; slot++) {
            if (!snap.sessions[slot])
                continue;
            const std::string label = session_label ? session_label(slot) : std::to_string(slot);
            per_session[label] = w.matched_by_session[slot];
            per_session_drops[label] = w.dropped_ring_by_session[slot];
        }
        workers.push_back({
            {"worker", w.worker}, {"lcore", w.lcore}, {"writer", w.writer},
            {"rx_packets", w.burst.rx_packets}, {"rx_bytes", w.burst.rx_bytes},
            {"filtered_packets", w.burst.filtered},
            {"matched_packets", w.burst.matched},
            {"dropped_ring", w.dropped_ring},
            {"matched_by_session", per_session},
            {"dropped_ring_by_session", per_session_drops},
        });
    }
    return workers;
}

json writers_json(const counters_snapshot& snap)
{
    json writers = json::array();
    for (const writer_row& w : snap.writers)
        writers.push_back({
            {"writer", w.writer}, {"lcore", w.lcore}, {"written_packets", w.written.written_packets},
            {"written_bytes", w.written.written_bytes}, {"files", w.written.files},
            {"dropped_write", w.written.dropped_write}, {"dropped_limit", w.written.dropped_limit},
        });
    return writers;
}

json stats_json(const pipeline& p, const counters_snapshot& snap, stop_reason reason, double elapsed_s)
{
    json j = totals_json(snap);
    j["elapsed_s"] = elapsed_s;
    j["stop_reason"] = stop_reason_name(reason);
    j["ports"] = ports_json(snap);
    j["pools"] = pools_json(snap);
    j["workers"] = workers_json(snap);
    j["writers"] = writers_json(snap);
    json sessions = json::array();
    for (unsigned slot = 0; slot < max_sessions; slot++) {
        const auto& s = snap.sessions[slot];
        if (!s)
            continue;
        json entry = {{"name", s->name}, {"dir", s->dir}, {"stop_reason", stop_reason_name(s->reason)},
                      {"error", s->error}};
        entry.update(session_totals_json(s->totals));
        entry["files"] = session_files(p, slot);
        sessions.push_back(entry);
    }
    j["sessions"] = sessions;
    return j;
}

} // namespace linecap
