// linecap -r FILE: a capture file as the pipeline's one port.
//
//   FILE --worker (its own CPU): receive_file_records(): capture_reader -> mbufs from its own cache
//            -> stamp, classify (as any port) --SPSC ring--> writer --> files
//
// The worker polling the file's queue reads the records itself, in its RX
// call instead of rte_eth_rx_burst, and builds each mbuf from its own
// mempool cache, still hot from the packets the writer freed. Reading is
// the file port's "NIC": it runs where a NIC's descriptors would be read.
// (Measured against two earlier designs, a reader thread filling a net_ring
// port with mbufs and a reader thread filling a ring of records the worker
// turned into mbufs: on this 2-CPU machine the reader thread shared the
// writer's CPU and the hand-over cost a copy and a cache line per record;
// docs/performance.md.)
//
// What a record keeps: its nanosecond timestamp (the RX timestamp dynamic
// field, port timestamps "file": ns, where net_pcap's are µs), every byte
// the file captured (chains of 2 KiB segments for frames up to 256 KiB),
// and its original length (packet_meta::wire_len; pkt_len stays the bytes
// the chain holds, which DPDK's packet reads rely on: see filters/bpf.cpp).
// Lossless: a record waits, read but not yet handed out, while the pool is
// empty.
//
// A record the session's tcpdump expression refuses never becomes an mbuf:
// the expression runs on the record where the reader holds it (`prefilter`),
// and only the records it keeps are copied, then classified as any packet
// (the expression again, with the rules and payload patterns). On a
// selective filter most records cost a read and one BPF run, as in
// `tcpdump -r`; the copy, the ring and the writer are paid by matches only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_mempool.h>
#include <rte_mbuf.h>

#include "writers/capture_reader.h"

namespace linecap {

class bpf_expression;
struct worker;

// The largest record linecap reads: libpcap's own limit for Ethernet.
constexpr uint32_t max_file_frame = 262144;

// Opens a capture file for -r with the reader merge uses
// (writers/capture_reader.h: libpcap for pcap, mapped; Wireshark's reader
// for pcapng; "-" is standard input), which checks every record against the
// one rule of what a record is (core/capture_format.h). Returns null and
// sets `error` ("-r FILE: ...") if it cannot be read, is not a capture file,
// or is not Ethernet.
std::unique_ptr<capture_reader> open_replay_file(const std::string& path, std::string& error);

// The files as a port. Several files (-r given more than once, as tcpdump
// -V reads a list) are read one after the other, in the order given, as one
// stream.
struct file_port {
    std::vector<std::string> paths;     // each checked by open_replay_file before DPDK starts
    std::string name;                   // the port's name: the file, or the first of them and how many more
    std::string kind;                   // "pcap file", "pcapng file", "capture files"
    uint16_t port_id = 0;               // in m->port and the statistics (no ethdev: -r has no other port)
    rte_mempool* pool = nullptr;        // the worker allocates from it, through its lcore's cache
    int timestamp_offset = -1;          // the RX timestamp dynamic field
    uint64_t timestamp_flag = 0;
    // The BPF expression every packet must pass to be wanted at all (the
    // one session's, on -r), run on each record before it is copied into an
    // mbuf; null: none, every record is copied. Not owned (the session's
    // filter, which outlives the workers); set before the workers start.
    const bpf_expression* prefilter = nullptr;

    // The worker's own, once it polls the port.
    std::unique_ptr<capture_reader> file;   // the one being read
    size_t next_path = 0;                   // index of the next file to open
    capture_record pending;                 // read, not yet handed out (the pool was empty)
    bool has_pending = false;

    // The worker -> others.
    alignas(64) std::atomic<uint64_t> fed{0};       // records handed to the worker: as mbufs, or counted
                                                    // as received and filtered (refused by `prefilter`)
    std::atomic<uint64_t> rx_packets{0};            // the port's counters, per burst
    std::atomic<uint64_t> rx_bytes{0};
    // `error` is written before `finished` is set (release).
    std::atomic<bool> finished{false};  // the last file's end, or an error
    std::string error;                  // the files ended in an error: what and where
};

// The worker's RX call for the file's queue: up to `n` records as mbufs.
// Returns fewer at the end of the files (then `finished`), when the pool is
// empty (the record waits), or when `prefilter` refused most of the records
// looked at (at most prefilter_look_ahead per call, so the worker keeps
// passing its quiescent points). Records the prefilter refuses are counted
// in `w`'s counters as received and filtered, as the classifier would have.
uint16_t receive_file_records(file_port& f, worker& w, rte_mbuf** pkts, uint16_t n);

// Records one receive_file_records call looks at, at most.
constexpr unsigned prefilter_look_ahead = 1024;

// Gets the port ready: the worker will allocate from `pool`. Returns an
// empty string or the failure.
std::string open_file_port(file_port& f, rte_mempool* pool);

// After the workers have stopped: closes the file being read.
void close_file_port(file_port& f);

} // namespace linecap
