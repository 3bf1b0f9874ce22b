// One session's output on one writer (writers/session_output.h): rotation,
// keep-last-N, limits and their stop reasons, and the slot's cumulative
// counters, on real mbufs and real files read back with libpcap.
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include <pcap/pcap.h>
#include <roaring/roaring.h>

#include "core/utc_time.h"
#include "tests/support/dpdk_env.h"
#include "writers/capture_index.h"
#include "writers/recovery.h"
#include "writers/session_output.h"

using namespace linecap;

namespace {

constexpr uint64_t second = 1000000000ull;
// 2026-11-28 10:00:10 UTC: ten seconds into a minute.
constexpr uint64_t t0 = 1795860010ull * second;

// The packets of a capture file libpcap reads whole.
int packets_in(const std::string& path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    INFO(path << ": " << errbuf);
    REQUIRE(p != nullptr);
    int packets = 0;
    pcap_pkthdr* h;
    const u_char* d;
    while (pcap_next_ex(p, &h, &d) == 1)
        packets++;
    pcap_close(p);
    return packets;
}

struct fixture {
    std::string dir = test::temp_dir();
    tsc_clock clock = tsc_clock::calibrate(10);
    session_counters counters;
    index_epoch epoch;   // the writer's, which workers' marks are of (writers/index_flow.h)
    session_output out;
    std::unique_ptr<session> s;

    explicit fixture(output_spec spec = {}) { start(spec); }

    void start(output_spec spec)
    {
        s = std::make_unique<session>();
        spec.dir = dir;
        spec.direct_io = false;
        s->spec = spec;
        s->dir_fd = open(dir.c_str(), O_DIRECTORY | O_CLOEXEC);
        REQUIRE(s->dir_fd >= 0);
        s->start_ns = t0;
        s->packets_left.reset(spec.limits.packets);
        s->bytes_left.reset(spec.limits.bytes);
        out.attach(0, &clock, &counters, nullptr, &epoch);
        std::string error;
        REQUIRE(out.open(s.get(), error) == 0);
        REQUIRE(error.empty());
    }

    // A 100-byte frame received at ts.
    void write(uint64_t ts) { write(std::vector<uint8_t>(100, 0xab), ts); }

    // `count` 90-byte IPv4 UDP frames, the i-th from 0.0.0.i, received at t0 + i.
    void write_udp(int count)
    {
        for (int i = 0; i < count; i++) {
            std::vector<uint8_t> frame(90, 0);
            frame[12] = 0x08;
            frame[14] = 0x45;
            frame[23] = 17;
            frame[29] = static_cast<uint8_t>(i);
            write(frame, t0 + static_cast<uint64_t>(i));
        }
    }

    // A frame in `segment`-byte segments, received at ts, marked `mark`;
    // the burst ended after it (as the writer ends each: writer.cpp)
    // unless told.
    void write(const std::vector<uint8_t>& frame, uint64_t ts, uint16_t segment = 2048, uint32_t mark = index_unmarked,
               bool end_burst = true)
    {
        rte_mbuf* m = test::make_chain(frame, segment);
        REQUIRE(m != nullptr);
        out.write(m, ts, m->pkt_len, mark);
        if (end_burst)
            out.end_burst();
        rte_pktmbuf_free(m);
    }

    // The indexes in the folder (NAME.idx, NAME.idx.part), by name.
    std::vector<std::string> indexes() const
    {
        std::vector<std::string> found;
        for (const auto& entry : std::filesystem::directory_iterator(dir))
            if (const std::string name = entry.path().filename(); name.find(".idx") != std::string::npos)
                found.push_back(name);
        std::sort(found.begin(), found.end());
        return found;
    }

    // The capture files in the folder, by name, with their packet counts.
    std::vector<std::pair<std::string, int>> files() const
    {
        std::vector<std::pair<std::string, int>> found;
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            const std::string name = entry.path().filename();
            if (name.find(".idx") != std::string::npos)
                continue;
            found.emplace_back(name, packets_in(entry.path()));
        }
        std::sort(found.begin(), found.end());
        return found;
    }
};

// An indexed session's output, in `format`, `packets` a file.
output_spec indexed_spec(file_format format, uint64_t packets)
{
    output_spec spec;
    spec.format = format;
    spec.rotate.packets = packets;
    spec.index = true;
    return spec;
}

// A file's bytes.
std::vector<char> file_bytes(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// `frame` (Ethernet) in one 802.1Q tag, VLAN 100.
std::vector<uint8_t> tagged(const std::vector<uint8_t>& frame)
{
    std::vector<uint8_t> out(frame);
    const uint8_t tag[4] = {0x81, 0x00, 0x00, 100};
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(12, out.size())), std::begin(tag), std::end(tag));
    return out;
}

