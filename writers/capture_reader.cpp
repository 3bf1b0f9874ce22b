#include "writers/capture_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>
#include <pcap/pcap.h>

extern "C" {
#include <wiretap/pcap-encap.h>
#include <wiretap/wtap.h>
#include <wsutil/wslog.h>
}

#include "core/capture_format.h"
#include "writers/file_mapping.h"

namespace linecap {

namespace {

// stdio's buffer over a pipe or a chunk read by pread (open_ranges): one
// read() per MiB instead of one per 8 KiB (libpcap reads each record header
// and body with its own fread()).
constexpr size_t pipe_buffer_bytes = 1 << 20;
// stdio's buffer over a mapped file (fmemopen): copies of this size.
constexpr size_t mapped_buffer_bytes = 64 << 10;
// A merge or a query holds every input open at once: past this much of
// stdio buffers in the process, a reader gets at most 64 KiB (a query of a
// thousand files would otherwise hold a GiB of them).
constexpr size_t stdio_buffers_budget = 64 << 20;
constexpr size_t stdio_buffer_past_budget = 64 << 10;
std::atomic<size_t> stdio_buffers_in_use{0};
// How far ahead of the reader a mapped file's pages are read in.
constexpr size_t populate_window_bytes = 32 << 20;
// How far ahead of the record being read its lines are prefetched (direct
// reading of a mapped pcap file).
constexpr uint64_t prefetch_ahead_bytes = 2048;
// A pcapng file whose blocks between sections could not be walked (it is
// compressed, or its name no longer reaches it: renamed while it was read,
// or read by descriptor under another name).
constexpr const char* sections_guessed_note =
    "its sections' interfaces were told apart without walking its blocks (a compressed file, or one whose name "
    "no longer reaches it): interfaces described after a section's last packet, or in a section without packets, "
    "were taken for the next section's";
// Records between two looks at how far the pages are read in.
constexpr uint64_t populate_every = 32;

// wiretap's one-time set-up; its log, which prints debug lines until told
// otherwise, is kept to real problems.
void init_wiretap()
{
    static std::once_flag once;
    std::call_once(once, [] {
        ws_log_init("linecap", nullptr);
        ws_log_set_level(LOG_LEVEL_CRITICAL);
        wtap_init(FALSE);
    });
}

// libpcap's DLT_ value of a wiretap encapsulation, as pcap_datalink gives
// it for the same file read by libpcap. libwiretap 4.0 exports only the
// other direction (from a LINKTYPE_ value), so search it: linecap's two link
// types first (Ethernet, raw IP: several LINKTYPEs map to wiretap's raw IP),
// then the range the LINKTYPE registry uses. -1 when none maps to it.
// Several LINKTYPEs map to one encapsulation (raw IP: 101, 12 and 14;
// ATM_CLIP: 106 and 16, 18, 19; ENC: 109 and 13): the registry's number is
// searched before the per-platform DLT_ numbers 11-19 that old files hold,
// as wiretap's own reverse table orders them. Wiretap keeps only the
// encapsulation, so a few numbers come back as their twin (LINKTYPE_PPP_HDLC
// 50 as PPP 9, NETBSD_HDLC 112 as C_HDLC 104).
int dlt_of_wtap_encap(int wtap_encap)
{
    if (wtap_encap == WTAP_ENCAP_UNKNOWN)   // also what unknown LINKTYPEs map to: never a match
        return -1;
    const auto search = [wtap_encap](int from, int to) {
        for (int linktype = from; linktype < to; linktype++)
            if (wtap_pcap_encap_to_wtap_encap(linktype) == wtap_encap)
                return dlt_of_linktype(linktype);
        return -1;
    };
    static constexpr std::pair<int, int> in_order[] = {{1, 2}, {101, 102}, {0, 11}, {20, 300}, {11, 20}};
    for (const auto& [from, to] : in_order)
        if (const int dlt = search(from, to); dlt != -1)
            return dlt;
    return -1;
}

bool is_pcap_magic(uint32_t magic)
{
    for (uint32_t m : {pcap_magic_us, pcap_magic_ns, 0xa1b2cd34u /* Kuznetzov's µs, which libpcap reads */})
        if (magic == m || magic == __builtin_bswap32(m))
            return true;
    return false;
}

// What a file cut inside its header is, in plain words ("" if it is not
// one): readers say it their way (libpcap: "tried to read 24 file header
// bytes, only got 6" of a 10-byte file; Wireshark's reader took the first
// 10 bytes of a pcapng file for JSON).
// `name`: where to open it (its descriptor's name in /proc), `path`: what
// to call it.
std::string cut_inside_header(const std::string& name, const std::string& path)
{
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st{};
    uint32_t head[3] = {};
    const bool got = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, head, sizeof head, 0) >= 4;
    if (fd >= 0)
        ::close(fd);
    if (!got)
        return {};
    const auto size = static_cast<uint64_t>(st.st_size);
    if (is_pcap_magic(head[0]) && size < sizeof(pcap_file_header))
        return fmt::format("{}: {} bytes, shorter than a pcap file header ({} bytes): the file was cut short", path,
                           size, sizeof(pcap_file_header));
    if (head[0] != pcapng_section_header)
        return {};
    constexpr uint64_t shortest = 28;   // a Section Header Block without options
    const uint32_t length = size >= 12 && head[2] == __builtin_bswap32(pcapng_byte_order_magic)
                                ? __builtin_bswap32(head[1])
                                : head[1];
    if (size < shortest)
        return fmt::format("{}: {} bytes, shorter than a pcapng Section Header Block (at least {} bytes): the file "
                           "was cut short",
                           path, size, shortest);
    if (size < length)
        return fmt::format("{}: {} bytes, cut inside its pcapng Section Header Block ({} bytes): the file was cut "
                           "short",
                           path, size, length);
    return {};
}

// The cookie streams' (fopencookie) reads and close. read(2) and pread(2),
// again when a signal interrupts them before any byte.
ssize_t read_again(int fd, void* buf, size_t n)
{
    ssize_t got;
    do
        got = ::read(fd, buf, n);
    while (got < 0 && errno == EINTR);
    return got;
}
ssize_t pread_again(int fd, void* buf, size_t n, uint64_t offset)
{
    ssize_t got;
    do
        got = pread(fd, buf, n, static_cast<off_t>(offset));
    while (got < 0 && errno == EINTR);
    return got;
}
// Closes a source's file and frees the source.
template <typename Source>
int close_source(void* cookie)
{
    auto* src = static_cast<Source*>(cookie);
    const int rc = close(src->fd);
    delete src;
    return rc;
}

// A stream that is no regular file (a pipe, standard input as "-"): the
// first bytes, already read to recognise the format, then the rest, so that
// libpcap reads it from its start without seeking.
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
    return read_again(src.fd, buf, n);
}

// A regular file read by pread up to a size fixed at open. A file being
// written (.part) is read this way, not mapped: its writer grows it ahead of
// its writes and cuts it back when it closes it (output_file), and a mapping
// would take that for a file cut short by another program (file_mapping),
// where a read just ends.
struct bounded_source {
    int fd = -1;
    uint64_t size = 0;
    uint64_t at = 0;
};

ssize_t bounded_read(void* cookie, char* buf, size_t n)
{
    auto& src = *static_cast<bounded_source*>(cookie);
    if (src.at >= src.size)
        return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, src.size - src.at));
    const ssize_t got = pread_again(src.fd, buf, n, src.at);
    if (got > 0)
        src.at += static_cast<uint64_t>(got);
    return got;
}

