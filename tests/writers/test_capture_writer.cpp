// The pcap writer's output, read back with libpcap.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <filesystem>
#include <random>
#include <unistd.h>

#include <pcap/pcap.h>

#include "tests/support/dpdk_env.h"
#include "writers/capture_writer.h"

using namespace linecap;

namespace {

struct record {
    uint64_t ts_ns;
    uint32_t caplen;
    uint32_t len;
    std::vector<uint8_t> data;
};

struct file_contents {
    int datalink = -1;
    int snaplen = -1;
    int major = -1, minor = -1;
    bool swapped = false;
    int precision = -1;
    std::vector<record> records;
};

// Reads at the file's own precision, and at nanosecond precision for the times.
file_contents read_back(const std::string& path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    INFO(errbuf);
    REQUIRE(p != nullptr);
    file_contents f;
    f.datalink = pcap_datalink(p);
    f.snaplen = pcap_snapshot(p);
    f.major = pcap_major_version(p);
    f.minor = pcap_minor_version(p);
    f.swapped = pcap_is_swapped(p);
    pcap_pkthdr* h;
    const u_char* d;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1)
        f.records.push_back({static_cast<uint64_t>(h->ts.tv_sec) * 1000000000u + static_cast<uint64_t>(h->ts.tv_usec),
                             h->caplen, h->len, std::vector<uint8_t>(d, d + h->caplen)});
    REQUIRE(rc == PCAP_ERROR_BREAK);   // clean end of file, not a truncated record
    pcap_close(p);

    // The magic number says the precision the file was written with.
    FILE* raw = fopen(path.c_str(), "rb");
    uint32_t magic = 0;
    REQUIRE(fread(&magic, sizeof magic, 1, raw) == 1);
    fclose(raw);
    f.precision = magic == pcap_magic_ns || magic == pcapng_section_header ? 9 : magic == pcap_magic_us ? 6 : -1;
    return f;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed)
{
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; i++)
        v[i] = static_cast<uint8_t>(seed + i * 13);
    return v;
}

struct dir_handle {
    std::string path = test::temp_dir();
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY);
    ~dir_handle() { close(fd); }
};

} // namespace

TEST_CASE("pcap header fields, nanosecond and microsecond")
{
    dir_handle dir;
    const auto [format, precision, snaplen, header_snaplen] = GENERATE(
        std::make_tuple(file_format::pcap_ns, 9, 0u, 262144),
        std::make_tuple(file_format::pcap_us, 6, 0u, 262144),
        std::make_tuple(file_format::pcap_ns, 9, 128u, 128));
    capture_writer w;
    REQUIRE(w.open(dir.fd, "a.pcap", {format, snaplen, 1 << 16}) == 0);
    CHECK(std::filesystem::exists(dir.path + "/a.pcap.part"));
    CHECK_FALSE(std::filesystem::exists(dir.path + "/a.pcap"));

    const uint64_t ts = 1700000000ull * 1000000000ull + 123456789;   // .123456789
    const auto bytes = pattern(100, 1);
    rte_mbuf* m = test::make_chain(bytes, 2048);
    CHECK(w.write_packet(m, ts) == 16 + 100);
    rte_pktmbuf_free(m);
    REQUIRE(w.close(0) == 0);
    CHECK_FALSE(std::filesystem::exists(dir.path + "/a.pcap.part"));

    const file_contents f = read_back(dir.path + "/a.pcap");
    CHECK(f.precision == precision);
    CHECK(f.datalink == DLT_EN10MB);
    CHECK(f.snaplen == header_snaplen);
    CHECK(f.major == 2);
    CHECK(f.minor == 4);
    CHECK_FALSE(f.swapped);
    REQUIRE(f.records.size() == 1);
    CHECK(f.records[0].ts_ns == (precision == 9 ? ts : ts / 1000 * 1000));
    CHECK(f.records[0].len == 100);
    CHECK(f.records[0].caplen == 100);
    CHECK(f.records[0].data == bytes);
    CHECK(w.packets() == 1);
    CHECK(w.durable_packets() == 1);
}

