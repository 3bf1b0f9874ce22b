#include "engine/file_port.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_memcpy.h>

#include "engine/packet_meta.h"

namespace linecap {

namespace {

// Records per publication to the worker (one store of the ring's count).
constexpr unsigned reader_burst = 32;

// How long the reader naps when the ring is full. It shares the main
// lcore's CPU with a writer: it must sleep, not spin. Its timer slack is set
// to 1 µs so a nap is a nap.
constexpr unsigned nap_us = 20;

} // namespace

std::unique_ptr<capture_reader> open_replay_file(const std::string& path, std::string& error)
{
    auto reader = std::make_unique<capture_reader>();
    if (std::string e = reader->open(path); !e.empty()) {
        error = "-r " + e;
        return nullptr;
    }
    if (const int dlt = reader->linktype(); dlt != DLT_EN10MB) {
        const char* name = pcap_datalink_val_to_name(dlt);
        error = fmt::format("-r {}: its link type is {} ({}); linecap reads Ethernet captures only", path,
                            name ? name : "unknown", dlt);
        return nullptr;
    }
    return reader;
}

namespace {

// A record in the ring: this header, then its bytes, the whole rounded up
// to 16 bytes so that a header always fits before the ring's end.
struct staged_record {
    uint64_t ts_ns;
    uint32_t caplen;     // wrap_marker: the rest of the ring up to its end is unused
    uint32_t wire_len;
};
static_assert(sizeof(staged_record) == 16);
constexpr uint32_t wrap_marker = UINT32_MAX;

constexpr uint64_t staged_bytes(uint32_t caplen)
{
    return sizeof(staged_record) + ((static_cast<uint64_t>(caplen) + 15) & ~uint64_t{15});
}

// Makes the records staged so far visible to the worker.
void publish(file_port& f)
{
    if (f.unpublished == 0)
        return;
    f.written.store(f.reader_written, std::memory_order_release);
    f.fed.fetch_add(f.unpublished, std::memory_order_release);
    f.unpublished = 0;
}

// Copies one record into the ring, waiting for room. False if told to stop first.
bool stage(file_port& f, const capture_record& r)
{
    const uint64_t need = staged_bytes(r.caplen);
    uint64_t at = f.reader_written % f.ring_bytes;
    uint64_t skip = at + need > f.ring_bytes ? f.ring_bytes - at : 0;
    while (f.ring_bytes - (f.reader_written - f.reader_seen_taken) < skip + need) {
        f.reader_seen_taken = f.taken.load(std::memory_order_acquire);
        if (f.ring_bytes - (f.reader_written - f.reader_seen_taken) >= skip + need)
            break;
        publish(f);   // before sleeping: the worker may be waiting for these
        if (f.stop.load(std::memory_order_relaxed))
            return false;
        rte_delay_us_sleep(nap_us);
    }
    if (skip != 0) {
        reinterpret_cast<staged_record*>(f.ring + at)->caplen = wrap_marker;
        f.reader_written += skip;
        at = 0;
    }
    auto* h = reinterpret_cast<staged_record*>(f.ring + at);
    h->ts_ns = r.ts_ns;
    h->caplen = r.caplen;
    h->wire_len = r.len;
    if (r.caplen != 0)
        rte_memcpy(h + 1, r.data, r.caplen);
    f.reader_written += need;
    if (++f.unpublished == reader_burst)
        publish(f);
    return true;
}

// Reads `path` to its end into the ring. False if the reader should go no
// further: an error (in f.error) or a stop.
bool feed_file(file_port& f, const std::string& path)
{
    f.file = open_replay_file(path, f.error);
    if (!f.file)   // it was readable when linecap started
        return false;
    capture_record record;
    for (;;) {
        switch (f.file->next(record)) {
        case read_status::record:
            if (record.linktype != DLT_EN10MB) {
                f.error = fmt::format("-r {}: record {} is not Ethernet (link type {}); linecap reads Ethernet "
                                      "captures only", path, f.file->packets(), record.linktype);
                return false;
            }
            if (record.caplen > max_file_frame) {
                f.error = fmt::format("-r {}: record {}: captured length {} is over the {} bytes linecap reads",
                                      path, f.file->packets(), record.caplen, max_file_frame);
                return false;
            }
            if (!stage(f, record))
                return false;
            break;
        case read_status::end:
            return true;
        case read_status::error:
            f.error = "-r " + f.file->error();
            return false;
        }
    }
}

void* reader_main(void* arg)
{
    file_port& f = *static_cast<file_port*>(arg);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    for (const std::string& path : f.paths)
        if (!feed_file(f, path))
            break;
    f.file.reset();
    publish(f);
    f.finished.store(true, std::memory_order_release);
    return nullptr;
}

// The record at the worker's position in an mbuf chain, every captured byte
// of it; null if the pool is empty (nothing allocated is kept).
rte_mbuf* to_mbuf(file_port& f, const staged_record& h)
{
    rte_mbuf* head = rte_pktmbuf_alloc(f.pool);
    if (head == nullptr)
        return nullptr;
    uint32_t left = h.caplen;
    const auto* from = reinterpret_cast<const uint8_t*>(&h + 1);
    rte_mbuf* seg = head;
    for (;;) {
        const uint32_t n = std::min<uint32_t>(left, rte_pktmbuf_tailroom(seg));
        if (n != 0)
            rte_memcpy(rte_pktmbuf_mtod(seg, uint8_t*), from, n);
        seg->data_len = static_cast<uint16_t>(n);
        from += n;
        left -= n;
        if (left == 0)
            break;
        rte_mbuf* next = rte_pktmbuf_alloc(f.pool);
        if (next == nullptr) {
            rte_pktmbuf_free(head);
            return nullptr;
        }
        seg->next = next;
        seg = next;
        head->nb_segs++;
    }
    head->pkt_len = h.caplen;   // what the chain holds, never more
    head->port = f.port_id;
    head->ol_flags |= f.timestamp_flag;
    *RTE_MBUF_DYNFIELD(head, f.timestamp_offset, rte_mbuf_timestamp_t*) = h.ts_ns;
    meta_of(head)->wire_len = h.wire_len;
    return head;
}

} // namespace

uint16_t receive_file_records(file_port& f, rte_mbuf** pkts, uint16_t n)
{
    if (f.worker_taken == f.worker_seen_written) {
        f.worker_seen_written = f.written.load(std::memory_order_acquire);
        if (f.worker_taken == f.worker_seen_written)
            return 0;
    }
    uint16_t got = 0;
    uint64_t bytes = 0;
    while (got < n && f.worker_taken != f.worker_seen_written) {
        const uint64_t at = f.worker_taken % f.ring_bytes;
        const auto& h = *reinterpret_cast<const staged_record*>(f.ring + at);
        if (h.caplen == wrap_marker) {
            f.worker_taken += f.ring_bytes - at;
            continue;
        }
        rte_mbuf* m = to_mbuf(f, h);
        if (m == nullptr)
            break;   // the pool is empty: the record waits for the writer to free some
        pkts[got++] = m;
        bytes += h.caplen;
        f.worker_taken += staged_bytes(h.caplen);
    }
    f.taken.store(f.worker_taken, std::memory_order_release);
    f.rx_packets.store(f.rx_packets.load(std::memory_order_relaxed) + got, std::memory_order_relaxed);
    f.rx_bytes.store(f.rx_bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
    return got;
}

std::string create_file_port(file_port& f, size_t ring_bytes, int socket)
{
    f.ring = static_cast<uint8_t*>(rte_malloc_socket("linecap_file", ring_bytes, RTE_CACHE_LINE_SIZE, socket));
    if (f.ring == nullptr)
        return fmt::format("-r {}: cannot allocate the {} MiB its records are read into: {}", f.name,
                           ring_bytes >> 20, rte_strerror(rte_errno));
    f.ring_bytes = ring_bytes;
    if (rte_mbuf_dyn_rx_timestamp_register(&f.timestamp_offset, &f.timestamp_flag) != 0)
        return fmt::format("cannot register the RX timestamp mbuf field: {}", rte_strerror(rte_errno));
    return {};
}

std::string start_file_reader(file_port& f, rte_mempool* pool)
{
    f.pool = pool;
    if (int rc = rte_ctrl_thread_create(&f.thread, "linecap-reader", nullptr, reader_main, &f); rc != 0)
        return fmt::format("-r {}: cannot start the reader thread: {}", f.name, std::strerror(rc));
    f.running = true;
    return {};
}

void stop_file_reader(file_port& f)
{
    if (!f.running)
        return;
    f.stop.store(true, std::memory_order_relaxed);
    pthread_join(f.thread, nullptr);
    f.running = false;
}

void release_file_port(file_port& f)
{
    rte_free(f.ring);
    f.ring = nullptr;
}

} // namespace linecap
