// linecap -r FILE: a capture file as the pipeline's one port.
//
//   FILE --reader thread (main lcore's CPU): capture_reader -> staged records--> record ring (bytes)
//        --worker (its own CPU): receive_file_records() -> mbufs from its own cache
//            -> stamp, classify (as any port) --SPSC ring--> writer --> files
//
// The reader thread (a DPDK control thread, sharing the main lcore's CPU with
// the writer) does only what must be sequential: it reads the file's records
// with capture_reader and copies each, as a small header and its bytes, into a
// single-producer single-consumer ring of bytes. The worker polling the
// file's queue turns them into mbufs in its RX call, instead of calling
// rte_eth_rx_burst: mbufs come from its own mempool cache, still hot from
// the packets it freed, and never cross cores before the writer's. (Built
// first as a net_ring port whose mbufs the reader filled: 3 Mpps, bound by
// the reader's misses on mbufs last touched by the worker; docs/performance.md.)
//
// What a record keeps: its nanosecond timestamp (the RX timestamp dynamic
// field, port timestamps "file": ns, where net_pcap's are µs), every byte
// the file captured (chains of 2 KiB segments for frames up to 256 KiB),
// and its original length (packet_meta::wire_len; pkt_len stays the bytes
// the chain holds, which DPDK's packet reads rely on: see filters/bpf.cpp).
// Lossless: the reader naps while the ring is full; the worker leaves a
// record in the ring while the pool is empty.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <pthread.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>

#include "writers/capture_reader.h"

namespace linecap {

// The largest record linecap reads: libpcap's own limit for Ethernet.
constexpr uint32_t max_file_frame = 262144;

// Opens a capture file for -r with the reader merge uses
// (writers/capture_reader.h: libpcap for pcap, mapped; Wireshark's reader
// for pcapng; "-" is standard input), which checks every record against the
// one rule of what a record is (writers/capture_format.h). Returns null and
// sets `error` ("-r FILE: ...") if it cannot be read, is not a capture file,
// or is not Ethernet.
std::unique_ptr<capture_reader> open_replay_file(const std::string& path, std::string& error);

// The file as a port, and the thread that feeds it. Several files (-r
// given more than once, as tcpdump -V reads a list) are read one after the
// other, in the order given, as one stream.
struct file_port {
    std::vector<std::string> paths;     // each checked by capture_file::open before DPDK starts
    std::string name;                   // the port's name: the file, or the first of them and how many more
    std::string kind;                   // "pcap file", "pcapng file", "capture files"
    uint16_t port_id = 0;               // in m->port and the statistics (no ethdev: -r has no other port)
    rte_mempool* pool = nullptr;        // the worker allocates from it, through its lcore's cache
    int timestamp_offset = -1;          // the RX timestamp dynamic field
    uint64_t timestamp_flag = 0;

    // The record ring: `ring_bytes` bytes, records of 16 + their bytes
    // rounded up to 16. The counts of bytes written and read only grow.
    uint8_t* ring = nullptr;
    size_t ring_bytes = 0;
    alignas(64) std::atomic<uint64_t> written{0};   // by the reader (release)
    alignas(64) std::atomic<uint64_t> taken{0};     // by the worker (release)

    // The worker's own (on its cache lines).
    alignas(64) uint64_t worker_taken = 0;
    uint64_t worker_seen_written = 0;
    std::atomic<uint64_t> rx_packets{0};            // the port's counters, per burst
    std::atomic<uint64_t> rx_bytes{0};

    // The reader's own.
    alignas(64) std::unique_ptr<capture_reader> file; // the one being read
    uint64_t reader_written = 0;
    uint64_t reader_seen_taken = 0;
    uint64_t unpublished = 0;                       // records staged since the last publish

    // Reader -> others. `error` is written before `finished` is set (release).
    std::atomic<uint64_t> fed{0};       // records in the ring or taken from it
    std::atomic<bool> finished{false};  // end of file, an error, or a stop
    std::string error;                  // the file ended in an error: what and where

    // Others -> reader.
    std::atomic<bool> stop{false};
    pthread_t thread{};
    bool running = false;
};

// The worker's RX call for the file's queue: up to `n` records as mbufs.
// Returns 0 when the ring is empty, or the pool is (the records wait).
uint16_t receive_file_records(file_port& f, rte_mbuf** pkts, uint16_t n);

// The record ring of `ring_bytes` on `socket`. Returns an empty string or the failure.
std::string create_file_port(file_port& f, size_t ring_bytes, int socket);

// Starts the reader thread; the worker will allocate from `pool`. Returns
// an empty string or the failure.
std::string start_file_reader(file_port& f, rte_mempool* pool);

// Tells the reader to stop and waits for it. Safe if it never started.
void stop_file_reader(file_port& f);

// After the workers have stopped: frees the ring.
void release_file_port(file_port& f);

} // namespace linecap