int bounded_seek(void* cookie, off64_t* offset, int whence)
{
    auto& src = *static_cast<bounded_source*>(cookie);
    const int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? static_cast<int64_t>(src.at)
                                                                     : static_cast<int64_t>(src.size);
    if (*offset < -base) {
        errno = EINVAL;
        return -1;
    }
    src.at = static_cast<uint64_t>(base + *offset);
    *offset = static_cast<off64_t>(src.at);
    return 0;
}

// Byte ranges of a regular file read as one stream (open_ranges): the
// file's head, then each range, by pread. `read_bytes` counts them.
struct ranges_source {
    int fd = -1;
    std::vector<byte_range> ranges;   // the head first
    size_t current = 0;
    uint64_t done = 0;                // bytes read of ranges[current]
    uint64_t delivered = 0;           // bytes of the stream so far: where stdio is in it
    std::atomic<uint64_t>* read_bytes = nullptr;

    // Where byte `position` of the stream is in the file, and the file's
    // count of records before its range. `from`: the range to look from
    // (positions only grow), updated.
    std::pair<uint64_t, uint64_t> in_file(uint64_t position, size_t& from, uint64_t& range_start) const
    {
        while (from + 1 < ranges.size() && position >= range_start + ranges[from].bytes) {
            range_start += ranges[from].bytes;
            from++;
        }
        return {ranges[from].offset + (position - range_start), ranges[from].records_before};
    }
};

ssize_t ranges_read(void* cookie, char* buf, size_t n)
{
    auto& src = *static_cast<ranges_source*>(cookie);
    while (src.current < src.ranges.size() && src.done == src.ranges[src.current].bytes) {
        src.current++;
        src.done = 0;
    }
    if (src.current == src.ranges.size())
        return 0;
    const byte_range& r = src.ranges[src.current];
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n, r.bytes - src.done));
    const ssize_t got = pread_again(src.fd, buf, want, r.offset + src.done);
    if (got == 0) {   // the file is shorter than the range: it ends here
        src.current = src.ranges.size();
        return 0;
    }
    if (got > 0) {
        src.done += static_cast<uint64_t>(got);
        src.delivered += static_cast<uint64_t>(got);
        if (src.read_bytes != nullptr)
            src.read_bytes->fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
    }
    return got;
}

// ftell() only (stdio asks the cookie once, then counts itself): where the
// stream is, so a record can be placed in the file. No other seek.
int ranges_seek(void* cookie, off64_t* offset, int whence)
{
    const auto& src = *static_cast<ranges_source*>(cookie);
    if (whence != SEEK_CUR || *offset != 0) {
        errno = ESPIPE;
        return -1;
    }
    *offset = static_cast<off64_t>(src.delivered);
    return 0;
}

// The streams' functions for fopencookie.
const cookie_io_functions_t bounded_functions{bounded_read, nullptr, bounded_seek, close_source<bounded_source>};
const cookie_io_functions_t prefixed_functions{prefixed_read, nullptr, nullptr, close_source<prefixed_source>};
const cookie_io_functions_t ranges_functions{ranges_read, nullptr, ranges_seek, close_source<ranges_source>};

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

std::string head_text(const uint8_t* head, size_t n)
{
    std::string out;
    for (size_t i = 0; i < n; i++)
        out += fmt::format("{}{:02x}", i == 0 ? "" : " ", head[i]);
    return out;
}

} // namespace

// libpcap's side: pcap files (and pcapng from a pipe, which wiretap cannot
// take back). A finished regular file is mapped and given to libpcap
// through fmemopen(): its fread()s become copies from the page cache, with
// no read() system call and no kernel copy (44-50 ns a 64-byte record here,
// against 75-83 through read(), tcpdump's way), and the position is known
// without a system call. A .part is read by pread (bounded_source).
struct capture_reader::pcap_source {
    pcap_t* pcap = nullptr;
    FILE* stream = nullptr;      // libpcap's once `pcap` is open (pcap_close closes it)
    file_mapping map;            // the file; not mapped for a pipe or a .part
    bool positioned = false;     // the stream's position is the file's (mapped, or a .part read by pread)
    size_t populated = 0;        // bytes of the mapping read in so far
    bool pcapng = false;         // libpcap reading pcapng (from a pipe)
    bool nanosecond = false;     // pcap with nanosecond fractions
    uint32_t snapshot = 0;
    // Where the next record starts, counted from the records read: asking
    // stdio (ftell) costs 10% of a replay's time even over fmemopen. A
    // record longer than the file's snap length is handed out cut to it
    // (libpcap's rule), which hides its size in the file: from there on,
    // ftell. -1: not known (a pipe, ranges).
    int64_t next_offset = -1;
    bool counted = false;
    // Records read straight out of the mapping, skipping libpcap's two
    // fread()s per record (one a copy of the whole record): a standard pcap
    // layout of version 2.4 or later (no swapped length fields) and a link
    // type with no pseudo-header to byte-swap (Ethernet, raw IP). Only a
    // record libpcap would hand out unchanged is taken this way (whole in
    // the file, within the snap length); any other is read by libpcap
    // itself, from its offset, as before: its truncation to the snap length,
    // its errors and their words stay libpcap's.
    bool direct = false;
    // Read by ranges (open_ranges; the stream's cookie, closed with it):
    // where the record being read is in the file, and its number there.
    const ranges_source* ranges = nullptr;
    size_t range = 0;                  // of ranges->ranges, the record's
    uint64_t range_start = 0;          // where that range starts in the stream
    uint64_t record_offset = 0;        // in the file
    uint64_t record_number = 0;        // in the file, from 1
    // Read by ranges, a pcapng file, mapped: libpcap hands out no record's
    // interface, so it is read from the packet's block in the file
    // (packet_interface). Null otherwise (every record is interface 0).
    file_mapping blocks_mapping;
    const uint8_t* blocks = nullptr;   // blocks_mapping's
    size_t blocks_bytes = 0;
    uint64_t record_position = 0;   // in the stream, where the record being read starts
    bool swapped = false;        // the file's byte order is not ours
    int dlt = -1;                // pcap_datalink()
    uint64_t prefetched = 0;     // the mapping's cache lines asked for up to here (direct reading)
    // A record handed out straight from the mapping is read by the caller
    // after next() returns: a cut in between gave it zeros where its read
    // faulted (a cut inside its last page, faulting on nothing, is not seen).
    uint64_t handed_out_end = 0;      // where the last record handed out straight from the mapping ends
    bool handed_out_cut = false;      // the mapping was cut already when it was handed out
    bool handed_out_then_cut = false;
    // stdio's buffer, of our size: glibc's setvbuf takes the size only with
    // a buffer (given none, it makes its own of 8 KiB, whatever the size).
    // Freed after the stream is closed (the destructor's body).
    std::unique_ptr<char[]> stdio_buffer;
    size_t stdio_buffer_bytes = 0;

    void set_buffer(FILE* s, size_t bytes)
    {
        if (stdio_buffers_in_use.load(std::memory_order_relaxed) + bytes > stdio_buffers_budget)
            bytes = std::min(bytes, stdio_buffer_past_budget);
        stdio_buffers_in_use.fetch_add(bytes, std::memory_order_relaxed);
        stdio_buffer_bytes = bytes;
        stdio_buffer = std::make_unique_for_overwrite<char[]>(bytes);
        std::setvbuf(s, stdio_buffer.get(), _IOFBF, bytes);
    }