TEST_CASE("truncation keeps the first snaplen bytes and the original length")
{
    dir_handle dir;
    capture_writer w;
    REQUIRE(w.open(dir.fd, "t.pcap", {file_format::pcap_ns, 64, 1 << 16}) == 0);
    const auto big = pattern(1000, 7);
    const auto small = pattern(60, 9);
    const auto exact = pattern(64, 11);
    for (const auto* bytes : {&big, &small, &exact}) {
        rte_mbuf* m = test::make_chain(*bytes, 2048);
        w.write_packet(m, 1000);
        rte_pktmbuf_free(m);
    }
    REQUIRE(w.close(0) == 0);
    const file_contents f = read_back(dir.path + "/t.pcap");
    REQUIRE(f.records.size() == 3);
    CHECK(f.records[0].len == 1000);
    CHECK(f.records[0].caplen == 64);
    CHECK(f.records[0].data == std::vector<uint8_t>(big.begin(), big.begin() + 64));
    CHECK(f.records[1].len == 60);
    CHECK(f.records[1].caplen == 60);
    CHECK(f.records[1].data == small);
    CHECK(f.records[2].caplen == 64);
    CHECK(f.records[2].data == exact);
}

TEST_CASE("chained mbufs: segments are joined, truncation may end in any segment")
{
    dir_handle dir;
    const uint32_t snaplen = GENERATE(0u, 1u, 99u, 100u, 101u, 250u, 9000u);
    capture_writer w;
    REQUIRE(w.open(dir.fd, "c.pcap", {file_format::pcap_ns, snaplen, 1 << 16}) == 0);
    const auto bytes = pattern(9000, 3);
    rte_mbuf* m = test::make_chain(bytes, 100);   // 90 segments of 100 bytes
    REQUIRE(m->nb_segs == 90);
    w.write_packet(m, 5);
    rte_pktmbuf_free(m);
    REQUIRE(w.close(0) == 0);
    const file_contents f = read_back(dir.path + "/c.pcap");
    REQUIRE(f.records.size() == 1);
    const uint32_t kept = snaplen == 0 ? 9000 : std::min(snaplen, 9000u);
    CHECK(f.records[0].len == 9000);
    CHECK(f.records[0].caplen == kept);
    CHECK(f.records[0].data == std::vector<uint8_t>(bytes.begin(), bytes.begin() + kept));
}

TEST_CASE("a packet read from a snapped file keeps its wire length (linecap -r)")
{
    dir_handle dir;
    const auto format = GENERATE(file_format::pcap_ns, file_format::pcapng);
    const uint32_t snaplen = GENERATE(0u, 64u);
    capture_writer w;
    REQUIRE(w.open(dir.fd, "w.pcap", {format, snaplen, 1 << 16}) == 0);
    const auto held = pattern(96, 5);          // what the file captured of a 1500-byte frame
    const auto chained = pattern(5000, 6);     // whole, in a chain of 3 segments
    rte_mbuf* a = test::make_chain(held, 2048);
    rte_mbuf* b = test::make_chain(chained, 2048);
    const auto of_length = [](uint32_t wire_len) {
        record_cut cut;
        cut.orig_len = wire_len;
        return cut;
    };
    w.write_packet(a, 1, of_length(1500));
    w.write_packet(b, 2, of_length(5000));
    w.write_packet(a, 3, of_length(10));   // below the bytes held: never less than them
    rte_pktmbuf_free(a);
    rte_pktmbuf_free(b);
    REQUIRE(w.close(0) == 0);
    const file_contents f = read_back(dir.path + "/w.pcap");
    REQUIRE(f.records.size() == 3);
    const uint32_t kept = snaplen == 0 ? 96 : 64;
    CHECK(f.records[0].len == 1500);
    CHECK(f.records[0].caplen == kept);
    CHECK(f.records[0].data == std::vector<uint8_t>(held.begin(), held.begin() + kept));
    CHECK(f.records[1].len == 5000);
    CHECK(f.records[1].caplen == (snaplen == 0 ? 5000u : 64u));
    CHECK(f.records[2].len == 96);
    CHECK(f.records[2].caplen == kept);
}