std::vector<int> packet_counts(const std::vector<std::pair<std::string, int>>& files)
{
    std::vector<int> counts;
    for (const auto& f : files)
        counts.push_back(f.second);
    return counts;
}

} // namespace

TEST_CASE("session_output: a packet-count rotation fills files in order; the counters say what they hold")
{
    output_spec spec;
    spec.name = "rot";
    spec.rotate.packets = 3;
    fixture f(spec);
    for (int i = 0; i < 10; i++)
        f.write(t0 + static_cast<uint64_t>(i) * 1000);
    f.out.end();
    const auto files = f.files();
    CHECK(packet_counts(files) == std::vector<int>{3, 3, 3, 1});
    CHECK(files[0].first == "rot-w0-000001-" + utc_basic(t0) + ".pcap");
    CHECK(files[3].first.starts_with("rot-w0-000004-"));
    CHECK(f.counters.written_packets.get() == 10);
    CHECK(f.counters.files.get() == 4);
    uint64_t bytes = 0;
    for (const auto& [name, packets] : files)
        bytes += std::filesystem::file_size(f.dir + "/" + name);
    CHECK(f.counters.written_bytes.get() == bytes);
    CHECK(f.s->reason.load() == stop_reason::none);
}

TEST_CASE("session_output: keep-last-N deletes the oldest closed files, and counts them")
{
    output_spec spec;
    spec.rotate.packets = 3;
    spec.rotate.keep = 2;
    fixture f(spec);
    for (int i = 0; i < 10; i++)
        f.write(t0 + static_cast<uint64_t>(i));
    f.out.end();
    const auto files = f.files();
    REQUIRE(files.size() == 2);
    CHECK(files[0].first.starts_with("capture-w0-000003-"));
    CHECK(files[1].first.starts_with("capture-w0-000004-"));
    CHECK(packet_counts(files) == std::vector<int>{3, 1});
    CHECK(f.counters.files.get() == 4);
    CHECK(f.counters.files_deleted.get() == 2);
    CHECK(f.counters.written_packets.get() == 10);   // written, deleted or not
    // A ring is indexed unless told otherwise; each index goes with its file.
    CHECK(f.indexes() == std::vector<std::string>{files[0].first + ".idx", files[1].first + ".idx"});
}

TEST_CASE("session_output: keep-last-N hands what it deletes to the reaper, which frees it off the writer")
{
    // The descriptors this process holds on deleted files of `dir`.
    const auto held = [](const std::string& dir) {
        int n = 0;
        for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
            std::error_code ec;
            const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
            n += target.starts_with(dir + "/") && target.ends_with(" (deleted)");
        }
        return n;
    };
    output_spec spec;
    spec.rotate.packets = 3;
    spec.rotate.keep = 1;
    fixture f(spec);
    file_reaper reaper;
    REQUIRE(reaper.start("test_reaper") == "");
    f.out.attach(0, &f.clock, &f.counters, &reaper);
    for (int i = 0; i < 10; i++)
        f.write(t0 + static_cast<uint64_t>(i) * 1000);
    f.out.end();
    CHECK(f.counters.files_deleted.get() == 3);
    CHECK(f.files().size() == 1);   // their names are gone at once
    reaper.stop();                  // and their space once the reaper has closed them
    CHECK(held(f.dir) == 0);
}