    ~pcap_source()
    {
        if (pcap != nullptr)
            pcap_close(pcap);
        else if (stream != nullptr)
            std::fclose(stream);
        stdio_buffers_in_use.fetch_sub(stdio_buffer_bytes, std::memory_order_relaxed);
    }
    // Interfaces described past the head (another section's, or after the
    // first packet), as packet_interface passes their blocks: their names
    // and descriptions, numbered after the head's in file order.
    std::vector<std::pair<std::string, std::string>> later_interfaces;
    uint32_t head_interfaces = 0;   // the head's (name_head_interfaces)
    uint64_t head_bytes = 0;        // the file's bytes before its first packet
    uint32_t section_base = 0;      // the first interface of the section being read, in that numbering

    // The interface of the packet libpcap read from the blocks starting at
    // stream position `position` (record_position): the first packet block
    // from there on, as libpcap met it (statistics, name resolution and
    // other blocks skipped, as libpcap skips them), each block found in the
    // file through the ranges: the walk follows the stream libpcap read,
    // never into bytes no range holds. Section and interface blocks on the
    // way (a query reads every chunk that holds one) are taken note of:
    // the id a packet block holds is numbered in its section (the pcapng
    // spec), and the file's interfaces are numbered in file order, across
    // sections, as a whole read numbers them. 0 for blocks that do not hold
    // together.
    uint32_t packet_interface(uint64_t position)
    {
        const auto word = [&](uint64_t o) {
            uint32_t v;
            std::memcpy(&v, blocks + o, sizeof v);
            return swapped ? __builtin_bswap32(v) : v;
        };
        size_t range_index = range;
        uint64_t start = range_start;
        if (position < start) {   // a first record begun in the head: its number is of the range after
            range_index = 0;
            start = 0;
        }
        for (;;) {
            const uint64_t at = ranges->in_file(position, range_index, start).first;
            if (at + 12 > blocks_bytes || !blocks_mapping.holds(at + 12))   // the caller asks blocks_mapping.cut()
                return 0;
            // The head's blocks (libpcap reads some of them after its
            // open, before the first record) are counted already.
            const bool in_head = at < head_bytes;
            const auto [type, total] = read_pcapng_block_head(blocks + at, swapped);
            if (type == pcapng_section_header && !in_head)
                section_base = head_interfaces + static_cast<uint32_t>(later_interfaces.size());
            if (type == pcapng_enhanced_packet)
                return section_base + word(at + 8);
            if (type == pcapng_packet_obsolete) {   // a 16-bit interface id, then a 16-bit drop count
                uint16_t id;
                std::memcpy(&id, blocks + at + 8, sizeof id);
                return section_base + (swapped ? __builtin_bswap16(id) : id);
            }
            if (type == pcapng_simple_packet || check_pcapng_block(type, total, UINT32_MAX, false) != record_verdict::record ||
                at + total > blocks_bytes)
                return section_base;   // the section's first interface (a Simple Packet Block's, by the spec)
            if (type == pcapng_interface_description && !in_head) {
                if (!blocks_mapping.holds(at + total))
                    return 0;
                later_interfaces.push_back(interface_names(at, total));
            }
            position += total;
        }
    }

    // The if_name and if_description options of the Interface Description
    // Block of `total` bytes at `at`.
    std::pair<std::string, std::string> interface_names(uint64_t at, uint32_t total) const
    {
        std::pair<std::string, std::string> names;
        bool seen_name = false, seen_description = false;
        const auto half = [&](uint64_t o) {
            uint16_t v;
            std::memcpy(&v, blocks + o, sizeof v);
            return swapped ? __builtin_bswap16(v) : v;
        };
        // Options from byte 16 (after the link type, a reserved half-word
        // and the snap length) up to the trailing length.
        for (uint64_t o = at + 16; o + 4 <= at + total - 4;) {
            const uint16_t code = half(o), length = half(o + 2);
            if (code == 0 || o + 4 + length > at + total - 4)
                break;
            const std::string value(reinterpret_cast<const char*>(blocks + o + 4), length);
            // The first of each, as Wireshark's reader keeps it.
            if (code == 2 && !seen_name)   // if_name
                names.first = value.substr(0, value.find('\0'));
            else if (code == 3 && !seen_description)   // if_description
                names.second = value.substr(0, value.find('\0'));
            seen_name |= code == 2;
            seen_description |= code == 3;
            o += 4 + ((length + 3u) & ~3u);
        }
        return names;
    }
    // Where the next record starts, or -1 (a pipe).
    int64_t offset() const
    {
        if (!positioned)
            return -1;
        return counted ? next_offset : std::ftell(stream);
    }
    void advance(const pcap_pkthdr& h)
    {
        if (counted && h.caplen == snapshot && h.len > snapshot)
            counted = false;
        next_offset += static_cast<int64_t>(sizeof(pcap_record_header) + h.caplen);
    }
    // Pages of the mapping read in ahead of libpcap, a window at a time, so
    // that the reader does not take a page fault every 4 KiB.
    void populate_ahead()
    {
        if (!map.mapped() || populated >= map.size())
            return;
        const long at = counted ? next_offset : std::ftell(stream);
        if (populated != 0 && at >= 0 && static_cast<size_t>(at) + populate_window_bytes / 2 < populated)
            return;
        const size_t bytes = std::min(populate_window_bytes, map.size() - populated);
        madvise(const_cast<uint8_t*>(map.data()) + populated, bytes, MADV_POPULATE_READ);
        populated += bytes;
    }
};

struct capture_reader::wiretap_source {
    wtap* wth = nullptr;
    wtap_rec rec{};
    Buffer buf{};
    // Per interface met so far: its time units a second (if_tsresol).
    std::vector<uint64_t> units_per_second;
    // pcapng numbers a packet's interface within its section; Wireshark's
    // reader (4.0) hands out that number, but lists the interfaces of every
    // section in one list, in file order. A record's interface in that
    // list (the one capture_reader numbers them by) is its section's first
    // there plus its number.
    uint32_t interfaces = 0;        // in wiretap's list so far
    uint32_t section = 0;           // of the record read last
    uint32_t section_base = 0;      // its section's first interface in the list
    int64_t record_offset = 0;      // where the record read last starts in the file (its block)
    // The file, to walk the blocks between two sections' records (none: a
    // pipe, a compressed file).
    std::string path;
    dev_t dev = 0;
    ino_t ino = 0;
    bool swapped = false;           // the byte order of the section walked last is not ours
    bool byte_order_known = false;  // `swapped` was read from the file
    // A section's interfaces were told from the one before's without the
    // walk (read at the end as a note).
    bool sections_guessed = false;

