// One rule for what a record is (core/capture_format.h), held by every
// reader and writer of capture files against each other: capture_writer
// writes odd records the formats allow; libpcap, the reader merge uses
// (capture_reader: libpcap for pcap, wiretap for pcapng), the record walk
// (crash recovery, counting, a failed write) and crash recovery itself must
// all read back exactly those records, and cut at any byte, keep exactly the
// records before the cut.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "tests/support/dpdk_env.h"
#include "writers/capture_reader.h"
#include "writers/capture_writer.h"
#include "writers/record_walk.h"
#include "writers/recovery.h"

using namespace linecap;

namespace {

namespace fs = std::filesystem;

struct odd_record {
    uint64_t ts_ns;
    uint32_t caplen;
    uint32_t len;
};

constexpr uint64_t s = 1000000000u;

// Records a capture can hold, each an edge of the rule: zero-length packets
// (tcpreplay#520: linecap replays and writes them), no captured bytes of a
// long packet, one byte, the largest snap length, pcapng padding of 1 to 3
// bytes, and times at the epoch, at 2^31 s (2038) and at 2^32 - 1 s (2106).
const std::vector<odd_record> odd_records = {
    {1700000000 * s + 1, 60, 60},
    {1700000000 * s + 2, 0, 0},
    {1700000000 * s + 3, 0, 1500},
    {1700000000 * s + 4, 1, 1},
    {1700000000 * s + 5, 2, 9000},
    {1700000000 * s + 6, 3, 3},
    {1700000000 * s + 7, 5, 5},
    {1700000000 * s + 8, pcap_max_snaplen, pcap_max_snaplen},
    {0 * s + 9, 60, 60},
    {0 * s + 10, 0, 0},
    {2147483648ull * s + 11, 64, 64},
    {4294967295ull * s + 999999, 61, 70},
};

std::vector<uint8_t> bytes_of(size_t i, uint32_t n)
{
    std::vector<uint8_t> v(n);
    for (uint32_t k = 0; k < n; k++)
        v[k] = static_cast<uint8_t>(i * 31 + k * 7 + 1);
    return v;
}

// What a reader gives back of a record, to compare.
struct read_record {
    uint64_t ts_ns;
    uint32_t caplen;
    uint32_t len;
    std::vector<uint8_t> data;
    bool operator==(const read_record&) const = default;
};

std::vector<read_record> expected(file_format format, size_t count)
{
    std::vector<read_record> out;
    for (size_t i = 0; i < count; i++) {
        const odd_record& r = odd_records[i];
        const uint64_t ts = format == file_format::pcap_us ? r.ts_ns / 1000 * 1000 : r.ts_ns;
        out.push_back({ts, r.caplen, r.len, bytes_of(i, r.caplen)});
    }
    return out;
}

struct written_file {
    std::string path;
    std::vector<uint64_t> record_ends;   // file offset after each packet record
    uint64_t size = 0;
};

written_file write_odd_file(const std::string& dir, file_format format)
{
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(dir_fd >= 0);
    capture_writer w;
    capture_file_options options;
    options.format = format;
    options.direct = false;
    const std::string name = fmt::format("odd.{}", format_extension(format));
    REQUIRE(w.open(dir_fd, name, options) == 0);
    written_file f;
    f.path = dir + "/" + name;
    for (size_t i = 0; i < odd_records.size(); i++) {
        const odd_record& r = odd_records[i];
        const auto data = bytes_of(i, r.caplen);
        w.write_record(r.ts_ns, r.len, data.data(), r.caplen);
        f.record_ends.push_back(w.file().size());
    }
    REQUIRE(w.close(1800000000 * s) == 0);
    close(dir_fd);
    f.size = fs::file_size(f.path);
    return f;
}

std::vector<read_record> read_with_libpcap(const std::string& path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    INFO(errbuf);
    REQUIRE(p != nullptr);
    std::vector<read_record> out;
    pcap_pkthdr* h;
    const u_char* d;
    while (pcap_next_ex(p, &h, &d) == 1)
        out.push_back({pcap_seconds(h->ts.tv_sec) * s + static_cast<uint64_t>(h->ts.tv_usec), h->caplen, h->len,
                       std::vector<uint8_t>(d, d + h->caplen)});
    pcap_close(p);
    return out;
}

// capture_reader: the records, and how the file ended.
std::vector<read_record> read_with_reader(const std::string& path, bool partial, read_status& last)
{
    capture_reader reader;
    const std::string error = reader.open(path, partial);
    INFO(error);
    REQUIRE(error.empty());
    std::vector<read_record> out;
    capture_record r;
    while ((last = reader.next(r)) == read_status::record)
        out.push_back({r.ts_ns, r.caplen, r.len, std::vector<uint8_t>(r.data, r.data + r.caplen)});
    return out;
}

walk_result walk(const std::string& path, file_format format, bool partial)
{
    const int fd = open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    const record_framing framing = framing_of(format, partial);
    const walk_result r = walk_records(fd, framing.first_record, fs::file_size(path), framing);
    close(fd);
    return r;
}

void copy_prefix(const std::string& from, const std::string& to, uint64_t bytes, size_t zeros = 0)
{
    std::ifstream in(from, std::ios::binary);
    std::vector<char> data(bytes);
    in.read(data.data(), static_cast<std::streamsize>(bytes));
    std::ofstream out(to, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(bytes));
    const std::vector<char> z(zeros, 0);
    out.write(z.data(), static_cast<std::streamsize>(zeros));
}

} // namespace