TEST_CASE("session_output: the index a writer writes is the one linecap index makes of its file")
{
    for (const file_format format : {file_format::pcap_ns, file_format::pcapng}) {
        fixture f(indexed_spec(format, 150));
        f.out.set_index_chunk_bytes(4096);
        // IPv4 and IPv6 frames of many addresses and ports, some of them
        // in 20-byte segments (a header across segments), some cut short.
        std::mt19937 rng(5);
        for (int i = 0; i < 400; i++) {
            const bool v6 = i % 3 == 0;
            std::vector<uint8_t> frame(60 + rng() % 200, 0);
            frame[12] = v6 ? 0x86 : 0x08;
            frame[13] = v6 ? 0xdd : 0x00;
            for (size_t b = 14; b < std::min<size_t>(frame.size(), 70); b++)
                frame[b] = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : b);
            frame[14] = v6 ? 0x60 : 0x45;
            // IPv4 unfragmented; IPv6's next header TCP, UDP or ICMPv6 (a
            // flow the writer's flow cache keeps: the copy below finds it),
            // or hop-by-hop (walked for a tunnel, and never kept).
            if (v6)
                frame[20] = i % 9 == 0 ? 0 : i % 4 == 1 ? 58 : i % 2 != 0 ? 6 : 17;
            else
                frame[20] = frame[21] = 0;
            if (i % 7 == 0)
                frame.resize(20 + rng() % 30);
            f.write(frame, t0 + static_cast<uint64_t>(i) * 1000, i % 5 == 0 ? 20 : 2048);
            // A flow met again (an IPv4 one in the same block: the
            // writer's flow cache finds it, and no key is read), stamped
            // before the packets around it, so that a chunk's times are
            // taken out of order too.
            if (i % 5 == 2)
                f.write(frame, t0 + static_cast<uint64_t>(i) * 1000 - 3500, 2048);
            // The same frame in a VLAN tag (most give no key: the writer
            // counts one and takes its time, and reads nothing; a
            // hop-by-hop one is walked), and an ARP frame (whose addresses
            // the IPv4 set takes).
            if (i % 11 == 0)
                f.write(tagged(frame), t0 + static_cast<uint64_t>(i) * 1000, i % 2 == 0 ? 2048 : 20);
            if (i % 13 == 0) {
                std::vector<uint8_t> arp(42, 0);
                arp[12] = 0x08;
                arp[13] = 0x06;
                for (size_t b = 28; b < 42; b++)
                    arp[b] = static_cast<uint8_t>(rng());
                f.write(arp, t0 + static_cast<uint64_t>(i) * 1000, 2048);
            }
            // And mirrored traffic (the index's tunnel sets), whole in one
            // segment or cut in 20-byte ones, untagged, or tagged (chunks
            // apart: a tagged frame's keys must come from its own walk).
            if (i % 40 == 0)
                for (const char* name : {"vxlan.pcap", "geneve.pcap", "erspan-type-iii-ft-0.pcap"}) {
                    char errbuf[PCAP_ERRBUF_SIZE];
                    pcap_t* p = pcap_open_offline((std::string(LINECAP_CORPUS_DIR) + "/" + name).c_str(), errbuf);
                    if (p == nullptr)
                        continue;
                    pcap_pkthdr* h;
                    const u_char* d;
                    for (int n = 0; n < 3 && pcap_next_ex(p, &h, &d) == 1; n++) {
                        const std::vector<uint8_t> mirrored(d, d + h->caplen);
                        f.write(i % 80 == 0 ? mirrored : tagged(mirrored), t0 + static_cast<uint64_t>(i) * 1000,
                                n % 2 == 0 ? 20 : 2048);
                    }
                    pcap_close(p);
                }
        }
        if (format == file_format::pcap_ns) {
            // The file being written has its index as far as its chunks are complete.
            capture_index partial;
            const std::string part = f.indexes().back();
            REQUIRE(part.ends_with(".idx.part"));
            const int fd = open((f.dir + "/" + part).c_str(), O_RDONLY);
            REQUIRE(read_capture_index(fd, part, partial).empty());
            close(fd);
            CHECK(partial.chunks.size() >= 1);
            CHECK_FALSE(partial.by_directory);   // written at close
        }
        f.out.end();
        const auto files = f.files();
        REQUIRE(files.size() == 5);   // 400 + 80 again + 37 tagged + 31 ARP + 90 mirrored, 150 a file
        REQUIRE(f.indexes().size() == files.size());
        for (const auto& [name, packets] : files) {
            INFO(name);
            const std::string path = f.dir + "/" + name;
            index_build_result r;
            REQUIRE(index_capture_file(path, path + ".again", 4096, r).empty());
            CHECK(r.packets == static_cast<uint64_t>(packets));
            CHECK(r.chunks >= (packets == 150 ? 4u : 1u));
            const bool same = file_bytes(path + ".idx") == file_bytes(path + ".again");
            CHECK(same);
            capture_index index;
            const int fd = open((path + ".idx").c_str(), O_RDONLY);
            REQUIRE(read_capture_index(fd, name, index).empty());
            close(fd);
            CHECK(index.by_directory);
            CHECK(index.damage_note().empty());
            uint64_t inner = 0;
            for (const index_chunk& c : index.chunks)
                inner += c.set_size(index_field::inner_address);
            if (packets == 150)   // every full file holds mirrored frames (the last, 38 packets, none)
                CHECK(inner > 0);
            std::filesystem::remove(path + ".again");
        }
    }
}

