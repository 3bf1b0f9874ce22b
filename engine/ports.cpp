#include "engine/ports.h"
#include "core/error_text.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string_view>

#include <fmt/format.h>
#include <rte_bus.h>
#include <rte_cpuflags.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include <rte_kvargs.h>
#include <rte_mbuf.h>
#include <rte_power_pmd_mgmt.h>

#include <pcap/pcap.h>

#include "core/log.h"

namespace linecap {

namespace {

// RSS hashes every IP flow; with a key of one repeated 16-bit pattern the
// Toeplitz hash is symmetric (Woo & Park, 2012), so both directions of a flow
// land on the same queue and so on the same worker.
constexpr uint64_t rss_wanted = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP |
                                RTE_ETH_RSS_SCTP;
constexpr uint8_t symmetric_key_pattern[2] = {0x6d, 0x5a};

// Drivers that refuse a configuration whose TX queues are not as many as its
// RX queues (DPDK 22.11: net_af_xdp, whose AF_XDP socket has one RX and one
// TX ring; net_tap, whose queue is one file descriptor for both directions;
// net_mana), or that accept one and then carry nothing or garbage (net_memif,
// whose peers connect ring pairs). linecap never transmits: for these it sets
// up that many TX queues of the smallest size and leaves them idle. Every
// other driver gets none, so nothing is allocated for a direction never used.
constexpr std::string_view drivers_with_paired_queues[] = {"net_af_xdp", "net_tap", "net_memif",
                                                           "net_mana"};
// Descriptors asked for an idle TX queue; the driver raises it to its minimum.
constexpr uint16_t idle_tx_desc = 64;

// DPDK 22.11's net_af_xdp: each queue's fill ring (2 x 2048 entries) holds
// mbufs of our pool, on top of what its RX ring holds.
constexpr unsigned af_xdp_fill_ring = 2 * 2048;

// Frame overhead above the MTU: Ethernet header, CRC, two VLAN tags.
constexpr uint32_t frame_overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + 2 * RTE_VLAN_HLEN;

std::string errno_text(int rc)
{
    return fmt::format("{} ({})", rc, rte_error_text(rc));
}

using kvargs_ptr = std::unique_ptr<rte_kvargs, decltype(&rte_kvargs_free)>;

kvargs_ptr device_kvargs(const rte_device* device)
{
    const rte_devargs* devargs = rte_dev_devargs(device);
    if (devargs == nullptr || devargs->args == nullptr)
        return {nullptr, &rte_kvargs_free};
    return {rte_kvargs_parse(devargs->args, nullptr), &rte_kvargs_free};
}

// As DPDK 22.11's net_pcap reads it (pmd_pcap_probe): given exactly once,
// with a number above 0 (atoi's reading); twice is ignored, with a warning.
bool infinite_rx(const rte_kvargs* kv)
{
    if (rte_kvargs_count(kv, "infinite_rx") != 1)
        return false;
    const char* value = rte_kvargs_get(kv, "infinite_rx");
    return value != nullptr && std::atoi(value) > 0;
}

// The files of an infinite_rx port: how many packets the driver keeps in
// mbufs, and the first file that holds none.
struct looped_files {
    unsigned packets = 0;
    std::string empty_file;
};

int count_file_packets(const char*, const char* file, void* arg)
{
    looped_files& looped = *static_cast<looped_files*>(arg);
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* pcap = pcap_open_offline(file, errbuf);
    if (pcap == nullptr)
        return 0;   // net_pcap itself reports the bad file
    pcap_pkthdr* header;
    const u_char* data;
    unsigned packets = 0;
    while (pcap_next_ex(pcap, &header, &data) == 1)
        packets++;
    pcap_close(pcap);
    looped.packets += packets;
    if (packets == 0 && looped.empty_file.empty())
        looped.empty_file = file;
    return 0;
}

// net_af_packet and net_af_xdp ports: the kernel interface's received count
// when the port started. Set by start_port before any reader runs, read-only
// afterwards.
struct kernel_source {
    std::string rx_packets_path;   // empty: no kernel interface behind the port, or no sysfs counter
    uint64_t at_start = 0;
};
std::array<kernel_source, RTE_MAX_ETHPORTS> kernel_sources;

// Ports that are no ethdev (-r FILE): their counters.
struct file_source {
    const std::atomic<uint64_t>* rx_packets = nullptr;
    const std::atomic<uint64_t>* rx_bytes = nullptr;
};
std::array<file_source, RTE_MAX_ETHPORTS> file_sources;

bool read_kernel_counter(const std::string& path, uint64_t& value)
{
    std::ifstream in(path);
    return static_cast<bool>(in >> value);
}

int remember_value(const char*, const char* value, void* out)
{
    *static_cast<std::string*>(out) = value;
    return 0;
}

// What a port cannot do, for a warning at start-up; empty when nothing.
std::string port_caveat(const port_plan& p)
{
    if (p.driver == "net_af_packet")
        // Its sockets join a PACKET_FANOUT group with PACKET_FANOUT_FLAG_DEFRAG,
        // unconditionally and with no devarg to turn it off; and it puts a
        // VLAN tag the kernel took off back as 802.1Q whatever its TPID.
        return "DPDK 22.11's net_af_packet has the kernel reassemble IPv4 fragments before it "
               "delivers them: no fragment is captured as sent (a complete set arrives as one "
               "reassembled packet, the others are counted as dropped_nic), and an 802.1ad outer "
               "tag arrives as 802.1Q. To capture frames as they were on the wire, use "
               "--vdev net_af_xdp0,iface=" + (p.kernel_iface.empty() ? "IFACE" : p.kernel_iface) +
               " or --vdev net_pcap0,rx_iface=" + (p.kernel_iface.empty() ? "IFACE" : p.kernel_iface);
    if (p.driver == "net_memif")
        // memif_disconnect() clears the connected flag and unmaps the shared
        // regions at once, from the interrupt thread, with nothing that waits
        // for a burst already past the flag (drivers/net/memif, 22.11).
        return "DPDK 22.11's net_memif unmaps the shared memory as soon as the peer disconnects, "
               "without waiting for a receive in progress: a peer that goes away while linecap "
               "polls can crash linecap (dpdk-testpmd, polling the same driver, crashed in 1 of 6 "
               "tries when linecap went away). Stop linecap before its peer; a daemon recovers its sessions' files on restart";
    if (p.driver == "net_ring")
        return "a net_ring made by --vdev receives only what is transmitted on it, and linecap "
               "never transmits: nothing will arrive (net_ring serves programs that build ports "
               "over their own rings). To replay a file use --vdev net_pcap0,rx_pcap=FILE";
    return {};
}

// --idle-mode monitor: RX queues put under MONITOR per lcore, across ports.
// One queue per lcore is all that UMWAIT can watch; several need the CPU's
// multi-monitor (RTM), which DPDK checks when the second is added.
std::array<unsigned, RTE_MAX_LCORE> monitored_queues{};

// What --idle-mode monitor needs of the driver and of the CPU, checked before
// DPDK's power management is asked (it answers only -ENOTSUP): empty, or the
// one line saying which and what to type instead.
std::string check_monitor(const port_plan& p, const std::string& where)
{
    const std::string instead = "use --idle-mode sleep (which gives the CPU back to other processes) or "
                                "--idle-mode pause";
    for (uint16_t q = 0; q < p.nb_queues; q++) {
        rte_power_monitor_cond cond{};
        if (rte_eth_get_monitor_addr(p.id, q, &cond) == -ENOTSUP)
            return fmt::format("{}: --idle-mode monitor waits for the driver to write the queue's next RX "
                               "descriptor, and driver {} cannot say where that is (it has no "
                               "get_monitor_addr in DPDK 22.11): {}", where, p.driver, instead);
    }
    rte_cpu_intrinsics cpu{};
    rte_cpu_get_intrinsics_support(&cpu);
    if (!cpu.power_monitor)
        return fmt::format("{}: --idle-mode monitor needs the CPU to wait on a memory address in user "
                           "space (UMONITOR/UMWAIT, the WAITPKG feature), which this CPU lacks (see the "
                           "flags in /proc/cpuinfo): {}", where, instead);
    if (!cpu.power_monitor_multi) {
        for (uint16_t q = 0; q < p.nb_queues; q++) {
            const unsigned lcore = p.queue_lcores[q];
            if (monitored_queues[lcore] != 0)
                return fmt::format("{}: --idle-mode monitor: the worker on lcore {} polls more than one "
                                   "RX queue, and watching several needs the CPU's multi-monitor "
                                   "(RTM), which this CPU lacks: add workers (one per queue), or {}",
                                   where, lcore, instead);
            monitored_queues[lcore]++;
        }
    }
    return {};
}

// --idle-mode pause or monitor: DPDK's power management, an RX callback on
// each queue that pauses (PAUSE: rte_pause() for 1 µs after 512 empty polls
// of every queue of the lcore) or waits in UMWAIT for the next descriptor
// write (MONITOR). Either keeps the thread running as the OS sees it. DPDK
// takes it only while the queues are stopped: here, before the port starts.
std::string enable_power_management(port_plan& p, const std::string& where)
{
    if (p.idle != idle_mode::pause && p.idle != idle_mode::monitor)
        return {};
    if (p.queue_lcores.size() != p.nb_queues)
        return fmt::format("{}: --idle-mode {}: no worker lcore is known for its queues", where,
                           idle_mode_name(p.idle));
    if (p.idle == idle_mode::monitor)
        if (std::string e = check_monitor(p, where); !e.empty())
            return e;
    const rte_power_pmd_mgmt_type type =
        p.idle == idle_mode::pause ? RTE_POWER_MGMT_TYPE_PAUSE : RTE_POWER_MGMT_TYPE_MONITOR;
    for (uint16_t q = 0; q < p.nb_queues; q++) {
        if (int rc = rte_power_ethdev_pmgmt_queue_enable(p.queue_lcores[q], p.id, q, type); rc != 0)
            return fmt::format("{}: RX queue {}: DPDK's power management refused --idle-mode {}: {}; "
                               "use --idle-mode sleep or poll", where, q, idle_mode_name(p.idle),
                               errno_text(rc));
        p.power_managed_queues = static_cast<uint16_t>(q + 1);
    }
    return {};
}

} // namespace

std::string_view timestamp_source_name(timestamp_source source)
{
    switch (source) {
    case timestamp_source::tsc: return "tsc";
    case timestamp_source::pmd_us: return "driver-us";
    case timestamp_source::file_ns: return "file";
    }
    return "?";
}

std::string plan_ports(const engine_config& o, unsigned nb_workers, std::vector<port_plan>& ports)
{
    if (rte_eth_dev_count_avail() == 0)
        return "no ports found: give a vdev (e.g. --vdev=net_pcap0,rx_pcap=FILE; one that failed "
               "to start says why above) or bind a NIC to vfio-pci with dpdk-devbind.py and pass "
               "it with -a";
    uint16_t port_id;
    RTE_ETH_FOREACH_DEV(port_id) {
        rte_eth_dev_info info{};
        if (int rc = rte_eth_dev_info_get(port_id, &info); rc != 0)
            return fmt::format("port {}: cannot read device info: {}", port_id, errno_text(rc));
        port_plan p;
        p.id = port_id;
        p.name = rte_dev_name(info.device);
        p.driver = info.driver_name;
        p.vdev = std::string_view(rte_bus_name(rte_dev_bus(info.device))) == "vdev";
        p.socket = std::max(rte_eth_dev_socket_id(port_id), 0);
        p.rx_desc = static_cast<uint16_t>(o.rx_desc);

        if (info.nb_rx_queues > 1) {
            // The device came up with its queue count fixed by its arguments
            // (one queue per rx_pcap file, per af_packet qpair): each carries
            // its own traffic, so every one is polled.
            p.nb_queues = info.nb_rx_queues;
        } else if (nb_workers > 1 && info.max_rx_queues > 1 &&
                   (info.flow_type_rss_offloads & rss_wanted) != 0) {
            p.nb_queues = static_cast<uint16_t>(std::min<unsigned>(nb_workers, info.max_rx_queues));
            p.rss = true;
        }

        if (p.driver == "net_af_xdp") {
            // One AF_XDP socket per queue_count, each bound to its own queue
            // of the interface, which spreads traffic over them itself: poll
            // every one (a queue with no socket passes its packets to the
            // kernel, uncaptured).
            p.nb_queues = std::max<uint16_t>(info.max_rx_queues, 1);
            p.rss = false;
            p.driver_mbufs_per_queue = af_xdp_fill_ring;
            p.packed_pool = true;
        }
        if (std::find(std::begin(drivers_with_paired_queues), std::end(drivers_with_paired_queues),
                      p.driver) != std::end(drivers_with_paired_queues))
            p.nb_tx_queues = p.nb_queues;

        // DPDK 22.11's net_pcap stamps every packet read from a file or an
        // interface with the pcap header time in microseconds (later releases
        // use nanoseconds) and sets the RX timestamp flag, without advertising
        // the offload; except a file looped with infinite_rx=1. No other
        // driver's unit is known to us.
        if (p.driver == "net_pcap") {
            p.timestamps = timestamp_source::pmd_us;
            if (kvargs_ptr kv = device_kvargs(info.device); kv && rte_kvargs_count(kv.get(), "rx_pcap") > 0) {
                // A file read once is a replay: never drop, wait for the writer.
                // A file looped with infinite_rx=1 sits in mbufs of our pool.
                p.replay = !infinite_rx(kv.get());
                if (!p.replay) {
                    looped_files looped;
                    rte_kvargs_process(kv.get(), "rx_pcap", count_file_packets, &looped);
                    // DPDK 22.11's net_pcap takes a burst of mbufs from the
                    // pool before it looks at the file's ring and keeps
                    // them when the ring is empty: every poll of an empty
                    // file's queue loses a burst, uncounted, until the
                    // pool is dry and no port receives any more.
                    if (!looped.empty_file.empty())
                        return fmt::format("port {} ({}): libpcap reads no packet from rx_pcap={}, and a "
                                           "file with none looped with infinite_rx=1 makes DPDK 22.11's "
                                           "net_pcap lose mbufs on every poll until no port receives: "
                                           "leave the file out, or replay it once (on a port of its own, "
                                           "without infinite_rx=1)",
                                           p.id, p.name, looped.empty_file);
                    p.preloaded_packets = looped.packets;
                    // Looped, each packet is a copy of one read at start-up,
                    // into a fresh mbuf with no timestamp: the worker stamps
                    // it from the TSC.
                    p.timestamps = timestamp_source::tsc;
                }
            }
        }
        // DPDK 22.11's net_af_packet counts none of the kernel's drops, and
        // net_af_xdp only those of its socket, not those of the interface
        // (a veth's XDP ring overflowing, a NIC queue no socket is bound to).
        if (p.driver == "net_af_packet" || p.driver == "net_af_xdp")
            if (kvargs_ptr kv = device_kvargs(info.device); kv)
                rte_kvargs_process(kv.get(), "iface", remember_value, &p.kernel_iface);
        ports.push_back(p);
    }
    return {};
}

unsigned port_mbuf_need(const port_plan& port)
{
    return static_cast<unsigned>(port.nb_queues) * (port.rx_desc + port.driver_mbufs_per_queue);
}

std::string start_port(const engine_config& o, port_plan& p, rte_mempool* pool)
{
    const auto where = fmt::format("port {} ({})", p.id, p.name);
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(p.id, &info); rc != 0)
        return fmt::format("{}: cannot read device info: {}", where, errno_text(rc));

