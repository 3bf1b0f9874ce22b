#include "engine/stats.h"

#include <fmt/format.h>

#include "engine/pipeline.h"

namespace linecap {

namespace {

struct session_totals {
    uint64_t matched = 0;
    uint64_t written_packets = 0;
    uint64_t written_bytes = 0;
    uint64_t files = 0;
    uint64_t files_deleted = 0;
    uint64_t dropped_ring = 0;
    uint64_t dropped_write = 0;
    uint64_t dropped_limit = 0;
};

session_totals sum_session(const pipeline& p, unsigned slot)
{
    session_totals t;
    for (const worker* w : p.workers) {
        t.matched += w->counters.session_matched[slot].get();
        t.dropped_ring += w->counters.session_ring_drops[slot].get();
    }
    for (const writer* w : p.writers) {
        const session_counters& c = w->counters[slot];
        t.written_packets += c.written_packets.get();
        t.written_bytes += c.written_bytes.get();
        t.files += c.files.get();
        t.files_deleted += c.files_deleted.get();
        t.dropped_write += c.write_drops.get();
        t.dropped_limit += c.limit_drops.get();
    }
    return t;
}

std::string human_bytes(uint64_t bytes)
{
    if (bytes < 10 * 1024)
        return fmt::format("{} B", bytes);
    if (bytes < 10 * 1024 * 1024)
        return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
    if (bytes < 10ull * 1024 * 1024 * 1024)
        return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024 * 1024));
    return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
}

} // namespace

pipeline_totals sum_counters(const pipeline& p)
{
    pipeline_totals t;
    for (const worker* w : p.workers) {
        t.rx_packets += w->counters.rx_packets.get();
        t.rx_bytes += w->counters.rx_bytes.get();
        t.filtered += w->counters.filtered.get();
        t.matched += w->counters.matched.get();
    }
    for (unsigned slot = 0; slot < p.sessions.size(); slot++) {
        const session_totals s = sum_session(p, slot);
        t.written_packets += s.written_packets;
        t.written_bytes += s.written_bytes;
        t.files += s.files;
        t.dropped_ring += s.dropped_ring;
        t.dropped_write += s.dropped_write;
        t.dropped_limit += s.dropped_limit;
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

void print_summary(const pipeline& p, double elapsed_s, std::FILE* out)
{
    const pipeline_totals t = sum_counters(p);
    fmt::print(out, "linecap: stopped after {:.3f} s: {}\n", elapsed_s, stop_reason_name(p.reason));
    for (const auto& s : p.sessions)
        if (std::string error = s->error(); !error.empty())
            fmt::print(out, "linecap: {}\n", error);
    fmt::print(out, "{} packets received, {} filtered out, {} matched\n", t.rx_packets, t.filtered,
               t.matched);
    fmt::print(out, "{} packets written ({}) in {} file{} under {}\n", t.written_packets,
               human_bytes(t.written_bytes), t.files, t.files == 1 ? "" : "s",
               p.options.session.output.dir);
    fmt::print(out,
               "{} dropped by the NIC (imissed), {} for lack of mbufs, {} at full rings, "
               "{} by write errors, {} past limits\n",
               t.dropped_nic, t.dropped_nombuf, t.dropped_ring, t.dropped_write, t.dropped_limit);
}

nlohmann::ordered_json stats_json(const pipeline& p, double elapsed_s)
{
    using json = nlohmann::ordered_json;
    const pipeline_totals t = sum_counters(p);
    json j = {
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
        {"elapsed_s", elapsed_s},
        {"stop_reason", stop_reason_name(p.reason)},
    };

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
    j["ports"] = ports;

    json workers = json::array();
    for (const worker* w : p.workers) {
        workers.push_back({
            {"worker", w->index}, {"lcore", w->lcore}, {"writer", w->writer_index},
            {"rx_packets", w->counters.rx_packets.get()}, {"rx_bytes", w->counters.rx_bytes.get()},
            {"filtered_packets", w->counters.filtered.get()},
            {"matched_packets", w->counters.matched.get()},
            {"dropped_ring", w->counters.ring_drops.get()},
        });
    }
    j["workers"] = workers;

    json writers = json::array();
    for (const writer* w : p.writers) {
        uint64_t packets = 0, bytes = 0, files = 0, write_drops = 0, limit_drops = 0;
        for (unsigned slot = 0; slot < p.sessions.size(); slot++) {
            packets += w->counters[slot].written_packets.get();
            bytes += w->counters[slot].written_bytes.get();
            files += w->counters[slot].files.get();
            write_drops += w->counters[slot].write_drops.get();
            limit_drops += w->counters[slot].limit_drops.get();
        }
        writers.push_back({
            {"writer", w->index}, {"lcore", w->lcore}, {"written_packets", packets},
            {"written_bytes", bytes}, {"files", files}, {"dropped_write", write_drops},
            {"dropped_limit", limit_drops},
        });
    }
    j["writers"] = writers;

    json sessions = json::array();
    for (unsigned slot = 0; slot < p.sessions.size(); slot++) {
        const session& s = *p.sessions[slot];
        const session_totals st = sum_session(p, slot);
        json files = json::array();
        for (const writer* w : p.writers)
            for (const std::string& name : files_on_disk(w->outputs[slot]))
                files.push_back(name);
        sessions.push_back({
            {"name", s.spec.name}, {"dir", s.spec.dir}, {"stop_reason", stop_reason_name(s.reason.load())},
            {"error", s.error()}, {"matched_packets", st.matched},
            {"written_packets", st.written_packets}, {"written_bytes", st.written_bytes},
            {"dropped_ring", st.dropped_ring}, {"dropped_write", st.dropped_write},
            {"dropped_limit", st.dropped_limit}, {"files_created", st.files},
            {"files_deleted", st.files_deleted}, {"files", files},
        });
    }
    j["sessions"] = sessions;
    return j;
}

} // namespace linecap