TEST_CASE("session_output: with a worker's marks, each chunk and block of a writer's index holds exactly its records' keys")
{
    // A worker marks bursts of a few dozen flows' packets a ring ahead of
    // the writer (index_flow_marks, as engine/worker.cpp does): the
    // writer takes most records by its short path (path_of), some as
    // an older block's, and its blocks and chunks start where its worker
    // moved on (capture_file_indexer::add), not where linecap index cuts
    // them. Over many blocks, chunks and files, each chunk's sets must be
    // exactly what its records, indexed alone, give, and each block's IPv4
    // addresses exactly its records'. ICMP's packets are
    // marked too, and the writer adds their own half-words. Each flow goes
    // both ways. Snaplens that cut a flow's keys (an address, a port), in
    // IPv4's or IPv6's, where the writer must take no mark; ones that cut
    // just past them (58: IPv6 ICMP's words end there); and frames in
    // segments of 40 bytes (a worker marks by the first).
    struct variant {
        file_format format;
        uint32_t snaplen;
        uint16_t segment;
    };
    for (const variant v : {variant{file_format::pcap_ns, 0, 2048}, variant{file_format::pcapng, 0, 2048},
                            variant{file_format::pcap_ns, 36, 2048}, variant{file_format::pcapng, 56, 2048},
                            variant{file_format::pcap_ns, 30, 2048}, variant{file_format::pcapng, 44, 2048},
                            variant{file_format::pcapng, 58, 2048}, variant{file_format::pcap_ns, 60, 40},
                            variant{file_format::pcap_ns, 0, 40}}) {
        const file_format format = v.format;
        INFO("format " << static_cast<int>(format) << ", snaplen " << v.snaplen << ", segments of " << v.segment);
        output_spec spec = indexed_spec(format, 2000);
        spec.snaplen = v.snaplen;
        fixture f(spec);
        // Blocks of 16 KiB, some 120 records; of 8 KiB for records cut
        // short (some 110 to 180: several chunks a file).
        const uint64_t chunk_bytes = v.snaplen == 0 ? 128 << 10 : 64 << 10;
        f.out.set_index_chunk_bytes(chunk_bytes);
        std::mt19937 rng(9);
        struct flow {
            std::vector<uint8_t> frame;
            size_t words = 0;   // ICMP's type, code and checksum (they change), or 0
        };
        std::vector<flow> flows;
        for (int i = 0; i < 24; i++) {
            const bool v6 = i % 3 == 0, tagged = i % 8 == 5, icmp = i % 7 == 2;
            std::vector<uint8_t> frame(tagged ? 64 : 60 + rng() % 120, 0);
            frame[12] = tagged ? 0x81 : v6 ? 0x86 : 0x08;
            frame[13] = tagged ? 0x00 : v6 ? 0xdd : 0x00;
            for (size_t b = 14; b < frame.size(); b++)
                frame[b] = static_cast<uint8_t>(rng());
            if (!tagged) {
                frame[14] = v6 ? 0x60 : 0x45;
                frame[v6 ? 20 : 23] = icmp ? (v6 ? 58 : 1) : i % 2 ? 6 : 17;
                if (!v6)
                    frame[20] = frame[21] = 0;   // unfragmented
                frame[v6 ? 54 : 34] = frame[v6 ? 56 : 36] = 0x10;   // no tunnel port
            }
            flows.push_back({frame, !tagged && icmp ? (v6 ? 54u : 34u) : 0u});
            if (!tagged) {   // the other way: addresses and half-words swapped
                const size_t a = v6 ? 22 : 26, n = v6 ? 16 : 4, words = v6 ? 54 : 34;
                std::swap_ranges(frame.begin() + a, frame.begin() + a + n, frame.begin() + a + n);
                std::swap_ranges(frame.begin() + words, frame.begin() + words + 2, frame.begin() + words + 2);
                flows.push_back({frame, icmp ? words : 0u});
            }
        }
        auto marks = std::make_unique<index_flow_marks>();
        struct in_flight {
            std::vector<uint8_t> frame;
            uint32_t mark;
        };
        std::deque<in_flight> ring;
        uint64_t ts = t0, marked = 0, taken_now = 0, words_marked = 0;
        std::vector<std::vector<uint8_t>> written;   // each record's bytes, in order
        for (int made = 0; made < 6000 || !ring.empty();) {
            if (made < 6000 && (ring.size() < 32 || rng() % 2 == 0)) {
                const uint64_t now = f.epoch.get();
                marks->start_burst();
                const unsigned size = 1 + rng() % 32;
                for (unsigned k = 0; k < size && made < 6000; k++, made++) {
                    const flow& from = flows[rng() % flows.size()];
                    std::vector<uint8_t> frame = from.frame;
                    if (from.words != 0) {
                        frame[from.words] = static_cast<uint8_t>(rng() % 4);
                        frame[from.words + 2] = static_cast<uint8_t>(rng());
                    }
                    const auto length = static_cast<uint32_t>(frame.size());
                    const uint32_t mark = marks->mark(frame.data(), std::min<uint32_t>(length, v.segment), length,
                                                      1, now, k);
                    ring.push_back({std::move(frame), mark});
                }
                continue;
            }
            // A burst of the writer's: its records' places asked at its end
            // (session_output::end_burst), rotations within it.
            for (unsigned k = 1 + rng() % 48; k > 0 && !ring.empty(); k--) {
                const in_flight p = std::move(ring.front());
                ring.pop_front();
                marked += p.mark != index_unmarked && (p.mark & index_mark_read) == 0;
                taken_now += (p.mark & ~index_mark_words) == index_epoch::mark_of(f.epoch.get());
                words_marked += (p.mark & index_mark_words) != 0;
                f.write(p.frame, ts++, v.segment, p.mark, false);
                const size_t caplen = v.snaplen == 0 ? p.frame.size() : std::min<size_t>(p.frame.size(), v.snaplen);
                written.emplace_back(p.frame.begin(), p.frame.begin() + static_cast<std::ptrdiff_t>(caplen));
            }
            f.out.end_burst();
        }
        f.out.end();
        INFO(marked << " marked, " << taken_now << " with the epoch then, " << words_marked << " ICMP");
        CHECK(words_marked > 100);
        if (spec.index_marked())   // else the writer takes no mark: the index would be wrong
            CHECK(taken_now > marked / 8);   // the writer a few dozen records behind, blocks of some 120
        // The keys of records [from, from + n), indexed alone.
        const auto keys_of = [&](size_t from, uint64_t n) {
            index_builder alone(index_builder::folding::never);
            for (size_t i = from; i < from + n; i++)
                alone.add_packet(written[i].data(), static_cast<uint32_t>(written[i].size()), 1);
            const uint8_t first[16] = {};
            return alone.finish(0, 1, false, first);
        };
        constexpr auto ipv4 = index_field::ipv4_address;
        const auto files = f.files();
        REQUIRE(files.size() == 3);
        size_t next = 0;   // the next file's first record
        uint64_t blocks = 0;
        for (const auto& [name, packets] : files) {
            INFO(name);
            const std::string path = f.dir + "/" + name + ".idx";
            const int fd = open(path.c_str(), O_RDONLY);
            REQUIRE(fd >= 0);
            capture_index index;
            REQUIRE(read_capture_index(fd, path, index).empty());
            close(fd);
            CHECK(index.chunks.size() > 1);
            uint64_t records = 0;
            for (const index_chunk& c : index.chunks) {
                INFO("the chunk at byte " << c.offset << ", records " << next << " to " << next + c.packets);
                REQUIRE(next + c.packets <= written.size());
                const index_chunk want = keys_of(next, c.packets);
                for (size_t field = 0; field < index_field_count; field++) {
                    INFO("set " << field);
                    REQUIRE_FALSE(c.folded(static_cast<index_field>(field)));
                    CHECK(roaring_bitmap_equals(c.set(static_cast<index_field>(field)),
                                                want.set(static_cast<index_field>(field))));
                }
                if (const index_blocks* b = c.blocks(); b != nullptr && !b->places.empty()) {
                    std::vector<uint32_t> values(roaring_bitmap_get_cardinality(c.set(ipv4)));
                    roaring_bitmap_to_uint32_array(c.set(ipv4), values.data());
                    size_t at = next;
                    for (size_t j = 0; j < b->places.size(); j++) {
                        const index_chunk block = keys_of(at, b->places[j].packets);
                        for (const uint32_t value : values) {
                            INFO("block " << j << ", address " << value);
                            CHECK(c.holds(ipv4, '=', UINT32_MAX, value, static_cast<int>(j)) ==
                                  roaring_bitmap_contains(block.set(ipv4), value));
                        }
                        at += b->places[j].packets;
                        blocks++;
                    }
                    CHECK(at == next + c.packets);
                }
                next += c.packets;
                records += c.packets;
            }
            CHECK(records == static_cast<uint64_t>(packets));
        }
        CHECK(next == written.size());
        CHECK(blocks > 20);
    }
}

