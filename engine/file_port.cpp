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

constexpr uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr uint32_t pcap_magic_kuznetzov = 0xa1b2cd34;   // µs, with a longer record header (libpcap reads it)
constexpr uint32_t pcapng_magic = 0x0a0d0d0a;   // a Section Header Block, in either byte order

// stdio's buffer for the file: one read() per MiB instead of one per 4 KiB
// (libpcap reads each record header and body with its own fread()).
constexpr size_t read_buffer_bytes = 1 << 20;
// stdio's buffer over a mapped file (fmemopen): copies of this size.
constexpr size_t stream_buffer_bytes = 64 << 10;
// How far ahead of the reader the mapping is populated.
constexpr size_t populate_window_bytes = 32 << 20;

// Records per publication to the worker (one store of the ring's count).
constexpr unsigned reader_burst = 32;

// How long the reader naps when the ring is full. It shares the main
// lcore's CPU with a writer: it must sleep, not spin. Its timer slack is set
// to 1 µs so a nap is a nap.
constexpr unsigned nap_us = 20;

// A stream that is no regular file (a pipe, standard input with "-r -"):
// the first bytes, already read to recognise the format, then the rest,
// so that libpcap reads the file from its start without seeking.
struct prefixed_source {
    int fd = -1;
    uint8_t head[4] = {};
    size_t head_len = 0;
    size_t head_at = 0;
};

ssize_t prefixed_read(void* cookie, char* buf, size_t n)
{
    auto& src = *static_cast<prefixed_source*>(cookie);
    if (src.head_at < src.head_len) {
        const size_t k = std::min(n, src.head_len - src.head_at);
        std::memcpy(buf, src.head + src.head_at, k);
        src.head_at += k;
        return static_cast<ssize_t>(k);
    }
    ssize_t got;
    do
        got = ::read(src.fd, buf, n);
    while (got < 0 && errno == EINTR);
    return got;
}

int prefixed_close(void* cookie)
{
    auto* src = static_cast<prefixed_source*>(cookie);
    const int rc = close(src->fd);
    delete src;
    return rc;
}

// Up to `n` bytes from `fd`, fewer only at its end.
size_t read_fully(int fd, uint8_t* to, size_t n)
{
    size_t done = 0;
    while (done < n) {
        const ssize_t got = ::read(fd, to + done, n - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        done += static_cast<size_t>(got);
    }
    return done;
}

// The file as a stdio stream for libpcap, and its first 4 bytes. A regular
// file is mapped and read through fmemopen(): libpcap's fread()s become
// copies from the page cache with no read() system call and no kernel copy
// (on this machine 44-50 ns a 64-byte record instead of 75-83 through
// read(), tcpdump's way; IMIX 123 instead of 200). The mapping is populated
// ahead of the reader (populate_ahead). Anything else (a pipe, standard
// input) is read with read() through a 1 MiB stdio buffer.
FILE* open_stream(const std::string& path, void*& map, size_t& map_bytes, uint8_t (&head)[4], size_t& got,
                  std::string& error)
{
    const int fd = path == "-" ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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
                got = std::min<size_t>(sizeof head, map_bytes);
                std::memcpy(head, m, got);
                return f;
            }
            munmap(m, static_cast<size_t>(st.st_size));
        }
    }
    auto* src = new prefixed_source;
    src->fd = fd;
    src->head_len = got = read_fully(fd, src->head, sizeof src->head);
    std::memcpy(head, src->head, got);
    FILE* f = fopencookie(src, "rb", cookie_io_functions_t{prefixed_read, nullptr, nullptr, prefixed_close});
    if (f == nullptr) {
        error = fmt::format("-r {}: cannot open it: {}", path, std::strerror(errno));
        prefixed_close(src);
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
    uint8_t head[4] = {};
    size_t got = 0;
    FILE* f = open_stream(path, file->_map, file->_map_bytes, head, got, error);
    if (f == nullptr)
        return nullptr;
    file->_stream = f;
    uint32_t magic = 0;
    std::memcpy(&magic, head, sizeof magic);
    const bool pcapng = magic == pcapng_magic;
    const bool ns = magic == pcap_magic_ns || magic == __builtin_bswap32(pcap_magic_ns);
    const bool us = magic == pcap_magic_us || magic == __builtin_bswap32(pcap_magic_us) ||
                    magic == pcap_magic_kuznetzov || magic == __builtin_bswap32(pcap_magic_kuznetzov);
    if (got < sizeof head || !(pcapng || ns || us)) {
        error = got < sizeof head
                    ? fmt::format("-r {}: not a capture file: it holds {} byte{}, less than a file header",
                                  path, got, got == 1 ? "" : "s")
                    : fmt::format("-r {}: not a capture file: it starts with {:02x} {:02x} {:02x} {:02x} at "
                                  "byte 0, neither a pcap nor a pcapng header",
                                  path, head[0], head[1], head[2], head[3]);
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
    const auto where = [&] {   // a pipe has no position to tell
        const long at = _map != nullptr ? std::ftell(_stream) : -1;
        return at < 0 ? std::string() : fmt::format(" (reading stopped at byte {} of {})", at, _map_bytes);
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
bool stage(file_port& f, const file_record& r)
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
    h->wire_len = r.wire_len;
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
    std::string error;
    f.file = capture_file::open(path, error);
    if (!f.file) {   // it was readable when linecap started
        f.error = error;
        return false;
    }
    file_record record;
    for (uint64_t n = 0;; n++) {
        if (n % reader_burst == 0)
            f.file->populate_ahead();
        switch (f.file->next(record, error)) {
        case capture_file::status::record:
            if (!stage(f, record))
                return false;
            break;
        case capture_file::status::end:
            return true;
        case capture_file::status::error:
            f.error = error;
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