    // Interface `index`'s time units a second (0: none such), learnt as
    // records name interfaces not met before: once each.
    uint64_t resolution_of(uint32_t index)
    {
        if (index >= units_per_second.size()) {
            wtapng_iface_descriptions_t* idbs = wtap_file_get_idb_info(wth);
            for (guint i = static_cast<guint>(units_per_second.size()); idbs != nullptr && i < idbs->interface_data->len;
                 i++) {
                const wtap_block_t idb = g_array_index(idbs->interface_data, wtap_block_t, i);
                units_per_second.push_back(
                    static_cast<const wtapng_if_descr_mandatory_t*>(wtap_block_get_mandatory_data(idb))
                        ->time_units_per_second);
            }
            g_free(idbs);
        }
        return index < units_per_second.size() ? units_per_second[index] : 0;
    }
    wiretap_source()
    {
        wtap_rec_init(&rec);
        ws_buffer_init(&buf, 2048);
    }
    ~wiretap_source()
    {
        wtap_rec_cleanup(&rec);
        ws_buffer_free(&buf);
        if (wth != nullptr)
            wtap_close(wth);
    }
    // A pcapng file whose first interface block comes after other blocks
    // (decryption secrets, as `editcap --inject-secrets` writes them, name
    // resolution, custom blocks), or has interface blocks after such blocks:
    // its link type, snap length and interfaces are known once wiretap has
    // read that far. open_with_wiretap reads up to its first packet (wiretap
    // hands out custom blocks as records of their own, which next() skips
    // anyway); the next read hands that packet out.
    struct read_ahead {
        bool got = false;
        std::string error;
        int64_t at = 0;
    };
    std::optional<read_ahead> ahead;

    void read_past_leading_blocks()
    {
        read_ahead a;
        do {
            a.at = wtap_read_so_far(wth);
            a.got = read(a.error);   // a fresh read: `ahead` is empty until the loop ends
        } while (a.got && rec.rec_type != REC_TYPE_PACKET);
        ahead = std::move(a);
    }
    // Where the next record starts (as wiretap counts: see stop()).
    int64_t position() const { return ahead ? ahead->at : wtap_read_so_far(wth); }

    // The Interface Description Blocks after the last Section Header Block
    // among the blocks in [from, to) of the file (`from`: a block's start,
    // in the byte order `swapped` says); none if they cannot be walked (no
    // file to walk, another file at its name now, blocks that do not end at
    // `to`).
    std::optional<uint32_t> interfaces_of_last_section(int64_t from, int64_t to)
    {
        if (path.empty() || from < 0 || to < from)
            return std::nullopt;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat st{};
        if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
            if (fd >= 0)
                ::close(fd);
            return std::nullopt;
        }
        uint32_t count = 0;
        int64_t at = from;
        uint8_t head[12];
        if (!byte_order_known && pread(fd, head, sizeof head, 0) == static_cast<ssize_t>(sizeof head)) {
            read_pcapng_block_head(head, swapped);   // the file's first section's header: its byte order
            byte_order_known = true;
        }
        while (at < to) {
            if (pread(fd, head, sizeof head, at) != static_cast<ssize_t>(sizeof head))
                break;
            const auto [type, total] = read_pcapng_block_head(head, swapped);
            if (check_pcapng_block(type, total, UINT32_MAX, false) != record_verdict::record)
                break;
            count = type == pcapng_section_header ? 0 : count + (type == pcapng_interface_description ? 1 : 0);
            at += total;
        }
        ::close(fd);
        return at == to ? std::optional(count) : std::nullopt;
    }

    // The next record into rec and buf: true, or false at the end (`error`
    // empty) or on an error (`error` says what, wiretap's words).
    bool read(std::string& error)
    {
        if (ahead) {
            const bool got = ahead->got;
            error = std::move(ahead->error);
            ahead.reset();
            return got;
        }
        int err = 0;
        gchar* err_info = nullptr;
        gint64 data_offset = 0;
        wtap_rec_reset(&rec);
        if (wtap_read(wth, &rec, &buf, &err, &err_info, &data_offset)) {
            const uint32_t before = interfaces;
            while (wtap_get_next_interface_description(wth) != nullptr)
                interfaces++;
            if (rec.section_number != section) {
                // The interfaces this section has described so far are the
                // last ones listed: those after its header in the blocks
                // read since the last record. Without the file to walk,
                // every one met since then is taken for this section's.
                section = rec.section_number;
                const std::optional<uint32_t> own = interfaces_of_last_section(record_offset, data_offset);
                section_base = own && *own <= interfaces ? interfaces - *own : before;
                sections_guessed |= !own && interfaces > before;
            }
            record_offset = data_offset;
            return true;
        }
        error = err == 0 ? "" : wtap_strerror(err);
        if (err_info != nullptr)
            error += fmt::format(" ({})", err_info);
        g_free(err_info);
        return false;
    }
};

capture_reader::capture_reader() = default;
capture_reader::~capture_reader() = default;

std::string capture_reader::open(const std::string& path, bool partial)
{
    const int fd = path == "-" ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        _path = path;
        return fmt::format("{}: cannot open it: {}", path, std::strerror(errno));
    }
    return open_descriptor(fd, path, partial);
}

void capture_reader::start(const std::string& path, bool partial, uint64_t limit_packets)
{
    _path = path;
    _limit_packets = limit_packets;
    _partial = partial;
    _pcap.reset();
    _wiretap.reset();
    _error.clear();
    _note.clear();
    _packets = _repaired = 0;
    _whole_from_record.reset();
    _whole_from_packets = 0;
    _whole_from_offset = UINT64_MAX;
    _empty = false;
    _head_interfaces.clear();
}

std::string capture_reader::open_descriptor(int fd, const std::string& path, bool partial, uint64_t limit_bytes,
                                            uint64_t limit_packets)
{
    start(path, partial, limit_packets);

    struct stat st{};
    const bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    uint8_t head[4] = {};
    size_t got = 0;
    auto src = std::make_unique<pcap_source>();
    FILE* stream = nullptr;
    if (regular) {
        const auto size = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), limit_bytes));
        got = static_cast<size_t>(std::max<ssize_t>(pread(fd, head, std::min(sizeof head, size), 0), 0));
        if (got == sizeof head && head[0] == 0x0a && head[1] == 0x0d && head[2] == 0x0d && head[3] == 0x0a) {
            std::string error = open_with_wiretap(fd, "");   // pcapng: Wireshark's reader (its error if it fails)
            close(fd);
            return error;
        }
        if (partial) {
            auto* b = new bounded_source{fd, size, 0};
            stream = fopencookie(b, "rb", bounded_functions);
            if (stream == nullptr) {
                const int err = errno;
                close_source<bounded_source>(b);
                return fmt::format("{}: cannot open it: {}", path, std::strerror(err));
            }
            src->set_buffer(stream, pipe_buffer_bytes);
            src->positioned = true;
        } else if (size > 0 && src->map.map(fd, size, path) == 0) {
            madvise(const_cast<uint8_t*>(src->map.data()), size, MADV_SEQUENTIAL);
            stream = fmemopen(const_cast<uint8_t*>(src->map.data()), size, "rb");
            if (stream == nullptr) {
                src->map.unmap();
            } else {
                src->positioned = true;
                src->set_buffer(stream, mapped_buffer_bytes);
            }
        }
        if (stream == nullptr) {
            stream = fdopen(fd, "rb");
            if (stream == nullptr) {
                close(fd);
                return fmt::format("{}: cannot open it: {}", path, std::strerror(errno));
            }
            src->set_buffer(stream, pipe_buffer_bytes);
        } else if (!partial) {
            close(fd);   // the mapping keeps the file
        }
    } else {
        auto* p = new prefixed_source;
        p->fd = fd;
        p->head_len = got = read_fully(fd, p->head, sizeof p->head);
        std::memcpy(head, p->head, got);
        stream = fopencookie(p, "rb", prefixed_functions);
        if (stream == nullptr) {
            close_source<prefixed_source>(p);
            return fmt::format("{}: cannot open it: {}", path, std::strerror(errno));
        }
        src->set_buffer(stream, pipe_buffer_bytes);
    }
    return open_with_libpcap(std::move(src), stream, head, got, regular);
}

