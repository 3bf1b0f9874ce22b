#include "engine/file_port.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <sys/stat.h>


#include <fmt/format.h>
#include <pcap/pcap.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>

#include "engine/packet_meta.h"

namespace linecap {

namespace {

constexpr uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr uint32_t pcapng_magic = 0x0a0d0d0a;   // a Section Header Block, in either byte order

// stdio's buffer for the file: one read() per MiB instead of one per 4 KiB
// (libpcap reads each record header and body with its own fread()).
constexpr size_t read_buffer_bytes = 1 << 20;
// stdio's buffer over a mapped file (fmemopen): copies of this size.
constexpr size_t stream_buffer_bytes = 64 << 10;
// How far ahead of the reader the mapping is populated.
constexpr size_t populate_window_bytes = 32 << 20;

// Records per enqueue: the workers' burst.
constexpr unsigned reader_burst = 32;

// How long the reader naps when the ring is full or the pool empty. It
// shares the main lcore's CPU with a writer, which is what frees mbufs: it
// must sleep, not spin. Its timer slack is set to 1 µs so a nap is a nap.
constexpr unsigned nap_us = 20;

// The file as a stdio stream for libpcap. A regular file is mapped and read
// through fmemopen(): libpcap's fread()s become copies from the page cache
// with no read() system call and no kernel copy (on this machine of record
// 50 ns a 64-byte record instead of 75-83 through read(), tcpdump's way;
// IMIX 123 instead of 200). The mapping is populated ahead of the reader
// (populate_ahead). Anything else (a pipe, /dev/stdin) is read with read()
// through a 1 MiB stdio buffer.
FILE* open_stream(const std::string& path, void*& map, size_t& map_bytes, std::string& error)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = fmt::format("-r {}: cannot open it: {}", path, std::strerror(errno));
        return nullptr;
    }
    struct stat st{};
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void* m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, static_cast<size_t>(st.st_size), MADV_SEQUENTIAL);
            if (FILE* f = fmemopen(m, static_cast<size_t>(st.st_size), "rb"); f != nullptr) {
                close(fd);
                map = m;
                map_bytes = static_cast<size_t>(st.st_size);
                std::setvbuf(f, nullptr, _IOFBF, stream_buffer_bytes);
                return f;
            }
            munmap(m, static_cast<size_t>(st.st_size));
        }
    }
    FILE* f = fdopen(fd, "rb");
    if (f == nullptr) {
        error = fmt::format("-r {}: cannot open it: {}", path, std::strerror(errno));
        close(fd);
        return nullptr;
    }
    std::setvbuf(f, nullptr, _IOFBF, read_buffer_bytes);
    return f;
}

} // namespace

capture_file::~capture_file()
{
    if (_pcap != nullptr)
        pcap_close(_pcap);
    else if (_stream != nullptr)
        std::fclose(_stream);
    if (_map != nullptr)
        munmap(_map, _map_bytes);
}

