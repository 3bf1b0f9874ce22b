#include "query/query.h"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>

#include <fcntl.h>
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error_text.h"
#include "core/human_units.h"
#include "core/query_fields.h"
#include "core/shell_word.h"
#include "core/spec.h"
#include "core/utc_time.h"
#include "filters/bpf.h"
#include "query/prune.h"
#include "writers/capture_index.h"

namespace linecap {

namespace {

// The programs of one expression, compiled for each link type met.
class compiled_filters {
public:
    explicit compiled_filters(std::string expression) : _expression(std::move(expression)) {}
    ~compiled_filters()
    {
        for (auto& [dlt, program] : _programs)
            pcap_freecode(&program);
        if (_pruning)
            pcap_freecode(&*_pruning);
    }
    compiled_filters(const compiled_filters&) = delete;
    compiled_filters& operator=(const compiled_filters&) = delete;

    // The program the index's pruning reads (Ethernet's), or null with
    // `error` set: it decides no packet, so it may ask for what no file's
    // packets carry (each file's own program is refused then).
    const bpf_program* pruning_program(std::string& error)
    {
        if (!_pruning) {
            bpf_program p{};
            error = compile_tcpdump_filter(_expression, 1, 0, p, true);
            if (!error.empty())
                return nullptr;
            _pruning = p;
        }
        return &*_pruning;
    }

    // The program for link type `dlt` (a DLT_ value), or null with `error` set.
    const bpf_program* program(int dlt, std::string& error)
    {
        if (const auto it = _programs.find(dlt); it != _programs.end())
            return &it->second;
        bpf_program p{};
        error = compile_tcpdump_filter(_expression, dlt, 0, p);
        if (!error.empty())
            return nullptr;
        return &_programs.emplace(dlt, p).first->second;
    }