std::string capture_reader::open_ranges(int fd, const std::string& path, bool partial, uint64_t head_bytes,
                                        const std::vector<byte_range>& ranges, std::atomic<uint64_t>* read_bytes,
                                        uint64_t whole_from)
{
    start(path, partial, UINT64_MAX);

    auto* r = new ranges_source;
    r->fd = fd;
    r->read_bytes = read_bytes;
    r->ranges.push_back({0, head_bytes});
    r->ranges.insert(r->ranges.end(), ranges.begin(), ranges.end());
    uint8_t head[4] = {};
    const ssize_t got = pread(fd, head, sizeof head, 0);
    FILE* stream = fopencookie(r, "rb", ranges_functions);
    if (stream == nullptr) {
        close_source<ranges_source>(r);
        return fmt::format("{}: cannot open it: {}", path, std::strerror(errno));
    }
    _whole_from_offset = whole_from;
    auto src = std::make_unique<pcap_source>();
    src->set_buffer(stream, pipe_buffer_bytes);
    src->ranges = r;
    std::string error = open_with_libpcap(std::move(src), stream, head, got > 0 ? static_cast<size_t>(got) : 0, false);
    if (error.empty() && _pcap && _pcap->pcapng)
        name_head_interfaces(r->fd);
    return error;
}

void capture_reader::name_head_interfaces(int fd)
{
    // libpcap names no interface: Wireshark's reader reads them from the
    // file's head (the interface blocks before its first packet), as a
    // whole read of the file has them.
    capture_reader head;
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0 || !head.open_descriptor(copy, _path, _partial).empty())
        return;
    for (uint32_t i = 0; i < head.interface_count(); i++)
        _head_interfaces.push_back({head.interface_name(i), head.interface_description(i)});
    // And libpcap says no record's interface: each is read from its
    // packet's block, in the file mapped (packet_interface).
    _pcap->head_interfaces = static_cast<uint32_t>(_head_interfaces.size());
    struct stat st{};
    if (fstat(fd, &st) != 0 || st.st_size <= 0)
        return;
    pcap_source& src = *_pcap;
    // Up to the last byte a range holds: a .part's writer may cut back what
    // lies past that (its file grown ahead of its writes) when it closes it.
    uint64_t ranges_end = 0;
    for (const byte_range& r : src.ranges->ranges)
        ranges_end = std::max(ranges_end, r.offset + r.bytes);
    const auto bytes = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), ranges_end));
    if (bytes == 0 || src.blocks_mapping.map(fd, bytes, _path) != 0)
        return;
    src.blocks = src.blocks_mapping.data();
    src.blocks_bytes = src.blocks_mapping.size();
    src.swapped = pcap_is_swapped(src.pcap) == 1;
    // The head may hold several sections (an empty one first): the first
    // packet's is the last, whose interfaces are the head's last ones.
    src.head_bytes = std::min<uint64_t>(src.ranges->ranges.front().bytes, src.blocks_bytes);
    uint32_t in_last_section = 0;
    for (uint64_t at = 0; at + 12 <= src.head_bytes;) {
        const auto [type, total] = read_pcapng_block_head(src.blocks + at, src.swapped);
        if (check_pcapng_block(type, total, UINT32_MAX, false) != record_verdict::record)
            break;
        in_last_section = type == pcapng_section_header
                              ? 0
                              : in_last_section + (type == pcapng_interface_description ? 1 : 0);
        at += total;
    }
    src.section_base = src.head_interfaces - std::min(in_last_section, src.head_interfaces);
}

std::string capture_reader::open_with_libpcap(std::unique_ptr<pcap_source> src, FILE* stream, const uint8_t* head,
                                              size_t got, bool regular)
{
    const std::string& path = _path;
    const bool partial = _partial;
    src->stream = stream;

    uint32_t magic = 0;
    std::memcpy(&magic, head, sizeof magic);
    if (got == 0 && partial)
        return ended_before_first_record("no bytes");
    if (got < 4)
        return fmt::format("{}: not a capture file: it holds {} byte{}, less than a file header", path, got,
                           got == 1 ? "" : "s");
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    src->pcap = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (src->pcap != nullptr) {
        src->snapshot = static_cast<uint32_t>(pcap_snapshot(src->pcap));
        src->pcapng = magic == pcapng_section_header;
        src->nanosecond = magic == pcap_magic_ns || magic == __builtin_bswap32(pcap_magic_ns);
        // The standard pcap layouts (either byte order, µs or ns): records
        // start after the 24-byte file header and have 16-byte headers.
        if (src->positioned && !src->pcapng) {
            src->next_offset = std::ftell(stream);
            src->counted = src->next_offset == sizeof(pcap_file_header) &&
                           magic != 0xa1b2cd34u && magic != __builtin_bswap32(0xa1b2cd34u);
            const int dlt = src->dlt = pcap_datalink(src->pcap);
            src->swapped = pcap_is_swapped(src->pcap) == 1;
            src->direct = src->map.mapped() && src->counted && pcap_major_version(src->pcap) == 2 &&
                          pcap_minor_version(src->pcap) >= 4 && (dlt == DLT_EN10MB || dlt == DLT_RAW);
        }
        _pcap = std::move(src);
        return {};
    }
    const std::string pcap_error = errbuf;
    if (partial && pcap_error.find("truncated") != std::string::npos)
        return ended_before_first_record(pcap_error);
    if (!regular)
        return fmt::format("{}: not a pcap or pcapng file libpcap can read from a stream: {}", path, pcap_error);
    src.reset();   // closes the stream and with it the descriptor: wiretap opens the file by name
    if (std::string cut = is_pcap_magic(magic) ? cut_inside_header(path, path) : ""; !cut.empty())
        return cut;
    // Another format Wireshark reads (snoop, erf, ...), perhaps.
    return open_with_wiretap(-1,
        is_pcap_magic(magic)
            ? fmt::format("{}: libpcap cannot read its header: {}", path, pcap_error)
            : fmt::format("{}: not a capture file: it starts with {} at byte 0, neither a pcap nor a pcapng "
                          "header, nor another format Wireshark reads", path, head_text(head, 4)));
}