TEST_CASE("session_output: a name an earlier run left in the folder is passed over, and no packet is lost")
{
    // A replay run twice into one folder: its rotations are named by the
    // packets' times, the same both times. The second run's files were
    // written whole and then refused their names (RENAME_NOREPLACE), their
    // packets counted as write drops.
    output_spec spec;
    spec.name = "re";
    spec.rotate.packets = 2;
    fixture f(spec);
    const std::string taken = "re-w0-000002-" + utc_basic(t0) + ".pcap";
    const std::string taken_part = "re-w0-000003-" + utc_basic(t0) + ".pcap.part";
    for (const std::string& name : {taken, taken_part}) {
        std::FILE* file = std::fopen((f.dir + "/" + name).c_str(), "w");
        REQUIRE(file != nullptr);
        std::fputs("an earlier run's", file);
        std::fclose(file);
    }
    for (int i = 0; i < 6; i++)
        f.write(t0 + static_cast<uint64_t>(i) * 1000);
    f.out.end();
    CHECK(f.counters.written_packets.get() == 6);
    CHECK(f.counters.write_drops.get() == 0);
    CHECK(std::filesystem::file_size(f.dir + "/" + taken) == 16);   // untouched
    CHECK(std::filesystem::file_size(f.dir + "/" + taken_part) == 16);
    std::vector<std::string> names;
    int packets = 0;
    for (const auto& entry : std::filesystem::directory_iterator(f.dir))
        if (const std::string name = entry.path().filename(); name != taken && name != taken_part) {
            names.push_back(name);
            packets += packets_in(entry.path());
        }
    std::sort(names.begin(), names.end());
    CHECK(packets == 6);
    REQUIRE(names.size() == 3);
    CHECK(names[1] == "re-w0-000004-" + utc_basic(t0) + ".pcap");
    CHECK(names[2] == "re-w0-000005-" + utc_basic(t0) + ".pcap");
}

