#include "control/metrics.h"

#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace linecap {

namespace {

using ojson = nlohmann::ordered_json;

// A label's value as the format quotes it: \\, \" and \n escaped.
std::string label_value(const ojson& v)
{
    const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    std::string out;
    for (const char c : text) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

struct label {
    std::string_view name;   // in the metric
    std::string_view key;    // in the row
};

struct metric {
    std::string_view field;  // in the row (and the metric's name)
    std::string_view help;
};

struct family {
    std::string_view scope;          // linecap_<scope>_<field>_total
    std::vector<label> labels;
    std::vector<metric> metrics;
};

// Appends one counter family per metric of `f`, one sample per row.
void counters(std::string& out, const family& f, const ojson& rows, const char* counters_key = nullptr)
{
    if (!rows.is_array())
        return;
    for (const metric& m : f.metrics) {
        const std::string name = fmt::format("linecap_{}_{}_total", f.scope, m.field);
        std::string samples;
        for (const ojson& row : rows) {
            const ojson& values = counters_key ? row.value(counters_key, ojson::object()) : row;
            const auto v = values.find(std::string(m.field));
            if (v == values.end() || !v->is_number_unsigned())
                continue;
            std::string labels;
            for (const label& l : f.labels)
                if (const auto lv = row.find(std::string(l.key)); lv != row.end())
                    labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "" : ",", l.name, label_value(*lv));
            samples += fmt::format("{}{{{}}} {}\n", name, labels, v->get<uint64_t>());
        }
        out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{}", name, m.help, name, samples);
    }
}

void gauge(std::string& out, std::string_view name, std::string_view help, const std::string& samples)
{
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{}", name, help, name, samples);
}

} // namespace

std::string prometheus_text(const ojson& stats, const ojson& sessions)
{
    std::string out;
    if (const auto up = stats.find("uptime_s"); up != stats.end() && up->is_number())
        gauge(out, "linecap_uptime_seconds", "Seconds since the daemon's control loop started.",
              fmt::format("linecap_uptime_seconds {:.3f}\n", up->get<double>()));
    if (const auto n = stats.find("sessions_running"); n != stats.end() && n->is_number_unsigned())
        gauge(out, "linecap_sessions_running", "Capture sessions running now.",
              fmt::format("linecap_sessions_running {}\n", n->get<uint64_t>()));

    counters(out,
             {"port",
              {{"port", "port"}, {"name", "name"}},
              {{"rx_packets", "Packets the port received (stats: ports[].rx_packets)."},
               {"rx_bytes", "Bytes the port received (stats: ports[].rx_bytes)."},
               {"imissed", "Packets the NIC dropped for want of a free descriptor (stats: ports[].imissed)."},
               {"nombuf", "Packets the driver dropped for want of an mbuf (stats: ports[].nombuf)."},
               {"ierrors", "Erroneous packets the port received (stats: ports[].ierrors)."}}},
             stats.value("ports", ojson::array()));
    counters(out,
             {"worker",
              {{"worker", "worker"}, {"lcore", "lcore"}},
              {{"rx_packets", "Packets the worker received (stats: workers[].rx_packets)."},
               {"filtered_packets", "Packets no session wanted (stats: workers[].filtered_packets)."},
               {"matched_packets", "Packets a session wanted (stats: workers[].matched_packets)."},
               {"dropped_ring", "Packets dropped at a full ring to a writer (stats: workers[].dropped_ring)."}}},
             stats.value("workers", ojson::array()));
    counters(out,
             {"writer",
              {{"writer", "writer"}, {"lcore", "lcore"}},
              {{"written_packets", "Packets written whole (stats: writers[].written_packets)."},
               {"written_bytes", "File bytes written, headers included (stats: writers[].written_bytes)."},
               {"files", "Files created (stats: writers[].files)."},
               {"dropped_write", "Packets lost to write errors (stats: writers[].dropped_write)."},
               {"dropped_limit", "Packets matched past a session's limit (stats: writers[].dropped_limit)."}}},
             stats.value("writers", ojson::array()));
    counters(out,
             {"session",
              {{"session", "id"}, {"name", "name"}},
              {{"matched_packets", "Packets the running session matched (show: counters.matched_packets)."},
               {"written_packets", "Packets of the running session written (show: counters.written_packets)."},
               {"written_bytes", "File bytes of the running session (show: counters.written_bytes)."},
               {"dropped_ring", "Packets of the running session dropped at a full ring (show: counters.dropped_ring)."},
               {"dropped_write", "Packets of the running session lost to write errors (show: counters.dropped_write)."},
               {"dropped_limit", "Packets of the running session past its limit (show: counters.dropped_limit)."},
               {"index_errors", "Files of the running session written without a whole index (show: counters.index_errors)."}}},
             sessions, "counters");

    const ojson pools = stats.value("pools", ojson::array());
    if (pools.is_array() && !pools.empty()) {
        std::string size, free;
        for (const ojson& p : pools) {
            const std::string socket = label_value(p.value("socket", ojson(0)));
            size += fmt::format("linecap_pool_mbufs{{socket=\"{}\"}} {}\n", socket, p.value("mbufs", uint64_t{0}));
            free += fmt::format("linecap_pool_free_mbufs{{socket=\"{}\"}} {}\n", socket, p.value("free", uint64_t{0}));
        }
        gauge(out, "linecap_pool_mbufs", "Mbufs in the NUMA socket's packet pool.", size);
        gauge(out, "linecap_pool_free_mbufs", "Mbufs free in the NUMA socket's packet pool now.", free);
    }
    return out;
}

} // namespace linecap
