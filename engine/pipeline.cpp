#include "engine/pipeline.h"
#include "core/error_text.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <pthread.h>
#include <string_view>
#include <unistd.h>

#include <fmt/format.h>
#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

#include "core/log.h"
#include "engine/stats.h"
#include "filters/classifier.h"

namespace linecap {

namespace {

std::atomic<bool> stop_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

// Per-lcore mempool cache. Mbufs parked in caches are out of circulation, so
// the pool is sized with them in mind.
constexpr unsigned mempool_cache = 256;

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

// A pool of `count` mbufs of the default data room. `packed`: every object
// right after the previous one in a single chunk, with no gap left at page
// boundaries (RTE_MEMPOOL_F_NO_IOVA_CONTIG), which is what DPDK 22.11's
// net_af_xdp takes for granted when it registers the pool as its UMEM (the
// first chunk, populated size x object size); rte_pktmbuf_pool_create
// offers no flags, so the pool is built here the way it builds one.
rte_mempool* create_pool(const std::string& name, unsigned count, int socket, bool packed)
{
    if (!packed)
        return rte_pktmbuf_pool_create(name.c_str(), count, mempool_cache, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    rte_pktmbuf_pool_private priv{};
    priv.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE;
    rte_mempool* pool = rte_mempool_create_empty(name.c_str(), count,
                                                 sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE,
                                                 mempool_cache, sizeof priv, socket,
                                                 RTE_MEMPOOL_F_NO_IOVA_CONTIG);
    if (pool == nullptr)
        return nullptr;
    int rc = rte_mempool_set_ops_byname(pool, rte_mbuf_best_mempool_ops(), nullptr);
    if (rc == 0) {
        rte_pktmbuf_pool_init(pool, &priv);
        rc = rte_mempool_populate_default(pool);
    }
    if (rc < 0 || pool->nb_mem_chunks != 1) {
        // In several chunks when no single free span was large enough.
        rte_mempool_free(pool);
        rte_errno = rc < 0 ? -rc : ENOMEM;
        return nullptr;
    }
    rte_mempool_obj_iter(pool, rte_pktmbuf_init, nullptr);
    return pool;
}

std::string make_pools(pipeline& p)
{
    const engine_config& o = p.config;
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
        const port_plan* packed_for = nullptr;   // the port that needs a packed pool
        const port_plan* dma_port = nullptr;     // a NIC that DMAs into it
        for (const port_plan& port : p.ports) {
            if (port.socket == socket) {
                need += port_mbuf_need(port) + port.preloaded_packets;
                used = true;
                if (port.packed_pool && packed_for == nullptr)
                    packed_for = &port;
                if (!port.vdev && dma_port == nullptr)
                    dma_port = &port;
            }
        }
        if (!used)
            continue;
        // Packed mbufs may straddle pages; a NIC that DMAs to physical
        // addresses cannot take those.
        if (packed_for != nullptr && dma_port != nullptr && rte_eal_iova_mode() == RTE_IOVA_PA)
            return fmt::format("port {} ({}) and port {} ({}) would share socket {}'s mbuf pool, and "
                               "{} needs its mbufs packed across page boundaries, which a NIC "
                               "using physical addresses cannot DMA into: run with --iova-mode=va "
                               "(vfio-pci with an IOMMU), or capture them in two linecap processes",
                               packed_for->id, packed_for->name, dma_port->id, dma_port->name, socket,
                               packed_for->driver);
        need += in_flight;
        // Twice the need when memory allows, for headroom; then the need;
        // then less, down to a quarter, rather than not running at all. A
        // short pool shows up as counted no-mbuf drops, never as silent loss.
        std::vector<unsigned> sizes{o.mbufs};
        if (o.mbufs == 0)
            sizes = {round_up_pool(2 * need), need, need / 2, need / 4};
        // -r FILE: nothing is lost for want of mbufs (a record waits in its
        // ring), so no headroom: a smaller pool starts sooner and its mbufs
        // stay in cache.
        if (o.mbufs == 0 && p.file)
            sizes = {round_up_pool(need), need / 2, need / 4};
        const std::string name = fmt::format("linecap_mbufs_{}", socket);
        rte_mempool* pool = nullptr;
        unsigned count = 0;
        for (unsigned size : sizes) {
            count = o.mbufs ? size : std::max(size, min_pool_mbufs);
            pool = create_pool(name, count, socket, packed_for != nullptr);
            if (pool != nullptr)
                break;
        }
        if (pool == nullptr)
            return fmt::format("cannot create a pool of {} mbufs ({} MiB{}) on socket {}: {}; give EAL "
                               "more memory (-m, or more hugepages) or lower --ring-size, --rx-desc "
                               "or --mbufs", count, mbuf_pool_mib(count),
                               packed_for != nullptr
                                   ? fmt::format(" in one span, as {} needs", packed_for->driver)
                                   : "",
                               socket, rte_error_text(rte_errno));
        if (o.mbufs == 0 && count < need)
            log_event(log_module::engine, log_level::warning,
                      "socket {}: a pool of {} mbufs ({} MiB) is all that fits, below the {} that RX "
                      "queues and rings can hold; under load the driver may count no-mbuf drops. Give "
                      "EAL more memory (-m) or lower --rx-desc/--ring-size.",
                      socket, count, mbuf_pool_mib(count), need);
        p.pools[socket] = pool;
    }
    return {};
}

// The samples a writer hands to the control thread for `watch`: a fixed
// pool, cycled through two rings.
std::string make_watch_pool(writer& w)
{
    const int socket = static_cast<int>(rte_lcore_to_socket_id(w.lcore));
    w.watch_samples = rte_ring_create(fmt::format("linecap_watch_{}", w.index).c_str(), watch_pool_size + 1,
                                      socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    w.watch_free = rte_ring_create(fmt::format("linecap_wfree_{}", w.index).c_str(), watch_pool_size + 1,
                                   socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    auto* pool = static_cast<watch_sample*>(
        rte_zmalloc_socket("linecap_watch", sizeof(watch_sample) * watch_pool_size, RTE_CACHE_LINE_SIZE, socket));
    if (w.watch_samples == nullptr || w.watch_free == nullptr || pool == nullptr) {
        rte_free(pool);
        return fmt::format("writer {}: cannot set up its watch samples: {}", w.index, rte_error_text(rte_errno));
    }
    for (unsigned i = 0; i < watch_pool_size; i++)
        rte_ring_sp_enqueue(w.watch_free, &pool[i]);
    w.watch_pool = pool;
    return {};
}

std::string make_lcores(pipeline& p)
{
    const engine_config& o = p.config;
    p.reaper = std::make_unique<file_reaper>();
    if (std::string e = p.reaper->start("linecap_reaper"); !e.empty())
        return e;
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
        if (const char* pause = getenv("LINECAP_TEST_WRITER_PAUSE_US"))   // a test's hook (writer.h)
            w->test_pause_us = static_cast<unsigned>(std::strtoul(pause, nullptr, 10));
        w->wire_len_in_meta = p.file != nullptr;
        w->reaper = p.reaper.get();
        p.writers.push_back(w);
        const std::string name = fmt::format("linecap_cmd_{}", i);
        w->commands = rte_ring_create(name.c_str(), 64, static_cast<int>(rte_lcore_to_socket_id(lcore)),
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (w->commands == nullptr)
            return fmt::format("writer {}: cannot create its command ring: {}", i, rte_error_text(rte_errno));
        if (std::string e = make_watch_pool(*w); !e.empty())
            return e;
    }

    // Workers report quiescent states between bursts, so the control thread
    // knows when no worker can still hold a classifier it has replaced.
    const size_t qsbr_size = rte_rcu_qsbr_get_memsize(static_cast<uint32_t>(p.layout.workers.size()));
    p.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("linecap_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
    if (p.qsbr == nullptr || rte_rcu_qsbr_init(p.qsbr, static_cast<uint32_t>(p.layout.workers.size())) != 0)
        return "cannot set up the workers' RCU state (out of memory?)";

    int ts_offset = -1;
    uint64_t ts_flag = 0;
    if (int rc = rte_mbuf_dyn_rx_timestamp_register(&ts_offset, &ts_flag); rc != 0)
        return fmt::format("cannot register the RX timestamp mbuf field: {}", rte_error_text(rte_errno));

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
        w->go = &p.workers_go;
        w->stop = &p.stop_workers;
        w->abandon = &p.abandon_waits;
        w->filter = &p.active_classifier;
        w->qsbr = p.qsbr;
        rte_rcu_qsbr_thread_register(p.qsbr, i);
        w->rx_timestamp_offset = ts_offset;
        w->rx_timestamp_flag = ts_flag;
        const std::string ring_name = fmt::format("linecap_ring_{}", i);
        w->ring = rte_ring_create(ring_name.c_str(), o.ring_size, static_cast<int>(socket),
                                  RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
        if (w->ring == nullptr)
            return fmt::format("worker {}: cannot create its ring of {} slots: {}", i, o.ring_size,
                               rte_error_text(rte_errno));
        writer& sink = *p.writers[w->writer_index];
        if (sink.nb_rings == max_rings_per_writer)
            return fmt::format("writer {} would serve more than {} workers; add writers", sink.index,
                               max_rings_per_writer);
        sink.rings[sink.nb_rings++] = w->ring;
        w->doorbell = &sink.doorbell;
        w->marks_epoch = &sink.marks_epoch;
        w->ring_wake_below = doorbell_wake_below(rte_ring_get_capacity(w->ring));
        w->mark_below = w->ring_wake_below;
        // A benchmark's hook, never a capture's: workers that never mark
        // ("none": the writer reads every record's keys) or mark whenever
        // the ring has room ("all"), so that scripts/bench --only index
        // counts the writer's instructions a record at either end of what
        // the rule above gives (callgrind's run leaves the ring's fill,
        // and so the mix, to its scheduling).
        static const char* bench_marks = getenv("LINECAP_BENCH_MARKS");
        if (bench_marks != nullptr && std::string_view(bench_marks) == "none")
            w->mark_below = 0;
        else if (bench_marks != nullptr && std::string_view(bench_marks) == "all")
            w->mark_below = rte_ring_get_capacity(w->ring) + 1;
    }

    // Queues go round-robin over the workers, so that RSS queue q of a port
    // and queue q of the next port land on different workers.
    unsigned next = 0;
    for (port_plan& port : p.ports) {
        port.queue_lcores.clear();
        for (uint16_t q = 0; q < port.nb_queues; q++) {
            worker& w = *p.workers[next++ % p.workers.size()];
            if (w.nb_queues == max_queues_per_worker)
                return fmt::format("worker {} would poll more than {} queues; add workers", w.index,
                                   max_queues_per_worker);
            w.queues[w.nb_queues++] = {port.id, q, port.timestamps, port.replay || o.lossless,
                                       timestamp_unit_ns(port.timestamps), port.file ? p.file.get() : nullptr};
            port.queue_lcores.push_back(w.lcore);
        }
        // A file (-r) is read as fast as the writers take it and never
        // idles: its worker never naps, whatever the mode.
        port.idle = port.file ? idle_mode::poll : o.idle;
    }
    // Napping is the worker's own (--idle-mode sleep); pause and monitor run
    // inside the RX call, set up per queue by start_port.
    for (worker* w : p.workers)
        w->idle_nap_us = o.idle == idle_mode::sleep && !p.file ? sleep_nap_us : 0;
    return {};
}

// -r FILE: the file is the one port, not an ethdev. A port that EAL probed
// as well (a --vdev, a NIC) is refused rather than captured unannounced.
std::string plan_file_port(pipeline& p)
{
    if (const uint16_t n = rte_eth_dev_count_avail(); n != 0) {
        // What to leave out: a virtual device's --vdev; a NIC's -a (or
        // --no-pci, which ends the PCI scan that found it).
        bool virtual_device = false, other_device = false;
        uint16_t id = 0, first = RTE_MAX_ETHPORTS;
        RTE_ETH_FOREACH_DEV(id) {
            if (first == RTE_MAX_ETHPORTS)
                first = id;
            rte_eth_dev_info info{};
            const bool vdev = rte_eth_dev_info_get(id, &info) == 0 && info.device != nullptr &&
                              std::string_view(rte_bus_name(rte_dev_bus(info.device))) == "vdev";
            (vdev ? virtual_device : other_device) = true;
        }
        char name[RTE_ETH_NAME_MAX_LEN] = "?";
        rte_eth_dev_get_name_by_port(first, name);
        return fmt::format("-r {}: the file is the only source, but EAL also found {} port{} ({}{}): {}",
                           p.file->name, n, n == 1 ? "" : "s", name, n > 1 ? ", ..." : "",
                           !other_device ? "leave out --vdev"
                           : virtual_device ? "leave out --vdev and -a, or add --no-pci"
                                            : "leave out -a, or add --no-pci");
    }
    port_plan port;
    port.id = p.file->port_id;
    port.name = p.file->name;
    port.driver = p.file->kind;
    port.socket = static_cast<int>(rte_socket_id());
    port.file = true;
    port.replay = true;
    port.timestamps = timestamp_source::file_ns;
    port.rx_desc = 0;   // no descriptors: mbufs are made as the worker takes records
    p.ports.push_back(port);
    register_file_port(port.id, &p.file->rx_packets, &p.file->rx_bytes);
    return {};
}

bool all_done(const std::vector<worker*>& workers)
{
    return std::all_of(workers.begin(), workers.end(),
                       [](const worker* w) { return w->done.load(std::memory_order_acquire); });
}

struct control_call {
    pipeline* p;
    const setup_step* setup;
    const control_loop* control;
};

// The control thread: the caller's loop, then the ordered stop. Workers
// first, so nothing new enters the rings; writers last, once every ring is
// drained.
void* control_main(void* arg)
{
    const control_call& call = *static_cast<control_call*>(arg);
    pipeline& p = *call.p;
    std::string error;
    if (*call.setup)
        error = (*call.setup)(p);
    if (!error.empty()) {
        log_event(log_module::engine, log_level::error, "{}", error);
        p.failed.store(true, std::memory_order_relaxed);
    } else if (!p.failed.load(std::memory_order_relaxed)) {
        p.workers_go.store(true, std::memory_order_release);
        (*call.control)(p);
    }

    p.stop_tsc = rte_rdtsc();
    p.stop_workers.store(true, std::memory_order_release);
    const uint64_t give_up = p.stop_tsc + static_cast<uint64_t>(stop_grace_s * static_cast<double>(p.clock.hz));
    while (!all_done(p.workers)) {
        if (rte_rdtsc() > give_up)
            p.abandon_waits.store(true, std::memory_order_relaxed);
        rte_delay_us_sleep(1000);
    }
    p.stop_writers.store(true, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);   // the stop before the look at each doorbell
    for (writer* w : p.writers)
        ring_doorbell(w->doorbell);
    return nullptr;
}

} // namespace

void request_stop_from_signal()
{
    stop_signalled.store(true, std::memory_order_relaxed);
}

bool stop_requested_by_signal()
{
    return stop_signalled.load(std::memory_order_relaxed);
}

uint64_t last_rx_tsc(const pipeline& p)
{
    uint64_t last = p.start_tsc;
    for (const worker* w : p.workers)
        last = std::max(last, w->last_rx_tsc.load(std::memory_order_relaxed));
    return last;
}

pipeline::pipeline() = default;

pipeline::~pipeline()
{
    if (file) {
        register_file_port(file->port_id, nullptr, nullptr);   // its counters go with it
        close_file_port(*file);
    }
    for (worker* w : workers) {
        if (w != nullptr)
            rte_ring_free(w->ring);
        delete_on_socket(w);
    }
    for (writer* w : writers) {
        if (w != nullptr) {
            rte_ring_free(w->commands);
            rte_ring_free(w->watch_samples);
            rte_ring_free(w->watch_free);
            rte_free(w->watch_pool);
        }
        delete_on_socket(w);
    }
    rte_free(qsbr);
    for (rte_mempool* pool : pools)
        rte_mempool_free(pool);
}

std::string build_pipeline(pipeline& p)
{
    if (register_packet_meta() != 0)
        return fmt::format("cannot register the packet metadata mbuf field: {}", rte_error_text(rte_errno));
    // A file's packets carry their own times: the clock only times the run
    // and names files, and 10 ms of calibration (about 100 ppm) serve.
    p.clock = tsc_clock::calibrate(p.file ? 10 : 100);

    std::vector<unsigned> enabled{rte_get_main_lcore()};
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore)
        enabled.push_back(lcore);
    if (auto e = plan_lcores(p.config, enabled, p.layout); !e.empty())
        return e;
    if (auto e = p.file ? plan_file_port(p)
                        : plan_ports(p.config, static_cast<unsigned>(p.layout.workers.size()), p.ports);
        !e.empty())
        return e;
    if (auto e = make_pools(p); !e.empty())
        return e;
    if (auto e = make_lcores(p); !e.empty())
        return e;
    // No session yet: a classifier that wants nothing.
    std::string error;
    p.active_owner = classifier::build({}, static_cast<unsigned>(p.workers.size()),
                                       static_cast<int>(rte_socket_id()), error);
    if (!p.active_owner)
        return error;
    p.active_classifier.store(p.active_owner.get(), std::memory_order_release);
    for (port_plan& port : p.ports) {
        if (auto e = port.file ? open_file_port(*p.file, p.pools[port.socket])
                               : start_port(p.config, port, p.pools[port.socket]);
            !e.empty())
            return e;
    }
    return {};
}

bool run_pipeline(pipeline& p, const setup_step& setup, const control_loop& control)
{
    const unsigned main_lcore = rte_get_main_lcore();
    lcore_function_t* main_role = nullptr;
    void* main_arg = nullptr;
    p.start_tsc = rte_rdtsc();

    // The control thread first: it is what stops everything else, so
    // nothing may run without it. If DPDK cannot give us one, a plain thread.
    control_call call{&p, &setup, &control};
    pthread_t thread;
    if (int rc = rte_ctrl_thread_create(&thread, "linecap-control", nullptr, control_main, &call); rc != 0 &&
        (rc = pthread_create(&thread, nullptr, control_main, &call)) != 0) {
        log_event(log_module::engine, log_level::error, "cannot start the control thread: {}", error_text(rc));
        return false;
    }

    // Writers before workers, so no ring fills with nobody to drain it. A
    // lcore that cannot be launched makes the control loop stop (p.failed).
    auto launch = [&](lcore_function_t* role, void* arg, unsigned lcore, const char* what, unsigned index) {
        if (lcore == main_lcore) {
            main_role = role;
            main_arg = arg;
            return true;
        }
        if (int rc = rte_eal_remote_launch(role, arg, lcore); rc != 0) {
            log_event(log_module::engine, log_level::error, "cannot launch {} {} on lcore {}: {}", what, index, lcore, error_text(rc));
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
    pthread_join(thread, nullptr);
    return !p.failed.load();
}

void close_ports(pipeline& p)
{
    for (const port_plan& port : p.ports)
        if (!port.file)
            close_port(port);
}

} // namespace linecap