    rte_eth_conf conf{};
    uint8_t key[64];
    if (p.rss) {
        const uint8_t key_len = info.hash_key_size ? std::min<uint8_t>(info.hash_key_size, sizeof key) : 40;
        for (unsigned i = 0; i < key_len; i++)
            key[i] = symmetric_key_pattern[i % 2];
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = key;
        conf.rx_adv_conf.rss_conf.rss_key_len = key_len;
        conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & rss_wanted;
    }

    uint16_t mtu = 0;
    if (o.mtu != 0) {
        conf.rxmode.mtu = o.mtu;
        mtu = static_cast<uint16_t>(o.mtu);
    } else if (rte_eth_dev_get_mtu(p.id, &mtu) != 0) {
        mtu = RTE_ETHER_MTU;
    }
    // Frames longer than one mbuf arrive as chains; drivers that build chains
    // only when asked need the scatter offload.
    const uint32_t data_room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
    if (mtu + frame_overhead > data_room) {
        if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
            conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
        else if (o.mtu != 0)
            return fmt::format("{}: --mtu {} needs frames of {} bytes in chained mbufs, and driver "
                               "{} cannot scatter; lower --mtu", where, o.mtu, mtu + frame_overhead,
                               p.driver);
    }
    p.rx_offloads = conf.rxmode.offloads;