TEST_CASE("session_output: a file whose index fails is written whole, and the session counts it")
{
    output_spec spec;
    spec.name = "ix";
    spec.rotate.packets = 2;
    spec.index = true;
    fixture f(spec);
    // The second file's index cannot take its name: a folder holds it.
    const std::string& dir = f.dir;
    const std::string second_file = "ix-w0-000002-" + utc_basic(t0) + ".pcap";
    std::filesystem::create_directories(dir + "/" + second_file + ".idx/taken");
    for (int i = 0; i < 4; i++)
        f.write(t0 + static_cast<uint64_t>(i) * 1000);
    f.out.end();
    CHECK(f.counters.index_errors.get() == 1);
    CHECK(writer_slot_totals(f.counters).index_errors == 1);
    CHECK(f.counters.written_packets.get() == 4);
    CHECK(packets_in(dir + "/" + second_file) == 2);
    // The first file's index is whole; the second's is gone, not left
    // beside its file under no file's name (a query reads that file whole).
    CHECK(f.indexes() == std::vector<std::string>{"ix-w0-000001-" + utc_basic(t0) + ".pcap.idx", second_file + ".idx"});
    CHECK(std::filesystem::is_directory(dir + "/" + second_file + ".idx"));
}

TEST_CASE("session_output: keep_bytes deletes the oldest closed files past the writer's share, and counts them")
{
    output_spec spec;
    spec.rotate.packets = 3;
    spec.rotate.keep_bytes = 400;
    // A file of 3 packets: the 24-byte header and 3 records of 16 + 100 bytes.
    constexpr uint64_t full_file = 24 + 3 * (16 + 100);
    fixture f(spec);
    f.s->keep_bytes_per_writer = 400;   // one writer: the session's whole bound
    for (int i = 0; i < 7; i++)
        f.write(t0 + static_cast<uint64_t>(i));
    // Closed: files 1 and 2 (744 bytes, over 400): the oldest went.
    auto files = f.files();
    REQUIRE(files.size() == 2);
    CHECK(files[0].first.starts_with("capture-w0-000002-"));
    CHECK(std::filesystem::file_size(f.dir + "/" + files[0].first) == full_file);
    CHECK(files[1].first.starts_with("capture-w0-000003-"));   // being written
    f.out.end();
    // Closed: 2 and 3 (the last, 1 packet): 372 + 140 bytes, over 400: 2 goes.
    files = f.files();
    REQUIRE(files.size() == 1);
    CHECK(files[0].first.starts_with("capture-w0-000003-"));
    CHECK(packet_counts(files) == std::vector<int>{1});
    CHECK(f.counters.files_deleted.get() == 2);
    CHECK(f.counters.written_packets.get() == 7);
}

TEST_CASE("session_output: time windows are aligned to the clock and never go back")
{
    output_spec spec;
    spec.rotate.seconds = 60;
    fixture f(spec);
    f.write(t0);                   // 10:00:10, the first file (named after the session's start)
    f.write(t0 + 40 * second);     // 10:00:50, same window
    f.write(t0 + 55 * second);     // 10:01:05, the next window: a file named 10:01:00
    f.write(t0 + 30 * second);     // late (10:00:40): stays in the current window
    f.write(t0 + 170 * second);    // 10:03:00: a window of its own, 10:02 had no packet
    f.out.end();
    const auto files = f.files();
    CHECK(packet_counts(files) == std::vector<int>{2, 2, 1});
    REQUIRE(files.size() == 3);
    CHECK(files[1].first == "capture-w0-000002-" + utc_basic(t0 + 50 * second) + ".pcap");
    CHECK(files[2].first == "capture-w0-000003-" + utc_basic(t0 + 170 * second) + ".pcap");
}

TEST_CASE("session_output: a packet limit writes exactly N, stops the session, and counts the rest")
{
    output_spec spec;
    spec.limits.packets = 5;
    fixture f(spec);
    for (int i = 0; i < 8; i++)
        f.write(t0 + static_cast<uint64_t>(i));
    CHECK(f.s->reason.load() == stop_reason::packets);
    f.out.end();
    CHECK(packet_counts(f.files()) == std::vector<int>{5});
    CHECK(f.counters.written_packets.get() == 5);
    CHECK(f.counters.limit_drops.get() == 3);
    CHECK(f.counters.write_drops.get() == 0);
}

