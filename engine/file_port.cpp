#include "engine/file_port.h"
#include "core/error_text.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_memcpy.h>

#include "core/packet_meta.h"
#include "engine/worker.h"
#include "filters/bpf.h"

namespace linecap {

std::unique_ptr<capture_reader> open_replay_file(const std::string& path, std::string& error)
{
    auto reader = std::make_unique<capture_reader>();
    if (std::string e = reader->open(path); !e.empty()) {
        error = "-r " + e;
        return nullptr;
    }
    if (const int dlt = reader->dlt(); dlt != DLT_EN10MB) {
        error = fmt::format("-r {}: its link type is {}; linecap reads Ethernet captures only", path,
                            linktype_text(dlt));
        return nullptr;
    }
    return reader;
}

namespace {

// The record in an mbuf chain, every captured byte of it; null if the pool
// is empty (nothing allocated is kept).
rte_mbuf* to_mbuf(file_port& f, const capture_record& r)
{
    rte_mbuf* head = rte_pktmbuf_alloc(f.pool);
    if (head == nullptr)
        return nullptr;
    uint32_t left = r.caplen;
    const uint8_t* from = r.data;
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
    head->pkt_len = r.caplen;   // what the chain holds, never more
    head->port = f.port_id;
    head->ol_flags |= f.timestamp_flag;
    *RTE_MBUF_DYNFIELD(head, f.timestamp_offset, rte_mbuf_timestamp_t*) = r.ts_ns;
    // What BPF's `len` reads, as libpcap hands a filter: the length the file
    // gives, even under caplen in a malformed record (the writer raises it:
    // record_length).
    meta_of(head)->wire_len = r.file_len;
    return head;
}

// A record seen as a one-segment mbuf that points into the reader's buffer,
// for the prefilter's program: the bytes, their length, and the wire length
// where BPF's `len` reads it (packet_meta::wire_len). Never allocated,
// freed or handed on. A record over 65535 bytes does not fit one segment's
// 16-bit length: it is copied and classified without a prefilter.
class record_view {
public:
    record_view() { _m.nb_segs = 1; }

    static bool fits(const capture_record& r) { return r.caplen <= UINT16_MAX; }

    rte_mbuf* of(const capture_record& r)
    {
        _m.buf_addr = const_cast<uint8_t*>(r.data);   // read only: BPF does not write packets
        _m.buf_len = _m.data_len = static_cast<uint16_t>(r.caplen);
        _m.pkt_len = r.caplen;
        meta_of(&_m)->wire_len = r.file_len;
        return &_m;
    }

private:
    rte_mbuf _m{};
};

// The reading is over: an error (already in f.error), or the last file's end.
void finish(file_port& f)
{
    f.file.reset();
    f.finished.store(true, std::memory_order_release);
}

// The next record of the files, in f.pending; false when there is none
// (the end of the last file, or an error: f.finished is then set).
bool next_record(file_port& f)
{
    for (;;) {
        if (!f.file) {
            if (f.next_path == f.paths.size()) {
                finish(f);
                return false;
            }
            const std::string& path = f.paths[f.next_path++];
            f.file = open_replay_file(path, f.error);
            if (!f.file) {   // it was readable when linecap started
                finish(f);
                return false;
            }
        }
        switch (f.file->next(f.pending)) {
        case read_status::record:
            if (f.pending.dlt != DLT_EN10MB) {
                f.error = fmt::format("-r {}: record {}'s link type is {}; linecap reads Ethernet captures only",
                                      f.file->path(), f.file->packets(), linktype_text(f.pending.dlt));
                finish(f);
                return false;
            }
            if (f.pending.caplen > max_file_frame) {
                f.error = fmt::format("-r {}: record {}: captured length {} is over the {} bytes linecap reads",
                                      f.file->path(), f.file->packets(), f.pending.caplen, max_file_frame);
                finish(f);
                return false;
            }
            return true;
        case read_status::end:
            f.file.reset();
            break;
        case read_status::error:
            f.error = "-r " + f.file->error();
            finish(f);
            return false;
        }
    }
}

} // namespace

uint16_t receive_file_records(file_port& f, worker& w, rte_mbuf** pkts, uint16_t n)
{
    if (f.finished.load(std::memory_order_relaxed))
        return 0;
    uint16_t got = 0;
    uint64_t bytes = 0;
    unsigned refused = 0;
    uint64_t refused_bytes = 0;
    record_view view;
    while (got < n) {
        if (!f.has_pending) {
            if (got + refused == prefilter_look_ahead || !(f.has_pending = next_record(f)))
                break;
            if (f.prefilter != nullptr && record_view::fits(f.pending) && !f.prefilter->matches(view.of(f.pending))) {
                f.has_pending = false;
                refused++;
                refused_bytes += f.pending.caplen;
                continue;
            }
        }
        rte_mbuf* m = to_mbuf(f, f.pending);
        if (m == nullptr)
            break;   // the pool is empty: the record waits for the writer to free some
        f.has_pending = false;
        pkts[got++] = m;
        bytes += f.pending.caplen;
    }
    if (refused != 0) {
        // As the worker counts a burst's packets that no session wants.
        rte_seqcount_write_begin(&w.counters.burst_seq);
        w.counters.rx_packets.add(refused);
        w.counters.rx_bytes.add(refused_bytes);
        w.counters.filtered.add(refused);
        rte_seqcount_write_end(&w.counters.burst_seq);
        w.last_rx_tsc.store(rte_rdtsc(), std::memory_order_relaxed);
    }
    f.fed.store(f.fed.load(std::memory_order_relaxed) + got + refused, std::memory_order_release);
    f.rx_packets.store(f.rx_packets.load(std::memory_order_relaxed) + got + refused, std::memory_order_relaxed);
    f.rx_bytes.store(f.rx_bytes.load(std::memory_order_relaxed) + bytes + refused_bytes, std::memory_order_relaxed);
    return got;
}

std::string open_file_port(file_port& f, rte_mempool* pool)
{
    f.pool = pool;
    if (rte_mbuf_dyn_rx_timestamp_register(&f.timestamp_offset, &f.timestamp_flag) != 0)
        return fmt::format("cannot register the RX timestamp mbuf field: {}", rte_error_text(rte_errno));
    return {};
}

void close_file_port(file_port& f)
{
    f.file.reset();
}

} // namespace linecap