    if (int rc = rte_eth_dev_configure(p.id, p.nb_queues, p.nb_tx_queues, &conf); rc != 0)
        return fmt::format("{}: configure with {} RX queue{}{} failed: {}", where, p.nb_queues,
                           p.nb_queues == 1 ? "" : "s",
                           p.nb_tx_queues > 0 ? fmt::format(" and {} idle TX", p.nb_tx_queues) : "",
                           errno_text(rc));

    uint16_t nb_rxd = static_cast<uint16_t>(o.rx_desc);
    uint16_t nb_txd = p.nb_tx_queues > 0 ? idle_tx_desc : 0;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(p.id, &nb_rxd, &nb_txd); rc != 0)
        return fmt::format("{}: cannot use {} RX descriptors: {}", where, o.rx_desc, errno_text(rc));
    p.rx_desc = nb_rxd;

    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    for (uint16_t q = 0; q < p.nb_queues; q++) {
        if (int rc = rte_eth_rx_queue_setup(p.id, q, nb_rxd, static_cast<unsigned>(p.socket), &rxconf, pool);
            rc != 0)
            return fmt::format("{}: RX queue {} setup failed: {}{}", where, q, errno_text(rc),
                               p.preloaded_packets > 0
                                   ? fmt::format("; with infinite_rx=1 the port keeps its {} packets "
                                                 "in mbufs: raise --mbufs", p.preloaded_packets)
                               : p.driver == "net_af_xdp"
                                   ? "; no AF_XDP socket could be bound (the driver's lines above say "
                                     "why): the interface must accept an XDP program (no other one "
                                     "attached, an MTU that fits a 2 KiB buffer: jumbo MTUs are "
                                     "refused) and linecap needs root or CAP_NET_ADMIN, CAP_NET_RAW, "
                                     "CAP_SYS_ADMIN and CAP_IPC_LOCK; --vdev net_pcap0,rx_iface=IFACE "
                                     "captures any interface"
                               : rc == -ENOMEM ? "; the mbuf pool is too small: raise --mbufs"
                                               : "");
    }

    for (uint16_t q = 0; q < p.nb_tx_queues; q++) {
        if (int rc = rte_eth_tx_queue_setup(p.id, q, nb_txd, static_cast<unsigned>(p.socket),
                                            &info.default_txconf);
            rc != 0)
            return fmt::format("{}: TX queue {} setup failed: {} (driver {} takes RX and TX queues "
                               "in pairs; linecap never transmits on it)", where, q, errno_text(rc),
                               p.driver);
    }

    if (std::string e = enable_power_management(p, where); !e.empty())
        return e;

    if (int rc = rte_eth_dev_start(p.id); rc != 0)
        return fmt::format("{}: start failed: {}{}", where, errno_text(rc),
                           p.driver == "net_memif"
                               ? "; a memif client connects once, at start, so its server must "
                                 "be running already: start the peer first, or give linecap "
                                 "role=server and let the peer connect"
                               : "");
    p.started = true;
    if (!p.kernel_iface.empty() && p.kernel_iface.find('/') == std::string::npos) {
        kernel_source& k = kernel_sources[p.id];
        k.rx_packets_path = "/sys/class/net/" + p.kernel_iface + "/statistics/rx_packets";
        if (!read_kernel_counter(k.rx_packets_path, k.at_start))
            k.rx_packets_path.clear();   // no such counter here: report the driver's figures only
    }
    if (o.promiscuous) {
        // Not every driver has the notion (net_pcap files, net_ring): fine.
        rte_eth_promiscuous_enable(p.id);
    }
    if (const std::string caveat = port_caveat(p); !caveat.empty())
        log_event(log_module::engine, log_level::warning, "{}: {}", where, caveat);
    return {};
}