TEST_CASE("every reader reads back every odd record the writer writes, in every format")
{
    for (file_format format : {file_format::pcap_us, file_format::pcap_ns, file_format::pcapng}) {
        INFO(format_name(format));
        const std::string dir = test::temp_dir();
        const written_file f = write_odd_file(dir, format);
        const auto want = expected(format, odd_records.size());

        CHECK(read_with_libpcap(f.path) == want);
        read_status last;
        CHECK(read_with_reader(f.path, false, last) == want);
        CHECK(last == read_status::end);
        const walk_result walked = walk(f.path, format, false);
        CHECK(walked.packets == odd_records.size());
        CHECK(walked.end == f.size);
        CHECK(walked.error == 0);

        // Crash recovery counts a closed file the same way.
        const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
        const folder_recovery recovered = recover_capture_folder(dir_fd, dir, false);
        close(dir_fd);
        CHECK(recovered.packets == odd_records.size());
        INFO((recovered.warnings.empty() ? "" : recovered.warnings.front()));
        CHECK(recovered.warnings.empty());
        fs::remove_all(dir);
    }
}

TEST_CASE("cut at any byte, a .part file keeps exactly the records before the cut, for every reader")
{
    for (file_format format : {file_format::pcap_ns, file_format::pcapng}) {
        INFO(format_name(format));
        const std::string dir = test::temp_dir();
        const written_file f = write_odd_file(dir, format);
        const uint64_t header_end = f.record_ends.front() - (format == file_format::pcapng ? 92 : 76);
        // Every cut point in the small records, and a sample in the large one.
        std::vector<uint64_t> cuts;
        for (uint64_t at = header_end; at <= f.size; at++)
            if (at < f.record_ends[6] + 64 || at % 4099 == 0 || at + 64 > f.record_ends[7] || at > f.record_ends[7])
                cuts.push_back(at);
        unsigned checked = 0;
        for (uint64_t cut : cuts) {
            // Records whose last byte is in the file (pcapng's statistics blocks after them are not packets).
            const size_t whole = static_cast<size_t>(
                std::upper_bound(f.record_ends.begin(), f.record_ends.end(), cut) - f.record_ends.begin());
            const uint64_t boundary = whole == 0 ? 0 : f.record_ends[whole - 1];
            const std::string part = dir + "/cut.part";
            // A cut at a record boundary may be followed by zeros: the space a
            // chunk that never landed had grown the file by (the data before
            // it was flushed, and a flush ends at a record boundary).
            const size_t zeros = cut == boundary || cut == header_end ? 4096 : 0;
            copy_prefix(f.path, part, cut, zeros);
            INFO("cut at byte " << cut << " of " << f.size << ", then " << zeros << " zeros");

            const walk_result walked = walk(part, format, true);
            CHECK(walked.packets == whole);
            if (whole > 0 && cut < f.record_ends.back())
                CHECK(walked.end == boundary);

            read_status last;
            const auto got = read_with_reader(part, true, last);
            CHECK(got == expected(format, whole));
            CHECK(last == read_status::end);
            checked++;
        }
        CHECK(checked > 500);
        fs::remove_all(dir);
    }
}

TEST_CASE("crash recovery of a .part file with zero-length records keeps them all")
{
    // tcpreplay#520 through linecap: a .part holding zero-length records, cut
    // by a crash inside the last one, then zeros. Every complete record stays.
    // (A crash leaves either half a record, or zeros after a flushed record:
    // a flush ends at a record boundary, and the space a chunk in flight had
    // grown the file by starts there.)
    for (auto [format, zeros] : {std::pair{file_format::pcap_ns, 0}, std::pair{file_format::pcap_ns, 8192},
                                 std::pair{file_format::pcapng, 0}, std::pair{file_format::pcapng, 8192}}) {
        INFO(format_name(format) << ", " << zeros << " zeros");
        const std::string dir = test::temp_dir();
        const written_file f = write_odd_file(dir, format);
        // inside the sixth record, or right after the fifth
        const uint64_t cut = zeros == 0 ? f.record_ends[4] + 10 : f.record_ends[4];
        const std::string part = dir + "/session-w0-000001-20261129T000000Z." +
                                 std::string(format_extension(format)) + ".part";
        copy_prefix(f.path, part, cut, static_cast<size_t>(zeros));
        fs::remove(f.path);
        const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
        const folder_recovery recovered = recover_capture_folder(dir_fd, dir, false);
        close(dir_fd);
        CHECK(recovered.packets == 5);
        CHECK(recovered.renamed == 1);
        const std::string renamed = part.substr(0, part.size() - 5);
        REQUIRE(fs::exists(renamed));
        CHECK(fs::file_size(renamed) == f.record_ends[4]);
        CHECK(read_with_libpcap(renamed) == expected(format, 5));
        fs::remove_all(dir);
    }
}