TEST_CASE("session_output: a byte limit holds for the file as closed, its header included")
{
    for (const file_format format : {file_format::pcap_ns, file_format::pcapng}) {
        INFO(format_extension(format));
        output_spec spec;
        spec.format = format;
        spec.limits.bytes = 1500;
        fixture f(spec);
        for (int i = 0; i < 20; i++)
            f.write(t0 + static_cast<uint64_t>(i));
        CHECK(f.s->reason.load() == stop_reason::bytes);
        f.out.end();
        const auto files = f.files();
        REQUIRE(files.size() == 1);
        const uint64_t size = std::filesystem::file_size(f.dir + "/" + files[0].first);
        CHECK(size <= 1500);
        CHECK(size > 1500 - 150);   // not stopped early: one more record would not fit
        CHECK(f.counters.written_bytes.get() == size);
        CHECK(f.counters.limit_drops.get() == 20 - static_cast<uint64_t>(files[0].second));
    }
}

TEST_CASE("session_output: limits taken once per burst write exactly what taking them one by one writes")
{
    // Two outputs of one session (two writers) take their bursts' shares
    // of the budget in turns, as write_burst does: the packet limit and the
    // byte limit each end the session exactly where packet-by-packet
    // taking would, whichever writer reaches it.
    rte_mbuf* m = test::make_chain(std::vector<uint8_t>(100, 0xab), 2048);
    REQUIRE(m != nullptr);
    for (const bool by_bytes : {false, true}) {
        INFO((by_bytes ? "byte limit" : "packet limit"));
        output_spec spec;
        spec.format = file_format::pcap_us;
        if (by_bytes)
            spec.limits.bytes = 2 * 24 + 116 * 45 + 100;   // two file headers, 45 records of 16 + 100 bytes, and some
        else
            spec.limits.packets = 45;
        fixture f(spec);
        session_counters second_counters;
        session_output second;
        second.attach(1, &f.clock, &second_counters);
        std::string error;
        // The second writer's file takes its header from the byte budget too.
        REQUIRE(second.open(f.s.get(), error) == 0);
        const uint64_t records = 45;
        uint64_t ts = t0;
        for (int burst = 0; burst < 4; burst++) {
            session_output& out = burst % 2 ? second : f.out;
            if (by_bytes)
                out.take_byte_budget(16 * out.record_size(m, m->pkt_len));
            else
                out.take_packet_budget(16);
            for (int i = 0; i < 16; i++)
                out.write(m, ts++, m->pkt_len);
        }
        CHECK(f.s->reason.load() == (by_bytes ? stop_reason::bytes : stop_reason::packets));
        f.out.end();
        second.end();
        CHECK(f.counters.written_packets.get() + second_counters.written_packets.get() == records);
        CHECK(f.counters.limit_drops.get() + second_counters.limit_drops.get() == 64 - records);
    }
    rte_pktmbuf_free(m);
}

TEST_CASE("session_output: a file opened within a burst charges its header where records taken one by one would")
{
    // Rotation every 10 packets under a byte limit: the burst's grant is
    // given back when the next file opens, so its header is charged between
    // records 10 and 11, and the session ends at the same record as when
    // every record is taken alone. Also with a packet limit beside it.
    rte_mbuf* m = test::make_chain(std::vector<uint8_t>(100, 0xab), 2048);
    REQUIRE(m != nullptr);
    for (const uint64_t packets : {uint64_t{0}, uint64_t{20}}) {
        INFO("packet limit " << packets);
        uint64_t written[2], drops[2];
        stop_reason reason[2];
        for (const bool by_burst : {false, true}) {
            output_spec spec;
            spec.format = file_format::pcap_us;
            spec.rotate.packets = 10;
            // The first burst's 16 records fit, they and the second file's
            // header do not: taken one by one, the 16th record is the first
            // that does not fit.
            spec.limits.bytes = 24 + 116 * 16 + 10;
            spec.limits.packets = packets;
            fixture f(spec);
            uint64_t ts = t0;
            for (int burst = 0; burst < 2; burst++) {
                if (by_burst) {
                    if (f.out.take_packet_budget(16) == 16 || packets == 0)
                        f.out.take_byte_budget(16 * f.out.record_size(m, m->pkt_len));
                }
                for (int i = 0; i < 16; i++)
                    f.out.write(m, ts++, m->pkt_len);
            }
            reason[by_burst] = f.s->reason.load();
            f.out.end();
            written[by_burst] = f.counters.written_packets.get();
            drops[by_burst] = f.counters.limit_drops.get() + f.counters.write_drops.get();
        }
        CHECK(written[1] == written[0]);
        CHECK(written[0] == 15);
        CHECK(drops[1] == drops[0]);
        CHECK(reason[1] == reason[0]);
        CHECK(reason[0] == stop_reason::bytes);
    }
    rte_pktmbuf_free(m);
}

