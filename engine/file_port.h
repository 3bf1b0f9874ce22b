// linecap -r FILE: a capture file as the pipeline's one port.
//
//   FILE --reader thread (main lcore's CPU): libpcap -> staged records--> record ring (bytes)
//        --worker (its own CPU): receive_file_records() -> mbufs from its own cache
//            -> stamp, classify (as any port) --SPSC ring--> writer --> files
//
// The reader thread (a DPDK control thread, sharing the main lcore's CPU with
// the writer) does only what must be sequential: it reads the file's records
// with libpcap and copies each, as a small header and its bytes, into a
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

typedef struct pcap pcap_t;

namespace linecap {

// The largest record linecap reads: libpcap's own limit for Ethernet.
constexpr uint32_t max_file_frame = 262144;

// One record as read from a file.
struct file_record {
    uint64_t ts_ns = 0;          // since the Unix epoch
    uint32_t caplen = 0;         // bytes at `data`
    uint32_t wire_len = 0;       // original length; never below caplen
    const uint8_t* data = nullptr;   // valid until the next read
};

// The one place where -r reads capture files: pcap (µs or ns, either byte
// order) and pcapng (any timestamp resolution, kept to the nanosecond),
// Ethernet only, through libpcap; from a regular file (mapped), a pipe, or
// standard input ("-"). writers/capture_reader.h (with its libwiretap
// fallback) replaces the inside of this class, not its callers.
class capture_file {
public:
    ~capture_file();
    capture_file(const capture_file&) = delete;
    capture_file& operator=(const capture_file&) = delete;

    // Opens `path`. Returns null and sets `error` (naming the file) if it
    // cannot be read, is not a capture file, or holds no Ethernet frames.
    static std::unique_ptr<capture_file> open(const std::string& path, std::string& error);

    enum class status { record, end, error };

    // The next record. Rules, so every record fed in tells the truth about
    // its bytes:
    //  - pcap seconds are unsigned 32-bit (libpcap hands seconds past 2^31
    //    back sign-extended); pcapng times are libpcap's 64-bit count;
    //  - a fraction of a second that is not below one second (malformed
    //    files) is added as the file holds it, unsigned: 0 s + 3841916976 µs
    //    is 3841.916976 s (tcpdump writes the field back as it was, which a
    //    nanosecond file cannot hold);
    //  - a record whose original length is below its captured length
    //    (libpcap#1710; tcpdump prints "[Invalid header]") keeps every
    //    captured byte and gets original length = captured length.
    // At `error`, `error` names the file, the record and (but for a pipe)
    // the byte where reading stopped.
    status next(file_record& record, std::string& error);

    // Reads the next pages of a mapped file in, ahead of libpcap.
    void populate_ahead();

    const std::string& path() const { return _path; }
    const char* format_name() const { return _pcapng ? "pcapng" : _nanosecond ? "pcap-ns" : "pcap"; }
    uint64_t records() const { return _records; }

private:
    capture_file() = default;

    std::string _path;
    FILE* _stream = nullptr;     // libpcap's (pcap_close closes it once _pcap is open)
    void* _map = nullptr;        // the file, mapped (a regular file)
    size_t _map_bytes = 0;
    size_t _populated = 0;       // bytes of the mapping read in so far
    pcap_t* _pcap = nullptr;
    bool _pcapng = false;
    bool _nanosecond = false;    // pcap with nanosecond fractions
    uint64_t _records = 0;
};

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
    alignas(64) std::unique_ptr<capture_file> file; // the one being read
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