std::string capture_reader::open_with_wiretap(int fd, const std::string& failure)
{
    init_wiretap();
    int err = 0;
    gchar* err_info = nullptr;
    // wiretap opens files by name only: an open descriptor by its name in
    // /proc, which reaches the same file even once it is renamed or deleted.
    const std::string name = fd >= 0 ? fmt::format("/proc/self/fd/{}", fd) : _path;
    // A pcapng file cut inside its section header: said so (a .part being
    // written: it has no record yet), before a reader takes it for another
    // format.
    if (std::string cut = fd >= 0 ? cut_inside_header(name, _path) : ""; !cut.empty())
        return _partial ? ended_before_first_record("it ends inside its section header") : cut;
    wtap* wth = wtap_open_offline(name.c_str(), WTAP_TYPE_AUTO, &err, &err_info, FALSE);
    if (wth == nullptr && _partial && err == WTAP_ERR_SHORT_READ) {
        g_free(err_info);
        return ended_before_first_record(wtap_strerror(err));
    }
    if (wth == nullptr) {
        std::string why = wtap_strerror(err);
        if (err_info != nullptr)
            why += fmt::format(" ({})", err_info);
        g_free(err_info);
        return failure.empty() ? fmt::format("{}: not a pcapng file Wireshark's reader can read: {}", _path, why)
                               : failure;
    }
    g_free(err_info);
    auto source = std::make_unique<wiretap_source>();
    source->wth = wth;
    const bool pcapng = wtap_file_type_subtype(wth) == wtap_pcapng_file_type_subtype();
    // The file by its name (its descriptor is closed once wiretap has
    // opened it), checked to be the same file when it is walked.
    if (struct stat st{}; pcapng && wtap_get_compression_type(wth) == WTAP_UNCOMPRESSED &&
                          (fd >= 0 ? fstat(fd, &st) : stat(_path.c_str(), &st)) == 0 && S_ISREG(st.st_mode)) {
        source->path = _path;
        source->dev = st.st_dev;
        source->ino = st.st_ino;
    }
    // Every interface described before the first packet is known once
    // that packet is read (wiretap reads at open only the interface blocks
    // right after the section header): read ahead to it, so that
    // interface_count() says them all from the start.
    if (pcapng)
        source->read_past_leading_blocks();
    int encap = wtap_file_encap(wth);
    if (encap == WTAP_ENCAP_UNKNOWN && pcapng) {   // no interface block before the first packet
        wtapng_iface_descriptions_t* idbs = wtap_file_get_idb_info(wth);
        const bool interfaces = idbs != nullptr && idbs->interface_data->len > 0;
        g_free(idbs);
        if (encap == WTAP_ENCAP_UNKNOWN && interfaces)
            return fmt::format("{}: its first interface's link type is one Wireshark's reader does not know; linecap "
                               "reads Ethernet and raw IP captures",
                               _path);
        if (encap == WTAP_ENCAP_UNKNOWN && !source->ahead->got && (source->ahead->error.empty() || _partial)) {
            // No packet, or (a file still being written) none yet.
            const std::string why = source->ahead->error.empty() ? "no interface block" : source->ahead->error;
            _wiretap = std::move(source);
            return ended_before_first_record(why);
        }
    }
    // A format wiretap knows that holds no network packets (its heuristics
    // take a six-byte text file for MP4 media): not a capture file.
    if (encap != WTAP_ENCAP_PER_PACKET && dlt_of_wtap_encap(encap) == -1) {
        const std::string format = wtap_file_type_subtype_description(wtap_file_type_subtype(wth));
        return failure.empty() ? fmt::format("{}: not a capture file: Wireshark's reader takes it for {}, which "
                                             "holds no network packets",
                                             _path, format)
                               : failure;   // source's destructor closes wth
    }
    _wiretap = std::move(source);
    return {};
}

std::string capture_reader::ended_before_first_record(const std::string& why)
{
    _note = fmt::format("{}: ends before its first record ({})", _path, why);
    _empty = true;
    return {};
}

uint32_t capture_reader::snaplen() const
{
    if (_pcap)
        return _pcap->snapshot;
    uint32_t largest = 0;
    if (_wiretap) {
        wtapng_iface_descriptions_t* idbs = wtap_file_get_idb_info(_wiretap->wth);
        for (guint i = 0; idbs != nullptr && i < idbs->interface_data->len; i++) {
            const wtap_block_t idb = g_array_index(idbs->interface_data, wtap_block_t, i);
            const auto* mand = static_cast<const wtapng_if_descr_mandatory_t*>(wtap_block_get_mandatory_data(idb));
            largest = std::max(largest, mand->snap_len);
        }
        g_free(idbs);
        if (largest == 0 && wtap_snapshot_length(_wiretap->wth) > 0)
            largest = static_cast<uint32_t>(wtap_snapshot_length(_wiretap->wth));
    }
    return largest;
}

std::string capture_reader::interface_option(uint32_t index, int option) const
{
    if (!_wiretap) {
        const std::pair<std::string, std::string>* named =
            index < _head_interfaces.size() ? &_head_interfaces[index]
            : _pcap && index - _head_interfaces.size() < _pcap->later_interfaces.size()
                ? &_pcap->later_interfaces[index - _head_interfaces.size()]
                : nullptr;
        if (named == nullptr)
            return {};
        return option == OPT_IDB_NAME ? named->first : named->second;
    }
    std::string value;
    wtapng_iface_descriptions_t* idbs = wtap_file_get_idb_info(_wiretap->wth);
    if (idbs != nullptr && index < idbs->interface_data->len) {
        char* text = nullptr;
        const wtap_block_t idb = g_array_index(idbs->interface_data, wtap_block_t, index);
        if (wtap_block_get_string_option_value(idb, static_cast<guint>(option), &text) == WTAP_OPTTYPE_SUCCESS &&
            text != nullptr)
            value = text;
    }
    g_free(idbs);
    return value;
}

uint32_t capture_reader::interface_count() const
{
    if (!_wiretap)
        return static_cast<uint32_t>(_head_interfaces.size() + (_pcap ? _pcap->later_interfaces.size() : 0));
    wtapng_iface_descriptions_t* idbs = wtap_file_get_idb_info(_wiretap->wth);
    const uint32_t count = idbs != nullptr ? idbs->interface_data->len : 0;
    g_free(idbs);
    return count;
}

std::string capture_reader::interface_name(uint32_t index) const
{
    return interface_option(index, OPT_IDB_NAME);
}

std::string capture_reader::interface_description(uint32_t index) const
{
    return interface_option(index, OPT_IDB_DESCRIPTION);
}

int capture_reader::dlt() const
{
    if (_pcap)
        return pcap_datalink(_pcap->pcap);
    if (_wiretap) {
        const int encap = wtap_file_encap(_wiretap->wth);
        if (encap == WTAP_ENCAP_PER_PACKET) {
            // Interfaces of different link types: the first one's.
            wtapng_iface_descriptions_t* idbs = wtap_file_get_idb_info(_wiretap->wth);
            int first = -1;
            if (idbs != nullptr && idbs->interface_data->len > 0) {
                const wtap_block_t idb = g_array_index(idbs->interface_data, wtap_block_t, 0);
                const auto* mand = static_cast<const wtapng_if_descr_mandatory_t*>(wtap_block_get_mandatory_data(idb));
                first = dlt_of_wtap_encap(mand->wtap_encap);
            }
            g_free(idbs);
            return first;
        }
        return dlt_of_wtap_encap(encap);
    }
    return -1;
}

const char* capture_reader::library() const
{
    return _wiretap ? "wiretap" : "libpcap";
}

std::string capture_reader::format_name() const
{
    if (_pcap)
        return _pcap->pcapng ? "pcapng" : _pcap->nanosecond ? "pcap-ns" : "pcap";
    if (_wiretap) {
        const char* name = wtap_file_type_subtype_name(wtap_file_type_subtype(_wiretap->wth));
        return name != nullptr ? name : "capture";
    }
    return "capture";
}

uint64_t capture_reader::record_number() const
{
    if (_pcap && _pcap->ranges != nullptr && _pcap->record_number != 0)
        return _pcap->record_number;
    if (_whole_from_record)   // read whole from a record on (read_whole_from_here)
        return *_whole_from_record + (_packets - _whole_from_packets);
    return _packets;
}

