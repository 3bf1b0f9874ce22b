#include "control/oneshot.h"
#include "core/error_text.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>

#include <fmt/format.h>
#include <rte_cycles.h>

#include "core/log.h"
#include "engine/sessions.h"
#include "filters/classifier.h"
#include "control/stats_json.h"

namespace linecap {

namespace {

// How often the loop looks at signals, limits and idleness.
constexpr unsigned period_us = 20000;

// -r FILE: the reader has reached the end of the file (or an error) and
// the workers have taken every packet it fed: what is left is in the
// writers' rings, which the ordered stop drains.
bool file_consumed(const pipeline& p)
{
    if (!p.file->finished.load(std::memory_order_acquire))
        return false;
    uint64_t taken = 0;
    for (const worker* w : p.workers)
        taken += read_worker_totals(w->counters).rx_packets;
    return taken == p.file->fed.load(std::memory_order_acquire);
}

// A capture whose every port replays a file once (net_pcap with rx_pcap,
// no infinite_rx) has nothing more to receive once the files are read. Told
// no end (--idle-exit, --duration), it stops once no port has received a
// packet for this long, and says so at the start.
constexpr double replay_idle_exit_s = 1.0;

double idle_exit_of(const pipeline& p, const engine_options& o)
{
    if (o.idle_exit_s > 0 || o.session.output.limits.seconds > 0 || p.file || p.ports.empty() ||
        !std::all_of(p.ports.begin(), p.ports.end(), [](const port_plan& port) { return port.replay; }))
        return o.idle_exit_s;
    log_event(log_module::control, log_level::info,
              "every port replays a file: stopping once none has received a packet for {:g} s "
              "(--idle-exit TIME or --duration TIME to choose)",
              replay_idle_exit_s);
    return replay_idle_exit_s;
}

} // namespace

std::string start_oneshot_session(pipeline& p, const engine_options& options)
{
    const std::string& dir = options.session.output.dir;
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return fmt::format("--out {}: cannot open the folder: {}", dir, error_text(errno));
    if (std::string e = add_session(p, 0, options.session, dir_fd); !e.empty())
        return e;
    // -r: the one session's expression decides for every record, so it can
    // refuse records before they are copied into mbufs (engine/file_port.h).
    // The workers start after this step.
    if (p.file && p.filters[0]->bpf)
        p.file->prefilter = p.filters[0]->bpf.get();
    return {};
}

void oneshot_control(pipeline& p, const engine_options& o)
{
    session& s = *p.sessions[0];
    const uint64_t hz = p.clock.hz;
    const uint64_t stats_every = static_cast<uint64_t>(o.stats_interval_s * static_cast<double>(hz));
    uint64_t next_stats = p.start_tsc + stats_every;
    stop_reason why = stop_reason::none;
    const double idle_exit_s = idle_exit_of(p, o);

    while (why == stop_reason::none) {
        // A file read to its end is done as soon as the workers have its
        // last records: look more often then.
        rte_delay_us_sleep(p.file && p.file->finished.load(std::memory_order_relaxed) ? period_us / 20 : period_us);
        // Workers' times first, then ours: read the other way round, a worker
        // stamping a packet in between would make "now - last" wrap around.
        const uint64_t last_rx = last_rx_tsc(p);
        const uint64_t now = rte_rdtsc();
        if (p.failed.load(std::memory_order_relaxed))
            why = stop_reason::error;
        else if (stop_requested_by_signal())
            why = stop_reason::user;
        else if (s.stopped())
            why = s.reason.load();   // a limit or an error, seen by a writer
        else if ((why = due_limit(p, 0, p.clock.to_ns(now))) != stop_reason::none)
            ;
        else if (p.file && file_consumed(p)) {
            why = p.file->error.empty() ? stop_reason::end_of_file : stop_reason::error;
            if (!p.file->error.empty())
                s.fail(why, p.file->error);
        }
        else if (idle_exit_s > 0 && now > last_rx &&
                 static_cast<double>(now - last_rx) / static_cast<double>(hz) >= idle_exit_s)
            why = stop_reason::idle;
        if (o.stats_interval_s > 0 && now >= next_stats) {
            print_live_counters(take_snapshot(p), p.seconds_since_start(now));
            next_stats += stats_every;
        }
    }
    s.stop(why);   // the first reason wins: a limit a writer hit stays the reason
}

} // namespace linecap