TEST_CASE("session_output: the slot's counters are cumulative; the next session counts from where they are")
{
    fixture f;
    for (int i = 0; i < 4; i++)
        f.write(t0 + static_cast<uint64_t>(i));
    f.out.end();
    const session_totals first = writer_slot_totals(f.counters);
    CHECK(first.written_packets == 4);
    CHECK(first.files == 1);

    output_spec spec;
    spec.name = "second";
    f.start(spec);
    for (int i = 0; i < 3; i++)
        f.write(t0 + static_cast<uint64_t>(i));
    f.out.housekeeping(f.clock.now_ns(), true);   // flushes and publishes
    const session_totals now = writer_slot_totals(f.counters);
    CHECK(now.written_packets - first.written_packets == 3);
    CHECK(now.files - first.files == 1);
    const auto names = f.out.files_on_disk();
    REQUIRE(names.size() == 1);
    CHECK(names[0].starts_with("second-w0-000001-"));
    CHECK(names[0].ends_with(".pcap.part"));   // still open
    f.out.end();
    CHECK(writer_slot_totals(f.counters).written_packets == 7);
}

TEST_CASE("session_output: after a crash, recovery makes the index of the file being written again")
{
    output_spec spec;
    spec.index = true;
    fixture f(spec);
    f.out.set_index_chunk_bytes(2048);
    f.write_udp(100);
    f.out.housekeeping(t0, true);   // flushed, as every half second; then the crash: nothing closed
    REQUIRE(f.indexes().size() == 1);
    CHECK(f.indexes().front().ends_with(".idx.part"));
    const int dir_fd = open(f.dir.c_str(), O_RDONLY | O_DIRECTORY);
    const folder_recovery recovered = recover_capture_folder(dir_fd, f.dir, true);
    close(dir_fd);
    INFO((recovered.warnings.empty() ? "" : recovered.warnings.front()));
    CHECK(recovered.warnings.empty());
    CHECK(recovered.renamed == 1);
    CHECK(recovered.reindexed == 1);
    const auto files = f.files();
    REQUIRE(files.size() == 1);
    CHECK(files[0].second == 100);
    CHECK(f.indexes() == std::vector<std::string>{files[0].first + ".idx"});
    capture_index index;
    const int fd = open((f.dir + "/" + files[0].first + ".idx").c_str(), O_RDONLY);
    REQUIRE(read_capture_index(fd, "the index", index).empty());
    close(fd);
    uint64_t packets = 0;
    for (const index_chunk& c : index.chunks)
        packets += c.packets;
    CHECK(packets == 100);
    CHECK(index.chunks.size() == 1);   // made again in chunks of the default size
    CHECK(index.chunks.back().holds(index_field::ipv4_address, '=', UINT32_MAX, 99));
    for (const index_chunk& c : index.chunks)
        CHECK_FALSE(c.holds(index_field::ipv4_address, '=', UINT32_MAX, 100));
}

TEST_CASE("session_output: after a crash before the index was created, recovery makes it for a session with an index")
{
    // The crash came between the file's creation and its index's: a .part
    // with no .idx.part. A session with an index gets its index made; one
    // without, none. An empty .part (no header yet) goes with its
    // .idx.part.
    for (const bool indexed : {true, false}) {
        INFO("indexed " << indexed);
        output_spec spec;
        spec.index = true;
        fixture f(spec);
        f.write_udp(10);
        f.out.housekeeping(t0, true);   // flushed; then the crash
        REQUIRE(f.indexes().size() == 1);
        const std::string torn = f.indexes().front();
        REQUIRE(torn.ends_with(".idx.part"));
        REQUIRE(unlink((f.dir + "/" + torn).c_str()) == 0);   // as if never created
        // Another file's start, empty, and its index's.
        const std::string empty_part = f.dir + "/capture-w0-000009-20261128T100010Z.pcap.part";
        REQUIRE(close(open(empty_part.c_str(), O_CREAT | O_WRONLY, 0644)) == 0);
        const int ifd = open((empty_part.substr(0, empty_part.size() - 5) + ".idx.part").c_str(), O_CREAT | O_WRONLY, 0644);
        REQUIRE(ifd >= 0);
        REQUIRE(write(ifd, "LCIDX", 5) == 5);
        close(ifd);
        const int dir_fd = open(f.dir.c_str(), O_RDONLY | O_DIRECTORY);
        const folder_recovery recovered = recover_capture_folder(dir_fd, f.dir, indexed);
        close(dir_fd);
        INFO((recovered.warnings.empty() ? "" : recovered.warnings.front()));
        CHECK(recovered.warnings.empty());
        CHECK(recovered.renamed == 1);
        CHECK(recovered.removed_empty == 1);
        CHECK(recovered.removed_empty_indexes == 1);
        CHECK(recovered.reindexed == (indexed ? 1u : 0u));
        const auto files = f.files();
        REQUIRE(files.size() == 1);
        CHECK(files[0].second == 10);
        CHECK(f.indexes() == (indexed ? std::vector<std::string>{files[0].first + ".idx"} : std::vector<std::string>{}));
        f.out.end();
    }
}