TEST_CASE("a finished file that ends early is an error naming where; a .part only a note")
{
    const std::string dir = test::temp_dir();
    const written_file f = write_odd_file(dir, file_format::pcap_ns);
    const std::string cut = dir + "/cut.pcap";
    copy_prefix(f.path, cut, f.record_ends[2] + 7);
    capture_reader reader;
    REQUIRE(reader.open(cut, false).empty());
    capture_record r;
    unsigned n = 0;
    read_status st;
    while ((st = reader.next(r)) == read_status::record)
        n++;
    CHECK(n == 3);
    CHECK(st == read_status::error);
    CHECK_THAT(reader.error(), Catch::StartsWith(cut + ": record 4 (byte " + std::to_string(f.record_ends[2]) + ")"));

    capture_reader partial;
    REQUIRE(partial.open(cut, true).empty());
    n = 0;
    while ((st = partial.next(r)) == read_status::record)
        n++;
    CHECK(n == 3);
    CHECK(st == read_status::end);
    CHECK_THAT(partial.note(), Catch::Contains("ends after 3 complete records"));
    fs::remove_all(dir);
}

TEST_CASE("a record whose captured length exceeds its original length is read with the two equal")
{
    // libpcap#1710: the bytes are real, so the packet was at least that long.
    const std::string dir = test::temp_dir();
    const std::string path = dir + "/lie.pcap";
    {
        std::ofstream out(path, std::ios::binary);
        const linecap::pcap_file_header h = make_pcap_file_header(file_format::pcap_us, 0);
        out.write(reinterpret_cast<const char*>(&h), sizeof h);
        const pcap_record_header r = {1700000000, 5, 60, 20};
        out.write(reinterpret_cast<const char*>(&r), sizeof r);
        const std::vector<char> data(60, 'x');
        out.write(data.data(), 60);
    }
    capture_reader reader;
    REQUIRE(reader.open(path).empty());
    capture_record r;
    REQUIRE(reader.next(r) == read_status::record);
    CHECK(r.caplen == 60);
    CHECK(r.len == 60);
    CHECK(reader.repaired() == 1);
    CHECK(reader.next(r) == read_status::end);

    // The writer never writes such a record, from whatever it is given.
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    capture_writer w;
    capture_file_options options;
    options.direct = false;
    REQUIRE(w.open(dir_fd, "out.pcap", options) == 0);
    const std::vector<uint8_t> data(60, 'y');
    w.write_record(1700000000 * s, 20, data.data(), 60);
    REQUIRE(w.close(0) == 0);
    close(dir_fd);
    const auto back = read_with_libpcap(dir + "/out.pcap");
    REQUIRE(back.size() == 1);
    CHECK(back[0].caplen == 60);
    CHECK(back[0].len == 60);
    fs::remove_all(dir);
}

TEST_CASE("pcapng blocks a reader meets besides linecap's: simple packets and custom blocks")
{
    // A Simple Packet Block is a packet to every reader; a custom block
    // (0x00000BAD) is not. Their lengths are checked front and back.
    const std::string dir = test::temp_dir();
    const written_file f = write_odd_file(dir, file_format::pcapng);
    std::vector<char> extra;
    auto put32 = [&](uint32_t v) { extra.insert(extra.end(), reinterpret_cast<char*>(&v), reinterpret_cast<char*>(&v) + 4); };
    put32(pcapng_simple_packet);   // SPB: type, length, original length, 5 bytes + 3 of padding, length
    put32(24);
    put32(5);
    extra.insert(extra.end(), {'a', 'b', 'c', 'd', 'e', 0, 0, 0});
    put32(24);
    put32(0x00000BAD);             // custom block, PEN 32473 (the example PEN), 4 bytes
    put32(20);
    put32(32473);
    put32(0x01020304);
    put32(20);
    const std::string path = dir + "/more.pcapng";
    copy_prefix(f.path, path, f.size);
    {
        std::ofstream out(path, std::ios::binary | std::ios::app);
        out.write(extra.data(), static_cast<std::streamsize>(extra.size()));
    }
    const walk_result walked = walk(path, file_format::pcapng, false);
    CHECK(walked.packets == odd_records.size() + 1);
    CHECK(walked.end == f.size + extra.size());
    read_status last;
    const auto got = read_with_reader(path, false, last);
    CHECK(last == read_status::end);
    REQUIRE(got.size() == odd_records.size() + 1);
    CHECK(got.back().data == std::vector<uint8_t>({'a', 'b', 'c', 'd', 'e'}));

    // A block whose trailing length disagrees with its leading one is not a block.
    extra[extra.size() - 4] = 24;
    copy_prefix(f.path, path, f.size);
    {
        std::ofstream out(path, std::ios::binary | std::ios::app);
        out.write(extra.data(), static_cast<std::streamsize>(extra.size()));
    }
    CHECK(walk(path, file_format::pcapng, false).end == f.size + 24);
    fs::remove_all(dir);
}