void close_port(const port_plan& port)
{
    if (port.started)
        rte_eth_dev_stop(port.id);
    // DPDK's power management frees its callbacks here, so only with the
    // queues stopped and no worker polling.
    for (uint16_t q = 0; q < port.power_managed_queues; q++)
        rte_power_ethdev_pmgmt_queue_disable(port.queue_lcores[q], port.id, q);
    rte_eth_dev_close(port.id);
}

void register_file_port(uint16_t port_id, const std::atomic<uint64_t>* rx_packets,
                        const std::atomic<uint64_t>* rx_bytes)
{
    file_sources[port_id] = {rx_packets, rx_bytes};
}

port_counters read_port_counters(uint16_t port_id)
{
    rte_eth_stats s{};
    port_counters c;
    if (const file_source& f = file_sources[port_id]; f.rx_packets != nullptr) {
        c.rx_packets = f.rx_packets->load(std::memory_order_relaxed);
        c.rx_bytes = f.rx_bytes->load(std::memory_order_relaxed);
        return c;
    }
    if (rte_eth_stats_get(port_id, &s) != 0)
        return c;
    c.rx_packets = s.ipackets;
    c.rx_bytes = s.ibytes;
    c.imissed = s.imissed;
    c.nombuf = s.rx_nombuf;
    c.ierrors = s.ierrors;
    const kernel_source& k = kernel_sources[port_id];
    uint64_t kernel_rx = 0;
    // Packets the interface took that the driver did not deliver. The
    // difference can run a few packets ahead of the truth while the ring
    // holds packets not yet polled; it never counts a delivered one.
    if (!k.rx_packets_path.empty() && read_kernel_counter(k.rx_packets_path, kernel_rx) &&
        kernel_rx >= k.at_start && kernel_rx - k.at_start > c.rx_packets + c.imissed)
        c.imissed = kernel_rx - k.at_start - c.rx_packets;
    return c;
}

} // namespace linecap
