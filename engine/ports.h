// Every port EAL probed (PCI NICs and vdevs alike), configured for capture:
// RX queues (and idle TX queues for the drivers that only take them in
// pairs), promiscuous, symmetric RSS where there are several workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <rte_mempool.h>

#include "engine/config.h"

namespace linecap {

// Where a port's packets get their timestamps. DPDK does not fix the unit of
// the RX timestamp dynamic field, so we only trust it for drivers whose unit
// we know; every other port is stamped from the TSC when the burst arrives.
enum class timestamp_source : uint8_t {
    tsc,       // TSC at the RX burst, converted to wall-clock ns
    pmd_us,    // the field holds microseconds since the epoch (net_pcap in DPDK 22.11)
    file_ns,   // the field holds the capture file's nanoseconds since the epoch (linecap -r)
};

// What the RX timestamp dynamic field counts, in nanoseconds (0: not used).
constexpr uint32_t timestamp_unit_ns(timestamp_source source)
{
    return source == timestamp_source::pmd_us ? 1000 : source == timestamp_source::file_ns ? 1 : 0;
}

std::string_view timestamp_source_name(timestamp_source source);

struct port_plan {
    uint16_t id = 0;
    std::string name;          // device name, e.g. net_pcap0 or 0000:3b:00.0
    std::string driver;        // driver name, e.g. net_pcap
    bool vdev = false;         // a virtual device (no DMA), not a NIC on a bus
    int socket = 0;            // NUMA socket of the device
    uint16_t nb_queues = 1;    // RX queues we poll
    uint16_t nb_tx_queues = 0; // set up only for drivers that take queues in pairs; never used
    bool rss = false;          // queues spread by symmetric RSS
    bool replay = false;       // reading a file once (net_pcap, -r): never drop, wait
    bool file = false;         // the file of -r (engine/file_port.h)
    timestamp_source timestamps = timestamp_source::tsc;
    uint16_t rx_desc = 0;      // descriptors per queue, as the driver adjusted them
    unsigned preloaded_packets = 0;  // mbufs a net_pcap infinite_rx port keeps its file in
    unsigned driver_mbufs_per_queue = 0;  // mbufs a driver holds per queue beyond its RX descriptors
    // The pool's mbufs must lie in one span of memory, equally spaced, with
    // no gap at page boundaries: DPDK 22.11's net_af_xdp registers the pool
    // as its UMEM assuming so, and a buffer outside what it registered is
    // lost the first time it is given to the kernel.
    bool packed_pool = false;
    bool started = false;
    uint64_t rx_offloads = 0;
    // net_af_packet, net_af_xdp: the kernel interface it reads (see read_port_counters)
    std::string kernel_iface;
    // What the workers polling it do when its queues are empty (the file of
    // -r: poll, it never idles), and the worker lcore of each queue, which
    // DPDK's power management (pause, monitor) is set up for.
    idle_mode idle = idle_mode::poll;
    std::vector<unsigned> queue_lcores;
    uint16_t power_managed_queues = 0;   // queues 0..n-1 have DPDK's power management on
};

// Decides queues, timestamps and replay mode for every available port.
// Returns an empty string, or what is wrong ("no ports found: ...").
std::string plan_ports(const engine_config& config, unsigned nb_workers,
                       std::vector<port_plan>& ports);

// Mbufs one port needs for its RX rings.
unsigned port_mbuf_need(const port_plan& port);

// Configures, sets up and starts a port, with RX queues filled from `pool`;
// with --idle-mode pause or monitor, turns DPDK's power management on for
// each queue (on the lcore in `queue_lcores`) before the port starts, as it
// must be. Returns an empty string, or the failure with the port and step
// named (monitor on a driver or CPU that cannot: what to type instead).
std::string start_port(const engine_config& config, port_plan& port, rte_mempool* pool);

// Stops a port, turns its power management off (its queues stopped, as
// DPDK requires) and closes it; safe on a port that failed to start.
void close_port(const port_plan& port);

struct port_counters {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    // Dropped before the driver handed them to us: by the NIC for want of an
    // RX descriptor. For net_af_packet and net_af_xdp, whose DPDK 22.11
    // drivers report none or only some of the kernel's drops, the packets
    // their kernel interface received since the port started that the driver
    // never delivered (lost in the AF_PACKET ring, the interface's XDP ring,
    // or, for net_af_packet, IPv4 fragments the kernel held back).
    uint64_t imissed = 0;
    uint64_t nombuf = 0;       // dropped by the driver: no mbuf to refill with
    uint64_t ierrors = 0;      // bad frames
};

port_counters read_port_counters(uint16_t port_id);

// A port that is no ethdev (linecap -r's file): its counters are these,
// which its RX call keeps. Call before any reader runs.
void register_file_port(uint16_t port_id, const std::atomic<uint64_t>* rx_packets,
                        const std::atomic<uint64_t>* rx_bytes);

} // namespace linecap