TEST_CASE("records straddle chunk boundaries and come back whole")
{
    dir_handle dir;
    // A 4 KiB chunk and packets of awkward sizes: most records cross a boundary,
    // and some packets are larger than a whole chunk.
    capture_writer w;
    REQUIRE(w.open(dir.fd, "s.pcap", {file_format::pcap_ns, 0, 4096}) == 0);
    std::mt19937 rng(42);
    std::vector<std::vector<uint8_t>> sent;
    for (int i = 0; i < 2000; i++) {
        const size_t len = i % 100 == 0 ? 9000 + rng() % 3000 : 60 + rng() % 1455;
        sent.push_back(pattern(len, static_cast<uint8_t>(i)));
        rte_mbuf* m = test::make_chain(sent.back(), static_cast<uint16_t>(i % 3 == 0 ? 2048 : 700));
        w.write_packet(m, 1000000000ull * i + static_cast<uint64_t>(i));
        rte_pktmbuf_free(m);
    }
    // The last partial chunk is in no write yet (and a chunk io_uring is
    // still writing holds back the ones written after it); a flush waits
    // for that chunk and hands the rest over.
    CHECK(w.durable_packets() < 2000);
    REQUIRE(w.file().flush() == 0);
    CHECK(w.durable_packets() == 2000);
    REQUIRE(w.close(0) == 0);
    CHECK(w.durable_packets() == 2000);
    const file_contents f = read_back(dir.path + "/s.pcap");
    REQUIRE(f.records.size() == sent.size());
    for (size_t i = 0; i < sent.size(); i++) {
        INFO("record " << i);
        CHECK(f.records[i].ts_ns == 1000000000ull * i + i);
        CHECK(f.records[i].data == sent[i]);
    }
}

TEST_CASE("write_record from a flat buffer applies the snap length")
{
    dir_handle dir;
    capture_writer w;
    REQUIRE(w.open(dir.fd, "r.pcap", {file_format::pcap_us, 10, 4096}) == 0);
    const auto bytes = pattern(50, 5);
    CHECK(w.write_record(1234567890123ull, 70, bytes.data(), 50) == 16 + 10);
    REQUIRE(w.close(0) == 0);
    const file_contents f = read_back(dir.path + "/r.pcap");
    REQUIRE(f.records.size() == 1);
    CHECK(f.records[0].ts_ns == 1234567890000ull);   // cut to microseconds
    CHECK(f.records[0].len == 70);
    CHECK(f.records[0].data == std::vector<uint8_t>(bytes.begin(), bytes.begin() + 10));
}

namespace {

// The blocks of a pcapng file, walked by hand: type, body.
struct pcapng_block {
    uint32_t type;
    std::vector<uint8_t> body;   // between the two length fields
};

std::vector<pcapng_block> read_blocks(const std::string& path)
{
    FILE* f = fopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    std::vector<pcapng_block> blocks;
    uint32_t head[2];
    while (fread(head, sizeof head, 1, f) == 1) {
        REQUIRE(head[1] >= 12);
        REQUIRE(head[1] % 4 == 0);
        pcapng_block b{head[0], std::vector<uint8_t>(head[1] - 12)};
        REQUIRE(fread(b.body.data(), 1, b.body.size(), f) == b.body.size());
        uint32_t tail = 0;
        REQUIRE(fread(&tail, sizeof tail, 1, f) == 1);
        CHECK(tail == head[1]);
        blocks.push_back(std::move(b));
    }
    fclose(f);
    return blocks;
}

// Option `code` of a block whose options start at `at`.
std::vector<uint8_t> option(const pcapng_block& b, size_t at, uint16_t code)
{
    while (at + 4 <= b.body.size()) {
        uint16_t c, len;
        std::memcpy(&c, &b.body[at], 2);
        std::memcpy(&len, &b.body[at + 2], 2);
        if (c == 0)
            break;
        if (c == code)
            return {b.body.begin() + static_cast<long>(at + 4), b.body.begin() + static_cast<long>(at + 4 + len)};
        at += 4 + ((len + 3u) & ~3u);
    }
    return {};
}

uint64_t u64(const std::vector<uint8_t>& v)
{
    uint64_t x = 0;
    REQUIRE(v.size() == 8);
    std::memcpy(&x, v.data(), 8);
    return x;
}

interface_counters fake_counters(uint16_t port)
{
    return {1000u + port, 10u + port};
}

} // namespace

TEST_CASE("a LINKTYPE_RAW file (\"decap\": \"ip\"), pcap and pcapng: IP packets from their header")
{
    dir_handle dir;
    const file_format format = GENERATE(file_format::pcap_ns, file_format::pcapng);
    capture_file_options o;
    o.format = format;
    o.chunk_bytes = 1 << 16;
    o.linktype = linktype_raw;
    capture_writer w;
    REQUIRE(w.open(dir.fd, "raw", o) == 0);
    auto bytes = pattern(120, 5);
    bytes[14] = 0x45;   // where the IPv4 header starts
    rte_mbuf* m = test::make_chain(bytes, 50);
    record_cut cut;
    cut.skip = 14;
    w.write_packet(m, 1, cut);
    rte_pktmbuf_free(m);
    REQUIRE(w.close(2) == 0);

    const file_contents f = read_back(dir.path + "/raw");
    CHECK(f.datalink == DLT_RAW);
    REQUIRE(f.records.size() == 1);
    CHECK(f.records[0].len == 106);
    CHECK(f.records[0].data == std::vector<uint8_t>(bytes.begin() + 14, bytes.end()));
}