read_status capture_reader::stop(const std::string& what, int64_t offset)
{
    // Read by ranges, the records handed out are those of the ranges only:
    // the record is named by its place in the file, as a whole read names it
    // (by ranges, record_number() is already the one being read).
    const bool by_ranges = _pcap && _pcap->ranges != nullptr && _pcap->record_number != 0;
    const uint64_t record = by_ranges ? record_number() : record_number() + 1;
    if (by_ranges)
        offset = static_cast<int64_t>(_pcap->record_offset);
    const std::string where =
        offset >= 0 ? fmt::format("record {} (byte {})", record, offset) : fmt::format("record {}", record);
    if (_partial) {
        _note = fmt::format("{}: ends after {} complete records: {} {}", _path, record - 1, where, what);
        return read_status::end;
    }
    _error = fmt::format("{}: {}: {}", _path, where, what);
    return read_status::error;
}

read_status capture_reader::stop_cut_short(int64_t offset)
{
    pcap_source& src = *_pcap;
    const file_mapping& mapping = src.map.mapped() ? src.map : src.blocks_mapping;
    const file_mapping::fault_cause cause = mapping.fault("read");
    if (!cause.cut_short)
        return stop(cause.text, offset);
    return stop(fmt::format("{}{}: read it again once nothing truncates it", cause.text,
                            src.handed_out_then_cut ? "; the record before was cut as it was read and may end in zeros"
                                                    : ""),
                offset);
}

read_status capture_reader::finish(capture_record& record)
{
    record.file_len = record.len;
    if (repair_lengths(record.caplen, record.len))
        _repaired++;
    _packets++;
    return read_status::record;
}

read_status capture_reader::next(capture_record& record)
{
    if (!_error.empty())
        return read_status::error;
    // Past the packets of a growing file that were complete when its size
    // was taken: the file is read as it was then.
    if (_empty || _packets >= _limit_packets)
        return read_status::end;
    if (_pcap)
        return next_from_libpcap(record);
    if (_wiretap)
        return next_from_wiretap(record);
    return read_status::end;
}

read_status capture_reader::next_from_libpcap(capture_record& record)
{
    pcap_source& src = *_pcap;
    if (src.map.cut() && !src.handed_out_cut && src.handed_out_end > 0) {   // by the caller's read of the last record?
        const std::optional<uint64_t> zeros = src.map.zeros_from();
        src.handed_out_then_cut = zeros && src.handed_out_end > *zeros;
    }
    if (_packets % populate_every == 0)
        src.populate_ahead();
    const int64_t offset = src.offset();
    int64_t record_end = -1;   // where the record ends in the file, if its header says (direct reading)
    if (src.direct && static_cast<uint64_t>(offset) + sizeof(pcap_record_header) > src.map.size()) {
        std::fseek(src.stream, offset, SEEK_SET);   // the end, or half a header: libpcap says which
    } else if (src.direct) {
        // Each record is found from the length in the header before it: a
        // chain of loads, each a miss to memory. Asking for the lines ahead
        // turns it into a stream.
        const uint64_t ahead = std::min<uint64_t>(static_cast<uint64_t>(offset) + prefetch_ahead_bytes, src.map.size());
        for (src.prefetched = std::max<uint64_t>(src.prefetched, static_cast<uint64_t>(offset) & ~uint64_t{63});
             src.prefetched < ahead; src.prefetched += 64)
            __builtin_prefetch(src.map.data() + src.prefetched);
        const uint8_t* at = src.map.data() + offset;
        pcap_record_header raw;
        std::memcpy(&raw, at, sizeof raw);
        if (src.swapped)
            raw = {__builtin_bswap32(raw.ts_sec), __builtin_bswap32(raw.ts_frac), __builtin_bswap32(raw.caplen),
                   __builtin_bswap32(raw.len)};
        record_end = offset + static_cast<int64_t>(sizeof raw) + raw.caplen;
        // Zeros where another program cut the file are no record.
        if (!src.map.holds(std::min<uint64_t>(static_cast<uint64_t>(record_end), src.map.size())))
            return stop_cut_short(offset);
        if (raw.caplen <= std::min(src.snapshot, pcap_max_caplen) &&
            static_cast<uint64_t>(record_end) <= src.map.size()) {
            if (check_pcap_record(raw, pcap_max_caplen, _partial) == record_verdict::unwritten) {
                _note = fmt::format("{}: ends after {} complete records: zeros follow at byte {} (the rest was "
                                    "never written)", _path, _packets, offset);
                return read_status::end;
            }
            src.next_offset = record_end;
            src.handed_out_end = static_cast<uint64_t>(record_end);
            src.handed_out_cut = src.map.cut();
            record.ts_ns = uint64_t{raw.ts_sec} * ns_per_second +
                           (src.nanosecond ? uint64_t{raw.ts_frac} : uint64_t{raw.ts_frac} * 1000);
            record.caplen = raw.caplen;
            record.len = raw.len;
            record.interface = 0;
            record.dlt = src.dlt;
            record.data = at + sizeof raw;
            return finish(record);
        }
        // Not a record to take as it lies: libpcap reads it, from where it starts.
        std::fseek(src.stream, offset, SEEK_SET);
    }
    if (src.ranges != nullptr) {
        // The record's place in the file: its range's first record's number,
        // plus the records read in that range before it.
        const size_t range_before = src.range;
        const long position = std::ftell(src.stream);
        if (position >= 0) {
            // The head (range 0) holds no packet: libpcap may start the
            // first record inside it (pcapng: it reads one interface block
            // at its open, and the rest of the head as it reads the first
            // record), which then is the first of the next range.
            const uint64_t head_end = src.ranges->ranges.front().bytes;
            const uint64_t first = src.ranges->ranges.size() > 1 ? std::max<uint64_t>(position, head_end)
                                                                 : static_cast<uint64_t>(position);
            const auto [in_file, records_before] = src.ranges->in_file(first, src.range, src.range_start);
            src.record_number = src.range != range_before || src.record_number == 0 ? records_before + 1
                                                                                     : src.record_number + 1;
            src.record_offset = in_file;
            src.record_position = static_cast<uint64_t>(position);
        }
    }
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(src.pcap, &h, &data);
    // A record is checked below (those before a cut are whole); an error
    // may be of zeros where another program cut the file (the file is
    // shorter now than the mapping).
    if (rc != 1 && src.map.mapped() && !src.map.holds(src.map.size()))
        return stop_cut_short(offset);
    if (rc == PCAP_ERROR_BREAK)
        return read_status::end;
    if (rc != 1) {
        if (read_whole_from_here())
            return _error.empty() ? next_from_wiretap(record) : read_status::error;
        return stop(pcap_geterr(src.pcap), offset);
    }
    // A packet past the index's end (open_ranges' whole_from): from it on,
    // the file is read as a whole read reads it (the blocks after a file's
    // last packet, its statistics, are no packets and never get here).
    if (src.ranges != nullptr && src.pcapng && src.record_offset >= _whole_from_offset && read_whole_from_here())
        return _error.empty() ? next_from_wiretap(record) : read_status::error;
    const pcap_record_header raw = {static_cast<uint32_t>(h->ts.tv_sec), static_cast<uint32_t>(h->ts.tv_usec),
                                     h->caplen, h->len};
    switch (check_pcap_record(raw, pcap_max_caplen, _partial)) {
    case record_verdict::unwritten:
        _note = fmt::format("{}: ends after {} complete records: zeros follow at byte {} (the rest was never "
                            "written)", _path, _packets, offset);
        return read_status::end;
    case record_verdict::invalid:
        return stop(fmt::format("captured length {} is over the file's limit {}", h->caplen, pcap_max_caplen), offset);
    case record_verdict::record:
        break;
    }
    if (record_end >= 0)
        src.next_offset = record_end;   // the file's length of it, whatever libpcap cut it to
    else
        src.advance(*h);
    if (src.map.mapped()) {   // zeros where another program cut the file are no record
        const int64_t end = src.counted ? src.next_offset : std::ftell(src.stream);
        if (end >= 0 && !src.map.holds(std::min<uint64_t>(static_cast<uint64_t>(end), src.map.size())))
            return stop_cut_short(offset);
    }
    uint64_t seconds, fraction_ns;
    if (src.pcapng) {
        // libpcap counts pcapng times in 64 bits and normalises the fraction.
        seconds = static_cast<uint64_t>(h->ts.tv_sec);
        fraction_ns = static_cast<uint64_t>(h->ts.tv_usec);
    } else {
        // The file's two 32-bit fields, unsigned, as they were before libpcap
        // sign-extended them (and, for µs files, scaled the fraction by
        // 1000). A fraction of a second that is not below one second (a
        // malformed file) is added as it is: 0 s + 3841916976 µs is
        // 3841.916976 s.
        seconds = pcap_seconds(h->ts.tv_sec);
        fraction_ns = src.nanosecond ? static_cast<uint32_t>(h->ts.tv_usec)
                                     : uint64_t{static_cast<uint32_t>(h->ts.tv_usec / 1000)} * 1000;
    }
    // Wraps past 2^64 ns (pcapng times after 2554).
    record.ts_ns = seconds * ns_per_second + fraction_ns;
    record.caplen = h->caplen;
    record.len = h->len;
    record.interface = src.blocks != nullptr ? src.packet_interface(src.record_position) : 0;
    if (src.blocks_mapping.cut())
        return stop_cut_short(offset);
    record.dlt = pcap_datalink(src.pcap);
    record.data = data;
    return finish(record);
}

