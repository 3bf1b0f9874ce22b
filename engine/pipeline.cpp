#include "engine/pipeline.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <pthread.h>
#include <unistd.h>

#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "engine/stats.h"
#include "filters/classifier.h"

namespace linecap {

namespace {

std::atomic<bool> stop_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

// Per-lcore mempool cache. Mbufs parked in caches are out of circulation, so
// the pool is sized with them in mind.
constexpr unsigned mempool_cache = 256;

// The monitor thread wakes this often to check signals, limits and idleness.
constexpr unsigned monitor_period_ms = 20;

// How long a stop may wait for workers blocked on a full ring (a replay whose
// writer is stuck on a dead disk) before they drop what they hold.
constexpr double stop_grace_s = 5.0;

template <typename T>
T* new_on_socket(unsigned socket)
{
    void* mem = rte_zmalloc_socket(nullptr, sizeof(T), RTE_CACHE_LINE_SIZE, static_cast<int>(socket));
    return mem ? new (mem) T() : nullptr;
}

template <typename T>
void delete_on_socket(T* object)
{
    if (object == nullptr)
        return;
    object->~T();
    rte_free(object);
}

// Below this a pool cannot feed even one port and one ring.
constexpr unsigned min_pool_mbufs = 8191;

uint64_t mbuf_pool_mib(unsigned count)
{
    // Data room, headroom, the mbuf header and the mempool's own header.
    return static_cast<uint64_t>(count) * (RTE_MBUF_DEFAULT_BUF_SIZE + sizeof(rte_mbuf) + 64) >> 20;
}

unsigned round_up_pool(unsigned n)
{
    // Mempools are most compact at 2^k - 1 elements (the ring behind them is 2^k).
    unsigned size = 1;
    while (size - 1 < n)
        size <<= 1;
    return size - 1;
}

std::string make_pools(pipeline& p)
{
    const engine_options& o = p.options;
    const unsigned lcores = static_cast<unsigned>(p.layout.workers.size() + p.layout.writers.size());
    // Packets can be in RX rings, in worker->writer rings, in mempool caches
    // and in flight in one burst per lcore; nowhere else.
    const unsigned in_flight = static_cast<unsigned>(p.layout.workers.size()) * o.ring_size +
                               lcores * (mempool_cache * 3 / 2 + max_burst);
    int max_socket = 0;
    for (const port_plan& port : p.ports)
        max_socket = std::max(max_socket, port.socket);
    p.pools.assign(static_cast<size_t>(max_socket) + 1, nullptr);

    for (int socket = 0; socket <= max_socket; socket++) {
        unsigned need = 0;
        bool used = false;
        for (const port_plan& port : p.ports) {
            if (port.socket == socket) {
                need += port_mbuf_need(port) + port.preloaded_packets;
                used = true;
            }
        }
        if (!used)
            continue;
        need += in_flight;
        // Twice the need when memory allows, for headroom; then the need;
        // then less, down to a quarter, rather than not running at all. A
        // short pool shows up as counted no-mbuf drops, never as silent loss.
        std::vector<unsigned> sizes{o.mbufs};
        if (o.mbufs == 0)
            sizes = {round_up_pool(2 * need), need, need / 2, need / 4};
        const std::string name = fmt::format("linecap_mbufs_{}", socket);
        rte_mempool* pool = nullptr;
        unsigned count = 0;
        for (unsigned size : sizes) {
            count = o.mbufs ? size : std::max(size, min_pool_mbufs);
            pool = rte_pktmbuf_pool_create(name.c_str(), count, mempool_cache, 0,
                                           RTE_MBUF_DEFAULT_BUF_SIZE, socket);
            if (pool != nullptr)
                break;
        }
        if (pool == nullptr)
            return fmt::format("cannot create a pool of {} mbufs ({} MiB) on socket {}: {}; give EAL "
                               "more memory (-m, or more hugepages) or lower --ring-size, --rx-desc "
                               "or --mbufs", count, mbuf_pool_mib(count), socket,
                               rte_strerror(rte_errno));
        if (o.mbufs == 0 && count < need)
            fmt::print(stderr,
                       "linecap: warning: socket {}: a pool of {} mbufs ({} MiB) is all that fits, "
                       "below the {} that RX queues and rings can hold; under load the driver may "
                       "count no-mbuf drops. Give EAL more memory (-m) or lower --rx-desc/--ring-size.\n",
                       socket, count, mbuf_pool_mib(count), need);
        p.pools[socket] = pool;
    }
    return {};
}

std::string make_lcores(pipeline& p)
{
    const engine_options& o = p.options;
    for (unsigned i = 0; i < p.layout.writers.size(); i++) {
        const unsigned lcore = p.layout.writers[i];
        writer* w = new_on_socket<writer>(rte_lcore_to_socket_id(lcore));
        if (w == nullptr)
            return fmt::format("writer {}: out of memory on socket {}", i, rte_lcore_to_socket_id(lcore));
        w->index = i;
        w->lcore = lcore;
        w->clock = &p.clock;
        w->stop = &p.stop_writers;
        w->flush_interval_tsc = p.clock.hz / 2;   // captured data on disk within half a second
        p.writers.push_back(w);
    }

    int ts_offset = -1;
    uint64_t ts_flag = 0;
    if (int rc = rte_mbuf_dyn_rx_timestamp_register(&ts_offset, &ts_flag); rc != 0)
        return fmt::format("cannot register the RX timestamp mbuf field: {}", rte_strerror(rte_errno));

    for (unsigned i = 0; i < p.layout.workers.size(); i++) {
        const unsigned lcore = p.layout.workers[i];
        const unsigned socket = rte_lcore_to_socket_id(lcore);
        worker* w = new_on_socket<worker>(socket);
        if (w == nullptr)
            return fmt::format("worker {}: out of memory on socket {}", i, socket);
        p.workers.push_back(w);
        w->index = i;
        w->lcore = lcore;
        w->writer_index = i % static_cast<unsigned>(p.writers.size());
        w->burst = o.burst;
        w->clock = &p.clock;
        w->stop = &p.stop_workers;
        w->abandon = &p.abandon_waits;
        w->rx_timestamp_offset = ts_offset;
        w->rx_timestamp_flag = ts_flag;
        const std::string ring_name = fmt::format("linecap_ring_{}", i);
        w->ring = rte_ring_create(ring_name.c_str(), o.ring_size, static_cast<int>(socket),
                                  RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
        if (w->ring == nullptr)
            return fmt::format("worker {}: cannot create its ring of {} slots: {}", i, o.ring_size,
                               rte_strerror(rte_errno));
        writer& sink = *p.writers[w->writer_index];
        if (sink.nb_rings == max_rings_per_writer)
            return fmt::format("writer {} would serve more than {} workers; add writers", sink.index,
                               max_rings_per_writer);
        sink.rings[sink.nb_rings++] = w->ring;
    }

    // Queues go round-robin over the workers, so that RSS queue q of a port
    // and queue q of the next port land on different workers.
    unsigned next = 0;
    for (const port_plan& port : p.ports) {
        for (uint16_t q = 0; q < port.nb_queues; q++) {
            worker& w = *p.workers[next++ % p.workers.size()];
            if (w.nb_queues == max_queues_per_worker)
                return fmt::format("worker {} would poll more than {} queues; add workers", w.index,
                                   max_queues_per_worker);
            w.queues[w.nb_queues++] = {port.id, q, port.timestamps, port.replay || o.lossless};
        }
    }
    return {};
}

// Compiles the session's filter, opens its files on every writer, and gives
// the workers a classifier that knows it.
std::string open_session(pipeline& p, const session_spec& spec)
{
    std::string error;
    auto filter = session_filter::compile(spec, error, p.options.bpf_jit);
    if (!filter)
        return error;
    const unsigned slot = static_cast<unsigned>(p.sessions.size());
    std::vector<classifier::entry> entries{{slot, filter}};
    p.filter = classifier::build(entries, static_cast<unsigned>(p.workers.size()),
                                 static_cast<int>(rte_socket_id()), error);
    if (!p.filter)
        return error;

    auto s = std::make_unique<session>();
    s->spec = spec.output;
    s->dir_fd = open(spec.output.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0)
        return fmt::format("--out {}: cannot open the folder: {}", spec.output.dir, strerror(errno));
    s->start_ns = p.clock.now_ns();
    s->packets_left.reset(spec.output.limits.packets);
    s->bytes_left.reset(spec.output.limits.bytes);
    for (const port_plan& port : p.ports)
        s->interfaces.push_back({port.id, port.name, port.driver});
    s->read_interface = [](uint16_t port) {
        const port_counters c = read_port_counters(port);
        return interface_counters{c.rx_packets, c.imissed + c.nombuf};
    };
    for (writer* w : p.writers) {
        if (w->open_session(slot, s.get(), error) != 0) {
            // Leave no empty files behind for a capture that never started.
            for (writer* opened : p.writers)
                opened->outputs[slot].file.file().discard();
            close(s->dir_fd);
            return error;
        }
    }
    for (worker* w : p.workers)
        w->filter = p.filter.get();
    p.sessions.push_back(std::move(s));
    return {};
}

double seconds_since(const pipeline& p, uint64_t tsc)
{
    return static_cast<double>(tsc - p.start_tsc) / static_cast<double>(p.clock.hz);
}

// TSC of the newest packet any worker received (or of the start).
uint64_t last_rx_tsc(const pipeline& p)
{
    uint64_t last = p.start_tsc;
    for (const worker* w : p.workers)
        last = std::max(last, w->last_rx_tsc.load(std::memory_order_relaxed));
    return last;
}

bool all_done(const std::vector<worker*>& workers)
{
    return std::all_of(workers.begin(), workers.end(),
                       [](const worker* w) { return w->done.load(std::memory_order_acquire); });
}

void sleep_ms(unsigned ms)
{
    rte_delay_us_sleep(ms * 1000u);
}

// Decides when to stop, then stops the pipeline in order: workers first, so
// nothing new enters the rings; writers last, once every ring is drained.
void* monitor_main(void* arg)
{
    pipeline& p = *static_cast<pipeline*>(arg);
    const engine_options& o = p.options;
    const uint64_t hz = p.clock.hz;
    uint64_t next_stats = p.start_tsc + static_cast<uint64_t>(o.stats_interval_s * static_cast<double>(hz));
    stop_reason why = stop_reason::none;

    while (why == stop_reason::none) {
        sleep_ms(monitor_period_ms);
        // Workers' times first, then ours: read the other way round, a worker
        // stamping a packet in between would make "now - last" wrap around.
        const uint64_t last_rx = last_rx_tsc(p);
        const uint64_t now = rte_rdtsc();
        if (p.failed.load(std::memory_order_relaxed))
            why = stop_reason::error;
        else if (stop_signalled.load(std::memory_order_relaxed))
            why = stop_reason::user;
        else if (o.session.output.limits.seconds > 0 && seconds_since(p, now) >= o.session.output.limits.seconds)
            why = stop_reason::duration;
        else if (o.idle_exit_s > 0 && now > last_rx &&
                 static_cast<double>(now - last_rx) / static_cast<double>(hz) >= o.idle_exit_s)
            why = stop_reason::idle;
        else if (std::all_of(p.sessions.begin(), p.sessions.end(),
                             [](const auto& s) { return s->stopped(); }))
            why = p.sessions.front()->reason.load();
        if (o.stats_interval_s > 0 && now >= next_stats) {
            print_live_counters(p, seconds_since(p, now));
            next_stats += static_cast<uint64_t>(o.stats_interval_s * static_cast<double>(hz));
        }
    }
    for (auto& s : p.sessions)
        s->stop(why);

    p.stop_tsc = rte_rdtsc();
    p.stop_workers.store(true, std::memory_order_release);
    const uint64_t give_up = p.stop_tsc + static_cast<uint64_t>(stop_grace_s * static_cast<double>(hz));
    while (!all_done(p.workers)) {
        if (rte_rdtsc() > give_up)
            p.abandon_waits.store(true, std::memory_order_relaxed);
        sleep_ms(1);
    }
    p.stop_writers.store(true, std::memory_order_release);
    p.reason = p.sessions.front()->reason.load();
    return nullptr;
}

} // namespace

void request_stop_from_signal()
{
    stop_signalled.store(true, std::memory_order_relaxed);
}

pipeline::pipeline() = default;

pipeline::~pipeline()
{
    for (worker* w : workers) {
        if (w != nullptr)
            rte_ring_free(w->ring);
        delete_on_socket(w);
    }
    for (writer* w : writers)
        delete_on_socket(w);
    for (auto& s : sessions)
        if (s->dir_fd >= 0)
            close(s->dir_fd);
    for (rte_mempool* pool : pools)
        rte_mempool_free(pool);
}

std::string build_pipeline(pipeline& p)
{
    if (register_packet_meta() != 0)
        return fmt::format("cannot register the packet metadata mbuf field: {}", rte_strerror(rte_errno));
    p.clock = tsc_clock::calibrate();

    std::vector<unsigned> enabled{rte_get_main_lcore()};
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore)
        enabled.push_back(lcore);
    if (auto e = plan_lcores(p.options, enabled, p.layout); !e.empty())
        return e;
    if (auto e = plan_ports(p.options, static_cast<unsigned>(p.layout.workers.size()), p.ports); !e.empty())
        return e;
    if (auto e = make_pools(p); !e.empty())
        return e;
    if (auto e = make_lcores(p); !e.empty())
        return e;
    for (port_plan& port : p.ports)
        if (auto e = start_port(p.options, port, p.pools[port.socket]); !e.empty())
            return e;
    return open_session(p, p.options.session);
}

stop_reason run_pipeline(pipeline& p)
{
    const unsigned main_lcore = rte_get_main_lcore();
    lcore_function_t* main_role = nullptr;
    void* main_arg = nullptr;
    p.start_tsc = rte_rdtsc();

    // The monitor first: it is what stops everything else, so nothing may
    // run without it. If DPDK cannot give us a control thread, a plain one.
    pthread_t monitor;
    if (int rc = rte_ctrl_thread_create(&monitor, "linecap-monitor", nullptr, monitor_main, &p); rc != 0 &&
        (rc = pthread_create(&monitor, nullptr, monitor_main, &p)) != 0) {
        fmt::print(stderr, "linecap: cannot start the monitor thread: {}\n", strerror(rc));
        return stop_reason::error;
    }

    // Writers before workers, so no ring fills with nobody to drain it. A
    // lcore that cannot be launched stops the capture with reason "error".
    auto launch = [&](lcore_function_t* role, void* arg, unsigned lcore, const char* what, unsigned index) {
        if (lcore == main_lcore) {
            main_role = role;
            main_arg = arg;
            return true;
        }
        if (int rc = rte_eal_remote_launch(role, arg, lcore); rc != 0) {
            fmt::print(stderr, "linecap: cannot launch {} {} on lcore {}: {}\n", what, index, lcore, strerror(-rc));
            p.failed.store(true, std::memory_order_relaxed);
            return false;
        }
        return true;
    };
    bool writers_up = true;
    for (writer* w : p.writers)
        writers_up = launch(writer_main, w, w->lcore, "writer", w->index) && writers_up;
    for (worker* w : p.workers) {
        // More workers than queues leaves some with nothing to poll.
        if (!writers_up || w->nb_queues == 0 || !launch(worker_main, w, w->lcore, "worker", w->index))
            w->done.store(true, std::memory_order_release);
    }
    if (main_role != nullptr && (writers_up || main_role == writer_main))
        main_role(main_arg);
    rte_eal_mp_wait_lcore();
    pthread_join(monitor, nullptr);
    return p.reason;
}

void close_ports(pipeline& p)
{
    for (const port_plan& port : p.ports)
        close_port(port);
}

} // namespace linecap