std::unique_ptr<capture_file> capture_file::open(const std::string& path, std::string& error)
{
    std::unique_ptr<capture_file> file(new capture_file());
    file->_path = path;
    FILE* f = open_stream(path, file->_map, file->_map_bytes, error);
    if (f == nullptr)
        return nullptr;
    file->_stream = f;
    file->populate_ahead();
    uint8_t head[4] = {};
    const size_t got = std::fread(head, 1, sizeof head, f);
    uint32_t magic = 0;
    std::memcpy(&magic, head, sizeof magic);
    const bool pcapng = magic == pcapng_magic;
    const bool ns = magic == pcap_magic_ns || magic == __builtin_bswap32(pcap_magic_ns);
    const bool us = magic == pcap_magic_us || magic == __builtin_bswap32(pcap_magic_us);
    if (got < sizeof head || !(pcapng || ns || us)) {
        error = got < sizeof head
                    ? fmt::format("-r {}: not a capture file: it holds {} byte{}, less than a file header",
                                  path, got, got == 1 ? "" : "s")
                    : fmt::format("-r {}: not a capture file: it starts with {:02x} {:02x} {:02x} {:02x} at "
                                  "byte 0, neither a pcap nor a pcapng header",
                                  path, head[0], head[1], head[2], head[3]);
        return nullptr;
    }
    if (std::fseek(f, 0, SEEK_SET) != 0) {   // a pipe cannot go back
        error = fmt::format("-r {}: cannot read it from the start again: {}", path, std::strerror(errno));
        return nullptr;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    file->_pcap = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (file->_pcap == nullptr) {   // the stream is still ours to close
        error = fmt::format("-r {}: libpcap cannot read its header: {}", path, errbuf);
        return nullptr;
    }
    file->_pcapng = pcapng;
    file->_nanosecond = ns;
    if (const int dlt = pcap_datalink(file->_pcap); dlt != DLT_EN10MB) {
        const char* name = pcap_datalink_val_to_name(dlt);
        error = fmt::format("-r {}: its link type is {} ({}); linecap reads Ethernet captures only", path,
                            name ? name : "unknown", dlt);
        return nullptr;
    }
    return file;
}

// Pages of the mapping are read in ahead of libpcap, a window at a time,
// so that the reader does not take a page fault every 4 KiB; called once a
// burst.
void capture_file::populate_ahead()
{
    if (_map == nullptr || _populated >= _map_bytes)
        return;
    const long at = std::ftell(_stream);   // fmemopen: no system call
    if (_populated != 0 && at >= 0 && static_cast<size_t>(at) + populate_window_bytes / 2 < _populated)
        return;
    const size_t bytes = std::min(populate_window_bytes, _map_bytes - _populated);
    madvise(static_cast<uint8_t*>(_map) + _populated, bytes, MADV_POPULATE_READ);
    _populated += bytes;
}

capture_file::status capture_file::next(file_record& r, std::string& error)
{
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(_pcap, &h, &data);
    if (rc == PCAP_ERROR_BREAK)
        return status::end;
    const auto where = [&] {
        const long at = std::ftell(_stream);
        struct stat st{};
        const uint64_t size = _map != nullptr ? _map_bytes
                              : fstat(fileno(_stream), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
        return at < 0 ? std::string() : fmt::format(" (reading stopped at byte {} of {})", at, size);
    };
    if (rc != 1) {
        error = fmt::format("{}: record {}: {}{}", _path, _records + 1, pcap_geterr(_pcap), where());
        return status::error;
    }
    if (h->caplen > max_file_frame || (h->caplen > 0 && data == nullptr)) {
        error = fmt::format("{}: record {}: captured length {} is over the {} bytes linecap reads{}", _path,
                            _records + 1, h->caplen, max_file_frame, where());
        return status::error;
    }
    uint64_t seconds, fraction_ns;
    if (_pcapng) {
        // libpcap counts pcapng times in 64 bits and normalises the fraction.
        seconds = static_cast<uint64_t>(h->ts.tv_sec);
        fraction_ns = static_cast<uint64_t>(h->ts.tv_usec);
    } else {
        // The file's two 32-bit fields, unsigned, as they were before
        // libpcap sign-extended them (and, for µs files, scaled by 1000).
        seconds = static_cast<uint32_t>(h->ts.tv_sec);
        fraction_ns = _nanosecond ? static_cast<uint32_t>(h->ts.tv_usec)
                                  : static_cast<uint64_t>(static_cast<uint32_t>(h->ts.tv_usec / 1000)) * 1000;
    }
    // Wraps past 2^64 ns (pcapng times after 2554), as merge does.
    r.ts_ns = seconds * 1000000000u + fraction_ns;
    r.caplen = h->caplen;
    r.wire_len = std::max(h->len, h->caplen);
    r.data = data;
    _records++;
    return status::record;
}

namespace {

// The reader's supply of empty mbufs, taken from the pool 32 at a time and
// prefetched (header lines and the first data line) a batch before they
// are filled: they were last touched by another core, and a miss on each
// of those three lines would cost the reader more than reading the record.
class mbuf_stash {
public:
    explicit mbuf_stash(file_port& f)
        : _f(f), _data_offset(sizeof(rte_mbuf) + rte_pktmbuf_priv_size(f.pool) + RTE_PKTMBUF_HEADROOM)
    {
    }
    ~mbuf_stash()
    {
        for (; _count != 0; _count--, _head = (_head + 1) % slots)
            rte_mempool_put(_f.pool, _slots[_head]);
    }

    // An empty mbuf; waits while the pool is empty. Null once told to stop.
    rte_mbuf* take()
    {
        top_up();
        while (_count == 0) {
            if (_f.stop.load(std::memory_order_relaxed))
                return nullptr;
            rte_delay_us_sleep(nap_us);   // the writer will free some
            top_up();
        }
        rte_mbuf* m = _slots[_head];
        _head = (_head + 1) % slots;
        _count--;
        rte_pktmbuf_reset(m);
        return m;
    }

private:
    static constexpr unsigned slots = 2 * reader_burst;

    void top_up()
    {
        if (_count > reader_burst)
            return;
        void* got[reader_burst];
        if (rte_mempool_get_bulk(_f.pool, got, reader_burst) != 0)
            return;
        for (void* obj : got) {
            rte_prefetch0_write(obj);
            rte_prefetch0_write(static_cast<uint8_t*>(obj) + RTE_CACHE_LINE_SIZE);
            rte_prefetch0_write(static_cast<uint8_t*>(obj) + _data_offset);
            _slots[(_head + _count++) % slots] = static_cast<rte_mbuf*>(obj);
        }
    }

    file_port& _f;
    const size_t _data_offset;   // of the data room's start, from the mbuf
    rte_mbuf* _slots[slots];
    unsigned _head = 0;
    unsigned _count = 0;
};

// The record in an mbuf chain, every captured byte of it. Null once told to stop.
rte_mbuf* to_mbuf(file_port& f, mbuf_stash& stash, const file_record& r)
{
    rte_mbuf* head = stash.take();
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
        rte_mbuf* next = stash.take();
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
    meta_of(head)->wire_len = r.wire_len;
    return head;
}

// Enqueues all `n`, waiting for room. False if told to stop first (the
// rest is freed).
bool push(file_port& f, rte_mbuf** pkts, unsigned n, uint64_t bytes)
{
    unsigned sent = 0;
    while (sent < n) {
        sent += rte_ring_sp_enqueue_burst(f.ring, reinterpret_cast<void* const*>(pkts + sent), n - sent, nullptr);
        if (sent == n)
            break;
        if (f.stop.load(std::memory_order_relaxed)) {
            rte_pktmbuf_free_bulk(pkts + sent, n - sent);
            f.fed.fetch_add(sent, std::memory_order_release);
            return false;
        }
        rte_delay_us_sleep(nap_us);
    }
    f.fed_bytes.fetch_add(bytes, std::memory_order_relaxed);
    f.fed.fetch_add(n, std::memory_order_release);
    return true;
}

// Reads `path` to its end into the ring. False if the reader should go no
// further: an error (in f.error) or a stop.
bool feed_file(file_port& f, mbuf_stash& stash, const std::string& path)
{
    std::string error;
    f.file = capture_file::open(path, error);
    if (!f.file) {   // it was readable when linecap started
        f.error = error;
        return false;
    }
    rte_mbuf* pkts[reader_burst];
    file_record record;
    for (;;) {
        unsigned n = 0;
        uint64_t bytes = 0;
        capture_file::status st = capture_file::status::record;
        f.file->populate_ahead();
        while (n < reader_burst && (st = f.file->next(record, error)) == capture_file::status::record) {
            rte_mbuf* m = to_mbuf(f, stash, record);
            if (m == nullptr)
                break;   // told to stop
            pkts[n++] = m;
            bytes += record.caplen;
        }
        if (n != 0 && !push(f, pkts, n, bytes))
            return false;
        if (st == capture_file::status::error) {
            f.error = error;
            return false;
        }
        if (st == capture_file::status::end)
            return true;
        if (f.stop.load(std::memory_order_relaxed))
            return false;
    }
}

void* reader_main(void* arg)
{
    file_port& f = *static_cast<file_port*>(arg);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    {
        mbuf_stash stash(f);
        for (const std::string& path : f.paths)
            if (!feed_file(f, stash, path))
                break;
        f.file.reset();
    }

    f.finished.store(true, std::memory_order_release);
    return nullptr;
}

} // namespace

std::string create_file_port(file_port& f, unsigned ring_size, int socket)
{
    f.ring = rte_ring_create("linecap_file", ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
    if (f.ring == nullptr)
        return fmt::format("-r {}: cannot create the ring of {} packets it is read into: {}", f.name,
                           ring_size, rte_strerror(rte_errno));
    // net_ring presents the ring as a port ("net_ring_file0"), so the
    // workers poll it like any other; nothing is ever sent on it.
    const int port = rte_eth_from_rings("file0", &f.ring, 1, &f.ring, 1, static_cast<unsigned>(socket));
    if (port < 0)
        return fmt::format("-r {}: cannot create its port (net_ring): {}", f.name, rte_strerror(rte_errno));
    f.port_id = static_cast<uint16_t>(port);
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
    if (f.ring == nullptr)
        return;
    void* left[64];
    unsigned n;
    while ((n = rte_ring_dequeue_burst(f.ring, left, 64, nullptr)) != 0)
        rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(left), n);
    rte_ring_free(f.ring);
    f.ring = nullptr;
}

} // namespace linecap