bool capture_reader::read_whole_from_here()
{
    // A finished pcapng file read by ranges is read whole by Wireshark's
    // reader when it is not (open_descriptor). The two readers judge some
    // records differently, so a query's answer would depend on whether the
    // index ruled their chunks out. Two cases switch to the whole read:
    // - libpcap refuses a record that reader takes (a packet longer than
    //   its interface's snap length: "invalid packet capture length");
    // - a packet lies past the index's end (open_ranges' whole_from):
    //   `linecap index` stopped before a record Wireshark's reader refuses.
    // From that record on, the file is read as a whole read reads it: past
    // the records before it, by the same reader, whose verdict on it and
    // on the rest (its error, with its place in the file) is the whole
    // read's.
    pcap_source& src = *_pcap;
    if (src.ranges == nullptr || !src.pcapng || _partial || src.record_number == 0)
        return false;
    const uint64_t records_before = src.record_number - 1;
    std::atomic<uint64_t>* read_bytes = src.ranges->read_bytes;
    const uint64_t read_by_ranges = src.ranges->delivered;
    const int fd = fcntl(src.ranges->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct stat st{};
    if (fstat(fd, &st) != 0 || !open_with_wiretap(fd, "").empty()) {
        close(fd);
        _wiretap.reset();
        return false;
    }
    close(fd);   // wiretap opened it again, by its name in /proc
    _pcap.reset();
    if (read_bytes != nullptr)
        read_bytes->fetch_add(static_cast<uint64_t>(st.st_size) - std::min(read_by_ranges, static_cast<uint64_t>(st.st_size)),
                              std::memory_order_relaxed);   // the file's bytes in all, counted once
    wiretap_source& w = *_wiretap;
    _whole_from_packets = _packets;
    for (uint64_t skipped = 0; skipped < records_before;) {
        const int64_t offset = w.position();
        std::string what;
        if (!w.read(what)) {
            // Records the ranges read whole cannot be read again: said
            // where, as a whole read would say it (or the file ended early).
            _whole_from_record = skipped;
            stop(what.empty() ? "the file ends before it (it was cut since)" : what, offset);
            return true;
        }
        skipped += w.rec.rec_type == REC_TYPE_PACKET ? 1 : 0;
    }
    _whole_from_record = records_before;
    return true;
}

read_status capture_reader::next_from_wiretap(capture_record& record)
{
    wiretap_source& w = *_wiretap;
    for (;;) {
        const int64_t offset = w.position();
        std::string what;
        if (!w.read(what)) {
            if (what.empty() && w.sections_guessed && !_note.ends_with(sections_guessed_note))
                _note += (_note.empty() ? _path + ": " : "; ") + std::string(sections_guessed_note);
            return what.empty() ? read_status::end : stop(what, offset);
        }
        if (w.rec.rec_type != REC_TYPE_PACKET)
            continue;
        const wtap_packet_header& p = w.rec.rec_header.packet_header;
        const uint32_t interface =
            (w.rec.presence_flags & WTAP_HAS_INTERFACE_ID) ? w.section_base + p.interface_id : 0;
        if (const uint64_t units = (w.rec.presence_flags & WTAP_HAS_INTERFACE_ID) ? w.resolution_of(interface) : 0;
            units > max_time_units_per_second)
            return stop(fmt::format("interface {}'s time resolution ({}) is finer than linecap reads ({})",
                                    interface, resolution_text(units), resolution_text(max_time_units_per_second)),
                        offset);
        // Unsigned: a pcapng time past 2554 (over 64 bits of nanoseconds) wraps.
        record.ts_ns = (w.rec.presence_flags & WTAP_HAS_TS)
                           ? static_cast<uint64_t>(w.rec.ts.secs) * ns_per_second + static_cast<uint64_t>(w.rec.ts.nsecs)
                           : 0;
        record.caplen = p.caplen;
        record.len = p.len;
        record.interface = interface;
        record.dlt = dlt_of_wtap_encap(p.pkt_encap);
        // wiretap reads a packet's bytes into the buffer's space without
        // moving its length: caplen bytes are there once wtap_read succeeded.
        record.data = ws_buffer_start_ptr(&w.buf);
        return finish(record);
    }
}

std::string resolution_text(uint64_t units_per_second)
{
    for (const uint64_t base : {10, 2}) {
        unsigned power = 0;
        uint64_t left = units_per_second;
        while (left > 1 && left % base == 0) {
            left /= base;
            power++;
        }
        if (left == 1)
            return power == 0 ? "1 s" : fmt::format("{}^-{} s", base, power);
    }
    return fmt::format("1/{} s", units_per_second);
}

int dlt_of_linktype(int linktype)
{
    // pcap-common.c's LINKTYPE_ values from before the registry matched
    // DLT_ numbers (LINKTYPE_ATM_RFC1483 to _PPP_BSDOS, _ATM_CLIP): every
    // other value is the same number in both (on Linux).
    static constexpr std::pair<int, int> renumbered[] = {
        {100, DLT_ATM_RFC1483}, {101, DLT_RAW}, {102, DLT_SLIP_BSDOS}, {103, DLT_PPP_BSDOS}, {106, DLT_ATM_CLIP},
    };
    for (const auto& [from, dlt] : renumbered)
        if (linktype == from)
            return dlt;
    return linktype;
}

std::string linktype_text(int dlt)
{
    if (dlt == -1)   // capture_reader::dlt() of a file that has described no interface
        return "none (the file describes no interface)";
    const char* name = pcap_datalink_val_to_name(dlt);
    const char* description = pcap_datalink_val_to_description(dlt);
    if (name == nullptr)
        return fmt::format("{} (unknown to libpcap)", dlt);
    return description != nullptr ? fmt::format("{} ({})", name, description) : name;
}

} // namespace linecap