    // Does the packet pass the expression? (libpcap's interpreter, as
    // tcpdump -r runs it.) Each input's link type has a program
    // (run_query checks it before reading); a record of another link type
    // ends its input before it gets here (merge_readers).
    bool accepts(const capture_record& r)
    {
        std::string error;
        const bpf_program* p = program(r.dlt, error);
        if (p == nullptr)
            return false;
        pcap_pkthdr h{};
        h.caplen = r.caplen;
        h.len = r.file_len;   // as the file gives it, as tcpdump -r filters it (`greater 80`)
        return pcap_offline_filter(p, &h, r.data) != 0;
    }

private:
    std::string _expression;
    std::map<int, bpf_program> _programs;
    std::optional<bpf_program> _pruning;
};

// Do the packet's tunnel keys satisfy the request's tunnel terms? (Only
// an Ethernet packet has a tunnel the index walks.)
bool tunnel_terms_hold(const query_request& request, const capture_record& r)
{
    tunnel_keys keys;
    if (r.dlt != DLT_EN10MB || !read_tunnel_keys(r.data, r.caplen, keys))
        return false;
    if (request.vni && (!keys.has_id || keys.id != *request.vni))
        return false;
    if (request.inner) {
        const ip_range& r = *request.inner;
        const size_t n = r.family == 4 ? 4 : 16;
        const auto in_range = [&](const uint8_t* a) {   // network byte order compares as numbers do
            return std::memcmp(a, r.lo.data(), n) >= 0 && std::memcmp(a, r.hi.data(), n) <= 0;
        };
        return keys.family == r.family && (in_range(keys.src) || in_range(keys.dst));
    }
    return true;
}

// May a packet of `c` satisfy the request's tunnel terms, by its sets?
bool tunnel_terms_may_hold(const query_request& request, const index_chunk& c)
{
    if (request.vni && !c.holds(index_field::tunnel_id, '=', UINT32_MAX, *request.vni))
        return false;
    if (!request.inner)
        return true;
    const ip_range& r = *request.inner;
    if (r.lo == r.hi)
        return c.holds(index_field::inner_address, '=', UINT32_MAX, tunnel_keys::address_key(r.family, r.lo.data()));
    if (r.family == 6) {   // a set of IPv6 addresses' XORs says nothing of a prefix: any inner address may be one
        return c.any(index_field::inner_address);
    }
    // IPv4: a prefix is a masked value (several, for a range).
    for (const ip_prefix& p : range_to_prefixes(r)) {
        const uint32_t mask = p.length == 0 ? 0 : UINT32_MAX << (32 - p.length);
        if (c.holds(index_field::inner_address, '=', mask, tunnel_keys::address_key(4, p.addr.data()) & mask))
            return true;
    }
    return false;
}

// The chunks of one indexed file to read, as byte ranges (adjacent chunks
// merged): those in the time window that the filter may match, those that
// must always be read, and what the index does not cover.
std::vector<byte_range> select_ranges(const capture_index& index, int fd, uint64_t file_bytes,
                                      const query_request& request, const chunk_filter& filter, query_result& result,
                                      std::string& mismatch, uint64_t& covered)
{
    std::vector<byte_range> ranges;
    // The file's records before each range, so that a record the reader
    // cannot read whole is named by its place in the file (capture_reader).
    uint64_t records_before = 0;
    const auto add = [&](uint64_t offset, uint64_t bytes, uint64_t records) {
        if (!ranges.empty() && ranges.back().offset + ranges.back().bytes == offset)
            ranges.back().bytes += bytes;
        else
            ranges.push_back({offset, bytes, records});
    };
    // Does the record its index names start at `offset` (its first 16
    // bytes' CRC)? Records moved (one deleted or cut out after indexing)
    // put another's bytes there.
    const auto starts_there = [&](uint64_t offset, uint64_t bytes, uint32_t crc) {
        uint8_t start[index_first_bytes];
        const auto n = static_cast<size_t>(std::min(bytes, index_first_bytes));
        if (pread(fd, start, n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n) && index_crc(start, n) == crc)
            return true;
        mismatch = fmt::format("the chunk at byte {} does not start with the record its index names", offset);
        return false;
    };
    const auto in_window = [&](const index_chunk& c) {
        return c.packets == 0 || (c.max_ns >= request.merge.since_ns && c.min_ns <= request.merge.until_ns);
    };
    // The sets the first chunk's answer asked about, of every chunk in the
    // window, asked of the disk at once (a finished index's sets are read
    // from its file one chunk at a time: on a cold disk each read would
    // wait its turn).
    bool read_ahead = !(index.source && index.source->fd >= 0);
    const auto ask_ahead = [&](uint32_t asked_sets) {
        read_ahead = true;
        for (const index_chunk& c : index.chunks)
            for (size_t f = 0; f < index_field_count; f++)
                if ((asked_sets & (1u << f)) != 0 && c.stored[f].size != 0 && !c.pinned() && in_window(c))
                    posix_fadvise(index.source->fd, static_cast<off_t>(c.stored[f].offset), c.stored[f].size,
                                  POSIX_FADV_WILLNEED);
    };
    // The file's summary first: a file it rules out has no chunk whose
    // sets need reading (a rare host over a ring is in a few of its files).
    // Not asked of a file outside the window, whose chunks are not asked.
    bool file_may = true;
    if (index.summary && in_window(*index.summary)) {
        file_may = filter.may_match(*index.summary) && tunnel_terms_may_hold(request, *index.summary);
        index.summary->drop_read_sets();
    }
    covered = index.head_bytes;
    for (const index_chunk& c : index.chunks) {
        if (c.offset + c.bytes > file_bytes)
            break;   // past what is read of the file (a .part's complete records)
        result.chunks++;
        covered = c.offset + c.bytes;
        if (c.packets > 0) {
            result.indexed_min_ns = std::min(result.indexed_min_ns, c.min_ns);
            result.indexed_max_ns = std::max(result.indexed_max_ns, c.max_ns);
        }
        uint32_t asked_sets = 0;
        const bool may = !c.pinned() && file_may && in_window(c) && filter.may_match(c, -1, &asked_sets);
        if (!read_ahead && asked_sets != 0)
            ask_ahead(asked_sets);
        if (c.pinned() || (may && tunnel_terms_may_hold(request, c))) {
            // Of a chunk with blocks, when its IPv4 addresses decided: the
            // blocks that may match. Else the whole chunk.
            const bool asks_ipv4 = (asked_sets & (1u << static_cast<unsigned>(index_field::ipv4_address))) != 0;
            const index_blocks* blocks = asks_ipv4 && !c.pinned() ? c.blocks() : nullptr;
            bool read_any = true;
            if (blocks == nullptr) {
                if (!starts_there(c.offset, c.bytes, c.first_crc))
                    return {};
                add(c.offset, c.bytes, records_before);
            } else {
                const size_t ranges_before = ranges.size();
                const uint64_t range_bytes_before = ranges.empty() ? 0 : ranges.back().bytes;
                uint64_t block_records = records_before;
                for (size_t j = 0; j < blocks->places.size(); j++) {
                    const index_block& b = blocks->places[j];
                    if (filter.may_match(c, static_cast<int>(j))) {
                        if (!starts_there(b.offset, b.bytes, b.first_crc))
                            return {};
                        add(b.offset, b.bytes, block_records);
                    }
                    block_records += b.packets;
                }
                if (ranges.size() == ranges_before && (ranges.empty() || ranges.back().bytes == range_bytes_before))
                    read_any = false;
            }
            result.chunks_read += read_any ? 1 : 0;
        }
        c.drop_read_sets();
        records_before += c.packets;
    }
    if (covered < file_bytes)
        add(covered, file_bytes - covered, records_before);   // written after the index's last chunk: read whole
    return ranges;
}

// Whether a file's modification time `file` is `recorded`, or `recorded`
// cut to whole µs, ms or seconds: what a copy keeps that keeps times more
// coarsely (GNU tar's default format keeps seconds) or a file system with
// coarser times holds. A change made since leaves a time of its own.
bool same_time(const timespec& file, const timespec& recorded)
{
    if (file.tv_sec != recorded.tv_sec)
        return false;
    for (const long unit : {1L, 1000L, 1000000L, 1000000000L})
        if (file.tv_nsec == recorded.tv_nsec - recorded.tv_nsec % unit)
            return true;
    return false;
}

// A file's modification time in words: UTC to the ns (RFC 3339).
std::string file_time_text(const timespec& t)
{
    if (t.tv_nsec < 0 || t.tv_nsec >= 1000000000)
        return fmt::format("{} s and {} ns from 1970", t.tv_sec, t.tv_nsec);
    if (t.tv_sec < 0)   // before 1970: -1 s and 500000000 ns is -0.5 s
        return fmt::format("-{}.{:09} s from 1970", -(t.tv_sec + (t.tv_nsec != 0 ? 1 : 0)),
                           t.tv_nsec != 0 ? 1000000000 - t.tv_nsec : 0);
    if (static_cast<uint64_t>(t.tv_sec) >= UINT64_MAX / 1000000000)
        return fmt::format("{}.{:09} s from 1970", t.tv_sec, t.tv_nsec);
    return utc_iso8601(static_cast<uint64_t>(t.tv_sec) * 1000000000 + static_cast<uint64_t>(t.tv_nsec));
}

// Bounded as a session's bpf is: a daemon's query compiles on a thread of
// its own, which a 3000-term expression would keep busy for many minutes
// (and tcpdump -r as long).
std::string query_size_problem(const std::string& expression)
{
    std::string e = bpf_size_problem(expression, "select many addresses as a net (net 10.4.0.0/16) and ports as "
                                                 "a portrange, or query in parts");
    return e.empty() ? e : "bpf: " + e;
}

} // namespace

std::string parse_inner_host(const std::string& text, ip_range& out)
{
    return parse_ip_range(text, out);
}

std::string take_query_terms(const std::string& filter, const std::optional<ip_range>& inner_host,
                             std::optional<uint32_t> vni, query_request& out, bool compile)
{
    if (compile && !filter.empty())
        if (std::string e = check_query_expression(filter); !e.empty())
            return e;
    out.expression = filter;
    out.inner = inner_host;
    out.vni = vni;
    return {};
}

std::string check_query_expression(const std::string& expression, int dlt)
{
    if (std::string e = query_size_problem(expression); !e.empty())
        return e;
    bpf_program p{};
    // Its syntax: whether each file's link type takes it is asked per file
    // ("inbound" is refused for Ethernet and means something in Linux
    // cooked captures).
    std::string error = compile_tcpdump_filter(expression, dlt, 0, p, true);
    if (error.empty())
        pcap_freecode(&p);
    return error.empty() ? error : "bpf: " + error;
}

std::string run_query(const query_request& request, query_result& result)
{
    result = query_result{};
    const bool filtered = !request.expression.empty();
    auto filters = std::make_shared<compiled_filters>(request.expression);
    chunk_filter pruning;
    if (filtered) {
        if (std::string e = query_size_problem(request.expression); !e.empty()) {
            result.expression_refused = true;
            return e;
        }
        std::string error;
        const bpf_program* ethernet = filters->pruning_program(error);
        if (ethernet == nullptr) {
            result.expression_refused = true;
            return "bpf: " + error;
        }
        if (std::string e = pruning.load(*ethernet); !e.empty())
            result.merge.notes.push_back(fmt::format("the index cannot narrow the search: {}", e));
    }
    auto read_bytes = std::make_shared<std::atomic<uint64_t>>(0);

    // Files without an index: one note for all of them.
    std::vector<std::string> unindexed;
    merge_request merge = request.merge;
    const bool tunnel_terms = request.inner || request.vni;
    // The records in the time window that the merge read (it asks keep
    // only of those), kept or not: none, and no packet kept, is what the
    // note of the files' span below needs.
    auto in_window = std::make_shared<uint64_t>(0);
    if (filtered || tunnel_terms)
        merge.keep = [filters, filtered, tunnel_terms, &request, in_window](const capture_record& r) {
            ++*in_window;
            return (!filtered || filters->accepts(r)) && (!tunnel_terms || tunnel_terms_hold(request, r));
        };
    merge.open_input = [&](int fd, const std::string& path, bool partial, uint64_t limit_bytes,
                           capture_reader& reader, std::vector<std::string>& notes) -> std::string {
        struct stat st{};
        const bool stated = fstat(fd, &st) == 0;
        // A pipe (a FIFO, a process substitution) is read as it comes, as
        // tcpdump -r reads one: no index describes a stream, nor can be
        // made of one (linecap index refuses it).
        if (stated && !S_ISREG(st.st_mode)) {
            notes.push_back(fmt::format("{}: not a file (a pipe or a device): read as it comes, without an index", path));
            return reader.open_descriptor(fd, path, partial, limit_bytes);
        }
        // How the file is read: as listed, unless a .part turns out to be
        // finished since (renamed: below).
        bool read_partial = partial;
        uint64_t read_limit = limit_bytes;
        uint64_t file_bytes = std::min<uint64_t>(static_cast<uint64_t>(st.st_size), limit_bytes);
        result.capture_bytes += file_bytes;
        const auto whole = [&](const std::string& why) {
            if (!why.empty())
                notes.push_back(why);
            read_bytes->fetch_add(file_bytes, std::memory_order_relaxed);
            return reader.open_descriptor(fd, path, read_partial, read_limit);
        };
        std::string index_path = index_name_of(path);
        // O_NONBLOCK: a FIFO at an index's name would hold the open (and
        // a daemon's merge thread) until something wrote to it.
        constexpr int index_flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
        int index_fd = open(index_path.c_str(), index_flags);
        // A finished file's index describes all of it (a .part is being
        // written: its index covers the chunks written so far, and the rest
        // is read whole).
        if (index_fd < 0 && errno == ENOENT && path.ends_with(".part")) {
            // Renamed with its file since the folder was listed (a
            // rotation): the index under the new name, if the file there is
            // this one (another file of that name has another index).
            const std::string renamed = path.substr(0, path.size() - 5);
            struct stat now{};
            errno = ENOENT;
            if (stat(renamed.c_str(), &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
                index_path = index_name_of(renamed);
                index_fd = open(index_path.c_str(), index_flags);
                // Read as the finished file it is: all of it, as it is now
                // (its writer cut it back as it closed it).
                read_partial = false;
                read_limit = UINT64_MAX;
                fstat(fd, &st);
                result.capture_bytes += static_cast<uint64_t>(st.st_size) - file_bytes;
                file_bytes = static_cast<uint64_t>(st.st_size);
            }
        }
        if (index_fd < 0) {
            if (errno != ENOENT)
                return whole(fmt::format("{}: cannot open its index: {}: read whole", path, error_text(errno)));
            // A file of a running ring deleted (keep) or renamed since it
            // was opened went with its index: read whole, with no note that
            // it has none (nor the advice to make one of a file gone). A
            // file that is no capture has none either: what it is, is said.
            struct stat now{};
            std::string e = whole("");
            // Nor is the advice given for a file linecap index refuses
            // (its packets are not Ethernet: read whole, or refused below).
            if (e.empty() && reader.dlt() == DLT_EN10MB && stat(path.c_str(), &now) == 0 &&
                now.st_dev == st.st_dev && now.st_ino == st.st_ino)
                unindexed.push_back(path);
            return e;
        }
        if (struct stat st{}; fstat(index_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(index_fd);
            return whole(fmt::format("{}: not a file: {}: read whole", index_path, path));
        }
        capture_index index;
        const std::string error = read_capture_index(index_fd, index_path, index);
        close(index_fd);
        if (!error.empty())
            return whole(error + ": the file is read whole");
        if (!index.note.empty())
            notes.push_back(index.note);
        // The index must be this file's: its head is the file's head, and
        // its first chunk starts with the file's first record.
        std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(index.head_bytes, 1 << 20)));
        const bool same_head = index.head_bytes == head.size() && index.head_bytes <= file_bytes &&
                               pread(fd, head.data(), head.size(), 0) == static_cast<ssize_t>(head.size()) &&
                               index_crc(head.data(), head.size()) == index.head_crc;
        if (!same_head && index.head_bytes > file_bytes)
            return whole(fmt::format("{}: shorter ({} bytes) than the header its index {} describes ({} bytes): "
                                     "read whole",
                                     path, file_bytes, index_path, index.head_bytes));
        if (!same_head)
            return whole(fmt::format("{}: its index {} is another file's (their headers differ): read whole", path,
                                     index_path));
        if (!index.chunks.empty()) {
            const index_chunk& first = index.chunks.front();
            uint8_t start[index_first_bytes];
            const auto n = static_cast<size_t>(std::min(first.bytes, index_first_bytes));
            if (pread(fd, start, n, static_cast<off_t>(first.offset)) != static_cast<ssize_t>(n) ||
                index_crc(start, n) != first.first_crc)
                return whole(fmt::format("{}: its index {} is another file's (the file's first record is not the "
                                         "one it names): read whole",
                                         path, index_path));
        }
        // A finished file written to after its index (edited in place, its
        // records rewritten: the head and every chunk's start may still
        // match) is no longer what the index describes. Its writer, linecap
        // index and the restart's recovery record the file's size and time
        // in the index after its last change (capture_stamp); any other is
        // a change, or a copy that did not keep the file's time, which costs
        // a whole read, never a wrong answer. An index without that record
        // (of version 6 or older, or without its directory) cannot tell.
        const auto size = static_cast<uint64_t>(st.st_size);
        const bool finished = !read_partial;
        if (finished && !index.stamp)
            return whole(fmt::format("{}: its index {} does not record the file's size and time (it is of an older "
                                     "version, or its directory is damaged or cut short): read whole (linecap index "
                                     "{} makes it again)",
                                     path, index_path, shell_word(path)));
        if (finished && index.stamp->bytes != size)
            return whole(fmt::format("{}: {} bytes, where its index {} recorded {} (the file changed after it was "
                                     "indexed): read whole (linecap index {} makes it again)",
                                     path, size, index_path, index.stamp->bytes, shell_word(path)));
        if (finished && !same_time(st.st_mtim, index.stamp->mtime))
            return whole(fmt::format("{}: modified {}, where its index {} recorded {} (the file changed after it "
                                     "was indexed, or was copied without its times: cp -p keeps them): read whole "
                                     "(linecap index {} makes it again)",
                                     path, file_time_text(st.st_mtim), index_path,
                                     file_time_text(index.stamp->mtime), shell_word(path)));
        // A view libpcap refuses (a pcapng file whose interfaces it cannot
        // take apart from their packets) is read whole instead.
        const int whole_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        const uint64_t chunks_before = result.chunks, read_before = result.chunks_read;
        std::string mismatch;
        uint64_t covered = 0;   // where the index's chunks end
        const std::vector<byte_range> ranges =
            select_ranges(index, fd, file_bytes, request, pruning, result, mismatch, covered);
        if (!mismatch.empty()) {
            result.chunks = chunks_before;
            result.chunks_read = read_before;
            if (whole_fd >= 0)
                close(whole_fd);
            return whole(fmt::format("{}: {} (the file changed after it was indexed): read whole (linecap index {} "
                                     "makes its index again)",
                                     path, mismatch, shell_word(path)));
        }
        if (std::string damaged = index.damage_note(); !damaged.empty())
            notes.push_back(damaged);
        std::string opened_ranges = reader.open_ranges(fd, path, read_partial, index.head_bytes, ranges, read_bytes.get(),
                                                       covered < file_bytes ? covered : UINT64_MAX);
        if (!opened_ranges.empty() && whole_fd >= 0) {
            result.chunks = chunks_before;
            result.chunks_read = read_before;
            fd = whole_fd;
            return whole(fmt::format("{}: its chunks cannot be read apart ({}): read whole", path, opened_ranges));
        }
        if (whole_fd >= 0)
            close(whole_fd);
        result.files_indexed++;
        return opened_ranges;
    };
    // The expression must compile for each file's link type, as tcpdump -r
    // requires: `ether host` means nothing to raw IP packets. A refusal of
    // the request, not a file's fault: the merge stops before it writes.
    if (filtered)
        merge.check_input = [&](const capture_reader& reader) -> std::string {
            std::string error;
            if (filters->program(reader.dlt(), error) == nullptr)
                return fmt::format("{}: its packets are {}: bpf: {}", reader.path(), linktype_text(reader.dlt()),
                                   error);
            return {};
        };
    const std::string error = merge_captures(merge, result.merge);
    result.bytes_read = read_bytes->load();
    // A file still being written (or left by a crash) is indexed by its
    // writer, or by the daemon's recovery: linecap index refuses it, so it
    // gets no advice to run it.
    const auto part = std::stable_partition(unindexed.begin(), unindexed.end(),
                                            [](const std::string& p) { return !p.ends_with(".part"); });
    for (auto it = part; it != unindexed.end(); ++it)
        result.merge.notes.push_back(fmt::format("{}: no index ({}): read whole (a file being written is indexed by "
                                                 "its writer, if its session indexes)",
                                                 *it, index_name_of(*it)));
    unindexed.erase(part, unindexed.end());
    // Nothing found in a window that misses every packet of the files
    // (all indexed, so their span is known, and no record read in the
    // window: a running ring's newest records, past its index's last chunk,
    // are read whole): their span, so that a window
    // typed in the wrong clock (a replay's times, years old) is seen as such.
    const bool windowed = request.merge.since_ns > 0 || request.merge.until_ns < UINT64_MAX;
    if (error.empty() && result.merge.packets == 0 && *in_window == 0 && windowed &&
        result.files_indexed == result.merge.files &&
        result.indexed_min_ns <= result.indexed_max_ns &&
        (result.indexed_max_ns < request.merge.since_ns || result.indexed_min_ns > request.merge.until_ns))
        result.merge.notes.push_back(fmt::format("no packet in the time window: the files' indexes hold packets from {} to {}",
                                                 utc_iso8601(result.indexed_min_ns),
                                                 utc_iso8601(result.indexed_max_ns)));
    // Nor a file the merge did not read to its end (a pcapng's later
    // interface of another link type, which linecap index refuses too):
    // the error says what is wrong with it.
    std::erase_if(unindexed, [&result](const std::string& p) {
        return std::find(result.merge.stopped_in.begin(), result.merge.stopped_in.end(), p) != result.merge.stopped_in.end();
    });
    if (unindexed.size() == 1)
        result.merge.notes.push_back(fmt::format("{}: no index ({}): read whole (linecap index {} makes one)",
                                                 unindexed[0], index_name_of(unindexed[0]), shell_word(unindexed[0])));
    else if (unindexed.size() > 1)
        result.merge.notes.push_back(fmt::format("{} files have no index ({} ... {}): read whole (linecap index "
                                                 "FILE|DIR... makes them)",
                                                 unindexed.size(), unindexed.front(), unindexed.back()));
    return error;
}

} // namespace linecap