TEST_CASE("a record_cut: the bytes from skip to end after the prefix; the original length never less than them")
{
    dir_handle dir;
    const file_format format = GENERATE(file_format::pcap_ns, file_format::pcapng);
    const auto bytes = pattern(300, 9);
    struct expectation {
        record_cut cut;
        uint32_t snaplen;
        size_t from, to;       // the packet's bytes in the record
        bool prefixed;
        uint32_t len;
    };
    record_cut inner;           // an inner frame that ends before the mirrored frame does
    inner.skip = 50;
    inner.end = 200;
    record_cut cut_short = inner;   // ... and whose own header says it was 1454 bytes
    cut_short.orig_len = 1454;
    record_cut small = inner;       // a declared length under the bytes there is not the length
    small.orig_len = 60;
    record_cut prefixed = cut_short;
    prefixed.prefix_len = 14;
    prefixed.prefix = ethernet_prefix_ipv4;
    record_cut past = inner;        // an end past the packet is the packet's end
    past.end = 5000;
    const expectation cases[] = {
        {record_cut{}, 0, 0, 300, false, 300},
        {inner, 0, 50, 200, false, 150},
        {cut_short, 0, 50, 200, false, 1454},
        {cut_short, 64, 50, 114, false, 1454},
        {small, 0, 50, 200, false, 150},
        {prefixed, 0, 50, 200, true, 1454},
        {prefixed, 20, 50, 56, true, 1454},
        {past, 0, 50, 300, false, 250},
    };
    for (const expectation& e : cases) {
        capture_file_options o;
        o.format = format;
        o.snaplen = e.snaplen;
        o.chunk_bytes = 1 << 16;
        capture_writer w;
        const std::string name = "cut" + std::to_string(&e - cases);
        REQUIRE(w.open(dir.fd, name, o) == 0);
        for (uint16_t segment : {uint16_t{2048}, uint16_t{45}}) {
            rte_mbuf* m = test::make_chain(bytes, segment);
            CHECK(record_length(m, e.cut) == e.len);
            w.write_packet(m, 1, e.cut);
            rte_pktmbuf_free(m);
        }
        REQUIRE(w.close(2) == 0);
        const file_contents f = read_back(dir.path + "/" + name);
        INFO("skip " << e.cut.skip << ", end " << e.cut.end << ", orig_len " << e.cut.orig_len << ", prefix "
                     << e.cut.prefix_len << ", snaplen " << e.snaplen);
        REQUIRE(f.records.size() == 2);
        std::vector<uint8_t> want(bytes.begin() + static_cast<long>(e.from), bytes.begin() + static_cast<long>(e.to));
        if (e.prefixed)
            want.insert(want.begin(), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00});   // zero MACs, IPv4
        if (e.snaplen != 0)
            want.resize(std::min<size_t>(want.size(), e.snaplen));
        for (const record& r : f.records) {
            CHECK(r.len == e.len);
            CHECK(r.data == want);
        }
    }
}

TEST_CASE("copy_record_head: a whole packet's first bytes, or the prefix and the inner packet's (watch)")
{
    std::vector<uint8_t> bytes(300);
    for (size_t i = 0; i < bytes.size(); i++)
        bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    record_cut inner;
    inner.skip = 50;
    inner.end = 200;
    inner.prefix = ethernet_prefix_ipv6;
    inner.prefix_len = sizeof ethernet_prefix_ipv6;
    for (uint16_t segment : {uint16_t{2048}, uint16_t{45}}) {
        rte_mbuf* m = test::make_chain(bytes, segment);
        uint8_t out[64];
        // A whole packet: no prefix (a null pointer, 0 bytes), the packet's first bytes.
        REQUIRE(copy_record_head(m, record_cut{}, out, sizeof out) == sizeof out);
        CHECK(std::equal(out, out + sizeof out, bytes.begin()));
        // A "frame" session's inner IPv6 packet: zero MACs and 0x86dd, then its bytes from `skip`.
        REQUIRE(copy_record_head(m, inner, out, sizeof out) == sizeof out);
        const uint8_t prefix[14] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd};
        CHECK(std::equal(out, out + 14, prefix));
        CHECK(std::equal(out + 14, out + sizeof out, bytes.begin() + 50));
        rte_pktmbuf_free(m);
    }
}

TEST_CASE("pcapng: section, interfaces, packets on their interface, statistics at close")
{
    dir_handle dir;
    const std::vector<capture_interface> interfaces = {{3, "net_pcap0", "net_pcap"}, {7, "0000:3b:00.0", "net_ice"}};
    capture_writer w;
    capture_file_options o;
    o.format = file_format::pcapng;
    o.snaplen = 100;
    o.chunk_bytes = 4096;
    o.interfaces = &interfaces;
    o.start_ns = 1700000000123456789ull;
    REQUIRE(w.open(dir.fd, "n.pcapng", o) == 0);
    const auto bytes = pattern(150, 3);
    rte_mbuf* m = test::make_chain(bytes, 2048);
    m->port = 7;
    w.write_packet(m, 1700000001000000001ull);
    m->port = 3;
    w.write_packet(m, 1700000001000000002ull);
    rte_pktmbuf_free(m);
    REQUIRE(w.close(1700000002000000000ull, fake_counters) == 0);

    const auto blocks = read_blocks(dir.path + "/n.pcapng");
    REQUIRE(blocks.size() == 1 + 2 + 2 + 2);   // SHB, 2 IDB, 2 EPB, 2 ISB
    CHECK(blocks[0].type == pcapng_section_header);
    const auto userappl = option(blocks[0], 16, pcapng_shb_userappl);
    CHECK(std::string(userappl.begin(), userappl.end()) == std::string("linecap ") + LINECAP_VERSION);
    CHECK_FALSE(option(blocks[0], 16, pcapng_shb_os).empty());
    CHECK_FALSE(option(blocks[0], 16, pcapng_shb_hardware).empty());

    CHECK(blocks[1].type == pcapng_interface_description);
    const auto if_name = option(blocks[2], 8, pcapng_if_name);
    CHECK(std::string(if_name.begin(), if_name.end()) == "0000:3b:00.0");
    CHECK(option(blocks[1], 8, pcapng_if_tsresol) == std::vector<uint8_t>{9});
    uint32_t snaplen = 0;
    std::memcpy(&snaplen, &blocks[1].body[4], 4);
    CHECK(snaplen == 100);

    // The packets: port 7 is interface 1, port 3 interface 0; cut to 100 bytes.
    for (int i = 0; i < 2; i++) {
        const pcapng_block& epb = blocks[3 + i];
        CHECK(epb.type == pcapng_enhanced_packet);
        uint32_t fields[5];
        std::memcpy(fields, epb.body.data(), sizeof fields);
        CHECK(fields[0] == (i == 0 ? 1u : 0u));
        CHECK((static_cast<uint64_t>(fields[1]) << 32 | fields[2]) == 1700000001000000001ull + i);
        CHECK(fields[3] == 100);
        CHECK(fields[4] == 150);
    }

    // One statistics block per interface, with what the port counted.
    for (int i = 0; i < 2; i++) {
        const pcapng_block& isb = blocks[5 + i];
        CHECK(isb.type == pcapng_interface_statistics);
        uint32_t id = 0;
        std::memcpy(&id, isb.body.data(), 4);
        CHECK(id == static_cast<uint32_t>(i));
        const uint16_t port = interfaces[static_cast<size_t>(i)].port;
        CHECK(u64(option(isb, 12, pcapng_isb_ifrecv)) == 1000u + port);
        CHECK(u64(option(isb, 12, pcapng_isb_ifdrop)) == 10u + port);
        const auto start = option(isb, 12, pcapng_isb_starttime);
        uint32_t words[2];
        std::memcpy(words, start.data(), 8);
        CHECK((static_cast<uint64_t>(words[0]) << 32 | words[1]) == 1700000000123456789ull);
    }

    // And libpcap reads the packets.
    const file_contents f = read_back(dir.path + "/n.pcapng");
    REQUIRE(f.records.size() == 2);
    CHECK(f.records[1].ts_ns == 1700000001000000002ull);
    CHECK(f.records[0].data == std::vector<uint8_t>(bytes.begin(), bytes.begin() + 100));
}
